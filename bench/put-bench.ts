/**
 * A closer look at puts than `npm run bench` gives (bench/bench.ts, which has the put rows with the
 * same method): WAL fsync metrics, foreign CPU on the machine, and a profiled ketch run with the
 * callers of the hottest functions. Shares the harness's modules (h2load runner, clients, /proc).
 *
 * Side-by-side put benchmark: 3-member ketch and 3-member etcd 3.4 clusters (the integration
 * harness, identical etcd flags, default heartbeat 100 ms / election 1000 ms, real fsync, each
 * member in its own temp data dir), one at a time, alternating over rounds.
 *
 *   npm run build && node dist/bench/put-bench.js [--seconds 10] [--clients 64] [--rounds 3]
 *       [--warmup 3] [--procs 16] [--conns 16] [--impl ketch,etcd] [--profile] [--out FILE]
 *
 * Load: h2load (Debian nghttp2-client, C) posting a prebuilt gRPC unary etcdserverpb.KV/Put
 * (5-byte gRPC frame header + protobuf PutRequest, 8-byte key, 256-byte value) to the LEADER's
 * client URL. h2load sends one body file per process, so the load is split over --procs h2load
 * processes, each with its own key drawn from a 100k keyspace; --clients concurrent requests in
 * all = procs x (conns/procs connections) x (streams per connection).
 *
 * h2load does not read gRPC trailers (a gRPC error is still HTTP 200 to it), so throughput is NOT
 * h2load's count: the leader's store revision is read (serializable Range, grpc-js) at the start
 * and end of the measured window, and puts/s = revision delta / window seconds. After the run the
 * sum of the keys' versions must equal the revision delta of the whole run (every put landed, on
 * our keys, with our 256-byte value). h2load's own 2xx count in the window is printed next to it.
 * Latency p50/p99: h2load's --log-file rows whose request started inside the window.
 * CPU: utime+stime from /proc/<pid>/stat over the window, for each member and each h2load process,
 * and the whole machine from /proc/stat ("other" = machine busy - members - h2load - this process).
 *
 * --profile: one extra ketch run (not in the medians) with the V8 CPU profiler in every member
 * (bench/ketch-profiled.ts); the leader's self time inside the measured window is summarised.
 */
import { parseBenchArgs } from './cli-args.js';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { benchDir, importHarness, repoRoot, snapshotServerBuild, type Cluster, type Harness, type Impl } from './bench-harness.js';
import { callers, type CpuProfile, formatSummary, inclusive, summarize, type SelfTimeSummary } from './cpuprofile-top.js';
import { putRequest } from './grpc-messages.js';
import { grpcFrame } from './grpc-wire.js';
import { GrpcConnection } from './h2-grpc-client.js';
import { H2LOAD, parseH2loadSummary, requireH2load, startH2load, wallUs, windowRequests, type H2loadSummary } from './h2load-runner.js';
import { key8, range, storeRevision } from './kv-ops.js';
import { procCpuSeconds as procCpu } from './proc-stats.js';
import { median, monoUs, percentile } from './stats.js';

const build = snapshotServerBuild();
const plainHarness = await importHarness(build.entry, 'plain');
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
const KEY_BYTES = 8;
const TAIL_SECONDS = 1.5; // h2load keeps running this long after the window closes

const args = parseBenchArgs(import.meta.url, {
    seconds: { type: 'string', default: '10' },
    clients: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '3' },
    procs: { type: 'string', default: '16' },
    conns: { type: 'string', default: '16' },
    keyspace: { type: 'string', default: '100000' },
    'value-bytes': { type: 'string', default: '256' },
    impl: { type: 'string', default: 'ketch,etcd' },
    profile: { type: 'boolean', default: false },
    out: { type: 'string' },
  });

const seconds = Number(args.seconds);
const clients = Number(args.clients);
const rounds = Number(args.rounds);
const warmup = Number(args.warmup);
const procs = Number(args.procs);
const conns = Number(args.conns);
const keyspace = Number(args.keyspace);
const valueBytes = Number(args['value-bytes']);
const impls = plainHarness.parseImpls(args.impl);

