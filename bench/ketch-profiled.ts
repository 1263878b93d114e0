/**
 * The ketch server under the V8 CPU profiler, for `put-bench --profile`.
 *
 * Node 20 refuses `--cpu-prof` in NODE_OPTIONS, and the integration harness spawns
 * `node <KETCH_ENTRY> <etcd flags>`, so put-bench points KETCH_ENTRY here. When
 * KETCH_BENCH_CPU_PROF_DIR is set in the environment, this starts the profiler in-process
 * (same 1 ms sampling interval as --cpu-prof), runs the real server (dist/src/cmd/ketch.js, or
 * KETCH_BENCH_REAL_ENTRY), and on exit writes `ketch-<pid>.cpuprofile` there. The inspector session
 * is in-thread, so Profiler.stop answers synchronously inside the 'exit' handler. The profile only
 * exists if the process exits (SIGTERM/SIGINT: ketch calls process.exit); SIGKILL loses it.
 * Without the variable it only imports the real server.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PerformanceObserver, constants, performance } from 'node:perf_hooks';

const profileDir = process.env.KETCH_BENCH_CPU_PROF_DIR;
const realEntry =
  process.env.KETCH_BENCH_REAL_ENTRY ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cmd', 'ketch.js');

/**
 * Starts an in-thread inspector profiler; at exit, `stopMethod` answers synchronously (the session
 * is in-thread) and its `profile` is written to `<dir>/ketch-<pid>.<extension>`.
 */
function profileUntilExit(dir: string, extension: string, start: (session: Session) => void, stopMethod: 'Profiler.stop' | 'HeapProfiler.stopSampling'): void {
  const session = new Session();
  session.connect();
  start(session);
  process.once('exit', () => {
    session.post(stopMethod, (err: Error | null, result: { profile: unknown }) => {
      if (err !== null) {
        process.stderr.write(`ketch-profiled: ${stopMethod} failed: ${err.message}\n`);
        return;
      }
      writeFileSync(join(dir, `ketch-${process.pid}.${extension}`), JSON.stringify(result.profile));
    });
  });
}

if (profileDir !== undefined && profileDir !== '') {
  profileUntilExit(
    profileDir,
    'cpuprofile',
    (session) => {
      session.post('Profiler.enable');
      session.post('Profiler.setSamplingInterval', { interval: 1000 });
      session.post('Profiler.start');
    },
    'Profiler.stop',
  );
}

// Allocation sampling (KETCH_BENCH_HEAP_PROF_DIR): every sampled allocation counts, also those the
// GC has since collected, so the profile shows where the allocation churn (and the GC time) comes
// from, not only what is still live. Written as `ketch-<pid>.heapprofile` at exit. With
// KETCH_BENCH_HEAP_PROF_SURVIVORS=1 only what outlived the minor GCs counts: what scavenges copy
// and promote, the cost of each scavenge pause.
const heapProfileDir = process.env.KETCH_BENCH_HEAP_PROF_DIR;
const survivorsOnly = process.env.KETCH_BENCH_HEAP_PROF_SURVIVORS === '1';
if (heapProfileDir !== undefined && heapProfileDir !== '') {
  profileUntilExit(
    heapProfileDir,
    'heapprofile',
    (session) => {
      session.post('HeapProfiler.enable');
      session.post('HeapProfiler.startSampling', {
        samplingInterval: 16384,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: !survivorsOnly,
      });
    },
    'HeapProfiler.stopSampling',
  );
}

// GC pauses (KETCH_BENCH_GC_LOG_DIR): every pause the main thread took, as `ketch-<pid>.gc.json`
// ({kind, startMs, ms} per pause, startMs since the epoch, so pauses line up with h2load's logs), to tell GC stalls from other
// causes of tail latency. Rewritten every second and at exit, so a member stopped with SIGKILL (the
// bench's unprofiled clusters) leaves its pauses too.
const gcLogDir = process.env.KETCH_BENCH_GC_LOG_DIR;
if (gcLogDir !== undefined && gcLogDir !== '') {
  const kinds: Record<number, string> = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  const pauses: { kind: string; startMs: number; ms: number }[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = ((e as PerformanceEntry & { detail?: { kind?: number } }).detail)?.kind ?? -1;
      pauses.push({ kind: kinds[kind] ?? String(kind), startMs: Math.round(performance.timeOrigin + e.startTime), ms: Number(e.duration.toFixed(3)) });
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const write = (): void => writeFileSync(join(gcLogDir, `ketch-${process.pid}.gc.json`), JSON.stringify(pauses));
  setInterval(write, 1000).unref();
  process.once('exit', write);
}

await import(pathToFileURL(realEntry).href);
