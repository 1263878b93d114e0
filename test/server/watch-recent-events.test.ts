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
    const kept = [...recent.between(2, 399)].map((r) => r.event);
    expect(kept.map((e) => ({ type: e.type, kv: { ...e.kv, key: [...e.kv.key], value: [...e.kv.value] }, prevKv: e.prevKv && { ...e.prevKv, key: [...e.prevKv.key], value: [...e.prevKv.value] } }))).toEqual(
      expected.map((e) => ({ type: e.type, kv: { ...e.kv, key: [...e.kv.key], value: [...e.kv.value] }, prevKv: e.prevKv && { ...e.prevKv, key: [...e.prevKv.key], value: [...e.prevKv.value] } })),
    );
    const withPrev = kept.find((e) => e.prevKv !== undefined);
    expect(withPrev?.prevKv?.key).toBe(withPrev?.kv.key);
    expect(kept.every((e) => Buffer.isBuffer(e.kv.key) && Buffer.isBuffer(e.kv.value))).toBe(true);
  });
});
