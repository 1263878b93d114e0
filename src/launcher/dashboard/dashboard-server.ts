import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { LocalCluster } from '../local-cluster.js';
import { type ClusterObserver, PROBE_INTERVAL_MS } from './cluster-observer.js';
import { type ActionResult, type HelloMessage, MEMBER_ACTIONS, type MemberAction } from './dashboard-types.js';
import { ActionError, runMemberAction } from './member-actions.js';

/**
 * The dashboard's HTTP server, on loopback only:
 *   GET  /                              the page (built into dist/dashboard by `npm run build`)
 *   GET  /events                        Server-Sent Events: `hello` (the whole view and timeline),
 *                                       then `patch` (changed sections) and `timeline` (new entries)
 *   GET  /api/view                      the current view as JSON (for scripts)
 *   POST /api/members/NAME/ACTION       kill, stop, start, restart, pause, resume, partition, heal
 * Every request must name a loopback Host (a web page elsewhere cannot reach it through DNS
 * rebinding), and a POST must be JSON from this origin (a cross-site form cannot send one).
 */

const ASSETS: Record<string, string> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/app.js': 'app.js',
  '/app.css': 'app.css',
};

const CONTENT_TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };

/** Comments on idle streams, so proxies and the browser keep them open. */
const KEEPALIVE_MS = 15_000;

export interface DashboardServerOptions {
  cluster: LocalCluster;
  observer: ClusterObserver;
  /** 0: any free port. */
  port: number;
  host?: string;
  log?: Logger;
  /** Where index.html, app.js and app.css are; default dist/dashboard of this package. */
  assetsDir?: string;
}

export class DashboardServer {
  private readonly streams = new Set<ServerResponse>();
  private readonly keepalive: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  /** One action at a time: they read and write the launcher's state file. */
  private actions: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly server: Server,
    private readonly opts: DashboardServerOptions,
    private readonly assetsDir: string,
  ) {
    this.keepalive = setInterval(() => {
      for (const res of this.streams) res.write(': keep-alive\n\n');
    }, KEEPALIVE_MS);
    this.unsubscribe = opts.observer.subscribe({
      patch: (patch) => this.broadcast('patch', patch),
      timeline: (entry) => this.broadcast('timeline', [entry]),
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((err: unknown) => {
        opts.log?.error({ err: (err as Error).message, url: req.url }, 'request failed');
        if (!res.headersSent) sendJson(res, 500, { ok: false, message: (err as Error).message });
        else res.end();
      });
    });
  }

  static async start(opts: DashboardServerOptions): Promise<DashboardServer> {
    const assetsDir = opts.assetsDir ?? defaultAssetsDir();
    if (!existsSync(join(assetsDir, 'index.html'))) throw new Error(`the dashboard page is not built (no ${join(assetsDir, 'index.html')}); run 'npm run build'`);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(err.code === 'EADDRINUSE' ? new Error(`port ${opts.port} is in use; pick another with --port`) : err);
      });
      server.listen({ host: opts.host ?? '127.0.0.1', port: opts.port }, resolve);
    });
    return new DashboardServer(server, opts, assetsDir);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  async close(): Promise<void> {
    clearInterval(this.keepalive);
    this.unsubscribe();
    for (const res of this.streams) res.end();
    this.streams.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
  }

  private broadcast(event: string, data: unknown): void {
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const res of this.streams) res.write(frame);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!isLoopbackHost(req.headers.host)) {
      sendJson(res, 403, { ok: false, message: `Host ${JSON.stringify(req.headers.host ?? '')} is not this machine's loopback address` });
      return;
    }
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const action = /^\/api\/members\/([^/]+)\/([^/]+)$/.exec(path);
    if (action !== null) {
      if (req.method !== 'POST') return sendJson(res, 405, { ok: false, message: 'use POST' }, { Allow: 'POST' });
      return this.memberAction(req, res, decodeURIComponent(action[1] as string), decodeURIComponent(action[2] as string));
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { ok: false, message: 'use GET' }, { Allow: 'GET' });
    if (path === '/events') return this.openStream(req, res);
    if (path === '/api/view') return sendJson(res, 200, this.opts.observer.view());
    const asset = ASSETS[path];
    if (asset === undefined) return sendJson(res, 404, { ok: false, message: `no page at ${path}` });
    const body = readFileSync(join(this.assetsDir, asset));
    res.writeHead(200, { 'Content-Type': CONTENT_TYPES[asset.split('.').pop() as string] ?? 'application/octet-stream', 'Cache-Control': 'no-cache', 'Content-Length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private openStream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    const hello: HelloMessage = { view: this.opts.observer.view(), timeline: this.opts.observer.timeline.entries(), probeIntervalMs: PROBE_INTERVAL_MS };
    // Reconnecting browsers wait this long (EventSource's `retry`), then get a fresh hello.
    res.write(`retry: 2000\nevent: hello\ndata: ${JSON.stringify(hello)}\n\n`);
    this.streams.add(res);
    req.socket.setNoDelay(true);
    res.on('close', () => this.streams.delete(res));
  }

  private async memberAction(req: IncomingMessage, res: ServerResponse, name: string, action: string): Promise<void> {
    const origin = req.headers.origin;
    if (origin !== undefined && !isLoopbackHost(hostOf(origin))) return sendJson(res, 403, { ok: false, message: `requests from ${origin} may not act on the cluster` });
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) return sendJson(res, 415, { ok: false, message: 'send Content-Type: application/json' });
    req.resume();
    if (!(MEMBER_ACTIONS as readonly string[]).includes(action)) return sendJson(res, 400, { ok: false, message: `unknown action ${JSON.stringify(action)}; expected one of ${MEMBER_ACTIONS.join(', ')}` });
    const run = this.actions.then(() => runMemberAction(this.opts.cluster, name, action as MemberAction));
    this.actions = run.catch(() => undefined);
    try {
      const message = await run;
      this.opts.log?.info({ member: name, action }, message);
      this.opts.observer.timeline.add('action', `from the dashboard: ${message}`, Date.now(), { subject: name });
      // Show the effect now rather than at the next probe round.
      void this.opts.observer.probe();
      sendJson(res, 200, { ok: true, message } satisfies ActionResult);
    } catch (err) {
      const status = err instanceof ActionError ? err.status : 500;
      sendJson(res, status, { ok: false, message: (err as Error).message } satisfies ActionResult);
    }
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-cache', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

/** 127.0.0.1, localhost or [::1], with any port. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  return /^(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/i.test(host);
}

/** dist/dashboard of the package this module belongs to (found by walking up to package.json). */
function defaultAssetsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the ketch package directory for the dashboard page');
    dir = up;
  }
  return join(dir, 'dist', 'dashboard');
}
