import type { MethodDefinition } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { etcdServiceDefinitions } from '../../src/api/etcd-proto.js';
import { encodePutReply, installPutCodecs, PutReply } from '../../src/api/put-codec.js';
import { decodePutRequest } from '../../src/server/request-codec.js';
import { SeededRandom } from '../../src/util/prng.js';

type Method = MethodDefinition<unknown, unknown>;

// The protobufjs serializer, taken before the codec is installed on a copy of the definition.
const definition = etcdServiceDefinitions().KV.Put as Method;
const protobufSerialize = definition.responseSerialize;
const protobufDeserialize = definition.requestDeserialize;
const withCodec = { ...definition } as Method;
installPutCodecs(withCodec);

const U64_MAX = 2n ** 64n - 1n;

function randomU64(rng: SeededRandom): string {
  switch (rng.int(5)) {
    case 0:
      return '0';
    case 1:
      return String(1 + rng.int(200));
    case 2:
      return String(rng.int(2 ** 31));
    case 3:
      return U64_MAX.toString();
    default: {
      // A random 64-bit ID, as a member or cluster ID in decimal.
      const hi = BigInt(rng.int(2 ** 32));
      const lo = BigInt(rng.int(2 ** 32));
      return ((hi << 32n) | lo).toString();
    }
  }
}

describe('the hand-written Put response codec', () => {
  // protobufjs writes a zero it is given; the codec leaves zeros out as Go's encoder (etcd) does, so
  // bytes are compared when no field is zero and decoding is compared always.
  it('writes what protobufjs writes (zeros left out, as etcd does) and reads back as the header', () => {
    const seed = 4242;
    const rng = new SeededRandom(seed);
    for (let i = 0; i < 3000; i++) {
      // revision is an int64 (a store revision, never negative); the others are uint64.
      const header = { cluster_id: randomU64(rng), member_id: randomU64(rng), revision: String(rng.int(2 ** 31)), raft_term: randomU64(rng) };
      const hand = encodePutReply(new PutReply(header));
      const reference = protobufSerialize({ header });
      const noZero = Object.values(header).every((v) => v !== '0');
      if (noZero) expect(hand.equals(reference), `seed ${seed} case ${i}: ${JSON.stringify(header)}`).toBe(true);
      expect(withCodec.responseSerialize(new PutReply(header)).equals(hand)).toBe(true);
      const decoded = definition.responseDeserialize(hand) as { header: Record<string, string> };
      expect(decoded.header).toEqual(header);
    }
  });

  it('leaves other responses (a Put with prev_kv) to protobufjs', () => {
    const response = {
      header: { cluster_id: '1', member_id: '2', revision: '3', raft_term: '4' },
      prev_kv: { key: Buffer.from('k'), value: Buffer.from('v'), create_revision: '2', mod_revision: '3', version: '2', lease: '0' },
    };
    expect(withCodec.responseSerialize(response).equals(protobufSerialize(response))).toBe(true);
  });
});

function randomPutRequest(rng: SeededRandom): Record<string, unknown> {
  const bytes = (): Buffer => Buffer.from(Array.from({ length: rng.chance(0.2) ? 0 : rng.int(300) }, () => rng.int(256)));
  const lease = (): string => {
    switch (rng.int(4)) {
      case 0:
        return '0';
      case 1:
        return String(rng.int(2 ** 31));
      case 2:
        return String(-1 - rng.int(2 ** 31)); // negative: ten bytes of two's complement
      default:
        return String(BigInt.asIntN(64, BigInt(rng.int(2 ** 32)) * 2n ** 32n + BigInt(rng.int(2 ** 32))));
    }
  };
  // Each field set or left out, as clients do (etcd's Go client leaves zero values out).
  const req: Record<string, unknown> = {};
  if (rng.chance(0.9)) req.key = bytes();
  if (rng.chance(0.8)) req.value = bytes();
  if (rng.chance(0.5)) req.lease = lease();
  if (rng.chance(0.3)) req.prev_kv = rng.chance(0.5);
  if (rng.chance(0.2)) req.ignore_value = rng.chance(0.5);
  if (rng.chance(0.2)) req.ignore_lease = rng.chance(0.5);
  return req;
}

/** What a deserializer gives for these bytes, or the message it throws. */
function outcome(deserialize: (b: Buffer) => unknown, bytes: Buffer): unknown {
  try {
    return deserialize(bytes);
  } catch (err) {
    return { threw: (err as Error).message };
  }
}

describe('the hand-written Put request decoder', () => {
  const protobufRequestSerialize = definition.requestSerialize;

  it('gives the object proto-loader gives, for random requests, without protobufjs', () => {
    const seed = 777;
    const rng = new SeededRandom(seed);
    for (let i = 0; i < 3000; i++) {
      const bytes = protobufRequestSerialize(randomPutRequest(rng));
      const reference = protobufDeserialize(bytes) as Record<string, unknown>;
      const hand = decodePutRequest(Buffer.from(bytes));
      expect(hand, `seed ${seed} case ${i}`).toEqual(reference);
      expect(Object.keys(hand ?? {})).toEqual(Object.keys(reference));
      expect(Buffer.isBuffer(hand?.key) && Buffer.isBuffer(hand?.value)).toBe(true);
      expect(withCodec.requestDeserialize(Buffer.from(bytes))).toEqual(reference);
    }
  });

  it('leaves odd encodings to protobufjs, with its result or its error', () => {
    const seed = 778;
    const rng = new SeededRandom(seed);
    const odd: Buffer[] = [
      Buffer.from([0x0a, 0x01, 0x61, 0x0a, 0x01, 0x62]), // key twice: protobufjs keeps the last
      Buffer.from([0x20, 0x81, 0x00]), // a bool in two bytes
      Buffer.from([0x38, 0x01]), // field 7, unknown
      Buffer.from([0x19, 1, 2, 3, 4, 5, 6, 7, 8]), // field 3 as fixed64
      Buffer.from([0x0a, 0x05, 0x61]), // key running past the end
      Buffer.from([0x18]), // lease cut off
    ];
    for (let i = 0; i < 500; i++) {
      const bytes = Buffer.from(protobufRequestSerialize(randomPutRequest(rng)));
      // Cut or flip a byte somewhere.
      const at = rng.int(Math.max(1, bytes.length));
      odd.push(rng.chance(0.5) ? bytes.subarray(0, at) : Buffer.from(bytes.map((b, j) => (j === at ? rng.int(256) : b))));
    }
    for (const [i, bytes] of odd.entries()) {
      expect(outcome(withCodec.requestDeserialize, bytes), `case ${i}: ${bytes.toString('hex')}`).toEqual(outcome(protobufDeserialize, bytes));
    }
    expect(decodePutRequest(odd[0] as Buffer)).toBeUndefined();
    expect(decodePutRequest(odd[1] as Buffer)).toBeUndefined();
  });
});
