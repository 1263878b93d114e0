/**
 * The member's Prometheus metrics, under etcd's names so existing dashboards and alerts work.
 */
const FSYNC_BUCKETS = [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192];

export class ServerMetrics {
  leaderChanges = 0;
  proposalsCommitted = 0;
  private readonly fsyncCounts = new Array<number>(FSYNC_BUCKETS.length).fill(0);
  private fsyncSum = 0;
  private fsyncCount = 0;

  observeFsync(seconds: number): void {
    this.fsyncSum += seconds;
    this.fsyncCount++;
    for (let i = 0; i < FSYNC_BUCKETS.length; i++) {
      if (seconds <= (FSYNC_BUCKETS[i] as number)) this.fsyncCounts[i] = (this.fsyncCounts[i] as number) + 1;
    }
  }

  /** The text exposition format. */
  render(s: { hasLeader: boolean; isLeader: boolean; dbSizeBytes: number; appliedIndex: number; term: number }): string {
    const lines: string[] = [];
    const gauge = (name: string, help: string, value: number): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`);
    };
    const counter = (name: string, help: string, value: number): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${value}`);
    };
    gauge('etcd_server_has_leader', 'Whether or not a leader exists. 1 is existence, 0 is not.', s.hasLeader ? 1 : 0);
    gauge('etcd_server_is_leader', 'Whether or not this member is a leader. 1 if is, 0 otherwise.', s.isLeader ? 1 : 0);
    counter('etcd_server_leader_changes_seen_total', 'The number of leader changes seen.', this.leaderChanges);
    // etcd declares these two as gauges despite their names.
    gauge('etcd_server_proposals_committed_total', 'The total number of consensus proposals committed.', this.proposalsCommitted);
    gauge('etcd_server_proposals_applied_total', 'The total number of consensus proposals applied.', s.appliedIndex);
    gauge('etcd_server_term', 'The current raft term.', s.term);
    gauge('etcd_mvcc_db_total_size_in_bytes', 'Total size of the underlying database physically allocated in bytes.', s.dbSizeBytes);
    lines.push(
      '# HELP etcd_disk_wal_fsync_duration_seconds The latency distributions of fsync called by WAL.',
      '# TYPE etcd_disk_wal_fsync_duration_seconds histogram',
    );
    FSYNC_BUCKETS.forEach((b, i) => lines.push(`etcd_disk_wal_fsync_duration_seconds_bucket{le="${b}"} ${this.fsyncCounts[i]}`));
    lines.push(
      `etcd_disk_wal_fsync_duration_seconds_bucket{le="+Inf"} ${this.fsyncCount}`,
      `etcd_disk_wal_fsync_duration_seconds_sum ${this.fsyncSum}`,
      `etcd_disk_wal_fsync_duration_seconds_count ${this.fsyncCount}`,
    );
    return `${lines.join('\n')}\n`;
  }
}
