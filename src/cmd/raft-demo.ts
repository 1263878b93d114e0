/**
 * `npm start` until the ketch server exists: three members of the real Raft core in this process,
 * on an in-memory network with real timers (100 ms heartbeat, 1 s election timeout). A client writes
 * continuously; every few seconds the leader is killed (its unpersisted state lost) and later
 * restarted from its "disk", and the time to the next committed write is printed.
 */
import { parseArgs } from 'node:util';
import { bootstrapState } from '../raft/bootstrap.js';
import { RaftNode } from '../raft/raft-node.js';
import {
  type Entry,
  type HardState,
  type Message,
  type PersistedState,
  RaftError,
  type Snapshot,
  StateRole,
} from '../raft/types.js';
import { SeededRandom } from '../util/prng.js';

const TICK_MS = 100;

interface Member {
  readonly id: string;
  node: RaftNode | undefined;
  disk: { hardState: HardState; entries: Entry[]; snapshot: Snapshot | undefined };
  applied: number;
}

function startNode(m: Member, seed: number): void {
  const state: PersistedState = {
    hardState: m.disk.hardState,
    entries: [...m.disk.entries],
    snapshot: m.disk.snapshot,
    confState: { voters: [], learners: [] },
    applied: 0,
  };
  m.applied = 0;
  m.node = new RaftNode(
    {
      id: m.id,
      electionTicks: 10,
      heartbeatTicks: 1,
      random: new SeededRandom(seed),
      preVote: true,
      checkQuorum: true,
      maxSizePerMsg: 1024 * 1024,
      maxInflightMsgs: 256,
      maxInflightBytes: 0,
      maxUncommittedEntriesBytes: 0,
    },
    state,
  );
}

function main(): void {
  const { values } = parseArgs({
    options: {
      'kill-every': { type: 'string', default: '5' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: npm start [-- --kill-every SECONDS]\n');
    return;
  }
  const killEveryMs = Number(values['kill-every']) * 1000;
  if (!(killEveryMs > 0)) {
    process.stderr.write('error: --kill-every takes a positive number of seconds\n');
    process.exitCode = 2;
    return;
  }
  const ids = ['n1', 'n2', 'n3'];
  const boot = bootstrapState(ids.map((id) => ({ id })));
  const members = new Map<string, Member>();
  for (const id of ids) {
    const m: Member = {
      id,
      node: undefined,
      disk: { hardState: boot.hardState, entries: [...boot.entries], snapshot: undefined },
      applied: 0,
    };
    startNode(m, ids.indexOf(id) + 1);
    members.set(id, m);
  }
  let seed = 100;
  let committedWrites = 0;
  let killedAt: { id: string; at: number } | undefined;
  let restartTimer: NodeJS.Timeout | undefined;
  const say = (line: string): void => {
    process.stdout.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
  };

  const deliver = (msg: Message): void => {
    setImmediate(() => {
      const to = members.get(msg.to);
      if (to?.node === undefined) return;
      to.node.step(msg);
      pump(to);
    });
  };

  const pump = (m: Member): void => {
    const node = m.node;
    if (node === undefined || !node.hasReady()) return;
    const rd = node.ready();
    if (rd.softState?.role === StateRole.Leader) say(`${m.id} is leader (term ${node.basicStatus().term})`);
    rd.messages.forEach(deliver);
    if (rd.entries.length > 0) {
      const first = (rd.entries[0] as Entry).index;
      m.disk.entries = m.disk.entries.filter((e) => e.index < first).concat(rd.entries);
    }
    if (rd.hardState !== undefined) m.disk.hardState = rd.hardState;
    rd.messagesAfterPersist.forEach(deliver);
    for (const e of rd.committedEntries) {
      m.applied = e.index;
      if (e.data.length > 0 && e.type === 0 && node.basicStatus().role === StateRole.Leader) {
        committedWrites++;
        if (killedAt !== undefined) {
          say(`first write committed ${Date.now() - killedAt.at} ms after ${killedAt.id} was killed`);
          killedAt = undefined;
        }
      }
    }
    node.advance();
    if (node.hasReady()) setImmediate(() => pump(m));
  };

  const leader = (): Member | undefined =>
    [...members.values()].find((m) => m.node?.basicStatus().role === StateRole.Leader);

  const ticker = setInterval(() => {
    for (const m of members.values()) {
      m.node?.tick();
      pump(m);
    }
  }, TICK_MS);
  const writer = setInterval(() => {
    const l = leader();
    if (l?.node === undefined) return;
    try {
      l.node.propose(new TextEncoder().encode(`write at ${Date.now()}`));
      pump(l);
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
    }
  }, 20);
  const reporter = setInterval(() => {
    const roles = [...members.values()]
      .map((m) => `${m.id}:${m.node === undefined ? 'down' : `${m.node.basicStatus().role}/applied ${m.applied}`}`)
      .join('  ');
    say(`${committedWrites} writes committed so far; ${roles}`);
  }, 2000);
  const killer = setInterval(() => {
    const l = leader();
    if (l === undefined) return;
    say(`kill -9 ${l.id} (the leader); it restarts from its disk in 2 s`);
    l.node = undefined;
    killedAt = { id: l.id, at: Date.now() };
    restartTimer = setTimeout(() => {
      startNode(l, seed++);
      say(`${l.id} restarted`);
    }, 2000);
  }, killEveryMs);

  say('3-member Raft cluster in this process (heartbeat 100 ms, election timeout 1 s); Ctrl-C stops it');
  const stop = (): void => {
    for (const t of [ticker, writer, reporter, killer]) clearInterval(t);
    clearTimeout(restartTimer);
    say(`stopped; ${committedWrites} writes committed`);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main();
