import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, LocalCluster, type MemberStatus } from '../../src/launcher/local-cluster.js';
import { freePorts } from '../api/free-port.js';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cmd', 'ketch-cluster.js');
const KUBECTL = '/usr/bin/kubectl';

/**
 * The 3-master HA cluster end to end on real processes (3 stores, 3 apiservers, 3 schedulers,
 * 3 controller managers, the lb, 3 kubelets): up, real kubectl through the kubeconfig `up` writes,
 * one leader of each kind in `status -o json`, failover of the store leader, the active scheduler
 * and an apiserver (each timed), and `down` leaving no process behind. Shorter Lease timings than
 * ha.yaml's defaults (4s / 3s / 1s) keep the scheduler failover within a few seconds.
 */
describe('ketch-cluster: 3-master HA', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ketch-cluster-ha-test-'));
  const stateDir = join(dir, 'state');
  const kubeconfig = join(stateDir, 'kubeconfig');
  const cluster = new LocalCluster(stateDir);
  const cli = async (...args: string[]): Promise<string> =>
    (await run(process.execPath, [CLI, ...args, '--state-dir', stateDir], { cwd: dir, timeout: 150_000 })).stdout;
  const kubectl = async (...args: string[]): Promise<string> =>
    (await run(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'kube-cache'), '--request-timeout', '10s', ...args], { timeout: 20_000 })).stdout;
  const statusJson = async (): Promise<MemberStatus[]> => JSON.parse(await cli('status', '-o', 'json')) as MemberStatus[];
  const leaders = (rows: MemberStatus[], kind: string): MemberStatus[] => rows.filter((r) => r.kind === kind && r.leader);
  /** Polls status in-process (cheaper than a CLI per round) until `ok`; returns the rows and the time it took. */
  const until = async (what: string, ok: (rows: MemberStatus[]) => boolean, timeoutMs = 30_000): Promise<{ rows: MemberStatus[]; ms: number }> => {
    const t0 = Date.now();
    for (;;) {
      const rows = await cluster.status();
      if (ok(rows)) return { rows, ms: Date.now() - t0 };
      if (Date.now() - t0 > timeoutMs) throw new Error(`${what} not reached within ${timeoutMs} ms: ${JSON.stringify(rows)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const allPids = new Set<number>();

  beforeAll(async () => {
    const p = await freePorts(10);
    const le = "flags: { leader-elect-lease-duration: 4s, leader-elect-renew-deadline: 3s, leader-elect-retry-period: 1s }";
    const masters = [1, 2, 3].flatMap((i) => [
      `  - { name: store-${i}, kind: store, clientPort: ${p[2 * i - 2]}, peerPort: ${p[2 * i - 1]} }`,
      `  - { name: apiserver-${i}, kind: apiserver, port: ${p[5 + i]} }`,
      `  - { name: scheduler-${i}, kind: scheduler, ${le} }`,
      `  - { name: controller-manager-${i}, kind: controller-manager, ${le} }`,
    ]);
    const rest = [`  - { name: lb, kind: lb, port: ${p[9]} }`, ...[1, 2, 3].map((i) => `  - { name: worker-${i}, kind: kubelet }`)];
    // TLS on, as cluster/ha.yaml: HTTPS apiservers with RBAC, every component with its own certificate.
    writeFileSync(join(dir, 'ha-test.yaml'), `name: ha-test\ntls: true\nmembers:\n${[...masters, ...rest].join('\n')}\n`);
  });

  afterAll(async () => {
    await cli('down').catch(() => undefined);
    for (const pid of allPids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('comes up healthy; kubectl through the generated kubeconfig sees 3 Ready nodes; one leader of each kind', async () => {
    const t0 = Date.now();
    const out = await cli('up', '-f', 'ha-test.yaml', '--detach');
    console.log(`[ha] up --detach took ${Date.now() - t0} ms`);
    expect(out).toMatch(/healthy after/);
    expect(out).toContain(`kubectl --kubeconfig ${kubeconfig} get nodes`);
    const state = cluster.readState();
    for (const m of state.members) allPids.add(m.pid);
    if (state.links !== undefined) allPids.add(state.links.pid);
    const lbUrl = state.members.find((m) => m.kind === 'lb')?.url;
    expect(readFileSync(kubeconfig, 'utf8')).toContain(`server: ${lbUrl}`);

    const nodes = await kubectl('get', 'nodes', '--no-headers');
    const ready = nodes.trim().split('\n').map((l) => l.split(/\s+/));
    expect(ready.map(([name, status]) => `${name} ${status}`).sort()).toEqual(['worker-1 Ready', 'worker-2 Ready', 'worker-3 Ready']);

    const rows = await statusJson();
    expect(rows.map((r) => r.kind).sort()).toEqual(
      ['apiserver', 'apiserver', 'apiserver', 'controller-manager', 'controller-manager', 'controller-manager', 'kubelet', 'kubelet', 'kubelet', 'lb', 'scheduler', 'scheduler', 'scheduler', 'store', 'store', 'store'].sort(),
    );
    expect(rows.every((r) => r.up && typeof r.pid === 'number')).toBe(true);
    expect(leaders(rows, 'store')).toHaveLength(1);
    expect(leaders(rows, 'scheduler')).toHaveLength(1);
    expect(leaders(rows, 'controller-manager')).toHaveLength(1);
    expect(rows.filter((r) => r.leader).length).toBe(3);
    for (const r of rows.filter((x) => x.kind === 'store')) expect(r.term).toBeGreaterThan(0);
    for (const r of rows.filter((x) => x.kind === 'apiserver' || x.kind === 'lb' || x.kind === 'store')) expect(r.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    // Each component runs with its own identity: the scheduler may bind pods but not read secrets.
    const asScheduler = await kubectl('auth', 'can-i', 'create', 'pods', '--subresource', 'binding', '--as', 'system:kube-scheduler');
    expect(asScheduler.trim()).toBe('yes');
    await expect(kubectl('auth', 'can-i', 'list', 'secrets', '--as', 'system:kube-scheduler')).rejects.toThrow();
    const table = await cli('status');
    expect(table).toContain(`Lease kube-system/kube-scheduler: ${leaders(rows, 'scheduler')[0]?.name}`);
    expect(table).toContain(`Lease kube-system/kube-controller-manager: ${leaders(rows, 'controller-manager')[0]?.name}`);
  }, 180_000);

  it('kill -9 of the store leader: status shows a new one', async () => {
    const leader = leaders(await cluster.status(), 'store')[0] as MemberStatus;
    process.kill(leader.pid, 'SIGKILL');
    const { ms } = await until('a new store leader', (r) => leaders(r, 'store').some((x) => x.name !== leader.name));
    console.log(`[ha] store leader ${leader.name} killed: new raft leader in status after ${ms} ms`);
    const rows = await statusJson();
    expect(rows.find((r) => r.name === leader.name)?.up).toBe(false);
    const next = leaders(rows, 'store');
    expect(next).toHaveLength(1);
    expect(next[0]?.term).toBeGreaterThan(leader.term ?? 0);
    expect((await kubectl('get', 'nodes', '--no-headers')).trim().split('\n')).toHaveLength(3);
  }, 60_000);

  it('kill -9 of the active scheduler and controller manager: status shows other holders of their Leases', async () => {
    const before = await cluster.status();
    const scheduler = leaders(before, 'scheduler')[0] as MemberStatus;
    const manager = leaders(before, 'controller-manager')[0] as MemberStatus;
    process.kill(scheduler.pid, 'SIGKILL');
    process.kill(manager.pid, 'SIGKILL');
    const took = await Promise.all([
      until('another scheduler holding the Lease', (r) => leaders(r, 'scheduler').some((x) => x.name !== scheduler.name)),
      until('another controller manager holding the Lease', (r) => leaders(r, 'controller-manager').some((x) => x.name !== manager.name)),
    ]);
    console.log(`[ha] active scheduler ${scheduler.name} and controller manager ${manager.name} killed: other Lease holders in status after ${took[0].ms} ms and ${took[1].ms} ms (lease duration 4s)`);
    const rows = await statusJson();
    for (const [kind, killed] of [['scheduler', scheduler], ['controller-manager', manager]] as const) {
      const next = leaders(rows, kind);
      expect(next).toHaveLength(1);
      expect(next[0]?.name).not.toBe(killed.name);
      expect(rows.find((r) => r.name === killed.name)?.up).toBe(false);
    }
    const table = await cli('status');
    expect(table).toContain(`Lease kube-system/kube-scheduler: ${leaders(rows, 'scheduler')[0]?.name}`);
    expect(table).toContain(`Lease kube-system/kube-controller-manager: ${leaders(rows, 'controller-manager')[0]?.name}`);
  }, 60_000);

  it('kill -9 of one apiserver: kubectl through the lb keeps working', async () => {
    const apiserver = (await cluster.status()).find((r) => r.kind === 'apiserver' && r.up) as MemberStatus;
    const baseline: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = Date.now();
      await kubectl('get', 'nodes', '--no-headers');
      baseline.push(Date.now() - t);
    }
    console.log(`[ha] kubectl get nodes through the lb with every apiserver up: ${baseline.join(', ')} ms`);
    process.kill(apiserver.pid, 'SIGKILL');
    const t0 = Date.now();
    // Right after the kill (before the lb's health check notices), then enough calls to go round
    // every backend more than once.
    const times: number[] = [];
    for (let i = 0; i < 6; i++) {
      const t = Date.now();
      expect((await kubectl('get', 'nodes', '--no-headers')).trim().split('\n')).toHaveLength(3);
      times.push(Date.now() - t);
    }
    console.log(`[ha] apiserver ${apiserver.name} killed: 6 kubectl get nodes through the lb all succeeded in ${Date.now() - t0} ms (each: ${times.join(', ')} ms)`);
    const lbLog = readFileSync(join(stateDir, 'lb.log'), 'utf8');
    expect(lbLog).toMatch(new RegExp(`"backend":"${apiserver.url}".*"backend down"`));

    // New work converges after all three failovers: the new scheduler and controller manager act.
    const t1 = Date.now();
    await kubectl('create', 'deployment', 'after-failover', '--image', 'nginx', '--replicas', '3');
    for (;;) {
      const pods = (await kubectl('get', 'pods', '-l', 'app=after-failover', '--no-headers', '-o', 'wide')).trim().split('\n').filter((l) => l !== '');
      const running = pods.filter((l) => / Running /.test(l));
      if (running.length === 3) break;
      if (Date.now() - t1 > 45_000) throw new Error(`deployment after failover did not converge: ${pods.join(' | ')}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    console.log(`[ha] after the failovers a new 3-replica deployment ran in ${Date.now() - t1} ms`);
  }, 90_000);

  it('up refuses a topology that leaves running members behind', async () => {
    const stores = readFileSync(join(dir, 'ha-test.yaml'), 'utf8').split('\n').filter((l) => l.includes('kind: store') || !l.startsWith('  -'));
    writeFileSync(join(dir, 'stores-only.yaml'), stores.join('\n'));
    await expect(cli('up', '-f', 'stores-only.yaml', '--detach')).rejects.toThrow(/apiserver-\d.*, lb, .*worker-1, worker-2, worker-3 still running from an earlier 'up' .* run 'ketch-cluster down' first/);
    // Nothing was started or stopped: the 16 members less the 4 killed above.
    expect((await cluster.status()).filter((r) => r.up).length).toBe(12);
  }, 60_000);

  it('down leaves no process behind', async () => {
    const state = cluster.readState();
    for (const m of state.members) allPids.add(m.pid);
    const t0 = Date.now();
    expect(await cli('down')).toBe('all members stopped\n');
    console.log(`[ha] down took ${Date.now() - t0} ms`);
    // (isAlive counts zombies as gone: nobody may reap the members, whose launcher has exited.)
    for (const pid of allPids) expect(isAlive(pid), `pid ${pid} still running`).toBe(false);
    // 16 members and the link proxy process.
    expect(allPids.size).toBe(17);
  }, 120_000);
});
