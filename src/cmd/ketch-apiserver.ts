#!/usr/bin/env node
/**
 * `ketch-apiserver`: a Kubernetes API server (plain HTTP, or HTTPS with authentication and
 * authorization) over an etcd v3 store (ketch or etcd).
 */
import { readFileSync } from 'node:fs';

import { pino } from 'pino';

import { ApiServer, type ApiServerOptions } from '../kube/apiserver/api-server.js';
import { FlagError, parseFlags, usage, type ApiServerFlags } from '../kube/apiserver/apiserver-flags.js';
import { loadEncryptionConfig } from '../kube/apiserver/encryption-config.js';
import { loadTokenFile } from '../kube/apiserver/token-file.js';

function readPem(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new FlagError(`${flag} ${path}: ${(err as Error).message}`);
  }
}

/** The security options the flags name, with every file read (a bad file stops the start). */
function securityOptions(flags: ApiServerFlags): Partial<ApiServerOptions> {
  const out: { -readonly [K in keyof ApiServerOptions]?: ApiServerOptions[K] } = {};
  if (flags.tlsCertFile !== '') {
    out.tls = {
      cert: readPem('--tls-cert-file', flags.tlsCertFile),
      key: readPem('--tls-private-key-file', flags.tlsPrivateKeyFile),
      ...(flags.clientCaFile === '' ? {} : { clientCa: readPem('--client-ca-file', flags.clientCaFile) }),
    };
  }
  if (flags.tokenAuthFile !== '') out.tokens = loadTokenFile(flags.tokenAuthFile);
  if (flags.encryptionProviderConfig !== '') out.encryption = loadEncryptionConfig(flags.encryptionProviderConfig);
  if (flags.etcdCaFile !== '' || flags.etcdCertFile !== '') {
    out.etcdTls = {
      ...(flags.etcdCaFile === '' ? {} : { ca: readPem('--etcd-cafile', flags.etcdCaFile) }),
      ...(flags.etcdCertFile === '' ? {} : { cert: readPem('--etcd-certfile', flags.etcdCertFile), key: readPem('--etcd-keyfile', flags.etcdKeyFile) }),
    };
  }
  return out;
}

async function main(): Promise<number> {
  let flags;
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`ketch-apiserver: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (flags === 'help') {
    process.stdout.write(usage());
    return 0;
  }
  const log = pino({ level: flags.logLevel, base: { name: 'ketch-apiserver' } });
  let server: ApiServer;
  try {
    server = await ApiServer.start({ ...flags, ...securityOptions(flags), log });
  } catch (err) {
    log.fatal({ err }, 'cannot start');
    process.stderr.write(`ketch-apiserver: ${(err as Error).message}\n`);
    return 1;
  }
  log.info({ url: server.url, etcdServers: flags.etcdServers }, 'serving');
  let stopping: Promise<void> | undefined;
  const stop = (code: number): Promise<void> => {
    stopping ??= (async () => {
      log.info('stopping');
      await server.stop().catch((err: unknown) => log.warn({ err }, 'stop failed'));
      log.info('stopped');
      process.exit(code);
    })();
    return stopping;
  };
  process.once('SIGTERM', () => void stop(0));
  process.once('SIGINT', () => void stop(0));
  return -1;
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`ketch-apiserver: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
