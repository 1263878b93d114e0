// Secondary indexes several controllers share on the shared informers.

import type { Pod } from '../client/core-types.js';
import type { KubeObject } from '../client/meta-types.js';
import type { Informer } from '../informer/informer.js';

export const BY_NAMESPACE = 'namespace';
export const BY_NODE = 'nodeName';

export function indexByNamespace<T extends KubeObject>(inf: Informer<T>): void {
  inf.addIndex(BY_NAMESPACE, (o) => [o.metadata.namespace ?? '']);
}

export function indexPodsByNode(inf: Informer<Pod>): void {
  inf.addIndex(BY_NODE, (p) => (p.spec.nodeName === undefined || p.spec.nodeName === '' ? [] : [p.spec.nodeName]));
}
