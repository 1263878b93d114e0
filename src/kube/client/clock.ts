// Time as an injected dependency, so the loops built on it (leader election, work queues,
// informers' backoff) run deterministically under a manual clock in tests.

export interface Clock {
  /** Monotonic milliseconds: intervals and deadlines are measured with this. */
  nowMs(): number;
  /** Wall-clock time, for timestamps written into objects (renewTime, lastHeartbeatTime). */
  wallTime(): Date;
  /** Resolves after `ms` (or at once with `false` when the signal aborts first). */
  sleep(ms: number, signal?: AbortSignal): Promise<boolean>;
}

export const realClock: Clock = {
  nowMs: () => performance.timeOrigin + performance.now(),
  wallTime: () => new Date(),
  sleep: (ms, signal) =>
    new Promise<boolean>((resolve) => {
      if (signal?.aborted === true) {
        resolve(false);
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve(true);
      }, Math.max(0, ms));
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** RFC3339 with microseconds, as metav1.MicroTime marshals: 2006-01-02T15:04:05.000000Z. */
export function formatMicroTime(d: Date): string {
  const iso = d.toISOString(); // 2006-01-02T15:04:05.123Z
  return `${iso.slice(0, 23)}000Z`;
}

/** RFC3339 with seconds, as metav1.Time marshals: 2006-01-02T15:04:05Z. */
export function formatTime(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}
