// The same requests against a real etcd 3.4 (/usr/bin/etcd) and against MvccStore must give the
// same answers: every response field etcd returns (kvs with their revisions and versions, more,
// count, deleted, prev kvs, txn branches, the header revision of every nested response), the same
// errors, the same duplicate-key verdicts, and the same HashKV numbers. This checks our reading of
// etcd's code against etcd itself.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { etcdServiceClients, etcdServiceDefinitions } from '../../src/api/etcd-proto.js';
import { DELETED_IN_TXN, MvccStore, checkTxnDuplicateKeys } from '../../src/mvcc/mvcc-store.js';
import {
  MvccError,
  type Compare,
  type KeyValue,
  type RangeRequest,
  type RequestOp,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
} from '../../src/mvcc/types.js';
import { SeededRandom } from '../../src/util/prng.js';
import { startRealEtcd, type RealEtcd } from '../api/real-etcd.js';
import { b, cmp, delReq, putReq, rangeReq, txnReq } from './helpers.js';
import { Generator } from './workload.js';

// ---- etcd's wire shapes as our proto loader decodes them (int64 as strings, bytes as Buffer).

interface WireKv {
  key: Buffer;
  create_revision: string;
  mod_revision: string;
  version: string;
  value: Buffer;
  lease: string;
}
interface WireHeader {
  revision: string;
}
interface WireResponseOp {
  response: 'response_range' | 'response_put' | 'response_delete_range' | 'response_txn';
  response_range?: { header: WireHeader | null; kvs: WireKv[]; more: boolean; count: string };
  response_put?: { header: WireHeader | null; prev_kv: WireKv | null };
  response_delete_range?: { header: WireHeader | null; deleted: string; prev_kvs: WireKv[] };
  response_txn?: WireTxnResponse;
}
interface WireTxnResponse {
  header: WireHeader | null;
  succeeded: boolean;
  responses: WireResponseOp[];
}

const LEASE_SMALL = '3';
const LEASE_BIG = '7587871234567890123';
const LEASE_MISSING = '13';

/** etcd's status messages (rpctypes) and the MVCC error code each one means. */
const errorCodes: Record<string, string> = {
  'etcdserver: mvcc: required revision has been compacted': 'Compacted',
  'etcdserver: mvcc: required revision is a future revision': 'FutureRevision',
  'etcdserver: requested lease not found': 'LeaseNotFound',
  'etcdserver: key not found': 'KeyNotFound',
  'etcdserver: duplicate key given in txn request': 'DuplicateKey',
};

// ---- Our requests in etcd's wire form.

// etcd reads a range_end that is on the wire but empty as "every key >= key" (gogoproto decodes it
// as a non-nil empty slice). Real clients never send one (proto3 leaves empty bytes out), but
// protobufjs writes any field that is set, so an empty range end must be left unset here.
const rangeEndField = (end: Buffer): object => (end.length === 0 ? {} : { range_end: end });

function wireRange(r: RangeRequest): object {
  return {
    key: r.key,
    ...rangeEndField(r.rangeEnd),
    limit: r.limit,
    revision: r.revision,
    sort_order: r.sortOrder,
    sort_target: r.sortTarget,
    keys_only: r.keysOnly,
    count_only: r.countOnly,
    min_mod_revision: r.minModRevision,
    max_mod_revision: r.maxModRevision,
    min_create_revision: r.minCreateRevision,
    max_create_revision: r.maxCreateRevision,
  };
}

function wireCompare(c: Compare): object {
  const operand =
    c.target === 'VERSION'
      ? { version: c.version }
      : c.target === 'CREATE'
        ? { create_revision: c.createRevision }
        : c.target === 'MOD'
          ? { mod_revision: c.modRevision }
          : c.target === 'VALUE'
            ? { value: c.value }
            : { lease: c.lease };
  return { key: c.key, ...rangeEndField(c.rangeEnd), target: c.target, result: c.result, ...operand };
}

function wireOp(op: RequestOp): object {
  if ('range' in op) return { request_range: wireRange(op.range) };
  if ('put' in op) {
    const p = op.put;
    return {
      request_put: {
        key: p.key,
        value: p.value,
        lease: p.lease,
        prev_kv: p.prevKv,
        ignore_value: p.ignoreValue,
        ignore_lease: p.ignoreLease,
      },
    };
  }
  if ('deleteRange' in op) {
    const d = op.deleteRange;
    return { request_delete_range: { key: d.key, ...rangeEndField(d.rangeEnd), prev_kv: d.prevKv } };
  }
  return { request_txn: wireTxn(op.txn) };
}

