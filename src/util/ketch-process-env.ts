// Settings a ketch process can only be given when it starts, so whoever starts one sets them: the
// `ketch` bin's #! line (malloc only), ketch-cluster, and the test and bench harnesses.
//
// malloc: glibc gives a thread its own arena whenever the arena it used was locked, up to 8 per
// core. A ketch member allocates on its main thread, on libuv's pool threads (WAL writes, LevelDB
// reads and batches), on LevelDB's compaction thread and on V8's GC helpers: about 10 arenas under
// load, each keeping memory freed into it. With two (issue 9, paired runs, alternating): RSS per
// member at 100k keys 5-7 MiB lower (157-161 vs 162-166 MiB after rss-idle,load; 187-188 vs 194-195
// after put64,put256,load); put throughput and CPU per put the same within the noise (4 pairs).
//
// V8's worker pool: Node starts 4 worker threads for GC and background compilation whatever the
// machine. On 2 cores running three members and a load generator, the GC's parallel phases then
// wait for helpers that wait for a core, and the member's main thread (which serves every request)
// with them. One worker per core but the main thread's (issue 9, put rows, 6 pairs, alternating,
// ketch only): put256 p99 median 50.5 vs 56 ms, put64 24.8 vs 27.4 ms, put256 throughput the same.

import { availableParallelism } from 'node:os';

/** The malloc settings ketch's processes start with. */
export const KETCH_MALLOC_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/** V8 worker threads for a machine of `cores`: one per core but the main thread's, 1 to Node's default 4. */
export function v8PoolSize(cores: number): number {
  return Math.min(4, Math.max(1, cores - 1));
}

/**
 * `env` plus ketch's malloc settings and V8 pool size (in NODE_OPTIONS), except where `env` sets
 * its own.
 */
export function withKetchProcessEnv(env: NodeJS.ProcessEnv, cores = availableParallelism()): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...KETCH_MALLOC_ENV, ...env };
  const options = env.NODE_OPTIONS ?? '';
  if (!/--v8[-_]pool[-_]size/.test(options)) {
    out.NODE_OPTIONS = `${options} --v8-pool-size=${v8PoolSize(cores)}`.trim();
  }
  return out;
}
