// The node lifecycle controller loop: every --node-monitor-period it checks each node's
// heartbeat (its Lease in kube-node-lease and its Ready condition's lastHeartbeatTime), judged
// on this controller's own clock from when it last saw either change, exactly as kube does; a
// node silent for --node-monitor-grace-period goes Ready=Unknown and gets the unreachable taints,
// and the taint manager evicts pods that do not tolerate them (after the default toleration of
// --pod-eviction-timeout for pods without their own). Replacement pods are then made by their
// ReplicaSets and scheduled elsewhere. Pods on an unreachable node stay Terminating until its
// kubelet confirms (as in kube: nobody can know the containers stopped).

import type { Logger } from 'pino';
import { describeError, isNotFound } from '../client/api-error.js';
import type { Lease } from '../client/coordination-types.js';
import type { Node, Pod } from '../client/core-types.js';
import { LEASES, NODES, PODS } from '../client/resource-ref.js';
import type { Informer } from '../informer/informer.js';
import { NotLeaderError } from '../leader-election/leader-elector.js';
import { isPodActive } from './controller-ref.js';
import { BY_NODE, indexPodsByNode } from './indexes.js';
import { desiredTaints, evictionTimeMs, podNotReadyConditions, readyStatus, taintsEqual, unknownConditions } from './node-lifecycle.js';
import type { ControllerContext } from './replicaset-controller.js';

export interface NodeLifecycleOptions {
  monitorPeriodMs: number;
  gracePeriodMs: number;
  /** Toleration assumed for pods that have none for the unreachable/not-ready taints. */
  podEvictionTimeoutSeconds: number;
}

export const DEFAULT_NODE_LIFECYCLE: NodeLifecycleOptions = { monitorPeriodMs: 5000, gracePeriodMs: 40_000, podEvictionTimeoutSeconds: 300 };

interface Health {
  probeMs: number;
  leaseRenewTime: string | undefined;
  heartbeat: string | undefined;
}

export class NodeLifecycleController {
  private readonly nodeInf: Informer<Node>;
  private readonly leaseInf: Informer<Lease>;
  private readonly podInf: Informer<Pod>;
  private readonly health = new Map<string, Health>();
  private readonly evicting = new Set<string>();
  private readonly log: Logger | undefined;

