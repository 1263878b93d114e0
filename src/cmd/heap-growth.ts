import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { runInNewContext } from 'node:vm';

import { mallocTrim } from '../util/malloc-trim.js';

/** The old generation may grow to 1 + this/100 times what survived the last full GC. */
export const HEAP_GROWING_PERCENT = 100;

/**
 * Caps how far V8 lets the old generation grow between full GCs. With a heap limit of 2 GiB or
 * more, V8 picks a factor of up to 4x the live size; after a write burst a leader then held more
 * dead objects than live ones, and Node never gives V8 the idle time in which it would shrink the
 * heap again (issue 9: leader RSS at 100k keys 355 MiB, 288 MiB with 2x, 255 MiB with 1.5x, which
 * cost twice as many full GCs again as 2x under sustained writes). The flag is read at every full
 * GC, so setting it at startup works; an explicit --heap-growing-percent is left alone.
 */
export function capHeapGrowth(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  const given = (s: string): boolean => /--heap[-_]growing[-_]percent/.test(s);
  if (execArgv.some(given) || given(nodeOptions ?? '')) return false;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return true;
}

/** Inputs of one idle check: how busy the event loop was since the last check and what the process holds now. */
export interface IdleSample {
  /**
   * Wall time since the last check, and the time the event loop was busy in it (µs): JS and GC on
   * the main thread, not LevelDB's compactions or libuv's file writes, which a GC pause does not hold up.
   */
  elapsedMicros: number;
  busyMicros: number;
  /** V8 heap used plus memory held by Buffers and other external objects. */
  heldBytes: number;
  /** What V8's young generation has committed. */
  newSpaceBytes: number;
}

/** Below this share of a check interval busy, the event loop counts as idle. */
const IDLE_BUSY_SHARE = 0.05;
/** An idle full GC only once the process holds this much more than after the last one. */
const IDLE_GC_GROWTH_BYTES = 16 * 1024 * 1024;
/**
 * The idle GC also compacts the heap (moves live objects out of fragmented pages and frees those)
 * while the heap is below this: compacting costs ~2.5 ms per MiB live here, and a leader must not
 * stall near the election timeout (1 s) even when idle.
 */
const COMPACT_BELOW_HEAP_BYTES = 192 * 1024 * 1024;
/** A young generation larger than this when quiet was grown by a load and is worth giving back. */
const SMALL_NEW_SPACE_BYTES = 4 * 1024 * 1024;
/**
 * If giving the young generation back failed (V8 judged the allocation rate still high), one more
 * try this long into the quiet, when V8's 5-second allocation window holds only quiet samples.
 */
const RETRY_SHRINK_AFTER_MICROS = 6_000_000;

/** What an idle check decides: nothing, a (compacting) full GC, or the plain one that shrinks the young generation. */
export type IdleAction = 'none' | 'collect' | 'shrink';

/**
 * When to run a full GC because the process went quiet. V8 runs full GCs when allocation pushes the
 * old generation to its limit, and Node gives it no idle time of its own, so after a burst of
 * writes a member sat idle with its heap grown to twice its live size and freed Buffers not yet
 * returned (issue 9: 285 MiB RSS per member 30 s after a 100k-key load). A plain full GC frees the
 * objects but not the pages: long-lived revisions sit scattered among dead ones, so the heap stays
 * as large; a compacting one gives the pages back. Run while idle, its pause delays nobody.
 *
 * The young generation a load grew (32 MiB here) is given back by its own trigger, not only with
 * that collection: a GC of V8's own near the end of a load leaves too little growth for 'collect',
 * and then the young generation stayed committed (issue 9: 4 of 9 members 3 s after the bench's load).
 */
export class IdleCollection {
  private baseline: number;
  /** Tries to give the young generation back since the process was last busy. */
  private shrinkTries = 0;
  /** Quiet time since the last try. */
  private quietSinceTry = 0;

  constructor(heldBytes: number) {
    this.baseline = heldBytes;
  }

  /** What to do now. */
  next(s: IdleSample): IdleAction {
    const quiet = s.busyMicros < s.elapsedMicros * IDLE_BUSY_SHARE;
    if (!quiet) {
      this.shrinkTries = 0;
      this.quietSinceTry = 0;
      return 'none';
    }
    // A GC of V8's own while quiet got there first. Not one during a load: what the load promoted
    // after it is garbage by the end too (issue 9: a leader left holding 35 MiB of it plus 20 MiB of
    // dead Buffers when a low sample mid-load had become the baseline).
    if (s.heldBytes < this.baseline) this.baseline = s.heldBytes;
    if (s.heldBytes - this.baseline > IDLE_GC_GROWTH_BYTES) return 'collect';
    if (s.newSpaceBytes <= SMALL_NEW_SPACE_BYTES) return 'none';
    this.quietSinceTry += s.elapsedMicros;
    if (this.shrinkTries === 0) return 'shrink';
    return this.shrinkTries === 1 && this.quietSinceTry >= RETRY_SHRINK_AFTER_MICROS ? 'shrink' : 'none';
  }

  /**
   * After the collection `next` asked for: what the process holds right after it. Only a 'shrink'
   * counts as a try at the young generation: when a 'collect' left it committed, the next quiet check
   * asks for a 'shrink' at once (issue 9: 2 of 9 members still held their 32 MiB young generation 3 s
   * after the bench's load, waiting for the retry 6 s later; the 'shrink' right after gave it back).
   */
  collected(heldBytes: number, action: Exclude<IdleAction, 'none'>): void {
    this.baseline = heldBytes;
    if (action === 'shrink') this.shrinkTries++;
    this.quietSinceTry = 0;
  }
}

