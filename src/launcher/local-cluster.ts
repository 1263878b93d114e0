import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dialOverridesFor, freeLoopbackPorts, LinkNetwork, type LinkSpec, partitionPairs, planLinks, type PartitionRequest } from './link-network.js';
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
  /** Extra environment (KETCH_PEER_DIAL_OVERRIDES: its peer links go through the link proxies). */
  env?: Record<string, string>;
}

export interface ClusterState {
  topologyFile: string;
  members: MemberState[];
  /** The process running one TCP proxy per directed peer link, so `partition` can cut links. */
  links?: { pid: number; log: string; specs: LinkSpec[] };
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

/** ketch-cluster itself, which also runs the link proxies (its hidden `__link-proxies` command). */
function launcherEntry(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'cmd', 'ketch-cluster.js');
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

  /**
   * Starts every member of the topology that is not already running. With more than one store
   * member, their peer links first get a proxy each (a process of its own), which `partition`
   * and `heal` control.
   */
  async up(topologyFile: string, topology: Topology): Promise<ClusterState> {
    const previous = existsSync(this.statePath()) ? this.readState() : undefined;
    const stores = topology.members.filter((m) => m.kind === 'store');
    let links = previous?.links;
    if (stores.length > 1 && (links === undefined || !isAlive(links.pid))) {
      // Members still running dial the old proxy ports: keep those; otherwise take fresh ports.
      const reuse = links !== undefined && (previous?.members.some((m) => isAlive(m.pid)) ?? false);
      const specs = reuse && links !== undefined ? links.specs : planLinks(stores, await freeLoopbackPorts(stores.length * (stores.length - 1)));
      links = await this.startLinkProxies(specs);
    }
    const peerUrls = new Map(stores.map((m) => [m.name, peerUrl(m)]));
    const members: MemberState[] = topology.members.map((m) => {
      const old = previous?.members.find((x) => x.name === m.name);
      if (old !== undefined && isAlive(old.pid)) return old;
      const args = this.storeArgs(topology, m);
      const log = join(resolve(this.stateDir), `${m.name}.log`);
      const env: Record<string, string> = links === undefined ? {} : { KETCH_PEER_DIAL_OVERRIDES: dialOverridesFor(m.name, links.specs, peerUrls) };
      return { name: m.name, kind: m.kind, pid: this.spawnMember(args, log, env), url: clientUrl(m), args, log, env };
    });
    const state: ClusterState = { topologyFile: resolve(topologyFile), members, ...(links === undefined ? {} : { links }) };
    this.writeState(state);
    return state;
  }

  /** Starts the link proxy process and waits until it listens on every link. */
  private async startLinkProxies(specs: LinkSpec[]): Promise<NonNullable<ClusterState['links']>> {
    mkdirSync(this.stateDir, { recursive: true });
    writeFileSync(this.linksPath(), `${JSON.stringify(specs, null, 2)}\n`);
    rmSync(this.linksReadyPath(), { force: true });
    const log = join(resolve(this.stateDir), 'link-proxies.log');
    const pid = this.spawnMember([launcherEntry(), '__link-proxies', '--state-dir', resolve(this.stateDir)], log, {});
    const deadline = Date.now() + 15_000;
    while (!existsSync(this.linksReadyPath())) {
      if (!isAlive(pid)) throw new Error(`the link proxy process exited; see ${log}`);
      if (Date.now() > deadline) throw new Error(`the link proxy process did not start within 15 s; see ${log}`);
      await sleep(50);
    }
    return { pid, log, specs };
  }

  private linksPath(): string {
    return join(this.stateDir, 'links.json');
  }

  private linksReadyPath(): string {
    return join(this.stateDir, 'links.ready');
  }

  private partitionPath(): string {
    return join(this.stateDir, 'partition.json');
  }

  private partitionAppliedPath(): string {
    return join(this.stateDir, 'partition.applied');
  }

  /**
   * Cuts every peer link between the named store members and the others (two sides; one name
   * isolates that member), replacing any earlier partition. Resolves once the proxies applied it.
   */
  async partition(names: readonly string[]): Promise<Array<[string, string]>> {
    const state = this.readState();
    const stores = state.members.filter((m) => m.kind === 'store').map((m) => m.name);
    const cut = partitionPairs(stores, names);
    await this.requestCut(state, cut);
    return cut;
  }

