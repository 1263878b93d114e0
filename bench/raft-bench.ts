/**
 * Throughput of the Raft core alone: a 3-member cluster in one process, messages delivered at once,
 * "disk" writes free. What it measures is the core's own CPU cost per committed entry, the ceiling
 * the server can never exceed.
 *   npm run build && npm run bench:raft [-- --seconds 3]
 */
import { parseArgs } from 'node:util';
import { bootstrapState } from '../src/raft/bootstrap.js';
import { RaftNode } from '../src/raft/raft-node.js';
import { type Message, StateRole } from '../src/raft/types.js';
import { SeededRandom } from '../src/util/prng.js';

interface Row {
  batch: number;
  valueBytes: number;
  committed: number;
  seconds: number;
  perSecond: number;
  cpuMicrosPerEntry: number;
}

function cluster(): RaftNode[] {
  const ids = ['a', 'b', 'c'];
  const boot = bootstrapState(ids.map((id) => ({ id })));
  return ids.map(
    (id, i) =>
      new RaftNode(
        {
          id,
          electionTicks: 10,
          heartbeatTicks: 1,
          random: new SeededRandom(i + 1),
          preVote: true,
          checkQuorum: true,
          maxSizePerMsg: 1024 * 1024,
          maxInflightMsgs: 256,
          maxInflightBytes: 0,
          maxUncommittedEntriesBytes: 0,
        },
        boot,
      ),
  );
}

/** Runs every node's Ready loop and delivers messages until nothing moves. Returns entries applied on `counted`. */
function settle(nodes: RaftNode[], counted: RaftNode): number {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  let applied = 0;
  let moved = true;
  while (moved) {
    moved = false;
    const outbox: Message[] = [];
    for (const n of nodes) {
      if (!n.hasReady()) continue;
      moved = true;
      const rd = n.ready();
      outbox.push(...rd.messages, ...rd.messagesAfterPersist);
      if (n === counted) applied += rd.committedEntries.length;
      n.advance();
    }
    for (const m of outbox) byId.get(m.to)?.step(m);
  }
  return applied;
}

function measure(batch: number, valueBytes: number, seconds: number): Row {
  const nodes = cluster();
  const leader = nodes[0] as RaftNode;
  settle(nodes, leader);
  leader.campaign();
  settle(nodes, leader);
  if (leader.basicStatus().role !== StateRole.Leader) throw new Error('no leader elected');
  const value = new Uint8Array(valueBytes).fill(7);
  let committed = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(Math.round(seconds * 1e9));
  let rounds = 0;
  while (process.hrtime.bigint() < deadline) {
    for (let i = 0; i < batch; i++) leader.propose(value);
    committed += settle(nodes, leader);
    // Keep the log short, as the server's snapshots do.
    if (++rounds % 64 === 0) {
      for (const n of nodes) n.createSnapshot(new Uint8Array(), n.basicStatus().applied - 100);
    }
  }
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return {
    batch,
    valueBytes,
    committed,
    seconds: Number(elapsed.toFixed(2)),
    perSecond: Math.round(committed / elapsed),
    cpuMicrosPerEntry: Number(((cpu.user + cpu.system) / committed).toFixed(2)),
  };
}

function main(): void {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '2' } } });
  const seconds = Number(values.seconds);
  const rows: Row[] = [];
  for (const batch of [1, 16, 256]) rows.push(measure(batch, 256, seconds));
  process.stdout.write('Raft core, 3 members in one process, 256-byte values, delivery and disk free\n');
  process.stdout.write('proposals/round  committed/s  CPU us/entry (all 3 members)\n');
  for (const r of rows) {
    process.stdout.write(`${String(r.batch).padStart(15)}  ${String(r.perSecond).padStart(11)}  ${String(r.cpuMicrosPerEntry).padStart(12)}\n`);
  }
  process.stdout.write(`${JSON.stringify({ node: process.version, rows })}\n`);
}

main();
