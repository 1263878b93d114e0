import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository's proto/ directory, found relative to this module: two levels up from src/util
 * (vitest runs the sources) or three from dist/src/util (the compiled programs). Only those two
 * layouts are tried, so a stray proto/ elsewhere is never picked up.
 */
export function protoRootDir(moduleUrl: string = import.meta.url): string {
  const moduleDir = dirname(fileURLToPath(moduleUrl));
  const candidates = [join(moduleDir, '..', '..', 'proto'), join(moduleDir, '..', '..', '..', 'proto')];
  for (const candidate of candidates) {
    if (existsSync(join(candidate, 'etcd', 'etcdserverpb', 'rpc.proto'))) return candidate;
  }
  throw new Error(`proto files not found: looked in ${candidates.join(' and ')}`);
}
