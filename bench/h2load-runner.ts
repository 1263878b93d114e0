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
  /** Connections x streams: the requests it keeps in flight. */
  slots: number;
  /** Wall-clock µs of the spawn; its warm-up timer starts later (after it connected). */
  spawnedUs: number;
  warmupSeconds: number;
  /**
   * Wall-clock µs before which it cannot have stopped: its warm-up and duration timers start after
   * the spawn (a lower bound for the end of requests it cuts off).
   */
  stopsNotBeforeUs: number;
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
  const spawnedUs = wallUs();
  const child = spawn(H2LOAD, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  });
  return {
    pid: child.pid,
    logFile: o.logFile,
    slots: o.conns * o.streams,
    spawnedUs,
    warmupSeconds: o.warmupSeconds,
    stopsNotBeforeUs: spawnedUs + (o.warmupSeconds + o.durationSeconds) * 1e6,
    done,
  };
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
  /** Latencies (ms, ascending) of HTTP-200 requests started inside the latency window. */
  latenciesMs: Float64Array;
  /** Lower bounds (ms) of the latencies of the requests cut off (see windowRequests). */
  cutOffLowerBoundsMs: number[];
  /** Requests that ended inside the window with HTTP 200. */
  completedInWindow: number;
  /** Requests started inside the latency window that failed or got another status. */
  notOk: number;
}

/**
 * Reads the logs of h2load runs: requests that completed in [fromUs, toUs) (wall-clock µs), and
 * latencies. Each process's latencies are those of requests it started after its own warm-up and
 * at least `tailSeconds` before it can have stopped: on h2load's own timeline, since the caller's
 * timers overshoot on a loaded machine and the processes start one after the other.
 *
 * h2load stops at the end of its duration without logging the requests still in flight, which
 * would silently drop the slowest requests of the window's end. It refills a slot the moment a
 * request ends, so each process's last `slots` ends are exactly when its cut-off requests
 * started; for those inside the latency window the latency is only known to be at least (the
 * earliest time the process can have stopped - their start), which is at least the tail.
 */
export function windowRequests(runs: readonly H2loadRun[], fromUs: number, toUs: number, tailSeconds: number): WindowRequests {
  const lat: number[] = [];
  let completed = 0;
  let notOk = 0;
  const cut: number[] = [];
  for (const run of runs) {
    const file = run.logFile;
    if (!existsSync(file)) continue;
    const latencyFromUs = run.spawnedUs + run.warmupSeconds * 1e6;
    const latencyToUs = run.stopsNotBeforeUs - tailSeconds * 1e6;
    const ends: number[] = [];
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (line === '') continue;
      const [startText, status, usText] = line.split('\t');
      const start = Number(startText);
      const us = Number(usText);
      const ok = status === '200';
      // Status 0: the response headers came during h2load's warm-up (it records statuses only in
      // the main phase), so the request started in the warm-up: a completion, not a sample.
      const warmup = status === '0';
      const end = start + us;
      ends.push(end);
      if ((ok || warmup) && end >= fromUs && end < toUs) completed++;
      if (warmup || start < latencyFromUs || start >= latencyToUs) continue;
      if (!ok) {
        notOk++;
        continue;
      }
      lat.push(us / 1000);
    }
    if (ends.length === 0) continue;
    ends.sort((a, b) => b - a);
    for (const startOfCut of ends.slice(0, run.slots)) {
      if (startOfCut >= latencyFromUs && startOfCut < latencyToUs) {
        cut.push(Math.max(0, run.stopsNotBeforeUs - startOfCut) / 1000);
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
