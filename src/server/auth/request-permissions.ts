import type { MvccStore } from '../../mvcc/mvcc-store.js';
import type { DeleteRangeRequest, PutRequest, RequestOp, TxnRequest } from '../../mvcc/types.js';
import type { AuthInfo, AuthStore } from './auth-store.js';

/**
 * What each KV request needs, as etcd 3.4's authApplierV3 checks it: a put needs write on its key
 * (and read with prev_kv), and may not attach a lease whose keys the user could not write; a delete
 * needs write on its range (and read with prev_kv); a txn needs read on every compared key and what
 * each of its operations needs, nested txns included.
 */

export function checkPut(auth: AuthStore, info: AuthInfo | undefined, put: PutRequest, mvcc: MvccStore): void {
  auth.checkPut(info, put.key);
  if (put.lease !== '0' && put.lease !== '') checkLeaseKeys(auth, info, put.lease, mvcc);
  if (put.prevKv) auth.checkRange(info, put.key, Buffer.alloc(0));
}

export function checkDeleteRange(auth: AuthStore, info: AuthInfo | undefined, del: DeleteRangeRequest): void {
  if (del.prevKv) auth.checkRange(info, del.key, del.rangeEnd);
  auth.checkDeleteRange(info, del.key, del.rangeEnd);
}

export function checkTxn(auth: AuthStore, info: AuthInfo | undefined, txn: TxnRequest, mvcc: MvccStore): void {
  for (const c of txn.compare) auth.checkRange(info, c.key, c.rangeEnd);
  const ops = (list: RequestOp[]): void => {
    for (const op of list) {
      if ('range' in op) auth.checkRange(info, op.range.key, op.range.rangeEnd);
      else if ('put' in op) checkPut(auth, info, op.put, mvcc);
      else if ('deleteRange' in op) checkDeleteRange(auth, info, op.deleteRange);
      else checkTxn(auth, info, op.txn, mvcc);
    }
  };
  ops(txn.success);
  ops(txn.failure);
}

/** A lease may be revoked (or attached) only by a user who may write every key it holds. */
export function checkLeaseKeys(auth: AuthStore, info: AuthInfo | undefined, leaseId: string, mvcc: MvccStore): void {
  if (!auth.enabled || auth.isAdmin(info)) return;
  for (const key of mvcc.keysWithLease(leaseId)) auth.checkPut(info, key);
}
