// Server-side Tables (meta.k8s.io/v1 Table) for `kubectl get`: the column definitions and cell
// formatting of kubernetes pkg/printers/internalversion/printers.go (printPod, printNode,
// printService, printDeployment, …), generated the way kube-apiserver does (Wide: every column,
// priority 1 columns shown by kubectl only with -o wide), ages as apimachinery's
// duration.HumanDuration. REFERENCE.md C4.
import { getArray, getNumber, getPath, getString, isJsonObject, type JsonObject, type JsonValue } from './json.js';
import { formatLabelSelector, labelSelectorFromObject } from './label-selector.js';
import type { ResourceInfo } from './resources.js';

export interface TableColumnDefinition {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format: string;
  description: string;
  priority: number;
}

export type TableCell = string | number | boolean | null;

export interface TableRowCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface TableRow {
  cells: TableCell[];
  conditions?: TableRowCondition[];
  object?: JsonObject;
}

export interface Table {
  kind: 'Table';
  apiVersion: string;
  metadata: JsonObject;
  /** null when the caller asked for no headers (later watch events, as kube does). */
  columnDefinitions: TableColumnDefinition[] | null;
  rows: TableRow[];
}

export interface TableOptions {
  /** kube's ?includeObject= : None, Metadata (default: PartialObjectMetadata) or Object. */
  includeObject?: 'None' | 'Metadata' | 'Object';
  /** "Now" for ages, in ms since the epoch (injected: no clock in this module). */
  now: number;
  /** List metadata of the answer (resourceVersion, continue). */
  listMeta?: JsonObject;
  metaVersion?: 'v1' | 'v1beta1';
  /** Omit column definitions (kube does after the first event of a watch). */
  noHeaders?: boolean;
}

// ---- formatting helpers ----------------------------------------------------------------------

/** apimachinery duration.HumanDuration: "5s", "3m2s", "15m", "5h4m", "2d3h", "400d", "3y20d". */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.trunc(hours / 24)}d` : `${Math.trunc(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.trunc(hours / 24) % 365;
    const y = Math.trunc(hours / 24 / 365);
    return dy === 0 ? `${y}y` : `${y}y${dy}d`;
  }
  return `${Math.trunc(hours / 24 / 365)}y`;
}

/** translateTimestampSince: "<unknown>" for a missing time. */
export function ageSince(timestamp: JsonValue | undefined, now: number): string {
  if (typeof timestamp !== 'string' || timestamp === '') return '<unknown>';
  const t = Date.parse(timestamp);
  if (Number.isNaN(t)) return '<unknown>';
  return humanDuration(now - t);
}

function objects(v: JsonValue | undefined): JsonObject[] {
  return Array.isArray(v) ? v.filter(isJsonObject) : [];
}

function str(o: JsonValue | undefined, ...path: string[]): string {
  return getString(o, ...path) ?? '';
}

function int(o: JsonValue | undefined, ...path: string[]): number {
  const n = getNumber(o, ...path);
  return n === undefined ? 0 : Math.trunc(n);
}

function orNone(s: string): string {
  return s === '' ? '<none>' : s;
}

// ---- column sets ------------------------------------------------------------------------------

const NAME_DOC =
  'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names';
const AGE_DOC =
  'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata';

function col(name: string, type: TableColumnDefinition['type'], description: string, priority = 0, format = ''): TableColumnDefinition {
  return { name, type, format, description, priority };
}
const nameCol = (): TableColumnDefinition => col('Name', 'string', NAME_DOC, 0, 'name');
const ageCol = (): TableColumnDefinition => col('Age', 'string', AGE_DOC);

interface Printer {
  columns: TableColumnDefinition[];
  row(obj: JsonObject, now: number): { cells: TableCell[]; conditions?: TableRowCondition[] };
}

// ---- pods -----------------------------------------------------------------------------------

