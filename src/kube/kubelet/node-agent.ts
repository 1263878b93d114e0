// One simulated node's control-plane side: registers (or re-registers) its Node, renews its
// Lease in kube-node-lease every 10 s (leaseDurationSeconds 40; a failed renewal is retried
// from 200 ms doubling to 7 s), and every 10 s compares the Node's status with what it should
// be, writing it when it differs (e.g. the node controller marked it Unknown) or at least every
// 5 minutes, as kubelets with the NodeLease feature do.

import type { Logger } from 'pino';
import { describeError, isAlreadyExists, isNotFound } from '../client/api-error.js';
import { formatMicroTime, type Clock } from '../client/clock.js';
import type { Lease } from '../client/coordination-types.js';
import type { Node } from '../client/core-types.js';
import type { EventRecorder } from '../client/event-recorder.js';
import type { KubeClient } from '../client/kube-client.js';
import { LEASES, NODES } from '../client/resource-ref.js';
import { nodeObject, nodeStatus, type SimNodeSpec } from './node-object.js';

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

export interface NodeAgentOptions {
  leaseDurationSeconds: number;
  renewIntervalMs: number;
  /** How often the Node's status is checked (--node-status-update-frequency). */
  statusUpdateIntervalMs: number;
  /** Unchanged status is still written this often (--node-status-report-frequency). */
  statusReportIntervalMs: number;
}

export const DEFAULT_NODE_AGENT: NodeAgentOptions = { leaseDurationSeconds: 40, renewIntervalMs: 10_000, statusUpdateIntervalMs: 10_000, statusReportIntervalMs: 5 * 60_000 };

