// How MVCC data sits in LevelDB. Everything lives under the byte 'm':
//
//   'm' 'k' <main: 8 bytes BE> '_' <sub: 8 bytes BE> ['t']  ->  mvccpb.KeyValue (protobuf)
//   'm' 'c'                                                  ->  compact revision (8 bytes BE)
//
// After the two-byte prefix a revision record is byte for byte a record of etcd 3.4's bbolt "key"
// bucket: the same revision key (a trailing 't' marks a tombstone) and the same gogoproto encoding
// of KeyValue (fields in order, zero values omitted; a tombstone stores only the key). That is what
// lets hashKV produce etcd's numbers, and keeps an etcd snapshot importable record by record.
// Key and value bytes travel as latin1 strings inside the store (one char per byte, ordered as the
// bytes are).

import { varintSize, writeVarint } from '../util/varint.js';
import type { KeyRevision } from './key-index.js';
import { toLatin1, writeLatin1 } from './latin1.js';
import { MvccError, type KeyValue } from './types.js';

export const REVISION_PREFIX: Buffer = Buffer.from('mk', 'latin1');
export const COMPACT_REVISION_KEY: Buffer = Buffer.from('mc', 'latin1');

/** etcd's revision key: 8 bytes main, '_', 8 bytes sub. */
export const REVISION_BYTES = 17;
const PREFIX_BYTES = 2;
const TOMBSTONE_MARK = 0x74; // 't'
const SEPARATOR = 0x5f; // '_'
const TWO_POW_32 = 0x1_0000_0000;

function writeUint64(buf: Buffer, offset: number, n: number): void {
  buf.writeUInt32BE(Math.floor(n / TWO_POW_32), offset);
  buf.writeUInt32BE(n >>> 0, offset + 4);
}

function readUint64(buf: Buffer, offset: number): number {
  const n = buf.readUInt32BE(offset) * TWO_POW_32 + buf.readUInt32BE(offset + 4);
  if (!Number.isSafeInteger(n)) throw new MvccError('Corrupt', `mvcc: revision out of range in record key`);
  return n;
}

/** The LevelDB key of a revision record ('m' 'k' + etcd's revision key). */
export function encodeRevisionKey(main: number, sub: number, tombstone: boolean): Buffer {
  const buf = Buffer.allocUnsafe(PREFIX_BYTES + REVISION_BYTES + (tombstone ? 1 : 0));
  writeRevisionKey(buf, 0, main, sub, tombstone);
  return buf;
}

/** Writes encodeRevisionKey's bytes at `at`; returns the offset after them. */
export function writeRevisionKey(buf: Buffer, at: number, main: number, sub: number, tombstone: boolean): number {
  buf[at] = 0x6d; // 'm'
  buf[at + 1] = 0x6b; // 'k'
  writeUint64(buf, at + 2, main);
  buf[at + 10] = SEPARATOR;
  writeUint64(buf, at + 11, sub);
  if (!tombstone) return at + PREFIX_BYTES + REVISION_BYTES;
  buf[at + 19] = TOMBSTONE_MARK;
  return at + PREFIX_BYTES + REVISION_BYTES + 1;
}

export interface DecodedRevisionKey {
  main: number;
  sub: number;
  tombstone: boolean;
}

export function decodeRevisionKey(key: Buffer): DecodedRevisionKey {
  const n = key.length - PREFIX_BYTES;
  if (
    key[0] !== 0x6d ||
    key[1] !== 0x6b ||
    (n !== REVISION_BYTES && n !== REVISION_BYTES + 1) ||
    key[10] !== SEPARATOR ||
    (n === REVISION_BYTES + 1 && key[19] !== TOMBSTONE_MARK)
  ) {
    throw new MvccError('Corrupt', `mvcc: malformed revision record key ${key.toString('hex')}`);
  }
  return { main: readUint64(key, 2), sub: readUint64(key, 11), tombstone: n === REVISION_BYTES + 1 };
}

