// Allocation of service cluster IPs and node ports without duplicates across apiserver replicas:
// one bitmap per range under /registry/ranges/..., changed only by compare-and-swap on its mod
// revision (kube-apiserver keeps RangeAllocation objects at /registry/ranges/serviceips and
// /registry/ranges/servicenodeports the same way). A lost race re-reads and tries again.

import { randomInt } from 'node:crypto';

import type { RegistryStore } from './registry-store.js';

export interface RangeAllocatorOptions {
  readonly store: RegistryStore;
  /** Full key, e.g. /registry/ranges/serviceips. */
  readonly key: string;
  /** The range as users wrote it (stored alongside for humans and for mismatch checks). */
  readonly rangeText: string;
  /** Offsets 0..size-1. */
  readonly size: number;
  /** Offsets never handed out (network and broadcast addresses). */
  readonly reserved?: readonly number[];
  /** Offsets only handed out when asked for by number (the kubernetes Service's IP). */
  readonly explicitOnly?: readonly number[];
  /** Pick among this many lowest free offsets (small bitmaps, little contention). */
  readonly spread?: number;
}

interface Snapshot {
  bits: Buffer;
  modRevision: number;
}

const maxAttempts = 50;

export class RangeFullError extends Error {}
export class AlreadyAllocatedError extends Error {}

export class RangeAllocator {
  private readonly reserved: ReadonlySet<number>;
  private readonly explicitOnly: ReadonlySet<number>;
  private readonly spread: number;

  constructor(private readonly opts: RangeAllocatorOptions) {
    this.reserved = new Set(opts.reserved ?? []);
    this.explicitOnly = new Set(opts.explicitOnly ?? []);
    this.spread = opts.spread ?? 64;
  }

  get size(): number {
    return this.opts.size;
  }

  /** Allocates a free offset. Throws RangeFullError when none is left. */
  async allocateNext(): Promise<number> {
    return this.mutate((bits) => {
      const free: number[] = [];
      for (let offset = 0; offset < this.opts.size && free.length < this.spread; offset++) {
        if (!this.reserved.has(offset) && !this.explicitOnly.has(offset) && !testBit(bits, offset)) free.push(offset);
      }
      if (free.length === 0) throw new RangeFullError(`range ${this.opts.rangeText} is full`);
      return free[randomInt(free.length)] as number;
    });
  }

  /** Allocates this exact offset. Throws AlreadyAllocatedError when it is taken. */
  async allocate(offset: number): Promise<void> {
    await this.mutate((bits) => {
      if (testBit(bits, offset) || this.reserved.has(offset)) throw new AlreadyAllocatedError(`offset ${offset} is already allocated`);
      return offset;
    });
  }

  /** Frees an offset (a no-op when it is free). */
  async release(offset: number): Promise<void> {
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const snap = await this.read();
      if (!testBit(snap.bits, offset)) return;
      const next = setBit(snap.bits, offset, false);
      if (await this.write(next, snap.modRevision)) return;
    }
    throw new Error(`could not release offset ${offset} of ${this.opts.key}: too much contention`);
  }

  /** Marks an offset used whether or not it was (repair at startup). */
  async ensure(offset: number): Promise<void> {
    await this.allocate(offset).catch((error: unknown) => {
      if (!(error instanceof AlreadyAllocatedError)) throw error;
    });
  }

  async isAllocated(offset: number): Promise<boolean> {
    return testBit((await this.read()).bits, offset);
  }

  private async mutate(pick: (bits: Buffer) => number): Promise<number> {
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const snap = await this.read();
      const offset = pick(snap.bits);
      if (await this.write(setBit(snap.bits, offset, true), snap.modRevision)) return offset;
    }
    throw new Error(`could not allocate from ${this.opts.key}: too much contention`);
  }

  private async read(): Promise<Snapshot> {
    const { kv } = await this.opts.store.get(this.opts.key);
    if (kv === undefined) return { bits: Buffer.alloc(0), modRevision: 0 };
    const parsed = JSON.parse(Buffer.from(kv.value).toString('utf8')) as { data?: string };
    return { bits: Buffer.from(parsed.data ?? '', 'base64'), modRevision: kv.modRevision };
  }

  private async write(bits: Buffer, expectedModRevision: number): Promise<boolean> {
    const value = Buffer.from(
      JSON.stringify({ kind: 'RangeAllocation', apiVersion: 'v1', metadata: {}, range: this.opts.rangeText, data: trim(bits).toString('base64') }),
      'utf8',
    );
    const outcome =
      expectedModRevision === 0
        ? await this.opts.store.create(this.opts.key, value)
        : await this.opts.store.update(this.opts.key, value, expectedModRevision);
    return outcome.ok;
  }
}

function testBit(bits: Buffer, offset: number): boolean {
  const byte = offset >> 3;
  return byte < bits.length && ((bits[byte] as number) & (1 << (offset & 7))) !== 0;
}

function setBit(bits: Buffer, offset: number, on: boolean): Buffer {
  const byte = offset >> 3;
  const out = Buffer.alloc(Math.max(bits.length, byte + 1));
  bits.copy(out);
  const mask = 1 << (offset & 7);
  out[byte] = on ? (out[byte] as number) | mask : (out[byte] as number) & ~mask;
  return out;
}

/** Drops trailing zero bytes so the stored value stays as small as the highest offset used. */
function trim(bits: Buffer): Buffer {
  let end = bits.length;
  while (end > 0 && bits[end - 1] === 0) end--;
  return bits.subarray(0, end);
}
