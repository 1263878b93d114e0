import { describe, expect, it } from 'vitest';
import { MvccStore } from '../../src/mvcc/mvcc-store.js';
import { applyRequest, type ApplyContext } from '../../src/server/apply.js';
import { Lessor } from '../../src/server/lessor.js';
import { Membership } from '../../src/server/membership.js';
import type { InternalRequest } from '../../src/server/request-codec.js';
import { decodeInternalRequest, encodeInternalRequest } from '../../src/server/request-codec.js';
import { decodeStateSnapshot, encodeStateSnapshot } from '../../src/server/state-snapshot.js';
import { EtcdErrors } from '../../src/util/etcd-errors.js';

/** One member's state machine, fed requests through the same codec as the Raft log. */
function member() {
  const lessor = new Lessor({ minTtlSeconds: 2, nowMs: () => 0 });
  const ctx: ApplyContext = { mvcc: new MvccStore({ leaseExists: lessor.exists }), membership: new Membership(), maxTxnOps: 128, lessor };
  let seq = 0;
  const apply = (body: Omit<InternalRequest, 'id'>) =>
    applyRequest(decodeInternalRequest(encodeInternalRequest({ ...body, id: `x:${++seq}` } as InternalRequest)), ctx);
  const put = (key: string, lease: string) => apply({ request: 'put', put: { key: Buffer.from(key), value: Buffer.from('v'), lease } });
  return { lessor, ctx, apply, put };
}

describe('lease requests applied from the log', () => {
  it('grants through the log with the proposer-chosen ID and the raised TTL', () => {
    const m = member();
    const out = m.apply({ request: 'lease_grant', lease_grant: { ID: '7587861231285799685', TTL: '1' } });
    expect(out.error).toBeUndefined();
    expect(out.response).toEqual({ ID: '7587861231285799685', TTL: '2' });
    expect(out.ops?.map((o) => o.key.toString())).toEqual(['l/7587861231285799685']);
    expect(m.apply({ request: 'lease_grant', lease_grant: { ID: '7587861231285799685', TTL: '5' } }).error).toBe(EtcdErrors.leaseExist);
    expect(m.apply({ request: 'lease_grant', lease_grant: { ID: '1', TTL: '9000000001' } }).error).toBe(EtcdErrors.leaseTTLTooLarge);
  });

  it('refuses a put with a lease that does not exist, and accepts ignore_lease on a leased key', () => {
    const m = member();
    expect(m.put('a', '99').error).toBe(EtcdErrors.leaseNotFound);
    m.apply({ request: 'lease_grant', lease_grant: { ID: '99', TTL: '10' } });
    expect(m.put('a', '99').error).toBeUndefined();
    const keep = m.apply({ request: 'put', put: { key: Buffer.from('a'), value: Buffer.from('w'), ignore_lease: true } });
    expect(keep.error).toBeUndefined();
    expect(m.ctx.mvcc.keysWithLease('99').map(String)).toEqual(['a']);
  });

  it('revokes by deleting every attached key in one revision, with delete events, then the lease', () => {
    const m = member();
    m.apply({ request: 'lease_grant', lease_grant: { ID: '5', TTL: '10' } });
    m.put('b', '5');
    m.put('a', '5');
    m.put('c', '0');
    expect(m.ctx.mvcc.currentRevision).toBe(4);
    const out = m.apply({ request: 'lease_revoke', lease_revoke: { ID: '5' } });
    expect(out.error).toBeUndefined();
    expect(out.revision).toBe(5);
    expect(out.events?.map((e) => [e.type, e.kv.key.toString(), e.kv.modRevision])).toEqual([
      ['DELETE', 'a', 5],
      ['DELETE', 'b', 5],
    ]);
    expect(out.ops?.some((o) => o.type === 'del' && o.key.toString() === 'l/5')).toBe(true);
    expect(m.lessor.exists('5')).toBe(false);
    expect(m.ctx.mvcc.range({ key: Buffer.from('a'), rangeEnd: Buffer.from('d'), limit: 0, revision: 0, sortOrder: 'NONE', sortTarget: 'KEY', keysOnly: true, countOnly: false, minModRevision: 0, maxModRevision: 0, minCreateRevision: 0, maxCreateRevision: 0 }).kvs.map((kv) => kv.key.toString())).toEqual(['c']);
    expect(m.apply({ request: 'lease_revoke', lease_revoke: { ID: '5' } }).error).toBe(EtcdErrors.leaseNotFound);
  });

  it('revokes a lease without keys without a new revision', () => {
    const m = member();
    m.apply({ request: 'lease_grant', lease_grant: { ID: '5', TTL: '10' } });
    const out = m.apply({ request: 'lease_revoke', lease_revoke: { ID: '5' } });
    expect(out.error).toBeUndefined();
    expect(out.revision).toBe(1);
    expect(out.events).toEqual([]);
  });

  it('carries leases in the state snapshot', () => {
    const snap = encodeStateSnapshot({ applied: 9, membership: { members: [], removed: [], alarms: [] }, leases: [{ id: '5', ttl: 10 }], mvcc: Buffer.from('x') });
    const back = decodeStateSnapshot(snap);
    expect(back.leases).toEqual([{ id: '5', ttl: 10 }]);
    expect(back.mvcc.toString()).toBe('x');
  });
});
