import { join } from 'node:path';
import protobuf from 'protobufjs';
import { varintSize, writeVarint } from '../mvcc/record-codec.js';
import { protoRootDir } from '../util/proto-dir.js';

/**
 * Encodes the requests Ketch members put in Raft entries (proto/ketch/internal.proto), using etcd's
 * own message types so a request is carried exactly as the client sent it. Decoding gives the same
 * object shapes as our gRPC handlers receive (see src/api/etcd-proto.ts): snake_case fields, int64 as
 * decimal strings, enums as names, bytes as Buffer, defaults filled. Puts, nearly every entry, are
 * encoded and decoded by hand to the same bytes and objects (see "Puts by hand" below).
 */

/** A decoded etcd or internal message: field names as on the wire schema. */
export type ProtoObject = { [field: string]: unknown };

export interface InternalRequest {
  id: string;
  /** Which oneof member is set, e.g. 'put', 'txn', 'publish'. */
  request: string;
  [field: string]: unknown;
}

const toObjectOptions: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
  arrays: true,
};

let types: { request: protobuf.Type; memberContext: protobuf.Type } | undefined;

function load(): NonNullable<typeof types> {
  if (types !== undefined) return types;
  const etcdDir = join(protoRootDir(), 'etcd');
  const ketchDir = join(protoRootDir(), 'ketch');
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string): string =>
    target.startsWith('/') ? target : target === 'internal.proto' ? join(ketchDir, target) : join(etcdDir, target);
  root.loadSync('internal.proto', { keepCase: true });
  root.resolveAll();
  types = {
    request: root.lookupType('ketch.internalpb.InternalRequest'),
    memberContext: root.lookupType('ketch.internalpb.MemberContext'),
  };
  return types;
}

/** The protobufjs codec: the path for every request but a plain put, and the reference the put path must match. */
export const protobufInternalRequest = {
  encode(req: InternalRequest): Uint8Array {
    const t = load().request;
    return t.encode(t.fromObject(req)).finish();
  },
  decode(data: Uint8Array): InternalRequest {
    const t = load().request;
    return t.toObject(t.decode(data), toObjectOptions) as InternalRequest;
  },
};

export function encodeInternalRequest(req: InternalRequest): Uint8Array {
  return encodePut(req) ?? protobufInternalRequest.encode(req);
}

export function decodeInternalRequest(data: Uint8Array): InternalRequest {
  return decodePut(data) ?? protobufInternalRequest.decode(data);
}

// ---- Puts by hand.
//
// Nearly every entry is a put, and protobufjs's fromObject/encode (Long.fromString for the lease)
// and decode/toObject cost the leader ~10% of its CPU and much of its garbage; every member decodes
// every entry. So a put in the plain shape below is written and read here, exactly as protobufjs
// does it: fields in number order, a field written whenever it is set (zero values too: protobufjs
// writes what fromObject copied), absent fields decoded to their defaults, bytes decoded as views.
// test/server/request-codec.test.ts checks bytes and objects against protobufjs over random puts.
// Anything else or in doubt (other types, unknown or repeated fields, malformed bytes) returns
// undefined and takes the protobufjs path, which then throws whatever it threw before.
//
// Field numbers: proto/ketch/internal.proto (InternalRequest: id = 1, put = 2, auth = 30;
// AuthHeader: username = 1, auth_revision = 2) and proto/etcd/etcdserverpb/rpc.proto (PutRequest:
// key = 1, value = 2, lease = 3, prev_kv = 4, ignore_value = 5, ignore_lease = 6).

const EMPTY = Buffer.alloc(0);

