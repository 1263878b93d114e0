import { spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { dialOverridesFor, freeLoopbackPorts, LinkNetwork, type LinkSpec, partitionPairs, planLinks, type PartitionRequest } from './link-network.js';
import { launcherEntry, leaseOf, memberArgs } from './member-commands.js';
import { adminAccess, adminKubeconfig, ensureClusterPki, kubeconfigText } from './cluster-pki.js';
import { apiReady, fetchMetrics, loggedIdentity, nodesReady, readLease, storeHealthy, type ApiAccess } from './probes.js';
import { memberUrl, nodeNames, peerUrl, START_TIERS, stores, type MemberKind, type Topology } from './topology.js';
import { withKetchProcessEnv } from '../util/ketch-process-env.js';

/**
 * Runs the members of a topology as separate processes on this machine, tier by tier (stores,
 * apiservers, the lb, then schedulers, controller managers and kubelets), remembering their pids
 * in <state-dir>/state.json so later commands (status, kill, stop, start, down) find them.
 */

export interface MemberState {
  name: string;
  kind: MemberKind;
  pid: number;
  /** Client URL of a store, HTTP URL of an apiserver or the lb; '' for the others. */
  url: string;
  args: string[];
  log: string;
  /** Size of the log when the launcher last started the member: its identity is logged after it. */
  logStart?: number;
  /** Extra environment (KETCH_PEER_DIAL_OVERRIDES: its peer links go through the link proxies). */
  env?: Record<string, string>;
  /** The Lease a scheduler or controller manager competes for. */
  lease?: { namespace: string; name: string };
  /** The nodes a kubelet runs. */
  nodes?: string[];
}

export interface ClusterState {
  topologyFile: string;
  members: MemberState[];
  /** The process running one TCP proxy per directed peer link, so `partition` can cut links. */
  links?: { pid: number; log: string; specs: LinkSpec[] };
  /** The kubeconfig `up` wrote (pointing at the lb, or the first apiserver without one). */
  kubeconfig?: string;
  /** The topology runs with TLS: the PKI is in <state-dir>/pki, the API needs the admin certificate. */
  tls?: boolean;
}

export interface MemberStatus {
  name: string;
  kind: MemberKind;
  pid: number;
  up: boolean;
  paused: boolean;
  /** Raft leader (store), current holder of its Lease (scheduler, controller manager); else false. */
  leader: boolean;
  url: string;
  term?: number;
  index?: number;
  /** The Lease a scheduler or controller manager competes for, as namespace/name. */
  lease?: string;
}

export interface LeaseStatus {
  lease: string;
  /** The member holding it now, if any (an unrenewed Lease has none). */
  holder?: string;
  holderIdentity?: string;
}

/** Up to how long each tier may take to become healthy. */
const TIER_TIMEOUT_MS: Record<MemberKind, number> = { store: 30_000, apiserver: 30_000, lb: 15_000, scheduler: 60_000, 'controller-manager': 60_000, kubelet: 60_000 };

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

  /**
   * Starts every member of the topology that is not already running, one tier at a time, each
   * tier healthy before the next starts. With more than one store member, their peer links first
   * get a proxy each (a process of its own), which `partition` and `heal` control.
   */
  async up(topologyFile: string, topology: Topology, onTier: (kinds: readonly MemberKind[], names: string[]) => void = () => undefined, signal?: AbortSignal): Promise<ClusterState> {
    const previous = existsSync(this.statePath()) ? this.readState() : undefined;
    const storeMembers = stores(topology);
    let links = previous?.links;
    if (storeMembers.length > 1 && (links === undefined || !isAlive(links.pid))) {
      // Members still running dial the old proxy ports: keep those; otherwise take fresh ports.
      const reuse = links !== undefined && (previous?.members.some((m) => isAlive(m.pid)) ?? false);
      const specs = reuse && links !== undefined ? links.specs : planLinks(storeMembers, await freeLoopbackPorts(storeMembers.length * (storeMembers.length - 1)));
      links = await this.startLinkProxies(specs);
    }
    const peerUrls = new Map(storeMembers.map((m) => [m.name, peerUrl(m)]));
    const state: ClusterState = { topologyFile: resolve(topologyFile), members: [], ...(links === undefined ? {} : { links }), ...(topology.tls ? { tls: true } : {}) };
    if (topology.tls) await ensureClusterPki(this.stateDir, topology);
    const lb = topology.members.find((m) => m.kind === 'lb') ?? topology.members.find((m) => m.kind === 'apiserver');
    if (lb !== undefined) state.kubeconfig = this.writeKubeconfig(topology.name, memberUrl(lb), topology.tls);
    for (const kinds of START_TIERS) {
      const tier = topology.members.filter((m) => kinds.includes(m.kind));
      if (tier.length === 0) continue;
      onTier(kinds, tier.map((m) => m.name));
      for (const m of tier) {
        const old = previous?.members.find((x) => x.name === m.name);
        if (old !== undefined && isAlive(old.pid)) {
          state.members.push(old);
          continue;
        }
        const args = memberArgs(topology, m, this.stateDir);
        const log = join(resolve(this.stateDir), `${m.name}.log`);
        const env: Record<string, string> = m.kind === 'store' && links !== undefined ? { KETCH_PEER_DIAL_OVERRIDES: dialOverridesFor(m.name, links.specs, peerUrls) } : {};
        const lease = leaseOf(m);
        state.members.push({
          name: m.name,
          kind: m.kind,
          url: memberUrl(m),
          args,
          log,
          env,
          ...this.spawnMember(args, log, env),
          ...(lease === undefined ? {} : { lease }),
          ...(m.kind === 'kubelet' ? { nodes: nodeNames(m) } : {}),
        });
      }
      // Written after every tier, so `down` finds what a failed `up` started.
      this.writeState(state);
      await this.waitHealthy(kinds, Math.max(...kinds.map((k) => TIER_TIMEOUT_MS[k])), signal);
    }
    return state;
  }

  /** Members still running from an earlier `up` that `topology` does not name (up would lose track of them). */
  strayMembers(topology: Topology): string[] {
    if (!existsSync(this.statePath())) return [];
    return this.readState()
      .members.filter((m) => isAlive(m.pid) && !topology.members.some((t) => t.name === m.name && t.kind === m.kind))
      .map((m) => m.name);
  }

  /** A kubeconfig whose one context points at `server`: the admin's certificate with TLS, no credentials without. */
  private writeKubeconfig(name: string, server: string, tls: boolean): string {
    const path = join(resolve(this.stateDir), 'kubeconfig');
    mkdirSync(this.stateDir, { recursive: true });
    writeFileSync(path, tls ? adminKubeconfig(this.stateDir, name, server) : kubeconfigText(name, server), { mode: 0o600 });
    return path;
  }

  /** Starts the link proxy process and waits until it listens on every link. */
  private async startLinkProxies(specs: LinkSpec[]): Promise<NonNullable<ClusterState['links']>> {
    mkdirSync(this.stateDir, { recursive: true });
    writeFileSync(this.linksPath(), `${JSON.stringify(specs, null, 2)}\n`);
    rmSync(this.linksReadyPath(), { force: true });
    const log = join(resolve(this.stateDir), 'link-proxies.log');
    const { pid } = this.spawnMember([launcherEntry(), '__link-proxies', '--state-dir', resolve(this.stateDir)], log, {});
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

  private spawnMember(args: string[], log: string, env: Record<string, string> = {}): { pid: number; logStart: number } {
    mkdirSync(dirname(log), { recursive: true });
    const fd = openSync(log, 'a');
    const logStart = statSync(log).size;
    // Its own process group: Ctrl-C in the launcher's terminal reaches the launcher only, which then
    // stops the members gracefully.
    const child = spawn(process.execPath, args, { stdio: ['ignore', fd, fd], detached: true, env: withKetchProcessEnv({ ...process.env, ...env }) });
    closeSync(fd);
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${args.join(' ')}`);
    return { pid: child.pid, logStart };
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

  /** Starts a stopped or killed member again (a store with its data dir). */
  start(name: string): void {
    const state = this.readState();
    const m = state.members.find((x) => x.name === name);
    if (m === undefined) throw new Error(`no member named ${name}; members: ${state.members.map((x) => x.name).join(', ')}`);
    if (isAlive(m.pid)) throw new Error(`${name} is already running (pid ${m.pid})`);
    Object.assign(m, this.spawnMember(m.args, m.log, m.env ?? {}));
    this.writeState(state);
  }

  /**
   * Stops the members in the reverse of the start order (kubelets and leader-elected components
   * first, stores last), each tier with SIGTERM (graceful: leaders hand over) and SIGKILL for what
   * is left after the grace time; the link proxies go last.
   */
  async down(graceMs = 15_000): Promise<void> {
    const state = this.readState();
    for (const kinds of [...START_TIERS].reverse()) {
      const tier = state.members.filter((m) => kinds.includes(m.kind));
      for (const m of tier) signalIfAlive(m.pid, 'SIGCONT');
      for (const m of tier) signalIfAlive(m.pid, 'SIGTERM');
      const deadline = Date.now() + graceMs;
      while (tier.some((m) => isAlive(m.pid)) && Date.now() < deadline) await sleep(100);
      for (const m of tier) signalIfAlive(m.pid, 'SIGKILL');
    }
    // Members of kinds this version does not know (an old state file) must not be left behind.
    for (const m of state.members) signalIfAlive(m.pid, 'SIGKILL');
    if (state.links !== undefined && isAlive(state.links.pid)) {
      signalIfAlive(state.links.pid, 'SIGTERM');
      const until = Date.now() + 5_000;
      while (isAlive(state.links.pid) && Date.now() < until) await sleep(50);
      signalIfAlive(state.links.pid, 'SIGKILL');
    }
    rmSync(this.partitionPath(), { force: true });
    rmSync(this.partitionAppliedPath(), { force: true });
  }

  /** How the launcher's probes authenticate to the API and the store: the admin's certificate in a TLS cluster. */
  apiAccess(state: ClusterState = this.readState()): ApiAccess {
    if (state.tls !== true) return {};
    this.access ??= adminAccess(this.stateDir);
    return this.access;
  }

  private access: ApiAccess | undefined;

  /** URLs to reach the Kubernetes API through: the lb first, then every apiserver that is up. */
  private apiUrls(state: ClusterState): string[] {
    const api = state.members.filter((m) => (m.kind === 'lb' || m.kind === 'apiserver') && isAlive(m.pid));
    return [...api.filter((m) => m.kind === 'lb'), ...api.filter((m) => m.kind === 'apiserver')].map((m) => m.url);
  }

  /** Who holds each Lease of the cluster's schedulers and controller managers, mapped to members. */
  async leases(state: ClusterState = this.readState()): Promise<LeaseStatus[]> {
    const byLease = new Map<string, MemberState[]>();
    for (const m of state.members) {
      if (m.lease === undefined) continue;
      const key = `${m.lease.namespace}/${m.lease.name}`;
      byLease.set(key, [...(byLease.get(key) ?? []), m]);
    }
    const apiUrls = this.apiUrls(state);
    const access = this.apiAccess(state);
    return Promise.all(
      [...byLease].map(async ([key, candidates]): Promise<LeaseStatus> => {
        const [namespace, name] = key.split('/') as [string, string];
        const view = await readLease(apiUrls, namespace, name, access);
        if (view === undefined || !view.current || view.holderIdentity === undefined) return { lease: key };
        const holder = candidates.find((m) => isAlive(m.pid) && loggedIdentity(m.log, m.logStart ?? 0) === view.holderIdentity);
        return { lease: key, holderIdentity: view.holderIdentity, ...(holder === undefined ? {} : { holder: holder.name }) };
      }),
    );
  }

  async status(): Promise<MemberStatus[]> {
    const state = this.readState();
    const leases = await this.leases(state);
    const holders = new Set(leases.map((l) => l.holder).filter((h) => h !== undefined));
    return Promise.all(
      state.members.map(async (m): Promise<MemberStatus> => {
        const up = isAlive(m.pid);
        const paused = up && isPaused(m.pid);
        const metrics = m.kind === 'store' && up && !paused ? await fetchMetrics(m.url, this.apiAccess(state)) : undefined;
        const row: MemberStatus = { name: m.name, kind: m.kind, pid: m.pid, up, paused, leader: false, url: m.url };
        if (m.kind === 'store') {
          row.leader = metrics?.get('etcd_server_is_leader') === 1;
          row.term = metrics?.get('etcd_server_term');
          row.index = metrics?.get('etcd_server_proposals_applied_total');
        }
        if (m.lease !== undefined) {
          row.lease = `${m.lease.namespace}/${m.lease.name}`;
          row.leader = holders.has(m.name);
        }
        return row;
      }),
    );
  }

  /** Waits until every member of the given kinds is healthy (see `memberHealthy`). */
  async waitHealthy(kinds: readonly MemberKind[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const state = this.readState();
    const tier = state.members.filter((m) => kinds.includes(m.kind));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      signal?.throwIfAborted();
      const leases = tier.some((m) => m.lease !== undefined) ? await this.leases(state) : [];
      const healthy = await Promise.all(tier.map((m) => this.memberHealthy(state, m, leases)));
      if (healthy.every(Boolean)) return;
      const dead = tier.filter((m) => !isAlive(m.pid));
      if (dead.length > 0) {
        const tails = dead.map((m) => `--- last lines of ${m.log}:\n${logTail(m.log, 8)}`).join('\n');
        throw new Error(`${dead.map((m) => m.name).join(', ')} exited; see ${dead.map((m) => m.log).join(', ')}\n${tails}`);
      }
      if (Date.now() > deadline) {
        const sick = tier.filter((_, i) => !healthy[i]);
        throw new Error(`${sick.map((m) => m.name).join(', ')} not healthy within ${timeoutMs / 1000} s; see ${sick.map((m) => m.log).join(', ')}`);
      }
      await sleep(200);
    }
  }

  /**
   * A store answers /health with a leader; an apiserver (and the lb, through it) answers /readyz;
   * a scheduler's or controller manager's Lease has a current holder among the members; a
   * kubelet's nodes are Ready.
   */
  private async memberHealthy(state: ClusterState, m: MemberState, leases: LeaseStatus[]): Promise<boolean> {
    if (!isAlive(m.pid)) return false;
    switch (m.kind) {
      case 'store':
        return storeHealthy(m.url, this.apiAccess(state));
      case 'apiserver':
      case 'lb':
        return apiReady(m.url, this.apiAccess(state));
      case 'scheduler':
      case 'controller-manager': {
        if (m.lease === undefined) return true;
        const key = `${m.lease.namespace}/${m.lease.name}`;
        return leases.some((l) => l.lease === key && l.holder !== undefined);
      }
      case 'kubelet':
        return nodesReady(this.apiUrls(state), m.nodes ?? [], this.apiAccess(state));
    }
  }
}

/**
 * Sends `signal` to a process that is still running; one that exits between the check and the
 * signal (ESRCH: a tier member that ended on the previous signal) is not an error.
 */
function signalIfAlive(pid: number, signal: NodeJS.Signals): void {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
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

/** Stopped by SIGSTOP (`pause`). */
export function isPaused(pid: number): boolean {
  return processState(pid) === 'T';
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

/** The last `lines` lines of a member's log (each cut to 400 characters), so an error shows why it died. */
function logTail(path: string, lines: number): string {
  const TAIL_BYTES = 64 * 1024; // a log holds every earlier life of the member too: read only its end
  try {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      const buf = Buffer.alloc(Math.min(size, TAIL_BYTES));
      readSync(fd, buf, 0, buf.length, size - buf.length);
      const text = buf.toString('utf8').trimEnd();
      if (text === '') return '(empty)';
      return text
        .split('\n')
        .slice(-lines)
        .map((l) => (l.length > 400 ? `${l.slice(0, 400)}...` : l))
        .join('\n');
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    return `(cannot read it: ${(error as Error).message})`;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
