import { describe, expect, it } from 'vitest';
import { BucketRateLimiter, ItemExponentialRateLimiter, defaultControllerRateLimiter, MaxOfRateLimiter } from '../../../src/kube/informer/rate-limiter.js';
import { WorkQueue } from '../../../src/kube/informer/work-queue.js';
import { flush, ManualClock } from '../manual-clock.js';

function queue(clock = new ManualClock()): { q: WorkQueue<string>; clock: ManualClock } {
  return { q: new WorkQueue<string>(clock, new ItemExponentialRateLimiter<string>(5, 1000)), clock };
}

describe('WorkQueue', () => {
  it('de-duplicates items that are waiting', async () => {
    const { q } = queue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.len()).toBe(0);
  });

  it('never hands one item to two workers: an add during processing waits for done()', async () => {
    const { q } = queue();
    q.add('a');
    const first = await q.get();
    q.add('a');
    expect(q.len()).toBe(0);
    let second: string | undefined;
    void q.get().then((x) => (second = x));
    await flush();
    expect(second).toBeUndefined();
    q.done(first as string);
    await flush();
    expect(second).toBe('a');
  });

  it('wakes a waiting worker on add and returns undefined after shutdown', async () => {
    const { q } = queue();
    const got = q.get();
    q.add('x');
    expect(await got).toBe('x');
    const pending = q.get();
    q.shutDown();
    expect(await pending).toBeUndefined();
    q.add('y');
    expect(q.len()).toBe(0);
  });

  it('addAfter holds an item until its time; the earliest of several holds wins', async () => {
    const { q, clock } = queue();
    q.addAfter('a', 1000);
    q.addAfter('a', 300);
    q.addAfter('a', 5000);
    await clock.advance(299);
    expect(q.len()).toBe(0);
    await clock.advance(1);
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe('a');
    q.done('a');
    await clock.advance(10_000);
    expect(q.len()).toBe(0);
  });

  it('addRateLimited backs off exponentially per item and forget() resets', async () => {
    const { q, clock } = queue();
    const readyAfter: number[] = [];
    for (let i = 0; i < 5; i++) {
      const start = clock.nowMs();
      q.addRateLimited('a');
      while (q.len() === 0) await clock.advance(1);
      readyAfter.push(clock.nowMs() - start);
      await q.get();
      q.done('a');
    }
    expect(readyAfter).toEqual([5, 10, 20, 40, 80]);
    expect(q.numRequeues('a')).toBe(5);
    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
  });
});

describe('rate limiters', () => {
  it('exponential per item is capped', () => {
    const r = new ItemExponentialRateLimiter<string>(5, 1000);
    const delays = Array.from({ length: 10 }, () => r.when('x'));
    expect(delays).toEqual([5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
    expect(r.when('y')).toBe(5);
  });

  it('the bucket allows a burst then spaces items at 1/qps', async () => {
    const clock = new ManualClock();
    const r = new BucketRateLimiter<string>(10, 3, clock);
    expect([r.when(), r.when(), r.when()]).toEqual([0, 0, 0]);
    expect(r.when()).toBeCloseTo(100);
    expect(r.when()).toBeCloseTo(200);
    await clock.advance(1000);
    expect(r.when()).toBe(0);
  });

  it('the default controller limiter is the maximum of both', () => {
    const clock = new ManualClock();
    const r = defaultControllerRateLimiter<string>(clock);
    expect(r).toBeInstanceOf(MaxOfRateLimiter);
    expect(r.when('a')).toBe(5);
    expect(r.when('a')).toBe(10);
    expect(r.numRequeues('a')).toBe(2);
  });
});
