// Validation of the kinds we serve, after defaulting, with kube's field paths and messages
// (k8s.io/kubernetes pkg/apis/core/validation/validation.go, pkg/apis/apps/validation,
// pkg/apis/coordination/validation; apimachinery api/validation/objectmeta.go). Returns field
// errors; the caller answers 422 with `invalid(kind, name, errors)`. Covers what users hit in
// practice (names, required fields, enums, ports, selectors, immutable fields), not every rule.
import { getPath, isJsonObject, jsonEqual, type JsonObject, type JsonValue } from './json.js';
import { labelSelectorErrors, labelSelectorFromObject } from './label-selector.js';
import { isPathSegmentName, rbacKinds, validateRbac } from './rbac-validation.js';
import {
  isConfigMapKey,
  isDns1035Label,
  isDns1123Label,
  isDns1123Subdomain,
  isEnvVarName,
  isQualifiedName,
  isValidLabelValue,
  isValidPortName,
  isValidPortNum,
} from './names.js';
import {
  duplicate,
  fieldForbidden,
  fieldNotFound,
  invalidValue,
  notSupported,
  required,
  tooLong,
  type FieldError,
} from './status.js';

export type { FieldError as Cause } from './status.js';

export interface ValidateOptions {
  /**
   * A write through the status subresource, or a pod binding (which sets spec.nodeName, a field
   * a pod update may not change): only metadata rules apply, as in kube's status strategies and
   * binding path.
   */
  subresource?: 'status' | 'binding';
}

type NameCheck = (name: string) => string[];

/** How each kind's metadata.name is checked (kube's per-registry ValidateNameFunc). */
const NAME_CHECKS: Readonly<Record<string, NameCheck>> = {
  Namespace: isDns1123Label,
  Service: isDns1035Label,
};

const CLUSTER_SCOPED = new Set(['Namespace', 'Node', 'ClusterRole', 'ClusterRoleBinding']);

/**
 * Validate an object of `kind` (create when `oldObj` is absent, update otherwise). The object is
 * expected to be defaulted already (applyDefaults), as in kube.
 */
export function validate(kind: string, obj: JsonObject, oldObj?: JsonObject, opts: ValidateOptions = {}): FieldError[] {
  const errs: FieldError[] = [];
  errs.push(...validateObjectMeta(kind, obj));
  if (oldObj !== undefined) errs.push(...validateObjectMetaUpdate(obj, oldObj));
  if (opts.subresource === 'status' || opts.subresource === 'binding') return errs;
  switch (kind) {
    case 'Pod':
      errs.push(...validatePodSpec(obj.spec, 'spec', true));
      if (oldObj !== undefined) errs.push(...validatePodUpdate(obj, oldObj));
      break;
    case 'Deployment':
    case 'ReplicaSet':
      errs.push(...validateWorkload(kind, obj));
      if (oldObj !== undefined && !jsonEqual(getPath(obj, 'spec', 'selector'), getPath(oldObj, 'spec', 'selector'))) {
        errs.push(invalidValue('spec.selector', getPath(obj, 'spec', 'selector') ?? null, 'field is immutable'));
      }
      break;
    case 'Service':
      errs.push(...validateService(obj));
      if (oldObj !== undefined) errs.push(...validateServiceUpdate(obj, oldObj));
      break;
    case 'ConfigMap':
      errs.push(...validateDataMaps(obj, ['data', 'binaryData']));
      if (oldObj !== undefined && oldObj.immutable === true) errs.push(...immutableData(obj, oldObj, ['data', 'binaryData']));
      break;
    case 'Secret':
      errs.push(...validateDataMaps(obj, ['data', 'stringData']));
      if (oldObj !== undefined) {
        if (!jsonEqual(obj.type, oldObj.type)) errs.push(invalidValue('type', obj.type ?? null, 'field is immutable'));
        if (oldObj.immutable === true) errs.push(...immutableData(obj, oldObj, ['data']));
      }
      break;
    case 'Lease':
      errs.push(...validateLease(obj));
      break;
    case 'Event':
      errs.push(...validateEvent(obj));
      break;
    case 'Endpoints':
      errs.push(...validateEndpoints(obj));
      break;
    case 'Node':
      errs.push(...validateNode(obj));
      break;
    default:
      errs.push(...validateRbac(kind, obj, oldObj));
      break;
  }
  return errs;
}

// ---- metadata ----------------------------------------------------------------------------

const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;
const STANDARD_FINALIZERS = new Set(['kubernetes', 'orphan', 'foregroundDeletion']);

