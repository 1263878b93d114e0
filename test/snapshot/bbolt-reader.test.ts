// The bbolt reader against real etcd 3.4 snapshot files: a small one (a few hundred keys, some
// values larger than a page) and a big one (20,000 keys of 1 KiB written in txns, plus values of
// 10 KiB, 100 KiB and 1 MiB), so the trees have branch pages on several levels, overflow pages and
// inline buckets. Then damaged copies: truncated, flipped bytes, broken meta pages, page pointers
// out of range or looping; every one must give a SnapshotError, never a crash or a hang.

import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import protobuf from "protobufjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { BoltReader } from "../../src/snapshot/bbolt-reader.js";
import { bufferSource, fileSource } from "../../src/snapshot/byte-source.js";
import { EtcdBackend, etcdProtoTypes, type EtcdProtoTypes } from "../../src/snapshot/etcd-backend.js";
import { snapshotStatus, SnapshotError, SnapshotErrorCode } from "../../src/snapshot/index.js";
import { loadSnapshot } from "../../src/snapshot/snapshot-load.js";
import { protoRootDir } from "../../src/util/proto-dir.js";
import { SeededRandom } from "../../src/util/prng.js";
import { destroyAllClusters } from "../integration/cluster.js";
import { useCluster } from "../integration/cluster-fixture.js";
import { client, etcdctlJson, saveSnapshot } from "./snapshot-helpers.js";

afterAll(destroyAllClusters, 60_000);

const PAGE = 4096;
const SMALL_PUTS = 300;
const BIG_KEYS = 20_000;
const TXN_OPS = 100;
const HUGE = [10 * 1024, 100 * 1024, 1024 * 1024];

const bigValue = (i: number): Buffer => Buffer.from(`big-${i}-`.padEnd(1024, String.fromCharCode(97 + (i % 26))));
const hugeValue = (size: number): Buffer => {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + size) & 0xff;
  return out;
};

/** What a damaged file must do: load fine, or fail with a SnapshotError (never anything else). */
async function outcome(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return "ok";
  } catch (err) {
    if (err instanceof SnapshotError) return err.code;
    throw err;
  }
}

async function expectSnapshotError(run: () => Promise<unknown>, code: SnapshotErrorCode, message?: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await run();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(SnapshotError);
  expect((caught as SnapshotError).code).toBe(code);
  if (message !== undefined) expect((caught as SnapshotError).message).toMatch(message);
}

/** The child page of a branch page's first element. */
function readChild(db: Buffer, branch: number): number {
  return Number(db.readBigUInt64LE(branch * PAGE + 16 + 8));
}

/** Where the value of `key` starts on a leaf page (element headers: flags, pos, ksize, vsize; pos from the header). */
function leafValueAt(db: Buffer, leaf: number, key: string): number {
  const count = db.readUInt16LE(leaf * PAGE + 10);
  for (let i = 0; i < count; i++) {
    const header = leaf * PAGE + 16 + 16 * i;
    const keyAt = header + db.readUInt32LE(header + 4);
    const keySize = db.readUInt32LE(header + 8);
    if (db.subarray(keyAt, keyAt + keySize).toString("latin1") === key) return keyAt + keySize;
  }
  throw new Error(`no key ${key} on page ${leaf}`);
}

function countKeyRecords(file: Buffer, types: EtcdProtoTypes): number {
  let n = 0;
  for (const _ of new EtcdBackend(BoltReader.open(bufferSource(file, file.length - 32)), types).keyRecords()) n++;
  return n;
}

/** The reachable branch and leaf pages (free pages keep stale copies, so scanning headers would not do). */
function treePages(db: Buffer): { branches: number[]; leaves: number[] } {
  const bolt = BoltReader.open(bufferSource(db));
  const stats = bolt.pageStats();
  return { branches: stats.branchPages, leaves: stats.leafPages };
}

