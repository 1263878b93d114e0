// ControllerExpectations (pkg/controller/controller_utils.go): after asking for N pod creations
// or deletions, a controller must not act on its (still stale) informer cache again until it
// has seen them all, or it would create or delete twice. Expectations expire after 5 minutes
// so a lost event cannot wedge a controller.

import type { Clock } from '../client/clock.js';

export const EXPECTATIONS_TIMEOUT_MS = 5 * 60 * 1000;

interface Expectation {
  add: number;
  /** Keys of pods whose deletion we wait to see (UIDTrackingControllerExpectations). */
  deletions: Set<string>;
  atMs: number;
}

export class ControllerExpectations {
  private readonly byKey = new Map<string, Expectation>();

  constructor(private readonly clock: Clock) {}

  /** True when the controller may act on `key` again. */
  satisfied(key: string): boolean {
    const e = this.byKey.get(key);
    if (e === undefined) return true;
    if (e.add <= 0 && e.deletions.size === 0) return true;
    return this.clock.nowMs() - e.atMs > EXPECTATIONS_TIMEOUT_MS;
  }

  expectCreations(key: string, n: number): void {
    this.byKey.set(key, { add: n, deletions: new Set(), atMs: this.clock.nowMs() });
  }

  expectDeletions(key: string, podKeys: readonly string[]): void {
    this.byKey.set(key, { add: 0, deletions: new Set(podKeys), atMs: this.clock.nowMs() });
  }

  creationObserved(key: string): void {
    const e = this.byKey.get(key);
    if (e !== undefined) e.add--;
  }

  deletionObserved(key: string, podKey: string): void {
    this.byKey.get(key)?.deletions.delete(podKey);
  }

  delete(key: string): void {
    this.byKey.delete(key);
  }
}
