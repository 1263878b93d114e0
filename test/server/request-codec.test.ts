import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  decodeInternalRequest,
  encodeInternalRequest,
  type InternalRequest,
  protobufInternalRequest,
} from '../../src/server/request-codec.js';
import { SeededRandom } from '../../src/util/prng.js';

// The hand-written put path of request-codec must give protobufjs's bytes and objects exactly; the
// protobufjs path is the reference. Seeds are fixed: a failure names its seed and case.

const SEED = 0x6b657463;

// The reference, kept before any spy wraps the object's methods: spies count only the fallbacks.
const referenceEncode = protobufInternalRequest.encode;
const referenceDecode = protobufInternalRequest.decode;

const INT64_EDGES = [0n, 1n, 127n, 128n, 16383n, 16384n, 2n ** 31n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 56n, 2n ** 63n - 1n, -1n, -128n, -(2n ** 53n), -(2n ** 63n)];
const UINT64_EDGES = [0n, 1n, 127n, 128n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n];
const STRINGS = ['', 'root', 'ü', 'é日本', '😀 emoji', 'x'.repeat(39), 'y'.repeat(40), 'z'.repeat(200), `${'ö'.repeat(70)}😀`];

function randomUint64(rng: SeededRandom): bigint {
  return (BigInt(rng.nextUint32()) << 32n) | BigInt(rng.nextUint32());
}

function randomBytes(rng: SeededRandom): Uint8Array {
  const band = rng.int(10);
  const n = band < 2 ? 0 : band < 6 ? 1 + rng.int(127) : band < 9 ? 128 + rng.int(16384 - 128) : 16384 + rng.int(20000);
  const out = rng.chance(0.5) ? Buffer.allocUnsafe(n) : new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(256);
  return out;
}

/** A lease as a handler or a test would give it: a decimal string mostly, sometimes a safe number. */
function randomLease(rng: SeededRandom): string | number {
  switch (rng.int(6)) {
    case 0:
      return '0';
    case 1:
      return String(1 + rng.int(100000));
    case 2:
      return String(rng.pick(INT64_EDGES));
    case 3:
      return String(BigInt.asIntN(64, randomUint64(rng)));
    case 4:
      return rng.pick([0, 1, 300, -1, -300, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 40 + 7]);
    default:
      return String(-1 - rng.int(1000));
  }
}

function randomRevision(rng: SeededRandom): string | number {
  switch (rng.int(4)) {
    case 0:
      return '0';
    case 1:
      return String(rng.int(1000));
    case 2:
      return String(rng.pick(UINT64_EDGES));
    default:
      return rng.chance(0.5) ? rng.int(1000) : String(randomUint64(rng));
  }
}

/** Each field set (to any value, zero included) or left out, in the shapes the hand path takes. */
function randomPut(rng: SeededRandom, seq: number): InternalRequest {
  const maybe = (v: () => unknown): unknown => (rng.chance(0.85) ? v() : rng.pick([undefined, null]));
  const put: Record<string, unknown> = {};
  for (const [field, v] of [
    ['key', () => randomBytes(rng)],
    ['value', () => randomBytes(rng)],
    ['lease', () => randomLease(rng)],
    ['prev_kv', () => rng.chance(0.5)],
    ['ignore_value', () => rng.chance(0.5)],
    ['ignore_lease', () => rng.chance(0.5)],
  ] as const) {
    if (rng.chance(0.9)) put[field] = maybe(v);
  }
  const id = rng.chance(0.9) ? `${randomUint64(rng).toString(16)}:${seq}` : maybe(() => rng.pick(STRINGS));
  const req: Record<string, unknown> = { request: 'put', put, id };
  if (rng.chance(0.5)) {
    const auth: Record<string, unknown> = {};
    if (rng.chance(0.9)) auth.username = maybe(() => rng.pick(STRINGS));
    if (rng.chance(0.9)) auth.auth_revision = maybe(() => randomRevision(rng));
    req.auth = auth;
  } else if (rng.chance(0.2)) {
    req.auth = rng.pick([undefined, null]);
  }
  return req as InternalRequest;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** A decoded request with byte fields as `Class:hex` strings, so large values compare quickly. */
function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return `${v.constructor.name}:${hex(v)}`;
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
}

