// The outbound half of the transport for one peer: a queue, and one long-lived client stream
// (Peer.Stream) that carries it in batches.
//
// States: connecting → active (the peer accepted our opening batch) → on any failure backoff →
// connecting again, until close(). A stream is opened when the peer is added and then kept up, so
// isActive() means "we can talk to it now" even between members that have had nothing to say to
// each other (member add/remove health checks ask exactly that).
//
// Batching: at most one write is in grpc-js at a time; whatever is queued meanwhile goes out as one
// MessageBatch when that write completes. An idle stream flushes on setImmediate, so messages sent
// in the same turn of the event loop share a batch without any timer delaying them.
//
// Loss: Raft retransmits, so messages are dropped rather than buffered without bound: when the
// stream breaks (its queue and the write in flight), while waiting to reconnect, and beyond
// maxQueued. Each loss tells the handler once (onUnreachable) until the stream makes progress again.

import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';

import { MessageType, type Message } from '../raft/types.js';
import { peerChannelOptions } from './grpc-options.js';
import { REMOVED_MEMBER_DETAILS } from './peer-service.js';
import { toWireMessage } from './raft-codec.js';
import { peerMethod, type WireAck, type WireMessage, type WireMessageBatch } from './raft-proto.js';
import type { PeerCredentials } from './peer-credentials.js';
import { peerUrlToTarget } from './peer-url.js';
import { countPeerBytes, type TransportCounters } from './transport-counters.js';

const streamMethod = peerMethod('Stream');
/** Reconnect backoff: doubles from `initial` after each failure, up to `max`. */
export const defaultReconnectBackoff = { initialMs: 100, maxMs: 2_000 } as const;

export interface PeerStreamConfig {
  readonly selfId: string;
  readonly clusterId: string;
  readonly peerId: string;
  /** Messages waiting for the next write, beyond which new ones are dropped. */
  readonly maxQueued: number;
  /** How long a new stream may take to be accepted by the peer before it counts as failed. */
  readonly dialTimeoutMs: number;
  /** A batch is cut once its approximate encoded size reaches this (one message always fits). */
  readonly batchBytesMax: number;
  readonly logger: Logger;
  readonly counters: TransportCounters;
  /** TLS for https:// peer URLs. */
  readonly credentials: PeerCredentials;
  /** Told on a later tick (never inside enqueue) that messages to the peer were lost. */
  readonly onUnreachable: () => void;
  /** The peer refused us because this member was removed from the cluster. */
  readonly onRemoved?: () => void;
  readonly reconnectBackoff?: { readonly initialMs: number; readonly maxMs: number };
}

/** `unaddressed`: the peer has no usable URL, so everything sent to it is dropped. */
type StreamState = 'connecting' | 'active' | 'backoff' | 'unaddressed' | 'closed';

/** A cheap upper-ish estimate of a message's encoded size, for cutting batches. */
function approxWireBytes(m: WireMessage): number {
  let bytes = 64 + (m.context?.length ?? 0);
  if (m.entries !== undefined) {
    for (const e of m.entries) bytes += 24 + (e.data?.length ?? 0);
  }
  if (m.snapshot?.data !== undefined) bytes += m.snapshot.data.length;
  return bytes;
}

export class PeerStream {
  private state: StreamState = 'connecting';
  private urls: readonly string[];
  /** The URL the current (or next) attempt dials; moves on after each failure, as etcd's picker. */
  private urlIndex = 0;
  private client: grpc.Client | undefined;
  private call: grpc.ClientWritableStream<WireMessageBatch> | undefined;
  /** Bumped whenever a call is torn down, so late callbacks of an old call are ignored. */
  private generation = 0;
  /** Waiting for the next write, oldest first; never longer than config.maxQueued. */
  private queue: WireMessage[] = [];
  /** A write is in grpc-js; its messages are lost too if the stream breaks before it completes. */
  private writing = false;
  private writingCount = 0;
  /** Messages written since this call was opened and before the peer accepted it: all lost if it refuses. */
  private writtenUnaccepted = 0;
  private flushImmediate: NodeJS.Immediate | undefined;
  private dialTimer: NodeJS.Timeout | undefined;
  private backoffTimer: NodeJS.Timeout | undefined;
  private readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  private backoffMs: number;
  private activeSinceMs: number | undefined;
  /** onUnreachable was called for the current outage; cleared when the stream makes progress. */
  private unreachableReported = false;
  /** The last failure logged, so a peer that stays down logs once, not every backoff. */
  private lastFailure = '';
  private readonly log: Logger;

  constructor(
    private readonly config: PeerStreamConfig,
    urls: readonly string[],
  ) {
    this.urls = urls;
    this.log = config.logger.child({ peer: config.peerId });
    this.backoff = config.reconnectBackoff ?? defaultReconnectBackoff;
    this.backoffMs = this.backoff.initialMs;
    if (urls.length === 0) this.state = 'unaddressed';
    else this.connect();
  }

