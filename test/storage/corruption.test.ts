// Recovery's second line of defence behind LevelDB's own log checksums: records damaged on disk
// (a torn write, bit rot, a lost record) are detected by CRC, index and term checks. Damage above
// the commit index is cut and reported; damage at or below it stops the member with a clear error.
import path from 'node:path';

import { Level } from 'level';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { MemberStore, type StorageLogger } from '../../src/storage/member-store.js';
import { encodeEntry } from '../../src/storage/codec.js';
import { entryKey, HARD_STATE_KEY, metaKey, SNAPSHOT_KEY } from '../../src/storage/keys.js';
import { StorageError, StorageErrorCode } from '../../src/storage/storage-error.js';
import { entries, tempDir } from './helpers.js';

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

  /** A store with entries 1..10 of term 1, commit 6. */
  async function seed(): Promise<void> {
    const s = await MemberStore.open(dir);
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

  async function flipByte(index: number, at: (len: number) => number): Promise<void> {
    await tamper(async (db) => {
      const v = Buffer.from((await db.get(entryKey(index))) as Buffer);
      const i = at(v.length);
      v[i] = (v[i] as number) ^ 0x5a;
      await db.put(entryKey(index), v);
    });
  }

  async function recoverWith(): Promise<{ entriesIdx: number[]; truncatedTail: unknown }> {
    const s = await MemberStore.open(dir, { logger });
    try {
      const rec = await s.recover();
      return { entriesIdx: rec.entries.map((e) => e.index), truncatedTail: rec.truncatedTail };
    } finally {
      await s.close();
    }
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

  it('a flipped byte in the last entry is detected, cut, reported and logged; the cut is durable', async () => {
    await seed();
    await flipByte(10, (len) => len - 40); // inside the data
    const { entriesIdx, truncatedTail } = await recoverWith();
    expect(entriesIdx).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(truncatedTail).toMatchObject({ fromIndex: 10 });
    expect((truncatedTail as { reason: string }).reason).toMatch(/entry 10: entry record fails its CRC/);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ msg: 'cut a torn or corrupt tail off the raft log', obj: { fromIndex: 10 } });
    // The bad record was deleted: the next recovery is clean, and appending at 10 works.
    expect(await recoverWith()).toEqual({ entriesIdx: [1, 2, 3, 4, 5, 6, 7, 8, 9], truncatedTail: undefined });
  });

  it('a torn (shortened) uncommitted entry cuts the log there, with everything after it', async () => {
    await seed();
    await tamper(async (db) => {
      const v = (await db.get(entryKey(8))) as Buffer;
      await db.put(entryKey(8), v.subarray(0, 100));
    });
    const { entriesIdx, truncatedTail } = await recoverWith();
    expect(entriesIdx).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(truncatedTail).toMatchObject({ fromIndex: 8 });
    const s = await MemberStore.open(dir);
    await s.recover();
    await s.saveRaft({ entries: entries(8, 8, 2) });
    expect((await s.recover()).entries.map((e) => `${e.index}@${e.term}`).slice(-2)).toEqual(['7@1', '8@2']);
    await s.close();
  });

  it('every single-byte corruption anywhere in the last record is caught', async () => {
    await seed();
    const len = encodeEntry(entries(10, 10, 1, 256)[0]!).length;
    for (let at = 0; at < len; at += 7) {
      await flipByte(10, () => at);
      const { entriesIdx, truncatedTail } = await recoverWith();
      expect(entriesIdx.at(-1), `byte ${at}`).toBe(9);
      expect(truncatedTail, `byte ${at}`).toMatchObject({ fromIndex: 10 });
      // Put a good entry 10 back for the next round.
      const s = await MemberStore.open(dir);
      await s.recover();
      await s.saveRaft({ entries: entries(10, 10, 1, 256) });
      await s.close();
    }
  });

  it('a missing uncommitted entry (a hole) cuts the log at the hole', async () => {
    await seed();
    await tamper((db) => db.del(entryKey(8)));
    const { entriesIdx, truncatedTail } = await recoverWith();
    expect(entriesIdx).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(truncatedTail).toMatchObject({ fromIndex: 8, reason: 'entry 8 is missing (the next one on disk is 9)' });
  });

  it('an entry whose term goes down, or that sits under the wrong index, is cut', async () => {
    const s = await MemberStore.open(dir);
    await s.saveRaft({ entries: [...entries(1, 6, 1), ...entries(7, 10, 3)], hardState: { term: 3, vote: '', commit: 6 } });
    await s.close();
    // Well-formed records with valid CRCs, but not a log raft could have written.
    await tamper((db) => db.put(entryKey(9), encodeEntry(entries(9, 9, 2)[0]!)));
    expect(await recoverWith()).toMatchObject({ entriesIdx: [1, 2, 3, 4, 5, 6, 7, 8], truncatedTail: { fromIndex: 9 } });
    await tamper((db) => db.put(entryKey(8), encodeEntry(entries(5, 5, 3)[0]!)));
    expect(await recoverWith()).toMatchObject({
      entriesIdx: [1, 2, 3, 4, 5, 6, 7],
      truncatedTail: { fromIndex: 8, reason: 'entry stored under index 8 says it is 5' },
    });
  });

  it('a malformed key among the entries is cut like a bad record', async () => {
    await seed();
    await tamper((db) => db.put(Buffer.concat([entryKey(9), Buffer.from([0])]), Buffer.from('junk')));
    const { entriesIdx, truncatedTail } = await recoverWith();
    expect(entriesIdx).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(truncatedTail).toMatchObject({ fromIndex: 10 });
  });

  it('a corrupt committed entry is fatal, naming the data dir and the index', async () => {
    await seed();
    await flipByte(4, (len) => len - 1);
    const err = await recoverError();
    expect(err.code).toBe(StorageErrorCode.CorruptLog);
    expect(err.message).toContain(`data dir ${dir}`);
    expect(err.message).toContain('committed raft log entry 4 (commit is 6)');
    expect(err.message).toContain('restore this member from a snapshot');
    // Nothing was cut: the damage is left for an operator to look at.
    await tamper(async (db) => {
      expect(await db.get(entryKey(10))).toBeDefined();
    });
  });

  it('a missing committed entry, even at the end of the log, is fatal', async () => {
    await seed();
    await tamper((db) => db.del(entryKey(5)));
    expect(await recoverError()).toMatchObject({ code: StorageErrorCode.CorruptLog, message: expect.stringContaining('entry 5') });
    await seed();
    await tamper((db) => db.batch([7, 8, 9, 10].map((i) => ({ type: 'del' as const, key: entryKey(i) }))));
    await tamper((db) => db.del(entryKey(6)));
    expect(await recoverError()).toMatchObject({
      code: StorageErrorCode.CorruptLog,
      message: expect.stringContaining('entry 6 (commit is 6) is missing or corrupt: the log ends at 5'),
    });
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
});
