import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterObserver } from '../../src/launcher/dashboard/cluster-observer.js';
import { DashboardServer } from '../../src/launcher/dashboard/dashboard-server.js';
import type { DashboardView, HelloMessage, TimelineEntry } from '../../src/launcher/dashboard/dashboard-types.js';
import { type ClusterState, isAlive, LocalCluster } from '../../src/launcher/local-cluster.js';

/** One Server-Sent Events stream, collected as it arrives. */
class EventStream {
  readonly events: Array<{ event: string; data: unknown }> = [];
  private readonly abort = new AbortController();
  private readonly waiters = new Set<() => void>();

  static async open(url: string): Promise<EventStream> {
    const s = new EventStream();
    const res = await fetch(url, { signal: s.abort.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    void s.read(res.body as ReadableStream<Uint8Array>).catch(() => undefined);
    return s;
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of body) {
      buffered += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const frame = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const event = /^event: (.*)$/m.exec(frame)?.[1];
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (event !== undefined && data !== undefined) this.events.push({ event, data: JSON.parse(data) });
      }
      for (const w of this.waiters) w();
    }
  }

  /** Resolves with the first event (from the start of the stream) that `match` accepts. */
  async waitFor<T>(what: string, match: (event: string, data: unknown) => T | undefined, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const e of this.events) {
        const found = match(e.event, e.data);
        if (found !== undefined) return found;
      }
      if (Date.now() > deadline) throw new Error(`${what}: not on the stream within ${timeoutMs} ms; got ${JSON.stringify(this.events).slice(0, 2000)}`);
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.waiters.delete(done);
          resolve();
        };
        this.waiters.add(done);
        setTimeout(done, 200);
      });
    }
  }

  close(): void {
    this.abort.abort();
  }
}

/** A raw request, so tests can send the Host and Origin headers a browser elsewhere would. */
function send(port: number, method: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? '{}' : undefined);
  });
}

/**
 * The dashboard server over a launcher state whose members are real processes (small node
 * programs standing in for kubelets: the observer only watches their process state), so actions
 * really signal and start processes and the event stream must report what happened to them.
 */
