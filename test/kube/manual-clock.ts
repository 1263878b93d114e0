// A manual clock for deterministic tests of time-driven loops: time moves only when the test
// calls advance(), timers fire in time order, and pending promise chains settle between timers.
// `pausable()` gives a view whose timers are held while "paused", as a SIGSTOPped process's are:
// its monotonic time keeps running, but none of its code runs until resume().

import type { Clock } from '../../src/kube/client/clock.js';

interface Timer {
  at: number;
  seq: number;
  owner: PausableClock | undefined;
  fire: () => void;
}

/** Lets every settled promise continuation run (one macrotask turn drains the microtask queue). */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class ManualClock implements Clock {
  private t = 0;
  private seq = 0;
  private timers: Timer[] = [];

  constructor(private readonly wallBaseMs = Date.UTC(2024, 0, 1)) {}

  nowMs(): number {
    return this.t;
  }

  wallTime(): Date {
    return new Date(this.wallBaseMs + this.t);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
    return this.sleepFor(undefined, ms, signal);
  }

  sleepFor(owner: PausableClock | undefined, ms: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      if (signal?.aborted === true) {
        resolve(false);
        return;
      }
      const timer: Timer = {
        at: this.t + Math.max(0, ms),
        seq: this.seq++,
        owner,
        fire: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(true);
        },
      };
      const onAbort = (): void => {
        this.timers = this.timers.filter((x) => x !== timer);
        resolve(false);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.timers.push(timer);
    });
  }

  /** Moves time forward by `ms`, firing due timers in order; `onStep` runs after each one. */
  async advance(ms: number, onStep?: () => void): Promise<void> {
    const target = this.t + ms;
    await flush();
    for (;;) {
      const due = this.timers
        .filter((x) => x.at <= target && (x.owner === undefined || !x.owner.paused))
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = Math.max(this.t, due.at);
      due.fire();
      await flush();
      await flush();
      onStep?.();
    }
    this.t = target;
    await flush();
    onStep?.();
  }

  /** Advances in steps of `stepMs`, calling `check` after every timer and step. */
  async advanceBy(totalMs: number, stepMs: number, check?: () => void): Promise<void> {
    for (let done = 0; done < totalMs; done += stepMs) await this.advance(Math.min(stepMs, totalMs - done), check);
  }

  pausable(): PausableClock {
    return new PausableClock(this);
  }
}

export class PausableClock implements Clock {
  paused = false;

  constructor(private readonly base: ManualClock) {}

  nowMs(): number {
    return this.base.nowMs();
  }

  wallTime(): Date {
    return this.base.wallTime();
  }

  sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
    return this.base.sleepFor(this, ms, signal);
  }
}
