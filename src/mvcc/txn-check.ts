// etcd 3.4's rule for keys written twice in one txn (etcdserver/api/v3rpc/key.go, checkIntervals).
// The API layer rejects such a txn with "etcdserver: duplicate key given in txn request" before it
// is proposed; the store itself would apply it. The rule is reproduced with its quirks, since a
// client can tell the difference:
// - a delete's range is [key, rangeEnd) taken literally: a "\0" range end (every key >= key) is an
//   empty interval here, so it conflicts with no put;
// - deletes may overlap each other, puts may not repeat, a put may not fall in a delete of the same
//   branch or of a nested txn already seen; a nested txn's then/else puts may share keys;
// - a nested delete is only checked against puts that come after it (in a later nested txn or at
//   the enclosing level), and nested deletes ending in "\0" are not carried up.

import type { RequestOp, TxnRequest } from './types.js';

/** [begin, end) over byte strings (latin1); end '' means unbounded, as etcd's StringAffineComparable. */
interface Interval {
  readonly begin: string;
  readonly end: string;
}

/** etcd's StringAffineComparable: the empty string is greater than every other string. */
function compareAffine(a: string, b: string): number {
  if (a === '') return b === '' ? 0 : 1;
  if (b === '') return -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether the point key intersects a delete's interval. */
function inDeletes(dels: readonly Interval[], key: string): boolean {
  for (const d of dels) {
    if (compareAffine(d.begin, key) <= 0 && compareAffine(key, d.end) < 0) return true;
  }
  return false;
}

interface Writes {
  puts: Set<string>;
  dels: Interval[];
}

/** The puts and deletes of one branch, or undefined when two of them collide. */
function checkIntervals(ops: readonly RequestOp[]): Writes | undefined {
  const dels: Interval[] = [];
  for (const op of ops) {
    if (!('deleteRange' in op)) continue;
    const key = op.deleteRange.key.toString('latin1');
    const end = op.deleteRange.rangeEnd.length !== 0 ? op.deleteRange.rangeEnd.toString('latin1') : `${key}\0`;
    dels.push({ begin: key, end });
  }

  const puts = new Set<string>();
  for (const op of ops) {
    if (!('txn' in op)) continue;
    const then = checkIntervals(op.txn.success);
    if (then === undefined) return undefined;
    const otherwise = checkIntervals(op.txn.failure);
    if (otherwise === undefined) return undefined;
    for (const k of then.puts) {
      if (puts.has(k) || inDeletes(dels, k)) return undefined;
      puts.add(k);
    }
    for (const k of otherwise.puts) {
      // Then and else exclude each other, so a key in both is fine.
      if ((puts.has(k) && !then.puts.has(k)) || inDeletes(dels, k)) return undefined;
      puts.add(k);
    }
    // etcd unions nested deletes that overlap ["\0", unbounded): all but those ending in "\0".
    for (const d of [...then.dels, ...otherwise.dels]) {
      if (d.begin !== '' && d.end !== '\0') dels.push(d);
    }
  }

  for (const op of ops) {
    if (!('put' in op)) continue;
    const k = op.put.key.toString('latin1');
    if (puts.has(k) || inDeletes(dels, k)) return undefined;
    puts.add(k);
  }
  return { puts, dels };
}

/**
 * True when etcd 3.4 would reject the txn with "duplicate key given in txn request": a key put
 * twice, or put and deleted, within one branch (nested txns included).
 */
export function checkTxnDuplicateKeys(req: TxnRequest): boolean {
  return checkIntervals(req.success) === undefined || checkIntervals(req.failure) === undefined;
}
