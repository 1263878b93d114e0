import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

import type { Logger } from 'pino';
import { EtcdError, EtcdErrors } from '../util/etcd-errors.js';
import type { Event, StorageOp } from '../mvcc/types.js';
import { MvccStore } from '../mvcc/mvcc-store.js';
import { bootstrapState, joiningState } from '../raft/bootstrap.js';
import { decodeConfChange } from '../raft/conf-change.js';
import { RaftNode } from '../raft/raft-node.js';
import {
  ConfChangeType,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  NONE,
  RaftError,
  RaftErrorCode,
  type ReadState,
  type Snapshot,
  type SoftState,
  StateRole,
} from '../raft/types.js';
import { MemberStore, type RaftWrite } from '../storage/member-store.js';
import type { ServerTls } from '../tls/tls-listener.js';
import { PeerCredentials } from '../transport/peer-credentials.js';
import { PeerTransport } from '../transport/peer-transport.js';
import { dialUrl } from '../transport/peer-url.js';
import { SeededRandom } from '../util/prng.js';
import { type ApplyOutcome, applyRequest } from './apply.js';
import { AUTH_RECORD_PREFIX, type AuthInfo, AuthStore } from './auth/auth-store.js';
import { DEFAULT_AUTH_TOKEN_TTL_SECONDS, SimpleTokens } from './auth/simple-tokens.js';
import { AutoCompactor } from './auto-compactor.js';
import { LeaseCoordinator, type LeaseHost } from './lease-coordinator.js';
import { LEASE_RECORD_PREFIX, Lessor } from './lessor.js';
import { type Member, Membership } from './membership.js';
import { clusterId as computeClusterId, memberId as computeMemberId } from './member-id.js';
import { SLOW_APPLY_MS, ServerMetrics } from './metrics.js';
import { processFds } from '../util/process-fds.js';
import { Registry } from '../util/prometheus.js';
import {
  decodeInternalRequest,
  decodeMemberContext,
  encodeInternalRequest,
  encodeMemberContext,
  type InternalRequest,
  type MemberContext,
} from './request-codec.js';
import { decodeStateSnapshot, encodeStateSnapshotAround } from './state-snapshot.js';
import { WatchHub } from './watch-hub.js';

export interface ServerConfig {
  readonly name: string;
  readonly dataDir: string;
  readonly advertiseClientUrls: readonly string[];
  readonly listenPeerUrls: readonly string[];
  readonly initialAdvertisePeerUrls: readonly string[];
  readonly initialCluster: ReadonlyMap<string, readonly string[]>;
  readonly initialClusterState: 'new' | 'existing';
  readonly initialClusterToken: string;
  readonly heartbeatIntervalMs: number;
  readonly electionTimeoutMs: number;
  readonly snapshotCount: number;
  readonly quotaBackendBytes: number;
  readonly maxRequestBytes: number;
  readonly maxTxnOps: number;
  readonly autoCompactionMode: 'periodic' | 'revision';
  /** Milliseconds (periodic) or revisions (revision mode); 0 disables auto compaction. */
  readonly autoCompactionRetention: number;
  readonly logger: Logger;
  /** Finds the cluster to join for --initial-cluster-state existing (asks the peers). */
  readonly discoverExisting?: (peerUrls: string[]) => Promise<{ clusterId: string; members: Member[] }>;
  /** Peer URL → URL to dial instead (a test proxy per link, from KETCH_PEER_DIAL_OVERRIDES). */
  readonly peerDialOverrides?: ReadonlyMap<string, string>;
  /** --auth-token-ttl: seconds a simple token lives without use (etcd: 300). */
  readonly authTokenTtlSeconds?: number;
  /** Peer TLS (--peer-cert-file, ...): served on https:// peer URLs and used to dial https:// peers. */
  readonly peerTls?: ServerTls;
  /** --experimental-max-peer-connections: connections the peer URLs hold at once (0: no limit). */
  readonly maxPeerConnections?: number;
}

/** etcd's default backend quota when --quota-backend-bytes is 0. */
const DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024;
/** Per-entry framing counted with entry data in etcd_disk_wal_write_bytes_total (term, index, type, crc). */
const walEntryOverheadBytes = 24;
/** Entries kept behind a snapshot so slightly lagging followers catch up without one (etcd: 5000). */
const CATCH_UP_ENTRIES = 5000;
/** The in-memory raft log is trimmed in steps of this many entries (each step copies its arrays). */
const LOG_TRIM_STEP = 4096;
/** How long a ReadIndex round may go unanswered before it is asked again (etcd: 500 ms). */
const READ_INDEX_RETRY_MS = 500;
/** How stale the database size may be when a write checks the quota. */
const DB_SIZE_REFRESH_MS = 250;
/** A member must have been connected this long to count as started for reconfiguration (etcd: 5 s). */
const HEALTH_INTERVAL_MS = 5000;

export const SERVER_VERSION = '3.4.23';
export const CLUSTER_VERSION = '3.4.0';

interface Deferred<T> {
  resolve(value: T): void;
  reject(err: Error): void;
}

interface Waiter extends Deferred<ApplyOutcome> {
  /** Date.now() after which the request times out (see expireWaiters). */
  deadline: number;
  /** A membership change, which times out with a plain timeout and is not a failed proposal. */
  confChange: boolean;
}

interface QueuedProposal {
  id: string;
  data: Uint8Array;
  /** Until when it may wait for a leader (its waiter times out then). */
  deadline: number;
}

interface ReadRound {
  ctx: string;
  waiters: Array<Deferred<void>>;
  timer: NodeJS.Timeout;
}

export interface ResponseHeader {
  cluster_id: string;
  member_id: string;
  revision: string;
  raft_term: string;
}

/**
 * One Ketch member: the loop that owns the Raft node (persist Ready, send, apply, advance), the
 * replicated state (MVCC store and membership), proposals with waiters, linearizable reads, and
 * membership and leadership operations. The gRPC layer (src/api) talks to it and nothing else.
 */
export class KetchServer {
  readonly memberId: string;
  readonly clusterId: string;
  /** etcd's metrics of this member (/metrics on the client and metrics URLs). */
  readonly metrics: ServerMetrics;
  mvcc: MvccStore;
  membership: Membership;
  /** Watchers of this member (the Watch service's streams); fed by applyEntries. */
  readonly watchHub: WatchHub;
  /** Leases: the replicated table and, on the leader, their clocks. */
  readonly leases: LeaseCoordinator;
  /** Users, roles, permissions and the auth switch (replicated). */
  auth: AuthStore;
  /** This member's simple tokens (minted on apply, never persisted). */
  readonly tokens: SimpleTokens;

