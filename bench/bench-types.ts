/** What every benchmark row gets and returns. */
import type { Cluster, Impl, Member } from './bench-harness.js';
import type { CpuUse } from './proc-stats.js';

export interface RowContext {
  impl: Impl;
  round: number;
  cluster: Cluster;
  quick: boolean;
  /** A scratch directory for this cluster (h2load bodies and logs). */
  workDir: string;
  /** The compiled helper processes of this run (a copy of dist/bench: see bench-harness.ts). */
  helpersDir: string;
  /** The current leader, once every running member agrees on it. */
  leader(): Promise<Member>;
  log(line: string): void;
}

export interface MetricSpec {
  key: string;
  /** Column text, e.g. "req/s", "p99 ms". */
  label: string;
  better: 'higher' | 'lower';
}

export interface RowSample {
  row: string;
  impl: Impl;
  round: number;
  /** metric key → value (NaN when the run produced none). */
  values: Record<string, number>;
  /** CPU over the measured window (generator = the load generator's processes plus the bench process). */
  cpu: CpuUse | undefined;
  /** Metric keys whose value is only a lower bound (e.g. latencies of requests h2load cut off). */
  lowerBounds?: string[];
  /** Whether the work was checked to have been done (revisions, versions, event sequences). */
  verified: boolean;
  verification: string;
  /** Row-specific numbers for the JSON file. */
  detail: Record<string, unknown>;
  /**
   * For --profile: the process and window whose profile explains this sample, when it is not the
   * leader over the CPU window (e.g. the restarted member from its spawn to ready).
   */
  profileTarget?: { pid: number | undefined; fromMonoUs: number; toMonoUs: number };
}

export interface RowSpec {
  /** The --rows name. */
  name: string;
  /** Table text. */
  title: string;
  metrics: MetricSpec[];
  /** One sample, or several (e.g. one per leader kill). */
  run(ctx: RowContext): Promise<RowSample | RowSample[]>;
}
