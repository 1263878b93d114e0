// Leader election with client-go's protocol (tools/leaderelection/leaderelection.go, v0.20):
// candidates poll the lock every RetryPeriod (jittered by 1.2); a record whose bytes have not
// changed for LeaseDuration *on this candidate's own clock* is expired and may be taken over;
// the leader renews every RetryPeriod and, if it cannot renew within RenewDeadline, loses
// leadership. Updates are optimistic on the lock's version, so one round has one winner.
//
// Stricter than client-go, because here work must never overlap between two leaders:
// - the renew deadline counts from the start of the last *successful* renewal, so a leader gives
//   up at least LeaseDuration - RenewDeadline before any other candidate can judge it expired;
// - `fence()` checks that deadline synchronously on the monotonic clock, so a process that was
//   paused (SIGSTOP) past its lease refuses to write the moment it runs again, before any timer
//   has had a chance to fire; a leader that sees another holder in the record stops at once.

import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { describeError } from '../client/api-error.js';
import { formatMicroTime, type Clock } from '../client/clock.js';
import { rawRecord, type LeaderElectionRecord, type ResourceLock } from './resource-lock.js';

export const JITTER_FACTOR = 1.2;

export interface LeaderCallbacks {
  /** Leadership won: run the work until `signal` aborts. A returned promise is awaited before a release. */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /** Always called when run() ends, leader or not (as client-go's OnStoppedLeading). */
  onStoppedLeading?(): void;
  /** The observed holder changed (also on our own win). */
  onNewLeader?(identity: string): void;
}

export interface LeaderElectionConfig {
  lock: ResourceLock;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** On a stop (not on a loss), write an empty holder with leaseDurationSeconds 1, as client-go. */
  releaseOnCancel: boolean;
  callbacks: LeaderCallbacks;
  clock: Clock;
  /** Uniform [0,1) for the acquire jitter; injected for deterministic tests. */
  random?: () => number;
  logger?: Logger;
}

export const DEFAULT_LEASE_DURATION_MS = 15_000;
export const DEFAULT_RENEW_DEADLINE_MS = 10_000;
export const DEFAULT_RETRY_PERIOD_MS = 2_000;

export class LeaderElectionConfigError extends Error {}

/** client-go's NewLeaderElector checks. */
export function validateLeaderElectionConfig(c: Pick<LeaderElectionConfig, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'> & { lock?: ResourceLock }): void {
  if (c.leaseDurationMs <= c.renewDeadlineMs) throw new LeaderElectionConfigError('leaseDuration must be greater than renewDeadline');
  if (c.renewDeadlineMs <= JITTER_FACTOR * c.retryPeriodMs) throw new LeaderElectionConfigError('renewDeadline must be greater than retryPeriod*JitterFactor');
  if (c.leaseDurationMs < 1) throw new LeaderElectionConfigError('leaseDuration must be greater than zero');
  if (c.renewDeadlineMs < 1) throw new LeaderElectionConfigError('renewDeadline must be greater than zero');
  if (c.retryPeriodMs < 1) throw new LeaderElectionConfigError('retryPeriod must be greater than zero');
  if (c.lock !== undefined && c.lock.identity === '') throw new LeaderElectionConfigError('Lock identity is empty');
}

export class NotLeaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotLeaderError';
  }
}

export class LeaderElector {
  private observedRecord: LeaderElectionRecord | undefined;
  private observedRaw: string | undefined;
  /** Monotonic time at which observedRaw last changed (or we last wrote it). */
  private observedTimeMs = 0;
  private reportedLeader = '';
  /** Monotonic start of the last successful acquire/renew while leader; the fence counts from it. */
  private lastRenewStartMs = Number.NEGATIVE_INFINITY;
  private term: AbortController | undefined;
  private running = false;
  private readonly log: Logger | undefined;
  private readonly random: () => number;

  constructor(private readonly config: LeaderElectionConfig) {
    validateLeaderElectionConfig(config);
    this.log = config.logger;
    this.random = config.random ?? Math.random;
  }

  get identity(): string {
    return this.config.lock.identity;
  }

  /** The holder as last observed ('' when none). */
  getLeader(): string {
    return this.observedRecord?.holderIdentity ?? '';
  }

  /** We are the observed holder (client-go's IsLeader); see fence() for "may act now". */
  isLeader(): boolean {
    return this.observedRecord !== undefined && this.observedRecord.holderIdentity === this.identity;
  }

  /** True while this candidate leads and its last renewal is within the renew deadline. */
  canAct(): boolean {
    return this.term !== undefined && !this.term.signal.aborted && this.isLeader() && this.config.clock.nowMs() < this.lastRenewStartMs + this.config.renewDeadlineMs;
  }

