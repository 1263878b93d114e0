// Checks the register and append histories key by key, and shrinks a bad key's history to a short
// sub-history that is still not linearizable, for the report.

import type { HistoryOp, ListOp, RegisterOp } from '../history.js';
import { listModel, listObserves, listProduces, registerModel, registerObserves, registerProduces } from './models.js';
import { type Model, searchLinearization, type TimedOp } from './wgl.js';

export interface Spec<O extends HistoryOp> {
  readonly model: Model<unknown, O>;
  /** Values the op saw (only trusted when it completed). */
  observes(op: O): string[];
  /** The unique value the op writes, if any. */
  produces(op: O): string | undefined;
  isRead(op: O): boolean;
}

export const registerSpec: Spec<RegisterOp> = {
  model: registerModel as Model<unknown, RegisterOp>,
  observes: registerObserves,
  produces: registerProduces,
  isRead: (op) => op.f === 'read',
};

export const listSpec: Spec<ListOp> = {
  model: listModel as Model<unknown, ListOp>,
  observes: listObserves,
  produces: listProduces,
  isRead: (op) => op.f === 'read-list',
};

export interface KeyVerdict<O extends HistoryOp> {
  readonly key: string;
  readonly verdict: 'ok' | 'fail' | 'budget';
  /** Ops recorded for the key, and those the search had to consider after pruning. */
  readonly recorded: number;
  readonly checked: number;
  readonly steps: number;
  /** For a failed key: a short sub-history that is still not linearizable, in call order. */
  readonly minimal?: readonly O[];
}

export interface CheckOptions {
  /** Search steps per key before giving up with 'budget'. */
  readonly maxSteps?: number;
  /** Wall-clock limit for shrinking one bad key. */
  readonly shrinkMs?: number;
}

/**
 * What the search must consider for one key. Definitely failed ops had no effect and are dropped,
 * as are reads without a result. An op with an unknown outcome may have happened or not; if no
 * completed op ever saw the unique value it would have written, "never happened" explains the
 * history at least as well as any placement, so it is dropped too (this keeps the search small
 * when many writes time out during a partition).
 */
export function prune<O extends HistoryOp>(ops: readonly O[], spec: Spec<O>): O[] {
  const live = ops.filter((op) => op.outcome !== 'fail' && !(spec.isRead(op) && op.outcome !== 'ok'));
  const needed = new Set<string>();
  for (const op of live) if (op.outcome === 'ok') for (const v of spec.observes(op)) needed.add(v);
  const unknown = live.filter((op) => op.outcome === 'unknown');
  const kept = new Set<O>();
  // A kept unknown CAS needs its own expected value written first: follow that to a fixpoint.
  for (let changed = true; changed; ) {
    changed = false;
    for (const op of unknown) {
      if (kept.has(op)) continue;
      const v = spec.produces(op);
      if (v !== undefined && needed.has(v)) {
        kept.add(op);
        for (const o of spec.observes(op)) needed.add(o);
        changed = true;
      }
    }
  }
  return live.filter((op) => op.outcome === 'ok' || kept.has(op));
}

function timed<O extends HistoryOp>(ops: readonly O[]): TimedOp<O>[] {
  return ops.map((op) => ({ op, call: op.invokeUs, ret: op.completeUs ?? Infinity }));
}

/** Checks every key's sub-history; the result is sorted by key. */
export function checkLinearizable<O extends HistoryOp>(ops: readonly O[], spec: Spec<O>, opts: CheckOptions = {}): KeyVerdict<O>[] {
  const byKey = new Map<string, O[]>();
  for (const op of ops) {
    const list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, [op]);
    else list.push(op);
  }
  const out: KeyVerdict<O>[] = [];
  for (const key of [...byKey.keys()].sort()) {
    const recorded = byKey.get(key) as O[];
    const checked = prune(recorded, spec);
    const result = searchLinearization(spec.model, timed(checked), opts.maxSteps ?? 20_000_000);
    if (result.verdict !== 'fail') {
      out.push({ key, verdict: result.verdict, recorded: recorded.length, checked: checked.length, steps: result.steps });
      continue;
    }
    const minimal = shrink(checked, spec, opts.shrinkMs ?? 30_000);
    out.push({ key, verdict: 'fail', recorded: recorded.length, checked: checked.length, steps: result.steps, minimal });
  }
  return out;
}

/**
 * Shrinks a bad history: first to the shortest prefix in time that is still bad, then to the
 * shortest suffix of that, then greedily removes chunks of ops (halving the chunk size down to
 * single ops) while the rest stays non-linearizable. An op whose written value a remaining op saw
 * is never removed, so the result does not "fail" merely because a read lost its writer.
 */
