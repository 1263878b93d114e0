// RecentEvents keeps copies of the events it is handed, packed into shared chunks, so that a kept
// event does not pin the pooled slab its LevelDB record was cut from.
import { describe, expect, it } from 'vitest';

import type { Event, KeyValue } from '../../src/mvcc/types.js';
import { RecentEvents } from '../../src/server/watch-recent-events.js';

function kv(key: string, rev: number, valueBytes: number): KeyValue {
  return { key: Buffer.from(key), createRevision: 2, modRevision: rev, version: rev - 1, value: Buffer.alloc(valueBytes, rev & 0xff), lease: '0' };
}

describe('RecentEvents', () => {
  it('keeps equal copies that share no memory with the events handed in', () => {
    const recent = new RecentEvents(1, 1000, 1 << 30);
    const handed: Event[] = [];
    for (let rev = 2; rev < 400; rev++) {
      const now = kv(`k${rev % 10}`, rev, rev === 300 ? 20_000 : rev % 3 === 0 ? 0 : 256);
      const e: Event = rev % 5 === 0 ? { type: 'PUT', kv: now, prevKv: { ...kv(`k${rev % 10}`, rev - 1, 40), key: now.key } } : { type: 'PUT', kv: now };
      handed.push(e);
      recent.append([e]);
    }
    const expected = structuredClone(handed.map((e) => ({ ...e })));
    for (const e of handed) {
      e.kv.key.fill(0);
      e.kv.value.fill(0);
      e.prevKv?.value.fill(0);
    }
    const kept = [...recent.between(2, 399, () => true)].map((r) => r.event);
    expect(kept.map((e) => ({ type: e.type, kv: { ...e.kv, key: [...e.kv.key], value: [...e.kv.value] }, prevKv: e.prevKv && { ...e.prevKv, key: [...e.prevKv.key], value: [...e.prevKv.value] } }))).toEqual(
      expected.map((e) => ({ type: e.type, kv: { ...e.kv, key: [...e.kv.key], value: [...e.kv.value] }, prevKv: e.prevKv && { ...e.prevKv, key: [...e.prevKv.key], value: [...e.prevKv.value] } })),
    );
    const withPrev = kept.find((e) => e.prevKv !== undefined);
    expect(withPrev?.prevKv?.key).toBe(withPrev?.kv.key);
    expect(kept.every((e) => Buffer.isBuffer(e.kv.key) && Buffer.isBuffer(e.kv.value))).toBe(true);
  });

  it('hands back deletes, leases and several events of one revision, only those whose key is wanted, and evicts whole revisions', () => {
    const recent = new RecentEvents(1, 4, 1 << 30);
    const put: Event = { type: 'PUT', kv: { ...kv('a', 2, 3), lease: '7587862070135384583' } };
    const del: Event = { type: 'DELETE', kv: { key: Buffer.from('a'), createRevision: 0, modRevision: 3, version: 0, value: Buffer.alloc(0), lease: '0' }, prevKv: put.kv };
    const txn: Event[] = [
      { type: 'PUT', kv: kv('b', 4, 1) },
      { type: 'PUT', kv: kv('c', 4, 1) },
    ];
    recent.append([put]);
    recent.append([del]);
    recent.append(txn);
    const plain = (e: Event): unknown => JSON.parse(JSON.stringify(e, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v)));
    expect([...recent.between(2, 4, (k) => k === 'a')].map((r) => [r.revision, plain(r.event)])).toEqual([
      [2, plain(put)],
      [3, plain(del)],
    ]);
    expect([...recent.between(3, 4, (k) => k !== 'b')].map((r) => r.event.kv.key.toString())).toEqual(['a', 'c']);
    // A fifth event evicts revision 2 (one event) only: the bound is 4 events.
    recent.append([{ type: 'PUT', kv: kv('d', 5, 1) }]);
    expect(recent.coveredFrom).toBe(3);
    expect(recent.size).toBe(4);
    // Two more evict revision 3, then both events of revision 4 together.
    recent.append([{ type: 'PUT', kv: kv('e', 6, 1) }, { type: 'PUT', kv: kv('f', 6, 1) }]);
    expect(recent.coveredFrom).toBe(5);
    expect([...recent.between(0, 10, () => true)].map((r) => r.revision)).toEqual([5, 6, 6]);
  });

  it('matches a list of the events handed in, as the ring wraps, grows and evicts (random batches and bounds)', () => {
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (const maxEvents of [1, 700, 1024, 1500, 3000]) {
      const recent = new RecentEvents(1, maxEvents, 1 << 30);
      const model: { revision: number; key: string; size: number }[] = [];
      let coveredFrom = 2;
      let rev = 2;
      for (let step = 0; step < 600; step++) {
        const batch: Event[] = [];
        for (let r = 0, revisions = 1 + rnd(4); r < revisions; r++, rev++) {
          // Late on, now and then a revision bigger than the bound (a large txn).
          const n = step > 400 && rnd(50) === 0 ? maxEvents + 1 + rnd(300) : 1 + rnd(5);
          for (let i = 0; i < n; i++) {
            const key = `k${rnd(30)}`;
            const size = rnd(3) * 100;
            batch.push({ type: 'PUT', kv: kv(key, rev, size) });
            model.push({ revision: rev, key, size });
          }
        }
        recent.append(batch);
        while (model.length > maxEvents) {
          const oldest = (model[0] as { revision: number }).revision;
          while (model.length > 0 && (model[0] as { revision: number }).revision === oldest) model.shift();
          coveredFrom = oldest + 1;
        }
        expect(recent.coveredFrom).toBe(coveredFrom);
        expect(recent.size).toBe(model.length);
        const from = coveredFrom + rnd(Math.max(1, rev - coveredFrom));
        const to = from + rnd(20);
        const want = `k${rnd(30)}`;
        const got = [...recent.between(from, to, (k) => k === want)].map((e) => [e.revision, e.event.kv.key.toString()]);
        expect(got).toEqual(model.filter((m) => m.revision >= from && m.revision <= to && m.key === want).map((m) => [m.revision, m.key]));
        const all = [...recent.between(0, rev, () => true)].map((e) => [e.revision, e.event.kv.key.toString(), e.event.kv.value.length]);
        expect(all).toEqual(model.map((m) => [m.revision, m.key, m.size]));
      }
    }
  });
});
