// The server side of TLS for client and peer URLs: a node:tls server with etcd 3.4's rules for
// whom it lets in, and one log line for each kind of refused handshake.

import type { Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';

/** A member's certificate on a listener, and the CA its clients' certificates must come from. */
export interface ServerTls {
  cert: Buffer;
  key: Buffer;
  /** --trusted-ca-file / --peer-trusted-ca-file. */
  trustedCa?: Buffer;
  /** --client-cert-auth / --peer-client-cert-auth. */
  clientCertAuth: boolean;
}

/**
 * Whether the other side must show a certificate signed by the trusted CA. As etcd 3.4's
 * TLSInfo.ServerConfig: a trusted CA file alone already requires one (RequireAndVerifyClientCert),
 * and --client-cert-auth requires one too.
 */
export function verifiesClients(tls: ServerTls): boolean {
  return tls.clientCertAuth || tls.trustedCa !== undefined;
}

/** A handshake that has not finished by then is dropped. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** The same refusal (reason and remote host) is logged at most once per this period: clients redial every second. */
const REFUSAL_LOG_PERIOD_MS = 60_000;

export interface TlsListenerOptions {
  /** ALPN protocols offered, most preferred first. */
  alpn: string[];
  onSecureConnection(socket: TLSSocket): void;
  /** A refused or failed handshake, in words; called at most once a minute per remote host and reason. */
  onRefused(remote: string, reason: string): void;
}

export function createTlsListener(tls: ServerTls, options: TlsListenerOptions): Server {
  const verify = verifiesClients(tls);
  const server = createServer(
    {
      cert: tls.cert,
      key: tls.key,
      ...(tls.trustedCa !== undefined ? { ca: tls.trustedCa } : {}),
      requestCert: verify,
      // Checked below instead: node would drop a bad certificate just as silently, but without
      // saying why. Either way no byte of a refused connection is read.
      rejectUnauthorized: false,
      ALPNProtocols: options.alpn,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    },
    (socket: TLSSocket) => {
      if (verify && !socket.authorized) {
        const shown = Object.keys(socket.getPeerCertificate()).length > 0;
        refused(socket, shown ? certificateProblem(socket.authorizationError) : 'no certificate was presented');
        socket.destroy();
        return;
      }
      options.onSecureConnection(socket);
    },
  );
  // The remote address, kept from the TCP socket: a TLS socket that failed its handshake no longer has it.
  const remotes = new WeakMap<Socket, string>();
  server.on('connection', (raw: Socket) => {
    // No Nagle on the TCP socket underneath, as Go does (see ClientListener.accept()).
    raw.setNoDelay(true);
    remotes.set(raw, `${raw.remoteAddress ?? '?'}:${raw.remotePort ?? '?'}`);
  });
  const lastLogged = new Map<string, number>();
  const refused = (socket: TLSSocket, reason: string): void => {
    // node's TLSSocket keeps the TCP socket it wraps as _parent (not public API, hence the fallback).
    const parent = (socket as unknown as { _parent?: Socket })._parent;
    const remote = (parent !== undefined ? remotes.get(parent) : undefined) ?? `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const host = remote.slice(0, remote.lastIndexOf(':'));
    const key = `${host}\0${reason}`;
    const now = Date.now();
    if (now - (lastLogged.get(key) ?? -Infinity) < REFUSAL_LOG_PERIOD_MS) return;
    if (lastLogged.size > 1000) lastLogged.clear();
    lastLogged.set(key, now);
    options.onRefused(remote, reason);
  };
  server.on('tlsClientError', (err: Error, socket: TLSSocket) => refused(socket, tlsFailureReason(err)));
  return server;
}

/** Why a handshake's certificate was not accepted, from OpenSSL's verify code (Go's words where it has them). */
function certificateProblem(code: Error | string | undefined): string {
  const c = typeof code === 'string' ? code : ((code as NodeJS.ErrnoException | undefined)?.code ?? String(code));
  if (c === 'CERT_HAS_EXPIRED') return 'certificate has expired';
  if (c === 'CERT_NOT_YET_VALID') return 'certificate is not yet valid';
  if (c === 'CERT_REVOKED') return 'certificate has been revoked';
  if (/UNABLE_TO_GET_ISSUER_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|CERT_SIGNATURE_FAILURE|CERT_UNTRUSTED/.test(c)) {
    return 'certificate signed by unknown authority (not by the trusted CA)';
  }
  return `certificate not accepted (${c})`;
}

/** OpenSSL's reason for a failed handshake in words a user can act on. */
export function tlsFailureReason(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const text = `${code} ${err.message}`;
  if (/PEER_DID_NOT_RETURN_A_CERTIFICATE|peer did not return a certificate/i.test(text)) return 'no certificate was presented';
  if (/UNKNOWN_CA|unknown ca/i.test(text)) return 'the other side does not trust our certificate (unknown CA)';
  if (/BAD_CERTIFICATE|bad certificate|CERTIFICATE_UNKNOWN|certificate unknown/i.test(text)) return 'the other side refused our certificate';
  if (/WRONG_VERSION_NUMBER|HTTP_REQUEST|UNKNOWN_PROTOCOL|PACKET_LENGTH_TOO_LONG/i.test(text)) return 'the other side does not speak TLS';
  if (/NO_APPLICATION_PROTOCOL/.test(text)) return `no common ALPN protocol`;
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'the handshake timed out';
  if (code === 'ECONNRESET') return 'the other side closed the connection during the handshake (does it trust our certificate?)';
  return err.message.split('\n')[0] ?? err.message;
}
