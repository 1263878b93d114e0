// The cluster under test: N real member processes (ketch or etcd 3.4) on loopback ports, with all
// peer traffic through LinkProxy instances the harness controls.
//
// Partition mechanism (the same cuts for both implementations, realised differently):
// - ketch: one proxy per directed link i→j. Member i dials member j's peer URL through proxy
//   (i→j), told by KETCH_PEER_DIAL_OVERRIDES. Cutting {i, j} cuts both proxies.
// - etcd 3.4 cannot rewrite its dials, so each member advertises an inbound proxy as its peer URL.
//   Every rafthttp request names its sender in `X-Server-From`, so the proxy of j knows which
//   member each connection comes from, and cutting {i, j} cuts i's connections at j's proxy and j's
//   at i's. (Requests without that header, the /version and /members probes, pass.)
// Either way a cut is symmetric per pair of members; partitions are sets of cut pairs.

import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, closeSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { type CutMode, etcdServerFromIdentifier, LinkProxy } from '../../src/launcher/link-proxy.js';
import { withKetchProcessEnv } from '../../src/util/ketch-process-env.js';
import { freePorts } from '../api/free-port.js';
import { etcdBinary, ketchEntry, repoRoot } from './paths.js';
import { hexId, RawClient } from './raw-client.js';

export type Impl = 'ketch' | 'etcd';

export interface TortureClusterOptions {
  readonly impl: Impl;
  readonly members: number;
  /** Data dirs and member logs go here. */
  readonly rootDir: string;
  readonly snapshotCount: number;
  readonly heartbeatMs: number;
  readonly electionTimeoutMs: number;
  readonly token: string;
}

const host = '127.0.0.1';

/** A member position: fixed name and ports; removing and re-adding it starts a new generation. */
export class Slot {
  generation = 1;
  child: ChildProcess | undefined;
  exited: Promise<void> | undefined;
  paused = false;
  /** Set while the harness itself ends the process, so other exits can be reported. */
  killing = false;
  /** Set while a removal is in flight: the member may shut itself down on applying it. */
  removing = false;
  /** IDs of this slot's earlier generations, removed from the cluster. */
  readonly removedIds = new Set<string>();
  /** Member ID (hex) of the current generation, once known. */
  idHex: string | undefined;
  /** Whether the current generation is a member of the cluster (false between remove and add). */
  inCluster = true;
  /** --initial-cluster and --initial-cluster-state of the current generation. */
  initialCluster = '';
  initialState: 'new' | 'existing' = 'new';
  readonly admin: RawClient;

  constructor(
    readonly index: number,
    readonly name: string,
    readonly clientPort: number,
    /** The port the member listens on for peers. */
    readonly listenPeerPort: number,
    /** The peer URL it advertises (ketch: its own; etcd: its inbound proxy). */
    readonly peerUrl: string,
    readonly logPath: string,
    private readonly rootDir: string,
  ) {
    this.admin = new RawClient(this.clientUrl);
  }

  get clientUrl(): string {
    return `http://${host}:${this.clientPort}`;
  }

  get dataDir(): string {
    return join(this.rootDir, 'data', `${this.name}.g${this.generation}`);
  }

  get running(): boolean {
    return this.child !== undefined;
  }
}

const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
});

export class TortureCluster {
  readonly slots: Slot[] = [];
  /** ketch: proxies[i][j] carries i's connections to j. etcd: proxies[j][j] is j's inbound proxy. */
  private readonly proxies: Array<Array<LinkProxy | undefined>> = [];
  private cutPairs: Array<[number, number]> = [];
  private cutMode: CutMode = 'drop';
  /** One line per harness action, for the report. */
  readonly events: string[] = [];
  /** Member processes that ended without the harness killing them (a crash is a bug). */
  readonly unexpectedExits: string[] = [];
  private readonly t0 = Date.now();

  private constructor(readonly opts: TortureClusterOptions) {}

