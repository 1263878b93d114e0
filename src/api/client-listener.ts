import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { CLUSTER_VERSION, type KetchServer, SERVER_VERSION } from '../server/ketch-server.js';
import { createTlsListener, type ServerTls, verifiesClients } from '../tls/tls-listener.js';
import { clusterService } from './cluster-service.js';
import { etcdServiceDefinitions } from './etcd-proto.js';
import { GrpcServerMetrics } from './grpc-metrics.js';
import { KetchGrpcServer, type PlainHttpResponse } from './grpc-h2/grpc-server.js';
import { authService } from './auth-service.js';
import { ConnectionLimit } from '../util/connection-limit.js';
import { refuseConnection } from './connection-refusal.js';
import { AuthorityFixingStream, firstRequestNeedsAuthorityFix } from './h2-authority-fix.js';
import { kvService } from './kv-service.js';
import { leaseService } from './lease-service.js';
import { maintenanceService } from './maintenance-service.js';
import { watchService } from './watch-service.js';
import { PROMETHEUS_CONTENT_TYPE, readCounter, readGauge, renderMetrics } from '../util/prometheus.js';

/** grpc's own framing on top of the request limit, as etcd allows (grpcOverheadBytes). */
const GRPC_OVERHEAD_BYTES = 512 * 1024;

/** Which gRPC server serves the client port: grpc-js (on node:http2) or Ketch's own (grpc-h2/). */
export type GrpcServerKind = 'grpc-js' | 'ketch';
export const GRPC_SERVER_KINDS: readonly GrpcServerKind[] = ['grpc-js', 'ketch'];
export const DEFAULT_GRPC_SERVER: GrpcServerKind = 'ketch';

/** The flag wins; else KETCH_GRPC_SERVER (test harnesses pass it through, unlike ETCD_* variables). */
function grpcServerKind(flag: GrpcServerKind | undefined): GrpcServerKind {
  if (flag !== undefined) return flag;
  const env = process.env.KETCH_GRPC_SERVER;
  if (env === undefined || env === '') return DEFAULT_GRPC_SERVER;
  if (!(GRPC_SERVER_KINDS as readonly string[]).includes(env)) throw new Error(`KETCH_GRPC_SERVER must be 'ketch' or 'grpc-js', got ${JSON.stringify(env)}`);
  return env as GrpcServerKind;
}

const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0');
/** How long a new gRPC connection may stay silent after its preface before we stop waiting for its first request. */
const SNIFF_WAIT_MS = 15;
/** A client that sends this much without a complete first HEADERS frame is not worth sniffing further. */
const SNIFF_BYTES_MAX = 64 * 1024;
/** Refused connections are logged at most once per this period: a client past the limit may redial in a loop. */
const REFUSAL_LOG_PERIOD_MS = 10_000;
/** Refused connections being told why at once (each for up to 2 s); beyond that they are just closed. */
const REFUSING_MAX = 256;

/** What a client turned away by --experimental-max-client-connections is told (gRPC RESOURCE_EXHAUSTED, HTTP 503). */
export function tooManyClientConnections(max: number): string {
  return `etcdserver: too many client connections (at most ${max}); close some or raise --experimental-max-client-connections`;
}

/**
 * Serves a member's client URLs: gRPC (etcd v3 API) and HTTP/1.1 (/health, /version, /metrics) on the
 * same port, as etcd does, told apart by the HTTP/2 connection preface.
 */
