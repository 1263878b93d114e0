// ColdValues on real files: what goes in comes back byte for byte (from the append buffer, the
// read-ahead block, a plain read, across segments), emptied segments are deleted, close removes
// the folder. A store with cold values answers watch history, ranges, hashes and snapshots exactly
// as one without (model.test.ts compares more requests with the reference model).
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { ColdValues } from '../../src/mvcc/cold-values.js';
import { MvccStore } from '../../src/mvcc/mvcc-store.js';
import { b, delReq, putReq, rangeReq } from './helpers.js';
import { SeededRandom } from '../../src/util/prng.js';

const dirs: string[] = [];
function freshDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ketch-cold-test-'));
  dirs.push(d);
  return join(d, 'values');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A latin1 string of `n` random bytes (every byte value, 0x00 and 0xff included). */
function randomValue(rnd: SeededRandom, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(rnd.int(256));
  return s;
}

describe('ColdValues', () => {
  it('reads back every value, from the buffer, the files and across segments, in any order', () => {
    const rnd = new SeededRandom(11);
    const cold = new ColdValues(freshDir(), { segmentBytes: 1 << 20 });
    const kept = new Map<number, string>();
    // Sizes around the buffer (256 KiB) and read block (16 KiB) sizes, and the empty value.
    const sizes = [0, 1, 47, 256, 4096, 16 * 1024 - 1, 16 * 1024 + 1, 100_000, 256 * 1024 + 3];
    for (let i = 0; i < 600; i++) {
      const v = randomValue(rnd, i % 7 === 0 ? (sizes[rnd.int(sizes.length)] as number) : rnd.int(600));
      const h = cold.add(v);
      expect(kept.has(h)).toBe(false);
      kept.set(h, v);
      // Read some back at once (still in the append buffer) and some at random (in the files).
      if (rnd.chance(0.3)) expect(cold.read(h)).toBe(v);
      if (rnd.chance(0.3)) {
        const [oldH, oldV] = [...kept][rnd.int(kept.size)] as [number, string];
        expect(cold.read(oldH)).toBe(oldV);
        expect(cold.length(oldH)).toBe(oldV.length);
      }
    }
    expect(cold.segmentCount).toBeGreaterThan(2);
    for (const [h, v] of kept) expect(cold.read(h)).toBe(v);
    // In add order again: served mostly from the read-ahead block.
    for (const [h, v] of [...kept].sort((a, b) => a[0] - b[0])) expect(cold.read(h)).toBe(v);
    expect(cold.bytes).toBe([...kept.values()].reduce((a, v) => a + v.length, 0));
    // readMany: any order, duplicates, the append buffer and values larger than its reads.
    const asked = [...kept.keys()];
    for (let i = asked.length - 1; i > 0; i--) {
      const j = rnd.int(i + 1);
      [asked[i], asked[j]] = [asked[j] as number, asked[i] as number];
    }
    asked.push(asked[0] as number, asked[1] as number);
    expect(cold.readMany(asked)).toEqual(asked.map((h) => kept.get(h)));
    cold.close();
  });

  it('deletes a segment once its values are freed, reuses handles, and close removes the folder', () => {
    const dir = freshDir();
    const cold = new ColdValues(dir, { segmentBytes: 64 * 1024 });
    const value = 'x'.repeat(1000);
    const handles: number[] = [];
    for (let i = 0; i < 300; i++) handles.push(cold.add(`${String(i).padStart(4, '0')}${value}`));
    const segments = readdirSync(dir).length;
    expect(segments).toBeGreaterThanOrEqual(4);
    // Free the oldest half (compaction frees history oldest first): whole segments go.
    for (const h of handles.slice(0, 150)) cold.free(h);
    expect(readdirSync(dir).length).toBeLessThan(segments - 1);
    for (const h of handles.slice(150)) expect(cold.read(h).slice(0, 4)).toBe(String(handles.indexOf(h)).padStart(4, '0'));
    const again = cold.add('reused');
    expect(handles.slice(0, 150)).toContain(again);
    expect(cold.read(again)).toBe('reused');
    cold.close();
    expect(existsSync(dir)).toBe(false);
  });

  it('rewrites mostly empty segments into the active one, and their values read back', () => {
    const dir = freshDir();
    const cold = new ColdValues(dir, { segmentBytes: 64 * 1024 });
    const handles: number[] = [];
    const valueOf = (i: number): string => `${String(i).padStart(4, '0')}${'y'.repeat(996)}`;
    for (let i = 0; i < 400; i++) handles.push(cold.add(valueOf(i)));
    const segments = readdirSync(dir).length;
    expect(segments).toBeGreaterThanOrEqual(6);
    // Every value but one in ten freed: each older segment keeps a tenth of its bytes.
    for (let i = 0; i < 400; i++) if (i % 10 !== 0) cold.free(handles[i] as number);
    expect(readdirSync(dir).length).toBe(segments);
    cold.rewriteSparse();
    expect(readdirSync(dir).length).toBeLessThanOrEqual(2);
    for (let i = 0; i < 400; i += 10) expect(cold.read(handles[i] as number)).toBe(valueOf(i));
    expect(cold.readMany(handles.filter((_, i) => i % 10 === 0))).toEqual(handles.filter((_, i) => i % 10 === 0).map((_, j) => valueOf(j * 10)));
    expect(cold.bytes).toBe(40 * 1000);
    // Rewritten values are freed like any other.
    for (let i = 0; i < 400; i += 10) cold.free(handles[i] as number);
    expect(cold.bytes).toBe(0);
    cold.close();
  });

  it('empties a folder a previous process left behind', () => {
    const dir = freshDir();
    const first = new ColdValues(dir);
    first.add('y'.repeat(300_000)); // larger than the append buffer: written at once
    expect(readdirSync(dir)).toHaveLength(1);
    const second = new ColdValues(dir);
    expect(second.bytes).toBe(0);
    const h = second.add('fresh');
    expect(second.read(h)).toBe('fresh');
    second.close();
  });
});