  private readonly cfg: ServerConfig;
  private readonly log: Logger;
  private readonly store: MemberStore;
  private readonly node: RaftNode;
  private readonly transport: PeerTransport;
  private readonly peerCredentials: PeerCredentials;
  /** The state machine's applied index (persisted with it). */
  private applied: number;
  private snapshotIndex: number;
  /** The in-memory raft log starts after this index (maybeTrimLog). */
  private logTrimmedTo = 0;
  private snapshotInFlight = false;
  private leader = NONE;
  private role = StateRole.Follower;
  private processing = false;
  private scheduled = false;
  private stopped = false;
  private ticker: NodeJS.Timeout | undefined;
  private compactor: AutoCompactor | undefined;
  /**
   * Proposal and read ids are `<this prefix><seq>`, the prefix drawn anew by every process: seq
   * restarts from 1 after a restart, while the log (or a peer's delayed answer) may still carry ids
   * of this member's previous life, and a match would answer a new request with an old result
   * before the new one is even committed (etcd's id generator mixes in the start time likewise).
   */
  private readonly requestIdPrefix: string;
  private proposalSeq = 0;
  /** Proposals made since the last flushProposals, in order. */
  private proposalBatch: QueuedProposal[] = [];
  private readonly waiters = new Map<string, Waiter>();
  /** The store whose cold-value failure was logged (reportColdValueFailure). */
  private coldFailureReported: MvccStore | undefined;
  /** header()'s decimal cluster and member IDs (both fixed for the life of the process). */
  private decimalIds: { cluster: string; member: string } | undefined;
  private readonly appliedWaiters: Array<{ index: number; d: Deferred<void> }> = [];
  private readSeq = 0;
  private readQueue: Array<Deferred<void>> = [];
  private readRound: ReadRound | undefined;
  private readRetry: NodeJS.Timeout | undefined;
  private leaderWaiters: Array<() => void> = [];
  private published = false;
  private fatalError: Error | undefined;
  private dbSizeBytes = 0;
  private dbSizeCheckedAt = 0;
  private applyingSnapshot = false;
  private dbSizeReading: Promise<number> | undefined;
  onFatal: (err: Error) => void = () => {};

  private constructor(
    cfg: ServerConfig,
    parts: {
      memberId: string;
      clusterId: string;
      store: MemberStore;
      node: RaftNode;
      mvcc: MvccStore;
      membership: Membership;
      lessor: Lessor;
      auth: AuthStore;
      applied: number;
      snapshotIndex: number;
    },
  ) {
    this.cfg = cfg;
    this.log = cfg.logger;
    this.memberId = parts.memberId;
    this.requestIdPrefix = `${parts.memberId}:${randomBytes(6).toString('hex')}:`;
    this.clusterId = parts.clusterId;
    this.store = parts.store;
    this.node = parts.node;
    this.mvcc = parts.mvcc;
    this.membership = parts.membership;
    this.auth = parts.auth;
    this.tokens = new SimpleTokens((cfg.authTokenTtlSeconds ?? DEFAULT_AUTH_TOKEN_TTL_SECONDS) * 1000);
    this.applied = parts.applied;
    this.snapshotIndex = parts.snapshotIndex;
    this.watchHub = new WatchHub({ history: () => this.mvcc });
    this.metrics = new ServerMetrics(new Registry(), {
      memberId: this.memberId,
      serverVersion: SERVER_VERSION,
      clusterVersion: CLUSTER_VERSION.split('.').slice(0, 2).join('.'),
      hasLeader: () => this.leader !== NONE,
      isLeader: () => this.role === StateRole.Leader,
      isLearner: () => this.isLearner(),
      term: () => this.node.basicStatus().term,
      committedIndex: () => this.node.basicStatus().commit,
      appliedIndex: () => this.applied,
      pendingProposals: () => this.waiters.size,
      // Three gauges read the size in one scrape: one directory listing serves them all.
      dbSizeBytesFresh: () => (this.dbSizeReading ??= this.dbSize().finally(() => (this.dbSizeReading = undefined))),
      quotaBytes: () => this.quotaBytes(),
      keysTotal: () => this.mvcc.indexedKeys,
      coldValueBytes: () => this.mvcc.coldValues.bytes,
      raftLogEntries: () => {
        const st = this.node.status();
        return st.lastIndex - st.firstIndex + 1;
      },
      currentRevision: () => this.mvcc.currentRevision,
      compactRevision: () => this.mvcc.compactRevision,
      watchers: () => this.watchHub.stats.synced + this.watchHub.stats.unsynced,
      snapshotApplyInProgress: () => this.applyingSnapshot,
      peerBytes: () => {
        const st = this.transport.stats();
        return { sent: st.peerBytesSent, received: st.peerBytesReceived };
      },
      activePeers: () => this.transport.activePeers(),
      heartbeatSendFailures: () => this.transport.stats().heartbeatSendFailures,
      mvccOps: () => this.mvcc.ops,
      leaseCounts: () => this.leases.lessor.counts,
      fds: () => processFds(),
    });
    this.peerCredentials = new PeerCredentials(cfg.peerTls);
    this.leases = new LeaseCoordinator(this.leaseHost(), parts.lessor);
    this.transport = new PeerTransport({
      selfId: this.memberId,
      clusterId: this.clusterId,
      logger: this.log,
      // Served on the peer URL so a member joining with --initial-cluster-state existing can find itself.
      members: () => this.membership.sorted(),
      // Followers forward lease renewals and TTL reads to the leader here (etcd's leasehttp).
      services: [this.leases.peerService()],
      dialOverrides: cfg.peerDialOverrides,
      ...(cfg.maxPeerConnections !== undefined ? { maxConnections: cfg.maxPeerConnections } : {}),
      ...(cfg.peerTls !== undefined ? { tls: cfg.peerTls } : {}),
      onRoundTrip: (peerId, seconds) => this.metrics.observePeerRoundTrip(peerId, seconds),
      handler: {
        onMessage: (m) => this.onPeerMessage(m),
        onUnreachable: (id) => {
          this.node.reportUnreachable(id);
          this.schedule();
        },
        onSnapshotStatus: (id, ok) => {
          this.node.reportSnapshot(id, ok);
          this.schedule();
        },
        isRemoved: (id) => this.membership.removed.has(id),
        onRemovedFromCluster: () => {
          if (this.stopped) return;
          this.log.warn('a peer says this member was removed from the cluster; stopping');
          this.fatal(new Error('the member has been permanently removed from the cluster'));
        },
      },
    });
    this.syncPeers();
  }

  /** Opens the data dir: bootstraps a new member from the initial flags, or recovers one. */
  static async open(cfg: ServerConfig): Promise<KetchServer> {
    const store = await MemberStore.open(cfg.dataDir, { logger: cfg.logger });
    try {
      // Cold values are a cache of this process's stores; a previous process may have left some.
      await rm(KetchServer.coldValuesRoot(cfg), { recursive: true, force: true });
      return store.isNew ? await KetchServer.bootstrap(cfg, store) : await KetchServer.recover(cfg, store);
    } catch (err) {
      await store.close();
      const message = (err as Error).message;
      // Every startup error names the data dir it is about, so the operator knows what to inspect.
      if (message.includes(cfg.dataDir)) throw err;
      // LevelDB's own reads report damaged tables as "Corruption: ..."; say what to do about it.
      const advice = /corruption/i.test(message) ? '; its database files are damaged: remove this member and add it back with an empty data dir, or restore it from a snapshot' : '';
      throw new Error(`data dir ${cfg.dataDir}: ${message}${advice}`, { cause: err });
    }
  }

