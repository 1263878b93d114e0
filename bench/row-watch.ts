/**
 * Watch event latency: W watchers (each its own Watch stream on the prefix w/, spread round-robin
 * over the 3 members, in several watcher processes) while one writer puts sequentially to the
 * leader at a fixed rate. Latency of each (event, watcher) pair = arrival in the watcher process −
 * the put's send (or its ack) in the writer, both on CLOCK_MONOTONIC. Verified: every watcher
 * received exactly the writer's revisions, in order, each once.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

import type { Member } from './bench-harness.js';
import type { MetricSpec, RowContext, RowSample, RowSpec } from './bench-types.js';
import { putRequest } from './grpc-messages.js';
import { headerRevision, paths } from './grpc-wire.js';
import { GrpcConnection } from './h2-grpc-client.js';
import { CpuWindow } from './proc-stats.js';
import { monoUs, percentile, sleep, sortedCopy } from './stats.js';
import type { WatcherRecord, WatchWorkerFinish, WatchWorkerReply, WatchWorkerStart } from './watch-worker.js';

export interface WatchRowParams {
  watchers: number;
  /** Watcher processes (a Node process handles a few hundred streams comfortably). */
  processes: number;
  /** Measured events, after `warmupEvents` unmeasured ones. */
  events: number;
  warmupEvents: number;
  putsPerSecond: number;
  valueBytes: number;
}

const PREFIX = Buffer.from('w/');
const PREFIX_END = Buffer.from('w0'); // '/' + 1

export const watchMetrics: MetricSpec[] = [
  { key: 'p50Ms', label: 'p50 ms (from put send)', better: 'lower' },
  { key: 'p99Ms', label: 'p99 ms (from put send)', better: 'lower' },
  { key: 'ackP50Ms', label: 'p50 ms (from put ack)', better: 'lower' },
  { key: 'ackP99Ms', label: 'p99 ms (from put ack)', better: 'lower' },
  { key: 'serversCpuUsPerEvent', label: 'servers CPU µs/event (puts incl.)', better: 'lower' },
];

export function watchRow(name: string, params: (quick: boolean) => WatchRowParams): RowSpec {
  return {
    name,
    title: `watch latency, ${params(false).watchers} watchers`,
    metrics: watchMetrics,
    run: (ctx) => runWatch(ctx, name, params(ctx.quick)),
  };
}

