/**
 * Throughput and latency rows driven by h2load: puts, single-key ranges (linearizable and
 * serializable), a 1,000-key range and a compare-and-swap txn, all sent to the leader.
 *
 * Throughput: writes = the leader's revision delta over the measured window (each request is one
 * revision); reads = h2load's requests that completed inside the window. Latency p50/p99: h2load's
 * per-request log (submit of the request HEADERS to stream close, trailers included) of requests
 * started inside the window. Verified, because h2load ignores gRPC status: every response in the
 * window was HTTP 200 and carried at least the expected number of DATA bytes (a gRPC error has no
 * message); for writes, the revision delta of the whole run equals the sum of our keys' version
 * increments (every put landed, nobody else wrote) and the window's revision delta matches h2load's
 * completed count within the requests in flight.
 */
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

import type { MetricSpec, RowContext, RowSample, RowSpec } from './bench-types.js';
import { casTxnRequest, putRequest, rangeRequest, txnPutsRequest } from './grpc-messages.js';
import { grpcFrame, paths } from './grpc-wire.js';
import { GrpcConnection } from './h2-grpc-client.js';
import { latencyPercentile, parseH2loadSummary, startH2load, wallUs, windowRequests, type H2loadSummary } from './h2load-runner.js';
import { key8, range, storeRevision, valueOf, versions } from './kv-ops.js';
import { CpuWindow } from './proc-stats.js';
import { sleep } from './stats.js';

export interface Shape {
  /** h2load processes (each posts its own body, e.g. its own key). */
  procs: number;
  connsPerProc: number;
  streamsPerConn: number;
}

export interface Timing {
  warmupSeconds: number;
  windowSeconds: number;
  /** h2load keeps running this long after the window, so the window's last requests complete. */
  tailSeconds: number;
}

/** What a row sends and how its work is checked. */
export interface Workload {
  path: string;
  writes: boolean;
  /** Minimum DATA bytes of one successful response (5-byte prefix + message). */
  minResponseBytes: number;
  /** Creates whatever the requests need and returns one body per h2load process, plus the keys written. */
  prepare(conn: GrpcConnection, ctx: RowContext, procs: number): Promise<{ bodies: Buffer[]; writtenKeys: Buffer[] }>;
}

export const throughputMetrics: MetricSpec[] = [
  { key: 'throughput', label: 'req/s', better: 'higher' },
  { key: 'p50Ms', label: 'p50 ms', better: 'lower' },
  { key: 'p99Ms', label: 'p99 ms', better: 'lower' },
  // What a request costs the servers, whatever share of the (shared) CPUs they got.
  { key: 'serversCpuUsPerReq', label: 'servers CPU µs/req', better: 'lower' },
];

const VALUE_BYTES = 256;
const KEYSPACE = 100_000;

export function h2loadRow(name: string, title: string, shape: Shape, timing: (quick: boolean) => Timing, workload: Workload): RowSpec {
  return { name, title, metrics: throughputMetrics, run: (ctx) => runH2loadRow(ctx, name, shape, timing(ctx.quick), workload) };
}

/** Distinct random keys of the 100k keyspace ("k0000000".."k0099999"). */
function randomKeys(count: number): Buffer[] {
  const chosen = new Set<number>();
  while (chosen.size < count) chosen.add(Math.floor(Math.random() * KEYSPACE));
  return [...chosen].map((n) => key8('k', n));
}

export const putWorkload: Workload = {
  path: paths.put,
  writes: true,
  minResponseBytes: 5 + 2, // PutResponse{header{...}}
  prepare: async (_conn, _ctx, procs) => {
    const keys = randomKeys(procs);
    const value = valueOf(VALUE_BYTES);
    return { bodies: keys.map((k) => grpcFrame(putRequest(k, value))), writtenKeys: keys };
  },
};

export function rangeWorkload(serializable: boolean): Workload {
  return {
    path: paths.range,
    writes: false,
    minResponseBytes: 5 + VALUE_BYTES,
    prepare: async (conn, ctx) => {
      const key = key8('s', 0);
      await putInTxns(conn, [key], valueOf(VALUE_BYTES));
      void ctx;
      return { bodies: [grpcFrame(rangeRequest(key, { serializable }))], writtenKeys: [] };
    },
  };
}

const RANGE_KEYS = 1000;

