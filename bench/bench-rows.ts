/**
 * The rows of `npm run bench`, in the order they run on each cluster, with their full and --quick
 * sizes. Rows that need the N-key data set run after the loader; the failover row kills members,
 * so it runs last.
 */
import type { RowSpec } from './bench-types.js';
import { watchRow } from './row-watch.js';

export interface RowEntry {
  spec: RowSpec;
  /** Runs after the N-key load (which runs once per cluster, only if such a row is selected). */
  needsKeys: boolean;
}

export function rowCatalogue(): RowEntry[] {
  return [
    {
      spec: watchRow('watch100', (quick) => ({ watchers: 100, processes: 2, events: quick ? 30 : 200, warmupEvents: quick ? 5 : 10, putsPerSecond: 20, valueBytes: 256 })),
      needsKeys: false,
    },
    {
      spec: watchRow('watch1000', (quick) => ({ watchers: 1000, processes: 4, events: quick ? 30 : 200, warmupEvents: quick ? 5 : 10, putsPerSecond: 20, valueBytes: 256 })),
      needsKeys: false,
    },
  ];
}

/** Aliases accepted by --rows. */
export const rowAliases: Record<string, string[]> = {
  watch: ['watch100', 'watch1000'],
};
