// Carries Raft messages between members over gRPC on the peer URLs (proto/ketch/raft.proto).
//
// Outbound: one PeerStream per peer (queue, batches, reconnect with backoff); Snap messages go on
// their own unary call and connection so a large snapshot never holds up heartbeats.
// Inbound: PeerService on the server bound by listen().
// Nothing here throws into or blocks the Raft loop: send() only queues, and the handler's
// onUnreachable/onSnapshotStatus are called on later ticks, never from inside send().

import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { pino, type Logger } from 'pino';

import { createTlsListener, type ServerTls } from '../tls/tls-listener.js';
import { ConnectionLimit } from '../util/connection-limit.js';

import { type Message, MessageType } from '../raft/types.js';
import { peerChannelOptions, peerServerOptions } from './grpc-options.js';
import { PeerCredentials } from './peer-credentials.js';
import { PeerProber } from './peer-prober.js';
import type { ClusterMember } from './peer-discovery.js';
import { PeerService } from './peer-service.js';
import { PeerStream } from './peer-stream.js';
import { dialUrl, isSecurePeerUrl, peerUrlToTarget } from './peer-url.js';
import { toWireMessage } from './raft-codec.js';
import { peerMethod, peerServiceDefinition, type WireAck, type WireMessage, type WireSnapshotMessage } from './raft-proto.js';
import { countPeerBytes, newTransportCounters, type TransportCounters } from './transport-counters.js';
import { TransportError, TransportErrorCode } from './transport-error.js';

export interface TransportHandler {
  /** Every received message, in order per sender. */
  onMessage(m: Message): void;
  /** Messages to peerId were lost: a send failed, the stream broke or the peer's queue is full. */
  onUnreachable(peerId: string): void;
  /** A Snap message to peerId was delivered (true) or failed (false). */
  onSnapshotStatus(peerId: string, ok: boolean): void;
  /** Whether a member was removed from the cluster (its streams are then refused, telling it so). */
  isRemoved?(memberId: string): boolean;
  /** A peer refused us because this member was removed from the cluster. */
  onRemovedFromCluster?(): void;
}

export interface PeerTransportOptions {
  /** This member's ID (16 hex digits in a real cluster). */
  readonly selfId: string;
  /** Batches from members of another cluster are refused. */
  readonly clusterId: string;
  readonly handler: TransportHandler;
  readonly logger?: Logger;
  /** Messages waiting for one peer beyond which new ones are dropped (default 4096). */
  readonly maxQueuedPerPeer?: number;
  /** How long a new stream may take to be accepted by the peer (default 2000 ms). */
  readonly dialTimeoutMs?: number;
  /** Approximate encoded size at which a batch is cut (default 4 MiB; one message always fits). */
  readonly batchBytesMax?: number;
  /** Reconnect backoff per peer (default 100 ms doubling to 2 s); tests stretch it. */
  readonly reconnectBackoff?: { readonly initialMs: number; readonly maxMs: number };
  /**
   * The current membership, served on the peer URL to members joining with
   * --initial-cluster-state existing (see discoverCluster). Without it that request is refused.
   */
  readonly members?: () => readonly ClusterMember[];
  /** More gRPC services served on the peer URLs (e.g. the server's PeerLease). */
  readonly services?: ReadonlyArray<{ definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation }>;
  /** Peer URL → URL actually dialled (e.g. a test proxy per link); peers keep their advertised URLs. */
  readonly dialOverrides?: ReadonlyMap<string, string>;
  /**
   * --peer-cert-file/--peer-key-file/--peer-trusted-ca-file/--peer-client-cert-auth: served on
   * https:// peer URLs and shown when dialling https:// peers. Needed to listen on https://.
   */
  readonly tls?: ServerTls;
  /**
   * --experimental-max-peer-connections: connections the peer URLs hold at once; one more is
   * closed at once (default 0: no limit). A member uses a few per peer (stream, snapshots, leases).
   */
  readonly maxConnections?: number;
  /**
   * Called with each measured round trip to a peer (etcd_network_peer_round_trip_time_seconds);
   * without it no probes are sent.
   */
  readonly onRoundTrip?: (peerId: string, seconds: number) => void;
  /** How often peers are probed for round-trip time (default 4000 ms, etcd's prober interval). */
  readonly probeIntervalMs?: number;
}

