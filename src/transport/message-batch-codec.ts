// The peer stream's MessageBatch (proto/ketch/raft.proto) encoded and decoded by hand: it carries
// every append and ack between members, and protobufjs's generic writer and reader were ~12% of a
// leader's allocation under put load (Long-free uint64 writes, fork/ldelim buffers, fromObject
// copies). The bytes are the ones protobufjs writes for the same objects (fields in number order,
// every field that is not undefined or null written, zeros too), so members of either build talk
// to each other; test/transport/message-batch-codec.test.ts checks both directions against it.
//
// Decoding gives what proto-loader gives with raftProtoLoaderOptions: absent fields undefined,
// uint64 as Number (raft-codec.ts refuses one above 2^53), bytes as views of the received buffer.

import { varintSize, writeVarint } from '../util/varint.js';
import type { WireConfState, WireEntry, WireMessage, WireMessageBatch, WireSnapshot } from './raft-proto.js';

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

/** Thrown on bytes that are not a MessageBatch; grpc-js turns it into an INTERNAL error for the call. */
export class MessageBatchDecodeError extends Error {
  constructor(message: string) {
    super(`MessageBatch: ${message}`);
    this.name = 'MessageBatchDecodeError';
  }
}

// ---- Encoding: a size pass, then one buffer written front to back.

/** protobufjs writes an int32 enum below zero as a 10-byte varint; raft never sends one. */
function enumSize(n: number): number {
  return n < 0 ? 10 : varintSize(n);
}

function lenSize(bodyBytes: number): number {
  return varintSize(bodyBytes) + bodyBytes;
}

function strSize(s: string): number {
  return lenSize(Buffer.byteLength(s, 'utf8'));
}

function entrySize(e: WireEntry): number {
  let n = 0;
  if (e.term != null) n += 1 + varintSize(e.term);
  if (e.index != null) n += 1 + varintSize(e.index);
  if (e.type != null) n += 1 + enumSize(e.type);
  if (e.data != null) n += 1 + lenSize(e.data.length);
  return n;
}

function confStateSize(c: WireConfState): number {
  let n = 0;
  for (const v of c.voters ?? []) n += 1 + strSize(v);
  for (const l of c.learners ?? []) n += 1 + strSize(l);
  return n;
}

function metadataSize(m: NonNullable<WireSnapshot['metadata']>): number {
  let n = 0;
  if (m.index != null) n += 1 + varintSize(m.index);
  if (m.term != null) n += 1 + varintSize(m.term);
  if (m.confState != null) n += 1 + lenSize(confStateSize(m.confState));
  return n;
}

function snapshotSize(s: WireSnapshot): number {
  let n = 0;
  if (s.metadata != null) n += 1 + lenSize(metadataSize(s.metadata));
  if (s.data != null) n += 1 + lenSize(s.data.length);
  return n;
}

function messageSize(m: WireMessage): number {
  let n = 0;
  if (m.type != null) n += 1 + enumSize(m.type);
  if (m.from != null) n += 1 + strSize(m.from);
  if (m.to != null) n += 1 + strSize(m.to);
  if (m.term != null) n += 1 + varintSize(m.term);
  if (m.logTerm != null) n += 1 + varintSize(m.logTerm);
  if (m.index != null) n += 1 + varintSize(m.index);
  for (const e of m.entries ?? []) n += 1 + lenSize(entrySize(e));
  if (m.commit != null) n += 1 + varintSize(m.commit);
  if (m.reject != null) n += 2;
  if (m.rejectHint != null) n += 1 + varintSize(m.rejectHint);
  if (m.snapshot != null) n += 1 + lenSize(snapshotSize(m.snapshot));
  if (m.context != null) n += 1 + strSize(m.context);
  return n;
}

class Writer {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  tag(field: number, wireType: number): void {
    this.buf[this.pos++] = (field << 3) | wireType;
  }

  varint(n: number): void {
    this.pos = writeVarint(this.buf, this.pos, n);
  }

