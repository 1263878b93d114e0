// Dashboard at scale (a measurement, not part of `npm test`): `ketch-cluster up` with 3 store
// members, an apiserver, a scheduler, a controller manager and 2 kubelets simulating
// KETCH_PROBE_NODES nodes, then KETCH_PROBE_PODS pods through Deployments, with the dashboard
// server running and the page open in Debian's chromium. Prints, as one JSON line:
// - the page: time to first render (navigation → the nodes table → every node row), DOM elements,
//   JS heap, the browser's script/layout time per second while pods start and while idle;
// - the dashboard server: CPU seconds and RSS during the rollout and idle, bytes of its event
//   stream during the rollout, size of the first (hello) message;
// - what it asks of the store and the apiserver while idle (gRPC calls and API requests per second).
//   npx tsc -p tsconfig.json && npm run build && KETCH_PROBE_NODES=100 KETCH_PROBE_PODS=3000 \
//     npx vitest run --config test/dashboard/probe.vitest.config.ts

import { join } from 'node:path';
import { chromium, type CDPSession, type Page } from 'playwright-core';
import { expect, it } from 'vitest';

import { procCpuSeconds, procRssBytes } from '../../bench/proc-stats.js';
import { scrape, sumOf } from '../prometheus-text.js';
import { CHROMIUM, ROOT, sleep, startScaleCluster, until } from './scale-harness.js';

/** Browser main-thread time (script + layout + style) per wall second over `ms`. */
async function browserBusy(cdp: CDPSession, ms: number): Promise<number> {
  const metrics = async (): Promise<Record<string, number>> => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
  const a = await metrics();
  await sleep(ms);
  const b = await metrics();
  const busy = (k: string): number => (b[k] ?? 0) - (a[k] ?? 0);
  return (busy('ScriptDuration') + busy('LayoutDuration') + busy('RecalcStyleDuration')) / (ms / 1000);
}

