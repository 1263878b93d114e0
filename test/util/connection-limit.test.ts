import { describe, expect, it } from 'vitest';
import { ConnectionLimit } from '../../src/util/connection-limit.js';

describe('ConnectionLimit', () => {
  it('gives out slots up to the limit, then refuses and counts the refusals', () => {
    const limit = new ConnectionLimit(3);
    const held = [limit.tryAcquire(), limit.tryAcquire(), limit.tryAcquire()];
    expect(held.every((r) => r !== undefined)).toBe(true);
    expect(limit.open).toBe(3);
    expect(limit.tryAcquire()).toBeUndefined();
    expect(limit.tryAcquire()).toBeUndefined();
    expect([limit.open, limit.refusedTotal]).toEqual([3, 2]);
  });

  it('a released slot is given to the next connection', () => {
    const limit = new ConnectionLimit(1);
    const first = limit.tryAcquire();
    expect(limit.tryAcquire()).toBeUndefined();
    first?.();
    expect(limit.open).toBe(0);
    expect(limit.tryAcquire()).toBeDefined();
    expect([limit.open, limit.refusedTotal]).toEqual([1, 1]);
  });

  it('releasing twice frees one slot only', () => {
    const limit = new ConnectionLimit(2);
    const a = limit.tryAcquire();
    limit.tryAcquire();
    a?.();
    a?.();
    expect(limit.open).toBe(1);
    expect(limit.tryAcquire()).toBeDefined();
    expect(limit.tryAcquire()).toBeUndefined();
  });

  it('0 means no limit', () => {
    const limit = new ConnectionLimit(0);
    const held = Array.from({ length: 20_000 }, () => limit.tryAcquire());
    expect(held.every((r) => r !== undefined)).toBe(true);
    expect([limit.open, limit.refusedTotal]).toEqual([20_000, 0]);
  });

  it.each([-1, 1.5, Number.NaN])('rejects a limit of %s', (max) => {
    expect(() => new ConnectionLimit(max)).toThrow(RangeError);
  });
});
