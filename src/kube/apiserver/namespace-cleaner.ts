// Emptying terminating namespaces, as kube's namespace controller does (it lives in the
// controller manager there; here every apiserver replica runs it, which is safe because every
// step is a conditional write that a second replica repeats harmlessly). A namespace is removed
// once nothing is left in it and its "kubernetes" finalizer is dropped.

import type { Logger } from 'pino';

import { findResource, storedResources, type ResourceInfo } from '../machinery/resources.js';
import type { ApiContext } from './api-context.js';
import { metaOf } from './object-meta.js';
import { deleteObject } from './rest-delete.js';
import { finalizeNamespace } from './rest-subresources.js';

const namespaceInfo = findResource('', 'v1', 'namespaces') as ResourceInfo;

export class NamespaceCleaner {
  private readonly active = new Set<string>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private ctx: ApiContext | undefined;

  constructor(
    private readonly log: Logger,
    private readonly sweepIntervalMs = 10_000,
    private readonly retryMs = 1_000,
  ) {}

  /** Sweeps now and then every sweepIntervalMs (namespaces a stopped replica left half done). */
  start(ctx: ApiContext): void {
    this.ctx = ctx;
    const sweep = (): void => {
      void this.sweep().catch((error: unknown) => this.log.debug({ err: error }, 'namespace sweep failed'));
    };
    sweep();
    this.sweepTimer = setInterval(sweep, this.sweepIntervalMs);
    this.sweepTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.sweepTimer);
  }

  /** Start cleaning one namespace (no-op if already under way here). */
  kick(name: string): void {
    const ctx = this.ctx;
    if (ctx === undefined || this.active.has(name) || this.stopped) return;
    this.active.add(name);
    void this.clean(ctx, name)
      .catch((error: unknown) => this.log.warn({ err: error, namespace: name }, 'namespace cleanup failed; the sweep retries'))
      .finally(() => this.active.delete(name));
  }

  private async sweep(): Promise<void> {
    const ctx = this.ctx;
    if (ctx === undefined) return;
    const page = await ctx.objects.list(namespaceInfo, undefined, { filter: (ns) => metaOf(ns).deletionTimestamp !== undefined });
    for (const ns of page.items) this.kick(String(metaOf(ns).name));
  }

  private async clean(ctx: ApiContext, name: string): Promise<void> {
    while (!this.stopped) {
      const ns = await ctx.objects.getMaybe(namespaceInfo, undefined, name);
      if (ns === undefined || metaOf(ns).deletionTimestamp === undefined) return;
      let remaining = 0;
      for (const info of storedResources) {
        if (!info.namespaced) continue;
        const page = await ctx.objects.list(info, name);
        for (const obj of page.items) {
          remaining++;
          if (metaOf(obj).deletionTimestamp !== undefined) continue;
          await deleteObject(ctx, info, name, String(metaOf(obj).name), {
            gracePeriodSeconds: undefined,
            propagationPolicy: 'Background',
            preconditionUid: undefined,
            preconditionResourceVersion: undefined,
            dryRun: false,
          }).catch((error: unknown) => {
            if ((error as { reason?: string }).reason !== 'NotFound') throw error;
          });
        }
      }
      if (remaining === 0) {
        await finalizeNamespace(ctx, namespaceInfo, name, (finalizers) => finalizers.filter((f) => f !== 'kubernetes'));
        this.log.info({ namespace: name }, 'namespace emptied and finalized');
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, this.retryMs));
    }
  }
}
