/**
 * Turns row samples into the side-by-side summary: per row and metric the median of each
 * implementation over the rounds, its spread (min-max), the ratio ketch/etcd, the generator's CPU,
 * and whether every sample's work was verified. Renders it as a text table and as markdown.
 */
import type { Impl } from './bench-harness.js';
import type { RowSample, RowSpec } from './bench-types.js';
import { median, spread } from './stats.js';

export interface ImplCell {
  median: number;
  /** Some sample's value was only a lower bound: the median may be too. */
  lowerBound: boolean;
  min: number;
  max: number;
  samples: number;
}

export interface SummaryLine {
  row: string;
  title: string;
  metric: string;
  label: string;
  better: 'higher' | 'lower';
  cells: Partial<Record<Impl, ImplCell>>;
  /** median(ketch) / median(etcd); NaN unless both ran. */
  ratio: number;
}

export interface RowSummary {
  row: string;
  title: string;
  lines: SummaryLine[];
  /** Median generator CPU (cores) over the samples, per implementation. */
  generatorCores: Partial<Record<Impl, number>>;
  /** Median CPU of the 3 members together (cores). */
  membersCores: Partial<Record<Impl, number>>;
  /** Median busy CPU of the whole machine (cores), other people's jobs included. */
  machineBusyCores: Partial<Record<Impl, number>>;
  verified: Partial<Record<Impl, { ok: number; of: number; failures: string[] }>>;
}

export function summarize(rows: RowSpec[], samples: RowSample[], impls: Impl[]): RowSummary[] {
  const out: RowSummary[] = [];
  for (const spec of rows) {
    const mine = samples.filter((s) => s.row === spec.name);
    if (mine.length === 0) continue;
    const lines: SummaryLine[] = spec.metrics.map((m) => {
      const cells: Partial<Record<Impl, ImplCell>> = {};
      for (const impl of impls) {
        const of = mine.filter((s) => s.impl === impl);
        const xs = of.map((s) => s.values[m.key] ?? NaN);
        if (xs.length === 0) continue;
        const lowerBound = of.some((s) => s.lowerBounds?.includes(m.key) === true);
        cells[impl] = { median: median(xs), lowerBound, ...spread(xs), samples: xs.filter((x) => Number.isFinite(x)).length };
      }
      const k = cells.ketch?.median ?? NaN;
      const e = cells.etcd?.median ?? NaN;
      // A ratio of values that can be zero or negative (latency from the ack) means nothing.
      const ratio = k > 0 && e > 0 ? k / e : NaN;
      return { row: spec.name, title: spec.title, metric: m.key, label: m.label, better: m.better, cells, ratio };
    });
    const generatorCores: Partial<Record<Impl, number>> = {};
    const membersCores: Partial<Record<Impl, number>> = {};
    const machineBusyCores: Partial<Record<Impl, number>> = {};
    const verified: RowSummary['verified'] = {};
    for (const impl of impls) {
      const s = mine.filter((x) => x.impl === impl);
      if (s.length === 0) continue;
      generatorCores[impl] = median(s.map((x) => x.cpu?.generatorCores ?? NaN));
      membersCores[impl] = median(s.map((x) => x.cpu?.membersCores ?? NaN));
      machineBusyCores[impl] = median(s.map((x) => x.cpu?.machineBusyCores ?? NaN));
      verified[impl] = {
        ok: s.filter((x) => x.verified).length,
        of: s.length,
        failures: s.filter((x) => !x.verified).map((x) => `round ${x.round}: ${x.verification}`),
      };
    }
    out.push({ row: spec.name, title: spec.title, lines, generatorCores, membersCores, machineBusyCores, verified });
  }
  return out;
}

/** Significant digits that suit the magnitude: 12345, 1234, 123, 12.3, 1.23, 0.123. */
export function fmt(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  const a = Math.abs(n);
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  if (a >= 1) return n.toFixed(2);
  return n.toFixed(3);
}