export class NodeAgent {
  private node: Node | undefined;
  private lease: Lease | undefined;
  private lastReportMs = Number.NEGATIVE_INFINITY;
  /** lastRenewWallMs: wall-clock time of the last successful Lease renewal (0: none yet). */
  readonly stats = { leaseRenewals: 0, leaseFailures: 0, statusReports: 0, lastRenewWallMs: 0 };
  private readonly log: Logger | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly clock: Clock,
    readonly spec: SimNodeSpec,
    private readonly opts: NodeAgentOptions = DEFAULT_NODE_AGENT,
    logger?: Logger,
    /** Records the node's own events (Starting, NodeReady), as the kubelet does. */
    private readonly recorder?: EventRecorder,
  ) {
    this.log = logger?.child({ node: spec.name });
  }

  get name(): string {
    return this.spec.name;
  }

  /** The Node as last written or read. */
  get current(): Node | undefined {
    return this.node;
  }

  /** Registers, then heartbeats until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    let backoff = 0;
    while (!signal.aborted) {
      try {
        await this.register();
        break;
      } catch (err) {
        backoff = backoff === 0 ? 200 : Math.min(backoff * 2, 7000);
        this.log?.warn({ err: describeError(err), retryInMs: backoff }, 'unable to register node');
        await this.clock.sleep(backoff, signal);
      }
    }
    await Promise.all([this.leaseLoop(signal), this.statusLoop(signal)]);
  }

  /** Creates the Node, or takes over an existing one (a restarted kubelet) and posts Ready. */
  async register(): Promise<void> {
    const now = this.clock.wallTime();
    try {
      const created = await this.client.create<Node>(NODES, undefined, nodeObject(this.spec, now));
      this.node = created;
      this.log?.info('node registered');
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      this.node = await this.client.get<Node>(NODES, undefined, this.spec.name);
      this.log?.info('node already registered, updating it');
    }
    if (this.node !== undefined) this.recorder?.event(this.node, 'Normal', 'Starting', 'Starting kubelet.');
    await this.reportStatus();
  }

  async reportStatus(): Promise<void> {
    const now = this.clock.wallTime();
    const current = this.node ?? (await this.client.get<Node>(NODES, undefined, this.spec.name));
    const status = nodeStatus(this.spec, now, current.status?.conditions ?? []);
    const wasReady = isReady(current);
    this.node = await this.client.patch<Node>(NODES, undefined, this.spec.name, 'merge', { status }, { subresource: 'status' });
    if (!wasReady && isReady(this.node)) this.recorder?.event(this.node, 'Normal', 'NodeReady', `Node ${this.spec.name} status is now: NodeReady`);
    this.stats.statusReports++;
    this.lastReportMs = this.clock.nowMs();
  }

  /** Writes status if the Node's conditions are not ours (or the report is due); true if written. */
  async syncStatus(): Promise<boolean> {
    this.node = await this.client.get<Node>(NODES, undefined, this.spec.name);
    const want = nodeStatus(this.spec, this.clock.wallTime(), this.node.status?.conditions ?? []);
    const summary = (n: Node['status']): string => JSON.stringify((n?.conditions ?? []).map((c) => `${c.type}=${c.status}`).sort());
    const due = this.clock.nowMs() - this.lastReportMs >= this.opts.statusReportIntervalMs;
    if (!due && summary(this.node.status) === summary(want) && this.node.status?.allocatable?.pods === want.allocatable?.pods) return false;
    await this.reportStatus();
    return true;
  }

  private async statusLoop(signal: AbortSignal): Promise<void> {
    while (await this.clock.sleep(this.opts.statusUpdateIntervalMs, signal)) {
      try {
        if (await this.syncStatus()) this.log?.debug('node status written');
      } catch (err) {
        if (isNotFound(err)) {
          // Deleted while we run (kubectl delete node): register again, as a kubelet does on restart.
          this.log?.warn('node object was deleted; registering again');
          await this.register().catch((e: unknown) => this.log?.warn({ err: describeError(e) }, 'unable to register node'));
          continue;
        }
        this.log?.warn({ err: describeError(err) }, 'unable to update node status');
      }
    }
  }

  private async leaseLoop(signal: AbortSignal): Promise<void> {
    let wait = 0;
    while (await this.clock.sleep(wait, signal)) {
      try {
        await this.renewLease();
        this.stats.leaseRenewals++;
        this.stats.lastRenewWallMs = this.clock.wallTime().getTime();
        wait = this.opts.renewIntervalMs;
      } catch (err) {
        this.stats.leaseFailures++;
        wait = wait >= this.opts.renewIntervalMs || wait === 0 ? 200 : Math.min(wait * 2, 7000);
        this.log?.warn({ err: describeError(err), retryInMs: wait }, 'failed to renew node lease');
      }
    }
  }

  /** Updates the cached Lease; reads it again only after a failure (as the kubelet's lease controller). */
  async renewLease(): Promise<void> {
    const now = formatMicroTime(this.clock.wallTime());
    if (this.lease !== undefined) {
      const next: Lease = { ...this.lease, spec: { ...(this.lease.spec ?? {}), holderIdentity: this.spec.name, leaseDurationSeconds: this.opts.leaseDurationSeconds, renewTime: now } };
      try {
        this.lease = await this.client.update<Lease>(LEASES, next);
        return;
      } catch (err) {
        this.lease = undefined;
        throw err;
      }
    }
    let lease: Lease;
    try {
      lease = await this.client.get<Lease>(LEASES, NODE_LEASE_NAMESPACE, this.spec.name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const fresh: Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.spec.name, namespace: NODE_LEASE_NAMESPACE },
        spec: { holderIdentity: this.spec.name, leaseDurationSeconds: this.opts.leaseDurationSeconds, renewTime: now },
      };
      // The Lease goes with its Node (kube sets this owner too).
      if (this.node?.metadata.uid !== undefined) fresh.metadata.ownerReferences = [{ apiVersion: 'v1', kind: 'Node', name: this.spec.name, uid: this.node.metadata.uid }];
      this.lease = await this.client.create<Lease>(LEASES, NODE_LEASE_NAMESPACE, fresh);
      return;
    }
    lease.spec = { ...(lease.spec ?? {}), holderIdentity: this.spec.name, leaseDurationSeconds: this.opts.leaseDurationSeconds, renewTime: now };
    this.lease = await this.client.update<Lease>(LEASES, lease);
  }
}

function isReady(node: Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}