/** ValidateObjectMeta: name/generateName, namespace scope, labels, annotations, finalizers, owners. */
export function validateObjectMeta(kind: string, obj: JsonObject): FieldError[] {
  const errs: FieldError[] = [];
  const meta = isJsonObject(obj.metadata) ? obj.metadata : {};
  const check = NAME_CHECKS[kind] ?? (rbacKinds.has(kind) ? isPathSegmentName : isDns1123Subdomain);
  const name = typeof meta.name === 'string' ? meta.name : '';
  const generateName = typeof meta.generateName === 'string' ? meta.generateName : '';
  if (generateName !== '') {
    // A prefix is checked without its trailing dash (kube's maskTrailingDash).
    const prefix = generateName.endsWith('-') && generateName.length > 1 ? generateName.slice(0, -1) + 'a' : generateName;
    for (const m of check(prefix)) errs.push(invalidValue('metadata.generateName', generateName, m));
  }
  if (name === '' && generateName === '') errs.push(required('metadata.name', 'name or generateName is required'));
  else if (name !== '') for (const m of check(name)) errs.push(invalidValue('metadata.name', name, m));

  const ns = typeof meta.namespace === 'string' ? meta.namespace : '';
  if (CLUSTER_SCOPED.has(kind)) {
    if (ns !== '') errs.push(fieldForbidden('metadata.namespace', 'not allowed on this type'));
  } else if (ns === '') {
    errs.push(required('metadata.namespace', ''));
  } else {
    for (const m of isDns1123Label(ns)) errs.push(invalidValue('metadata.namespace', ns, m));
  }

  errs.push(...validateLabels(meta.labels, 'metadata.labels'));
  errs.push(...validateAnnotations(meta.annotations, 'metadata.annotations'));

  if (Array.isArray(meta.finalizers)) {
    meta.finalizers.forEach((f, i) => {
      const p = `metadata.finalizers[${i}]`;
      if (typeof f !== 'string') errs.push(invalidValue(p, f, 'must be a string'));
      else if (!f.includes('/')) {
        if (!STANDARD_FINALIZERS.has(f)) errs.push(invalidValue(p, f, 'name is neither a standard finalizer name nor is it fully qualified'));
      } else for (const m of isQualifiedName(f)) errs.push(invalidValue(p, f, m));
    });
  }
  if (Array.isArray(meta.ownerReferences)) {
    let controllers = 0;
    meta.ownerReferences.forEach((r, i) => {
      const p = `metadata.ownerReferences[${i}]`;
      if (!isJsonObject(r)) return;
      for (const f of ['apiVersion', 'kind', 'name', 'uid']) {
        if (typeof r[f] !== 'string' || r[f] === '') errs.push(invalidValue(`${p}.${f}`, r[f] ?? '', `${f} must not be empty`));
      }
      if (r.controller === true) controllers++;
    });
    if (controllers > 1) {
      errs.push(invalidValue('metadata.ownerReferences', meta.ownerReferences, 'Only one reference can have Controller set to true.'));
    }
  }
  return errs;
}

export function validateLabels(labels: JsonValue | undefined, path: string): FieldError[] {
  if (labels === undefined || labels === null) return [];
  if (!isJsonObject(labels)) return [invalidValue(path, labels, 'must be a map of strings')];
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries(labels)) {
    for (const m of isQualifiedName(k)) errs.push(invalidValue(path, k, m));
    if (typeof v !== 'string') errs.push(invalidValue(path, v, 'must be a string'));
    else for (const m of isValidLabelValue(v)) errs.push(invalidValue(path, v, m));
  }
  return errs;
}

export function validateAnnotations(annotations: JsonValue | undefined, path: string): FieldError[] {
  if (annotations === undefined || annotations === null) return [];
  if (!isJsonObject(annotations)) return [invalidValue(path, annotations, 'must be a map of strings')];
  const errs: FieldError[] = [];
  let total = 0;
  for (const [k, v] of Object.entries(annotations)) {
    for (const m of isQualifiedName(k.toLowerCase())) errs.push(invalidValue(path, k, m));
    if (typeof v !== 'string') errs.push(invalidValue(path, v, 'must be a string'));
    total += Buffer.byteLength(k) + (typeof v === 'string' ? Buffer.byteLength(v) : 0);
  }
  if (total > TOTAL_ANNOTATION_SIZE_LIMIT) errs.push(tooLong(path, TOTAL_ANNOTATION_SIZE_LIMIT));
  return errs;
}

function validateObjectMetaUpdate(obj: JsonObject, old: JsonObject): FieldError[] {
  const errs: FieldError[] = [];
  for (const f of ['name', 'namespace', 'uid', 'creationTimestamp'] as const) {
    const now = getPath(obj, 'metadata', f);
    const was = getPath(old, 'metadata', f);
    // An update that omits uid/creationTimestamp keeps the stored ones (the registry fills them).
    if (now === undefined && (f === 'uid' || f === 'creationTimestamp')) continue;
    if (!jsonEqual(now ?? '', was ?? '')) errs.push(invalidValue(`metadata.${f}`, now ?? '', 'field is immutable'));
  }
  return errs;
}

