import type { MethodDefinition } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { KetchServer } from '../server/ketch-server.js';
import { fromTxnResponse, num, toRangeRequest, toTxnRequest, txnHasWrites } from '../server/etcd-convert.js';
import type { RequestOp, TxnRequest } from '../mvcc/types.js';
import { checkTxnDuplicateKeys } from '../mvcc/txn-check.js';
import { EtcdErrors } from '../util/etcd-errors.js';
import { checkTxn as checkTxnPermission } from '../server/auth/request-permissions.js';
import { requestAuth, requestToken } from './auth-context.js';
import { installPutCodecs, PutReply } from './put-codec.js';
import { type Msg, unary } from './grpc-handler.js';
import { etcdServiceDefinitions } from './etcd-proto.js';
import { DecodedRangeRequest, installRangeCodec, RangeReply } from './range-codec.js';

/** etcdserverpb.KV: thin handlers that validate as etcd's v3rpc/key.go does, then call the server. */
export function kvService(server: KetchServer, log: Logger, limits: { maxTxnOps: number }) {
  // Range's and Put's handlers and wire codecs go together: every server that serves these
  // handlers with the shared etcd definitions (grpc-js, or an HTTP/2 server calling the
  // definitions' serializers) gets the codec; clients built from the definitions are unaffected.
  installRangeCodec(etcdServiceDefinitions().KV.Range as MethodDefinition<unknown, unknown>);
  installPutCodecs(etcdServiceDefinitions().KV.Put as MethodDefinition<unknown, unknown>);
  return {
    // The request comes from decodeRangeRequest (src/api/range-codec.ts) when the definition has the
    // Range codec installed, else as protobufjs decoded it; the reply is written from the store's
    // own revisions by the definition's serializer.
    Range: unary(log, 'Range', async (req, call) => {
      const decoded = req instanceof DecodedRangeRequest ? req : undefined;
      if (decoded?.invalid !== undefined) throw new RangeError(decoded.invalid);
      const range = decoded?.request ?? toRangeRequest(req);
      if (range.key.length === 0) throw EtcdErrors.emptyKey;
      const info = await requestAuth(server, call);
      const serializable = decoded !== undefined ? decoded.serializable : req.serializable === true;
      if (!serializable) await server.linearizableBarrier();
      server.auth.checkRange(info, range.key, range.rangeEnd);
      const res = server.mvcc.rangeRevisions(range);
      return new RangeReply(server.header(), res) as unknown as Msg;
    }),

    // The hottest write: without a token nothing is awaited before the proposal, and the common
    // answer (no prev_kv) is a PutReply the Put codec writes by hand (src/api/put-codec.ts).
    Put: unary(log, 'Put', async (req, call) => {
      checkKey(req);
      const token = requestToken(call);
      const info = token === undefined ? undefined : await server.authInfo(token);
      if (server.quotaCheckNeeded()) await server.checkQuota();
      const out = await server.propose({ request: 'put', put: req }, info);
      const prevKv = (out.response as { prev_kv?: unknown } | undefined)?.prev_kv;
      if (prevKv === undefined) return new PutReply(server.header(out.revision)) as unknown as Msg;
      return { header: server.header(out.revision), ...out.response };
    }),

    DeleteRange: unary(log, 'DeleteRange', async (req, call) => {
      checkKey(req);
      const info = await requestAuth(server, call);
      const out = await server.propose({ request: 'delete_range', delete_range: req }, info);
      return { header: server.header(out.revision), ...out.response };
    }),

    Txn: unary(log, 'Txn', async (req, call) => {
      const txn = toTxnRequest(req);
      checkTxn(txn, limits.maxTxnOps);
      const info = await requestAuth(server, call);
      if (!txnHasWrites(txn)) {
        // Read-only: a linearizable read, no log entry (as etcd serves it).
        await server.linearizableBarrier();
        if (server.auth.enabled) checkTxnPermission(server.auth, info, txn, server.mvcc);
        const r = server.mvcc.txn(txn);
        return { header: server.header(), ...fromTxnResponse(r.response) };
      }
      await server.checkQuota();
      const out = await server.propose({ request: 'txn', txn: req }, info);
      return { header: server.header(out.revision), ...out.response };
    }),

    // etcd 3.4 checks no right for compaction, only that a token given is valid.
    Compact: unary(log, 'Compact', async (req, call) => {
      const info = await requestAuth(server, call);
      const out = await server.propose({ request: 'compaction', compaction: { revision: String(num(req.revision)), physical: req.physical === true } }, info);
      return { header: server.header(out.revision) };
    }),
  };
}

function checkKey(req: Msg): void {
  const key = req.key;
  if (!Buffer.isBuffer(key) || key.length === 0) throw EtcdErrors.emptyKey;
}

/** etcd's checkTxnRequest: op counts, keys present, no key written twice. */
function checkTxn(txn: TxnRequest, maxTxnOps: number): void {
  const check = (t: TxnRequest, depth: number): void => {
    if (t.compare.length > maxTxnOps || t.success.length > maxTxnOps || t.failure.length > maxTxnOps) {
      throw EtcdErrors.tooManyOps;
    }
    for (const c of t.compare) if (c.key.length === 0) throw EtcdErrors.emptyKey;
    const ops = (list: RequestOp[]): void => {
      for (const op of list) {
        if ('txn' in op) check(op.txn, depth + 1);
        else {
          const key = 'range' in op ? op.range.key : 'put' in op ? op.put.key : op.deleteRange.key;
          if (key.length === 0) throw EtcdErrors.emptyKey;
        }
      }
    };
    ops(t.success);
    ops(t.failure);
  };
  check(txn, 0);
  if (checkTxnDuplicateKeys(txn)) throw EtcdErrors.duplicateKey;
}