function wireTxn(t: TxnRequest): object {
  return { compare: t.compare.map(wireCompare), success: t.success.map(wireOp), failure: t.failure.map(wireOp) };
}

// ---- Both sides' responses in one comparable form.

interface KvView {
  key: string;
  create: number;
  mod: number;
  version: number;
  value: string;
  lease: string;
}

function fromWireKv(kv: WireKv): KvView {
  return {
    key: kv.key.toString('latin1'),
    create: Number(kv.create_revision),
    mod: Number(kv.mod_revision),
    version: Number(kv.version),
    value: kv.value.toString('latin1'),
    lease: kv.lease,
  };
}

function fromKv(kv: KeyValue): KvView {
  return {
    key: kv.key.toString('latin1'),
    create: kv.createRevision,
    mod: kv.modRevision,
    version: kv.version,
    value: kv.value.toString('latin1'),
    lease: kv.lease,
  };
}

const headerRev = (h: WireHeader | null): number => Number(h?.revision ?? 0);

function fromWireOp(r: WireResponseOp): unknown {
  switch (r.response) {
    case 'response_range': {
      const x = r.response_range as NonNullable<WireResponseOp['response_range']>;
      return { range: { kvs: x.kvs.map(fromWireKv), more: x.more, count: Number(x.count), revision: headerRev(x.header) } };
    }
    case 'response_put': {
      const x = r.response_put as NonNullable<WireResponseOp['response_put']>;
      return { put: { prevKv: x.prev_kv === null ? null : fromWireKv(x.prev_kv), revision: headerRev(x.header) } };
    }
    case 'response_delete_range': {
      const x = r.response_delete_range as NonNullable<WireResponseOp['response_delete_range']>;
      return {
        deleteRange: { deleted: Number(x.deleted), prevKvs: x.prev_kvs.map(fromWireKv), revision: headerRev(x.header) },
      };
    }
    case 'response_txn':
      return { txn: fromWireTxn(r.response_txn as WireTxnResponse) };
  }
}

function fromWireTxn(t: WireTxnResponse): unknown {
  return { succeeded: t.succeeded, responses: t.responses.map(fromWireOp), revision: headerRev(t.header) };
}

function fromOp(r: ResponseOp): unknown {
  if ('range' in r) return { range: { ...r.range, kvs: r.range.kvs.map(fromKv) } };
  if ('put' in r) return { put: { prevKv: r.put.prevKv === undefined ? null : fromKv(r.put.prevKv), revision: r.put.revision } };
  if ('deleteRange' in r) return { deleteRange: { ...r.deleteRange, prevKvs: r.deleteRange.prevKvs.map(fromKv) } };
  return { txn: fromTxn(r.txn) };
}

function fromTxn(t: TxnResponse): unknown {
  return { succeeded: t.succeeded, responses: t.responses.map(fromOp), revision: t.revision };
}

// ---- The real etcd.

type Service = 'KV' | 'Lease' | 'Maintenance';

class Etcd {
  private readonly clients: Record<Service, grpc.Client>;
  private readonly definitions = etcdServiceDefinitions();

  constructor(address: string) {
    const constructors = etcdServiceClients();
    const credentials = grpc.credentials.createInsecure();
    this.clients = {
      KV: new constructors.KV(address, credentials),
      Lease: new constructors.Lease(address, credentials),
      Maintenance: new constructors.Maintenance(address, credentials),
    };
  }

  call<T>(service: Service, name: string, request: object): Promise<T> {
    const m = this.definitions[service][name];
    if (m === undefined) throw new Error(`no ${service}.${name}`);
    return new Promise((resolve, reject) => {
      this.clients[service].makeUnaryRequest(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + 10_000 },
        (err, response) => (err ? reject(err) : resolve(response as T)),
      );
    });
  }

  /** `{ ok }` or `{ error: code }` (etcd's message mapped to our MVCC code). */
  async outcome<T>(service: Service, name: string, request: object, view: (r: T) => unknown): Promise<unknown> {
    try {
      return { ok: view(await this.call<T>(service, name, request)) };
    } catch (err) {
      const details = (err as { details?: string }).details ?? String(err);
      const code = errorCodes[details];
      if (code === undefined) throw err;
      return { error: code };
    }
  }

  close(): void {
    for (const c of Object.values(this.clients)) c.close();
  }
}

let lastErrorMessage = '';

function ours(f: () => unknown): unknown {
  lastErrorMessage = '';
  try {
    return { ok: f() };
  } catch (err) {
    if (err instanceof MvccError) {
      lastErrorMessage = err.message;
      return { error: err.code };
    }
    throw err;
  }
}

