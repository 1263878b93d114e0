// etcd 3.4's backend schema inside a bbolt file (mvcc/kvstore.go, lease/lessor.go, auth/store.go):
//
//   bucket "key"    <main u64 BE> '_' <sub u64 BE> ['t' for a tombstone]  ->  mvccpb.KeyValue
//   bucket "meta"   "consistent_index" u64 BE; "finishedCompactRev" / "scheduledCompactRev" as
//                   revision keys (main is the compact revision)
//   bucket "lease"  lease ID as u64 BE  ->  leasepb.Lease {ID, TTL, RemainingTTL}
//   bucket "auth"   "authEnabled" = [1] when auth is on
//   (members, members_removed, alarm, cluster, authUsers, authRoles: not needed to rebuild a store)

import { join } from 'node:path';
import type { Type } from 'protobufjs';

import { Crc32c } from '../mvcc/crc32c.js';
import { protoRootDir } from '../util/proto-dir.js';
import type { BoltReader } from './bbolt-reader.js';
import { corrupt } from './snapshot-error.js';

/** etcd's revision key: 8 bytes main, '_', 8 bytes sub, then 't' for a tombstone. */
const REVISION_BYTES = 17;
const TOMBSTONE_MARK = 0x74;
const SEPARATOR = 0x5f;

export interface EtcdKeyRecord {
  readonly main: number;
  readonly sub: number;
  readonly tombstone: boolean;
  /** The record's bytes as etcd stores them (revision key and KeyValue), for a byte-exact import. */
  readonly revisionKey: Buffer;
  readonly value: Buffer;
  /** The key the record is about (decoded from the KeyValue). */
  readonly key: Buffer;
}

export interface EtcdLease {
  /** int64 lease ID as a decimal string. */
  readonly id: string;
  readonly ttl: number;
}

export interface EtcdMeta {
  readonly consistentIndex: number;
  /** 0 when the store was never compacted. */
  readonly finishedCompactRevision: number;
  readonly scheduledCompactRevision: number;
}

/** What `etcdctl snapshot status` prints, computed as etcd 3.4 computes it. */
export interface EtcdStatus {
  readonly hash: number;
  readonly revision: number;
  readonly totalKey: number;
  readonly totalSize: number;
}

/** The two protobuf messages of etcd's buckets that the import decodes. */
export interface EtcdProtoTypes {
  readonly keyValue: Type;
  readonly lease: Type;
}

let types: Promise<EtcdProtoTypes> | undefined;

/**
 * mvccpb.KeyValue from the repository's kv.proto; leasepb.Lease declared here (three int64s).
 * protobufjs is imported on first use: `snapshot status` does not decode records and should not
 * pay for loading it.
 */
export function etcdProtoTypes(): Promise<EtcdProtoTypes> {
  types ??= import('protobufjs').then(({ default: protobuf }) => {
    const root = new protobuf.Root();
    root.loadSync(join(protoRootDir(), 'etcd', 'mvccpb', 'kv.proto'), { keepCase: true });
    const lease = new protobuf.Type('Lease')
      .add(new protobuf.Field('ID', 1, 'int64'))
      .add(new protobuf.Field('TTL', 2, 'int64'))
      .add(new protobuf.Field('RemainingTTL', 3, 'int64'));
    new protobuf.Root().define('leasepb').add(lease);
    return { keyValue: root.lookupType('mvccpb.KeyValue'), lease };
  });
  return types;
}

function u64BE(buf: Buffer, offset: number, what: string): number {
  const n = buf.readUInt32BE(offset) * 0x1_0000_0000 + buf.readUInt32BE(offset + 4);
  if (!Number.isSafeInteger(n)) throw corrupt(`${what} is out of range`);
  return n;
}

function parseRevisionKey(k: Buffer): { main: number; sub: number; tombstone: boolean } {
  const tombstone = k.length === REVISION_BYTES + 1 && k[REVISION_BYTES] === TOMBSTONE_MARK;
  if ((k.length !== REVISION_BYTES && !tombstone) || k[8] !== SEPARATOR) {
    throw corrupt(`bucket "key": malformed revision key ${k.toString('hex')}`);
  }
  return { main: u64BE(k, 0, 'main revision'), sub: u64BE(k, 9, 'sub revision'), tombstone };
}

/** Reads etcd's buckets out of a bbolt database. */
export class EtcdBackend {
  /** `types` (from etcdProtoTypes) are needed by keyRecords and leases, not by status. */
  constructor(
    private readonly bolt: BoltReader,
    private readonly types?: EtcdProtoTypes,
  ) {}

