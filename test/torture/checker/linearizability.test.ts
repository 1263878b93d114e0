// The linearizability checker on hand-written histories: known-good ones must pass and known-bad
// ones (stale read, lost write, CAS double success, reordered list reads) must fail, with a short
// bad sub-history. Then generated histories of a real atomic register, to show it does not cry
// wolf on large, concurrent histories with unknown outcomes.

import { describe, expect, it } from 'vitest';

import type { ListOp, OpOutcome, RegisterOp } from '../history.js';
import { checkLinearizable, describeOp, listSpec, prune, registerSpec } from './linearizability.js';
import { registerModel } from './models.js';
import { searchLinearization } from './wgl.js';
import { SeededRandom } from '../../../src/util/prng.js';

let nextId = 0;
type Timing = [number, number | null];

function base(process: string, [invokeUs, completeUs]: Timing, outcome: OpOutcome = completeUs === null ? 'unknown' : 'ok') {
  return { id: nextId++, process, key: 'k', invokeUs, completeUs, outcome, endpoint: 'test' };
}

const read = (p: string, t: Timing, result: string | null): RegisterOp => ({ ...base(p, t), f: 'read', result });
const write = (p: string, t: Timing, value: string, outcome?: OpOutcome): RegisterOp => ({ ...base(p, t, outcome), f: 'write', value });
const cas = (p: string, t: Timing, from: string, to: string, succeeded?: boolean, observed?: string | null): RegisterOp => ({
  ...base(p, t),
  f: 'cas',
  from,
  to,
  ...(succeeded !== undefined ? { succeeded } : {}),
  ...(observed !== undefined ? { observed } : {}),
});
const append = (p: string, t: Timing, element: string, outcome?: OpOutcome): ListOp => ({ ...base(p, t, outcome), f: 'append', element });
const readList = (p: string, t: Timing, result: string[]): ListOp => ({ ...base(p, t), f: 'read-list', result });

function verdict(ops: RegisterOp[]): string {
  return checkLinearizable(ops, registerSpec)[0]?.verdict ?? 'empty';
}
function listVerdict(ops: ListOp[]): string {
  return checkLinearizable(ops, listSpec)[0]?.verdict ?? 'empty';
}

