// Recovery's second line of defence behind LevelDB's own log checksums: records damaged on disk
// (bit rot, a lost record) are detected by CRC, index and term checks, and any of them stops the
// member with a clear error: LevelDB already drops a torn final batch, and an uncommitted entry may
// have been acknowledged, so cutting it could lose an acknowledged write.
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

  /** Recovery refuses with a CorruptLog error naming the data dir and the entry, and deletes nothing. */
  async function expectRefused(index: number, reason: RegExp | string): Promise<void> {
    const err = await recoverError();
    expect(err.code).toBe(StorageErrorCode.CorruptLog);
    expect(err.message).toContain(`data dir ${dir}: possibly acknowledged raft log entry ${index} (commit is 6)`);
    expect(err.message).toMatch(reason);
    expect(err.message).toContain('restore this member from a snapshot');
    await tamper(async (db) => {
      expect(await db.get(entryKey(1))).toBeDefined(); // nothing was cut
    });
  }

  // An entry above the commit index may already have been acknowledged to the leader and counted
  // towards a commit: cutting it could lose an acknowledged write, so any damage stops the member.
  it('a flipped byte in the last (uncommitted) entry is fatal, not cut', async () => {
    await seed();
    await flipByte(10, (len) => len - 40); // inside the data
    await expectRefused(10, /entry 10: entry record fails its CRC/);
  });

  it('a shortened uncommitted entry in the middle of the log is fatal', async () => {
    await seed();
    await tamper(async (db) => {
      const v = (await db.get(entryKey(8))) as Buffer;
      await db.put(entryKey(8), v.subarray(0, 100));
    });
    await expectRefused(8, /entry 8:/);
  });

  it('every single-byte corruption anywhere in the last record is caught', async () => {
    await seed();
    const len = encodeEntry(entries(10, 10, 1, 256)[0]!).length;
    const good = await (async () => {
      let v: Buffer | undefined;
      await tamper(async (db) => {
        v = Buffer.from((await db.get(entryKey(10))) as Buffer);
      });
      return v as Buffer;
    })();
    for (let at = 0; at < len; at += 7) {
      await flipByte(10, () => at);
      const err = await recoverError();
      expect(err.code, `byte ${at}`).toBe(StorageErrorCode.CorruptLog);
      expect(err.message, `byte ${at}`).toContain('raft log entry 10');
      await tamper((db) => db.put(entryKey(10), good));
    }
  });

  it('a missing uncommitted entry (a hole) is fatal', async () => {
    await seed();
    await tamper((db) => db.del(entryKey(8)));
    await expectRefused(8, 'entry 8 is missing (the next one on disk is 9)');
  });

  it('an entry whose term goes down, or that sits under the wrong index, is fatal', async () => {
    const s = await MemberStore.open(dir);
    await s.saveRaft({ entries: [...entries(1, 6, 1), ...entries(7, 10, 3)], hardState: { term: 3, vote: '', commit: 6 } });
    await s.close();
    // Well-formed records with valid CRCs, but not a log raft could have written.
    await tamper((db) => db.put(entryKey(9), encodeEntry(entries(9, 9, 2)[0]!)));
    await expectRefused(9, 'entry 9 has term 2, lower than 3 before it');
    await tamper((db) => db.put(entryKey(9), encodeEntry(entries(9, 9, 3)[0]!)));
    await tamper((db) => db.put(entryKey(8), encodeEntry(entries(5, 5, 3)[0]!)));
    await expectRefused(8, 'entry stored under index 8 says it is 5');
  });

  it('a malformed key among the entries is fatal', async () => {
    await seed();
    await tamper((db) => db.put(Buffer.concat([entryKey(9), Buffer.from([0])]), Buffer.from('junk')));
    await expectRefused(10, /malformed entry key/);
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
