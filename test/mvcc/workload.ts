// A seeded generator of random MVCC requests, shared by the model test and the real-etcd test.

import type { Compare, RangeRequest, RequestOp, TxnRequest } from '../../src/mvcc/types.js';
import type { SeededRandom } from '../../src/util/prng.js';
import { b, prefixEnd } from './helpers.js';

const KEYS = ['a', 'a\0', 'a/1', 'a/2', 'ab', 'b', 'b\xff', 'c', 'd/x', 'd/y', '\xff'];
const SORT_ORDERS = ['NONE', 'ASCEND', 'DESCEND'] as const;
const SORT_TARGETS = ['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'] as const;
const COMPARE_TARGETS = ['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE'] as const;
const COMPARE_RESULTS = ['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'] as const;

/** Random requests over a small key space, so keys collide, ranges overlap and txns conflict. */
export class Generator {
  constructor(
    private readonly rnd: SeededRandom,
    /** Lease IDs to draw from ('0' = none), repeated for weight. */
    private readonly leases: readonly string[],
    /** A lease the lessor does not know, used in a tenth of the puts. */
    private readonly missingLease: string,
    private readonly rev: () => number,
    private readonly compactRev: () => number,
  ) {}

  key(): string {
    return this.rnd.pick(KEYS);
  }

  value(): string {
    const n = this.rnd.int(4);
    let v = '';
    for (let i = 0; i < n; i++) v += this.rnd.pick(['x', 'y', '\0', '\xff']);
    return v;
  }

  /** '' (single key), '\0' (from key), a prefix's end, or any key. */
  end(): string {
    const r = this.rnd.int(10);
    if (r < 4) return '';
    if (r < 6) return '\0';
    if (r < 8) return prefixEnd(this.key().slice(0, 1));
    return this.key();
  }

  revisionNear(): number {
    return Math.max(-2, this.compactRev() - 1 + this.rnd.int(this.rev() - this.compactRev() + 3));
  }

  range(): RangeRequest {
    const rnd = this.rnd;
    const filter = (): number => (rnd.chance(0.85) ? 0 : this.revisionNear());
    return {
      key: b(this.key()),
      rangeEnd: b(this.end()),
      limit: rnd.chance(0.5) ? 0 : rnd.int(5) - 1,
      revision: rnd.chance(0.6) ? 0 : this.revisionNear(),
      sortOrder: rnd.pick(SORT_ORDERS),
      sortTarget: rnd.pick(SORT_TARGETS),
      keysOnly: rnd.chance(0.2),
      countOnly: rnd.chance(0.1),
      minModRevision: filter(),
      maxModRevision: filter(),
      minCreateRevision: filter(),
      maxCreateRevision: filter(),
    };
  }

  /** A put the API layer accepts: no value with ignoreValue, no lease with ignoreLease. */
  put(): RequestOp {
    const rnd = this.rnd;
    const ignoreValue = rnd.chance(0.08);
    const ignoreLease = rnd.chance(0.08);
    const value = this.value();
    const lease = rnd.chance(0.9) ? rnd.pick(this.leases) : this.missingLease;
    return {
      put: {
        key: b(this.key()),
        value: b(ignoreValue ? '' : value),
        lease: ignoreLease ? '0' : lease,
        prevKv: rnd.chance(0.5),
        ignoreValue,
        ignoreLease,
      },
    };
  }

  deleteRange(): RequestOp {
    return { deleteRange: { key: b(this.key()), rangeEnd: b(this.end()), prevKv: this.rnd.chance(0.5) } };
  }

  compare(): Compare {
    const rnd = this.rnd;
    return {
      key: b(this.key()),
      rangeEnd: b(rnd.chance(0.7) ? '' : this.end()),
      target: rnd.pick(COMPARE_TARGETS),
      result: rnd.pick(COMPARE_RESULTS),
      version: rnd.int(4),
      createRevision: this.revisionNear(),
      modRevision: this.revisionNear(),
      value: b(this.value()),
      lease: rnd.pick(this.leases),
    };
  }

  txn(depth = 0): TxnRequest {
    const rnd = this.rnd;
    const ops = (): RequestOp[] => {
      const n = rnd.int(4);
      const list: RequestOp[] = [];
      for (let i = 0; i < n; i++) {
        const r = rnd.int(10);
        if (r < 3) list.push({ range: this.range() });
        else if (r < 6) list.push(this.put());
        else if (r < 8) list.push(this.deleteRange());
        else if (depth < 2) list.push({ txn: this.txn(depth + 1) });
      }
      return list;
    };
    const compare: Compare[] = [];
    for (let i = rnd.int(3); i > 0; i--) compare.push(this.compare());
    return { compare, success: ops(), failure: ops() };
  }
}
