import type { MethodDefinition } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { etcdServiceDefinitions } from '../../src/api/etcd-proto.js';
import { encodePutReply, installPutReplyCodec, PutReply } from '../../src/api/put-codec.js';
import { SeededRandom } from '../../src/util/prng.js';

type Method = MethodDefinition<unknown, unknown>;

// The protobufjs serializer, taken before the codec is installed on a copy of the definition.
const definition = etcdServiceDefinitions().KV.Put as Method;
const protobufSerialize = definition.responseSerialize;
const withCodec = { ...definition } as Method;
installPutReplyCodec(withCodec);

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