  private proto(): EtcdProtoTypes {
    if (this.types === undefined) throw new Error('EtcdBackend: decoding records needs the protobuf types (etcdProtoTypes)');
    return this.types;
  }

  /**
   * etcdctl 3.4's snapshot status: a CRC-32C over every top-level bucket's name and each key and
   * value in it (key order), the count of those keys, and the main revision of the last key in
   * "key". A top-level key that is not a bucket is an error there too.
   */
  status(): EtcdStatus {
    const h = new Crc32c();
    let totalKey = 0;
    let revision = 0;
    for (const top of this.bolt.rootEntries()) {
      if (top.value !== undefined) throw corrupt(`cannot get hash of bucket ${top.key.toString('latin1')}`);
      const name = top.key.toString('latin1');
      const entries = this.bolt.bucket(name);
      if (entries === undefined) throw corrupt(`cannot get hash of bucket ${name}`);
      h.update(top.key);
      const isKey = name === 'key';
      for (const e of entries) {
        h.update(e.key);
        if (e.value !== undefined) h.update(e.value);
        if (isKey) {
          if (e.key.length < REVISION_BYTES) throw corrupt(`bucket "key": malformed revision key ${e.key.toString('hex')}`);
          revision = u64BE(e.key, 0, 'main revision');
        }
        totalKey++;
      }
    }
    return { hash: h.digest(), revision, totalKey, totalSize: this.bolt.dataSize };
  }

  /** The "key" bucket in revision order, each record's key decoded (and its KeyValue checked). */
  *keyRecords(): Generator<EtcdKeyRecord> {
    const entries = this.bolt.bucket('key');
    if (entries === undefined) throw corrupt('not an etcd database: there is no "key" bucket');
    const { keyValue } = this.proto();
    for (const e of entries) {
      if (e.value === undefined) throw corrupt(`bucket "key": ${e.key.toString('hex')} is a nested bucket`);
      const rev = parseRevisionKey(e.key);
      let kv: { key?: Uint8Array; mod_revision?: unknown };
      try {
        kv = keyValue.decode(e.value) as unknown as typeof kv;
      } catch (err) {
        throw corrupt(`bucket "key": revision ${rev.main}/${rev.sub}: KeyValue does not decode: ${(err as Error).message}`, err);
      }
      const key = Buffer.from(kv.key ?? new Uint8Array());
      if (key.length === 0) throw corrupt(`bucket "key": revision ${rev.main}/${rev.sub} has no key`);
      yield { ...rev, revisionKey: e.key, value: e.value, key };
    }
  }

  meta(): EtcdMeta {
    let consistentIndex = 0;
    let finishedCompactRevision = 0;
    let scheduledCompactRevision = 0;
    for (const e of this.bolt.bucket('meta') ?? []) {
      if (e.value === undefined) continue;
      const name = e.key.toString('latin1');
      if (name === 'consistent_index' && e.value.length === 8) consistentIndex = u64BE(e.value, 0, 'consistent index');
      const rev = (): number => {
        if (e.value === undefined || e.value.length < 8) throw corrupt(`bucket "meta": ${name} is malformed`);
        return u64BE(e.value, 0, name);
      };
      if (name === 'finishedCompactRev') finishedCompactRevision = rev();
      if (name === 'scheduledCompactRev') scheduledCompactRevision = rev();
    }
    return { consistentIndex, finishedCompactRevision, scheduledCompactRevision };
  }

  leases(): EtcdLease[] {
    const { lease } = this.proto();
    const out: EtcdLease[] = [];
    for (const e of this.bolt.bucket('lease') ?? []) {
      if (e.value === undefined) continue;
      let l: { ID?: string; TTL?: string };
      try {
        l = lease.toObject(lease.decode(e.value), { longs: String }) as typeof l;
      } catch (err) {
        throw corrupt(`bucket "lease": ${e.key.toString('hex')}: Lease does not decode: ${(err as Error).message}`, err);
      }
      const ttl = Number(l.TTL ?? '0');
      if (l.ID === undefined || l.ID === '0' || !Number.isSafeInteger(ttl)) {
        throw corrupt(`bucket "lease": ${e.key.toString('hex')}: bad lease ${JSON.stringify(l)}`);
      }
      out.push({ id: l.ID, ttl });
    }
    return out;
  }

  authEnabled(): boolean {
    for (const e of this.bolt.bucket('auth') ?? []) {
      if (e.key.toString('latin1') === 'authEnabled') return e.value !== undefined && e.value.length > 0 && e.value[0] === 1;
    }
    return false;
  }
}
