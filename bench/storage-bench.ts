/**
 * The fsync cost of the member store on this machine (it measures; it checks nothing):
 *   npm run build && node dist/bench/storage-bench.js [--seconds 5]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Entry, EntryType } from '../src/raft/types.js';
import { MemberStore } from '../src/storage/member-store.js';

function entries(from: number, count: number, bytes: number): Entry[] {
  return Array.from({ length: count }, (_, i) => ({ index: from + i, term: 1, type: EntryType.Normal, data: Buffer.alloc(bytes, 7) }));
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function withStore<T>(fn: (store: MemberStore) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'ketch-storage-bench-'));
  const store = await MemberStore.open(dir);
  try {
    await store.recover();
    return await fn(store);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function saveRaftBench(perSave: number, seconds: number): Promise<void> {
  await withStore(async (store) => {
    const lat: number[] = [];
    let next = 1;
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      const s = performance.now();
      await store.saveRaft({ entries: entries(next, perSave, 256), hardState: { term: 1, vote: '', commit: next - 1 } });
      lat.push(performance.now() - s);
      next += perSave;
    }
    const secs = (performance.now() - t0) / 1000;
    lat.sort((a, b) => a - b);
    process.stdout.write(
      `saveRaft ${perSave} x 256 B (sync): ${(lat.length / secs).toFixed(0)} saves/s, ${((lat.length * perSave) / secs).toFixed(0)} entries/s, ` +
        `p50 ${percentile(lat, 50).toFixed(2)} ms, p99 ${percentile(lat, 99).toFixed(2)} ms\n`,
    );
  });
}

async function saveSnapshotBench(): Promise<void> {
  await withStore(async (store) => {
    const lat: number[] = [];
    let next = 1;
    for (let round = 0; round < 5; round++) {
      for (let k = 0; k < 100; k++) {
        await store.saveRaft({ entries: entries(next, 100, 256), hardState: { term: 1, vote: '', commit: next + 99 } });
        const ops = Array.from({ length: 100 }, (_, i) => ({ type: 'put' as const, key: Buffer.from(`m/${(next + i) % 10_000}`), value: Buffer.alloc(256, 1) }));
        await store.applyBatch(ops, next + 99);
        next += 100;
      }
      const s = performance.now();
      await store.saveSnapshot({ index: next - 1, term: 1, confState: { voters: ['a'], learners: [] } }, next - 1);
      lat.push(performance.now() - s);
    }
    process.stdout.write(`saveSnapshot after 10k entries + 10k app puts: ${lat.map((x) => x.toFixed(1)).join(', ')} ms\n`);
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' } } });
  const seconds = Number(values.seconds);
  for (const perSave of [1, 64]) await saveRaftBench(perSave, seconds);
  await saveSnapshotBench();
}

await main();
