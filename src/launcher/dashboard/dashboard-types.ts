/**
 * What the dashboard server sends the page over its event stream. Shared by the server (Node) and
 * the page (browser), so it holds types only. Times are milliseconds since the epoch.
 */

export type ProcessState = 'up' | 'down' | 'paused';

export interface StoreView {
  name: string;
  pid: number;
  state: ProcessState;
  url: string;
  /** Raft leader by its own last answered Status (leader id equals its member id). */
  leader: boolean;
  /** The member it names as leader, when it names one of ours. */
  sees?: string;
  term?: number;
  commitIndex?: number;
  appliedIndex?: number;
  dbSizeBytes?: number;
  /** /health answered 200 (it has a leader); undefined while down or paused. */
  healthy?: boolean;
  /** Why the last probe of a running member failed. */
  error?: string;
  /** Its peer links are cut by `partition`. */
  partitioned: boolean;
  /** When the numbers were last read (they go stale while a member is paused or down). */
  probedAt?: number;
}

/** Every other member: apiservers, the lb, schedulers, controller managers, kubelets. */
export interface ComponentView {
  name: string;
  kind: 'apiserver' | 'lb' | 'scheduler' | 'controller-manager' | 'kubelet';
  pid: number;
  state: ProcessState;
  url: string;
  /** apiserver or lb: /readyz answered 200. */
  ready?: boolean;
  /** scheduler or controller manager: the Lease it competes for (namespace/name). */
  lease?: string;
  /** It holds that Lease now. */
  leader?: boolean;
}

export interface LeaseView {
  /** namespace/name */
  lease: string;
  holderIdentity?: string;
  /** The member whose process logged that identity. */
  holder?: string;
  /** Renewed within its duration. */
  current: boolean;
  renewTime?: string;
  transitions?: number;
}

export interface NodeView {
  name: string;
  /** The Ready condition's status: True, False or Unknown (no condition yet). */
  ready: 'True' | 'False' | 'Unknown';
  readyReason?: string;
  /** Other conditions that are True (pressure and the like), as their types. */
  problems: string[];
  unschedulable: boolean;
  /** Pods bound to it, by phase (Terminating for pods being deleted). */
  pods: Record<string, number>;
  /** The first of its pods by name (podNamesPerRow: the table shares POD_NAMES_TOTAL_MAX out), for the table. */
  podNames: PodName[];
}

export interface PodName {
  name: string;
  namespace: string;
  phase: string;
}

/** Pod names one node's row shows at most. */
export const POD_NAMES_MAX = 40;
/**
 * Pod names the whole table shows at most, shared out between the rows (at least one each): the
 * page's size then stays bounded however many nodes and pods there are; counts by phase are always
 * complete. At 100 nodes and 3,000 pods the rows show 4 names each and "+26 more".
 */
export const POD_NAMES_TOTAL_MAX = 400;

/** The names one row may show when `rows` rows share the table's budget. */
export function podNamesPerRow(rows: number): number {
  return Math.max(1, Math.min(POD_NAMES_MAX, Math.floor(POD_NAMES_TOTAL_MAX / Math.max(1, rows))));
}

/** What the Kubernetes side of the page knows (through an apiserver's watches). */
export interface KubeView {
  /** No apiserver in the topology: the page says so instead of empty tables. */
  available: boolean;
  /** The watches have listed everything once. */
  synced: boolean;
  /** Why the watches are failing now (e.g. every apiserver down). */
  error?: string;
  nodes: NodeView[];
  /** Pods not bound to a node yet, by phase, and some of their names. */
  unscheduled: { pods: Record<string, number>; podNames: PodName[] };
  leases: LeaseView[];
}

export interface DashboardView {
  cluster: { name: string; stateDir: string; topologyFile: string };
  stores: StoreView[];
  /** Member pairs whose peer links are cut. */
  cut: Array<[string, string]>;
  components: ComponentView[];
  kube: KubeView;
}

export type TimelineKind = 'leader' | 'election' | 'member' | 'partition' | 'lease' | 'node' | 'action';

export interface TimelineEntry {
  /** Increasing; the page keys rows by it. */
  seq: number;
  at: number;
  kind: TimelineKind;
  text: string;
  /** Store term at the time, for leader and election entries. */
  term?: number;
  /** The member or object the entry is about. */
  subject?: string;
}

/** The first message of every stream: the whole view and the timeline so far. */
export interface HelloMessage {
  view: DashboardView;
  timeline: TimelineEntry[];
  /** Probe interval, shown on the page so readers know how fresh the numbers are. */
  probeIntervalMs: number;
}

/** Sections of the view that changed; each present key replaces that section. */
export type ViewPatch = Partial<DashboardView>;

export const MEMBER_ACTIONS = ['kill', 'stop', 'start', 'restart', 'pause', 'resume', 'partition', 'heal'] as const;
export type MemberAction = (typeof MEMBER_ACTIONS)[number];

export interface ActionResult {
  ok: boolean;
  message: string;
}
