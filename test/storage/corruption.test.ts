// Damaged records on disk (bit rot, a lost or misplaced record) are detected by CRC, index and term
// checks, and any of them stops the member with a clear error: an uncommitted entry may have been
// acknowledged, so cutting it could lose an acknowledged write. The one thing recovery cuts is a
// write torn by a crash at the end of the raft WAL (zeros where pages never landed): no fsync ever
// covered it, so nothing in it was acknowledged.
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { Level } from 'level';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { MemberStore, type StorageLogger } from '../../src/storage/member-store.js';
import { encodeEntry } from '../../src/storage/codec.js';
import { entryKey, HARD_STATE_KEY, metaKey, SNAPSHOT_KEY } from '../../src/storage/keys.js';
import { StorageError, StorageErrorCode } from '../../src/storage/storage-error.js';
import { entries, tempDir } from './helpers.js';
import { entryFrames, WAL_FRAME_HEAD, walDir, walSegments } from './wal-files.js';


describe('MemberStore recovery from damaged records', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let warnings: Array<{ obj: object; msg?: string }>;
  const logger: StorageLogger = {
    info: () => {},
    warn: (obj, msg) => warnings.push({ obj, msg }),
    error: () => {},
  };

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir('corrupt'));
    warnings = [];
  });

  afterEach(async () => {
    await cleanup();
  });

  /** A store with entries 1..10 of term 1, commit 6 (in a small WAL segment: tests rewrite it often). */
  async function seed(): Promise<void> {
    const s = await MemberStore.open(dir, { walSegmentBytes: 64 * 1024 });
    await s.saveRaft({ entries: entries(1, 10, 1, 256), hardState: { term: 1, vote: 'a', commit: 6 } });
    await s.close();
  }

  /** Edits the database directly, as a disk fault or a torn write would. */
  async function tamper(edit: (db: Level<Buffer, Buffer>) => Promise<void>): Promise<void> {
    const db = new Level<Buffer, Buffer>(path.join(dir, 'member', 'db'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    await edit(db);
    await db.close();
  }

  /** The store's only WAL segment file. */
  async function segment(): Promise<string> {
    const segments = walSegments(dir);
    expect(segments).toHaveLength(1);
    return segments[0] as string;
  }

  /** Where each entry's frame lies in the segment: index -> [frame start, frame end). */
  async function frames(): Promise<Map<number, [number, number]>> {
    return new Map(entryFrames(await segment()).map((f) => [f.index, [f.start, f.end]]));
  }

  /** Edits the segment's bytes directly, as a disk fault or a torn write would. */
  async function tamperWal(edit: (buf: Buffer, at: Map<number, [number, number]>) => Buffer): Promise<void> {
    const file = await segment();
    const at = await frames();
    await writeFile(file, edit(await readFile(file), at));
  }

  async function flipByte(index: number, at: (frameBytes: number) => number): Promise<void> {
    await tamperWal((buf, frame) => {
      const [start, end] = frame.get(index) as [number, number];
      const i = start + at(end - start);
      buf[i] = (buf[i] as number) ^ 0x5a;
      return buf;
    });
  }

  async function recoverError(): Promise<StorageError> {
    const s = await MemberStore.open(dir, { logger }).catch((e: unknown) => e);
    if (!(s instanceof MemberStore)) return s as StorageError;
    try {
      const err = await s.recover().then(
        () => undefined,
        (e: unknown) => e,
      );
      if (!(err instanceof StorageError)) throw new Error(`expected a StorageError, got ${String(err)}`);
      return err;
    } finally {
      await s.close();
    }
  }

  /** Recovery refuses with a CorruptLog error naming the data dir and the entry, and changes nothing. */
  async function expectRefused(index: number, reason: RegExp | string, commit = 6): Promise<void> {
    const before = await readFile(await segment());
    const err = await recoverError();
    expect(err.code).toBe(StorageErrorCode.CorruptLog);
    const status = index <= commit ? 'committed' : 'possibly acknowledged';
    expect(err.message).toContain(`data dir ${dir}: ${status} raft log entry ${index} (commit is ${commit})`);
    expect(err.message).toMatch(reason);
    expect(err.message).toContain('restore this member from a snapshot');
    expect((await readFile(await segment())).equals(before), 'nothing was cut').toBe(true);
  }

  // An entry above the commit index may already have been acknowledged to the leader and counted
  // towards a commit: cutting it could lose an acknowledged write, so any damage stops the member.
  it('a flipped byte in the last (uncommitted) entry is fatal, not cut', async () => {
    await seed();
    await flipByte(10, (len) => len - 40); // inside the data
    await expectRefused(10, /entry record fails its CRC/);
  });

  it('a shortened uncommitted entry in the middle of the log is fatal', async () => {
    await seed();
    await tamperWal((buf, at) => {
      buf.writeUInt32BE(100, (at.get(8) as [number, number])[0]);
      return buf;
    });
    await expectRefused(8, /offset \d+: /);
  });

  it('every single-byte corruption anywhere in the last frame is caught, its length field too', async () => {
    await seed();
    const [start, end] = (await frames()).get(10) as [number, number];
    expect(end - start).toBe(4 + 1 + encodeEntry(entries(10, 10, 1, 256)[0]!).length);
    const good = await readFile(await segment());
    for (let at = 0; at < end - start; at += 5) {
      await flipByte(10, () => at);
      const err = await recoverError();
      expect(err.code, `byte ${at}`).toBe(StorageErrorCode.CorruptLog);
      expect(err.message, `byte ${at}`).toContain('raft log entry 10');
      await writeFile(await segment(), good);
    }
  });

  it('a missing uncommitted entry (a hole) is fatal', async () => {
    await seed();
    await tamperWal((buf, at) => {
      const [start, end] = at.get(8) as [number, number];
      return Buffer.concat([buf.subarray(0, start), buf.subarray(end), Buffer.alloc(end - start)]);
    });
    await expectRefused(8, 'entry 9 follows 7');
  });

  it('an entry whose term goes down, or a record out of place, is fatal', async () => {
    const s = await MemberStore.open(dir);
    await s.saveRaft({ entries: [...entries(1, 6, 1), ...entries(7, 10, 3)], hardState: { term: 3, vote: '', commit: 6 } });
    await s.close();
    // Well-formed records with valid CRCs, but not a log raft could have written.
    const good = await readFile(await segment());
    const replace = (index: number, record: Buffer) => (buf: Buffer, at: Map<number, [number, number]>) => {
      const [start, end] = at.get(index) as [number, number];
      expect(record.length).toBe(end - start - WAL_FRAME_HEAD);
      record.copy(buf, start + WAL_FRAME_HEAD);
      return buf;
    };
    await tamperWal(replace(9, encodeEntry(entries(9, 9, 2)[0]!)));
    await expectRefused(9, 'entry 9 has term 2, lower than 3 before it');
    await writeFile(await segment(), good);
    await tamperWal(replace(8, encodeEntry(entries(5, 5, 3)[0]!)));
    await expectRefused(6, 'entry 9 follows 5');
  });

  it('a corrupt committed entry is fatal, naming the data dir and the index', async () => {
    await seed();
    await flipByte(4, (len) => len - 1);
    await expectRefused(4, /fails its CRC/);
  });

  it('a missing committed entry, even at the end of the log, is fatal', async () => {
    await seed();
    await tamperWal((buf, at) => {
      const [start] = at.get(5) as [number, number];
      buf.fill(0, start);
      return buf;
    });
    const err = await recoverError();
    expect(err).toMatchObject({
      code: StorageErrorCode.CorruptLog,
      message: expect.stringContaining('entry 5 (commit is 6) is missing or corrupt: the log ends at 4'),
    });
  });

  it('damage in an older WAL segment is fatal, even where it looks like a torn write', async () => {
    const s = await MemberStore.open(dir, { walSegmentBytes: 4096 });
    for (let i = 0; i < 6; i++) await s.saveRaft({ entries: entries(i * 10 + 1, i * 10 + 10, 1, 256) });
    await s.saveRaft({ entries: [], hardState: { term: 1, vote: '', commit: 6 } });
    await s.close();
    const names = walSegments(dir);
    expect(names.length).toBeGreaterThan(1);
    const first = names[0] as string;
    const buf = await readFile(first);
    buf.fill(0, 1024, 1536); // a whole sector of zeros inside the first segment's data
    await writeFile(first, buf);
    const err = await recoverError();
    expect(err.code).toBe(StorageErrorCode.CorruptLog);
    expect(err.message).toMatch(/committed raft log entry \d+ \(commit is 6\).*damaged at offset/);
  });

  it('a write torn by a crash at the end of the WAL is cut off and zeroed, and appends continue cleanly', async () => {
    let s = await MemberStore.open(dir);
    await s.saveRaft({ entries: entries(1, 8, 1, 1000), hardState: { term: 1, vote: 'a', commit: 6 } });
    await s.saveRaft({ entries: entries(9, 10, 1, 1000) });
    await s.close();
    const at = await frames();
    const [start9, end9] = at.get(9) as [number, number];
    const [, end10] = at.get(10) as [number, number];
    // One sector of entry 9 never landed; entry 10's pages did.
    const sector = Math.ceil((start9 + 8) / 512) * 512;
    expect(sector + 512).toBeLessThanOrEqual(end9);
    await tamperWal((buf) => buf.fill(0, sector, sector + 512));

    s = await MemberStore.open(dir, { logger });
    const rec = await s.recover();
    expect(rec.entries.map((e) => e.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(warnings.map((w) => w.msg)).toContain('raft WAL: cut off a write torn by a crash (it was never acknowledged)');
    const after = await readFile(await segment());
    expect(after.subarray(start9, end10).equals(Buffer.alloc(end10 - start9)), 'the torn write is zeroed').toBe(true);
    // A shorter write in its place: the old entry 10 must not come back after it.
    await s.saveRaft({ entries: entries(9, 9, 2, 16) });
    await s.close();
    s = await MemberStore.open(dir);
    expect((await s.recover()).entries.map((e) => `${e.index}@${e.term}`)).toEqual(['1@1', '2@1', '3@1', '4@1', '5@1', '6@1', '7@1', '8@1', '9@2']);
    await s.close();
  });

  it('a crash between recording an installed snapshot and emptying the WAL is finished by recovery', async () => {
    let s = await MemberStore.open(dir);
    await s.saveRaft({ entries: entries(1, 10, 1), hardState: { term: 1, vote: 'a', commit: 6 } });
    await s.close();
    const oldWal = path.join(dir, 'old-wal');
    await cp(walDir(dir), oldWal, { recursive: true });
    s = await MemberStore.open(dir);
    await s.recover();
    const conf = { voters: ['a'], learners: [] };
    await s.installSnapshot(
      { hardState: { term: 2, vote: '', commit: 20 }, entries: [], snapshot: { index: 20, term: 2, confState: conf } },
      { prefixes: [Buffer.from('m')], ops: [], applied: 20 },
    );
    await s.close();
    // The WAL as it was before the install: entries 1..10 of term 1 (8..10 would conflict).
    await rm(walDir(dir), { recursive: true });
    await cp(oldWal, walDir(dir), { recursive: true });
    s = await MemberStore.open(dir);
    const rec = await s.recover();
    expect(rec.snapshot?.index).toBe(20);
    expect(rec.entries).toEqual([]);
    await s.saveRaft({ entries: entries(21, 22, 2) });
    await s.close();
    s = await MemberStore.open(dir);
    expect((await s.recover()).entries.map((e) => e.index)).toEqual([21, 22]);
    await s.close();
  });

  it('a data dir from before the raft WAL has its log moved out of LevelDB at the first open', async () => {
    await tamper(async (db) => {
      for (const e of entries(1, 5, 1)) await db.put(entryKey(e.index), encodeEntry(e));
    });
    const s0 = await MemberStore.open(dir);
    await s0.close();
    await rm(walDir(dir), { recursive: true });
    await tamper(async (db) => {
      for (const e of entries(1, 5, 1)) await db.put(entryKey(e.index), encodeEntry(e));
    });
    const s = await MemberStore.open(dir);
    expect(s.isNew).toBe(false);
    expect((await s.recover()).entries.map((e) => e.index)).toEqual([1, 2, 3, 4, 5]);
    await s.close();
    await tamper(async (db) => {
      for await (const k of db.keys({ gte: Buffer.from('r/e/'), lt: Buffer.from('r/e0') })) throw new Error(`left in LevelDB: ${k.toString('hex')}`);
    });
    const again = await MemberStore.open(dir);
    expect((await again.recover()).entries.map((e) => e.index)).toEqual([1, 2, 3, 4, 5]);
    await again.close();
  });

  it('a corrupt hard state, snapshot record or meta record is fatal', async () => {
    await seed();
    await tamper(async (db) => {
      const v = Buffer.from((await db.get(HARD_STATE_KEY)) as Buffer);
      v[2] = (v[2] as number) ^ 1;
      await db.put(HARD_STATE_KEY, v);
    });
    const err = await recoverError();
    expect(err).toMatchObject({ code: StorageErrorCode.CorruptRecord });
    expect(err.message).toMatch(new RegExp(`data dir ${dir}: the hard state record is corrupt`));

    await cleanup();
    ({ dir, cleanup } = await tempDir('corrupt'));
    await seed();
    await tamper((db) => db.put(SNAPSHOT_KEY, Buffer.from([1, 2, 3, 4, 5, 6])));
    // The snapshot record is read when opening.
    expect(await recoverError()).toMatchObject({ code: StorageErrorCode.CorruptRecord, message: expect.stringContaining('snapshot metadata') });

    await tamper((db) => db.del(SNAPSHOT_KEY));
    await tamper((db) => db.put(metaKey('member-id'), Buffer.from('no crc here')));
    const s = await MemberStore.open(dir);
    await expect(s.getMeta('member-id')).rejects.toMatchObject({ code: StorageErrorCode.CorruptRecord });
    await s.close();
  });

  it('an app record with any byte of its key or value flipped is refused when read, naming the data dir', async () => {
    const appKey = Buffer.from('mk-some-record');
    const value = Buffer.from('the app value, as the application wrote it');
    let s = await MemberStore.open(dir);
    await s.applyBatch([{ type: 'put', key: appKey, value }], 1, { sync: true });
    await s.close();
    let stored: Buffer | undefined;
    await tamper(async (db) => {
      stored = (await db.get(appKey)) as Buffer;
    });
    expect(stored?.length, 'value plus a 4-byte CRC').toBe(value.length + 4);
    for (let i = 0; i < (stored as Buffer).length; i++) {
      const bad = Buffer.from(stored as Buffer);
      bad[i] = (bad[i] as number) ^ 0x01;
      await tamper((db) => db.put(appKey, bad));
      s = await MemberStore.open(dir);
      const read = async (): Promise<void> => {
        for await (const _ of s.appRecords(Buffer.from('m'))) void _;
      };
      await expect(read(), `byte ${i}`).rejects.toMatchObject({ code: StorageErrorCode.CorruptRecord, message: expect.stringContaining(`data dir ${dir}: app record "mk-some-record"`) });
      await s.close();
    }
    // A record moved under another key fails too: the CRC covers the key.
    await tamper(async (db) => {
      await db.del(appKey);
      await db.put(Buffer.from('mk-other-record'), stored as Buffer);
    });
    s = await MemberStore.open(dir);
    const batches = async (): Promise<void> => {
      for await (const _ of s.appRecordBatches(Buffer.from('m'))) void _;
    };
    await expect(batches()).rejects.toMatchObject({ code: StorageErrorCode.CorruptRecord });
    await s.close();
  });
});