describe('MvccStore with cold values', () => {
  it('keeps values on the heap, and says why, when the cold folder cannot be made', () => {
    const parent = freshDir();
    writeFileSync(`${parent}`, 'a file where the folder would go');
    const store = new MvccStore({ coldValues: { dir: join(parent, 'cold') } });
    const v1 = 'a'.repeat(100);
    store.put(putReq('k', v1));
    store.put(putReq('k', 'b'.repeat(100)));
    expect(store.coldValues.bytes).toBe(0);
    expect(store.coldValues.failure).toMatch(/ENOTDIR|EEXIST/);
    expect(store.range(rangeReq('k', { revision: 2 })).kvs[0]?.value.toString('latin1')).toBe(v1);
    store.close();
  });

  it('keeps a short current value on the heap until superseded, and sends a long one at once', () => {
    const store = new MvccStore({ coldValues: { dir: freshDir() } });
    const short = 's'.repeat(256);
    const long = 'l'.repeat(2048);
    store.put(putReq('a', short));
    expect(store.coldValues.bytes).toBe(0);
    store.put(putReq('b', long));
    expect(store.coldValues.bytes).toBe(2048);
    store.put(putReq('a', 'x'.repeat(100)));
    expect(store.coldValues.bytes).toBe(2048 + 256);
    expect(store.range(rangeReq('a', { revision: 2 })).kvs[0]?.value.toString('latin1')).toBe(short);
    expect(store.range(rangeReq('b')).kvs[0]?.value.toString('latin1')).toBe(long);
    store.close();
  });

  it('gives the same history (with prev_kv), ranges at every revision, hash and snapshot as a store without', () => {
    const rnd = new SeededRandom(5);
    const dir = freshDir();
    // Current values go cold at once too (currentMinBytes), the path with the most reads from files.
    const cold = new MvccStore({ coldValues: { dir, segmentBytes: 32 * 1024, currentMinBytes: 48 } });
    const hot = new MvccStore();
    for (let i = 0; i < 3000; i++) {
      const key = `k${rnd.int(40)}`;
      if (rnd.chance(0.1)) {
        const req = delReq(key, '', true);
        expect(cold.deleteRange(req).response).toEqual(hot.deleteRange(req).response);
      } else {
        const req = putReq(key, randomValue(rnd, rnd.chance(0.2) ? rnd.int(47) : 48 + rnd.int(400)), { prevKv: true });
        const got = cold.put(req);
        const want = hot.put(req);
        expect(got.response).toEqual(want.response);
        expect(got.events).toEqual(want.events);
      }
      if (i === 2000) expect(cold.compact(1500).ops).toEqual(hot.compact(1500).ops);
    }
    expect(cold.coldValues.bytes).toBeGreaterThan(100_000);
    expect(cold.coldValues.failure).toBeUndefined();
    // Current values went to the files too (all but the short ones and the tombstones).
    const current = hot.range(rangeReq('\0', { end: '\0' })).kvs.filter((kv) => kv.value.length >= 48);
    expect(current.length).toBeGreaterThan(10);
    expect(cold.coldValues.bytes).toBeGreaterThanOrEqual(current.reduce((a, kv) => a + kv.value.length, 0));
    const all = { maxRevisions: 10_000, prevKv: true };
    expect(cold.history(b('\0'), b('\0'), 1500, cold.currentRevision, all)).toEqual(hot.history(b('\0'), b('\0'), 1500, hot.currentRevision, all));
    for (let rev = 1500; rev <= hot.currentRevision; rev += 7) {
      const req = rangeReq('\0', { end: '\0', revision: rev });
      expect(cold.range(req)).toEqual(hot.range(req));
      const sorted = rangeReq('k1', { end: 'k3', revision: rev, sortTarget: 'VALUE', sortOrder: 'DESCEND', limit: 3 });
      expect(cold.rangeRevisions(sorted)).toEqual(hot.rangeRevisions(sorted));
    }
    expect(cold.hashKV(0)).toEqual(hot.hashKV(0));
    expect(cold.hashKV(1800)).toEqual(hot.hashKV(1800));
    expect(cold.exportSnapshot().equals(hot.exportSnapshot())).toBe(true);
    expect(cold.stats()).toEqual(hot.stats());
    // Compaction down to the current revision frees all history but the current values; their
    // segments are rewritten, so the files hold little more than those.
    const liveBytes = hot.range(rangeReq('\0', { end: '\0' })).kvs.reduce((a, kv) => a + (kv.value.length >= 48 ? kv.value.length : 0), 0);
    expect(cold.compact(cold.currentRevision).ops).toEqual(hot.compact(hot.currentRevision).ops);
    expect(cold.coldValues.bytes).toBe(liveBytes);
    expect(readdirSync(dir).length).toBeLessThanOrEqual(Math.ceil(liveBytes / (32 * 1024)) + 2);
    expect(cold.range(rangeReq('\0', { end: '\0' }))).toEqual(hot.range(rangeReq('\0', { end: '\0' })));
    // A revision handed out stays as it was when a later write sends its value cold.
    const held = cold.rangeRevisions(rangeReq('k1')).revs[0];
    const before = held?.value;
    expect(typeof before).toBe('string');
    cold.put(putReq('k1', 'w'.repeat(100)));
    expect(held?.value).toBe(before);
    expect(cold.range(rangeReq('k1', { revision: cold.currentRevision - 1 })).kvs[0]?.value.toString('latin1')).toBe(before);
    cold.close();
    expect(existsSync(dir)).toBe(false);
  });
});
