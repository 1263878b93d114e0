// restoreSnapshot and snapshotStatus on ketch-format files built in process (the framing of the
// Maintenance.Snapshot stream; round-trip.test.ts checks it against the real RPC): what a restored
// data dir holds, the options etcdctl refuses, and damaged or truncated files.

import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { MvccStore } from "../../src/mvcc/index.js";
import { Lessor } from "../../src/server/lessor.js";
import { clusterId, memberId } from "../../src/server/member-id.js";
import { Membership } from "../../src/server/membership.js";
import { encodeStateSnapshot } from "../../src/server/state-snapshot.js";
import { restoreSnapshot, snapshotStatus, SnapshotError, SnapshotErrorCode, type RestoreOptions } from "../../src/snapshot/index.js";
import { MemberStore } from "../../src/storage/index.js";
import { SeededRandom } from "../../src/util/prng.js";
import { delReq, putReq } from "../mvcc/helpers.js";

/** A source store with history: puts, overwrites, deletes, a leased key and a compaction. */
function sourceStore(): MvccStore {
  const store = new MvccStore();
  for (let i = 0; i < 500; i++) store.put(putReq(`/k/${String(i).padStart(3, "0")}`, `v1-${i}`));
  for (let i = 0; i < 100; i++) store.put(putReq(`/k/${String(i).padStart(3, "0")}`, `v2-${i}`));
  store.compact(550);
  for (let i = 400; i < 450; i++) store.deleteRange(delReq(`/k/${String(i).padStart(3, "0")}`));
  store.put(putReq("/leased", "x", { lease: "7587883391290350858" }));
  store.put(putReq("\u0000\u00ff", "\u0001\u00fe"));
  return store;
}

