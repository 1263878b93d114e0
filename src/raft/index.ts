export * from './types.js';
export { RaftNode, type RaftStatus } from './raft-node.js';
export { encodeConfChange, decodeConfChange } from './conf-change.js';
export { bootstrapState, joiningState } from './bootstrap.js';