  static async create(opts: TortureClusterOptions): Promise<TortureCluster> {
    const c = new TortureCluster(opts);
    mkdirSync(join(opts.rootDir, 'logs'), { recursive: true });
    mkdirSync(join(opts.rootDir, 'data'), { recursive: true });
    const n = opts.members;
    // Every port of the run comes from one batch, the proxies' too: a proxy that asked the kernel for
    // any port could get a member port freePorts had just released (seen: m1 then failed to listen).
    const proxyCount = opts.impl === 'ketch' ? n * (n - 1) : 0;
    const ports = await freePorts(3 * n + proxyCount, host);
    const proxyPorts = ports.slice(3 * n);
    for (let i = 0; i < n; i++) {
      const clientPort = ports[3 * i] as number;
      const listenPeerPort = ports[3 * i + 1] as number;
      const advertisedPort = opts.impl === 'etcd' ? (ports[3 * i + 2] as number) : listenPeerPort;
      const name = `m${i + 1}`;
      c.slots.push(new Slot(i, name, clientPort, listenPeerPort, `http://${host}:${advertisedPort}`, join(opts.rootDir, 'logs', `${name}.log`), opts.rootDir));
    }
    for (let i = 0; i < n; i++) {
      const row: Array<LinkProxy | undefined> = [];
      for (let j = 0; j < n; j++) {
        const target = c.slots[j] as Slot;
        if (opts.impl === 'ketch' && i !== j) {
          row.push(await LinkProxy.start({ targetHost: host, targetPort: target.listenPeerPort, listenPort: proxyPorts.shift() }));
        } else if (opts.impl === 'etcd' && i === j) {
          row.push(
            await LinkProxy.start({
              targetHost: host,
              targetPort: target.listenPeerPort,
              listenPort: Number(new URL(target.peerUrl).port),
              identify: etcdServerFromIdentifier,
            }),
          );
        } else {
          row.push(undefined);
        }
      }
      c.proxies.push(row);
    }
    const initialCluster = c.slots.map((s) => `${s.name}=${s.peerUrl}`).join(',');
    for (const s of c.slots) {
      s.initialCluster = initialCluster;
      s.initialState = 'new';
    }
    return c;
  }

  log(line: string): void {
    const entry = `${((Date.now() - this.t0) / 1000).toFixed(2).padStart(7)}s ${line}`;
    this.events.push(entry);
  }

  get clientUrls(): string[] {
    return this.slots.map((s) => s.clientUrl);
  }

  private flags(s: Slot): string[] {
    const o = this.opts;
    return [
      '--name', s.name,
      '--data-dir', s.dataDir,
      '--listen-client-urls', s.clientUrl,
      '--advertise-client-urls', s.clientUrl,
      '--listen-peer-urls', `http://${host}:${s.listenPeerPort}`,
      '--initial-advertise-peer-urls', s.peerUrl,
      '--initial-cluster', s.initialCluster,
      '--initial-cluster-state', s.initialState,
      '--initial-cluster-token', o.token,
      '--snapshot-count', String(o.snapshotCount),
      '--heartbeat-interval', String(o.heartbeatMs),
      '--election-timeout', String(o.electionTimeoutMs),
    ];
  }

  /** KETCH_PEER_DIAL_OVERRIDES for slot i: every other slot's peer URL → the proxy i→j. */
  private dialOverrides(i: number): string {
    const map: Record<string, string> = {};
    for (const [j, other] of this.slots.entries()) {
      const proxy = this.proxies[i]?.[j];
      if (proxy !== undefined) map[other.peerUrl] = proxy.url;
    }
    return JSON.stringify(map);
  }

