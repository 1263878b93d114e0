// grpc-js sets the TLS server name (SNI) to the target host even when it is an IP address, and
// Node then prints DEP0123 ("Setting the TLS ServerName to an IP address is not permitted") on
// stderr, into ketchctl's output and every member's log. Go's TLS client, which etcd uses, sends no
// SNI for IPs and the certificate is still checked against the IP. Only that one warning is dropped.

let installed = false;

export function silenceIpServerNameWarning(): void {
  if (installed) return;
  installed = true;
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: unknown, ...rest: unknown[]) => {
    const options = rest[0];
    const code = typeof options === 'object' && options !== null ? (options as { code?: string }).code : rest[1];
    if (code === 'DEP0123') return;
    emit(warning, ...rest);
  }) as typeof process.emitWarning;
}