describe('dashboard server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ketch-dashboard-server-'));
  const stateDir = join(dir, 'state');
  const cluster = new LocalCluster(stateDir);
  let observer: ClusterObserver;
  let server: DashboardServer;
  const post = (path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> =>
    send(server.port, 'POST', path, { Host: `127.0.0.1:${server.port}`, 'Content-Type': 'application/json', ...headers });

  beforeAll(async () => {
    mkdirSync(stateDir, { recursive: true });
    // Not a topology ketch-cluster could start: the dashboard then names the cluster after the file.
    writeFileSync(join(dir, 'fake.yaml'), 'members: []\n');
    const idle = ['-e', 'setInterval(() => {}, 1000)'];
    // A pid that cannot exist (above Linux's pid_max), so `start` launches the members.
    const state: ClusterState = {
      topologyFile: join(dir, 'fake.yaml'),
      members: ['worker-a', 'worker-b'].map((name) => ({ name, kind: 'kubelet' as const, pid: 2 ** 30, url: '', args: idle, log: join(stateDir, `${name}.log`) })),
    };
    writeFileSync(join(stateDir, 'state.json'), JSON.stringify(state));
    cluster.start('worker-a');
    cluster.start('worker-b');
    observer = new ClusterObserver(cluster);
    await observer.start();
    server = await DashboardServer.start({ cluster, observer, port: 0 });
  });

  afterAll(async () => {
    await server?.close();
    observer?.close();
    for (const m of cluster.readState().members) if (isAlive(m.pid)) process.kill(m.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the page and its bundle from dist/dashboard', async () => {
    const page = await fetch(server.url);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<script src="\/app.js">/);
    const js = await fetch(`${server.url}app.js`);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await js.text()).length).toBeGreaterThan(1000);
    expect((await fetch(`${server.url}nope`)).status).toBe(404);
  });

  it('streams the whole view first, then the member changes that actions from the page cause', async () => {
    const stream = await EventStream.open(`${server.url}events`);
    try {
      const hello = await stream.waitFor('hello', (event, data) => (event === 'hello' ? (data as HelloMessage) : undefined));
      expect(hello.view.cluster.name).toBe('fake');
      expect(hello.view.components.map((c) => [c.name, c.state])).toEqual([
        ['worker-a', 'up'],
        ['worker-b', 'up'],
      ]);
      expect(hello.view.kube.available).toBe(false);
      const pidA = cluster.member('worker-a').pid;

      const paused = await post('/api/members/worker-a/pause');
      expect(paused).toEqual({ status: 200, body: JSON.stringify({ ok: true, message: `worker-a paused (SIGSTOP to pid ${pidA})` }) });
      const stateOf = (name: string, want: string) => (event: string, data: unknown) =>
        event === 'patch' && (data as Partial<DashboardView>).components?.some((c) => c.name === name && c.state === want) === true ? true : undefined;
      await stream.waitFor('worker-a paused', stateOf('worker-a', 'paused'));
      await stream.waitFor('the pause in the timeline', (event, data) =>
        event === 'timeline' && (data as TimelineEntry[]).some((e) => e.kind === 'action' && e.text === `from the dashboard: worker-a paused (SIGSTOP to pid ${pidA})`) ? true : undefined,
      );

      expect((await post('/api/members/worker-a/kill')).status).toBe(200);
      await stream.waitFor('worker-a down', stateOf('worker-a', 'down'));
      expect(isAlive(pidA)).toBe(false);

      const started = await post('/api/members/worker-a/start');
      expect(started.status).toBe(200);
      const newPid = cluster.member('worker-a').pid;
      expect(newPid).not.toBe(pidA);
      expect(isAlive(newPid)).toBe(true);
      await stream.waitFor('worker-a up again', (event, data) =>
        event === 'patch' && (data as Partial<DashboardView>).components?.some((c) => c.name === 'worker-a' && c.state === 'up' && c.pid === newPid) === true ? true : undefined,
      );

      const pidB = cluster.member('worker-b').pid;
      const restarted = await post('/api/members/worker-b/restart');
      expect(restarted.status).toBe(200);
      expect(isAlive(pidB)).toBe(false);
      expect(isAlive(cluster.member('worker-b').pid)).toBe(true);

      // A second stream joining now gets the current state in its hello.
      const late = await EventStream.open(`${server.url}events`);
      try {
        const again = await late.waitFor('hello', (event, data) => (event === 'hello' ? (data as HelloMessage) : undefined));
        expect(again.view.components.find((c) => c.name === 'worker-a')?.pid).toBe(newPid);
        expect(again.timeline.filter((e) => e.kind === 'action').map((e) => e.text.replace(/\d+/g, 'N'))).toEqual([
          'from the dashboard: worker-a paused (SIGSTOP to pid N)',
          'from the dashboard: worker-a killed (SIGKILL to pid N)',
          'from the dashboard: worker-a started (pid N)',
          'from the dashboard: worker-b restarted (pid N → N)',
        ]);
      } finally {
        late.close();
      }
    } finally {
      stream.close();
    }
  });

  it('refuses what it should: other hosts and origins, non-JSON posts, unknown members and actions, impossible ones', async () => {
    const port = server.port;
    expect((await send(port, 'GET', '/', { Host: 'evil.example:80' })).status).toBe(403);
    expect((await post('/api/members/worker-a/kill', { Origin: 'http://evil.example' })).status).toBe(403);
    expect((await post('/api/members/worker-a/kill', { 'Content-Type': 'text/plain' })).status).toBe(415);
    expect((await send(port, 'GET', '/api/members/worker-a/kill', { Host: `localhost:${port}` })).status).toBe(405);
    expect(await post('/api/members/nobody/kill')).toEqual({ status: 404, body: JSON.stringify({ ok: false, message: 'no member named nobody' }) });
    expect((await post('/api/members/worker-a/explode')).status).toBe(400);
    const running = await post('/api/members/worker-a/start');
    expect(running.status).toBe(409);
    expect(JSON.parse(running.body)).toMatchObject({ ok: false, message: expect.stringMatching(/^worker-a is already running \(pid \d+\)$/) });
    expect(JSON.parse((await post('/api/members/worker-a/partition')).body)).toEqual({ ok: false, message: 'worker-a is a kubelet: only store members have peer links to cut' });
    // Still alive after all that.
    expect(isAlive(cluster.member('worker-a').pid)).toBe(true);
  });
});
