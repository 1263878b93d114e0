// ketch-apiserver: a stateless Kubernetes API server over any etcd v3 store. It owns no state of
// its own beyond caches; every replica reads and writes the same keys with conditional Txns, so
// any number of replicas can serve one cluster.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Logger } from 'pino';

import { findResource } from '../machinery/resources.js';
import { toStatus } from '../machinery/status.js';
import type { ApiContext } from './api-context.js';
import { bootstrap } from './bootstrap.js';
import { Compactor } from './compactor.js';
import { ApiServerMetrics } from './apiserver-metrics.js';
import { EtcdRegistryStore } from './etcd-registry-store.js';
import { EventLeases } from './event-leases.js';
import { writeError } from './http-io.js';
import { NamespaceCache } from './namespace-cache.js';
import { NamespaceCleaner } from './namespace-cleaner.js';
import { handleNonResource, type HealthCheck } from './non-resource.js';
import { ObjectStore } from './object-store.js';
import type { RegistryStore } from './registry-store.js';
import { parseResourcePath } from './request-info.js';
import { strategyFor } from './resource-strategy.js';
import { pathNotFound, routeResource } from './rest-router.js';
import { ServiceAllocator } from './service-allocator.js';
import { ServiceStrategy } from './service-strategy.js';
import { WatchCache } from './watch-cache.js';
import { readGauge, renderMetrics } from '../../util/prometheus.js';

export interface ApiServerOptions {
  readonly etcdServers: readonly string[];
  readonly etcdPrefix: string;
  readonly bindAddress: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly serviceClusterIpRange: string;
  readonly serviceNodePortRange: string;
  /** kube's --etcd-compaction-interval; 0 disables. */
  readonly compactionIntervalMs: number;
  /** kube's --event-ttl. */
  readonly eventTtlSeconds: number;
  readonly bookmarkIntervalMs: number;
  /** Events the watch cache keeps (kube's --default-watch-cache-size). */
  readonly watchCacheSize?: number;
  readonly log: Logger;
  /** A store other than the etcd client (tests); the server closes it on stop. */
  readonly store?: RegistryStore;
}

export class ApiServer {
  private readonly http: Server;
  private readonly metrics = new ApiServerMetrics();
  private readonly store: RegistryStore;
  private readonly cache: WatchCache;
  private readonly compactor: Compactor;
  private readonly cleaner: NamespaceCleaner;
  private readonly ctx: ApiContext;
  private readonly allocator: ServiceAllocator;
  private readonly namespaces: NamespaceCache;
  private bootstrapped = false;
  private stopping = false;
  private bootstrapTimer: NodeJS.Timeout | undefined;

  private constructor(private readonly opts: ApiServerOptions) {
    const log = opts.log;
    this.store = this.metrics.timedStore(opts.store ?? new EtcdRegistryStore({ endpoints: opts.etcdServers }), opts.etcdPrefix);
    const prefix = opts.etcdPrefix.replace(/\/+$/, '');
    const objects = new ObjectStore(this.store, prefix);
    this.cache = new WatchCache(this.store, `${prefix}/`, log, opts.watchCacheSize === undefined ? {} : { capacity: opts.watchCacheSize });
    this.registerCacheGauges();
    this.compactor = new Compactor(this.store, opts.compactionIntervalMs, log);
    this.cleaner = new NamespaceCleaner(log);
    this.allocator = new ServiceAllocator(this.store, prefix, opts.serviceClusterIpRange, opts.serviceNodePortRange);
    const serviceStrategy = new ServiceStrategy(this.allocator);
    const eventLeases = new EventLeases(this.store, opts.eventTtlSeconds);
    const cleaner = this.cleaner;
    const namespaceInfo = findResource('', 'v1', 'namespaces');
    if (namespaceInfo === undefined) throw new Error('namespaces missing from the resource catalogue');
    this.namespaces = new NamespaceCache(objects, this.cache, namespaceInfo, log);
    const namespaces = this.namespaces;
    this.ctx = {
      objects,
      cache: this.cache,
      log,
      now: () => new Date(),
      strategyFor: (info) => strategyFor(info, serviceStrategy),
      cleanupNamespace: (name) => cleaner.kick(name),
      bookmarkIntervalMs: opts.bookmarkIntervalMs,
      eventLease: () => eventLeases.lease(),
      namespaceState: (name) => namespaces.lookup(name),
    };
    this.http = createServer((req, res) => void this.handle(req, res));
    this.http.keepAliveTimeout = 65_000;
    // Watches are long-lived; node's default 5 min request timeout would cut them.
    this.http.requestTimeout = 0;
  }

