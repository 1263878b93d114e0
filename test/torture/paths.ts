// Where things are, whether this code runs from test/ (vitest) or compiled from dist/test/ (the CLI).

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'ketch') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the repository root (package.json of ketch) above the torture suite');
    dir = parent;
  }
}

export const repoRoot = findRepoRoot();
/** The compiled ketch server; KETCH_ENTRY points elsewhere (another build). */
export const ketchEntry = process.env.KETCH_ENTRY ?? join(repoRoot, 'dist', 'src', 'cmd', 'ketch.js');
/** Debian package etcd-server (3.4.23 on the dev image). */
export const etcdBinary = '/usr/bin/etcd';
