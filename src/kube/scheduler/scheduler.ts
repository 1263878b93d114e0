// The scheduling loop for one leadership term: informers on pods and nodes feed a cache; pods
// that need a node (no spec.nodeName, our schedulerName, not deleting) go through a work queue
// one decision at a time; a chosen node is "assumed" at once and the Binding is posted in the
// background; failures back off (1 s doubling to 10 s, as kube's pod backoff) and are retried
// early when nodes change or pods go away. Events: Scheduled / FailedScheduling.

import type { Logger } from 'pino';
import { describeError, isConflict, isNotFound } from '../client/api-error.js';
import { formatTime, type Clock } from '../client/clock.js';
import type { Binding, Node, Pod } from '../client/core-types.js';
import { EventRecorder } from '../client/event-recorder.js';
import type { AttemptResult, SchedulerMetrics } from './scheduler-metrics.js';
import type { KubeClient } from '../client/kube-client.js';
import { NODES, PODS } from '../client/resource-ref.js';
import { Informer, objectKey } from '../informer/informer.js';
import { ItemExponentialRateLimiter } from '../informer/rate-limiter.js';
import { WorkQueue } from '../informer/work-queue.js';
import { NotLeaderError } from '../leader-election/leader-elector.js';
import { isTerminal } from './node-info.js';
import { SchedulerCache } from './scheduler-cache.js';
import { scheduleOne } from './schedule-one.js';

export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';
/**
 * Bindings in flight at once. kube-scheduler binds in a goroutine per pod; a small cap made a
 * write's latency the scheduling rate (16 in flight at ~400 ms each was 40 pods/s).
 */
const DEFAULT_BIND_CONCURRENCY = 64;

export interface SchedulerOptions {
  client: KubeClient;
  clock: Clock;
  /** Who acts (the leader-election identity): Events carry it as reportingInstance. */
  identity: string;
  schedulerName?: string;
  logger?: Logger;
  random?: () => number;
  /** Bindings in flight at once. */
  bindConcurrency?: number;
  /** The process's scheduler metrics (they outlive this term's scheduler). */
  metrics?: SchedulerMetrics;
}

export interface SchedulerStats {
  scheduled: number;
  failedAttempts: number;
  bindErrors: number;
}

export class Scheduler {
  readonly stats: SchedulerStats = { scheduled: 0, failedAttempts: 0, bindErrors: 0 };
  private readonly schedulerName: string;
  private readonly log: Logger | undefined;
  private readonly random: () => number;
  private readonly cache = new SchedulerCache();
  private readonly queue: WorkQueue<string>;
  /** Pods that found no node, waiting for their backoff or for a change in the cluster. */
  private readonly unschedulable = new Set<string>();
  private readonly recorder: EventRecorder;
  private readonly pods: Informer<Pod>;
  private readonly nodes: Informer<Node>;
  private bindsInFlight = 0;
  private bindSlotWaiters: (() => void)[] = [];

  constructor(private readonly opts: SchedulerOptions) {
    this.schedulerName = opts.schedulerName ?? DEFAULT_SCHEDULER_NAME;
    this.log = opts.logger;
    this.random = opts.random ?? Math.random;
    this.queue = new WorkQueue<string>(opts.clock, new ItemExponentialRateLimiter<string>(1000, 10_000));
    this.recorder = new EventRecorder(opts.client, { component: this.schedulerName, instance: opts.identity }, opts.clock, opts.logger);
    this.pods = new Informer<Pod>({ client: opts.client, resource: PODS, clock: opts.clock, logger: opts.logger });
    this.nodes = new Informer<Node>({ client: opts.client, resource: NODES, clock: opts.clock, logger: opts.logger });
  }

  /** Schedules until `signal` aborts (the end of the leadership term). */
  async run(signal: AbortSignal): Promise<void> {
    this.pods.addHandlers({
      onAdd: (pod) => this.onPod(pod),
      onUpdate: (_old, pod) => this.onPod(pod),
      onDelete: (pod) => {
        const key = objectKey(pod);
        this.cache.removePod(key);
        this.unschedulable.delete(key);
        this.retryUnschedulable();
      },
    });
    this.nodes.addHandlers({
      onAdd: (node) => {
        this.cache.setNode(node);
        this.retryUnschedulable();
      },
      onUpdate: (_old, node) => {
        this.cache.setNode(node);
        this.retryUnschedulable();
      },
      onDelete: (node) => this.cache.removeNode(node.metadata.name ?? ''),
    });
    const informers = [this.pods.run(signal), this.nodes.run(signal)];
    const onAbort = (): void => this.queue.shutDown();
    signal.addEventListener('abort', onAbort, { once: true });
    this.opts.metrics?.attach({ active: () => this.queue.len(), backoff: () => this.queue.waitingLen(), unschedulable: () => this.unschedulable.size });
    try {
      if (!(await this.pods.waitForSync(signal)) || !(await this.nodes.waitForSync(signal))) return;
      this.log?.info({ nodes: this.nodes.size, pods: this.pods.size }, 'scheduler caches synced');
      void this.expireLoop(signal);
      for (;;) {
        await this.bindSlot();
        const key = await this.queue.get();
        if (key === undefined || signal.aborted) break;
        const startMs = this.opts.clock.nowMs();
        try {
          this.scheduleKey(key, startMs);
        } catch (err) {
          this.log?.error({ err, pod: key }, 'scheduling failed');
          this.recordAttempt('error', startMs);
          this.queue.addRateLimited(key);
        } finally {
          this.queue.done(key);
        }
      }
    } finally {
      this.opts.metrics?.attach(undefined);
      signal.removeEventListener('abort', onAbort);
      this.queue.shutDown();
      await Promise.all(informers);
      await this.recorder.flush();
    }
  }

