// Cluster IPs from --service-cluster-ip-range and node ports from --service-node-port-range for
// Services, over two RangeAllocators (CAS on /registry/ranges/serviceips and
// /registry/ranges/servicenodeports), with kube-apiserver's error texts.

import { isJsonObject, type JsonObject } from '../machinery/json.js';
import { invalidValue, type FieldError } from '../machinery/status.js';
import { AlreadyAllocatedError, RangeAllocator, RangeFullError } from './range-allocator.js';
import type { RegistryStore } from './registry-store.js';

export interface Ipv4Range {
  readonly text: string;
  readonly base: number;
  readonly size: number;
}

/** "10.96.0.0/12" → base address and size; IPv4 only (prefix 8..30). */
export function parseIpv4Cidr(text: string): Ipv4Range {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text.trim());
  if (match === null) throw new Error(`invalid CIDR ${JSON.stringify(text)} (expected IPv4 a.b.c.d/n)`);
  const octets = match.slice(1, 5).map(Number);
  const bitsLen = Number(match[5]);
  if (octets.some((o) => o > 255) || bitsLen < 8 || bitsLen > 30) throw new Error(`invalid CIDR ${JSON.stringify(text)} (prefix length must be 8..30)`);
  const addr = (((octets[0] as number) << 24) >>> 0) + ((octets[1] as number) << 16) + ((octets[2] as number) << 8) + (octets[3] as number);
  const size = 2 ** (32 - bitsLen);
  const base = addr - (addr % size);
  return { text: `${ipToString(base)}/${bitsLen}`, base, size };
}

export function ipToString(ip: number): string {
  return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.');
}

export function parseIpv4(text: string): number | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (match === null) return undefined;
  const octets = match.slice(1, 5).map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  return (((octets[0] as number) << 24) >>> 0) + ((octets[1] as number) << 16) + ((octets[2] as number) << 8) + (octets[3] as number);
}

/** "30000-32767" → first port and count. */
export function parsePortRange(text: string): { base: number; size: number; text: string } {
  const match = /^(\d+)-(\d+)$/.exec(text.trim());
  if (match === null) throw new Error(`invalid port range ${JSON.stringify(text)} (expected LOW-HIGH)`);
  const lo = Number(match[1]);
  const hi = Number(match[2]);
  if (lo < 1 || hi > 65535 || hi < lo) throw new Error(`invalid port range ${JSON.stringify(text)}`);
  return { base: lo, size: hi - lo + 1, text: `${lo}-${hi}` };
}

/** A failure to allocate, as the field errors kube answers with (422). */
export class AllocationError extends Error {
  constructor(readonly fieldErrors: FieldError[]) {
    super(fieldErrors.map((e) => e.field).join(', '));
  }
}

/** What a Service holds from the ranges. */
export interface ServiceAllocations {
  readonly ips: string[];
  readonly nodePorts: number[];
}

export class ServiceAllocator {
  readonly ipRange: Ipv4Range;
  readonly portRange: { base: number; size: number; text: string };
  private readonly ips: RangeAllocator;
  private readonly ports: RangeAllocator;

  constructor(store: RegistryStore, prefix: string, ipRangeText: string, portRangeText: string) {
    this.ipRange = parseIpv4Cidr(ipRangeText);
    this.portRange = parsePortRange(portRangeText);
    const root = prefix.replace(/\/+$/, '');
    this.ips = new RangeAllocator({
      store,
      key: `${root}/ranges/serviceips`,
      rangeText: this.ipRange.text,
      size: this.ipRange.size,
      reserved: [0, this.ipRange.size - 1],
      // The kubernetes Service's IP, even if a user's Service comes before the bootstrap.
      explicitOnly: [1],
    });
    this.ports = new RangeAllocator({
      store,
      key: `${root}/ranges/servicenodeports`,
      rangeText: this.portRange.text,
      size: this.portRange.size,
      spread: this.portRange.size,
    });
  }