  private static raftConfig(cfg: ServerConfig, id: string, seed: number): ConstructorParameters<typeof RaftNode>[0] {
    return {
      id,
      electionTicks: Math.max(2, Math.round(cfg.electionTimeoutMs / cfg.heartbeatIntervalMs)),
      heartbeatTicks: 1,
      random: new SeededRandom(seed),
      preVote: true,
      checkQuorum: true,
      maxSizePerMsg: 1024 * 1024,
      maxInflightMsgs: 512,
      maxInflightBytes: 64 * 1024 * 1024,
      maxUncommittedEntriesBytes: 512 * 1024 * 1024,
      // Entries' data then stay Buffers, which the request decoder and codecs expect.
      allocateLogChunk: (bytes) => Buffer.allocUnsafeSlow(bytes),
    };
  }

  private static async bootstrap(cfg: ServerConfig, store: MemberStore): Promise<KetchServer> {
    const advertised = [...cfg.initialAdvertisePeerUrls].sort().join(',');
    const own = cfg.initialCluster.get(cfg.name);
    if (own === undefined) {
      throw new Error(`--initial-cluster has no member named ${JSON.stringify(cfg.name)} (the --name of this member)`);
    }
    if ([...own].sort().join(',') !== advertised) {
      throw new Error(
        `--initial-cluster has ${cfg.name}=${own.join(',')} but --initial-advertise-peer-urls is ${cfg.initialAdvertisePeerUrls.join(',')}; they must match`,
      );
    }
    const memberId = computeMemberId(cfg.initialAdvertisePeerUrls, cfg.initialClusterToken);
    let clusterId: string;
    let state;
    if (cfg.initialClusterState === 'new') {
      const members = [...cfg.initialCluster].map(([name, urls]) => ({
        id: computeMemberId(urls, cfg.initialClusterToken),
        name,
        urls: [...urls],
      }));
      clusterId = computeClusterId(members.map((m) => m.id));
      members.sort((a, b) => (BigInt(`0x${a.id}`) < BigInt(`0x${b.id}`) ? -1 : 1));
      state = bootstrapState(
        members.map((m) => ({
          id: m.id,
          context: encodeMemberContext({
            request_id: '',
            id: m.id,
            name: m.name,
            peer_urls: m.urls,
            client_urls: [],
            is_learner: false,
          }),
        })),
      );
    } else {
      if (cfg.discoverExisting === undefined) throw new Error('joining an existing cluster needs peer discovery');
      const peers = [...cfg.initialCluster]
        .filter(([name]) => name !== cfg.name)
        .flatMap(([, urls]) => [...urls]);
      const found = await cfg.discoverExisting(peers);
      const me = found.members.find((m) => [...m.peerURLs].sort().join(',') === advertised);
      if (me === undefined) {
        throw new Error(
          `this member's peer URLs ${advertised} are not in the existing cluster's member list; run 'etcdctl member add' first`,
        );
      }
      clusterId = found.clusterId;
      state = joiningState();
      cfg.logger.info({ memberId: me.id, clusterId }, 'joining existing cluster');
      const server = await KetchServer.finishBootstrap(cfg, store, me.id, clusterId, state);
      // Until the log tells us the membership, talk to the members the cluster told us about.
      for (const m of found.members) if (m.id !== me.id) server.transport.addPeer(m.id, m.peerURLs);
      return server;
    }
    return KetchServer.finishBootstrap(cfg, store, memberId, clusterId, state);
  }

  private static async finishBootstrap(
    cfg: ServerConfig,
    store: MemberStore,
    memberId: string,
    clusterId: string,
    state: ReturnType<typeof bootstrapState>,
  ): Promise<KetchServer> {
    await store.setMeta('member-id', Buffer.from(memberId));
    await store.setMeta('cluster-id', Buffer.from(clusterId));
    await store.saveRaft({ hardState: state.hardState, entries: state.entries });
    cfg.logger.info({ memberId, clusterId, name: cfg.name }, 'bootstrapped new member');
    const node = new RaftNode(KetchServer.raftConfig(cfg, memberId, seedFrom(memberId)), state);
    const lessor = KetchServer.newLessor(cfg);
    return new KetchServer(cfg, {
      memberId,
      clusterId,
      store,
      node,
      mvcc: new MvccStore({ leaseExists: lessor.exists, coldValues: { dir: KetchServer.coldValuesDir(cfg) } }),
      membership: new Membership(),
      lessor,
      auth: new AuthStore(),
      applied: 0,
      snapshotIndex: 0,
    });
  }

  private static async recover(cfg: ServerConfig, store: MemberStore): Promise<KetchServer> {
    const memberId = (await store.getMeta('member-id'))?.toString();
    const clusterId = (await store.getMeta('cluster-id'))?.toString();
    if (memberId === undefined || clusterId === undefined) {
      throw new Error(`data dir ${cfg.dataDir} has no member identity; it was not written by ketch or is damaged`);
    }
    const rec = await store.recover();
    const lessor = KetchServer.newLessor(cfg);
    const mvccLoader = MvccStore.loader({ leaseExists: lessor.exists, coldValues: { dir: KetchServer.coldValuesDir(cfg) } });
    for await (const batch of store.appRecordBatches(Buffer.from('m'))) for (const [k, v] of batch) mvccLoader.add(k, v);
    const clusterRecords: Array<[Buffer, Buffer]> = [];
    for await (const r of store.appRecords(Buffer.from('c'))) clusterRecords.push(r);
    const leaseRecords: Array<[Buffer, Buffer]> = [];
    for await (const r of store.appRecords(LEASE_RECORD_PREFIX)) leaseRecords.push(r);
    lessor.restore(Lessor.decodeRecords(leaseRecords));
    const authRecords: Array<[Buffer, Buffer]> = [];
    for await (const r of store.appRecords(AUTH_RECORD_PREFIX)) authRecords.push(r);
    const auth = AuthStore.fromRecords(authRecords);
    const mvcc = mvccLoader.finish();
    const membership = Membership.load(clusterRecords);
    const snapshot: Snapshot | undefined =
      rec.snapshot === undefined ? undefined : { metadata: rec.snapshot, data: new Uint8Array() };
    const node = new RaftNode(KetchServer.raftConfig(cfg, memberId, seedFrom(memberId) + 1), {
      hardState: rec.hardState,
      snapshot,
      entries: rec.entries,
      confState: { voters: [], learners: [] },
      // Our state may be ahead of the raft commit we persisted (a snapshot from the leader carries the
      // leader's newer state); raft need not hand out again what is applied, and we skip the rest.
      applied: Math.min(rec.applied, rec.hardState.commit),
    });
    cfg.logger.info(
      { memberId, clusterId, term: rec.hardState.term, commit: rec.hardState.commit, applied: rec.applied, revision: mvcc.currentRevision },
      'recovered member from data dir',
    );
    return new KetchServer(cfg, {
      memberId,
      clusterId,
      store,
      node,
      mvcc,
      membership,
      lessor,
      auth,
      applied: rec.applied,
      snapshotIndex: rec.snapshot?.index ?? 0,
    });
  }

