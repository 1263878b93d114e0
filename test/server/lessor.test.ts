import { describe, expect, it } from 'vitest';
import { EtcdErrors } from '../../src/util/etcd-errors.js';
import { LeaseIdGenerator } from '../../src/server/lease-id.js';
import { Lessor, MAX_LEASE_TTL_SECONDS } from '../../src/server/lessor.js';

/** A lessor on a clock the test moves by hand. */
function lessorAt(opts: { minTtlSeconds?: number; revokeRatePerSecond?: number } = {}) {
  const clock = { ms: 1_000_000 };
  const lessor = new Lessor({ minTtlSeconds: opts.minTtlSeconds ?? 2, nowMs: () => clock.ms, revokeRatePerSecond: opts.revokeRatePerSecond });
  return { lessor, clock, advance: (ms: number) => void (clock.ms += ms) };
}

describe('Lessor grant and revoke (replicated)', () => {
  it('grants with etcd checks: ID 0, too large TTL, duplicate ID, minimum TTL', () => {
    const { lessor } = lessorAt();
    expect(() => lessor.grant('0', '10')).toThrow(EtcdErrors.leaseNotFound);
    expect(() => lessor.grant('5', String(MAX_LEASE_TTL_SECONDS + 1))).toThrow(EtcdErrors.leaseTTLTooLarge);
    // int64 TTLs beyond 2^53 are compared exactly, not rounded.
    expect(() => lessor.grant('5', '9223372036854775807')).toThrow(EtcdErrors.leaseTTLTooLarge);
    expect(lessor.grant('5', String(MAX_LEASE_TTL_SECONDS)).lease).toEqual({ id: '5', ttl: MAX_LEASE_TTL_SECONDS });
    expect(() => lessor.grant('5', '10')).toThrow(EtcdErrors.leaseExist);
    expect(lessor.grant('6', '1').lease.ttl).toBe(2);
    expect(lessor.grant('7', '0').lease.ttl).toBe(2);
    expect(lessor.grant('8', '-30').lease.ttl).toBe(2);
    expect(lessor.grant('-9', '30').lease).toEqual({ id: '-9', ttl: 30 });
    expect(lessor.exists('6')).toBe(true);
    expect(lessor.exists('10')).toBe(false);
  });

  it('persists grants and revokes as records under l/, and restores them', () => {
    const { lessor } = lessorAt();
    const g = lessor.grant('42', '10');
    expect(g.ops).toEqual([{ type: 'put', key: Buffer.from('l/42'), value: Buffer.from('{"id":"42","ttl":10}') }]);
    lessor.grant('7', '3');
    expect(lessor.revoke('42')).toEqual([{ type: 'del', key: Buffer.from('l/42') }]);
    expect(() => lessor.revoke('42')).toThrow(EtcdErrors.leaseNotFound);

    const stored = lessor.allOps().map((op) => [op.key, op.type === 'put' ? op.value : Buffer.alloc(0)] as [Buffer, Buffer]);
    const copy = lessorAt({ minTtlSeconds: 5 }).lessor;
    copy.restore(Lessor.decodeRecords(stored));
    // As etcd's initAndRecover: TTLs under this member's minimum are raised.
    expect(copy.records()).toEqual([{ id: '7', ttl: 5 }]);
    expect(Lessor.opsFor(lessor.records())).toEqual(lessor.allOps());
  });

  it('computes the minimum TTL as etcd: 1.5 election timeouts in whole ticks, rounded up to seconds', () => {
    expect(Lessor.minTtlSeconds(100, 1000)).toBe(2);
    expect(Lessor.minTtlSeconds(100, 500)).toBe(1);
    expect(Lessor.minTtlSeconds(250, 5000)).toBe(8);
    expect(Lessor.minTtlSeconds(100, 2000)).toBe(3);
  });
});

