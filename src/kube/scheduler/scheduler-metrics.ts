// kube-scheduler's metrics (pkg/scheduler/metrics): scheduler_schedule_attempts_total{result,
// profile}, scheduler_scheduling_attempt_duration_seconds and the older
// scheduler_e2e_scheduling_duration_seconds (the same observation), and scheduler_pending_pods
// {queue}. They outlive one Scheduler: each leadership term's scheduler reports into them.

import { Counter, Histogram, readGauge, type Registry } from '../../util/prometheus.js';

export type AttemptResult = 'scheduled' | 'unschedulable' | 'error';

/** What the current term's scheduler is holding, read when scraped. */
export interface PendingPods {
  active(): number;
  backoff(): number;
  unschedulable(): number;
}

/** kube's buckets: 1 ms doubling, 15 of them. */
const ATTEMPT_BUCKETS = Array.from({ length: 15 }, (_, i) => 0.001 * 2 ** i);

export class SchedulerMetrics {
  private readonly attempts: Counter;
  private readonly attemptDuration: Histogram;
  private readonly e2eDuration: Histogram;
  private pending: PendingPods | undefined;

  constructor(registry: Registry) {
    const registers = [registry];
    this.attempts = new Counter({ name: 'scheduler_schedule_attempts_total', help: 'Number of attempts to schedule pods, by the result. \'unschedulable\' means a pod could not be scheduled, while \'error\' means an internal scheduler problem.', labelNames: ['result', 'profile'], registers });
    this.attemptDuration = new Histogram({ name: 'scheduler_scheduling_attempt_duration_seconds', help: 'Scheduling attempt latency in seconds (scheduling algorithm + binding)', labelNames: ['result', 'profile'], buckets: ATTEMPT_BUCKETS, registers });
    this.e2eDuration = new Histogram({ name: 'scheduler_e2e_scheduling_duration_seconds', help: 'E2e scheduling latency in seconds (scheduling algorithm + binding). This metric is replaced by scheduling_attempt_duration_seconds.', labelNames: ['result', 'profile'], buckets: ATTEMPT_BUCKETS, registers });
    readGauge(registry, { name: 'scheduler_pending_pods', help: 'Number of pending pods, by the queue type. \'active\' means number of pods in activeQ; \'backoff\' means number of pods in backoffQ; \'unschedulable\' means number of pods in unschedulablePods.', labelNames: ['queue'] }, () => [
      [{ queue: 'active' }, this.pending?.active() ?? 0],
      [{ queue: 'backoff' }, this.pending?.backoff() ?? 0],
      [{ queue: 'unschedulable' }, this.pending?.unschedulable() ?? 0],
      [{ queue: 'gated' }, 0],
    ]);
  }

  /** The scheduler whose queues scheduler_pending_pods reads (undefined: none is running). */
  attach(pending: PendingPods | undefined): void {
    this.pending = pending;
  }

  attempt(result: AttemptResult, profile: string, seconds: number): void {
    const labels = { result, profile };
    this.attempts.inc(labels);
    this.attemptDuration.observe(labels, seconds);
    this.e2eDuration.observe(labels, seconds);
  }
}
