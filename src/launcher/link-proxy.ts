// A TCP proxy that a test harness or the launcher controls, for cutting and slowing peer links.
//
// Two ways to use it:
// - One proxy per directed link (ketch: each member dials its peers through the proxies named in
//   KETCH_PEER_DIAL_OVERRIDES). Every connection then belongs to that link.
// - One inbound proxy per member, advertised as its peer URL, with `identify` naming the member a
//   connection comes from (etcd: every rafthttp request carries `X-Server-From: <member id>`), so
//   connections from chosen members can be cut.
//
// A cut either drops (the connection stays open but nothing moves, as when packets are lost: data
// waits in the kernel's buffers and flows again after heal, unless a side gave up meanwhile) or
// resets (connections are destroyed at once and new ones closed on accept).

import { createConnection, createServer, type Server, type Socket } from 'node:net';

export type CutMode = 'drop' | 'reset';

/**
 * Names the source of a connection from its first bytes: a name, null when the bytes are enough to
 * know the source cannot be told, or undefined when more bytes are needed.
 */
export type SourceIdentifier = (head: Buffer) => string | null | undefined;

export interface LinkProxyOptions {
  readonly targetHost: string;
  readonly targetPort: number;
  /** Default 127.0.0.1. */
  readonly listenHost?: string;
  /** Default 0 (any free port). */
  readonly listenPort?: number;
  readonly identify?: SourceIdentifier;
}

export interface LinkProxyStats {
  accepted: number;
  /** Connections destroyed by a reset cut (existing ones and refused new ones). */
  reset: number;
  /** Connections held by a drop cut right now. */
  held: number;
  open: number;
  bytes: number;
}

/** After one side closed, how long the other may take to flush before it is destroyed. */
const finishGraceMs = 1_000;
/** The head of a connection is searched for its source in at most this many bytes. */
const identifyLimitBytes = 16 * 1024;

interface Conn {
  readonly inbound: Socket;
  outbound: Socket | undefined;
  /** undefined while still identifying; '' when the source is unknown or not asked for. */
  source: string | undefined;
  head: Buffer[];
  held: boolean;
  /** Writes delayed by setDelay, per direction, in order. */
  delayed: { toTarget: DelayedChunk[]; toSource: DelayedChunk[] };
  timer: NodeJS.Timeout | undefined;
}

interface DelayedChunk {
  readonly due: number;
  readonly data: Buffer;
}

/** A rafthttp request's `X-Server-From` header (etcd 3.4 peers speak HTTP/1.1). */
export const etcdServerFromIdentifier: SourceIdentifier = (head) => {
  const text = head.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const match = /\r\nX-Server-From:[ \t]*([0-9a-fA-F]+)[ \t]*\r\n/i.exec(end < 0 ? text : text.slice(0, end + 2));
  if (match !== null) return (match[1] as string).toLowerCase();
  return end < 0 ? undefined : null;
};

export class LinkProxy {
  private readonly conns = new Set<Conn>();
  /** Sources cut right now: every connection ('all') or the named ones. */
  private cutSources: 'all' | ReadonlySet<string> | undefined;
  private cutMode: CutMode = 'drop';
  private delayMs = 0;
  private closed = false;
  private readonly counters = { accepted: 0, reset: 0, bytes: 0 };

  private constructor(
    private readonly server: Server,
    private readonly opts: LinkProxyOptions,
    readonly host: string,
    readonly port: number,
  ) {}

