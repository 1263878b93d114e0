// ketch caps V8's old-generation growth at startup unless the operator chose a value.
import { getHeapStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';

import { capHeapGrowth } from '../../src/cmd/heap-growth.js';

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