/** Writes keys 100 to a txn (etcd's default --max-txn-ops is 128): quick to set up, whatever the server's put rate. */
async function putInTxns(conn: GrpcConnection, keys: Buffer[], value: Buffer): Promise<void> {
  for (let i = 0; i < keys.length; i += 100) {
    const res = await conn.unary(paths.txn, txnPutsRequest(keys.slice(i, i + 100), value), 30_000);
    if (res.status !== 0) throw new Error(`txn of puts failed: gRPC ${res.status} ${res.message}`);
  }
}
export const range1000Workload: Workload = {
  path: paths.range,
  writes: false,
  minResponseBytes: 5 + RANGE_KEYS * VALUE_BYTES,
  prepare: async (conn) => {
    await putInTxns(conn, Array.from({ length: RANGE_KEYS }, (_u, i) => key8('r', i)), valueOf(VALUE_BYTES));
    const reply = await range(conn, key8('r', 0), { rangeEnd: key8('r', RANGE_KEYS), countOnly: true });
    if (Number(reply.count) !== RANGE_KEYS) throw new Error(`expected ${RANGE_KEYS} keys r0000000..r0000999, found ${reply.count}`);
    return { bodies: [grpcFrame(rangeRequest(key8('r', 0), { rangeEnd: key8('r', RANGE_KEYS) }))], writtenKeys: [] };
  },
};

export const casWorkload: Workload = {
  path: paths.txn,
  writes: true,
  minResponseBytes: 5 + 2,
  prepare: async (conn, _ctx, procs) => {
    const keys = Array.from({ length: procs }, (_u, i) => key8('c', i));
    const value = valueOf(VALUE_BYTES);
    await putInTxns(conn, keys, value);
    // Compare value == v, then put the same v: the compare succeeds every time and each txn writes one revision.
    return { bodies: keys.map((k) => grpcFrame(casTxnRequest(k, value, value))), writtenKeys: keys };
  },
};

/** The store revision once it has not changed for 300 ms (at most 30 s). */
async function settledRevision(conn: GrpcConnection): Promise<number> {
  const deadline = performance.now() + 30_000;
  let last = await storeRevision(conn);
  for (;;) {
    await sleep(300);
    const now = await storeRevision(conn);
    if (now === last) return now;
    if (performance.now() > deadline) throw new Error(`the revision still moves 30 s after h2load stopped (${last} -> ${now})`);
    last = now;
  }
}

