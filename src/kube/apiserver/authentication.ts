// Who is calling, as kube-apiserver's authenticator chain decides it: a client certificate signed
// by --client-ca-file (user = CN, groups = O), or a bearer token from --token-auth-file; with
// neither, the anonymous user, but only on the public-info paths (health and version), the way
// kube's structured authentication config limits anonymous access to chosen endpoints. Presented
// credentials that do not check out are a 401, never a fallback to anonymous.

import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

import { KubeStatusError } from '../machinery/status.js';
import { anonymousUser, withAuthenticatedGroup, type UserInfo } from './user-info.js';

export interface AuthenticatorOptions {
  /** The TLS server verifies client certificates against --client-ca-file. */
  readonly clientCertificates: boolean;
  /** --token-auth-file, token → user. */
  readonly tokens?: ReadonlyMap<string, UserInfo>;
  /** --anonymous-auth. */
  readonly anonymous: boolean;
}

/** Paths anonymous requests may reach (kube's system:public-info-viewer). */
export const anonymousPaths: ReadonlySet<string> = new Set(['/healthz', '/livez', '/readyz', '/version', '/version/']);

export function unauthorized(): KubeStatusError {
  return new KubeStatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
}

/** Authentication switched off altogether (plain HTTP dev mode): everyone is a cluster admin, as kube's insecure port was. */
export const insecureUser: UserInfo = Object.freeze({ name: 'system:unsecured', uid: '', groups: Object.freeze(['system:masters', 'system:authenticated']) });

export class Authenticator {
  constructor(private readonly opts: AuthenticatorOptions) {}

  /** The caller, or a 401 KubeStatusError. Logs nothing: failures are the caller's concern. */
  authenticate(req: IncomingMessage, path: string): UserInfo {
    const socket = req.socket as Partial<TLSSocket>;
    if (this.opts.clientCertificates && typeof socket.getPeerCertificate === 'function') {
      const cert = socket.getPeerCertificate();
      const presented = cert !== null && typeof cert === 'object' && Object.keys(cert).length > 0;
      if (presented) {
        // The handshake asked for a certificate without requiring one; trust only a verified chain.
        if (socket.authorized !== true) throw unauthorized();
        const user = userFromSubject(cert.subject as unknown as Record<string, string | string[] | undefined> | undefined);
        if (user === undefined) throw unauthorized();
        return withAuthenticatedGroup(user);
      }
    }
    const header = req.headers.authorization;
    if (header !== undefined) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
      const user = match === null ? undefined : this.opts.tokens?.get(match[1] as string);
      if (user === undefined) throw unauthorized();
      return withAuthenticatedGroup(user);
    }
    if (this.opts.anonymous && anonymousPaths.has(path)) return anonymousUser;
    throw unauthorized();
  }
}

/** CN is the user name, each O a group (kube's x509 CommonNameUserConversion). */
export function userFromSubject(subject: Record<string, string | string[] | undefined> | undefined): UserInfo | undefined {
  if (subject === undefined) return undefined;
  const cn = Array.isArray(subject.CN) ? subject.CN[0] : subject.CN;
  if (cn === undefined || cn === '') return undefined;
  const o = subject.O;
  const groups = o === undefined ? [] : Array.isArray(o) ? o : [o];
  return { name: cn, uid: '', groups };
}
