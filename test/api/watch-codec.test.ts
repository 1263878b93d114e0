import type { MethodDefinition } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { etcdServiceDefinitions } from '../../src/api/etcd-proto.js';
import { encodeWatchEventsReply, eventBytes, installWatchCodec, WatchEventsReply } from '../../src/api/watch-codec.js';
import type { Event, KeyValue } from '../../src/mvcc/types.js';
import { SeededRandom } from '../../src/util/prng.js';

type Method = MethodDefinition<unknown, unknown>;

// The protobufjs serializer, taken before the codec is installed on a copy of the definition.
const definition = etcdServiceDefinitions().Watch.Watch as Method;
const protobufSerialize = definition.responseSerialize;
const withCodec = { ...definition } as Method;
installWatchCodec(withCodec);

function randomLease(rng: SeededRandom): string {
  switch (rng.int(4)) {
    case 0:
      return '0';
    case 1:
      return String(1 + rng.int(2 ** 31));
    case 2:
      return String(-1 - rng.int(2 ** 31)); // negative: ten bytes of two's complement
    default:
      return String(BigInt.asIntN(64, BigInt(rng.int(2 ** 32)) * 2n ** 32n + BigInt(rng.int(2 ** 32))));
  }
}

function randomKeyValue(rng: SeededRandom, deleted: boolean): KeyValue {
  const bytes = (max: number): Buffer => Buffer.from(Array.from({ length: rng.int(max) }, () => rng.int(256)));
  const mod = 1 + rng.int(rng.chance(0.5) ? 200 : 2 ** 40);
  if (deleted) return { key: bytes(40), createRevision: 0, modRevision: mod, version: 0, value: Buffer.alloc(0), lease: '0' };
  return {
    key: bytes(40),
    createRevision: rng.chance(0.3) ? mod : 1 + rng.int(mod),
    modRevision: mod,
    version: 1 + rng.int(rng.chance(0.5) ? 10 : 2 ** 31),
    value: rng.chance(0.2) ? Buffer.alloc(0) : bytes(rng.chance(0.97) ? 300 : 20_000),
    lease: randomLease(rng),
  };
}

function randomEvent(rng: SeededRandom): Event {
  const deleted = rng.chance(0.3);
  const e: Event = { type: deleted ? 'DELETE' : 'PUT', kv: randomKeyValue(rng, deleted) };
  if (rng.chance(0.6)) e.prevKv = randomKeyValue(rng, false);
  return e;
}

/** The reply as the plain object protobufjs is given without the codec. */
function plain(reply: WatchEventsReply): Record<string, unknown> {
  return { header: reply.header, watch_id: reply.watch_id, events: reply.events, fragment: reply.fragment };
}

describe('the hand-written WatchResponse codec for events', () => {
  it('decodes to what protobufjs encodes, for random events, prev_kvs, leases, headers and fragments', () => {
    const seed = 777;
    const rng = new SeededRandom(seed);
    for (let i = 0; i < 500; i++) {
      const events = Array.from({ length: 1 + rng.int(rng.chance(0.8) ? 3 : 40) }, () => randomEvent(rng));
      const withPrev = events.map(() => rng.chance(0.5));
      const header = { cluster_id: String(rng.int(2 ** 32)), member_id: String(rng.int(2 ** 32)), revision: String(rng.int(2 ** 40)), raft_term: String(rng.int(100)) };
      const reply = new WatchEventsReply(header, rng.chance(0.2) ? 0 : rng.int(2 ** 31), events, withPrev, rng.chance(0.2));
      const hand = encodeWatchEventsReply(reply);
      const reference = protobufSerialize(plain(reply));
      const what = `seed ${seed} case ${i}`;
      expect(definition.responseDeserialize(hand), what).toEqual(definition.responseDeserialize(reference));
      // Zero values left out (as Go's encoder does): never longer than protobufjs's bytes.
      expect(hand.length, what).toBeLessThanOrEqual(reference.length);
      expect(withCodec.responseSerialize(reply).equals(hand), what).toBe(true);
    }
  });

  it('encodes an event once per prev_kv choice and shares the bytes between replies', () => {
    const rng = new SeededRandom(5);
    const e: Event = { type: 'PUT', kv: randomKeyValue(rng, false), prevKv: randomKeyValue(rng, false) };
    const plainBytes = eventBytes(e, false);
    const withPrevBytes = eventBytes(e, true);
    expect(withPrevBytes.length).toBeGreaterThan(plainBytes.length);
    expect(eventBytes(e, false)).toBe(plainBytes);
    expect(eventBytes(e, true)).toBe(withPrevBytes);
    // An event without a prev_kv has one encoding whatever is asked.
    const created: Event = { type: 'PUT', kv: e.kv };
    expect(eventBytes(created, true).equals(eventBytes(created, false))).toBe(true);
  });

  it('leaves other responses (created, canceled, progress) to protobufjs', () => {
    const header = { cluster_id: '1', member_id: '2', revision: '3', raft_term: '4' };
    for (const response of [
      { header, watch_id: '0', created: true },
      { header, watch_id: '7', canceled: true, compact_revision: '5' },
      { header, watch_id: '-1' },
      { header, watch_id: '3', events: [] },
    ]) {
      expect(withCodec.responseSerialize(response).equals(protobufSerialize(response))).toBe(true);
    }
  });
});
