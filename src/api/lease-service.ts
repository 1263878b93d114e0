import { type ServerDuplexStream, status as GrpcStatus } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { KetchServer } from '../server/ketch-server.js';
import { EtcdError, EtcdErrors } from '../util/etcd-errors.js';
import { checkLeaseKeys } from '../server/auth/request-permissions.js';
import { requestAuth } from './auth-context.js';
import { type Msg, grpcError, unary } from './grpc-handler.js';

/** Leases a cluster may hold (etcd has no limit; each costs memory on every member and a timer on the leader). */
export const DEFAULT_MAX_LEASES = 1_000_000;

function tooManyLeases(max: number): EtcdError {
  return new EtcdError(GrpcStatus.RESOURCE_EXHAUSTED, `etcdserver: too many leases (at most ${max}); revoke some or raise --experimental-max-leases`);
}

/** Renewals a keepalive stream may have queued before it stops reading (gRPC flow control does the rest). */
const KEEPALIVE_QUEUE_MAX = 64;
/** Election timeouts without a leader before keepalive streams that require one are cut (etcd: maxNoLeaderCnt). */
const MAX_NO_LEADER_COUNT = 3;

/**
 * etcdserverpb.Lease as etcd 3.4's v3rpc/lease.go serves it: grant and revoke go through the log;
 * keepalives and TTL reads are answered by the leader (forwarded by the server when this member is
 * not the leader); a lease that does not exist gets TTL 0 on keepalive and TTL -1 on TimeToLive,
 * not an error.
 */
export function leaseService(server: KetchServer, log: Logger, opts: { maxLeases?: number } = {}) {
  const leases = server.leases;
  const maxLeases = opts.maxLeases ?? DEFAULT_MAX_LEASES;
  return {
    LeaseGrant: unary(log, 'LeaseGrant', async (req, call) => {
      await requestAuth(server, call);
      await server.checkQuota();
      if (leases.lessor.size >= maxLeases) throw tooManyLeases(maxLeases);
      const out = await leases.grant(String(req.TTL), String(req.ID));
      return { header: server.header(), ...out.response };
    }),

    // etcd: only a user who may write every key of the lease may revoke it.
    LeaseRevoke: unary(log, 'LeaseRevoke', async (req, call) => {
      const info = await requestAuth(server, call);
      if (server.auth.enabled) checkLeaseKeys(server.auth, info, String(req.ID), server.mvcc);
      await leases.revoke(String(req.ID));
      return { header: server.header() };
    }),

    LeaseTimeToLive: unary(log, 'LeaseTimeToLive', async (req) => {
      const t = await leases.timeToLive(String(req.ID), req.keys === true);
      return { header: server.header(), ID: t.id, TTL: String(t.ttlSeconds), grantedTTL: String(t.grantedTtlSeconds), keys: t.keys };
    }),

    LeaseLeases: unary(log, 'LeaseLeases', async () => ({
      header: server.header(),
      leases: leases.list().map((id) => ({ ID: id })),
    })),

    LeaseKeepAlive: (call: ServerDuplexStream<Msg, Msg>): void => keepAlive(server, log, call),
  };
}

/**
 * One keepalive stream: requests are renewed one at a time, in order, each answered with the header
 * taken before the renewal (so the revision is never newer than the renewal, as etcd notes). The
 * stream ends OK when the client closes its side; a failed renewal ends it with that error.
 */
function keepAlive(server: KetchServer, log: Logger, call: ServerDuplexStream<Msg, Msg>): void {
  const leases = server.leases;
  const requireLeader = call.metadata.get('hasleader')[0] === 'true';
  if (requireLeader && !leases.hasLeader()) {
    call.emit('error', { code: EtcdErrors.noLeader.grpcCode, details: EtcdErrors.noLeader.message });
    return;
  }
  const pending: string[] = [];
  let busy = false;
  let clientDone = false;
  let finished = false;
  let noLeaderCount = 0;
  const monitor = requireLeader
    ? setInterval(() => {
        noLeaderCount = leases.hasLeader() ? 0 : noLeaderCount + 1;
        if (noLeaderCount >= MAX_NO_LEADER_COUNT) finish({ code: EtcdErrors.noLeader.grpcCode, details: EtcdErrors.noLeader.message });
      }, leases.electionTimeoutMs())
    : undefined;
  monitor?.unref();

  const finish = (err?: { code: number; details: string }): void => {
    if (finished) return;
    finished = true;
    clearInterval(monitor);
    if (err === undefined) call.end();
    else call.emit('error', err);
  };

  const pump = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    while (pending.length > 0 && !finished) {
      const id = pending.shift() as string;
      if (call.isPaused() && pending.length < KEEPALIVE_QUEUE_MAX / 2) call.resume();
      const header = server.header();
      try {
        const ttl = await leases.renew(id);
        if (!finished) call.write({ header, ID: id, TTL: String(ttl) });
      } catch (err) {
        const e = grpcError(log, 'LeaseKeepAlive', err);
        finish({ code: e.code, details: e.details });
      }
    }
    busy = false;
    if (clientDone) finish();
  };

  call.on('data', (req: Msg) => {
    if (finished) return;
    pending.push(String(req.ID));
    if (pending.length >= KEEPALIVE_QUEUE_MAX) call.pause();
    void pump();
  });
  call.on('end', () => {
    clientDone = true;
    if (!busy) finish();
  });
  const gone = (): void => {
    finished = true;
    clearInterval(monitor);
  };
  call.on('cancelled', gone);
  call.on('error', gone);
}
