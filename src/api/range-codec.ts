// Hand-written wire codec for KV.Range, the hottest read: the request is decoded straight into the
// store's RangeRequest, and the response is written straight from the store's kept revisions into
// one buffer, with no protobufjs message objects, no Long values and no per-KeyValue copies.
// Installed as the Range method's serializers on the service definition (installRangeCodec), so
// every server that serves that definition (grpc-js or our own HTTP/2 one) uses it.
//
// Field numbers: proto/etcd/etcdserverpb/rpc.proto (RangeRequest, RangeResponse, ResponseHeader)
// and proto/etcd/mvccpb/kv.proto (KeyValue).

import type { MethodDefinition } from '@grpc/grpc-js';

import { installMethodCodecs } from './method-codecs.js';

import type { KeyRevision } from '../mvcc/key-index.js';
import { keyValueSize, varintSize, writeKeyValue, writeVarint } from '../mvcc/record-codec.js';
import type { RangeRequest, RangeRevisions, SortOrder, SortTarget } from '../mvcc/types.js';

const EMPTY = Buffer.alloc(0);
/** etcd's "\0" range end: every key >= key. */
const FROM_KEY = Buffer.from([0]);

const SORT_ORDERS: readonly SortOrder[] = ['NONE', 'ASCEND', 'DESCEND'];
const SORT_TARGETS: readonly SortTarget[] = ['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'];

/** A Range request as decodeRangeRequest leaves it for the handler. */
export class DecodedRangeRequest {
  constructor(
    readonly request: RangeRequest,
    readonly serializable: boolean,
    /** Why the request cannot be served (an int64 beyond a safe integer, an unknown enum value). */
    readonly invalid: string | undefined,
  ) {}
}

/** The response header as the server fills it: uint64/int64 as decimal strings. */
export interface HeaderFields {
  cluster_id: string;
  member_id: string;
  revision: string;
  raft_term: string;
}

/**
 * A Range response that encodeRangeReply writes from the store's revisions. It also reads as the
 * plain response object (kvs, more, count), so a definition without the codec still encodes it.
 */
export class RangeReply {
  constructor(
    readonly header: HeaderFields,
    readonly range: RangeRevisions,
  ) {}

  get kvs(): Array<Record<string, unknown>> {
    const keysOnly = this.range.keysOnly;
    return this.range.revs.map((r) => ({
      key: Buffer.from(r.key, 'latin1'),
      create_revision: String(r.createRevision),
      mod_revision: String(r.main),
      version: String(r.version),
      value: keysOnly || r.value === null ? EMPTY : Buffer.from(r.value, 'latin1'),
      lease: r.lease,
    }));
  }

  get more(): boolean {
    return this.range.more;
  }

  get count(): string {
    return String(this.range.count);
  }
}

class WireError extends Error {
  constructor(message: string) {
    super(`malformed RangeRequest: ${message}`);
    this.name = 'WireError';
  }
}

/** A protobuf reader over one message. */
class Reader {
  at = 0;
  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.at >= this.buf.length;
  }

  /** A varint as a number when it fits 53 bits, else as a two's-complement int64 bigint. */
  varint(): number | bigint {
    const buf = this.buf;
    let n = 0;
    let mul = 1;
    for (let i = 0; i < 7; i++) {
      if (this.at >= buf.length) throw new WireError('truncated varint');
      const b = buf[this.at++] as number;
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 0x80;
    }
    let big = BigInt(n);
    let shift = 49n;
    for (let i = 7; i < 10; i++) {
      if (this.at >= buf.length) throw new WireError('truncated varint');
      const b = buf[this.at++] as number;
      big |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asIntN(64, big);
      shift += 7n;
    }
    throw new WireError('varint longer than 10 bytes');
  }

  length(): number {
    const n = this.varint();
    if (typeof n !== 'number' || this.at + n > this.buf.length) throw new WireError('truncated length-delimited field');
    return n;
  }

  /** A bytes field, copied out: grpc-js may reuse the frame buffer it decoded from. */
  bytes(): Buffer {
    const n = this.length();
    const out = n === 0 ? EMPTY : Buffer.from(this.buf.subarray(this.at, this.at + n));
    this.at += n;
    return out;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.at += 8;
        break;
      case 2: {
        const n = this.length();
        this.at += n;
        return;
      }
      case 5:
        this.at += 4;
        break;
      default:
        throw new WireError(`wire type ${wireType}`);
    }
    if (this.at > this.buf.length) throw new WireError('truncated field');
  }
}

