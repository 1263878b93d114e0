// Watchers of the whole keyspace from revision 1: every event is recorded in delivery order. After
// a broken stream (or, now and then, on purpose) a watcher reconnects to some member and resumes
// from the revision after the last one it saw.

import { SeededRandom } from '../../../src/util/prng.js';
import type { LoggedEvent, WatcherLog } from '../checker/event-log.js';
import { type RawClient, watchCreate, type WatchResponse } from '../raw-client.js';
import { EndpointClient, type RunControl, sleep } from './worker.js';

export function toLogged(events: WatchResponse['events'], via?: LoggedEvent['via']): LoggedEvent[] {
  return events.map((e) => ({
    rev: Number(e.kv.mod_revision),
    key: e.kv.key.toString('utf8'),
    type: e.type,
    value: e.kv.value.toString('utf8'),
    createRev: Number(e.kv.create_revision),
    ...(via === undefined ? {} : { via }),
  }));
}

export interface WatchTarget {
  /** When set, the watcher stops once it has seen this revision. */
  finalRev: number | undefined;
  /** Set when the harness stops waiting for the watchers to catch up. */
  giveUp: boolean;
}

/**
 * One stream, from `fromRev`, until it breaks, `until()` says stop, or `maxMs` passes. Calls
 * onEvents for each batch; resolves with why it ended.
 */
export function watchOnce(
  client: RawClient,
  fromRev: number,
  onEvents: (events: LoggedEvent[]) => void,
  until: () => boolean,
  maxMs: number,
  origin?: { stream: number; endpoint: string },
): Promise<string> {
  return new Promise<string>((resolve) => {
    const stream = client.watchStream();
    let done = false;
    let responses = 0;
    const finish = (why: string): void => {
      if (done) return;
      done = true;
      clearInterval(poll);
      clearTimeout(timer);
      stream.cancel();
      resolve(why);
    };
    const poll = setInterval(() => {
      if (until()) finish('done');
    }, 50);
    const timer = setTimeout(() => finish('rotate'), maxMs);
    stream.on('data', (res: WatchResponse) => {
      // A cancelled stream may still hand over what it had buffered; the next stream resumes
      // after the last revision taken, so taking more here would deliver it twice.
      if (done) return;
      if (res.canceled) {
        finish(`canceled: ${res.cancel_reason || `compacted at ${res.compact_revision}`}`);
        return;
      }
      responses++;
      const via = origin === undefined ? undefined : { ...origin, response: responses, headerRev: Number(res.header?.revision ?? 0) };
      if (res.events.length > 0) onEvents(toLogged(res.events, via));
      if (until()) finish('done');
    });
    stream.on('error', (err: Error) => finish(`error: ${err.message}`));
    stream.on('end', () => finish('ended'));
    stream.write(watchCreate('\0', '\0', fromRev));
  });
}

export async function watchWorker(
  endpoints: readonly string[],
  control: RunControl,
  target: WatchTarget,
  log: WatcherLog,
  seed: number,
  notes: string[],
): Promise<void> {
  const random = new SeededRandom(seed);
  const ec = new EndpointClient(endpoints, random);
  let last = log.startRev - 1;
  const reached = (): boolean => target.giveUp || (target.finalRev !== undefined && last >= target.finalRev);
  try {
    for (;;) {
      if (reached()) return;
      // After the workload stopped, the harness sets finalRev; until then keep going.
      if (control.stopping && target.finalRev === undefined) {
        await sleep(50);
        continue;
      }
      const why = await watchOnce(
        ec.client,
        last + 1,
        (events) => {
          for (const e of events) {
            log.events.push(e);
            if (e.rev > last) last = e.rev;
          }
        },
        reached,
        2000 + random.int(6000),
        { stream: log.reconnects + 1, endpoint: ec.endpoint },
      );
      if (why === 'done') return;
      if (why.startsWith('canceled')) notes.push(`${log.name}: watch ${why} (resuming from ${last + 1})`);
      log.reconnects++;
      ec.switchEndpoint();
      if (why.startsWith('error') || why === 'ended') await sleep(100);
    }
  } finally {
    ec.close();
  }
}
