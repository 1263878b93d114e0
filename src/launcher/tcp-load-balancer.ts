import { readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';

import { httpGet } from './probes.js';

/**
 * A TCP load balancer in front of the apiservers: each new client connection goes to the next
 * backend (round robin) among those whose health check (/readyz) passes. A backend that refuses
 * or does not answer a connect is marked down at once and the connection tries the next one, so a
 * killed apiserver costs a client nothing but a few milliseconds. Bytes are relayed untouched
 * (plain HTTP, watches and upgrades alike; TLS passes through, so clients see the apiservers'
 * own certificates and their client certificates reach the apiservers).
 */

export interface LoadBalancerOptions {
  readonly host: string;
  readonly port: number;
  /** Backend base URLs, e.g. http://127.0.0.1:8081. */
  readonly backends: readonly string[];
  readonly healthPath?: string;
  readonly healthIntervalMs?: number;
  readonly healthTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  /** PEM CA that https:// backends' certificates are checked against in health checks. */
  readonly healthCa?: Buffer;
  readonly log: Logger;
}

interface Backend {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  healthy: boolean;
}

export class TcpLoadBalancer {
  private next = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly backends: Backend[],
    private readonly opts: Required<Omit<LoadBalancerOptions, 'backends' | 'healthCa'>> & Pick<LoadBalancerOptions, 'healthCa'>,
  ) {}

  static async start(options: LoadBalancerOptions): Promise<TcpLoadBalancer> {
    const backends = options.backends.map((url): Backend => {
      const u = new URL(url);
      if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.port === '') throw new Error(`backend ${url}: expected http://host:port or https://host:port`);
      return { url: u.origin, host: u.hostname, port: Number(u.port), healthy: true };
    });
    if (backends.length === 0) throw new Error('the load balancer needs at least one backend');
    const opts = { healthPath: '/readyz', healthIntervalMs: 500, healthTimeoutMs: 1000, connectTimeoutMs: 1000, ...options };
    const server = createServer({ pauseOnConnect: true });
    const lb = new TcpLoadBalancer(server, backends, opts);
    server.on('connection', (client) => lb.accept(client));
    // One health round before listening, so the first clients already skip dead backends.
    await lb.checkAll();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: opts.host, port: opts.port, exclusive: true }, () => resolve());
    });
    lb.timer = setInterval(() => void lb.checkAll(), opts.healthIntervalMs);
    return lb;
  }

  get port(): number {
    const a = this.server.address();
    return a !== null && typeof a === 'object' ? a.port : this.opts.port;
  }

  /** The backends in the order a new connection tries them: healthy ones round robin, then the rest. */
  private order(): Backend[] {
    const start = this.next++ % this.backends.length;
    const rotated = [...this.backends.slice(start), ...this.backends.slice(0, start)];
    return [...rotated.filter((b) => b.healthy), ...rotated.filter((b) => !b.healthy)];
  }

  private accept(client: Socket): void {
    this.sockets.add(client);
    client.once('close', () => this.sockets.delete(client));
    client.on('error', () => client.destroy());
    this.dial(client, this.order());
  }

  private dial(client: Socket, candidates: Backend[]): void {
    const backend = candidates.shift();
    if (backend === undefined || client.destroyed) {
      this.opts.log.warn('no backend accepted a connection; closing it');
      client.destroy();
      return;
    }
    const upstream = connect({ host: backend.host, port: backend.port });
    this.sockets.add(upstream);
    upstream.once('close', () => this.sockets.delete(upstream));
    upstream.setTimeout(this.opts.connectTimeoutMs);
    const fail = (why: string): void => {
      upstream.destroy();
      this.mark(backend, false, why);
      this.dial(client, candidates);
    };
    upstream.once('timeout', () => fail('connect timed out'));
    upstream.once('error', (err) => fail(err.message));
    upstream.once('connect', () => {
      upstream.removeAllListeners('timeout').removeAllListeners('error');
      if (client.destroyed) {
        upstream.destroy();
        return;
      }
      upstream.setTimeout(0);
      upstream.setNoDelay(true);
      client.setNoDelay(true);
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  }

  private mark(backend: Backend, healthy: boolean, why: string): void {
    if (backend.healthy === healthy) return;
    backend.healthy = healthy;
    this.opts.log.info({ backend: backend.url, why }, healthy ? 'backend up' : 'backend down');
  }

  private async checkAll(): Promise<void> {
    await Promise.all(
      this.backends.map(async (b) => {
        try {
          const res = await httpGet(`${b.url}${this.opts.healthPath}`, this.opts.healthCa === undefined ? {} : { ca: this.opts.healthCa }, this.opts.healthTimeoutMs);
          this.mark(b, res.status >= 200 && res.status < 300, `${this.opts.healthPath} answered ${res.status}`);
        } catch (err) {
          this.mark(b, false, `${this.opts.healthPath}: ${(err as Error).message}`);
        }
      }),
    );
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}

/** `ketch-cluster __lb --listen HOST:PORT --backends URL,URL [--health-path P] [--health-interval-ms N]`. */
export function parseLoadBalancerArgs(argv: readonly string[]): Omit<LoadBalancerOptions, 'log'> & { logLevel: string } {
  const values = new Map<string, string>();
  const known = new Set(['listen', 'backends', 'health-path', 'health-interval-ms', 'health-timeout-ms', 'connect-timeout-ms', 'health-ca', 'log-level']);
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i] as string;
    const name = flag.replace(/^--/, '');
    if (!flag.startsWith('--') || !known.has(name)) throw new Error(`lb: unknown flag ${flag} (known: ${[...known].map((k) => `--${k}`).join(', ')})`);
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`lb: ${flag} needs a value`);
    values.set(name, value);
  }
  const listen = values.get('listen') ?? '';
  const m = /^(.+):(\d+)$/.exec(listen);
  if (m === null) throw new Error(`lb: --listen must be HOST:PORT, got ${JSON.stringify(listen)}`);
  const ms = (name: string, def: number): number => {
    const v = Number(values.get(name) ?? def);
    if (!Number.isInteger(v) || v <= 0) throw new Error(`lb: --${name} must be a positive number of milliseconds`);
    return v;
  };
  return {
    host: m[1] as string,
    port: Number(m[2]),
    backends: (values.get('backends') ?? '').split(',').filter((s) => s !== ''),
    healthPath: values.get('health-path') ?? '/readyz',
    healthIntervalMs: ms('health-interval-ms', 500),
    healthTimeoutMs: ms('health-timeout-ms', 1000),
    connectTimeoutMs: ms('connect-timeout-ms', 1000),
    ...(values.get('health-ca') === undefined ? {} : { healthCa: readFileSync(values.get('health-ca') as string) }),
    logLevel: values.get('log-level') ?? 'info',
  };
}