function heldBytes(m = process.memoryUsage()): number {
  return m.heapUsed + m.external;
}

/**
 * Minor GCs run SETTLE_GAP_MS apart just before an idle collection. V8 gives the young generation
 * back at a full GC only when its recent allocation rate is low, measured over its last samples,
 * one per GC; right after a burst those are the burst's, so the young generation the burst grew
 * stayed committed until a full GC 5 s into the quiet. Quick minor GCs of a quiet process replace
 * those samples: the full GC right after them shrinks it at once (a test process: 32 -> 1 MiB in
 * 15 of 15 runs, against 0 of 6 without them).
 */
const SETTLE_MINOR_GCS = 20;
const SETTLE_GAP_MS = 5;
/** Above this share of their time busy (their own GCs take a few percent), the event loop has work again. */
const SETTLE_BUSY_SHARE = 0.25;

type GcFunction = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

function newSpaceBytes(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

/**
 * How long after a full GC to trim. V8 frees the garbage's backing stores in the first event-loop
 * turn after the GC, whenever that comes (a test process: ~50 ms of main-thread work), so the
 * quiet check starts one turn after this wait. It looks at up to TRIM_QUIET_TRIES windows of
 * TRIM_QUIET_MS (a loaded machine stretches that work); with none quiet the trim waits for the
 * next idle collection.
 */
const TRIM_AFTER_GC_MS = 150;
const TRIM_QUIET_MS = 100;
const TRIM_QUIET_TRIES = 4;

/**
 * After an idle GC: malloc_trim, unless work came back. The GC freed dead Buffers' backing stores
 * (and the HTTP/2 and LevelDB buffers of a burst are freed by then too) into malloc's heaps, where
 * they sit in holes between live chunks, and glibc gives back only the top of a heap by itself
 * (issue 9: trimming 3 s after the bench's 100k-key load took 30-38 MiB off each member, 190 -> 159
 * MiB RSS). Right after the GC it finds little: a test process gave 45 MiB back at once, 80-120
 * MiB 50-1000 ms later. It costs ~0.3 ms per MiB given back (41 ms for 140 MiB), hence only when
 * quiet. Returns the MiB given back, or undefined when it did not run.
 */
async function trimWhenQuiet(): Promise<number | undefined> {
  await sleep(TRIM_AFTER_GC_MS);
  for (let window = 0; window < TRIM_QUIET_TRIES; window++) {
    await sleep(SETTLE_GAP_MS);
    const before = performance.eventLoopUtilization();
    await sleep(TRIM_QUIET_MS);
    if (performance.eventLoopUtilization(before).utilization > SETTLE_BUSY_SHARE) continue;
    const rss = process.memoryUsage.rss();
    if (mallocTrim() === undefined) return undefined;
    return Math.round((rss - process.memoryUsage.rss()) / 1048576);
  }
  return undefined;
}

/**
 * Checks every `intervalMs` whether the process has been idle since the last check, and runs the
 * full GC IdleCollection asks for. Returns a stop function.
 */
export function collectWhenIdle(log: { debug(obj: object, msg: string): void }, intervalMs = 500): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as GcFunction;
  const policy = new IdleCollection(heldBytes());
  let last = performance.eventLoopUtilization();
  let running = false;
  const restartClock = (): void => {
    // The GC's own time is not the workload's.
    last = performance.eventLoopUtilization();
  };
  const collect = async (action: Exclude<IdleAction, 'none'>, heapUsed: number, heldBefore: number): Promise<void> => {
    const started = performance.now();
    const before = performance.eventLoopUtilization();
    for (let i = 0; i < SETTLE_MINOR_GCS; i++) {
      await new Promise((resolve) => setTimeout(resolve, SETTLE_GAP_MS));
      gc({ type: 'minor' });
    }
    // Work came back meanwhile: no full GC now (the next quiet check asks again).
    if (performance.eventLoopUtilization(before).utilization > SETTLE_BUSY_SHARE) return;
    const compact = action === 'collect' && heapUsed < COMPACT_BELOW_HEAP_BYTES;
    // Read at each full GC (as --heap-growing-percent is): on for this one only.
    if (compact) setFlagsFromString('--compact-on-every-full-gc');
    try {
      gc();
    } finally {
      if (compact) setFlagsFromString('--no-compact-on-every-full-gc');
    }
    const after = heldBytes();
    policy.collected(after, action);
    const trimmedMiB = await trimWhenQuiet();
    log.debug(
      {
        action,
        freedMiB: Math.round((heldBefore - after) / 1048576),
        compact,
        newSpaceMiB: Math.round(newSpaceBytes() / 1048576),
        trimmedMiB,
        ms: Math.round(performance.now() - started),
      },
      'full GC while idle',
    );
  };
  const timer = setInterval(() => {
    if (running) return;
    const elu = performance.eventLoopUtilization(last);
    const memory = process.memoryUsage();
    const sample = { elapsedMicros: (elu.idle + elu.active) * 1000, busyMicros: elu.active * 1000, heldBytes: heldBytes(memory), newSpaceBytes: newSpaceBytes() };
    const action = policy.next(sample);
    if (action === 'none') {
      restartClock();
      return;
    }
    running = true;
    collect(action, memory.heapUsed, sample.heldBytes)
      .catch((err: unknown) => log.debug({ err }, 'idle GC failed'))
      .finally(() => {
        running = false;
        restartClock();
      });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
