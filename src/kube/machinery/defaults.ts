// Server-side defaulting of the kinds we serve, as kube-apiserver fills them in before
// validation (k8s.io/kubernetes pkg/apis/core/v1/defaults.go, pkg/apis/apps/v1/defaults.go), plus
// the values a fresh object always shows because of kube's create-time strategies and default
// admission plugins (pod status phase and QoS class, namespace finalizers and phase, a pod's
// priority, service account name and default not-ready/unreachable tolerations). `kubectl get -o
// yaml` on our objects should look like kube's. The input is not modified.
import { cloneJson, ensureObject, getArray, getPath, getString, isJsonObject, type JsonObject, type JsonValue } from './json.js';

/** Apply the defaults of `kind` to a copy of `obj` and return it. Unknown kinds come back as is. */
export function applyDefaults(kind: string, obj: JsonObject): JsonObject {
  const o = cloneJson(obj);
  // kube's rest.BeforeCreate/BeforeUpdate drop a namespace given to a cluster-scoped object.
  if ((kind === 'Namespace' || kind === 'Node') && isJsonObject(o.metadata) && o.metadata.namespace !== undefined) {
    delete o.metadata.namespace;
  }
  switch (kind) {
    case 'Pod':
      defaultPod(o);
      break;
    case 'Deployment':
      defaultDeployment(o);
      break;
    case 'ReplicaSet':
      defaultReplicaSet(o);
      break;
    case 'Service':
      defaultService(o);
      break;
    case 'Namespace':
      defaultNamespace(o);
      break;
    case 'Secret':
      if (o.type === undefined || o.type === null || o.type === '') o.type = 'Opaque';
      break;
    case 'Endpoints':
      for (const subset of objects(o.subsets)) for (const p of objects(subset.ports)) setIfMissing(p, 'protocol', 'TCP');
      break;
    case 'Node':
      defaultNode(o);
      break;
    default:
      break;
  }
  return o;
}

function objects(v: JsonValue | undefined): JsonObject[] {
  return Array.isArray(v) ? v.filter(isJsonObject) : [];
}

function missing(v: JsonValue | undefined): boolean {
  return v === undefined || v === null || v === '';
}

function setIfMissing(o: JsonObject, key: string, value: JsonValue): void {
  if (missing(o[key])) o[key] = value;
}

// ---- pods and pod templates ---------------------------------------------------------------------

/**
 * The tag kube's parsers.ParseImageName finds: an explicit tag, "" when only a digest is given,
 * "latest" when neither is (a registry port like "host:5000/img" is not a tag).
 */
export function imageTag(image: string): string {
  const at = image.indexOf('@');
  const hasDigest = at >= 0;
  const ref = hasDigest ? image.slice(0, at) : image;
  const lastSlash = ref.lastIndexOf('/');
  const colon = ref.indexOf(':', lastSlash + 1);
  if (colon >= 0) return ref.slice(colon + 1);
  return hasDigest ? '' : 'latest';
}

