import type { Logger } from 'pino';
import type { KetchServer } from '../server/ketch-server.js';
import type { Member } from '../server/membership.js';
import { idFromDecimal, idToDecimal } from '../server/member-id.js';
import * as grpc from '@grpc/grpc-js';
import { EtcdError, EtcdErrors } from '../util/etcd-errors.js';
import { etcdServiceClients } from './etcd-proto.js';
import { type Msg, unary } from './grpc-handler.js';

/** etcdserverpb.Cluster: membership changes go through the log as Raft conf changes. */
export function clusterService(server: KetchServer, log: Logger) {
  const members = () => server.membership.sorted().map(toProto);
  const urls = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
  return {
    MemberAdd: unary(log, 'MemberAdd', async (req) => {
      const m = await server.addMember(urls(req.peerURLs), req.isLearner === true);
      return { header: server.header(), member: toProto(m), members: members() };
    }),
    MemberRemove: unary(log, 'MemberRemove', async (req) => {
      await server.removeMember(idFromDecimal(String(req.ID)));
      return { header: server.header(), members: members() };
    }),
    MemberUpdate: unary(log, 'MemberUpdate', async (req) => {
      await server.updateMember(idFromDecimal(String(req.ID)), urls(req.peerURLs));
      return { header: server.header(), members: members() };
    }),
    MemberList: unary(log, 'MemberList', async () => ({ header: server.header(), members: members() })),
    MemberPromote: unary(log, 'MemberPromote', async (req) => {
      const leader = server.leaderId();
      if (leader !== '' && leader !== server.memberId) {
        // Only the leader knows whether the learner has caught up; etcd forwards, so do we.
        return forwardToLeader(server, leader, 'MemberPromote', req);
      }
      await server.promoteMember(idFromDecimal(String(req.ID)));
      return { header: server.header(), members: members() };
    }),
  };
}

/** Calls the same Cluster RPC on the leader's client URL. */
async function forwardToLeader(server: KetchServer, leader: string, method: 'MemberPromote', req: Msg): Promise<Msg> {
  const url = server.membership.members.get(leader)?.clientURLs[0];
  if (url === undefined) throw EtcdErrors.noLeader;
  const Client = etcdServiceClients().Cluster;
  const client = new Client(new URL(url).host, grpc.credentials.createInsecure());
  try {
    return await new Promise<Msg>((resolve, reject) => {
      const deadline = new Date(Date.now() + 10_000);
      const call = client[method] as unknown as (r: Msg, o: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: Msg) => void) => void;
      call.call(client, req, { deadline }, (err, res) => {
        if (err === null) resolve(res);
        else reject(new EtcdError(err.code, err.details));
      });
    });
  } finally {
    client.close();
  }
}

export function toProto(m: Member): { ID: string; name: string; peerURLs: string[]; clientURLs: string[]; isLearner: boolean } {
  return { ID: idToDecimal(m.id), name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: m.isLearner };
}
