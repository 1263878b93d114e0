/**
 * The integration harness (test/integration/cluster.ts) for benchmarks: real 3-member clusters of
 * etcd 3.4 or ketch with identical flags. Other people rebuild dist/ (tsc) while a benchmark runs,
 * so unless KETCH_ENTRY names a server, the compiled server (dist/src), proto/ and the bench's own
 * helper processes (dist/bench: watch workers, the profiling wrapper) are copied once into
 * bench/.build-<pid>/ and every round runs that copy (removed at exit).
 */
import { cpSync, existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type * as HarnessModule from '../test/integration/cluster.js';

export type Harness = typeof HarnessModule;
export type Impl = HarnessModule.Impl;
export type Cluster = HarnessModule.Cluster;
export type Member = HarnessModule.Member;

/** dist/bench when compiled. */
export const benchDir = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(benchDir, '..', '..');
const ketchServerEntry = join(repoRoot, 'dist', 'src', 'cmd', 'ketch.js');

/**
 * The harness module with KETCH_ENTRY set to `entry` (it reads the variable once, at import). A
 * query string gives an independent module instance per entry (e.g. the profiling wrapper).
 */
export async function importHarness(entry: string, instance: string): Promise<Harness> {
  const saved = process.env.KETCH_ENTRY;
  process.env.KETCH_ENTRY = entry;
  try {
    const spec = `../test/integration/cluster.js?${instance}`;
    return (await import(spec)) as Harness;
  } finally {
    if (saved === undefined) delete process.env.KETCH_ENTRY;
    else process.env.KETCH_ENTRY = saved;
  }
}

export interface ServerBuild {
  /** The ketch server entry every member runs. */
  entry: string;
  /** How it was chosen, for the results file. */
  description: string;
  /** Where the compiled helper processes are (watch-worker.js, ketch-profiled.js). */
  helpersDir: string;
}

let copied: string | undefined;

/** Copies dist/src and proto/ aside (once) unless KETCH_ENTRY is set; see the header comment. */
export function snapshotServerBuild(): ServerBuild {
  const fromEnv = process.env.KETCH_ENTRY;
  if (fromEnv !== undefined) return { entry: fromEnv, description: `KETCH_ENTRY=${fromEnv}`, helpersDir: benchDir };
  if (!existsSync(ketchServerEntry)) throw new Error(`${ketchServerEntry} is missing: run npm run build`);
  const dir = join(repoRoot, 'bench', `.build-${process.pid}`);
  if (copied === undefined) {
    cpSync(join(repoRoot, 'dist', 'src'), join(dir, 'dist', 'src'), { recursive: true });
    // The optional malloc_trim addon (src/util/malloc-trim.ts finds it at dist/native).
    const native = join(repoRoot, 'dist', 'native');
    if (existsSync(native)) cpSync(native, join(dir, 'dist', 'native'), { recursive: true });
    cpSync(join(repoRoot, 'proto'), join(dir, 'proto'), { recursive: true });
    cpSync(benchDir, join(dir, 'dist', 'bench'), { recursive: true });
    copied = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return {
    entry: join(dir, 'dist', 'src', 'cmd', 'ketch.js'),
    description: 'copy of dist/src taken at start (bench/.build-<pid>, removed at exit)',
    helpersDir: join(dir, 'dist', 'bench'),
  };
}