describe('register histories', () => {
  it('accepts a sequential history', () => {
    expect(verdict([read('a', [0, 1], null), write('a', [2, 3], 'x'), read('b', [4, 5], 'x'), cas('b', [6, 7], 'x', 'y', true), read('a', [8, 9], 'y')])).toBe('ok');
  });

  it('accepts a read concurrent with a write returning either value', () => {
    expect(verdict([write('a', [0, 1], 'x'), write('a', [10, 20], 'y'), read('b', [12, 15], 'x'), read('c', [13, 16], 'y')])).toBe('ok');
  });

  it('rejects reads that see the new value and then the old one (not even sequentially consistent in real time)', () => {
    expect(verdict([write('a', [0, 1], 'x'), write('a', [10, 20], 'y'), read('b', [11, 12], 'y'), read('c', [13, 14], 'x')])).toBe('fail');
  });

  it('rejects a stale read after a write completed', () => {
    expect(verdict([write('a', [0, 10], '1'), write('a', [20, 30], '2'), read('b', [40, 50], '1')])).toBe('fail');
  });

  it('rejects a lost write (acknowledged, then read back as absent)', () => {
    expect(verdict([write('a', [0, 10], '1'), read('b', [20, 30], null)])).toBe('fail');
  });

  it('rejects a CAS double success from the same value', () => {
    expect(verdict([write('a', [0, 1], 'x'), cas('b', [10, 20], 'x', 'y', true), cas('c', [11, 21], 'x', 'z', true)])).toBe('fail');
    // With the value written back in between, both may succeed.
    expect(
      verdict([write('a', [0, 1], 'x'), cas('b', [10, 20], 'x', 'y', true), write('a', [10, 30], 'x2'), cas('c', [11, 40], 'x', 'z', true)]),
    ).toBe('fail');
    expect(verdict([write('a', [0, 1], 'x'), cas('b', [10, 20], 'x', 'y', true), cas('d', [25, 26], 'y', 'x', true), cas('c', [11, 40], 'x', 'z', true)])).toBe('ok');
  });

  it('checks what a failed CAS saw', () => {
    expect(verdict([write('a', [0, 1], 'x'), cas('b', [2, 3], 'q', 'r', false, 'x')])).toBe('ok');
    expect(verdict([write('a', [0, 1], 'x'), cas('b', [2, 3], 'x', 'r', false, 'x')])).toBe('fail');
    expect(verdict([write('a', [0, 1], 'x'), cas('b', [2, 3], 'q', 'r', false, 'y')])).toBe('fail');
  });

  it('lets an unknown write take effect after its call, late, or never', () => {
    // Observed long after the writer gave up: fine.
    expect(verdict([write('a', [0, null], 'x'), read('b', [100, 110], null), read('b', [200, 210], 'x')])).toBe('ok');
    // Never observed: fine, and pruned before the search.
    const ops = [write('a', [0, null], 'x'), read('b', [100, 110], null)];
    expect(verdict(ops)).toBe('ok');
    expect(prune(ops, registerSpec)).toHaveLength(1);
    // Observed before it was invoked: impossible.
    expect(verdict([read('b', [0, 5], 'x'), write('a', [10, null], 'x')])).toBe('fail');
    // Once seen and then overwritten, it cannot reappear (it took effect only once).
    expect(verdict([write('a', [0, null], 'x'), read('b', [10, 11], 'x'), write('c', [20, 21], 'y'), read('b', [30, 31], 'x')])).toBe('fail');
  });

  it('keeps an unknown CAS whose result was seen, and its expected value with it', () => {
    const ops = [write('a', [0, null], 'x'), cas('b', [5, null], 'x', 'y'), read('c', [50, 60], 'y')];
    expect(prune(ops, registerSpec)).toHaveLength(3);
    expect(verdict(ops)).toBe('ok');
    // Without a way to get 'x' there first, 'y' cannot appear.
    expect(verdict([write('a', [0, 1], 'w'), cas('b', [5, null], 'x', 'y'), read('c', [50, 60], 'y')])).toBe('fail');
  });

  it('drops definitely failed ops and reads without a result', () => {
    expect(verdict([write('a', [0, 1], 'x', 'fail'), read('b', [2, 3], null), { ...read('c', [4, null], 'zzz'), outcome: 'unknown' }])).toBe('ok');
  });

  it('shrinks a large bad history to the ops that matter', () => {
    const random = new SeededRandom(7);
    const ops: RegisterOp[] = [];
    let t = 0;
    let value: string | null = null;
    for (let i = 0; i < 300; i++) {
      t += 10;
      if (random.chance(0.5)) {
        value = `v${i}`;
        ops.push(write(`p${i % 4}`, [t, t + 5], value));
      } else {
        ops.push(read(`p${i % 4}`, [t, t + 5], value));
      }
    }
    // One stale read in the middle: it returns the value before the latest completed write.
    const writes = ops.filter((op) => op.f === 'write');
    const stale = writes[60] as RegisterOp & { f: 'write' };
    const fresh = writes[61] as RegisterOp & { f: 'write' };
    ops.push(read('px', [(fresh.completeUs as number) + 1, (fresh.completeUs as number) + 2], stale.value));
    const [result] = checkLinearizable(ops, registerSpec);
    expect(result?.verdict).toBe('fail');
    const minimal = result?.minimal ?? [];
    expect(minimal.length).toBeLessThanOrEqual(4);
    expect(minimal.map((op) => op.process)).toContain('px');
    expect(searchLinearization(registerModel, minimal.map((op) => ({ op, call: op.invokeUs, ret: op.completeUs ?? Infinity }))).verdict).toBe('fail');
    expect(describeOp(minimal.find((op) => op.process === 'px') as RegisterOp)).toMatch(/px +read k → "v\d+"  ok/);
  });
});

describe('list (append) histories', () => {
  it('accepts concurrent appends in either order and growing reads', () => {
    expect(listVerdict([append('a', [0, 10], '1'), append('b', [0, 10], '2'), readList('c', [11, 12], ['2', '1']), append('a', [13, 14], '3'), readList('c', [15, 16], ['2', '1', '3'])])).toBe('ok');
  });

  it('rejects a read missing an append that completed before it', () => {
    expect(listVerdict([append('a', [0, 10], '1'), append('b', [11, 20], '2'), readList('c', [21, 22], ['1'])])).toBe('fail');
  });

  it('rejects reads that disagree on the order', () => {
    expect(listVerdict([append('a', [0, 10], '1'), append('b', [0, 10], '2'), readList('c', [11, 12], ['1', '2']), readList('d', [13, 14], ['2', '1'])])).toBe('fail');
  });

  it('rejects a lost append (a later read shrinks)', () => {
    expect(listVerdict([append('a', [0, 1], '1'), append('a', [2, 3], '2'), readList('c', [4, 5], ['1', '2']), readList('c', [6, 7], ['1'])])).toBe('fail');
  });

  it('accepts an unknown append that shows up later, and one that never does', () => {
    expect(listVerdict([append('a', [0, null], '1'), append('b', [5, null], '2'), readList('c', [10, 11], []), readList('c', [50, 51], ['1'])])).toBe('ok');
  });
});

