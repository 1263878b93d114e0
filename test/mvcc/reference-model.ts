// A deliberately naive model of etcd 3.4's MVCC semantics for the randomized test: the whole key
// space is copied at every revision (a Map per revision), and every request is answered by
// scanning and sorting that Map. Slow and obviously right, which is the point.

import type {
  Compare,
  DeleteRangeRequest,
  Event,
  KeyValue,
  MvccErrorCode,
  PutRequest,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from '../../src/mvcc/types.js';

interface ModelKv {
  key: string;
  create: number;
  mod: number;
  version: number;
  value: string;
  lease: string;
}

type State = Map<string, ModelKv>;

export class ModelError extends Error {
  constructor(readonly code: MvccErrorCode) {
    super(code);
  }
}

export interface ModelWrite<R> {
  response: R;
  revision: number;
  events: Event[];
}

const latin1 = (buf: Buffer): string => buf.toString('latin1');

function toKv(m: ModelKv, keysOnly = false): KeyValue {
  return {
    key: Buffer.from(m.key, 'latin1'),
    createRevision: m.create,
    modRevision: m.mod,
    version: m.version,
    value: keysOnly ? Buffer.alloc(0) : Buffer.from(m.value, 'latin1'),
    lease: m.lease,
  };
}

/** Keys of `state` selected by key/rangeEnd with etcd's rules, sorted bytewise. */
function select(state: State, keyBuf: Buffer, endBuf: Buffer): ModelKv[] {
  const key = latin1(keyBuf);
  const all = [...state.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  if (endBuf.length === 0) return all.filter((kv) => kv.key === key);
  if (endBuf.length === 1 && endBuf[0] === 0) return all.filter((kv) => kv.key >= key);
  const end = latin1(endBuf);
  return all.filter((kv) => kv.key >= key && kv.key < end);
}

function cmpNum(a: number, b: number): number {
  return Math.sign(a - b);
}

function cmpBig(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export class ReferenceModel {
  rev = 1;
  /** etcd's compactMainRev: -1 until the first compaction. */
  compactRev = -1;
  private readonly states = new Map<number, State>([[1, new Map()]]);

  constructor(private readonly leaseExists: (id: string) => boolean = () => true) {}

  private stateAt(rev: number): State {
    const state = this.states.get(rev);
    if (state === undefined) throw new Error(`model has no state at ${rev}`);
    return state;
  }

  current(): State {
    return this.stateAt(this.rev);
  }

  keysWithLease(lease: string): string[] {
    return [...this.current().values()]
      .filter((kv) => kv.lease === lease)
      .map((kv) => kv.key)
      .sort();
  }

  range(req: RangeRequest): RangeResponse {
    return this.rangeIn(req, this.rev, this.current());
  }

  /** `working` is the state at `curRev` (inside a txn: with the txn's writes so far). */
  private rangeIn(req: RangeRequest, curRev: number, working: State): RangeResponse {
    let rev = req.revision;
    if (rev > curRev) throw new ModelError('FutureRevision');
    if (rev <= 0) rev = curRev;
    if (rev < this.compactRev) throw new ModelError('Compacted');
    const matches = select(rev === curRev ? working : this.stateAt(rev), req.key, req.rangeEnd);
    const count = matches.length;
    if (req.countOnly) return { kvs: [], more: false, count, revision: curRev };

    const filters =
      req.minModRevision !== 0 || req.maxModRevision !== 0 || req.minCreateRevision !== 0 || req.maxCreateRevision !== 0;
    let fetched =
      req.sortOrder === 'NONE' && !filters && req.limit > 0 ? matches.slice(0, req.limit + 1) : matches.slice();
    fetched = fetched.filter(
      (kv) =>
        (req.maxModRevision === 0 || kv.mod <= req.maxModRevision) &&
        (req.minModRevision === 0 || kv.mod >= req.minModRevision) &&
        (req.maxCreateRevision === 0 || kv.create <= req.maxCreateRevision) &&
        (req.minCreateRevision === 0 || kv.create >= req.minCreateRevision),
    );
    const order = req.sortOrder === 'NONE' && req.sortTarget !== 'KEY' ? 'ASCEND' : req.sortOrder;
    if (order !== 'NONE') {
      const field = (kv: ModelKv): number | string =>
        ({ KEY: kv.key, VERSION: kv.version, CREATE: kv.create, MOD: kv.mod, VALUE: kv.value })[req.sortTarget];
      const asc = (a: ModelKv, b: ModelKv): number => {
        const x = field(a);
        const y = field(b);
        return x < y ? -1 : x > y ? 1 : 0;
      };
      // A stable sort: the model's ranges hold at most 11 kvs, and Go sorts up to 12 by insertion,
      // which is stable too.
      fetched.sort(order === 'ASCEND' ? asc : (a, b) => asc(b, a));
    }
    let more = false;
    if (req.limit > 0 && fetched.length > req.limit) {
      fetched = fetched.slice(0, req.limit);
      more = true;
    }
    return { kvs: fetched.map((kv) => toKv(kv, req.keysOnly)), more, count, revision: curRev };
  }

  put(req: PutRequest): ModelWrite<{ prevKv?: KeyValue; revision: number }> {
    if (req.lease !== '0' && !this.leaseExists(req.lease)) throw new ModelError('LeaseNotFound');
    const w = this.begin();
    const response = this.putIn(w, req);
    return this.end(w, response);
  }

  deleteRange(req: DeleteRangeRequest): ModelWrite<{ deleted: number; prevKvs: KeyValue[]; revision: number }> {
    const w = this.begin();
    const response = this.deleteIn(w, req);
    return this.end(w, response);
  }

  compact(rev: number): void {
    if (rev <= this.compactRev) throw new ModelError('Compacted');
    if (rev > this.rev) throw new ModelError('FutureRevision');
    this.compactRev = rev;
    for (const r of [...this.states.keys()]) if (r < rev) this.states.delete(r);
  }

  txn(req: TxnRequest): ModelWrite<TxnResponse> {
    const base = this.current();
    // Decide every branch against the store before the txn.
    const decisions = new Map<TxnRequest, boolean>();
    const decide = (t: TxnRequest): void => {
      const ok = t.compare.every((c) => this.compareHolds(base, c));
      decisions.set(t, ok);
      for (const op of ok ? t.success : t.failure) if ('txn' in op) decide(op.txn);
    };
    decide(req);
    const ops = (t: TxnRequest): RequestOp[] => (decisions.get(t) ? t.success : t.failure);
    const walk = (t: TxnRequest, f: (op: RequestOp) => void): void => {
      for (const op of ops(t)) {
        if ('txn' in op) walk(op.txn, f);
        else f(op);
      }
    };
    walk(req, (op) => {
      if (!('put' in op)) return;
      const p = op.put;
      if ((p.ignoreValue || p.ignoreLease) && !base.has(latin1(p.key))) throw new ModelError('KeyNotFound');
      if (p.lease !== '0' && !this.leaseExists(p.lease)) throw new ModelError('LeaseNotFound');
    });
    walk(req, (op) => {
      if (!('range' in op) || op.range.revision === 0) return;
      if (op.range.revision > this.rev) throw new ModelError('FutureRevision');
      if (op.range.revision < this.compactRev) throw new ModelError('Compacted');
    });

    const w = this.begin();
    const run = (t: TxnRequest, top: boolean): TxnResponse => {
      const responses: ResponseOp[] = ops(t).map((op): ResponseOp => {
        if ('range' in op) return { range: this.rangeIn(op.range, w.changes > 0 ? this.rev + 1 : this.rev, w.state) };
        if ('put' in op) return { put: this.putIn(w, op.put) };
        if ('deleteRange' in op) return { deleteRange: this.deleteIn(w, op.deleteRange) };
        return { txn: run(op.txn, false) };
      });
      return { succeeded: decisions.get(t) === true, responses, revision: top ? -1 : 0 };
    };
    const response = run(req, true);
    response.revision = w.changes > 0 ? this.rev + 1 : this.rev;
    return this.end(w, response);
  }

  private compareHolds(state: State, c: Compare): boolean {
    const kvs = select(state, c.key, c.rangeEnd);
    if (kvs.length === 0 && c.target === 'VALUE') return false;
    const subjects: Array<ModelKv | undefined> = kvs.length === 0 ? [undefined] : kvs;
    return subjects.every((kv) => {
      const result =
        c.target === 'VALUE'
          ? Math.sign(Buffer.compare(Buffer.from(kv?.value ?? '', 'latin1'), c.value))
          : c.target === 'LEASE'
            ? cmpBig(kv?.lease ?? '0', c.lease)
            : c.target === 'VERSION'
              ? cmpNum(kv?.version ?? 0, c.version)
              : c.target === 'CREATE'
                ? cmpNum(kv?.create ?? 0, c.createRevision)
                : cmpNum(kv?.mod ?? 0, c.modRevision);
      return { EQUAL: result === 0, NOT_EQUAL: result !== 0, GREATER: result > 0, LESS: result < 0 }[c.result];
    });
  }

  private begin(): { state: State; changes: number; events: Event[] } {
    return { state: new Map(this.current()), changes: 0, events: [] };
  }

  private end<R>(w: { state: State; changes: number; events: Event[] }, response: R): ModelWrite<R> {
    if (w.changes > 0) {
      this.rev++;
      this.states.set(this.rev, w.state);
    }
    return { response, revision: this.rev, events: w.events };
  }

  private putIn(w: { state: State; changes: number; events: Event[] }, req: PutRequest): { prevKv?: KeyValue; revision: number } {
    const key = latin1(req.key);
    const prev = w.state.get(key);
    if ((req.ignoreValue || req.ignoreLease) && prev === undefined) throw new ModelError('KeyNotFound');
    const main = this.rev + 1;
    const next: ModelKv = {
      key,
      create: prev?.create ?? main,
      mod: main,
      version: (prev?.version ?? 0) + 1,
      value: req.ignoreValue ? (prev as ModelKv).value : latin1(req.value),
      lease: req.ignoreLease ? (prev as ModelKv).lease : req.lease,
    };
    w.state.set(key, next);
    w.changes++;
    w.events.push(prev ? { type: 'PUT', kv: toKv(next), prevKv: toKv(prev) } : { type: 'PUT', kv: toKv(next) });
    return req.prevKv && prev ? { prevKv: toKv(prev), revision: main } : { revision: main };
  }

  private deleteIn(
    w: { state: State; changes: number; events: Event[] },
    req: DeleteRangeRequest,
  ): { deleted: number; prevKvs: KeyValue[]; revision: number } {
    const doomed = select(w.state, req.key, req.rangeEnd);
    const main = this.rev + 1;
    for (const kv of doomed) {
      w.state.delete(kv.key);
      w.changes++;
      w.events.push({
        type: 'DELETE',
        kv: { key: Buffer.from(kv.key, 'latin1'), createRevision: 0, modRevision: main, version: 0, value: Buffer.alloc(0), lease: '0' },
        prevKv: toKv(kv),
      });
    }
    return {
      deleted: doomed.length,
      prevKvs: req.prevKv ? doomed.map((kv) => toKv(kv)) : [],
      revision: w.changes > 0 ? main : this.rev,
    };
  }
}
