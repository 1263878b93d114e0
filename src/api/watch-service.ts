import { type MethodDefinition, type ServerDuplexStream, status as GrpcStatus } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { KetchServer } from '../server/ketch-server.js';
import { num } from '../server/etcd-convert.js';
import type { Event } from '../mvcc/types.js';
import type { Watcher, WatchFilter, WatchTarget } from '../server/watch-hub.js';
import { EtcdErrors } from '../util/etcd-errors.js';
import { requestToken } from './auth-context.js';
import type { Msg } from './grpc-handler.js';
import { etcdServiceDefinitions } from './etcd-proto.js';
import { installWatchCodec, WatchEventsReply } from './watch-codec.js';

/** etcd's default --experimental-watch-progress-notify-interval. */
export const DEFAULT_PROGRESS_NOTIFY_INTERVAL_MS = 10 * 60 * 1000;
/** Watches one stream may hold by default (the kube-apiserver needs about one per resource kind). */
export const DEFAULT_MAX_WATCHES_PER_STREAM = 10_000;
/** Election timeouts without a leader before streams that require one are cut (etcd: maxNoLeaderCnt). */
const MAX_NO_LEADER_COUNT = 3;
/** grpc's framing on top of the request limit, as etcd adds it to the fragment size. */
const GRPC_OVERHEAD_BYTES = 512 * 1024;
/** Rough protobuf overhead per event and per response, for fragmenting and buffer accounting. */
const EVENT_OVERHEAD_BYTES = 48;
const RESPONSE_OVERHEAD_BYTES = 64;

const ERR_EMPTY_RANGE = 'mvcc: watcher range is empty';
const ERR_DUPLICATE_ID = 'mvcc: duplicate watch ID provided on the WatchStream';
/** etcd puts the gRPC error's full text in cancel_reason. */
const PERMISSION_DENIED_REASON = 'rpc error: code = PermissionDenied desc = etcdserver: permission denied';

export interface WatchServiceOptions {
  maxRequestBytes: number;
  /** Watches one stream may hold (etcd has no limit); more are canceled at creation. */
  maxWatchesPerStream?: number;
  electionTimeoutMs: number;
  /** Periodic progress notifications for watches created with progress_notify (etcd: 10 min). */
  progressNotifyIntervalMs?: number;
  /** A stream's buffer of event responses not yet written to the socket (etcd's chanBufLen: 1024). */
  streamBufferResponsesMax?: number;
  streamBufferBytesMax?: number;
}

/**
 * etcdserverpb.Watch: one bidirectional stream carries many watches (etcd's v3rpc/watch.go
 * serverWatchStream plus mvcc's watchStream). The server's WatchHub decides what each watcher gets;
 * this side keeps the stream's watch IDs and options, turns batches into WatchResponses and writes
 * them in order through a bounded buffer that refuses batches when the client reads too slowly.
 */
export function watchService(server: KetchServer, log: Logger, opts: WatchServiceOptions) {
  // Event responses are written by src/api/watch-codec.ts, each event encoded once for all watchers.
  installWatchCodec(etcdServiceDefinitions().Watch.Watch as MethodDefinition<unknown, unknown>);
  const monitor = new LeaderMonitor(server, opts.electionTimeoutMs);
  return {
    Watch: (call: ServerDuplexStream<Msg, Msg>): void => {
      const requireLeader = call.metadata.get('hasleader')[0] === 'true';
      if (requireLeader && server.leaderId() === '') {
        call.emit('error', { code: EtcdErrors.noLeader.grpcCode, details: EtcdErrors.noLeader.message });
        return;
      }
      const stream = new WatchStream(server, log, call, opts);
      if (requireLeader) monitor.add(stream);
      stream.onClose = () => monitor.delete(stream);
    },
    /** Stops the leader monitor's timer (the listener is closing). */
    close: (): void => monitor.stop(),
  };
}

interface StreamWatch {
  readonly id: number;
  /** Undefined for a watch canceled as compacted at creation (its ID stays taken all the same). */
  readonly watcher: Watcher | undefined;
  readonly prevKv: boolean;
  readonly fragment: boolean;
  readonly progressNotify: boolean;
  /** etcd's sws.progress[id]: no events went out since the last progress tick. */
  progressDue: boolean;
  /** Canceled by compaction: the ID stays taken until the client cancels it, as in etcd. */
  compacted: boolean;
}

interface Queued {
  readonly msg: Msg | WatchEventsReply;
  /** Counted against the buffer limits (event and progress responses; control ones are not). */
  readonly bytes: number;
}

