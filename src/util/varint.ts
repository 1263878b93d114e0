// Protobuf varints of non-negative safe integers (terms, revisions, lengths), written by hand where
// a hot path builds its protobuf bytes itself (MVCC records, the peer stream's MessageBatch).

/** Bytes the varint of `n` takes. */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

/** Writes the varint of `n` at `offset`; returns the offset after it. */
export function writeVarint(buf: Buffer, offset: number, n: number): number {
  while (n >= 0x80) {
    buf[offset++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[offset++] = n;
  return offset;
}