// ---- pods ----------------------------------------------------------------------------------

const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];
const DNS_POLICIES = ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'];
const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'];
const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const TERMINATION_MESSAGE_POLICIES = ['File', 'FallbackToLogsOnError'];

function list(v: JsonValue | undefined): JsonValue[] {
  return Array.isArray(v) ? v : [];
}

function str(v: JsonValue | undefined): string {
  return typeof v === 'string' ? v : '';
}

function isInt(v: JsonValue | undefined): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

function nonNegative(v: JsonValue | undefined, path: string): FieldError[] {
  if (v === undefined || v === null) return [];
  if (!isInt(v)) return [invalidValue(path, v, 'must be an integer')];
  return v < 0 ? [invalidValue(path, v, 'must be greater than or equal to 0')] : [];
}

function validateVolumes(volumes: JsonValue | undefined, path: string): { errs: FieldError[]; names: Set<string> } {
  const errs: FieldError[] = [];
  const names = new Set<string>();
  list(volumes).forEach((v, i) => {
    const p = `${path}[${i}]`;
    if (!isJsonObject(v)) return errs.push(invalidValue(p, v, 'must be an object'));
    const name = str(v.name);
    if (name === '') errs.push(required(`${p}.name`, ''));
    else {
      for (const m of isDns1123Label(name)) errs.push(invalidValue(`${p}.name`, name, m));
      if (names.has(name)) errs.push(duplicate(`${p}.name`, name));
      names.add(name);
    }
    const sources = Object.keys(v).filter((k) => k !== 'name');
    if (sources.length === 0) errs.push(required(p, 'must specify a volume type'));
    else if (sources.length > 1) errs.push(fieldForbidden(`${p}.${sources[1]}`, 'may not specify more than 1 volume type'));
    return 0;
  });
  return { errs, names };
}

function validateContainerPorts(ports: JsonValue | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const names = new Set<string>();
  list(ports).forEach((port, i) => {
    const p = `${path}[${i}]`;
    if (!isJsonObject(port)) return errs.push(invalidValue(p, port, 'must be an object'));
    const name = str(port.name);
    if (name !== '') {
      for (const m of isValidPortName(name)) errs.push(invalidValue(`${p}.name`, name, m));
      if (names.has(name)) errs.push(duplicate(`${p}.name`, name));
      names.add(name);
    }
    const cp = port.containerPort;
    if (cp === undefined || cp === null || cp === 0) errs.push(required(`${p}.containerPort`, ''));
    else for (const m of isValidPortNum(typeof cp === 'number' ? cp : NaN)) errs.push(invalidValue(`${p}.containerPort`, cp, m));
    if (port.hostPort !== undefined && port.hostPort !== null && port.hostPort !== 0) {
      for (const m of isValidPortNum(typeof port.hostPort === 'number' ? port.hostPort : NaN)) errs.push(invalidValue(`${p}.hostPort`, port.hostPort, m));
    }
    const proto = str(port.protocol);
    if (proto === '') errs.push(required(`${p}.protocol`, ''));
    else if (!PROTOCOLS.includes(proto)) errs.push(notSupported(`${p}.protocol`, proto, PROTOCOLS));
    return 0;
  });
  return errs;
}