/** Runs a request on both and expects the same outcome. */
class Pair {
  readonly store = new MvccStore({ leaseExists: (id) => id === LEASE_SMALL || id === LEASE_BIG });

  constructor(readonly etcd: Etcd) {}

  async range(req: RangeRequest, what: string): Promise<void> {
    const theirs = await this.etcd.outcome<{ header: WireHeader; kvs: WireKv[]; more: boolean; count: string }>(
      'KV',
      'Range',
      wireRange(req),
      (r) => ({ kvs: r.kvs.map(fromWireKv), more: r.more, count: Number(r.count), revision: headerRev(r.header) }),
    );
    const mine = ours(() => {
      const r = this.store.range(req);
      return { ...r, kvs: r.kvs.map(fromKv) };
    });
    expect(mine, what).toEqual(theirs);
  }

  async op(op: RequestOp, what: string): Promise<void> {
    if ('range' in op) return this.range(op.range, what);
    if ('put' in op) {
      const theirs = await this.etcd.outcome<{ header: WireHeader; prev_kv: WireKv | null }>(
        'KV',
        'Put',
        (wireOp(op) as { request_put: object }).request_put,
        (r) => ({ prevKv: r.prev_kv === null ? null : fromWireKv(r.prev_kv), revision: headerRev(r.header) }),
      );
      const mine = ours(() => {
        const r = this.store.put(op.put).response;
        return { prevKv: r.prevKv === undefined ? null : fromKv(r.prevKv), revision: r.revision };
      });
      expect(mine, what).toEqual(theirs);
      return;
    }
    if ('deleteRange' in op) {
      const theirs = await this.etcd.outcome<{ header: WireHeader; deleted: string; prev_kvs: WireKv[] }>(
        'KV',
        'DeleteRange',
        (wireOp(op) as { request_delete_range: object }).request_delete_range,
        (r) => ({ deleted: Number(r.deleted), prevKvs: r.prev_kvs.map(fromWireKv), revision: headerRev(r.header) }),
      );
      const mine = ours(() => {
        const r = this.store.deleteRange(op.deleteRange).response;
        return { ...r, prevKvs: r.prevKvs.map(fromKv) };
      });
      expect(mine, what).toEqual(theirs);
      return;
    }
    // The API layer rejects duplicate keys before the store sees the txn; so does etcd.
    const mine = checkTxnDuplicateKeys(op.txn) ? { error: 'DuplicateKey' } : ours(() => fromTxn(this.store.txn(op.txn).response));
    if (lastErrorMessage === DELETED_IN_TXN) {
      // etcd would panic on this txn (see DELETED_IN_TXN); we refused it and changed nothing.
      this.etcdCrashesAvoided++;
      return;
    }
    const theirs = await this.etcd.outcome<WireTxnResponse>('KV', 'Txn', wireTxn(op.txn), fromWireTxn);
    expect(mine, what).toEqual(theirs);
  }

  /** Txns etcd 3.4 would crash on, which the store refused and which were not sent to etcd. */
  etcdCrashesAvoided = 0;

  async compact(revision: number, what: string): Promise<void> {
    const theirs = await this.etcd.outcome<{ header: WireHeader }>('KV', 'Compact', { revision, physical: true }, (r) =>
      headerRev(r.header),
    );
    const mine = ours(() => this.store.compact(revision).revision);
    expect(mine, what).toEqual(theirs);
  }

  async hashKV(revision: number, what: string): Promise<void> {
    const theirs = await this.etcd.outcome<{ hash: number; compact_revision: string }>(
      'Maintenance',
      'HashKV',
      { revision },
      (r) => ({ hash: r.hash, compactRevision: Number(r.compact_revision) }),
    );
    const mine = ours(() => {
      const h = this.store.hashKV(revision);
      return { hash: h.hash, compactRevision: h.compactRevision };
    });
    expect(mine, what).toEqual(theirs);
  }

  /** Everything at every readable revision. */
  async everything(what: string): Promise<void> {
    const rev = this.store.currentRevision;
    for (let r = Math.max(1, this.store.compactRevision); r <= rev; r++) {
      await this.range(rangeReq('\0', { end: '\0', revision: r }), `${what}: all keys at ${r}`);
    }
  }
}

