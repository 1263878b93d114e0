import type { AuthStateJSON } from './auth/auth-store.js';

/**
 * The replicated state as one blob: what a leader sends a follower that fell behind the log, and what
 * the Snapshot RPC streams. Layout: magic "KETCHST1", 4-byte header length, JSON header (applied
 * index, membership, leases), then the MVCC store's own snapshot bytes.
 */
const MAGIC = Buffer.from('KETCHST1');

export interface StateSnapshot {
  applied: number;
  membership: { members: Array<{ id: string; name: string; peerURLs: string[]; clientURLs: string[]; isLearner: boolean }>; removed: string[]; alarms: string[] };
  /** Every lease's ID and granted TTL (absent in snapshots from before leases existed). */
  leases?: Array<{ id: string; ttl: number }>;
  /** Users, roles and the auth switch (absent in snapshots from before auth existed). */
  auth?: AuthStateJSON;
  mvcc: Buffer;
}

export function encodeStateSnapshot(s: StateSnapshot): Buffer {
  const header = Buffer.from(JSON.stringify({ applied: s.applied, membership: s.membership, leases: s.leases ?? [], auth: s.auth }));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(header.length);
  return Buffer.concat([MAGIC, len, header, s.mvcc]);
}

export function decodeStateSnapshot(data: Buffer): StateSnapshot {
  if (data.length < MAGIC.length + 4 || !data.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new Error('not a ketch state snapshot (bad magic)');
  }
  const len = data.readUInt32BE(MAGIC.length);
  const start = MAGIC.length + 4;
  const header = JSON.parse(data.subarray(start, start + len).toString()) as Omit<StateSnapshot, 'mvcc'>;
  return { ...header, mvcc: data.subarray(start + len) };
}
