import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync, closeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clientUrl, peerUrl, type Topology, type TopologyMember } from './topology.js';

/**
 * Runs the members of a topology as separate processes on this machine, remembering their pids in
 * <state-dir>/state.json so later commands (status, kill, stop, start, down) find them.
 */

export interface MemberState {
  name: string;
  kind: string;
  pid: number;
  url: string;
  args: string[];
  log: string;
}

export interface ClusterState {
  topologyFile: string;
  members: MemberState[];
}

export interface MemberStatus {
  name: string;
  kind: string;
  pid: number;
  up: boolean;
  paused: boolean;
  leader: boolean;
  url: string;
  term?: number;
  appliedIndex?: number;
}

/** The compiled ketch program next to this module (dist/src/launcher → dist/src/cmd). */
function ketchEntry(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'cmd', 'ketch.js');
}

export class LocalCluster {
  constructor(readonly stateDir: string) {}

  private statePath(): string {
    return join(this.stateDir, 'state.json');
  }

  readState(): ClusterState {
    if (!existsSync(this.statePath())) {
      throw new Error(`no cluster state in ${this.stateDir}; start one with 'ketch-cluster up'`);
    }
    return JSON.parse(readFileSync(this.statePath(), 'utf8')) as ClusterState;
  }

  private writeState(state: ClusterState): void {
    mkdirSync(this.stateDir, { recursive: true });
    writeFileSync(this.statePath(), `${JSON.stringify(state, null, 2)}\n`);
  }

  /** The ketch command line for a store member (etcd's flags). */
  storeArgs(topology: Topology, m: TopologyMember): string[] {
    const stores = topology.members.filter((x) => x.kind === 'store');
    const initialCluster = stores.map((x) => `${x.name}=${peerUrl(x)}`).join(',');
    const args = [
      ketchEntry(),
      '--name', m.name,
      '--data-dir', join(resolve(this.stateDir), m.name),
      '--listen-client-urls', clientUrl(m),
      '--advertise-client-urls', clientUrl(m),
      '--listen-peer-urls', peerUrl(m),
      '--initial-advertise-peer-urls', peerUrl(m),
      '--initial-cluster', initialCluster,
      '--initial-cluster-token', topology.name,
      '--initial-cluster-state', 'new',
    ];
    for (const [k, v] of Object.entries(m.flags)) args.push(`--${k}`, v);
    return args;
  }

  /** Starts every member of the topology that is not already running. */
  up(topologyFile: string, topology: Topology): ClusterState {
    const previous = existsSync(this.statePath()) ? this.readState() : undefined;
    const members: MemberState[] = topology.members.map((m) => {
      const old = previous?.members.find((x) => x.name === m.name);
      if (old !== undefined && isAlive(old.pid)) return old;
      const args = this.storeArgs(topology, m);
      const log = join(resolve(this.stateDir), `${m.name}.log`);
      return { name: m.name, kind: m.kind, pid: this.spawnMember(args, log), url: clientUrl(m), args, log };
    });
    const state = { topologyFile: resolve(topologyFile), members };
    this.writeState(state);
    return state;
  }

  private spawnMember(args: string[], log: string): number {
    mkdirSync(dirname(log), { recursive: true });
    const fd = openSync(log, 'a');
    // Its own process group: Ctrl-C in the launcher's terminal reaches the launcher only, which then
    // stops the members gracefully.
    const child = spawn(process.execPath, args, { stdio: ['ignore', fd, fd], detached: true });
    closeSync(fd);
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${args.join(' ')}`);
    return child.pid;
  }

  member(name: string): MemberState {
    const m = this.readState().members.find((x) => x.name === name);
    if (m === undefined) {
      throw new Error(`no member named ${name}; members: ${this.readState().members.map((x) => x.name).join(', ')}`);
    }
    return m;
  }

  signal(name: string, sig: NodeJS.Signals): void {
    const m = this.member(name);
    if (!isAlive(m.pid)) throw new Error(`${name} is not running`);
    process.kill(m.pid, sig);
  }

  /** Starts a stopped or killed member again with its data dir. */
  start(name: string): void {
    const state = this.readState();
    const m = state.members.find((x) => x.name === name);
    if (m === undefined) throw new Error(`no member named ${name}`);
    if (isAlive(m.pid)) throw new Error(`${name} is already running (pid ${m.pid})`);
    m.pid = this.spawnMember(m.args, m.log);
    this.writeState(state);
  }

  /** SIGTERM every member (graceful: a leader hands over first), SIGKILL what is left after the grace time. */
  async down(graceMs = 15_000): Promise<void> {
    const state = this.readState();
    for (const m of state.members) if (isAlive(m.pid)) process.kill(m.pid, 'SIGCONT');
    for (const m of state.members) if (isAlive(m.pid)) process.kill(m.pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (state.members.some((m) => isAlive(m.pid)) && Date.now() < deadline) await sleep(100);
    for (const m of state.members) if (isAlive(m.pid)) process.kill(m.pid, 'SIGKILL');
  }

  async status(): Promise<MemberStatus[]> {
    const state = this.readState();
    return Promise.all(
      state.members.map(async (m) => {
        const up = isAlive(m.pid);
        const paused = up && processState(m.pid) === 'T';
        const metrics = up && !paused ? await fetchMetrics(m.url) : undefined;
        return {
          name: m.name,
          kind: m.kind,
          pid: m.pid,
          up,
          paused,
          leader: metrics?.get('etcd_server_is_leader') === 1,
          url: m.url,
          term: metrics?.get('etcd_server_term'),
          appliedIndex: metrics?.get('etcd_server_proposals_applied_total'),
        };
      }),
    );
  }

  /** Waits until every member answers /health with a leader. */
  async waitHealthy(timeoutMs: number): Promise<void> {
    const state = this.readState();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const healthy = await Promise.all(state.members.map((m) => health(m.url)));
      if (healthy.every(Boolean)) return;
      const dead = state.members.filter((m) => !isAlive(m.pid));
      if (dead.length > 0) {
        throw new Error(`${dead.map((m) => m.name).join(', ')} exited; see ${dead.map((m) => m.log).join(', ')}`);
      }
      if (Date.now() > deadline) throw new Error(`the cluster was not healthy within ${timeoutMs / 1000} s; see the logs in ${this.stateDir}`);
      await sleep(200);
    }
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return processState(pid) !== 'Z';
  } catch {
    return false;
  }
}

/** The state letter of /proc/<pid>/stat (R, S, T for stopped, Z for zombie), or undefined. */
function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

async function health(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1500) });
    return res.ok;
  } catch {
    return false;
  }
}

async function fetchMetrics(url: string): Promise<Map<string, number> | undefined> {
  try {
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(1500) });
    const out = new Map<string, number>();
    for (const line of (await res.text()).split('\n')) {
      const m = /^([a-z_]+) ([0-9.e+-]+)$/.exec(line);
      if (m !== null) out.set(m[1] as string, Number(m[2]));
    }
    return out;
  } catch {
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
