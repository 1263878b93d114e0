/**
 * `npm run bench -- [--quick] [--impl ketch,etcd] [--rows a,b] [--rounds N] [--keys N]
 *                   [--out-dir DIR] [--markdown FILE]`
 *
 * Side-by-side benchmark of ketch and etcd 3.4: for each round, a fresh 3-member cluster of each
 * implementation in turn (the order alternates between rounds; identical etcd flags, real fsync,
 * default 100 ms heartbeat / 1 s election), the same rows and the same load generators against
 * both. Prints one table (median over rounds per implementation, min-max, ratio ketch/etcd, the
 * generator's CPU, verification), writes the samples and the summary as JSON to bench/results/ and
 * a markdown summary to docs/benchmarks.md (--quick: next to the JSON, so a CI run never rewrites
 * the docs). See docs/benchmarks.md for what each row measures and how.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { parseArgs } from 'node:util';

import { importHarness, repoRoot, snapshotServerBuild, type Cluster, type Impl } from './bench-harness.js';
import { failures, markdownTable, summarize, textTable, type RowSummary } from './bench-report.js';
import { rowAliases, rowCatalogue, type RowEntry } from './bench-rows.js';
import type { RowContext, RowSample } from './bench-types.js';

const H2LOAD = '/usr/bin/h2load';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    impl: { type: 'string', default: 'ketch,etcd' },
    rows: { type: 'string' },
    rounds: { type: 'string' },
    keys: { type: 'string' },
    'out-dir': { type: 'string' },
    markdown: { type: 'string' },
  },
  strict: true,
});

const quick = args.quick;
const rounds = Number(args.rounds ?? (quick ? 1 : 3));
const keyCount = Number(args.keys ?? (quick ? 5000 : 100_000));
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got ${String(args.rounds)}`);
if (!Number.isInteger(keyCount) || keyCount < 1000) throw new Error(`--keys must be an integer >= 1000, got ${String(args.keys)}`);

const build = snapshotServerBuild();
const harness = await importHarness(build.entry, 'bench');
const impls: Impl[] = harness.parseImpls(args.impl);

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
  return catalogue.filter((r) => wanted.has(r.spec.name));
}

const rows = selectRows(rowCatalogue(), args.rows);

function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

async function runCluster(impl: Impl, round: number, samples: RowSample[]): Promise<void> {
  log(`round ${round}: starting a 3-member ${impl} cluster`);
  const cluster: Cluster = await harness.startCluster(impl, 3);
  const workDir = await mkdtemp(join(tmpdir(), `ketch-bench-${impl}-`));
  const ctx: RowContext = {
    impl,
    round,
    cluster,
    quick,
    workDir,
    leader: async () => (await cluster.leader(30_000)).member,
    log,
  };
  let failed = false;
  try {
    for (const entry of rows) {
      const t0 = performance.now();
      let sample: RowSample;
      try {
        sample = await entry.spec.run(ctx);
      } catch (error) {
        failed = true;
        const message = error instanceof Error ? error.message : String(error);
        sample = {
          row: entry.spec.name,
          impl,
          round,
          values: Object.fromEntries(entry.spec.metrics.map((m) => [m.key, NaN])),
          cpu: undefined,
          verified: false,
          verification: `error: ${message.split('\n')[0] ?? ''}`,
          detail: { error: message },
        };
      }
      samples.push(sample);
      const values = Object.entries(sample.values)
        .map(([k, v]) => `${k}=${Number.isFinite(v) ? Number(v.toPrecision(4)) : '-'}`)
        .join(' ');
      const gen = sample.cpu === undefined ? '' : ` gen=${sample.cpu.generatorCores.toFixed(2)} servers=${sample.cpu.membersCores.toFixed(2)} cores`;
      log(`  ${impl} ${entry.spec.name}: ${values}${gen} ${sample.verified ? 'verified' : `NOT VERIFIED: ${sample.verification}`} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
  } finally {
    if (failed) cluster.markFailed();
    await cluster.destroy();
    await rm(workDir, { recursive: true, force: true });
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

function markdown(summary: RowSummary[], meta: { date: string; command: string; etcd: string; h2load: string; git: { commit: string; dirty: string[] }; seconds: number; loadavg: number[] }): string {
  const fails = failures(summary);
  return [
    '# Benchmarks: ketch vs etcd 3.4',
    '',
    `Generated by \`${meta.command}\` on ${meta.date} (${(meta.seconds / 60).toFixed(1)} min).`,
    '',
    `- Machine: ${machineLine()}; load average at the end ${meta.loadavg.map((x) => x.toFixed(2)).join(' ')}.`,
    `  Other agents run builds and tests on the same 2 cores, so single numbers are noisy (about +-15%):`,
    `  each row is the median over ${rounds} round(s) per implementation, the implementations alternate`,
    `  from round to round, and the min-max columns show the spread.`,
    `- Versions: node ${process.version}; ${meta.etcd}; ${meta.h2load}; ketch at git ${meta.git.commit.slice(0, 10)}` +
      (meta.git.dirty.length > 0 ? ` with uncommitted changes in ${meta.git.dirty.length} file(s) under src/` : '') +
      '.',
    '- Clusters: 3 members on loopback, identical etcd flags for both (default heartbeat 100 ms, election',
    '  1000 ms, snapshot count, real fsync), a fresh cluster per implementation per round.',
    `- gen CPU: CPU of the load generator processes plus the bench process over the measured window, in`,
    '  cores (2 = the whole machine); servers CPU: the 3 members together.',
    '',
    markdownTable(summary, impls),
    '',
    fails.length > 0 ? `Not verified:\n\n${fails.map((f) => `- ${f}`).join('\n')}\n` : 'Every sample was verified (see "How each row is measured").',
    '',
    METHOD,
  ].join('\n');
}

const METHOD = `## How each row is measured

- **watch latency, 100 / 1,000 watchers**: each watcher is its own Watch stream on the prefix \`w/\`,
  spread round-robin over the 3 members and over 2 (100) or 4 (1,000) watcher processes (Node,
  node:http2 with a hand-written decoder, one HTTP/2 connection per member per process). One writer
  (node:http2) puts 256-byte values under \`w/\` to the leader, sequentially, at 20 puts/s. Latency =
  arrival of the event in the watcher process minus the put's send (or its ack) in the writer, both
  on CLOCK_MONOTONIC; p50/p99 over every (event, watcher) pair of the measured events (the first
  events are warm-up). "From ack" can be negative: the leader's watchers may see the event before the
  writer sees its put acknowledged. Verified: every watcher received exactly the writer's revisions,
  in order, each once. gen CPU = the watcher processes and the writer.
`;

async function main(): Promise<void> {
  for (const impl of impls) harness.requirePrerequisites(impl);
  const started = performance.now();
  const etcdVersion = execFileSync('/usr/bin/etcd', ['--version']).toString().split('\n')[0] ?? '';
  const h2Version = execFileSync(H2LOAD, ['--version']).toString().trim();
  const git = gitInfo();
  const command = `npm run bench --${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`;
  log(`${command}: rows ${rows.map((r) => r.spec.name).join(',')}; ${rounds} round(s) of ${impls.join(',')}; ${machineLine()}`);

  const samples: RowSample[] = [];
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? impls : [...impls].reverse();
    for (const impl of order) await runCluster(impl, round, samples);
  }

  const summary = summarize(
    rows.map((r) => r.spec),
    samples,
    impls,
  );
  const seconds = (performance.now() - started) / 1000;
  console.log('');
  console.log(textTable(summary, impls));
  const fails = failures(summary);
  if (fails.length > 0) {
    console.log('');
    console.log('NOT VERIFIED:');
    for (const f of fails) console.log(`  ${f}`);
  }

  const now = new Date();
  const stamp = now.toISOString().slice(0, 16).replace(':', '');
  const name = `bench${quick ? '-quick' : ''}-${stamp}`;
  const outDir = args['out-dir'] ?? join(repoRoot, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const jsonFile = join(outDir, `${name}.json`);
  const mdFile = args.markdown ?? (quick ? join(outDir, `${name}.md`) : join(repoRoot, 'docs', 'benchmarks.md'));
  const meta = { date: now.toISOString(), command, etcd: etcdVersion, h2load: h2Version, git, seconds, loadavg: loadavg() };
  writeFileSync(
    jsonFile,
    JSON.stringify(
      {
        benchmark: 'ketch-vs-etcd',
        ...meta,
        machine: { cpus: cpus().length, model: cpus()[0]?.model, totalMemBytes: totalmem(), shared: true },
        versions: { node: process.version, etcd: etcdVersion, h2load: h2Version },
        ketchServer: build.description,
        params: { quick, rounds, keyCount, impls, rows: rows.map((r) => r.spec.name), members: 3 },
        summary,
        samples,
      },
      null,
      2,
    ) + '\n',
  );
  mkdirSync(dirname(mdFile), { recursive: true });
  writeFileSync(mdFile, markdown(summary, meta));
  console.log('');
  console.log(`results: ${relative(process.cwd(), jsonFile)} and ${relative(process.cwd(), mdFile)} (${seconds.toFixed(0)} s)`);
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
