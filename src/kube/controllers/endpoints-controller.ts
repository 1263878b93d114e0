// The Endpoints controller loop: every Service with a selector gets an Endpoints object of the
// same name listing its pods; pod and Service changes re-sync the Services concerned.

import type { Logger } from 'pino';
import { isAlreadyExists, isNotFound } from '../client/api-error.js';
import type { Endpoints, Pod, Service } from '../client/core-types.js';
import { ENDPOINTS, PODS, SERVICES } from '../client/resource-ref.js';
import { objectKey, splitKey, type Informer } from '../informer/informer.js';
import { defaultControllerRateLimiter } from '../informer/rate-limiter.js';
import { WorkQueue } from '../informer/work-queue.js';
import { desiredSubsets, subsetsEqual } from './endpoints-sync.js';
import { BY_NAMESPACE, indexByNamespace } from './indexes.js';
import { runWorkers } from './queue-worker.js';
import type { ControllerContext } from './replicaset-controller.js';

function selects(svc: Service, pod: Pod): boolean {
  const sel = svc.spec?.selector;
  if (sel === undefined || Object.keys(sel).length === 0) return false;
  const labels = pod.metadata.labels ?? {};
  return Object.entries(sel).every(([k, v]) => labels[k] === v);
}

export class EndpointsController {
  private readonly queue: WorkQueue<string>;
  private readonly svcInf: Informer<Service>;
  private readonly podInf: Informer<Pod>;
  private readonly epInf: Informer<Endpoints>;
  private readonly log: Logger | undefined;

  constructor(private readonly ctx: ControllerContext) {
    this.queue = new WorkQueue<string>(ctx.clock, defaultControllerRateLimiter<string>(ctx.clock));
    this.svcInf = ctx.informers.get<Service>(SERVICES);
    this.podInf = ctx.informers.get<Pod>(PODS);
    this.epInf = ctx.informers.get<Endpoints>(ENDPOINTS);
    indexByNamespace(this.svcInf);
    indexByNamespace(this.podInf);
    this.log = ctx.logger?.child({ controller: 'endpoints' });
    this.svcInf.addHandlers({
      onAdd: (s) => this.queue.add(objectKey(s)),
      onUpdate: (_o, s) => this.queue.add(objectKey(s)),
      onDelete: (s) => this.queue.add(objectKey(s)),
    });
    const podChanged = (pod: Pod): void => {
      for (const svc of this.svcInf.byIndex(BY_NAMESPACE, pod.metadata.namespace ?? '')) if (selects(svc, pod)) this.queue.add(objectKey(svc));
    };
    this.podInf.addHandlers({
      onAdd: podChanged,
      onUpdate: (old, pod) => {
        podChanged(pod);
        if (JSON.stringify(old.metadata.labels ?? {}) !== JSON.stringify(pod.metadata.labels ?? {})) podChanged(old);
      },
      onDelete: podChanged,
    });
    // Someone else touched an Endpoints object we manage: put it back.
    this.epInf.addHandlers({
      onAdd: (ep) => {
        if (this.svcInf.getByKey(objectKey(ep)) !== undefined) this.queue.add(objectKey(ep));
      },
      onUpdate: (_o, ep) => {
        if (this.svcInf.getByKey(objectKey(ep)) !== undefined) this.queue.add(objectKey(ep));
      },
      onDelete: (ep) => {
        if (this.svcInf.getByKey(objectKey(ep)) !== undefined) this.queue.add(objectKey(ep));
      },
    });
  }

  async run(signal: AbortSignal, workers = 5): Promise<void> {
    if (!(await this.ctx.informers.waitForSync(signal))) return;
    await runWorkers('endpoints', this.queue, workers, (key) => this.sync(key), signal, this.log);
  }

  private async sync(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const svc = this.svcInf.getByKey(key);
    if (svc === undefined) {
      // The Service is gone: so are its Endpoints (when we made them).
      if (this.epInf.getByKey(key) === undefined) return;
      try {
        await this.ctx.client.delete(ENDPOINTS, namespace, name);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      return;
    }
    if (svc.spec?.selector === undefined || Object.keys(svc.spec.selector).length === 0) return;
    const pods = this.podInf.byIndex(BY_NAMESPACE, namespace ?? '').filter((p) => selects(svc, p));
    const subsets = desiredSubsets(svc, pods);
    const labels: Record<string, string> = { ...(svc.metadata.labels ?? {}) };
    if (svc.spec.clusterIP === 'None') labels['service.kubernetes.io/headless'] = '';
    const current = this.epInf.getByKey(key);
    if (current !== undefined && subsetsEqual(current.subsets, subsets) && JSON.stringify(current.metadata.labels ?? {}) === JSON.stringify(labels)) return;
    const ep: Endpoints = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { ...(current?.metadata ?? { name, namespace }), labels },
      subsets,
    };
    if (current === undefined) {
      try {
        await this.ctx.client.create(ENDPOINTS, namespace, ep);
      } catch (err) {
        // Created meanwhile (cache behind): the informer will bring it, and us back here.
        if (!isAlreadyExists(err)) throw err;
      }
      return;
    }
    await this.ctx.client.update(ENDPOINTS, ep);
  }
}