export function encodeCompactRevision(revision: number): Buffer {
  const buf = Buffer.allocUnsafe(8);
  writeUint64(buf, 0, revision);
  return buf;
}

export function decodeCompactRevision(value: Buffer): number {
  if (value.length !== 8) throw new MvccError('Corrupt', 'mvcc: malformed compact revision record');
  return readUint64(value, 0);
}

// ---- int64 lease IDs as decimal strings.

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** Up to 18 digits without a leading zero: positive, canonical, and below 2^63. */
const SMALL_POSITIVE_DECIMAL = /^[1-9][0-9]{0,17}$/;
const DECIMAL = /^-?[0-9]+$/;

/** The canonical decimal form of an int64 lease ID ('' and '0' = no lease); throws InvalidLease. */
export function canonicalLease(lease: string): string {
  if (lease === '0' || lease === '') return '0';
  if (SMALL_POSITIVE_DECIMAL.test(lease)) return lease;
  const n = DECIMAL.test(lease) ? BigInt(lease) : undefined;
  if (n === undefined || n < INT64_MIN || n > INT64_MAX) {
    throw new MvccError('InvalidLease', `lease ID ${JSON.stringify(lease)} is not a decimal int64`);
  }
  return n.toString();
}

/** Compares two canonical int64 decimal strings numerically (etcd's compareInt64 on leases). */
export function compareLease(a: string, b: string): number {
  if (a === b) return 0;
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

let cachedLease = '';
let cachedLeaseVarint: Uint8Array = new Uint8Array(0);

/** The varint bytes of an int64 lease (negative IDs take ten bytes, as in Go). Caches the last one. */
export function leaseVarint(lease: string): Uint8Array {
  if (lease === cachedLease) return cachedLeaseVarint;
  let v = BigInt.asUintN(64, BigInt(lease));
  const bytes: number[] = [];
  while (v >= 0x80n) {
    bytes.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  bytes.push(Number(v));
  cachedLease = lease;
  cachedLeaseVarint = Uint8Array.from(bytes);
  return cachedLeaseVarint;
}

/**
 * mvccpb.KeyValue exactly as gogoproto marshals it: fields 1..6 in order, zero values left out.
 * `value === null` encodes a tombstone, which etcd stores as KeyValue{Key: key}.
 */
export function encodeKeyValue(
  key: string,
  createRevision: number,
  modRevision: number,
  version: number,
  value: string | null,
  lease: string,
): Buffer {
  if (value === null) {
    const buf = Buffer.allocUnsafe(1 + varintSize(key.length) + key.length);
    buf[0] = 0x0a;
    const at = writeVarint(buf, 1, key.length);
    writeLatin1(buf, key, at);
    return buf;
  }
  const leaseBytes = lease === '0' ? undefined : leaseVarint(lease);
  let size = 0;
  if (key.length > 0) size += 1 + varintSize(key.length) + key.length;
  if (createRevision !== 0) size += 1 + varintSize(createRevision);
  if (modRevision !== 0) size += 1 + varintSize(modRevision);
  if (version !== 0) size += 1 + varintSize(version);
  if (value.length > 0) size += 1 + varintSize(value.length) + value.length;
  if (leaseBytes !== undefined) size += 1 + leaseBytes.length;
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  if (key.length > 0) {
    buf[at++] = 0x0a;
    at = writeVarint(buf, at, key.length);
    at += writeLatin1(buf, key, at);
  }
  if (createRevision !== 0) {
    buf[at++] = 0x10;
    at = writeVarint(buf, at, createRevision);
  }
  if (modRevision !== 0) {
    buf[at++] = 0x18;
    at = writeVarint(buf, at, modRevision);
  }
  if (version !== 0) {
    buf[at++] = 0x20;
    at = writeVarint(buf, at, version);
  }
  if (value.length > 0) {
    buf[at++] = 0x2a;
    at = writeVarint(buf, at, value.length);
    at += writeLatin1(buf, value, at);
  }
  if (leaseBytes !== undefined) {
    buf[at++] = 0x30;
    buf.set(leaseBytes, at);
    at += leaseBytes.length;
  }
  if (at !== size) throw new Error(`mvcc: KeyValue encoding wrote ${at} of ${size} bytes`);
  return buf;
}

/**
 * Bytes of the mvccpb.KeyValue of a put revision as encodeKeyValue writes it; `keysOnly` leaves the
 * value out (etcd's keys_only range). For encoders that write many KeyValues into one buffer.
 */
export function keyValueSize(r: KeyRevision, keysOnly: boolean): number {
  const value = keysOnly ? null : r.value;
  return keyValueSizeFor(r, value === null ? 0 : value.length);
}

/** keyValueSize of a revision whose value, of `valueLength` bytes, is kept elsewhere (in the cold files). */
export function keyValueSizeFor(r: Omit<KeyRevision, 'value'>, valueLength: number): number {
  const key = r.key;
  let size = key.length > 0 ? 1 + varintSize(key.length) + key.length : 0;
  if (r.createRevision !== 0) size += 1 + varintSize(r.createRevision);
  if (r.main !== 0) size += 1 + varintSize(r.main);
  if (r.version !== 0) size += 1 + varintSize(r.version);
  if (valueLength > 0) size += 1 + varintSize(valueLength) + valueLength;
  if (r.lease !== '0') size += 1 + leaseVarint(r.lease).length;
  return size;
}

/**
 * writeKeyValue of a revision whose value, of `valueLength` bytes, is kept elsewhere: everything but
 * the value's bytes, which the caller copies in at the offset returned (no string made of them).
 */
export function writeKeyValueShell(buf: Buffer, at: number, r: Omit<KeyRevision, 'value'>, valueLength: number): number {
  at = writeKeyValueHead(buf, at, r);
  let valueAt = at;
  if (valueLength > 0) {
    buf[at++] = 0x2a;
    valueAt = writeVarint(buf, at, valueLength);
  }
  writeKeyValueLease(buf, valueAt + valueLength, r.lease);
  return valueAt;
}

/** The KeyValue's fields before its value: key, create and mod revision, version. */
function writeKeyValueHead(buf: Buffer, at: number, r: Omit<KeyRevision, 'value'>): number {
  const key = r.key;
  if (key.length > 0) {
    buf[at++] = 0x0a;
    at = writeVarint(buf, at, key.length);
    at += writeLatin1(buf, key, at);
  }
  if (r.createRevision !== 0) {
    buf[at++] = 0x10;
    at = writeVarint(buf, at, r.createRevision);
  }
  if (r.main !== 0) {
    buf[at++] = 0x18;
    at = writeVarint(buf, at, r.main);
  }
  if (r.version !== 0) {
    buf[at++] = 0x20;
    at = writeVarint(buf, at, r.version);
  }
  return at;
}

/** The KeyValue's last field, the lease, unless it is 0. */
function writeKeyValueLease(buf: Buffer, at: number, lease: string): number {
  if (lease === '0') return at;
  const leaseBytes = leaseVarint(lease);
  buf[at++] = 0x30;
  buf.set(leaseBytes, at);
  return at + leaseBytes.length;
}

/** Writes what keyValueSize counted at `at`; returns the offset after it. */
export function writeKeyValue(buf: Buffer, at: number, r: KeyRevision, keysOnly: boolean): number {
  at = writeKeyValueHead(buf, at, r);
  const value = keysOnly ? null : r.value;
  if (value !== null && value.length > 0) {
    buf[at++] = 0x2a;
    at = writeVarint(buf, at, value.length);
    at += writeLatin1(buf, value, at);
  }
  return writeKeyValueLease(buf, at, r.lease);
}

/** Bytes of a tombstone's record value (etcd stores KeyValue{Key: key}). */
export function tombstoneValueSize(key: string): number {
  return 1 + varintSize(key.length) + key.length;
}

/** Writes a tombstone's record value at `at`; returns the offset after it. */
export function writeTombstoneValue(buf: Buffer, at: number, key: string): number {
  buf[at++] = 0x0a;
  at = writeVarint(buf, at, key.length);
  return at + writeLatin1(buf, key, at);
}

/** Protobuf varint helpers for the API layer's hand-written encoders. */
export { varintSize, writeVarint };

const EMPTY = Buffer.alloc(0);

/**
 * The KeyValue of a put revision whose record `data` encodeKeyValue just wrote, with key and value
 * viewing `data` (no copies). Relies on the layout above: the key right after its tag and length,
 * the value last but for the lease field.
 */
export function viewKeyValue(data: Buffer, r: KeyRevision): KeyValue {
  const value = r.value ?? '';
  const keyStart = 1 + varintSize(r.key.length);
  const valueEnd = data.length - (r.lease === '0' ? 0 : 1 + leaseVarint(r.lease).length);
  return {
    key: data.subarray(keyStart, keyStart + r.key.length),
    createRevision: r.createRevision,
    modRevision: r.main,
    version: r.version,
    value: value.length === 0 ? EMPTY : data.subarray(valueEnd - value.length, valueEnd),
    lease: r.lease,
  };
}

export interface DecodedKeyValue {
  key: string;
  createRevision: number;
  modRevision: number;
  version: number;
  value: string;
  lease: string;
}

function corrupt(what: string): MvccError {
  return new MvccError('Corrupt', `mvcc: malformed KeyValue record (${what})`);
}

/** Parses an mvccpb.KeyValue; unknown fields are skipped as protobuf allows. */
export function decodeKeyValue(buf: Buffer): DecodedKeyValue {
  const out: DecodedKeyValue = { key: '', createRevision: 0, modRevision: 0, version: 0, value: '', lease: '0' };
  let at = 0;
  const varint = (): bigint | number => {
    // Numbers while they stay exact (7 bytes = 49 bits), bigint beyond.
    let n = 0;
    let mul = 1;
    for (let i = 0; i < 7; i++) {
      if (at >= buf.length) throw corrupt('truncated varint');
      const b = buf[at++] as number;
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 0x80;
    }
    let big = BigInt(n);
    let shift = 49n;
    for (let i = 7; i < 10; i++) {
      if (at >= buf.length) throw corrupt('truncated varint');
      const b = buf[at++] as number;
      big |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asUintN(64, big);
      shift += 7n;
    }
    throw corrupt('varint too long');
  };
  const safe = (v: bigint | number, field: string): number => {
    if (typeof v === 'number') return v;
    const n = Number(BigInt.asIntN(64, v));
    if (!Number.isSafeInteger(n)) throw corrupt(`${field} out of range`);
    return n;
  };
  const bytes = (): string => {
    const len = safe(varint(), 'length');
    if (at + len > buf.length) throw corrupt('truncated bytes');
    const s = toLatin1(buf, at, at + len);
    at += len;
    return s;
  };
  while (at < buf.length) {
    const tag = safe(varint(), 'tag');
    switch (tag) {
      case 0x0a:
        out.key = bytes();
        break;
      case 0x10:
        out.createRevision = safe(varint(), 'create_revision');
        break;
      case 0x18:
        out.modRevision = safe(varint(), 'mod_revision');
        break;
      case 0x20:
        out.version = safe(varint(), 'version');
        break;
      case 0x2a:
        out.value = bytes();
        break;
      case 0x30: {
        const v = varint();
        out.lease = typeof v === 'number' ? String(v) : BigInt.asIntN(64, v).toString();
        break;
      }
      default:
        switch (tag & 7) {
          case 0:
            varint();
            break;
          case 1:
            at += 8;
            break;
          case 2:
            bytes();
            break;
          case 5:
            at += 4;
            break;
          default:
            throw corrupt(`wire type ${tag & 7}`);
        }
        if (at > buf.length) throw corrupt('truncated field');
    }
  }
  return out;
}
