import type { Logger } from 'pino';
import type { KetchServer } from '../server/ketch-server.js';
import type { Member } from '../server/membership.js';
import { idFromDecimal, idToDecimal } from '../server/member-id.js';
import { unary } from './grpc-handler.js';

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
      await server.promoteMember(idFromDecimal(String(req.ID)));
      return { header: server.header(), members: members() };
    }),
  };
}

export function toProto(m: Member): { ID: string; name: string; peerURLs: string[]; clientURLs: string[]; isLearner: boolean } {
  return { ID: idToDecimal(m.id), name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: m.isLearner };
}
