// etcdctl 3.4's TLS flags (--cacert, --cert, --key, --insecure-skip-tls-verify,
// --insecure-transport) turned into the client's TLS options, with etcdctl's checks and messages
// (exit code 128 for each). Files are read here, once, before any connection.

import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";

import type { ClientTlsOptions } from "../client/endpoint-pool.js";
import { CtlError, ExitCode } from "./exit-codes.js";

export interface TlsFlagValues {
  cacert: string;
  cert: string;
  key: string;
  insecureSkipTlsVerify: boolean;
  insecureTransport: boolean;
  /** Flags given (on the command line or as ETCDCTL_*), for "empty string is passed" checks. */
  changed: ReadonlySet<string>;
}

function read(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file or directory" : code === "EACCES" ? "permission denied" : (err as Error).message;
    throw new CtlError(ExitCode.badArgs, `open ${path}: ${why}`);
  }
}

/**
 * The TLS options, or undefined for plain connections. As etcdctl: any of --cacert/--cert/--key
 * turns TLS on; --insecure-transport=false alone turns it on with the system's CAs;
 * --insecure-skip-tls-verify applies only when TLS is on.
 */
export function tlsOptions(flags: TlsFlagValues): ClientTlsOptions | undefined {
  for (const name of ["cert", "key", "cacert"] as const) {
    if (flags[name] === "" && flags.changed.has(name)) throw new CtlError(ExitCode.badArgs, `empty string is passed to --${name} option`);
  }
  if ((flags.cert === "") !== (flags.key === "")) {
    throw new CtlError(ExitCode.badArgs, `KeyFile and CertFile must both be present[key: ${flags.key}, cert: ${flags.cert}]`);
  }
  let tls: ClientTlsOptions | undefined;
  if (flags.cert !== "") {
    const cert = read(flags.cert);
    const key = read(flags.key);
    let matches: boolean;
    try {
      matches = new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
    } catch {
      throw new CtlError(ExitCode.badArgs, "tls: failed to find any PEM data in certificate or key input");
    }
    if (!matches) throw new CtlError(ExitCode.badArgs, "tls: private key does not match public key");
    tls = { cert, key };
  }
  if (flags.cacert !== "") tls = { ...tls, ca: read(flags.cacert) };
  if (tls === undefined && !flags.insecureTransport) tls = {};
  if (tls !== undefined && flags.insecureSkipTlsVerify) tls.insecureSkipVerify = true;
  return tls;
}