function validateContainer(c: JsonValue, path: string, volumes: Set<string>, seen: Set<string>): FieldError[] {
  if (!isJsonObject(c)) return [invalidValue(path, c, 'must be an object')];
  const errs: FieldError[] = [];
  const name = str(c.name);
  if (name === '') errs.push(required(`${path}.name`, ''));
  else {
    for (const m of isDns1123Label(name)) errs.push(invalidValue(`${path}.name`, name, m));
    if (seen.has(name)) errs.push(duplicate(`${path}.name`, name));
    seen.add(name);
  }
  if (str(c.image).trim() === '') errs.push(required(`${path}.image`, ''));
  const pull = str(c.imagePullPolicy);
  if (pull === '') errs.push(required(`${path}.imagePullPolicy`, ''));
  else if (!PULL_POLICIES.includes(pull)) errs.push(notSupported(`${path}.imagePullPolicy`, pull, PULL_POLICIES));
  const tmp = str(c.terminationMessagePolicy);
  if (tmp !== '' && !TERMINATION_MESSAGE_POLICIES.includes(tmp)) {
    errs.push(notSupported(`${path}.terminationMessagePolicy`, tmp, TERMINATION_MESSAGE_POLICIES));
  }
  errs.push(...validateContainerPorts(c.ports, `${path}.ports`));
  list(c.env).forEach((e, i) => {
    const p = `${path}.env[${i}]`;
    if (!isJsonObject(e)) return errs.push(invalidValue(p, e, 'must be an object'));
    const n = str(e.name);
    if (n === '') errs.push(required(`${p}.name`, ''));
    else for (const m of isEnvVarName(n)) errs.push(invalidValue(`${p}.name`, n, m));
    if (e.value !== undefined && e.valueFrom !== undefined && e.value !== '') {
      errs.push(invalidValue(`${p}.valueFrom`, '', "may not be specified when `value` is not empty"));
    }
    return 0;
  });
  const mountPaths = new Set<string>();
  list(c.volumeMounts).forEach((vm, i) => {
    const p = `${path}.volumeMounts[${i}]`;
    if (!isJsonObject(vm)) return errs.push(invalidValue(p, vm, 'must be an object'));
    const n = str(vm.name);
    if (n === '') errs.push(required(`${p}.name`, ''));
    else if (!volumes.has(n)) errs.push(fieldNotFound(`${p}.name`, n));
    const mp = str(vm.mountPath);
    if (mp === '') errs.push(required(`${p}.mountPath`, ''));
    else {
      if (mountPaths.has(mp)) errs.push(invalidValue(`${p}.mountPath`, mp, 'must be unique'));
      mountPaths.add(mp);
    }
    return 0;
  });
  return errs;
}

/** ValidatePodSpec (the parts users trip over); `isPod` for live pods vs. templates. */
export function validatePodSpec(spec: JsonValue | undefined, path: string, _isPod: boolean): FieldError[] {
  if (!isJsonObject(spec)) return [required(path, '')];
  const errs: FieldError[] = [];
  const vols = validateVolumes(spec.volumes, `${path}.volumes`);
  errs.push(...vols.errs);
  const seen = new Set<string>();
  list(spec.initContainers).forEach((c, i) => errs.push(...validateContainer(c, `${path}.initContainers[${i}]`, vols.names, seen)));
  const containers = list(spec.containers);
  if (containers.length === 0) errs.push(required(`${path}.containers`, ''));
  containers.forEach((c, i) => errs.push(...validateContainer(c, `${path}.containers[${i}]`, vols.names, seen)));
  const rp = str(spec.restartPolicy);
  if (rp === '') errs.push(required(`${path}.restartPolicy`, ''));
  else if (!RESTART_POLICIES.includes(rp)) errs.push(notSupported(`${path}.restartPolicy`, rp, RESTART_POLICIES));
  const dp = str(spec.dnsPolicy);
  if (dp === '') errs.push(required(`${path}.dnsPolicy`, ''));
  else if (!DNS_POLICIES.includes(dp)) errs.push(notSupported(`${path}.dnsPolicy`, dp, DNS_POLICIES));
  errs.push(...nonNegative(spec.terminationGracePeriodSeconds, `${path}.terminationGracePeriodSeconds`));
  const ads = spec.activeDeadlineSeconds;
  if (ads !== undefined && ads !== null && (!isInt(ads) || ads < 1)) {
    errs.push(invalidValue(`${path}.activeDeadlineSeconds`, ads, 'must be between 1 and 2147483647, inclusive'));
  }
  const nodeName = str(spec.nodeName);
  if (nodeName !== '') for (const m of isDns1123Subdomain(nodeName)) errs.push(invalidValue(`${path}.nodeName`, nodeName, m));
  const sa = str(spec.serviceAccountName);
  if (sa !== '') for (const m of isDns1123Subdomain(sa)) errs.push(invalidValue(`${path}.serviceAccountName`, sa, m));
  if (spec.nodeSelector !== undefined && spec.nodeSelector !== null) errs.push(...validateLabels(spec.nodeSelector, `${path}.nodeSelector`));
  return errs;
}

/**
 * ValidatePodUpdate: only images, activeDeadlineSeconds, added tolerations and (for pods being
 * deleted) terminationGracePeriodSeconds may change. kube's message lists what may change.
 */
function validatePodUpdate(obj: JsonObject, old: JsonObject): FieldError[] {
  const mask = (spec: JsonValue | undefined, other: JsonValue | undefined): JsonValue => {
    if (!isJsonObject(spec)) return spec ?? null;
    const copy: JsonObject = { ...spec };
    for (const list of ['containers', 'initContainers'] as const) {
      const cs = spec[list];
      if (Array.isArray(cs)) copy[list] = cs.map((c) => (isJsonObject(c) ? { ...c, image: '' } : c));
    }
    delete copy.activeDeadlineSeconds;
    delete copy.terminationGracePeriodSeconds;
    // Tolerations may only be added to; the old ones must still be there.
    const olds = isJsonObject(other) ? list(other.tolerations) : [];
    const news = list(spec.tolerations);
    copy.tolerations = olds.every((t) => news.some((n) => jsonEqual(n, t))) ? null : news;
    return copy;
  };
  const before = mask(old.spec, old.spec);
  const after = mask(obj.spec, old.spec);
  if (jsonEqual(before, after)) return [];
  return [
    fieldForbidden(
      'spec',
      'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,' +
        '`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),' +
        '`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
    ),
  ];
}

