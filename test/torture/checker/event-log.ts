// Checks built on the revision history: the event log of the whole keyspace, read from every member
// after the run (a watch from revision 1), against the live watchers, the acknowledged writes and
// the lock holders' fenced writes.

export interface LoggedEvent {
  readonly rev: number;
  readonly key: string;
  readonly type: 'PUT' | 'DELETE';
  readonly value: string;
  readonly createRev: number;
  /** Where a live watcher got it: which of its streams (1, 2, ...), the member, the response number on that stream. */
  readonly via?: { readonly stream: number; readonly endpoint: string; readonly response: number; readonly headerRev: number };
}

/** What one watcher received, in delivery order, across reconnects. */
export interface WatcherLog {
  readonly name: string;
  readonly startRev: number;
  readonly events: LoggedEvent[];
  reconnects: number;
}

/** An acknowledged write: at `rev` there must be a PUT of `key` whose value matches. */
export interface AckedWrite {
  readonly rev: number;
  readonly key: string;
  /** The exact value, or (for appends) the element the value's list must end with. */
  readonly value?: string;
  readonly lastElement?: string;
  readonly what: string;
}

export interface Finding {
  readonly kind: string;
  readonly detail: string;
}

/** Events grouped by revision. */
export type RevisionLog = Map<number, LoggedEvent[]>;

export function byRevision(events: readonly LoggedEvent[]): RevisionLog {
  const out: RevisionLog = new Map();
  for (const e of events) {
    const list = out.get(e.rev);
    if (list === undefined) out.set(e.rev, [e]);
    else list.push(e);
  }
  return out;
}

function sameEvents(a: readonly LoggedEvent[] | undefined, b: readonly LoggedEvent[] | undefined): boolean {
  if (a === undefined && b === undefined) return true;
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  const key = (e: LoggedEvent): string => `${e.type} ${e.key} ${e.createRev} ${e.value}`;
  const sa = a.map(key).sort();
  const sb = b.map(key).sort();
  return sa.every((x, i) => x === sb[i]);
}

function showVia(e: LoggedEvent): string {
  const v = e.via;
  return v === undefined ? 'origin unknown' : `stream ${v.stream} to ${v.endpoint}, response ${v.response} with header revision ${v.headerRev}`;
}

function show(events: readonly LoggedEvent[] | undefined): string {
  if (events === undefined) return '(nothing)';
  return events.map((e) => `${e.type} ${e.key}=${JSON.stringify(e.value.length > 60 ? `${e.value.slice(0, 60)}…` : e.value)}`).join('; ');
}

/** An etcd keyspace starts at revision 1 with nothing in it: the first change is revision 2. */
export const firstChangeRev = 2;

/**
 * The members' full histories must be identical and gap-free from revision 2 to `finalRev`.
 * Returns the agreed log (the first member's) and what disagreed.
 */
export function checkReplicaLogs(logs: ReadonlyArray<{ member: string; events: LoggedEvent[] }>, finalRev: number): { reference: RevisionLog; findings: Finding[] } {
  const findings: Finding[] = [];
  const first = logs[0];
  if (first === undefined) return { reference: new Map(), findings: [{ kind: 'no-replica-log', detail: 'no member could be read after the run' }] };
  const reference = byRevision(first.events);
  for (let rev = firstChangeRev; rev <= finalRev; rev++) {
    if (!reference.has(rev)) {
      findings.push({ kind: 'replica-gap', detail: `${first.member}: revision ${rev} is missing from its history (final revision ${finalRev})` });
      if (findings.length > 20) break;
    }
  }
  for (const other of logs.slice(1)) {
    const log = byRevision(other.events);
    let reported = 0;
    for (let rev = firstChangeRev; rev <= finalRev && reported < 5; rev++) {
      if (!sameEvents(reference.get(rev), log.get(rev))) {
        findings.push({
          kind: 'replica-divergence',
          detail: `revision ${rev}: ${first.member} has ${show(reference.get(rev))}; ${other.member} has ${show(log.get(rev))}`,
        });
        reported++;
      }
    }
  }
  return { reference, findings };
}

