import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../api/free-port.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cmd', 'ketch-cluster.js');
const CHROMIUM = '/usr/bin/chromium';
/** Screenshots for people to look at (gitignored). */
const OUTPUT = join(ROOT, 'test-output', 'dashboard');

/**
 * The dashboard in a real browser (Debian's chromium, driven by playwright-core) over a real
 * cluster: 3 store members, an apiserver, a scheduler, a controller manager and a kubelet. The page must show three
 * members and one leader; killing the leader from the page (through its confirmation dialog)
 * must bring a new leader onto the page and into the timeline; a pod created meanwhile must show
 * up on its node as Running, through the Kubernetes watches.
 */
describe('dashboard in a real browser', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ketch-dashboard-e2e-'));
  const stateDir = join(dir, 'state');
  let apiUrl = '';
  let dashboard: ChildProcess | undefined;
  let dashboardUrl = '';
  let context: BrowserContext | undefined;
  let page: Page;
  const cli = async (...args: string[]): Promise<string> => (await run(process.execPath, [CLI, ...args, '--state-dir', stateDir], { cwd: dir, timeout: 120_000 })).stdout;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} not found: the dashboard tests need Debian's chromium ('apt-get install -y chromium'; .ci/run installs it)`);
    }
    const p = await freePorts(7);
    apiUrl = `http://127.0.0.1:${p[6]}`;
    const topology = [
      'name: dash-e2e',
      'members:',
      ...[0, 1, 2].map((i) => `  - { name: store-${i + 1}, kind: store, clientPort: ${p[2 * i]}, peerPort: ${p[2 * i + 1]} }`),
      `  - { name: apiserver-1, kind: apiserver, port: ${p[6]} }`,
      '  - { name: scheduler-1, kind: scheduler }',
      // It gives the node its pod CIDR, without which the kubelet cannot start pods.
      '  - { name: controller-manager-1, kind: controller-manager }',
      '  - { name: worker-1, kind: kubelet }',
    ];
    writeFileSync(join(dir, 'dash.yaml'), `${topology.join('\n')}\n`);
    expect(await cli('up', '-f', 'dash.yaml', '--detach')).toMatch(/healthy after/);

    dashboard = spawn(process.execPath, [CLI, 'dashboard', '--port', '0', '--state-dir', stateDir], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    dashboard.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    dashboardUrl = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`the dashboard did not print its URL within 30 s: ${out} ${stderr}`)), 30_000);
      dashboard?.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
        if (m !== null) {
          clearTimeout(timer);
          resolve(m[1] as string);
        }
      });
      dashboard?.once('exit', (code) => reject(new Error(`the dashboard exited with ${code}: ${stderr}`)));
    });

    // A fresh profile in the test's own directory; nothing is downloaded (no `playwright install`).
    context = await chromium.launchPersistentContext(join(dir, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1360, height: 1000 },
    });
    page = await context.newPage();
  });

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    if (dashboard?.exitCode === null) {
      dashboard.kill('SIGTERM');
      await new Promise((r) => dashboard?.once('exit', r));
    }
    await cli('down').catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows three members and one leader, kills the leader from the page and shows the new one, and shows pods on their nodes', async () => {
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(dashboardUrl);

    const cards = page.locator('article.store-card');
    await cards.nth(2).waitFor({ timeout: 20_000 });
    expect(await cards.count()).toBe(3);
    const leaderCard = page.locator('article.store-card[data-leader="true"]');
    await leaderCard.first().waitFor({ timeout: 20_000 });
    expect(await leaderCard.count()).toBe(1);
    const leader = (await leaderCard.getAttribute('data-member')) as string;
    expect(await leaderCard.getByText('Leader', { exact: false }).first().textContent()).toMatch(/Leader/);
    await page.locator('.tl-entry[data-kind="leader"]', { hasText: `${leader} is the leader` }).waitFor({ timeout: 10_000 });

    // A pod created now reaches the page through the watches once the scheduler and kubelet act.
    const created = await fetch(`${apiUrl}/api/v1/namespaces/default/pods`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'dash-pod' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } }),
    });
    expect(created.status).toBe(201);
    await page
      .locator('tr[data-node="worker-1"] .chip-running', { hasText: 'dash-pod' })
      .waitFor({ timeout: 30_000 })
      .catch(async (err: unknown) => {
        const pod = await (await fetch(`${apiUrl}/api/v1/namespaces/default/pods/dash-pod`)).text();
        const view = await (await fetch(`${dashboardUrl}api/view`)).text();
        throw new Error(`${(err as Error).message}\npod: ${pod}\ndashboard view: ${view}`);
      });
    expect(await page.locator('tr[data-node="worker-1"]').getAttribute('data-ready')).toBe('True');
    expect(await page.locator('tr[data-lease="kube-system/kube-scheduler"]').textContent()).toMatch(/scheduler-1/);

    // Kill the leader from the page: the button asks first.
    await page.getByRole('button', { name: `Kill ${leader}`, exact: true }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    expect(await dialog.textContent()).toMatch(new RegExp(`Kill ${leader}\\?.*SIGKILL.*It leads now`));
    await dialog.getByRole('button', { name: `Yes, kill ${leader}` }).click();
    await dialog.waitFor({ state: 'hidden' });

    await page.locator(`article.store-card[data-member="${leader}"][data-state="down"]`).waitFor({ timeout: 10_000 });
    const newLeaderCard = page.locator(`article.store-card[data-leader="true"]:not([data-member="${leader}"])`);
    await newLeaderCard.waitFor({ timeout: 30_000 });
    expect(await page.locator('article.store-card[data-leader="true"]').count()).toBe(1);
    const newLeader = (await newLeaderCard.getAttribute('data-member')) as string;
    const elected = page.locator('.tl-entry[data-kind="leader"]', { hasText: `${newLeader} elected leader` });
    await elected.waitFor({ timeout: 10_000 });
    expect(await elected.textContent()).toMatch(new RegExp(`elected leader in term \\d+ \\(was ${leader}\\)`));
    expect(await page.locator('.tl-entry[data-kind="member"]', { hasText: `${leader} went down (the leader)` }).count()).toBe(1);
    expect(await page.locator('.tl-entry[data-kind="action"]', { hasText: `${leader} killed` }).count()).toBe(1);
    expect(await page.getByTestId('leader-summary').textContent()).toMatch(new RegExp(`leader ${newLeader}`));

    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, 'after-leader-kill.png'), fullPage: true });
    expect(errors).toEqual([]);
  });

  it('starts the killed member again, partitions a follower away and heals it, all from the page', async () => {
    const down = page.locator('article.store-card[data-state="down"]');
    const killed = (await down.getAttribute('data-member')) as string;
    await page.getByRole('button', { name: `Start ${killed}`, exact: true }).click();
    await page.getByRole('dialog').getByRole('button', { name: `Yes, start ${killed}` }).click();
    await page.locator(`article.store-card[data-member="${killed}"][data-state="up"]`).waitFor({ timeout: 15_000 });
    await page.locator('.tl-entry[data-kind="member"]', { hasText: `${killed} is running again` }).waitFor({ timeout: 10_000 });
    // Back in the cluster: it names the leader (its Status answers with one).
    await page.locator(`article.store-card[data-member="${killed}"] .badge-follower`).waitFor({ timeout: 30_000 });

    const follower = (await page.locator('article.store-card[data-leader="false"][data-state="up"]').first().getAttribute('data-member')) as string;
    await page.getByRole('button', { name: `Partition ${follower}`, exact: true }).click();
    await page.getByRole('dialog').getByRole('button', { name: `Yes, partition ${follower}` }).click();
    const banner = page.getByRole('alert');
    await banner.waitFor({ timeout: 10_000 });
    expect(await banner.textContent()).toMatch(new RegExp(`Peer links cut: .*${follower}`));
    await page.locator(`article.store-card[data-member="${follower}"]`, { hasText: 'Peer links cut' }).waitFor();
    await page.locator('.tl-entry[data-kind="partition"]', { hasText: `peer links cut: ${follower}-` }).waitFor({ timeout: 10_000 });

    await page.getByRole('button', { name: 'Heal all peer links' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Yes, heal' }).click();
    await banner.waitFor({ state: 'detached', timeout: 10_000 });
    await page.locator('.tl-entry[data-kind="partition"]', { hasText: 'peer links healed' }).waitFor({ timeout: 10_000 });
    expect(await page.locator('article.store-card[data-leader="true"]').count()).toBe(1);
    await page.screenshot({ path: join(OUTPUT, 'after-heal.png'), fullPage: true });
  });
});
