// The hand codec of the peer stream's MessageBatch against protobufjs (what proto-loader builds from
// proto/ketch/raft.proto with the same options): the same bytes out, the same objects back, unknown
// fields skipped, and damaged input refused with its own error, never a crash or a hang.
import { join } from 'node:path';

import * as protoLoader from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';

import { decodeMessageBatch, encodeMessageBatch, MessageBatchDecodeError } from '../../src/transport/message-batch-codec.js';
import { ketchProtoDir, raftProtoLoaderOptions, type WireMessage, type WireMessageBatch } from '../../src/transport/raft-proto.js';
import { fromWireMessage } from '../../src/transport/raft-codec.js';
import { SeededRandom } from '../../src/util/prng.js';

const protoDir = ketchProtoDir();
const reference = (() => {
  const pkg = protoLoader.loadSync(join(protoDir, 'ketch', 'raft.proto'), { ...raftProtoLoaderOptions, includeDirs: [protoDir] });
  const stream = (pkg['ketch.raftpb.Peer'] as Record<string, protoLoader.MethodDefinition<object, object>>).Stream;
  if (stream === undefined) throw new Error('no Stream method');
  return { encode: stream.requestSerialize, decode: stream.requestDeserialize };
})();

function randomBatch(r: SeededRandom): WireMessageBatch {
  const big = (): number => [0, 1, 127, 128, 16_383, 16_384, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER, r.int(1_000_000)][r.int(10)] as number;
  const maybe = <T>(v: () => T): T | undefined => (r.chance(0.3) ? undefined : v());
  const str = (): string => ['', 'a1b2c3', 'member-7f3e', 'é⚡ context', 'x'.repeat(200)][r.int(5)] as string;
  const bytes = (): Buffer => Buffer.from(Array.from({ length: [0, 1, 127, 128, 300][r.int(5)] as number }, () => r.int(256)));
  const message = (): WireMessage => {
    const m: { -readonly [K in keyof WireMessage]: WireMessage[K] } = {};
    const set = <K extends keyof WireMessage>(k: K, v: WireMessage[K] | undefined): void => {
      if (v !== undefined) m[k] = v;
    };
    set('type', maybe(() => r.int(19)));
    set('from', maybe(str));
    set('to', maybe(str));
    set('term', maybe(big));
    set('logTerm', maybe(big));
    set('index', maybe(big));
    if (r.chance(0.6)) {
      set('entries', Array.from({ length: 1 + r.int(5) }, () => {
        const e: { term?: number; index?: number; type?: number; data?: Buffer } = {};
        if (r.chance(0.9)) e.term = big();
        if (r.chance(0.9)) e.index = big();
        if (r.chance(0.8)) e.type = r.int(2);
        if (r.chance(0.9)) e.data = bytes();
        return e;
      }));
    }
    set('commit', maybe(big));
    set('reject', maybe(() => r.chance(0.5)));
    set('rejectHint', maybe(big));
    if (r.chance(0.15)) {
      set('snapshot', {
        metadata: { index: big(), term: big(), confState: { voters: [str(), str()], learners: r.chance(0.5) ? [str()] : [] } },
        data: bytes(),
      });
    }
    set('context', maybe(str));
    return m;
  };
  const b: { clusterId?: string; from?: string; to?: string; messages?: WireMessage[] } = {};
  if (r.chance(0.9)) b.clusterId = str();
  if (r.chance(0.9)) b.from = str();
  if (r.chance(0.9)) b.to = str();
  if (r.chance(0.95)) b.messages = Array.from({ length: 1 + r.int(4) }, message);
  return b;
}