export function shrink<O extends HistoryOp>(ops: readonly O[], spec: Spec<O>, timeLimitMs: number): O[] {
  const deadline = Date.now() + timeLimitMs;
  const bad = (candidate: readonly O[]): boolean =>
    candidate.length > 0 && searchLinearization(spec.model, timed(candidate), 500_000).verdict === 'fail';
  const producers = new Map<string, O>();
  for (const op of ops) {
    const v = spec.produces(op);
    if (v !== undefined) producers.set(v, op);
  }
  /** `kept` plus, transitively, the writers of every value a kept op saw. */
  const closure = (kept: readonly O[]): O[] => {
    const set = new Set(kept);
    const queue = [...kept];
    while (queue.length > 0) {
      const op = queue.pop() as O;
      for (const v of spec.observes(op)) {
        const w = producers.get(v);
        if (w !== undefined && !set.has(w)) {
          set.add(w);
          queue.push(w);
        }
      }
    }
    return ops.filter((op) => set.has(op));
  };
  const removable = (rest: readonly O[], removed: readonly O[]): boolean => {
    const produced = new Set<string>();
    for (const op of removed) {
      const v = spec.produces(op);
      if (v !== undefined) produced.add(v);
    }
    if (produced.size === 0) return true;
    for (const op of rest) for (const v of spec.observes(op)) if (produced.has(v)) return false;
    return true;
  };
  /** The smallest i in [lo, hi] with bad(make(i)), assuming bad(make(hi)) (roughly monotone). */
  const search = (lo: number, hi: number, make: (i: number) => O[]): number => {
    while (lo < hi && Date.now() < deadline) {
      const mid = Math.floor((lo + hi) / 2);
      if (bad(make(mid))) hi = mid;
      else lo = mid + 1;
    }
    return hi;
  };

  let current = [...ops].sort((a, b) => a.invokeUs - b.invokeUs);
  // Shortest prefix (by invocation) that is still bad.
  const byInvoke = current;
  const prefixLen = search(1, byInvoke.length, (n) => closure(byInvoke.slice(0, n)));
  const prefix = closure(byInvoke.slice(0, prefixLen));
  if (bad(prefix)) current = prefix;
  // Then the shortest suffix of that (by completion; unknown ops complete last).
  const byComplete = [...current].sort((a, b) => (a.completeUs ?? Infinity) - (b.completeUs ?? Infinity));
  const dropFirst = byComplete.length - search(1, byComplete.length, (n) => closure(byComplete.slice(byComplete.length - n)));
  const suffix = closure(byComplete.slice(dropFirst)).sort((a, b) => a.invokeUs - b.invokeUs);
  if (bad(suffix)) current = suffix;
  for (let chunk = Math.max(1, Math.floor(current.length / 2)); chunk >= 1; chunk = Math.floor(chunk / 2)) {
    for (let i = 0; i < current.length && Date.now() < deadline; ) {
      const removed = current.slice(i, i + chunk);
      const rest = [...current.slice(0, i), ...current.slice(i + chunk)];
      if (rest.length > 0 && removable(rest, removed) && bad(rest)) current = rest;
      else i += chunk;
    }
    if (chunk === 1 || Date.now() >= deadline) break;
  }
  return current;
}

function seconds(us: number | null): string {
  return us === null ? '      ?' : (us / 1e6).toFixed(3).padStart(7);
}

/** One line per op: times, client, operation and result. */
export function describeOp(op: HistoryOp): string {
  const q = (v: string | null | undefined): string => (v === null || v === undefined ? 'nil' : JSON.stringify(v));
  let what: string;
  switch (op.f) {
    case 'read':
      what = `read ${op.key} → ${op.outcome === 'ok' ? q(op.result) : '?'}`;
      break;
    case 'write':
      what = `write ${op.key} ${q(op.value)}`;
      break;
    case 'cas':
      what = `cas ${op.key} ${q(op.from)} → ${q(op.to)}${op.outcome === 'ok' ? (op.succeeded === true ? ' succeeded' : ` failed (saw ${q(op.observed)})`) : ''}`;
      break;
    case 'append':
      what = `append ${op.key} ${q(op.element)}`;
      break;
    case 'read-list':
      what = `read ${op.key} → ${op.outcome === 'ok' ? `[${(op.result ?? []).join(',')}]` : '?'}`;
      break;
    case 'acquire':
      what = `acquire ${op.key}${op.token !== undefined ? ` token ${op.token}` : ''}`;
      break;
    case 'guard':
      what = `guarded put ${q(op.value)} with token ${op.token}${op.succeeded !== undefined ? (op.succeeded ? ' succeeded' : ' failed') : ''}`;
      break;
    case 'release':
      what = `release ${op.lockKey}`;
      break;
  }
  const outcome = op.outcome === 'ok' ? 'ok' : op.outcome === 'fail' ? `fail (${op.error ?? ''})` : `unknown (${op.error ?? 'no reply'})`;
  const rev = op.revision !== undefined ? ` rev ${op.revision}` : '';
  return `[${seconds(op.invokeUs)}s → ${seconds(op.completeUs)}s] ${op.process.padEnd(6)} ${what}  ${outcome}${rev}  @${op.endpoint}`;
}
