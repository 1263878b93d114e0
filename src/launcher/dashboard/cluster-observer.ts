import { basename } from 'node:path';
import type { Logger } from 'pino';
import { EtcdClient } from '../../client/index.js';
import { realClock } from '../../kube/client/clock.js';
import type { Lease } from '../../kube/client/coordination-types.js';
import type { Node, Pod } from '../../kube/client/core-types.js';
import { KubeClient } from '../../kube/client/kube-client.js';
import { LEASES, NODES, PODS } from '../../kube/client/resource-ref.js';
import { Informer } from '../../kube/informer/informer.js';
import { type ClusterState, isAlive, isPaused, type LocalCluster, type MemberState } from '../local-cluster.js';
import { apiReady, leaseHolder, loggedIdentity, storeHealthy } from '../probes.js';
import { loadTopology } from '../topology.js';
import {
  type ComponentView,
  type DashboardView,
  type KubeView,
  type LeaseView,
  type NodeView,
  type PodName,
  podNamesPerRow,
  type ProcessState,
  type StoreView,
  type TimelineEntry,
  type ViewPatch,
} from './dashboard-types.js';
import { Timeline } from './timeline.js';

/**
 * Keeps the dashboard's view of a running local cluster up to date:
 * - store members, apiservers and the other processes: one probe round a second (process state
 *   from /proc, Maintenance.Status and /health of each running store, /readyz of each apiserver),
 *   the same probes `ketch-cluster status` and `up` use;
 * - nodes, pods and the kube-system Leases: Kubernetes watches through the apiservers (informers),
 *   no polling; Lease expiry is re-checked against the clock on each probe round.
 * Every change reaches the listeners as a patch of the sections that changed, and as timeline
 * entries derived from successive observations.
 */

export interface ObserverListener {
  patch(patch: ViewPatch): void;
  timeline(entry: TimelineEntry): void;
}

export const PROBE_INTERVAL_MS = 1000;
const PROBE_TIMEOUT_MS = 1500;
/** Informer events arrive in bursts (a deployment's pods): the kube section is rebuilt at most this often. */
const KUBE_REBUILD_DELAY_MS = 200;
/**
 * With many pods each rebuild is a whole section sent to every page (about 40 KB at 100 nodes and
 * 3,000 pods): then at most once a second.
 */
const KUBE_REBUILD_DELAY_LARGE_MS = 1000;
const LARGE_POD_COUNT = 1000;

const COMPONENT_KINDS = new Set(['apiserver', 'lb', 'scheduler', 'controller-manager', 'kubelet']);

export class ClusterObserver {
  readonly timeline: Timeline;
  private readonly listeners = new Set<ObserverListener>();
  private current: DashboardView;
  /** JSON of each section as last sent, to send only what changed. */
  private readonly sent = new Map<string, string>();
  private readonly stop = new AbortController();
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  private etcd: { key: string; client: EtcdClient } | undefined;
  private kube: { key: string; client: KubeClient; abort: AbortController; nodes: Informer<Node>; pods: Informer<Pod>; leases: Informer<Lease> } | undefined;
  private kubeTimer: NodeJS.Timeout | undefined;
  /** Leader-election identities by member name and pid (read once from the member's log). */
  private readonly identities = new Map<string, string>();

  constructor(
    private readonly cluster: LocalCluster,
    private readonly log?: Logger,
  ) {
    this.timeline = new Timeline((entry) => {
      for (const l of this.listeners) l.timeline(entry);
    });
    const state = cluster.readState();
    this.current = {
      cluster: { name: topologyName(state.topologyFile), stateDir: cluster.stateDir, topologyFile: state.topologyFile },
      stores: [],
      cut: [],
      components: [],
      kube: emptyKube(state),
    };
  }

  view(): DashboardView {
    return this.current;
  }