/** One Watch call. */
class WatchStream implements WatchTarget {
  private readonly watches = new Map<number, StreamWatch>();
  private nextId = 0;
  private readonly queue: Queued[] = [];
  private queueHead = 0;
  private bufferedResponses = 0;
  private bufferedBytes = 0;
  private waitingDrain = false;
  private closed = false;
  /** A progress request waits until every watcher of the stream is synced (etcd 3.4.25+/3.5.8+). */
  private progressRequested = false;
  private readonly ticker: NodeJS.Timeout | undefined;
  private readonly maxResponses: number;
  private readonly maxWatches: number;
  private readonly maxBytes: number;
  private readonly fragmentBytes: number;
  onClose: () => void = () => {};

  constructor(
    private readonly server: KetchServer,
    private readonly log: Logger,
    private readonly call: ServerDuplexStream<Msg, Msg>,
    opts: WatchServiceOptions,
  ) {
    this.maxResponses = opts.streamBufferResponsesMax ?? 1024;
    this.maxWatches = opts.maxWatchesPerStream ?? DEFAULT_MAX_WATCHES_PER_STREAM;
    this.maxBytes = opts.streamBufferBytesMax ?? 16 * 1024 * 1024;
    this.fragmentBytes = opts.maxRequestBytes + GRPC_OVERHEAD_BYTES;
    const interval = opts.progressNotifyIntervalMs ?? DEFAULT_PROGRESS_NOTIFY_INTERVAL_MS;
    if (interval > 0) {
      // etcd adds up to a tenth of jitter so streams created together do not tick together.
      this.ticker = setInterval(() => this.progressTick(), interval + Math.floor(Math.random() * (interval / 10)));
      this.ticker.unref();
    }
    call.on('data', (req: Msg) => this.onRequest(req));
    call.on('error', () => this.close());
    call.on('cancelled', () => this.close());
    call.on('close', () => this.close());
    // A client that half-closes keeps receiving (etcd's recvLoop ends, the stream lives on).
    call.on('end', () => undefined);
  }

  private get hub() {
    return this.server.watchHub;
  }

  // ---- Requests.

  private onRequest(req: Msg): void {
    if (this.closed) return;
    try {
      switch (req.request_union) {
        case 'create_request':
          this.create(req.create_request as Msg);
          break;
        case 'cancel_request':
          this.cancel(num((req.cancel_request as Msg).watch_id));
          break;
        case 'progress_request':
          this.progressRequested = true;
          this.maybeSendRequestedProgress();
          break;
        default:
          break; // etcd ignores what it does not know
      }
    } catch (err) {
      this.log.warn({ err }, 'bad watch request');
      this.controlResponse({ header: this.header(), watch_id: '-1', created: true, canceled: true, cancel_reason: (err as Error).message });
    }
  }

  private create(c: Msg): void {
    let key = buf(c.key);
    let rangeEnd = buf(c.range_end);
    if (key.length === 0) key = Buffer.from([0]); // "\0" is the smallest key
    const fromKey = rangeEnd.length === 1 && rangeEnd[0] === 0;
    if (rangeEnd.length > 0 && !fromKey && Buffer.compare(key, rangeEnd) >= 0) {
      this.refuse(ERR_EMPTY_RANGE);
      return;
    }
    if (this.watches.size >= this.maxWatches) {
      this.refuse(`etcdserver: too many watches on one stream (at most ${this.maxWatches}); open another stream`);
      return;
    }
    if (!this.isWatchPermitted(key, rangeEnd)) {
      // As etcd: answered with the requested ID, created and canceled at once.
      this.controlResponse({ header: this.header(), watch_id: String(num(c.watch_id)), created: true, canceled: true, cancel_reason: PERMISSION_DENIED_REASON });
      return;
    }
    let id = num(c.watch_id);
    if (id === 0) {
      while (this.watches.has(this.nextId)) this.nextId++;
      id = this.nextId++;
    } else if (this.watches.has(id)) {
      this.refuse(ERR_DUPLICATE_ID);
      return;
    }
    let start = num(c.start_revision);
    const filters = (Array.isArray(c.filters) ? c.filters : []).filter(
      (f): f is WatchFilter => f === 'NOPUT' || f === 'NODELETE',
    );
    // The created response goes first; the hub hands out events only later (on notify or a sync round).
    this.controlResponse({ header: this.header(), watch_id: String(id), created: true });
    if (start < 0) {
      // etcd 3.4 lets it through to the store, which cancels it as compacted when it is below the
      // compacted revision (-1 before any compaction), and otherwise watches from the next revision.
      const compactRev = this.server.mvcc.compactRevision > 0 ? this.server.mvcc.compactRevision : -1;
      if (start < compactRev) {
        this.controlResponse({ header: this.header(0), watch_id: String(id), canceled: true, compact_revision: String(compactRev) });
        this.watches.set(id, { id, watcher: undefined, prevKv: false, fragment: false, progressNotify: false, progressDue: false, compacted: true });
        return;
      }
      start = 0;
    }
    const watcher = this.hub.watch({ id, key, rangeEnd, startRevision: start, filters, prevKv: c.prev_kv === true, target: this });
    this.watches.set(id, {
      id,
      watcher,
      prevKv: c.prev_kv === true,
      fragment: c.fragment === true,
      progressNotify: c.progress_notify === true,
      progressDue: true,
      compacted: false,
    });
  }