  /** Starts serving; the store does not need to be reachable yet (readyz says when it is). */
  static async start(opts: ApiServerOptions): Promise<ApiServer> {
    const server = new ApiServer(opts);
    await new Promise<void>((resolve, reject) => {
      server.http.once('error', reject);
      server.http.listen(opts.port, opts.bindAddress, () => {
        server.http.off('error', reject);
        resolve();
      });
    });
    server.startBackground();
    return server;
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://${this.opts.bindAddress}:${this.port}`;
  }

  /** Resolves once the watch cache runs and the system objects exist. */
  async whenReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.bootstrapped) {
      if (Date.now() > deadline) throw new Error('apiserver did not become ready');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  private startBackground(): void {
    const attempt = async (): Promise<void> => {
      if (this.stopping) return;
      try {
        await this.cache.start();
        await this.namespaces.start();
        await bootstrap(this.ctx, this.allocator.kubernetesServiceIp, this.port);
        this.bootstrapped = true;
        this.compactor.start();
        this.cleaner.start(this.ctx);
        this.opts.log.info({ url: this.url }, 'apiserver ready');
      } catch (error) {
        this.opts.log.warn({ err: error }, 'apiserver start-up step failed; retrying');
        this.namespaces.stop();
        await this.cache.stop();
        this.bootstrapTimer = setTimeout(() => void attempt(), 1000);
      }
    };
    void attempt();
  }

  private readonly storeCheck: HealthCheck = {
    name: 'etcd',
    check: async () => {
      await this.store.get(`${this.opts.etcdPrefix.replace(/\/+$/, '')}/health`);
    },
  };

  private readonly bootstrapCheck: HealthCheck = {
    name: 'poststarthook/bootstrap-controller',
    check: async () => {
      if (!this.bootstrapped) throw new Error('not bootstrapped');
    },
  };

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    let path = '/';
    try {
      const url = new URL(req.url ?? '/', 'http://apiserver');
      path = url.pathname;
      const target = parseResourcePath(req.method ?? 'GET', path, url.searchParams);
      this.metrics.track(req, res, target, path, url.searchParams.has('dryRun'));
      const served = await handleNonResource(
        {
          serverAddress: (r) => r.headers.host ?? `${this.opts.bindAddress}:${this.port}`,
          readyChecks: [this.storeCheck, this.bootstrapCheck],
          liveChecks: [this.storeCheck],
          metrics: () => this.metricsText(),
        },
        req,
        res,
        path,
        url.searchParams,
      );
      if (served) return;
      if (target === undefined) throw pathNotFound();
      await routeResource(this.ctx, target, url.searchParams, req, res);
    } catch (error) {
      const status = toStatus(error);
      if (status.code >= 500) this.opts.log.error({ err: error, method: req.method, path }, 'request failed');
      if (res.headersSent) {
        res.end();
      } else {
        writeError(res, error);
      }
    } finally {
      this.opts.log.debug({ method: req.method, url: req.url, code: res.statusCode, ms: Date.now() - started }, 'request');
    }
  }

  /** kube's request and storage metrics, and a few gauges of the watch cache. */
  private metricsText(): Promise<string> {
    return renderMetrics(this.metrics.registry);
  }

  private registerCacheGauges(): void {
    const r = this.metrics.registry;
    readGauge(r, { name: 'apiserver_registered_watchers', help: 'Number of currently registered watchers (served from the watch cache).' }, () => this.cache.watcherCount);
    readGauge(r, { name: 'ketch_apiserver_store_watches', help: 'Watches this apiserver has open on the store.' }, () => this.store.openWatches());
    readGauge(r, { name: 'ketch_apiserver_watch_cache_revision', help: 'Revision the watch cache is complete up to.' }, () => this.cache.revision);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.bootstrapTimer);
    this.compactor.stop();
    this.cleaner.stop();
    this.namespaces.stop();
    await this.cache.stop();
    this.http.closeIdleConnections();
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    // Open watch streams end with the cache; anything else gets a moment, then is cut.
    const timer = setTimeout(() => this.http.closeAllConnections(), 2000);
    await closed;
    clearTimeout(timer);
    await this.store.close();
  }
}
