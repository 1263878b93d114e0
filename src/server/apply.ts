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
}

/**
 * Applies one client request from the log to the state machine. Deterministic: every member gets the
 * same outcome from the same entry. A request that fails leaves the state unchanged and carries the
 * etcd error for the proposer's client.
 */
export function applyRequest(req: InternalRequest, ctx: ApplyContext): ApplyOutcome {
  const { mvcc, membership } = ctx;
  try {
    switch (req.request) {
      case 'put': {
        const r = mvcc.put(toPutRequest(req.put as ProtoObject));
        return { revision: r.revision, response: fromPutResponse(r.response), ops: r.ops, events: r.events };
      }
      case 'delete_range': {
        const r = mvcc.deleteRange(toDeleteRangeRequest(req.delete_range as ProtoObject));
        return { revision: r.revision, response: fromDeleteRangeResponse(r.response), ops: r.ops, events: r.events };
      }
      case 'txn': {
        const r = mvcc.txn(toTxnRequest(req.txn as ProtoObject));
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