/** An object literal: class instances (protobufjs messages among them) go through protobufjs. */
function isPlainObject(v: unknown): v is ProtoObject {
  if (typeof v !== 'object' || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

// Only these keys take the hand path, so a field added to the schema later goes through protobufjs.
// (Comparisons, not a Set: this runs on every put, and they cost a third as much.)

function hasRequestFieldsOnly(v: ProtoObject): boolean {
  for (const f in v) if (f !== 'id' && f !== 'request' && f !== 'put' && f !== 'auth') return false;
  return true;
}

function hasPutFieldsOnly(v: ProtoObject): boolean {
  for (const f in v) {
    if (f !== 'key' && f !== 'value' && f !== 'lease' && f !== 'prev_kv' && f !== 'ignore_value' && f !== 'ignore_lease') return false;
  }
  return true;
}

function hasAuthFieldsOnly(v: ProtoObject): boolean {
  for (const f in v) if (f !== 'username' && f !== 'auth_revision') return false;
  return true;
}

/** A varint ready to write: a non-negative safe integer, or its bytes; UNSET when left out. */
type Varint = number | Uint8Array;
const UNSET = -1;

const DECIMAL = /^-?(?:0|[1-9][0-9]*)$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
// protobufjs writes a lone surrogate in a short string as its own 3 bytes, Node as U+FFFD.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Null and undefined are unset for protobufjs's fromObject (`d.field != null`). */
function isUnset(v: unknown): v is null | undefined {
  return v === undefined || v === null;
}

/** A string field's UTF-8 length; UNSET when unset; undefined when in doubt. */
function stringBytes(v: unknown): number | undefined {
  if (isUnset(v)) return UNSET;
  if (typeof v !== 'string') return undefined;
  const n = Buffer.byteLength(v, 'utf8');
  return n === v.length || !LONE_SURROGATE.test(v) ? n : undefined;
}

// The last large lease's varint: a lease ID is usually on many puts in a row.
let lastLease = '';
let lastLeaseVarint: Uint8Array = new Uint8Array([0]);

/** An int64 (signed) or uint64 field's varint: from a decimal string or a safe integer; undefined when in doubt. */
function int64Varint(v: unknown, signed: boolean): Varint | undefined {
  if (isUnset(v)) return UNSET;
  if (v === '0') return 0; // most puts have no lease
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) return undefined;
    if (v >= 0) return v === 0 ? 0 : v; // -0 is 0
    return signed ? bigVarint(BigInt(v)) : undefined;
  }
  if (typeof v !== 'string' || v.length > 20 || !DECIMAL.test(v)) return undefined;
  if (v.length < 16 && v.charCodeAt(0) !== 0x2d) return Number(v);
  if (signed && v === lastLease) return lastLeaseVarint;
  const n = BigInt(v);
  if (signed ? n < INT64_MIN || n > INT64_MAX : n < 0n || n > UINT64_MAX) return undefined;
  const bytes = bigVarint(n);
  if (signed) {
    lastLease = v;
    lastLeaseVarint = bytes;
  }
  return bytes;
}

