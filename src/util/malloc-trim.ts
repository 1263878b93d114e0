// glibc's malloc_trim(0), through the optional addon src/native/malloc-trim.c (why: there).

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ADDON = 'malloc-trim.node';

/**
 * The built addon (scripts/build-native.mjs writes dist/native/), found relative to this module:
 * ../../native from dist/src/util (the programs), ../../dist/native from src/util (vitest runs the sources).
 */
export function mallocTrimAddonPath(moduleUrl: string = import.meta.url): string | undefined {
  const moduleDir = dirname(fileURLToPath(moduleUrl));
  const candidates = [join(moduleDir, '..', '..', 'native', ADDON), join(moduleDir, '..', '..', 'dist', 'native', ADDON)];
  return candidates.find((c) => existsSync(c));
}

let trim: (() => boolean) | null | undefined;

/**
 * Returns free malloc memory to the system, from the middle of glibc's heaps as well as their top:
 * true if any was returned, undefined when the addon is not built (or does not load here).
 */
export function mallocTrim(): boolean | undefined {
  if (trim === undefined) {
    trim = null;
    const path = mallocTrimAddonPath();
    try {
      if (path !== undefined) trim = (createRequire(import.meta.url)(path) as { trim: () => boolean }).trim;
    } catch {
      // Not glibc (no malloc_trim to bind), or built for another Node: run without it.
    }
  }
  return trim === null ? undefined : trim();
}
