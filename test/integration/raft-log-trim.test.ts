// The in-memory raft log between snapshots (issue 9): a ketch member drops the entries no peer will
// ask for, read through ketch_raft_log_memory_entries. The leader keeps whatever a member that is
// down lacks, so that member catches up from the log when it comes back, not from a snapshot.

import { Etcd3 } from "etcd3";
import { afterAll, describe, expect, it } from "vitest";

import { scrape, sumOf } from "../prometheus-text.js";
import { destroyAllClusters, eventually, startCluster, type Cluster, type Member } from "./cluster.js";

afterAll(destroyAllClusters, 60_000);

/** ketch-server's LOG_TRIM_STEP plus a margin for entries in flight: the most a leader holds once every member has them. */
const TRIMMED_MAX = 4096 + 1024 + 200;

async function logEntries(member: Member): Promise<number> {
  return sumOf(await scrape(`${member.clientUrl}/metrics`), "ketch_raft_log_memory_entries");
}

async function writeKeys(url: string, prefix: string, count: number): Promise<void> {
  const client = new Etcd3({ hosts: [url] });
  try {
    const parallel = 50;
    for (let start = 0; start < count; start += parallel) {
      const batch: Promise<unknown>[] = [];
      for (let i = start; i < Math.min(count, start + parallel); i++) batch.push(client.put(`${prefix}${i}`).value(`v${i}`).exec());
      await Promise.all(batch);
    }
  } finally {
    client.close();
  }
}

describe("ketch: the in-memory raft log", () => {
  let cluster: Cluster | undefined;

  it("the leader drops what every member holds, keeps what a stopped one lacks, and that one catches up from the log", async () => {
    cluster = await startCluster("ketch", 3);
    const { member: leader } = await cluster.leader();
    await writeKeys(leader.clientUrl, "trim/a/", 6000);
    const trimmed = await eventually("the leader trims its log", 20_000, async () => {
      const n = await logEntries(leader);
      return n < TRIMMED_MAX ? n : undefined;
    });
    expect(trimmed).toBeGreaterThan(0);

    const follower = cluster.members.find((m) => m !== leader) as Member;
    await follower.stop();
    await writeKeys(leader.clientUrl, "trim/b/", 6000);
    expect(await logEntries(leader), "entries kept for the stopped member").toBeGreaterThanOrEqual(6000);

    await follower.start();
    await eventually("the restarted member has every key", 60_000, async () => {
      const client = new Etcd3({ hosts: [follower.clientUrl] });
      try {
        const n = await client.getAll().prefix("trim/b/").count(); // served from its own state once it applied the read index
        return n === 6000 ? true : undefined;
      } finally {
        client.close();
      }
    });
    expect(follower.logTail(2_000_000), "the restarted member's log").not.toContain("installed snapshot from leader");
    await eventually("the leader trims again once the member is back", 20_000, async () => ((await logEntries(leader)) < TRIMMED_MAX ? true : undefined));
  }, 180_000);
});