async function runH2loadRow(ctx: RowContext, row: string, shape: Shape, t: Timing, w: Workload): Promise<RowSample> {
  const leader = await ctx.leader();
  const conn = new GrpcConnection(leader.clientUrl);
  const files: string[] = [];
  try {
    const { bodies, writtenKeys } = await w.prepare(conn, ctx, shape.procs);
    const bodyFiles = Array.from({ length: shape.procs }, (_u, i) => {
      const file = join(ctx.workDir, `${row}-body-${i}.bin`);
      writeFileSync(file, bodies[i % bodies.length] as Buffer);
      files.push(file);
      return file;
    });
    const versionsBefore = await versions(conn, writtenKeys);
    const revBefore = await storeRevision(conn);

    // The window opens this long after h2load's warm-up should have ended (process start, connect).
    const margin = Math.min(0.5, t.warmupSeconds);
    const gens = bodyFiles.map((bodyFile, i) => {
      const logFile = join(ctx.workDir, `${row}-h2load-${i}.log`);
      files.push(logFile);
      return startH2load({
        url: leader.clientUrl,
        path: w.path,
        bodyFile,
        logFile,
        conns: shape.connsPerProc,
        streams: shape.streamsPerConn,
        warmupSeconds: t.warmupSeconds,
        durationSeconds: t.windowSeconds + margin + t.tailSeconds,
      });
    });
    const cpu = new CpuWindow(
      () => gens.map((g) => g.pid),
      () => ctx.cluster.members.map((m) => m.pid),
    );
    await sleep((t.warmupSeconds + margin) * 1000);
    const r0 = await storeRevision(conn);
    const w0 = wallUs();
    cpu.start();
    await sleep(t.windowSeconds * 1000);
    const r1 = await storeRevision(conn);
    const w1 = wallUs();
    const usage = cpu.stop();
    const outs = await Promise.all(gens.map((g) => g.done));
    for (const [i, o] of outs.entries()) {
      if (o.code !== 0) throw new Error(`h2load ${i} exited ${String(o.code)}: ${o.stderr.slice(-1000)} ${o.stdout.slice(-1000)}`);
    }
    // Requests h2load cut off may still be applied: wait until the revision stops moving.
    const revAfter = await settledRevision(conn);
    const versionsAfter = await versions(conn, writtenKeys);
    if ((await storeRevision(conn)) !== revAfter) throw new Error('the store kept changing after h2load stopped');

    const windowSeconds = (w1 - w0) / 1e6;
    const reqs = windowRequests(gens, w0, w1, t.tailSeconds);
    // Diagnosis: keep h2load's per-request logs (start time, status, latency) and the window.
    const keep = process.env.KETCH_BENCH_KEEP_H2LOAD_LOGS;
    if (keep !== undefined && keep !== '') {
      mkdirSync(keep, { recursive: true });
      for (const f of files) if (f.endsWith('.log')) copyFileSync(f, join(keep, `${ctx.impl}-${basename(f)}`));
      writeFileSync(join(keep, `${ctx.impl}-${row}-window.json`), JSON.stringify({ w0, w1 }));
    }
    const summaries = outs.map((o) => parseH2loadSummary(o.stdout));
    const sum = (f: (s: H2loadSummary) => number): number => summaries.reduce((a, s) => a + (s === undefined ? NaN : f(s)), 0);
    const succeeded = sum((s) => s.succeeded);
    const dataBytesPerResponse = sum((s) => s.dataBytes) / succeeded;
    const clients = shape.procs * shape.connsPerProc * shape.streamsPerConn;

    const problems: string[] = [];
    if (reqs.notOk > 0) problems.push(`${reqs.notOk} requests in the window were not HTTP 200`);
    if (!(dataBytesPerResponse >= w.minResponseBytes)) problems.push(`${dataBytesPerResponse.toFixed(1)} DATA bytes per response < ${w.minResponseBytes} (gRPC errors carry none)`);
    const windowDelta = r1 - r0;
    const runDelta = revAfter - revBefore;
    let throughput: number;
    if (w.writes) {
      throughput = windowDelta / windowSeconds;
      const versionDelta = versionsAfter.reduce((a, v, i) => a + v - (versionsBefore[i] ?? 0), 0);
      if (versionDelta !== runDelta) problems.push(`revision delta ${runDelta} != sum of our keys' version increments ${versionDelta}`);
      if (Math.abs(windowDelta - reqs.completedInWindow) > clients + 0.02 * windowDelta) {
        problems.push(`window: revision delta ${windowDelta} vs ${reqs.completedInWindow} requests completed (more than the ${clients} in flight apart)`);
      }
      if (windowDelta <= 0) problems.push('no revision in the window');
    } else {
      throughput = reqs.completedInWindow / windowSeconds;
      if (runDelta !== 0) problems.push(`the store changed during a read-only row (${runDelta} revisions)`);
      if (reqs.completedInWindow <= 0) problems.push('no request completed in the window');
    }
    const p50 = latencyPercentile(reqs, 50);
    const p99 = latencyPercentile(reqs, 99);
    const cutOff = reqs.cutOffLowerBoundsMs.length;
    const latencyNote =
      cutOff === 0 ? '' : `; ${cutOff} requests of the window still running when h2load stopped${p50.lowerBound || p99.lowerBound ? ': p50/p99 shown are LOWER BOUNDS' : ''}`;
    return {
      row,
      impl: ctx.impl,
      round: ctx.round,
      values: { throughput, p50Ms: p50.ms, p99Ms: p99.ms, serversCpuUsPerReq: (usage.membersCores * 1e6) / throughput },
      lowerBounds: [...(p50.lowerBound ? ['p50Ms'] : []), ...(p99.lowerBound ? ['p99Ms'] : [])],
      cpu: usage,
      verified: problems.length === 0,
      verification:
        problems.length === 0
          ? (w.writes
            ? `${runDelta} revisions = our keys' version increments; window ${windowDelta} revisions vs ${reqs.completedInWindow} completed; all HTTP 200 with ${dataBytesPerResponse.toFixed(0)} B/response`
            : `${reqs.completedInWindow} responses in the window, all HTTP 200 with ${dataBytesPerResponse.toFixed(0)} B/response; store unchanged`) + latencyNote
          : problems.join('; ') + latencyNote,
      detail: {
        leader: leader.name,
        clients,
        shape,
        windowSeconds,
        warmupSeconds: t.warmupSeconds,
        windowRevisions: windowDelta,
        completedInWindow: reqs.completedInWindow,
        latencySamples: reqs.latenciesMs.length,
        cutOffInWindow: cutOff,
        latencyLowerBound: { p50: p50.lowerBound, p99: p99.lowerBound },
        maxMs: reqs.latenciesMs.at(-1),
        dataBytesPerResponse,
        runRevisions: runDelta,
        keys: writtenKeys.map((k, i) => ({ key: k.toString(), versionBefore: versionsBefore[i], versionAfter: versionsAfter[i] })),
        h2load: summaries,
      },
    };
  } finally {
    conn.close();
    for (const f of files) rmSync(f, { force: true });
  }
}