  /** Lets all peer traffic through again. */
  async heal(): Promise<void> {
    await this.requestCut(this.readState(), []);
  }

  /** The member pairs cut now (empty when healed or never partitioned). */
  currentCut(): Array<readonly [string, string]> {
    if (!existsSync(this.partitionPath())) return [];
    return [...(JSON.parse(readFileSync(this.partitionPath(), 'utf8')) as PartitionRequest).cut];
  }

  private async requestCut(state: ClusterState, cut: Array<readonly [string, string]>): Promise<void> {
    const links = state.links;
    if (links === undefined) throw new Error('this cluster has no peer links to cut (a single store member)');
    if (!isAlive(links.pid)) throw new Error(`the link proxy process (pid ${links.pid}) is not running; see ${links.log}`);
    const previous = existsSync(this.partitionPath()) ? (JSON.parse(readFileSync(this.partitionPath(), 'utf8')) as PartitionRequest).generation : 0;
    const request: PartitionRequest = { generation: previous + 1, cut };
    writeFileSync(this.partitionPath(), `${JSON.stringify(request)}\n`);
    const deadline = Date.now() + 5_000;
    for (;;) {
      const applied = existsSync(this.partitionAppliedPath()) ? Number(readFileSync(this.partitionAppliedPath(), 'utf8')) : 0;
      if (applied >= request.generation) return;
      if (Date.now() > deadline) throw new Error(`the link proxy process did not apply the change within 5 s; see ${links.log}`);
      await sleep(20);
    }
  }

  /**
   * The link proxy process (`ketch-cluster __link-proxies`): one proxy per link from links.json,
   * then applies partition.json whenever it changes, until SIGTERM.
   */
  static async serveLinks(stateDir: string): Promise<void> {
    const cluster = new LocalCluster(stateDir);
    const specs = JSON.parse(readFileSync(cluster.linksPath(), 'utf8')) as LinkSpec[];
    const network = await LinkNetwork.start(specs);
    let applied = -1;
    const poll = (): void => {
      if (!existsSync(cluster.partitionPath())) return;
      try {
        const request = JSON.parse(readFileSync(cluster.partitionPath(), 'utf8')) as PartitionRequest;
        if (request.generation === applied) return;
        network.apply(request.cut);
        applied = request.generation;
        writeFileSync(cluster.partitionAppliedPath(), String(applied));
        process.stdout.write(`${new Date().toISOString()} partition ${applied}: ${request.cut.length === 0 ? 'healed' : `cut ${request.cut.map(([a, b]) => `${a}-${b}`).join(' ')}`}\n`);
      } catch {
        // A file caught half-written: read it again on the next round.
      }
    };
    poll();
    writeFileSync(cluster.linksReadyPath(), String(process.pid));
    process.stdout.write(`${new Date().toISOString()} ${specs.length} peer link proxies listening\n`);
    const timer = setInterval(poll, 50);
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    clearInterval(timer);
    await network.close();
  }

  private spawnMember(args: string[], log: string, env: Record<string, string> = {}): number {
    mkdirSync(dirname(log), { recursive: true });
    const fd = openSync(log, 'a');
    // Its own process group: Ctrl-C in the launcher's terminal reaches the launcher only, which then
    // stops the members gracefully.
    const child = spawn(process.execPath, args, { stdio: ['ignore', fd, fd], detached: true, env: { ...process.env, ...env } });
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
    m.pid = this.spawnMember(m.args, m.log, m.env ?? {});
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
    // The link proxies go last: members shutting down may still talk to each other.
    if (state.links !== undefined && isAlive(state.links.pid)) {
      process.kill(state.links.pid, 'SIGTERM');
      const until = Date.now() + 5_000;
      while (isAlive(state.links.pid) && Date.now() < until) await sleep(50);
      if (isAlive(state.links.pid)) process.kill(state.links.pid, 'SIGKILL');
    }
    rmSync(this.partitionPath(), { force: true });
    rmSync(this.partitionAppliedPath(), { force: true });
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