/** SetDefaults_Container's imagePullPolicy: Always for ":latest" (or no tag), else IfNotPresent. */
export function defaultPullPolicy(image: string): 'Always' | 'IfNotPresent' {
  return imageTag(image) === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultProbe(p: JsonValue | undefined): void {
  if (!isJsonObject(p)) return;
  setIfMissing(p, 'timeoutSeconds', 1);
  setIfMissing(p, 'periodSeconds', 10);
  setIfMissing(p, 'successThreshold', 1);
  setIfMissing(p, 'failureThreshold', 3);
  if (isJsonObject(p.httpGet)) {
    setIfMissing(p.httpGet, 'path', '/');
    setIfMissing(p.httpGet, 'scheme', 'HTTP');
  }
}

function defaultContainer(c: JsonObject, hostNetwork: boolean, isPod: boolean): void {
  const image = typeof c.image === 'string' ? c.image : '';
  // An unparsable (even empty) image gets IfNotPresent: kube ignores the parse error there.
  if (missing(c.imagePullPolicy)) c.imagePullPolicy = image === '' ? 'IfNotPresent' : defaultPullPolicy(image);
  setIfMissing(c, 'terminationMessagePath', '/dev/termination-log');
  setIfMissing(c, 'terminationMessagePolicy', 'File');
  if (!isJsonObject(c.resources)) c.resources = {};
  // A pod (not a template) whose container sets only limits gets equal requests (SetDefaults_Pod).
  if (isPod && isJsonObject(c.resources.limits)) {
    const requests = ensureObject(c.resources, 'requests');
    for (const [name, q] of Object.entries(c.resources.limits)) if (requests[name] === undefined) requests[name] = q;
  }
  for (const port of objects(c.ports)) {
    setIfMissing(port, 'protocol', 'TCP');
    if (hostNetwork && missing(port.hostPort) && typeof port.containerPort === 'number') port.hostPort = port.containerPort;
  }
  for (const e of objects(c.env)) {
    const ref = getPath(e, 'valueFrom', 'fieldRef');
    if (isJsonObject(ref)) setIfMissing(ref, 'apiVersion', 'v1');
  }
  defaultProbe(c.livenessProbe);
  defaultProbe(c.readinessProbe);
  defaultProbe(c.startupProbe);
}

function defaultVolume(v: JsonObject): void {
  for (const src of ['secret', 'configMap', 'downwardAPI'] as const) {
    const s = v[src];
    if (isJsonObject(s)) setIfMissing(s, 'defaultMode', 420);
  }
  if (isJsonObject(v.projected)) setIfMissing(v.projected, 'defaultMode', 420);
  if (isJsonObject(v.hostPath)) setIfMissing(v.hostPath, 'type', '');
  // A volume with no source at all is an emptyDir (SetDefaults_Volume).
  const sources = Object.keys(v).filter((k) => k !== 'name');
  if (sources.length === 0) v.emptyDir = {};
}

/** SetDefaults_PodSpec and friends; `isPod` adds what only live pods get (not templates). */
export function defaultPodSpec(spec: JsonObject, isPod: boolean): void {
  setIfMissing(spec, 'dnsPolicy', 'ClusterFirst');
  setIfMissing(spec, 'restartPolicy', 'Always');
  setIfMissing(spec, 'terminationGracePeriodSeconds', 30);
  setIfMissing(spec, 'schedulerName', 'default-scheduler');
  if (!isJsonObject(spec.securityContext)) spec.securityContext = {};
  if (spec.enableServiceLinks === undefined || spec.enableServiceLinks === null) spec.enableServiceLinks = true;
  const hostNetwork = spec.hostNetwork === true;
  for (const list of ['initContainers', 'containers', 'ephemeralContainers'] as const) {
    for (const c of objects(spec[list])) defaultContainer(c, hostNetwork, isPod);
  }
  for (const v of objects(spec.volumes)) defaultVolume(v);
  if (isPod) {
    // What kube's default admission plugins add to every pod.
    setIfMissing(spec, 'serviceAccountName', 'default');
    setIfMissing(spec, 'serviceAccount', String(spec.serviceAccountName));
    if (spec.priority === undefined || spec.priority === null) spec.priority = 0;
    setIfMissing(spec, 'preemptionPolicy', 'PreemptLowerPriority');
    const tolerations = Array.isArray(spec.tolerations) ? spec.tolerations : [];
    for (const key of ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']) {
      const has = tolerations.some((t) => isJsonObject(t) && (t.key === key || (t.key === undefined && t.operator === 'Exists')) && (t.effect === undefined || t.effect === 'NoExecute' || t.effect === ''));
      if (!has) tolerations.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 });
    }
    spec.tolerations = tolerations;
  }
}

/**
 * kube's QoS class (pkg/apis/core/helper/qos): Guaranteed when every container has cpu and memory
 * limits equal to its requests, BestEffort when none sets any, Burstable otherwise.
 */