export class ClientListener {
  private readonly grpcServer: grpc.Server | undefined;
  private readonly injector: grpc.ConnectionInjector | undefined;
  private readonly ketchGrpc: KetchGrpcServer | undefined;
  private readonly netServers: NetServer[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly http = createHttpServer((req, res) => void this.serveHttp(req, res));
  private readonly watch: ReturnType<typeof watchService>;
  private readonly grpcMetrics: GrpcServerMetrics;
  /** Bytes of gRPC connections already closed; open ones are added when scraped. */
  private grpcBytesRead = 0;
  private grpcBytesWritten = 0;
  private readonly grpcSockets = new Set<Socket>();
  private readonly tls: ServerTls | undefined;
  /** Connections on the client URLs (not --listen-metrics-urls), against --experimental-max-client-connections. */
  private readonly connectionLimit: ConnectionLimit;
  private lastRefusalLogMs = -Infinity;
  /** Refused connections still open (connection-refusal.ts answers, then closes them). */
  private refusing = 0;

  constructor(
    private readonly server: KetchServer,
    private readonly log: Logger,
    limits: {
      maxRequestBytes: number;
      maxTxnOps: number;
      /** Watch: how long without a leader cuts streams that require one (3 election timeouts). */
      electionTimeoutMs?: number;
      /** Watch: --experimental-watch-progress-notify-interval (etcd: 10 min). */
      watchProgressNotifyIntervalMs?: number;
      /** --experimental-grpc-server. */
      grpcServer?: GrpcServerKind;
      /** --bcrypt-cost: the work factor of password hashes (src/server/auth/password.ts). */
      bcryptCost?: number;
      /** --experimental-max-watches-per-stream / --experimental-max-leases (abuse limits). */
      maxWatchesPerStream?: number;
      maxLeases?: number;
      /** --experimental-max-client-connections: connections the client URLs hold at once; 0 or absent: no limit. */
      maxClientConnections?: number;
      /** Needed by https:// URLs; ignored (with a warning) by http:// ones, as etcd does. */
      tls?: ServerTls;
    },
  ) {
    this.tls = limits.tls;
    this.connectionLimit = new ConnectionLimit(limits.maxClientConnections ?? 0);
    const maxReceiveMessageBytes = limits.maxRequestBytes + GRPC_OVERHEAD_BYTES;
    if (grpcServerKind(limits.grpcServer) === 'ketch') {
      this.ketchGrpc = new KetchGrpcServer(log, { maxReceiveMessageBytes, plainHttp: (method, path) => this.httpResponse(method, path) });
    } else {
      this.grpcServer = new grpc.Server({
        'grpc.max_receive_message_length': maxReceiveMessageBytes,
        'grpc.max_send_message_length': 2 ** 31 - 1,
        // etcd's keepalive enforcement: clients may ping every 5 s.
        'grpc.http2.min_ping_interval_without_data_ms': 5000,
        'grpc.keepalive_permit_without_calls': 1,
      });
      this.injector = this.grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    }
    this.grpcMetrics = new GrpcServerMetrics(server.metrics.registry);
    readCounter(server.metrics.registry, { name: 'etcd_network_client_grpc_received_bytes_total', help: 'The total number of bytes received from grpc clients.' }, () =>
      [...this.grpcSockets].reduce((n, s) => n + s.bytesRead, this.grpcBytesRead),
    );
    readCounter(server.metrics.registry, { name: 'etcd_network_client_grpc_sent_bytes_total', help: 'The total number of bytes sent to grpc clients.' }, () =>
      [...this.grpcSockets].reduce((n, s) => n + s.bytesWritten, this.grpcBytesWritten),
    );
    readGauge(server.metrics.registry, { name: 'ketch_network_client_connections', help: 'The number of open connections on the client URLs (Ketch only).' }, () =>
      this.connectionLimit.open,
    );
    readCounter(
      server.metrics.registry,
      { name: 'ketch_network_client_connections_refused_total', help: 'The total number of client connections refused by --experimental-max-client-connections (Ketch only).' },
      () => this.connectionLimit.refusedTotal,
    );
    const defs = etcdServiceDefinitions();
    this.addService(defs.KV, kvService(server, log, limits));
    this.addService(defs.Cluster, clusterService(server, log));
    this.addService(defs.Maintenance, maintenanceService(server, log));
    this.addService(defs.Lease, leaseService(server, log, { maxLeases: limits.maxLeases }));
    this.addService(defs.Auth, authService(server, log, { bcryptCost: limits.bcryptCost }));
    this.watch = watchService(server, log, {
      maxRequestBytes: limits.maxRequestBytes,
      maxWatchesPerStream: limits.maxWatchesPerStream,
      electionTimeoutMs: limits.electionTimeoutMs ?? 1000,
      progressNotifyIntervalMs: limits.watchProgressNotifyIntervalMs,
    });
    this.addService(defs.Watch, { Watch: this.watch.Watch });
  }

  /** Adds more services (Watch, Lease) before listening. */
  addService(def: grpc.ServiceDefinition, service: grpc.UntypedServiceImplementation): void {
    const impl = this.grpcMetrics.instrument(def, service);
    if (this.ketchGrpc !== undefined) this.ketchGrpc.addService(def, impl);
    else this.grpcServer?.addService(def, impl);
  }

  /**
   * Serves one URL. Connections on a limited URL (the client URLs) count against
   * --experimental-max-client-connections; --listen-metrics-urls are not limited, so /metrics and
   * /health stay reachable while clients hold every slot.
   */
  async listen(url: string, opts: { limited?: boolean } = {}): Promise<void> {
    const limited = opts.limited ?? true;
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`${url}: client URLs are http:// or https://`);
    const secure = u.protocol === 'https:';
    if (secure && this.tls === undefined) {
      throw new Error(`${url}: an https:// client URL needs --cert-file and --key-file (or --auto-tls)`);
    }
    if (!secure && this.tls !== undefined) {
      this.log.warn({ url }, 'the scheme of this client URL is http while key and cert files are given; it serves plain HTTP');
    }
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const net = secure ? this.tlsServer(this.tls as ServerTls, limited) : createNetServer((socket) => this.admit(socket, limited));
    await new Promise<void>((resolve, reject) => {
      net.once('error', (err: NodeJS.ErrnoException) =>
        reject(new Error(`cannot listen for clients on ${url}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`)),
      );
      net.listen(Number(u.port), host, () => resolve());
    });
    this.netServers.push(net);
    this.log.info({ url, ...(secure ? { clientCertAuth: verifiesClients(this.tls as ServerTls) } : {}) }, 'serving client requests (gRPC and HTTP)');
  }