/** The hand decoding equals protobufjs's: values, classes of the byte fields, and key order. */
function expectSameDecoding(data: Uint8Array, what: string): void {
  const want = normalize(referenceDecode(data));
  const got = normalize(decodeInternalRequest(data));
  expect(got, what).toStrictEqual(want);
  expect(JSON.stringify(got), `${what}: key order`).toBe(JSON.stringify(want));
}

/** Whether protobufjs was asked (spies on the reference codec that the public functions fall back to). */
function spyFallback() {
  return { encode: vi.spyOn(protobufInternalRequest, 'encode'), decode: vi.spyOn(protobufInternalRequest, 'decode') };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('InternalRequest put: hand path against protobufjs', () => {
  it('encodes random puts to the same bytes and decodes them to the same objects, without protobufjs', () => {
    const rng = new SeededRandom(SEED);
    const cases: Array<{ req: InternalRequest; want: Uint8Array }> = [];
    for (let i = 0; i < 3000; i++) {
      const req = randomPut(rng, i);
      cases.push({ req, want: referenceEncode(req) });
    }
    const fallback = spyFallback();
    for (const [i, { req, want }] of cases.entries()) {
      const got = encodeInternalRequest(req);
      if (hex(got) !== hex(want)) expect(hex(got), `seed ${SEED} case ${i}`).toBe(hex(want));
      expect(Buffer.isBuffer(got)).toBe(true);
    }
    expect(fallback.encode).not.toHaveBeenCalled();

    for (const [i, { want }] of cases.entries()) {
      expectSameDecoding(want, `seed ${SEED} case ${i} (Buffer)`);
      expectSameDecoding(new Uint8Array(want), `seed ${SEED} case ${i} (Uint8Array)`);
    }
    expect(fallback.decode).not.toHaveBeenCalled();
  });

  it('writes a negative lease as ten bytes of two’s complement, and zero values when they are set', () => {
    const req = { request: 'put', id: '', put: { key: Buffer.alloc(0), lease: '-1', prev_kv: false } } as InternalRequest;
    expect(hex(encodeInternalRequest(req))).toBe('0a00' + '120f' + '0a00' + '18ffffffffffffffffff01' + '2000');
    expect(hex(encodeInternalRequest(req))).toBe(hex(referenceEncode(req)));
    expect(decodeInternalRequest(encodeInternalRequest(req))).toStrictEqual({
      id: '',
      auth: null,
      put: { key: Buffer.alloc(0), value: Buffer.alloc(0), lease: '-1', prev_kv: false, ignore_value: false, ignore_lease: false },
      request: 'put',
    });
  });

  it('decodes an auth header that is present but empty to its defaults, and an absent one to null', () => {
    const put = { key: Buffer.from('k'), value: Buffer.from('v'), lease: '0' };
    const withAuth = encodeInternalRequest({ request: 'put', put, id: 'a:1', auth: {} } as InternalRequest);
    expect(decodeInternalRequest(withAuth).auth).toStrictEqual({ username: '', auth_revision: '0' });
    expectSameDecoding(withAuth, 'empty auth');
    const without = encodeInternalRequest({ request: 'put', put, id: 'a:1', auth: undefined } as InternalRequest);
    expect(decodeInternalRequest(without).auth).toBeNull();
    expectSameDecoding(without, 'no auth');
  });

  it('leaves puts in other shapes to protobufjs, with the same result', () => {
    const key = Buffer.from('k');
    const odd: Array<Record<string, unknown>> = [
      { request: 'put', id: 'x', put: { key: key.toString('base64') } }, // bytes as base64, as fromObject reads them
      { request: 'put', id: 'x', put: { key, lease: '007' } },
      { request: 'put', id: 'x', put: { key, lease: '9223372036854775808' } }, // beyond int64: Long wraps it
      { request: 'put', id: 'x', put: { key, lease: 1.5 } },
      { request: 'put', id: 'x', put: { key, lease: 2 ** 60 } },
      { request: 'put', id: 'x', put: { key, prev_kv: 1 } },
      { request: 'put', id: 'x', put: { key, extra: 1 } },
      { request: 'put', id: 7, put: { key } },
      { request: 'put', id: 'x\uD800', put: { key } }, // lone surrogate: protobufjs writes it its own way
      { request: 'put', id: 'x', put: { key }, auth: { username: '\uDC00y', auth_revision: '1' } },
      { request: 'put', id: 'x', put: { key }, auth: { username: 'u', auth_revision: '-1' } },
      { request: 'put', id: 'x', put: { key }, auth: { username: 'u', auth_revision: -1 } },
      { request: 'put', id: 'x', put: { key }, auth: { username: 'u', auth_revision: '18446744073709551616' } },
      { request: 'put', id: 'x', put: { key }, delete_range: { key } },
      { request: 'put', id: 'x', put: Object.assign(Object.create({ lease: '5' }) as object, { key }) },
    ];
    const wants = odd.map((req) => hex(referenceEncode(req as InternalRequest)));
    const fallback = spyFallback();
    for (const [i, req] of odd.entries()) {
      fallback.encode.mockClear();
      expect(hex(encodeInternalRequest(req as InternalRequest)), `odd case ${i}`).toBe(wants[i]);
      expect(fallback.encode, `odd case ${i}`).toHaveBeenCalledTimes(1);
    }
  });
});

describe('InternalRequest: other requests', () => {
  const txn = {
    request: 'txn',
    id: 'b:2',
    txn: {
      compare: [{ result: 'EQUAL', target: 'MOD', key: Buffer.from('k'), mod_revision: '5' }],
      success: [{ request_put: { key: Buffer.from('k'), value: Buffer.from('v'), lease: '0' } }],
      failure: [{ request_delete_range: { key: Buffer.from('k'), range_end: Buffer.alloc(0) } }],
    },
  };
  const requests: Array<Record<string, unknown>> = [
    txn,
    { ...txn, auth: { username: 'root', auth_revision: '3' } },
    { request: 'delete_range', id: 'c:3', delete_range: { key: Buffer.from('a'), range_end: Buffer.from('b'), prev_kv: true } },
    { request: 'lease_grant', id: 'd:4', lease_grant: { ID: '7587861231285799685', TTL: '10' } },
  ];

  it('go through protobufjs and come back as they were sent', () => {
    const wants = requests.map((req) => hex(referenceEncode(req as InternalRequest)));
    const fallback = spyFallback();
    for (const [i, req] of requests.entries()) {
      fallback.encode.mockClear();
      fallback.decode.mockClear();
      const bytes = encodeInternalRequest(req as InternalRequest);
      expect(hex(bytes)).toBe(wants[i]);
      expect(fallback.encode).toHaveBeenCalledTimes(1);
      const decoded = decodeInternalRequest(bytes);
      expect(fallback.decode).toHaveBeenCalledTimes(1);
      expect(decoded).toMatchObject(req);
      expectSameDecoding(bytes, `${req.request}`);
    }
  });
});

describe('InternalRequest put: malformed bytes', () => {
  type Outcome = 'threw' | 'protobufjs' | 'hand';

  /**
   * Both throw, or decodeInternalRequest gives what protobufjs gives; says which path answered.
   * Called ~100k times, so it compares strings and calls expect only on a difference.
   */
  function sameOutcome(data: Uint8Array, what: string, fallback: { mock: { calls: unknown[] } }): Outcome {
    let want: string | undefined;
    try {
      want = JSON.stringify(normalize(referenceDecode(data)));
    } catch {
      want = undefined;
    }
    const fallbacksBefore = fallback.mock.calls.length;
    let got: string | undefined;
    try {
      got = JSON.stringify(normalize(decodeInternalRequest(data)));
    } catch {
      got = undefined;
    }
    if (got !== want) expect(got ?? 'threw', `${what}: ${hex(data)}`).toBe(want ?? 'threw');
    if (want === undefined) return 'threw';
    return fallback.mock.calls.length > fallbacksBefore ? 'protobufjs' : 'hand';
  }

  it('truncated or corrupted puts throw or decode as protobufjs does', () => {
    const rng = new SeededRandom(SEED + 1);
    const outcomes: Record<Outcome, number> = { threw: 0, protobufjs: 0, hand: 0 };
    const fallback = vi.spyOn(protobufInternalRequest, 'decode');
    for (let i = 0; i < 1000; i++) {
      let req = randomPut(rng, i);
      // Small puts, so that every prefix can be tried.
      const put = req.put as Record<string, unknown>;
      if (put.key instanceof Uint8Array && put.key.length > 40) put.key = put.key.subarray(0, rng.int(40));
      if (put.value instanceof Uint8Array && put.value.length > 40) put.value = put.value.subarray(0, rng.int(40));
      req = { ...req, put };
      const good = Buffer.from(referenceEncode(req));
      const what = `seed ${SEED + 1} case ${i}`;
      for (let n = 0; n < good.length; n++) outcomes[sameOutcome(good.subarray(0, n), `${what} cut to ${n}`, fallback)]++;
      for (let k = 0; k < 8; k++) {
        const bad = Buffer.from(good);
        const edits = 1 + rng.int(3);
        for (let e = 0; e < edits; e++) bad[rng.int(bad.length)] = rng.chance(0.5) ? rng.int(256) : bad[rng.int(bad.length)] ^ (1 << rng.int(8));
        outcomes[sameOutcome(bad, `${what} corrupted ${k}`, fallback)]++;
        outcomes[sameOutcome(new Uint8Array(bad), `${what} corrupted ${k} (Uint8Array)`, fallback)]++;
      }
      fallback.mockClear();
    }
    // Every kind of answer was exercised, the hand path's included.
    expect(outcomes.threw).toBeGreaterThan(1000);
    expect(outcomes.protobufjs).toBeGreaterThan(1000);
    expect(outcomes.hand).toBeGreaterThan(1000);
  });

  it('hands odd but well-formed encodings to protobufjs, or reads them as it does', () => {
    const put = Buffer.from(referenceEncode({ request: 'put', id: 'a', put: { key: Buffer.from('k') } } as InternalRequest));
    const cases: Array<[string, string, Outcome]> = [
      ['put twice (protobufjs keeps the last)', hex(put) + hex(put).slice(6), 'protobufjs'],
      ['unknown top-level field', hex(put) + '2000', 'protobufjs'],
      ['unknown put field', '0a0161' + '1205' + '0a016b' + '3800', 'protobufjs'],
      ['put field with the wrong wire type', '0a0161' + '1202' + '0801', 'threw'],
      ['key twice', '0a0161' + '1206' + '0a016b' + '0a016c', 'protobufjs'],
      ['lease with a 10th byte above 1', '0a0161' + '120e' + '0a016b' + '18ffffffffffffffffff7f', 'hand'],
      ['lease of 11 bytes', '0a0161' + '120f' + '0a016b' + '18ffffffffffffffffffff01', 'threw'],
      ['non-minimal lease varint', '0a0161' + '1206' + '0a016b' + '188000', 'hand'],
      ['non-minimal length', '0a810061' + '1203' + '0a016b', 'hand'],
      ['bool as a multi-byte varint', '0a0161' + '1206' + '0a016b' + '208100', 'protobufjs'],
      ['bool of 2', '0a0161' + '1205' + '0a016b' + '2002', 'hand'],
      ['field number 0', '0a0161' + '1205' + '0a016b' + '0000', 'protobufjs'],
      ['auth with an unknown field', '0a0161' + '1203' + '0a016b' + 'f201021800', 'protobufjs'],
      ['auth revision 2^64 - 1', '0a0161' + '1203' + '0a016b' + 'f2010b10ffffffffffffffffff01', 'hand'],
      ['id with malformed UTF-8', '0a03ff6180' + '1203' + '0a016b', 'hand'],
      ['no put', '0a0161', 'protobufjs'],
      ['empty', '', 'protobufjs'],
    ];
    const fallback = vi.spyOn(protobufInternalRequest, 'decode');
    for (const [what, h, outcome] of cases) {
      const bytes = Buffer.from(h, 'hex');
      expect(sameOutcome(bytes, what, fallback), what).toBe(outcome);
      expect(sameOutcome(new Uint8Array(bytes), `${what} (Uint8Array)`, fallback), what).toBe(outcome);
    }
  });
});
