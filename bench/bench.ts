/**
 * `npm run bench -- [--quick] [--impl ketch,etcd] [--rows a,b] [--rounds N] [--keys N]
 *                   [--failover-kills N] [--profile] [--out-dir DIR] [--markdown FILE]`
 * `npm run bench -- --from-json FILE [--markdown FILE]` re-renders an earlier run.
 *
 * Side-by-side benchmark of ketch and etcd 3.4: for each round, a fresh 3-member cluster of each
 * implementation in turn (the order alternates between rounds; identical etcd flags, real fsync,
 * default 100 ms heartbeat / 1 s election), the same rows and the same load generators against
 * both. Prints one table (median over rounds per implementation, min .. max, ratio ketch/etcd, the
 * generator's and the servers' CPU, verification), writes the samples and the summary as JSON to
 * bench/results/ and a markdown summary to docs/benchmarks.md (a quick, partial or profiled run: next
 * to the JSON, so a CI run or a single row never rewrites the docs). docs/benchmarks.md says what each row measures and how.
 *
 * --rows: names or aliases (watch, put, range, rss); rows on the N-key data set pull in the loader.
 * --quick: 1 round, 1 s windows, 1,000 keys, 1 leader kill (what CI runs; under 2 minutes on an
 *   idle 2-core machine, longer when it is shared). Defaults: 3 rounds, 8 s windows, 100,000 keys,
 *   5 leader kills per implementation.
 * --profile: one more ketch cluster (not in the medians) with every member under the V8 CPU
 *   profiler; prints the leader's self time per row window (the restarted member's from its spawn
 *   to ready for the restart row) (bench/ketch-profiled.ts).
 * Diagnosis (environment): KETCH_BENCH_HEAP_PROF_DIR and KETCH_BENCH_GC_LOG_DIR (allocation
 *   sampling, GC pauses; with --profile; KETCH_BENCH_HEAP_PROF_SURVIVORS=1 samples only what
 *   outlived the minor GCs), KETCH_BENCH_KEEP_H2LOAD_LOGS=DIR (h2load's per-request
 *   logs of every h2load row), KETCH_BENCH_HEAP_SNAPSHOTS=<rss row> with
 *   NODE_OPTIONS=--heapsnapshot-signal=SIGUSR2 (heap snapshots of the ketch members after that row).
 */
import { parseBenchArgs } from './cli-args.js';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';

import { importHarness, repoRoot, snapshotServerBuild, type Cluster, type Harness, type Impl } from './bench-harness.js';
import { benchmarksMarkdown, type RunMeta } from './bench-markdown.js';
import { failures, summarize, textTable, type RowSummary } from './bench-report.js';
import { rowAliases, rowCatalogue, type RowEntry } from './bench-rows.js';
import type { RowContext, RowSample } from './bench-types.js';
import { formatSummary, summarize as summarizeProfile, type CpuProfile, type SelfTimeSummary } from './cpuprofile-top.js';
import { H2LOAD, requireH2load } from './h2load-runner.js';


const args = parseBenchArgs(import.meta.url, {
    quick: { type: 'boolean', default: false },
    impl: { type: 'string', default: 'ketch,etcd' },
    rows: { type: 'string' },
    rounds: { type: 'string' },
    keys: { type: 'string' },
    'out-dir': { type: 'string' },
    markdown: { type: 'string' },
    'failover-kills': { type: 'string' },
    'from-json': { type: 'string' },
    profile: { type: 'boolean', default: false },
  });