  /**
   * TLS in front of the same sniffing accept(): ALPN offers h2 (gRPC, and HTTP/2 GETs) and
   * http/1.1, and what a connection speaks is still told by its first bytes. A client without a
   * certificate from the trusted CA is dropped before any request is read, as etcd refuses it.
   */
  private tlsServer(tls: ServerTls, limited: boolean): NetServer {
    return createTlsListener(tls, {
      // grpc-js serves no plain HTTP over HTTP/2: with it, a client offering both (curl, browsers)
      // is given http/1.1 (the server's order wins); gRPC clients offer only h2.
      alpn: this.ketchGrpc !== undefined ? ['h2', 'http/1.1'] : ['http/1.1', 'h2'],
      onSecureConnection: (socket) => this.admit(socket, limited),
      onRefused: (remote, reason) => this.log.warn({ remote, reason }, 'rejected client connection'),
    });
  }

  /**
   * Counts a new connection against the limit, or refuses it. Over TLS the slot is taken after the
   * handshake, so the refusal can still be said in words (connection-refusal.ts).
   */
  private admit(socket: Socket, limited: boolean): void {
    if (limited) {
      const release = this.connectionLimit.tryAcquire();
      if (release === undefined) {
        this.refuse(socket);
        return;
      }
      socket.once('close', release);
    }
    this.accept(socket);
  }

