import { createHash } from 'node:crypto';

/**
 * Member and cluster IDs computed exactly as etcd does (etcdserver/api/membership), so every member
 * of a new cluster derives the same IDs from the same flags, and etcdctl shows familiar values.
 * IDs are uint64, kept as lower-case hex strings without leading zeros (etcd's types.ID format).
 */
export function memberId(peerURLs: readonly string[], clusterToken: string, unixSeconds?: number): string {
  let text = [...peerURLs].sort().join('') + clusterToken;
  if (unixSeconds !== undefined) text += String(unixSeconds);
  return first8BytesHex(createHash('sha1').update(text).digest());
}

function first8BytesHex(digest: Buffer): string {
  return digest.readBigUInt64BE(0).toString(16);
}

/** The cluster ID: the first 8 bytes of sha1 over the sorted member IDs (8 bytes big-endian each). */
export function clusterId(memberIds: readonly string[]): string {
  const sorted = [...memberIds].sort((a, b) => (BigInt(`0x${a}`) < BigInt(`0x${b}`) ? -1 : 1));
  const buf = Buffer.alloc(8 * sorted.length);
  sorted.forEach((id, i) => buf.writeBigUInt64BE(BigInt(`0x${id}`), 8 * i));
  return first8BytesHex(createHash('sha1').update(buf).digest());
}

/** Hex ID to the decimal string uint64 proto fields carry. */
export function idToDecimal(hex: string): string {
  return BigInt(`0x${hex}`).toString(10);
}

/** Decimal (or number) uint64 from the wire to our hex form. */
export function idFromDecimal(decimal: string | number): string {
  return BigInt(decimal).toString(16);
}