if (conns % procs !== 0 || clients % conns !== 0) {
  throw new Error(`--conns (${conns}) must be a multiple of --procs (${procs}) and --clients (${clients}) a multiple of --conns`);
}
const connsPerProc = conns / procs;
const streamsPerConn = clients / conns;
requireH2load();

// ---- small helpers

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** utime+stime (seconds) and parent of every process on the machine. */
function allProcCpu(): Map<number, { cpu: number; ppid: number }> {
  const out = new Map<number, { cpu: number; ppid: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(name), { cpu: (Number(fields[11]) + Number(fields[12])) / CLK_TCK, ppid: Number(fields[1]) });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * CPU seconds between two allProcCpu snapshots of processes that are not ours, split into kernel
 * threads (children of kthreadd, pid 2) and everything else (e.g. other people's jobs). Processes
 * that started or ended inside the window are not seen.
 */
function foreignCpu(a: Map<number, { cpu: number; ppid: number }>, b: Map<number, { cpu: number; ppid: number }>, ours: Set<number>): { user: number; kernelThreads: number } {
  let user = 0;
  let kernelThreads = 0;
  for (const [pid, end] of b) {
    const start = a.get(pid);
    if (start === undefined || ours.has(pid)) continue;
    const d = end.cpu - start.cpu;
    if (pid === 2 || end.ppid === 2) kernelThreads += d;
    else user += d;
  }
  return { user, kernelThreads };
}

const STAT_FIELDS = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;
type MachineFields = Record<(typeof STAT_FIELDS)[number], number>;

/** Whole-machine busy and total CPU seconds (all cores) from /proc/stat, and each field. */
function machineCpu(): { busy: number; total: number; fields: MachineFields } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] as string;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const fields = Object.fromEntries(STAT_FIELDS.map((f, i) => [f, (v[i] ?? 0) / CLK_TCK])) as MachineFields;
  return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK, fields };
}

function distinctKeys(count: number): number[] {
  const chosen = new Set<number>();
  while (chosen.size < count) chosen.add(Math.floor(Math.random() * keyspace));
  return [...chosen];
}

/** The leader's store revision (serializable count-only Range) and when it was read (wall and monotonic µs). */
async function revisionAt(conn: GrpcConnection): Promise<{ revision: number; wallUs: number; monoUs: number }> {
  const m0 = monoUs();
  const w0 = wallUs();
  const revision = await storeRevision(conn);
  return { revision, wallUs: (w0 + wallUs()) / 2, monoUs: (m0 + monoUs()) / 2 };
}

// ---- /metrics (both etcd and ketch serve it on the client URL)

interface WalFsync {
  count: number;
  sumSeconds: number;
  /** Cumulative bucket counts, le (seconds) -> count. */
  buckets: Record<string, number>;
}