/**
 * Each watcher must see every revision from its start exactly once, in order, with the same events
 * as the replicas' history, up to the final revision.
 */
export function checkWatchers(watchers: readonly WatcherLog[], reference: RevisionLog, finalRev: number): { findings: Finding[]; gaps: number } {
  const findings: Finding[] = [];
  let gaps = 0;
  for (const w of watchers) {
    const seen = byRevision(w.events);
    let prev = Math.max(w.startRev, firstChangeRev) - 1;
    let prevKeys = new Map<string, LoggedEvent>();
    let reported = 0;
    const report = (kind: string, detail: string): void => {
      if (reported++ < 5) findings.push({ kind, detail: `${w.name}: ${detail}` });
    };
    for (const e of w.events) {
      if (e.rev < prev) report('watch-order', `revision ${e.rev} delivered after ${prev}`);
      else if (e.rev === prev) {
        const earlier = prevKeys.get(e.key);
        if (earlier !== undefined) report('watch-duplicate', `revision ${e.rev} key ${e.key} delivered twice (${showVia(earlier)}, then ${showVia(e)})`);
        prevKeys.set(e.key, e);
      } else {
        if (e.rev > prev + 1) {
          gaps += e.rev - prev - 1;
          report('watch-gap', `revisions ${prev + 1}..${e.rev - 1} never delivered (jumped from ${prev} to ${e.rev})`);
        }
        prev = e.rev;
        prevKeys = new Map([[e.key, e]]);
      }
    }
    if (prev < finalRev) {
      gaps += finalRev - prev;
      report('watch-behind', `stopped at revision ${prev}; the cluster reached ${finalRev}`);
    }
    for (const [rev, events] of seen) {
      if (!sameEvents(events, reference.get(rev))) {
        report('watch-content', `revision ${rev}: watcher got ${show(events)}; replicas have ${show(reference.get(rev))}`);
      }
    }
  }
  return { findings, gaps };
}

/** Every acknowledged write must be in the history at its revision. */
export function checkAcked(acked: readonly AckedWrite[], reference: RevisionLog): { findings: Finding[]; lost: number } {
  const findings: Finding[] = [];
  let lost = 0;
  for (const w of acked) {
    const events = reference.get(w.rev) ?? [];
    const found = events.some(
      (e) =>
        e.type === 'PUT' &&
        e.key === w.key &&
        (w.value === undefined || e.value === w.value) &&
        (w.lastElement === undefined || e.value.split(',').at(-1) === w.lastElement),
    );
    if (!found) {
      lost++;
      if (lost <= 10) findings.push({ kind: 'lost-write', detail: `${w.what} was acknowledged at revision ${w.rev}, but the history there has ${show(events)}` });
    }
  }
  return { findings, lost };
}

/** A fenced write by a lock holder, as the lock workload encodes it in the guard key's value. */
export interface GuardValue {
  readonly holder: string;
  readonly lockKey: string;
  readonly token: number;
}

export function encodeGuard(g: GuardValue, seq: number): string {
  return JSON.stringify({ ...g, seq });
}

function decodeGuard(value: string): GuardValue | undefined {
  try {
    const v = JSON.parse(value) as Partial<GuardValue>;
    if (typeof v.holder === 'string' && typeof v.lockKey === 'string' && typeof v.token === 'number') {
      return { holder: v.holder, lockKey: v.lockKey, token: v.token };
    }
  } catch {
    // not a guard value
  }
  return undefined;
}

/**
 * Mutual exclusion in revision order: every fenced write (a PUT of `guardKey`) must come from the
 * holder of the oldest lock key that exists at that revision (the etcd mutex's rule: the lowest
 * create revision under the prefix holds the lock), and fencing tokens never go backwards.
 */
