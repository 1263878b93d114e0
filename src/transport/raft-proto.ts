// Loads proto/ketch/raft.proto (the peer protocol) for grpc-js, and names the shapes it decodes to.
//
// Loader options differ from the etcd API's (src/api/etcd-proto.ts) because this is an internal,
// hot path whose shapes should match src/raft/types.ts:
// - camelCase field names (`logTerm`, `rejectHint`, `confState`), as in the Raft types.
// - longs: Number. Terms and indexes are safe integers by the Raft core's invariant; raft-codec.ts
//   checks Number.isSafeInteger on every decoded one, so a value above 2^53 is refused, not rounded.
// - enums: Number, mapped through tables in raft-codec.ts (cheaper than name strings).
// - bytes: Buffer (proto-loader's default): entry and snapshot data are views of the received
//   message, not copies.
// - defaults: false. Absent fields decode to undefined and raft-codec.ts fills the zeros; `true`
//   would allocate a Long for every absent uint64 field.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

import { decodeMessageBatch, encodeMessageBatch } from './message-batch-codec.js';

export const raftProtoLoaderOptions: Readonly<protoLoader.Options> = Object.freeze({
  keepCase: false,
  longs: Number,
  enums: Number,
  defaults: false,
  oneofs: false,
});

const raftProtoRelative = join('ketch', 'raft.proto');

/** The proto package and service, as grpc-js names them on the wire (`/ketch.raftpb.Peer/Stream`). */
export const peerServiceName = 'ketch.raftpb.Peer';

/**
 * The proto directory, found relative to this module: two levels up from src/transport/ (vitest,
 * tsx), three from the compiled dist/src/transport/. Only those two layouts are tried.
 */
export function ketchProtoDir(moduleUrl: string = import.meta.url): string {
  const moduleDir = dirname(fileURLToPath(moduleUrl));
  const candidates = [join(moduleDir, '..', '..', 'proto'), join(moduleDir, '..', '..', '..', 'proto')];
  for (const candidate of candidates) {
    if (existsSync(join(candidate, raftProtoRelative))) return candidate;
  }
  throw new Error(`ketch proto files not found: looked for ${raftProtoRelative} in ${candidates.join(' and ')}`);
}

let cachedDefinition: grpc.ServiceDefinition | undefined;

/** The Peer service definition: `server.addService` takes it; clients use its methods' paths and codecs. */
export function peerServiceDefinition(): grpc.ServiceDefinition {
  if (cachedDefinition === undefined) {
    const protoDir = ketchProtoDir();
    const packageDefinition = protoLoader.loadSync(join(protoDir, raftProtoRelative), {
      ...raftProtoLoaderOptions,
      includeDirs: [protoDir],
    });
    const definition = packageDefinition[peerServiceName];
    // Message and enum definitions carry a `format` tag; service definitions are method maps.
    if (definition === undefined || 'format' in definition) {
      throw new Error(`${peerServiceName} is not a service in ${raftProtoRelative}`);
    }
    const service = definition as grpc.ServiceDefinition;
    // The stream carries every append and ack: its batches go through the hand codec, which
    // writes the same bytes as protobufjs (message-batch-codec.ts).
    const stream = service.Stream as grpc.MethodDefinition<WireMessageBatch, WireAck> | undefined;
    if (stream === undefined) throw new Error(`${peerServiceName}.Stream is missing from ${raftProtoRelative}`);
    cachedDefinition = {
      ...service,
      Stream: { ...stream, requestSerialize: encodeMessageBatch, requestDeserialize: decodeMessageBatch },
    };
  }
  return cachedDefinition;
}

/** The Peer service's methods with the shapes they carry. */
export interface PeerMethods {
  Stream: grpc.MethodDefinition<WireMessageBatch, WireAck>;
  SendSnapshot: grpc.MethodDefinition<WireSnapshotMessage, WireAck>;
  Members: grpc.MethodDefinition<WireMembersRequest, WireMembersResponse>;
}

/** One method of the Peer service; throws if the proto lacks it (a build error, found at startup). */
export function peerMethod<K extends keyof PeerMethods>(name: K): PeerMethods[K] {
  const method = peerServiceDefinition()[name];
  if (method === undefined) throw new Error(`${peerServiceName}.${name} is missing from ${raftProtoRelative}`);
  // proto-loader's definitions are untyped; the shapes below are what its options produce.
  return method as PeerMethods[K];
}

// ---- The shapes proto-loader encodes from and decodes to (with the options above).
// On decode every field may be absent (defaults: false); on encode absent means zero.

export interface WireEntry {
  term?: number;
  index?: number;
  type?: number;
  data?: Uint8Array;
}

export interface WireConfState {
  voters?: readonly string[];
  learners?: readonly string[];
}

export interface WireSnapshot {
  metadata?: { index?: number; term?: number; confState?: WireConfState | null } | null;
  data?: Uint8Array;
}

export interface WireMessage {
  type?: number;
  from?: string;
  to?: string;
  term?: number;
  logTerm?: number;
  index?: number;
  entries?: readonly WireEntry[];
  commit?: number;
  reject?: boolean;
  rejectHint?: number;
  snapshot?: WireSnapshot | null;
  context?: string;
}

export interface WireMessageBatch {
  clusterId?: string;
  from?: string;
  to?: string;
  messages?: readonly WireMessage[];
}

export interface WireSnapshotMessage {
  clusterId?: string;
  from?: string;
  to?: string;
  message?: WireMessage | null;
}

export type WireAck = Record<string, never>;

export interface WireMember {
  id?: string;
  name?: string;
  peerUrls?: readonly string[];
  clientUrls?: readonly string[];
  isLearner?: boolean;
}

export interface WireMembersRequest {
  clusterId?: string;
}

export interface WireMembersResponse {
  clusterId?: string;
  memberId?: string;
  members?: readonly WireMember[];
}
