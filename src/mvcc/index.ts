export * from './types.js';
export { DELETED_IN_TXN, MvccStore } from './mvcc-store.js';
export { checkTxnDuplicateKeys } from './txn-check.js';
export { COMPACT_REVISION_KEY, REVISION_PREFIX } from './record-codec.js';