export function checkLock(reference: RevisionLog, finalRev: number, lockPrefix: string, guardKey: string): { findings: Finding[]; fencedWrites: number; holders: number } {
  const findings: Finding[] = [];
  const live = new Map<string, number>(); // lock key → create revision
  let fencedWrites = 0;
  let lastToken = 0;
  const tokens = new Set<number>();
  for (let rev = 1; rev <= finalRev; rev++) {
    const events = reference.get(rev) ?? [];
    // Judge the guard against the lock keys as they were before this revision's own changes.
    for (const e of events) {
      if (e.key !== guardKey || e.type !== 'PUT') continue;
      const g = decodeGuard(e.value);
      if (g === undefined) {
        findings.push({ kind: 'lock-guard', detail: `revision ${rev}: unreadable guard value ${JSON.stringify(e.value)}` });
        continue;
      }
      fencedWrites++;
      tokens.add(g.token);
      let oldest: [string, number] | undefined;
      for (const entry of live) if (oldest === undefined || entry[1] < oldest[1]) oldest = entry;
      if (live.get(g.lockKey) !== g.token) {
        findings.push({ kind: 'lock-fence', detail: `revision ${rev}: ${g.holder} wrote with token ${g.token} but its lock key ${g.lockKey} ${live.has(g.lockKey) ? `has create revision ${live.get(g.lockKey)}` : 'did not exist'}` });
      } else if (oldest !== undefined && oldest[0] !== g.lockKey) {
        findings.push({ kind: 'lock-overlap', detail: `revision ${rev}: ${g.holder} (token ${g.token}) wrote while ${oldest[0]} (create revision ${oldest[1]}) still held the lock` });
      }
      if (g.token < lastToken) findings.push({ kind: 'lock-token-order', detail: `revision ${rev}: token ${g.token} after token ${lastToken}` });
      lastToken = Math.max(lastToken, g.token);
    }
    for (const e of events) {
      if (!e.key.startsWith(lockPrefix)) continue;
      if (e.type === 'PUT') {
        if (!live.has(e.key)) live.set(e.key, e.createRev);
      } else {
        live.delete(e.key);
      }
    }
  }
  return { findings, fencedWrites, holders: tokens.size };
}

/** What the revision-order check needs of an op. */
export interface RevisionedOp {
  readonly invokeUs: number;
  readonly completeUs: number | null;
  /** The store revision the response header reported. */
  readonly headerRev?: number;
  /** Set when the op created this revision (an acknowledged write). */
  readonly revision?: number;
}

/**
 * Real-time order of revisions across all keys: an op that began after another completed must be
 * served at a revision at least as new (a write: strictly newer, since it creates one). A stale
 * read of any key, even one nobody wrote lately, shows up here.
 */
export function checkRevisionOrder<O extends RevisionedOp>(ops: readonly O[], describe: (op: O) => string): Finding[] {
  const done = ops.filter((op) => op.completeUs !== null && op.headerRev !== undefined);
  const byComplete = [...done].sort((a, b) => (a.completeUs as number) - (b.completeUs as number));
  const byInvoke = [...done].sort((a, b) => a.invokeUs - b.invokeUs);
  const findings: Finding[] = [];
  let i = 0;
  let max = 0;
  let maxOp: O | undefined;
  for (const op of byInvoke) {
    while (i < byComplete.length && (byComplete[i]?.completeUs as number) < op.invokeUs) {
      const c = byComplete[i] as O;
      if ((c.headerRev as number) > max) {
        max = c.headerRev as number;
        maxOp = c;
      }
      i++;
    }
    const rev = op.headerRev as number;
    const stale = op.revision !== undefined ? rev <= max : rev < max;
    if (stale && findings.length < 10) {
      findings.push({
        kind: 'stale-revision',
        detail: `${describe(op)} was served at revision ${rev}, but ${maxOp === undefined ? '?' : describe(maxOp)} had completed at revision ${max} before it began`,
      });
    }
  }
  return findings;
}