function podRow(pod: JsonObject, now: number): { cells: TableCell[]; conditions?: TableRowCondition[] } {
  const spec = isJsonObject(pod.spec) ? pod.spec : {};
  const status = isJsonObject(pod.status) ? pod.status : {};
  const phase = str(status, 'phase');
  let reason = str(status, 'reason') || phase;
  for (const c of objects(status.conditions)) {
    if (c.type === 'PodScheduled' && c.reason === 'SchedulingGated') reason = 'SchedulingGated';
  }
  let conditions: TableRowCondition[] | undefined;
  if (phase === 'Succeeded') conditions = [{ type: 'Completed', status: 'True', reason: 'Succeeded', message: 'The pod has completed successfully.' }];
  if (phase === 'Failed') conditions = [{ type: 'Completed', status: 'True', reason: 'Failed', message: 'The pod failed.' }];

  let restarts = 0;
  let lastRestart = 0;
  const noteRestart = (cs: JsonObject): void => {
    restarts += int(cs, 'restartCount');
    const finished = getString(cs, 'lastState', 'terminated', 'finishedAt');
    if (finished !== undefined) {
      const t = Date.parse(finished);
      if (!Number.isNaN(t) && t > lastRestart) lastRestart = t;
    }
  };

  const initSpecs = objects(spec.initContainers);
  let initializing = false;
  const initStatuses = objects(status.initContainerStatuses);
  for (let i = 0; i < initStatuses.length; i++) {
    const cs = initStatuses[i] as JsonObject;
    noteRestart(cs);
    const term = getPath(cs, 'state', 'terminated');
    const waitingReason = str(cs, 'state', 'waiting', 'reason');
    if (isJsonObject(term) && int(term, 'exitCode') === 0) continue;
    if (isJsonObject(term)) {
      const r = str(term, 'reason');
      if (r === '') reason = int(term, 'signal') !== 0 ? `Init:Signal:${int(term, 'signal')}` : `Init:ExitCode:${int(term, 'exitCode')}`;
      else reason = `Init:${r}`;
    } else if (waitingReason !== '' && waitingReason !== 'PodInitializing') {
      reason = `Init:${waitingReason}`;
    } else {
      reason = `Init:${i}/${initSpecs.length}`;
    }
    initializing = true;
    break;
  }

  let ready = 0;
  const initializedTrue = objects(status.conditions).some((c) => c.type === 'Initialized' && c.status === 'True');
  if (!initializing || initializedTrue) {
    restarts = 0;
    lastRestart = 0;
    let hasRunning = false;
    const statuses = objects(status.containerStatuses);
    for (let i = statuses.length - 1; i >= 0; i--) {
      const cs = statuses[i] as JsonObject;
      noteRestart(cs);
      const waiting = str(cs, 'state', 'waiting', 'reason');
      const term = getPath(cs, 'state', 'terminated');
      if (waiting !== '') reason = waiting;
      else if (isJsonObject(term) && str(term, 'reason') !== '') reason = str(term, 'reason');
      else if (isJsonObject(term)) reason = int(term, 'signal') !== 0 ? `Signal:${int(term, 'signal')}` : `ExitCode:${int(term, 'exitCode')}`;
      else if (cs.ready === true && isJsonObject(getPath(cs, 'state', 'running'))) {
        hasRunning = true;
        ready++;
      }
    }
    if (reason === 'Completed' && hasRunning) {
      const podReady = objects(status.conditions).some((c) => c.type === 'Ready' && c.status === 'True');
      reason = podReady ? 'Running' : 'NotReady';
    }
  }

  const deleting = getPath(pod, 'metadata', 'deletionTimestamp') !== undefined && getPath(pod, 'metadata', 'deletionTimestamp') !== null;
  if (deleting && str(status, 'reason') === 'NodeLost') reason = 'Unknown';
  else if (deleting && phase !== 'Succeeded' && phase !== 'Failed') reason = 'Terminating';

  const restartsCell = restarts !== 0 && lastRestart !== 0 ? `${restarts} (${humanDuration(now - lastRestart)} ago)` : String(restarts);
  const ips = objects(status.podIPs);
  const podIP = (ips.length > 0 ? str(ips[0], 'ip') : '') || str(status, 'podIP');
  const gates = objects(spec.readinessGates);
  let gatesCell = '<none>';
  if (gates.length > 0) {
    let trueCount = 0;
    for (const g of gates) {
      const cond = objects(status.conditions).find((c) => c.type === g.conditionType);
      if (cond?.status === 'True') trueCount++;
    }
    gatesCell = `${trueCount}/${gates.length}`;
  }
  const cells: TableCell[] = [
    str(pod, 'metadata', 'name'),
    `${ready}/${objects(spec.containers).length}`,
    reason,
    restartsCell,
    ageSince(getPath(pod, 'metadata', 'creationTimestamp'), now),
    orNone(podIP),
    orNone(str(spec, 'nodeName')),
    orNone(str(status, 'nominatedNodeName')),
    gatesCell,
  ];
  return conditions === undefined ? { cells } : { cells, conditions };
}