  /** The first usable address: kube gives it to the `kubernetes` Service. */
  get kubernetesServiceIp(): string {
    return ipToString(this.ipRange.base + 1);
  }

  async allocateIp(requested: string | undefined, field: string): Promise<string> {
    if (requested === undefined) {
      try {
        return ipToString(this.ipRange.base + (await this.ips.allocateNext()));
      } catch (error) {
        if (error instanceof RangeFullError) throw new AllocationError([invalidValue(field, [], 'failed to allocate IP: range is full')]);
        throw error;
      }
    }
    const ip = parseIpv4(requested);
    if (ip === undefined) throw new AllocationError([invalidValue(field, [requested], 'must be a valid IP address')]);
    const offset = ip - this.ipRange.base;
    if (offset <= 0 || offset >= this.ipRange.size - 1) {
      throw new AllocationError([invalidValue(field, [requested], `failed to allocate IP ${requested}: provided IP is not in the valid range. The range of valid IPs is ${this.ipRange.text}`)]);
    }
    try {
      await this.ips.allocate(offset);
    } catch (error) {
      if (error instanceof AlreadyAllocatedError) {
        throw new AllocationError([invalidValue(field, [requested], `failed to allocate IP ${requested}: provided IP is already allocated`)]);
      }
      throw error;
    }
    return requested;
  }

  async releaseIp(text: string): Promise<void> {
    const ip = parseIpv4(text);
    if (ip === undefined) return;
    const offset = ip - this.ipRange.base;
    if (offset > 0 && offset < this.ipRange.size - 1) await this.ips.release(offset);
  }

  /** Marks an IP used (the kubernetes Service at startup). */
  async ensureIp(text: string): Promise<void> {
    const ip = parseIpv4(text);
    if (ip !== undefined) await this.ips.ensure(ip - this.ipRange.base);
  }

  async allocatePort(requested: number | undefined, field: string): Promise<number> {
    if (requested === undefined) {
      try {
        return this.portRange.base + (await this.ports.allocateNext());
      } catch (error) {
        if (error instanceof RangeFullError) throw new AllocationError([invalidValue(field, 0, 'failed to allocate port: range is full')]);
        throw error;
      }
    }
    const offset = requested - this.portRange.base;
    if (offset < 0 || offset >= this.portRange.size) {
      throw new AllocationError([invalidValue(field, requested, `provided port is not in the valid range. The range of valid ports is ${this.portRange.text}`)]);
    }
    try {
      await this.ports.allocate(offset);
    } catch (error) {
      if (error instanceof AlreadyAllocatedError) throw new AllocationError([invalidValue(field, requested, 'provided port is already allocated')]);
      throw error;
    }
    return requested;
  }

  async releasePort(port: number): Promise<void> {
    const offset = port - this.portRange.base;
    if (offset >= 0 && offset < this.portRange.size) await this.ports.release(offset);
  }

  async release(held: ServiceAllocations): Promise<void> {
    for (const ip of held.ips) await this.releaseIp(ip);
    for (const port of held.nodePorts) await this.releasePort(port);
  }
}

/** The cluster IPs and node ports a Service object holds. */
export function allocationsOf(service: JsonObject | undefined): ServiceAllocations {
  const ips: string[] = [];
  const nodePorts: number[] = [];
  const spec = service?.spec;
  if (!isJsonObject(spec)) return { ips, nodePorts };
  const clusterIPs = Array.isArray(spec.clusterIPs) ? spec.clusterIPs : [spec.clusterIP];
  for (const ip of clusterIPs) if (typeof ip === 'string' && ip !== '' && ip !== 'None') ips.push(ip);
  if (Array.isArray(spec.ports)) {
    for (const port of spec.ports) {
      if (isJsonObject(port) && typeof port.nodePort === 'number' && port.nodePort > 0) nodePorts.push(port.nodePort);
    }
  }
  return { ips: [...new Set(ips)], nodePorts: [...new Set(nodePorts)] };
}
