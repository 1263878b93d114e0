// Raft messages to and from the shapes proto-loader encodes (raft-proto.ts). Both directions check
// what the Raft core assumes: known message and entry types, terms and indexes that are
// non-negative safe integers. A message that fails is refused whole, never half-delivered.

import {
  type ConfState,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  type Snapshot,
} from '../raft/types.js';
import type { WireConfState, WireEntry, WireMessage, WireSnapshot } from './raft-proto.js';
import { TransportError, TransportErrorCode } from './transport-error.js';

/** Wire numbers of MessageType, as in proto/ketch/raft.proto (etcd raftpb's numbering). */
const messageTypeToWire: Readonly<Record<MessageType, number>> = {
  [MessageType.Hup]: 0,
  [MessageType.Beat]: 1,
  [MessageType.Prop]: 2,
  [MessageType.App]: 3,
  [MessageType.AppResp]: 4,
  [MessageType.Vote]: 5,
  [MessageType.VoteResp]: 6,
  [MessageType.Snap]: 7,
  [MessageType.Heartbeat]: 8,
  [MessageType.HeartbeatResp]: 9,
  [MessageType.Unreachable]: 10,
  [MessageType.SnapStatus]: 11,
  [MessageType.CheckQuorum]: 12,
  [MessageType.TransferLeader]: 13,
  [MessageType.TimeoutNow]: 14,
  [MessageType.ReadIndex]: 15,
  [MessageType.ReadIndexResp]: 16,
  [MessageType.PreVote]: 17,
  [MessageType.PreVoteResp]: 18,
};

const messageTypeFromWire: readonly MessageType[] = (() => {
  const table: MessageType[] = [];
  for (const [type, wire] of Object.entries(messageTypeToWire) as [MessageType, number][]) table[wire] = type;
  for (let i = 0; i < table.length; i++) {
    if (table[i] === undefined) throw new Error(`MessageType wire number ${i} has no type`);
  }
  return table;
})();

const emptyBytes = new Uint8Array(0);

function invalid(message: string): TransportError {
  return new TransportError(TransportErrorCode.InvalidMessage, message);
}

/** A term or index: a non-negative safe integer (absent on the wire means 0). */
function uint(value: number | undefined, field: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${field} is not a non-negative safe integer: ${String(value)}`);
  }
  return value;
}

function isEntryType(type: number): type is EntryType {
  return type === EntryType.Normal || type === EntryType.ConfChange;
}

// ---- Encoding. Entries and snapshots already have the wire's shape (EntryType's numbers are the
// wire's), so after checking them they go through as they are, without copies.

function checkEntry(e: Entry): void {
  uint(e.term, 'entry.term');
  uint(e.index, 'entry.index');
  if (!isEntryType(e.type)) throw invalid(`unknown entry type ${String(e.type)}`);
  if (!(e.data instanceof Uint8Array)) throw invalid(`entry ${e.index} data is not bytes`);
}

function checkSnapshot(s: Snapshot): void {
  uint(s.metadata.index, 'snapshot.metadata.index');
  uint(s.metadata.term, 'snapshot.metadata.term');
  if (!(s.data instanceof Uint8Array)) throw invalid('snapshot data is not bytes');
}

/** The wire form of `m`; throws TransportError(InvalidMessage) if it cannot be sent as it is. */
export function toWireMessage(m: Message): WireMessage {
  const type = messageTypeToWire[m.type];
  if (type === undefined) throw invalid(`unknown message type ${String(m.type)}`);
  for (const e of m.entries) checkEntry(e);
  if (m.snapshot !== undefined) checkSnapshot(m.snapshot);
  // Zeros are left undefined rather than set: proto3 does not send them, and protobufjs then skips
  // the field instead of building a Long for it. Every wire message keeps the same shape.
  return {
    type,
    from: m.from,
    to: m.to,
    term: nonZero(uint(m.term, 'term')),
    logTerm: nonZero(uint(m.logTerm, 'logTerm')),
    index: nonZero(uint(m.index, 'index')),
    entries: m.entries.length === 0 ? undefined : m.entries,
    commit: nonZero(uint(m.commit, 'commit')),
    reject: m.reject ? true : undefined,
    rejectHint: nonZero(uint(m.rejectHint, 'rejectHint')),
    snapshot: m.snapshot,
    context: m.context === '' ? undefined : m.context,
  };
}

function nonZero(n: number): number | undefined {
  return n === 0 ? undefined : n;
}

// ---- Decoding. Bytes become plain Uint8Array views of the received buffer (no copy; plain so
// they deep-equal what the sender's Raft core made). A kept entry keeps that buffer alive, which
// is bounded by the stream's batch size.

function bytes(b: Uint8Array | undefined): Uint8Array {
  if (b === undefined || b.length === 0) return emptyBytes;
  return Object.getPrototypeOf(b) === Uint8Array.prototype ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function fromWireEntry(w: WireEntry): Entry {
  const type = w.type ?? EntryType.Normal;
  if (!isEntryType(type)) throw invalid(`unknown entry type ${type}`);
  return { term: uint(w.term, 'entry.term'), index: uint(w.index, 'entry.index'), type, data: bytes(w.data) };
}

function fromWireConfState(w: WireConfState | null | undefined): ConfState {
  return { voters: w?.voters ?? [], learners: w?.learners ?? [] };
}

function fromWireSnapshot(w: WireSnapshot): Snapshot {
  const metadata = w.metadata;
  return {
    metadata: {
      index: uint(metadata?.index, 'snapshot.metadata.index'),
      term: uint(metadata?.term, 'snapshot.metadata.term'),
      confState: fromWireConfState(metadata?.confState),
    },
    data: bytes(w.data),
  };
}

/** The Raft message `w` encodes; throws TransportError(InvalidMessage) if it is not a valid one. */
export function fromWireMessage(w: WireMessage): Message {
  const type = messageTypeFromWire[w.type ?? 0];
  if (type === undefined) throw invalid(`unknown message type ${String(w.type)}`);
  const entries = w.entries === undefined ? [] : w.entries.map(fromWireEntry);
  const m = {
    type,
    from: w.from ?? '',
    to: w.to ?? '',
    term: uint(w.term, 'term'),
    logTerm: uint(w.logTerm, 'logTerm'),
    index: uint(w.index, 'index'),
    entries,
    commit: uint(w.commit, 'commit'),
    reject: w.reject ?? false,
    rejectHint: uint(w.rejectHint, 'rejectHint'),
    context: w.context ?? '',
  };
  // `snapshot` is an optional property of Message: absent, not undefined, when there is none.
  if (w.snapshot === undefined || w.snapshot === null) return m;
  return { ...m, snapshot: fromWireSnapshot(w.snapshot) };
}
