// Prometheus metrics for every program, on prom-client (exposition format, types, HELP escaping,
// the process_* and nodejs_* collectors dashboards expect). Hot paths keep plain number fields
// and arrays of their own; the metrics declared with `read` copy them into prom-client only when
// scraped, so a request never builds a label map or a hash string.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export { Counter, Gauge, Histogram, Registry };

let processMetrics: Registry | undefined;

/**
 * The process and runtime collectors (process_resident_memory_bytes, nodejs_eventloop_lag_seconds,
 * ...), once per process however many servers it runs (tests run several in one).
 */
export function processRegistry(): Registry {
  if (processMetrics === undefined) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}

/** The text exposition of the given registries and of the process collectors. */
export async function renderMetrics(...registries: Registry[]): Promise<string> {
  const parts = await Promise.all([processRegistry(), ...registries].map((r) => r.metrics()));
  // prom-client writes NaN as "Nan"; Prometheus reads either, stricter parsers only "NaN".
  return parts.map((p) => (p.endsWith('\n') || p === '' ? p : `${p}\n`)).join('').replace(/ Nan$/gm, ' NaN');
}

/** Label values of one series and its value, as a scrape-time reader yields them. */
export type Sample = readonly [labels: Record<string, string>, value: number];

interface ReadOptions {
  name: string;
  help: string;
  labelNames?: readonly string[];
}

/** A gauge whose value is read when scraped: `read` returns a number (unlabelled) or samples. */
export function readGauge(registry: Registry, opts: ReadOptions, read: () => number | Promise<number> | Iterable<Sample>): Gauge {
  return new Gauge({
    name: opts.name,
    help: opts.help,
    labelNames: opts.labelNames ?? [],
    registers: [registry],
    async collect() {
      const v = await read();
      if (typeof v === 'number') {
        this.set(v);
        return;
      }
      this.reset();
      for (const [labels, value] of v) this.set(labels, value);
    },
  });
}

/** A counter whose running total is kept elsewhere (a plain field) and copied in when scraped. */
export function readCounter(registry: Registry, opts: ReadOptions, read: () => number | Iterable<Sample>): Counter {
  return new Counter({
    name: opts.name,
    help: opts.help,
    labelNames: opts.labelNames ?? [],
    registers: [registry],
    collect() {
      const v = read();
      this.reset();
      if (typeof v === 'number') {
        this.inc(v);
        return;
      }
      for (const [labels, value] of v) this.inc(labels, value);
    },
  });
}

/** Exponential buckets as Prometheus' Go client builds them (start, factor, count). */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start * factor ** i);
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