  enum(n: number): void {
    if (n >= 0) return this.varint(n);
    // Two's complement over 64 bits, as protobufjs's int32 writer does.
    let lo = n >>> 0;
    let hi = 0xffffffff;
    for (let i = 0; i < 9; i++) {
      this.buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.buf[this.pos++] = lo & 0x01;
  }

  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  str(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.varint(n);
    this.pos += this.buf.write(s, this.pos, n, 'utf8');
  }
}

function writeEntry(w: Writer, e: WireEntry): void {
  if (e.term != null) (w.tag(1, VARINT), w.varint(e.term));
  if (e.index != null) (w.tag(2, VARINT), w.varint(e.index));
  if (e.type != null) (w.tag(3, VARINT), w.enum(e.type));
  if (e.data != null) (w.tag(4, LEN), w.bytes(e.data));
}

function writeConfState(w: Writer, c: WireConfState): void {
  for (const v of c.voters ?? []) (w.tag(1, LEN), w.str(v));
  for (const l of c.learners ?? []) (w.tag(2, LEN), w.str(l));
}

function writeSnapshot(w: Writer, s: WireSnapshot): void {
  const m = s.metadata;
  if (m != null) {
    w.tag(1, LEN);
    w.varint(metadataSize(m));
    if (m.index != null) (w.tag(1, VARINT), w.varint(m.index));
    if (m.term != null) (w.tag(2, VARINT), w.varint(m.term));
    if (m.confState != null) {
      w.tag(3, LEN);
      w.varint(confStateSize(m.confState));
      writeConfState(w, m.confState);
    }
  }
  if (s.data != null) (w.tag(2, LEN), w.bytes(s.data));
}

function writeMessage(w: Writer, m: WireMessage): void {
  if (m.type != null) (w.tag(1, VARINT), w.enum(m.type));
  if (m.from != null) (w.tag(2, LEN), w.str(m.from));
  if (m.to != null) (w.tag(3, LEN), w.str(m.to));
  if (m.term != null) (w.tag(4, VARINT), w.varint(m.term));
  if (m.logTerm != null) (w.tag(5, VARINT), w.varint(m.logTerm));
  if (m.index != null) (w.tag(6, VARINT), w.varint(m.index));
  for (const e of m.entries ?? []) {
    w.tag(7, LEN);
    w.varint(entrySize(e));
    writeEntry(w, e);
  }
  if (m.commit != null) (w.tag(8, VARINT), w.varint(m.commit));
  if (m.reject != null) (w.tag(9, VARINT), w.varint(m.reject ? 1 : 0));
  if (m.rejectHint != null) (w.tag(10, VARINT), w.varint(m.rejectHint));
  if (m.snapshot != null) {
    w.tag(11, LEN);
    w.varint(snapshotSize(m.snapshot));
    writeSnapshot(w, m.snapshot);
  }
  if (m.context != null) (w.tag(12, LEN), w.str(m.context));
}

export function encodeMessageBatch(b: WireMessageBatch): Buffer {
  const sizes: number[] = [];
  let total = 0;
  if (b.clusterId != null) total += 1 + strSize(b.clusterId);
  if (b.from != null) total += 1 + strSize(b.from);
  if (b.to != null) total += 1 + strSize(b.to);
  for (const m of b.messages ?? []) {
    const size = messageSize(m);
    sizes.push(size);
    total += 1 + lenSize(size);
  }
  const w = new Writer(Buffer.allocUnsafe(total));
  if (b.clusterId != null) (w.tag(1, LEN), w.str(b.clusterId));
  if (b.from != null) (w.tag(2, LEN), w.str(b.from));
  if (b.to != null) (w.tag(3, LEN), w.str(b.to));
  let i = 0;
  for (const m of b.messages ?? []) {
    w.tag(4, LEN);
    w.varint(sizes[i++] as number);
    writeMessage(w, m);
  }
  if (w.pos !== total) throw new Error(`MessageBatch encoder wrote ${w.pos} bytes, sized ${total}`);
  return w.buf;
}

// ---- Decoding.

class Reader {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly end: number,
  ) {}

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** A varint as a Number: exact up to 2^53, above that too large to pass raft-codec's checks. */
  varint(): number {
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new MessageBatchDecodeError('truncated varint');
      const b = this.buf[this.pos++] as number;
      n += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return n;
      scale *= 128;
    }
    throw new MessageBatchDecodeError('varint longer than 10 bytes');
  }

  /** An enum: an int32 (a negative one arrives as a 10-byte varint and decodes to its 32-bit value). */
  int32(): number {
    const n = this.varint();
    return n > 0x7fffffff ? -1 : n;
  }

  /** The [start, end) of a length-delimited field's body. */
  span(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (len > this.end - start) throw new MessageBatchDecodeError('length-delimited field runs past its message');
    this.pos = start + len;
    return [start, this.pos];
  }

  str(): string {
    const [s, e] = this.span();
    return this.buf.toString('utf8', s, e);
  }

  bytes(): Buffer {
    const [s, e] = this.span();
    return this.buf.subarray(s, e);
  }

  sub(): Reader {
    const [s, e] = this.span();
    return new Reader(this.buf, s, e);
  }

  skip(wireType: number): void {
    if (wireType === VARINT) this.varint();
    else if (wireType === LEN) this.span();
    else if (wireType === I64 || wireType === I32) {
      const n = wireType === I64 ? 8 : 4;
      if (this.pos + n > this.end) throw new MessageBatchDecodeError('truncated fixed-width field');
      this.pos += n;
    } else throw new MessageBatchDecodeError(`unsupported wire type ${wireType}`);
  }
}

