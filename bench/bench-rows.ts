/**
 * The rows of `npm run bench`, in the order they run on each cluster, with their full and --quick
 * sizes. Rows on the N-key data set run after the loader (selected automatically when one of them
 * is); the failover row kills members, so it runs last.
 */
import type { RowSpec } from './bench-types.js';
import { loadRow, restartRow, rssRow, snapshotRow } from './row-data.js';
import { failoverRow } from './row-failover.js';
import { casWorkload, h2loadRow, putWorkload, range1000Workload, rangeWorkload, type Timing } from './row-h2load.js';
import { watchRow } from './row-watch.js';

export interface RowEntry {
  spec: RowSpec;
  /** Needs the N-key data set loaded first. */
  needsKeys: boolean;
}

export interface CatalogueOptions {
  keyCount: number;
  rounds: number;
  /** Leader kills per implementation over all rounds. */
  failoverKills: number;
}

// The tail (h2load running on after the window) lets the window's last requests complete; see windowRequests.
const timing = (quick: boolean): Timing => (quick ? { warmupSeconds: 0.3, windowSeconds: 1, tailSeconds: 0.5 } : { warmupSeconds: 2, windowSeconds: 8, tailSeconds: 3 });

/** Kills in round r so that `total` kills spread as evenly as possible over `rounds` rounds. */
function killsInRound(total: number, rounds: number, round: number): number {
  return Math.floor((total * round) / rounds) - Math.floor((total * (round - 1)) / rounds);
}

export function rowCatalogue(o: CatalogueOptions): RowEntry[] {
  const rows: [RowSpec, boolean][] = [
    [rssRow('rss-idle', 'RSS per member, idle', (quick) => (quick ? 500 : 3000)), false],
    [watchRow('watch100', (quick) => ({ watchers: 100, processes: 2, events: quick ? 10 : 200, warmupEvents: quick ? 2 : 10, putsPerSecond: 20, valueBytes: 256 })), false],
    [watchRow('watch1000', (quick) => ({ watchers: 1000, processes: 4, events: quick ? 10 : 200, warmupEvents: quick ? 2 : 10, putsPerSecond: 20, valueBytes: 256 })), false],
    [h2loadRow('put1', 'put, 1 client', { procs: 1, connsPerProc: 1, streamsPerConn: 1 }, timing, putWorkload), false],
    [h2loadRow('put16', 'put, 16 clients', { procs: 16, connsPerProc: 1, streamsPerConn: 1 }, timing, putWorkload), false],
    [h2loadRow('put64', 'put, 64 clients', { procs: 16, connsPerProc: 1, streamsPerConn: 4 }, timing, putWorkload), false],
    [h2loadRow('put256', 'put, 256 clients', { procs: 16, connsPerProc: 2, streamsPerConn: 8 }, timing, putWorkload), false],
    [h2loadRow('range-lin', 'range 1 key, linearizable, 64 clients', { procs: 16, connsPerProc: 1, streamsPerConn: 4 }, timing, rangeWorkload(false)), false],
    [h2loadRow('range-ser', 'range 1 key, serializable, 64 clients', { procs: 16, connsPerProc: 1, streamsPerConn: 4 }, timing, rangeWorkload(true)), false],
    [h2loadRow('range1000', 'range 1,000 keys, linearizable, 16 clients', { procs: 4, connsPerProc: 1, streamsPerConn: 4 }, timing, range1000Workload), false],
    [h2loadRow('txn-cas', 'txn compare-and-swap, 64 clients', { procs: 16, connsPerProc: 1, streamsPerConn: 4 }, timing, casWorkload), false],
    [loadRow(o.keyCount), true],
    [rssRow('rss-loaded', `RSS per member, ${o.keyCount} keys`, (quick) => (quick ? 500 : 3000)), true],
    [snapshotRow(o.keyCount), true],
    [restartRow(o.keyCount), true],
    [
      failoverRow((quick, round) => ({
        kills: quick ? 1 : killsInRound(o.failoverKills, o.rounds, round),
        beforeKillMs: quick ? 300 : 1000,
        acksAfter: quick ? 5 : 10,
      })),
      false,
    ],
  ];
  return rows.map(([spec, needsKeys]) => ({ spec, needsKeys }));
}

/** Aliases accepted by --rows. */
export const rowAliases: Record<string, string[]> = {
  watch: ['watch100', 'watch1000'],
  put: ['put1', 'put16', 'put64', 'put256'],
  range: ['range-lin', 'range-ser', 'range1000'],
  rss: ['rss-idle', 'rss-loaded'],
};
