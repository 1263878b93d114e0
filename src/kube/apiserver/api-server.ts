// ketch-apiserver: a stateless Kubernetes API server over any etcd v3 store. It owns no state of
// its own beyond caches; every replica reads and writes the same keys with conditional Txns, so
// any number of replicas can serve one cluster.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

import type { Logger } from 'pino';

import { findResource } from '../machinery/resources.js';
import { toStatus } from '../machinery/status.js';
import { answerAccessReview } from './access-review.js';
import type { ApiContext } from './api-context.js';
import { Authenticator, insecureUser } from './authentication.js';
import {
  AlwaysAllow,
  AlwaysDeny,
  forbiddenStatus,
  nonResourceAttributes,
  PrivilegedGroups,
  resourceAttributes,
  UnionAuthorizer,
  type AuthorizationMode,
  type Authorizer,
  type RequestAttributes,
} from './authorization.js';
import { bootstrap, ensureRbacPolicy } from './bootstrap.js';
import type { ResourceTransformer } from './encryption-config.js';
import { EncryptingStore, transformersByPrefix } from './encrypting-store.js';
import { impersonate } from './impersonation.js';
import { admitNodeCreate, enforceNodeRestriction, NodeAuthorizer, type PodLookup } from './node-authorizer.js';
import { RbacAuthorizer } from './rbac-authorizer.js';
import { RbacEscalationCheck } from './rbac-escalation.js';
import { RbacPolicyCache } from './rbac-policy-cache.js';
import type { UserInfo } from './user-info.js';
import { Compactor } from './compactor.js';
import { ApiServerMetrics } from './apiserver-metrics.js';
import { EtcdRegistryStore } from './etcd-registry-store.js';
import { EventLeases } from './event-leases.js';
import { parseObjectBody, readBody, writeError } from './http-io.js';
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
  /** HTTPS (on securePort) instead of plain HTTP; clientCa enables client-certificate authentication. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer; readonly clientCa?: Buffer };
  readonly securePort?: number;
  /** --token-auth-file's tokens. */
  readonly tokens?: ReadonlyMap<string, UserInfo>;
  /** --anonymous-auth (default true): anonymous requests reach the public-info paths. */
  readonly anonymousAuth?: boolean;
  /** --authorization-mode; default AlwaysAllow. */
  readonly authorizationModes?: readonly AuthorizationMode[];
  /** --encryption-provider-config, parsed. */
  readonly encryption?: readonly ResourceTransformer[];
  /** Client TLS towards the store (--etcd-cafile/--etcd-certfile/--etcd-keyfile), PEM contents. */
  readonly etcdTls?: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
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
  private readonly authenticator: Authenticator | undefined;
  private readonly authorizer: Authorizer;
  private readonly rbac: RbacPolicyCache | undefined;
  private readonly lookupPod: PodLookup;
  private bootstrapped = false;
  private stopping = false;
  private bootstrapTimer: NodeJS.Timeout | undefined;

  private constructor(private readonly opts: ApiServerOptions) {
    const log = opts.log;
    const prefix = opts.etcdPrefix.replace(/\/+$/, '');
    const rawStore = this.metrics.timedStore(opts.store ?? new EtcdRegistryStore({ endpoints: opts.etcdServers, ...(opts.etcdTls === undefined ? {} : { tls: opts.etcdTls }) }), opts.etcdPrefix);
    this.store = opts.encryption === undefined ? rawStore : new EncryptingStore(rawStore, transformersByPrefix(opts.encryption, prefix));
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
    const podsInfo = findResource('', 'v1', 'pods');
    if (podsInfo === undefined) throw new Error('pods missing from the resource catalogue');
    this.lookupPod = (namespace, name) => objects.getMaybe(podsInfo, namespace, name);
    // Without TLS or tokens nobody can be told apart: everyone is an admin, as on kube's old insecure port.
    this.authenticator =
      opts.tls === undefined && opts.tokens === undefined
        ? undefined
        : new Authenticator({ clientCertificates: opts.tls?.clientCa !== undefined, anonymous: opts.anonymousAuth ?? true, ...(opts.tokens === undefined ? {} : { tokens: opts.tokens }) });
    const modes = opts.authorizationModes ?? ['AlwaysAllow'];
    this.rbac = modes.includes('RBAC') ? new RbacPolicyCache(objects, this.cache, log) : undefined;
    this.authorizer = this.buildAuthorizer(modes);
    this.ctx.admitCreate = (req, obj) => {
      if (req.user !== undefined) admitNodeCreate(resourceAttributes(req.user, req.target, req.query, ''), obj);
    };
    if (this.rbac !== undefined) {
      // As kube installs its policybased RBAC storage only with the RBAC authorizer.
      const escalation = new RbacEscalationCheck(this.rbac, this.authorizer, objects);
      this.ctx.admitWrite = (req, obj, old) => escalation.admit(req, obj, old);
    }
    const handler = (req: IncomingMessage, res: ServerResponse): void => void this.handle(req, res);
    this.http =
      opts.tls === undefined
        ? createServer(handler)
        : createHttpsServer(
            {
              cert: opts.tls.cert,
              key: opts.tls.key,
              // Ask for a client certificate without requiring one: tokens and anonymous requests stay possible.
              ...(opts.tls.clientCa === undefined ? {} : { ca: opts.tls.clientCa, requestCert: true, rejectUnauthorized: false }),
            },
            handler,
          );
    this.http.keepAliveTimeout = 65_000;
    // Watches are long-lived; node's default 5 min request timeout would cut them.
    this.http.requestTimeout = 0;
  }

  /** Starts serving; the store does not need to be reachable yet (readyz says when it is). */
  static async start(opts: ApiServerOptions): Promise<ApiServer> {
    const server = new ApiServer(opts);
    await new Promise<void>((resolve, reject) => {
      server.http.once('error', reject);
      server.http.listen(opts.tls === undefined ? opts.port : (opts.securePort ?? 6443), opts.bindAddress, () => {
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
    return `${this.opts.tls === undefined ? 'http' : 'https'}://${this.opts.bindAddress}:${this.port}`;
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
        if (this.rbac !== undefined) {
          await ensureRbacPolicy(this.ctx);
          await this.rbac.start();
        }
        this.bootstrapped = true;
        this.compactor.start();
        this.cleaner.start(this.ctx);
        this.opts.log.info({ url: this.url }, 'apiserver ready');
      } catch (error) {
        this.opts.log.warn({ err: error }, 'apiserver start-up step failed; retrying');
        this.rbac?.stop();
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

  private buildAuthorizer(modes: readonly AuthorizationMode[]): Authorizer {
    if (modes.length === 1 && modes[0] === 'AlwaysAllow') return new AlwaysAllow();
    const chain: Authorizer[] = [new PrivilegedGroups()];
    for (const mode of modes) {
      if (mode === 'AlwaysAllow') chain.push(new AlwaysAllow());
      else if (mode === 'AlwaysDeny') chain.push(new AlwaysDeny());
      else if (mode === 'Node') chain.push(new NodeAuthorizer(this.lookupPod));
      else chain.push(new RbacAuthorizer(this.rbac as RbacPolicyCache));
    }
    return new UnionAuthorizer(chain);
  }

  /** The user a request acts as: authenticated (401 otherwise), then impersonated if it asks to be. */
  private async identify(req: IncomingMessage, path: string): Promise<UserInfo> {
    if (this.authenticator === undefined) return insecureUser;
    const caller = this.authenticator.authenticate(req, path);
    return impersonate(req, caller, this.authorizer);
  }

  private async authorize(attrs: RequestAttributes): Promise<void> {
    const decision = await this.authorizer.authorize(attrs);
    if (decision.allowed) return;
    this.opts.log.debug({ user: attrs.user.name, verb: attrs.verb, resource: attrs.resource, path: attrs.path, reason: decision.reason }, 'forbidden');
    throw forbiddenStatus(attrs, decision.reason);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    let path = '/';
    try {
      const url = new URL(req.url ?? '/', 'http://apiserver');
      path = url.pathname;
      const target = parseResourcePath(req.method ?? 'GET', path, url.searchParams);
      this.metrics.track(req, res, target, path, url.searchParams.has('dryRun'));
      const user = await this.identify(req, path);
      if (target === undefined) {
        await this.authorize(nonResourceAttributes(user, req.method ?? 'GET', path));
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
        throw pathNotFound();
      }
      const attrs = resourceAttributes(user, target, url.searchParams, path);
      await this.authorize(attrs);
      await enforceNodeRestriction(attrs, this.lookupPod);
      if (target.group === 'authorization.k8s.io' && target.verb === 'create' && target.name === '') {
        const info = findResource(target.group, target.version, target.resource);
        if (info?.kind === 'SelfSubjectAccessReview' || info?.kind === 'SubjectAccessReview') {
          const body = parseObjectBody(await readBody(req), req.headers['content-type'], info.kind);
          await answerAccessReview(info.kind, body, user, this.authorizer, res);
          return;
        }
      }
      await routeResource(this.ctx, target, url.searchParams, req, res, user);
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
    this.rbac?.stop();
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