export function podQosClass(pod: JsonObject): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const containers = [...objects(getPath(pod, 'spec', 'initContainers')), ...objects(getPath(pod, 'spec', 'containers'))];
  let any = false;
  let guaranteed = containers.length > 0;
  for (const c of containers) {
    const req = getPath(c, 'resources', 'requests');
    const lim = getPath(c, 'resources', 'limits');
    const reqO = isJsonObject(req) ? req : {};
    const limO = isJsonObject(lim) ? lim : {};
    if (Object.keys(reqO).length > 0 || Object.keys(limO).length > 0) any = true;
    for (const r of ['cpu', 'memory']) {
      const l = limO[r];
      const q = reqO[r] ?? l;
      if (l === undefined || String(q) !== String(l)) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

function defaultPod(o: JsonObject): void {
  const spec = ensureObject(o, 'spec');
  defaultPodSpec(spec, true);
  // The pod strategy's PrepareForCreate: a new pod is Pending with its QoS class.
  const status = ensureObject(o, 'status');
  setIfMissing(status, 'phase', 'Pending');
  setIfMissing(status, 'qosClass', podQosClass(o));
}

function defaultTemplate(o: JsonObject): void {
  const template = getPath(o, 'spec', 'template');
  if (!isJsonObject(template)) return;
  const spec = ensureObject(template, 'spec');
  defaultPodSpec(spec, false);
}

// ---- apps -----------------------------------------------------------------------------------

function defaultDeployment(o: JsonObject): void {
  const spec = ensureObject(o, 'spec');
  if (spec.replicas === undefined || spec.replicas === null) spec.replicas = 1;
  const strategy = ensureObject(spec, 'strategy');
  setIfMissing(strategy, 'type', 'RollingUpdate');
  if (strategy.type === 'RollingUpdate') {
    const ru = ensureObject(strategy, 'rollingUpdate');
    setIfMissing(ru, 'maxUnavailable', '25%');
    setIfMissing(ru, 'maxSurge', '25%');
  }
  if (spec.revisionHistoryLimit === undefined || spec.revisionHistoryLimit === null) spec.revisionHistoryLimit = 10;
  if (spec.progressDeadlineSeconds === undefined || spec.progressDeadlineSeconds === null) spec.progressDeadlineSeconds = 600;
  defaultTemplate(o);
}

function defaultReplicaSet(o: JsonObject): void {
  const spec = ensureObject(o, 'spec');
  if (spec.replicas === undefined || spec.replicas === null) spec.replicas = 1;
  defaultTemplate(o);
}

// ---- services, namespaces, nodes --------------------------------------------------------------

function defaultService(o: JsonObject): void {
  const spec = ensureObject(o, 'spec');
  setIfMissing(spec, 'type', 'ClusterIP');
  setIfMissing(spec, 'sessionAffinity', 'None');
  if (spec.sessionAffinity === 'ClientIP') {
    const cfg = ensureObject(spec, 'sessionAffinityConfig', 'clientIP');
    setIfMissing(cfg, 'timeoutSeconds', 10800);
  }
  for (const p of objects(spec.ports)) {
    setIfMissing(p, 'protocol', 'TCP');
    if (missing(p.targetPort) || p.targetPort === 0) p.targetPort = p.port ?? null;
  }
  const type = getString(spec, 'type');
  if (type === 'NodePort' || type === 'LoadBalancer') setIfMissing(spec, 'externalTrafficPolicy', 'Cluster');
  if (type !== 'ExternalName') setIfMissing(spec, 'internalTrafficPolicy', 'Cluster');
  if (type === 'LoadBalancer' && (spec.allocateLoadBalancerNodePorts === undefined || spec.allocateLoadBalancerNodePorts === null)) {
    spec.allocateLoadBalancerNodePorts = true;
  }
}

function defaultNamespace(o: JsonObject): void {
  // SetDefaults_Namespace labels every namespace with its own name (kube 1.21+).
  const name = getString(o, 'metadata', 'name');
  if (name !== undefined && name !== '') {
    const labels = ensureObject(o, 'metadata', 'labels');
    labels['kubernetes.io/metadata.name'] = name;
  }
  // The namespace strategy's PrepareForCreate.
  const spec = ensureObject(o, 'spec');
  const finalizers = getArray(spec, 'finalizers') ?? [];
  if (!finalizers.includes('kubernetes')) finalizers.push('kubernetes');
  spec.finalizers = finalizers;
  const status = ensureObject(o, 'status');
  setIfMissing(status, 'phase', 'Active');
}

function defaultNode(o: JsonObject): void {
  // SetDefaults_NodeStatus: allocatable defaults to capacity.
  const status = getPath(o, 'status');
  if (isJsonObject(status) && isJsonObject(status.capacity) && !isJsonObject(status.allocatable)) {
    status.allocatable = cloneJson(status.capacity);
  }
}