describe('generated histories of an atomic register', () => {
  /**
   * Simulates clients of a truly atomic register: each op takes effect at a random instant inside
   * its interval; some replies are lost (unknown outcome, sometimes after taking effect).
   */
  function simulate(seed: number, processes: number, opsPerProcess: number): RegisterOp[] {
    const random = new SeededRandom(seed);
    type Pending = { op: RegisterOp; at: number };
    const ops: RegisterOp[] = [];
    const events: Pending[] = [];
    let counter = 0;
    for (let p = 0; p < processes; p++) {
      let t = random.int(50);
      for (let i = 0; i < opsPerProcess; i++) {
        const start = t;
        const end = start + 1 + random.int(40);
        const at = start + random.next() * (end - start);
        const lost = random.chance(0.05);
        const timing: Timing = [start, lost ? null : end];
        const kind = random.int(3);
        const op: RegisterOp =
          kind === 0 ? read(`p${p}`, timing, null) : kind === 1 ? write(`p${p}`, timing, `v${counter++}`) : cas(`p${p}`, timing, '', `v${counter++}`);
        ops.push(op);
        // A lost reply: the op happened (at `at`) or never did.
        if (!lost || random.chance(0.5)) events.push({ op, at });
        t = end + random.int(20);
      }
    }
    // Apply in effect order, filling in results; CAS expects a recently written value.
    events.sort((a, b) => a.at - b.at);
    let value: string | null = null;
    const written: string[] = [];
    for (const { op } of events) {
      const o = op as RegisterOp & { f: string };
      if (o.f === 'read') (o as { result: string | null }).result = value;
      else if (o.f === 'write') value = (o as { value: string }).value;
      else {
        const c = o as { from: string; to: string; succeeded?: boolean; observed?: string | null };
        c.from = written.length > 0 ? (written[Math.max(0, written.length - 1 - (op.id % 3))] as string) : 'none';
        c.succeeded = value === c.from;
        if (c.succeeded) value = c.to;
        else c.observed = value;
      }
      if (value !== null && written[written.length - 1] !== value) written.push(value);
    }
    for (const op of ops) {
      if (op.f === 'cas' && op.from === '') (op as { from: string }).from = 'never-written';
      if (op.outcome === 'unknown' && op.f === 'cas') {
        delete (op as { succeeded?: boolean }).succeeded;
        delete (op as { observed?: string | null }).observed;
      }
    }
    return ops;
  }

  it('passes 20 seeds of 5 concurrent clients, 300 ops each, with lost replies', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const ops = simulate(seed, 5, 300);
      const [result] = checkLinearizable(ops, registerSpec);
      expect({ seed, verdict: result?.verdict }).toEqual({ seed, verdict: 'ok' });
    }
  });

  it('fails the same histories once one read is made stale', () => {
    let failed = 0;
    for (let seed = 1; seed <= 10; seed++) {
      const ops = simulate(seed, 5, 200);
      // Find a completed read whose value was overwritten by a write that completed before it began.
      const reads = ops.filter((op): op is RegisterOp & { f: 'read' } => op.f === 'read' && op.outcome === 'ok');
      const writes = ops.filter((op): op is RegisterOp & { f: 'write' } => op.f === 'write' && op.outcome === 'ok');
      // A read, and two writes that both completed before it with one strictly after the other.
      let pick: { target: RegisterOp & { f: 'read' }; old: RegisterOp & { f: 'write' } } | undefined;
      for (const r of reads) {
        const before = writes.filter((w) => (w.completeUs as number) < r.invokeUs);
        const old = before.find((o) => before.some((w) => w.invokeUs > (o.completeUs as number)));
        if (old !== undefined && r.invokeUs > 2000) {
          pick = { target: r, old };
          break;
        }
      }
      if (pick === undefined) continue;
      const { target, old } = pick;
      target.result = old.value;
      const [result] = checkLinearizable(ops, registerSpec, { shrinkMs: 0 });
      if (result?.verdict === 'fail') failed++;
    }
    expect(failed).toBeGreaterThanOrEqual(5);
  });

  it('reports budget exhaustion instead of a verdict it could not reach', () => {
    const ops = simulate(3, 5, 300);
    expect(searchLinearization(registerModel, ops.map((op) => ({ op, call: op.invokeUs, ret: op.completeUs ?? Infinity })), 10).verdict).toBe('budget');
  });
});
