export { MemberStore, type Recovered, type RaftWrite, type StorageLogger, type StorageOp } from './member-store.js';
export { StorageError, StorageErrorCode } from './storage-error.js';