  get isActive(): boolean {
    return this.state === 'active';
  }

  /** When the current stream was accepted (ms since the epoch), or undefined if it is not active. */
  get activeSince(): number | undefined {
    return this.activeSinceMs;
  }

  get queueLength(): number {
    return this.queue.length;
  }

  /** The host:port the stream dials now (snapshots go there too); undefined without a URL. */
  get target(): string | undefined {
    const url = this.urls[this.urlIndex];
    return url === undefined ? undefined : peerUrlToTarget(url);
  }

  /** The URL the stream dials now; undefined without one. */
  get url(): string | undefined {
    return this.urls[this.urlIndex];
  }

  /** Queues `m` for the peer; never throws, never blocks. */
  enqueue(m: Message): void {
    if (this.state === 'closed') return;
    if (this.state === 'backoff' || this.state === 'unaddressed') {
      this.config.counters.droppedUnreachable++;
      if (m.type === MessageType.Heartbeat) this.config.counters.heartbeatSendFailures++;
      this.reportUnreachable();
      return;
    }
    if (this.queue.length >= this.config.maxQueued) {
      this.config.counters.droppedQueueFull++;
      if (m.type === MessageType.Heartbeat) this.config.counters.heartbeatSendFailures++;
      this.reportUnreachable();
      return;
    }
    let wire: WireMessage;
    try {
      wire = toWireMessage(m);
    } catch (err) {
      this.config.counters.droppedInvalid++;
      this.log.error({ type: m.type, err }, 'dropped a message that cannot be encoded');
      return;
    }
    this.queue.push(wire);
    if (!this.writing && this.flushImmediate === undefined) {
      this.flushImmediate = setImmediate(() => {
        this.flushImmediate = undefined;
        this.flush();
      });
    }
  }

  /** New URLs for the peer; a stream on a URL that is still listed is kept. */
  setUrls(urls: readonly string[]): void {
    if (this.state === 'closed') return;
    const current = this.urls[this.urlIndex];
    this.urls = urls;
    const index = current === undefined ? -1 : urls.indexOf(current);
    this.urlIndex = index >= 0 ? index : 0;
    if (index >= 0) return;
    const lost = this.dropStream();
    this.config.counters.droppedUnreachable += lost;
    if (lost > 0) this.reportUnreachable();
    this.backoffMs = this.backoff.initialMs;
    if (urls.length === 0) {
      this.state = 'unaddressed';
      this.log.warn('peer has no usable URL; dropping what is sent to it');
      return;
    }
    this.log.info({ urls }, 'peer URLs changed; reconnecting');
    this.connect();
  }

  /**
   * The peer has just opened its own stream to us, so it is up again (e.g. restarted): dial now
   * instead of at the end of a backoff of up to 2 s, during which it would hear nothing from us
   * (as leader: no heartbeats, so it cannot serve).
   */
  retryNow(): void {
    if (this.state !== 'backoff') return;
    clearTimeout(this.backoffTimer);
    this.backoffTimer = undefined;
    this.backoffMs = this.backoff.initialMs;
    this.connect();
  }

  close(): void {
    if (this.state === 'closed') return;
    this.dropStream();
    this.state = 'closed';
  }

  private currentUrl(): string {
    const url = this.urls[this.urlIndex];
    if (url === undefined) throw new Error(`peer ${this.config.peerId} has no URL at index ${this.urlIndex}`);
    return url;
  }

  private connect(): void {
    const target = this.target;
    if (target === undefined) throw new Error(`peer ${this.config.peerId}: connect without a URL`);
    this.state = 'connecting';
    this.unreachableReported = false;
    const client = new grpc.Client(target, this.config.credentials.forUrl(this.currentUrl()), peerChannelOptions);
    const generation = ++this.generation;
    const method = streamMethod;
    const sent = this.config.counters.peerBytesSent;
    const peerId = this.config.peerId;
    const call = client.makeClientStreamRequest<WireMessageBatch, WireAck>(
      method.path,
      (batch: WireMessageBatch) => {
        const bytes = method.requestSerialize(batch);
        countPeerBytes(sent, peerId, bytes.length);
        return bytes;
      },
      method.responseDeserialize,
      (err) => this.onCallEnded(generation, err),
    );
    // The receiver answers the opening batch with response headers once it has accepted us.
    call.on('metadata', () => this.onAccepted(generation));
    // Failures arrive through the callback above; this only keeps a stray 'error' from throwing.
    call.on('error', () => undefined);
    this.client = client;
    this.call = call;
    this.dialTimer = setTimeout(() => {
      this.dialTimer = undefined;
      if (generation === this.generation && this.state === 'connecting') {
        this.breakStream(`not accepted within ${this.config.dialTimeoutMs} ms`, false);
      }
    }, this.config.dialTimeoutMs);
    this.dialTimer.unref();
    this.write([]);
  }

