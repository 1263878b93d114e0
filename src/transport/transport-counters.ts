// What the transport has done since it started, for tests, logs and (later) /metrics.

export interface TransportCounters {
  /** Messages handed to a stream write (a batch) or to a snapshot call. */
  messagesSent: number;
  /** MessageBatch writes on peer streams, including the empty batch that opens each stream. */
  streamWrites: number;
  /** Messages delivered to the handler. */
  messagesReceived: number;
  /** Batches received on inbound streams. */
  batchesReceived: number;
  /** Messages for a peer that is not in the peer list (or for this member itself). */
  droppedUnknownPeer: number;
  /** Messages dropped because the peer's queue was at maxQueuedPerPeer. */
  droppedQueueFull: number;
  /** Messages lost with a broken stream, or sent while the peer was unreachable. */
  droppedUnreachable: number;
  /** Heartbeats among the dropped ones (etcd_server_heartbeat_send_failures_total). */
  heartbeatSendFailures: number;
  /** Messages that could not be encoded (not a valid Raft message). */
  droppedInvalid: number;
  /** Outbound streams that failed or broke. */
  streamBreaks: number;
  /** Inbound streams and snapshot calls refused (other cluster, other member, malformed). */
  rejected: number;
  snapshotsSent: number;
  snapshotsFailed: number;
  snapshotsReceived: number;
  /** Encoded bytes of batches and snapshots sent to each peer (member ID), and received from each. */
  peerBytesSent: Record<string, number>;
  peerBytesReceived: Record<string, number>;
}

export function newTransportCounters(): TransportCounters {
  return {
    messagesSent: 0,
    streamWrites: 0,
    messagesReceived: 0,
    batchesReceived: 0,
    droppedUnknownPeer: 0,
    droppedQueueFull: 0,
    droppedUnreachable: 0,
    heartbeatSendFailures: 0,
    droppedInvalid: 0,
    streamBreaks: 0,
    rejected: 0,
    snapshotsSent: 0,
    snapshotsFailed: 0,
    snapshotsReceived: 0,
    peerBytesSent: {},
    peerBytesReceived: {},
  };
}

/** Adds `bytes` to a peer's running total (peer traffic metrics). */
export function countPeerBytes(totals: Record<string, number>, peerId: string, bytes: number): void {
  totals[peerId] = (totals[peerId] ?? 0) + bytes;
}
