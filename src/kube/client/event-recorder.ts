// Records core/v1 Events about objects (what `kubectl describe` shows under Events). Like
// client-go's recorder it never blocks or fails the caller: events are queued, written in the
// background with bounded concurrency, and a repeat of the same event within ten minutes bumps
// the existing event's count instead of creating another (the EventCorrelator's aggregation).
// A loop that keeps failing cannot flood the store: as client-go's EventSourceObjectSpamFilter,
// each object gets a bucket of 25 events refilled at one per 5 minutes (beyond it events are
// dropped), and as its EventAggregator, more than 10 different messages of one reason about one
// object within 10 minutes become a single "(combined from similar events)" event whose count
// grows.

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
const SPAM_BURST = 25;
const SPAM_REFILL_MS = 5 * 60 * 1000;
const SIMILAR_MAX = 10;
const TRACKED_MAX = 4096;

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
  /** Set once similar events are combined: repeats then count on one event, whatever their message. */
  aggregateKey?: string;
}

export class EventRecorder {
  private readonly queue: Pending[] = [];
  private inFlight = 0;
  private waitingForSlot = false;
  /** Per event key: the last write queued, which the next write of that key waits for. */
  private readonly tails = new Map<string, Promise<void>>();
  private readonly seen = new Map<string, { name: string; namespace: string; count: number; firstTimestamp: string; atMs: number }>();
  private idleWaiters: (() => void)[] = [];
  /** Per object: tokens left and when they were last refilled (the spam filter). */
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();
  /** Per object and reason: the distinct messages seen in the window (the aggregator). */
  private readonly similar = new Map<string, { messages: Set<string>; sinceMs: number }>();
  /** Events dropped by the spam filter or a full queue. */
  dropped = 0;

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
      this.dropped++;
      this.log?.warn({ reason }, 'event queue full, dropping event');
      return;
    }
    const meta = regarding.metadata;
    const objectKey = `${regarding.kind ?? ''}|${meta.namespace ?? ''}|${meta.name ?? ''}|${meta.uid ?? ''}`;
    const nowMs = this.clock.nowMs();
    if (!this.takeToken(objectKey, nowMs)) {
      this.dropped++;
      this.log?.debug({ reason, object: objectKey }, 'too many events about this object, dropping event');
      return;
    }
    const pending: Pending = { regarding, type, reason, message, action };
    const similarKey = `${objectKey}|${type}|${reason}`;
    let s = this.similar.get(similarKey);
    if (s === undefined || nowMs - s.sinceMs >= REPEAT_WINDOW_MS) {
      s = { messages: new Set(), sinceMs: nowMs };
      this.similar.set(similarKey, s);
      if (this.similar.size > TRACKED_MAX) pruneOlderThan(this.similar, (v) => v.sinceMs, nowMs - REPEAT_WINDOW_MS);
    }
    s.messages.add(message);
    if (s.messages.size > SIMILAR_MAX) {
      pending.message = `(combined from similar events): ${message}`;
      pending.aggregateKey = similarKey;
    }
    this.queue.push(pending);
    this.pump();
  }

  private takeToken(objectKey: string, nowMs: number): boolean {
    let b = this.buckets.get(objectKey);
    if (b === undefined) {
      b = { tokens: SPAM_BURST, atMs: nowMs };
      this.buckets.set(objectKey, b);
      // Buckets idle long enough to be full again carry no state worth keeping.
      if (this.buckets.size > TRACKED_MAX) pruneOlderThan(this.buckets, (v) => v.atMs, nowMs - SPAM_BURST * SPAM_REFILL_MS);
    }
    const refill = Math.floor((nowMs - b.atMs) / SPAM_REFILL_MS);
    if (refill > 0) {
      b.tokens = Math.min(SPAM_BURST, b.tokens + refill);
      b.atMs += refill * SPAM_REFILL_MS;
    }
    if (b.tokens <= 0) return false;
    b.tokens--;
    return true;
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

  /**
   * Writes of one event key run one after another: a repeat must see the event its first write
   * created (else concurrent repeats create duplicates), and counts must not go backwards.
   */
  private write(p: Pending): Promise<void> {
    const meta = p.regarding.metadata;
    const key = p.aggregateKey ?? `${meta.uid ?? ''}|${meta.name ?? ''}|${p.type}|${p.reason}|${p.message}`;
    const previous = this.tails.get(key) ?? Promise.resolve();
    const mine = previous.then(() => this.writeNow(p, key));
    const tail = mine.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return mine;
  }

  private async writeNow(p: Pending, key: string): Promise<void> {
    const meta = p.regarding.metadata;
    // Events of cluster-scoped objects (nodes) go to "default", as kube does.
    const namespace = meta.namespace !== undefined && meta.namespace !== '' ? meta.namespace : 'default';
    const nowWall = this.clock.wallTime();
    const now = formatTime(nowWall);
    const prior = this.seen.get(key);
    const nowMs = this.clock.nowMs();
    if (prior !== undefined && nowMs - prior.atMs < REPEAT_WINDOW_MS) {
      prior.count++;
      prior.atMs = nowMs;
      try {
        const patch = p.aggregateKey === undefined ? { count: prior.count, lastTimestamp: now } : { count: prior.count, lastTimestamp: now, message: p.message };
        await this.client.patch(EVENTS, prior.namespace, prior.name, 'merge', patch);
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

/** Drops entries last touched before `cutoffMs`; clears the map if that is not enough. */
function pruneOlderThan<V>(map: Map<string, V>, touchedMs: (v: V) => number, cutoffMs: number): void {
  for (const [k, v] of map) if (touchedMs(v) < cutoffMs) map.delete(k);
  if (map.size > TRACKED_MAX) map.clear();
}
