/**
 * CPU and memory of processes from /proc: utime+stime of a pid (all its threads), VmRSS, and the
 * whole machine's busy time. Used to show that the load generator is not the bottleneck and how
 * much CPU the servers used.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

import { monoUs } from './stats.js';

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

/** utime+stime of a process in seconds; undefined once it is gone. */
export function procCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is stat field 3 (state); utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** Resident set size of a process in bytes (VmRSS); undefined once it is gone. */
export function procRssBytes(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    return m === null ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** RssAnon and RssFile of a process (bytes), to tell heap-like memory from mapped files. */
export function procRssParts(pid: number | undefined): { anon: number; file: number } | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { anon: kb('RssAnon'), file: kb('RssFile') };
  } catch {
    return undefined;
  }
}

/** Whole-machine busy and total CPU seconds (all cores) from /proc/stat. */
export function machineCpuSeconds(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] as string;
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK };
}

/** This process's own CPU seconds (user + system). */
export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * CPU use over a window, in cores (CPU seconds per wall second): `start()` snapshots, `stop()`
 * returns the averages for the generator processes (plus this process), the server members and the
 * whole machine. Pids are read at each call, so processes may come and go in between; a process
 * that is gone at `stop()` contributes what it had used at `start()` (nothing).
 */
export class CpuWindow {
  private t0 = 0;
  private mono0 = 0;
  private gen0 = new Map<number, number>();
  private members0 = new Map<number, number>();
  private self0 = 0;
  private machine0 = { busy: 0, total: 0 };

  constructor(
    private readonly generatorPids: () => readonly (number | undefined)[],
    private readonly memberPids: () => readonly (number | undefined)[],
  ) {}

  start(): void {
    this.t0 = performance.now();
    this.mono0 = monoUs();
    this.gen0 = snapshot(this.generatorPids());
    this.members0 = snapshot(this.memberPids());
    this.self0 = selfCpuSeconds();
    this.machine0 = machineCpuSeconds();
  }

  stop(): CpuUse {
    const seconds = (performance.now() - this.t0) / 1000;
    const gen = delta(this.gen0, snapshot(this.generatorPids()));
    const members = delta(this.members0, snapshot(this.memberPids()));
    const self = selfCpuSeconds() - this.self0;
    const machine = machineCpuSeconds();
    return {
      seconds,
      fromMonoUs: this.mono0,
      toMonoUs: monoUs(),
      generatorCores: (gen + self) / seconds,
      membersCores: members / seconds,
      machineBusyCores: (machine.busy - this.machine0.busy) / seconds,
    };
  }
}

export interface CpuUse {
  /** Wall seconds of the window. */
  seconds: number;
  /** The window on CLOCK_MONOTONIC (µs), the clock of V8 CPU profiles (for --profile). */
  fromMonoUs: number;
  toMonoUs: number;
  /** Load generator processes plus the bench process itself (which drives or verifies the load). */
  generatorCores: number;
  /** The three server members together. */
  membersCores: number;
  /** Everything on the machine (other people's jobs included). */
  machineBusyCores: number;
}

function snapshot(pids: readonly (number | undefined)[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of pids) {
    if (pid === undefined) continue;
    const cpu = procCpuSeconds(pid);
    if (cpu !== undefined) out.set(pid, cpu);
  }
  return out;
}

function delta(a: Map<number, number>, b: Map<number, number>): number {
  let sum = 0;
  for (const [pid, end] of b) {
    const start = a.get(pid);
    if (start !== undefined) sum += end - start;
  }
  return sum;
}