describe('MessageBatch hand codec', () => {
  it('writes the bytes protobufjs writes, and reads back what protobufjs reads, over 2,000 random batches', () => {
    const r = new SeededRandom(20261206);
    for (let i = 0; i < 2000; i++) {
      const batch = randomBatch(r);
      const ours = encodeMessageBatch(batch);
      const theirs = reference.encode(batch);
      expect(ours.equals(theirs), `batch ${i}: ${JSON.stringify(batch).slice(0, 300)}`).toBe(true);
      expect(decodeMessageBatch(theirs), `batch ${i}`).toEqual(reference.decode(theirs));
    }
  });

  it('what the Raft core sends comes back as the same Raft messages', () => {
    const entries = [
      { term: 3, index: 41, type: 0, data: new Uint8Array([1, 2, 3]) },
      { term: 3, index: 42, type: 1, data: new Uint8Array(0) },
    ];
    const wire: WireMessage = { type: 3, from: 'a', to: 'b', term: 3, logTerm: 3, index: 40, entries, commit: 39 };
    const back = decodeMessageBatch(encodeMessageBatch({ clusterId: 'c', from: 'a', to: 'b', messages: [wire] }));
    const m = fromWireMessage(back.messages?.[0] as WireMessage);
    expect(m.entries.map((e) => ({ ...e, data: Array.from(e.data) }))).toEqual(entries.map((e) => ({ ...e, data: Array.from(e.data) })));
    expect(m).toMatchObject({ from: 'a', to: 'b', term: 3, logTerm: 3, index: 40, commit: 39, reject: false });
  });

  it('skips fields it does not know, of every wire type, in the batch and in a message', () => {
    const unknown = Buffer.from([
      (13 << 3) | 0, 0x96, 0x01, // varint
      (14 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8, // fixed64
      (15 << 3) | 2, 2, 0xaa, 0xbb, // length-delimited
      0xa5, 0x01, 1, 2, 3, 4, // field 20, fixed32 (a two-byte tag)
      0xa8, 0x01, 0x05, // field 21, varint
    ]);
    const base = encodeMessageBatch({ clusterId: 'c', messages: [{ type: 3, term: 2, entries: [{ term: 2, index: 9, data: Buffer.from('x') }] }] });
    expect(decodeMessageBatch(Buffer.concat([base, unknown]))).toEqual(decodeMessageBatch(base));
    expect(decodeMessageBatch(Buffer.concat([base, unknown]))).toEqual(reference.decode(Buffer.concat([base, unknown])));
    const body = Buffer.concat([Buffer.from([(1 << 3) | 0, 3]), unknown]);
    const inMessage = Buffer.concat([Buffer.from([(4 << 3) | 2, body.length]), body]);
    expect(decodeMessageBatch(inMessage)).toEqual({ messages: [{ type: 3 }] });
    expect(decodeMessageBatch(inMessage)).toEqual(reference.decode(inMessage));
  });

  it('refuses damaged input with MessageBatchDecodeError, at every truncation point', () => {
    const r = new SeededRandom(7);
    for (let i = 0; i < 50; i++) {
      const bytes = encodeMessageBatch(randomBatch(r));
      for (let cut = 0; cut < bytes.length; cut++) {
        try {
          decodeMessageBatch(bytes.subarray(0, cut));
        } catch (err) {
          expect(err, `batch ${i} cut at ${cut}`).toBeInstanceOf(MessageBatchDecodeError);
        }
      }
    }
    expect(() => decodeMessageBatch(Buffer.from([(4 << 3) | 2, 0x7f]))).toThrow(/runs past its message/);
    expect(() => decodeMessageBatch(Buffer.from([(1 << 3) | 3]))).toThrow(/unsupported wire type 3/);
    expect(() => decodeMessageBatch(Buffer.from([0x00]))).toThrow(/field number 0/);
    expect(() => decodeMessageBatch(Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))).toThrow(/longer than 10 bytes/);
  });

  it('a uint64 above 2^53 decodes to a number raft-codec refuses, never a rounded safe one', () => {
    // term = 2^60: varint of 60 bits.
    const term = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10];
    const message = Buffer.from([(1 << 3) | 0, 3, (4 << 3) | 0, ...term]);
    const batch = Buffer.concat([Buffer.from([(4 << 3) | 2, message.length]), message]);
    const decoded = decodeMessageBatch(batch).messages?.[0] as WireMessage;
    expect(Number.isSafeInteger(decoded.term)).toBe(false);
    expect(() => fromWireMessage(decoded)).toThrow(/term is not a non-negative safe integer/);
  });
});
