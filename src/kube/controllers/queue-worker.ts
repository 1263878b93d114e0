// Runs a controller's workers: each takes a key from the queue, syncs it, and on failure puts it
// back with the rate limiter's backoff (on success the backoff is forgotten). A fenced write
// (NotLeaderError) ends the workers: the leadership term is over.

import type { Logger } from 'pino';
import { describeError, isConflict } from '../client/api-error.js';
import type { WorkQueue } from '../informer/work-queue.js';
import { workQueueMetrics } from '../informer/work-queue-metrics.js';
import { NotLeaderError } from '../leader-election/leader-elector.js';

export interface SyncResult {
  requeueAfterMs?: number;
}

export async function runWorkers(
  name: string,
  queue: WorkQueue<string>,
  workers: number,
  sync: (key: string) => Promise<SyncResult | void>,
  signal: AbortSignal,
  log?: Logger,
): Promise<void> {
  const metrics = workQueueMetrics(name);
  if (metrics !== undefined) queue.instrument(metrics);
  const onAbort = (): void => queue.shutDown();
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) queue.shutDown();
  const worker = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        const result = await sync(key);
        queue.forget(key);
        if (result?.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
      } catch (err) {
        if (err instanceof NotLeaderError || signal.aborted) {
          queue.shutDown();
          return;
        }
        // Conflicts are routine (a stale cache): retry quietly.
        if (isConflict(err)) log?.debug({ controller: name, key, err: describeError(err) }, 'sync conflict, retrying');
        else log?.warn({ controller: name, key, err: describeError(err) }, 'sync failed, retrying');
        queue.addRateLimited(key);
      } finally {
        queue.done(key);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: workers }, worker));
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
