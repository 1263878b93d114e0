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
  return encodeStateSnapshotAround(s, (before) => {
    const out = Buffer.allocUnsafe(before + s.mvcc.length);
    s.mvcc.copy(out, before);
    return out;
  });
}

/**
 * The state snapshot with the MVCC bytes written by `mvcc(before, after)` straight into the buffer
 * that holds it all (at [before, length - after)): the header goes in front without copying the
 * 100+ MiB behind it. The result sits at [reserve.before, length - reserve.after).
 */
export function encodeStateSnapshotAround(
  s: Omit<StateSnapshot, 'mvcc'>,
  mvcc: (before: number, after: number) => Buffer,
  reserve: { before: number; after: number } = { before: 0, after: 0 },
): Buffer {
  const header = Buffer.from(JSON.stringify({ applied: s.applied, membership: s.membership, leases: s.leases ?? [], auth: s.auth }));
  const buf = mvcc(reserve.before + MAGIC.length + 4 + header.length, reserve.after);
  let at = reserve.before;
  at += MAGIC.copy(buf, at);
  at = buf.writeUInt32BE(header.length, at);
  header.copy(buf, at);
  return buf;
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
