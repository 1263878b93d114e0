import { createServer, request, type Server } from 'node:http';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseLoadBalancerArgs, TcpLoadBalancer } from '../../src/launcher/tcp-load-balancer.js';

/** A real HTTP backend on a free loopback port that names itself and answers /readyz as told. */
async function backend(name: string): Promise<{ server: Server; url: string; ready: { ok: boolean } }> {
  const ready = { ok: true };
  const server = createServer((req, res) => {
    if (req.url === '/readyz') {
      res.writeHead(ready.ok ? 200 : 500).end(ready.ok ? 'ok' : 'not ready');
      return;
    }
    res.writeHead(200).end(name);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${addr.port}`, ready };
}

/** One request on a fresh connection (no keep-alive), as a new kubectl process makes. */
function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/who', agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

describe('TcpLoadBalancer', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });
  const closeServer = (s: Server): Promise<void> =>
    new Promise((resolve) => {
      s.closeAllConnections();
      s.close(() => resolve());
    });
  const start = async (names: string[], healthIntervalMs = 100) => {
    const backends = await Promise.all(names.map(backend));
    for (const b of backends) cleanup.push(() => (b.server.listening ? closeServer(b.server) : Promise.resolve()));
    const lb = await TcpLoadBalancer.start({ host: '127.0.0.1', port: 0, backends: backends.map((b) => b.url), healthIntervalMs, log: pino({ level: 'silent' }) });
    cleanup.unshift(() => lb.close());
    return { lb, backends };
  };

  it('spreads new connections round robin over the healthy backends', async () => {
    const { lb } = await start(['a', 'b', 'c']);
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) seen.push(await get(lb.port));
    expect([...seen].sort()).toEqual(['a', 'a', 'b', 'b', 'c', 'c']);
    expect(new Set(seen.slice(0, 3)).size).toBe(3);
  });

  it('skips a backend that stopped listening at once, before any health check notices', async () => {
    // A health interval far beyond the test: only the failed connect can tell.
    const { lb, backends } = await start(['a', 'b', 'c'], 60_000);
    await closeServer(backends[0]!.server);
    const t0 = Date.now();
    const seen: string[] = [];
    for (let i = 0; i < 9; i++) seen.push(await get(lb.port));
    const ms = Date.now() - t0;
    expect(seen).not.toContain('a');
    expect(new Set(seen)).toEqual(new Set(['b', 'c']));
    console.log(`[lb] 9 requests with one backend gone: ${ms} ms`);
    expect(ms).toBeLessThan(5000);
  });

  it('skips a backend whose /readyz fails, and takes it back when it passes again', async () => {
    const { lb, backends } = await start(['a', 'b']);
    backends[0]!.ready.ok = false;
    await new Promise((r) => setTimeout(r, 400));
    for (let i = 0; i < 4; i++) expect(await get(lb.port)).toBe('b');
    backends[0]!.ready.ok = true;
    await new Promise((r) => setTimeout(r, 400));
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add(await get(lb.port));
    expect(seen).toEqual(new Set(['a', 'b']));
  });

  it('closes the client connection when no backend accepts, and keeps serving once one is back', async () => {
    const { lb, backends } = await start(['a'], 60_000);
    const port = Number(new URL(backends[0]!.url).port);
    await closeServer(backends[0]!.server);
    await expect(get(lb.port)).rejects.toThrow();
    const again = createServer((_req, res) => res.writeHead(200).end('a-again'));
    await new Promise<void>((resolve) => again.listen(port, '127.0.0.1', resolve));
    cleanup.push(() => closeServer(again));
    expect(await get(lb.port)).toBe('a-again');
  });

  it('rejects bad flags with a clear error', () => {
    expect(() => parseLoadBalancerArgs(['--listen', 'nope'])).toThrow(/--listen must be HOST:PORT/);
    expect(() => parseLoadBalancerArgs(['--bogus', '1'])).toThrow(/unknown flag --bogus/);
    expect(() => parseLoadBalancerArgs(['--listen', '127.0.0.1:1', '--health-interval-ms', '-5'])).toThrow(/--health-interval-ms must be a positive/);
    expect(parseLoadBalancerArgs(['--listen', '127.0.0.1:9', '--backends', 'http://127.0.0.1:1,http://127.0.0.1:2'])).toMatchObject({ host: '127.0.0.1', port: 9, backends: ['http://127.0.0.1:1', 'http://127.0.0.1:2'] });
  });
});
