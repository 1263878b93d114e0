// The member store's contract on real files (LevelDB and the raft WAL): what is saved comes back
// after a reopen, the raft log behaves like RaftLog on disk (conflicting suffixes, snapshots,
// compaction), and app records move atomically with the applied index.
import { stat } from 'node:fs/promises';
import path from 'node:path';

import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { EntryType, type SnapshotMetadata } from '../../src/raft/types.js';
import { MemberStore, type StorageLogger, type StorageOp } from '../../src/storage/member-store.js';
import { RaftWal } from '../../src/storage/raft-wal.js';
import { StorageError, StorageErrorCode } from '../../src/storage/storage-error.js';
import { b, entries, tempDir } from './helpers.js';

const conf = { voters: ['a', 'b', 'c'], learners: ['d'] };
/** A WAL segment that holds exactly ten entries(...) of 16 bytes: header 17, frames 4 + 1 + 26 + 16. */
const TEN_ENTRY_SEGMENT = 17 + 10 * 47;

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** The indexes of the entries in a closed store's WAL, as a replay reads them. */
async function walIndexes(dir: string): Promise<number[]> {
  const { wal, contents } = await RaftWal.open(path.join(dir, 'member', 'wal'));
  await wal.close();
  return contents.entries.map((e) => e.index);
}

async function collect(it: AsyncIterable<[Buffer, Buffer]>): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for await (const [k, v] of it) out.push([k.toString(), v.toString()]);
  return out;
}

function put(key: string, value: string): StorageOp {
  return { type: 'put', key: b(key), value: b(value) };
}

