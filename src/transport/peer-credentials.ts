// How this member dials its peers: https:// peer URLs with TLS (--peer-cert-file/--peer-key-file
// as the client certificate, --peer-trusted-ca-file to check the peer's), http:// ones in clear.

import { isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';

import { silenceIpServerNameWarning } from '../tls/ip-servername-warning.js';
import type { ServerTls } from '../tls/tls-listener.js';
import { isSecurePeerUrl } from './peer-url.js';

export class PeerCredentials {
  private secure: grpc.ChannelCredentials | undefined;

  /** tls: this member's peer certificate; without it https:// peers are checked against the system CAs. */
  constructor(readonly tls: ServerTls | undefined) {}

  /** The credentials for dialling `url` (the dialled URL, after any override). */
  forUrl(url: string): grpc.ChannelCredentials {
    if (!isSecurePeerUrl(url)) return grpc.credentials.createInsecure();
    silenceIpServerNameWarning();
    // One secure context for every peer connection (grpc-js builds it once per credentials object).
    this.secure ??= grpc.credentials.createSsl(this.tls?.trustedCa ?? null, this.tls?.key ?? null, this.tls?.cert ?? null);
    return this.secure;
  }
}

/** How long a probe waits for the peer to drop a connection whose certificate it refuses. */
const PROBE_GRACE_MS = 500;

/**
 * Why a TLS connection to an https:// peer fails, in words (grpc-js only says the deadline passed
 * while it kept retrying): one handshake with this member's certificates. undefined when it works.
 */
export function explainTlsFailure(url: string, tls: ServerTls | undefined, timeoutMs = 3000): Promise<string | undefined> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host,
      port: Number(u.port),
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ...(tls?.trustedCa !== undefined ? { ca: tls.trustedCa } : {}),
      ...(tls !== undefined ? { cert: tls.cert, key: tls.key } : {}),
      ALPNProtocols: ['h2'],
      rejectUnauthorized: false,
    });
    const done = (reason: string | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reason);
    };
    const timer = setTimeout(() => done(`no TLS handshake within ${timeoutMs} ms`), timeoutMs);
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNRESET' ? 'the peer closed the connection during the TLS handshake' : err.message));
    socket.once('secureConnect', () => {
      if (!socket.authorized) {
        const code = String((socket.authorizationError as unknown as string | undefined) ?? 'unknown');
        done(`the peer's certificate is not trusted (${code}): is it signed by --peer-trusted-ca-file?`);
        return;
      }
      // A peer that refuses our certificate drops the connection right after the handshake.
      socket.once('close', () => done('the peer refused our certificate: is --peer-cert-file signed by the CA the peers trust?'));
      setTimeout(() => done(undefined), PROBE_GRACE_MS).unref();
    });
  });
}

/** For a member without peer TLS: http:// peers in clear, https:// ones checked against the system CAs. */
export const NO_PEER_TLS = new PeerCredentials(undefined);
