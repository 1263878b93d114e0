/** Small statistics for benchmark samples: medians over rounds, percentiles over latencies. */

/** Median of the finite values; NaN when there are none. */
export function median(xs: readonly number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Nearest-rank percentile (p in 0..100) of an ascending array; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx] as number;
}

/** Ascending copy as a Float64Array (numeric sort, unlike Array.prototype.sort's default). */
export function sortedCopy(xs: ArrayLike<number>): Float64Array {
  return Float64Array.from(xs).sort();
}

/** Smallest and largest finite value: the spread over rounds reported next to a median. */
export function spread(xs: readonly number[]): { min: number; max: number } {
  const f = xs.filter((x) => Number.isFinite(x));
  if (f.length === 0) return { min: NaN, max: NaN };
  return { min: Math.min(...f), max: Math.max(...f) };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** CLOCK_MONOTONIC in microseconds: the same clock in every process on the machine (and in V8 CPU profiles). */
export function monoUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}
