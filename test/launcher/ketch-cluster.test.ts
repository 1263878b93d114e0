import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../../src/launcher/local-cluster.js';
import { freePorts } from '../api/free-port.js';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cmd', 'ketch-cluster.js');

interface Row {
  name: string;
  kind: string;
  pid: number;
  up: boolean;
  leader: boolean;
  url: string;
  term?: number;
}

const ETCDCTL = '/usr/bin/etcdctl';

async function etcdctl(endpoints: string[], ...args: string[]): Promise<string> {
  const env = { ...process.env, ETCDCTL_API: '3' };
  return (await run(ETCDCTL, ['--endpoints', endpoints.join(','), ...args], { env, timeout: 20_000 })).stdout;
}

async function healthy(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/health`, { signal: AbortSignal.timeout(1500) })).ok;
  } catch {
    return false;
  }
}

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** ketch-cluster end to end on real processes: up, find and kill the leader, start it, partition and heal, down. */
describe('ketch-cluster', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ketch-cluster-test-'));
  const stateDir = join(dir, 'state');
  const cli = async (...args: string[]): Promise<string> =>
    (await run(process.execPath, [CLI, ...args, '--state-dir', stateDir], { cwd: dir, timeout: 60_000 })).stdout;
  const status = async (): Promise<Row[]> => JSON.parse(await cli('status', '-o', 'json')) as Row[];
  const until = async (what: string, ok: (rows: Row[]) => boolean): Promise<Row[]> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const rows = await status();
      if (ok(rows)) return rows;
      if (Date.now() > deadline) throw new Error(`${what} not reached: ${JSON.stringify(rows)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  beforeAll(async () => {
    const p = await freePorts(6);
    const members = [0, 1, 2].map((i) => `  - { name: s${i + 1}, kind: store, clientPort: ${p[2 * i]}, peerPort: ${p[2 * i + 1]} }`);
    writeFileSync(join(dir, 'test.yaml'), `name: test\nmembers:\n${members.join('\n')}\n`);
  });

  afterAll(async () => {
    await cli('down').catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('brings up a healthy 3-member cluster with one leader, fails over when it is killed, and shuts down cleanly', async () => {
    const out = await cli('up', '-f', 'test.yaml', '--detach');
    expect(out).toMatch(/healthy after/);
    const rows = await until('one leader', (r) => r.filter((x) => x.leader).length === 1 && r.every((x) => x.up));
    expect(rows.map((r) => r.kind)).toEqual(['store', 'store', 'store']);
    // Members start with ketch's malloc settings and V8 pool size (src/util/ketch-process-env.ts); both are read only at exec.
    for (const r of rows) {
      const environ = readFileSync(`/proc/${r.pid}/environ`, 'utf8').split('\0');
      expect(environ).toContain('MALLOC_ARENA_MAX=2');
      expect(environ.find((e) => e.startsWith('NODE_OPTIONS='))).toMatch(/--v8-pool-size=[1-4]\b/);
    }
    const leader = rows.find((r) => r.leader) as Row;

    await cli('kill', leader.name);
    const after = await until('a new leader', (r) => r.some((x) => x.leader && x.name !== leader.name));
    expect(after.find((r) => r.name === leader.name)?.up).toBe(false);
    expect(after.find((r) => r.leader)?.term).toBeGreaterThan(leader.term ?? 0);

    await cli('start', leader.name);
    await until('the old leader back up', (r) => r.every((x) => x.up) && r.filter((x) => x.leader).length === 1);

    const pids = (await status()).map((r) => r.pid);
    await cli('down');
    // (isAlive counts zombies as gone: here nobody may reap the members, whose launcher has exited.)
    for (const pid of pids) expect(isAlive(pid), `pid ${pid} still running`).toBe(false);
    expect(readFileSync(join(stateDir, 's1.log'), 'utf8')).toMatch(/ready to serve client requests/);
  });

  it('partitions a member away through the link proxies and heals it', async () => {
    await cli('up', '-f', 'test.yaml', '--detach');
    const rows = await until('one leader', (r) => r.filter((x) => x.leader).length === 1 && r.every((x) => x.up));
    const leader = rows.find((r) => r.leader) as Row;
    const others = rows.filter((r) => r !== leader);
    const state = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as { links: { pid: number } };
    expect(isAlive(state.links.pid)).toBe(true);

    // Isolate the leader: the others elect a new one and take writes; the old one loses its leader.
    expect(await cli('partition', leader.name)).toBe(`cut ${others.map((o) => `${leader.name}-${o.name}`).join(' ')}\n`);
    expect(await cli('status')).toMatch(new RegExp(`peer links cut: ${leader.name}-`));
    await until('a new leader on the majority side', (r) => r.some((x) => x.leader && x.name !== leader.name));
    await eventually('the isolated member to report no leader', async () => !(await healthy(leader.url)));
    await etcdctl(others.map((o) => o.url), 'put', 'during-partition', 'majority');
    const isolatedRead = await etcdctl([leader.url], 'get', 'during-partition', '--command-timeout=2s').then(
      () => 'answered',
      () => 'failed',
    );
    expect(isolatedRead).toBe('failed');

    expect(await cli('heal')).toBe('healed: all peer links are open\n');
    await until('one leader after heal', (r) => r.filter((x) => x.leader).length === 1 && r.every((x) => x.up));
    await eventually('the healed member to catch up', async () => (await etcdctl([leader.url], 'get', 'during-partition', '--print-value-only')).trim() === 'majority');
    expect(await cli('status')).not.toMatch(/peer links cut/);

    const pids = [...(await status()).map((r) => r.pid), state.links.pid];
    await cli('down');
    for (const pid of pids) expect(isAlive(pid), `pid ${pid} still running`).toBe(false);
  });

  it('says why a member exited during up: the tail of its log is in the error', async () => {
    const p = await freePorts(6);
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(p[2], '127.0.0.1', r));
    try {
      writeFileSync(
        join(dir, 'taken.yaml'),
        ['name: taken', 'members:', ...[0, 1, 2].map((i) => `  - { name: store-${i + 1}, kind: store, clientPort: ${p[2 * i]}, peerPort: ${p[2 * i + 1]} }`), ''].join('\n'),
      );
      const up = run(process.execPath, [CLI, 'up', '-f', 'taken.yaml', '--detach', '--state-dir', join(dir, 'taken-state')], { cwd: dir, timeout: 60_000 });
      await expect(up).rejects.toThrow(new RegExp(`store-2 exited[^]*last lines of[^]*cannot listen for clients on http://127.0.0.1:${p[2]}: address already in use`));
    } finally {
      await run(process.execPath, [CLI, 'down', '--state-dir', join(dir, 'taken-state')], { cwd: dir, timeout: 60_000 }).catch(() => undefined);
      taken.close();
    }
  });

  it('rejects a bad topology with a clear message', async () => {
    writeFileSync(join(dir, 'bad.yaml'), 'members:\n  - { name: x, kind: nope, clientPort: 1, peerPort: 2 }\n');
    await expect(cli('up', '-f', 'bad.yaml')).rejects.toThrow(/'kind' must be one of store/);
  });
});