  /** Listens, then resolves. Rejects if the address cannot be bound. */
  static async start(opts: LinkProxyOptions): Promise<LinkProxy> {
    const server = createServer({ noDelay: true, pauseOnConnect: true });
    const host = opts.listenHost ?? '127.0.0.1';
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: opts.listenPort ?? 0, exclusive: true }, () => {
        server.off('error', reject);
        const address = server.address();
        if (address === null || typeof address === 'string') reject(new Error(`unexpected proxy address ${String(address)}`));
        else resolve(address.port);
      });
    });
    const proxy = new LinkProxy(server, opts, host, port);
    server.on('connection', (socket) => proxy.accept(socket));
    return proxy;
  }

  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  /** Whether connections from `source` ('' = unknown or any) are cut now. */
  isCut(source = ''): boolean {
    const cut = this.cutSources;
    if (cut === undefined) return false;
    return cut === 'all' || cut.has(source);
  }

  /**
   * Cuts the connections from `sources` (every connection when omitted), existing and new, until
   * heal(). Replaces any earlier cut.
   */
  cut(mode: CutMode, sources?: readonly string[]): void {
    this.cutMode = mode;
    this.cutSources = sources === undefined ? 'all' : new Set(sources);
    for (const conn of [...this.conns]) {
      if (conn.source !== undefined && this.isCut(conn.source)) this.block(conn);
    }
  }

  /** Lets everything through again; connections held by a drop cut resume where they stopped. */
  heal(): void {
    this.cutSources = undefined;
    for (const conn of [...this.conns]) if (conn.held) this.release(conn);
  }

  /** Every chunk is delivered this much later (order kept); 0 turns it off. */
  setDelay(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`delay must be a non-negative number of ms, got ${ms}`);
    this.delayMs = ms;
  }

  stats(): LinkProxyStats {
    let held = 0;
    for (const c of this.conns) if (c.held) held++;
    return { ...this.counters, held, open: this.conns.size };
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const conn of [...this.conns]) this.destroy(conn);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(inbound: Socket): void {
    if (this.closed) {
      inbound.destroy();
      return;
    }
    this.counters.accepted++;
    inbound.setNoDelay(true);
    const conn: Conn = {
      inbound,
      outbound: undefined,
      source: this.opts.identify === undefined ? '' : undefined,
      head: [],
      held: false,
      delayed: { toTarget: [], toSource: [] },
      timer: undefined,
    };
    this.conns.add(conn);
    inbound.on('error', () => this.destroy(conn));
    inbound.on('close', () => this.finish(conn));
    inbound.on('data', (data: Buffer) => this.fromSource(conn, data));
    if (conn.source === undefined) {
      inbound.resume();
      return;
    }
    this.route(conn);
  }

  /** The source is known: hold, refuse or connect. */
  private route(conn: Conn): void {
    if (this.isCut(conn.source)) this.block(conn);
    else this.connectTarget(conn);
  }

  private fromSource(conn: Conn, data: Buffer): void {
    this.counters.bytes += data.length;
    if (conn.source === undefined) {
      conn.head.push(data);
      const head = Buffer.concat(conn.head);
      conn.head = [head];
      const identify = this.opts.identify as SourceIdentifier;
      const found = identify(head);
      if (found === undefined && head.length < identifyLimitBytes) return;
      conn.source = found ?? '';
      conn.inbound.pause();
      this.route(conn);
      return;
    }
    if (conn.outbound === undefined) {
      conn.head.push(data);
      return;
    }
    this.forward(conn, 'toTarget', data);
  }

  private connectTarget(conn: Conn): void {
    const outbound = createConnection({ host: this.opts.targetHost, port: this.opts.targetPort, noDelay: true });
    conn.outbound = outbound;
    outbound.on('error', () => this.destroy(conn));
    outbound.on('close', () => this.finish(conn));
    outbound.on('data', (data: Buffer) => {
      this.counters.bytes += data.length;
      this.forward(conn, 'toSource', data);
    });
    const head = conn.head;
    conn.head = [];
    for (const chunk of head) this.forward(conn, 'toTarget', chunk);
    if (!conn.held) conn.inbound.resume();
  }

  private forward(conn: Conn, direction: 'toTarget' | 'toSource', data: Buffer): void {
    if (this.delayMs === 0 && conn.delayed[direction].length === 0 && !conn.held) {
      this.write(conn, direction, data);
      return;
    }
    const queue = conn.delayed[direction];
    const last = queue[queue.length - 1];
    queue.push({ due: Math.max(Date.now() + this.delayMs, last?.due ?? 0), data });
    this.scheduleDelayed(conn);
  }

  private write(conn: Conn, direction: 'toTarget' | 'toSource', data: Buffer): void {
    const [from, to] = direction === 'toTarget' ? [conn.inbound, conn.outbound] : [conn.outbound, conn.inbound];
    if (to === undefined || from === undefined || to.destroyed) return;
    if (!to.write(data)) {
      // Backpressure: stop reading the other side until this one drains (unless a cut holds it).
      from.pause();
      to.once('drain', () => {
        if (!conn.held) from.resume();
      });
    }
  }

  private scheduleDelayed(conn: Conn): void {
    if (conn.timer !== undefined || conn.held) return;
    const next = Math.min(conn.delayed.toTarget[0]?.due ?? Infinity, conn.delayed.toSource[0]?.due ?? Infinity);
    if (next === Infinity) return;
    conn.timer = setTimeout(() => {
      conn.timer = undefined;
      if (conn.held || !this.conns.has(conn)) return;
      const now = Date.now();
      for (const direction of ['toTarget', 'toSource'] as const) {
        const queue = conn.delayed[direction];
        while (queue.length > 0 && (queue[0] as DelayedChunk).due <= now) {
          this.write(conn, direction, (queue.shift() as DelayedChunk).data);
        }
      }
      this.scheduleDelayed(conn);
    }, Math.max(0, next - Date.now()));
  }

  private block(conn: Conn): void {
    if (this.cutMode === 'reset') {
      this.counters.reset++;
      this.destroy(conn);
      return;
    }
    if (conn.held) return;
    conn.held = true;
    clearTimeout(conn.timer);
    conn.timer = undefined;
    conn.inbound.pause();
    conn.outbound?.pause();
  }

  private release(conn: Conn): void {
    conn.held = false;
    if (conn.outbound === undefined) {
      this.connectTarget(conn);
      return;
    }
    // What was read before the cut goes first, then the sockets flow again.
    for (const direction of ['toTarget', 'toSource'] as const) {
      const queue = conn.delayed[direction];
      if (this.delayMs === 0) {
        for (const chunk of queue.splice(0)) this.write(conn, direction, chunk.data);
      }
    }
    this.scheduleDelayed(conn);
    conn.inbound.resume();
    conn.outbound.resume();
  }

  /** One side closed cleanly: let the other flush what it was given, then drop both. */
  private finish(conn: Conn): void {
    if (!this.conns.has(conn)) return;
    if (conn.held || conn.delayed.toTarget.length > 0 || conn.delayed.toSource.length > 0) {
      this.destroy(conn);
      return;
    }
    conn.inbound.end();
    conn.outbound?.end();
    setTimeout(() => this.destroy(conn), finishGraceMs).unref();
  }

  private destroy(conn: Conn): void {
    if (!this.conns.delete(conn)) return;
    clearTimeout(conn.timer);
    conn.inbound.destroy();
    conn.outbound?.destroy();
  }
}
