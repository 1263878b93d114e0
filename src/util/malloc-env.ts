// glibc's malloc gives a thread its own arena whenever the arena it used was locked, up to 8 per
// core. A ketch member allocates on its main thread, on libuv's pool threads (WAL writes, LevelDB
// reads and batches), on LevelDB's compaction thread and on V8's GC helpers: about 10 arenas under
// load, each keeping memory freed into it. With two (issue 9, paired runs, alternating): RSS per
// member at 100k keys 5-7 MiB lower (157-161 vs 162-166 MiB after rss-idle,load; 187-188 vs 194-195
// after put64,put256,load); put throughput and CPU per put the same within the noise (4 pairs).
// glibc reads the setting once, when the process starts, so whoever starts a ketch process sets it:
// the `ketch` bin's #! line, ketch-cluster, and the test and bench harnesses.

/** The malloc settings ketch's processes start with. */
export const KETCH_MALLOC_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/** `env` plus ketch's malloc settings, except where `env` sets its own. */
export function withKetchMallocEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...KETCH_MALLOC_ENV, ...env };
}