/** Calls `field` for each field of the message `r` spans; a field of another wire type is skipped. */
function fields(r: Reader, field: (n: number, wireType: number) => boolean): void {
  while (!r.done) {
    const tag = r.varint();
    const n = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (n === 0) throw new MessageBatchDecodeError('field number 0');
    if (!field(n, wireType)) r.skip(wireType);
  }
}

function readEntry(r: Reader): WireEntry {
  const e: WireEntry = {};
  fields(r, (n, t) => {
    if (n === 1 && t === VARINT) e.term = r.varint();
    else if (n === 2 && t === VARINT) e.index = r.varint();
    else if (n === 3 && t === VARINT) e.type = r.int32();
    else if (n === 4 && t === LEN) e.data = r.bytes();
    else return false;
    return true;
  });
  return e;
}

function readConfState(r: Reader): WireConfState {
  const voters: string[] = [];
  const learners: string[] = [];
  fields(r, (n, t) => {
    if (n === 1 && t === LEN) voters.push(r.str());
    else if (n === 2 && t === LEN) learners.push(r.str());
    else return false;
    return true;
  });
  const c: { voters?: string[]; learners?: string[] } = {};
  if (voters.length > 0) c.voters = voters;
  if (learners.length > 0) c.learners = learners;
  return c;
}

function readSnapshot(r: Reader): WireSnapshot {
  const s: { metadata?: { index?: number; term?: number; confState?: WireConfState }; data?: Buffer } = {};
  fields(r, (n, t) => {
    if (n === 1 && t === LEN) {
      const m: { index?: number; term?: number; confState?: WireConfState } = {};
      const mr = r.sub();
      fields(mr, (mn, mt) => {
        if (mn === 1 && mt === VARINT) m.index = mr.varint();
        else if (mn === 2 && mt === VARINT) m.term = mr.varint();
        else if (mn === 3 && mt === LEN) m.confState = readConfState(mr.sub());
        else return false;
        return true;
      });
      s.metadata = m;
    } else if (n === 2 && t === LEN) s.data = r.bytes();
    else return false;
    return true;
  });
  return s;
}

function readMessage(r: Reader): WireMessage {
  const m: {
    -readonly [K in keyof WireMessage]: WireMessage[K];
  } & { entries?: WireEntry[] } = {};
  fields(r, (n, t) => {
    if (t === VARINT) {
      if (n === 1) m.type = r.int32();
      else if (n === 4) m.term = r.varint();
      else if (n === 5) m.logTerm = r.varint();
      else if (n === 6) m.index = r.varint();
      else if (n === 8) m.commit = r.varint();
      else if (n === 9) m.reject = r.varint() !== 0;
      else if (n === 10) m.rejectHint = r.varint();
      else return false;
    } else if (t === LEN) {
      if (n === 2) m.from = r.str();
      else if (n === 3) m.to = r.str();
      else if (n === 7) (m.entries ??= []).push(readEntry(r.sub()));
      else if (n === 11) m.snapshot = readSnapshot(r.sub());
      else if (n === 12) m.context = r.str();
      else return false;
    } else return false;
    return true;
  });
  return m;
}

export function decodeMessageBatch(buf: Buffer): WireMessageBatch {
  const r = new Reader(buf, 0, buf.length);
  const b: { clusterId?: string; from?: string; to?: string; messages?: WireMessage[] } = {};
  fields(r, (n, t) => {
    if (t !== LEN) return false;
    if (n === 1) b.clusterId = r.str();
    else if (n === 2) b.from = r.str();
    else if (n === 3) b.to = r.str();
    else if (n === 4) (b.messages ??= []).push(readMessage(r.sub()));
    else return false;
    return true;
  });
  return b;
}
