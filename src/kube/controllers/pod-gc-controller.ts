// PodGC (pkg/controller/podgc): every 20 s, pods bound to a node that no longer exists (absent
// from the cache for two passes in a row, then confirmed by a live read) are force-deleted, and
// pods being deleted that were never scheduled are deleted at once (no kubelet will finish them).

import type { Logger } from 'pino';
import { describeError, isNotFound } from '../client/api-error.js';
import type { Node, Pod } from '../client/core-types.js';
import { NODES, PODS } from '../client/resource-ref.js';
import type { Informer } from '../informer/informer.js';
import { NotLeaderError } from '../leader-election/leader-elector.js';
import type { ControllerContext } from './replicaset-controller.js';

export const POD_GC_PERIOD_MS = 20_000;

/** Pods to force-delete now; `suspects` carries nodes seen missing in the previous pass. */
export function orphanedPods(pods: readonly Pod[], nodeExists: (name: string) => boolean, suspects: ReadonlySet<string>): { orphans: Pod[]; unscheduledTerminating: Pod[]; missingNodes: Set<string> } {
  const missingNodes = new Set<string>();
  const orphans: Pod[] = [];
  const unscheduledTerminating: Pod[] = [];
  for (const pod of pods) {
    const node = pod.spec.nodeName ?? '';
    if (node === '') {
      if (pod.metadata.deletionTimestamp !== undefined) unscheduledTerminating.push(pod);
      continue;
    }
    if (nodeExists(node)) continue;
    missingNodes.add(node);
    if (suspects.has(node)) orphans.push(pod);
  }
  return { orphans, unscheduledTerminating, missingNodes };
}

export class PodGcController {
  private readonly podInf: Informer<Pod>;
  private readonly nodeInf: Informer<Node>;
  private suspects = new Set<string>();
  private readonly log: Logger | undefined;

  constructor(
    private readonly ctx: ControllerContext,
    private readonly periodMs = POD_GC_PERIOD_MS,
  ) {
    this.podInf = ctx.informers.get<Pod>(PODS);
    this.nodeInf = ctx.informers.get<Node>(NODES);
    this.log = ctx.logger?.child({ controller: 'podgc' });
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!(await this.ctx.informers.waitForSync(signal))) return;
    while (await this.ctx.clock.sleep(this.periodMs, signal)) {
      try {
        await this.pass();
      } catch (err) {
        if (err instanceof NotLeaderError) return;
        this.log?.warn({ err: describeError(err) }, 'pod GC pass failed');
      }
    }
  }

  async pass(): Promise<void> {
    const { orphans, unscheduledTerminating, missingNodes } = orphanedPods(this.podInf.list(), (n) => this.nodeInf.get(undefined, n) !== undefined, this.suspects);
    this.suspects = missingNodes;
    const confirmed = new Map<string, boolean>();
    for (const pod of orphans) {
      const node = pod.spec.nodeName ?? '';
      if (!confirmed.has(node)) {
        try {
          await this.ctx.client.get<Node>(NODES, undefined, node);
          confirmed.set(node, false);
        } catch (err) {
          if (!isNotFound(err)) throw err;
          confirmed.set(node, true);
        }
      }
      if (confirmed.get(node) === true) await this.forceDelete(pod, `node ${node} no longer exists`);
    }
    for (const pod of unscheduledTerminating) await this.forceDelete(pod, 'terminating and never scheduled');
  }

  private async forceDelete(pod: Pod, why: string): Promise<void> {
    try {
      await this.ctx.client.delete(PODS, pod.metadata.namespace, pod.metadata.name ?? '', { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } });
      this.log?.info({ pod: `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`, why }, 'force-deleted pod');
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
