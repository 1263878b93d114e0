const SUFFIX_BITS = 48n;
const TIMESTAMP_BITS = 40n;
const COUNTER_BITS = 8n;
const INT64_POSITIVE_MASK = (1n << 63n) - 1n;

/**
 * Server-chosen lease IDs as etcd 3.4 makes them (pkg/idutil.Generator, masked to a positive int64
 * in EtcdServer.LeaseGrant): the low 16 bits of the member ID, then 40 bits of the start time in
 * milliseconds, then an 8-bit counter that carries into the timestamp. IDs from one member never
 * repeat while its clock does not go back across a restart, and members differ in the prefix.
 * The proposer picks the ID before proposing, so every member applies the same grant.
 */
export class LeaseIdGenerator {
  private readonly prefix: bigint;
  private suffix: bigint;

  constructor(memberIdHex: string, nowMs: number) {
    this.prefix = (BigInt(`0x${memberIdHex}`) & 0xffffn) << SUFFIX_BITS;
    this.suffix = (BigInt(Math.floor(nowMs)) & ((1n << TIMESTAMP_BITS) - 1n)) << COUNTER_BITS;
  }

  /** The next ID: a positive int64 as a decimal string, never "0". */
  next(): string {
    for (;;) {
      this.suffix++;
      const id = (this.prefix | (this.suffix & ((1n << SUFFIX_BITS) - 1n))) & INT64_POSITIVE_MASK;
      if (id !== 0n) return id.toString();
    }
  }
}
