/**
 * h2load (Debian nghttp2-client, C) as a gRPC unary load generator: each process posts one
 * prebuilt body (5-byte gRPC frame + protobuf) to one method over `conns` connections with
 * `streams` concurrent streams each, for warm-up + duration seconds, and logs every request of the
 * main phase (wall-clock start µs, HTTP status, µs until the stream closed, trailers included).
 * h2load does not read gRPC trailers, so a gRPC error is an HTTP 200 to it: callers verify the work.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

export const H2LOAD = '/usr/bin/h2load';

export interface H2loadRun {
  pid: number | undefined;
  logFile: string;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

export interface H2loadOptions {
  url: string;
  path: string;
  bodyFile: string;
  logFile: string;
  conns: number;
  streams: number;
  warmupSeconds: number;
  durationSeconds: number;
}

export function requireH2load(): void {
  if (!existsSync(H2LOAD)) throw new Error(`${H2LOAD} is missing: the benchmark's load generator. Install it with: apt-get install -y nghttp2-client`);
}

export function startH2load(o: H2loadOptions): H2loadRun {
  const args = [
    '-c', String(o.conns),
    '-m', String(o.streams),
    '-t', '1',
    '--warm-up-time', `${Math.round(o.warmupSeconds * 1000)}ms`,
    '-D', `${Math.round(o.durationSeconds * 1000)}ms`,
    '-d', o.bodyFile,
    '-H', 'content-type: application/grpc',
    '-H', 'te: trailers',
    '--log-file', o.logFile,
    `${o.url}${o.path}`,
  ];
  const child = spawn(H2LOAD, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  });
  return { pid: child.pid, logFile: o.logFile, done };
}

export interface H2loadSummary {
  /** Main-phase requests that completed (any HTTP status) and that got a 2xx. */
  succeeded: number;
  failed: number;
  errored: number;
  status2xx: number;
  /** Main-phase bytes of DATA frames received (gRPC frames: 5-byte prefix + message). */
  dataBytes: number;
}

export function parseH2loadSummary(stdout: string): H2loadSummary | undefined {
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(stdout);
  const codes = /status codes: (\d+) 2xx/.exec(stdout);
  // "traffic: 1.23MB (1289012) total, ... headers (space savings ...), 45.6KB (46712) data"
  const data = /traffic: .*?, [^,]*?\((\d+)\) data/.exec(stdout);
  if (req === null || codes === null || data === null) return undefined;
  return { succeeded: Number(req[4]), failed: Number(req[5]), errored: Number(req[6]), status2xx: Number(codes[1]), dataBytes: Number(data[1]) };
}

export interface WindowRequests {
  /** Latencies (ms, ascending) of HTTP-200 requests started inside the window. */
  latenciesMs: Float64Array;
  /** Lower bounds (ms) of the latencies of the requests cut off (see windowRequests). */
  cutOffLowerBoundsMs: number[];
  /** Requests that ended inside the window with HTTP 200. */
  completedInWindow: number;
  /** Requests started inside the window that failed or got another status. */
  notOk: number;
}

/**
 * Reads the h2load logs (one per process, each with `slotsPerProcess` = connections x streams
 * concurrent requests) and keeps the window [fromUs, toUs) of wall-clock microseconds.
 *
 * h2load stops at the end of its duration without logging the requests still in flight, which
 * would silently drop the slowest requests of the window's end. It refills a slot the moment a
 * request ends, so each process's last `slotsPerProcess` ends are exactly when its cut-off
 * requests started; for those that started inside the window the latency is only known to be
 * at least (the process's last logged end - their start).
 */
export function windowRequests(logFiles: string[], slotsPerProcess: number, fromUs: number, toUs: number): WindowRequests {
  const lat: number[] = [];
  let completed = 0;
  let notOk = 0;
  const cut: number[] = [];
  for (const file of logFiles) {
    if (!existsSync(file)) continue;
    const ends: number[] = [];
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (line === '') continue;
      const [startText, status, usText] = line.split('\t');
      const start = Number(startText);
      const us = Number(usText);
      const ok = status === '200';
      const end = start + us;
      ends.push(end);
      if (ok && end >= fromUs && end < toUs) completed++;
      if (start < fromUs || start >= toUs) continue;
      if (!ok) {
        notOk++;
        continue;
      }
      lat.push(us / 1000);
    }
    if (ends.length === 0) continue;
    ends.sort((a, b) => b - a);
    const lastEnd = ends[0] as number;
    for (const startOfCut of ends.slice(0, slotsPerProcess)) {
      if (startOfCut >= fromUs && startOfCut < toUs) {
        cut.push((lastEnd - startOfCut) / 1000);
      }
    }
  }
  return { latenciesMs: Float64Array.from(lat).sort(), cutOffLowerBoundsMs: cut, completedInWindow: completed, notOk };
}

/**
 * Percentile of the window's latencies counting cut-off requests as slower than everything seen.
 * When the percentile falls on one of them, its true value is unknown: the result is then the
 * percentile with the cut-off requests at their lower bounds (itself a lower bound), flagged.
 */
export function latencyPercentile(w: WindowRequests, p: number): { ms: number; lowerBound: boolean } {
  const n = w.latenciesMs.length + w.cutOffLowerBoundsMs.length;
  if (n === 0) return { ms: NaN, lowerBound: false };
  const idx = Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1));
  if (idx < w.latenciesMs.length) return { ms: w.latenciesMs[idx] as number, lowerBound: false };
  const all = Float64Array.from([...w.latenciesMs, ...w.cutOffLowerBoundsMs]).sort();
  return { ms: all[idx] as number, lowerBound: true };
}

/** Wall-clock microseconds since the epoch with sub-millisecond resolution (h2load's log clock). */
export function wallUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}