async function walFsync(clientUrl: string): Promise<WalFsync | undefined> {
  try {
    const res = await fetch(`${clientUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    const out: WalFsync = { count: NaN, sumSeconds: NaN, buckets: {} };
    for (const line of text.split('\n')) {
      if (!line.startsWith('etcd_disk_wal_fsync_duration_seconds')) continue;
      const [name, value] = line.split(' ');
      if (name === undefined || value === undefined) continue;
      if (name.endsWith('_count')) out.count = Number(value);
      else if (name.endsWith('_sum')) out.sumSeconds = Number(value);
      else {
        const le = /le="([^"]+)"/.exec(name)?.[1];
        if (le !== undefined) out.buckets[le] = Number(value);
      }
    }
    return out;
  } catch {
    return undefined;
  }
}

/** Change of etcd_disk_wal_fsync_duration_seconds over the window, per second. */
interface WalFsyncRate {
  perSecond: number;
  meanMs: number;
  /** Sum of the observed durations / window: the fraction of time spent in them. */
  busyFraction: number;
  /** Observations above 1 ms, per second (ketch also observes Raft cycles that wrote nothing). */
  over1msPerSecond: number;
  buckets: Record<string, number>;
}

function walRate(a: WalFsync | undefined, b: WalFsync | undefined, windowSeconds: number): WalFsyncRate | undefined {
  if (a === undefined || b === undefined) return undefined;
  const count = b.count - a.count;
  const sum = b.sumSeconds - a.sumSeconds;
  const le1 = (b.buckets['0.001'] ?? NaN) - (a.buckets['0.001'] ?? NaN);
  const buckets: Record<string, number> = {};
  for (const le of Object.keys(b.buckets)) buckets[le] = (b.buckets[le] ?? 0) - (a.buckets[le] ?? 0);
  return {
    perSecond: count / windowSeconds,
    meanMs: count > 0 ? (1000 * sum) / count : NaN,
    busyFraction: sum / windowSeconds,
    over1msPerSecond: (count - le1) / windowSeconds,
    buckets,
  };
}

// ---- one run

/** Stack patterns whose inclusive time the profile summary reports. */
const INCLUSIVE_PATTERNS = [
  '(idle)',
  'src/api/h2-authority-fix',
  'node:internal/js_stream_socket',
  'node:internal/http2/',
  '@grpc/grpc-js/',
  'src/api/',
  'src/transport/',
  'processReady',
  'applyEntries',
  'src/storage/',
  'classic-level',
  'src/mvcc/',
  'src/raft/',
  'protobufjs',
  '(garbage collector)',
  '(program)',
];

interface RunResult {
  impl: Impl;
  round: number | 'profile';
  leader: string;
  leaderChanged: boolean;
  windowSeconds: number;
  revisionDelta: number;
  putsPerSecond: number;
  h2loadOkPerSecond: number;
  h2loadNon200InWindow: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU seconds per wall second over the window (1.0 = one core). */
  leaderCpu: number;
  followersCpu: number[];
  generatorCpu: number;
  benchProcessCpu: number;
  machineBusyCpu: number;
  /** /proc/stat fields over the window, in cores. */
  machineFields: MachineFields;
  /** Machine busy minus our processes (foreign jobs, kernel threads, softirq/irq time). */
  otherCpu: number;
  /** Of that: user processes that are not ours (other people's jobs on the shared machine). */
  foreignProcessesCpu: number;
  kernelThreadsCpu: number;
  leaderCpuUsPerPut: number;
  /** etcd_disk_wal_fsync_duration_seconds over the window (ketch: one observation per Raft Ready cycle). */
  walFsync: { leader: WalFsyncRate | undefined; followers: (WalFsyncRate | undefined)[] };
  verification: { runRevisionDelta: number; keyVersionSum: number; valuesOk: boolean; ok: boolean };
  h2load: (H2loadSummary | undefined)[];
  profile?: {
    dir: string;
    leaderFile: string;
    /** The measured window in the profile's clock (CLOCK_MONOTONIC microseconds). */
    fromUs: number;
    toUs: number;
    window: SelfTimeSummary;
    callersOfTop: { name: string; stacks: { stack: string; selfMs: number }[] }[];
    /** Wall time of samples with a matching frame anywhere on the stack (patterns overlap). */
    inclusive: { pattern: string; ms: number; percent: number }[];
  };
}

async function runOne(harness: Harness, impl: Impl, round: number | 'profile', profileDir?: string): Promise<RunResult> {
  if (profileDir !== undefined) process.env.KETCH_BENCH_CPU_PROF_DIR = profileDir;
  let cluster: Cluster;
  try {
    cluster = await harness.startCluster(impl, 3);
  } finally {
    delete process.env.KETCH_BENCH_CPU_PROF_DIR;
  }
  const work = await mkdtemp(join(tmpdir(), 'ketch-putbench-'));
  let kv: GrpcConnection | undefined;
  try {
    const leaderInfo = await cluster.leader();
    const leader = leaderInfo.member;
    const followers = cluster.members.filter((m) => m !== leader);
    const leaderPid = leader.pid;
    kv = new GrpcConnection(leader.clientUrl);

    const keyNums = distinctKeys(procs);
    const keys = keyNums.map((n) => key8('k', n));
    const value = Buffer.alloc(valueBytes);
    for (let i = 0; i < valueBytes; i++) value[i] = 0x61 + (i % 26);
    const bodies = keys.map((k, i) => {
      const file = join(work, `body-${i}.bin`);
      writeFileSync(file, grpcFrame(putRequest(k, value)));
      return file;
    });

    const before = await revisionAt(kv);
    const gens = bodies.map((bodyFile, i) =>
      startH2load({
        url: leader.clientUrl,
        path: '/etcdserverpb.KV/Put',
        bodyFile,
        logFile: join(work, `h2load-${i}.log`),
        conns: connsPerProc,
        streams: streamsPerConn,
        warmupSeconds: warmup,
        durationSeconds: seconds + TAIL_SECONDS,
      }),
    );
    const startedAt = Date.now();

    await sleep(warmup * 1000 + 500 - (Date.now() - startedAt));
    const snap = () => ({
      leader: procCpu(leader.pid),
      followers: followers.map((f) => procCpu(f.pid)),
      gens: gens.map((g) => procCpu(g.pid)),
      self: process.cpuUsage(),
      machine: machineCpu(),
      all: allProcCpu(),
    });
    const m0 = await Promise.all([leader, ...followers].map((m) => walFsync(m.clientUrl)));
    const r0 = await revisionAt(kv);
    const c0 = snap();
    await sleep(seconds * 1000);
    const r1 = await revisionAt(kv);
    const c1 = snap();
    const m1 = await Promise.all([leader, ...followers].map((m) => walFsync(m.clientUrl)));

    const outs = await Promise.all(gens.map((g) => g.done));
    for (const [i, o] of outs.entries()) {
      if (o.code !== 0) throw new Error(`h2load ${i} exited ${String(o.code)}: ${o.stderr.slice(-2000)}\n${o.stdout.slice(-2000)}`);
    }
    // Let in-flight puts finish applying, then read the final revision and the keys.
    await sleep(500);
    const after = await revisionAt(kv);
    let versionSum = 0;
    let valuesOk = true;
    for (const k of keys) {
      const res = await range(kv, k);
      const kvp = res.kvs[0];
      if (kvp === undefined) {
        valuesOk = false;
        continue;
      }
      versionSum += Number(kvp.version);
      if (!kvp.value.equals(value)) valuesOk = false;
    }
    const leaderAfter = await cluster.leader();

    const windowSeconds = (r1.monoUs - r0.monoUs) / 1e6;
    const wal = m0.map((a, i) => walRate(a, m1[i], windowSeconds));
    const revisionDelta = r1.revision - r0.revision;
    const lat = windowRequests(gens, r0.wallUs, r1.wallUs, TAIL_SECONDS);
    const d = (a: number | undefined, b: number | undefined): number => (a === undefined || b === undefined ? NaN : (b - a) / windowSeconds);
    const leaderCpu = d(c0.leader, c1.leader);
    const followersCpu = followers.map((_f, i) => d(c0.followers[i], c1.followers[i]));
    const generatorCpu = gens.reduce((sum, _g, i) => sum + d(c0.gens[i], c1.gens[i]), 0);
    const selfUs = c1.self.user + c1.self.system - (c0.self.user + c0.self.system);
    const benchProcessCpu = selfUs / 1e6 / windowSeconds;
    const machineBusyCpu = (c1.machine.busy - c0.machine.busy) / windowSeconds;
    const ours = leaderCpu + followersCpu.reduce((a, b) => a + b, 0) + generatorCpu + benchProcessCpu;
    const ourPids = new Set<number>([process.pid]);
    for (const p of [leader.pid, ...followers.map((f) => f.pid), ...gens.map((g) => g.pid)]) if (p !== undefined) ourPids.add(p);
    const foreign = foreignCpu(c0.all, c1.all, ourPids);
    const runRevisionDelta = after.revision - before.revision;

    const result: RunResult = {
      impl,
      round,
      leader: leader.name,
      leaderChanged: leaderAfter.member !== leader || leaderAfter.term !== leaderInfo.term,
      windowSeconds,
      revisionDelta,
      putsPerSecond: revisionDelta / windowSeconds,
      h2loadOkPerSecond: lat.completedInWindow / windowSeconds,
      h2loadNon200InWindow: lat.notOk,
      p50Ms: percentile(lat.latenciesMs, 50),
      p99Ms: percentile(lat.latenciesMs, 99),
      leaderCpu,
      followersCpu,
      generatorCpu,
      benchProcessCpu,
      machineBusyCpu,
      machineFields: Object.fromEntries(STAT_FIELDS.map((f) => [f, (c1.machine.fields[f] - c0.machine.fields[f]) / windowSeconds])) as MachineFields,
      otherCpu: machineBusyCpu - ours,
      foreignProcessesCpu: foreign.user / windowSeconds,
      kernelThreadsCpu: foreign.kernelThreads / windowSeconds,
      walFsync: { leader: wal[0], followers: wal.slice(1) },
      leaderCpuUsPerPut: revisionDelta > 0 ? (leaderCpu * windowSeconds * 1e6) / revisionDelta : NaN,
      verification: {
        runRevisionDelta,
        keyVersionSum: versionSum,
        valuesOk,
        ok: valuesOk && versionSum === runRevisionDelta && revisionDelta > 0,
      },
      h2load: outs.map((o) => parseH2loadSummary(o.stdout)),
    };

    if (profileDir !== undefined) {
      kv.close();
      kv = undefined;
      // SIGTERM: ketch exits through process.exit, which writes the profiles.
      await Promise.all(cluster.members.map((m) => m.stop()));
      const file = join(profileDir, `ketch-${String(leaderPid)}.cpuprofile`);
      if (!existsSync(file)) throw new Error(`leader profile ${file} not written; found: ${readdirSync(profileDir).join(', ')}`);
      const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
      const window = summarize(profile, { top: 15, from: r0.monoUs, to: r1.monoUs });
      const named = window.top.filter((e) => !e.name.startsWith('(')).slice(0, 4);
      const callersOfTop = named.map((e) => ({
        name: e.name,
        stacks: callers(profile, e.name, { from: r0.monoUs, to: r1.monoUs, depth: 10, top: 3 }),
      }));
      const inclusiveTimes = INCLUSIVE_PATTERNS.map((pattern) => ({ pattern, ...inclusive(profile, pattern, { from: r0.monoUs, to: r1.monoUs }) }));
      result.profile = { dir: profileDir, leaderFile: file, fromUs: r0.monoUs, toUs: r1.monoUs, window, callersOfTop, inclusive: inclusiveTimes };
    }
    return result;
  } catch (error) {
    cluster.markFailed();
    throw error;
  } finally {
    kv?.close();
    await cluster.destroy();
    await rm(work, { recursive: true, force: true });
  }
}

// ---- main

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

function row(r: RunResult): string {
  const cells = [
    r.impl.padEnd(5),
    String(r.round).padStart(7),
    fmt(r.putsPerSecond).padStart(7),
    fmt(r.h2loadOkPerSecond).padStart(7),
    fmt(r.p50Ms, 1).padStart(6),
    fmt(r.p99Ms, 1).padStart(6),
    fmt(r.leaderCpu, 2).padStart(6),
    r.followersCpu.map((c) => fmt(c, 2)).join('+').padStart(9),
    fmt(r.leaderCpuUsPerPut).padStart(6),
    fmt(r.walFsync.leader?.perSecond ?? NaN).padStart(7),
    fmt(r.walFsync.leader?.meanMs ?? NaN, 2).padStart(6),
    fmt(100 * (r.walFsync.leader?.busyFraction ?? NaN)).padStart(5),
    fmt(r.generatorCpu, 2).padStart(5),
    fmt(r.machineBusyCpu, 2).padStart(5),
    fmt(r.otherCpu, 2).padStart(5),
    fmt(r.foreignProcessesCpu, 2).padStart(7),
    (r.verification.ok ? 'ok' : 'FAIL') + (r.leaderChanged ? ' leader-changed' : ''),
  ];
  return cells.join('  ');
}

const header = [
  'impl ',
  '  round',
  ' puts/s',
  'h2 ok/s',
  '   p50',
  '   p99',
  'leader',
  'followers',
  'us/put',
  'fsync/s',
  '  f ms',
  'f busy',
  '  gen',
  'busy ',
  'other',
  'foreign',
  'verified',
].join('  ');
const legend =
  'puts/s = leader revision delta / window; h2 ok/s = h2load HTTP-200 responses completed in the window (gRPC status unread);\n' +
  'p50/p99 ms from h2load; leader/followers/gen/busy/other = CPU cores over the window (machine has ' +
  `${cpus().length} cores); us/put = leader CPU microseconds per put;\n` +
  'other = busy - our processes (members, h2load, this process): kernel irq/softirq (loopback TCP), steal, other jobs;\n' +
  'foreign = of that, user processes that are not ours (other jobs on the shared machine);\n' +
  'fsync/s, f ms, f busy% = leader etcd_disk_wal_fsync_duration_seconds: observations/s, mean, sum/window\n' +
  '  (etcd: WAL fsyncs; ketch: every Raft Ready cycle\'s persist step, including cycles with nothing to write);\n' +
  'verified = sum of the keys\' versions == revision delta of the whole run, and every value is ours';

async function main(): Promise<void> {
  for (const impl of impls) plainHarness.requirePrerequisites(impl);
  const etcdVersion = execFileSync('/usr/bin/etcd', ['--version']).toString().split('\n')[0] ?? '';
  const h2Version = execFileSync(H2LOAD, ['--version']).toString().trim();
  const gitCommit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot }).toString().trim();
  const gitDirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'test', 'package.json'], { cwd: repoRoot })
    .toString()
    .split('\n')
    .filter((l) => l !== '');
  const command = `node dist/bench/put-bench.js ${process.argv.slice(2).join(' ')}`.trim();

  console.log(`put benchmark: ${command}`);
  console.log(
    `  ${procs} h2load processes x ${connsPerProc} conn x ${streamsPerConn} streams = ${clients} concurrent Puts, ${procs} keys (8 B) from ${keyspace}, ` +
      `${valueBytes} B values; warm-up ${warmup}s, window ${seconds}s; ${rounds} rounds of ${impls.join(',')} (order alternates)`,
  );
  console.log(`  ${cpus().length} x ${cpus()[0]?.model ?? '?'}; node ${process.version}; ${etcdVersion}; ${h2Version}; git ${gitCommit.slice(0, 10)}${gitDirty.length > 0 ? ` + uncommitted changes in ${gitDirty.length} file(s)` : ''}`);
  console.log('');
  console.log(header);

  const results: RunResult[] = [];
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? impls : [...impls].reverse();
    for (const impl of order) {
      const r = await runOne(plainHarness, impl, round);
      results.push(r);
      console.log(row(r));
    }
  }

  let profiled: RunResult | undefined;
  if (args.profile && impls.includes('ketch')) {
    // A second instance of the harness module whose ketchEntry is the profiling wrapper.
    process.env.KETCH_BENCH_REAL_ENTRY = plainHarness.ketchEntry;
    const profHarness = await importHarness(join(benchDir, 'ketch-profiled.js'), 'profiled');
    const dir = await mkdtemp(join(tmpdir(), 'ketch-putbench-prof-'));
    profiled = await runOne(profHarness, 'ketch', 'profile', dir);
    console.log(row(profiled) + '   (profiled run, not in medians)');
  }

  console.log('');
  const medians: Record<string, { putsPerSecond: number; p50Ms: number; p99Ms: number; leaderCpu: number; leaderCpuUsPerPut: number; runs: number }> = {};
  for (const impl of impls) {
    const rs = results.filter((r) => r.impl === impl);
    medians[impl] = {
      putsPerSecond: median(rs.map((r) => r.putsPerSecond)),
      p50Ms: median(rs.map((r) => r.p50Ms)),
      p99Ms: median(rs.map((r) => r.p99Ms)),
      leaderCpu: median(rs.map((r) => r.leaderCpu)),
      leaderCpuUsPerPut: median(rs.map((r) => r.leaderCpuUsPerPut)),
      runs: rs.length,
    };
    const m = medians[impl];
    console.log(
      `median ${impl.padEnd(5)}  puts/s ${fmt(m.putsPerSecond)}  p50 ${fmt(m.p50Ms, 1)} ms  p99 ${fmt(m.p99Ms, 1)} ms  leader CPU ${fmt(m.leaderCpu, 2)} cores  ${fmt(m.leaderCpuUsPerPut)} us/put  (${m.runs} runs)`,
    );
  }
  let ratio: { putsPerSecond: number; p50Ms: number; p99Ms: number } | undefined;
  const mk = medians.ketch;
  const me = medians.etcd;
  if (mk !== undefined && me !== undefined) {
    ratio = { putsPerSecond: mk.putsPerSecond / me.putsPerSecond, p50Ms: mk.p50Ms / me.p50Ms, p99Ms: mk.p99Ms / me.p99Ms };
    console.log(`ratio ketch/etcd  puts/s ${fmt(ratio.putsPerSecond, 2)}  p50 ${fmt(ratio.p50Ms, 2)}  p99 ${fmt(ratio.p99Ms, 2)}`);
  }
  console.log('');
  console.log(legend);
  const failed = [...results, ...(profiled ? [profiled] : [])].filter((r) => !r.verification.ok);
  if (failed.length > 0) console.log(`VERIFICATION FAILED in ${failed.length} run(s): ${JSON.stringify(failed.map((r) => [r.impl, r.round, r.verification]))}`);

  if (profiled?.profile !== undefined) {
    console.log('');
    console.log(`ketch leader CPU profile, measured window only (${profiled.profile.leaderFile}):`);
    console.log(formatSummary(profiled.profile.window));
    console.log('');
    console.log('inclusive wall time in the window (a frame matching the pattern anywhere on the stack; rows overlap):');
    for (const inc of profiled.profile.inclusive) console.log(`  ${inc.ms.toFixed(1).padStart(9)} ms ${inc.percent.toFixed(1).padStart(6)}%  ${inc.pattern}`);
    console.log('');
    console.log('callers of the top named functions (innermost first):');
    for (const c of profiled.profile.callersOfTop) {
      console.log(`  ${c.name}:`);
      for (const st of c.stacks) console.log(`    ${st.selfMs.toFixed(1).padStart(8)} ms  ${st.stack}`);
    }
  }

  const now = new Date();
  const stamp = now.toISOString().slice(0, 16).replace(':', '');
  const outFile = args.out ?? join(repoRoot, 'bench', 'results', `put-${stamp}.json`);
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(
    outFile,
    JSON.stringify(
      {
        benchmark: 'put',
        date: now.toISOString(),
        command,
        machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavgAtEnd: loadavg() },
        versions: { node: process.version, etcd: etcdVersion, h2load: h2Version },
        git: { commit: gitCommit, uncommittedInSrcTestPackageJson: gitDirty },
        ketchEntry: build.description,
        params: { seconds, warmup, clients, procs, conns, connsPerProc, streamsPerConn, keyspace, keyBytes: KEY_BYTES, valueBytes, rounds, impls, members: 3 },
        runs: results,
        profiled,
        medians,
        ratioKetchOverEtcd: ratio,
      },
      null,
      2,
    ) + '\n',
  );
  console.log('');
  console.log(`results: ${outFile}`);
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