function nextReply(child: ChildProcess, type: WatchWorkerReply['type'], timeoutMs: number, what: string): Promise<WatchWorkerReply> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`watch worker ${String(child.pid)}: no ${type} within ${timeoutMs} ms (${what})`));
    }, timeoutMs);
    const onMessage = (msg: WatchWorkerReply): void => {
      if (msg.type === 'error') {
        cleanup();
        reject(new Error(`watch worker ${String(child.pid)}: ${msg.message}`));
      } else if (msg.type === type) {
        cleanup();
        resolve(msg);
      }
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`watch worker ${String(child.pid)} exited (${String(code)}) while waiting for ${type}`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

interface PutRecord {
  revision: number;
  sendUs: number;
  ackUs: number;
}

async function runWatch(ctx: RowContext, row: string, p: WatchRowParams): Promise<RowSample> {
  const leader = await ctx.leader();
  const members: Member[] = ctx.cluster.members;
  const endpoints = members.map((m) => m.clientUrl);
  const leaderEndpoint = members.indexOf(leader);
  const workers: ChildProcess[] = [];
  const writer = new GrpcConnection(leader.clientUrl);
  try {
    // Start the watcher processes and create every watch before the first put.
    const perProcess = Math.ceil(p.watchers / p.processes);
    const readies: Promise<WatchWorkerReply>[] = [];
    for (let first = 0; first < p.watchers; first += perProcess) {
      const child = fork(join(ctx.helpersDir, 'watch-worker.js'), [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      workers.push(child);
      const start: WatchWorkerStart = {
        type: 'start',
        endpoints,
        firstIndex: first,
        count: Math.min(perProcess, p.watchers - first),
        key: PREFIX,
        rangeEnd: PREFIX_END,
        createTimeoutMs: 60_000,
      };
      readies.push(nextReply(child, 'ready', 70_000, 'creating watches'));
      child.send(start);
    }
    const createMs = Math.max(...(await Promise.all(readies)).map((r) => (r.type === 'ready' ? r.createMs : NaN)));

    const value = Buffer.alloc(p.valueBytes, 0x76);
    const total = p.warmupEvents + p.events;
    const puts: PutRecord[] = [];
    const cpu = new CpuWindow(
      () => workers.map((w) => w.pid),
      () => members.map((m) => m.pid),
    );
    const intervalUs = 1e6 / p.putsPerSecond;
    let putErrors = 0;
    let t0 = 0;
    for (let i = 0; i < total; i++) {
      if (i === p.warmupEvents) cpu.start();
      if (i === 0) t0 = monoUs();
      const due = t0 + i * intervalUs;
      const wait = (due - monoUs()) / 1000;
      if (wait > 0) await sleep(wait);
      const key = Buffer.from(`w/${String(i % 1_000_000).padStart(6, '0')}`);
      const sendUs = monoUs();
      const res = await writer.unary(paths.put, putRequest(key, value), 10_000);
      const ackUs = monoUs();
      if (res.status !== 0 || res.response === undefined) {
        putErrors++;
        continue;
      }
      puts.push({ revision: headerRevision(res.response), sendUs, ackUs });
    }
    const lastRevision = puts.at(-1)?.revision ?? 0;
    const finishes = workers.map((w) => nextReply(w, 'result', 60_000, 'collecting events'));
    const finish: WatchWorkerFinish = { type: 'finish', lastRevision, timeoutMs: 15_000 };
    for (const w of workers) w.send(finish);
    const results = (await Promise.all(finishes)) as Extract<WatchWorkerReply, { type: 'result' }>[];
    const usage = cpu.stop();

    const watchers: WatcherRecord[] = results.flatMap((r) => r.watchers);
    const analysis = analyse(watchers, puts, p.warmupEvents, leaderEndpoint);
    const expectedPuts = total;
    const verified = putErrors === 0 && puts.length === expectedPuts && analysis.missing === 0 && analysis.unexpected === 0 && analysis.ended.length === 0;
    const verification =
      `${puts.length}/${expectedPuts} puts acked; ${watchers.length} watchers × ${puts.length} events: ` +
      `${analysis.missing} missing, ${analysis.unexpected} duplicate/out-of-order/foreign` +
      (analysis.ended.length > 0 ? `; ${analysis.ended.length} watches ended early (${analysis.ended[0] ?? ''})` : '');
    return {
      row,
      impl: ctx.impl,
      round: ctx.round,
      values: {
        p50Ms: percentile(analysis.fromSend, 50),
        p99Ms: percentile(analysis.fromSend, 99),
        ackP50Ms: percentile(analysis.fromAck, 50),
        ackP99Ms: percentile(analysis.fromAck, 99),
        serversCpuUsPerEvent: (usage.membersCores * usage.seconds * 1e6) / Math.max(1, analysis.fromSend.length),
      },
      cpu: usage,
      verified,
      verification,
      detail: {
        watchers: watchers.length,
        processes: workers.length,
        events: p.events,
        warmupEvents: p.warmupEvents,
        putsPerSecond: p.putsPerSecond,
        createAllWatchesMs: createMs,
        samples: analysis.fromSend.length,
        maxMs: analysis.fromSend.at(-1),
        putP50Ms: percentile(sortedCopy(puts.slice(p.warmupEvents).map((x) => (x.ackUs - x.sendUs) / 1000)), 50),
        leaderWatchers: { p50Ms: percentile(analysis.leaderFromSend, 50), p99Ms: percentile(analysis.leaderFromSend, 99) },
        followerWatchers: { p50Ms: percentile(analysis.followerFromSend, 50), p99Ms: percentile(analysis.followerFromSend, 99) },
      },
    };
  } finally {
    writer.close();
    for (const w of workers) {
      if (w.connected) w.send({ type: 'exit' });
    }
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.exitCode !== null || w.signalCode !== null) return resolve();
            const timer = setTimeout(() => w.kill('SIGKILL'), 5000);
            w.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
  }
}

interface Analysis {
  fromSend: Float64Array;
  fromAck: Float64Array;
  leaderFromSend: Float64Array;
  followerFromSend: Float64Array;
  missing: number;
  unexpected: number;
  ended: string[];
}

/** Latencies (ms, ascending) of the measured events, and how each watcher's sequence differs from the writer's. */
function analyse(watchers: WatcherRecord[], puts: PutRecord[], warmupEvents: number, leaderEndpoint: number): Analysis {
  const index = new Map<number, number>();
  puts.forEach((put, i) => index.set(put.revision, i));
  const fromSend: number[] = [];
  const fromAck: number[] = [];
  const leaderFromSend: number[] = [];
  const followerFromSend: number[] = [];
  let missing = 0;
  let unexpected = 0;
  const ended: string[] = [];
  for (const w of watchers) {
    // Expected: exactly puts[0..], in order. A revision not ours, repeated or going back is unexpected.
    let next = 0;
    for (let j = 0; j < w.revisions.length; j++) {
      const i = index.get(w.revisions[j] as number);
      if (i === undefined || i < next) {
        unexpected++;
        continue;
      }
      missing += i - next; // skipped revisions
      next = i + 1;
      if (i < warmupEvents) continue;
      const put = puts[i] as PutRecord;
      const t = w.receivedUs[j] as number;
      const ms = (t - put.sendUs) / 1000;
      fromSend.push(ms);
      fromAck.push((t - put.ackUs) / 1000);
      (w.endpoint === leaderEndpoint ? leaderFromSend : followerFromSend).push(ms);
    }
    missing += puts.length - next;
    if (w.ended !== undefined) ended.push(w.ended);
  }
  return {
    fromSend: sortedCopy(fromSend),
    fromAck: sortedCopy(fromAck),
    leaderFromSend: sortedCopy(leaderFromSend),
    followerFromSend: sortedCopy(followerFromSend),
    missing,
    unexpected,
    ended,
  };
}
