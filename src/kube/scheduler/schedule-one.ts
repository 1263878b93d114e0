// One scheduling decision (kube-scheduler's genericScheduler.Schedule): filter every node, score
// the feasible ones, pick the best, breaking ties at random.

import type { Pod } from '../client/core-types.js';
import { filterNode, fitErrorMessage } from './filters.js';
import type { NodeInfo } from './node-info.js';
import { scoreNodes } from './scores.js';

export type ScheduleResult =
  | { ok: true; nodeName: string; feasibleNodes: number; score: number }
  | { ok: false; message: string; reasons: Map<string, string[]> };

export function scheduleOne(pod: Pod, infos: readonly NodeInfo[], random: () => number): ScheduleResult {
  const feasible: NodeInfo[] = [];
  const reasons = new Map<string, string[]>();
  for (const info of infos) {
    const why = filterNode(pod, info);
    if (why.length === 0) feasible.push(info);
    else reasons.set(info.node.metadata.name ?? '', why);
  }
  if (feasible.length === 0) return { ok: false, message: fitErrorMessage(infos.length, [...reasons.values()]), reasons };
  const scores = scoreNodes(pod, feasible);
  // selectHost: reservoir sampling among the best, so equal nodes share the load.
  let best = -1;
  let chosen = 0;
  let ties = 0;
  scores.forEach((s, i) => {
    if (s > best) {
      best = s;
      chosen = i;
      ties = 1;
    } else if (s === best) {
      ties++;
      if (random() * ties < 1) chosen = i;
    }
  });
  return { ok: true, nodeName: feasible[chosen]?.node.metadata.name ?? '', feasibleNodes: feasible.length, score: best };
}
