// Who a request comes from, as k8s.io/apiserver's user.Info: a name, a uid and groups. The
// well-known names and groups are kube's own, since RBAC bindings and clients refer to them.

export interface UserInfo {
  readonly name: string;
  readonly uid: string;
  readonly groups: readonly string[];
}

export const systemMasters = 'system:masters';
export const systemAuthenticated = 'system:authenticated';
export const systemUnauthenticated = 'system:unauthenticated';
export const systemNodes = 'system:nodes';
export const nodeUserPrefix = 'system:node:';

export const anonymousUser: UserInfo = Object.freeze({ name: 'system:anonymous', uid: '', groups: Object.freeze([systemUnauthenticated]) });

/** Every authenticated user is also in system:authenticated (kube's authenticated group adder). */
export function withAuthenticatedGroup(user: UserInfo): UserInfo {
  if (user.groups.includes(systemAuthenticated)) return user;
  return { ...user, groups: [...user.groups, systemAuthenticated] };
}

/** The node a kubelet identity (system:node:NAME in group system:nodes) speaks for. */
export function nodeNameOf(user: UserInfo): string | undefined {
  if (!user.groups.includes(systemNodes) || !user.name.startsWith(nodeUserPrefix)) return undefined;
  const name = user.name.slice(nodeUserPrefix.length);
  return name === '' ? undefined : name;
}
