// Round-trip time to each peer, measured as etcd's rafthttp prober does it: a small request on a
// connection of its own (so a busy raft stream or a snapshot does not hold it up) every few
// seconds, its time observed into etcd_network_peer_round_trip_time_seconds{To}. Ketch's probe is
// the Peer.Members call (a few hundred bytes each way). Any answer counts, an error status too:
// the bytes went there and back. A call that times out or cannot connect is not a round trip and
// is not observed. The first call on a new connection includes the connection setup and is not
// observed either.

import * as grpc from '@grpc/grpc-js';

import { peerChannelOptions } from './grpc-options.js';
import type { PeerCredentials } from './peer-credentials.js';
import { peerMethod, type WireMembersRequest, type WireMembersResponse } from './raft-proto.js';

export interface ProbeTarget {
  /** host:port to dial. */
  readonly target: string;
  /** The URL it came from (http:// or https://, for the credentials). */
  readonly url: string;
}

export interface PeerProberConfig {
  readonly clusterId: string;
  readonly credentials: PeerCredentials;
  /** etcd probes every 4 s (ConnReadTimeout - 1 s). */
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** The peers to probe now (peer ID → where), read on every round. */
  peers(): Iterable<readonly [string, ProbeTarget | undefined]>;
  observe(peerId: string, seconds: number): void;
}

interface ProbeClient {
  readonly client: grpc.Client;
  readonly target: string;
  warm: boolean;
  inFlight: boolean;
}

export class PeerProber {
  private readonly clients = new Map<string, ProbeClient>();
  private readonly method = peerMethod('Members');
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly config: PeerProberConfig) {}

  start(): void {
    if (this.closed || this.timer !== undefined) return;
    this.timer = setInterval(() => this.probeAll(), this.config.intervalMs);
    this.timer.unref();
    // A first round soon after start, so a new member has a measurement within seconds.
    setTimeout(() => this.probeAll(), Math.min(500, this.config.intervalMs)).unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    for (const c of this.clients.values()) c.client.close();
    this.clients.clear();
  }

  /** One round: a probe to every peer that has an address (exported for tests). */
  probeAll(): void {
    if (this.closed) return;
    const seen = new Set<string>();
    for (const [peerId, where] of this.config.peers()) {
      if (where === undefined) continue;
      seen.add(peerId);
      let c = this.clients.get(peerId);
      if (c !== undefined && c.target !== where.target) {
        c.client.close();
        c = undefined;
      }
      if (c === undefined) {
        c = { client: new grpc.Client(where.target, this.config.credentials.forUrl(where.url), peerChannelOptions), target: where.target, warm: false, inFlight: false };
        this.clients.set(peerId, c);
      }
      this.probe(peerId, c);
    }
    for (const [peerId, c] of this.clients) {
      if (seen.has(peerId)) continue;
      c.client.close();
      this.clients.delete(peerId);
    }
  }

  private probe(peerId: string, c: ProbeClient): void {
    if (c.inFlight) return;
    c.inFlight = true;
    const started = performance.now();
    const request: WireMembersRequest = { clusterId: this.config.clusterId };
    c.client.makeUnaryRequest<WireMembersRequest, WireMembersResponse>(
      this.method.path,
      this.method.requestSerialize,
      this.method.responseDeserialize,
      request,
      new grpc.Metadata(),
      { deadline: Date.now() + this.config.timeoutMs },
      (err) => {
        c.inFlight = false;
        if (this.closed || this.clients.get(peerId) !== c) return;
        const answered = err === null || (err.code !== grpc.status.DEADLINE_EXCEEDED && err.code !== grpc.status.UNAVAILABLE && err.code !== grpc.status.CANCELLED);
        if (!answered) {
          c.warm = false;
          return;
        }
        if (c.warm) {
          this.config.observe(peerId, (performance.now() - started) / 1000);
          return;
        }
        // That was the connection's setup: measure once more on the warm connection right away.
        c.warm = true;
        this.probe(peerId, c);
      },
    );
  }
}