  async start(s: Slot): Promise<void> {
    if (s.child !== undefined) return;
    mkdirSync(s.dataDir, { recursive: true, mode: 0o700 });
    const args = this.opts.impl === 'etcd' ? this.flags(s) : [ketchEntry, ...this.flags(s)];
    const command = this.opts.impl === 'etcd' ? etcdBinary : process.execPath;
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ETCD_') && !k.startsWith('ETCDCTL_') && k !== 'KETCH_PEER_DIAL_OVERRIDES') env[k] = v;
    if (this.opts.impl === 'ketch') {
      env.KETCH_PEER_DIAL_OVERRIDES = this.dialOverrides(s.index);
      Object.assign(env, withKetchProcessEnv(env));
    }
    appendFileSync(s.logPath, `\n=== torture: start ${new Date().toISOString()} generation ${s.generation}: ${command} ${args.join(' ')}\n`);
    const fd = openSync(s.logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(command, args, { cwd: repoRoot, stdio: ['ignore', fd, fd], env });
    } finally {
      closeSync(fd);
    }
    s.child = child;
    s.paused = false;
    s.killing = false;
    liveChildren.add(child);
    const generation = s.generation;
    s.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        liveChildren.delete(child);
        if (s.child === child) s.child = undefined;
        appendFileSync(s.logPath, `=== torture: exit code=${String(code)} signal=${String(signal)}\n`);
        // A removed member may shut itself down (etcd does); anything else is a crash.
        if (!s.killing && !s.removing && s.inCluster && s.generation === generation) {
          const line = `${s.name} (generation ${generation}, pid ${child.pid}) exited on its own: code=${String(code)} signal=${String(signal)}; log ${s.logPath}`;
          this.unexpectedExits.push(line);
          this.log(line);
        }
        resolve();
      });
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    this.log(`start ${s.name} (generation ${s.generation}, pid ${child.pid})`);
  }

  async kill(s: Slot): Promise<void> {
    const child = s.child;
    if (child === undefined) return;
    s.killing = true;
    child.kill('SIGKILL');
    if (s.paused) child.kill('SIGCONT');
    await s.exited;
    s.paused = false;
    this.log(`kill -9 ${s.name}`);
  }

  pause(s: Slot): void {
    if (s.child === undefined || s.paused) return;
    s.child.kill('SIGSTOP');
    s.paused = true;
    this.log(`SIGSTOP ${s.name}`);
  }

  resume(s: Slot): void {
    if (s.child === undefined || !s.paused) return;
    s.child.kill('SIGCONT');
    s.paused = false;
    this.log(`SIGCONT ${s.name}`);
  }

  /** Cuts every listed pair of slots (both directions), replacing the previous partition. */
  partition(pairs: Array<[number, number]>, mode: CutMode): void {
    this.healNetwork(false);
    this.cutPairs = pairs;
    this.cutMode = mode;
    this.applyCuts();
    this.log(`partition (${mode}): cut ${pairs.map(([a, b]) => `${this.slots[a]?.name}-${this.slots[b]?.name}`).join(' ')}`);
  }

  private applyCuts(): void {
    if (this.opts.impl === 'ketch') {
      for (const [a, b] of this.cutPairs) {
        this.proxies[a]?.[b]?.cut(this.cutMode);
        this.proxies[b]?.[a]?.cut(this.cutMode);
      }
      return;
    }
    for (const s of this.slots) {
      const sources: string[] = [];
      for (const [a, b] of this.cutPairs) {
        const other = a === s.index ? b : b === s.index ? a : undefined;
        const id = other === undefined ? undefined : this.slots[other]?.idHex;
        if (id !== undefined) sources.push(id);
      }
      const proxy = this.proxies[s.index]?.[s.index];
      if (sources.length > 0) proxy?.cut(this.cutMode, sources);
      else proxy?.heal();
    }
  }

  /** Removes every cut (and delay). */
  healNetwork(log = true): void {
    this.cutPairs = [];
    for (const row of this.proxies) {
      for (const p of row) {
        p?.heal();
        p?.setDelay(0);
      }
    }
    if (log) this.log('heal network');
  }

  /** Every peer link gets this latency (each direction). */
  setDelay(ms: number): void {
    for (const row of this.proxies) for (const p of row) p?.setDelay(ms);
    this.log(`peer links delayed by ${ms} ms`);
  }

  /** ketch only: the connection `from` dials to `to` (carrying from's raft messages to it) gets this latency. */
  delayLink(from: number, to: number, ms: number): void {
    const proxy = this.proxies[from]?.[to];
    if (this.opts.impl !== 'ketch' || proxy === undefined) throw new Error(`no link proxy ${from}->${to} (ketch only)`);
    proxy.setDelay(ms);
    this.log(`peer link ${this.slots[from]?.name}->${this.slots[to]?.name} delayed by ${ms} ms`);
  }

  /** Running, unpaused slots of the cluster. */
  reachable(): Slot[] {
    return this.slots.filter((s) => s.running && !s.paused && s.inCluster);
  }

  /** The member every reachable member's own Status calls leader, if one says so of itself. */
  async leader(timeoutMs = 1000): Promise<Slot | undefined> {
    const statuses = await Promise.all(
      this.reachable().map(async (s) => {
        try {
          const st = await s.admin.status(timeoutMs);
          return { s, self: hexId(st.header.member_id), leader: hexId(st.leader) };
        } catch {
          return undefined;
        }
      }),
    );
    for (const st of statuses) if (st !== undefined && st.self === st.leader && st.leader !== '0') return st.s;
    return undefined;
  }

  /** Reads member IDs (by peer URL) from any member that answers. */
  async refreshIds(timeoutMs = 2000): Promise<void> {
    for (const s of this.reachable()) {
      try {
        const list = await s.admin.memberList(timeoutMs);
        for (const slot of this.slots) {
          const m = list.members.find((member) => member.peerURLs.includes(slot.peerUrl));
          if (m !== undefined) slot.idHex = hexId(m.ID);
        }
        if (this.opts.impl === 'etcd') this.applyCuts();
        return;
      } catch {
        // try the next member
      }
    }
  }

  /** Whether the member list (from any member that answers) has a member with this peer URL. */
  async memberListed(peerUrl: string): Promise<boolean | undefined> {
    for (const o of this.reachable()) {
      try {
        const list = await o.admin.memberList(3000);
        return list.members.some((m) => m.peerURLs.includes(peerUrl));
      } catch {
        // next
      }
    }
    return undefined;
  }

  /** Waits until each listed member serves a linearizable read. */
  async waitHealthy(slots: readonly Slot[], timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    const pending = new Set(slots);
    while (pending.size > 0 && Date.now() < deadline) {
      await Promise.all(
        [...pending].map(async (s) => {
          try {
            await s.admin.range('health', { timeoutMs: 1500 });
            pending.delete(s);
          } catch {
            // not yet
          }
        }),
      );
      if (pending.size > 0) await sleep(200);
    }
    return pending.size === 0;
  }

  /**
   * Removes the slot's member from the cluster (through another member), stops it, wipes its data
   * dir and adds it back as a new member that joins with --initial-cluster-state existing.
   * Returns false (and leaves the slot out) when a step fails; readd() finishes the job later.
   */
  async replace(s: Slot): Promise<boolean> {
    await this.refreshIds();
    const id = s.idHex;
    const via = this.reachable().filter((o) => o !== s);
    if (id === undefined || via.length === 0) {
      this.log(`member replace ${s.name}: skipped (id ${id ?? 'unknown'}, ${via.length} other members reachable)`);
      return false;
    }
    s.removing = true;
    let removed: boolean;
    try {
      removed = await this.removeMember(s, id, via);
    } finally {
      s.removing = false;
    }
    if (!removed) return false;
    s.removedIds.add(id);
    s.inCluster = false;
    this.log(`member remove ${s.name} (${id})`);
    await this.kill(s);
    rmSync(s.dataDir, { recursive: true, force: true });
    s.generation++;
    s.idHex = undefined;
    return this.readd(s);
  }

  /**
   * MemberRemove through any of `via`. etcd refuses reconfiguration ("unhealthy cluster", "not
   * enough started members") until the members have been connected for a while (strict reconfig
   * check), e.g. just after a restart; that check runs before anything is proposed, so retrying
   * is safe. A removal that timed out may still have happened: the member list decides.
   */
  private async removeMember(s: Slot, id: string, via: readonly Slot[]): Promise<boolean> {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      let retryable = false;
      for (const o of via) {
        try {
          await o.admin.memberRemove(BigInt(`0x${id}`).toString(10), 5000);
          return true;
        } catch (err) {
          const message = (err as Error).message;
          this.log(`member remove ${s.name} via ${o.name} failed: ${message}`);
          if (/member not found/.test(message)) return true;
          if (/unhealthy cluster|not enough started members/.test(message)) retryable = true;
        }
      }
      if (!retryable) break;
      await sleep(1000);
    }
    return (await this.memberListed(s.peerUrl)) === false;
  }

  /** Adds a removed slot back as a new member and starts it. */
  async readd(s: Slot): Promise<boolean> {
    if (s.inCluster) return true;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      for (const o of this.reachable()) {
        try {
          const res = await o.admin.memberAdd([s.peerUrl], 5000);
          s.idHex = hexId(res.member.ID);
          const names = new Map(this.slots.map((slot) => [slot.peerUrl, slot.name]));
          s.initialCluster = res.members.map((m) => `${m.peerURLs[0] === s.peerUrl ? s.name : (names.get(m.peerURLs[0] ?? '') ?? m.name)}=${m.peerURLs.join(',')}`).join(',');
          s.initialState = 'existing';
          s.inCluster = true;
          this.log(`member add ${s.name} as ${s.idHex} via ${o.name}`);
          await this.start(s);
          if (this.opts.impl === 'etcd') this.applyCuts();
          return true;
        } catch (err) {
          const message = (err as Error).message;
          this.log(`member add ${s.name} via ${o.name} failed: ${message}`);
          if (/Peer URLs already exists/i.test(message)) {
            // Either that member has not applied the removal yet (ketch checks against its local
            // membership before proposing), or an earlier attempt went through after all: then
            // the URL belongs to a new ID.
            s.idHex = undefined;
            await this.refreshIds();
            if (s.idHex !== undefined && s.removedIds.has(s.idHex)) s.idHex = undefined;
            if (s.idHex !== undefined) {
              s.initialCluster = this.slots.filter((x) => x.inCluster || x === s).map((x) => `${x.name}=${x.peerUrl}`).join(',');
              s.initialState = 'existing';
              s.inCluster = true;
              await this.start(s);
              return true;
            }
          }
        }
      }
      await sleep(500);
    }
    return false;
  }

  /** Kills every process and closes the proxies. */
  async destroy(): Promise<void> {
    await Promise.all(this.slots.map((s) => this.kill(s)));
    for (const s of this.slots) s.admin.close();
    for (const row of this.proxies) for (const p of row) await p?.close();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