/** Two's complement for negatives: ten bytes, as protobufjs (and Go) write them. */
function bigVarint(n: bigint): Uint8Array {
  let v = BigInt.asUintN(64, n);
  const bytes: number[] = [];
  while (v >= 0x80n) {
    bytes.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  bytes.push(Number(v));
  return Uint8Array.from(bytes);
}

function varintLength(v: Varint): number {
  return typeof v === 'number' ? varintSize(v) : v.length;
}

function putVarint(buf: Buffer, at: number, v: Varint): number {
  if (typeof v === 'number') return writeVarint(buf, at, v);
  buf.set(v, at);
  return at + v.length;
}

function putBytes(buf: Buffer, at: number, tag: number, v: Uint8Array): number {
  buf[at++] = tag;
  at = writeVarint(buf, at, v.length);
  buf.set(v, at);
  return at + v.length;
}

function putString(buf: Buffer, at: number, tag: number, s: string, n: number): number {
  buf[at++] = tag;
  at = writeVarint(buf, at, n);
  if (n === s.length && n < 64) {
    for (let i = 0; i < n; i++) buf[at + i] = s.charCodeAt(i);
  } else {
    buf.write(s, at, n, 'utf8');
  }
  return at + n;
}

function putBool(buf: Buffer, at: number, tag: number, v: boolean): number {
  buf[at++] = tag;
  buf[at++] = v ? 1 : 0;
  return at;
}

function isBytesField(v: unknown): v is Uint8Array | null | undefined {
  return isUnset(v) || v instanceof Uint8Array;
}

function isBoolField(v: unknown): v is boolean | null | undefined {
  return isUnset(v) || typeof v === 'boolean';
}

function fieldLength(tagBytes: number, n: number): number {
  return tagBytes + varintSize(n) + n;
}

/** The put's InternalRequest bytes, or undefined for anything not in the plain shape. */
function encodePut(req: InternalRequest): Buffer | undefined {
  if (req.request !== 'put' || !isPlainObject(req) || !hasRequestFieldsOnly(req)) return undefined;
  const { id, put, auth } = req;
  if (!isPlainObject(put) || !hasPutFieldsOnly(put)) return undefined;
  const { key, value, prev_kv: prevKv, ignore_value: ignoreValue, ignore_lease: ignoreLease } = put;
  if (!isBytesField(key) || !isBytesField(value)) return undefined;
  if (!isBoolField(prevKv) || !isBoolField(ignoreValue) || !isBoolField(ignoreLease)) return undefined;
  const idBytes = stringBytes(id);
  const lease = int64Varint(put.lease, true);
  if (idBytes === undefined || lease === undefined) return undefined;

  let putSize = 0;
  if (!isUnset(key)) putSize += fieldLength(1, key.length);
  if (!isUnset(value)) putSize += fieldLength(1, value.length);
  if (lease !== UNSET) putSize += 1 + varintLength(lease);
  if (!isUnset(prevKv)) putSize += 2;
  if (!isUnset(ignoreValue)) putSize += 2;
  if (!isUnset(ignoreLease)) putSize += 2;
  let size = fieldLength(1, putSize);
  if (idBytes !== UNSET) size += fieldLength(1, idBytes);

  let username: unknown;
  let usernameBytes: number | undefined = UNSET;
  let revision: Varint | undefined = UNSET;
  let authSize = 0;
  const hasAuth = !isUnset(auth);
  if (hasAuth) {
    if (!isPlainObject(auth) || !hasAuthFieldsOnly(auth)) return undefined;
    username = auth.username;
    usernameBytes = stringBytes(username);
    revision = int64Varint(auth.auth_revision, false);
    if (usernameBytes === undefined || revision === undefined) return undefined;
    if (usernameBytes !== UNSET) authSize += fieldLength(1, usernameBytes);
    if (revision !== UNSET) authSize += 1 + varintLength(revision);
    size += fieldLength(2, authSize);
  }

  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  if (typeof id === 'string') at = putString(buf, at, 0x0a, id, idBytes);
  buf[at++] = 0x12;
  at = writeVarint(buf, at, putSize);
  if (!isUnset(key)) at = putBytes(buf, at, 0x0a, key);
  if (!isUnset(value)) at = putBytes(buf, at, 0x12, value);
  if (lease !== UNSET) {
    buf[at++] = 0x18;
    at = putVarint(buf, at, lease);
  }
  if (!isUnset(prevKv)) at = putBool(buf, at, 0x20, prevKv);
  if (!isUnset(ignoreValue)) at = putBool(buf, at, 0x28, ignoreValue);
  if (!isUnset(ignoreLease)) at = putBool(buf, at, 0x30, ignoreLease);
  if (hasAuth) {
    buf[at++] = 0xf2; // field 30, length-delimited: a two-byte tag
    buf[at++] = 0x01;
    at = writeVarint(buf, at, authSize);
    if (typeof username === 'string') at = putString(buf, at, 0x0a, username, usernameBytes);
    if (revision !== UNSET) {
      buf[at++] = 0x10;
      at = putVarint(buf, at, revision);
    }
  }
  if (at !== size) throw new Error(`InternalRequest put encoding wrote ${at} of ${size} bytes`);
  return buf;
}

/**
 * A reader over a put's bytes. Every read gives up (-1 or undefined) where protobufjs might read
 * differently: a varint or field running past the end of its message, a varint longer than needed
 * here (4 bytes for tags and lengths, 1 for booleans, 10 for int64).
 */
class PutReader {
  at = 0;
  constructor(private readonly buf: Uint8Array) {}

  /** A tag or length: a varint of at most 4 bytes ending before `end`. */
  small(end: number): number {
    const buf = this.buf;
    let at = this.at;
    let n = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (at >= end) return -1;
      const b = buf[at++] as number;
      n |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.at = at;
        return n;
      }
    }
    return -1;
  }

  /** The end of a length-delimited field that starts here, the reader moved past its length. */
  field(end: number): number {
    const n = this.small(end);
    return n < 0 || this.at + n > end ? -1 : this.at + n;
  }

  /** A bytes field as protobufjs gives it: a view into the entry, a Buffer when empty. */
  bytes(end: number): Uint8Array | undefined {
    const fieldEnd = this.field(end);
    if (fieldEnd < 0) return undefined;
    const out = fieldEnd === this.at ? EMPTY : this.buf.subarray(this.at, fieldEnd);
    this.at = fieldEnd;
    return out;
  }

  string(end: number): string | undefined {
    const fieldEnd = this.field(end);
    if (fieldEnd < 0) return undefined;
    const out = utf8Text(this.buf, this.at, fieldEnd);
    this.at = fieldEnd;
    return out;
  }

  bool(end: number): boolean | undefined {
    if (this.at >= end) return undefined;
    const b = this.buf[this.at++] as number;
    return b < 0x80 ? b !== 0 : undefined;
  }

  /** An int64 (signed) or uint64 as the decimal string protobufjs's Long gives. */
  decimal(end: number, signed: boolean): string | undefined {
    const buf = this.buf;
    let at = this.at;
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      if (at >= end) return undefined;
      const b = buf[at++] as number;
      n += (b & 0x7f) * scale; // exact: at most 49 bits
      if (b < 0x80) {
        this.at = at;
        return String(n);
      }
      scale *= 0x80;
    }
    let big = BigInt(n);
    for (let shift = 49n; shift <= 63n; shift += 7n) {
      if (at >= end) return undefined;
      const b = buf[at++] as number;
      big += BigInt(b & 0x7f) << shift;
      if (b < 0x80) {
        this.at = at;
        return (signed ? BigInt.asIntN(64, big) : BigInt.asUintN(64, big)).toString();
      }
    }
    return undefined;
  }
}

