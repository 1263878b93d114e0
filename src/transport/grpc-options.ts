// grpc-js options for the peer server and its clients, in one place so both ends agree.

import type * as grpc from '@grpc/grpc-js';

/** Snapshots travel as one message; etcd's snapshots reach hundreds of MiB (--quota-backend-bytes). */
export const maxPeerMessageBytes = 512 * 1024 * 1024;

/** Pings on idle connections find a peer that vanished without closing its TCP connection. */
const keepaliveTimeMs = 5_000;
const keepaliveTimeoutMs = 5_000;

export const peerServerOptions: grpc.ServerOptions = {
  'grpc.max_receive_message_length': maxPeerMessageBytes,
  'grpc.max_send_message_length': maxPeerMessageBytes,
  'grpc.keepalive_time_ms': keepaliveTimeMs,
  'grpc.keepalive_timeout_ms': keepaliveTimeoutMs,
};

export const peerChannelOptions: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': maxPeerMessageBytes,
  'grpc.max_send_message_length': maxPeerMessageBytes,
  'grpc.keepalive_time_ms': keepaliveTimeMs,
  'grpc.keepalive_timeout_ms': keepaliveTimeoutMs,
  // Each PeerStream owns its connection: a fresh channel per attempt must not inherit a shared
  // subchannel's reconnect backoff (grpc's own reaches minutes); our backoff is the only one.
  'grpc.use_local_subchannel_pool': 1,
  // No retry buffering: a write's callback then means the bytes went to the connection, which is
  // what the stream's one-write-at-a-time batching relies on for backpressure.
  'grpc.enable_retries': 0,
};
