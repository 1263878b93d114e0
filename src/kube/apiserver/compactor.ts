// Periodic compaction of the store, as kube-apiserver does it (k8s.io/apiserver storage/etcd3
// compact.go): every interval each replica tries to bump the version of `compact_rev_key` with a
// Txn conditioned on the version it last saw; the one replica that wins compacts the store at the
// revision it observed one interval earlier. So N replicas compact once per interval, and what
// was written in the last interval stays readable (watchers and paginated lists can catch up).

import type { Logger } from 'pino';

import type { RegistryStore } from './registry-store.js';

/** Outside the registry prefix, exactly as kube-apiserver names it. */
export const compactRevKey = 'compact_rev_key';

export class Compactor {
  private timer: NodeJS.Timeout | undefined;
  /** compact_rev_key's version when we last looked; the Txn is conditioned on it. */
  private version = 0;
  /** The store revision at the previous round: what the next winning round compacts to. */
  private lastRevision = 0;
  private running = false;

  constructor(
    private readonly store: RegistryStore,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.intervalMs <= 0) return;
    this.timer = setInterval(() => void this.round(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One round (exposed for tests). */
  async round(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const outcome = await this.store.casCompactRevKey(compactRevKey, this.version, String(this.lastRevision));
      const target = this.lastRevision;
      this.version = outcome.version;
      this.lastRevision = outcome.revision;
      if (!outcome.succeeded || target === 0) return;
      await this.store.compact(target);
      this.log.info({ revision: target }, 'compacted the store');
    } catch (error) {
      this.log.warn({ err: error }, 'compaction round failed');
    } finally {
      this.running = false;
    }
  }
}
