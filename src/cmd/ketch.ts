#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node
/**
 * `ketch`: one member of a Ketch cluster, started with etcd 3.4's flags.
 */
import { pino } from 'pino';
import { ClientListener } from '../api/client-listener.js';
import { KetchServer, SERVER_VERSION } from '../server/ketch-server.js';
import { PeerCredentials } from '../transport/peer-credentials.js';
import { discoverCluster } from '../transport/peer-discovery.js';
import { dialUrl, parseDialOverrides } from '../transport/peer-url.js';
import { KETCH_VERSION } from '../version.js';
import { capHeapGrowth, collectWhenIdle } from './heap-growth.js';
import { FlagError, parseFlags, usage, versionText } from './ketch-flags.js';
import { clientTls, peerTls } from './ketch-tls.js';

async function main(): Promise<number> {
  capHeapGrowth(process.execArgv, process.env.NODE_OPTIONS);
  let flags;
  try {
    flags = parseFlags(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`ketch: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (flags === 'help') {
    process.stdout.write(usage());
    return 0;
  }
  if (flags === 'version') {
    process.stdout.write(versionText(KETCH_VERSION, SERVER_VERSION));
    return 0;
  }
  const log = pino({ level: flags.logLevel, base: { name: flags.name } });
  // Test harnesses (torture suite, ketch-cluster partition) route each peer link through a proxy.
  let peerDialOverrides: Map<string, string> | undefined;
  const overridesText = process.env.KETCH_PEER_DIAL_OVERRIDES;
  if (overridesText !== undefined && overridesText !== '') {
    try {
      peerDialOverrides = parseDialOverrides(overridesText);
    } catch (err) {
      process.stderr.write(`ketch: KETCH_PEER_DIAL_OVERRIDES: ${(err as Error).message}\n`);
      return 2;
    }
    log.warn({ overrides: Object.fromEntries(peerDialOverrides) }, 'dialling peers through KETCH_PEER_DIAL_OVERRIDES');
  }
  let tls;
  try {
    const hosts = [...new Set(flags.listenClientUrls.map((url) => new URL(url).hostname.replace(/^\[|\]$/g, '')))];
    tls = { client: await clientTls(flags.clientTls, { dataDir: flags.dataDir, hosts, log }), peer: peerTls(flags.peerTls) };
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    process.stderr.write(`ketch: ${err.message}\n`);
    return 2;
  }
  const peerCredentials = new PeerCredentials(tls.peer);
  let server: KetchServer;
  try {
    server = await KetchServer.open({
      ...flags,
      logger: log,
      peerDialOverrides,
      peerTls: tls.peer,
      discoverExisting: (peerUrls) =>
        discoverCluster(
          peerUrls.map((url) => dialUrl(url, peerDialOverrides)),
          { timeoutMs: 5000, credentials: peerCredentials },
        ),
    });
  } catch (err) {
    log.fatal({ err }, 'cannot start member');
    process.stderr.write(`ketch: ${(err as Error).message}\n`);
    return 1;
  }
  const clients = new ClientListener(server, log, { ...flags, tls: tls.client });
  let stopping: Promise<void> | undefined;
  const stop = (code: number): Promise<void> => {
    stopping ??= (async () => {
      log.info('stopping');
      await clients.close().catch((err: unknown) => log.warn({ err }, 'closing client listener failed'));
      await server.stop().catch((err: unknown) => log.warn({ err }, 'stopping server failed'));
      log.info('stopped');
      process.exit(code);
    })();
    return stopping;
  };
  server.onFatal = () => void stop(1);
  try {
    await server.start();
    for (const url of flags.listenClientUrls) await clients.listen(url);
    for (const url of flags.listenMetricsUrls) await clients.listen(url, { limited: false });
  } catch (err) {
    log.fatal({ err }, 'cannot start member');
    process.stderr.write(`ketch: ${(err as Error).message}\n`);
    await server.stop().catch(() => undefined);
    return 1;
  }
  log.info({ memberId: server.memberId, clusterId: server.clusterId }, 'ready to serve client requests');
  collectWhenIdle(log);
  process.once('SIGTERM', () => void stop(0));
  process.once('SIGINT', () => void stop(0));
  return -1;
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`ketch: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
