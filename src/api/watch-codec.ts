// Hand-written encoding of the WatchResponses that carry events, the bulk of a watch stream. The
// hub hands the same Event objects to every watcher that matches them, so each event is encoded
// once (with and without its prev_kv) and every watcher's response copies those bytes behind its
// own header and watch_id. protobufjs built message objects, parsed every int64 string into a Long
// and encoded each event again per watcher: ~60% of a member's watch delivery time with 1,000
// watchers (issue 9). Other responses (created, canceled, progress) keep the definition's own
// serializer.
//
// Field numbers: proto/etcd/etcdserverpb/rpc.proto (WatchResponse: header = 1, watch_id = 2,
// fragment = 7, events = 11) and proto/etcd/mvccpb/kv.proto (Event: type = 1, kv = 2,
// prev_kv = 3; KeyValue: key = 1, create_revision = 2, mod_revision = 3, version = 4, value = 5,
// lease = 6). Zero values are left out, as Go's encoder does.

import type { MethodDefinition } from '@grpc/grpc-js';

import { leaseVarint, varintSize, writeVarint } from '../mvcc/record-codec.js';
import type { Event, KeyValue } from '../mvcc/types.js';
import { fromKeyValue } from '../server/etcd-convert.js';
import { installMethodCodecs } from './method-codecs.js';
import { type HeaderFields, prepareHeader, writeHeader } from './range-codec.js';

/**
 * A WatchResponse with events for one watch. `withPrev[i]` says whether events[i] goes out with its
 * prev_kv. It also reads as the plain response object (header, watch_id, events, fragment), so a
 * definition without the codec still encodes it.
 */
export class WatchEventsReply {
  constructor(
    readonly header: HeaderFields,
    readonly watchId: number,
    readonly source: readonly Event[],
    readonly withPrev: readonly boolean[],
    readonly fragment: boolean,
  ) {}

  get watch_id(): string {
    return String(this.watchId);
  }

  get events(): Array<Record<string, unknown>> {
    return this.source.map((e, i) => {
      const m: Record<string, unknown> = { type: e.type, kv: fromKeyValue(e.kv) };
      if (this.withPrev[i] === true && e.prevKv !== undefined) m.prev_kv = fromKeyValue(e.prevKv);
      return m;
    });
  }
}

// The encoded mvccpb.Event of each event offered, without and with its prev_kv, for as long as the
// event object lives (the hub's batch, or a catch-up read from history).
const plainBytes = new WeakMap<Event, Buffer>();
const prevBytes = new WeakMap<Event, Buffer>();

/** The mvccpb.Event bytes of `e` (with its prev_kv if `withPrev` and it has one), encoded once. */
export function eventBytes(e: Event, withPrev: boolean): Buffer {
  const prev = withPrev ? e.prevKv : undefined;
  const cache = prev === undefined ? plainBytes : prevBytes;
  let bytes = cache.get(e);
  if (bytes === undefined) {
    bytes = encodeEvent(e, prev);
    cache.set(e, bytes);
  }
  return bytes;
}

function encodeEvent(e: Event, prev: KeyValue | undefined): Buffer {
  const kvSize = keyValueBytes(e.kv);
  const prevSize = prev === undefined ? 0 : keyValueBytes(prev);
  let size = (e.type === 'DELETE' ? 2 : 0) + 1 + varintSize(kvSize) + kvSize;
  if (prev !== undefined) size += 1 + varintSize(prevSize) + prevSize;
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  if (e.type === 'DELETE') {
    buf[at++] = 0x08;
    buf[at++] = 1;
  }
  buf[at++] = 0x12;
  at = writeVarint(buf, at, kvSize);
  at = writeKeyValue(buf, at, e.kv);
  if (prev !== undefined) {
    buf[at++] = 0x1a;
    at = writeVarint(buf, at, prevSize);
    at = writeKeyValue(buf, at, prev);
  }
  if (at !== size) throw new Error(`mvccpb.Event encoding wrote ${at} of ${size} bytes`);
  return buf;
}

function keyValueBytes(kv: KeyValue): number {
  let size = 0;
  if (kv.key.length > 0) size += 1 + varintSize(kv.key.length) + kv.key.length;
  if (kv.createRevision !== 0) size += 1 + varintSize(kv.createRevision);
  if (kv.modRevision !== 0) size += 1 + varintSize(kv.modRevision);
  if (kv.version !== 0) size += 1 + varintSize(kv.version);
  if (kv.value.length > 0) size += 1 + varintSize(kv.value.length) + kv.value.length;
  if (kv.lease !== '0') size += 1 + leaseVarint(kv.lease).length;
  return size;
}

function writeKeyValue(buf: Buffer, at: number, kv: KeyValue): number {
  if (kv.key.length > 0) {
    buf[at++] = 0x0a;
    at = writeVarint(buf, at, kv.key.length);
    at += kv.key.copy(buf, at);
  }
  if (kv.createRevision !== 0) {
    buf[at++] = 0x10;
    at = writeVarint(buf, at, kv.createRevision);
  }
  if (kv.modRevision !== 0) {
    buf[at++] = 0x18;
    at = writeVarint(buf, at, kv.modRevision);
  }
  if (kv.version !== 0) {
    buf[at++] = 0x20;
    at = writeVarint(buf, at, kv.version);
  }
  if (kv.value.length > 0) {
    buf[at++] = 0x2a;
    at = writeVarint(buf, at, kv.value.length);
    at += kv.value.copy(buf, at);
  }
  if (kv.lease !== '0') {
    const lease = leaseVarint(kv.lease);
    buf[at++] = 0x30;
    buf.set(lease, at);
    at += lease.length;
  }
  return at;
}

/** etcdserverpb.WatchResponse bytes of a reply with events. */
export function encodeWatchEventsReply(reply: WatchEventsReply): Buffer {
  const header = prepareHeader(reply.header);
  const events = reply.source.map((e, i) => eventBytes(e, reply.withPrev[i] === true));
  // Watch IDs with events are never negative (-1 only marks stream-level control responses).
  let size = 1 + varintSize(header.size) + header.size;
  if (reply.watchId !== 0) size += 1 + varintSize(reply.watchId);
  if (reply.fragment) size += 2;
  for (const b of events) size += 1 + varintSize(b.length) + b.length;
  const buf = Buffer.allocUnsafe(size);
  let at = writeHeader(buf, 0, header);
  if (reply.watchId !== 0) {
    buf[at++] = 0x10;
    at = writeVarint(buf, at, reply.watchId);
  }
  if (reply.fragment) {
    buf[at++] = 0x38;
    buf[at++] = 1;
  }
  for (const b of events) {
    buf[at++] = 0x5a;
    at = writeVarint(buf, at, b.length);
    at += b.copy(buf, at);
  }
  if (at !== size) throw new Error(`WatchResponse encoding wrote ${at} of ${size} bytes`);
  return buf;
}

/** Makes a Watch method definition encode WatchEventsReply responses by hand. Idempotent. */
export function installWatchCodec(method: MethodDefinition<unknown, unknown>): void {
  installMethodCodecs(method, { reply: WatchEventsReply, encode: encodeWatchEventsReply });
}
