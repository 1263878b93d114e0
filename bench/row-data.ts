/**
 * Rows about the data set rather than request rates: member RSS idle, loading N keys (8-byte keys
 * k0000000.., 256-byte values, one put per key), member RSS with them, a full snapshot download,
 * and a follower's restart-to-ready time with them.
 */
import { createHash } from 'node:crypto';

import type { Member } from './bench-harness.js';
import type { RowContext, RowSample, RowSpec } from './bench-types.js';
import { decodeSnapshotResponse, rangeRequest, snapshotRequest } from './grpc-messages.js';
import { paths } from './grpc-wire.js';
import { GrpcConnection } from './h2-grpc-client.js';
import { key8, loadKeys, range, valueOf } from './kv-ops.js';
import { CpuWindow, procRssBytes, procRssParts } from './proc-stats.js';
import { monoUs, sleep } from './stats.js';

const MiB = 1024 * 1024;

function sample(ctx: RowContext, row: string, values: Record<string, number>, verified: boolean, verification: string, detail: Record<string, unknown>, cpu?: RowSample['cpu']): RowSample {
  return { row, impl: ctx.impl, round: ctx.round, values, cpu, verified, verification, detail };
}

/** RSS of each member after `settleMs`: mean and max (MiB). */
export function rssRow(name: string, title: string, settleMs: (quick: boolean) => number): RowSpec {
  return {
    name,
    title,
    metrics: [
      { key: 'meanMiB', label: 'RSS MiB, mean of 3', better: 'lower' },
      { key: 'maxMiB', label: 'RSS MiB, largest', better: 'lower' },
    ],
    run: async (ctx) => {
      await sleep(settleMs(ctx.quick));
      const leader = await ctx.leader();
      const rss = ctx.cluster.members.map((m) => ({ name: m.name, leader: m === leader, mib: (procRssBytes(m.pid) ?? NaN) / MiB }));
      const ok = rss.every((r) => Number.isFinite(r.mib));
      const memory = await Promise.all(
        ctx.cluster.members.map(async (m) => {
          const parts = procRssParts(m.pid);
          const runtime = await runtimeMemoryMiB(m.clientUrl);
          return parts === undefined ? runtime : { rssAnon: parts.anon / MiB, rssFile: parts.file / MiB, ...runtime };
        }),
      );
      // Diagnosis: with NODE_OPTIONS=--heapsnapshot-signal=SIGUSR2 the members write heap snapshots.
      if (process.env.KETCH_BENCH_HEAP_SNAPSHOTS === name && ctx.impl === 'ketch') {
        for (const m of ctx.cluster.members) if (m.pid !== undefined) process.kill(m.pid, 'SIGUSR2');
        await sleep(30_000);
      }
      ctx.log(`  ${ctx.impl} ${name}: ${rss.map((r, i) => `${r.name}${r.leader ? ' (leader)' : ''} rss ${r.mib.toFixed(1)} ${describeMemory(memory[i] ?? {})}`).join('; ')} MiB`);
      return sample(
        ctx,
        name,
        { meanMiB: rss.reduce((a, r) => a + r.mib, 0) / rss.length, maxMiB: Math.max(...rss.map((r) => r.mib)) },
        ok,
        ok ? 'VmRSS of all 3 members read' : 'a member had no VmRSS (not running?)',
        { members: rss.map((r, i) => ({ ...r, runtimeMiB: memory[i] })) },
      );
    },
  };
}

/** What a member's /metrics says about its memory, in MiB: the Node heap and off-heap, or Go's heap. */
const MEMORY_GAUGES: Record<string, string> = {
  nodejs_heap_size_used_bytes: 'heapUsed',
  nodejs_heap_size_total_bytes: 'heapTotal',
  nodejs_external_memory_bytes: 'external',
  go_memstats_heap_inuse_bytes: 'goHeapInuse',
  go_memstats_heap_idle_bytes: 'goHeapIdle',
};

