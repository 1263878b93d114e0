// What a request asks to do (k8s.io/apiserver's authorizer.Attributes), the authorizers kube's
// --authorization-mode names (AlwaysAllow, AlwaysDeny, RBAC, Node, in the order given, the first
// that allows wins), and kube's 403 Status for a refusal, word for word, since kubectl prints it.

import { forbidden, goQuote, type KubeStatusError } from '../machinery/status.js';
import type { ResourceRequest } from './request-info.js';
import { systemMasters, type UserInfo } from './user-info.js';

export interface RequestAttributes {
  readonly user: UserInfo;
  /** get list watch create update patch delete deletecollection (resources); get post put... (paths). */
  readonly verb: string;
  readonly resourceRequest: boolean;
  /** The URL path (non-resource requests). */
  readonly path: string;
  readonly apiGroup: string;
  readonly apiVersion: string;
  readonly namespace: string;
  readonly resource: string;
  readonly subresource: string;
  readonly name: string;
}

export type Decision = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

export interface Authorizer {
  authorize(attrs: RequestAttributes): Decision | Promise<Decision>;
}

export const allow: Decision = Object.freeze({ allowed: true });
export const noOpinion: Decision = Object.freeze({ allowed: false, reason: '' });

export const authorizationModes = ['AlwaysAllow', 'AlwaysDeny', 'RBAC', 'Node'] as const;
export type AuthorizationMode = (typeof authorizationModes)[number];

export class AlwaysAllow implements Authorizer {
  authorize(): Decision {
    return allow;
  }
}

export class AlwaysDeny implements Authorizer {
  authorize(): Decision {
    return { allowed: false, reason: 'Everything is forbidden.' };
  }
}

/** kube-apiserver puts this first whenever it authorizes: system:masters may do anything. */
export class PrivilegedGroups implements Authorizer {
  authorize(attrs: RequestAttributes): Decision {
    return attrs.user.groups.includes(systemMasters) ? allow : noOpinion;
  }
}

/** kube's union authorizer: the first allow wins; reasons of the refusals are kept for the 403. */
export class UnionAuthorizer implements Authorizer {
  constructor(private readonly authorizers: readonly Authorizer[]) {}

  async authorize(attrs: RequestAttributes): Promise<Decision> {
    const reasons: string[] = [];
    for (const authorizer of this.authorizers) {
      const decision = await authorizer.authorize(attrs);
      if (decision.allowed) return decision;
      if (decision.reason !== '') reasons.push(decision.reason);
    }
    return { allowed: false, reason: reasons.join(', ') };
  }
}

/** Attributes of a resource request, with kube's RequestInfo rule that a list or watch of metadata.name=X names X. */
export function resourceAttributes(user: UserInfo, target: ResourceRequest, query: URLSearchParams, path: string): RequestAttributes {
  let name = target.name;
  if (name === '' && (target.verb === 'list' || target.verb === 'watch')) {
    const selector = query.get('fieldSelector') ?? '';
    const single = /^metadata\.name==?([^,]+)$/.exec(selector);
    if (single !== null) name = single[1] as string;
  }
  return {
    user,
    verb: target.verb,
    resourceRequest: true,
    path,
    apiGroup: target.group,
    apiVersion: target.version,
    namespace: target.namespace,
    resource: target.resource,
    subresource: target.subresource,
    name,
  };
}

/** Attributes of a request for a path that is not a resource (/healthz, /version, discovery...). */
export function nonResourceAttributes(user: UserInfo, method: string, path: string): RequestAttributes {
  return { user, verb: method.toLowerCase(), resourceRequest: false, path, apiGroup: '', apiVersion: '', namespace: '', resource: '', subresource: '', name: '' };
}

/** kube's responsewriters.forbiddenMessage. */
export function forbiddenMessage(attrs: RequestAttributes): string {
  const user = goQuote(attrs.user.name);
  if (!attrs.resourceRequest) return `User ${user} cannot ${attrs.verb} path ${goQuote(attrs.path)}`;
  const resource = attrs.subresource === '' ? attrs.resource : `${attrs.resource}/${attrs.subresource}`;
  const where = attrs.namespace === '' ? 'at the cluster scope' : `in the namespace ${goQuote(attrs.namespace)}`;
  return `User ${user} cannot ${attrs.verb} resource ${goQuote(resource)} in API group ${goQuote(attrs.apiGroup)} ${where}`;
}

/** kube's 403 for a refused request (apierrors.NewForbidden of the group resource and name). */
export function forbiddenStatus(attrs: RequestAttributes, reason: string): KubeStatusError {
  const cause = `${forbiddenMessage(attrs)}${reason === '' ? '' : `: ${reason}`}`;
  return forbidden({ group: attrs.apiGroup, resource: attrs.resource }, attrs.name, cause);
}
