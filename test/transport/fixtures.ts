// Shared pieces of the transport tests: member IDs, sample messages of every type, a recording
// handler, and a polling wait.

import { encodeConfChange } from '../../src/raft/conf-change.js';
import {
  ConfChangeType,
  EntryType,
  type Entry,
  type Message,
  MessageType,
  message,
} from '../../src/raft/types.js';
import type { TransportHandler } from '../../src/transport/peer-transport.js';

export const clusterId = 'cdf818194e3a8c32';
export const ids = {
  a: '8e9e05c52164694d',
  b: '91bc3c398fb3c146',
  c: 'fd422379fda50e48',
  d: '0000000000000d0d',
} as const;

/** Deterministic bytes, so a failure reproduces. */
export function patternBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function entries(from: number, count: number, term: number): Entry[] {
  return Array.from({ length: count }, (_, i) => ({
    term,
    index: from + i,
    type: EntryType.Normal,
    data: patternBytes(i * 37, from + i),
  }));
}

/**
 * One message of every MessageType from `from` to `to`, each with distinctive values in the fields
 * it uses (and some it does not), so a field dropped or swapped on the wire shows up.
 */
export function everyType(from: string, to: string, base: number): Message[] {
  const confChange: Entry = {
    term: 3,
    index: base + 9,
    type: EntryType.ConfChange,
    data: encodeConfChange({ type: ConfChangeType.AddLearner, nodeId: ids.d, context: new TextEncoder().encode('http://127.0.0.1:2390') }),
  };
  const snapshot = {
    metadata: { index: base + 100, term: 7, confState: { voters: [ids.a, ids.b, ids.c], learners: [ids.d] } },
    data: patternBytes(5000, base),
  };
  const all: Message[] = [
    message({ type: MessageType.Hup, from, to }),
    message({ type: MessageType.Beat, from, to, term: 1 }),
    message({ type: MessageType.Prop, from, to, entries: [{ term: 0, index: 0, type: EntryType.Normal, data: patternBytes(64, base) }] }),
    message({ type: MessageType.App, from, to, term: 3, logTerm: 2, index: base + 4, commit: base + 3, entries: [...entries(base + 5, 4, 3), confChange] }),
    message({ type: MessageType.App, from, to, term: 3, logTerm: 3, index: base + 9, commit: base + 9 }),
    message({ type: MessageType.AppResp, from, to, term: 3, index: base + 9, reject: true, rejectHint: base + 2, logTerm: 2 }),
    message({ type: MessageType.Vote, from, to, term: 4, logTerm: 3, index: base + 9, context: 'transfer' }),
    message({ type: MessageType.VoteResp, from, to, term: 4, reject: true }),
    message({ type: MessageType.PreVote, from, to, term: 5, logTerm: 3, index: base + 9 }),
    message({ type: MessageType.PreVoteResp, from, to, term: 5 }),
    message({ type: MessageType.Snap, from, to, term: 7, snapshot }),
    message({ type: MessageType.Heartbeat, from, to, term: 7, commit: base + 100, context: 'read-ünïcødé-✓' }),
    message({ type: MessageType.HeartbeatResp, from, to, term: 7, context: 'read-ünïcødé-✓' }),
    message({ type: MessageType.Unreachable, from, to }),
    message({ type: MessageType.SnapStatus, from, to, reject: true }),
    message({ type: MessageType.CheckQuorum, from, to }),
    message({ type: MessageType.TransferLeader, from, to, term: 7 }),
    message({ type: MessageType.TimeoutNow, from, to, term: 7 }),
    message({ type: MessageType.ReadIndex, from, to, term: 7, entries: [{ term: 0, index: 0, type: EntryType.Normal, data: patternBytes(16, base + 1) }] }),
    message({ type: MessageType.ReadIndexResp, from, to, term: 7, index: base + 120, entries: [{ term: 0, index: 0, type: EntryType.Normal, data: patternBytes(16, base + 1) }] }),
    // Extremes: the largest safe integers, and a snapshot riding on a non-Snap message.
    message({
      type: MessageType.App,
      from,
      to,
      term: Number.MAX_SAFE_INTEGER,
      logTerm: Number.MAX_SAFE_INTEGER - 1,
      index: Number.MAX_SAFE_INTEGER - 2,
      commit: 2 ** 40,
      rejectHint: 2 ** 33 + 1,
      entries: [{ term: Number.MAX_SAFE_INTEGER, index: Number.MAX_SAFE_INTEGER, type: EntryType.Normal, data: new Uint8Array(0) }],
    }),
    message({ type: MessageType.HeartbeatResp, from, to, term: 9, snapshot }),
  ];
  const covered = new Set(all.map((m) => m.type));
  for (const type of Object.values(MessageType)) {
    if (!covered.has(type)) throw new Error(`fixture misses ${type}`);
  }
  return all;
}

/** Records everything the transport tells it. */
export class Recorder implements TransportHandler {
  readonly messages: Message[] = [];
  readonly unreachable: string[] = [];
  readonly snapshotStatus: Array<[string, boolean]> = [];

  onMessage(m: Message): void {
    this.messages.push(m);
  }
  onUnreachable(peerId: string): void {
    this.unreachable.push(peerId);
  }
  onSnapshotStatus(peerId: string, ok: boolean): void {
    this.snapshotStatus.push([peerId, ok]);
  }
  from(peer: string): Message[] {
    return this.messages.filter((m) => m.from === peer);
  }
}

/** Polls `condition` until it holds; fails with `what` after `timeoutMs`. */
export async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
