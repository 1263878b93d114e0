import { encodeConfChange } from './conf-change.js';
import { ConfChangeType, type Entry, EntryType, NONE, type NodeId, type PersistedState } from './types.js';

/**
 * The state of a member of a brand-new cluster, as etcd bootstraps one: the log starts with one
 * AddNode entry per initial member (term 1, committed), so every member, and every member added
 * later that replays the log, learns the initial membership the same way.
 */
export function bootstrapState(
  members: ReadonlyArray<{ id: NodeId; context?: Uint8Array }>,
): PersistedState {
  const entries: Entry[] = members.map((m, i) => ({
    term: 1,
    index: i + 1,
    type: EntryType.ConfChange,
    data: encodeConfChange({ type: ConfChangeType.AddNode, nodeId: m.id, context: m.context ?? new Uint8Array() }),
  }));
  return {
    hardState: { term: 1, vote: NONE, commit: entries.length },
    entries,
    confState: { voters: [], learners: [] },
    applied: 0,
  };
}

/** The state of a member joining an existing cluster: empty; it learns everything from the leader. */
export function joiningState(): PersistedState {
  return {
    hardState: { term: 0, vote: NONE, commit: 0 },
    entries: [],
    confState: { voters: [], learners: [] },
    applied: 0,
  };
}