// ---- deployments and replicasets ------------------------------------------------------------

function isIntOrPercent(v: JsonValue | undefined): boolean {
  return (isInt(v) && v >= 0) || (typeof v === 'string' && /^\d+%$/.test(v));
}

function isZero(v: JsonValue | undefined): boolean {
  return v === 0 || v === '0%';
}

function validateWorkload(kind: string, obj: JsonObject): FieldError[] {
  const errs: FieldError[] = [];
  const spec = isJsonObject(obj.spec) ? obj.spec : {};
  errs.push(...nonNegative(spec.replicas, 'spec.replicas'));
  errs.push(...nonNegative(spec.minReadySeconds, 'spec.minReadySeconds'));
  const selector = spec.selector;
  if (selector === undefined || selector === null) errs.push(required('spec.selector', ''));
  else {
    errs.push(...labelSelectorErrors(selector, 'spec.selector'));
    let empty = false;
    let sel;
    try {
      sel = labelSelectorFromObject(selector);
      empty = sel.isEmpty();
    } catch {
      sel = undefined;
    }
    if (empty) errs.push(invalidValue('spec.selector', selector, `empty selector is invalid for ${kind.toLowerCase()}`));
    const labels = getPath(spec, 'template', 'metadata', 'labels');
    const labelMap: Record<string, string> = {};
    if (isJsonObject(labels)) for (const [k, v] of Object.entries(labels)) if (typeof v === 'string') labelMap[k] = v;
    if (sel !== undefined && !empty && !sel.matches(labelMap)) {
      errs.push(invalidValue('spec.template.metadata.labels', labels ?? {}, '`selector` does not match template `labels`'));
    }
  }
  const template = spec.template;
  if (!isJsonObject(template)) errs.push(required('spec.template', ''));
  else {
    errs.push(...validateLabels(getPath(template, 'metadata', 'labels'), 'spec.template.metadata.labels'));
    errs.push(...validateAnnotations(getPath(template, 'metadata', 'annotations'), 'spec.template.metadata.annotations'));
    errs.push(...validatePodSpec(template.spec, 'spec.template.spec', false));
    const rp = getPath(template, 'spec', 'restartPolicy');
    if (typeof rp === 'string' && rp !== 'Always' && RESTART_POLICIES.includes(rp)) {
      errs.push(notSupported('spec.template.spec.restartPolicy', rp, ['Always']));
    }
  }
  if (kind === 'Deployment') {
    errs.push(...nonNegative(spec.revisionHistoryLimit, 'spec.revisionHistoryLimit'));
    const strategy = isJsonObject(spec.strategy) ? spec.strategy : {};
    const type = str(strategy.type);
    if (type === '') errs.push(required('spec.strategy.type', ''));
    else if (type !== 'Recreate' && type !== 'RollingUpdate') errs.push(notSupported('spec.strategy.type', type, ['Recreate', 'RollingUpdate']));
    if (type === 'Recreate' && strategy.rollingUpdate !== undefined && strategy.rollingUpdate !== null) {
      errs.push(fieldForbidden('spec.strategy.rollingUpdate', "may not be specified when strategy `type` is 'Recreate'"));
    }
    if (type === 'RollingUpdate' && isJsonObject(strategy.rollingUpdate)) {
      const ru = strategy.rollingUpdate;
      for (const f of ['maxUnavailable', 'maxSurge'] as const) {
        const v = ru[f];
        if (v !== undefined && v !== null && !isIntOrPercent(v)) {
          errs.push(invalidValue(`spec.strategy.rollingUpdate.${f}`, v, 'a valid percent string must be a numeric string followed by an ending \'%\''));
        }
        if (typeof v === 'string' && /^\d+%$/.test(v) && Number(v.slice(0, -1)) > 100 && f === 'maxUnavailable') {
          errs.push(invalidValue(`spec.strategy.rollingUpdate.${f}`, v, 'must not be greater than 100%'));
        }
      }
      if (isZero(ru.maxUnavailable) && isZero(ru.maxSurge)) {
        errs.push(invalidValue('spec.strategy.rollingUpdate.maxUnavailable', ru.maxUnavailable ?? null, 'may not be 0 when `maxSurge` is 0'));
      }
    }
    const pds = spec.progressDeadlineSeconds;
    if (pds !== undefined && pds !== null) {
      errs.push(...nonNegative(pds, 'spec.progressDeadlineSeconds'));
      const mrs = isInt(spec.minReadySeconds) ? spec.minReadySeconds : 0;
      if (isInt(pds) && pds <= mrs) errs.push(invalidValue('spec.progressDeadlineSeconds', pds, 'must be greater than minReadySeconds'));
    }
  }
  return errs;
}

