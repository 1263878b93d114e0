// The member's Prometheus metrics under etcd 3.4's names and types (types as etcd declares them,
// e.g. proposals_committed_total is a gauge there), so etcd's Grafana dashboards and alerts work.
// The write path only bumps the plain fields below; everything else is read from the server when
// scraped (see util/prometheus.ts).

import { Histogram, readCounter, readGauge, type Registry, type Sample } from '../util/prometheus.js';

/** What the metrics read from the member at scrape time. */
export interface MemberMetricsSource {
  readonly memberId: string;
  readonly serverVersion: string;
  readonly clusterVersion: string;
  hasLeader(): boolean;
  isLeader(): boolean;
  isLearner(): boolean;
  term(): number;
  committedIndex(): number;
  appliedIndex(): number;
  pendingProposals(): number;
  /** Cached database size; refreshed by dbSizeBytesFresh before a scrape. */
  dbSizeBytesFresh(): Promise<number>;
  quotaBytes(): number;
  keysTotal(): number;
  /** Bytes of superseded values the MVCC store keeps in cold files (src/mvcc/cold-values.ts). */
  coldValueBytes(): number;
  /** Entries the in-memory raft log holds (the WAL holds more until the next snapshot). */
  raftLogEntries(): number;
  currentRevision(): number;
  compactRevision(): number;
  watchers(): number;
  snapshotApplyInProgress(): boolean;
  /** Peer traffic in bytes by member ID (hex). */
  peerBytes(): { sent: Record<string, number>; received: Record<string, number> };
  /** Each peer and whether the stream to it is up. */
  activePeers(): readonly { peerId: string; active: boolean }[];
  /** Heartbeats the transport had to drop (queue full, peer unreachable). */
  heartbeatSendFailures(): number;
  /** MVCC operations since start (etcd's metricsTxnWrite counts). */
  mvccOps(): { ranges: number; puts: number; deletes: number; txns: number; putBytes: number };
  /** Lease grants/revokes applied, renewals and expiries on the primary, since start. */
  leaseCounts(): { granted: number; revoked: number; renewed: number; expired: number };
  /** File descriptors open now and the soft limit (undefined where /proc is not readable). */
  fds(): { used: number; limit: number } | undefined;
}

/** etcd's disk histograms: 1 ms doubling to 8 s (prometheus.ExponentialBuckets(0.001, 2, 14)). */
const DISK_BUCKETS = Array.from({ length: 14 }, (_, i) => 0.001 * 2 ** i);

/** etcd's peer round-trip buckets: 0.1 ms doubling to 3.2768 s (ExponentialBuckets(0.0001, 2, 16)). */
const RTT_BUCKETS = Array.from({ length: 16 }, (_, i) => Number((0.0001 * 2 ** i).toPrecision(6)));

/** An apply slower than this is counted as slow (etcd's warnApplyDuration). */
export const SLOW_APPLY_MS = 100;

export class ServerMetrics {
  // Bumped on the hot path: plain numbers, copied into the registry on scrape.
  leaderChanges = 0;
  proposalsFailed = 0;
  slowApplies = 0;
  readIndexesFailed = 0;
  slowReadIndexes = 0;
  healthSuccesses = 0;
  healthFailures = 0;
  /** Bytes of raft entries and hard states handed to the log (etcd_disk_wal_write_bytes_total). */
  walWriteBytes = 0;

  private readonly walFsync: Histogram;
  private readonly peerRoundTrip: Histogram;
  private readonly backendCommit: Histogram;

