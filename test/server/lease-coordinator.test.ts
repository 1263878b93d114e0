// The LeaseCoordinator of two members wired by hand: a shared "log" applies grants and revokes to
// both lessors, and the follower reaches the leader's PeerLease service over real loopback gRPC, as
// in a cluster. Checks forwarding, the not-yet-primary window, expiry proposals and waiting renewals.

import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { ApplyOutcome } from '../../src/server/apply.js';
import { LeaseCoordinator, type LeaseHost } from '../../src/server/lease-coordinator.js';
import { Lessor } from '../../src/server/lessor.js';
import type { InternalRequest } from '../../src/server/request-codec.js';
import { EtcdErrors } from '../../src/util/etcd-errors.js';
import { freePorts } from '../api/free-port.js';

const log = pino({ level: 'silent' });

interface Node {
  id: string;
  lessor: Lessor;
  coordinator: LeaseCoordinator;
  isLeader: boolean;
  proposals: Array<Omit<InternalRequest, 'id'>>;
}

const servers: grpc.Server[] = [];
const nodes: Node[] = [];

afterEach(() => {
  for (const n of nodes.splice(0)) n.coordinator.stop();
  for (const s of servers.splice(0)) s.forceShutdown();
});

/** A leader and a follower; the leader serves PeerLease on a loopback port. */
async function pair(clock: { ms: number }) {
  const [port] = await freePorts(1);
  const leaderUrl = `http://127.0.0.1:${port}`;
  const all: Node[] = [];
  const apply = (body: Omit<InternalRequest, 'id'>): ApplyOutcome => {
    let outcome: ApplyOutcome = { revision: 1, response: {} };
    for (const n of all) {
      try {
        if (body.request === 'lease_grant') {
          const g = body.lease_grant as { ID: string; TTL: string };
          const r = n.lessor.grant(g.ID, g.TTL);
          outcome = { revision: 1, response: { ID: r.lease.id, TTL: String(r.lease.ttl) } };
        } else if (body.request === 'lease_revoke') {
          n.lessor.revoke((body.lease_revoke as { ID: string }).ID);
        }
      } catch (err) {
        outcome = { revision: 1, error: err as never };
      }
    }
    return outcome;
  };
  const make = (id: string, isLeader: boolean): Node => {
    const lessor = new Lessor({ minTtlSeconds: 2, nowMs: () => clock.ms });
    const node = { id, lessor, isLeader, proposals: [] } as unknown as Node;
    const host: LeaseHost = {
      memberId: id,
      clusterId: 'c1',
      log,
      isLeader: () => node.isLeader,
      hasLeader: () => true,
      leaderPeerUrls: () => (node.isLeader ? undefined : [leaderUrl]),
      propose: async (body) => {
        node.proposals.push(body);
        const out = apply(body);
        if (out.error !== undefined) throw out.error;
        return out;
      },
      waitCommittedApplied: async () => undefined,
      keysWithLease: (lease) => (lease === '77' ? [Buffer.from('k1')] : []),
      requestTimeoutMs: () => 3000,
      electionTimeoutMs: () => 100,
    };
    node.coordinator = new LeaseCoordinator(host, lessor, () => 1_700_000_000_000);
    all.push(node);
    nodes.push(node);
    return node;
  };
  const leader = make('aaaa', true);
  const follower = make('bbbb', false);
  const server = new grpc.Server();
  const svc = leader.coordinator.peerService();
  server.addService(svc.definition, svc.implementation);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => (err === null ? resolve() : reject(err))),
  );
  servers.push(server);
  return { leader, follower };
}

describe('LeaseCoordinator', () => {
  it('chooses the ID before proposing and grants it on every member', async () => {
    const { leader, follower } = await pair({ ms: 0 });
    const out = await follower.coordinator.grant('10', '0');
    const id = String((out.response as { ID: string }).ID);
    expect(BigInt(id) >> 48n).toBe(0xbbbbn & 0x7fffn); // the member's low 16 bits, sign bit masked
    expect(follower.proposals).toEqual([{ request: 'lease_grant', lease_grant: { TTL: '10', ID: id } }]);
    expect(leader.lessor.exists(id) && follower.lessor.exists(id)).toBe(true);
    await expect(leader.coordinator.grant('10', id)).rejects.toBe(EtcdErrors.leaseExist);
  });

  it('renews through the leader from a follower, waiting while the new leader is not yet primary', async () => {
    const clock = { ms: 0 };
    const { leader, follower } = await pair(clock);
    await leader.coordinator.grant('10', '77');
    // The leader has not applied its term's first entry yet: renewals wait for it.
    const pending = follower.coordinator.renew('77');
    await new Promise((r) => setTimeout(r, 200));
    leader.coordinator.promote();
    expect(await pending).toBe(10);
    clock.ms += 4_000;
    expect(Lessor.remainingSeconds(leader.lessor.lookup('77')!)).toBe(6);
    expect(await follower.coordinator.renew('77')).toBe(10);
    expect(Lessor.remainingSeconds(leader.lessor.lookup('77')!)).toBe(10);
    // Unknown leases: keepalive answers 0, TimeToLive -1 (no errors), from either member.
    expect(await follower.coordinator.renew('5')).toBe(0);
    expect(await leader.coordinator.renew('5')).toBe(0);
    expect(await follower.coordinator.timeToLive('5', true)).toEqual({ id: '5', ttlSeconds: -1, grantedTtlSeconds: 0, keys: [] });
    const ttl = await follower.coordinator.timeToLive('77', true);
    expect(ttl).toEqual({ id: '77', ttlSeconds: 10, grantedTtlSeconds: 10, keys: [Buffer.from('k1')] });
    // The follower itself never runs a clock.
    expect(follower.lessor.lookup('77')?.remainingMs).toBe(Infinity);
  });

  it('times out when no leader can renew', async () => {
    const { leader, follower } = await pair({ ms: 0 });
    await leader.coordinator.grant('10', '77');
    leader.isLeader = false; // nobody leads; the "leader" refuses forwarded calls
    const started = Date.now();
    await expect(follower.coordinator.renew('77')).rejects.toBe(EtcdErrors.timeout);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_900);
  });

  it('a renewal of an expired lease waits for its revocation and then answers 0', async () => {
    const clock = { ms: 0 };
    const { leader, follower } = await pair(clock);
    leader.coordinator.promote();
    await leader.coordinator.grant('2', '9');
    clock.ms += 2_500; // expired (2 s), its revoke not proposed yet
    const pending = follower.coordinator.renew('9');
    await new Promise((r) => setTimeout(r, 100));
    // The primary's expiry round: it proposes the revoke; once applied, the renewal answers.
    leader.coordinator.start();
    expect(await pending).toBe(0);
    expect(leader.proposals).toContainEqual({ request: 'lease_revoke', lease_revoke: { ID: '9' } });
    expect(follower.lessor.exists('9')).toBe(false);
  });
});