  private refuse(socket: Socket): void {
    const max = this.connectionLimit.maxConnections;
    const now = performance.now();
    if (now - this.lastRefusalLogMs >= REFUSAL_LOG_PERIOD_MS) {
      this.lastRefusalLogMs = now;
      this.log.warn(
        { remote: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`, maxClientConnections: max, refusedTotal: this.connectionLimit.refusedTotal },
        'refused client connection: too many client connections (logged at most once per 10 s)',
      );
    }
    if (this.refusing >= REFUSING_MAX) {
      socket.destroy();
      return;
    }
    this.refusing++;
    this.sockets.add(socket);
    socket.once('close', () => {
      this.refusing--;
      this.sockets.delete(socket);
    });
    refuseConnection(socket, tooManyClientConnections(max));
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    // As Go (etcd) does: no Nagle. http2 cannot set it through the authority-fixing wrapper, and
    // Nagle plus the client's delayed ACKs stalled multi-frame responses (watch catch-up) ~40 ms each.
    socket.setNoDelay(true);
    socket.once('close', () => this.sockets.delete(socket));
    socket.once('error', () => socket.destroy());
    // Read until the first 3 bytes are in: "PRI" starts an HTTP/2 (gRPC) connection, anything else
    // is an HTTP/1.1 method. Then hand the socket, with those bytes put back, to the right server.
    let head = Buffer.alloc(0);
    let sniffTimer: NodeJS.Timeout | undefined;
    const handOver = (fixAuthority: boolean): void => {
      clearTimeout(sniffTimer);
      socket.off('data', onData);
      socket.pause();
      socket.unshift(head);
      // Node's http2 session first consumes what is buffered on the socket, then reads natively.
      this.injector?.injectConnection(fixAuthority ? new AuthorityFixingStream(socket) : socket);
    };
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      if (head.length < 3) return;
      if (head.subarray(0, 3).equals(HTTP2_PREFACE.subarray(0, 3))) this.countGrpcBytes(socket);
      else {
        socket.off('data', onData);
        socket.pause();
        socket.unshift(head);
        this.http.emit('connection', socket);
        socket.resume();
        return;
      }
      if (this.ketchGrpc !== undefined) {
        // Our own HTTP/2 decodes any :authority, so no sniffing and no rewriting stream.
        socket.off('data', onData);
        this.ketchGrpc.handleConnection(socket, head);
        return;
      }
      // gRPC: only a connection whose first request carries a URL as :authority (etcdctl 3.4) needs
      // the JS rewriting stream; every other one gets the native socket, which is much cheaper.
      const needsFix = firstRequestNeedsAuthorityFix(head);
      if (needsFix !== undefined) handOver(needsFix);
      else if (head.length > SNIFF_BYTES_MAX) handOver(true);
      else if (sniffTimer === undefined) {
        // Go's gRPC waits for the server's SETTINGS before its first request, which we only send
        // once http2 owns the socket: give such a client the rewriting stream after a short wait.
        sniffTimer = setTimeout(() => handOver(true), SNIFF_WAIT_MS);
      }
    };
    socket.on('data', onData);
    socket.once('close', () => clearTimeout(sniffTimer));
  }

  private async serveHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let out: PlainHttpResponse;
    try {
      out = await this.httpResponse(req.method ?? 'GET', req.url ?? '/');
    } catch (err) {
      this.log.warn({ err, path: req.url }, 'http request failed');
      out = { status: 500, headers: {}, body: '' };
    }
    res.writeHead(out.status, out.headers);
    res.end(out.body);
  }

  /** The HTTP endpoints (/health, /version, /metrics) as etcd answers them, for HTTP/1.1 and HTTP/2. */
  private async httpResponse(method: string, url: string): Promise<PlainHttpResponse> {
    const path = url.split('?')[0];
    if ((path === '/health' || path === '/version') && method !== 'GET') {
      // As etcd's handlers answer.
      return { status: 405, headers: { allow: 'GET', 'content-type': 'text/plain; charset=utf-8' }, body: 'Method Not Allowed\n' };
    }
    if (path === '/health') {
      const ok = await this.checkHealth();
      if (ok) this.server.metrics.healthSuccesses++;
      else this.server.metrics.healthFailures++;
      return { status: ok ? 200 : 503, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ health: String(ok) }) };
    }
    if (path === '/version') {
      return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ etcdserver: SERVER_VERSION, etcdcluster: CLUSTER_VERSION }) };
    }
    if (path === '/metrics') {
      return { status: 200, headers: { 'content-type': PROMETHEUS_CONTENT_TYPE }, body: await renderMetrics(this.server.metrics.registry) };
    }
    return { status: 404, headers: { 'content-type': 'text/plain' }, body: '404 page not found\n' };
  }

  private countGrpcBytes(socket: Socket): void {
    if (this.grpcSockets.has(socket)) return;
    this.grpcSockets.add(socket);
    socket.once('close', () => {
      this.grpcSockets.delete(socket);
      this.grpcBytesRead += socket.bytesRead;
      this.grpcBytesWritten += socket.bytesWritten;
    });
  }

  /** Healthy when there is a leader and a linearizable read goes through (etcd's /health does a QGET). */
  private async checkHealth(): Promise<boolean> {
    if (!this.server.healthy()) return false;
    try {
      await Promise.race([
        this.server.linearizableBarrier(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('health check timed out')), 1000)),
      ]);
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.watch.close();
    const closing = this.netServers.map((n) => new Promise<void>((r) => n.close(() => r())));
    // Ours: GOAWAY first, so clients retry elsewhere instead of seeing a cut connection.
    await this.ketchGrpc?.close(500);
    this.injector?.destroy();
    for (const s of this.sockets) s.destroy();
    await Promise.all(closing);
    this.grpcServer?.forceShutdown();
  }
}

