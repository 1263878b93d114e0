// Locks: clients take an etcdctl-style mutex (clientv3 concurrency.Mutex): a key under the lock
// prefix named after the client's lease, created if absent; the client holds the lock once its key
// has the lowest create revision under the prefix. Its create revision is the fencing token: while
// holding, the client writes the guard key with a Txn that requires its lock key to still have that
// create revision. The checker then proves, from the revision history, that fenced writes never
// come from anyone but the oldest live key's owner.

import { SeededRandom } from '../../../src/util/prng.js';
import { encodeGuard } from '../checker/event-log.js';
import type { AcquireOp, GuardOp, ReleaseOp } from '../history.js';
import { EndpointClient, errorText, recordWriteError, sleep, type WorkerContext } from './worker.js';

export interface LockNames {
  readonly prefix: string;
  readonly guardKey: string;
}

export function lockNames(prefix: string): LockNames {
  return { prefix: `${prefix}lock/mutex/`, guardKey: `${prefix}lock-guard` };
}

const leaseTtlSeconds = 5;

export async function lockWorker(ctx: WorkerContext, name: string, names: LockNames, seed: number): Promise<void> {
  const random = new SeededRandom(seed);
  const ec = new EndpointClient(ctx.endpoints, random);
  const { history } = ctx;
  let seq = 0;
  try {
    while (!ctx.control.stopping) {
      await holdOnce();
      await sleep(random.int(200));
    }
  } finally {
    ec.close();
  }

  async function holdOnce(): Promise<void> {
    const t = ctx.opTimeoutMs;
    let leaseId: string;
    try {
      const grant = await ec.client.leaseGrant(leaseTtlSeconds, t);
      leaseId = grant.ID;
    } catch {
      ec.switchEndpoint();
      await sleep(100);
      return;
    }
    // Keep the lease alive in the background until we let go.
    let keeping = true;
    let leaseLost = false;
    const keeper = (async () => {
      while (keeping) {
        await sleep(1000);
        if (!keeping) break;
        try {
          const ttl = await ec.client.leaseKeepAliveOnce(leaseId, t);
          if (ttl <= 0) leaseLost = true;
        } catch {
          // retried next round; the lease may expire meanwhile, which fencing must handle
        }
      }
    })();
    const lockKey = `${names.prefix}${BigInt(leaseId).toString(16)}`;
    const acquire = history.invoke<AcquireOp>({ process: name, key: names.prefix, endpoint: ec.endpoint, f: 'acquire', lockKey });
    try {
      let token: number;
      try {
        const res = await ec.client.txn(
          [{ target: 'CREATE', key: lockKey, create_revision: 0 }],
          [{ put: { key: lockKey, value: '', lease: leaseId } }],
          [{ range: { key: lockKey } }],
          t,
        );
        token = res.succeeded ? Number(res.header.revision) : Number(res.responses[0]?.response_range?.kvs[0]?.create_revision ?? 0);
        if (res.succeeded) ctx.acked.push({ rev: token, key: lockKey, value: '', what: `${name} lock key ${lockKey}` });
        if (token === 0) {
          history.fail(acquire, 'lock key vanished right after creation');
          return;
        }
      } catch (err) {
        recordWriteError(history, acquire, err);
        ec.switchEndpoint();
        return;
      }
      // Wait until ours is the oldest key under the prefix.
      const waitUntil = Date.now() + 10_000;
      for (;;) {
        if (ctx.control.stopping || leaseLost || Date.now() > waitUntil) {
          history.fail(acquire, leaseLost ? 'lease lost while waiting' : 'gave up waiting');
          return;
        }
        try {
          const res = await ec.client.range(names.prefix, { rangeEnd: prefixEnd(names.prefix), timeoutMs: t });
          const mine = res.kvs.find((kv) => kv.key.toString('utf8') === lockKey);
          if (mine === undefined) {
            history.fail(acquire, 'lock key expired while waiting');
            return;
          }
          const oldest = res.kvs.reduce((a, b) => (Number(b.create_revision) < Number(a.create_revision) ? b : a));
          if (oldest.key.toString('utf8') === lockKey) break;
        } catch {
          ec.switchEndpoint();
        }
        await sleep(50 + random.int(100));
      }
      acquire.token = token;
      history.ok(acquire);
      // The critical section: a few fenced writes.
      const writes = 1 + random.int(3);
      for (let i = 0; i < writes && !leaseLost; i++) {
        const v = encodeGuard({ holder: name, lockKey, token }, ++seq);
        const op = history.invoke<GuardOp>({ process: name, key: names.guardKey, endpoint: ec.endpoint, f: 'guard', token, lockKey, value: v });
        try {
          const res = await ec.client.txn([{ target: 'CREATE', key: lockKey, create_revision: token }], [{ put: { key: names.guardKey, value: v } }], [], t);
          op.succeeded = res.succeeded;
          if (res.succeeded) history.ok(op, Number(res.header.revision));
          else history.okRead(op, Number(res.header.revision));
          if (res.succeeded) ctx.acked.push({ rev: Number(res.header.revision), key: names.guardKey, value: v, what: `${name} fenced write token ${token}` });
          else break; // lost the lock (its key expired)
        } catch (err) {
          recordWriteError(history, op, err);
          ec.switchEndpoint();
          break;
        }
        await sleep(random.int(150));
      }
    } finally {
      keeping = false;
      const release = history.invoke<ReleaseOp>({ process: name, key: names.prefix, endpoint: ec.endpoint, f: 'release', lockKey });
      try {
        await ec.client.deleteKey(lockKey, t);
        await ec.client.leaseRevoke(leaseId, t).catch(() => undefined);
        history.ok(release);
      } catch (err) {
        // The lease expires anyway.
        history.unknown(release, errorText(err));
        ec.switchEndpoint();
      }
      await keeper;
    }
  }
}

/** The smallest key after every key starting with `prefix` (etcd's prefix range end). */
export function prefixEnd(prefix: string): string {
  const bytes = Buffer.from(prefix, 'utf8');
  for (let i = bytes.length - 1; i >= 0; i--) {
    if ((bytes[i] as number) < 0xff) {
      const out = bytes.subarray(0, i + 1);
      out[i] = (out[i] as number) + 1;
      return out.toString('latin1');
    }
  }
  return '\0';
}