/**
 * Strings as protobufjs reads them: Node's decoder from a Buffer, its own from any other array (the
 * two differ on malformed UTF-8; given the field's own view, as there, a cut sequence reads zeros).
 */
function utf8Text(buf: Uint8Array, start: number, end: number): string {
  if (Buffer.isBuffer(buf)) return buf.toString('utf8', start, end);
  return start === end ? '' : protobuf.util.utf8.read(buf.subarray(start, end), 0, end - start);
}

/** The put protobufjs's decode and toObject would give, or undefined for anything else or in doubt. */
function decodePut(data: Uint8Array): InternalRequest | undefined {
  if (!(data instanceof Uint8Array)) return undefined;
  const r = new PutReader(data);
  const end = data.length;
  // Top level: where each field's contents lie (each at most once: protobufjs would replace, not merge).
  let idStart = -1;
  let idEnd = -1;
  let putStart = -1;
  let putEnd = -1;
  let authStart = -1;
  let authEnd = -1;
  while (r.at < end) {
    const tag = r.small(end);
    // 0x0a id, 0x12 put, 0xf2 auth (field 30: f2 01 on the wire); any other field goes to protobufjs.
    if (tag !== 0x0a && tag !== 0x12 && tag !== 0xf2) return undefined;
    const fieldEnd = r.field(end);
    if (fieldEnd < 0) return undefined;
    if (tag === 0x0a) {
      if (idStart >= 0) return undefined;
      idStart = r.at;
      idEnd = fieldEnd;
    } else if (tag === 0x12) {
      if (putStart >= 0) return undefined;
      putStart = r.at;
      putEnd = fieldEnd;
    } else {
      if (authStart >= 0) return undefined;
      authStart = r.at;
      authEnd = fieldEnd;
    }
    r.at = fieldEnd;
  }
  if (putStart < 0) return undefined;

  r.at = putStart;
  const put = readPutFields(r, putEnd);
  if (put === undefined) return undefined;

  let auth: ProtoObject | null = null;
  if (authStart >= 0) {
    let username: string | undefined = '';
    let revision: string | undefined = '0';
    let seen = 0;
    r.at = authStart;
    while (r.at < authEnd) {
      const tag = r.small(authEnd);
      if (tag === 0x0a && (seen & 1) === 0) {
        username = r.string(authEnd);
        seen |= 1;
      } else if (tag === 0x10 && (seen & 2) === 0) {
        revision = r.decimal(authEnd, false);
        seen |= 2;
      } else {
        return undefined;
      }
      if (username === undefined || revision === undefined) return undefined;
    }
    auth = { username, auth_revision: revision };
  }

  // Keys in protobufjs's toObject order: defaults (id, auth) first, then the oneof and its name.
  return {
    id: idStart < 0 ? '' : utf8Text(data, idStart, idEnd),
    auth,
    put,
    request: 'put',
  };
}