/** The Snapshot RPC's framing: body length, body, zero padding to 512, then the SHA-256. */
function frame(body: Buffer): Buffer {
  const padded = Buffer.alloc(Math.ceil((body.length + 8) / 512) * 512);
  padded.writeBigUInt64BE(BigInt(body.length), 0);
  body.copy(padded, 8);
  return Buffer.concat([padded, createHash("sha256").update(padded).digest()]);
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

describe("restoreSnapshot and snapshotStatus with ketch snapshots", () => {
  let dir = "";
  let snap = "";
  let bytes: Buffer;
  const store = sourceStore();
  const token = "restore-test";
  const urls = ["http://127.0.0.1:12380", "http://127.0.0.1:22380", "http://127.0.0.1:32380"];
  const initialCluster = `a=${urls[0]},b=${urls[1]},c=${urls[2]}`;
  const opts = (over: Partial<RestoreOptions>): RestoreOptions => ({
    snapshotPath: snap,
    name: "b",
    initialCluster,
    initialClusterToken: token,
    initialAdvertisePeerUrls: urls[1] as string,
    dataDir: join(dir, "b"),
    ...over,
  });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ketch-restore-"));
    snap = join(dir, "ketch.snapshot");
    const body = encodeStateSnapshot({
      applied: 123_456,
      membership: {
        members: [{ id: "1234abcd", name: "old", peerURLs: ["http://10.0.0.1:2380"], clientURLs: ["http://10.0.0.1:2379"], isLearner: false }],
        removed: ["99"],
        alarms: ["1234abcd/NOSPACE"],
      },
      leases: [{ id: "7587883391290350858", ttl: 600 }],
      mvcc: store.exportSnapshot(),
    });
    bytes = frame(body);
    await writeFile(snap, bytes);
  });
  afterAll(async () => {
    if (dir !== "") await rm(dir, { recursive: true, force: true });
  });

  it("status: the store's revision, its hashkv hash, and the record count", async () => {
    const status = await snapshotStatus(snap);
    const revisions = store.stats().revisions;
    expect(status).toEqual({
      format: "ketch",
      revision: store.currentRevision,
      hash: store.hashKV(0).hash >>> 0,
      totalKey: revisions + 1 + 1, // revision records, one lease, one member
      totalSize: bytes.length - 32,
    });
  });

  it("writes a member that restarts at a raft snapshot of the new membership, with the whole store", async () => {
    const result = await restoreSnapshot(opts({}));
    const ids = urls.map((u) => memberId([u], token));
    expect(result).toMatchObject({
      format: "ketch",
      memberId: ids[1],
      clusterId: clusterId(ids),
      revision: store.currentRevision,
      compactRevision: 550,
      keys: store.stats().keys,
      revisions: store.stats().revisions,
      leases: 1,
      warnings: [],
    });
    expect(result.members.map((m) => m.name).sort()).toEqual(["a", "b", "c"]);

    const member = await MemberStore.open(result.dataDir);
    try {
      expect((await member.getMeta("member-id"))?.toString()).toBe(ids[1]);
      expect((await member.getMeta("cluster-id"))?.toString()).toBe(clusterId(ids));
      const rec = await member.recover();
      // Index: revision + members, beyond the 3 entries of a member bootstrapped empty by mistake.
      const index = store.currentRevision + 3;
      expect(rec.hardState).toEqual({ term: 1, vote: "", commit: index });
      expect(rec.snapshot).toEqual({ index, term: 1, confState: { voters: [...ids].sort((x, y) => (BigInt(`0x${x}`) < BigInt(`0x${y}`) ? -1 : 1)), learners: [] } });
      expect(rec.entries).toEqual([]);
      expect(rec.applied).toBe(index);

      const collect = async (prefix: string): Promise<Array<[Buffer, Buffer]>> => {
        const out: Array<[Buffer, Buffer]> = [];
        for await (const r of member.appRecords(Buffer.from(prefix))) out.push(r);
        return out;
      };
      const restored = MvccStore.load(await collect("m"));
      expect(restored.hashKV(0)).toEqual(store.hashKV(0));
      expect(restored.currentRevision).toBe(store.currentRevision);
      const membership = Membership.load(await collect("c"));
      // The old membership, removed IDs and alarms are gone; the new members have their URLs.
      expect(membership.toJSON()).toEqual({
        members: result.members.map((m) => ({ id: m.id, name: m.name, peerURLs: m.peerURLs, clientURLs: [], isLearner: false })),
        removed: [],
        alarms: [],
      });
      expect(Lessor.decodeRecords(await collect("l"))).toEqual([{ id: "7587883391290350858", ttl: 600 }]);
    } finally {
      await member.close();
    }
  });

  it("refuses a data dir that exists and is not empty, and leaves it alone", async () => {
    const target = join(dir, "busy");
    await mkdir(target);
    await writeFile(join(target, "keep.txt"), "mine");
    await expectSnapshotError(() => restoreSnapshot(opts({ dataDir: target })), SnapshotErrorCode.DataDirExists, /exists and is not empty/);
    expect(await readdir(target)).toEqual(["keep.txt"]);
    // An existing empty directory is fine (etcdctl refuses even that; an empty dir loses nothing).
    const empty = join(dir, "empty");
    await mkdir(empty);
    await restoreSnapshot(opts({ dataDir: empty }));
    expect(await readdir(empty)).toEqual(["member"]);
  });

  it("refuses bad membership options as etcdctl does", async () => {
    const bad = async (over: Partial<RestoreOptions>, message: RegExp): Promise<void> =>
      expectSnapshotError(() => restoreSnapshot(opts({ dataDir: join(dir, "never"), ...over })), SnapshotErrorCode.InvalidArgument, message);
    await bad({ name: "d" }, /couldn't find local name "d"/);
    await bad({ initialAdvertisePeerUrls: "http://127.0.0.1:9999" }, /--initial-cluster has b=.* but --initial-advertise-peer-urls is/);
    await bad({ initialCluster: "a=http://127.0.0.1:1,b" }, /"b" is not name=peerURL/);
    await bad({ initialCluster: `a=ftp://x:1,b=${urls[1]}` }, /scheme must be http or https/);
    await bad({ initialCluster: `a=http://127.0.0.1,b=${urls[1]}` }, /host:port/);
    await bad({ initialCluster: `a=${urls[1]},b=${urls[1]}` }, /given for both a and b/);
    await bad({ name: "" }, /--name must not be empty/);
    expect(await readdir(dir)).not.toContain("never");
  });

  it("refuses truncated and damaged files, leaving no data dir behind", async () => {
    const target = join(dir, "from-damaged");
    const damaged = join(dir, "damaged.snapshot");
    const attempt = async (file: Buffer, skipHashCheck = false): Promise<string> => {
      await writeFile(damaged, file);
      try {
        await restoreSnapshot(opts({ snapshotPath: damaged, dataDir: target, skipHashCheck }));
        await rm(target, { recursive: true });
        return "ok";
      } catch (err) {
        if (!(err instanceof SnapshotError)) throw err;
        return err.code;
      }
    };
    for (const size of [0, 7, 20, 512, bytes.length - 33, bytes.length - 32, bytes.length - 1]) {
      expect([SnapshotErrorCode.Truncated, SnapshotErrorCode.UnknownFormat]).toContain(await attempt(bytes.subarray(0, size)));
    }
    // Without the trailer only with skipHashCheck, as etcdctl.
    expect(await attempt(bytes.subarray(0, bytes.length - 32))).toBe(SnapshotErrorCode.Truncated);
    expect(await attempt(bytes.subarray(0, bytes.length - 32), true)).toBe("ok");

    const flipped = Buffer.from(bytes);
    flipped[300] = (flipped[300] as number) ^ 0x10;
    expect(await attempt(flipped)).toBe(SnapshotErrorCode.ChecksumMismatch);
    // The MVCC part has its own CRC: damage is still caught without the sha256.
    const inMvcc = Buffer.from(bytes);
    const at = bytes.indexOf(Buffer.from("v1-250"));
    inMvcc[at] = (inMvcc[at] as number) ^ 0x01;
    expect(await attempt(inMvcc, true)).toBe(SnapshotErrorCode.Corrupt);

    const rnd = new SeededRandom(99);
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const copy = Buffer.from(bytes);
      // Half in the JSON header (no checksum of its own), half anywhere before the trailer.
      const pos = 8 + (i % 2 === 0 ? rnd.int(600) : rnd.int(copy.length - 40));
      copy[pos] = (copy[pos] as number) ^ (1 << rnd.int(8));
      seen.add(await attempt(copy, true));
    }
    expect([...seen].every((o) => o === "ok" || Object.values(SnapshotErrorCode).includes(o as SnapshotErrorCode))).toBe(true);
    expect(seen).toContain(SnapshotErrorCode.Corrupt);
    expect((await readdir(dir)).filter((name) => name.includes("from-damaged"))).toEqual([]);
  });

  it("says which file is not a snapshot", async () => {
    const text = join(dir, "notes.txt");
    await writeFile(text, "hello, this is not a snapshot at all".repeat(20));
    await expectSnapshotError(() => snapshotStatus(text), SnapshotErrorCode.UnknownFormat, /notes\.txt.*neither a ketch snapshot nor an etcd/);
    await expectSnapshotError(() => snapshotStatus(dir), SnapshotErrorCode.NotFound, /not a regular file/);
    expect((await readFile(snap)).equals(bytes)).toBe(true);
  });
});
