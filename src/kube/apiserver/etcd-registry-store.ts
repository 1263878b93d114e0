// RegistryStore over the etcd v3 API (src/client), sending exactly kube-apiserver's request shapes
// (REFERENCE.md A6), so it runs the same against ketch and against real etcd 3.4.

import { status as GrpcStatus } from '@grpc/grpc-js';

import { bytes, EtcdClient, EtcdError, prefixEnd, type KeyValue, type KeyWatcher } from '../../client/index.js';
import {
  StoreCompactedError,
  StoreUnavailableError,
  type CompactRevKeyOutcome,
  type DeleteOutcome,
  type RegistryStore,
  type StoreListOptions,
  type StoreListResult,
  type StoreWatch,
  type StoreWatchEvent,
  type StoreWatchHandler,
  type StoredKv,
  type WriteOutcome,
} from './registry-store.js';

const compactedMessage = 'etcdserver: mvcc: required revision has been compacted';

export interface EtcdRegistryStoreOptions {
  readonly endpoints: readonly string[];
  /** Deadline of each store request (kube-apiserver waits about as long before answering 504). */
  readonly requestTimeoutMs?: number;
  /** Client TLS towards the store (PEM contents of --etcd-cafile, --etcd-certfile, --etcd-keyfile). */
  readonly tls?: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
}

export class EtcdRegistryStore implements RegistryStore {
  private readonly client: EtcdClient;
  /** Open watches, for progress requests. */
  private readonly watchers = new Set<KeyWatcher>();

  constructor(opts: EtcdRegistryStoreOptions) {
    this.client = new EtcdClient({ endpoints: opts.endpoints, requestTimeoutMs: opts.requestTimeoutMs ?? 10_000, ...(opts.tls === undefined ? {} : { tls: { ...opts.tls } }) });
  }

  async get(key: string): Promise<{ kv: StoredKv | undefined; revision: number }> {
    const response = await call(() => this.client.range({ key: bytes(key) }));
    const kv = response.kvs[0];
    return { kv: kv === undefined ? undefined : toStored(kv), revision: num(response.header.revision) };
  }

  async list(prefix: string, opts: StoreListOptions = {}): Promise<StoreListResult> {
    const response = await call(() =>
      this.client.range({
        key: bytes(opts.startKey ?? prefix),
        range_end: prefixEnd(bytes(prefix)),
        limit: opts.limit ?? 0,
        revision: opts.revision ?? 0,
      }),
    );
    return { kvs: response.kvs.map(toStored), more: response.more, revision: num(response.header.revision) };
  }

  async create(key: string, value: Uint8Array, leaseId = '0'): Promise<WriteOutcome> {
    const k = bytes(key);
    const response = await call(() =>
      this.client.txn({
        compare: [{ target: 'MOD', result: 'EQUAL', key: k, mod_revision: 0 }],
        success: [{ request_put: { key: k, value: Buffer.from(value), lease: leaseId } }],
        failure: [{ request_range: { key: k } }],
      }),
    );
    const revision = num(response.header.revision);
    if (response.succeeded) return { ok: true, revision };
    return { ok: false, current: firstKv(response.responses[0]?.response_range?.kvs), revision };
  }

  async update(key: string, value: Uint8Array, expectedModRevision: number, leaseId = '0'): Promise<WriteOutcome> {
    const k = bytes(key);
    const response = await call(() =>
      this.client.txn({
        compare: [{ target: 'MOD', result: 'EQUAL', key: k, mod_revision: expectedModRevision }],
        success: [{ request_put: { key: k, value: Buffer.from(value), lease: leaseId } }],
        failure: [{ request_range: { key: k } }],
      }),
    );
    const revision = num(response.header.revision);
    if (response.succeeded) return { ok: true, revision };
    return { ok: false, current: firstKv(response.responses[0]?.response_range?.kvs), revision };
  }

  async delete(key: string, expectedModRevision: number): Promise<DeleteOutcome> {
    const k = bytes(key);
    const response = await call(() =>
      this.client.txn({
        compare: [{ target: 'MOD', result: 'EQUAL', key: k, mod_revision: expectedModRevision }],
        success: [{ request_delete_range: { key: k, prev_kv: true } }],
        failure: [{ request_range: { key: k } }],
      }),
    );
    const revision = num(response.header.revision);
    if (response.succeeded) {
      const prev = firstKv(response.responses[0]?.response_delete_range?.prev_kvs);
      if (prev === undefined) return { ok: false, current: undefined, revision };
      return { ok: true, revision, deleted: prev };
    }
    return { ok: false, current: firstKv(response.responses[0]?.response_range?.kvs), revision };
  }

