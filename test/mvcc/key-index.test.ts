// KeyIndex packs its revisions into one array (values included) with a side array for leases; here
// it is driven at random against a plain list of revision objects: every read must agree.
import { describe, expect, it } from 'vitest';

import { KeyIndex, type KeptRevision } from '../../src/mvcc/key-index.js';
import { SeededRandom } from '../../src/util/prng.js';

function check(ki: KeyIndex, model: KeptRevision[], rnd: SeededRandom): void {
  expect(ki.length).toBe(model.length);
  expect(ki.revisions()).toEqual(model);
  const last = model[model.length - 1];
  const live = last !== undefined && last.value !== null;
  expect(ki.isLive()).toBe(live);
  expect(ki.current()).toEqual(live ? last : undefined);
  expect(ki.currentLease()).toBe(live ? last.lease : '0');
  const top = (last?.main ?? 0) + 2;
  for (let k = 0; k < 5; k++) {
    const rev = rnd.int(top + 1);
    const newest = [...model].reverse().find((r) => r.main <= rev);
    const want = newest !== undefined && newest.value !== null ? newest : undefined;
    expect(ki.at(rev)).toEqual(want);
    expect(ki.indexAt(rev)).toBe(want === undefined ? -1 : model.indexOf(want));
    expect(ki.firstAtOrAfter(rev)).toBe(((i) => (i < 0 ? model.length : i))(model.findIndex((r) => r.main >= rev)));
  }
}

describe('KeyIndex', () => {
  it('agrees with a list of revision objects under pushes, pops, value moves and compactions', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const rnd = new SeededRandom(seed);
      const ki = new KeyIndex('k');
      let model: KeptRevision[] = [];
      let main = 1;
      let version = 0;
      let created = 0;
      for (let step = 0; step < 300; step++) {
        const roll = rnd.int(100);
        const lastRev = model[model.length - 1];
        if (roll < 55 || model.length === 0) {
          main += 1 + rnd.int(3);
          const tombstone = lastRev !== undefined && lastRev.value !== null && rnd.chance(0.2);
          let r: KeptRevision;
          if (tombstone) {
            r = { key: 'k', main, sub: rnd.int(3), createRevision: 0, version: 0, lease: '0', value: null };
            version = 0;
          } else {
            if (version === 0) created = main;
            version++;
            const value = rnd.chance(0.5) ? rnd.int(1000) : `v${main}`;
            const lease = rnd.chance(0.3) ? String(1 + rnd.int(5)) : '0';
            r = { key: 'k', main, sub: rnd.int(3), createRevision: created, version, lease, value };
          }
          ki.push(r);
          model.push(r);
        } else if (roll < 65) {
          const popped = ki.pop();
          expect(popped).toEqual(model.pop());
          const before = model[model.length - 1];
          version = before === undefined || before.value === null ? 0 : before.version;
          created = before?.createRevision ?? 0;
          main = before?.main ?? main;
        } else if (roll < 85) {
          const i = rnd.int(model.length);
          const r = model[i] as KeptRevision;
          if (r.value !== null) {
            const value = rnd.chance(0.5) ? 5000 + rnd.int(100) : `moved${i}`;
            ki.setValue(i, value);
            model[i] = { ...r, value };
          }
        } else {
          const rev = rnd.int(main + 1);
          const i = [...model].reverse().findIndex((r) => r.main <= rev);
          const at = i < 0 ? -1 : model.length - 1 - i;
          const drop = at < 0 ? 0 : (model[at] as KeptRevision).value === null ? at + 1 : at;
          expect(ki.compact(rev)).toEqual(model.slice(0, drop));
          model = model.slice(drop);
        }
        check(ki, model, rnd);
      }
    }
  });
});
