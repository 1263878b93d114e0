/**
 * Self time by function from a V8 .cpuprofile (node --cpu-prof, or bench/ketch-profiled).
 *   node dist/bench/cpuprofile-top.js FILE.cpuprofile [--top 15] [--from US --to US]
 * --from/--to are in the profile's clock (microseconds of CLOCK_MONOTONIC, the same clock as
 * process.hrtime in any process on the machine), so a caller can keep only a measured window.
 *   node dist/bench/cpuprofile-top.js FILE.cpuprofile --callers writeBuffer [--depth 8]
 * prints the call stacks under which that function had its self time;
 *   node dist/bench/cpuprofile-top.js FILE.cpuprofile --inclusive h2-authority-fix,member-store
 * prints, per pattern, the time of samples with a frame whose url or function name contains it.
 * Each sample is charged the time until the next sample, as Chrome DevTools does. The sampler runs
 * on wall-clock time: on a CPU-starved machine a descheduled thread's time is charged to whatever it
 * was running, so these are shares of wall time, not of CPU time.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTimeEntry {
  /** functionName (or "(anonymous)") and where it is defined. */
  name: string;
  location: string;
  /** A coarse grouping by file or package, for the second table. */
  group: string;
  selfMs: number;
  /** Share of all sampled time in the window, idle included. */
  percent: number;
}

export interface SelfTimeSummary {
  windowMs: number;
  sampledMs: number;
  idleMs: number;
  /** Sampled time that is not "(idle)": what the main thread was busy with. */
  busyMs: number;
  top: SelfTimeEntry[];
  groups: { group: string; selfMs: number; percent: number }[];
}

function shortUrl(url: string): string {
  if (url === '') return '';
  let u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) return u.slice(nm + '/node_modules/'.length);
  const dist = u.indexOf('/dist/');
  if (dist >= 0) u = u.slice(dist + '/dist/'.length);
  return u;
}

function groupOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native/builtin)';
  const short = shortUrl(url);
  if (url.includes('/node_modules/')) {
    const parts = short.split('/');
    return parts[0]?.startsWith('@') === true ? `${parts[0]}/${parts[1]}` : (parts[0] ?? short);
  }
  if (short.startsWith('node:')) return short;
  return short;
}

export function summarize(profile: CpuProfile, opts: { top?: number; from?: number; to?: number } = {}): SelfTimeSummary {
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);
  const from = opts.from ?? -Infinity;
  const to = opts.to ?? Infinity;
  const self = new Map<string, { name: string; location: string; group: string; us: number }>();
  const groups = new Map<string, number>();
  let t = profile.startTime;
  let sampled = 0;
  let idle = 0;
  const n = profile.samples.length;
  for (let i = 0; i < n; i++) {
    t += profile.timeDeltas[i] ?? 0;
    const next = i + 1 < n ? t + (profile.timeDeltas[i + 1] ?? 0) : profile.endTime;
    const dur = Math.max(0, next - t);
    if (t < from || t >= to) continue;
    const node = byId.get(profile.samples[i] as number);
    if (node === undefined) continue;
    const cf = node.callFrame;
    const name = cf.functionName === '' ? '(anonymous)' : cf.functionName;
    const location = cf.url === '' ? '' : `${shortUrl(cf.url)}:${cf.lineNumber + 1}`;
    const key = `${name}\u0000${location}`;
    const entry = self.get(key) ?? { name, location, group: groupOf(cf.url, name), us: 0 };
    entry.us += dur;
    self.set(key, entry);
    groups.set(entry.group, (groups.get(entry.group) ?? 0) + dur);
    sampled += dur;
    if (name === '(idle)') idle += dur;
  }
  const pct = (us: number): number => (sampled > 0 ? (100 * us) / sampled : 0);
  const top = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, opts.top ?? 15)
    .map((e) => ({ name: e.name, location: e.location, group: e.group, selfMs: e.us / 1000, percent: pct(e.us) }));
  const groupList = [...groups.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([group, us]) => ({ group, selfMs: us / 1000, percent: pct(us) }));
  const windowMs = (Math.min(to, profile.endTime) - Math.max(from, profile.startTime)) / 1000;
  return { windowMs, sampledMs: sampled / 1000, idleMs: idle / 1000, busyMs: (sampled - idle) / 1000, top, groups: groupList };
}