const quick = args.quick;
const rounds = Number(args.rounds ?? (quick ? 1 : 3));
const keyCount = Number(args.keys ?? (quick ? 1000 : 100_000));
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got ${String(args.rounds)}`);
if (!Number.isInteger(keyCount) || keyCount < 1000) throw new Error(`--keys must be an integer >= 1000, got ${String(args.keys)}`);

const build = snapshotServerBuild();
const harness = await importHarness(build.entry, 'bench');
/** Every harness instance in use (each has its own clusters), for the signal handler. */
const harnesses: Harness[] = [harness];
const impls: Impl[] = harness.parseImpls(args.impl);

/** The rows named by --rows (all by default), in catalogue order, plus the loader when a row needs the data set. */
function selectRows(catalogue: RowEntry[], spec: string | undefined): RowEntry[] {
  if (spec === undefined) return catalogue;
  const wanted = new Set<string>();
  for (const name of spec.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const expanded = rowAliases[name] ?? [name];
    for (const n of expanded) {
      if (!catalogue.some((r) => r.spec.name === n)) {
        throw new Error(`--rows: unknown row "${n}"; rows: ${catalogue.map((r) => r.spec.name).join(', ')}; aliases: ${Object.keys(rowAliases).join(', ')}`);
      }
      wanted.add(n);
    }
  }
  if (catalogue.some((r) => r.needsKeys && wanted.has(r.spec.name))) wanted.add('load');
  return catalogue.filter((r) => wanted.has(r.spec.name));
}

const catalogue = rowCatalogue({ keyCount, rounds, failoverKills: Number(args['failover-kills'] ?? 5) });
const rows = selectRows(catalogue, args.rows);

function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/** A row's samples; a row that throws yields one unverified sample with NaN values and the error. */
async function runRow(entry: RowEntry, ctx: RowContext): Promise<RowSample[]> {
  try {
    const r = await entry.spec.run(ctx);
    return Array.isArray(r) ? r : [r];
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return [
      {
        row: entry.spec.name,
        impl: ctx.impl,
        round: ctx.round,
        values: Object.fromEntries(entry.spec.metrics.map((m) => [m.key, NaN])),
        cpu: undefined,
        verified: false,
        verification: `error: ${message.split('\n')[0] ?? ''}`,
        detail: { error: message },
      },
    ];
  }
}

function describeSample(sample: RowSample): string {
  const values = Object.entries(sample.values)
    .map(([k, v]) => `${k}=${Number.isFinite(v) ? Number(v.toPrecision(4)) : '-'}`)
    .join(' ');
  const cpu = sample.cpu === undefined ? '' : ` gen=${sample.cpu.generatorCores.toFixed(2)} servers=${sample.cpu.membersCores.toFixed(2)} cores`;
  return `${values}${cpu} ${sample.verified ? 'verified' : `NOT VERIFIED: ${sample.verification}`}`;
}

/** Where each row's measured window ran in a profiled pass: the process (usually the leader) and the window. */
interface ProfiledWindow {
  row: string;
  pid: number | undefined;
  what: string;
  fromMonoUs: number;
  toMonoUs: number;
}

/**
 * One fresh cluster of `impl` and every selected row on it. With `profiled`, the members run under
 * the CPU profiler (bench/ketch-profiled.ts), the failover row is left out (SIGKILL loses a
 * profile), the members are stopped with SIGTERM at the end so they write their profiles, and each
 * row's leader and window are returned.
 */
async function runCluster(h: Harness, impl: Impl, round: number, samples: RowSample[], profiled = false): Promise<ProfiledWindow[]> {
  log(`round ${round}: starting a 3-member ${impl} cluster${profiled ? ' under the CPU profiler' : ''}`);
  const cluster: Cluster = await h.startCluster(impl, 3);
  const workDir = await mkdtemp(join(tmpdir(), `ketch-bench-${impl}-`));
  const ctx: RowContext = {
    impl,
    round,
    cluster,
    quick,
    workDir,
    helpersDir: build.helpersDir,
    leader: async () => (await cluster.leader(30_000)).member,
    log,
  };
  const windows: ProfiledWindow[] = [];
  let failed = false;
  try {
    for (const entry of rows) {
      if (profiled && entry.spec.name === 'failover') continue;
      const t0 = performance.now();
      const leaderPid = profiled ? (await ctx.leader()).pid : undefined;
      const got = await runRow(entry, ctx);
      if (got.some((x) => x.detail.error !== undefined)) failed = true;
      for (const sample of got) {
        samples.push(sample);
        if (sample.profileTarget !== undefined) windows.push({ row: sample.row, pid: sample.profileTarget.pid, what: 'restarted member', fromMonoUs: sample.profileTarget.fromMonoUs, toMonoUs: sample.profileTarget.toMonoUs });
        else if (sample.cpu !== undefined) windows.push({ row: sample.row, pid: leaderPid, what: 'leader', fromMonoUs: sample.cpu.fromMonoUs, toMonoUs: sample.cpu.toMonoUs });
        log(`  ${impl} ${entry.spec.name}: ${describeSample(sample)} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      }
    }
    if (profiled) await Promise.all(cluster.members.map((m) => m.stop()));
  } finally {
    if (failed) cluster.markFailed();
    await cluster.destroy();
    await rm(workDir, { recursive: true, force: true });
  }
  return windows;
}

/**
 * --profile: one more ketch cluster (not in the medians) whose members run under the V8 CPU
 * profiler; for each row, the leader's self time inside the row's measured window.
 */
async function profilePass(): Promise<{ dir: string; rows: { row: string; what: string; file: string; summary: SelfTimeSummary }[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'ketch-bench-prof-'));
  process.env.KETCH_BENCH_REAL_ENTRY = build.entry;
  process.env.KETCH_BENCH_CPU_PROF_DIR = dir; // inherited by every member the pass starts
  try {
    const profHarness = await importHarness(join(build.helpersDir, 'ketch-profiled.js'), 'profiled');
    harnesses.push(profHarness);
    const windows = await runCluster(profHarness, 'ketch', 0, [], true);
    const out: { row: string; what: string; file: string; summary: SelfTimeSummary }[] = [];
    for (const w of windows) {
      const file = join(dir, `ketch-${String(w.pid)}.cpuprofile`);
      if (!existsSync(file)) {
        log(`  profile of the ${w.row} ${w.what} (pid ${String(w.pid)}) is missing: ${file}`);
        continue;
      }
      const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
      out.push({ row: w.row, what: w.what, file, summary: summarizeProfile(profile, { top: 12, from: w.fromMonoUs, to: w.toMonoUs }) });
    }
    return { dir, rows: out };
  } finally {
    delete process.env.KETCH_BENCH_CPU_PROF_DIR;
  }
}

