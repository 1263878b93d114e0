// Every indexed key, findable by key in O(1) and walkable in key order. A hash map serves the hot
// single-key path (put, get); a B+ tree (sorted-btree) serves ranges. A sorted array would make
// every new key an O(n) insert, which a store of 10^5..10^6 keys cannot afford.
//
// Keys are latin1 strings: JS compares strings by UTF-16 code unit, and latin1 maps byte b to code
// unit b, so string order is bytewise key order (etcd's bytes.Compare).

import { createRequire } from 'node:module';

import type SortedBTree from 'sorted-btree';

import { KeyIndex } from './key-index.js';

// sorted-btree is CommonJS; loaders disagree on how a default export crosses into ESM, so take it
// from require, where it is always `module.exports.default`.
const require = createRequire(import.meta.url);
const BTree = (require('sorted-btree') as { default: typeof SortedBTree.default }).default;

/** The part of sorted-btree's BTree this file uses. */
interface OrderedMap<V> {
  readonly size: number;
  get(key: string): V | undefined;
  set(key: string, value: V): boolean;
  delete(key: string): boolean;
  maxKey(): string | undefined;
  forRange(low: string, high: string, includeHigh: boolean, onFound: (k: string, v: V) => void): number;
  forEachPair(callback: (k: string, v: V) => void): number;
}

const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class TreeIndex {
  private readonly byKey = new Map<string, KeyIndex>();
  private readonly ordered: OrderedMap<KeyIndex> = new BTree<string, KeyIndex>(undefined, compareStrings);

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): KeyIndex | undefined {
    return this.byKey.get(key);
  }

  /** Adds an index for a key that has none. */
  insert(key: string): KeyIndex {
    if (this.byKey.has(key)) throw new Error('mvcc: key already indexed');
    const ki = new KeyIndex(key);
    this.byKey.set(key, ki);
    this.ordered.set(key, ki);
    return ki;
  }

  remove(key: string): void {
    this.byKey.delete(key);
    this.ordered.delete(key);
  }

  /**
   * Visits, in key order, the indexes of keys in [begin, end); end '' means no upper bound
   * (etcd's "\0" range end). The callback must not add or remove keys.
   */
  forRange(begin: string, end: string, visit: (ki: KeyIndex) => void): void {
    if (end === '') {
      const last = this.ordered.maxKey();
      if (last === undefined || last < begin) return;
      this.ordered.forRange(begin, last, true, (_k, ki) => visit(ki));
      return;
    }
    if (!(begin < end)) return;
    this.ordered.forRange(begin, end, false, (_k, ki) => visit(ki));
  }

  /** Visits every index in key order. The callback must not add or remove keys. */
  forEach(visit: (ki: KeyIndex) => void): void {
    this.ordered.forEachPair((_k, ki) => visit(ki));
  }
}