/** The call stacks (innermost caller first) under which `functionName` spent its self time. */
export function callers(
  profile: CpuProfile,
  functionName: string,
  opts: { from?: number; to?: number; depth?: number; top?: number } = {},
): { stack: string; selfMs: number }[] {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const stacks = new Map<string, number>();
  let t = profile.startTime;
  const n = profile.samples.length;
  for (let i = 0; i < n; i++) {
    t += profile.timeDeltas[i] ?? 0;
    const next = i + 1 < n ? t + (profile.timeDeltas[i + 1] ?? 0) : profile.endTime;
    if (t < (opts.from ?? -Infinity) || t >= (opts.to ?? Infinity)) continue;
    const node = byId.get(profile.samples[i] as number);
    if (node === undefined || node.callFrame.functionName !== functionName) continue;
    const frames: string[] = [];
    let id = parent.get(node.id);
    while (id !== undefined && frames.length < (opts.depth ?? 8)) {
      const cf = (byId.get(id) as ProfileNode).callFrame;
      frames.push(`${cf.functionName === '' ? '(anonymous)' : cf.functionName}${cf.url === '' ? '' : ` ${shortUrl(cf.url)}:${cf.lineNumber + 1}`}`);
      id = parent.get(id);
    }
    const key = frames.join(' < ');
    stacks.set(key, (stacks.get(key) ?? 0) + Math.max(0, next - t));
  }
  return [...stacks.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, opts.top ?? 8)
    .map(([stack, us]) => ({ stack, selfMs: us / 1000 }));
}

/** Time of the samples whose stack has a frame whose url or function name contains `pattern`. */
export function inclusive(profile: CpuProfile, pattern: string, opts: { from?: number; to?: number } = {}): { ms: number; percent: number } {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const hit = new Map<number, boolean>();
  const matches = (id: number): boolean => {
    const known = hit.get(id);
    if (known !== undefined) return known;
    const cf = (byId.get(id) as ProfileNode).callFrame;
    const up = parent.get(id);
    const result = cf.url.includes(pattern) || cf.functionName.includes(pattern) || (up !== undefined && matches(up));
    hit.set(id, result);
    return result;
  };
  let t = profile.startTime;
  let total = 0;
  let matched = 0;
  const n = profile.samples.length;
  for (let i = 0; i < n; i++) {
    t += profile.timeDeltas[i] ?? 0;
    const next = i + 1 < n ? t + (profile.timeDeltas[i + 1] ?? 0) : profile.endTime;
    if (t < (opts.from ?? -Infinity) || t >= (opts.to ?? Infinity)) continue;
    const dur = Math.max(0, next - t);
    total += dur;
    if (matches(profile.samples[i] as number)) matched += dur;
  }
  return { ms: matched / 1000, percent: total > 0 ? (100 * matched) / total : 0 };
}

export function formatSummary(s: SelfTimeSummary, groupsShown = 12): string {
  const lines: string[] = [];
  lines.push(
    `window ${s.windowMs.toFixed(0)} ms, sampled ${s.sampledMs.toFixed(0)} ms, idle ${s.idleMs.toFixed(0)} ms, ` +
      `main thread busy ${s.busyMs.toFixed(0)} ms (${s.sampledMs > 0 ? ((100 * s.busyMs) / s.sampledMs).toFixed(1) : '0'}%)`,
  );
  lines.push('');
  lines.push(' #   self ms  self %  function  (location)');
  s.top.forEach((e, i) => {
    lines.push(
      `${String(i + 1).padStart(2)} ${e.selfMs.toFixed(1).padStart(9)} ${e.percent.toFixed(1).padStart(6)}%  ${e.name}${e.location === '' ? '' : `  (${e.location})`}`,
    );
  });
  lines.push('');
  lines.push('self time by file / package:');
  for (const g of s.groups.slice(0, groupsShown)) {
    lines.push(`  ${g.selfMs.toFixed(1).padStart(9)} ms ${g.percent.toFixed(1).padStart(6)}%  ${g.group}`);
  }
  return lines.join('\n');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      top: { type: 'string', default: '15' },
      from: { type: 'string' },
      to: { type: 'string' },
      callers: { type: 'string' },
      inclusive: { type: 'string' },
      depth: { type: 'string', default: '8' },
    },
  });
  const file = positionals[0];
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/cpuprofile-top.js FILE.cpuprofile [--top 15] [--from US --to US]\n');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const opts: { top: number; from?: number; to?: number } = { top: Number(values.top) };
  if (values.from !== undefined) opts.from = Number(values.from);
  if (values.to !== undefined) opts.to = Number(values.to);
  if (values.inclusive !== undefined) {
    for (const pattern of values.inclusive.split(',')) {
      const r = inclusive(profile, pattern, opts);
      console.log(`${r.ms.toFixed(1).padStart(9)} ms ${r.percent.toFixed(1).padStart(6)}%  ${pattern}`);
    }
  } else if (values.callers !== undefined) {
    for (const c of callers(profile, values.callers, { ...opts, depth: Number(values.depth) })) {
      console.log(`${c.selfMs.toFixed(1).padStart(9)} ms  ${c.stack}`);
    }
  } else {
    console.log(formatSummary(summarize(profile, opts)));
  }
}