/**
 * A PutRequest's fields from the reader's position to `end`, as protobufjs's decode and toObject
 * (defaults on, int64 as decimal strings) give them; undefined for anything else or in doubt.
 */
function readPutFields(r: PutReader, end: number): ProtoObject | undefined {
  let key: Uint8Array | undefined = EMPTY;
  let value: Uint8Array | undefined = EMPTY;
  let lease: string | undefined = '0';
  let prevKv: boolean | undefined = false;
  let ignoreValue: boolean | undefined = false;
  let ignoreLease: boolean | undefined = false;
  let seen = 0;
  while (r.at < end) {
    const tag = r.small(end);
    if (tag < 0 || tag > 0x30) return undefined;
    const bit = 1 << (tag >>> 3);
    if ((seen & bit) !== 0) return undefined;
    seen |= bit;
    switch (tag) {
      case 0x0a:
        key = r.bytes(end);
        break;
      case 0x12:
        value = r.bytes(end);
        break;
      case 0x18:
        lease = r.decimal(end, true);
        break;
      case 0x20:
        prevKv = r.bool(end);
        break;
      case 0x28:
        ignoreValue = r.bool(end);
        break;
      case 0x30:
        ignoreLease = r.bool(end);
        break;
      default:
        return undefined;
    }
    // A read that gave up left its field undefined.
    if (key === undefined || value === undefined || lease === undefined) return undefined;
    if (prevKv === undefined || ignoreValue === undefined || ignoreLease === undefined) return undefined;
  }
  return { key, value, lease, prev_kv: prevKv, ignore_value: ignoreValue, ignore_lease: ignoreLease };
}

/**
 * An etcdserverpb.PutRequest as a client sends it, decoded as @grpc/proto-loader's deserializer
 * does (src/api/etcd-proto.ts options; key and value are views of `bytes`), or undefined for
 * anything else or in doubt (then the caller takes protobufjs's path).
 */
export function decodePutRequest(bytes: Buffer): ProtoObject | undefined {
  const r = new PutReader(bytes);
  return readPutFields(r, bytes.length);
}

export interface MemberContext {
  request_id: string;
  id: string;
  name: string;
  peer_urls: string[];
  client_urls: string[];
  is_learner: boolean;
}

export function encodeMemberContext(ctx: MemberContext): Uint8Array {
  const t = load().memberContext;
  return t.encode(t.fromObject(ctx)).finish();
}

export function decodeMemberContext(data: Uint8Array): MemberContext {
  const t = load().memberContext;
  return t.toObject(t.decode(data), toObjectOptions) as MemberContext;
}
