import { createHash } from 'node:crypto';
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { type KetchServer, SERVER_VERSION } from '../server/ketch-server.js';
import { num } from '../server/etcd-convert.js';
import { idFromDecimal, idToDecimal } from '../server/member-id.js';
import { EtcdErrors } from '../util/etcd-errors.js';
import { requireRootForMaintenance } from './auth-context.js';
import { grpcError, type Msg, unary } from './grpc-handler.js';

/** Bytes per Snapshot stream message (etcd sends 32 KiB chunks). */
const SNAPSHOT_CHUNK_BYTES = 32 * 1024;

/** etcdserverpb.Maintenance. */
export function maintenanceService(server: KetchServer, log: Logger) {
  return {
    Alarm: unary(log, 'Alarm', async (req) => {
      const action = String(req.action ?? 'GET');
      if (action === 'DEACTIVATE' || action === 'ACTIVATE') {
        // As etcd: the answer lists the alarm that changed (nothing if it was already so).
        const memberId = idFromDecimal(String(req.memberID ?? '0'));
        const alarm = String(req.alarm ?? 'NONE');
        const key = `${memberId}/${alarm}`;
        const wasActive = server.membership.alarms.has(key);
        if (alarm === 'NONE' || wasActive === (action === 'ACTIVATE')) return { header: server.header(), alarms: [] };
        await server.propose({ request: 'alarm', alarm: { member_id: memberId, alarm, activate: action === 'ACTIVATE' } });
        return { header: server.header(), alarms: [{ memberID: idToDecimal(memberId), alarm }] };
      }
      const alarms = [...server.membership.alarms].sort().map((a) => {
        const [member, alarm] = a.split('/') as [string, string];
        return { memberID: idToDecimal(member), alarm };
      });
      return { header: server.header(), alarms };
    }),

    Status: unary(log, 'Status', async () => {
      const st = server.raftStatus();
      const dbSize = await server.dbSize();
      return {
        header: server.header(),
        version: SERVER_VERSION,
        dbSize: String(dbSize),
        leader: st.lead === '' ? '0' : idToDecimal(st.lead),
        raftIndex: String(st.commit),
        raftTerm: String(st.term),
        raftAppliedIndex: String(server.appliedIndex()),
        errors: [...server.membership.alarms].map((a) => `memberID:${a.split('/')[0]} alarm:${a.split('/')[1]}`),
        dbSizeInUse: String(dbSize),
        isLearner: server.isLearner(),
      };
    }),

    // Defragment, Hash, HashKV, MoveLeader and Snapshot are root only (etcd's authMaintenanceServer).
    Defragment: unary(log, 'Defragment', async (_req, call) => {
      await requireRootForMaintenance(server, call);
      await server.defragment();
      return { header: server.header() };
    }),

    Hash: unary(log, 'Hash', async (_req, call) => {
      await requireRootForMaintenance(server, call);
      const h = server.mvcc.hashKV(0);
      return { header: server.header(), hash: h.hash >>> 0 };
    }),

    HashKV: unary(log, 'HashKV', async (req, call) => {
      await requireRootForMaintenance(server, call);
      const h = server.mvcc.hashKV(num(req.revision));
      return { header: server.header(), hash: h.hash >>> 0, compact_revision: String(h.compactRevision) };
    }),

    MoveLeader: unary(log, 'MoveLeader', async (req, call) => {
      await requireRootForMaintenance(server, call);
      const target = idFromDecimal(String(req.targetID ?? '0'));
      await server.moveLeader(target);
      return { header: server.header() };
    }),

    Snapshot: (call: ServerWritableStream<Msg, Msg>) => {
      void streamSnapshot(call).catch((err: unknown) => call.destroy(Object.assign(new Error(), grpcError(log, 'Snapshot', err))));
    },
  };

  /**
   * Streams the whole state. As etcd does, the body is padded to a multiple of 512 bytes and
   * followed by its SHA-256, which etcdctl's snapshot save checks for.
   */
  async function streamSnapshot(call: ServerWritableStream<Msg, Msg>): Promise<void> {
    await requireRootForMaintenance(server, call);
    if (server.leaderId() === '') throw EtcdErrors.noLeader;
    // The first 8 bytes hold the body length so a reader can strip the padding; the state is
    // written in place behind them, with room for up to 511 bytes of padding after it.
    const framed = server.snapshotState({ before: 8, after: 511 });
    const bodyLength = framed.length - 8 - 511;
    const padded = framed.subarray(0, Math.ceil((bodyLength + 8) / 512) * 512);
    padded.writeBigUInt64BE(BigInt(bodyLength), 0);
    padded.fill(0, 8 + bodyLength);
    const sum = createHash('sha256').update(padded).digest();
    const header = server.header();
    for (let off = 0; off < padded.length; off += SNAPSHOT_CHUNK_BYTES) {
      const blob = padded.subarray(off, Math.min(off + SNAPSHOT_CHUNK_BYTES, padded.length));
      const remaining = padded.length - off - blob.length + sum.length;
      call.write({ header, remaining_bytes: String(remaining), blob });
    }
    call.write({ header, remaining_bytes: '0', blob: sum });
    call.end();
  }
}
