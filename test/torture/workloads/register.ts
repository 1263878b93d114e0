// Registers: clients read, write and compare-and-swap (Txn on the value) a few keys. Every written
// value is unique, so the checker can tell which write a read saw. Values are padded past the
// MVCC store's cold-value threshold (48 bytes), so superseded ones go to its cold files and every
// restart, snapshot install and compare reads them back through that path.

import { SeededRandom } from '../../../src/util/prng.js';
import type { CasOp, ReadOp, WriteOp } from '../history.js';
import { EndpointClient, errorText, recordWriteError, sleep, value, type WorkerContext } from './worker.js';

export function registerKeys(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}reg/${i}`);
}

/** A unique value of 64 bytes or more. */
function registerValue(name: string, seq: number): string {
  return `${name}-${seq}-`.padEnd(64, '.');
}

export async function registerWorker(ctx: WorkerContext, name: string, keys: readonly string[], seed: number): Promise<void> {
  const random = new SeededRandom(seed);
  const ec = new EndpointClient(ctx.endpoints, random);
  const { history } = ctx;
  const lastSeen = new Map<string, string>();
  let seq = 0;
  try {
    while (!ctx.control.stopping) {
      const key = random.pick(keys);
      const roll = random.next();
      const seen = lastSeen.get(key);
      const endpoint = ec.endpoint;
      if (roll < 0.4) {
        const op = history.invoke<ReadOp>({ process: name, key, endpoint, f: 'read' });
        try {
          const res = await ec.client.range(key, { timeoutMs: ctx.opTimeoutMs, serializable: ctx.serializableReads ?? false });
          op.result = value(res.kvs[0]?.value);
          history.okRead(op, Number(res.header.revision));
          if (op.result !== null) lastSeen.set(key, op.result);
        } catch (err) {
          // A read that failed tells nothing; it is left out of the check.
          history.fail(op, errorText(err));
          ec.switchEndpoint();
        }
      } else if (roll < 0.7 || seen === undefined) {
        const v = registerValue(name, ++seq);
        const op = history.invoke<WriteOp>({ process: name, key, endpoint, f: 'write', value: v });
        try {
          const res = await ec.client.put(key, v, { timeoutMs: ctx.opTimeoutMs });
          history.ok(op, Number(res.header.revision));
          ctx.acked.push({ rev: Number(res.header.revision), key, value: v, what: `${name} write ${key}=${v}` });
        } catch (err) {
          recordWriteError(history, op, err);
          ec.switchEndpoint();
        }
      } else {
        const v = registerValue(name, ++seq);
        const op = history.invoke<CasOp>({ process: name, key, endpoint, f: 'cas', from: seen, to: v });
        try {
          const res = await ec.client.txn([{ target: 'VALUE', key, value: seen }], [{ put: { key, value: v } }], [{ range: { key } }], ctx.opTimeoutMs);
          op.succeeded = res.succeeded;
          if (res.succeeded) {
            history.ok(op, Number(res.header.revision));
            ctx.acked.push({ rev: Number(res.header.revision), key, value: v, what: `${name} cas ${key} ${seen}→${v}` });
            lastSeen.set(key, v);
          } else {
            op.observed = value(res.responses[0]?.response_range?.kvs[0]?.value);
            history.okRead(op, Number(res.header.revision));
            if (op.observed !== null) lastSeen.set(key, op.observed);
          }
        } catch (err) {
          recordWriteError(history, op, err);
          ec.switchEndpoint();
        }
      }
      if (random.chance(0.02)) ec.switchEndpoint();
      await sleep(random.int(8));
    }
  } finally {
    ec.close();
  }
}
