import { setFlagsFromString } from 'node:v8';

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
