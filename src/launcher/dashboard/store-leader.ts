import type { StoreView } from './dashboard-types.js';

/**
 * The member that leads now: among running (not paused) members that say they lead, the one with
 * the highest term. A paused leader keeps its last answer, but leads nobody. Shared by the
 * timeline (server) and the leader badge (page), so both name the same member.
 */
export function clusterLeader(stores: readonly StoreView[]): StoreView | undefined {
  let best: StoreView | undefined;
  for (const s of stores) {
    if (s.state !== 'up' || !s.leader) continue;
    if (best === undefined || (s.term ?? 0) > (best.term ?? 0)) best = s;
  }
  return best;
}