function gitInfo(): { commit: string; dirty: string[] } {
  const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot }).toString().trim();
  const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'package.json'], { cwd: repoRoot })
    .toString()
    .split('\n')
    .filter((l) => l !== '');
  return { commit, dirty };
}

function machineLine(): string {
  return `${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, shared with other jobs`;
}

interface ResultsFile {
  meta: RunMeta;
  summary: RowSummary[];
  samples: RowSample[];
}

/** Prints the table and writes the markdown (and, for a fresh run, the JSON). */
function publish(summary: RowSummary[], meta: RunMeta, samples: RowSample[], jsonFile: string | undefined, mdFile: string): void {
  console.log('');
  console.log(textTable(summary, meta.impls));
  const fails = failures(summary);
  if (fails.length > 0) {
    console.log('');
    console.log('NOT VERIFIED:');
    for (const f of fails) console.log(`  ${f}`);
  }
  if (jsonFile !== undefined) {
    const file: ResultsFile & Record<string, unknown> = {
      meta,
      machine: { cpus: cpus().length, model: cpus()[0]?.model, totalMemBytes: totalmem(), shared: true },
      ketchServer: build.description,
      rows: rows.map((r) => r.spec.name),
      summary,
      samples,
    };
    writeFileSync(jsonFile, JSON.stringify(file, null, 2) + '\n');
  }
  mkdirSync(dirname(mdFile), { recursive: true });
  writeFileSync(mdFile, benchmarksMarkdown(summary, meta));
  console.log('');
  console.log(`results: ${[jsonFile, mdFile].filter((f) => f !== undefined).map((f) => relative(process.cwd(), f)).join(' and ')} (${meta.seconds.toFixed(0)} s)`);
}

async function main(): Promise<void> {
  if (args['from-json'] !== undefined) {
    // Re-render the table and the markdown of an earlier run (e.g. after a change of format).
    const file = JSON.parse(readFileSync(args['from-json'], 'utf8')) as ResultsFile;
    const specs = catalogue.map((r) => r.spec).filter((s) => file.samples.some((x) => x.row === s.name));
    const summary = summarize(specs, file.samples, file.meta.impls);
    publish(summary, file.meta, file.samples, undefined, args.markdown ?? join(repoRoot, 'docs', 'benchmarks.md'));
    return;
  }
  for (const impl of impls) harness.requirePrerequisites(impl);
  requireH2load();
  const started = performance.now();
  const etcdVersion = execFileSync('/usr/bin/etcd', ['--version']).toString().split('\n')[0] ?? '';
  const h2Version = execFileSync(H2LOAD, ['--version']).toString().trim();
  const git = gitInfo();
  const command = `npm run bench --${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`;
  log(`${command}: rows ${rows.map((r) => r.spec.name).join(',')}; ${rounds} round(s) of ${impls.join(',')}; ${machineLine()}`);

  const samples: RowSample[] = [];
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? impls : [...impls].reverse();
    for (const impl of order) await runCluster(harness, impl, round, samples);
  }
  const profile = args.profile && impls.includes('ketch') ? await profilePass() : undefined;

  const summary = summarize(
    rows.map((r) => r.spec),
    samples,
    impls,
  );
  const now = new Date();
  const meta: RunMeta = {
    date: now.toISOString(),
    command,
    etcd: etcdVersion,
    h2load: h2Version,
    node: process.version,
    machine: machineLine(),
    git,
    seconds: (performance.now() - started) / 1000,
    loadavg: loadavg(),
    rounds,
    impls,
    keyCount,
    quick,
  };
  const stamp = now.toISOString().slice(0, 16).replace(':', '');
  const name = `bench${quick ? '-quick' : ''}-${stamp}`;
  const outDir = args['out-dir'] ?? join(repoRoot, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const jsonFile = join(outDir, `${name}.json`);
  // Only a full run (every row, both implementations, results in bench/results) replaces the docs page;
  // a quick, partial or profiled run writes its markdown next to its JSON.
  const fullRun = !quick && rows.length === catalogue.length && impls.length === 2 && args['out-dir'] === undefined && profile === undefined;
  const mdFile = args.markdown ?? (fullRun ? join(repoRoot, 'docs', 'benchmarks.md') : join(outDir, `${name}.md`));
  publish(summary, meta, samples, jsonFile, mdFile);
  if (profile !== undefined) {
    const text = profile.rows.map((r) => `== ${r.row}: ketch ${r.what}, measured window only (${r.file})\n${formatSummary(r.summary)}\n`).join('\n');
    const profFile = join(outDir, `${name}-ketch-profile.txt`);
    writeFileSync(profFile, text);
    console.log('');
    console.log(text);
    console.log(`ketch leader profiles per row: ${relative(process.cwd(), profFile)} (raw .cpuprofile files in ${profile.dir})`);
  }
}

// Ctrl-C or a CI timeout: no server may outlive the benchmark.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping every cluster`);
    void Promise.all(harnesses.map((h) => h.destroyAllClusters())).finally(() => process.exit(130));
  });
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
