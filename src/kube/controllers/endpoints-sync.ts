// What a Service's Endpoints should hold (pkg/controller/endpoint): one address per pod that has
// an IP and is not being deleted, under `addresses` when ready (or when the Service publishes
// not-ready addresses) and `notReadyAddresses` otherwise, with the Service's ports resolved
// against each pod's container ports; subsets grouped by identical port lists.

import type { EndpointAddress, EndpointPort, EndpointSubset, Pod, Service, ServicePort } from '../client/core-types.js';
import { isPodReady } from './controller-ref.js';

/** podutil.FindPort: a number is itself; a name is looked up in the containers' ports. */
export function findPort(pod: Pod, port: ServicePort): number | undefined {
  const target = port.targetPort ?? port.port;
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  const protocol = port.protocol ?? 'TCP';
  for (const c of pod.spec.containers ?? []) {
    for (const p of c.ports ?? []) if (p.name === target && (p.protocol ?? 'TCP') === protocol) return p.containerPort;
  }
  return undefined;
}

function addressOf(pod: Pod): EndpointAddress {
  const a: EndpointAddress = {
    ip: pod.status?.podIP ?? '',
    targetRef: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name ?? '', uid: pod.metadata.uid, resourceVersion: pod.metadata.resourceVersion },
  };
  if (pod.spec.nodeName !== undefined && pod.spec.nodeName !== '') a.nodeName = pod.spec.nodeName;
  return a;
}

export function desiredSubsets(svc: Service, pods: readonly Pod[]): EndpointSubset[] {
  const publishNotReady = svc.spec?.publishNotReadyAddresses === true;
  const groups = new Map<string, { ports: EndpointPort[]; ready: EndpointAddress[]; notReady: EndpointAddress[] }>();
  for (const pod of pods) {
    if (pod.status?.podIP === undefined || pod.status.podIP === '' || pod.metadata.deletionTimestamp !== undefined) continue;
    if (pod.status.phase === 'Succeeded' || pod.status.phase === 'Failed') continue;
    const ports: EndpointPort[] = [];
    for (const sp of svc.spec?.ports ?? []) {
      const n = findPort(pod, sp);
      if (n === undefined) continue;
      const ep: EndpointPort = { port: n, protocol: sp.protocol ?? 'TCP' };
      if (sp.name !== undefined && sp.name !== '') ep.name = sp.name;
      ports.push(ep);
    }
    const key = JSON.stringify(ports);
    let g = groups.get(key);
    if (g === undefined) {
      g = { ports, ready: [], notReady: [] };
      groups.set(key, g);
    }
    if (publishNotReady || isPodReady(pod)) g.ready.push(addressOf(pod));
    else g.notReady.push(addressOf(pod));
  }
  const byIp = (a: EndpointAddress, b: EndpointAddress): number => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : (a.targetRef?.uid ?? '') < (b.targetRef?.uid ?? '') ? -1 : 1);
  const subsets: EndpointSubset[] = [];
  for (const g of groups.values()) {
    const s: EndpointSubset = {};
    if (g.ready.length > 0) s.addresses = g.ready.sort(byIp);
    if (g.notReady.length > 0) s.notReadyAddresses = g.notReady.sort(byIp);
    if (g.ports.length > 0) s.ports = g.ports;
    subsets.push(s);
  }
  return subsets.sort((a, b) => (JSON.stringify(a.ports ?? []) < JSON.stringify(b.ports ?? []) ? -1 : 1));
}

/** Ignores resourceVersion churn in targetRefs, as kube's comparison effectively does. */
export function subsetsEqual(a: readonly EndpointSubset[] | undefined, b: readonly EndpointSubset[] | undefined): boolean {
  const strip = (s: readonly EndpointSubset[] | undefined): string =>
    JSON.stringify(
      (s ?? []).map((x) => ({
        addresses: (x.addresses ?? []).map((ad) => [ad.ip, ad.nodeName ?? '', ad.targetRef?.uid ?? '']),
        notReady: (x.notReadyAddresses ?? []).map((ad) => [ad.ip, ad.nodeName ?? '', ad.targetRef?.uid ?? '']),
        ports: (x.ports ?? []).map((p) => [p.name ?? '', p.port, p.protocol ?? 'TCP']),
      })),
    );
  return strip(a) === strip(b);
}
