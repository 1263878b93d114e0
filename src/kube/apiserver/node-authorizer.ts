// Kubelets (user system:node:NAME in group system:nodes) get their rights the way kube gives them:
// the Node authorizer grants the node rules (kube's NodeRules, for the kinds we serve), and the
// NodeRestriction admission check then keeps each kubelet to its own objects: its Node, its Lease
// in kube-node-lease, and the pods bound to it. Refusals use kube's own messages.

import { isJsonObject, type JsonObject } from '../machinery/json.js';
import { forbidden, type KubeStatusError } from '../machinery/status.js';
import { allow, noOpinion, type Authorizer, type Decision, type RequestAttributes } from './authorization.js';
import { nodeRules } from './rbac-bootstrap-policy.js';
import { ruleAllows } from './rbac-authorizer.js';
import { nodeNameOf } from './user-info.js';

export const nodeLeaseNamespace = 'kube-node-lease';
const mirrorPodAnnotation = 'kubernetes.io/config.mirror';

/** Reads a pod as stored (undefined when it does not exist). */
export type PodLookup = (namespace: string, name: string) => Promise<JsonObject | undefined>;

function boundNode(pod: JsonObject | undefined): string | undefined {
  const spec = pod?.spec;
  return isJsonObject(spec) && typeof spec.nodeName === 'string' ? spec.nodeName : undefined;
}

export class NodeAuthorizer implements Authorizer {
  constructor(private readonly lookupPod: PodLookup) {}

  async authorize(attrs: RequestAttributes): Promise<Decision> {
    const node = nodeNameOf(attrs.user);
    if (node === undefined) return noOpinion;
    if (!nodeRules.some((rule) => ruleAllows(rule, attrs))) return noOpinion;
    // Reading one pod needs a relationship: the pod is bound to this node (kube's node graph).
    if (attrs.resourceRequest && attrs.apiGroup === '' && attrs.resource === 'pods' && attrs.subresource === '' && attrs.verb === 'get') {
      const pod = await this.lookupPod(attrs.namespace, attrs.name);
      if (pod !== undefined && boundNode(pod) !== node) return { allowed: false, reason: `no relationship found between node '${node}' and this object` };
    }
    return allow;
  }
}

/**
 * kube's NodeRestriction admission for a request a node identity was authorized for: updates and
 * deletes are checked here (the target is named in the URL); creates are checked on the body by
 * `admitNodeCreate`. Throws kube's 403; returns for everyone else.
 */
export async function enforceNodeRestriction(attrs: RequestAttributes, lookupPod: PodLookup): Promise<void> {
  const node = nodeNameOf(attrs.user);
  if (node === undefined || !attrs.resourceRequest || attrs.verb === 'create') return;
  const writes = attrs.verb === 'update' || attrs.verb === 'patch' || attrs.verb === 'delete';
  const gr = { group: attrs.apiGroup, resource: attrs.resource };
  if (attrs.apiGroup === '' && attrs.resource === 'nodes' && writes && attrs.name !== node) {
    throw forbidden(gr, attrs.name, `node ${JSON.stringify(node)} is not allowed to modify node ${JSON.stringify(attrs.name)}`);
  }
  if (attrs.apiGroup === 'coordination.k8s.io' && attrs.resource === 'leases') {
    const error = leaseError(gr, attrs.namespace, attrs.name, node);
    if (error !== undefined) throw error;
    return;
  }
  if (attrs.apiGroup === '' && attrs.resource === 'pods' && writes) {
    const pod = await lookupPod(attrs.namespace, attrs.name);
    if (pod === undefined || boundNode(pod) === node) return;
    if (attrs.subresource === 'status') throw forbidden(gr, attrs.name, `node ${JSON.stringify(node)} can only update pod status for pods with spec.nodeName set to itself`);
    throw forbidden(gr, attrs.name, `node ${JSON.stringify(node)} can only delete pods with spec.nodeName set to itself`);
  }
}

function leaseError(gr: { group: string; resource: string }, namespace: string, name: string, node: string): KubeStatusError | undefined {
  if (namespace !== nodeLeaseNamespace) return forbidden(gr, name, `can only access leases in the ${JSON.stringify(nodeLeaseNamespace)} namespace`);
  if (name !== '' && name !== node) return forbidden(gr, name, 'can only access node lease with the same name as the requesting node');
  return undefined;
}

/** NodeRestriction on a create body: a kubelet creates only its own Node and Lease, and mirror pods bound to itself. */
export function admitNodeCreate(attrs: RequestAttributes, obj: JsonObject): void {
  const node = nodeNameOf(attrs.user);
  if (node === undefined) return;
  const meta = isJsonObject(obj.metadata) ? obj.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : '';
  const gr = { group: attrs.apiGroup, resource: attrs.resource };
  if (attrs.apiGroup === '' && attrs.resource === 'nodes' && name !== node) {
    throw forbidden(gr, name, `node ${JSON.stringify(node)} is not allowed to modify node ${JSON.stringify(name)}`);
  }
  if (attrs.apiGroup === 'coordination.k8s.io' && attrs.resource === 'leases') {
    const error = leaseError(gr, attrs.namespace, name, node);
    if (error !== undefined) throw error;
  }
  if (attrs.apiGroup === '' && attrs.resource === 'pods' && attrs.subresource === '') {
    const annotations = isJsonObject(meta.annotations) ? meta.annotations : {};
    if (annotations[mirrorPodAnnotation] === undefined) {
      throw forbidden(gr, name, `pod does not have ${JSON.stringify(mirrorPodAnnotation)} annotation, node ${JSON.stringify(node)} can only create mirror pods`);
    }
    if (boundNode(obj) !== node) throw forbidden(gr, name, `node ${JSON.stringify(node)} can only create pods with spec.nodeName set to itself`);
  }
}
