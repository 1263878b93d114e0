// clientv3/concurrency's Session, Mutex and Election as etcdctl's lock and elect use them: the
// same key layout (`<name>/<lease ID in hex>`) and the same transactions, so ketchctl and etcdctl
// (and any clientv3 program) queue for the same locks and elections.

import type { EtcdClient } from "../client/etcd-client.js";
import type { LeaseKeeper } from "../client/lease-keeper.js";
import type { KeyValue, RangeRequest, ResponseHeader } from "../client/messages.js";
import { bytesOf, prefixRangeEnd } from "./rpc.js";

export class Session {
  private constructor(
    readonly client: EtcdClient,
    readonly lease: string,
    private readonly keeper: LeaseKeeper,
  ) {}

  /** Grants a lease of `ttlSeconds` and keeps it alive until the process ends. */
  static async create(client: EtcdClient, ttlSeconds = 60): Promise<Session> {
    const grant = await client.leaseGrant({ TTL: ttlSeconds });
    return new Session(client, grant.ID, client.leaseKeepAlive(grant.ID));
  }

  /** Resolves when the lease can no longer be kept (expired or revoked). */
  get done(): Promise<unknown> {
    return this.keeper.closed;
  }

  /** The lease ID as the key suffix (%x of the int64). */
  get leaseHex(): string {
    return BigInt(this.lease).toString(16);
  }
}

/** A Range for the oldest (firstCreate) or newest (lastCreate) key under a prefix. */
function byCreate(prefix: string, order: "ASCEND" | "DESCEND", maxCreateRevision?: string): RangeRequest {
  const key = bytesOf(prefix);
  const request: RangeRequest = { key, range_end: prefixRangeEnd(key), sort_target: "CREATE", sort_order: order, limit: 1 };
  if (maxCreateRevision !== undefined) request.max_create_revision = maxCreateRevision;
  return request;
}

/** Resolves once `key` is deleted at or after `revision` (rejects if the watch fails). */
function waitDelete(client: EtcdClient, key: string, revision: string, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const watcher = client.watchKey(bytesOf(key), revision, (events) => {
      if (events.some((event) => event.type === "DELETE")) {
        watcher.cancel();
        resolve();
      }
    });
    const abort = (): void => watcher.cancel();
    signal.addEventListener("abort", abort, { once: true });
    void watcher.closed.then((error) => {
      signal.removeEventListener("abort", abort);
      if (signal.aborted) reject(new Error("context canceled"));
      else if (error !== undefined) reject(error);
    });
  });
}

/** Waits until every key under `prefix` created at or before maxCreateRevision is gone. */
async function waitDeletes(client: EtcdClient, prefix: string, maxCreateRevision: bigint, signal: AbortSignal): Promise<ResponseHeader> {
  for (;;) {
    if (signal.aborted) throw new Error("context canceled");
    const response = await client.range(byCreate(prefix, "DESCEND", maxCreateRevision.toString()), { signal });
    const last = response.kvs[0];
    if (last === undefined) return response.header;
    await waitDelete(client, last.key.toString("latin1"), response.header.revision, signal);
  }
}

export class Mutex {
  readonly prefix: string;
  key = "";
  /** The header of the request that made us the holder (ETCD_LOCK_REV is its revision). */
  header: ResponseHeader | undefined;

  constructor(
    private readonly session: Session,
    name: string,
  ) {
    this.prefix = `${name}/`;
  }

  async lock(signal: AbortSignal): Promise<void> {
    const client = this.session.client;
    this.key = `${this.prefix}${this.session.leaseHex}`;
    const key = bytesOf(this.key);
    const owner = { request_range: byCreate(this.prefix, "ASCEND") };
    const response = await client.txn(
      {
        compare: [{ key, target: "CREATE", result: "EQUAL", create_revision: 0 }],
        success: [{ request_put: { key, value: Buffer.alloc(0), lease: this.session.lease } }, owner],
        failure: [{ request_range: { key } }, owner],
      },
      { signal },
    );
    let myRevision = BigInt(response.header.revision);
    if (!response.succeeded) myRevision = BigInt(response.responses[0]?.response_range?.kvs[0]?.create_revision ?? "0");
    const holder = response.responses[1]?.response_range?.kvs[0];
    if (holder === undefined || BigInt(holder.create_revision) === myRevision) {
      this.header = response.header;
      return;
    }
    try {
      this.header = await waitDeletes(client, this.prefix, myRevision - 1n, signal);
    } catch (error) {
      await this.unlock().catch(() => undefined);
      throw error;
    }
  }