  private onAccepted(generation: number): void {
    if (generation !== this.generation || this.state !== 'connecting') return;
    clearTimeout(this.dialTimer);
    this.dialTimer = undefined;
    this.state = 'active';
    this.writtenUnaccepted = 0;
    this.activeSinceMs = Date.now();
    this.backoffMs = this.backoff.initialMs;
    this.unreachableReported = false;
    this.lastFailure = '';
    this.log.info({ url: this.currentUrl() }, 'peer stream active');
  }

  private onCallEnded(generation: number, err: grpc.ServiceError | null): void {
    if (generation !== this.generation || this.state === 'closed') return;
    if (err === null) {
      this.breakStream('peer ended the stream', false);
      return;
    }
    const rejected = err.code === grpc.status.FAILED_PRECONDITION;
    this.breakStream(`${grpc.status[err.code] ?? err.code}: ${err.details}`, rejected);
    if (rejected && err.details.startsWith(REMOVED_MEMBER_DETAILS)) this.config.onRemoved?.();
  }

  private flush(): void {
    if (this.writing || this.queue.length === 0 || this.call === undefined) return;
    const queue = this.queue;
    let count = 0;
    let bytes = 0;
    for (; count < queue.length; count++) {
      const size = approxWireBytes(queue[count] as WireMessage);
      if (count > 0 && bytes + size > this.config.batchBytesMax) break;
      bytes += size;
    }
    if (count === queue.length) {
      this.queue = [];
      this.write(queue);
    } else {
      this.queue = queue.slice(count);
      this.write(queue.slice(0, count));
    }
  }

  private write(messages: readonly WireMessage[]): void {
    const call = this.call;
    if (call === undefined) return;
    const generation = this.generation;
    this.writing = true;
    this.writingCount = messages.length;
    if (this.state === 'connecting') this.writtenUnaccepted += messages.length;
    this.config.counters.streamWrites++;
    this.config.counters.messagesSent += messages.length;
    const batch: WireMessageBatch = {
      clusterId: this.config.clusterId,
      from: this.config.selfId,
      to: this.config.peerId,
      messages,
    };
    call.write(batch, () => this.onWritten(generation));
  }

  private onWritten(generation: number): void {
    if (generation !== this.generation) return;
    this.writing = false;
    this.writingCount = 0;
    if (this.state === 'active') this.unreachableReported = false;
    this.flush();
  }

  /** Ends the current call and forgets everything queued for it. */
  private dropStream(): number {
    const lost = this.queue.length + (this.state === 'connecting' ? this.writtenUnaccepted : this.writingCount);
    this.generation++;
    clearTimeout(this.dialTimer);
    clearTimeout(this.backoffTimer);
    if (this.flushImmediate !== undefined) clearImmediate(this.flushImmediate);
    this.dialTimer = undefined;
    this.backoffTimer = undefined;
    this.flushImmediate = undefined;
    this.call?.cancel();
    this.client?.close();
    this.call = undefined;
    this.client = undefined;
    this.queue = [];
    this.writing = false;
    this.writingCount = 0;
    this.writtenUnaccepted = 0;
    this.activeSinceMs = undefined;
    return lost;
  }

  private breakStream(reason: string, rejected: boolean): void {
    const wasActive = this.state === 'active';
    const url = this.currentUrl();
    const lost = this.dropStream();
    const counters = this.config.counters;
    counters.streamBreaks++;
    counters.droppedUnreachable += lost;
    if (wasActive || lost > 0) this.reportUnreachable();

    const fields = { url, reason, lostMessages: lost, retryInMs: this.backoffMs };
    if (rejected) {
      // Another cluster or another member at this URL: a configuration error, not a network blip.
      if (reason !== this.lastFailure) this.log.error(fields, 'peer rejected our stream');
    } else if (wasActive) {
      this.log.warn(fields, 'lost peer stream');
    } else if (reason !== this.lastFailure) {
      this.log.warn(fields, 'cannot reach peer');
    } else {
      this.log.debug(fields, 'cannot reach peer');
    }
    this.lastFailure = reason;

    this.urlIndex = (this.urlIndex + 1) % this.urls.length;
    this.state = 'backoff';
    const delayMs = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.backoff.maxMs);
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = undefined;
      if (this.state === 'backoff') this.connect();
    }, delayMs);
    this.backoffTimer.unref();
  }

  private reportUnreachable(): void {
    if (this.unreachableReported) return;
    this.unreachableReported = true;
    // Deferred: the caller may be in the middle of handling a Ready and must not be re-entered.
    process.nextTick(() => {
      if (this.state !== 'closed') this.config.onUnreachable();
    });
  }
}
