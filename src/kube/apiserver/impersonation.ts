// kube's impersonation headers (Impersonate-User, Impersonate-Group, Impersonate-Uid), which
// `kubectl --as` and `--as-group` send: the caller must be allowed the `impersonate` verb on each
// user, group and uid it names; the request then runs as that user.

import type { IncomingMessage } from 'node:http';

import { badRequest } from '../machinery/status.js';
import { forbiddenStatus, type Authorizer, type RequestAttributes } from './authorization.js';
import { anonymousUser, withAuthenticatedGroup, type UserInfo } from './user-info.js';

function headerValues(req: IncomingMessage, name: string): string[] {
  const raw = req.headersDistinct[name];
  return raw === undefined ? [] : raw.flatMap((v) => v.split(',').map((x) => x.trim())).filter((v) => v !== '');
}

/** The user the request acts as: the caller itself, or whom it may and does impersonate. */
export async function impersonate(req: IncomingMessage, caller: UserInfo, authorizer: Authorizer): Promise<UserInfo> {
  const users = req.headersDistinct['impersonate-user'] ?? [];
  const groups = headerValues(req, 'impersonate-group');
  const uids = req.headersDistinct['impersonate-uid'] ?? [];
  if (users.length === 0) {
    if (groups.length > 0 || uids.length > 0) throw badRequest('requested impersonation of groups or uid without impersonating a user');
    return caller;
  }
  const name = users[0] as string;
  const checks: RequestAttributes[] = [
    { user: caller, verb: 'impersonate', resourceRequest: true, path: '', apiGroup: '', apiVersion: 'v1', namespace: '', resource: 'users', subresource: '', name },
    ...groups.map((g) => ({ user: caller, verb: 'impersonate', resourceRequest: true, path: '', apiGroup: '', apiVersion: 'v1', namespace: '', resource: 'groups', subresource: '', name: g })),
    ...uids.map((u) => ({ user: caller, verb: 'impersonate', resourceRequest: true, path: '', apiGroup: 'authentication.k8s.io', apiVersion: 'v1', namespace: '', resource: 'uids', subresource: '', name: u })),
  ];
  for (const attrs of checks) {
    const decision = await authorizer.authorize(attrs);
    if (!decision.allowed) throw forbiddenStatus(attrs, decision.reason);
  }
  if (name === anonymousUser.name) return { ...anonymousUser, groups: [...anonymousUser.groups, ...groups] };
  return withAuthenticatedGroup({ name, uid: uids[0] ?? '', groups });
}