  /** Listens on the peer URLs and starts the clock. */
  async start(): Promise<void> {
    for (const url of this.cfg.listenPeerUrls) await this.transport.listen(url);
    this.dbSizeBytes = await this.store.approximateSizeBytes();
    this.ticker = setInterval(() => {
      this.node.tick();
      this.expireWaiters();
      this.reportColdValueFailure();
      this.schedule();
    }, this.cfg.heartbeatIntervalMs);
    // A lone voter need not wait an election timeout for itself.
    const st = this.node.status();
    if (st.voters.length === 1 && st.voters[0] === this.memberId) this.node.campaign();
    this.compactor = new AutoCompactor(this.cfg.autoCompactionMode, this.cfg.autoCompactionRetention, {
      isLeader: () => this.role === StateRole.Leader,
      currentRevision: () => this.mvcc.currentRevision,
      compactRevision: () => this.mvcc.compactRevision,
      compact: async (revision) => {
        const out = await this.propose({ request: 'compaction', compaction: { revision: String(revision), physical: false } });
        if (out.error !== undefined) throw out.error;
      },
      log: this.log,
    });
    this.compactor.start();
    this.leases.start();
    this.schedule();
    void this.publishSelf();
  }

  // ---- The Raft loop ---------------------------------------------------------------------------

