// Turns ketch's TLS flags into the certificates the listeners and the peer transport use: files
// read and checked at start (one clear line if one is wrong), or made by --auto-tls.

import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { loadCaBundle, loadKeyPair, TlsConfigError } from '../tls/tls-files.js';
import type { ServerTls } from '../tls/tls-listener.js';
import { FlagError, type TlsFlags } from './ketch-flags.js';

/**
 * The client side's TLS (--cert-file, ...), or undefined when no certificate is given. With
 * --auto-tls and no files, a certificate for the listen URLs' hosts is made under
 * <data-dir>/fixtures/client and kept for later starts, as etcd does; clients then need
 * --insecure-skip-tls-verify, since nothing they know signed it.
 */
export async function clientTls(flags: TlsFlags, ctx: { dataDir: string; hosts: string[]; log: Logger }): Promise<ServerTls | undefined> {
  if (flags.certFile === '' && flags.autoTls) {
    const dir = join(ctx.dataDir, 'fixtures', 'client');
    const files = { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') };
    if (!existsSync(files.certFile) || !existsSync(files.keyFile)) {
      // Loaded only here: the generator (and its X.509 library) stays out of every other start.
      const { CertificateAuthority } = await import('../tls/cert-authority.js');
      const ca = await CertificateAuthority.create({ commonName: 'ketch auto-tls' });
      const pair = await ca.issue({
        commonName: 'ketch',
        dnsNames: ctx.hosts.filter((h) => isIP(h) === 0),
        ipAddresses: ctx.hosts.filter((h) => isIP(h) !== 0),
        usages: ['server', 'client'],
      });
      await mkdir(dir, { recursive: true });
      await writeFile(files.certFile, pair.certPem);
      await writeFile(files.keyFile, pair.keyPem, { mode: 0o600 });
      ctx.log.info({ dir }, 'made a self-signed client certificate (--auto-tls)');
    }
    if (flags.clientCertAuth) ctx.log.warn('--client-cert-auth with --auto-tls: only certificates signed by --trusted-ca-file are accepted');
    return load({ ...flags, ...files }, '');
  }
  if (flags.certFile === '') return undefined;
  return load(flags, '');
}

/** The peer side's TLS (--peer-cert-file, ...), or undefined. --peer-auto-tls is refused. */
export function peerTls(flags: TlsFlags): ServerTls | undefined {
  if (flags.autoTls && flags.certFile === '') {
    throw new FlagError('--peer-auto-tls is not supported by ketch: give --peer-cert-file and --peer-key-file (ketch-cluster makes them)');
  }
  if (flags.certFile === '') return undefined;
  return load(flags, 'peer-');
}

function load(flags: TlsFlags, prefix: '' | 'peer-'): ServerTls {
  try {
    const pair = loadKeyPair({ path: flags.certFile, flag: `--${prefix}cert-file` }, { path: flags.keyFile, flag: `--${prefix}key-file` });
    const trustedCa = flags.trustedCaFile === '' ? undefined : loadCaBundle({ path: flags.trustedCaFile, flag: `--${prefix}trusted-ca-file` });
    if (flags.clientCertAuth && trustedCa === undefined) {
      throw new FlagError(`--${prefix}client-cert-auth needs --${prefix}trusted-ca-file (the CA that signs the accepted certificates)`);
    }
    return { cert: pair.cert, key: pair.key, ...(trustedCa !== undefined ? { trustedCa } : {}), clientCertAuth: flags.clientCertAuth };
  } catch (err) {
    if (err instanceof TlsConfigError) throw new FlagError(err.message);
    throw err;
  }
}