describe("bbolt reader on etcd 3.4 snapshot files", () => {
  const node = useCluster("etcd", 1);
  let dir = "";
  let small = "";
  let big = "";
  let smallBytes: Buffer;
  let bigBytes: Buffer;
  /** Where to write damaged copies. */
  let scratch = "";
  let smallCompactRevision = 0;
  let types: EtcdProtoTypes;

  beforeAll(async () => {
    types = await etcdProtoTypes();
    dir = await mkdtemp(join(tmpdir(), "ketch-bbolt-"));
    scratch = join(dir, "damaged.db");
    const endpoint = node().endpoints[0] as string;
    const etcd = client([endpoint]);
    try {
      for (let i = 0; i < SMALL_PUTS; i++) {
        const size = i % 50 === 0 ? 6000 : 20 + (i % 200);
        await etcd.put(`/small/${i % 120}`).value(Buffer.alloc(size, 65 + (i % 26))).exec();
      }
      await etcd.lease(600, { autoKeepAlive: false }).grant();
      const rev = Number((await etcd.kv.range({ key: Buffer.from("/small/0") })).header.revision);
      smallCompactRevision = rev - 100;
      await etcd.kv.compact({ revision: String(smallCompactRevision), physical: true });
      small = join(dir, "small.db");
      await saveSnapshot(endpoint, small);
      for (let t = 0; t < BIG_KEYS / TXN_OPS; t++) {
        const success = Array.from({ length: TXN_OPS }, (_u, j) => {
          const i = t * TXN_OPS + j;
          return { request_put: { key: Buffer.from(`/big/${String(i).padStart(5, "0")}`), value: bigValue(i) } };
        });
        await etcd.kv.txn({ compare: [], success, failure: [] });
      }
      for (const size of HUGE) await etcd.put(`/huge/${size}`).value(hugeValue(size)).exec();
      big = join(dir, "big.db");
      await saveSnapshot(endpoint, big);
    } finally {
      etcd.close();
    }
    smallBytes = await readFile(small);
    bigBytes = await readFile(big);
  }, 240_000);

  afterAll(async () => {
    if (dir !== "") await rm(dir, { recursive: true, force: true });
  });

  it("computes the status etcdctl prints (hash, revision, total keys, total size)", async () => {
    const endpoint = node().endpoints[0] as string;
    for (const path of [small, big]) {
      const theirs = (await etcdctlJson([endpoint], ["snapshot", "status", path])) as Record<string, string>;
      const ours = await snapshotStatus(path);
      expect(ours.format).toBe("etcd");
      expect({ hash: String(ours.hash), revision: String(ours.revision), totalKey: String(ours.totalKey), totalSize: String(ours.totalSize) }).toEqual(
        theirs,
      );
    }
  });

  it("walks a multi-level tree with branch, overflow and inline pages, and every record decodes", () => {
    const source = fileSource(big, bigBytes.length - 32);
    try {
      const bolt = BoltReader.open(source);
      expect(bolt.check()).toEqual([]);
      const stats = bolt.pageStats();
      // 20,000 records of ~1 KiB need thousands of leaves, so more than one level of branch pages.
      expect(stats.leafPages.length).toBeGreaterThan(4000);
      expect(stats.branchPages.length).toBeGreaterThan(10);
      expect(stats.overflowPages).toBeGreaterThanOrEqual(Math.floor(HUGE.reduce((a, b) => a + b, 0) / PAGE));
      expect(stats.inlineBuckets).toBeGreaterThan(0);
      // Branch pages that point to branch pages: a tree of three levels or more.
      expect(stats.branchPages.some((id) => bigBytes.readUInt16LE((readChild(bigBytes, id) as number) * PAGE + 8) === 0x01)).toBe(true);

      // Decoded here with protobufjs and the repository's kv.proto, independently of the importer.
      const root = new protobuf.Root().loadSync(join(protoRootDir(), "etcd", "mvccpb", "kv.proto"), { keepCase: true });
      const KeyValue = root.lookupType("mvccpb.KeyValue");
      // Plain checks per record (20,000 expect() calls would dominate the test's time), asserted once.
      let records = 0;
      let lastMain = 0;
      let bigSeen = 0;
      const hugeSeen: number[] = [];
      const wrong: string[] = [];
      const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");
      for (const r of new EtcdBackend(bolt, types).keyRecords()) {
        records++;
        const kv = KeyValue.toObject(KeyValue.decode(r.value), { longs: Number }) as { key: Uint8Array; value?: Uint8Array; mod_revision: number };
        const key = Buffer.from(kv.key).toString();
        if (r.main < lastMain || r.tombstone || kv.mod_revision !== r.main || key !== r.key.toString()) wrong.push(`${r.main}/${r.sub} ${key}`);
        lastMain = r.main;
        if (key.startsWith("/big/")) {
          if (!Buffer.from(kv.value ?? []).equals(bigValue(Number(key.slice(5))))) wrong.push(`value of ${key}`);
          bigSeen++;
        }
        if (key.startsWith("/huge/")) {
          const size = Number(key.slice(6));
          if (sha(kv.value ?? new Uint8Array()) !== sha(hugeValue(size))) wrong.push(`value of ${key}`);
          hugeSeen.push(size);
        }
      }
      expect(wrong).toEqual([]);
      // The small keys' history was compacted: what is left of it, and every big record.
      const smallRecords = countKeyRecords(smallBytes, types);
      expect(smallRecords).toBeLessThan(SMALL_PUTS);
      expect(records).toBe(smallRecords + BIG_KEYS + HUGE.length);
      expect(bigSeen).toBe(BIG_KEYS);
      expect(hugeSeen.sort((a, b) => a - b)).toEqual(HUGE);
    } finally {
      source.close();
    }
  });

  it("finishes a compaction that etcd scheduled but had not finished, as etcd does at startup", async () => {
    const done = await loadSnapshot(small);
    expect(done.mvcc.store.compactRevision).toBe(smallCompactRevision);
    // Rewind finishedCompactRev (a revision key: main u64 BE first) to 1, leaving scheduledCompactRev.
    const copy = Buffer.from(smallBytes);
    const name = Buffer.from("finishedCompactRev");
    let found = 0;
    for (let at = copy.indexOf(name); at >= 0; at = copy.indexOf(name, at + 1)) {
      copy.writeBigUInt64BE(1n, at + name.length);
      found++;
    }
    expect(found).toBeGreaterThan(0);
    await writeFile(scratch, copy);
    const resumed = await loadSnapshot(scratch, { skipHashCheck: true });
    expect(resumed.mvcc.store.compactRevision).toBe(smallCompactRevision);
    expect(resumed.mvcc.store.currentRevision).toBe(done.mvcc.store.currentRevision);
    expect(resumed.mvcc.store.hashKV(0)).toEqual(done.mvcc.store.hashKV(0));
    const sorted = (ops: typeof done.mvcc.ops): string[] =>
      ops.map((op) => `${op.key.toString("hex")}=${op.type === "put" ? op.value.toString("hex") : ""}`).sort();
    expect(sorted(resumed.mvcc.ops)).toEqual(sorted(done.mvcc.ops));
  });

  it("refuses truncated files with a clear error", async () => {
    for (const bytes of [smallBytes, bigBytes]) {
      for (const size of [0, 10, 100, PAGE, 2 * PAGE + 32, Math.floor(bytes.length / 2), bytes.length - 33, bytes.length - 1]) {
        await writeFile(scratch, bytes.subarray(0, size));
        const status = await outcome(() => snapshotStatus(scratch));
        expect([SnapshotErrorCode.Truncated, SnapshotErrorCode.UnknownFormat, SnapshotErrorCode.ChecksumMismatch]).toContain(status);
        expect(await outcome(() => loadSnapshot(scratch, { requireChecksum: true }))).not.toBe("ok");
      }
    }
    // Half a file reads as a database whose pages are missing.
    await writeFile(scratch, bigBytes.subarray(0, Math.floor(bigBytes.length / 2 / PAGE) * PAGE));
    await expectSnapshotError(() => snapshotStatus(scratch), SnapshotErrorCode.Truncated, /truncated/);
    await expectSnapshotError(() => snapshotStatus(join(dir, "no-such-file")), SnapshotErrorCode.NotFound);
  });

  it("detects a flipped byte anywhere through the sha256 trailer", async () => {
    const rnd = new SeededRandom(7);
    for (let i = 0; i < 20; i++) {
      const copy = Buffer.from(smallBytes);
      const at = rnd.int(copy.length - 32);
      copy[at] = (copy[at] as number) ^ (1 << rnd.int(8));
      await writeFile(scratch, copy);
      await expectSnapshotError(() => snapshotStatus(scratch), SnapshotErrorCode.ChecksumMismatch, /sha256/);
    }
  });

  it("falls back to meta page 1 when meta page 0 is damaged, and fails clearly when both are", async () => {
    const original = await snapshotStatus(small);
    const copy = Buffer.from(smallBytes);
    copy[16 + 20] = (copy[16 + 20] as number) ^ 0xff; // inside meta 0's root bucket: its checksum fails
    await writeFile(scratch, copy);
    expect(await snapshotStatus(scratch, { skipHashCheck: true })).toEqual(original);
    copy[PAGE + 16 + 20] = (copy[PAGE + 16 + 20] as number) ^ 0xff;
    await writeFile(scratch, copy);
    await expectSnapshotError(() => snapshotStatus(scratch, { skipHashCheck: true }), SnapshotErrorCode.Corrupt, /meta page 0.*meta page 1/);
  });

  it("reports damaged page pointers and elements by page, never looping", () => {
    const db = bigBytes.subarray(0, bigBytes.length - 32);
    const { branches, leaves } = treePages(db);
    const run = (damage: (copy: Buffer) => void): string => {
      const copy = Buffer.from(db);
      damage(copy);
      try {
        const bolt = BoltReader.open(bufferSource(copy));
        const problems = bolt.check();
        if (problems.length > 0) return problems.join("\n");
        for (const _ of new EtcdBackend(bolt, types).keyRecords());
        return "ok";
      } catch (err) {
        if (err instanceof SnapshotError) return err.message;
        throw err;
      }
    };
    const branch = branches[0] as number;
    const childAt = branch * PAGE + 16 + 8; // first element's child page id
    expect(run((c) => c.writeBigUInt64LE(10n ** 12n, childAt))).toMatch(new RegExp(`page ${branch}: child page \\d+ is outside`));
    expect(run((c) => c.writeBigUInt64LE(BigInt(branch), childAt))).toMatch(/referenced twice|multiple references/);
    // Another branch page of the tree, not the one the element points to already.
    const other = branches.find((id) => id !== branch && id !== readChild(db, branch)) as number;
    expect(run((c) => c.writeBigUInt64LE(BigInt(other), childAt))).toMatch(/referenced twice|multiple references/);
    const leaf = leaves[Math.floor(leaves.length / 2)] as number;
    expect(run((c) => c.writeUInt32LE(0x7fffffff, leaf * PAGE + 16 + 4))).toMatch(new RegExp(`page ${leaf}: element 0 .* runs past the page`));
    expect(run((c) => c.writeUInt16LE(0xffff, leaf * PAGE + 10))).toMatch(new RegExp(`page ${leaf}: 65535 elements do not fit`));
    expect(run((c) => c.writeBigUInt64LE(BigInt(leaf + 1), leaf * PAGE))).toMatch(new RegExp(`page ${leaf}: the page says it is page ${leaf + 1}`));
    expect(run((c) => c.writeUInt16LE(0x10, leaf * PAGE + 8))).toMatch(new RegExp(`page ${leaf}: invalid type: freelist`));
    expect(run((c) => c.writeUInt32LE(1 << 30, leaf * PAGE + 12))).toMatch(/overflow pages run past the end/);
    // The "key" bucket's header pointing back at the root bucket's own page: a loop through nested
    // buckets (random damage in CI once made one, and the recursive walk overflowed the stack).
    const rootPage = BoltReader.open(bufferSource(db)).meta.rootPage;
    const keyBucketHeader = leafValueAt(db, rootPage, "key");
    expect(run((c) => c.writeBigUInt64LE(BigInt(rootPage), keyBucketHeader))).toMatch(/root of more than one bucket|multiple references/);
  });

  it("checks a stored freelist as bbolt's Tx.Check does (etcd 3.4 does not store one, so one is written here)", () => {
    const db = Buffer.from(smallBytes.subarray(0, smallBytes.length - 32));
    const pages = db.length / PAGE;
    const { branches, leaves } = treePages(db);
    const reachable = new Set<number>([0, 1]);
    for (const id of [...branches, ...leaves]) {
      for (let i = 0; i <= db.readUInt32LE(id * PAGE + 12); i++) reachable.add(id + i);
    }
    const unreachable = Array.from({ length: pages }, (_u, id) => id).filter((id) => !reachable.has(id));
    expect(unreachable.length).toBeGreaterThan(2);
    const freelistPage = unreachable[0] as number;
    const fnv = (bytes: Buffer): bigint => {
      let h = 0xcbf29ce484222325n;
      for (const b of bytes) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
      return h;
    };
    /** A copy whose meta pages point at a freelist page holding `ids` (count in the header or, as bbolt does past 0xFFFF, in the body). */
    const withFreelist = (ids: number[], overflowCount = false): string[] => {
      const copy = Buffer.from(db);
      const at = freelistPage * PAGE;
      copy.fill(0, at, at + PAGE);
      copy.writeBigUInt64LE(BigInt(freelistPage), at);
      copy.writeUInt16LE(0x10, at + 8);
      let body = at + 16;
      if (overflowCount) {
        copy.writeUInt16LE(0xffff, at + 10);
        copy.writeBigUInt64LE(BigInt(ids.length), body);
        body += 8;
      } else {
        copy.writeUInt16LE(ids.length, at + 10);
      }
      ids.forEach((id, i) => copy.writeBigUInt64LE(BigInt(id), body + 8 * i));
      for (const meta of [16, PAGE + 16]) {
        copy.writeBigUInt64LE(BigInt(freelistPage), meta + 32);
        copy.writeBigUInt64LE(fnv(copy.subarray(meta, meta + 56)), meta + 56);
      }
      const bolt = BoltReader.open(bufferSource(copy));
      expect(bolt.meta.freelistPage).toBe(freelistPage);
      return bolt.check();
    };
    const free = unreachable.slice(1);
    expect(withFreelist(free)).toEqual([]);
    expect(withFreelist(free, true)).toEqual([]);
    expect(withFreelist([...free, free[0] as number])).toEqual([`page ${free[0]}: already freed`]);
    expect(withFreelist(free.slice(1))).toEqual([`page ${free[0]}: unreachable unfreed`]);
    const leaf = leaves[0] as number;
    expect(withFreelist([...free, leaf])).toEqual([`page ${leaf}: reachable freed`]);
  });

  it("never crashes on random damage (1,000 flipped bytes, hash check skipped)", async () => {
    const rnd = new SeededRandom(20_240_601);
    const seen = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      const copy = Buffer.from(smallBytes);
      const flips = 1 + rnd.int(4);
      for (let f = 0; f < flips; f++) {
        // Mostly the used pages' headers and elements, where a flip changes the structure.
        const page = rnd.int(Math.floor(copy.length / PAGE));
        const at = Math.min(copy.length - 33, page * PAGE + (rnd.int(4) === 0 ? rnd.int(PAGE) : rnd.int(256)));
        copy[at] = (copy[at] as number) ^ (1 << rnd.int(8));
      }
      await writeFile(scratch, copy);
      const status = await outcome(() => snapshotStatus(scratch, { skipHashCheck: true }));
      const load = await outcome(() => loadSnapshot(scratch, { skipHashCheck: true }));
      seen.set(`${status}/${load}`, (seen.get(`${status}/${load}`) ?? 0) + 1);
    }
    // Both outcomes occur: damage in unused space is harmless, structural damage is reported.
    const outcomes = [...seen.keys()].join(" ");
    expect(outcomes).toContain("ok/ok");
    expect(outcomes).toContain(SnapshotErrorCode.Corrupt);
  });
});
