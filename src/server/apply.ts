import { EtcdError, EtcdErrors } from '../util/etcd-errors.js';
import type { MvccStore } from '../mvcc/mvcc-store.js';
import type { Event, StorageOp } from '../mvcc/types.js';
import { toEtcdError } from './errors.js';
import {
  fromDeleteRangeResponse,
  fromPutResponse,
  fromTxnResponse,
  num,
  toDeleteRangeRequest,
  toPutRequest,
  toTxnRequest,
} from './etcd-convert.js';
import type { AuthInfo, AuthStore, PermType } from './auth/auth-store.js';
import { checkDeleteRange, checkLeaseKeys, checkPut, checkTxn } from './auth/request-permissions.js';
import type { SimpleTokens } from './auth/simple-tokens.js';
import type { Lessor } from './lessor.js';
import type { AlarmType, Membership } from './membership.js';
import type { InternalRequest, MemberContext, ProtoObject } from './request-codec.js';

/** What applying one log entry produced: the client's answer (or error) and what to persist. */
export interface ApplyOutcome {
  revision: number;
  response?: ProtoObject;
  error?: EtcdError;
  ops?: StorageOp[];
  events?: Event[];
}

export interface ApplyContext {
  readonly mvcc: MvccStore;
  readonly membership: Membership;
  readonly maxTxnOps: number;
  /** The lease table; without it lease requests are refused (not capable). */
  readonly lessor?: Lessor;
  /** Users, roles and permissions; without it every request is allowed and auth requests refused. */
  readonly auth?: AuthStore;
  /** This member's simple tokens (not replicated: each member mints its own on apply). */
  readonly tokens?: SimpleTokens;
  /** The raft index of the entry (simple tokens carry it). */
  readonly index?: number;
}

/** The requester named in the entry, as etcd's authApplierV3 takes it from the request header. */
function authInfoOf(req: InternalRequest): AuthInfo {
  const h = req.auth as { username?: string; auth_revision?: string } | null | undefined;
  return { username: h?.username ?? '', revision: h === null || h === undefined ? 0 : Number(h.auth_revision ?? 0) };
}

const AUTH_REQUESTS = new Set([
  'auth_enable',
  'auth_disable',
  'authenticate',
  'user_add',
  'user_delete',
  'user_change_password',
  'user_grant_role',
  'user_revoke_role',
  'role_add',
  'role_delete',
  'role_grant_permission',
  'role_revoke_permission',
]);

/**
 * Applies one client request from the log to the state machine. Deterministic: every member gets the
 * same outcome from the same entry. A request that fails leaves the state unchanged and carries the
 * etcd error for the proposer's client.
 */
export function applyRequest(req: InternalRequest, ctx: ApplyContext): ApplyOutcome {
  const { mvcc, membership } = ctx;
  try {
    if (AUTH_REQUESTS.has(req.request)) return applyAuthRequest(req, ctx);
    const auth = ctx.auth?.enabled === true ? ctx.auth : undefined;
    const info = auth === undefined ? undefined : authInfoOf(req);
    switch (req.request) {
      case 'put': {
        const put = toPutRequest(req.put as ProtoObject);
        if (auth !== undefined) checkPut(auth, info, put, mvcc);
        const r = mvcc.put(put);
        return { revision: r.revision, response: fromPutResponse(r.response), ops: r.ops, events: r.events };
      }
      case 'delete_range': {
        const del = toDeleteRangeRequest(req.delete_range as ProtoObject);
        if (auth !== undefined) checkDeleteRange(auth, info, del);
        const r = mvcc.deleteRange(del);
        return { revision: r.revision, response: fromDeleteRangeResponse(r.response), ops: r.ops, events: r.events };
      }
      case 'txn': {
        const txn = toTxnRequest(req.txn as ProtoObject);
        if (auth !== undefined) checkTxn(auth, info, txn, mvcc);
        const r = mvcc.txn(txn);
        return { revision: r.revision, response: fromTxnResponse(r.response), ops: r.ops, events: r.events };
      }
      case 'compaction': {
        const r = mvcc.compact(num((req.compaction as ProtoObject).revision));
        return { revision: mvcc.currentRevision, response: {}, ops: r.ops };
      }
      case 'publish': {
        const p = req.publish as { member_id: string; name: string; client_urls: string[] };
        return { revision: mvcc.currentRevision, ops: membership.publish(p.member_id, p.name, p.client_urls) };
      }
      case 'member_update': {
        const m = req.member_update as MemberContext;
        return { revision: mvcc.currentRevision, ops: membership.updatePeerURLs(m.id, m.peer_urls) };
      }
      case 'alarm': {
        const a = req.alarm as { member_id: string; alarm: string; activate: boolean };
        if (a.alarm !== 'NOSPACE' && a.alarm !== 'CORRUPT') return { revision: mvcc.currentRevision, response: {} };
        return {
          revision: mvcc.currentRevision,
          response: {},
          ops: membership.setAlarm(a.member_id, a.alarm as AlarmType, a.activate),
        };
      }
      case 'lease_grant': {
        if (ctx.lessor === undefined) return { revision: mvcc.currentRevision, error: EtcdErrors.notCapable };
        const g = req.lease_grant as { ID: string; TTL: string };
        const r = ctx.lessor.grant(g.ID, g.TTL);
        return { revision: mvcc.currentRevision, response: { ID: r.lease.id, TTL: String(r.lease.ttl) }, ops: r.ops };
      }
      case 'lease_revoke': {
        // etcd's Revoke: the lease's keys go in one revision (delete events), then the lease.
        if (ctx.lessor === undefined) return { revision: mvcc.currentRevision, error: EtcdErrors.notCapable };
        const id = (req.lease_revoke as { ID: string }).ID;
        if (!ctx.lessor.exists(id)) throw EtcdErrors.leaseNotFound;
        if (auth !== undefined) checkLeaseKeys(auth, info, id, mvcc);
        const d = mvcc.deleteLeaseKeys(id);
        return { revision: d.revision, response: {}, ops: [...d.ops, ...ctx.lessor.revoke(id)], events: d.events };
      }
      default:
        return { revision: mvcc.currentRevision, error: EtcdErrors.notCapable };
    }
  } catch (err) {
    return { revision: mvcc.currentRevision, error: toEtcdError(err) };
  }
}

