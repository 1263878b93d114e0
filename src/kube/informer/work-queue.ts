// A de-duplicating work queue with delayed and rate-limited adds (client-go's workqueue):
// - an item queued twice is processed once;
// - an item is never processed by two workers at once: added while in process, it is queued
//   again only when the worker calls done();
// - addAfter/addRateLimited hold an item until its time (the earliest of several holds wins).

import type { Clock } from '../client/clock.js';
import type { RateLimiter } from './rate-limiter.js';
import type { QueueMetrics } from './work-queue-metrics.js';

export class WorkQueue<K> {
  private readonly queue: K[] = [];
  /** Items that need processing (queued, or to be re-queued after their current processing). */
  private readonly dirty = new Set<K>();
  private readonly processing = new Set<K>();
  /** Delayed items and when they become ready (monotonic ms). */
  private readonly waiting = new Map<K, number>();
  private readonly getters: ((item: K | undefined) => void)[] = [];
  private readonly stop = new AbortController();
  private metrics: QueueMetrics | undefined;
  /** With metrics only: when each queued item was added, and each item in process was taken. */
  private readonly addedAtMs = new Map<K, number>();
  private readonly takenAtMs = new Map<K, number>();

  constructor(
    private readonly clock: Clock,
    private readonly rateLimiter: RateLimiter<K>,
  ) {}

  get shuttingDown(): boolean {
    return this.stop.signal.aborted;
  }

  /** Items held back by addAfter/addRateLimited until their time. */
  waitingLen(): number {
    return this.waiting.size;
  }

  /** Reports to `metrics` from now on (client-go's named queues). */
  instrument(metrics: QueueMetrics): void {
    this.metrics = metrics;
    metrics.attach({ depth: () => this.queue.length, processingSinceMs: () => this.takenAtMs.values(), nowMs: () => this.clock.nowMs() });
  }

  /** Queued items (not counting those in process or waiting). */
  len(): number {
    return this.queue.length;
  }

  add(item: K): void {
    if (this.shuttingDown || this.dirty.has(item)) return;
    this.metrics?.added();
    this.dirty.add(item);
    if (this.processing.has(item)) return;
    const getter = this.getters.shift();
    if (getter !== undefined) {
      this.dirty.delete(item);
      this.take(item, this.clock.nowMs());
      getter(item);
      return;
    }
    if (this.metrics !== undefined) this.addedAtMs.set(item, this.clock.nowMs());
    this.queue.push(item);
  }

  private take(item: K, addedAtMs: number): void {
    this.processing.add(item);
    if (this.metrics === undefined) return;
    const now = this.clock.nowMs();
    this.metrics.queued((now - addedAtMs) / 1000);
    this.takenAtMs.set(item, now);
  }

  /** The next item, or undefined once shut down. The caller must call done(item) afterwards. */
  get(): Promise<K | undefined> {
    if (this.queue.length > 0) {
      const item = this.queue.shift() as K;
      this.dirty.delete(item);
      const addedAt = this.addedAtMs.get(item);
      this.addedAtMs.delete(item);
      this.take(item, addedAt ?? this.clock.nowMs());
      return Promise.resolve(item);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  done(item: K): void {
    this.processing.delete(item);
    const taken = this.takenAtMs.get(item);
    if (taken !== undefined) {
      this.takenAtMs.delete(item);
      this.metrics?.worked((this.clock.nowMs() - taken) / 1000);
    }
    if (this.dirty.has(item)) {
      this.dirty.delete(item);
      this.add(item);
    }
  }

  addAfter(item: K, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(item);
      return;
    }
    const readyAt = this.clock.nowMs() + delayMs;
    const current = this.waiting.get(item);
    if (current !== undefined && current <= readyAt) return;
    this.waiting.set(item, readyAt);
    void this.clock.sleep(delayMs, this.stop.signal).then((fired) => {
      if (!fired || this.waiting.get(item) !== readyAt) return;
      this.waiting.delete(item);
      this.add(item);
    });
  }

  /** Re-queue after the rate limiter's delay for this item (a failure). */
  addRateLimited(item: K): void {
    this.metrics?.retried();
    this.addAfter(item, this.rateLimiter.when(item));
  }

  /** The item was processed successfully: reset its backoff. */
  forget(item: K): void {
    this.rateLimiter.forget(item);
  }

  numRequeues(item: K): number {
    return this.rateLimiter.numRequeues(item);
  }

  shutDown(): void {
    if (this.shuttingDown) return;
    this.stop.abort();
    for (const getter of this.getters.splice(0)) getter(undefined);
  }
}
