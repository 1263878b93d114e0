// Per-kind rules of the registry, after kube's pkg/registry/*/strategy.go: what a create may not
// set (status), what an update of the main resource keeps (status) and of the status subresource
// keeps (everything else), which kinds count generations, which may be created by PUT, and how
// pods are deleted gracefully.

import { podQosClass } from '../machinery/defaults.js';
import { isJsonObject, type JsonObject } from '../machinery/json.js';
import type { ResourceInfo } from '../machinery/resources.js';
import { metaOf } from './object-meta.js';

/** Side effects of one write (allocations) that must be undone or completed around the store write. */
export interface WriteHooks {
  /** Runs before each store attempt with the object about to be written (may allocate). */
  admit(next: JsonObject, old: JsonObject | undefined): Promise<void>;
  /** After the write succeeded; `final` is undefined for a delete. */
  committed(old: JsonObject | undefined, final: JsonObject | undefined): Promise<void>;
  /** The write failed: undo what admit did. */
  aborted(): Promise<void>;
}

export interface ResourceStrategy {
  /** metadata.generation starts at 1 and grows on every spec change (kinds with a controller). */
  readonly tracksGeneration: boolean;
  /** PUT of a missing object creates it (kube's AllowCreateOnUpdate). */
  readonly allowCreateOnUpdate: boolean;
  /** Reset what clients may not set on create (status of most kinds). */
  prepareForCreate(obj: JsonObject): void;
  /** A main-resource update keeps what only the status subresource may change. */
  prepareForUpdate(next: JsonObject, old: JsonObject): void;
  /** A status update: the old object with the new status (and nothing else of the new one). */
  prepareForStatusUpdate(next: JsonObject, old: JsonObject): JsonObject;
  /** Grace period for a delete, or 0 to delete at once (pods only; others have none). */
  gracePeriodSeconds(obj: JsonObject, requested: number | undefined): number;
  /** Write hooks for kinds that hold external state (services hold IPs and ports). */
  writeHooks?(): WriteHooks;
}

export class GenericStrategy implements ResourceStrategy {
  constructor(
    readonly tracksGeneration: boolean,
    readonly allowCreateOnUpdate: boolean,
    /** The kind has a status subresource: status is reset on create and kept on update. */
    private readonly statusOwned: boolean,
    /** Status to start from on create (e.g. Pending pods); undefined keeps the client's (nodes). */
    private readonly initialStatus: ((obj: JsonObject) => JsonObject) | undefined,
  ) {}

  prepareForCreate(obj: JsonObject): void {
    if (this.statusOwned && this.initialStatus !== undefined) obj.status = this.initialStatus(obj);
  }

  prepareForUpdate(next: JsonObject, old: JsonObject): void {
    if (!this.statusOwned) return;
    if (old.status === undefined) delete next.status;
    else next.status = old.status;
  }

  prepareForStatusUpdate(next: JsonObject, old: JsonObject): JsonObject {
    const out: JsonObject = { ...old, metadata: { ...metaOf(old) } };
    if (next.status === undefined) delete out.status;
    else out.status = next.status;
    // Labels and annotations may change through status too (kubelets and controllers do).
    const nextMeta = metaOf(next);
    const outMeta = metaOf(out);
    for (const field of ['labels', 'annotations'] as const) {
      if (nextMeta[field] === undefined) delete outMeta[field];
      else outMeta[field] = nextMeta[field];
    }
    return out;
  }

  gracePeriodSeconds(_obj: JsonObject, _requested: number | undefined): number {
    return 0;
  }
}

class PodStrategy extends GenericStrategy {
  constructor() {
    super(false, false, true, (pod) => ({ phase: 'Pending', qosClass: podQosClass(pod) }));
  }

  /**
   * kube's pod graceful deletion: an unscheduled pod or one that already ended goes at once;
   * otherwise the kubelet gets the grace period (request, else spec, else 30 s) to stop it.
   */
  override gracePeriodSeconds(pod: JsonObject, requested: number | undefined): number {
    const spec = isJsonObject(pod.spec) ? pod.spec : {};
    const status = isJsonObject(pod.status) ? pod.status : {};
    if (typeof spec.nodeName !== 'string' || spec.nodeName === '') return 0;
    if (status.phase === 'Succeeded' || status.phase === 'Failed') return 0;
    if (requested !== undefined) return Math.max(0, requested);
    const fromSpec = spec.terminationGracePeriodSeconds;
    return typeof fromSpec === 'number' && fromSpec >= 0 ? fromSpec : 30;
  }
}

class NamespaceStrategy extends GenericStrategy {
  constructor() {
    super(false, false, true, () => ({ phase: 'Active' }));
  }

  override prepareForCreate(obj: JsonObject): void {
    super.prepareForCreate(obj);
    // The "kubernetes" finalizer holds the namespace until its content is gone.
    const spec = isJsonObject(obj.spec) ? obj.spec : {};
    const finalizers = Array.isArray(spec.finalizers) ? spec.finalizers.filter((f) => typeof f === 'string') : [];
    if (!finalizers.includes('kubernetes')) finalizers.push('kubernetes');
    spec.finalizers = finalizers;
    obj.spec = spec;
  }

  override prepareForUpdate(next: JsonObject, old: JsonObject): void {
    super.prepareForUpdate(next, old);
    // spec.finalizers change only through /finalize.
    if (isJsonObject(old.spec)) next.spec = { ...(isJsonObject(next.spec) ? next.spec : {}), finalizers: old.spec.finalizers ?? [] };
  }
}

const plain = new GenericStrategy(false, false, false, undefined);
const plainCreateOnUpdate = new GenericStrategy(false, true, false, undefined);
const withStatus = new GenericStrategy(false, false, true, () => ({}));
const controllerKind = new GenericStrategy(true, false, true, () => ({}));
const node = new GenericStrategy(false, false, true, undefined);
const pod = new PodStrategy();
const namespace = new NamespaceStrategy();

/** The strategy of a resource; `service` is the server's (it holds the allocator). */
export function strategyFor(info: ResourceInfo, service: ResourceStrategy): ResourceStrategy {
  switch (info.kind) {
    case 'Service':
      return service;
    case 'Pod':
      return pod;
    case 'Namespace':
      return namespace;
    case 'Node':
      return node;
    case 'Deployment':
    case 'ReplicaSet':
    case 'StatefulSet':
    case 'DaemonSet':
      return controllerKind;
    case 'Endpoints':
    case 'Event':
    case 'Lease':
      return plainCreateOnUpdate;
    default:
      return info.subresources.includes('status') ? withStatus : plain;
  }
}
