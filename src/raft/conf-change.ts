import { type ConfChange, ConfChangeType, type ConfState, type NodeId } from './types.js';

/**
 * Conf changes travel inside log entries; this is their encoding (JSON, as they are rare and small,
 * so a log dump stays readable).
 */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  const json = JSON.stringify({
    type: cc.type,
    nodeId: cc.nodeId,
    context: Buffer.from(cc.context).toString('base64'),
  });
  return new TextEncoder().encode(json);
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const raw = JSON.parse(new TextDecoder().decode(data)) as { type: number; nodeId: string; context: string };
  if (![ConfChangeType.AddNode, ConfChangeType.RemoveNode, ConfChangeType.AddLearner].includes(raw.type)) {
    throw new Error(`unknown conf change type ${raw.type}`);
  }
  return { type: raw.type as ConfChangeType, nodeId: raw.nodeId, context: Buffer.from(raw.context, 'base64') };
}

/** Membership after applying one change (single-server changes, no joint consensus). */
export function applyToConfState(cs: ConfState, cc: ConfChange): ConfState {
  const voters = new Set<NodeId>(cs.voters);
  const learners = new Set<NodeId>(cs.learners);
  switch (cc.type) {
    case ConfChangeType.AddNode:
      learners.delete(cc.nodeId);
      voters.add(cc.nodeId);
      break;
    case ConfChangeType.AddLearner:
      // Demoting a voter to learner is not supported: it would be two changes at once.
      if (!voters.has(cc.nodeId)) learners.add(cc.nodeId);
      break;
    case ConfChangeType.RemoveNode:
      voters.delete(cc.nodeId);
      learners.delete(cc.nodeId);
      break;
  }
  return { voters: [...voters].sort(), learners: [...learners].sort() };
}