  private schedule(): void {
    if (this.scheduled || this.processing || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.processReady();
    });
  }

  /**
   * Handles one Ready. Its write is pipelined: the next Ready may be taken while it is in flight (the
   * store writes them in order, merging those that queue up into one batch), and what must wait for
   * the disk waits for it alone: acknowledgements to peers (messagesAfterPersist) and to ourselves.
   */
  private async processReady(): Promise<void> {
    if (this.processing || this.stopped || !this.node.hasReady()) return;
    this.processing = true;
    try {
      const rd = this.node.ready();
      if (rd.softState !== undefined) this.onSoftState(rd.softState);
      // Appends to followers promise nothing about our disk: they go out before our own write.
      this.send(rd.messages);
      let raft: RaftWrite = { hardState: rd.hardState, entries: rd.entries };
      if (rd.snapshot !== undefined) {
        // The leader's state and the raft snapshot record go to disk in one batch: a crash between
        // them would leave a log that starts after state we do not have.
        this.applyingSnapshot = true;
        try {
          await this.installSnapshot(rd.snapshot, raft);
        } finally {
          this.applyingSnapshot = false;
        }
        raft = { entries: [] };
      }
      // Committed entries are durable on a quorum, so they are applied (and their clients answered)
      // without waiting for our own disk, as etcd does; their records then go to disk in the same
      // batch as this Ready's entries or a later one, so the app state never lands ahead of the log.
      const applyStart = performance.now();
      const app = rd.committedEntries.length > 0 ? this.applyEntries(rd.committedEntries) : undefined;
      for (const rs of rd.readStates) this.onReadState(rs);
      const mustSync = this.store.readyNeedsSync(raft);
      const t0 = performance.now();
      const applyMs = t0 - applyStart;
      if (applyMs > SLOW_APPLY_MS) this.metrics.slowApplies++;
      for (const e of raft.entries) this.metrics.walWriteBytes += e.data.length + walEntryOverheadBytes;
      const write = this.store.saveReady(raft, app);
      const persisted = this.node.advanceBeforePersist();
      const afterPersist = rd.messagesAfterPersist;
      // Acks wait for this write even when it is not fsynced: it lands after every earlier one,
      // some of which may be fsyncing entries the acks promise.
      write.then(
        () => {
          if (this.stopped || this.fatalError !== undefined) return;
          const seconds = (performance.now() - t0) / 1000;
          if (mustSync) this.metrics.observeFsync(seconds);
          this.metrics.observeBackendCommit(seconds);
          this.send(afterPersist);
          persisted();
          this.schedule();
        },
        (err: unknown) => this.fatal(err as Error),
      );
      if (app?.selfRemoved === true) {
        this.log.warn('this member was removed from the cluster; stopping');
        this.fatal(new Error('the member has been permanently removed from the cluster'));
        return;
      }
      this.maybeSnapshot();
      this.maybeTrimLog();
    } catch (err) {
      this.fatal(err as Error);
      return;
    } finally {
      this.processing = false;
    }
    if (this.node.hasReady()) this.schedule();
  }

  /** Storage failed: this member cannot keep its promises, so it stops (etcd panics here). */
  private fatal(err: Error): void {
    if (this.fatalError !== undefined) return;
    this.fatalError = err;
    this.log.fatal({ err }, 'storage failure; stopping this member');
    this.onFatal(err);
  }

  private send(messages: readonly Message[]): void {
    if (messages.length === 0) return;
    const out = messages.map((m) =>
      m.type === MessageType.Snap && m.snapshot !== undefined
        ? { ...m, snapshot: { metadata: m.snapshot.metadata, data: this.exportState() } }
        : m,
    );
    this.transport.send(out);
  }

  private onPeerMessage(m: Message): void {
    if (this.stopped) return;
    // A removed member must not disturb the cluster (etcd answers it with 410 Gone).
    if (this.membership.removed.has(m.from)) return;
    try {
      this.node.step(m);
    } catch (err) {
      this.log.warn({ err, type: m.type, from: m.from }, 'dropped a malformed peer message');
      return;
    }
    this.schedule();
  }

  private onSoftState(ss: SoftState): void {
    if (ss.leader !== this.leader) {
      if (ss.leader !== NONE) this.metrics.leaderChanges++;
      this.log.info({ leader: ss.leader || null, role: ss.role, term: this.node.basicStatus().term }, 'leader changed');
    }
    this.leader = ss.leader;
    this.role = ss.role;
    if (ss.role !== StateRole.Leader) this.leases.demote();

    if (this.leader !== NONE) {
      const waiting = this.leaderWaiters;
      this.leaderWaiters = [];
      for (const w of waiting) w();
    }
  }

  /**
   * Applies committed entries to the in-memory state, notifies watchers and answers the waiting
   * proposers. Returns the records to persist with the applied index (the caller writes them).
   */
  private applyEntries(entries: readonly Entry[]): { ops: StorageOp[]; applied: number; selfRemoved: boolean } {
    const ops: StorageOp[] = [];
    const done: Array<() => void> = [];
    const watchEvents: Event[] = []; // watch hub: this batch's events, in revision order
    let selfRemoved = false;
    for (const e of entries) {
      if (e.index <= this.applied) continue;
      if (e.type === EntryType.ConfChange) {
        const cc = decodeConfChange(e.data);
        const ctx = cc.context.length > 0 ? decodeMemberContext(cc.context) : undefined;
        ops.push(...this.membership.applyConfChange(cc.type, cc.nodeId, ctx));
        if (cc.type === ConfChangeType.RemoveNode && cc.nodeId === this.memberId) selfRemoved = true;
        this.syncPeers();
        const waiter = ctx?.request_id ? this.takeWaiter(ctx.request_id) : undefined;
        if (waiter !== undefined) done.push(() => waiter.resolve({ revision: this.mvcc.currentRevision }));
      } else if (e.data.length > 0) {
        const req = decodeInternalRequest(e.data);
        const outcome = applyRequest(req, {
          mvcc: this.mvcc,
          membership: this.membership,
          maxTxnOps: this.cfg.maxTxnOps,
          lessor: this.leases.lessor,
          auth: this.auth,
          tokens: this.tokens,
          index: e.index,
        });
        if (outcome.ops !== undefined) for (const op of outcome.ops) ops.push(op);
        if (outcome.events !== undefined) for (const ev of outcome.events) watchEvents.push(ev); // watch hub
        if (req.request === 'member_update') this.syncPeers();
        const waiter = this.takeWaiter(req.id);
        if (waiter !== undefined) {
          done.push(() => (outcome.error !== undefined ? waiter.reject(outcome.error) : waiter.resolve(outcome)));
        }
      }
      if (e.type === EntryType.Normal && e.data.length === 0 && this.role === StateRole.Leader && e.term === this.node.basicStatus().term) {
        // etcd promotes the lessor when the new leader applies its own term's first (empty) entry.
        this.leases.promote();
      }
      this.applied = e.index;
    }
    this.watchHub.notify(watchEvents, this.mvcc.currentRevision); // watch hub: once per applied batch
    for (const d of done) d();
    this.releaseAppliedWaiters();
    return { ops, applied: this.applied, selfRemoved };
  }

  private async installSnapshot(snap: Snapshot, raft: RaftWrite): Promise<void> {
    const state = decodeStateSnapshot(Buffer.from(snap.data));
    const imported = MvccStore.importSnapshot(state.mvcc, {
      leaseExists: this.leases.lessor.exists,
      coldValues: { dir: KetchServer.coldValuesDir(this.cfg) },
    });
    const membership = Membership.fromJSON(state.membership);
    const leases = state.leases ?? [];
    const auth = AuthStore.fromJSON(state.auth);
    try {
      await this.store.installSnapshot(
        { ...raft, snapshot: snap.metadata },
        {
          prefixes: [Buffer.from('m'), Buffer.from('c'), LEASE_RECORD_PREFIX, AUTH_RECORD_PREFIX],
          ops: [...imported.ops, ...membership.allOps(), ...Lessor.opsFor(leases), ...AuthStore.opsFor(state.auth)],
          applied: state.applied,
        },
      );
    } catch (err) {
      imported.store.close();
      throw err;
    }
    this.auth = auth;
    if (!auth.enabled) this.tokens.clear();
    this.leases.lessor.restore(leases);
    this.mvcc.close();
    this.mvcc = imported.store;
    this.watchHub.restore(); // watch hub: synced watchers catch up from the new store
    this.membership = membership;
    this.applied = state.applied;
    this.snapshotIndex = snap.metadata.index;
    this.syncPeers();
    this.releaseAppliedWaiters();
    this.log.info({ index: snap.metadata.index, applied: state.applied }, 'installed snapshot from leader');
  }

  /** The state snapshot, at [reserve.before, length - reserve.after) of the buffer returned. */
  private exportState(reserve?: { before: number; after: number }): Buffer {
    return encodeStateSnapshotAround(
      {
        applied: this.applied,
        membership: this.membership.toJSON(),
        leases: this.leases.lessor.records(),
        auth: this.auth.toJSON(),
      },
      (before, after) => this.mvcc.exportSnapshot({ before, after }),
      reserve,
    );
  }

  /**
   * Every snapshotCount applied entries: a raft snapshot and log compaction. It runs beside the raft
   * loop, not in it: the loop must keep sending heartbeats and appends while the disk catches up.
   */
  private maybeSnapshot(): void {
    if (this.snapshotInFlight || this.applied - this.snapshotIndex < this.cfg.snapshotCount) return;
    const raftApplied = this.node.basicStatus().applied;
    if (raftApplied <= this.snapshotIndex) return;
    const compactTo = Math.max(0, raftApplied - Math.min(CATCH_UP_ENTRIES, this.cfg.snapshotCount));
    const snap = this.node.createSnapshot(new Uint8Array(), compactTo);
    this.snapshotInFlight = true;
    const t0 = performance.now();
    this.store
      .saveSnapshot(snap.metadata, compactTo)
      .then(async () => {
        this.snapshotIndex = snap.metadata.index;
        if (this.stopped) return;
        this.dbSizeBytes = await this.store.approximateSizeBytes();
        const ms = Math.round(performance.now() - t0);
        this.log.info({ index: snap.metadata.index, compactTo, ms }, 'took raft snapshot and compacted the log');
      })
      .catch((err: unknown) => {
        if (!this.stopped) this.fatal(err as Error);
      })
      .finally(() => {
        this.snapshotInFlight = false;
      });
  }

  /**
   * In steps of LOG_TRIM_STEP entries, drops from the in-memory raft log the entries no peer will
   * ask for; the WAL keeps them until the next snapshot (issue 9: between snapshots the log held up
   * to --snapshot-count entries, 25 MiB per member after the bench's 700k puts). The leader knows
   * what each peer has and keeps whatever the slowest one lacks (a peer that is down keeps its
   * entries, as before); a follower, which would need them only as a new leader, keeps
   * CATCH_UP_ENTRIES behind its applied index, as a snapshot does.
   */
  private maybeTrimLog(): void {
    const upTo = this.node.matchedByAll() ?? this.node.basicStatus().applied - CATCH_UP_ENTRIES;
    if (upTo - this.logTrimmedTo >= LOG_TRIM_STEP) this.logTrimmedTo = this.node.trimLog(upTo);
  }

  private syncPeers(): void {
    for (const m of this.membership.members.values()) {
      if (m.id !== this.memberId) this.transport.addPeer(m.id, m.peerURLs);
    }
    for (const id of this.membership.removed) this.transport.removePeer(id);
  }

  // ---- Proposals -------------------------------------------------------------------------------

  private requestTimeoutMs(): number {
    return 5000 + 2 * this.cfg.electionTimeoutMs;
  }

  private takeWaiter(id: string): Waiter | undefined {
    const w = this.waiters.get(id);
    if (w === undefined) return undefined;
    this.waiters.delete(id);
    return w;
  }

  private checkUsable(): void {
    if (this.stopped || this.fatalError !== undefined) throw EtcdErrors.stopped;
  }

  /**
   * Proposes a request and resolves with its outcome once this member has applied it. `auth` names
   * the requester; its rights are checked when the entry is applied.
   */
  async propose(body: Omit<InternalRequest, 'id'>, auth?: AuthInfo): Promise<ApplyOutcome> {
    this.checkUsable();
    const id = `${this.requestIdPrefix}${++this.proposalSeq}`;
    const header = auth === undefined ? {} : { auth: { username: auth.username, auth_revision: String(auth.revision) } };
    const data = encodeInternalRequest({ ...body, ...header, id } as InternalRequest);
    if (data.length > this.cfg.maxRequestBytes) throw EtcdErrors.requestTooLarge;
    const deadline = Date.now() + this.requestTimeoutMs();
    // Returned at once, so awaited before expireWaiters (a later tick) can reject it.
    const outcome = new Promise<ApplyOutcome>((resolve, reject) => {
      this.waiters.set(id, { resolve, reject, deadline, confChange: false });
    });
    if (this.proposalBatch.length === 0) setImmediate(() => this.flushProposals());
    this.proposalBatch.push({ id, data, deadline });
    return outcome;
  }

  /** Says once per store that superseded values stay on the heap because their files failed. */
  private reportColdValueFailure(): void {
    const failure = this.mvcc.coldValues.failure;
    if (failure === undefined || this.coldFailureReported === this.mvcc) return;
    this.coldFailureReported = this.mvcc;
    this.log.warn(
      { err: failure, dir: KetchServer.coldValuesRoot(this.cfg) },
      'cold value files failed: superseded values stay in memory from now on (check the disk; a restart retries)',
    );
  }

  /**
   * Rejects the requests whose time is up; runs every tick. One sweep instead of a timer per
   * request (a timer object, a timer-list insert and a clearTimeout on every write). Every waiter
   * gets the same timeout, so the map's insertion order is deadline order and the sweep stops at
   * the first one still in time.
   */
  private expireWaiters(): void {
    const now = Date.now();
    for (const [id, w] of this.waiters) {
      if (w.deadline > now) break;
      this.waiters.delete(id);
      if (w.confChange) {
        w.reject(EtcdErrors.timeout);
      } else {
        this.metrics.proposalsFailed++;
        w.reject(this.leader === NONE ? EtcdErrors.timeoutDueToLeaderFail : EtcdErrors.timeout);
      }
    }
  }

  /**
   * Proposes the requests of this turn of the event loop as one raft message, so the leader appends
   * them together and sends one append per follower for all of them (one per request before: under
   * load most of the leader's work and allocation was per message). A batch raft does not take
   * whole (no leader yet, a leadership transfer, the uncommitted-bytes limit) falls back to proposing
   * each request alone, waiting for a leader as long as its deadline allows.
   */
  private flushProposals(): void {
    const batch = this.proposalBatch;
    this.proposalBatch = [];
    if (batch.length === 0 || this.stopped) return;
    try {
      this.checkUsable();
      this.node.proposeBatch(batch.map((p) => p.data));
    } catch {
      for (const p of batch) void this.proposeAlone(p);
      return;
    }
    // Straight on to the Ready unless one is already queued: a lone request waits one turn, not two.
    if (this.scheduled) return;
    void this.processReady();
  }

  private async proposeAlone(p: QueuedProposal): Promise<void> {
    try {
      await this.withLeader(p.deadline, () => this.node.propose(p.data));
    } catch (err) {
      const waiter = this.takeWaiter(p.id);
      if (waiter === undefined) return; // it timed out meanwhile
      this.metrics.proposalsFailed++;
      waiter.reject(err as Error);
      return;
    }
    this.schedule();
  }

  /** Runs a raft input that needs a leader, waiting for one (up to the deadline) while there is none. */
  private async withLeader(deadline: number, fn: () => void): Promise<void> {
    for (;;) {
      this.checkUsable();
      try {
        fn();
        return;
      } catch (err) {
        if (!(err instanceof RaftError)) throw err;
        if (err.code === RaftErrorCode.ConfChangePending) {
          // One membership change at a time: wait for the previous one to apply.
        } else if (err.code !== RaftErrorCode.ProposalDropped) {
          throw err;
        }
        if (Date.now() >= deadline) throw this.leader === NONE ? EtcdErrors.noLeader : EtcdErrors.timeout;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.cfg.heartbeatIntervalMs);
          this.leaderWaiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    }
  }

  // ---- Linearizable reads ----------------------------------------------------------------------

  /** Resolves once this member has applied everything committed before the call (ReadIndex). */
  linearizableBarrier(): Promise<void> {
    this.checkUsable();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.readQueue.indexOf(d);
        if (i >= 0) this.readQueue.splice(i, 1);
        if (this.readRound !== undefined) {
          const j = this.readRound.waiters.indexOf(d);
          if (j >= 0) this.readRound.waiters.splice(j, 1);
        }
        this.metrics.readIndexesFailed++;
        reject(this.leader === NONE ? EtcdErrors.noLeader : EtcdErrors.timeout);
      }, this.requestTimeoutMs());
      const d: Deferred<void> = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.readQueue.push(d);
      this.startReadRound();
    });
  }

  /** Reads that arrive together share one ReadIndex round, as etcd's linearizable read loop does. */
  private startReadRound(): void {
    if (this.readRound !== undefined || this.readQueue.length === 0 || this.stopped) return;
    const waiters = this.readQueue;
    this.readQueue = [];
    const ctx = `${this.requestIdPrefix}r${++this.readSeq}`;
    try {
      this.node.readIndex(ctx);
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      // No leader yet: try again shortly (each read has its own deadline).
      this.readQueue = waiters.concat(this.readQueue);
      if (this.readRetry === undefined) {
        this.readRetry = setTimeout(() => {
          this.readRetry = undefined;
          this.startReadRound();
        }, this.cfg.heartbeatIntervalMs);
      }
      return;
    }
    const timer = setTimeout(() => {
      // Lost (leader change, dropped message): ask again with the same readers.
      if (this.readRound?.ctx !== ctx) return;
      this.readRound = undefined;
      this.readQueue = waiters.concat(this.readQueue);
      this.startReadRound();
    }, READ_INDEX_RETRY_MS);
    this.readRound = { ctx, waiters, timer };
    this.schedule();
  }

  private onReadState(rs: ReadState): void {
    const round = this.readRound;
    if (round === undefined || rs.requestCtx !== round.ctx) return;
    clearTimeout(round.timer);
    this.readRound = undefined;
    void this.waitApplied(rs.index).then(() => {
      for (const w of round.waiters) w.resolve();
    });
    this.startReadRound();
  }

  private waitApplied(index: number): Promise<void> {
    if (this.applied >= index) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.appliedWaiters.push({ index, d: { resolve, reject } });
    });
  }

  private releaseAppliedWaiters(): void {
    for (let i = this.appliedWaiters.length - 1; i >= 0; i--) {
      const w = this.appliedWaiters[i] as { index: number; d: Deferred<void> };
      if (w.index <= this.applied) {
        this.appliedWaiters.splice(i, 1);
        w.d.resolve();
      }
    }
  }

  // ---- Auth ------------------------------------------------------------------------------------

  /**
   * Who a request's token names (etcd's AuthInfoFromCtx): undefined without a token; a token minted
   * at a raft index this member has not applied yet waits for it (etcd's isValidSimpleToken).
   */
  async authInfo(token: string | undefined): Promise<AuthInfo | undefined> {
    const index = token === undefined ? undefined : SimpleTokens.indexOf(token);
    if (index !== undefined && index > this.applied) {
      let timer: NodeJS.Timeout | undefined;
      const waited = await Promise.race([
        this.waitApplied(index).then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), this.requestTimeoutMs());
        }),
      ]);
      clearTimeout(timer);
      if (!waited) throw EtcdErrors.invalidAuthToken;
    }
    return this.authInfoNow(token);
  }

  /** As authInfo, without waiting: a token from an entry not applied here yet is invalid. */
  authInfoNow(token: string | undefined): AuthInfo | undefined {
    if (token === undefined) return undefined;
    const index = SimpleTokens.indexOf(token);
    if (index === undefined || index > this.applied) throw EtcdErrors.invalidAuthToken;
    const username = this.tokens.use(token);
    if (username === undefined) throw EtcdErrors.invalidAuthToken;
    return { username, revision: this.auth.revision };
  }

  // ---- What the API layer reads ----------------------------------------------------------------

  header(revision?: number): ResponseHeader {
    // Every response carries both IDs in decimal; converting them once saves two BigInts a call.
    this.decimalIds ??= { cluster: BigInt(`0x${this.clusterId}`).toString(), member: BigInt(`0x${this.memberId}`).toString() };
    return {
      cluster_id: this.decimalIds.cluster,
      member_id: this.decimalIds.member,
      revision: String(revision ?? this.mvcc.currentRevision),
      raft_term: String(this.node.basicStatus().term),
    };
  }

  leaderId(): string {
    return this.leader;
  }

  isLearner(): boolean {
    return this.membership.members.get(this.memberId)?.isLearner ?? false;
  }

  raftStatus(): ReturnType<RaftNode['status']> {
    return this.node.status();
  }

  appliedIndex(): number {
    return this.applied;
  }

  async dbSize(): Promise<number> {
    this.dbSizeBytes = await this.store.approximateSizeBytes();
    return this.dbSizeBytes;
  }

  quotaBytes(): number {
    return this.cfg.quotaBackendBytes > 0 ? this.cfg.quotaBackendBytes : DEFAULT_QUOTA_BYTES;
  }

  /**
   * True when checkQuota has something to do (an alarm, a size refresh due, or the size over the
   * quota): writes call it first and skip the await in the common case.
   */
  quotaCheckNeeded(): boolean {
    return (
      this.membership.hasAlarm('NOSPACE') || Date.now() - this.dbSizeCheckedAt > DB_SIZE_REFRESH_MS || this.dbSizeBytes > this.quotaBytes()
    );
  }

  /** Writes that add data are refused once the NOSPACE alarm is raised (etcd's quota). */
  async checkQuota(): Promise<void> {
    if (this.membership.hasAlarm('NOSPACE')) throw EtcdErrors.noSpace;
    if (Date.now() - this.dbSizeCheckedAt > DB_SIZE_REFRESH_MS) {
      // Refreshed in the background: a directory listing plus a stat per file is many thread-pool
      // round trips, too slow to sit in front of every write for a check that may be this stale.
      this.dbSizeCheckedAt = Date.now();
      this.store.approximateSizeBytes().then(
        (bytes) => {
          this.dbSizeBytes = bytes;
        },
        () => undefined, // closed or failed: the write path reports that itself
      );
    }
    if (this.dbSizeBytes > this.quotaBytes()) {
      this.log.warn({ dbSize: this.dbSizeBytes, quota: this.quotaBytes() }, 'database space exceeded; raising NOSPACE alarm');
      await this.propose({ request: 'alarm', alarm: { member_id: this.memberId, alarm: 'NOSPACE', activate: true } }).catch(
        () => undefined,
      );
      throw EtcdErrors.noSpace;
    }
  }

  async defragment(): Promise<void> {
    await this.store.compact();
    this.dbSizeBytes = await this.store.approximateSizeBytes();
  }

  /** The whole state, at [reserve.before, length - reserve.after) (the Snapshot RPC frames it in place). */
  snapshotState(reserve?: { before: number; after: number }): Buffer {
    return this.exportState(reserve);
  }

  // ---- Membership ------------------------------------------------------------------------------

  /** Members that have been connected to us for a while (and we ourselves): etcd's "started". */
  private connectedSince(id: string, now: number): boolean {
    if (id === this.memberId) return true;
    const since = this.transport.activeSince(id);
    return since !== undefined && now - since >= HEALTH_INTERVAL_MS;
  }

  /**
   * etcd 3.4's strict reconfiguration check. Started, as etcd counts it, means the member has
   * published its name (it has run at least once), so a change that would leave fewer than a
   * quorum of started voters is 'not enough started members'. Then a quorum of the current
   * voters must have been connected to us for HEALTH_INTERVAL_MS, else 'unhealthy cluster' (etcd
   * asks all voters for an add; we ask a quorum). Both run before anything is proposed.
   */
  private checkReconfig(votersAfter: readonly string[]): void {
    const started = votersAfter.filter((id) => id === this.memberId || (this.membership.members.get(id)?.name ?? '') !== '').length;
    if (started < Math.floor(votersAfter.length / 2) + 1) throw EtcdErrors.memberNotEnoughStarted;
    const now = Date.now();
    const voters = this.node.status().voters;
    const connected = voters.filter((id) => this.connectedSince(id, now)).length;
    if (connected < Math.floor(voters.length / 2) + 1) throw EtcdErrors.unhealthy;
  }

  async addMember(peerURLs: string[], isLearner: boolean): Promise<Member> {
    this.checkUsable();
    if (peerURLs.length === 0 || !peerURLs.every(isValidUrl)) throw EtcdErrors.memberBadURLs;
    if (this.membership.peerURLInUse(peerURLs)) throw EtcdErrors.peerURLExist;
    const id = computeMemberId(peerURLs, this.cfg.initialClusterToken, Math.floor(Date.now() / 1000));
    if (this.membership.members.has(id) || this.membership.removed.has(id)) throw EtcdErrors.memberExist;
    if (!isLearner) this.checkReconfig([...this.node.status().voters, id]);
    const ctx: MemberContext = { request_id: `${this.requestIdPrefix}c${++this.proposalSeq}`, id, name: '', peer_urls: peerURLs, client_urls: [], is_learner: isLearner };
    await this.proposeConfChange(isLearner ? ConfChangeType.AddLearner : ConfChangeType.AddNode, id, ctx);
    return this.membership.members.get(id) ?? { id, name: '', peerURLs, clientURLs: [], isLearner };
  }

  async removeMember(id: string): Promise<void> {
    this.checkUsable();
    const member = this.membership.members.get(id);
    if (member === undefined) throw EtcdErrors.memberNotFound;
    if (!member.isLearner) this.checkReconfig(this.node.status().voters.filter((v) => v !== id));
    const ctx: MemberContext = { request_id: `${this.requestIdPrefix}c${++this.proposalSeq}`, id, name: member.name, peer_urls: member.peerURLs, client_urls: member.clientURLs, is_learner: member.isLearner };
    await this.proposeConfChange(ConfChangeType.RemoveNode, id, ctx);
  }

  async promoteMember(id: string): Promise<void> {
    this.checkUsable();
    const member = this.membership.members.get(id);
    if (member === undefined) throw EtcdErrors.memberNotFound;
    if (!member.isLearner) throw EtcdErrors.memberNotLearner;
    if (this.role !== StateRole.Leader) {
      // etcd forwards promote to the leader, which alone knows the learner's progress.
      throw EtcdErrors.notLeader;
    }
    const st = this.node.status();
    const match = st.progress.get(id)?.match ?? 0;
    if (match < 0.9 * st.lastIndex) throw EtcdErrors.learnerNotReady;
    this.checkReconfig([...st.voters, id]);
    const ctx: MemberContext = { request_id: `${this.requestIdPrefix}c${++this.proposalSeq}`, id, name: member.name, peer_urls: member.peerURLs, client_urls: member.clientURLs, is_learner: false };
    await this.proposeConfChange(ConfChangeType.AddNode, id, ctx);
  }

  async updateMember(id: string, peerURLs: string[]): Promise<void> {
    this.checkUsable();
    const member = this.membership.members.get(id);
    if (member === undefined) throw EtcdErrors.memberNotFound;
    if (peerURLs.length === 0 || !peerURLs.every(isValidUrl)) throw EtcdErrors.memberBadURLs;
    if (this.membership.peerURLInUse(peerURLs, id)) throw EtcdErrors.peerURLExist;
    await this.propose({
      request: 'member_update',
      member_update: { request_id: '', id, name: member.name, peer_urls: peerURLs, client_urls: member.clientURLs, is_learner: member.isLearner },
    });
  }

  private async proposeConfChange(type: ConfChangeType, nodeId: string, ctx: MemberContext): Promise<void> {
    const deadline = Date.now() + this.requestTimeoutMs();
    const done = new Promise<ApplyOutcome>((resolve, reject) => {
      this.waiters.set(ctx.request_id, { resolve, reject, deadline, confChange: true });
    });
    // It can time out while we still wait for a leader, before it is awaited: not an unhandled rejection.
    done.catch(() => undefined);
    try {
      await this.withLeader(deadline, () => this.node.proposeConfChange({ type, nodeId, context: encodeMemberContext(ctx) }));
    } catch (err) {
      this.takeWaiter(ctx.request_id);
      throw err;
    }
    this.schedule();
    await done;
  }

  /** Announces this member's name and client URLs through the log, as etcd's publish does. */
  private async publishSelf(): Promise<void> {
    while (!this.stopped && !this.published) {
      const me = this.membership.members.get(this.memberId);
      const urls = [...this.cfg.advertiseClientUrls];
      if (me !== undefined && me.name === this.cfg.name && me.clientURLs.join(',') === urls.join(',')) {
        this.published = true;
        return;
      }
      try {
        await this.propose({ request: 'publish', publish: { member_id: this.memberId, name: this.cfg.name, client_urls: urls } });
        this.published = true;
        this.log.info({ name: this.cfg.name, clientURLs: urls }, 'published member attributes to the cluster');
      } catch (err) {
        if (this.stopped) return;
        if (!(err instanceof EtcdError)) this.log.warn({ err }, 'publishing member attributes failed; retrying');
        await new Promise((r) => setTimeout(r, this.cfg.electionTimeoutMs));
      }
    }
  }

  // ---- Leadership ------------------------------------------------------------------------------

  /** Hands leadership to `target` and waits until it leads (etcd's MoveLeader). */
  async moveLeader(target: string): Promise<void> {
    this.checkUsable();
    if (this.role !== StateRole.Leader) throw EtcdErrors.notLeader;
    const st = this.node.status();
    if (target === this.memberId) return;
    if (!st.voters.includes(target)) throw EtcdErrors.badLeaderTransferee;
    this.node.transferLeader(target);
    this.schedule();
    const deadline = Date.now() + this.requestTimeoutMs();
    while (this.leader !== target) {
      if (Date.now() > deadline) throw EtcdErrors.timeout;
      await new Promise((r) => setTimeout(r, this.cfg.heartbeatIntervalMs / 2));
      if (this.role === StateRole.Leader && this.node.status().transferee === NONE && this.leader === this.memberId) {
        // The transfer was abandoned (target unreachable for an election timeout): ask again.
        this.node.transferLeader(target);
        this.schedule();
      }
    }
  }

  /** Graceful stop: hand leadership to the most caught-up voter first, then stop. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    if (this.role === StateRole.Leader && this.fatalError === undefined) {
      const st = this.node.status();
      let best: string | undefined;
      let bestMatch = -1;
      for (const id of st.voters) {
        const match = st.progress.get(id)?.match ?? 0;
        if (id !== this.memberId && match > bestMatch) {
          best = id;
          bestMatch = match;
        }
      }
      if (best !== undefined) {
        try {
          await Promise.race([this.moveLeader(best), new Promise((r) => setTimeout(r, this.cfg.electionTimeoutMs))]);
          this.log.info({ to: best }, 'transferred leadership before stopping');
        } catch (err) {
          this.log.warn({ err }, 'leadership transfer before stopping failed');
        }
      }
    }
    this.stopped = true;
    clearInterval(this.ticker);
    this.compactor?.stop();
    this.watchHub.close(); // watch hub: stop its sync timers
    this.leases.stop();
    this.tokens.stop();
    clearTimeout(this.readRetry);
    if (this.readRound !== undefined) clearTimeout(this.readRound.timer);
    for (const w of this.waiters.values()) {
      w.reject(EtcdErrors.stopped);
    }
    this.waiters.clear();
    for (const d of [...this.readQueue, ...(this.readRound?.waiters ?? [])]) d.reject(EtcdErrors.stopped);
    // Let an in-flight Ready finish its write before the store closes.
    while (this.processing) await new Promise((r) => setTimeout(r, 5));
    await this.transport.close();
    await this.store.close();
    this.mvcc.close();
  }

  /** Where the MVCC stores of this data dir keep the values of superseded revisions. */
  private static coldValuesRoot(cfg: ServerConfig): string {
    return join(cfg.dataDir, 'member', 'cold-values');
  }

  private static coldStores = 0;

  /** A folder of its own for each store (a snapshot install builds the next beside the current). */
  private static coldValuesDir(cfg: ServerConfig): string {
    return join(KetchServer.coldValuesRoot(cfg), String(++KetchServer.coldStores));
  }

  private static newLessor(cfg: ServerConfig): Lessor {
    return new Lessor({ minTtlSeconds: Lessor.minTtlSeconds(cfg.heartbeatIntervalMs, cfg.electionTimeoutMs), nowMs: () => performance.now() });
  }

  /** What the lease coordinator may use of this member. */
  private leaseHost(): LeaseHost {
    return {
      memberId: this.memberId,
      clusterId: this.clusterId,
      log: this.log,
      isLeader: () => this.role === StateRole.Leader && !this.stopped,
      hasLeader: () => this.leader !== NONE,
      peerCredentials: this.peerCredentials,
      leaderPeerUrls: () =>
        this.leader === NONE || this.leader === this.memberId
          ? undefined
          : this.membership.members.get(this.leader)?.peerURLs.map((url) => dialUrl(url, this.cfg.peerDialOverrides)),
      propose: (body) => this.propose(body),
      waitCommittedApplied: () => this.waitApplied(this.node.basicStatus().commit),
      keysWithLease: (id) => this.mvcc.keysWithLease(id),
      requestTimeoutMs: () => this.requestTimeoutMs(),
      electionTimeoutMs: () => this.cfg.electionTimeoutMs,
    };
  }

  /** Whether the member is fit to serve (for /health). */
  healthy(): boolean {
    return !this.stopped && this.fatalError === undefined && this.leader !== NONE;
  }

}

function isValidUrl(u: string): boolean {
  try {
    const url = new URL(u);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.port !== '';
  } catch {
    return false;
  }
}

function seedFrom(id: string): number {
  return Number(BigInt(`0x${id}`) & 0xffffffffn);
}
