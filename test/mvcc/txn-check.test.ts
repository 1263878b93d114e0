// etcd 3.4's duplicate-key rule for txns. The verdicts below are the ones a real etcd 3.4 gives
// (real-etcd.test.ts asks it the same questions).
import { describe, expect, it } from 'vitest';

import { checkTxnDuplicateKeys } from '../../src/mvcc/txn-check.js';
import type { RequestOp, TxnRequest } from '../../src/mvcc/types.js';
import { delReq, putReq, rangeReq, txnReq } from './helpers.js';

const put = (k: string): RequestOp => ({ put: putReq(k, 'v') });
const del = (k: string, end = ''): RequestOp => ({ deleteRange: delReq(k, end) });
const get = (k: string): RequestOp => ({ range: rangeReq(k) });
const nested = (success: RequestOp[], failure: RequestOp[] = []): RequestOp => ({ txn: txnReq([], success, failure) });

const cases: Array<[string, TxnRequest, boolean]> = [
  ['two puts of a key', txnReq([], [put('a'), put('a')]), true],
  ['a put and a read of a key', txnReq([], [put('a'), get('a')]), false],
  ['a put and a delete of a key', txnReq([], [del('a'), put('a')]), true],
  ['a put inside a deleted range', txnReq([], [put('b'), del('a', 'c')]), true],
  ['a put at the end of a deleted range', txnReq([], [put('c'), del('a', 'c')]), false],
  // etcd takes the "\0" end literally here: an empty interval.
  ['a put after a delete-from-key', txnReq([], [put('b'), del('a', '\0')]), false],
  ['overlapping deletes', txnReq([], [del('a', 'z'), del('b')]), false],
  ['the same put in both branches', txnReq([], [put('a')], [put('a')]), false],
  ['the same put in a nested then and else', txnReq([], [nested([put('a')], [put('a')])]), false],
  ['a nested put and an outer put', txnReq([], [put('a'), nested([put('a')])]), true],
  ['an outer delete and a nested put', txnReq([], [del('a'), nested([put('a')])]), true],
  ['a nested delete and an outer put', txnReq([], [nested([del('a')]), put('a')]), true],
  ['a nested delete, then a nested put', txnReq([], [nested([del('a')]), nested([put('a')])]), true],
  // Deletes are only checked against puts after them.
  ['a nested put, then a nested delete', txnReq([], [nested([put('a')]), nested([del('a')])]), false],
  ['a nested delete-from-key and an outer put', txnReq([], [nested([del('a', '\0')]), put('b')]), false],
  ['sibling nested txns putting a key', txnReq([], [nested([put('a')]), nested([], [put('a')])]), true],
  ['distinct keys', txnReq([], [put('a'), put('b'), nested([put('c')], [put('c')])]), false],
  ['a duplicate two levels down', txnReq([], [nested([nested([put('x'), put('x')])])]), true],
];

describe('checkTxnDuplicateKeys', () => {
  for (const [what, req, duplicate] of cases) {
    it(`${what}: ${duplicate ? 'rejected' : 'accepted'}`, () => {
      expect(checkTxnDuplicateKeys(req)).toBe(duplicate);
    });
  }
});
