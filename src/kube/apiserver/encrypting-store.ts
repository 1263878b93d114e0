// Encryption at rest as a RegistryStore decorator: values under the key prefixes of the resources
// the EncryptionConfiguration names are encrypted on their way to the store and decrypted on
// every way back (get, list, watch, the current value of a refused write, a delete's old value).
// Everything above (object store, watch cache, handlers) sees plaintext; the store sees
// "k8s:enc:...", which is what `ketchctl get /registry/secrets/...` shows.

import { etcdKey, storedResources } from '../machinery/resources.js';
import { internalError } from '../machinery/status.js';
import type { ResourceTransformer, ValueTransformer } from './encryption-config.js';
import type {
  CompactRevKeyOutcome,
  DeleteOutcome,
  RegistryStore,
  StoredKv,
  StoreListOptions,
  StoreListResult,
  StoreWatch,
  StoreWatchHandler,
  WriteOutcome,
} from './registry-store.js';

/** Key prefix → transformer, for every served resource the configuration covers (first match wins, as in kube). */
export function transformersByPrefix(config: readonly ResourceTransformer[], registryPrefix: string): [string, ValueTransformer][] {
  const out: [string, ValueTransformer][] = [];
  for (const info of storedResources) {
    if (info.etcdPrefix === '') continue;
    const match = config.find((c) => (c.anyGroup || c.group === info.group) && (c.resource === '*' || c.resource === info.resource));
    if (match !== undefined) out.push([etcdKey(info, undefined, undefined, registryPrefix), match.transformer]);
  }
  return out;
}

export class EncryptingStore implements RegistryStore {
  constructor(
    private readonly inner: RegistryStore,
    private readonly prefixes: readonly [string, ValueTransformer][],
  ) {}

  private transformerFor(key: string): ValueTransformer | undefined {
    for (const [prefix, transformer] of this.prefixes) if (key.startsWith(prefix)) return transformer;
    return undefined;
  }

  private encrypt(key: string, value: Uint8Array): Uint8Array {
    return this.transformerFor(key)?.toStorage(value, key) ?? value;
  }

  private decrypt(kv: StoredKv): StoredKv;
  private decrypt(kv: StoredKv | undefined): StoredKv | undefined;
  private decrypt(kv: StoredKv | undefined): StoredKv | undefined {
    if (kv === undefined || kv.value.length === 0) return kv;
    const transformer = this.transformerFor(kv.key);
    if (transformer === undefined) return kv;
    try {
      return { ...kv, value: transformer.fromStorage(kv.value, kv.key) };
    } catch (error) {
      throw internalError(error);
    }
  }

  async get(key: string): Promise<{ kv: StoredKv | undefined; revision: number }> {
    const result = await this.inner.get(key);
    return { kv: this.decrypt(result.kv), revision: result.revision };
  }

  async list(prefix: string, opts?: StoreListOptions): Promise<StoreListResult> {
    const result = await this.inner.list(prefix, opts);
    return { ...result, kvs: result.kvs.map((kv) => this.decrypt(kv)) };
  }

  async create(key: string, value: Uint8Array, leaseId?: string): Promise<WriteOutcome> {
    return this.outcome(await this.inner.create(key, this.encrypt(key, value), leaseId));
  }

  async update(key: string, value: Uint8Array, expectedModRevision: number, leaseId?: string): Promise<WriteOutcome> {
    return this.outcome(await this.inner.update(key, this.encrypt(key, value), expectedModRevision, leaseId));
  }

  async delete(key: string, expectedModRevision: number): Promise<DeleteOutcome> {
    const result = await this.inner.delete(key, expectedModRevision);
    return result.ok ? { ...result, deleted: this.decrypt(result.deleted) } : { ...result, current: this.decrypt(result.current) };
  }

  private outcome(result: WriteOutcome): WriteOutcome {
    return result.ok ? result : { ...result, current: this.decrypt(result.current) };
  }

  watch(prefix: string, fromRevision: number, handler: StoreWatchHandler): StoreWatch {
    return this.inner.watch(prefix, fromRevision, {
      onEvents: (events) => handler.onEvents(events.map((e) => ({ ...e, kv: this.decryptOrKeep(e.kv), prevKv: e.prevKv === undefined ? undefined : this.decryptOrKeep(e.prevKv) }))),
      onProgress: (revision) => handler.onProgress(revision),
      onError: (error) => handler.onError(error),
    });
  }

  /**
   * One value that cannot be decrypted must not end the one watch every cache of this apiserver
   * hangs on: it passes on as stored, and decoding that one object fails with its key named.
   */
  private decryptOrKeep(kv: StoredKv): StoredKv {
    try {
      return this.decrypt(kv);
    } catch {
      return kv;
    }
  }

  requestProgress(): void {
    this.inner.requestProgress();
  }

  grantLease(ttlSeconds: number): Promise<string> {
    return this.inner.grantLease(ttlSeconds);
  }

  casCompactRevKey(key: string, expectedVersion: number, value: string): Promise<CompactRevKeyOutcome> {
    return this.inner.casCompactRevKey(key, expectedVersion, value);
  }

  compact(revision: number): Promise<void> {
    return this.inner.compact(revision);
  }

  openWatches(): number {
    return this.inner.openWatches();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
