// ketch caps V8's old-generation growth at startup unless the operator chose a value, and runs a
// compacting full GC when it goes quiet with its heap grown.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';

import { IdleCollection, capHeapGrowth } from '../../src/cmd/heap-growth.js';

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
  it('collects once the process is quiet and holds 16 MiB more than after the last collection', () => {
    const policy = new IdleCollection(100 * MiB);
    const second = 1_000_000;
    // Busy: never, however much it holds.
    expect(policy.shouldCollect({ elapsedMicros: second, cpuMicros: 400_000, heldBytes: 300 * MiB })).toBe(false);
    // Quiet but not grown enough.
    expect(policy.shouldCollect({ elapsedMicros: second, cpuMicros: 10_000, heldBytes: 110 * MiB })).toBe(false);
    // Quiet and grown.
    expect(policy.shouldCollect({ elapsedMicros: second, cpuMicros: 10_000, heldBytes: 140 * MiB })).toBe(true);
    policy.collected(90 * MiB);
    expect(policy.shouldCollect({ elapsedMicros: second, cpuMicros: 10_000, heldBytes: 100 * MiB })).toBe(false);
    // A GC of V8's own lowers the baseline: growth counts from there.
    expect(policy.shouldCollect({ elapsedMicros: second, cpuMicros: 10_000, heldBytes: 60 * MiB })).toBe(false);
    expect(policy.shouldCollect({ elapsedMicros: second, cpuMicros: 10_000, heldBytes: 80 * MiB })).toBe(true);
  });

  it('gives a quiet process its heap pages back (a real Node process, compiled code)', () => {
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
      setTimeout(() => {
        console.log(JSON.stringify({ before, after: process.memoryUsage().heapTotal, logged, kept: keep.length }));
      }, 1500);
      setTimeout(() => {}, 1600);
    `;
    const out = execFileSync(process.execPath, ['--heap-growing-percent=100', '--input-type=module', '-e', script], { encoding: 'utf8' });
    const { before, after, logged, kept } = JSON.parse(out) as { before: number; after: number; logged: { compact: boolean }[]; kept: number };
    expect(kept).toBe(375_000);
    expect(logged.length).toBeGreaterThanOrEqual(1);
    expect(logged[0]?.compact).toBe(true);
    expect(after).toBeLessThan(before * 0.7);
  }, 60_000);
});