describe('Lessor clock (primary only)', () => {
  it('keeps every lease forever while not primary: no renewals, no expiry', () => {
    const { lessor, advance } = lessorAt();
    lessor.grant('1', '5');
    advance(3_600_000);
    expect(lessor.renew('1')).toEqual({ kind: 'not-primary' });
    expect(lessor.takeExpired(100)).toEqual([]);
    expect(lessor.lookup('1')?.remainingMs).toBe(Infinity);
    expect(Lessor.remainingSeconds(lessor.lookup('1')!)).toBe(9_223_372_036);
  });

  it('promote gives every lease its full TTL plus the extension; renew restarts the TTL', () => {
    const { lessor, advance } = lessorAt();
    lessor.grant('1', '10');
    lessor.grant('2', '3');
    advance(60_000);
    lessor.promote(1000);
    expect(lessor.lookup('1')?.remainingMs).toBe(11_000);
    expect(lessor.lookup('2')?.remainingMs).toBe(4_000);
    advance(3_500);
    expect(Lessor.remainingSeconds(lessor.lookup('1')!)).toBe(7);
    expect(lessor.renew('1')).toEqual({ kind: 'renewed', ttlSeconds: 10 });
    expect(lessor.lookup('1')?.remainingMs).toBe(10_000);
    expect(lessor.renew('3')).toEqual({ kind: 'not-found' });
    // A grant on the primary starts its clock at once.
    lessor.grant('4', '6');
    expect(lessor.lookup('4')?.remainingMs).toBe(6_000);
  });

  it('hands out expired leases earliest first, up to the limit, and again only after the retry interval', () => {
    const { lessor, advance } = lessorAt();
    lessor.promote(0);
    lessor.grant('30', '4');
    lessor.grant('20', '3');
    lessor.grant('10', '5');
    advance(2_999);
    expect(lessor.takeExpired(10)).toEqual([]);
    advance(1);
    expect(lessor.takeExpired(10)).toEqual(['20']);
    advance(2_000);
    expect(lessor.takeExpired(1)).toEqual(['30']);
    expect(lessor.takeExpired(10)).toEqual(['10']);
    expect(lessor.takeExpired(10)).toEqual([]);
    // The revoke of 20 did not land (3 s ago): offer it again.
    advance(1_000);
    expect(lessor.takeExpired(10)).toEqual(['20']);
    lessor.revoke('20');
    advance(10_000);
    expect(lessor.takeExpired(10).sort()).toEqual(['10', '30']);
  });

  it('makes a renewal of an expired lease wait for its revocation, or for demotion', async () => {
    const { lessor, advance } = lessorAt();
    lessor.promote(0);
    lessor.grant('1', '2');
    lessor.grant('2', '2');
    advance(2_000);
    const r1 = lessor.renew('1');
    const r2 = lessor.renew('2');
    expect(r1.kind).toBe('expired');
    expect(r2.kind).toBe('expired');
    lessor.revoke('1');
    await expect(r1.kind === 'expired' ? r1.settled : undefined).resolves.toBe('revoked');
    lessor.demote();
    await expect(r2.kind === 'expired' ? r2.settled : undefined).resolves.toBe('demoted');
    expect(lessor.lookup('2')?.remainingMs).toBe(Infinity);
    // A new term: the lease lives on, from its full TTL plus the extension.
    lessor.promote(1_000);
    expect(lessor.renew('2')).toEqual({ kind: 'renewed', ttlSeconds: 2 });
  });

  it('lists leases soonest expiry first', () => {
    const { lessor } = lessorAt();
    lessor.promote(0);
    lessor.grant('3', '30');
    lessor.grant('1', '10');
    lessor.grant('2', '20');
    expect(lessor.ids()).toEqual(['1', '2', '3']);
  });

  it('spreads out leases that a promotion would expire in the same second (etcd pile-up rule)', () => {
    const rate = 8; // target: 3/4 of it, 6 expiries per second
    const { lessor, clock } = lessorAt({ revokeRatePerSecond: rate });
    for (let i = 1; i <= 24; i++) lessor.grant(String(i), '10');
    lessor.promote(1_000);
    const expiries = lessor.ids().map((id) => clock.ms + lessor.lookup(id)!.remainingMs);
    const first = Math.min(...expiries);
    const perSecond = new Map<number, number>();
    for (const e of expiries) {
      const bucket = Math.floor((e - first) / 1000);
      perSecond.set(bucket, (perSecond.get(bucket) ?? 0) + 1);
    }
    for (const n of perSecond.values()) expect(n).toBeLessThanOrEqual(6);
    // Nobody loses time: every lease still gets at least its TTL plus the extension.
    for (const e of expiries) expect(e - clock.ms).toBeGreaterThanOrEqual(11_000);
    // Below the rate nothing is spread.
    const small = lessorAt({ revokeRatePerSecond: 1000 });
    for (let i = 1; i <= 24; i++) small.lessor.grant(String(i), '10');
    small.lessor.promote(1_000);
    expect(new Set(small.lessor.ids().map((id) => small.lessor.lookup(id)!.remainingMs))).toEqual(new Set([11_000]));
  });
});

describe('LeaseIdGenerator', () => {
  it('makes positive int64 IDs as etcd: member low 16 bits, then milliseconds, then a counter', () => {
    const gen = new LeaseIdGenerator('8e9e05c52164694d', 0x1234567890);
    const a = BigInt(gen.next());
    const b = BigInt(gen.next());
    expect(a >> 48n).toBe(0x694dn);
    expect((a >> 8n) & ((1n << 40n) - 1n)).toBe(0x1234567890n);
    expect(a & 0xffn).toBe(1n);
    expect(b).toBe(a + 1n);
    // The top bit is masked away so IDs stay positive int64.
    const high = new LeaseIdGenerator('ffff', 5);
    const id = BigInt(high.next());
    expect(id > 0n && id < 1n << 63n).toBe(true);
    expect(id >> 48n).toBe(0x7fffn);
  });
});
