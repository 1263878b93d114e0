// Measures restoreSnapshot (wall and CPU time per run) on a snapshot file:
//   node dist/test/snapshot/measure-restore.js [SNAPSHOT_FILE] [RUNS]
// Without a file it builds a ketch snapshot of 10,000 keys (with overwrites, deletes and a
// compaction, framed as the Snapshot RPC frames it) and measures that.

import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { MvccStore } from "../../src/mvcc/index.js";
import { encodeStateSnapshot } from "../../src/server/state-snapshot.js";
import { restoreSnapshot } from "../../src/snapshot/index.js";
import { delReq, putReq } from "../mvcc/helpers.js";

async function tenThousandKeys(path: string): Promise<void> {
  const store = new MvccStore();
  const key = (i: number): string => `/snap/key-${String(i).padStart(5, "0")}`;
  for (let i = 0; i < 10_000; i++) store.put(putReq(key(i), `v1-${i}`));
  for (let i = 0; i < 1_000; i++) store.put(putReq(key(i), `v2-${i}`));
  store.compact(store.currentRevision);
  for (let i = 9_000; i < 9_500; i++) store.deleteRange(delReq(key(i)));
  const body = encodeStateSnapshot({
    applied: 1,
    membership: { members: [], removed: [], alarms: [] },
    leases: [],
    mvcc: store.exportSnapshot(),
  });
  const padded = Buffer.alloc(Math.ceil((body.length + 8) / 512) * 512);
  padded.writeBigUInt64BE(BigInt(body.length), 0);
  body.copy(padded, 8);
  await writeFile(path, Buffer.concat([padded, createHash("sha256").update(padded).digest()]));
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "ketch-measure-restore-"));
  try {
    const file = process.argv[2] ?? join(dir, "ten-thousand.snapshot");
    if (process.argv[2] === undefined) await tenThousandKeys(file);
    const runs = Number(process.argv[3] ?? 5);
    for (let run = 0; run < runs; run++) {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const r = await restoreSnapshot({
        snapshotPath: file,
        name: "m1",
        initialCluster: "m1=http://127.0.0.1:2380,m2=http://127.0.0.1:2381,m3=http://127.0.0.1:2382",
        initialAdvertisePeerUrls: "http://127.0.0.1:2380",
        dataDir: join(dir, `restored-${run}`),
      });
      const wallMs = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      console.log(
        `run ${run + 1}: ${r.format} snapshot, ${r.keys} keys, ${r.revisions} revisions, revision ${r.revision}: ` +
          `wall ${wallMs.toFixed(0)} ms, cpu ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
