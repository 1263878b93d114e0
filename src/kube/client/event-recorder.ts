// Records core/v1 Events about objects (what `kubectl describe` shows under Events). Like
// client-go's recorder it never blocks or fails the caller: events are queued, written in the
// background with bounded concurrency, and a repeat of the same event within ten minutes bumps
// the existing event's count instead of creating another (the EventCorrelator's aggregation).

import type { Logger } from 'pino';
import { describeError, isNotFound } from './api-error.js';
import { formatMicroTime, formatTime, type Clock } from './clock.js';
import type { KubeEvent } from './core-types.js';
import type { KubeClient } from './kube-client.js';
import type { KubeObject } from './meta-types.js';
import { EVENTS } from './resource-ref.js';

export interface EventSource {
  /** source.component and reportingComponent, e.g. "default-scheduler", "kubelet". */
  component: string;
  /** reportingInstance: which replica acted (the leader-election identity). */
  instance: string;
  /** source.host (kubelets: the node name). */
  host?: string;
}

const REPEAT_WINDOW_MS = 10 * 60 * 1000;
const MAX_IN_FLIGHT = 8;
const MAX_QUEUED = 1000;

/**
 * A budget of concurrent event writes shared by several recorders (a kubelet process with many
 * nodes has one recorder per node): events are best effort and must not take every connection
 * from the writes that matter (bindings, pod status).
 */
export class EventWriteSlots {
  private used = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly size: number = MAX_IN_FLIGHT) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`event write slots: ${size} is not a positive integer`);
  }

  /** Takes a slot now if one is free. */
  tryAcquire(): boolean {
    if (this.used >= this.size) return false;
    this.used++;
    return true;
  }

  /** Calls `wake` once when a slot may be free again. */
  onFree(wake: () => void): void {
    this.waiting.push(wake);
  }

  release(): void {
    this.used--;
    this.waiting.shift()?.();
  }
}

interface Pending {
  regarding: KubeObject;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  action?: string;
}

export class EventRecorder {
  private readonly queue: Pending[] = [];
  private inFlight = 0;
  private waitingForSlot = false;
  private readonly seen = new Map<string, { name: string; namespace: string; count: number; firstTimestamp: string; atMs: number }>();
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly client: KubeClient,
    private readonly source: EventSource,
    private readonly clock: Clock,
    private readonly log?: Logger,
    private readonly slots: EventWriteSlots = new EventWriteSlots(),
  ) {}

  /** Queues an event about `regarding`; returns at once. */
  event(regarding: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string, action?: string): void {
    if (this.queue.length >= MAX_QUEUED) {
      this.log?.warn({ reason }, 'event queue full, dropping event');
      return;
    }
    this.queue.push({ regarding, type, reason, message, action });
    this.pump();
  }

  /** Resolves once everything queued so far has been written (or has failed). */
  flush(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      if (!this.slots.tryAcquire()) {
        // All shared slots are busy: wait for one (once, however many events are queued).
        if (!this.waitingForSlot) {
          this.waitingForSlot = true;
          this.slots.onFree(() => {
            this.waitingForSlot = false;
            this.pump();
          });
        }
        return;
      }
      const next = this.queue.shift() as Pending;
      this.inFlight++;
      void this.write(next)
        .catch((err: unknown) => this.log?.debug({ err: describeError(err), reason: next.reason }, 'could not write event'))
        .finally(() => {
          this.inFlight--;
          this.slots.release();
          this.pump();
          if (this.queue.length === 0 && this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
        });
    }
  }

  private async write(p: Pending): Promise<void> {
    const meta = p.regarding.metadata;
    // Events of cluster-scoped objects (nodes) go to "default", as kube does.
    const namespace = meta.namespace !== undefined && meta.namespace !== '' ? meta.namespace : 'default';
    const nowWall = this.clock.wallTime();
    const now = formatTime(nowWall);
    const key = `${meta.uid ?? ''}|${meta.name ?? ''}|${p.type}|${p.reason}|${p.message}`;
    const prior = this.seen.get(key);
    const nowMs = this.clock.nowMs();
    if (prior !== undefined && nowMs - prior.atMs < REPEAT_WINDOW_MS) {
      prior.count++;
      prior.atMs = nowMs;
      try {
        await this.client.patch(EVENTS, prior.namespace, prior.name, 'merge', { count: prior.count, lastTimestamp: now });
        return;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    const name = `${meta.name ?? 'unknown'}.${(BigInt(nowWall.getTime()) * 1_000_000n + BigInt(Math.floor(Math.random() * 1_000_000))).toString(16)}`;
    const event: KubeEvent = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: {
        apiVersion: p.regarding.apiVersion,
        kind: p.regarding.kind,
        namespace: meta.namespace,
        name: meta.name,
        uid: meta.uid,
        resourceVersion: meta.resourceVersion,
      },
      reason: p.reason,
      message: p.message,
      type: p.type,
      source: this.source.host === undefined ? { component: this.source.component } : { component: this.source.component, host: this.source.host },
      firstTimestamp: now,
      lastTimestamp: now,
      eventTime: formatMicroTime(nowWall),
      count: 1,
      reportingComponent: this.source.component,
      reportingInstance: this.source.instance,
    };
    if (p.action !== undefined) event.action = p.action;
    await this.client.create(EVENTS, namespace, event);
    this.seen.set(key, { name, namespace, count: 1, firstTimestamp: now, atMs: nowMs });
    if (this.seen.size > 4096) {
      for (const [k, v] of this.seen) if (nowMs - v.atMs >= REPEAT_WINDOW_MS) this.seen.delete(k);
      if (this.seen.size > 4096) this.seen.clear();
    }
  }
}