// ---- services --------------------------------------------------------------------------------

const SERVICE_TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
const AFFINITIES = ['ClientIP', 'None'];

export function isIp(s: string): boolean {
  const v4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
  if (v4.test(s)) return true;
  // IPv6: let the URL parser judge it.
  if (!s.includes(':')) return false;
  try {
    return new URL(`http://[${s}]/`).hostname.length > 2;
  } catch {
    return false;
  }
}

function validateService(obj: JsonObject): FieldError[] {
  const errs: FieldError[] = [];
  const spec = isJsonObject(obj.spec) ? obj.spec : {};
  const type = str(spec.type);
  if (type === '') errs.push(required('spec.type', ''));
  else if (!SERVICE_TYPES.includes(type)) errs.push(notSupported('spec.type', type, SERVICE_TYPES));
  const aff = str(spec.sessionAffinity);
  if (aff !== '' && !AFFINITIES.includes(aff)) errs.push(notSupported('spec.sessionAffinity', aff, AFFINITIES));
  const clusterIP = str(spec.clusterIP);
  if (type === 'ExternalName') {
    const en = str(spec.externalName);
    if (en === '') errs.push(required('spec.externalName', ''));
    else for (const m of isDns1123Subdomain(en.replace(/\.$/, ''))) errs.push(invalidValue('spec.externalName', en, m));
    if (clusterIP !== '') errs.push(fieldForbidden('spec.clusterIP', 'may not be set for ExternalName services'));
  } else if (clusterIP !== '' && clusterIP !== 'None' && !isIp(clusterIP)) {
    errs.push(invalidValue('spec.clusterIP', clusterIP, 'must be empty, \'None\', or a valid IP address'));
  }
  if (clusterIP === 'None' && (type === 'NodePort' || type === 'LoadBalancer')) {
    errs.push(invalidValue('spec.clusterIP', clusterIP, `may not be set to 'None' for ${type} services`));
  }
  const ports = list(spec.ports);
  if (ports.length === 0 && type !== 'ExternalName' && clusterIP !== 'None') errs.push(required('spec.ports', ''));
  const names = new Set<string>();
  const keys = new Set<string>();
  ports.forEach((port, i) => {
    const p = `spec.ports[${i}]`;
    if (!isJsonObject(port)) return errs.push(invalidValue(p, port, 'must be an object'));
    const name = str(port.name);
    if (ports.length > 1 && name === '') errs.push(required(`${p}.name`, ''));
    if (name !== '') {
      for (const m of isDns1123Label(name)) errs.push(invalidValue(`${p}.name`, name, m));
      if (names.has(name)) errs.push(duplicate(`${p}.name`, name));
      names.add(name);
    }
    const num = port.port;
    for (const m of isValidPortNum(typeof num === 'number' ? num : NaN)) errs.push(invalidValue(`${p}.port`, num ?? null, m));
    const proto = str(port.protocol);
    if (proto === '') errs.push(required(`${p}.protocol`, ''));
    else if (!PROTOCOLS.includes(proto)) errs.push(notSupported(`${p}.protocol`, proto, PROTOCOLS));
    const key = `${String(num)}/${proto}`;
    if (keys.has(key)) errs.push(duplicate(p, { port: num ?? null, protocol: proto }));
    keys.add(key);
    const tp = port.targetPort;
    if (typeof tp === 'number') for (const m of isValidPortNum(tp)) errs.push(invalidValue(`${p}.targetPort`, tp, m));
    else if (typeof tp === 'string') for (const m of isValidPortName(tp)) errs.push(invalidValue(`${p}.targetPort`, tp, m));
    const np = port.nodePort;
    if (np !== undefined && np !== null && np !== 0) {
      if (type !== 'NodePort' && type !== 'LoadBalancer') errs.push(fieldForbidden(`${p}.nodePort`, 'may not be used when `type` is \'ClusterIP\''));
      else for (const m of isValidPortNum(typeof np === 'number' ? np : NaN)) errs.push(invalidValue(`${p}.nodePort`, np, m));
    }
    return 0;
  });
  if (spec.selector !== undefined && spec.selector !== null) errs.push(...validateLabels(spec.selector, 'spec.selector'));
  return errs;
}

