// LogEntries packs the payloads a RaftLog keeps into shared chunks: what comes out must equal what
// went in, share no memory with it, and let compaction drop whole chunks.
import { describe, expect, it } from 'vitest';

import { LogEntries } from '../../src/raft/log-entries.js';
import { RaftLog } from '../../src/raft/raft-log.js';
import { type Entry, EntryType } from '../../src/raft/index.js';

const entry = (index: number, term: number, bytes: number, fill = index & 0xff): Entry => ({
  index,
  term,
  type: index % 7 === 0 ? EntryType.ConfChange : EntryType.Normal,
  data: new Uint8Array(bytes).fill(fill),
});

describe('LogEntries', () => {
  it('gives back what went in, as copies, with payloads of every size', () => {
    const log = new LogEntries((n) => new Uint8Array(n));
    const sizes = [0, 1, 300, 8 * 1024, 8 * 1024 + 1, 70 * 1024, 0, 5];
    const input = sizes.map((n, i) => entry(i + 1, 1 + (i >> 2), n));
    for (const e of input) log.push(e);
    for (const e of input) e.data.fill(0xee); // the log must not alias its input
    expect(log.length).toBe(sizes.length);
    sizes.forEach((n, k) => {
      const got = log.entry(k, k + 1);
      expect(got).toEqual(entry(k + 1, 1 + (k >> 2), n));
      expect(log.term(k)).toBe(1 + (k >> 2));
      expect(log.dataBytes(k)).toBe(n);
    });
  });

  it('truncates and drops a prefix', () => {
    const log = new LogEntries((n) => new Uint8Array(n));
    for (let i = 1; i <= 1000; i++) log.push(entry(i, 1, 250));
    log.truncate(900);
    log.push(entry(901, 2, 10, 0x42));
    log.dropFirst(500);
    expect(log.length).toBe(401);
    expect(log.entry(0, 501)).toEqual(entry(501, 1, 250));
    expect(log.entry(400, 901)).toEqual(entry(901, 2, 10, 0x42));
  });

  it("hands out views of the allocator's class", () => {
    const log = new LogEntries((n) => Buffer.allocUnsafeSlow(n));
    log.push(entry(1, 1, 10));
    log.push(entry(2, 1, 0));
    log.push(entry(3, 1, 20_000));
    for (let k = 0; k < 3; k++) expect(Buffer.isBuffer(log.entry(k, k + 1).data)).toBe(true);
  });
});

describe('RaftLog with packed entries', () => {
  it('slices, counts bytes and compacts across chunk boundaries', () => {
    const entries = Array.from({ length: 600 }, (_u, i) => entry(i + 1, 1, 300));
    const log = new RaftLog(undefined, entries, 600, 600);
    expect(log.slice(100, 601, 1024 * 1024)).toEqual(entries.slice(99));
    expect(log.slice(100, 601, 1000).length).toBe(3);
    expect(log.bytesBetween(0, 600)).toBe(600 * 316);
    log.setSnapshot({ metadata: { index: 500, term: 1, confState: { voters: ['1'], learners: [] } }, data: new Uint8Array() });
    log.compact(500);
    expect(log.firstIndex()).toBe(501);
    expect(log.entryAt(600)).toEqual(entries[599]);
    expect(log.term(500)).toBe(1);
  });
});
