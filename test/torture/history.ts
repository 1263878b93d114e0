// The operations clients record during a torture run: invocation and completion times from
// process.hrtime (microseconds since the run started), the result, and whether the outcome is known.

export type OpOutcome = 'ok' | 'fail' | 'unknown';

export interface OpBase {
  readonly id: number;
  /** The client (worker) that issued it; one op at a time per process. */
  readonly process: string;
  readonly key: string;
  readonly invokeUs: number;
  /** Completion time; null when the outcome is unknown. */
  completeUs: number | null;
  outcome: OpOutcome;
  /** The header revision of an acknowledged write (the revision it created). */
  revision?: number;
  /** The response header's revision of a completed op: the store's revision when it was served. */
  headerRev?: number;
  readonly endpoint: string;
  error?: string;
}

/** Registers: read, blind write, compare-and-swap on the value (Txn). */
export type RegisterOp = OpBase &
  (
    | { readonly f: 'read'; result?: string | null }
    | { readonly f: 'write'; readonly value: string }
    /** A failed CAS reads the key in its failure branch: `observed` is what it found. */
    | { readonly f: 'cas'; readonly from: string; readonly to: string; succeeded?: boolean; observed?: string | null }
  );

/** Append: each append adds a unique element to a key's list through CAS on the mod revision. */
export type ListOp = OpBase &
  ({ readonly f: 'append'; readonly element: string } | { readonly f: 'read-list'; result?: string[] });

/** Lock workload: what holders did, for the report (the check itself uses the event log). */
export type LockOp = OpBase &
  (
    | { readonly f: 'acquire'; token?: number; lockKey?: string }
    | { readonly f: 'guard'; readonly token: number; readonly lockKey: string; readonly value: string; succeeded?: boolean }
    | { readonly f: 'release'; readonly lockKey: string }
  );

export type HistoryOp = RegisterOp | ListOp | LockOp;

export function nowUs(start: bigint): number {
  return Number((process.hrtime.bigint() - start) / 1000n);
}

/** Collects the ops of a run; each op is recorded at invocation and completed later. */
export class History {
  readonly start = process.hrtime.bigint();
  readonly ops: HistoryOp[] = [];
  private nextId = 0;

  now(): number {
    return nowUs(this.start);
  }

  /** Records an invocation; the caller fills in the outcome with ok / fail / unknown. */
  invoke<T extends HistoryOp>(fields: DistributiveOmit<T, 'id' | 'invokeUs' | 'completeUs' | 'outcome'>): T {
    const op = { ...fields, id: this.nextId++, invokeUs: this.now(), completeUs: null, outcome: 'unknown' } as unknown as T;
    this.ops.push(op);
    return op;
  }

  /** A completed write; `revision` is the one it created (also its header revision). */
  ok(op: HistoryOp, revision?: number): void {
    op.completeUs = this.now();
    op.outcome = 'ok';
    if (revision !== undefined) {
      op.revision = revision;
      op.headerRev = revision;
    }
  }

  /** A completed op that changed nothing (a read, a failed CAS), served at `headerRev`. */
  okRead(op: HistoryOp, headerRev: number): void {
    op.completeUs = this.now();
    op.outcome = 'ok';
    op.headerRev = headerRev;
  }

  /** A definite failure: the op certainly did not take effect. */
  fail(op: HistoryOp, error: string): void {
    op.completeUs = this.now();
    op.outcome = 'fail';
    op.error = error;
  }

  /** The op may or may not have taken effect (timeout, lost connection, ...). */
  unknown(op: HistoryOp, error: string): void {
    op.completeUs = null;
    op.outcome = 'unknown';
    op.error = error;
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export type ReadOp = Extract<RegisterOp, { f: 'read' }>;
export type WriteOp = Extract<RegisterOp, { f: 'write' }>;
export type CasOp = Extract<RegisterOp, { f: 'cas' }>;
export type AppendOp = Extract<ListOp, { f: 'append' }>;
export type ReadListOp = Extract<ListOp, { f: 'read-list' }>;
export type AcquireOp = Extract<LockOp, { f: 'acquire' }>;
export type GuardOp = Extract<LockOp, { f: 'guard' }>;
export type ReleaseOp = Extract<LockOp, { f: 'release' }>;
