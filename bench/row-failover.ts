/**
 * Leader failover gap: one writer puts sequentially through a follower that stays up (5 s gRPC
 * deadline, a retry 5 ms after a failure); the leader is SIGKILLed mid-stream, and from then on a
 * new put starts every 10 ms (a put the follower forwarded to the dead leader only fails at its
 * deadline, so a one-at-a-time writer would measure its own deadline, not the cluster). Gap = the
 * longest time between two consecutive acks where the later one came after the kill: from the
 * last ack before the outage to the first ack after it. Before the next kill,
 * the killed member is restarted and the cluster waits healthy (this row runs last: after its last
 * kill the cluster is destroyed). Verified: a new leader was
 * elected, and the key's version grew by at least the acked puts and at most the attempts.
 */
import type { Member } from './bench-harness.js';
import type { RowContext, RowSample, RowSpec } from './bench-types.js';
import { putRequest } from './grpc-messages.js';
import { paths } from './grpc-wire.js';
import { GrpcConnection } from './h2-grpc-client.js';
import { key8, valueOf, versions } from './kv-ops.js';
import { monoUs, sleep } from './stats.js';

/** gRPC deadline of each put (etcdctl's default command timeout). */
const PUT_DEADLINE_MS = 5000;
/** After the kill, a new put this often. */
const PROBE_MS = 10;

export interface FailoverParams {
  /** Kills in this round. */
  kills: number;
  /** Writing time before each kill. */
  beforeKillMs: number;
  /** Acks needed after the outage before the writer stops. */
  acksAfter: number;
}

export function failoverRow(params: (quick: boolean, round: number) => FailoverParams): RowSpec {
  return {
    name: 'failover',
    title: 'leader failover gap (kill -9 the leader)',
    metrics: [{ key: 'gapMs', label: 'gap ms', better: 'lower' }],
    run: async (ctx) => {
      const p = params(ctx.quick, ctx.round);
      const out: RowSample[] = [];
      // The killed member is restarted between kills; after the last one the cluster is destroyed anyway.
      for (let i = 0; i < p.kills; i++) out.push(await oneKill(ctx, p, i < p.kills - 1));
      return out;
    },
  };
}

async function oneKill(ctx: RowContext, p: FailoverParams, restartAfter: boolean): Promise<RowSample> {
  const leader = await ctx.leader();
  const via = ctx.cluster.members.find((m) => m !== leader && m.running) as Member;
  const writer = new GrpcConnection(via.clientUrl);
  const reader = new GrpcConnection(via.clientUrl);
  const key = key8('f', 0);
  const body = putRequest(key, valueOf(256, 3));
  try {
    const [versionBefore = 0] = await versions(reader, [key]);
    const acks: number[] = [];
    let attempts = 0;
    let failures = 0;
    const put = async (): Promise<boolean> => {
      attempts++;
      const res = await writer.unary(paths.put, body, PUT_DEADLINE_MS);
      if (res.status === 0) acks.push(monoUs());
      else failures++;
      return res.status === 0;
    };
    let killed = false;
    const started = monoUs();
    const sequential = (async () => {
      while (!killed) {
        if (!(await put())) await sleep(5);
      }
    })();
    // Kill only once the writer is going (some acks): the gap starts at the last ack before it.
    while (acks.length < 3 || monoUs() - started < p.beforeKillMs * 1000) {
      if (monoUs() - started > 30e6) throw new Error(`only ${acks.length} acks in 30 s before the kill (${failures} failed puts)`);
      await sleep(10);
    }
    const acksBeforeKill = acks.length;
    const killUs = monoUs();
    killed = true;
    await leader.kill();
    // From the kill on, a put every PROBE_MS whatever is outstanding: a put forwarded to the dead
    // leader only fails at its deadline, so retrying one at a time would measure the deadline.
    const probes: Promise<boolean>[] = [];
    while (acks.filter((t) => t > killUs).length < p.acksAfter) {
      if (monoUs() - killUs > 60e6) throw new Error(`fewer than ${p.acksAfter} acks within 60 s of the kill (${failures} failed puts): no member took over`);
      probes.push(put());
      await sleep(PROBE_MS);
    }
    writer.close(); // cancels the puts stuck on the dead leader
    await Promise.allSettled([sequential, ...probes]);

    const sorted = [...acks].sort((a, b) => a - b);
    let gapUs = 0;
    for (let i = 1; i < sorted.length; i++) {
      const after = sorted[i] as number;
      if (after > killUs) gapUs = Math.max(gapUs, after - (sorted[i - 1] as number));
    }
    const next = await ctx.leader();
    const [versionAfter = 0] = await versions(reader, [key]);
    const increments = versionAfter - versionBefore;
    if (restartAfter) {
      await leader.start();
      await ctx.cluster.waitHealthy(60_000);
    }
    const problems: string[] = [];
    if (next === leader) problems.push('the killed member is still reported as leader');
    if (increments < acks.length || increments > attempts) problems.push(`version grew by ${increments}, acked ${acks.length}, attempted ${attempts}`);
    return {
      row: 'failover',
      impl: ctx.impl,
      round: ctx.round,
      values: { gapMs: gapUs / 1000 },
      cpu: undefined,
      verified: problems.length === 0,
      verification:
        problems.length === 0
          ? `new leader ${next.name}; ${acks.length} acked puts all applied (${attempts} attempts, ${failures} failed or cancelled)`
          : problems.join('; '),
      detail: { killed: leader.name, via: via.name, newLeader: next.name, acksBeforeKill, acks: acks.length, attempts, failures },
    };
  } finally {
    writer.close();
    reader.close();
  }
}