function validateServiceUpdate(obj: JsonObject, old: JsonObject): FieldError[] {
  const now = str(getPath(obj, 'spec', 'clusterIP'));
  const was = str(getPath(old, 'spec', 'clusterIP'));
  // Changing to or from ExternalName releases/allocates; otherwise an allocated IP is fixed.
  const types = [str(getPath(obj, 'spec', 'type')), str(getPath(old, 'spec', 'type'))];
  if (was !== '' && now !== was && !types.includes('ExternalName')) {
    return [invalidValue('spec.clusterIP', now, 'field is immutable')];
  }
  return [];
}

// ---- config, secrets, leases, events, endpoints, nodes ----------------------------------------

const MAX_DATA_BYTES = 1024 * 1024;

function validateDataMaps(obj: JsonObject, fields: readonly string[]): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  let total = 0;
  for (const f of fields) {
    const m = obj[f];
    if (m === undefined || m === null) continue;
    if (!isJsonObject(m)) {
      errs.push(invalidValue(f, m, 'must be a map of strings'));
      continue;
    }
    for (const [k, v] of Object.entries(m)) {
      for (const msg of isConfigMapKey(k)) errs.push(invalidValue(`${f}[${k}]`, k, msg));
      if (seen.has(k) && f !== 'stringData') errs.push(invalidValue(`${f}[${k}]`, k, 'duplicate of key present in ' + fields[0]));
      seen.add(k);
      if (typeof v !== 'string') errs.push(invalidValue(`${f}[${k}]`, v, 'must be a string'));
      else total += v.length;
    }
  }
  if (total > MAX_DATA_BYTES) errs.push(tooLong('data', MAX_DATA_BYTES));
  return errs;
}

function immutableData(obj: JsonObject, old: JsonObject, fields: readonly string[]): FieldError[] {
  const errs: FieldError[] = [];
  if (obj.immutable !== true) errs.push(fieldForbidden('immutable', 'field is immutable when `immutable` is set'));
  for (const f of fields) if (!jsonEqual(obj[f] ?? null, old[f] ?? null)) errs.push(fieldForbidden(f, 'field is immutable when `immutable` is set'));
  return errs;
}

function validateLease(obj: JsonObject): FieldError[] {
  const errs: FieldError[] = [];
  const spec = isJsonObject(obj.spec) ? obj.spec : {};
  const d = spec.leaseDurationSeconds;
  if (d !== undefined && d !== null && (!isInt(d) || d <= 0)) errs.push(invalidValue('spec.leaseDurationSeconds', d, 'must be greater than 0'));
  errs.push(...nonNegative(spec.leaseTransitions, 'spec.leaseTransitions'));
  for (const f of ['acquireTime', 'renewTime'] as const) {
    const t = spec[f];
    if (t !== undefined && t !== null && (typeof t !== 'string' || Number.isNaN(Date.parse(t)))) {
      errs.push(invalidValue(`spec.${f}`, t, 'must be an RFC 3339 time'));
    }
  }
  return errs;
}

function validateEvent(obj: JsonObject): FieldError[] {
  const errs: FieldError[] = [];
  const ns = str(getPath(obj, 'metadata', 'namespace'));
  const ions = str(getPath(obj, 'involvedObject', 'namespace'));
  if (ions !== '' && ions !== ns) errs.push(invalidValue('involvedObject.namespace', ions, 'does not match event.namespace'));
  return errs;
}

function validateEndpoints(obj: JsonObject): FieldError[] {
  const errs: FieldError[] = [];
  list(obj.subsets).forEach((s, i) => {
    if (!isJsonObject(s)) return;
    for (const kind of ['addresses', 'notReadyAddresses'] as const) {
      list(s[kind]).forEach((a, j) => {
        const ip = isJsonObject(a) ? str(a.ip) : '';
        if (!isIp(ip)) errs.push(invalidValue(`subsets[${i}].${kind}[${j}].ip`, ip, 'must be a valid IP address'));
      });
    }
    list(s.ports).forEach((p, j) => {
      if (!isJsonObject(p)) return;
      for (const m of isValidPortNum(typeof p.port === 'number' ? p.port : NaN)) errs.push(invalidValue(`subsets[${i}].ports[${j}].port`, p.port ?? null, m));
      const proto = str(p.protocol);
      if (!PROTOCOLS.includes(proto)) errs.push(notSupported(`subsets[${i}].ports[${j}].protocol`, proto, PROTOCOLS));
    });
  });
  return errs;
}

const TAINT_EFFECTS = ['NoExecute', 'NoSchedule', 'PreferNoSchedule'];