describe('MemberStore', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let store: MemberStore | undefined;

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir('store'));
  });

  afterEach(async () => {
    await store?.close();
    store = undefined;
    await cleanup();
  });

  async function reopen(opts: { walSegmentBytes?: number } = {}): Promise<MemberStore> {
    await store?.close();
    store = await MemberStore.open(dir, opts);
    return store;
  }

  it('a new data dir is new, recovers empty, and lives under member/db', async () => {
    const s = await reopen();
    expect(s.isNew).toBe(true);
    expect(await s.recover()).toEqual({ hardState: { term: 0, vote: '', commit: 0 }, entries: [], applied: 0 });
    expect((await stat(path.join(dir, 'member', 'db', 'CURRENT'))).isFile()).toBe(true);
  });

  it('round-trips entries, hard state and snapshot metadata across a reopen', async () => {
    let s = await reopen();
    const ents = [
      ...entries(1, 3, 1),
      { index: 4, term: 2, type: EntryType.ConfChange, data: new Uint8Array([1, 2, 3]) },
      { index: 5, term: 2, type: EntryType.Normal, data: new Uint8Array() },
    ];
    await s.saveRaft({ entries: ents, hardState: { term: 2, vote: 'b', commit: 4 } });
    s = await reopen();
    expect(s.isNew).toBe(false);
    const rec = await s.recover();
    expect(rec.hardState).toEqual({ term: 2, vote: 'b', commit: 4 });
    expect(rec.snapshot).toBeUndefined();
    expect(rec.entries.map((e) => ({ ...e, data: Buffer.from(e.data) }))).toEqual(
      ents.map((e) => ({ ...e, data: Buffer.from(e.data) })),
    );

    // A snapshot received from the leader replaces the whole log; entries after it follow.
    const snap: SnapshotMetadata = { index: 10, term: 3, confState: conf };
    await s.saveRaft({ snapshot: snap, entries: entries(11, 12, 3), hardState: { term: 3, vote: '', commit: 10 } });
    await s.applyBatch([], 10);
    s = await reopen();
    const rec2 = await s.recover();
    expect(rec2.snapshot).toEqual(snap);
    expect(rec2.hardState).toEqual({ term: 3, vote: '', commit: 10 });
    expect(rec2.entries.map((e) => `${e.index}@${e.term}`)).toEqual(['11@3', '12@3']);
    expect(rec2.applied).toBe(10);
  });

  it('a snapshot with no entries drops the old log, including a divergent part above its index', async () => {
    const s = await reopen();
    await s.saveRaft({ entries: entries(1, 20, 1), hardState: { term: 1, vote: '', commit: 5 } });
    await s.saveRaft({ snapshot: { index: 15, term: 2, confState: conf }, entries: [], hardState: { term: 2, vote: '', commit: 15 } });
    await s.applyBatch([], 15);
    const rec = await (await reopen()).recover();
    expect(rec.entries).toEqual([]);
    expect(rec.snapshot?.index).toBe(15);
    // Appending after it works and starts right after the snapshot.
    await store!.saveRaft({ entries: entries(16, 16, 2) });
    expect((await (await reopen()).recover()).entries.map((e) => e.index)).toEqual([16]);
  });

  it('new entries replace a conflicting suffix, including entries beyond the new last one', async () => {
    let s = await reopen();
    await s.saveRaft({ entries: entries(1, 10, 1), hardState: { term: 1, vote: 'a', commit: 3 } });
    await s.saveRaft({ entries: entries(6, 7, 2), hardState: { term: 2, vote: 'b', commit: 3 } });
    s = await reopen();
    const rec = await s.recover();
    expect(rec.entries.map((e) => `${e.index}@${e.term}`)).toEqual(['1@1', '2@1', '3@1', '4@1', '5@1', '6@2', '7@2']);
    expect(Buffer.from(rec.entries[5]!.data)).toEqual(entries(6, 6, 2)[0]!.data);
    // And in the same process, without a reopen in between.
    await s.saveRaft({ entries: entries(4, 4, 3) });
    await s.saveRaft({ entries: entries(5, 5, 3) });
    expect((await (await reopen()).recover()).entries.map((e) => `${e.index}@${e.term}`)).toEqual([
      '1@1',
      '2@1',
      '3@1',
      '4@3',
      '5@3',
    ]);
  });

  it('refuses raft writes that would leave a gap or go below the snapshot', async () => {
    const s = await reopen();
    await s.saveRaft({ entries: entries(1, 3, 1) });
    await expect(s.saveRaft({ entries: entries(5, 6, 1) })).rejects.toMatchObject({ code: StorageErrorCode.InvalidArgument });
    await expect(s.saveRaft({ entries: [...entries(4, 4, 1), ...entries(6, 6, 1)] })).rejects.toThrow(/not contiguous/);
    await expect(s.saveRaft({ entries: [...entries(4, 4, 2), ...entries(5, 5, 1)] })).rejects.toThrow(/term 1, lower/);
    await s.applyBatch([], 3);
    await s.saveSnapshot({ index: 3, term: 1, confState: conf }, 3);
    await expect(s.saveRaft({ entries: entries(3, 3, 1) })).rejects.toThrow(/at or below the snapshot index 3/);
    await expect(s.saveRaft({ snapshot: { index: 2, term: 1, confState: conf }, entries: [] })).rejects.toThrow(/older/);
    // The store is still usable after refusing bad input.
    await s.saveRaft({ entries: entries(4, 4, 1) });
  });

  it('saveSnapshot records the metadata and drops the WAL segments up to compactTo', async () => {
    let s = await reopen({ walSegmentBytes: TEN_ENTRY_SEGMENT });
    for (let i = 0; i < 10; i++) await s.saveRaft({ entries: entries(i * 10 + 1, i * 10 + 10, 1) });
    await s.saveRaft({ entries: [], hardState: { term: 1, vote: '', commit: 90 } });
    await s.applyBatch([put('m/a', '1')], 80);
    await expect(s.saveSnapshot({ index: 81, term: 1, confState: conf }, 50)).rejects.toThrow(/beyond the applied index 80/);
    await expect(s.saveSnapshot({ index: 80, term: 1, confState: conf }, 81)).rejects.toThrow(/beyond the snapshot index/);
    await s.saveSnapshot({ index: 80, term: 1, confState: conf }, 60);

    s = await reopen({ walSegmentBytes: TEN_ENTRY_SEGMENT });
    const rec = await s.recover();
    expect(rec.snapshot).toEqual({ index: 80, term: 1, confState: conf });
    expect(rec.entries.map((e) => e.index)).toEqual(range(81, 100));
    expect(rec.applied).toBe(80);
    expect(await collect(s.appRecords(b('m')))).toEqual([['m/a', '1']]);
    await s.close();
    // Segments 1-10 .. 51-60 are gone; 61..80 were kept for followers.
    expect(await walIndexes(dir)).toEqual(range(61, 100));

    // A later compaction removes them and more, in whole segments; the one in use stays.
    s = await reopen({ walSegmentBytes: TEN_ENTRY_SEGMENT });
    await s.recover();
    await s.applyBatch([], 95);
    await s.saveSnapshot({ index: 95, term: 1, confState: conf }, 95);
    await s.saveRaft({ entries: entries(101, 101, 2), hardState: { term: 2, vote: '', commit: 96 } });
    s = await reopen({ walSegmentBytes: TEN_ENTRY_SEGMENT });
    const rec2 = await s.recover();
    expect(rec2.entries.map((e) => e.index)).toEqual([96, 97, 98, 99, 100, 101]);
    await s.close();
    expect(await walIndexes(dir)).toEqual(range(91, 101));
    store = undefined;
  });

  it('compaction never deletes the WAL segment in use, and appends continue after it', async () => {
    let s = await reopen({ walSegmentBytes: TEN_ENTRY_SEGMENT });
    for (let i = 0; i < 5; i++) await s.saveRaft({ entries: entries(i * 10 + 1, i * 10 + 10, 1) });
    await s.saveRaft({ entries: [], hardState: { term: 1, vote: '', commit: 50 } });
    await s.applyBatch([], 50);
    await s.saveSnapshot({ index: 50, term: 1, confState: conf }, 50);
    await s.saveRaft({ entries: entries(51, 52, 2), hardState: { term: 2, vote: '', commit: 50 } });
    await s.close();
    // 41..50 was the segment in use at the compaction; 51 and 52 went to a new one.
    expect(await walIndexes(dir)).toEqual(range(41, 52));
    s = await reopen({ walSegmentBytes: TEN_ENTRY_SEGMENT });
    expect((await s.recover()).entries.map((e) => e.index)).toEqual([51, 52]);
    await s.applyBatch([], 52);
    await s.saveSnapshot({ index: 51, term: 2, confState: conf }, 51);
    await s.close();
    expect(await walIndexes(dir)).toEqual([51, 52]);
    store = undefined;
  });

  it('a snapshot covering the whole log leaves an empty log that appends continue from', async () => {
    const s = await reopen();
    await s.saveRaft({ entries: entries(1, 5, 1), hardState: { term: 1, vote: '', commit: 5 } });
    await s.applyBatch([], 5);
    await s.saveSnapshot({ index: 5, term: 1, confState: conf }, 5);
    await s.saveRaft({ entries: entries(6, 7, 1) });
    await expect(s.saveRaft({ entries: entries(9, 9, 1) })).rejects.toThrow(/gap after 7/);
    const rec = await (await reopen()).recover();
    expect(rec.entries.map((e) => e.index)).toEqual([6, 7]);
  });

  it('applyBatch writes app records and the applied index together; appRecords reads a prefix in key order', async () => {
    let s = await reopen();
    await s.applyBatch([put('m/b', '2'), put('m/a', '1'), put('c/x', 'X'), put('m~', 'edge')], 3);
    await s.applyBatch([{ type: 'del', key: b('m/b') }, put('m/c', '3'), put('mz', 'z')], 4, { sync: true });
    await expect(s.applyBatch([], 3)).rejects.toThrow(/below the applied index 4/);
    s = await reopen();
    expect((await s.recover()).applied).toBe(4);
    expect(await collect(s.appRecords(b('m/')))).toEqual([
      ['m/a', '1'],
      ['m/c', '3'],
    ]);
    expect((await collect(s.appRecords(b('m')))).map(([k]) => k)).toEqual(['m/a', 'm/c', 'mz', 'm~']);
    expect(await collect(s.appRecords(b('c')))).toEqual([['c/x', 'X']]);
  });

  it('saveReady writes a Ready with the app records of its applied entries, fsyncing only what must be', async () => {
    let s = await reopen();
    await s.recover();
    // A new term or vote, or new entries, must be fsynced; a commit that alone moved need not be.
    expect(s.readyNeedsSync({ hardState: { term: 1, vote: 'a', commit: 0 }, entries: [] })).toBe(true);
    await s.saveReady({ hardState: { term: 1, vote: 'a', commit: 0 }, entries: entries(1, 3, 1) }, undefined);
    expect(s.readyNeedsSync({ hardState: { term: 1, vote: 'a', commit: 2 }, entries: [] })).toBe(false);
    expect(s.readyNeedsSync({ hardState: { term: 1, vote: 'b', commit: 2 }, entries: [] })).toBe(true);
    expect(s.readyNeedsSync({ hardState: { term: 2, vote: 'a', commit: 2 }, entries: [] })).toBe(true);
    expect(s.readyNeedsSync({ entries: entries(4, 4, 1) })).toBe(true);
    // Entries 4..5 and the records of applying 1..4 in one Ready; then a commit-only Ready not awaited.
    await s.saveReady(
      { hardState: { term: 1, vote: 'a', commit: 4 }, entries: entries(4, 5, 1) },
      { ops: [put('m/a', '1'), put('m/b', '2')], applied: 4 },
    );
    const unawaited = s.saveReady({ hardState: { term: 1, vote: 'a', commit: 5 }, entries: [] }, { ops: [put('m/c', '3')], applied: 5 });
    await expect(s.saveReady({ entries: [] }, { ops: [], applied: 3 })).rejects.toThrow(/below the applied index 5/);
    await unawaited;
    s = await reopen();
    const rec = await s.recover();
    expect(rec.hardState).toEqual({ term: 1, vote: 'a', commit: 5 });
    expect(rec.entries.map((e) => e.index)).toEqual([1, 2, 3, 4, 5]);
    expect(rec.applied).toBe(5);
    expect(await collect(s.appRecords(b('m/')))).toEqual([
      ['m/a', '1'],
      ['m/b', '2'],
      ['m/c', '3'],
    ]);
    // After a reopen, the recovered term and vote are what a Ready is compared with.
    expect(s.readyNeedsSync({ hardState: { term: 1, vote: 'a', commit: 6 }, entries: [] })).toBe(false);
  });

  it('Readies issued while a write runs land in issue order, a later suffix replacing an earlier one', async () => {
    let s = await reopen();
    await s.recover();
    const pending: Array<Promise<void>> = [];
    for (let i = 1; i <= 30; i++) {
      const applied = Math.max(0, i - 2);
      pending.push(
        s.saveReady(
          { hardState: { term: 1, vote: 'a', commit: applied }, entries: entries(i, i, 1) },
          { ops: [put(`m/${String(i).padStart(3, '0')}`, String(i))], applied },
        ),
      );
    }
    // A new leader's entries replace 25..30 from 25 on; a meta write in between is not merged past.
    pending.push(s.setMeta('x', b('1')));
    pending.push(s.saveReady({ hardState: { term: 2, vote: 'b', commit: 28 }, entries: entries(25, 28, 2) }, { ops: [], applied: 28 }));
    pending.push(s.saveReady({ entries: entries(29, 29, 2) }, undefined));
    await expect(s.saveReady({ entries: entries(31, 31, 2) }, undefined)).rejects.toThrow(/gap/);
    // A Ready with nothing to write still settles after the writes before it (its acks promise them).
    const order: string[] = [];
    void Promise.all(pending).then(() => order.push('earlier writes'));
    await s.saveReady({ entries: [] }, undefined).then(() => order.push('empty Ready'));
    expect(order).toEqual(['earlier writes', 'empty Ready']);
    await expect(s.saveReady({ entries: [], snapshot: { index: 30, term: 2, confState: conf } }, undefined)).rejects.toThrow(/installSnapshot/);
    await Promise.all(pending);
    s = await reopen();
    const rec = await s.recover();
    expect(rec.hardState).toEqual({ term: 2, vote: 'b', commit: 28 });
    expect(rec.entries.map((e) => `${e.index}@${e.term}`)).toEqual([
      ...Array.from({ length: 24 }, (_, i) => `${i + 1}@1`),
      ...[25, 26, 27, 28, 29].map((i) => `${i}@2`),
    ]);
    expect(rec.applied).toBe(28);
    expect((await collect(s.appRecords(b('m/')))).length).toBe(30);
  });

  it('prefixes ending in 0xff bytes are bounded correctly', async () => {
    const s = await reopen();
    const k = (...bytes: number[]): Buffer => Buffer.from(bytes);
    await s.applyBatch(
      [
        { type: 'put', key: k(0x6d, 0xff), value: b('1') },
        { type: 'put', key: k(0x6d, 0xff, 0x00), value: b('2') },
        { type: 'put', key: k(0x6e), value: b('3') },
        { type: 'put', key: k(0xff, 0xff), value: b('4') },
      ],
      1,
    );
    const got: string[] = [];
    for await (const [key] of s.appRecords(k(0x6d, 0xff))) got.push(key.toString('hex'));
    expect(got).toEqual(['6dff', '6dff00']);
    const top: string[] = [];
    for await (const [key] of s.appRecords(k(0xff))) top.push(key.toString('hex'));
    expect(top).toEqual(['ffff']);
  });

  it('replaceApp swaps every record under the prefixes for new ones, atomically with applied', async () => {
    let s = await reopen();
    await s.applyBatch([put('m/1', 'old'), put('m/2', 'old'), put('c/1', 'old'), put('k/keep', 'kept')], 5);
    await s.replaceApp([b('m'), b('c')], [put('m/2', 'new'), put('m/3', 'new')], 50);
    s = await reopen();
    expect((await s.recover()).applied).toBe(50);
    expect(await collect(s.appRecords(b('m')))).toEqual([
      ['m/2', 'new'],
      ['m/3', 'new'],
    ]);
    expect(await collect(s.appRecords(b('c')))).toEqual([]);
    expect(await collect(s.appRecords(b('k')))).toEqual([['k/keep', 'kept']]);
  });

  it('installSnapshot replaces the log and the app state in one batch', async () => {
    let s = await reopen();
    await s.saveRaft({ entries: entries(1, 8, 1), hardState: { term: 1, vote: '', commit: 4 } });
    await s.applyBatch([put('m/old', '1')], 4);
    const snap = { index: 20, term: 3, confState: conf };
    await expect(
      s.installSnapshot({ snapshot: snap, entries: [] }, { prefixes: [b('m')], ops: [], applied: 19 }),
    ).rejects.toThrow(/below the snapshot index/);
    await s.installSnapshot(
      { snapshot: snap, entries: entries(21, 21, 3), hardState: { term: 3, vote: '', commit: 20 } },
      { prefixes: [b('m')], ops: [put('m/new', '2')], applied: 22 },
    );
    s = await reopen();
    const rec = await s.recover();
    expect(rec).toMatchObject({ snapshot: snap, applied: 22, hardState: { term: 3, vote: '', commit: 20 } });
    expect(rec.entries.map((e) => e.index)).toEqual([21]);
    expect(await collect(s.appRecords(b('m')))).toEqual([['m/new', '2']]);
  });

  it('recover fails loudly when the app state is older than the snapshot that replaced the log', async () => {
    const s = await reopen();
    await s.saveRaft({ entries: entries(1, 3, 1), hardState: { term: 1, vote: '', commit: 3 } });
    // saveRaft with a snapshot, then a "crash" before the app state was replaced.
    await s.saveRaft({ snapshot: { index: 9, term: 2, confState: conf }, entries: [], hardState: { term: 2, vote: '', commit: 9 } });
    const err = await (await reopen()).recover().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(err).toMatchObject({ code: StorageErrorCode.AppBehindSnapshot });
    expect((err as Error).message).toContain(dir);
  });

  it('rejects app keys and prefixes in the raft and store namespaces', async () => {
    const s = await reopen();
    await expect(s.applyBatch([put('r/e/x', 'boom')], 1)).rejects.toMatchObject({ code: StorageErrorCode.InvalidArgument });
    await expect(s.applyBatch([{ type: 'del', key: b('s/applied') }], 1)).rejects.toThrow(/reserved/);
    await expect(s.applyBatch([put('', 'x')], 1)).rejects.toThrow(/non-empty/);
    await expect(s.replaceApp([b('r')], [], 1)).rejects.toThrow(/reserved/);
    await expect(s.replaceApp([b('m')], [put('s/x', '1')], 1)).rejects.toThrow(/reserved/);
    await expect(collect(s.appRecords(b('s')))).rejects.toThrow(/reserved/);
    await expect(collect(s.appRecords(Buffer.alloc(0)))).rejects.toThrow(/non-empty/);
    // Nothing was written by the refused calls.
    expect((await s.recover()).applied).toBe(0);
  });

  it('keeps meta records (CRC-checked) apart from app records', async () => {
    let s = await reopen();
    expect(await s.getMeta('member-id')).toBeUndefined();
    await s.setMeta('member-id', b('8e9e05c52164694d'));
    await s.setMeta('name', b('infra1'), { sync: false });
    s = await reopen();
    expect((await s.getMeta('member-id'))?.toString()).toBe('8e9e05c52164694d');
    expect((await s.getMeta('name'))?.toString()).toBe('infra1');
    expect(await collect(s.appRecords(b('m')))).toEqual([]);
    expect(s.isNew).toBe(false);
  });

  it('writes issued without awaiting land in call order', async () => {
    const s = await reopen();
    const pending: Array<Promise<void>> = [];
    for (let i = 1; i <= 50; i++) {
      pending.push(s.saveRaft({ entries: entries(i, i, 1), hardState: { term: 1, vote: '', commit: Math.min(i - 1, 40) } }));
      pending.push(s.applyBatch([put(`m/${String(i).padStart(3, '0')}`, String(i))], i - 1));
    }
    // A rewrite of the suffix issued last must win over the appends issued before it.
    pending.push(s.saveRaft({ entries: entries(41, 41, 2) }));
    await Promise.all(pending);
    const rec = await (await reopen()).recover();
    expect(rec.entries.length).toBe(41);
    expect(rec.entries.at(-1)).toMatchObject({ index: 41, term: 2 });
    expect(rec.applied).toBe(49);
    expect((await collect(store!.appRecords(b('m/')))).length).toBe(50);
  });

  it('saveSnapshot waits for app writes issued before it, so the snapshot never outruns the app state', async () => {
    let s = await reopen();
    await s.saveRaft({ entries: entries(1, 30, 1), hardState: { term: 1, vote: '', commit: 30 } });
    const pending = [s.applyBatch([put('m/x', '10')], 10), s.applyBatch([put('m/x', '30')], 30)];
    pending.push(s.saveSnapshot({ index: 30, term: 1, confState: conf }, 30));
    await Promise.all(pending);
    s = await reopen();
    const rec = await s.recover();
    expect(rec).toMatchObject({ applied: 30, snapshot: { index: 30 }, entries: [] });
    expect(await collect(s.appRecords(b('m/')))).toEqual([['m/x', '30']]);
  });

  it('raft writes right after a reopen, before recover(), still drop the right suffix', async () => {
    let s = await reopen();
    await s.saveRaft({ entries: entries(1, 9, 1), hardState: { term: 1, vote: '', commit: 2 } });
    s = await reopen();
    await s.saveRaft({ entries: entries(4, 5, 2) });
    await expect(s.saveRaft({ entries: entries(7, 7, 2) })).rejects.toThrow(/gap after 5/);
    s = await reopen();
    expect((await s.recover()).entries.map((e) => `${e.index}@${e.term}`)).toEqual(['1@1', '2@1', '3@1', '4@2', '5@2']);
  });

  it('reports its size, compacts, and refuses use after close', async () => {
    const s = await reopen();
    const big = Buffer.alloc(1024, 7);
    for (let i = 0; i < 20; i++) {
      const ops: StorageOp[] = [];
      for (let j = 0; j < 100; j++) ops.push({ type: 'put', key: b(`m/${i}/${j}`), value: big });
      await s.applyBatch(ops, i + 1);
    }
    const before = await s.approximateSizeBytes();
    expect(before).toBeGreaterThan(1_000_000);
    await s.replaceApp([b('m')], [], 21);
    await s.compact();
    const after = await s.approximateSizeBytes();
    expect(after).toBeLessThan(before);
    await s.close();
    await s.close();
    await expect(s.recover()).rejects.toMatchObject({ code: StorageErrorCode.Closed });
    await expect(s.saveRaft({ entries: entries(1, 1, 1) })).rejects.toMatchObject({ code: StorageErrorCode.Closed });
    store = undefined;
  });

  it('a second open of the same data dir fails with a clear error, and works once the first closes', async () => {
    const s = await reopen();
    const err = await MemberStore.open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(err).toMatchObject({ code: StorageErrorCode.Locked });
    expect((err as Error).message).toContain(`data dir ${dir} is in use`);
    await s.saveRaft({ entries: entries(1, 1, 1) });
    await s.close();
    store = await MemberStore.open(dir);
    expect((await store.recover()).entries.length).toBe(1);
  });

  it('logs through a pino-like logger', async () => {
    const lines: Array<{ obj: object; msg?: string }> = [];
    const logger: StorageLogger = {
      info: (obj, msg) => lines.push({ obj, msg }),
      warn: (obj, msg) => lines.push({ obj, msg }),
      error: (obj, msg) => lines.push({ obj, msg }),
    };
    // A real pino logger satisfies the interface (checked by tsc).
    const real: StorageLogger = pino({ enabled: false });
    expect(real).toBeDefined();
    store = await MemberStore.open(dir, { logger });
    await store.recover();
    expect(lines.map((l) => l.msg)).toEqual(['recovered member store']);
  });
});