/** User, role and auth switch requests: root only (etcd's needAdminPermission), except Authenticate. */
function applyAuthRequest(req: InternalRequest, ctx: ApplyContext): ApplyOutcome {
  const { mvcc, auth, tokens } = ctx;
  const revision = mvcc.currentRevision;
  if (auth === undefined) return { revision, error: EtcdErrors.notCapable };
  const body = req[req.request] as ProtoObject;
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  // Entries that came through the peer transport decode bytes fields as plain Uint8Arrays.
  const bytes = (v: unknown): Buffer => (v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : Buffer.alloc(0));
  if (req.request === 'authenticate') {
    if (!auth.enabled) throw EtcdErrors.authNotEnabled;
    const name = str(body.name);
    const user = auth.user(name);
    if (user === undefined || user.noPassword) throw EtcdErrors.authFailed;
    const token = tokens?.assign(name, str(body.token_prefix), ctx.index ?? 0) ?? '';
    return { revision, response: { token } };
  }
  auth.checkAdmin(authInfoOf(req));
  let ops: StorageOp[];
  switch (req.request) {
    case 'auth_enable':
      ops = auth.enable();
      break;
    case 'auth_disable':
      ops = auth.disable();
      tokens?.clear();
      break;
    case 'user_add': {
      const noPassword = (body.options as ProtoObject | null | undefined)?.no_password === true;
      ops = auth.userAdd(str(body.name), str(body.password_hash), noPassword);
      break;
    }
    case 'user_delete':
      ops = auth.userDelete(str(body.name));
      tokens?.invalidateUser(str(body.name));
      break;
    case 'user_change_password':
      ops = auth.userChangePassword(str(body.name), str(body.password_hash));
      tokens?.invalidateUser(str(body.name));
      break;
    case 'user_grant_role':
      ops = auth.userGrantRole(str(body.user), str(body.role));
      break;
    case 'user_revoke_role':
      ops = auth.userRevokeRole(str(body.name), str(body.role));
      break;
    case 'role_add':
      ops = auth.roleAdd(str(body.name));
      break;
    case 'role_delete':
      ops = auth.roleDelete(str(body.role));
      break;
    case 'role_grant_permission': {
      const perm = (body.perm as ProtoObject | null | undefined) ?? {};
      ops = auth.roleGrantPermission(str(body.name), {
        permType: (str(perm.permType) || 'READ') as PermType,
        key: bytes(perm.key),
        rangeEnd: bytes(perm.range_end),
      });
      break;
    }
    case 'role_revoke_permission':
      ops = auth.roleRevokePermission(str(body.role), bytes(body.key), bytes(body.range_end));
      break;
    default:
      return { revision, error: EtcdErrors.notCapable };
  }
  return { revision, response: {}, ops };
}