function validateNode(obj: JsonObject): FieldError[] {
  const errs: FieldError[] = [];
  list(getPath(obj, 'spec', 'taints')).forEach((t, i) => {
    if (!isJsonObject(t)) return;
    const key = str(t.key);
    for (const m of isQualifiedName(key)) errs.push(invalidValue(`spec.taints[${i}].key`, key, m));
    const effect = str(t.effect);
    if (effect === '') errs.push(required(`spec.taints[${i}].effect`, ''));
    else if (!TAINT_EFFECTS.includes(effect)) errs.push(notSupported(`spec.taints[${i}].effect`, effect, TAINT_EFFECTS));
  });
  return errs;
}

// ---- rules that depend on the version written through ------------------------------------------

const eventTextLimits = { reportingInstance: 128, action: 128, reason: 128 } as const;
const eventNoteLimit = 1024;

/**
 * Validation kube applies according to the request's group (ValidateEventCreate/Update in
 * pkg/apis/core/validation/events.go): an Event created through events.k8s.io/v1 must carry
 * eventTime, reportingController, reportingInstance, action, reason and a Normal/Warning type and
 * leave the deprecated core fields unset; an update through it may not change what identifies the
 * occurrence. `obj` and `oldObj` are in the stored (core/v1) form, so paths are core's names, as in
 * kube's messages. Core requests get no extra rules here.
 */
export function validateForRequestVersion(group: string, kind: string, obj: JsonObject, oldObj: JsonObject | undefined): FieldError[] {
  if (group !== 'events.k8s.io' || kind !== 'Event') return [];
  const errs: FieldError[] = [];
  const eventTime = obj.eventTime;
  const hasEventTime = typeof eventTime === 'string' && eventTime !== '';
  if (hasEventTime) {
    const ns = str(getPath(obj, 'metadata', 'namespace'));
    if (str(getPath(obj, 'involvedObject', 'namespace')) === '' && ns !== 'default' && ns !== 'kube-system') {
      errs.push(invalidValue('involvedObject.namespace', '', 'does not match event.namespace'));
    }
    const controller = str(obj.reportingComponent);
    if (controller === '') errs.push(required('reportingController', ''));
    for (const m of isQualifiedName(controller)) errs.push(invalidValue('reportingController', controller, m));
    for (const field of ['reportingInstance', 'action', 'reason'] as const) {
      const value = str(obj[field]);
      if (value === '') errs.push(required(field, ''));
      if (value.length > eventTextLimits[field]) errs.push(invalidValue(field, '', `can have at most ${eventTextLimits[field]} characters`));
    }
    if (str(obj.message).length > eventNoteLimit) errs.push(invalidValue('message', '', `can have at most ${eventNoteLimit} characters`));
  }
  if (oldObj === undefined) {
    errs.push(...eventSeriesErrors(obj));
    if (!hasEventTime) errs.push(required('eventTime', ''));
    const type = str(obj.type);
    if (type !== 'Normal' && type !== 'Warning') errs.push(invalidValue('type', '', `has invalid value: ${type}`));
    for (const field of ['firstTimestamp', 'lastTimestamp'] as const) {
      if (str(obj[field]) !== '') errs.push(invalidValue(field, '', 'needs to be unset'));
    }
    if (typeof obj.count === 'number' && obj.count !== 0) errs.push(invalidValue('count', '', 'needs to be unset'));
    if (str(getPath(obj, 'source', 'component')) !== '' || str(getPath(obj, 'source', 'host')) !== '') errs.push(invalidValue('source', '', 'needs to be unset'));
    return errs;
  }
  if (!jsonEqual(obj.series ?? null, oldObj.series ?? null)) errs.push(...eventSeriesErrors(obj));
  const immutable = ['involvedObject', 'reason', 'message', 'source', 'firstTimestamp', 'lastTimestamp', 'count', 'type', 'eventTime', 'action', 'related', 'reportingComponent', 'reportingInstance'];
  for (const field of immutable) {
    if (!jsonEqual(emptyAsNull(obj[field]), emptyAsNull(oldObj[field]))) {
      errs.push(invalidValue(field === 'reportingComponent' ? 'reportingController' : field, obj[field] ?? null, 'field is immutable'));
    }
  }
  return errs;
}

function emptyAsNull(v: JsonValue | undefined): JsonValue {
  if (v === undefined || v === '' || v === 0) return null;
  if (isJsonObject(v) && Object.keys(v).length === 0) return null;
  return v;
}

function eventSeriesErrors(obj: JsonObject): FieldError[] {
  const series = obj.series;
  if (!isJsonObject(series)) return [];
  const errs: FieldError[] = [];
  if (typeof series.count !== 'number' || series.count < 2) errs.push(invalidValue('series.count', '', 'should be at least 2'));
  if (str(series.lastObservedTime) === '') errs.push(required('series.lastObservedTime', ''));
  return errs;
}
