// Reads the Prometheus text exposition format for tests: samples with their labels, and each
// family's `# TYPE`. Strict: a line that is not a sample, comment or blank fails the parse.

export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedMetrics {
  samples: MetricSample[];
  /** Family name → type (counter, gauge, histogram, summary, untyped). */
  types: Map<string, string>;
  text: string;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/y;

export function parsePrometheusText(text: string): ParsedMetrics {
  const samples: MetricSample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice('# TYPE '.length).split(' ');
      types.set(name as string, type as string);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE_LINE.exec(line);
    if (m === null) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < body.length) {
      const l = LABEL.exec(body);
      if (l === null) throw new Error(`bad labels in ${JSON.stringify(line)}`);
      labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_all, c: string) => (c === 'n' ? '\n' : c));
    }
    const raw = m[3] as string;
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    // Go's ParseFloat (Prometheus) reads NaN in any case; prom-client writes "Nan".
    if (Number.isNaN(value) && raw.toLowerCase() !== 'nan') throw new Error(`bad sample value in ${JSON.stringify(line)}`);
    samples.push({ name: m[1] as string, labels, value });
  }
  return { samples, types, text };
}

/** Sum of the samples of `name` whose labels include `match`. */
export function sumOf(m: ParsedMetrics, name: string, match: Record<string, string> = {}): number {
  return m.samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
}

/** Whether any sample of `name` has labels including `match`. */
export function has(m: ParsedMetrics, name: string, match: Record<string, string> = {}): boolean {
  return m.samples.some((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

/** The label names used by the samples of a family (histograms: of its _bucket series, without le). */
export function labelNames(m: ParsedMetrics, family: string): string[] {
  const type = m.types.get(family);
  const series = type === 'histogram' ? `${family}_bucket` : family;
  const names = new Set<string>();
  for (const s of m.samples) if (s.name === series) for (const k of Object.keys(s.labels)) if (k !== 'le') names.add(k);
  return [...names].sort();
}

export async function scrape(url: string, timeoutMs = 10_000): Promise<ParsedMetrics> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${text.slice(0, 300)}`);
  return parsePrometheusText(text);
}

/** The distinct values one label takes across the samples of `name`. */
export function labelValues(m: ParsedMetrics, name: string, label: string): string[] {
  const values = new Set<string>();
  for (const s of m.samples) if (s.name === name && s.labels[label] !== undefined) values.add(s.labels[label] as string);
  return [...values].sort();
}