  watch(prefix: string, fromRevision: number, handler: StoreWatchHandler): StoreWatch {
    let compactRevision = 0;
    const watcher = this.client.watchKey(
      bytes(prefix),
      fromRevision,
      (events) => {
        const out: StoreWatchEvent[] = [];
        for (const event of events) {
          if (event.kv === null) continue;
          out.push({
            type: event.type === 'DELETE' ? 'delete' : 'put',
            kv: toStored(event.kv),
            prevKv: event.prev_kv === null || event.prev_kv.key.length === 0 ? undefined : toStored(event.prev_kv),
          });
        }
        if (out.length > 0) handler.onEvents(out);
      },
      {
        rangeEnd: prefixEnd(bytes(prefix)),
        prevKv: true,
        progressNotify: true,
        onProgress: (revision) => handler.onProgress(num(revision)),
        onCanceled: (response) => {
          compactRevision = num(response.compact_revision);
        },
      },
    );
    this.watchers.add(watcher);
    let canceled = false;
    void watcher.closed.then((error) => {
      this.watchers.delete(watcher);
      if (canceled) return;
      if (error === undefined) {
        handler.onError(new StoreUnavailableError('store watch ended'));
      } else if (error.message === compactedMessage || compactRevision > 0) {
        handler.onError(new StoreCompactedError(compactRevision));
      } else {
        handler.onError(new StoreUnavailableError(error.message, { cause: error }));
      }
    });
    return {
      cancel: () => {
        canceled = true;
        this.watchers.delete(watcher);
        watcher.cancel();
      },
    };
  }

  openWatches(): number {
    return this.watchers.size;
  }

  requestProgress(): void {
    for (const watcher of this.watchers) watcher.requestProgress();
  }

  async grantLease(ttlSeconds: number): Promise<string> {
    const response = await call(() => this.client.leaseGrant({ TTL: ttlSeconds, ID: 0 }));
    return response.ID;
  }

  async casCompactRevKey(key: string, expectedVersion: number, value: string): Promise<CompactRevKeyOutcome> {
    const k = bytes(key);
    const response = await call(() =>
      this.client.txn({
        compare: [{ target: 'VERSION', result: 'EQUAL', key: k, version: expectedVersion }],
        success: [{ request_put: { key: k, value: bytes(value) } }],
        failure: [{ request_range: { key: k } }],
      }),
    );
    const revision = num(response.header.revision);
    if (response.succeeded) return { succeeded: true, version: expectedVersion + 1, revision };
    const kv = response.responses[0]?.response_range?.kvs[0];
    return { succeeded: false, version: kv === undefined ? 0 : num(kv.version), revision };
  }

  async compact(revision: number): Promise<void> {
    try {
      await call(() => this.client.compact({ revision }));
    } catch (error) {
      // Another replica (or the store's own auto compaction) got there first.
      if (error instanceof StoreCompactedError) return;
      throw error;
    }
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

async function call<T>(request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (error) {
    if (error instanceof EtcdError) {
      if (error.message === compactedMessage) throw new StoreCompactedError(0);
      if (error.grpcCode === GrpcStatus.UNAVAILABLE || error.grpcCode === GrpcStatus.DEADLINE_EXCEEDED) {
        throw new StoreUnavailableError(`etcd request failed: ${error.message}`, { cause: error });
      }
      if (error.message.startsWith('etcdserver: request timed out') || error.message === 'etcdserver: leader changed') {
        throw new StoreUnavailableError(error.message, { cause: error });
      }
    }
    throw error;
  }
}

function num(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`revision ${value} is not a safe integer`);
  return n;
}

function toStored(kv: KeyValue): StoredKv {
  return {
    key: kv.key.toString('utf8'),
    value: kv.value,
    createRevision: num(kv.create_revision),
    modRevision: num(kv.mod_revision),
  };
}

function firstKv(kvs: readonly KeyValue[] | undefined): StoredKv | undefined {
  const kv = kvs?.[0];
  return kv === undefined ? undefined : toStored(kv);
}
