// The Wing-Gong linearizability search with Lowe's and Porcupine's improvements.
//
// A history is a set of operations with call and return times; an operation whose outcome is
// unknown returns at +Infinity, so it may take effect at any point after its call, or (placed
// after everything else) never. The search walks a doubly linked list of call/return events,
// tries to linearize the first pending calls in turn against a sequential model, and backtracks
// when it reaches a return whose call it could not linearize. Configurations already explored,
// (set of linearized ops, model state), are remembered so each is searched at most once.

export interface Model<S, O> {
  readonly init: S;
  /** The state after `op` in `state`, or undefined when op's recorded result cannot happen there. */
  step(state: S, op: O): S | undefined;
  /** Equal states must give equal keys (used to remember explored configurations). */
  stateKey(state: S): string;
}

export interface TimedOp<O> {
  readonly op: O;
  /** Invocation time (any unit, same for all ops). */
  readonly call: number;
  /** Completion time, or Infinity when the outcome is unknown. */
  readonly ret: number;
}

export type SearchResult =
  | { readonly verdict: 'ok'; readonly steps: number }
  | {
      readonly verdict: 'fail';
      readonly steps: number;
      /** The most ops any explored linearization reached, in order (indexes into the input). */
      readonly longestPrefix: readonly number[];
    }
  | { readonly verdict: 'budget'; readonly steps: number };

interface Node {
  /** Index of the op; -1 for the list head. */
  readonly id: number;
  /** For a call: its return node. Undefined for returns and the head. */
  match: Node | undefined;
  prev: Node | undefined;
  next: Node | undefined;
}

/** Random 32-bit words per op: XOR-ing them gives an incremental hash of the linearized set. */
function hashWords(n: number, seed: number): Uint32Array {
  const out = new Uint32Array(2 * n);
  let x = (seed ^ 0x9e3779b9) >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x;
  }
  return out;
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Whether `ops` is linearizable with respect to `model`. Ops that are concurrent by the clock
 * (a return at the same time as a call) count as concurrent. `maxSteps` bounds the work; beyond
 * it the verdict is 'budget' (neither proven nor refuted).
 */
export function searchLinearization<S, O>(model: Model<S, O>, ops: readonly TimedOp<O>[], maxSteps = 5_000_000): SearchResult {
  const n = ops.length;
  if (n === 0) return { verdict: 'ok', steps: 0 };
  const events: Array<{ time: number; isCall: boolean; id: number }> = [];
  for (let i = 0; i < n; i++) {
    const o = ops[i] as TimedOp<O>;
    if (!(o.ret >= o.call)) throw new Error(`op ${i} returns (${o.ret}) before its call (${o.call})`);
    events.push({ time: o.call, isCall: true, id: i }, { time: o.ret, isCall: false, id: i });
  }
  // Calls before returns at the same instant: such ops overlap, which is the permissive reading.
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.id - b.id : a.isCall ? -1 : 1));

  const head: Node = { id: -1, match: undefined, prev: undefined, next: undefined };
  const returns = new Map<number, Node>();
  for (const e of events) if (!e.isCall) returns.set(e.id, { id: e.id, match: undefined, prev: undefined, next: undefined });
  let tail = head;
  for (const e of events) {
    const node: Node = e.isCall ? { id: e.id, match: returns.get(e.id), prev: undefined, next: undefined } : (returns.get(e.id) as Node);
    node.prev = tail;
    tail.next = node;
    tail = node;
  }

  const lift = (entry: Node): void => {
    (entry.prev as Node).next = entry.next;
    (entry.next as Node).prev = entry.prev; // a call always has its return after it
    const match = entry.match as Node;
    (match.prev as Node).next = match.next;
    if (match.next !== undefined) match.next.prev = match.prev;
  };
  const unlift = (entry: Node): void => {
    const match = entry.match as Node;
    (match.prev as Node).next = match;
    if (match.next !== undefined) match.next.prev = match;
    (entry.prev as Node).next = entry;
    (entry.next as Node).prev = entry;
  };

  const words = Math.ceil(n / 32);
  const bits = new Uint32Array(words);
  const hw = hashWords(n, n);
  let h1 = 0;
  let h2 = 0;
  const cache = new Map<string, Uint32Array[]>();
  const toggle = (id: number): void => {
    bits[id >>> 5] = ((bits[id >>> 5] as number) ^ (1 << (id & 31))) >>> 0;
    h1 = (h1 ^ (hw[2 * id] as number)) >>> 0;
    h2 = (h2 ^ (hw[2 * id + 1] as number)) >>> 0;
  };

  const stack: Array<{ entry: Node; state: S }> = [];
  let state = model.init;
  let entry = head.next as Node | undefined;
  let steps = 0;
  let longest: number[] = [];
  while (head.next !== undefined) {
    if (++steps > maxSteps) return { verdict: 'budget', steps };
    if (entry === undefined) throw new Error('linearization search ran off the event list');
    if (entry.match !== undefined) {
      const next = model.step(state, (ops[entry.id] as TimedOp<O>).op);
      if (next !== undefined) {
        toggle(entry.id);
        const key = `${h1}:${h2}:${model.stateKey(next)}`;
        const seen = cache.get(key);
        if (seen === undefined || !seen.some((b) => sameBits(b, bits))) {
          if (seen === undefined) cache.set(key, [bits.slice()]);
          else seen.push(bits.slice());
          stack.push({ entry, state });
          state = next;
          lift(entry);
          if (stack.length > longest.length) longest = stack.map((s) => s.entry.id);
          entry = head.next;
          continue;
        }
        toggle(entry.id);
      }
      entry = entry.next;
      continue;
    }
    // A return whose call is still pending: undo the last choice and try the next candidate.
    const top = stack.pop();
    if (top === undefined) return { verdict: 'fail', steps, longestPrefix: longest };
    toggle(top.entry.id);
    state = top.state;
    unlift(top.entry);
    entry = top.entry.next;
  }
  return { verdict: 'ok', steps };
}