const podPrinter: Printer = {
  columns: [
    nameCol(),
    col('Ready', 'string', 'The aggregate readiness state of this pod for accepting traffic.'),
    col('Status', 'string', 'The aggregate status of the containers in this pod.'),
    col('Restarts', 'string', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
    ageCol(),
    col('IP', 'string', 'podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.', 1),
    col('Node', 'string', 'NodeName indicates in which node this pod is scheduled.', 1),
    col('Nominated Node', 'string', 'nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.', 1),
    col('Readiness Gates', 'string', 'If specified, all readiness gates will be evaluated for pod readiness.', 1),
  ],
  row: podRow,
};

// ---- nodes ----------------------------------------------------------------------------------

function nodeRoles(node: JsonObject): string[] {
  const roles = new Set<string>();
  const labels = getPath(node, 'metadata', 'labels');
  if (isJsonObject(labels)) {
    for (const [k, v] of Object.entries(labels)) {
      if (k.startsWith('node-role.kubernetes.io/')) {
        const role = k.slice('node-role.kubernetes.io/'.length);
        if (role !== '') roles.add(role);
      } else if (k === 'kubernetes.io/role' && typeof v === 'string' && v !== '') roles.add(v);
    }
  }
  return [...roles].sort();
}

function nodeAddress(node: JsonObject, type: string): string {
  const a = objects(getPath(node, 'status', 'addresses')).find((x) => x.type === type);
  return a === undefined ? '<none>' : str(a, 'address');
}

const nodePrinter: Printer = {
  columns: [
    nameCol(),
    col('Status', 'string', 'The status of the node'),
    col('Roles', 'string', 'The roles of the node'),
    ageCol(),
    col('Version', 'string', 'Kubelet Version reported by the node.'),
    col('Internal-IP', 'string', 'List of addresses reachable to the node. Queried from cloud provider, if available.', 1),
    col('External-IP', 'string', 'List of addresses reachable to the node. Queried from cloud provider, if available.', 1),
    col('OS-Image', 'string', 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', 1),
    col('Kernel-Version', 'string', "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1),
    col('Container-Runtime', 'string', 'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).', 1),
  ],
  row(node, now) {
    const ready = objects(getPath(node, 'status', 'conditions')).find((c) => c.type === 'Ready');
    const status: string[] = [];
    if (ready !== undefined) status.push(ready.status === 'True' ? 'Ready' : 'NotReady');
    if (status.length === 0) status.push('Unknown');
    if (getPath(node, 'spec', 'unschedulable') === true) status.push('SchedulingDisabled');
    const info = getPath(node, 'status', 'nodeInfo');
    const unknown = (s: string): string => (s === '' ? '<unknown>' : s);
    return {
      cells: [
        str(node, 'metadata', 'name'),
        status.join(','),
        orNone(nodeRoles(node).join(',')),
        ageSince(getPath(node, 'metadata', 'creationTimestamp'), now),
        str(info, 'kubeletVersion'),
        nodeAddress(node, 'InternalIP'),
        nodeAddress(node, 'ExternalIP'),
        unknown(str(info, 'osImage')),
        unknown(str(info, 'kernelVersion')),
        unknown(str(info, 'containerRuntimeVersion')),
      ],
    };
  },
};

// ---- services and endpoints --------------------------------------------------------------------

function serviceExternalIp(svc: JsonObject): string {
  const externalIPs = (getArray(svc, 'spec', 'externalIPs') ?? []).filter((x): x is string => typeof x === 'string');
  switch (str(svc, 'spec', 'type')) {
    case 'ClusterIP':
    case 'NodePort':
    case '':
      return externalIPs.length > 0 ? externalIPs.join(',') : '<none>';
    case 'LoadBalancer': {
      const lb = objects(getPath(svc, 'status', 'loadBalancer', 'ingress'))
        .map((i) => str(i, 'ip') || str(i, 'hostname'))
        .filter((s) => s !== '');
      const all = [...lb, ...externalIPs];
      return all.length > 0 ? all.join(',') : '<pending>';
    }
    case 'ExternalName':
      return str(svc, 'spec', 'externalName');
    default:
      return '<unknown>';
  }
}

function formatLabels(v: JsonValue | undefined): string {
  if (!isJsonObject(v) || Object.keys(v).length === 0) return '<none>';
  return Object.keys(v)
    .sort()
    .map((k) => `${k}=${typeof v[k] === 'string' ? (v[k] as string) : ''}`)
    .join(',');
}

const servicePrinter: Printer = {
  columns: [
    nameCol(),
    col('Type', 'string', 'type determines how the Service is exposed.'),
    col('Cluster-IP', 'string', 'clusterIP is the IP address of the service and is usually assigned randomly.'),
    col('External-IP', 'string', 'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.'),
    col('Port(s)', 'string', 'The list of ports that are exposed by this service.'),
    ageCol(),
    col('Selector', 'string', 'Route service traffic to pods with label keys and values matching this selector.', 1),
  ],
  row(svc, now) {
    const clusterIPs = getArray(svc, 'spec', 'clusterIPs');
    const clusterIP = (typeof clusterIPs?.[0] === 'string' ? clusterIPs[0] : '') || str(svc, 'spec', 'clusterIP');
    const ports = objects(getPath(svc, 'spec', 'ports')).map((p) => {
      const nodePort = int(p, 'nodePort');
      const proto = str(p, 'protocol');
      return nodePort > 0 ? `${int(p, 'port')}:${nodePort}/${proto}` : `${int(p, 'port')}/${proto}`;
    });
    return {
      cells: [
        str(svc, 'metadata', 'name'),
        str(svc, 'spec', 'type'),
        orNone(clusterIP),
        serviceExternalIp(svc),
        orNone(ports.join(',')),
        ageSince(getPath(svc, 'metadata', 'creationTimestamp'), now),
        formatLabels(getPath(svc, 'spec', 'selector')),
      ],
    };
  },
};

/** printers.go formatEndpoints: up to 3 "ip:port", then " + N more...". */
export function formatEndpoints(ep: JsonObject): string {
  const subsets = objects(ep.subsets);
  if (subsets.length === 0) return '<none>';
  const max = 3;
  const list: string[] = [];
  let more = false;
  let count = 0;
  for (const ss of subsets) {
    const addresses = objects(ss.addresses);
    const ports = objects(ss.ports);
    if (ports.length === 0) {
      count += addresses.length;
      for (const a of addresses) {
        if (list.length === max) {
          more = true;
          break;
        }
        list.push(str(a, 'ip'));
      }
      continue;
    }
    for (const p of ports) {
      count += addresses.length;
      for (const a of addresses) {
        if (list.length === max) {
          more = true;
          break;
        }
        const ip = str(a, 'ip');
        list.push(ip.includes(':') ? `[${ip}]:${int(p, 'port')}` : `${ip}:${int(p, 'port')}`);
      }
    }
  }
  const joined = list.join(',');
  return more ? `${joined} + ${count - max} more...` : joined;
}

const endpointsPrinter: Printer = {
  columns: [nameCol(), col('Endpoints', 'string', 'Endpoints of the service'), ageCol()],
  row: (ep, now) => ({ cells: [str(ep, 'metadata', 'name'), formatEndpoints(ep), ageSince(getPath(ep, 'metadata', 'creationTimestamp'), now)] }),
};

// ---- workloads -------------------------------------------------------------------------------

function containerCells(obj: JsonObject): [string, string] {
  const cs = objects(getPath(obj, 'spec', 'template', 'spec', 'containers'));
  return [cs.map((c) => str(c, 'name')).join(','), cs.map((c) => str(c, 'image')).join(',')];
}

const workloadWideColumns = (): TableColumnDefinition[] => [
  col('Containers', 'string', 'Names of each container in the template.', 1),
  col('Images', 'string', 'Images referenced by each container in the template.', 1),
  col('Selector', 'string', 'Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.', 1),
];

const deploymentPrinter: Printer = {
  columns: [
    nameCol(),
    col('Ready', 'string', 'Number of the pod with ready state'),
    col('Up-to-date', 'integer', 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.'),
    col('Available', 'integer', 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.'),
    ageCol(),
    ...workloadWideColumns(),
  ],
  row(d, now) {
    const [names, images] = containerCells(d);
    let selector = '';
    try {
      selector = labelSelectorFromObject(getPath(d, 'spec', 'selector')).toString();
    } catch {
      selector = '<error>';
    }
    return {
      cells: [
        str(d, 'metadata', 'name'),
        `${int(d, 'status', 'readyReplicas')}/${int(d, 'spec', 'replicas')}`,
        int(d, 'status', 'updatedReplicas'),
        int(d, 'status', 'availableReplicas'),
        ageSince(getPath(d, 'metadata', 'creationTimestamp'), now),
        names,
        images,
        selector,
      ],
    };
  },
};

const replicaSetPrinter: Printer = {
  columns: [
    nameCol(),
    col('Desired', 'integer', 'Replicas is the number of desired replicas.'),
    col('Current', 'integer', 'Replicas is the most recently observed number of replicas.'),
    col('Ready', 'integer', 'The number of ready replicas for this replica set.'),
    ageCol(),
    ...workloadWideColumns(),
  ],
  row(rs, now) {
    const [names, images] = containerCells(rs);
    return {
      cells: [
        str(rs, 'metadata', 'name'),
        int(rs, 'spec', 'replicas'),
        int(rs, 'status', 'replicas'),
        int(rs, 'status', 'readyReplicas'),
        ageSince(getPath(rs, 'metadata', 'creationTimestamp'), now),
        names,
        images,
        formatLabelSelector(getPath(rs, 'spec', 'selector')),
      ],
    };
  },
};

// ---- the rest ----------------------------------------------------------------------------------

function count(v: JsonValue | undefined): number {
  if (Array.isArray(v)) return v.length;
  if (isJsonObject(v)) return Object.keys(v).length;
  return 0;
}

const simple = (extra: TableColumnDefinition[], cells: (o: JsonObject) => TableCell[]): Printer => ({
  columns: [nameCol(), ...extra, ageCol()],
  row: (o, now) => ({ cells: [str(o, 'metadata', 'name'), ...cells(o), ageSince(getPath(o, 'metadata', 'creationTimestamp'), now)] }),
});

const namespacePrinter = simple([col('Status', 'string', 'The status of the namespace')], (o) => [str(o, 'status', 'phase')]);
const configMapPrinter = simple([col('Data', 'integer', 'Data contains the configuration data.')], (o) => [count(o.data) + count(o.binaryData)]);
const secretPrinter = simple(
  [col('Type', 'string', 'Used to facilitate programmatic handling of secret data.'), col('Data', 'integer', 'Data contains the secret data.')],
  (o) => [str(o, 'type'), count(o.data)],
);
const serviceAccountPrinter = simple([col('Secrets', 'integer', 'Secrets is the list of secrets allowed to be used by pods running using this ServiceAccount.')], (o) => [count(o.secrets)]);
const leasePrinter = simple([col('Holder', 'string', 'holderIdentity contains the identity of the holder of a current lease.')], (o) => [str(o, 'spec', 'holderIdentity')]);

function eventSource(e: JsonObject): string {
  const component = str(e, 'source', 'component') || str(e, 'reportingComponent');
  const host = str(e, 'source', 'host') || str(e, 'reportingInstance');
  if (component === '' && host === '') return '<unknown>';
  return host === '' ? component : `${component}, ${host}`;
}

const eventPrinter: Printer = {
  columns: [
    col('Last Seen', 'string', 'The time at which the most recent occurrence of this event was recorded.'),
    col('Type', 'string', 'Type of this event (Normal, Warning), new types could be added in the future'),
    col('Reason', 'string', 'This should be a short, machine understandable string that gives the reason for the transition into the object\'s current status.'),
    col('Object', 'string', 'The object that this event is about.'),
    col('Subobject', 'string', 'If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].', 1),
    col('Source', 'string', 'The component reporting this event. Should be a short machine understandable string.', 1),
    col('Message', 'string', 'A human-readable description of the status of this operation.'),
    col('First Seen', 'string', 'The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)', 1),
    col('Count', 'string', 'The number of times this event has occurred.', 1),
    col('Name', 'string', NAME_DOC, 1, 'name'),
  ],
  row(e, now) {
    const firstTs = getPath(e, 'firstTimestamp');
    const first = typeof firstTs === 'string' && firstTs !== '' ? ageSince(firstTs, now) : ageSince(getPath(e, 'eventTime'), now);
    const lastTs = getPath(e, 'lastTimestamp');
    let last = typeof lastTs === 'string' && lastTs !== '' ? ageSince(lastTs, now) : first;
    let n = int(e, 'count');
    const series = getPath(e, 'series');
    if (isJsonObject(series)) {
      last = ageSince(series.lastObservedTime, now);
      n = int(series, 'count');
    } else if (n === 0) n = 1;
    const kind = str(e, 'involvedObject', 'kind').toLowerCase();
    const name = str(e, 'involvedObject', 'name');
    return {
      cells: [
        last,
        str(e, 'type'),
        str(e, 'reason'),
        name === '' ? kind : `${kind}/${name}`,
        str(e, 'involvedObject', 'fieldPath'),
        eventSource(e),
        str(e, 'message').trim(),
        first,
        n,
        str(e, 'metadata', 'name'),
      ],
    };
  },
};

/** kube's default table for kinds without printers: Name and Created At. */
const defaultPrinter: Printer = {
  columns: [nameCol(), col('Created At', 'date', AGE_DOC)],
  row: (o) => ({ cells: [str(o, 'metadata', 'name'), str(o, 'metadata', 'creationTimestamp')] }),
};

const PRINTERS: Readonly<Record<string, Printer>> = {
  Pod: podPrinter,
  Node: nodePrinter,
  Service: servicePrinter,
  Endpoints: endpointsPrinter,
  Deployment: deploymentPrinter,
  ReplicaSet: replicaSetPrinter,
  Namespace: namespacePrinter,
  ConfigMap: configMapPrinter,
  Secret: secretPrinter,
  ServiceAccount: serviceAccountPrinter,
  Lease: leasePrinter,
  Event: eventPrinter,
};

/** The column definitions kubectl shows for a kind (priority 1 only with -o wide). */
export function tableColumns(kind: string): TableColumnDefinition[] {
  return (PRINTERS[kind] ?? defaultPrinter).columns.map((c) => ({ ...c }));
}

/** The metadata-only view kube puts in rows by default (includeObject=Metadata). */
export function partialObjectMetadata(obj: JsonObject, metaVersion: 'v1' | 'v1beta1' = 'v1'): JsonObject {
  return { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${metaVersion}`, metadata: isJsonObject(obj.metadata) ? obj.metadata : {} };
}

/**
 * A meta.k8s.io Table for `objects` of a resource (or kind name). Rows carry the object as
 * kube does: PartialObjectMetadata by default, the whole object with includeObject=Object.
 */
export function toTable(resourceOrKind: ResourceInfo | string, objects: readonly JsonObject[], opts: TableOptions): Table {
  const kind = typeof resourceOrKind === 'string' ? resourceOrKind : resourceOrKind.kind;
  const printer = PRINTERS[kind] ?? defaultPrinter;
  const include = opts.includeObject ?? 'Metadata';
  const metaVersion = opts.metaVersion ?? 'v1';
  const rows = objects.map((o): TableRow => {
    const r = printer.row(o, opts.now);
    const row: TableRow = { cells: r.cells };
    if (r.conditions !== undefined) row.conditions = r.conditions;
    if (include === 'Object') row.object = o;
    else if (include === 'Metadata') row.object = partialObjectMetadata(o, metaVersion);
    return row;
  });
  return {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${metaVersion}`,
    metadata: opts.listMeta ?? {},
    columnDefinitions: opts.noHeaders === true ? null : tableColumns(kind),
    rows,
  };
}
