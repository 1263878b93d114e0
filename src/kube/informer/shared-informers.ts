// One informer per resource for a whole process (client-go's SharedInformerFactory): controllers
// ask for what they watch, and each resource is listed and watched once however many
// controllers use it. Started together, stopped together (by the signal given to start).

import type { Logger } from 'pino';
import type { Clock } from '../client/clock.js';
import type { KubeClient } from '../client/kube-client.js';
import type { KubeObject } from '../client/meta-types.js';
import type { ResourceRef } from '../client/resource-ref.js';
import { Informer } from './informer.js';

export class SharedInformers {
  private readonly informers = new Map<string, Informer<KubeObject>>();
  private readonly running: Promise<void>[] = [];
  private signal: AbortSignal | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly clock: Clock,
    private readonly logger?: Logger,
    private readonly resyncMs = 0,
  ) {}

  /** The informer for `resource` (optionally one namespace), created on first use. */
  get<T extends KubeObject>(resource: ResourceRef, namespace?: string): Informer<T> {
    const key = `${resource.group}/${resource.resource}/${namespace ?? ''}`;
    let inf = this.informers.get(key);
    if (inf === undefined) {
      inf = new Informer<KubeObject>({ client: this.client, resource, namespace, clock: this.clock, logger: this.logger, resyncMs: this.resyncMs });
      this.informers.set(key, inf);
      // Asked for after start(): start it too.
      if (this.signal !== undefined) this.running.push(inf.run(this.signal));
    }
    return inf as unknown as Informer<T>;
  }

  start(signal: AbortSignal): void {
    this.signal = signal;
    for (const inf of this.informers.values()) this.running.push(inf.run(signal));
  }

  async waitForSync(signal: AbortSignal): Promise<boolean> {
    for (const inf of this.informers.values()) if (!(await inf.waitForSync(signal))) return false;
    return true;
  }

  /** Resolves when every informer has stopped (after the start signal aborted). */
  async stopped(): Promise<void> {
    await Promise.all(this.running);
  }
}
