// The scheduler's view of nodes and the pods on them, kept up to date from informer events
// plus the pods it has "assumed" onto a node while their binding is in flight (so the next
// decision already counts them), as kube-scheduler's internal cache does.

import type { Node, Pod } from '../client/core-types.js';
import { newNodeInfo, type NodeInfo } from './node-info.js';

interface Entry {
  node: Node | undefined;
  pods: Map<string, Pod>;
  info: NodeInfo | undefined;
}

export class SchedulerCache {
  private readonly nodes = new Map<string, Entry>();
  /** Pod key → node it is counted on. */
  private readonly podNode = new Map<string, string>();
  /** Assumed pods (binding in flight) and when they were assumed. */
  private readonly assumed = new Map<string, number>();

  constructor(private readonly assumeTtlMs = 30_000) {}

  private entry(name: string): Entry {
    let e = this.nodes.get(name);
    if (e === undefined) {
      e = { node: undefined, pods: new Map(), info: undefined };
      this.nodes.set(name, e);
    }
    return e;
  }

  setNode(node: Node): void {
    const e = this.entry(node.metadata.name ?? '');
    e.node = node;
    e.info = undefined;
  }

  removeNode(name: string): void {
    const e = this.nodes.get(name);
    if (e === undefined) return;
    e.node = undefined;
    e.info = undefined;
    if (e.pods.size === 0) this.nodes.delete(name);
  }

  /** A pod as the informer sees it (bound or not, terminal or not). */
  updatePod(key: string, pod: Pod): void {
    const nodeName = pod.spec.nodeName;
    if (nodeName === undefined || nodeName === '') {
      // Not bound (yet): keep an assumption, its binding may still be on its way.
      if (!this.assumed.has(key)) this.removePod(key);
      return;
    }
    this.assumed.delete(key);
    this.place(key, nodeName, pod);
  }

  removePod(key: string): void {
    const prev = this.podNode.get(key);
    if (prev === undefined) return;
    this.podNode.delete(key);
    this.assumed.delete(key);
    const e = this.nodes.get(prev);
    if (e === undefined) return;
    e.pods.delete(key);
    e.info = undefined;
    if (e.node === undefined && e.pods.size === 0) this.nodes.delete(prev);
  }

  /** Counts the pod on `nodeName` before the binding is confirmed. */
  assume(key: string, pod: Pod, nodeName: string, nowMs: number): void {
    this.assumed.set(key, nowMs);
    this.place(key, nodeName, { ...pod, spec: { ...pod.spec, nodeName } });
  }

  /** The binding failed: stop counting the pod. */
  forget(key: string): void {
    if (this.assumed.has(key)) this.removePod(key);
  }

  isAssumed(key: string): boolean {
    return this.assumed.has(key);
  }

  /** Drops assumptions whose binding never showed up (the bind was lost). */
  expireAssumed(nowMs: number): string[] {
    const expired: string[] = [];
    for (const [key, at] of this.assumed) if (nowMs - at > this.assumeTtlMs) expired.push(key);
    for (const key of expired) this.removePod(key);
    return expired;
  }

  /** NodeInfos of every known Node (rebuilt only where something changed). */
  nodeInfos(): NodeInfo[] {
    const out: NodeInfo[] = [];
    for (const e of this.nodes.values()) {
      if (e.node === undefined) continue;
      e.info ??= newNodeInfo(e.node, [...e.pods.values()]);
      out.push(e.info);
    }
    return out;
  }

  private place(key: string, nodeName: string, pod: Pod): void {
    const prev = this.podNode.get(key);
    if (prev !== undefined && prev !== nodeName) {
      const old = this.nodes.get(prev);
      old?.pods.delete(key);
      if (old !== undefined) old.info = undefined;
    }
    const e = this.entry(nodeName);
    e.pods.set(key, pod);
    e.info = undefined;
    this.podNode.set(key, nodeName);
  }
}
