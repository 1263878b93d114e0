// authorization.k8s.io/v1 SelfSubjectAccessReview ("may I?", what `kubectl auth can-i` asks) and
// SubjectAccessReview ("may this user?"): the same authorizers answer, nothing is stored, and the
// review comes back with its status filled in (201, as kube answers a create).

import type { ServerResponse } from 'node:http';

import { isJsonObject, type JsonObject, type JsonValue } from '../machinery/json.js';
import { invalid, invalidValue } from '../machinery/status.js';
import type { Authorizer, RequestAttributes } from './authorization.js';
import { writeJson } from './http-io.js';
import { withAuthenticatedGroup, type UserInfo } from './user-info.js';

const group = 'authorization.k8s.io';

function text(obj: JsonObject, field: string): string {
  const v = obj[field];
  return typeof v === 'string' ? v : '';
}

/** The attributes a review's spec asks about, for `user`. */
export function reviewAttributes(kind: string, spec: JsonValue | undefined, user: UserInfo): RequestAttributes {
  const s = isJsonObject(spec) ? spec : {};
  const resource = s.resourceAttributes;
  const nonResource = s.nonResourceAttributes;
  if (isJsonObject(resource) === isJsonObject(nonResource)) {
    throw invalid({ group, kind }, '', [invalidValue('spec.resourceAttributes', null, 'exactly one of nonResourceAttributes or resourceAttributes must be specified')]);
  }
  if (isJsonObject(resource)) {
    return {
      user,
      verb: text(resource, 'verb'),
      resourceRequest: true,
      path: '',
      apiGroup: text(resource, 'group'),
      apiVersion: text(resource, 'version'),
      namespace: text(resource, 'namespace'),
      resource: text(resource, 'resource'),
      subresource: text(resource, 'subresource'),
      name: text(resource, 'name'),
    };
  }
  const nr = nonResource as JsonObject;
  return { user, verb: text(nr, 'verb'), resourceRequest: false, path: text(nr, 'path'), apiGroup: '', apiVersion: '', namespace: '', resource: '', subresource: '', name: '' };
}

/** SubjectAccessReview's spec.user / groups / uid: the user the question is about. */
function subjectOf(spec: JsonValue | undefined): UserInfo {
  const s = isJsonObject(spec) ? spec : {};
  const groups = Array.isArray(s.groups) ? s.groups.filter((g): g is string => typeof g === 'string') : [];
  const user = text(s, 'user');
  if (user === '' && groups.length === 0) {
    throw invalid({ group, kind: 'SubjectAccessReview' }, '', [invalidValue('spec.user', '', '`spec.user` or `spec.groups` must be specified')]);
  }
  return { name: user, uid: text(s, 'uid'), groups };
}

/** Answers a review create; `caller` is the authenticated (possibly impersonated) user. */
export async function answerAccessReview(kind: 'SelfSubjectAccessReview' | 'SubjectAccessReview', body: JsonObject, caller: UserInfo, authorizer: Authorizer, res: ServerResponse): Promise<void> {
  const subject = kind === 'SelfSubjectAccessReview' ? caller : withAuthenticatedGroup(subjectOf(body.spec));
  const attrs = reviewAttributes(kind, body.spec, subject);
  const decision = await authorizer.authorize(attrs);
  const status: JsonObject = { allowed: decision.allowed };
  if (!decision.allowed && decision.reason !== '') status.reason = decision.reason;
  const meta = isJsonObject(body.metadata) ? { ...body.metadata } : {};
  meta.creationTimestamp = null;
  const spec = isJsonObject(body.spec) ? body.spec : {};
  writeJson(res, 201, { kind, apiVersion: `${group}/v1`, metadata: meta, spec, status });
}
