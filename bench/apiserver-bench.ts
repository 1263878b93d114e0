/**
 * `node dist/bench/apiserver-bench.js [--impl ketch,etcd] [--pods 10000] [--watchers 100]
 *                                     [--updates 200] [--lists 10] [--out-dir DIR]`
 *
 * ketch-apiserver side by side on a 3-member ketch and a 3-member etcd 3.4 store (same flags):
 * - load: POST of N pods (64 in flight) through apiserver B, creates/s;
 * - list: GET of all N pods from apiserver A as JSON (one response) and as kubectl asks for them
 *   (Table, limit=500, following continue), latency p50/p99 over --lists runs;
 * - watch fan-out: W watch streams on apiserver A, U pod updates (merge patches, one at a time)
 *   through apiserver B; latency from the start of each write to its arrival on each stream,
 *   p50/p99 over W×U deliveries (the cross-replica path: B → store → A's one store watch → W).
 * Prints a table and writes bench/results/apiserver-<time>.json.
 */
import { parseBenchArgs } from './cli-args.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request as httpRequest, Agent } from 'node:http';
import { dirname, join } from 'node:path';

import { freePorts } from '../test/api/free-port.js';
import { importHarness, repoRoot, snapshotServerBuild, type Cluster, type Impl } from './bench-harness.js';
import { monoUs, percentile, sleep, sortedCopy } from './stats.js';

const args = parseBenchArgs(import.meta.url, {
    impl: { type: 'string', default: 'ketch,etcd' },
    pods: { type: 'string', default: '10000' },
    watchers: { type: 'string', default: '100' },
    updates: { type: 'string', default: '200' },
    lists: { type: 'string', default: '10' },
    'out-dir': { type: 'string' },
  });

const impls = String(args.impl).split(',').map((s) => s.trim()) as Impl[];
const podCount = Number(args.pods);
const watcherCount = Number(args.watchers);
const updateCount = Number(args.updates);
const listRuns = Number(args.lists);
const ns = 'bench';

const build = snapshotServerBuild();
const harness = await importHarness(build.entry, 'apiserver-bench');
const apiserverEntry = join(dirname(build.entry), 'ketch-apiserver.js');
const agent = new Agent({ keepAlive: true, maxSockets: 128 });

interface HttpResult {
  status: number;
  body: string;
}

function http(method: string, url: string, body?: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, agent, headers: { ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function startApiserver(cluster: Cluster, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [apiserverEntry, '--etcd-servers', cluster.endpoints.join(','), '--port', String(port), '--etcd-compaction-interval', '0', '--log-level', 'warn'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await http('GET', `http://127.0.0.1:${port}/readyz`)).status === 200) return child;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('apiserver not ready');
    await sleep(200);
  }
}

interface ImplResult {
  impl: Impl;
  createsPerSecond: number;
  listJsonMs: { p50: number; p99: number; bytes: number };
  listTablePagedMs: { p50: number; p99: number; pages: number };
  watchDeliveryMs: { p50: number; p99: number; max: number; deliveries: number; expected: number };
}