  constructor(
    private readonly ctx: ControllerContext,
    private readonly opts: NodeLifecycleOptions = DEFAULT_NODE_LIFECYCLE,
  ) {
    this.nodeInf = ctx.informers.get<Node>(NODES);
    this.leaseInf = ctx.informers.get<Lease>(LEASES, 'kube-node-lease');
    this.podInf = ctx.informers.get<Pod>(PODS);
    indexPodsByNode(this.podInf);
    this.log = ctx.logger?.child({ controller: 'nodelifecycle' });
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!(await this.ctx.informers.waitForSync(signal))) return;
    do {
      try {
        await this.monitorNodeHealth();
        await this.evictPods();
      } catch (err) {
        if (err instanceof NotLeaderError) return;
        this.log?.warn({ err: describeError(err) }, 'node monitoring pass failed');
      }
    } while (await this.ctx.clock.sleep(this.opts.monitorPeriodMs, signal));
  }

  async monitorNodeHealth(): Promise<void> {
    const nowMs = this.ctx.clock.nowMs();
    const wall = this.ctx.clock.wallTime();
    const seen = new Set<string>();
    for (const node of this.nodeInf.list()) {
      const name = node.metadata.name ?? '';
      seen.add(name);
      const lease = this.leaseInf.get('kube-node-lease', name);
      const renew = lease?.spec?.renewTime ?? undefined;
      const heartbeat = node.status?.conditions?.find((c) => c.type === 'Ready')?.lastHeartbeatTime;
      let h = this.health.get(name);
      if (h === undefined) {
        h = { probeMs: nowMs, leaseRenewTime: renew, heartbeat };
        this.health.set(name, h);
        // As kube's node controller: each term's controller announces the nodes it now watches.
        this.ctx.recorder.event(node, 'Normal', 'RegisteredNode', `Node ${name} event: Registered Node ${name} in Controller`);
      }
      if (renew !== h.leaseRenewTime) {
        h.leaseRenewTime = renew;
        h.probeMs = nowMs;
      }
      if (heartbeat !== h.heartbeat) {
        h.heartbeat = heartbeat;
        h.probeMs = nowMs;
      }
      let current = node;
      if (nowMs - h.probeMs > this.opts.gracePeriodMs && readyStatus(node) !== 'Unknown') {
        this.log?.info({ node: name, silentForMs: nowMs - h.probeMs }, 'node stopped posting status: Ready=Unknown');
        try {
          current = await this.ctx.client.update<Node>(NODES, { ...node, status: { ...(node.status ?? {}), conditions: unknownConditions(node, wall) } }, { subresource: 'status' });
          this.ctx.recorder.event(node, 'Normal', 'NodeNotReady', `Node ${name} status is now: NodeNotReady`);
          await this.markPodsNotReady(name, wall);
        } catch (err) {
          if (err instanceof NotLeaderError) throw err;
          this.log?.warn({ node: name, err: describeError(err) }, 'could not mark node Unknown');
          continue;
        }
      }
      const taints = desiredTaints(current, wall);
      if (!taintsEqual(taints, current.spec?.taints)) {
        try {
          await this.ctx.client.patch(NODES, undefined, name, 'merge', { metadata: { resourceVersion: current.metadata.resourceVersion }, spec: { taints } });
        } catch (err) {
          if (err instanceof NotLeaderError) throw err;
          this.log?.debug({ node: name, err: describeError(err) }, 'could not update node taints');
        }
      }
    }
    for (const name of [...this.health.keys()]) if (!seen.has(name)) this.health.delete(name);
  }

  /** nodeutil.MarkPodsNotReady: nobody can vouch for these pods now, so Services stop sending them traffic. */
  private async markPodsNotReady(nodeName: string, wall: Date): Promise<void> {
    for (const pod of this.podInf.byIndex(BY_NODE, nodeName)) {
      const conditions = podNotReadyConditions(pod, wall);
      if (conditions === undefined) continue;
      try {
        await this.ctx.client.patch(PODS, pod.metadata.namespace, pod.metadata.name ?? '', 'merge', { status: { conditions } }, { subresource: 'status' });
        this.ctx.recorder.event(pod, 'Warning', 'NodeNotReady', 'Node is not ready');
      } catch (err) {
        if (err instanceof NotLeaderError) throw err;
        this.log?.debug({ pod: pod.metadata.name, err: describeError(err) }, 'could not mark pod not ready');
      }
    }
  }

  async evictPods(): Promise<void> {
    const nowWall = this.ctx.clock.wallTime().getTime();
    for (const node of this.nodeInf.list()) {
      const taints = (node.spec?.taints ?? []).filter((t) => t.effect === 'NoExecute');
      if (taints.length === 0) continue;
      for (const pod of this.podInf.byIndex(BY_NODE, node.metadata.name ?? '')) {
        if (!isPodActive(pod)) continue;
        const at = evictionTimeMs(pod, taints, this.opts.podEvictionTimeoutSeconds);
        if (at === undefined || at > nowWall) continue;
        const key = `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}/${pod.metadata.uid ?? ''}`;
        if (this.evicting.has(key)) continue;
        this.evicting.add(key);
        try {
          await this.ctx.client.delete(PODS, pod.metadata.namespace, pod.metadata.name ?? '', { preconditions: { uid: pod.metadata.uid } });
          this.ctx.recorder.event(pod, 'Normal', 'TaintManagerEviction', `Marking for deletion Pod ${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`);
          this.log?.info({ pod: key, node: node.metadata.name }, 'evicted pod from unreachable node');
        } catch (err) {
          this.evicting.delete(key);
          if (err instanceof NotLeaderError) throw err;
          if (!isNotFound(err)) this.log?.warn({ pod: key, err: describeError(err) }, 'eviction failed');
        }
      }
    }
    if (this.evicting.size > 10_000) this.evicting.clear();
  }
}
