// Randomized comparison of MvccStore with the naive reference model: thousands of seeded random
// puts, deletes, ranges (every option), txns (nested, with compares on ranges), compactions and
// errors must give identical responses, revisions and events. Along the way the LevelDB image of
// every emitted batch must load back into the identical store, and snapshots must round-trip.
// A failing seed replays exactly. Some seeds move every superseded value to cold files
// (src/mvcc/cold-values.ts), which must change no response.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { MvccStore } from '../../src/mvcc/mvcc-store.js';
import { MvccError, type MvccStoreOptions, type RangeRequest } from '../../src/mvcc/types.js';
import { SeededRandom } from '../../src/util/prng.js';
import { ModelError, ReferenceModel } from './reference-model.js';
import { SortedRecords, b } from './helpers.js';
import { Generator } from './workload.js';

const LEASES = ['0', '0', '0', '3', '9223372036854775807', '-2'];
const MISSING_LEASE = '13';

type Outcome = { ok: unknown } | { error: string };

function outcome(f: () => unknown): Outcome {
  try {
    return { ok: f() };
  } catch (err) {
    if (err instanceof MvccError || err instanceof ModelError) return { error: err.code };
    throw err;
  }
}

/** The part of a store write the model also produces (the model has no storage ops). */
function withoutOps(r: unknown): unknown {
  if (r !== null && typeof r === 'object' && 'ops' in r) {
    const { ops: _ops, ...rest } = r as Record<string, unknown>;
    return rest;
  }
  return r;
}

/** Store options: with `coldDir`, every superseded value of 1 byte or more goes cold, in 64-byte segments (values are 0-3 bytes). */
function storeOptions(leaseExists: (id: string) => boolean, coldDir: string | undefined, name: string): MvccStoreOptions {
  return coldDir === undefined ? { leaseExists } : { leaseExists, coldValues: { dir: join(coldDir, name), minBytes: 1, segmentBytes: 64 } };
}

function runSeed(seed: number, steps: number, coldDir?: string): { writes: number; errors: number; compactions: number } {
  const rnd = new SeededRandom(seed);
  const leaseExists = (id: string): boolean => id !== MISSING_LEASE;
  const store = new MvccStore(storeOptions(leaseExists, coldDir, 'store'));
  const model = new ReferenceModel(leaseExists);
  const disk = new SortedRecords();
  const gen = new Generator(rnd, LEASES, MISSING_LEASE, () => model.rev, () => model.compactRev);
  const stats = { writes: 0, errors: 0, compactions: 0 };

  const both = (what: string, onStore: () => unknown, onModel: () => unknown): void => {
    const got = outcome(onStore);
    const want = outcome(onModel);
    if ('ok' in got && got.ok !== null && typeof got.ok === 'object' && 'ops' in got.ok) {
      disk.apply((got.ok as { ops: Parameters<SortedRecords['apply']>[0] }).ops);
    }
    const gotView = 'ok' in got ? { ok: withoutOps(got.ok) } : got;
    if ('error' in got) stats.errors++;
    expect(gotView, `seed ${seed}: ${what}`).toEqual(want);
  };

  for (let step = 0; step < steps; step++) {
    const r = rnd.int(100);
    if (r < 30) {
      const op = gen.put();
      if (!('put' in op)) throw new Error('unreachable');
      both(`step ${step} put`, () => store.put(op.put), () => model.put(op.put));
      stats.writes++;
    } else if (r < 40) {
      const op = gen.deleteRange();
      if (!('deleteRange' in op)) throw new Error('unreachable');
      both(`step ${step} deleteRange`, () => store.deleteRange(op.deleteRange), () => model.deleteRange(op.deleteRange));
      stats.writes++;
    } else if (r < 62) {
      const req = gen.txn();
      both(`step ${step} txn`, () => store.txn(req), () => model.txn(req));
      stats.writes++;
    } else if (r < 95) {
      const req = gen.range();
      both(`step ${step} range`, () => store.range(req), () => model.range(req));
    } else {
      const rev = gen.revisionNear() + (rnd.chance(0.5) ? 0 : 1);
      both(
        `step ${step} compact ${rev}`,
        () => store.compact(rev),
        () => {
          model.compact(rev);
          return { response: {}, revision: model.rev, events: [] };
        },
      );
      stats.compactions++;
    }
    expect([store.currentRevision, store.compactRevision], `seed ${seed} step ${step}`).toEqual([model.rev, Math.max(0, model.compactRev)]);

    if (step % 250 === 249 || step === steps - 1) {
      // Every readable revision, in full.
      for (let rev = Math.max(1, model.compactRev); rev <= model.rev; rev++) {
        const all: RangeRequest = { ...gen.range(), key: b('\0'), rangeEnd: b('\0'), revision: rev, limit: 0, countOnly: false };
        all.minModRevision = all.maxModRevision = all.minCreateRevision = all.maxCreateRevision = 0;
        expect(store.range(all), `seed ${seed} rev ${rev}`).toEqual(model.range(all));
      }
      for (const lease of new Set(LEASES)) {
        if (lease === '0') continue;
        expect(store.keysWithLease(lease).map((k) => k.toString('latin1'))).toEqual(model.keysWithLease(lease));
      }
      expect(store.stats().keys).toBe(model.current().size);
      // The records ever emitted rebuild the identical store.
      const loaded = MvccStore.load(disk.records(), storeOptions(leaseExists, coldDir, 'loaded'));
      const snapshot = store.exportSnapshot();
      expect(loaded.exportSnapshot().equals(snapshot), `seed ${seed} step ${step}: load`).toBe(true);
      expect(loaded.stats()).toEqual(store.stats());
      expect(loaded.hashKV(0)).toEqual(store.hashKV(0));
      for (const lease of ['3', '-2']) expect(loaded.keysWithLease(lease)).toEqual(store.keysWithLease(lease));
      loaded.close();
      const imported = MvccStore.importSnapshot(snapshot, storeOptions(leaseExists, coldDir, 'imported'));
      expect(imported.store.exportSnapshot().equals(snapshot)).toBe(true);
      const importedDisk = new SortedRecords();
      importedDisk.apply(imported.ops);
      expect(importedDisk.records()).toEqual(disk.records());
      imported.store.close();
    }
  }
  if (coldDir !== undefined) expect(store.coldValues.bytes, `seed ${seed}: values went cold`).toBeGreaterThan(0);
  store.close();
  return stats;
}

describe('MvccStore against the reference model', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`seed ${seed}: 2500 random requests agree`, () => {
      const stats = runSeed(seed, 2500);
      // The mix really exercised writes, failures and compactions.
      expect(stats.writes).toBeGreaterThan(1000);
      expect(stats.errors).toBeGreaterThan(20);
      expect(stats.compactions).toBeGreaterThan(20);
    });
  }
  for (const seed of [7, 8, 9]) {
    it(`seed ${seed}, superseded values in cold files: 2500 random requests agree`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'ketch-mvcc-cold-'));
      try {
        expect(runSeed(seed, 2500, dir).writes).toBeGreaterThan(1000);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