async function firstRender(page: Page, url: string, nodes: number): Promise<{ tableMs: number; allNodesMs: number; domElements: number; heapBytes: number }> {
  const started = Date.now();
  await page.goto(url);
  await page.locator('table[aria-label="Nodes and pods"] tr[data-node]').first().waitFor({ timeout: 120_000 });
  const tableMs = Date.now() - started;
  await page.waitForFunction((n) => document.querySelectorAll('tr[data-node]:not([data-node=""])').length >= n, nodes, { timeout: 120_000 });
  const allNodesMs = Date.now() - started;
  const domElements = await page.evaluate(() => document.getElementsByTagName('*').length);
  const heapBytes = await page.evaluate(() => (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0);
  return { tableMs, allNodesMs, domElements, heapBytes };
}

it('dashboard scale probe', async () => {
  const nodes = Number(process.env.KETCH_PROBE_NODES ?? 100);
  const pods = Number(process.env.KETCH_PROBE_PODS ?? 3000);
  const c = await startScaleCluster(nodes);
  const { apiUrl, storeUrls, dashboardUrl } = c;
  const pid = c.dashboardPid;
  const context = await chromium.launchPersistentContext(join(c.dir, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--enable-precise-memory-info'],
    viewport: { width: 1360, height: 1000 },
  });
  try {
    await until('every node Ready on the dashboard', 300_000, async () => ((await c.readyNodes()) === nodes ? true : undefined));
    await sleep(3000); // node IPAM

    // An event-stream reader counting what the server sends while the pods start.
    const sse = new AbortController();
    let sseBytes = 0;
    let helloBytes = 0;
    void fetch(`${dashboardUrl}events`, { signal: sse.signal }).then(async (res) => {
      const reader = res.body!.getReader();
      let first = true;
      let text = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        sseBytes += value.byteLength;
        if (first) {
          text += Buffer.from(value).toString('utf8');
          const end = text.indexOf('\n\n');
          if (end >= 0) {
            helloBytes = Buffer.byteLength(text.slice(0, end));
            first = false;
          }
        }
      }
    }).catch(() => undefined);
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    const emptyRender = await firstRender(page, dashboardUrl, nodes);

    const cpu0 = procCpuSeconds(pid) as number;
    const t0 = Date.now();
    const sse0 = sseBytes;
    await c.createPods(pods);
    const rolloutBusy = await browserBusy(cdp, 10_000);
    await until(`${pods} pods Running on the dashboard`, 15 * 60_000, async () => ((await c.runningPods()) === pods ? true : undefined));
    const rolloutS = (Date.now() - t0) / 1000;
    const rolloutCpu = (procCpuSeconds(pid) as number) - cpu0;
    const rolloutSse = sseBytes - sse0;
    await sleep(5000);

    // Idle, with every pod running: the server's CPU, the page's, and what the server asks for.
    const storeCalls = async (): Promise<number> => {
      let n = 0;
      for (const u of storeUrls) {
        const m = await scrape(`${u}/metrics`);
        n += sumOf(m, 'grpc_server_started_total', {});
      }
      return n;
    };
    const apiRequests = async (): Promise<number> => sumOf(await scrape(`${apiUrl}/metrics`), 'apiserver_request_total', {});
    const idleCpu0 = procCpuSeconds(pid) as number;
    const store0 = await storeCalls();
    const api0 = await apiRequests();
    const idleBusy = await browserBusy(cdp, 20_000);
    const idleCpu = ((procCpuSeconds(pid) as number) - idleCpu0) / 20;
    const storePerS = ((await storeCalls()) - store0) / 20;
    const apiPerS = ((await apiRequests()) - api0) / 20;
    // The same counts with the dashboard server stopped (SIGSTOP): the difference is its own load.
    process.kill(pid, 'SIGSTOP');
    const storeB0 = await storeCalls();
    const apiB0 = await apiRequests();
    await sleep(20_000);
    const storeBaselinePerS = ((await storeCalls()) - storeB0) / 20;
    const apiBaselinePerS = ((await apiRequests()) - apiB0) / 20;
    process.kill(pid, 'SIGCONT');
    await sleep(2000);
    const viewBytes = (await (await fetch(`${dashboardUrl}api/view`)).text()).length;

    // A fresh page on the full cluster: first render.
    const page2 = await context.newPage();
    page2.on('pageerror', (e) => pageErrors.push(e.message));
    const fullRender = await firstRender(page2, dashboardUrl, nodes);
    await page2.screenshot({ path: join(ROOT, 'test-output', `dashboard-scale-${nodes}x${pods}.png`), fullPage: false }).catch(() => undefined);
    sse.abort();
    const result = {
      nodes,
      pods,
      emptyRender,
      fullRender,
      helloBytes,
      rollout: { seconds: rolloutS, serverCpuSeconds: Number(rolloutCpu.toFixed(2)), serverCpuShare: Number((rolloutCpu / rolloutS).toFixed(3)), eventStreamBytes: rolloutSse, browserBusyPerSecondFirst10s: Number(rolloutBusy.toFixed(3)) },
      viewBytes,
      idle: {
        serverCpuShare: Number(idleCpu.toFixed(3)),
        browserBusyPerSecond: Number(idleBusy.toFixed(3)),
        storeGrpcCallsPerSecond: storePerS,
        storeGrpcCallsPerSecondWithoutDashboard: storeBaselinePerS,
        apiRequestsPerSecond: apiPerS,
        apiRequestsPerSecondWithoutDashboard: apiBaselinePerS,
      },
      serverRssBytes: procRssBytes(pid),
      pageErrors,
    };
    process.stdout.write(`DASHBOARD-SCALE ${JSON.stringify(result)}\n`);
    expect(pageErrors).toEqual([]);
  } finally {
    await context.close().catch(() => undefined);
    await c.destroy();
  }
});
