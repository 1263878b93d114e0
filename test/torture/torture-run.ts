// One torture run: start a cluster, run the workloads while the nemesis injects faults, heal, read
// the final state and every member's revision history, check everything, write the results folder.

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { type AckedWrite, checkAcked, checkLock, checkReplicaLogs, checkRevisionOrder, checkWatchers, type Finding, type LoggedEvent, type WatcherLog } from './checker/event-log.js';
import { checkLinearizable, describeOp, type KeyVerdict, listSpec, registerSpec } from './checker/linearizability.js';
import { History, type HistoryOp, type ListOp, type ReadListOp, type ReadOp, type RegisterOp } from './history.js';
import { describeStep, healAll, type NemesisKind, planSchedule, runStep } from './nemesis.js';
import { type Impl, sleep, type Slot, TortureCluster } from './torture-cluster.js';
import { AppendKeys, appendWorker } from './workloads/append.js';
import { lockNames, lockWorker } from './workloads/lock.js';
import { registerKeys, registerWorker } from './workloads/register.js';
import { watchOnce, type WatchTarget, watchWorker } from './workloads/watch.js';
import type { RunControl, WorkerContext } from './workloads/worker.js';

export interface TortureOptions {
  readonly seed: number;
  readonly durationSec: number;
  readonly nemeses: readonly NemesisKind[];
  readonly impl: Impl;
  readonly members: number;
  /** Each run gets a folder under this. */
  readonly resultsRoot: string;
  /** --snapshot-count (default 100): small, so snapshots, log compaction and snapshot installs happen. */
  readonly snapshotCount?: number;
  /** Keep the members' data dirs even when the run passed. */
  readonly keepData?: boolean;
  /** Sabotage: serializable reads, to show the checker catches stale reads (the run must fail). */
  readonly serializableReads?: boolean;
  /** Progress lines (default: none). */
  readonly progress?: (line: string) => void;
}

export interface TortureReport {
  readonly ok: boolean;
  /** The whole report; its last line is the verdict. */
  readonly text: string;
  readonly resultsDir: string;
  readonly ops: number;
  readonly lost: number;
  readonly watchGaps: number;
  readonly findings: readonly Finding[];
}

const heartbeatMs = 100;
const electionTimeoutMs = 1000;
const opTimeoutMs = 2000;

