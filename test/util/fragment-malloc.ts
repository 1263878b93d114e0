// Shared by the malloc_trim tests (test/util/malloc-trim.test.ts, test/cmd/heap-growth.test.ts).

/**
 * Node code that leaves ~140 MiB of small Buffers' backing stores freed but held by malloc: one
 * in 64 is kept, so the freed ones sit in holes glibc does not give back by itself.
 */
export const FRAGMENT_MALLOC = `
  const keep = [];
  for (let round = 0; round < 5; round++) {
    const bufs = [];
    for (let i = 0; i < 100_000; i++) bufs.push(Buffer.allocUnsafeSlow(300 + (i % 7) * 50));
    for (let i = 0; i < bufs.length; i += 64) keep.push(bufs[i]);
  }
`;
