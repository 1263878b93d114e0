#!/usr/bin/env node
/**
 * `ketch-apiserver`: a Kubernetes API server (plain HTTP) over an etcd v3 store (ketch or etcd).
 */
import { pino } from 'pino';

import { ApiServer } from '../kube/apiserver/api-server.js';
import { FlagError, parseFlags, usage } from '../kube/apiserver/apiserver-flags.js';

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
    server = await ApiServer.start({ ...flags, log });
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