/** A flood of refused peer connections is logged at most this often. */
const refusalLogPeriodMs = 10_000;
const defaultMaxQueuedPerPeer = 4096;
const defaultDialTimeoutMs = 2_000;
const defaultBatchBytesMax = 4 * 1024 * 1024;
/** A snapshot call may take this long plus one second per MiB before it counts as failed. */
const snapshotBaseTimeoutMs = 30_000;
const snapshotMsPerMiB = 1_000;
/** etcd's rafthttp probes peers every ConnReadTimeout - 1 s = 4 s. */
const defaultProbeIntervalMs = 4_000;

export class PeerTransport {
  private readonly selfId: string;
  private readonly clusterId: string;
  private readonly handler: TransportHandler;
  private readonly logger: Logger;
  private readonly maxQueuedPerPeer: number;
  private readonly dialTimeoutMs: number;
  private readonly reconnectBackoff: { readonly initialMs: number; readonly maxMs: number } | undefined;
  private readonly batchBytesMax: number;
  private readonly counters: TransportCounters = newTransportCounters();
  private readonly peers = new Map<string, PeerStream>();
  private readonly service: PeerService;
  private readonly extraServices: NonNullable<PeerTransportOptions['services']>;
  private readonly dialOverrides: ReadonlyMap<string, string> | undefined;
  private readonly snapshotMethod = peerMethod('SendSnapshot');
  /** Snapshot calls in flight, cancelled by close(). */
  private readonly snapshotCalls = new Set<{ call: grpc.ClientUnaryCall | undefined; client: grpc.Client }>();
  private server: grpc.Server | undefined;
  private readonly credentials: PeerCredentials;
  /** Our listeners (plain and TLS) hand the connections they admit to the gRPC server through this. */
  private injector: grpc.ConnectionInjector | undefined;
  private readonly netServers: NetServer[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly connectionLimit: ConnectionLimit;
  private lastRefusalLogMs = -Infinity;
  /** host:port targets bound (or being bound) on the server. */
  private readonly listeningOn = new Set<string>();
  private readonly prober: PeerProber | undefined;
  private closed = false;

  constructor(opts: PeerTransportOptions) {
    this.selfId = opts.selfId;
    this.clusterId = opts.clusterId;
    this.handler = opts.handler;
    this.logger = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'transport', member: opts.selfId });
    this.maxQueuedPerPeer = positiveInteger(opts.maxQueuedPerPeer ?? defaultMaxQueuedPerPeer, 'maxQueuedPerPeer');
    this.dialTimeoutMs = positiveInteger(opts.dialTimeoutMs ?? defaultDialTimeoutMs, 'dialTimeoutMs');
    this.batchBytesMax = positiveInteger(opts.batchBytesMax ?? defaultBatchBytesMax, 'batchBytesMax');
    this.reconnectBackoff = opts.reconnectBackoff;
    this.extraServices = opts.services ?? [];
    this.dialOverrides = opts.dialOverrides;
    this.credentials = new PeerCredentials(opts.tls);
    this.connectionLimit = new ConnectionLimit(opts.maxConnections ?? 0);
    this.service = new PeerService({
      selfId: this.selfId,
      clusterId: this.clusterId,
      logger: this.logger,
      counters: this.counters,
      onMessage: (m) => this.handler.onMessage(m),
      members: opts.members,
      isRemoved: (id) => this.handler.isRemoved?.(id) === true,
      onPeerStream: (id) => this.peers.get(id)?.retryNow(),
    });
    const onRoundTrip = opts.onRoundTrip;
    if (onRoundTrip !== undefined) {
      const intervalMs = positiveInteger(opts.probeIntervalMs ?? defaultProbeIntervalMs, 'probeIntervalMs');
      this.prober = new PeerProber({
        clusterId: this.clusterId,
        credentials: this.credentials,
        intervalMs,
        timeoutMs: Math.max(intervalMs, this.dialTimeoutMs),
        peers: () => [...this.peers].map(([id, p]) => [id, p.target === undefined || p.url === undefined ? undefined : { target: p.target, url: p.url }] as const),
        observe: onRoundTrip,
      });
      this.prober.start();
    }
  }

  /**
   * Binds the peer gRPC server on a URL such as http://127.0.0.1:2380 (call once per
   * --listen-peer-urls entry). Resolves when listening; rejects with a TransportError
   * (ListenFailed) naming the URL if it cannot bind, e.g. the port is taken.
   */
  async listen(url: string): Promise<void> {
    if (this.closed) throw new TransportError(TransportErrorCode.InvalidState, 'transport is closed');
    const target = peerUrlToTarget(url);
    if (this.listeningOn.has(target)) {
      throw new TransportError(TransportErrorCode.InvalidState, `already listening for peers on ${url}`);
    }
    this.listeningOn.add(target);
    let server = this.server;
    if (server === undefined) {
      server = new grpc.Server(peerServerOptions);
      server.addService(this.countingDefinition(), this.service.handlers());
      for (const s of this.extraServices) server.addService(s.definition, s.implementation);
      this.server = server;
    }
    try {
      await this.listenOn(server, url);
    } catch (err) {
      this.listeningOn.delete(target);
      if (this.listeningOn.size === 0 && this.server === server) {
        server.forceShutdown();
        this.server = undefined;
      }
      throw new TransportError(TransportErrorCode.ListenFailed, `cannot listen for peers on ${url}: ${(err as Error).message}`);
    }
    if (this.closed) throw new TransportError(TransportErrorCode.InvalidState, 'transport was closed while binding');
    this.logger.info({ url }, 'listening for peers');
  }

  /**
   * Our own listener in front of the gRPC server, so that connections are counted against
   * --experimental-max-peer-connections before gRPC sees them. An https:// URL gets our TLS server
   * (etcd's rules for peer certificates, and a log line saying why a peer was refused, which
   * grpc-js's secure server would keep to itself).
   */
  private async listenOn(server: grpc.Server, url: string): Promise<void> {
    const injector = (this.injector ??= server.createConnectionInjector(grpc.ServerCredentials.createInsecure()));
    const admit = (socket: Socket): void => {
      const release = this.connectionLimit.tryAcquire();
      if (release === undefined) {
        this.refuse(socket);
        return;
      }
      this.sockets.add(socket);
      socket.once('close', () => {
        release();
        this.sockets.delete(socket);
      });
      // As etcd (Go) does: no Nagle, so heartbeats and acks are not held back.
      socket.setNoDelay(true);
      injector.injectConnection(socket);
    };
    let listener: NetServer;
    if (isSecurePeerUrl(url)) {
      const tls = this.credentials.tls;
      if (tls === undefined) throw new Error('an https:// peer URL needs --peer-cert-file and --peer-key-file');
      listener = createTlsListener(tls, {
        alpn: ['h2'],
        onSecureConnection: admit,
        onRefused: (remote, reason) => this.logger.warn({ remote, reason }, 'rejected peer connection'),
      });
    } else {
      listener = createNetServer(admit);
    }
    const u = new URL(url);
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(Number(u.port), u.hostname.replace(/^\[|\]$/g, ''), () => {
        listener.off('error', reject);
        resolve();
      });
    });
    this.netServers.push(listener);
  }

  /** Closes a connection beyond --experimental-max-peer-connections, saying so in the log now and then. */
  private refuse(socket: Socket): void {
    const now = performance.now();
    if (now - this.lastRefusalLogMs >= refusalLogPeriodMs) {
      this.lastRefusalLogMs = now;
      this.logger.warn(
        {
          remote: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`,
          maxPeerConnections: this.connectionLimit.maxConnections,
          refusedTotal: this.connectionLimit.refusedTotal,
        },
        'refused peer connection: too many peer connections (logged at most once per 10 s)',
      );
    }
    socket.destroy();
  }

  /** Connections the peer URLs hold now, and how many were refused since start. */
  connectionStats(): { open: number; refusedTotal: number } {
    return { open: this.connectionLimit.open, refusedTotal: this.connectionLimit.refusedTotal };
  }

  /**
   * Starts talking to a peer. Adding a known peer updates its URLs; adding this member is ignored.
   * Never throws: it runs when a conf change is applied, so a URL it cannot dial (e.g. https) is
   * logged and skipped, and a peer left without any has everything sent to it dropped.
   */
  addPeer(id: string, urls: readonly string[]): void {
    if (this.closed || id === this.selfId) return;
    if (this.peers.has(id)) {
      this.updatePeer(id, urls);
      return;
    }
    const stream = new PeerStream(
      {
        selfId: this.selfId,
        clusterId: this.clusterId,
        peerId: id,
        maxQueued: this.maxQueuedPerPeer,
        dialTimeoutMs: this.dialTimeoutMs,
        batchBytesMax: this.batchBytesMax,
        logger: this.logger,
        counters: this.counters,
        credentials: this.credentials,
        onUnreachable: () => this.handler.onUnreachable(id),
        onRemoved: () => this.handler.onRemovedFromCluster?.(),
        reconnectBackoff: this.reconnectBackoff,
      },
      this.usableUrls(id, urls),
    );
    this.peers.set(id, stream);
    this.logger.info({ peer: id, urls }, 'added peer');
  }

  /** New URLs for a known peer (an unknown one is ignored, as etcd does). Never throws, as addPeer. */
  updatePeer(id: string, urls: readonly string[]): void {
    if (this.closed) return;
    this.peers.get(id)?.setUrls(this.usableUrls(id, urls));
  }

  /** Stops talking to a peer and drops what is queued for it. Unknown peers are ignored. */
  removePeer(id: string): void {
    const peer = this.peers.get(id);
    if (peer === undefined) return;
    peer.close();
    this.peers.delete(id);
    this.logger.info({ peer: id }, 'removed peer');
  }

  /**
   * Fire and forget: queues each message for its peer (m.to) and returns. Never throws, never
   * blocks. Messages to unknown peers, and ones that are not valid Raft messages, are dropped and
   * counted.
   */
  send(messages: readonly Message[]): void {
    if (this.closed) return;
    for (const m of messages) {
      const peer = this.peers.get(m.to);
      if (peer === undefined) {
        this.counters.droppedUnknownPeer++;
        continue;
      }
      if (m.type === MessageType.Snap) this.sendSnapshot(peer, m);
      else peer.enqueue(m);
    }
  }

  /** Whether the stream to the peer is up: the peer accepted it and it has not broken since. */
  isActive(peerId: string): boolean {
    return this.peers.get(peerId)?.isActive ?? false;
  }

  /** Since when (ms since the epoch) the stream to the peer has been up; undefined if it is not. */
  activeSince(peerId: string): number | undefined {
    return this.peers.get(peerId)?.activeSince;
  }

  /** The peers and whether the stream to each is up (etcd_network_active_peers). */
  activePeers(): { peerId: string; active: boolean }[] {
    return [...this.peers].map(([peerId, p]) => ({ peerId, active: p.isActive }));
  }

  /** Messages waiting for the peer's next write (0 for an unknown peer). */
  queueLength(peerId: string): number {
    return this.peers.get(peerId)?.queueLength ?? 0;
  }

  /** A copy of the counters. */
  stats(): TransportCounters {
    return { ...this.counters, peerBytesSent: { ...this.counters.peerBytesSent }, peerBytesReceived: { ...this.counters.peerBytesReceived } };
  }

  /** The Peer service with inbound batches and snapshots counted by sender as they are decoded. */
  private countingDefinition(): grpc.ServiceDefinition {
    const def = peerServiceDefinition();
    const received = this.counters.peerBytesReceived;
    const counting = (method: grpc.MethodDefinition<unknown, unknown>): grpc.MethodDefinition<unknown, unknown> => ({
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        const decoded = method.requestDeserialize(bytes) as { from?: string };
        countPeerBytes(received, decoded.from ?? '', bytes.length);
        return decoded;
      },
    });
    const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = { ...def };
    for (const name of ['Stream', 'SendSnapshot']) {
      const method = def[name];
      if (method !== undefined) out[name] = counting(method);
    }
    return out as grpc.ServiceDefinition;
  }

  /** Stops everything: streams, snapshot calls, the server. No handler is called afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.prober?.close();
    for (const peer of this.peers.values()) peer.close();
    this.peers.clear();
    for (const snapshot of this.snapshotCalls) {
      snapshot.call?.cancel();
      snapshot.client.close();
    }
    this.snapshotCalls.clear();
    this.service.close();
    const server = this.server;
    this.server = undefined;
    for (const listener of this.netServers) listener.close();
    this.netServers.length = 0;
    this.injector?.destroy();
    for (const socket of this.sockets) socket.destroy();
    if (server !== undefined) {
      // Inbound streams never end on their own, so there is nothing a graceful shutdown would wait for.
      server.forceShutdown();
      // Let the destroyed sessions and the listening socket finish closing before we resolve.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    this.logger.info('transport closed');
  }

  /** The URLs to dial for `urls` (after dial overrides) that can be dialled; the others are logged. */
  private usableUrls(id: string, urls: readonly string[]): string[] {
    const usable: string[] = [];
    for (const advertised of urls) {
      const url = dialUrl(advertised, this.dialOverrides);
      try {
        peerUrlToTarget(url);
        usable.push(url);
      } catch (err) {
        this.logger.error({ peer: id, url, err }, 'ignoring a peer URL that cannot be dialled');
      }
    }
    return usable;
  }

  private sendSnapshot(peer: PeerStream, m: Message): void {
    const peerId = m.to;
    const failSoon = (): void => {
      this.counters.snapshotsFailed++;
      // Raft waits for a status before it tries again; tell it (later, never inside send) this one failed.
      process.nextTick(() => {
        if (this.closed) return;
        this.handler.onUnreachable(peerId);
        this.handler.onSnapshotStatus(peerId, false);
      });
    };
    let wire: WireMessage;
    try {
      wire = toWireMessage(m);
    } catch (err) {
      this.counters.droppedInvalid++;
      this.logger.error({ peer: peerId, err }, 'dropped a snapshot message that cannot be encoded');
      failSoon();
      return;
    }
    const target = peer.target;
    const url = peer.url;
    if (target === undefined || url === undefined) {
      failSoon();
      return;
    }
    const request: WireSnapshotMessage = { clusterId: this.clusterId, from: this.selfId, to: peerId, message: wire };
    const bytes = wire.snapshot?.data?.length ?? 0;
    const client = new grpc.Client(target, this.credentials.forUrl(url), peerChannelOptions);
    const entry: { call: grpc.ClientUnaryCall | undefined; client: grpc.Client } = { call: undefined, client };
    this.snapshotCalls.add(entry);
    const method = this.snapshotMethod;
    const deadline = Date.now() + this.dialTimeoutMs + snapshotBaseTimeoutMs + (bytes / (1024 * 1024)) * snapshotMsPerMiB;
    const log = this.logger.child({ peer: peerId });
    log.info({ index: wire.snapshot?.metadata?.index, bytes, target }, 'sending snapshot');
    // Serializing tens of MiB takes a while: do it after send() has returned.
    setImmediate(() => {
      if (!this.snapshotCalls.has(entry)) return;
      entry.call = client.makeUnaryRequest<WireSnapshotMessage, WireAck>(
        method.path,
        (message: WireSnapshotMessage) => {
          const encoded = method.requestSerialize(message);
          countPeerBytes(this.counters.peerBytesSent, peerId, encoded.length);
          return encoded;
        },
        method.responseDeserialize,
        request,
        new grpc.Metadata(),
        { deadline },
        (err) => {
          this.snapshotCalls.delete(entry);
          client.close();
          if (this.closed) return;
          if (err === null) {
            this.counters.snapshotsSent++;
            this.counters.messagesSent++;
            log.info({ bytes }, 'snapshot delivered');
            this.handler.onSnapshotStatus(peerId, true);
            return;
          }
          this.counters.snapshotsFailed++;
          log.warn({ bytes, code: grpc.status[err.code], reason: err.details }, 'snapshot failed');
          // As etcd's snapshot sender: the peer is unreachable as well as the snapshot failed.
          this.handler.onUnreachable(peerId);
          this.handler.onSnapshotStatus(peerId, false);
        },
      );
    });
  }
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