export async function runTorture(opts: TortureOptions): Promise<TortureReport> {
  const progress = opts.progress ?? (() => undefined);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const resultsDir = join(opts.resultsRoot, `${opts.impl}-n${opts.members}-seed${opts.seed}-${stamp}`);
  mkdirSync(resultsDir, { recursive: true });
  const cluster = await TortureCluster.create({
    impl: opts.impl,
    members: opts.members,
    rootDir: resultsDir,
    snapshotCount: opts.snapshotCount ?? 100,
    heartbeatMs,
    electionTimeoutMs,
    token: `torture-${opts.seed}-${process.pid}`,
  });
  const findings: Finding[] = [];
  const lines: string[] = [];
  const say = (line: string): void => {
    lines.push(line);
    progress(line);
  };
  say(`torture: impl=${opts.impl} members=${opts.members} seed=${opts.seed} duration=${opts.durationSec}s nemeses=${opts.nemeses.join(',') || 'none'}${opts.serializableReads === true ? ' SABOTAGE: serializable reads' : ''}`);
  let keepData = opts.keepData ?? false;
  try {
    await Promise.all(cluster.slots.map((s) => cluster.start(s)));
    if (!(await cluster.waitHealthy(cluster.slots, 60_000))) throw new Error('the cluster did not become healthy within 60 s');
    await cluster.refreshIds();

    const history = new History();
    const control: RunControl = { stopping: false };
    const acked: AckedWrite[] = [];
    const prefix = '/torture/';
    const ctx: WorkerContext = { history, endpoints: cluster.clientUrls, control, prefix, opTimeoutMs, acked, serializableReads: opts.serializableReads ?? false };
    const regKeys = registerKeys(prefix, 3);
    const listKeys = new AppendKeys(prefix, 3, 30);
    const locks = lockNames(prefix);
    const watchTarget: WatchTarget = { finalRev: undefined, giveUp: false };
    const watchers: WatcherLog[] = [];
    const watchNotes: string[] = [];
    const workers: Array<Promise<void>> = [];
    const seed = opts.seed * 1000;
    for (let i = 0; i < 4; i++) workers.push(registerWorker(ctx, `r${i}`, regKeys, seed + i));
    for (let i = 0; i < 3; i++) workers.push(appendWorker(ctx, `a${i}`, listKeys, seed + 10 + i));
    for (let i = 0; i < 2; i++) workers.push(lockWorker(ctx, `l${i}`, locks, seed + 20 + i));
    const watchDone: Array<Promise<void>> = [];
    for (let i = 0; i < 3; i++) {
      const log: WatcherLog = { name: `w${i}`, startRev: 1, events: [], reconnects: 0 };
      watchers.push(log);
      watchDone.push(watchWorker(cluster.clientUrls, control, watchTarget, log, seed + 30 + i, watchNotes));
    }

    // The nemesis, for the run's duration.
    const schedule = planSchedule(opts.seed, opts.nemeses, opts.durationSec * 1000, opts.members, electionTimeoutMs);
    const endAt = Date.now() + opts.durationSec * 1000;
    const stopped = (): boolean => Date.now() >= endAt;
    let stepsRun = 0;
    const kindsRun = new Map<string, number>();
    await sleep(Math.min(2000, opts.durationSec * 100));
    for (const step of schedule) {
      if (stopped()) break;
      progress(`  ${((opts.durationSec * 1000 - (endAt - Date.now())) / 1000).toFixed(1)}s nemesis: ${describeStep(step)}`);
      await runStep(cluster, step, stopped);
      stepsRun++;
      kindsRun.set(step.kind, (kindsRun.get(step.kind) ?? 0) + 1);
      const quietUntil = Math.min(endAt, Date.now() + step.quietMs);
      while (Date.now() < quietUntil) await sleep(Math.min(100, quietUntil - Date.now()));
    }
    while (!stopped()) await sleep(100);

    // Heal, and give the cluster time to come back before the workload stops.
    await healAll(cluster);
    const inCluster = cluster.slots.filter((s) => s.inCluster);
    if (!(await cluster.waitHealthy(inCluster, 90_000))) {
      findings.push({ kind: 'liveness', detail: 'the cluster did not serve linearizable reads on every member within 90 s of healing' });
    }
    await sleep(1000);
    control.stopping = true;
    await withTimeout(Promise.all(workers), 60_000, 'workload clients did not stop').catch((err: unknown) => {
      findings.push({ kind: 'harness', detail: (err as Error).message });
    });

    // Final reads through a healthy member: part of the history, and the final lists.
    const reader = await firstHealthy(inCluster);
    const finalLists = new Map<string, string[]>();
    let finalRev = 0;
    if (reader !== undefined) {
      for (const key of [...regKeys, ...listKeys.all]) {
        const isList = listKeys.all.includes(key);
        const op = isList
          ? history.invoke<ReadListOp>({ process: 'final', key, endpoint: reader.clientUrl, f: 'read-list' })
          : history.invoke<ReadOp>({ process: 'final', key, endpoint: reader.clientUrl, f: 'read' });
        try {
          const res = await reader.admin.range(key, { timeoutMs: 10_000 });
          const v = res.kvs[0]?.value.toString('utf8') ?? null;
          if (op.f === 'read-list') {
            op.result = v === null || v === '' ? [] : v.split(',');
            finalLists.set(key, op.result);
          } else if (op.f === 'read') {
            op.result = v;
          }
          history.okRead(op, Number(res.header.revision));
          finalRev = Math.max(finalRev, Number(res.header.revision));
        } catch (err) {
          history.fail(op, (err as Error).message);
        }
      }
    } else {
      findings.push({ kind: 'liveness', detail: 'no member answered the final reads' });
    }
    await waitApplied(inCluster, finalRev, 30_000);

    // Watchers catch up to the final revision.
    watchTarget.finalRev = finalRev;
    const caughtUp = await withTimeout(Promise.all(watchDone), 45_000, 'watchers did not catch up').then(
      () => true,
      () => false,
    );
    watchTarget.giveUp = true;
    await Promise.allSettled(watchDone);

    // Every member's full history, from revision 1.
    const replicaLogs: Array<{ member: string; events: LoggedEvent[] }> = [];
    for (const s of inCluster) {
      const events: LoggedEvent[] = [];
      let last = 0;
      const deadline = Date.now() + 60_000;
      while (last < finalRev && Date.now() < deadline) {
        const why = await watchOnce(
          s.admin,
          last + 1,
          (batch) => {
            for (const e of batch) {
              events.push(e);
              last = Math.max(last, e.rev);
            }
          },
          () => last >= finalRev,
          20_000,
        );
        if (why.startsWith('canceled')) {
          findings.push({ kind: 'replica-history', detail: `${s.name}: watch from ${last + 1} ${why}` });
          break;
        }
      }
      // A member that cannot be read is reported as such, not compared as if it had nothing.
      if (last < finalRev) findings.push({ kind: 'replica-history', detail: `${s.name}: its history could only be read up to revision ${last} of ${finalRev}` });
      else replicaLogs.push({ member: s.name, events });
    }

    // ---- checks
    for (const line of cluster.unexpectedExits) findings.push({ kind: 'member-crash', detail: line });
    const regOps = history.ops.filter((op): op is RegisterOp => op.f === 'read' || op.f === 'write' || op.f === 'cas');
    const listOps = history.ops.filter((op): op is ListOp => op.f === 'append' || op.f === 'read-list');
    const regVerdicts = checkLinearizable(regOps, registerSpec);
    const listVerdicts = checkLinearizable(listOps, listSpec);
    const { reference, findings: replicaFindings } = checkReplicaLogs(replicaLogs, finalRev);
    findings.push(...replicaFindings);
    const watch = checkWatchers(watchers, reference, finalRev);
    findings.push(...watch.findings);
    const lostCheck = checkAcked(acked, reference);
    findings.push(...lostCheck.findings);
    const lostWhat = new Set(lostCheck.findings.map((f) => f.detail));
    let lost = lostCheck.lost;
    for (const op of listOps) {
      if (op.f !== 'append' || op.outcome !== 'ok') continue;
      const final = finalLists.get(op.key);
      if (final !== undefined && !final.includes(op.element)) {
        lost++;
        const detail = `acknowledged append ${op.element} to ${op.key} (revision ${op.revision}) is missing from the final list`;
        if (!lostWhat.has(detail)) findings.push({ kind: 'lost-append', detail });
      }
    }
    const lock = checkLock(reference, finalRev, locks.prefix, locks.guardKey);
    findings.push(...lock.findings);
    findings.push(...checkRevisionOrder(history.ops, describeOp));

    // ---- report
    const count = (o: HistoryOp['outcome']): number => history.ops.filter((op) => op.outcome === o).length;
    say(`ops: ${history.ops.length} (ok ${count('ok')}, failed ${count('fail')}, unknown ${count('unknown')}); final revision ${finalRev}`);
    say(`nemesis: ${stepsRun} steps (${[...kindsRun].map(([k, n]) => `${k} ${n}`).join(', ') || 'none'})`);
    say(`registers: ${verdictLine(regVerdicts)}`);
    say(`lists: ${verdictLine(listVerdicts)}`);
    say(`watch: ${watchers.length} watchers, ${watchers.reduce((a, w) => a + w.reconnects, 0)} reconnects, ${watch.gaps} missing revisions${caughtUp ? '' : ' (not all caught up)'}`);
    say(`replicas: ${replicaLogs.length} members' histories compared up to revision ${finalRev}`);
    say(`locks: ${lock.fencedWrites} fenced writes by ${lock.holders} holders`);
    say(`acknowledged writes: ${acked.length} checked against the history, ${lost} lost`);
    for (const note of watchNotes.slice(0, 10)) say(`note: ${note}`);
    const bad = [...regVerdicts, ...listVerdicts].filter((v) => v.verdict === 'fail');
    for (const v of bad) {
      say(`NOT LINEARIZABLE: key ${v.key} (${v.recorded} ops recorded, ${v.checked} checked); shortest bad sub-history found (${v.minimal?.length ?? 0} ops):`);
      for (const op of v.minimal ?? []) say(`  ${describeOp(op)}`);
    }
    const budget = [...regVerdicts, ...listVerdicts].filter((v) => v.verdict === 'budget');
    for (const v of budget) findings.push({ kind: 'checker-budget', detail: `key ${v.key}: search budget exhausted after ${v.steps} steps (${v.checked} ops): neither proven nor refuted` });
    for (const f of findings) say(`${f.kind}: ${f.detail}`);
    say(`results: ${resultsDir} (member logs in logs/, nemesis.log, history.jsonl)`);
    const linearizable = bad.length === 0 && budget.length === 0;
    const ok = linearizable && lost === 0 && watch.gaps === 0 && findings.length === 0;
    const verdict = ok
      ? `ok: linearizable, 0 lost, 0 watch gaps`
      : `FAIL (seed ${opts.seed}): ${linearizable ? 'linearizable' : bad.length > 0 ? `NOT linearizable (${bad.map((v) => v.key).join(', ')})` : 'linearizability undecided'}, ${lost} lost, ${watch.gaps} watch gaps, ${findings.length} findings`;
    say(verdict);
    if (!ok) keepData = true;

    writeFileSync(join(resultsDir, 'history.jsonl'), `${history.ops.map((op) => JSON.stringify(op)).join('\n')}\n`);
    writeFileSync(join(resultsDir, 'nemesis.log'), `${cluster.events.join('\n')}\n`);
    writeFileSync(join(resultsDir, 'report.txt'), `${lines.join('\n')}\n`);
    return { ok, text: lines.join('\n'), resultsDir, ops: history.ops.length, lost, watchGaps: watch.gaps, findings };
  } catch (err) {
    keepData = true;
    writeFileSync(join(resultsDir, 'nemesis.log'), `${cluster.events.join('\n')}\n`);
    writeFileSync(join(resultsDir, 'report.txt'), `${lines.join('\n')}\nERROR: ${(err as Error).stack ?? String(err)}\n`);
    throw new Error(`torture run failed (seed ${opts.seed}, results in ${resultsDir}): ${(err as Error).message}`, { cause: err });
  } finally {
    await cluster.destroy();
    if (!keepData) rmSync(join(resultsDir, 'data'), { recursive: true, force: true });
  }
}

function verdictLine(verdicts: ReadonlyArray<KeyVerdict<HistoryOp>>): string {
  const failed = verdicts.filter((v) => v.verdict !== 'ok');
  const ops = verdicts.reduce((a, v) => a + v.recorded, 0);
  const checked = verdicts.reduce((a, v) => a + v.checked, 0);
  const summary = `${verdicts.length} keys, ${ops} ops (${checked} after pruning)`;
  return failed.length === 0 ? `linearizable (${summary})` : `${failed.length} keys NOT proven linearizable (${summary})`;
}

async function firstHealthy(slots: readonly Slot[]): Promise<Slot | undefined> {
  for (const s of slots) {
    try {
      await s.admin.range('health', { timeoutMs: 3000 });
      return s;
    } catch {
      // next
    }
  }
  return undefined;
}

/** Waits until every member has applied `rev` (its serializable reads report at least that revision). */
async function waitApplied(slots: readonly Slot[], rev: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const s of slots) {
    while (Date.now() < deadline) {
      try {
        const res = await s.admin.range('health', { serializable: true, timeoutMs: 2000 });
        if (Number(res.header.revision) >= rev) break;
      } catch {
        // retry
      }
      await sleep(200);
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
    }),
  ]);
}
