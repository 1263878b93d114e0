// goSort is Go's sort.Sort: it must sort (whatever the input pattern), keep every element, be
// stable up to 12 elements (insertion sort), and give the same order for the same input. That it
// orders ties exactly as Go 1.19's pdqsort does is checked against a real etcd 3.4 in
// real-etcd.test.ts (sorted Ranges of hundreds of kvs with many equal versions and values).
import { describe, expect, it } from 'vitest';

import { goSort } from '../../src/mvcc/go-sort.js';
import { SeededRandom } from '../../src/util/prng.js';

interface Item {
  key: number;
  id: number;
}

const less = (a: Item, b: Item): boolean => a.key < b.key;

function patterns(rnd: SeededRandom, n: number): Array<[string, number[]]> {
  const range = (f: (i: number) => number): number[] => Array.from({ length: n }, (_, i) => f(i));
  return [
    ['random', range(() => rnd.int(1000))],
    ['few distinct', range(() => rnd.int(3))],
    ['all equal', range(() => 7)],
    ['ascending', range((i) => i)],
    ['descending', range((i) => n - i)],
    ['organ pipe', range((i) => Math.min(i, n - i))],
    ['sawtooth', range((i) => i % 17)],
    ['almost sorted', range((i) => (i % 50 === 0 ? rnd.int(n) : i))],
  ];
}

describe('goSort', () => {
  it('sorts every pattern and size into a permutation of its input', () => {
    const rnd = new SeededRandom(99);
    for (const n of [0, 1, 2, 12, 13, 49, 50, 51, 200, 1000, 5000]) {
      for (const [name, keys] of patterns(rnd, n)) {
        const items = keys.map((key, id) => ({ key, id }));
        goSort(items, less);
        for (let i = 1; i < items.length; i++) {
          expect((items[i - 1] as Item).key <= (items[i] as Item).key, `${name} n=${n} at ${i}`).toBe(true);
        }
        expect(items.map((x) => x.id).sort((a, b) => a - b)).toEqual(keys.map((_, id) => id));
      }
    }
  });

  it('is stable up to 12 elements and deterministic beyond', () => {
    const rnd = new SeededRandom(5);
    for (let round = 0; round < 50; round++) {
      const small = Array.from({ length: 12 }, (_, id) => ({ key: rnd.int(3), id }));
      goSort(small, less);
      expect(small).toEqual([...small].sort((a, b) => a.key - b.key || a.id - b.id));
    }
    const keys = Array.from({ length: 500 }, () => rnd.int(4));
    const once = keys.map((key, id) => ({ key, id }));
    const again = keys.map((key, id) => ({ key, id }));
    goSort(once, less);
    goSort(again, less);
    expect(again).toEqual(once);
    // Not stable for larger inputs, like Go's.
    expect(once).not.toEqual([...once].sort((a, b) => a.key - b.key || a.id - b.id));
  });
});
