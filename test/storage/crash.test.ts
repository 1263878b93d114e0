// Crash durability with a real process kill: a child process appends entries through saveRaft and
// prints each acknowledged index; we SIGKILL it at a random moment, reopen the data dir and check
// that every acknowledged entry is there, intact. Then the next life appends on top, and so on.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { MemberStore } from '../../src/storage/member-store.js';
import { StorageError, StorageErrorCode } from '../../src/storage/storage-error.js';
import { compileStorage, payload, tempDir } from './helpers.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'append-child.mjs');
const ENTRY_BYTES = 256;

let modulePath: string;
let removeBuild: () => Promise<void>;

beforeAll(async () => {
  ({ modulePath, cleanup: removeBuild } = await compileStorage());
});

afterAll(async () => {
  await removeBuild?.();
});

/** Runs the child until it printed `minAcks` acks plus a random extra delay, then SIGKILLs it. */
async function runAndKill(
  dataDir: string,
  perSave: number,
  rand: () => number,
): Promise<{ acked: Map<number, number>; start: number }> {
  const child = spawn(process.execPath, [CHILD, modulePath, dataDir, String(perSave), String(ENTRY_BYTES)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const acked = new Map<number, number>(); // index -> term
  let start = 0;
  let stderr = '';
  let buffered = '';
  let acks = 0;
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const killAfter = 5 + Math.floor(rand() * 60); // acks before the kill timer starts
  const delayMs = Math.floor(rand() * 25);
  let timer: NodeJS.Timeout | undefined;
  child.stdout!.on('data', (d: Buffer) => {
    buffered += d.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const [kind, a, t] = line.split(' ');
      if (kind === 'start') start = Number(a);
      if (kind === 'ack') {
        const last = Number(a);
        for (let i = last - perSave + 1; i <= last; i++) acked.set(i, Number(t));
        if (++acks === killAfter) timer = setTimeout(() => kill(child), delayMs);
      }
    }
  });
  const safety = setTimeout(() => kill(child), 20_000);
  const { code, signal } = await exited;
  clearTimeout(safety);
  if (timer !== undefined) clearTimeout(timer);
  if (signal !== 'SIGKILL') throw new Error(`child exited on its own (code ${code}, signal ${signal}): ${stderr}`);
  return { acked, start };
}

function kill(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** Small seeded generator so a failing run can be replayed from the printed seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('crash durability (SIGKILL)', () => {
  for (const perSave of [1, 64]) {
    it(`no acknowledged entry is lost across ${perSave === 1 ? 'single-entry' : '64-entry'} saves killed at random`, async () => {
      const seed = Number(process.env.KETCH_CRASH_SEED ?? Date.now() % 1_000_000);
      const rand = mulberry32(seed);
      const { dir, cleanup } = await tempDir('crash');
      const everAcked = new Map<number, number>();
      let expectedStart = 1;
      // Entries that reached the disk but whose ack the kill cut off: evidence the kill lands mid-write.
      let unacked = 0;
      try {
        for (let life = 0; life < 6; life++) {
          const { acked, start } = await runAndKill(dir, perSave, rand);
          expect(acked.size, `seed ${seed} life ${life}: the child acknowledged nothing`).toBeGreaterThan(0);
          expect(start, `seed ${seed} life ${life}: where the child resumed`).toBe(expectedStart);
          for (const [i, t] of acked) everAcked.set(i, t);

          const store = await MemberStore.open(dir);
          try {
            // LevelDB's own log drops a torn final batch, so recover() (which refuses any damaged
            // entry) must succeed after every kill.
            const rec = await store.recover();
            const byIndex = new Map(rec.entries.map((e) => [e.index, e]));
            // Every entry ever acknowledged, in any life, is there with its term and bytes.
            const lost: string[] = [];
            for (const [i, t] of everAcked) {
              const e = byIndex.get(i);
              if (e === undefined) lost.push(`${i}: missing`);
              else if (e.term !== t) lost.push(`${i}: term ${e.term}, acknowledged ${t}`);
              else if (!Buffer.from(e.data).equals(payload(i, t, ENTRY_BYTES))) lost.push(`${i}: data differs`);
            }
            expect(lost.slice(0, 10), `seed ${seed} life ${life}: acknowledged entries lost`).toEqual([]);
            unacked += rec.entries.length - everAcked.size;
            // The recovered log is contiguous from 1; the next life resumes right after it.
            expect(rec.entries.every((e, k) => e.index === k + 1)).toBe(true);
            expectedStart = rec.entries.length + 1;
            // Acknowledged commit points never outrun the log (else recover() would have thrown).
            expect(rec.hardState.commit).toBeLessThanOrEqual(rec.entries.length);
          } finally {
            await store.close();
          }
        }
      } finally {
        await cleanup();
      }
      console.log(`crash test (${perSave}/save, seed ${seed}): ${everAcked.size} entries acknowledged, ${unacked} more durable but unacknowledged when killed`);
    });
  }

  it('a data dir held by another process cannot be opened, with a clear error; it can once that process dies', async () => {
    const { dir, cleanup } = await tempDir('lock');
    const child = spawn(process.execPath, [CHILD, modulePath, dir, 'hold'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        child.on('exit', (code) => reject(new Error(`holder exited early (${code})`)));
      });
      const err = await MemberStore.open(dir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect(err).toMatchObject({ code: StorageErrorCode.Locked });
      expect((err as Error).message).toBe(
        `data dir ${dir} is in use: another ketch process (or another open store in this one) holds ${path.join(dir, 'member', 'db', 'LOCK')}`,
      );
    } finally {
      const gone = new Promise((resolve) => child.on('exit', resolve));
      kill(child);
      await gone;
    }
    const store = await MemberStore.open(dir);
    await store.close();
    await cleanup();
  });
});