function range(c: ImplCell | undefined): string {
  if (c === undefined || c.samples <= 1) return '';
  return `${fmt(c.min)} .. ${fmt(c.max)}`;
}

function verifiedText(s: RowSummary, impls: Impl[]): string {
  return impls
    .map((i) => {
      const v = s.verified[i];
      return v === undefined ? '' : v.ok === v.of ? 'ok' : `FAIL ${v.of - v.ok}/${v.of}`;
    })
    .join(' | ');
}

function cores(s: RowSummary, impls: Impl[], which: 'generatorCores' | 'membersCores' | 'machineBusyCores'): string {
  return impls.map((i) => fmt(s[which][i])).join(' | ');
}

interface Column {
  head: string;
  align: 'l' | 'r';
  cell: (s: RowSummary, l: SummaryLine, first: boolean) => string;
}

function columns(impls: Impl[]): Column[] {
  const both = impls.includes('ketch') && impls.includes('etcd');
  const cols: Column[] = [
    { head: 'row', align: 'l', cell: (s, _l, first) => (first ? s.title : '') },
    { head: 'metric', align: 'l', cell: (_s, l) => l.label },
  ];
  for (const impl of impls) {
    cols.push({ head: impl, align: 'r', cell: (_s, l) => `${l.cells[impl]?.lowerBound === true ? '>=' : ''}${fmt(l.cells[impl]?.median)}` });
  }
  if (both) cols.push({ head: 'ketch/etcd', align: 'r', cell: (_s, l) => (Number.isFinite(l.ratio) ? l.ratio.toFixed(2) : '-') });
  for (const impl of impls) cols.push({ head: `${impl} min-max`, align: 'r', cell: (_s, l) => range(l.cells[impl]) });
  cols.push({ head: `gen CPU (${impls.join(' | ')})`, align: 'r', cell: (s, _l, first) => (first ? cores(s, impls, 'generatorCores') : '') });
  cols.push({ head: `servers CPU (${impls.join(' | ')})`, align: 'r', cell: (s, _l, first) => (first ? cores(s, impls, 'membersCores') : '') });
  cols.push({ head: `machine busy (${impls.join(' | ')})`, align: 'r', cell: (s, _l, first) => (first ? cores(s, impls, 'machineBusyCores') : '') });
  cols.push({ head: `verified (${impls.join(' | ')})`, align: 'l', cell: (s, _l, first) => (first ? verifiedText(s, impls) : '') });
  return cols;
}

function cellsOf(summary: RowSummary[], impls: Impl[]): { cols: Column[]; rows: string[][] } {
  const cols = columns(impls);
  const rows: string[][] = [];
  for (const s of summary) {
    s.lines.forEach((l, i) => rows.push(cols.map((c) => c.cell(s, l, i === 0))));
  }
  return { cols, rows };
}

export function textTable(summary: RowSummary[], impls: Impl[]): string {
  const { cols, rows } = cellsOf(summary, impls);
  const widths = cols.map((c, i) => Math.max(c.head.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((t, i) => ((cols[i] as Column).align === 'l' ? t.padEnd(widths[i] as number) : t.padStart(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return [line(cols.map((c) => c.head)), ...rows.map(line)].join('\n');
}

export function markdownTable(summary: RowSummary[], impls: Impl[]): string {
  const { cols, rows } = cellsOf(summary, impls);
  const esc = (t: string): string => t.replaceAll('|', '\\|');
  return [
    `| ${cols.map((c) => esc(c.head)).join(' | ')} |`,
    `| ${cols.map((c) => (c.align === 'l' ? ':--' : '--:')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

/** Every sample that was not verified, with its reason. */
export function failures(summary: RowSummary[]): string[] {
  const out: string[] = [];
  for (const s of summary) {
    for (const [impl, v] of Object.entries(s.verified)) {
      for (const f of v.failures) out.push(`${s.title} (${impl}) ${f}`);
    }
  }
  return out;
}