  async unlock(): Promise<void> {
    await this.session.client.deleteRange({ key: bytesOf(this.key) });
  }
}

export class Election {
  readonly prefix: string;
  private leaderKey = "";
  private leaderRevision = 0n;
  private leading = false;

  constructor(
    private readonly session: Session,
    name: string,
  ) {
    this.prefix = `${name}/`;
  }

  get key(): string {
    return this.leaderKey;
  }

  /** Puts our proposal under the prefix and waits until it is the oldest key there. */
  async campaign(value: string, signal: AbortSignal): Promise<void> {
    const client = this.session.client;
    const keyText = `${this.prefix}${this.session.leaseHex}`;
    const key = bytesOf(keyText);
    const response = await client.txn(
      {
        compare: [{ key, target: "CREATE", result: "EQUAL", create_revision: 0 }],
        success: [{ request_put: { key, value: bytesOf(value), lease: this.session.lease } }],
        failure: [{ request_range: { key } }],
      },
      { signal },
    );
    this.leaderKey = keyText;
    this.leaderRevision = BigInt(response.header.revision);
    this.leading = true;
    if (!response.succeeded) {
      const kv = response.responses[0]?.response_range?.kvs[0];
      this.leaderRevision = BigInt(kv?.create_revision ?? "0");
      if (kv !== undefined && kv.value.toString("utf8") !== value) {
        await client.put({ key, value: bytesOf(value), lease: this.session.lease }, { signal });
      }
    }
    try {
      await waitDeletes(client, this.prefix, this.leaderRevision - 1n, signal);
    } catch (error) {
      if (signal.aborted) await this.resign().catch(() => undefined);
      else this.leading = false;
      throw error;
    }
  }

  /** Gives up leadership: deletes our key if it is still the one we created. */
  async resign(): Promise<void> {
    if (!this.leading) return;
    await this.session.client.txn({
      compare: [{ key: bytesOf(this.leaderKey), target: "CREATE", result: "EQUAL", create_revision: this.leaderRevision.toString() }],
      success: [{ request_delete_range: { key: bytesOf(this.leaderKey) } }],
    });
    this.leading = false;
  }
}

/**
 * Reports the election's leader and every change of it (clientv3's Election.Observe): the oldest
 * key under the prefix, its later values, and the next leader once it is deleted.
 */
export async function observeElection(
  client: EtcdClient,
  name: string,
  onLeader: (header: ResponseHeader, kv: KeyValue) => void,
  signal: AbortSignal,
): Promise<void> {
  const prefix = `${name}/`;
  while (!signal.aborted) {
    const response = await client.range(byCreate(prefix, "ASCEND"), { signal });
    let header = response.header;
    let leader = response.kvs[0];
    if (leader === undefined) {
      // Wait for the first key put under the prefix.
      const first = await nextEvent(client, bytesOf(prefix), prefixRangeEnd(bytesOf(prefix)), response.header.revision, "PUT", signal);
      leader = first.kv;
      header = { ...first.header, revision: first.kv.mod_revision };
    }
    onLeader(header, leader);
    // Follow the leader's key until it is deleted.
    await new Promise<void>((resolve, reject) => {
      const watcher = client.watchKey(leader.key, (BigInt(header.revision) + 1n).toString(), (events, watchResponse) => {
        for (const event of events) {
          if (event.type === "DELETE") {
            watcher.cancel();
            resolve();
            return;
          }
          if (event.kv !== null) onLeader(watchResponse.header, event.kv);
        }
      });
      const abort = (): void => watcher.cancel();
      signal.addEventListener("abort", abort, { once: true });
      void watcher.closed.then((error) => {
        signal.removeEventListener("abort", abort);
        if (error !== undefined) reject(error);
        else resolve();
      });
    });
  }
}

function nextEvent(
  client: EtcdClient,
  key: Buffer,
  rangeEnd: Buffer,
  revision: string,
  type: "PUT",
  signal: AbortSignal,
): Promise<{ header: ResponseHeader; kv: KeyValue }> {
  return new Promise((resolve, reject) => {
    const watcher = client.watchKey(
      key,
      revision,
      (events, response) => {
        const event = events.find((candidate) => candidate.type === type && candidate.kv !== null);
        if (event?.kv) {
          watcher.cancel();
          resolve({ header: response.header, kv: event.kv });
        }
      },
      { rangeEnd },
    );
    const abort = (): void => watcher.cancel();
    signal.addEventListener("abort", abort, { once: true });
    void watcher.closed.then((error) => {
      signal.removeEventListener("abort", abort);
      if (signal.aborted) reject(new Error("context canceled"));
      else if (error !== undefined) reject(error);
    });
  });
}
