// ketch caps V8's old-generation growth at startup unless the operator chose a value, and runs a
// compacting full GC when it goes quiet with its heap grown.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';

import { IdleCollection, capHeapGrowth } from '../../src/cmd/heap-growth.js';
import { FRAGMENT_MALLOC } from '../util/fragment-malloc.js';

const repoRoot = join(import.meta.dirname, '..', '..');

describe('capHeapGrowth', () => {
  it('leaves an explicit --heap-growing-percent alone, from argv or NODE_OPTIONS', () => {
    expect(capHeapGrowth(['--heap-growing-percent=30'], undefined)).toBe(false);
    expect(capHeapGrowth(['--heap_growing_percent', '30'], undefined)).toBe(false);
    expect(capHeapGrowth([], '--max-old-space-size=512 --heap-growing-percent=30')).toBe(false);
  });

  it('sets it otherwise, and the process keeps running normally', () => {
    expect(capHeapGrowth(['--enable-source-maps'], '')).toBe(true);
    const garbage: number[][] = [];
    for (let i = 0; i < 2000; i++) garbage.push(new Array(1000).fill(i));
    expect(getHeapStatistics().used_heap_size).toBeGreaterThan(0);
  });
});

describe('IdleCollection', () => {
  const MiB = 1024 * 1024;
  const second = 1_000_000;
  const smallYoung = 2 * MiB;
  it('collects once the process is quiet and holds 16 MiB more than after the last collection', () => {
    const policy = new IdleCollection(100 * MiB);
    const quiet = { elapsedMicros: second, busyMicros: 10_000, newSpaceBytes: smallYoung };
    // Busy: never, however much it holds.
    expect(policy.next({ ...quiet, busyMicros: 400_000, heldBytes: 300 * MiB, newSpaceBytes: 32 * MiB })).toBe('none');
    // Quiet but not grown enough.
    expect(policy.next({ ...quiet, heldBytes: 110 * MiB })).toBe('none');
    // Quiet and grown.
    expect(policy.next({ ...quiet, heldBytes: 140 * MiB })).toBe('collect');
    policy.collected(90 * MiB, 'collect');
    expect(policy.next({ ...quiet, heldBytes: 100 * MiB })).toBe('none');
    // A GC of V8's own lowers the baseline: growth counts from there.
    expect(policy.next({ ...quiet, heldBytes: 60 * MiB })).toBe('none');
    expect(policy.next({ ...quiet, heldBytes: 80 * MiB })).toBe('collect');
  });

  it('counts growth from before a load, not from a low point during it', () => {
    const policy = new IdleCollection(100 * MiB);
    const quiet = { elapsedMicros: second, busyMicros: 10_000, newSpaceBytes: smallYoung };
    // A GC of V8's own mid-load: the heap dips below the baseline while busy, then grows again.
    expect(policy.next({ ...quiet, busyMicros: 900_000, heldBytes: 95 * MiB })).toBe('none');
    expect(policy.next({ ...quiet, busyMicros: 900_000, heldBytes: 108 * MiB })).toBe('none');
    expect(policy.next({ ...quiet, heldBytes: 120 * MiB })).toBe('collect');
  });

  it('gives a grown young generation back as soon as the process is quiet, without growth of the heap', () => {
    const policy = new IdleCollection(100 * MiB);
    const quiet = { elapsedMicros: second, busyMicros: 10_000, heldBytes: 101 * MiB, newSpaceBytes: 32 * MiB };
    expect(policy.next({ ...quiet, busyMicros: 600_000 })).toBe('none');
    expect(policy.next(quiet)).toBe('shrink');
    policy.collected(100 * MiB, 'shrink');
    // Given back: nothing more to do.
    for (let i = 0; i < 20; i++) expect(policy.next({ ...quiet, newSpaceBytes: smallYoung })).toBe('none');
    // A later load grows it again: once quiet, give it back again.
    expect(policy.next({ ...quiet, busyMicros: 600_000 })).toBe('none');
    expect(policy.next(quiet)).toBe('shrink');
  });

  it('when V8 kept the young generation, shrinks right after a collect, tries once more 6 quiet seconds later, then waits for the next load', () => {
    const policy = new IdleCollection(100 * MiB);
    const quiet = { elapsedMicros: second, busyMicros: 10_000, heldBytes: 140 * MiB, newSpaceBytes: 32 * MiB };
    expect(policy.next(quiet)).toBe('collect');
    policy.collected(100 * MiB, 'collect');
    const after = { ...quiet, heldBytes: 101 * MiB };
    // The collect kept it: a shrink at once, not a try counted against it.
    expect(policy.next(after)).toBe('shrink');
    policy.collected(100 * MiB, 'shrink');
    for (let i = 0; i < 5; i++) expect(policy.next(after)).toBe('none');
    expect(policy.next(after)).toBe('shrink');
    policy.collected(100 * MiB, 'shrink');
    for (let i = 0; i < 30; i++) expect(policy.next(after)).toBe('none');
    // A busy second arms it again.
    expect(policy.next({ ...after, busyMicros: 500_000 })).toBe('none');
    expect(policy.next(after)).toBe('shrink');
  });

  it('returns the malloc memory the idle collection freed to the system (a real Node process, compiled code)', () => {
    const script = `
      import { collectWhenIdle } from ${JSON.stringify(pathToFileURL(join(repoRoot, 'dist/src/cmd/heap-growth.js')).href)};
      const logged = [];
      collectWhenIdle({ debug: (o) => logged.push(o) }, 200);
      ${FRAGMENT_MALLOC}
      const before = process.memoryUsage.rss();
      // Until the idle collection has logged (or 20 s on a very busy machine).
      const started = Date.now();
      const poll = setInterval(() => {
        if (logged.length === 0 && Date.now() - started < 20_000) return;
        clearInterval(poll);
        console.log(JSON.stringify({ before, after: process.memoryUsage.rss(), logged, kept: keep.length }));
        process.exit(0);
      }, 100);
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    const r = JSON.parse(out) as { before: number; after: number; logged: { action: string; trimmedMiB?: number }[]; kept: number };
    expect(r.kept).toBe(7815);
    expect(r.logged[0]?.action).toBe('collect');
    // The GC alone freed the Buffers into malloc's holes; the trim after it gave the pages back.
    expect(r.logged[0]?.trimmedMiB).toBeGreaterThan(40);
    expect(r.before - r.after).toBeGreaterThan(40 * MiB);
  }, 60_000);

  it('gives a quiet process its heap pages and its young generation back (a real Node process, compiled code)', () => {
    // Long-lived objects scattered among dead ones, as a store's revisions are after a write
    // burst: a plain full GC frees the objects but keeps nearly every page.
    const script = `
      import { collectWhenIdle } from ${JSON.stringify(pathToFileURL(join(repoRoot, 'dist/src/cmd/heap-growth.js')).href)};
      const logged = [];
      collectWhenIdle({ debug: (o) => logged.push(o) }, 200);
      const keep = [];
      let junk = [];
      for (let i = 0; i < 1_500_000; i++) {
        const o = { a: i, b: 'x' + i, c: [i] };
        if (i % 4 === 0) keep.push(o); else junk.push(o);
        if (junk.length > 400_000) junk = [];
      }
      junk = null;
      const before = process.memoryUsage().heapTotal;
      const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
      const newBefore = newSpace();
      // A trickle of allocation, as an idle member's heartbeats make.
      const trickle = setInterval(() => { const a = []; for (let i = 0; i < 100; i++) a.push({ i }); }, 10);
      let after;
      let newAfter;
      setTimeout(() => { after = process.memoryUsage().heapTotal; newAfter = newSpace(); }, 1500);
      setTimeout(() => {
        clearInterval(trickle);
        console.log(JSON.stringify({ before, after, newBefore, newAfter, logged, kept: keep.length }));
      }, 8500);
    `;
    const out = execFileSync(process.execPath, ['--heap-growing-percent=100', '--input-type=module', '-e', `import { getHeapSpaceStatistics } from 'node:v8';\n${script}`], { encoding: 'utf8' });
    const r = JSON.parse(out) as { before: number; after: number; newBefore: number; newAfter: number; logged: { action: string; compact: boolean }[]; kept: number };
    expect(r.kept).toBe(375_000);
    expect(r.logged[0]).toMatchObject({ action: 'collect', compact: true });
    expect(r.after).toBeLessThan(r.before * 0.7);
    // The young generation grown by the burst is given back by that collection already (the minor
    // GCs before it), so the follow-up six quiet seconds later has nothing left to do.
    expect(r.newBefore).toBeGreaterThanOrEqual(16 * MiB);
    expect(r.newAfter).toBeLessThanOrEqual(4 * MiB);
    expect(r.logged.map((l) => l.action)).toEqual(['collect']);
  }, 60_000);

  it('gives the young generation back when the heap has not grown, as after a GC of V8 itself at the end of a load (a real Node process)', () => {
    const script = `
      import { getHeapSpaceStatistics } from 'node:v8';
      import { collectWhenIdle } from ${JSON.stringify(pathToFileURL(join(repoRoot, 'dist/src/cmd/heap-growth.js')).href)};
      const logged = [];
      collectWhenIdle({ debug: (o) => logged.push(o) }, 200);
      const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
      // Objects that live a little while, as requests in flight do: V8 grows the young generation.
      let inFlight = [];
      for (let i = 0; i < 3_000_000; i++) {
        inFlight.push({ a: i, b: [i] });
        if (inFlight.length > 50_000) inFlight = [];
      }
      inFlight = null;
      globalThis.gc();
      const newBefore = newSpace();
      let newAfter;
      setTimeout(() => { newAfter = newSpace(); }, 1500);
      // Then until the collection has logged (its line comes after the malloc trim), or 20 s.
      const started = Date.now();
      const poll = setInterval(() => {
        if (Date.now() - started < 2000 || (logged.length === 0 && Date.now() - started < 20_000)) return;
        clearInterval(poll);
        console.log(JSON.stringify({ newBefore, newAfter, logged }));
        process.exit(0);
      }, 100);
    `;
    const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
    const r = JSON.parse(out) as { newBefore: number; newAfter: number; logged: { action: string }[] };
    expect(r.newBefore).toBeGreaterThanOrEqual(16 * MiB);
    expect(r.newAfter).toBeLessThanOrEqual(4 * MiB);
    expect(r.logged.map((l) => l.action)).toEqual(['shrink']);
  }, 60_000);
});
