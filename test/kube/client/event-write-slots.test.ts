// The shared budget of event writes a many-node kubelet gives its per-node recorders.
import { describe, expect, it } from 'vitest';
import { EventWriteSlots } from '../../../src/kube/client/event-recorder.js';

describe('EventWriteSlots', () => {
  it('hands out at most `size` slots and wakes one waiter per release', () => {
    const slots = new EventWriteSlots(2);
    expect(slots.tryAcquire()).toBe(true);
    expect(slots.tryAcquire()).toBe(true);
    expect(slots.tryAcquire()).toBe(false);
    const woken: string[] = [];
    slots.onFree(() => woken.push('a'));
    slots.onFree(() => woken.push('b'));
    slots.release();
    expect(woken).toEqual(['a']);
    expect(slots.tryAcquire()).toBe(true);
    expect(slots.tryAcquire()).toBe(false);
    slots.release();
    expect(woken).toEqual(['a', 'b']);
  });

  it('refuses a size that is not a positive integer', () => {
    expect(() => new EventWriteSlots(0)).toThrow(/not a positive integer/);
    expect(() => new EventWriteSlots(1.5)).toThrow(/not a positive integer/);
  });
});