/**
 * etcdserverpb.RangeRequest from the wire. A range_end that is on the wire but empty means every
 * key >= key, as etcd 3.4 serves it (its generated decoder keeps a present empty bytes field as a
 * non-nil empty slice, which mvcc reads as an open range end); only an absent one is a single key.
 */
export function decodeRangeRequest(data: Buffer): DecodedRangeRequest {
  const r = new Reader(data);
  const req: RangeRequest = {
    key: EMPTY,
    rangeEnd: EMPTY,
    limit: 0,
    revision: 0,
    sortOrder: 'NONE',
    sortTarget: 'KEY',
    keysOnly: false,
    countOnly: false,
    minModRevision: 0,
    maxModRevision: 0,
    minCreateRevision: 0,
    maxCreateRevision: 0,
  };
  let serializable = false;
  let invalid: string | undefined;
  const int64 = (): number => {
    const v = r.varint();
    const n = typeof v === 'number' ? v : Number(v);
    if (!Number.isSafeInteger(n)) {
      invalid ??= `integer ${String(v)} is out of range`;
      return 0;
    }
    return n;
  };
  const enumOf = <T>(names: readonly T[], field: string): T => {
    const v = r.varint();
    const name = typeof v === 'number' ? names[v] : undefined;
    if (name === undefined) {
      invalid ??= `unknown ${field} ${String(v)}`;
      return names[0] as T;
    }
    return name;
  };
  while (!r.done) {
    const tag = r.varint();
    if (typeof tag !== 'number') throw new WireError('bad tag');
    switch (tag) {
      case 0x0a:
        req.key = r.bytes();
        break;
      case 0x12: {
        const end = r.bytes();
        req.rangeEnd = end.length === 0 ? FROM_KEY : end;
        break;
      }
      case 0x18:
        req.limit = int64();
        break;
      case 0x20:
        req.revision = int64();
        break;
      case 0x28:
        req.sortOrder = enumOf(SORT_ORDERS, 'sort order');
        break;
      case 0x30:
        req.sortTarget = enumOf(SORT_TARGETS, 'sort target');
        break;
      case 0x38:
        serializable = r.varint() !== 0;
        break;
      case 0x40:
        req.keysOnly = r.varint() !== 0;
        break;
      case 0x48:
        req.countOnly = r.varint() !== 0;
        break;
      case 0x50:
        req.minModRevision = int64();
        break;
      case 0x58:
        req.maxModRevision = int64();
        break;
      case 0x60:
        req.minCreateRevision = int64();
        break;
      case 0x68:
        req.maxCreateRevision = int64();
        break;
      default:
        if (tag >>> 3 === 0) throw new WireError('field number 0');
        r.skip(tag & 7);
    }
  }
  return new DecodedRangeRequest(req, serializable, invalid);
}

// ---- Response.

/** A uint64/int64 given as a decimal string, as varint bytes; the last few are cached (IDs repeat). */
const varintCache = new Map<string, Uint8Array>();
const VARINT_CACHE_MAX = 64;

