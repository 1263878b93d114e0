// The inbound half of the transport: the Peer service's handlers. Every batch and snapshot is
// checked against this member's cluster and member ID before anything in it is delivered (etcd's
// rafthttp checks X-Etcd-Cluster-ID and X-Raft-To the same way), and a batch is decoded whole
// before any of its messages reaches the handler, so a malformed one is refused, not half-applied.

import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';

import { type Message, MessageType } from '../raft/types.js';
import { type ClusterMember, toWireMember } from './peer-discovery.js';
import { fromWireMessage } from './raft-codec.js';
import type {
  WireAck,
  WireMembersRequest,
  WireMembersResponse,
  WireMessageBatch,
  WireSnapshotMessage,
} from './raft-proto.js';
import type { TransportCounters } from './transport-counters.js';
import { TransportError } from './transport-error.js';

export interface PeerServiceConfig {
  readonly selfId: string;
  readonly clusterId: string;
  readonly logger: Logger;
  readonly counters: TransportCounters;
  /** Every received message, in order per sender. */
  readonly onMessage: (m: Message) => void;
  /** The current membership, for members joining the cluster (Peer.Members); absent: not served. */
  readonly members: (() => readonly ClusterMember[]) | undefined;
  /** Whether a member ID was removed from the cluster: its streams are refused with REMOVED_MEMBER_DETAILS. */
  readonly isRemoved?: (memberId: string) => boolean;
  /** A member's stream to us was accepted (it is up). */
  readonly onPeerStream?: (memberId: string) => void;
}

/**
 * What a removed member's stream is refused with (etcd answers such a member 410 Gone). The sender
 * recognises it and stops: once the leader has applied the removal it sends the removed member
 * nothing more, so the member may never apply its own removal.
 */
export const REMOVED_MEMBER_DETAILS = 'the member has been permanently removed from the cluster';

interface Envelope {
  readonly clusterId?: string;
  readonly from?: string;
  readonly to?: string;
}

function statusError(code: grpc.status, details: string): Partial<grpc.StatusObject> {
  return { code, details };
}

export class PeerService {
  /** The open inbound stream of each sender: ending it is how a newer stream supersedes it. */
  private readonly inbound = new Map<string, (error: Partial<grpc.StatusObject> | null) => void>();
  private closed = false;

  constructor(private readonly config: PeerServiceConfig) {}

  /** Handlers for `server.addService(peerServiceDefinition(), ...)`. */
  handlers(): grpc.UntypedServiceImplementation {
    return {
      Stream: (call: grpc.ServerReadableStream<WireMessageBatch, WireAck>, callback: grpc.sendUnaryData<WireAck>) =>
        this.stream(call, callback),
      SendSnapshot: (
        call: grpc.ServerUnaryCall<WireSnapshotMessage, WireAck>,
        callback: grpc.sendUnaryData<WireAck>,
      ) => this.sendSnapshot(call, callback),
      Members: (
        call: grpc.ServerUnaryCall<WireMembersRequest, WireMembersResponse>,
        callback: grpc.sendUnaryData<WireMembersResponse>,
      ) => this.membersCall(call, callback),
    };
  }

  /** Ends every inbound stream (the server is going away). */
  close(): void {
    this.closed = true;
    for (const finish of [...this.inbound.values()]) {
      finish({ code: grpc.status.UNAVAILABLE, details: `member ${this.config.selfId} is shutting down` });
    }
    this.inbound.clear();
  }

  /** Why an envelope is refused, or undefined if it is for us. */
  private check(envelope: Envelope): Partial<grpc.StatusObject> | undefined {
    const { selfId, clusterId } = this.config;
    const from = envelope.from ?? '';
    if ((envelope.clusterId ?? '') !== clusterId) {
      return statusError(
        grpc.status.FAILED_PRECONDITION,
        `request cluster ID mismatch: member ${from} sent cluster ID ${envelope.clusterId ?? ''}, ` +
          `member ${selfId} is in cluster ${clusterId}`,
      );
    }
    if ((envelope.to ?? '') !== selfId) {
      return statusError(
        grpc.status.FAILED_PRECONDITION,
        `request member ID mismatch: member ${from} addressed member ${envelope.to ?? ''}, this is member ${selfId}`,
      );
    }
    if (from === '') return statusError(grpc.status.INVALID_ARGUMENT, 'request names no sender member ID');
    if (this.config.isRemoved?.(from) === true) return statusError(grpc.status.FAILED_PRECONDITION, `${REMOVED_MEMBER_DETAILS}: member ${from}`);
    return undefined;
  }

  private refuse(peer: string, error: Partial<grpc.StatusObject>, what: string): void {
    this.config.counters.rejected++;
    this.config.logger.warn({ peer, code: grpc.status[error.code ?? 0], reason: error.details }, `refused ${what}`);
  }

