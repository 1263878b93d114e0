// Services: cluster IP and node port allocation around each write, as kube-apiserver's service
// REST storage does it. Allocations happen before the store write (so two replicas can never hand
// out the same IP: the range bitmaps are CAS-updated), are released if the write fails, and what
// an update or delete stopped using is released after it succeeds.

import { isJsonObject, type JsonObject } from '../machinery/json.js';
import { invalid, invalidValue, type FieldError } from '../machinery/status.js';
import { nameOf } from './object-meta.js';
import { GenericStrategy, type WriteHooks } from './resource-strategy.js';
import { AllocationError, allocationsOf, type ServiceAllocations, type ServiceAllocator } from './service-allocator.js';

export class ServiceStrategy extends GenericStrategy {
  constructor(private readonly allocator: ServiceAllocator) {
    super(false, false, true, () => ({ loadBalancer: {} }));
  }

  writeHooks(): WriteHooks {
    return new ServiceWrite(this.allocator);
  }
}

function needsNodePorts(type: unknown): boolean {
  return type === 'NodePort' || type === 'LoadBalancer';
}

class ServiceWrite implements WriteHooks {
  /** What this request allocated (over all attempts). */
  private readonly taken: { ips: string[]; nodePorts: number[] } = { ips: [], nodePorts: [] };

  constructor(private readonly allocator: ServiceAllocator) {}

  async admit(next: JsonObject, old: JsonObject | undefined): Promise<void> {
    const spec = isJsonObject(next.spec) ? next.spec : {};
    next.spec = spec;
    const oldSpec = old !== undefined && isJsonObject(old.spec) ? old.spec : undefined;
    const type = typeof spec.type === 'string' ? spec.type : 'ClusterIP';
    const errors: FieldError[] = [];
    try {
      await this.assignClusterIp(spec, oldSpec, type, errors);
      await this.assignNodePorts(spec, oldSpec, type);
    } catch (error) {
      if (error instanceof AllocationError) errors.push(...error.fieldErrors);
      else throw error;
    }
    if (errors.length > 0) throw invalid('Service', nameOf(next), errors);
  }

  private async assignClusterIp(spec: JsonObject, oldSpec: JsonObject | undefined, type: string, errors: FieldError[]): Promise<void> {
    if (type === 'ExternalName') {
      delete spec.clusterIP;
      delete spec.clusterIPs;
      return;
    }
    let requested = typeof spec.clusterIP === 'string' && spec.clusterIP !== '' ? spec.clusterIP : undefined;
    if (requested === undefined && Array.isArray(spec.clusterIPs) && typeof spec.clusterIPs[0] === 'string' && spec.clusterIPs[0] !== '') {
      requested = spec.clusterIPs[0];
    }
    const oldIp = oldSpec !== undefined && typeof oldSpec.clusterIP === 'string' && oldSpec.clusterIP !== '' ? oldSpec.clusterIP : undefined;
    if (oldIp !== undefined) {
      // Unset on update means "keep"; a different value is an attempt to change an immutable field.
      if (requested === undefined) requested = oldIp;
      if (requested !== oldIp) {
        errors.push(invalidValue('spec.clusterIPs[0]', [requested], 'may not change once set'));
        return;
      }
      spec.clusterIP = oldIp;
      spec.clusterIPs = [oldIp];
      return;
    }
    if (requested === 'None') {
      spec.clusterIP = 'None';
      spec.clusterIPs = ['None'];
      return;
    }
    const field = 'spec.clusterIPs';
    const alreadyMine = requested !== undefined && this.taken.ips.includes(requested);
    const ip = alreadyMine ? (requested as string) : await this.allocator.allocateIp(requested, field);
    if (!alreadyMine) this.taken.ips.push(ip);
    spec.clusterIP = ip;
    spec.clusterIPs = [ip];
  }

  private async assignNodePorts(spec: JsonObject, oldSpec: JsonObject | undefined, type: string): Promise<void> {
    const ports = Array.isArray(spec.ports) ? spec.ports : [];
    const oldPorts = oldSpec !== undefined && Array.isArray(oldSpec.ports) ? oldSpec.ports : [];
    const held = new Set(allocationsOf(oldSpec === undefined ? undefined : { spec: oldSpec }).nodePorts);
    for (const [i, port] of ports.entries()) {
      if (!isJsonObject(port)) continue;
      if (!needsNodePorts(type)) {
        delete port.nodePort;
        continue;
      }
      let nodePort = typeof port.nodePort === 'number' && port.nodePort > 0 ? port.nodePort : undefined;
      if (nodePort === undefined) {
        // An update that left nodePort out keeps the one the same port had.
        const same = oldPorts.find((o) => isJsonObject(o) && o.port === port.port && (o.protocol ?? 'TCP') === (port.protocol ?? 'TCP'));
        if (isJsonObject(same) && typeof same.nodePort === 'number' && same.nodePort > 0) nodePort = same.nodePort;
      }
      if (nodePort !== undefined && (held.has(nodePort) || this.taken.nodePorts.includes(nodePort))) {
        port.nodePort = nodePort;
        continue;
      }
      const allocated = await this.allocator.allocatePort(nodePort, `spec.ports[${i}].nodePort`);
      this.taken.nodePorts.push(allocated);
      port.nodePort = allocated;
    }
  }

  async committed(old: JsonObject | undefined, final: JsonObject | undefined): Promise<void> {
    const before = allocationsOf(old);
    const after = allocationsOf(final);
    const unused: ServiceAllocations = {
      ips: [...new Set([...before.ips, ...this.taken.ips])].filter((ip) => !after.ips.includes(ip)),
      nodePorts: [...new Set([...before.nodePorts, ...this.taken.nodePorts])].filter((p) => !after.nodePorts.includes(p)),
    };
    await this.allocator.release(unused);
  }

  async aborted(): Promise<void> {
    await this.allocator.release(this.taken);
  }
}