function decimalVarint(s: string): Uint8Array {
  const cached = varintCache.get(s);
  if (cached !== undefined) return cached;
  let v = BigInt.asUintN(64, BigInt(s));
  const bytes: number[] = [];
  while (v >= 0x80n) {
    bytes.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  bytes.push(Number(v));
  const out = Uint8Array.from(bytes);
  if (varintCache.size >= VARINT_CACHE_MAX) varintCache.clear();
  varintCache.set(s, out);
  return out;
}

/** A header field's value: small non-negative numbers directly, IDs through the cache. */
export type FieldValue = number | Uint8Array;

function fieldValue(s: string): FieldValue {
  if (s.length < 16) {
    const n = Number(s);
    if (Number.isSafeInteger(n) && n >= 0) return n;
  }
  return decimalVarint(s);
}

function fieldSize(v: FieldValue): number {
  if (typeof v === 'number') return v === 0 ? 0 : 1 + varintSize(v);
  return v.length === 1 && v[0] === 0 ? 0 : 1 + v.length;
}

function writeField(buf: Buffer, at: number, tag: number, v: FieldValue): number {
  if (typeof v === 'number') {
    if (v === 0) return at;
    buf[at++] = tag;
    return writeVarint(buf, at, v);
  }
  if (v.length === 1 && v[0] === 0) return at;
  buf[at++] = tag;
  buf.set(v, at);
  return at + v.length;
}

/** A ResponseHeader's fields ready to write, and the size of the message they make. */
export interface PreparedHeader {
  clusterId: FieldValue;
  memberId: FieldValue;
  revision: FieldValue;
  raftTerm: FieldValue;
  size: number;
}

export function prepareHeader(h: HeaderFields): PreparedHeader {
  const clusterId = fieldValue(h.cluster_id);
  const memberId = fieldValue(h.member_id);
  const revision = fieldValue(h.revision);
  const raftTerm = fieldValue(h.raft_term);
  const size = fieldSize(clusterId) + fieldSize(memberId) + fieldSize(revision) + fieldSize(raftTerm);
  return { clusterId, memberId, revision, raftTerm, size };
}

/** Writes the header as field 1 of the enclosing response (every etcd response has it there). */
export function writeHeader(buf: Buffer, at: number, h: PreparedHeader): number {
  buf[at++] = 0x0a;
  at = writeVarint(buf, at, h.size);
  at = writeField(buf, at, 0x08, h.clusterId);
  at = writeField(buf, at, 0x10, h.memberId);
  at = writeField(buf, at, 0x18, h.revision);
  return writeField(buf, at, 0x20, h.raftTerm);
}

/** etcdserverpb.RangeResponse bytes, zero values left out as Go's encoder does. */
export function encodeRangeReply(reply: RangeReply): Buffer {
  const header = prepareHeader(reply.header);
  const headerSize = header.size;

  const { revs, keysOnly, more, count } = reply.range;
  const kvSizes = new Array<number>(revs.length);
  let size = 1 + varintSize(headerSize) + headerSize;
  for (let i = 0; i < revs.length; i++) {
    const n = keyValueSize((revs[i] as KeyRevision), keysOnly);
    kvSizes[i] = n;
    size += 1 + varintSize(n) + n;
  }
  if (more) size += 2;
  if (count !== 0) size += 1 + varintSize(count);

  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  at = writeHeader(buf, at, header);
  for (let i = 0; i < revs.length; i++) {
    buf[at++] = 0x12;
    at = writeVarint(buf, at, (kvSizes[i] as number));
    at = writeKeyValue(buf, at, (revs[i] as KeyRevision), keysOnly);
  }
  if (more) {
    buf[at++] = 0x18;
    buf[at++] = 1;
  }
  if (count !== 0) {
    buf[at++] = 0x20;
    at = writeVarint(buf, at, count);
  }
  if (at !== size) throw new Error(`RangeResponse encoding wrote ${at} of ${size} bytes`);
  return buf;
}

/**
 * Makes a Range method definition decode requests with decodeRangeRequest and encode RangeReply
 * responses with encodeRangeReply; any other response object still goes through the definition's
 * own (protobufjs) serializer. Idempotent.
 */
export function installRangeCodec(method: MethodDefinition<unknown, unknown>): void {
  installMethodCodecs(method, { reply: RangeReply, encode: encodeRangeReply, decode: decodeRangeRequest });
}