  private stream(
    call: grpc.ServerReadableStream<WireMessageBatch, WireAck>,
    callback: grpc.sendUnaryData<WireAck>,
  ): void {
    let sender: string | undefined;
    let done = false;
    const finish = (error: Partial<grpc.StatusObject> | null): void => {
      if (done) return;
      done = true;
      if (sender !== undefined && this.inbound.get(sender) === finish) this.inbound.delete(sender);
      if (error === null) callback(null, {});
      else callback(error, null);
    };
    if (this.closed) {
      finish({ code: grpc.status.UNAVAILABLE, details: `member ${this.config.selfId} is shutting down` });
      return;
    }

    call.on('data', (batch: WireMessageBatch) => {
      if (done) return;
      const from = batch.from ?? '';
      const refusal =
        this.check(batch) ??
        (sender !== undefined && from !== sender
          ? statusError(grpc.status.INVALID_ARGUMENT, `stream from member ${sender} carried a batch from ${from}`)
          : undefined);
      if (refusal !== undefined) {
        this.refuse(from, refusal, 'peer stream');
        finish(refusal);
        return;
      }
      let messages: Message[];
      try {
        messages = batch.messages === undefined ? [] : batch.messages.map(fromWireMessage);
      } catch (err) {
        const refusalDetails = err instanceof TransportError ? err.message : String(err);
        const error = statusError(grpc.status.INVALID_ARGUMENT, `malformed batch from ${from}: ${refusalDetails}`);
        this.refuse(from, error, 'peer stream');
        finish(error);
        return;
      }
      if (sender === undefined) this.accept(from, finish, call);
      sender = from;
      const counters = this.config.counters;
      counters.batchesReceived++;
      counters.messagesReceived += messages.length;
      for (const m of messages) this.config.onMessage(m);
    });
    call.on('end', () => finish(null));
    call.on('cancelled', () => finish(null));
    call.on('error', () => finish(null));
  }

  /** The first good batch of a stream: register it and tell the sender it is accepted. */
  private accept(
    from: string,
    finish: (error: Partial<grpc.StatusObject> | null) => void,
    call: grpc.ServerReadableStream<WireMessageBatch, WireAck>,
  ): void {
    const previous = this.inbound.get(from);
    this.inbound.set(from, finish);
    if (previous !== undefined) {
      // The sender reconnected; its old stream is dead or about to be (e.g. a half-open connection).
      previous({ code: grpc.status.ABORTED, details: `superseded by a newer stream from member ${from}` });
    }
    call.sendMetadata(new grpc.Metadata());
    this.config.logger.debug({ peer: from, address: call.getPeer() }, 'accepted peer stream');
    this.config.onPeerStream?.(from);
  }

  private sendSnapshot(
    call: grpc.ServerUnaryCall<WireSnapshotMessage, WireAck>,
    callback: grpc.sendUnaryData<WireAck>,
  ): void {
    const request = call.request;
    const from = request.from ?? '';
    let refusal = this.closed
      ? statusError(grpc.status.UNAVAILABLE, `member ${this.config.selfId} is shutting down`)
      : this.check(request);
    let m: Message | undefined;
    if (refusal === undefined) {
      try {
        if (request.message === undefined || request.message === null) throw new Error('no message');
        m = fromWireMessage(request.message);
        if (m.type !== MessageType.Snap || m.snapshot === undefined) throw new Error(`a ${m.type} message without a snapshot`);
      } catch (err) {
        refusal = statusError(grpc.status.INVALID_ARGUMENT, `malformed snapshot from ${from}: ${(err as Error).message}`);
      }
    }
    if (refusal !== undefined || m === undefined) {
      const error = refusal ?? statusError(grpc.status.INTERNAL, 'no message');
      this.refuse(from, error, 'snapshot');
      callback(error, null);
      return;
    }
    this.config.counters.snapshotsReceived++;
    this.config.counters.messagesReceived++;
    this.config.logger.info(
      { peer: from, index: m.snapshot?.metadata.index, bytes: m.snapshot?.data.length },
      'received snapshot',
    );
    this.config.onMessage(m);
    callback(null, {});
  }

  private membersCall(
    call: grpc.ServerUnaryCall<WireMembersRequest, WireMembersResponse>,
    callback: grpc.sendUnaryData<WireMembersResponse>,
  ): void {
    const { selfId, clusterId, members } = this.config;
    const asked = call.request.clusterId ?? '';
    if (asked !== '' && asked !== clusterId) {
      callback({ code: grpc.status.FAILED_PRECONDITION, details: `request cluster ID mismatch: asked for cluster ${asked}, member ${selfId} is in cluster ${clusterId}` }, null);
      return;
    }
    if (members === undefined) {
      callback({ code: grpc.status.UNIMPLEMENTED, details: `member ${selfId} does not serve the member list` }, null);
      return;
    }
    callback(null, { clusterId, memberId: selfId, members: members().map(toWireMember) });
  }
}