  constructor(
    readonly registry: Registry,
    src: MemberMetricsSource,
  ) {
    const r = registry;
    readGauge(r, { name: 'etcd_server_has_leader', help: 'Whether or not a leader exists. 1 is existence, 0 is not.' }, () => (src.hasLeader() ? 1 : 0));
    readGauge(r, { name: 'etcd_server_is_leader', help: 'Whether or not this member is a leader. 1 if is, 0 otherwise.' }, () => (src.isLeader() ? 1 : 0));
    readGauge(r, { name: 'etcd_server_is_learner', help: 'Whether or not this member is a learner. 1 if is, 0 otherwise.' }, () => (src.isLearner() ? 1 : 0));
    readCounter(r, { name: 'etcd_server_leader_changes_seen_total', help: 'The number of leader changes seen.' }, () => this.leaderChanges);
    readGauge(r, { name: 'etcd_server_proposals_committed_total', help: 'The total number of consensus proposals committed.' }, () => src.committedIndex());
    readGauge(r, { name: 'etcd_server_proposals_applied_total', help: 'The total number of consensus proposals applied.' }, () => src.appliedIndex());
    readGauge(r, { name: 'etcd_server_proposals_pending', help: 'The current number of pending proposals to commit.' }, () => src.pendingProposals());
    readCounter(r, { name: 'etcd_server_proposals_failed_total', help: 'The total number of failed proposals seen.' }, () => this.proposalsFailed);
    readCounter(r, { name: 'etcd_server_slow_apply_total', help: 'The total number of slow apply requests (likely overloaded from slow disk).' }, () => this.slowApplies);
    readCounter(r, { name: 'etcd_server_read_indexes_failed_total', help: 'The total number of failed read indexes seen.' }, () => this.readIndexesFailed);
    readCounter(r, { name: 'etcd_server_slow_read_indexes_total', help: 'The total number of pending read indexes not in sync with leader\'s or timed out read index requests.' }, () => this.slowReadIndexes);
    readCounter(r, { name: 'etcd_server_health_success', help: 'The total number of successful health checks' }, () => this.healthSuccesses);
    readCounter(r, { name: 'etcd_server_health_failures', help: 'The total number of failed health checks' }, () => this.healthFailures);
    readGauge(r, { name: 'etcd_server_snapshot_apply_in_progress_total', help: '1 if the server is applying the incoming snapshot. 0 if none.' }, () => (src.snapshotApplyInProgress() ? 1 : 0));
    readGauge(r, { name: 'etcd_server_quota_backend_bytes', help: 'Current backend storage quota size in bytes.' }, () => src.quotaBytes());
    readGauge(r, { name: 'etcd_server_id', help: 'Server or member ID in hexadecimal format. 1 for \'server_id\' label with current ID.', labelNames: ['server_id'] }, () => [[{ server_id: src.memberId }, 1]]);
    readGauge(r, { name: 'etcd_server_version', help: 'Which version is running. 1 for \'server_version\' label with current version.', labelNames: ['server_version'] }, () => [[{ server_version: src.serverVersion }, 1]]);
    readGauge(r, { name: 'etcd_cluster_version', help: 'Which version is running. 1 for \'cluster_version\' label with current cluster version', labelNames: ['cluster_version'] }, () => [[{ cluster_version: src.clusterVersion }, 1]]);
    // Ketch's own (etcd 3.4 serves no term gauge): ketch-cluster status and the dashboard read it.
    readGauge(r, { name: 'etcd_server_term', help: 'The current raft term (Ketch; not served by etcd 3.4).' }, () => src.term());
    const dbSize = (): Promise<number> => src.dbSizeBytesFresh();
    readGauge(r, { name: 'etcd_mvcc_db_total_size_in_bytes', help: 'Total size of the underlying database physically allocated in bytes.' }, dbSize);
    readGauge(r, { name: 'etcd_debugging_mvcc_db_total_size_in_bytes', help: 'Total size of the underlying database physically allocated in bytes.' }, dbSize);
    // LevelDB has no free pages to tell apart: what is allocated is in use.
    readGauge(r, { name: 'etcd_mvcc_db_total_size_in_use_in_bytes', help: 'Total size of the underlying database logically in use in bytes.' }, dbSize);
    readGauge(r, { name: 'etcd_debugging_mvcc_keys_total', help: 'Total number of keys.' }, () => src.keysTotal());
    readGauge(r, { name: 'etcd_debugging_mvcc_current_revision', help: 'The current revision of store.' }, () => src.currentRevision());
    readGauge(r, { name: 'etcd_debugging_mvcc_compact_revision', help: 'The revision of the last compaction in store.' }, () => src.compactRevision());
    readGauge(r, { name: 'etcd_debugging_mvcc_watcher_total', help: 'Total number of watchers.' }, () => src.watchers());
    // etcd labels these To / From with the peer's member ID.
    readCounter(r, { name: 'etcd_network_peer_sent_bytes_total', help: 'The total number of bytes sent to peers.', labelNames: ['To'] }, () =>
      Object.entries(src.peerBytes().sent).map(([id, n]): Sample => [{ To: id }, n]),
    );
    readCounter(r, { name: 'etcd_network_peer_received_bytes_total', help: 'The total number of bytes received from peers.', labelNames: ['From'] }, () =>
      Object.entries(src.peerBytes().received).map(([id, n]): Sample => [{ From: id }, n]),
    );
    readGauge(r, { name: 'etcd_network_active_peers', help: 'The current number of active peer connections.', labelNames: ['Local', 'Remote'] }, () =>
      src.activePeers().map((p): Sample => [{ Local: src.memberId, Remote: p.peerId }, p.active ? 1 : 0]),
    );
    readCounter(r, { name: 'etcd_server_heartbeat_send_failures_total', help: 'The total number of leader heartbeat send failures (likely overloaded from slow disk).' }, () => src.heartbeatSendFailures());
    // etcd 3.4 serves each MVCC count twice, as etcd_mvcc_* and (until 3.5) etcd_debugging_mvcc_*.
    for (const prefix of ['etcd_mvcc', 'etcd_debugging_mvcc']) {
      readCounter(r, { name: `${prefix}_range_total`, help: 'Total number of ranges seen by this member.' }, () => src.mvccOps().ranges);
      readCounter(r, { name: `${prefix}_put_total`, help: 'Total number of puts seen by this member.' }, () => src.mvccOps().puts);
      readCounter(r, { name: `${prefix}_delete_total`, help: 'Total number of deletes seen by this member.' }, () => src.mvccOps().deletes);
      readCounter(r, { name: `${prefix}_txn_total`, help: 'Total number of txns seen by this member.' }, () => src.mvccOps().txns);
    }
    readGauge(r, { name: 'etcd_debugging_mvcc_total_put_size_in_bytes', help: 'The total size of put kv pairs seen by this member.' }, () => src.mvccOps().putBytes);
    readCounter(r, { name: 'etcd_debugging_lease_granted_total', help: 'The total number of granted leases.' }, () => src.leaseCounts().granted);
    readCounter(r, { name: 'etcd_debugging_lease_revoked_total', help: 'The total number of revoked leases.' }, () => src.leaseCounts().revoked);
    readCounter(r, { name: 'etcd_debugging_lease_renewed_total', help: 'The number of renewed leases seen by the leader.' }, () => src.leaseCounts().renewed);
    readCounter(r, { name: 'etcd_debugging_server_lease_expired_total', help: 'The total number of expired leases.' }, () => src.leaseCounts().expired);
    // A gauge in etcd 3.4 (walWriteBytes), despite the _total.
    readGauge(r, { name: 'etcd_disk_wal_write_bytes_total', help: 'Total number of bytes written in WAL.' }, () => this.walWriteBytes);
    // Ketch's own: how much history the MVCC store moved off the heap (disk, not memory).
    readGauge(r, { name: 'ketch_mvcc_cold_value_bytes', help: 'Bytes of superseded values kept in cold files instead of memory (a cache of the backend).' }, () => src.coldValueBytes());
    readGauge(r, { name: 'ketch_raft_log_memory_entries', help: 'Raft log entries held in memory (entries every peer has are dropped; the WAL keeps them until the next snapshot).' }, () => src.raftLogEntries());
    readGauge(r, { name: 'os_fd_used', help: 'The number of used file descriptors.' }, () => src.fds()?.used ?? 0);
    readGauge(r, { name: 'os_fd_limit', help: 'The file descriptor limit.' }, () => src.fds()?.limit ?? 0);
    this.peerRoundTrip = new Histogram({ name: 'etcd_network_peer_round_trip_time_seconds', help: 'Round-Trip-Time histogram between peers', labelNames: ['To'], buckets: RTT_BUCKETS, registers: [r] });
    this.walFsync = new Histogram({ name: 'etcd_disk_wal_fsync_duration_seconds', help: 'The latency distributions of fsync called by WAL.', buckets: DISK_BUCKETS, registers: [r] });
    this.backendCommit = new Histogram({ name: 'etcd_disk_backend_commit_duration_seconds', help: 'The latency distributions of commit called by backend.', buckets: DISK_BUCKETS, registers: [r] });
  }

  /** A probe to a peer came back after `seconds` (see transport/peer-prober.ts). */
  observePeerRoundTrip(peerId: string, seconds: number): void {
    this.peerRoundTrip.observe({ To: peerId }, seconds);
  }

  /** A raft write that was fsynced (one LevelDB batch holds what etcd splits into WAL and backend). */
  observeFsync(seconds: number): void {
    this.walFsync.observe(seconds);
  }

  /** Any batch write of a Ready, synced or not. */
  observeBackendCommit(seconds: number): void {
    this.backendCommit.observe(seconds);
  }
}
