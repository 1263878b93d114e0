// kube-apiserver's own metrics (k8s.io/apiserver endpoints/metrics and storage/etcd3/metrics):
// apiserver_request_total and apiserver_request_duration_seconds by verb, group, version,
// resource, subresource and scope (kube's labels and buckets), apiserver_current_inflight_requests
// by request kind, and etcd_request_duration_seconds by operation and resource type, measured
// around every call to the store.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Histogram, Registry, readGauge } from '../../util/prometheus.js';
import type { ResourceRequest } from './request-info.js';
import type { RegistryStore } from './registry-store.js';

/** kube's buckets for both latency histograms (since 1.27; SLO-oriented). */
const LATENCY_BUCKETS = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60];

const REQUEST_LABELS = ['verb', 'dry_run', 'group', 'version', 'resource', 'subresource', 'scope', 'component'] as const;

export class ApiServerMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter;
  private readonly durations: Histogram;
  private readonly etcdDurations: Histogram;
  private inflightReadOnly = 0;
  private inflightMutating = 0;

  constructor() {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'apiserver_request_total',
      help: 'Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.',
      labelNames: [...REQUEST_LABELS, 'code'],
      registers,
    });
    this.durations = new Histogram({
      name: 'apiserver_request_duration_seconds',
      help: 'Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.',
      labelNames: [...REQUEST_LABELS],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.etcdDurations = new Histogram({
      name: 'etcd_request_duration_seconds',
      help: 'Etcd request latency in seconds for each operation and object type.',
      labelNames: ['operation', 'type'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    readGauge(this.registry, { name: 'apiserver_current_inflight_requests', help: 'Maximal number of currently used inflight request limit of this apiserver per request kind in last second.', labelNames: ['request_kind'] }, () => [
      [{ request_kind: 'readOnly' }, this.inflightReadOnly],
      [{ request_kind: 'mutating' }, this.inflightMutating],
    ]);
  }

  /**
   * Counts a request from now until its response closes. Watches are long-running: counted and
   * timed, but not in flight (as kube's max-inflight filter leaves them out).
   */
  track(req: IncomingMessage, res: ServerResponse, target: ResourceRequest | undefined, path: string, dryRun: boolean): void {
    const startNs = process.hrtime.bigint();
    const verb = reportedVerb(req.method ?? 'GET', target);
    const mutating = !['GET', 'HEAD', 'OPTIONS'].includes(req.method ?? 'GET');
    const longRunning = verb === 'WATCH';
    if (!longRunning) {
      if (mutating) this.inflightMutating++;
      else this.inflightReadOnly++;
    }
    res.once('close', () => {
      if (!longRunning) {
        if (mutating) this.inflightMutating--;
        else this.inflightReadOnly--;
      }
      const labels = {
        verb,
        dry_run: dryRun ? 'All' : '',
        group: target?.group ?? '',
        version: target?.version ?? '',
        resource: target?.resource ?? '',
        // kube puts a non-resource request's path here.
        subresource: target === undefined ? path : target.subresource,
        scope: target === undefined ? '' : target.namespace !== '' ? 'namespace' : target.name !== '' ? 'resource' : 'cluster',
        component: 'apiserver',
      };
      this.requests.inc({ ...labels, code: String(res.statusCode) });
      this.durations.observe(labels, Number(process.hrtime.bigint() - startNs) / 1e9);
    });
  }

  /** The store with every call timed into etcd_request_duration_seconds. */
  timedStore(store: RegistryStore, prefix: string): RegistryStore {
    const typeOf = (key: string): string => {
      const rest = key.startsWith(prefix) ? key.slice(prefix.length) : key;
      return rest.split('/').find((s) => s !== '') ?? '';
    };
    const time = async <T>(operation: string, key: string, call: () => Promise<T>): Promise<T> => {
      const startNs = process.hrtime.bigint();
      try {
        return await call();
      } finally {
        this.etcdDurations.observe({ operation, type: typeOf(key) }, Number(process.hrtime.bigint() - startNs) / 1e9);
      }
    };
    return {
      get: (key) => time('get', key, () => store.get(key)),
      list: (key, opts) => time('list', key, () => store.list(key, opts)),
      create: (key, value, lease) => time('create', key, () => store.create(key, value, lease)),
      update: (key, value, rev, lease) => time('update', key, () => store.update(key, value, rev, lease)),
      delete: (key, rev) => time('delete', key, () => store.delete(key, rev)),
      watch: (key, rev, handler) => store.watch(key, rev, handler),
      requestProgress: () => store.requestProgress(),
      grantLease: (ttl) => store.grantLease(ttl),
      casCompactRevKey: (key, version, value) => store.casCompactRevKey(key, version, value),
      compact: (rev) => store.compact(rev),
      openWatches: () => store.openWatches(),
      close: () => store.close(),
    };
  }
}

/** kube's reported verb: the HTTP method, except GET reads as GET, LIST or WATCH. */
function reportedVerb(method: string, target: ResourceRequest | undefined): string {
  if (target === undefined) return method;
  switch (target.verb) {
    case 'get':
    case 'list':
    case 'watch':
      return target.verb.toUpperCase();
    default:
      return method;
  }
}
