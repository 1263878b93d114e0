// fsync cost of saveRaft on this machine. Skipped unless KETCH_STORAGE_BENCH=1 (it measures, it
// does not check): KETCH_STORAGE_BENCH=1 npx vitest run test/storage/fsync-bench.test.ts
import { describe, expect, it } from 'vitest';

import { MemberStore } from '../../src/storage/member-store.js';
import { entries, tempDir } from './helpers.js';

const enabled = process.env.KETCH_STORAGE_BENCH === '1';
const DURATION_MS = Number(process.env.KETCH_STORAGE_BENCH_MS ?? 5000);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

describe.skipIf(!enabled)('saveRaft fsync benchmark', () => {
  for (const perSave of [1, 64]) {
    it(`${perSave} x 256-byte entries per saveRaft (sync)`, async () => {
      const { dir, cleanup } = await tempDir('bench');
      const store = await MemberStore.open(dir);
      try {
        await store.recover();
        const lat: number[] = [];
        let next = 1;
        const t0 = performance.now();
        while (performance.now() - t0 < DURATION_MS) {
          const ents = entries(next, next + perSave - 1, 1, 256);
          const s = performance.now();
          await store.saveRaft({ entries: ents, hardState: { term: 1, vote: '', commit: next - 1 } });
          lat.push(performance.now() - s);
          next += perSave;
        }
        const secs = (performance.now() - t0) / 1000;
        lat.sort((a, b) => a - b);
        const line =
          `saveRaft ${perSave} x 256 B: ${lat.length} saves in ${secs.toFixed(1)} s = ${(lat.length / secs).toFixed(0)} saves/s, ` +
          `${((lat.length * perSave) / secs).toFixed(0)} entries/s, ${((lat.length * perSave * 256) / secs / 1e6).toFixed(2)} MB/s payload; ` +
          `latency p50 ${percentile(lat, 50).toFixed(2)} ms, p99 ${percentile(lat, 99).toFixed(2)} ms, max ${(lat.at(-1) as number).toFixed(2)} ms`;
        console.log(line);
        expect(lat.length).toBeGreaterThan(0);
      } finally {
        await store.close();
        await cleanup();
      }
    });
  }
});

describe.skipIf(!enabled)('saveSnapshot benchmark', () => {
  it('saveSnapshot (sync + memtable flush + compaction of 10k entries) with 10k app records', async () => {
    const { dir, cleanup } = await tempDir('bench-snap');
    const store = await MemberStore.open(dir);
    try {
      await store.recover();
      const lat: number[] = [];
      let next = 1;
      for (let round = 0; round < 5; round++) {
        for (let k = 0; k < 100; k++) {
          await store.saveRaft({ entries: entries(next, next + 99, 1, 256), hardState: { term: 1, vote: '', commit: next + 99 } });
          const ops = [];
          for (let i = 0; i < 100; i++) ops.push({ type: 'put' as const, key: Buffer.from(`m/${(next + i) % 10_000}`), value: Buffer.alloc(256, 1) });
          await store.applyBatch(ops, next + 99);
          next += 100;
        }
        const s = performance.now();
        await store.saveSnapshot({ index: next - 1, term: 1, confState: { voters: ['a'], learners: [] } }, next - 1);
        lat.push(performance.now() - s);
      }
      console.log(`saveSnapshot after 10k entries + 10k app puts: ${lat.map((x) => x.toFixed(1)).join(', ')} ms`);
      expect(lat.length).toBe(5);
    } finally {
      await store.close();
      await cleanup();
    }
  });
});