  /** Read access to the watched range for the stream's token (etcd's isWatchPermitted). */
  private isWatchPermitted(key: Buffer, rangeEnd: Buffer): boolean {
    const auth = this.server.auth;
    const token = requestToken(this.call);
    if (!auth.enabled && token === undefined) return true;
    try {
      auth.checkRange(this.server.authInfoNow(token), key, rangeEnd);
      return true;
    } catch {
      return false;
    }
  }

  private refuse(reason: string): void {
    this.controlResponse({ header: this.header(), watch_id: '-1', created: true, canceled: true, cancel_reason: reason });
  }

  private cancel(id: number): void {
    const sw = this.watches.get(id);
    if (sw === undefined) return; // etcd answers nothing for an unknown ID
    if (sw.watcher !== undefined) this.hub.cancel(sw.watcher);
    this.watches.delete(id);
    this.controlResponse({ header: this.header(), watch_id: String(id), canceled: true });
    this.maybeSendRequestedProgress();
  }

  // ---- What the hub hands us (WatchTarget).

  offer(w: Watcher, events: Event[], revision: number): boolean {
    if (this.closed) return true; // the watchers are being canceled
    const sw = this.watches.get(w.id);
    if (sw === undefined || sw.watcher !== w) return true;
    if (this.bufferedResponses > 0 && (this.bufferedResponses >= this.maxResponses || this.bufferedBytes >= this.maxBytes)) {
      return false;
    }
    const compactRev = this.server.mvcc.compactRevision;
    const withPrev: boolean[] = [];
    const sizes: number[] = [];
    let total = RESPONSE_OVERHEAD_BYTES;
    for (const e of events) {
      // prev_kv as etcd's sendLoop finds it: for a non-create event, the key at mod_revision - 1,
      // which is gone once that revision is compacted.
      const prev = sw.prevKv && e.prevKv !== undefined && !isCreate(e) && e.kv.modRevision - 1 >= compactRev;
      withPrev.push(prev);
      const size = eventSize(e, prev);
      sizes.push(size);
      total += size;
    }
    const header = this.server.header(revision);
    if (!sw.fragment || total < this.fragmentBytes || events.length < 2) {
      this.enqueue(new WatchEventsReply(header, w.id, events, withPrev, false), total);
    } else {
      // etcd's sendFragments: as many events per response as fit, `fragment` on all but the last.
      let i = 0;
      while (i < events.length) {
        const from = i;
        let size = RESPONSE_OVERHEAD_BYTES;
        while (i < events.length && (i === from || size + (sizes[i] as number) < this.fragmentBytes)) {
          size += sizes[i] as number;
          i++;
        }
        this.enqueue(new WatchEventsReply(header, w.id, events.slice(from, i), withPrev.slice(from, i), i < events.length), size);
      }
    }
    if (events.length > 0) sw.progressDue = false;
    this.flush();
    return true;
  }

  compacted(w: Watcher, compactRevision: number): void {
    const sw = this.watches.get(w.id);
    if (this.closed || sw === undefined || sw.watcher !== w) return;
    sw.compacted = true;
    // etcd sends it with an empty header revision and canceled set, and no cancel_reason.
    this.controlResponse({ header: this.header(0), watch_id: String(w.id), canceled: true, compact_revision: String(compactRevision) });
    this.maybeSendRequestedProgress();
  }

  synced(): void {
    this.maybeSendRequestedProgress();
  }

  // ---- Progress.