  subscribe(listener: ObserverListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Takes the first observation (so the first page already shows the members), then keeps observing. */
  async start(): Promise<void> {
    await this.probe();
    this.probeTimer = setInterval(() => void this.probe(), PROBE_INTERVAL_MS);
  }

  close(): void {
    this.stop.abort();
    clearInterval(this.probeTimer);
    clearTimeout(this.kubeTimer);
    this.kube?.abort.abort();
    this.kube?.client.close();
    this.etcd?.client.close();
  }

  /** One probe round; a round still running (a slow member) makes the next one skip. */
  async probe(): Promise<void> {
    if (this.probing || this.stop.signal.aborted) return;
    this.probing = true;
    try {
      const state = this.cluster.readState();
      this.ensureKubeWatches(state);
      const [stores, components] = await Promise.all([this.probeStores(state), Promise.all(state.members.filter((m) => COMPONENT_KINDS.has(m.kind)).map((m) => this.probeComponent(m)))]);
      if (this.stop.signal.aborted) return;
      const cut = this.cluster.currentCut().map(([a, b]): [string, string] => [a, b]);
      for (const s of stores) s.partitioned = cut.some(([a, b]) => a === s.name || b === s.name);
      const now = Date.now();
      this.timeline.observeStores(stores, cut, now);
      const kube = this.buildKube(state, components, now);
      for (const c of components) {
        if (c.lease !== undefined) c.leader = kube.leases.some((l) => l.lease === c.lease && l.current && l.holder === c.name);
      }
      const cluster = state.topologyFile === this.current.cluster.topologyFile ? this.current.cluster : { name: topologyName(state.topologyFile), stateDir: this.cluster.stateDir, topologyFile: state.topologyFile };
      this.update({ cluster, stores, cut, components, kube });
    } catch (err) {
      this.log?.warn({ err: (err as Error).message }, 'probe failed');
    } finally {
      this.probing = false;
    }
  }

  private update(patch: ViewPatch): void {
    this.current = { ...this.current, ...patch };
    const changed: ViewPatch = {};
    for (const [key, value] of Object.entries(patch)) {
      const json = JSON.stringify(value);
      if (this.sent.get(key) === json) continue;
      this.sent.set(key, json);
      (changed as Record<string, unknown>)[key] = value;
    }
    if (Object.keys(changed).length === 0) return;
    for (const l of this.listeners) l.patch(changed);
  }

  private async probeStores(state: ClusterState): Promise<StoreView[]> {
    const members = state.members.filter((m) => m.kind === 'store');
    const key = members.map((m) => m.url).join(',');
    if (this.etcd?.key !== key) {
      this.etcd?.client.close();
      this.etcd = members.length === 0 ? undefined : { key, client: new EtcdClient({ endpoints: members.map((m) => m.url), dialTimeoutMs: PROBE_TIMEOUT_MS, ...(state.tls === true ? { tls: this.cluster.apiAccess(state) } : {}) }) };
    }
    const access = this.cluster.apiAccess(state);
    const previous = new Map(this.current.stores.map((s) => [s.name, s]));
    const answers = await Promise.all(
      members.map(async (m) => {
        const state = processState(m.pid);
        // A paused member cannot answer: keep its last numbers (probedAt says how old they are).
        const last = previous.get(m.name);
        const kept = last !== undefined && last.pid === m.pid ? dropUndefined({ term: last.term, commitIndex: last.commitIndex, appliedIndex: last.appliedIndex, dbSizeBytes: last.dbSizeBytes, probedAt: last.probedAt, sees: last.sees }) : {};
        const view: StoreView = { name: m.name, pid: m.pid, state, url: m.url, partitioned: false, leader: state === 'paused' && last?.pid === m.pid && last.leader, ...kept };
        if (state !== 'up' || this.etcd === undefined) return { view };
        try {
          const [st, healthy] = await Promise.all([this.etcd.client.forEndpoint(m.url).status({ timeoutMs: PROBE_TIMEOUT_MS }), storeHealthy(m.url, access)]);
          Object.assign(view, {
            term: Number(st.raftTerm),
            commitIndex: Number(st.raftIndex),
            appliedIndex: Number(st.raftAppliedIndex),
            dbSizeBytes: Number(st.dbSize),
            leader: st.leader !== '0' && st.leader === st.header.member_id,
            healthy,
            probedAt: Date.now(),
          });
          return { view, id: st.header.member_id, leaderId: st.leader };
        } catch (err) {
          // Killed or paused while we asked: say so rather than report a failed probe.
          view.state = processState(m.pid);
          if (view.state !== 'up') return { view };
          view.healthy = false;
          view.error = (err as Error).message;
          return { view };
        }
      }),
    );
    const names = new Map<string, string>();
    for (const a of answers) if (a.id !== undefined) names.set(a.id, a.view.name);
    for (const a of answers) {
      if (a.leaderId === undefined) continue;
      const sees = names.get(a.leaderId);
      if (sees === undefined) delete a.view.sees;
      else a.view.sees = sees;
    }
    return answers.map((a) => a.view);
  }

  private async probeComponent(m: MemberState): Promise<ComponentView> {
    const state = processState(m.pid);
    const view: ComponentView = { name: m.name, kind: m.kind as ComponentView['kind'], pid: m.pid, state, url: m.url };
    if ((m.kind === 'apiserver' || m.kind === 'lb') && state === 'up') view.ready = await apiReady(m.url, this.cluster.apiAccess());
    if (m.lease !== undefined) view.lease = `${m.lease.namespace}/${m.lease.name}`;
    return view;
  }

  /** Informers over the apiservers (the lb first) of this state; rebuilt when that set changes. */
  private ensureKubeWatches(state: ClusterState): void {
    const api = [...state.members.filter((m) => m.kind === 'lb'), ...state.members.filter((m) => m.kind === 'apiserver')].map((m) => m.url);
    const key = api.join(',');
    if (this.kube?.key === key || (this.kube === undefined && api.length === 0)) return;
    this.kube?.abort.abort();
    this.kube?.client.close();
    this.kube = undefined;
    if (api.length === 0) return;
    // A TLS cluster's API is reached with the admin certificate, as the launcher's probes do.
    const client = new KubeClient({ masters: api, credentials: this.cluster.apiAccess(state), userAgent: 'ketch-dashboard', requestTimeoutMs: 5000, ...(this.log === undefined ? {} : { logger: this.log }) });
    const abort = new AbortController();
    const informer = <T extends Node | Pod | Lease>(resource: typeof NODES, namespace?: string): Informer<T> =>
      new Informer<T>({ client, resource, clock: realClock, ...(namespace === undefined ? {} : { namespace }), ...(this.log === undefined ? {} : { logger: this.log }) });
    const kube = { key, client, abort, nodes: informer<Node>(NODES), pods: informer<Pod>(PODS), leases: informer<Lease>(LEASES, 'kube-system') };
    for (const inf of [kube.nodes, kube.pods, kube.leases] as Array<Informer<Node | Pod | Lease>>) {
      inf.addHandlers({ onAdd: () => this.kubeChanged(), onUpdate: () => this.kubeChanged(), onDelete: () => this.kubeChanged() });
      void inf.run(abort.signal);
    }
    this.kube = kube;
  }

  /** A watch event: rebuild the kube section soon (once for a burst of events). */
  private kubeChanged(): void {
    if (this.kubeTimer !== undefined || this.stop.signal.aborted) return;
    const delayMs = (this.kube?.pods.list().length ?? 0) > LARGE_POD_COUNT ? KUBE_REBUILD_DELAY_LARGE_MS : KUBE_REBUILD_DELAY_MS;
    this.kubeTimer = setTimeout(() => {
      this.kubeTimer = undefined;
      try {
        const state = this.cluster.readState();
        const kube = this.buildKube(state, this.current.components, Date.now());
        const components = this.current.components.map((c) => (c.lease === undefined ? c : { ...c, leader: kube.leases.some((l) => l.lease === c.lease && l.current && l.holder === c.name) }));
        this.update({ kube, components });
      } catch (err) {
        this.log?.warn({ err: (err as Error).message }, 'rebuilding the Kubernetes view failed');
      }
    }, delayMs);
  }

  private buildKube(state: ClusterState, components: readonly ComponentView[], nowMs: number): KubeView {
    const kube = this.kube;
    if (kube === undefined) return emptyKube(state);
    const apiUp = components.some((c) => (c.kind === 'apiserver' || c.kind === 'lb') && c.state === 'up');
    const synced = kube.nodes.hasSynced() && kube.pods.hasSynced() && kube.leases.hasSynced();
    const podsByNode = new Map<string, Pod[]>();
    for (const p of kube.pods.list()) {
      const node = p.spec.nodeName ?? '';
      const list = podsByNode.get(node);
      if (list === undefined) podsByNode.set(node, [p]);
      else list.push(p);
    }
    const nodeList = kube.nodes.list();
    // One more row for pods not scheduled yet.
    const namesPerRow = podNamesPerRow(nodeList.length + 1);
    const nodes = nodeList
      .map((n): NodeView => {
        const conditions = n.status?.conditions ?? [];
        const ready = conditions.find((c) => c.type === 'Ready');
        return {
          name: n.metadata.name ?? '',
          ready: ready?.status ?? 'Unknown',
          ...(ready?.reason === undefined ? {} : { readyReason: ready.reason }),
          problems: conditions.filter((c) => c.type !== 'Ready' && c.status === 'True').map((c) => c.type),
          unschedulable: n.spec?.unschedulable === true,
          ...podSummary(podsByNode.get(n.metadata.name ?? '') ?? [], namesPerRow),
        };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
    const leases = kube.leases
      .list()
      .map((l): LeaseView => {
        const key = `${l.metadata.namespace ?? ''}/${l.metadata.name ?? ''}`;
        const { holderIdentity, current } = leaseHolder(l.spec ?? {}, nowMs);
        const holder = holderIdentity === undefined ? undefined : this.memberWithIdentity(state, key, holderIdentity);
        return {
          lease: key,
          current,
          ...(holderIdentity === undefined ? {} : { holderIdentity }),
          ...(holder === undefined ? {} : { holder }),
          ...(l.spec?.renewTime == null ? {} : { renewTime: l.spec.renewTime }),
          ...(l.spec?.leaseTransitions == null ? {} : { transitions: l.spec.leaseTransitions }),
        };
      })
      .sort((a, b) => a.lease.localeCompare(b.lease));
    this.timeline.observeNodes(nodes, nowMs);
    this.timeline.observeLeases(leases, nowMs);
    return {
      available: true,
      synced,
      ...(apiUp ? {} : { error: 'no apiserver is running: the Kubernetes view is frozen until one starts' }),
      nodes,
      unscheduled: podSummary(podsByNode.get('') ?? [], namesPerRow),
      leases,
    };
  }

  /** The running member (competing for `lease`) whose log names `identity`, as `status` finds it. */
  private memberWithIdentity(state: ClusterState, lease: string, identity: string): string | undefined {
    for (const m of state.members) {
      if (m.lease === undefined || `${m.lease.namespace}/${m.lease.name}` !== lease || !isAlive(m.pid)) continue;
      const key = `${m.name}:${m.pid}`;
      let id = this.identities.get(key);
      if (id === undefined) {
        id = loggedIdentity(m.log, m.logStart ?? 0);
        if (id !== undefined) this.identities.set(key, id);
      }
      if (id === identity) return m.name;
    }
    return undefined;
  }
}

function processState(pid: number): ProcessState {
  if (!isAlive(pid)) return 'down';
  return isPaused(pid) ? 'paused' : 'up';
}

/** Counts by phase of every pod, and the first `namesMax` of them by name. */
function podSummary(pods: readonly Pod[], namesMax: number): { pods: Record<string, number>; podNames: PodName[] } {
  const counts: Record<string, number> = {};
  for (const p of pods) {
    const phase = podPhase(p);
    counts[phase] = (counts[phase] ?? 0) + 1;
  }
  const byName = (a: Pod, b: Pod): number => {
    const x = a.metadata.name ?? '';
    const y = b.metadata.name ?? '';
    return x < y ? -1 : x > y ? 1 : 0;
  };
  const first = pods.length <= namesMax ? [...pods].sort(byName) : smallest(pods, namesMax, byName);
  return { pods: counts, podNames: first.map((p) => ({ name: p.metadata.name ?? '', namespace: p.metadata.namespace ?? '', phase: podPhase(p) })) };
}

function podPhase(p: Pod): string {
  return p.metadata.deletionTimestamp != null ? 'Terminating' : (p.status?.phase ?? 'Pending');
}

/** The `k` smallest items in order, without sorting them all (k is small, the list may be long). */
function smallest<T>(items: readonly T[], k: number, compare: (a: T, b: T) => number): T[] {
  const out: T[] = [];
  for (const item of items) {
    if (out.length === k && compare(item, out[k - 1] as T) >= 0) continue;
    let i = out.length === k ? k - 1 : out.length;
    if (out.length === k) out.pop();
    while (i > 0 && compare(item, out[i - 1] as T) < 0) i--;
    out.splice(i, 0, item);
  }
  return out;
}

function emptyKube(state: ClusterState): KubeView {
  const available = state.members.some((m) => m.kind === 'apiserver');
  return { available, synced: false, nodes: [], unscheduled: { pods: {}, podNames: [] }, leases: [] };
}

/** The name the topology file gives the cluster (its file name if it cannot be read any more). */
function topologyName(file: string): string {
  try {
    return loadTopology(file).name;
  } catch {
    return basename(file).replace(/\.ya?ml$/, '');
  }
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
