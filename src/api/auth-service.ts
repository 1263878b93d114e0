import type { Logger } from 'pino';
import type { KetchServer } from '../server/ketch-server.js';
import type { AuthInfo } from '../server/auth/auth-store.js';
import { DEFAULT_BCRYPT_COST, hashPassword, verifyPassword } from '../server/auth/password.js';
import { SimpleTokens } from '../server/auth/simple-tokens.js';
import { EtcdErrors } from '../util/etcd-errors.js';
import { requestAuth } from './auth-context.js';
import { type Msg, unary } from './grpc-handler.js';

/** Authenticate retries when the user changed between the password check and the token (etcd's loop). */
const AUTHENTICATE_ATTEMPTS_MAX = 5;

/** When no token names the requester, root-only checks see the empty user, as etcd's applier does. */
const NOBODY: AuthInfo = { username: '', revision: 0 };

function text(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/**
 * etcdserverpb.Auth as etcd 3.4 serves it. Changes go through the log, their root-only check made
 * when applied; passwords are hashed here, by the member that receives them, so only hashes reach
 * the log and the disk. Reads (user/role get and list) are answered after a linearizable barrier.
 */
export function authService(server: KetchServer, log: Logger, opts: { bcryptCost?: number } = {}) {
  const cost = opts.bcryptCost ?? DEFAULT_BCRYPT_COST;
  /** A change: proposed with the requester, answered with the header once applied. */
  const change = (method: string, request: string, body: (req: Msg) => Promise<Msg> | Msg) =>
    unary(log, method, async (req, call) => {
      const info = await requestAuth(server, call);
      const out = await server.propose({ request, [request]: await body(req) }, info ?? NOBODY);
      if (out.error !== undefined) throw out.error;
      return { header: server.header(), ...out.response };
    });

  /** A read: root only unless `allowSelf` says the requester may read this about itself. */
  const read = (method: string, answer: (req: Msg, info: AuthInfo) => Msg, allowSelf?: (req: Msg, info: AuthInfo) => boolean) =>
    unary(log, method, async (req, call) => {
      const info = (await requestAuth(server, call)) ?? NOBODY;
      await server.linearizableBarrier();
      if (!(allowSelf?.(req, info) ?? false)) server.auth.checkAdmin(info);
      return { header: server.header(), ...answer(req, info) };
    });

  return {
    AuthEnable: change('AuthEnable', 'auth_enable', () => ({})),
    AuthDisable: change('AuthDisable', 'auth_disable', () => ({})),

    Authenticate: unary(log, 'Authenticate', async (req) => {
      const name = text(req.name);
      const password = text(req.password);
      await server.linearizableBarrier();
      for (let attempt = 0; attempt < AUTHENTICATE_ATTEMPTS_MAX; attempt++) {
        if (!server.auth.enabled) throw EtcdErrors.authNotEnabled;
        const checkedRevision = server.auth.revision;
        const user = server.auth.user(name);
        if (user === undefined || user.noPassword || !(await verifyPassword(password, user.passwordHash))) {
          log.info({ user: name }, 'authentication failed: unknown user or wrong password');
          throw EtcdErrors.authFailed;
        }
        const out = await server.propose({ request: 'authenticate', authenticate: { name, token_prefix: SimpleTokens.newPrefix() } });
        if (out.error !== undefined) throw out.error;
        // The user may have changed (password, deletion) while the password was checked: again.
        if (checkedRevision === server.auth.revision) return { header: server.header(), ...out.response };
      }
      throw EtcdErrors.authOldRevision;
    }),

    UserAdd: change('UserAdd', 'user_add', async (req) => {
      const name = text(req.name);
      if (name === '') throw EtcdErrors.userEmpty;
      const options = (req.options as Msg | null | undefined) ?? {};
      const noPassword = options.no_password === true;
      return {
        name,
        password_hash: noPassword ? '' : await hashPassword(text(req.password), cost),
        options: { no_password: noPassword },
      };
    }),
    UserDelete: change('UserDelete', 'user_delete', (req) => ({ name: text(req.name) })),
    UserChangePassword: change('UserChangePassword', 'user_change_password', async (req) => ({
      name: text(req.name),
      password_hash: await hashPassword(text(req.password), cost),
    })),
    UserGrantRole: change('UserGrantRole', 'user_grant_role', (req) => ({ user: text(req.user), role: text(req.role) })),
    UserRevokeRole: change('UserRevokeRole', 'user_revoke_role', (req) => ({ name: text(req.name), role: text(req.role) })),
    RoleAdd: change('RoleAdd', 'role_add', (req) => ({ name: text(req.name) })),
    RoleDelete: change('RoleDelete', 'role_delete', (req) => ({ role: text(req.role) })),
    RoleGrantPermission: change('RoleGrantPermission', 'role_grant_permission', (req) => {
      const perm = (req.perm as Msg | null | undefined) ?? {};
      return { name: text(req.name), perm: { permType: perm.permType ?? 'READ', key: perm.key, range_end: perm.range_end } };
    }),
    RoleRevokePermission: change('RoleRevokePermission', 'role_revoke_permission', (req) => ({
      role: text(req.role),
      key: req.key,
      range_end: req.range_end,
    })),

    // etcd lets a user read its own record and the roles it has.
    UserGet: read(
      'UserGet',
      (req) => {
        const user = server.auth.user(text(req.name));
        if (user === undefined) throw EtcdErrors.userNotFound;
        return { roles: [...user.roles] };
      },
      (req, info) => info.username !== '' && text(req.name) === info.username,
    ),
    UserList: read('UserList', () => ({ users: server.auth.userNames() })),
    RoleGet: read(
      'RoleGet',
      (req) => {
        const role = server.auth.role(text(req.role));
        if (role === undefined) throw EtcdErrors.roleNotFound;
        return { perm: role.perms.map((p) => ({ permType: p.permType, key: p.key, range_end: p.rangeEnd })) };
      },
      (req, info) => server.auth.hasRole(info.username, text(req.role)),
    ),
    RoleList: read('RoleList', () => ({ roles: server.auth.roleNames() })),
  };
}
