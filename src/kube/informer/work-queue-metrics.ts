// client-go's workqueue metrics (component-base's prometheus provider), by queue name:
// workqueue_depth, workqueue_adds_total, workqueue_retries_total, workqueue_queue_duration_seconds,
// workqueue_work_duration_seconds, workqueue_unfinished_work_seconds and
// workqueue_longest_running_processor_seconds. As in client-go, a process sets one provider and
// every named queue reports through it; a queue made anew (a new leadership term) takes over
// its name's series.

import { Histogram, readCounter, readGauge, type Registry, type Sample } from '../../util/prometheus.js';

/** What a queue tells its metrics; the gauges read the queue itself when scraped. */
export interface QueueMetrics {
  added(): void;
  retried(): void;
  /** Seconds an item waited in the queue before a worker took it. */
  queued(seconds: number): void;
  /** Seconds a worker held an item. */
  worked(seconds: number): void;
  /** The queue whose depth and in-process items the gauges read from now on. */
  attach(source: QueueState): void;
}

export interface QueueState {
  depth(): number;
  /** Monotonic ms at which each item now in process was taken. */
  processingSinceMs(): Iterable<number>;
  nowMs(): number;
}

/** client-go's buckets for both durations: 10 ns to 10 s by factors of ten. */
const DURATION_BUCKETS = Array.from({ length: 10 }, (_, i) => 1e-8 * 10 ** i);

interface NamedQueue {
  labels: { name: string };
  adds: number;
  retries: number;
  source: QueueState | undefined;
}

export class WorkQueueMetricsProvider {
  private readonly queues = new Map<string, NamedQueue>();
  private readonly queueDuration: Histogram;
  private readonly workDuration: Histogram;

  constructor(registry: Registry) {
    const labelNames = ['name'];
    const each = (read: (q: NamedQueue) => number) => (): Sample[] => [...this.queues.values()].map((q): Sample => [q.labels, read(q)]);
    readGauge(registry, { name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames }, each((q) => q.source?.depth() ?? 0));
    readCounter(registry, { name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames }, each((q) => q.adds));
    readCounter(registry, { name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue', labelNames }, each((q) => q.retries));
    readGauge(
      registry,
      { name: 'workqueue_unfinished_work_seconds', help: 'How many seconds of work has been done that is in progress and hasn\'t been observed by work_duration. Large values indicate stuck threads.', labelNames },
      each((q) => inProcess(q.source).sum),
    );
    readGauge(
      registry,
      { name: 'workqueue_longest_running_processor_seconds', help: 'How many seconds has the longest running processor for workqueue been running.', labelNames },
      each((q) => inProcess(q.source).max),
    );
    this.queueDuration = new Histogram({ name: 'workqueue_queue_duration_seconds', help: 'How long in seconds an item stays in workqueue before being requested.', labelNames, buckets: DURATION_BUCKETS, registers: [registry] });
    this.workDuration = new Histogram({ name: 'workqueue_work_duration_seconds', help: 'How long in seconds processing an item from workqueue takes.', labelNames, buckets: DURATION_BUCKETS, registers: [registry] });
  }

  forQueue(name: string): QueueMetrics {
    let q = this.queues.get(name);
    if (q === undefined) {
      q = { labels: { name }, adds: 0, retries: 0, source: undefined };
      this.queues.set(name, q);
    }
    const named = q;
    return {
      added: () => named.adds++,
      retried: () => named.retries++,
      queued: (seconds) => this.queueDuration.observe(named.labels, seconds),
      worked: (seconds) => this.workDuration.observe(named.labels, seconds),
      attach: (source) => (named.source = source),
    };
  }
}

function inProcess(source: QueueState | undefined): { sum: number; max: number } {
  let sum = 0;
  let max = 0;
  if (source === undefined) return { sum, max };
  const now = source.nowMs();
  for (const since of source.processingSinceMs()) {
    const seconds = (now - since) / 1000;
    sum += seconds;
    if (seconds > max) max = seconds;
  }
  return { sum, max };
}

let provider: WorkQueueMetricsProvider | undefined;

/** Sets the process's provider (client-go's workqueue.SetProvider); queues named after it report. */
export function setWorkQueueMetricsProvider(p: WorkQueueMetricsProvider | undefined): void {
  provider = p;
}

/** The metrics for a queue of this name, or undefined when the process collects none. */
export function workQueueMetrics(name: string): QueueMetrics | undefined {
  return provider?.forQueue(name);
}
