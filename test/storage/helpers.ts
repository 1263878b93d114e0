import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { type Entry, EntryType } from '../../src/raft/types.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A fresh temp dir; remove it with the returned cleanup. */
export async function tempDir(label: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), `ketch-storage-${label}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Entries [from, to] of one term, with data that says which entry it is. */
export function entries(from: number, to: number, term: number, bytes = 16): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term, type: EntryType.Normal, data: payload(i, term, bytes) });
  return out;
}

/** Same as the crash child's payload (fixtures/append-child.mjs): deterministic per (index, term). */
export function payload(index: number, term: number, bytes: number): Buffer {
  const unit = Buffer.from(`${index}@${term};`);
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) out[i] = unit[i % unit.length] as number;
  return out;
}

export function b(s: string): Buffer {
  return Buffer.from(s);
}

/**
 * Compiles src/storage (and what it imports) to plain JS under dist/, for child processes that must
 * run without vitest. Only our files are compiled, so other folders' work in progress cannot break it.
 * Returns the path of the compiled member-store.js.
 */
export async function compileStorage(): Promise<{ modulePath: string; cleanup: () => Promise<void> }> {
  const outDir = path.join(REPO_ROOT, 'dist', `storage-test-${process.pid}-${Date.now()}`);
  const tsc = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  // prettier-ignore
  const args = [tsc, '--outDir', outDir, '--rootDir', REPO_ROOT, '--module', 'NodeNext', '--moduleResolution', 'NodeNext',
    '--target', 'ES2022', '--strict', '--skipLibCheck', '--types', 'node', '--verbatimModuleSyntax', '--isolatedModules',
    path.join(REPO_ROOT, 'src', 'storage', 'member-store.ts')];
  await promisify(execFile)(process.execPath, args, { cwd: REPO_ROOT });
  return {
    modulePath: path.join(outDir, 'src', 'storage', 'member-store.js'),
    cleanup: () => rm(outDir, { recursive: true, force: true }),
  };
}