  private needsScheduling(pod: Pod): boolean {
    return (
      (pod.spec.nodeName === undefined || pod.spec.nodeName === '') &&
      (pod.spec.schedulerName ?? DEFAULT_SCHEDULER_NAME) === this.schedulerName &&
      pod.metadata.deletionTimestamp === undefined &&
      !isTerminal(pod)
    );
  }

  private onPod(pod: Pod): void {
    const key = objectKey(pod);
    this.cache.updatePod(key, pod);
    if (!this.needsScheduling(pod)) {
      this.unschedulable.delete(key);
      return;
    }
    // An unschedulable pod waits for its backoff (its own status updates must not spin it).
    if (!this.unschedulable.has(key) && !this.cache.isAssumed(key)) this.queue.add(key);
  }

  /** Something changed that may let waiting pods fit: try them again now. */
  private retryUnschedulable(): void {
    for (const key of this.unschedulable) this.queue.add(key);
    this.unschedulable.clear();
  }

  private recordAttempt(result: AttemptResult, startMs: number): void {
    this.opts.metrics?.attempt(result, this.schedulerName, (this.opts.clock.nowMs() - startMs) / 1000);
  }

  private scheduleKey(key: string, startMs: number): void {
    const pod = this.pods.getByKey(key);
    if (pod === undefined || !this.needsScheduling(pod) || this.cache.isAssumed(key)) {
      this.queue.forget(key);
      this.unschedulable.delete(key);
      return;
    }
    const result = scheduleOne(pod, this.cache.nodeInfos(), this.random);
    if (!result.ok) {
      this.stats.failedAttempts++;
      this.recordAttempt('unschedulable', startMs);
      this.unschedulable.add(key);
      this.queue.addRateLimited(key);
      this.log?.debug({ pod: key, why: result.message }, 'unable to schedule pod');
      this.recorder.event(pod, 'Warning', 'FailedScheduling', result.message, 'Scheduling');
      void this.markUnschedulable(pod, result.message);
      return;
    }
    this.unschedulable.delete(key);
    this.cache.assume(key, pod, result.nodeName, this.opts.clock.nowMs());
    this.bindsInFlight++;
    void this.bind(key, pod, result.nodeName, startMs).finally(() => {
      this.bindsInFlight--;
      this.bindSlotWaiters.shift()?.();
    });
  }

  private async bind(key: string, pod: Pod, nodeName: string, startMs: number): Promise<void> {
    const ns = pod.metadata.namespace ?? 'default';
    const name = pod.metadata.name ?? '';
    const binding: Binding = {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name, namespace: ns, uid: pod.metadata.uid },
      target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
    };
    try {
      await this.opts.client.create(PODS, ns, binding, { name, subresource: 'binding' });
    } catch (err) {
      this.cache.forget(key);
      if (err instanceof NotLeaderError) return;
      if (isNotFound(err) || isConflict(err)) {
        // Deleted meanwhile, or already bound (by an earlier attempt of ours): nothing to retry.
        this.log?.info({ pod: key, err: describeError(err) }, 'binding not needed any more');
        this.queue.forget(key);
        return;
      }
      this.stats.bindErrors++;
      this.recordAttempt('error', startMs);
      this.log?.warn({ pod: key, node: nodeName, err: describeError(err) }, 'binding failed');
      this.recorder.event(pod, 'Warning', 'FailedScheduling', `Binding rejected: ${describeError(err)}`, 'Binding');
      this.queue.addRateLimited(key);
      return;
    }
    this.stats.scheduled++;
    this.recordAttempt('scheduled', startMs);
    this.queue.forget(key);
    this.log?.debug({ pod: key, node: nodeName }, 'bound');
    this.recorder.event(pod, 'Normal', 'Scheduled', `Successfully assigned ${ns}/${name} to ${nodeName}`, 'Binding');
  }

  /** PodScheduled=False/Unschedulable in the pod's status, as kube-scheduler reports it. */
  private async markUnschedulable(pod: Pod, message: string): Promise<void> {
    const current = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (current?.status === 'False' && current.message === message) return;
    const condition = { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message, lastProbeTime: null, lastTransitionTime: formatTime(this.opts.clock.wallTime()) };
    try {
      await this.opts.client.patch(PODS, pod.metadata.namespace, pod.metadata.name ?? '', 'strategic', { status: { conditions: [condition] } }, { subresource: 'status' });
    } catch (err) {
      this.log?.debug({ pod: objectKey(pod), err: describeError(err) }, 'could not update the PodScheduled condition');
    }
  }

  private bindSlot(): Promise<void> {
    if (this.bindsInFlight < (this.opts.bindConcurrency ?? DEFAULT_BIND_CONCURRENCY)) return Promise.resolve();
    return new Promise((resolve) => this.bindSlotWaiters.push(resolve));
  }

  private async expireLoop(signal: AbortSignal): Promise<void> {
    while (await this.opts.clock.sleep(5000, signal)) {
      for (const key of this.cache.expireAssumed(this.opts.clock.nowMs())) {
        this.log?.warn({ pod: key }, 'assumed pod expired before its binding was seen; rescheduling');
        this.queue.add(key);
      }
    }
  }
}
