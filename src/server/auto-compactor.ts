import type { Logger } from 'pino';

/**
 * etcd's --auto-compaction-mode / --auto-compaction-retention: the leader compacts history so it
 * does not grow without bound.
 * - periodic: keep `retention` of history (a number means hours, as in etcd; or a duration such as
 *   "30m", "90s"); checked every tenth of the retention (at least every second, at most hourly).
 * - revision: every 5 minutes, compact to the current revision minus `retention`.
 */
export interface CompactorDeps {
  isLeader(): boolean;
  currentRevision(): number;
  compactRevision(): number;
  compact(revision: number): Promise<void>;
  log: Logger;
}

const REVISION_MODE_INTERVAL_MS = 5 * 60 * 1000;

export function parseRetention(mode: 'periodic' | 'revision', retention: string): number {
  const text = retention.trim();
  if (mode === 'revision') {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--auto-compaction-retention ${JSON.stringify(retention)} is not a revision count`);
    return n;
  }
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 3600 * 1000;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (const m of text.matchAll(re)) {
    total += Number(m[1]) * (units[m[2] as string] as number);
    consumed += m[0].length;
  }
  if (consumed !== text.length || text.length === 0) {
    throw new Error(`--auto-compaction-retention ${JSON.stringify(retention)} is not a duration (e.g. 1, 30m, 1h30m)`);
  }
  return total;
}

export class AutoCompactor {
  private timer: NodeJS.Timeout | undefined;
  private readonly samples: Array<{ at: number; revision: number }> = [];
  private running = false;

  constructor(
    private readonly mode: 'periodic' | 'revision',
    /** Milliseconds (periodic) or revisions (revision mode); 0 disables. */
    private readonly retention: number,
    private readonly deps: CompactorDeps,
  ) {}

  start(): void {
    if (this.retention <= 0) return;
    const interval =
      this.mode === 'revision' ? REVISION_MODE_INTERVAL_MS : Math.min(3_600_000, Math.max(1000, this.retention / 10));
    this.timer = setInterval(() => void this.check(), interval);
    this.deps.log.info({ mode: this.mode, retention: this.retention, intervalMs: interval }, 'auto compaction enabled');
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async check(): Promise<void> {
    if (this.running) return;
    const now = Date.now();
    const current = this.deps.currentRevision();
    this.samples.push({ at: now, revision: current });
    let target = 0;
    if (this.mode === 'periodic') {
      // The newest revision that is at least `retention` old.
      while (this.samples.length > 1 && (this.samples[1] as { at: number }).at <= now - this.retention) this.samples.shift();
      const oldest = this.samples[0] as { at: number; revision: number };
      if (oldest.at <= now - this.retention) target = oldest.revision;
    } else {
      this.samples.length = 0;
      target = current - this.retention;
    }
    if (!this.deps.isLeader() || target <= this.deps.compactRevision() || target <= 0) return;
    this.running = true;
    try {
      await this.deps.compact(target);
      this.deps.log.info({ revision: target }, 'auto compaction done');
    } catch (err) {
      this.deps.log.warn({ err, revision: target }, 'auto compaction failed; will retry');
    } finally {
      this.running = false;
    }
  }
}