  /** Throws NotLeaderError unless canAct(); call right before every write the lease guards. */
  fence(): void {
    if (this.canAct()) return;
    // Leadership lapsed without the renew loop noticing yet (e.g. after SIGSTOP): stop now.
    if (this.term !== undefined && !this.term.signal.aborted) this.loseLeadership('renew deadline passed (observed by the fence)');
    throw new NotLeaderError(`${this.identity} does not hold ${this.config.lock.describe()}`);
  }

  /**
   * Campaigns until leader, leads until leadership is lost or `stop` aborts, then returns.
   * Call again to campaign again.
   */
  async run(stop: AbortSignal): Promise<void> {
    if (this.running) throw new Error('LeaderElector.run is already running');
    this.running = true;
    try {
      if (!(await this.acquire(stop))) return;
      const term = new AbortController();
      // A term's work (informers, sleeps, queues) listens on this one signal many times over.
      setMaxListeners(0, term.signal);
      this.term = term;
      this.log?.info({ lock: this.config.lock.describe(), identity: this.identity }, 'successfully acquired lease');
      let work: Promise<void> = Promise.resolve();
      try {
        const started = this.config.callbacks.onStartedLeading(term.signal);
        if (started instanceof Promise) work = started.catch((err: unknown) => this.log?.error({ err }, 'leader work failed'));
      } catch (err) {
        this.log?.error({ err }, 'leader work failed to start');
      }
      await this.renew(stop, term);
      if (!term.signal.aborted) this.loseLeadership(stop.aborted ? 'stopping' : 'renew failed');
      if (stop.aborted && this.config.releaseOnCancel) {
        // The work must be over before others may start theirs; bound the wait so a stuck
        // worker cannot keep the lease (the fence already blocks its writes).
        await Promise.race([work, this.config.clock.sleep(this.config.retryPeriodMs)]);
        await this.release();
      }
    } finally {
      this.term = undefined;
      this.running = false;
      try {
        this.config.callbacks.onStoppedLeading?.();
      } catch (err) {
        this.log?.error({ err }, 'onStoppedLeading failed');
      }
    }
  }

  /** Gives the lock up now if we hold it: empty holder, leaseDurationSeconds 1 (client-go's release). */
  async release(): Promise<boolean> {
    if (!this.isLeader() || this.observedRecord === undefined) return true;
    const now = formatMicroTime(this.config.clock.wallTime());
    const record: LeaderElectionRecord = { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaderTransitions: this.observedRecord.leaderTransitions };
    try {
      await this.config.lock.update(record);
    } catch (err) {
      this.log?.warn({ err: describeError(err), lock: this.config.lock.describe() }, 'failed to release lock');
      return false;
    }
    this.setObserved(record);
    this.log?.info({ lock: this.config.lock.describe() }, 'released lease');
    return true;
  }

  // ---- the protocol

  /** Polls every RetryPeriod with jitter until acquired (true) or stopped (false). */
  private async acquire(stop: AbortSignal): Promise<boolean> {
    const { clock, retryPeriodMs } = this.config;
    this.log?.info({ lock: this.config.lock.describe(), identity: this.identity }, 'attempting to acquire leader lease');
    while (!stop.aborted) {
      const startMs = clock.nowMs();
      const ok = await this.tryAcquireOrRenew(stop);
      this.maybeReportTransition();
      if (ok) {
        this.lastRenewStartMs = startMs;
        return true;
      }
      // wait.Jitter(RetryPeriod, 1.2): RetryPeriod plus up to 1.2 × RetryPeriod.
      await clock.sleep(retryPeriodMs + this.random() * JITTER_FACTOR * retryPeriodMs, stop);
    }
    return false;
  }

  /**
   * Renews every RetryPeriod (wait.Until); each round polls every RetryPeriod until it succeeds
   * or the renew deadline passes (PollImmediateUntil), and then leadership is lost.
   */
  private async renew(stop: AbortSignal, term: AbortController): Promise<void> {
    const { clock, retryPeriodMs, renewDeadlineMs } = this.config;
    const lost = (why: string): void => this.loseLeadership(why);
    for (;;) {
      if (stop.aborted || term.signal.aborted) return;
      let deadlineMs = this.lastRenewStartMs + renewDeadlineMs;
      await sleepAny(clock, Math.min(retryPeriodMs, deadlineMs - clock.nowMs()), stop, term.signal);
      for (;;) {
        if (stop.aborted || term.signal.aborted) return;
        deadlineMs = this.lastRenewStartMs + renewDeadlineMs;
        if (clock.nowMs() >= deadlineMs) return lost('failed to renew lease before the renew deadline');
        const startMs = clock.nowMs();
        const outcome = await this.renewAttemptUntil(deadlineMs, stop);
        if (outcome === 'renewed') {
          this.lastRenewStartMs = startMs;
          this.log?.debug({ lock: this.config.lock.describe() }, 'successfully renewed lease');
          break;
        }
        if (outcome === 'deadline') return lost('failed to renew lease before the renew deadline');
        if (!this.isLeader()) return lost(`the lease is held by ${this.getLeader() || 'nobody'}`);
        await sleepAny(clock, Math.max(0, Math.min(startMs + retryPeriodMs, deadlineMs) - clock.nowMs()), stop, term.signal);
      }
    }
  }