async function runtimeMemoryMiB(clientUrl: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  try {
    const text = await (await fetch(`${clientUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    for (const line of text.split('\n')) {
      const [metric, value] = line.split(' ');
      const key = metric === undefined ? undefined : MEMORY_GAUGES[metric];
      if (key !== undefined && value !== undefined) out[key] = Number(value) / MiB;
    }
  } catch {
    // Memory detail is a diagnosis aid; the RSS read from /proc is the measurement.
  }
  return out;
}

function describeMemory(m: Record<string, number>): string {
  return Object.entries(m)
    .map(([k, v]) => `${k} ${v.toFixed(1)}`)
    .join(' ');
}

export const DATA_PREFIX = 'k';

/** Loads keyCount keys (one put each) through the leader; verified by counting them. */
export function loadRow(keyCount: number): RowSpec {
  return {
    name: 'load',
    title: `load ${keyCount} keys (128 puts in flight, Node client)`,
    metrics: [
      { key: 'throughput', label: 'keys/s', better: 'higher' },
      { key: 'serversCpuUsPerReq', label: 'servers CPU µs/put', better: 'lower' },
    ],
    run: async (ctx) => {
      const leader = await ctx.leader();
      const cpu = new CpuWindow(
        () => [],
        () => ctx.cluster.members.map((m) => m.pid),
      );
      cpu.start();
      const r = await loadKeys(leader.clientUrl, keyCount, (i) => key8(DATA_PREFIX, i), valueOf(256, 7), { inFlight: 128, connections: 4 });
      const usage = cpu.stop();
      const conn = new GrpcConnection(leader.clientUrl);
      try {
        const count = Number((await range(conn, key8(DATA_PREFIX, 0), { rangeEnd: key8(DATA_PREFIX, keyCount), countOnly: true })).count);
        return sample(
          ctx,
          'load',
          { throughput: r.putsPerSecond, serversCpuUsPerReq: (usage.membersCores * usage.seconds * 1e6) / keyCount },
          count === keyCount,
          `${count} of ${keyCount} keys present after the load (${r.retries} retried puts)`,
          { seconds: r.seconds, retries: r.retries, keyCount },
          usage,
        );
      } finally {
        conn.close();
      }
    },
  };
}

/**
 * Maintenance.Snapshot from the leader, timed from the request to the stream's close. Verified:
 * grpc-status 0, at least keyCount x 256 bytes, and the trailing SHA-256 that etcd appends (and
 * etcdctl snapshot save checks) matches the rest.
 */
export function snapshotRow(keyCount: number): RowSpec {
  return {
    name: 'snapshot',
    title: `snapshot save, ${keyCount} keys`,
    metrics: [
      { key: 'seconds', label: 'seconds', better: 'lower' },
      { key: 'sizeMiB', label: 'size MiB', better: 'lower' },
    ],
    run: async (ctx) => {
      const leader = await ctx.leader();
      const conn = new GrpcConnection(leader.clientUrl);
      const hash = createHash('sha256');
      let tail = Buffer.alloc(0); // the last 32 bytes seen so far (not yet hashed)
      let bytes = 0;
      let messages = 0;
      try {
        const cpu = new CpuWindow(
          () => [],
          () => ctx.cluster.members.map((m) => m.pid),
        );
        cpu.start();
        const t0 = monoUs();
        const stream = conn.stream(paths.snapshot, (message) => {
          const blob = decodeSnapshotResponse(message).blob;
          messages++;
          bytes += blob.length;
          const joined = Buffer.concat([tail, blob]);
          hash.update(joined.subarray(0, Math.max(0, joined.length - 32)));
          tail = Buffer.from(joined.subarray(Math.max(0, joined.length - 32)));
        });
        stream.send(snapshotRequest());
        stream.end();
        const end = await stream.closed;
        const seconds = (monoUs() - t0) / 1e6;
        const usage = cpu.stop();
        const shaOk = tail.length === 32 && hash.digest().equals(tail);
        const big = bytes >= keyCount * 256;
        const ok = end.status === 0 && shaOk && big;
        return sample(
          ctx,
          'snapshot',
          { seconds, sizeMiB: bytes / MiB },
          ok,
          ok ? `grpc-status 0, ${bytes} bytes in ${messages} messages, SHA-256 trailer matches` : `grpc-status ${end.status} ${end.message}; ${bytes} bytes; sha256 ${shaOk ? 'ok' : 'MISMATCH'}`,
          { bytes, messages },
          usage,
        );
      } finally {
        conn.close();
      }
    },
  };
}

/**
 * A follower is stopped (SIGTERM) and started again with its data; ready = its first successful
 * linearizable Range (it has a leader and has applied up to the leader's commit index). Polled
 * every 20 ms from the spawn. Verified: the member then serves all keyCount keys (serializable).
 */
export function restartRow(keyCount: number): RowSpec {
  return {
    name: 'restart',
    title: `member restart to ready, ${keyCount} keys`,
    metrics: [{ key: 'seconds', label: 'seconds', better: 'lower' }],
    run: async (ctx) => {
      const leader = await ctx.leader();
      const member = ctx.cluster.members.find((m) => m !== leader) as Member;
      const t0 = performance.now();
      await member.stop();
      const stopSeconds = (performance.now() - t0) / 1000;
      const conn = new GrpcConnection(member.clientUrl);
      try {
        const started = monoUs();
        await member.start();
        let firstAnswerUs: number | undefined;
        let readyUs: number | undefined;
        let last = '';
        const deadline = started + 120e6;
        const probe = rangeRequest(key8(DATA_PREFIX, 0), { countOnly: true });
        while (monoUs() < deadline) {
          if (!member.running) throw new Error(`${member.name} exited during restart: ${JSON.stringify(member.lastExit)}\n${member.logTail(2000)}`);
          const res = await conn.unary(paths.range, probe, 1000);
          if (res.status !== -1) firstAnswerUs ??= monoUs();
          if (res.status === 0) {
            readyUs = monoUs();
            break;
          }
          last = `${res.status} ${res.message}`;
          await sleep(20);
        }
        if (readyUs === undefined) throw new Error(`${member.name} not ready within 120 s of its restart; last: ${last}`);
        const seconds = (readyUs - started) / 1e6;
        const count = Number((await range(conn, key8(DATA_PREFIX, 0), { rangeEnd: key8(DATA_PREFIX, keyCount), countOnly: true, serializable: true })).count);
        await ctx.cluster.waitHealthy(60_000);
        return {
          ...sample(
            ctx,
            'restart',
            { seconds },
            count === keyCount,
            `${member.name} serves ${count} of ${keyCount} keys after its restart`,
            { member: member.name, stopSeconds, firstAnswerSeconds: firstAnswerUs === undefined ? NaN : (firstAnswerUs - started) / 1e6 },
          ),
          profileTarget: { pid: member.pid, fromMonoUs: started, toMonoUs: readyUs },
        };
      } finally {
        conn.close();
      }
    },
  };
}
