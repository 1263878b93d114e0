// Pod IPs from a node's pod CIDR, as the host-local IPAM plugin hands them out: the lowest free
// address from .2 (network and gateway excluded) up to the last before broadcast.

import { formatIp, parseCidr } from '../controllers/node-ipam.js';

export class IpAllocator {
  private readonly base: number;
  private readonly size: number;
  private readonly used = new Set<number>();

  constructor(readonly cidr: string) {
    const { base, bits } = parseCidr(cidr);
    if (bits > 30) throw new Error(`pod CIDR ${cidr} is too small`);
    this.base = base;
    this.size = 2 ** (32 - bits);
  }

  /** Marks an address as taken (a pod found running after a restart); false if outside the CIDR. */
  claim(ip: string): boolean {
    const n = this.offsetOf(ip);
    if (n === undefined) return false;
    this.used.add(n);
    return true;
  }

  allocate(): string | undefined {
    for (let i = 2; i < this.size - 1; i++) {
      if (!this.used.has(i)) {
        this.used.add(i);
        return formatIp((this.base + i) >>> 0);
      }
    }
    return undefined;
  }

  release(ip: string): void {
    const n = this.offsetOf(ip);
    if (n !== undefined) this.used.delete(n);
  }

  get inUse(): number {
    return this.used.size;
  }

  private offsetOf(ip: string): number | undefined {
    let n: number;
    try {
      n = parseCidr(`${ip}/32`).base;
    } catch {
      return undefined;
    }
    const off = n - this.base;
    return off >= 0 && off < this.size ? off : undefined;
  }
}
