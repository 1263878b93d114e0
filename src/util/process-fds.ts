// Open file descriptors and their soft limit, from /proc (etcd's os_fd_used / os_fd_limit).
// Undefined where /proc is not there (not Linux); read when scraped, never on a hot path.

import { readdirSync, readFileSync } from 'node:fs';

export function processFds(): { used: number; limit: number } | undefined {
  try {
    const used = readdirSync('/proc/self/fd').length;
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    const limit = soft === undefined || soft === 'unlimited' ? 0 : Number(soft);
    return { used, limit: Number.isFinite(limit) ? limit : 0 };
  } catch {
    return undefined;
  }
}