  /** One attempt, cut short at the deadline: a request still in flight then cannot help. */
  private async renewAttemptUntil(deadlineMs: number, stop: AbortSignal): Promise<'renewed' | 'failed' | 'deadline'> {
    const { clock } = this.config;
    const attempt = new AbortController();
    const onStop = (): void => attempt.abort();
    stop.addEventListener('abort', onStop, { once: true });
    const timer = new AbortController();
    const outcome = await Promise.race([
      this.tryAcquireOrRenew(attempt.signal).then((ok): 'renewed' | 'failed' => (ok ? 'renewed' : 'failed')),
      clock.sleep(Math.max(0, deadlineMs - clock.nowMs()), timer.signal).then((fired): 'deadline' | 'failed' => (fired ? 'deadline' : 'failed')),
    ]);
    timer.abort();
    attempt.abort();
    stop.removeEventListener('abort', onStop);
    this.maybeReportTransition();
    return outcome;
  }

  /** client-go's tryAcquireOrRenew, step for step. */
  private async tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const { lock, clock, leaseDurationMs } = this.config;
    const nowMs = clock.nowMs();
    const nowText = formatMicroTime(clock.wallTime());
    const record: LeaderElectionRecord = {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.round(leaseDurationMs / 1000),
      acquireTime: nowText,
      renewTime: nowText,
      leaderTransitions: 0,
    };

    // 1. Obtain or create the record.
    let old;
    try {
      old = await lock.get(signal);
    } catch (err) {
      this.log?.warn({ err: describeError(err), lock: lock.describe() }, 'error retrieving resource lock');
      return false;
    }
    if (signal.aborted) return false;
    if (old === null) {
      try {
        await lock.create(record, signal);
      } catch (err) {
        this.log?.warn({ err: describeError(err), lock: lock.describe() }, 'error initially creating leader election record');
        return false;
      }
      this.setObserved(record);
      return true;
    }

    // 2. Record obtained: restart the expiry clock when its bytes changed; respect an unexpired holder.
    if (old.raw !== this.observedRaw) {
      this.observedRecord = old.record;
      this.observedRaw = old.raw;
      this.observedTimeMs = clock.nowMs();
    }
    if (old.record.holderIdentity !== '' && this.observedTimeMs + leaseDurationMs > nowMs && !this.isLeader()) {
      this.log?.debug({ holder: old.record.holderIdentity, lock: lock.describe() }, 'lock is held and has not yet expired');
      return false;
    }

    // 3. Take over or renew: a renewing holder keeps acquireTime; a new holder counts a transition.
    if (this.isLeader()) {
      record.acquireTime = old.record.acquireTime;
      record.leaderTransitions = old.record.leaderTransitions;
    } else {
      record.leaderTransitions = old.record.leaderTransitions + 1;
    }
    try {
      await lock.update(record, signal);
    } catch (err) {
      this.log?.warn({ err: describeError(err), lock: lock.describe() }, 'failed to update lock');
      return false;
    }
    if (signal.aborted) return false;
    this.setObserved(record);
    return true;
  }

  private setObserved(record: LeaderElectionRecord): void {
    this.observedRecord = record;
    this.observedRaw = rawRecord(record);
    this.observedTimeMs = this.config.clock.nowMs();
  }

  private maybeReportTransition(): void {
    const holder = this.getLeader();
    if (holder === this.reportedLeader) return;
    this.reportedLeader = holder;
    if (holder !== '') this.log?.info({ leader: holder, lock: this.config.lock.describe() }, 'new leader observed');
    this.config.callbacks.onNewLeader?.(holder);
  }

  private loseLeadership(why: string): void {
    if (this.term === undefined || this.term.signal.aborted) return;
    this.log?.warn({ lock: this.config.lock.describe(), identity: this.identity, why }, 'leader election lost');
    this.term.abort(new NotLeaderError(why));
  }
}

/** Sleeps `ms` unless either signal aborts first. */
function sleepAny(clock: Clock, ms: number, a: AbortSignal, b: AbortSignal): Promise<boolean> {
  const both = new AbortController();
  const onAbort = (): void => both.abort();
  a.addEventListener('abort', onAbort, { once: true });
  b.addEventListener('abort', onAbort, { once: true });
  if (a.aborted || b.aborted) both.abort();
  return clock.sleep(ms, both.signal).finally(() => {
    a.removeEventListener('abort', onAbort);
    b.removeEventListener('abort', onAbort);
  });
}
