// The persisted record layout: etcd's revision keys and mvccpb.KeyValue bytes exactly as a
// conforming protobuf encoder (protobufjs over our kv.proto) writes them, int64 leases included.
import { join } from 'node:path';

import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';

import { etcdProtoDir } from '../../src/api/etcd-proto.js';
import { crc32c } from '../../src/mvcc/crc32c.js';
import {
  canonicalLease,
  compareLease,
  decodeKeyValue,
  decodeRevisionKey,
  encodeKeyValue,
  encodeRevisionKey,
  keyValueSize,
  keyValueSizeFor,
  writeKeyValue,
  writeKeyValueShell,
} from '../../src/mvcc/record-codec.js';
import { MvccError } from '../../src/mvcc/types.js';

const KeyValueType = protobuf.loadSync(join(etcdProtoDir(), 'mvccpb', 'kv.proto')).lookupType('mvccpb.KeyValue');

function reference(kv: { key: string; create: number; mod: number; version: number; value: string; lease: string }): Buffer {
  // proto3: a zero field is absent from the wire (protobufjs writes whatever is set, so set only these).
  const fields: Record<string, unknown> = {};
  if (kv.key !== '') fields.key = Buffer.from(kv.key, 'latin1');
  if (kv.create !== 0) fields.createRevision = kv.create;
  if (kv.mod !== 0) fields.modRevision = kv.mod;
  if (kv.version !== 0) fields.version = kv.version;
  if (kv.value !== '') fields.value = Buffer.from(kv.value, 'latin1');
  if (kv.lease !== '0') fields.lease = kv.lease;
  return Buffer.from(KeyValueType.encode(KeyValueType.fromObject(fields)).finish());
}

describe('KeyValue records', () => {
  const cases = [
    { key: 'k', create: 2, mod: 2, version: 1, value: 'v', lease: '0' },
    { key: 'a/b\0\xff', create: 127, mod: 128, version: 16384, value: '', lease: '0' },
    { key: 'x'.repeat(300), create: 2 ** 40, mod: 2 ** 53 - 1, version: 3, value: 'y'.repeat(70000), lease: '1' },
    { key: 'l', create: 5, mod: 9, version: 2, value: '\0', lease: '7587871234567890123' },
    { key: 'n', create: 5, mod: 9, version: 2, value: 'v', lease: '-2' },
    { key: 'm', create: 5, mod: 9, version: 2, value: 'v', lease: '-9223372036854775808' },
  ];

  it('encode as protobuf does, and decode back', () => {
    for (const kv of cases) {
      const bytes = encodeKeyValue(kv.key, kv.create, kv.mod, kv.version, kv.value, kv.lease);
      expect(bytes.toString('hex')).toBe(reference(kv).toString('hex'));
      expect(decodeKeyValue(bytes)).toEqual({
        key: kv.key,
        createRevision: kv.create,
        modRevision: kv.mod,
        version: kv.version,
        value: kv.value,
        lease: kv.lease,
      });
    }
  });

  it('written around a value kept elsewhere, then the value copied in, are the same bytes', () => {
    for (const kv of cases) {
      const r = { key: kv.key, main: kv.mod, sub: 0, createRevision: kv.create, version: kv.version, lease: kv.lease };
      const want = reference(kv);
      expect(keyValueSize({ ...r, value: kv.value }, false)).toBe(want.length);
      expect(keyValueSizeFor(r, kv.value.length)).toBe(want.length);
      const direct = Buffer.alloc(want.length + 3, 0xee);
      expect(writeKeyValue(direct, 3, { ...r, value: kv.value }, false)).toBe(direct.length);
      expect(direct.subarray(3).equals(want)).toBe(true);
      const shell = Buffer.alloc(want.length + 3, 0xee);
      const valueAt = writeKeyValueShell(shell, 3, r, kv.value.length);
      shell.write(kv.value, valueAt, 'latin1');
      expect(shell.subarray(3).toString('hex')).toBe(want.toString('hex'));
    }
  });

  it('a tombstone stores only the key', () => {
    const bytes = encodeKeyValue('gone', 0, 0, 0, null, '0');
    expect(bytes.toString('hex')).toBe(reference({ key: 'gone', create: 0, mod: 0, version: 0, value: '', lease: '0' }).toString('hex'));
    expect(bytes.toString('hex')).toBe('0a04676f6e65');
  });

  it('decoding skips unknown fields and rejects truncation', () => {
    const withUnknown = Buffer.concat([encodeKeyValue('k', 2, 2, 1, 'v', '0'), Buffer.from([0x38, 0x05, 0x42, 0x01, 0x61])]);
    expect(decodeKeyValue(withUnknown).value).toBe('v');
    const bytes = encodeKeyValue('k', 2, 2, 1, 'value', '0');
    expect(() => decodeKeyValue(bytes.subarray(0, bytes.length - 1))).toThrow(MvccError);
  });
});

describe('revision keys', () => {
  it("are 'mk' + 8 bytes main + '_' + 8 bytes sub, 't' for a tombstone", () => {
    const key = encodeRevisionKey(2 ** 40 + 5, 3, false);
    expect(key.toString('hex')).toBe('6d6b' + '0000010000000005' + '5f' + '0000000000000003');
    expect(decodeRevisionKey(key)).toEqual({ main: 2 ** 40 + 5, sub: 3, tombstone: false });
    expect(decodeRevisionKey(encodeRevisionKey(9, 0, true))).toEqual({ main: 9, sub: 0, tombstone: true });
    expect(() => decodeRevisionKey(Buffer.from('mk123'))).toThrow(MvccError);
  });

  it('sort bytewise in revision order', () => {
    const revs: Array<[number, number]> = [
      [2, 0],
      [2, 1],
      [3, 0],
      [255, 7],
      [256, 0],
      [2 ** 33, 0],
    ];
    const keys = revs.map(([main, sub]) => encodeRevisionKey(main, sub, main % 2 === 0));
    const sorted = [...keys].sort(Buffer.compare);
    expect(sorted).toEqual(keys);
  });
});

describe('lease IDs', () => {
  it('are canonical int64 decimals', () => {
    expect(canonicalLease('')).toBe('0');
    expect(canonicalLease('42')).toBe('42');
    expect(canonicalLease('-0')).toBe('0');
    expect(canonicalLease('007')).toBe('7');
    expect(canonicalLease('-9223372036854775808')).toBe('-9223372036854775808');
    for (const bad of ['9223372036854775808', 'abc', '1e3', ' 1', '0x1']) {
      expect(() => canonicalLease(bad)).toThrow(MvccError);
    }
    expect(compareLease('10', '9')).toBe(1);
    expect(compareLease('-1', '0')).toBe(-1);
    expect(compareLease('9223372036854775807', '9223372036854775806')).toBe(1);
  });
});

describe('crc32c', () => {
  it('matches the Castagnoli check value', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
  });
});
