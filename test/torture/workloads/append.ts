// Append: each append adds a unique element to a key's list with a read followed by a Txn that
// compares the key's mod revision (retried on conflict); reads return the whole list. Keys are
// retired after a few dozen elements so the lists, and the checker's states, stay short.

import { SeededRandom } from '../../../src/util/prng.js';
import type { AppendOp, ReadListOp } from '../history.js';
import { EndpointClient, errorText, recordWriteError, sleep, value, type WorkerContext } from './worker.js';

/** The keys being appended to, shared by the append clients. */
export class AppendKeys {
  private readonly counts = new Map<string, number>();
  readonly all: string[] = [];
  private next = 0;
  private active: string[] = [];

  constructor(
    private readonly prefix: string,
    width: number,
    private readonly elementsPerKey: number,
  ) {
    for (let i = 0; i < width; i++) this.active.push(this.fresh());
  }

  private fresh(): string {
    const key = `${this.prefix}list/${this.next++}`;
    this.all.push(key);
    this.counts.set(key, 0);
    return key;
  }

  pick(random: SeededRandom): string {
    return random.pick(this.active);
  }

  /** Counts an append attempt; a key that had its share is replaced by a new one. */
  used(key: string): void {
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    const i = this.active.indexOf(key);
    if (n >= this.elementsPerKey && i >= 0) this.active[i] = this.fresh();
  }
}

function parseList(v: string | null): string[] {
  return v === null || v === '' ? [] : v.split(',');
}

export async function appendWorker(ctx: WorkerContext, name: string, keys: AppendKeys, seed: number): Promise<void> {
  const random = new SeededRandom(seed);
  const ec = new EndpointClient(ctx.endpoints, random);
  const { history } = ctx;
  let seq = 0;
  try {
    while (!ctx.control.stopping) {
      const key = keys.pick(random);
      const endpoint = ec.endpoint;
      if (random.chance(0.4)) {
        const op = history.invoke<ReadListOp>({ process: name, key, endpoint, f: 'read-list' });
        try {
          const res = await ec.client.range(key, { timeoutMs: ctx.opTimeoutMs, serializable: ctx.serializableReads ?? false });
          op.result = parseList(value(res.kvs[0]?.value));
          history.okRead(op, Number(res.header.revision));
        } catch (err) {
          history.fail(op, errorText(err));
          ec.switchEndpoint();
        }
      } else {
        keys.used(key);
        const element = `${name}.${++seq}`;
        const op = history.invoke<AppendOp>({ process: name, key, endpoint, f: 'append', element });
        await appendOnce(ctx, ec, op, key, element);
      }
      await sleep(random.int(8));
    }
  } finally {
    ec.close();
  }
}

async function appendOnce(ctx: WorkerContext, ec: EndpointClient, op: AppendOp, key: string, element: string): Promise<void> {
  const { history } = ctx;
  let list: string[];
  let modRev: number;
  try {
    const res = await ec.client.range(key, { timeoutMs: ctx.opTimeoutMs });
    list = parseList(value(res.kvs[0]?.value));
    modRev = Number(res.kvs[0]?.mod_revision ?? 0);
  } catch (err) {
    // Nothing was written yet.
    history.fail(op, `read before append: ${errorText(err)}`);
    ec.switchEndpoint();
    return;
  }
  for (let attempt = 0; attempt < 8; attempt++) {
    const next = [...list, element].join(',');
    try {
      const res = await ec.client.txn(
        [{ target: 'MOD', key, mod_revision: modRev }],
        [{ put: { key, value: next } }],
        [{ range: { key } }],
        ctx.opTimeoutMs,
      );
      if (res.succeeded) {
        history.ok(op, Number(res.header.revision));
        ctx.acked.push({ rev: Number(res.header.revision), key, lastElement: element, what: `${op.process} append ${element} to ${key}` });
        return;
      }
      const kv = res.responses[0]?.response_range?.kvs[0];
      list = parseList(value(kv?.value));
      modRev = Number(kv?.mod_revision ?? 0);
    } catch (err) {
      recordWriteError(history, op, err);
      ec.switchEndpoint();
      return;
    }
  }
  history.fail(op, 'gave up after 8 conflicting attempts');
}