  /** etcd's progress ticker: a watch with progress_notify and no events since the last tick gets one. */
  private progressTick(): void {
    if (this.closed) return;
    for (const sw of this.watches.values()) {
      if (!sw.progressNotify || sw.compacted || sw.watcher === undefined) continue;
      if (sw.progressDue && this.hub.isSynced(sw.watcher) && this.bufferedResponses < this.maxResponses) {
        this.enqueue({ header: this.header(), watch_id: String(sw.id), events: [] }, RESPONSE_OVERHEAD_BYTES);
      }
      sw.progressDue = true;
    }
    this.flush();
  }

  /** Answers a WatchProgressRequest once every watcher here has been given everything up to the hub's revision. */
  private maybeSendRequestedProgress(): void {
    if (!this.progressRequested || this.closed) return;
    for (const sw of this.watches.values()) if (!sw.compacted && sw.watcher !== undefined && !this.hub.isSynced(sw.watcher)) return;
    this.progressRequested = false;
    this.controlResponse({ header: this.header(), watch_id: '-1' });
  }

  // ---- Writing.

  private header(revision?: number): Msg {
    return { ...this.server.header(revision ?? this.hub.revision) };
  }

  private controlResponse(msg: Msg): void {
    if (this.closed) return;
    this.queue.push({ msg, bytes: 0 });
    this.flush();
  }

  private enqueue(msg: Msg | WatchEventsReply, bytes: number): void {
    this.queue.push({ msg, bytes });
    this.bufferedResponses++;
    this.bufferedBytes += bytes;
  }

  /** Writes queued responses until grpc-js's own buffer is full, then waits for 'drain'. */
  private flush(): void {
    while (!this.waitingDrain && !this.closed && this.queueHead < this.queue.length) {
      const item = this.queue[this.queueHead] as Queued;
      this.queue[this.queueHead] = undefined as unknown as Queued;
      this.queueHead++;
      if (item.bytes > 0) {
        this.bufferedResponses--;
        this.bufferedBytes -= item.bytes;
      }
      // A WatchEventsReply is written by the definition's serializer (installWatchCodec).
      if (!this.call.write(item.msg as Msg)) {
        this.waitingDrain = true;
        this.call.once('drain', () => {
          this.waitingDrain = false;
          this.flush();
          this.hub.kickVictims();
        });
      }
    }
    if (this.queueHead > 256 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
  }

  /** Ends the stream with an error status (pending responses are dropped). */
  fail(code: GrpcStatus, details: string): void {
    if (this.closed) return;
    this.close();
    this.call.emit('error', { code, details });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ticker !== undefined) clearInterval(this.ticker);
    for (const sw of this.watches.values()) if (sw.watcher !== undefined) this.hub.cancel(sw.watcher);
    this.watches.clear();
    this.queue.length = 0;
    this.queueHead = 0;
    this.onClose();
  }
}

/**
 * etcd's monitorLeader: streams whose client asked for a leader (metadata hasleader=true, as etcdctl
 * and clientv3's WithRequireLeader send) are cut with "etcdserver: no leader" once the member has had
 * no leader for MAX_NO_LEADER_COUNT election timeouts in a row.
 */
class LeaderMonitor {
  private readonly streams = new Set<WatchStream>();
  private timer: NodeJS.Timeout | undefined;
  private noLeaderCount = 0;

  constructor(
    private readonly server: KetchServer,
    private readonly electionTimeoutMs: number,
  ) {}

  add(s: WatchStream): void {
    this.streams.add(s);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.check(), this.electionTimeoutMs);
      this.timer.unref();
    }
  }

  delete(s: WatchStream): void {
    this.streams.delete(s);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private check(): void {
    if (this.server.leaderId() === '') this.noLeaderCount++;
    else this.noLeaderCount = 0;
    if (this.noLeaderCount < MAX_NO_LEADER_COUNT) return;
    const streams = [...this.streams];
    this.streams.clear();
    for (const s of streams) s.fail(EtcdErrors.noLeader.grpcCode, EtcdErrors.noLeader.message);
  }
}

function buf(v: unknown): Buffer {
  return Buffer.isBuffer(v) ? v : v instanceof Uint8Array ? Buffer.from(v) : Buffer.alloc(0);
}

function isCreate(e: Event): boolean {
  return e.type === 'PUT' && e.kv.createRevision === e.kv.modRevision;
}

/** Roughly an event's bytes on the wire, for fragmenting and buffer accounting. */
function eventSize(e: Event, withPrev: boolean): number {
  const prev = withPrev && e.prevKv !== undefined ? e.prevKv.key.length + e.prevKv.value.length + EVENT_OVERHEAD_BYTES : 0;
  return e.kv.key.length + e.kv.value.length + EVENT_OVERHEAD_BYTES + prev;
}