describe('MvccStore against a real etcd 3.4', () => {
  let etcd: RealEtcd | undefined;
  let client: Etcd;

  beforeAll(async () => {
    etcd = await startRealEtcd('ketch-mvcc-compare');
    client = new Etcd(etcd.clientAddress);
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (etcd.process.exitCode !== null) throw new Error(`etcd exited:\n${etcd.logTail()}`);
      try {
        const status = await client.call<{ leader: string }>('Maintenance', 'Status', {});
        if (status.leader !== '0') break;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`etcd did not start:\n${etcd.logTail()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    for (const id of [LEASE_SMALL, LEASE_BIG]) await client.call('Lease', 'LeaseGrant', { ID: id, TTL: 3600 });
  }, 30_000);

  afterAll(async () => {
    client?.close();
    await etcd?.stop();
  }, 15_000);

  it('agrees on scripted requests, then on a random workload with compactions, then on HashKV', async () => {
    const pair = new Pair(client);
    // Leases granted before the first write keep both sides at revision 1.
    await pair.range(rangeReq('\0', { end: '\0' }), 'fresh');
    await pair.hashKV(0, 'fresh hash');

    // Scripted: the rules the unit tests state, asked of etcd itself.
    const script: Array<[string, RequestOp]> = [
      ['put', { put: putReq('k', '1') }],
      ['put again', { put: putReq('k', '2', { prevKv: true }) }],
      ['put with lease', { put: putReq('l', 'x', { lease: LEASE_BIG }) }],
      ['ignore value', { put: putReq('l', '', { ignoreValue: true, prevKv: true }) }],
      ['ignore lease', { put: putReq('l', 'y', { ignoreLease: true }) }],
      ['ignore value, no key', { put: putReq('none', '', { ignoreValue: true }) }],
      ['missing lease', { put: putReq('k', 'v', { lease: LEASE_MISSING }) }],
      ['delete nothing', { deleteRange: delReq('zzz', '\0', true) }],
      ['delete', { deleteRange: delReq('k', '', true) }],
      ['recreate', { put: putReq('k', '3') }],
      ['future', { range: rangeReq('k', { revision: 99 }) }],
      ['old', { range: rangeReq('k', { revision: 3 }) }],
      ['sort NONE by version with limit', { range: rangeReq('\0', { end: '\0', sortTarget: 'VERSION', limit: 1 }) }],
      ['filters', { range: rangeReq('\0', { end: '\0', minModRevision: 4, limit: 1 }) }],
      [
        'txn: nested compares see the old store; inner headers',
        {
          txn: txnReq(
            [cmp('k', 'VERSION', 'EQUAL', 1)],
            [
              { range: rangeReq('k') },
              { put: putReq('k', '4', { prevKv: true }) },
              { range: rangeReq('k') },
              { deleteRange: delReq('nothing') },
              { txn: txnReq([cmp('k', 'VALUE', 'EQUAL', '3')], [{ put: putReq('n', '1') }], []) },
            ],
            [],
          ),
        },
      ],
      ['read-only txn', { txn: txnReq([cmp('missing', 'VERSION', 'EQUAL', 0)], [{ range: rangeReq('\0', { end: '\0' }) }]) }],
      ['txn deleting nothing', { txn: txnReq([], [{ deleteRange: delReq('nothing', '', true) }]) }],
      ['txn range at a negative revision', { txn: txnReq([], [{ range: rangeReq('k', { revision: -1 }) }]) }],
      ['txn with missing lease', { txn: txnReq([], [{ put: putReq('q', '1', { lease: LEASE_MISSING }) }]) }],
      ['lease compare', { txn: txnReq([cmp('l', 'LEASE', 'EQUAL', LEASE_BIG)], [{ put: putReq('lc', '1') }]) }],
      ['range compare', { txn: txnReq([cmp('\0', 'MOD', 'GREATER', 0, '\0')], [{ put: putReq('rc', '1') }]) }],
    ];
    for (const [what, op] of script) await pair.op(op, what);
    await pair.everything('after the script');

    // Random: puts, deletes, ranges, txns (with duplicate-key verdicts) and compactions.
    // KETCH_MVCC_ETCD_SEED replays or varies the workload.
    const rnd = new SeededRandom(Number(process.env.KETCH_MVCC_ETCD_SEED ?? 20240607));
    const store = pair.store;
    const gen = new Generator(rnd, ['0', '0', LEASE_SMALL, LEASE_BIG], LEASE_MISSING, () => store.currentRevision, () => store.compactRevision);
    let compactions = 0;
    for (let step = 0; step < 1500; step++) {
      const r = rnd.int(100);
      const what = `step ${step}`;
      if (r < 25) await pair.op(gen.put(), `${what} put`);
      else if (r < 35) await pair.op(gen.deleteRange(), `${what} delete`);
      else if (r < 60) await pair.op({ txn: gen.txn() }, `${what} txn`);
      else if (r < 95) await pair.range(gen.range(), `${what} range`);
      else {
        await pair.compact(gen.revisionNear() + 1, `${what} compact`);
        compactions++;
      }
      if (step % 100 === 99) {
        await pair.hashKV(0, `${what} hash`);
        await pair.hashKV(store.currentRevision - 1, `${what} hash of the previous revision`);
      }
    }
    expect(compactions).toBeGreaterThan(30);
    await pair.everything('after the random workload');
    await pair.hashKV(0, 'final hash');
    await pair.hashKV(store.compactRevision, 'hash at the compact revision');
    await pair.hashKV(store.currentRevision + 1, 'hash in the future');

    // Sorting hundreds of kvs with many ties: Go's sort.Sort is unstable, so equal versions and
    // values come back in the order its pdqsort leaves them, which goSort must reproduce.
    const values = ['a', 'b', 'b', 'c', 'c', 'c', 'c', 'c', 'z'];
    for (let round = 0; round < 6; round++) {
      const keyCount = [30, 200, 400, 250, 120, 600][round] as number;
      for (let i = 0; i < keyCount * 2; i++) {
        const k = `sort/${String(rnd.int(keyCount)).padStart(4, '0')}`;
        const v = round % 2 === 0 ? rnd.pick(values) : rnd.pick(values.slice(3));
        await pair.op({ put: putReq(k, v) }, `sort round ${round} put`);
      }
      for (const sortTarget of ['VERSION', 'VALUE', 'CREATE', 'MOD', 'KEY'] as const) {
        for (const sortOrder of ['ASCEND', 'DESCEND', 'NONE'] as const) {
          for (const limit of [0, 7, 100]) {
            const req = rangeReq('sort/', { end: 'sort0', sortTarget, sortOrder, limit });
            await pair.range(req, `sort round ${round}: ${sortTarget} ${sortOrder} limit ${limit}`);
          }
        }
      }
      await pair.op({ deleteRange: delReq('sort/', 'sort0') }, `sort round ${round} cleanup`);
    }
  }, 240_000);

  it('agrees on which txns repeat a key', async () => {
    const put = (k: string): RequestOp => ({ put: putReq(k, 'v') });
    const del = (k: string, end = ''): RequestOp => ({ deleteRange: delReq(k, end) });
    const nested = (success: RequestOp[], failure: RequestOp[] = []): RequestOp => ({ txn: txnReq([], success, failure) });
    const cases: Array<[string, TxnRequest]> = [
      ['two puts', txnReq([], [put('a'), put('a')])],
      ['put and delete', txnReq([], [del('a'), put('a')])],
      ['put in a deleted range', txnReq([], [put('b'), del('a', 'c')])],
      ['put at the range end', txnReq([], [put('c'), del('a', 'c')])],
      ['put and delete-from-key', txnReq([], [put('b'), del('a', '\0')])],
      ['two deletes', txnReq([], [del('a', 'z'), del('b')])],
      ['same key in both branches', txnReq([], [put('a')], [put('a')])],
      ['nested then and else', txnReq([], [nested([put('a')], [put('a')])])],
      ['nested and outer put', txnReq([], [put('a'), nested([put('a')])])],
      ['outer delete, nested put', txnReq([], [del('a'), nested([put('a')])])],
      ['nested delete, outer put', txnReq([], [nested([del('a')]), put('a')])],
      ['nested delete, later nested put', txnReq([], [nested([del('a')]), nested([put('a')])])],
      ['nested put, later nested delete', txnReq([], [nested([put('a')]), nested([del('a')])])],
      ['nested delete-from-key, outer put', txnReq([], [nested([del('a', '\0')]), put('b')])],
      ['sibling nested puts', txnReq([], [nested([put('a')]), nested([], [put('a')])])],
      ['puts of different keys', txnReq([], [put('a'), put('b'), nested([put('c')], [put('c')])])],
      ['a duplicate two levels down', txnReq([], [nested([nested([put('x'), put('x')])])])],
    ];
    const pair = new Pair(client);
    for (const [what, req] of cases) {
      const theirs = await client.outcome<WireTxnResponse>('KV', 'Txn', wireTxn(req), () => 'accepted');
      expect(checkTxnDuplicateKeys(req) ? { error: 'DuplicateKey' } : { ok: 'accepted' }, what).toEqual(theirs);
    }
    expect(pair.store.currentRevision).toBe(1);
    expect(b('a').length).toBe(1);
  }, 60_000);
});