async function runImpl(impl: Impl): Promise<ImplResult> {
  const cluster = await harness.startCluster(impl, 3);
  const [portA, portB] = await freePorts(2);
  const children: ChildProcess[] = [];
  try {
    children.push(await startApiserver(cluster, portA as number), await startApiserver(cluster, portB as number));
    const a = `http://127.0.0.1:${portA}`;
    const b = `http://127.0.0.1:${portB}`;
    await http('POST', `${a}/api/v1/namespaces`, JSON.stringify({ metadata: { name: ns } }));

    // Load.
    const loadStart = monoUs();
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < podCount) {
          const i = next++;
          const pod = { metadata: { name: `pod-${String(i).padStart(5, '0')}`, labels: { app: 'bench', shard: String(i % 10) } }, spec: { nodeName: `node-${i % 100}`, containers: [{ name: 'c', image: 'nginx:1.25', ports: [{ containerPort: 80 }] }] } };
          const res = await http('POST', `${b}/api/v1/namespaces/${ns}/pods`, JSON.stringify(pod));
          if (res.status !== 201) throw new Error(`create failed: ${res.status} ${res.body.slice(0, 300)}`);
        }
      }),
    );
    const createsPerSecond = podCount / ((monoUs() - loadStart) / 1e6);

    // Lists.
    const jsonMs: number[] = [];
    let bytes = 0;
    for (let i = 0; i < listRuns; i++) {
      const t0 = monoUs();
      const res = await http('GET', `${a}/api/v1/namespaces/${ns}/pods`);
      jsonMs.push((monoUs() - t0) / 1000);
      bytes = res.body.length;
      const count = (JSON.parse(res.body) as { items: unknown[] }).items.length;
      if (count !== podCount) throw new Error(`list returned ${count} pods, expected ${podCount}`);
    }
    const tableMs: number[] = [];
    let pages = 0;
    for (let i = 0; i < listRuns; i++) {
      const t0 = monoUs();
      let token = '';
      let rows = 0;
      pages = 0;
      do {
        const res = await http('GET', `${a}/api/v1/namespaces/${ns}/pods?limit=500${token === '' ? '' : `&continue=${encodeURIComponent(token)}`}`, undefined, {
          Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json',
        });
        const table = JSON.parse(res.body) as { rows: unknown[]; metadata: { continue?: string } };
        rows += table.rows.length;
        token = table.metadata.continue ?? '';
        pages++;
      } while (token !== '');
      tableMs.push((monoUs() - t0) / 1000);
      if (rows !== podCount) throw new Error(`table list returned ${rows} rows`);
    }

    // Watch fan-out.
    const list = JSON.parse((await http('GET', `${a}/api/v1/namespaces/${ns}/pods?limit=1`)).body) as { metadata: { resourceVersion: string } };
    const writeStartUs = new Map<number, number>();
    const deliveries: number[] = [];
    const closers: (() => void)[] = [];
    let opened = 0;
    await Promise.all(
      Array.from({ length: watcherCount }, () =>
        new Promise<void>((resolve, reject) => {
          const req = httpRequest(`${a}/api/v1/namespaces/${ns}/pods?watch=1&resourceVersion=${list.metadata.resourceVersion}`, { agent: false }, (res) => {
            opened++;
            resolve();
            let buffered = '';
            res.on('data', (chunk: Buffer) => {
              const now = monoUs();
              buffered += chunk.toString('utf8');
              let nl = buffered.indexOf('\n');
              while (nl >= 0) {
                const line = buffered.slice(0, nl);
                buffered = buffered.slice(nl + 1);
                const m = /"seq":"(\d+)"/.exec(line);
                if (m !== null) {
                  const start = writeStartUs.get(Number(m[1]));
                  if (start !== undefined) deliveries.push((now - start) / 1000);
                }
                nl = buffered.indexOf('\n');
              }
            });
            res.on('error', () => undefined);
          });
          req.on('error', reject);
          req.end();
          closers.push(() => req.destroy());
        }),
      ),
    );
    if (opened !== watcherCount) throw new Error('watchers did not open');
    await sleep(500);
    for (let seq = 0; seq < updateCount; seq++) {
      const name = `pod-${String(seq % podCount).padStart(5, '0')}`;
      writeStartUs.set(seq, monoUs());
      const res = await http('PATCH', `${b}/api/v1/namespaces/${ns}/pods/${name}`, JSON.stringify({ metadata: { labels: { seq: String(seq) } } }), { 'Content-Type': 'application/merge-patch+json' });
      if (res.status !== 200) throw new Error(`patch failed: ${res.status} ${res.body.slice(0, 200)}`);
    }
    const expected = watcherCount * updateCount;
    const deadline = Date.now() + 30_000;
    while (deliveries.length < expected && Date.now() < deadline) await sleep(100);
    for (const close of closers) close();
    const w = sortedCopy(deliveries);
    const j = sortedCopy(jsonMs);
    const t = sortedCopy(tableMs);
    return {
      impl,
      createsPerSecond,
      listJsonMs: { p50: percentile(j, 50), p99: percentile(j, 99), bytes },
      listTablePagedMs: { p50: percentile(t, 50), p99: percentile(t, 99), pages },
      watchDeliveryMs: { p50: percentile(w, 50), p99: percentile(w, 99), max: w[w.length - 1] ?? NaN, deliveries: deliveries.length, expected },
    };
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await cluster.destroy();
  }
}

const results: ImplResult[] = [];
for (const impl of impls) {
  process.stderr.write(`[apiserver-bench] ${impl}: ${podCount} pods, ${watcherCount} watchers, ${updateCount} updates, ${listRuns} lists\n`);
  results.push(await runImpl(impl));
}
agent.destroy();

const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const lines = [
  `ketch-apiserver benchmark: ${podCount} pods, ${watcherCount} watchers × ${updateCount} updates, ${listRuns} lists (2 apiservers on a 3-member store)`,
  `${'store'.padEnd(6)} ${'creates/s'.padStart(10)} ${'list json p50/p99 ms'.padStart(22)} ${'list table+paged p50/p99 ms'.padStart(30)} ${'watch delivery p50/p99/max ms'.padStart(32)} ${'delivered'.padStart(14)}`,
  ...results.map(
    (r) =>
      `${r.impl.padEnd(6)} ${f(r.createsPerSecond).padStart(10)} ${`${f(r.listJsonMs.p50)} / ${f(r.listJsonMs.p99)}`.padStart(22)} ${`${f(r.listTablePagedMs.p50)} / ${f(r.listTablePagedMs.p99)}`.padStart(30)} ${`${f(r.watchDeliveryMs.p50)} / ${f(r.watchDeliveryMs.p99)} / ${f(r.watchDeliveryMs.max)}`.padStart(32)} ${`${r.watchDeliveryMs.deliveries}/${r.watchDeliveryMs.expected}`.padStart(14)}`,
  ),
];
process.stdout.write(`${lines.join('\n')}\n`);
const outDir = args['out-dir'] ?? join(repoRoot, 'bench', 'results');
mkdirSync(outDir, { recursive: true });
const stamp = new Date().toISOString().replace(/[-:]/g, '').slice(0, 13);
const file = join(outDir, `apiserver-${stamp}.json`);
writeFileSync(file, `${JSON.stringify({ when: new Date().toISOString(), podCount, watcherCount, updateCount, listRuns, server: build.description, results }, null, 2)}\n`);
process.stdout.write(`results: ${file}\n`);
