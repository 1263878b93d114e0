// Differential test of strategic merge patch against the real implementation: seeded random
// deployments and patches in the shapes kubectl apply sends (nested $setElementOrder, $patch:
// delete items, new and changed containers/env/ports/volumes, labels set and nulled, finalizers
// merged and $deleteFromPrimitiveList'ed, replaced tolerations, now and then an order list that
// contradicts the patch list) go through `kubectl patch --local` and through our code; results
// must be equal, and where kubectl refuses the patch we must refuse it too. A failing seed is
// printed with its inputs. Needs kubectl on PATH (or $KUBECTL); without it the test fails.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { SeededRandom } from '../../../src/util/prng.js';
import type { JsonObject, JsonValue } from '../../../src/kube/machinery/json.js';
import { applyStrategicMergePatch } from '../../../src/kube/machinery/patch.js';
import { KubeStatusError } from '../../../src/kube/machinery/status.js';

const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const SEEDS = Number(process.env.SMP_SEEDS ?? 24);
const dir = mkdtempSync(join(tmpdir(), 'ketch-smp-rand-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

class Gen {
  constructor(private readonly r: SeededRandom) {}
  chance(p: number): boolean {
    return this.r.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.r.int(xs.length)] as T;
  }
  subset<T>(xs: readonly T[], p = 0.5): T[] {
    return xs.filter(() => this.chance(p));
  }
  shuffle<T>(xs: readonly T[]): T[] {
    const out = [...xs];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.r.int(i + 1);
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  }
}

const CONTAINERS = ['a', 'b', 'c', 'd'];
const ENVS = ['A', 'B', 'C', 'D', 'E'];
const PORTS = [80, 443, 8080, 9090];
const VOLUMES = ['v1', 'v2', 'v3'];

function original(g: Gen): JsonObject {
  const names = g.shuffle(CONTAINERS).slice(0, 1 + g.pick([0, 1, 2]));
  const vols = g.subset(VOLUMES);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'd', namespace: 'default', labels: { app: 'x', tier: 'y' }, finalizers: g.subset(['example.com/a', 'example.com/b', 'example.com/c']) },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'x' } },
      template: {
        metadata: { labels: { app: 'x' } },
        spec: {
          containers: names.map((n) => ({
            name: n,
            image: `img-${n}:1`,
            env: g.shuffle(g.subset(ENVS)).map((e) => ({ name: e, value: `${e}1` })),
            ports: g.shuffle(g.subset(PORTS)).map((p) => ({ containerPort: p, protocol: 'TCP' })),
            volumeMounts: vols.filter(() => g.chance(0.5)).map((v) => ({ name: v, mountPath: `/${v}` })),
          })),
          volumes: vols.map((v) => ({ name: v, emptyDir: {} })),
          tolerations: [{ key: 't', operator: 'Exists' }],
        },
      },
    },
  };
}

/** A list patch with an order directive, in kubectl apply's style. */
function listPatch(g: Gen, key: string, existing: string[], pool: readonly string[], item: (k: string, isNew: boolean) => JsonObject): JsonObject {
  const keep = g.subset(existing, 0.7);
  const added = g.subset(pool.filter((k) => !existing.includes(k)), 0.3);
  const deleted = existing.filter((k) => !keep.includes(k));
  const order = g.shuffle([...keep, ...added]);
  const changed = order.filter((k) => added.includes(k) || g.chance(0.4));
  // Usually the patch list follows the order list, as kubectl makes it; sometimes not.
  const listed = g.chance(0.1) ? g.shuffle(changed) : changed;
  const out: JsonObject = {};
  out[`$setElementOrder/${key}`] = order.map((k) => ({ [keyField(key)]: k }) as JsonObject);
  const items: JsonValue[] = listed.map((k) => item(k, added.includes(k)));
  for (const k of deleted) if (g.chance(0.8)) items.push({ $patch: 'delete', [keyField(key)]: k } as JsonObject);
  if (items.length > 0) out[key] = items;
  return out;
}

function keyField(list: string): string {
  return list === 'ports' ? 'containerPort' : list === 'volumeMounts' ? 'mountPath' : 'name';
}

function patchFor(g: Gen, orig: JsonObject): JsonObject {
  const tspec = (((orig.spec as JsonObject).template as JsonObject).spec as JsonObject);
  const containers = tspec.containers as JsonObject[];
  const byName = new Map(containers.map((c) => [String(c.name), c]));
  const cpatch = listPatch(g, 'containers', [...byName.keys()], CONTAINERS, (name, isNew) => {
    const c: JsonObject = { name };
    const old = byName.get(name);
    if (isNew || g.chance(0.5)) c.image = `img-${name}:${isNew ? 1 : 2}`;
    const envNames = ((old?.env as JsonObject[] | undefined) ?? []).map((e) => String(e.name));
    if (isNew) c.env = g.subset(ENVS).map((e) => ({ name: e, value: 'new' }));
    else if (g.chance(0.6)) Object.assign(c, listPatch(g, 'env', envNames, ENVS, (e) => ({ name: e, value: g.pick(['x', 'y', 'z']) })));
    const ports = ((old?.ports as JsonObject[] | undefined) ?? []).map((p) => Number(p.containerPort));
    if (!isNew && g.chance(0.5)) {
      const pp = listPatch(g, 'ports', ports.map(String), PORTS.map(String), (p) => ({ containerPort: Number(p) }));
      // Port keys are numbers in the real lists.
      const fix = (v: JsonValue): JsonValue => (typeof v === 'object' && v !== null && !Array.isArray(v) && typeof v.containerPort === 'string' ? { ...v, containerPort: Number(v.containerPort) } : v);
      for (const k of Object.keys(pp)) pp[k] = (pp[k] as JsonValue[]).map(fix);
      Object.assign(c, pp);
    }
    return c;
  });
  const spec: JsonObject = { ...cpatch };
  if (g.chance(0.4)) {
    const vols = ((tspec.volumes as JsonObject[]) ?? []).map((v) => String(v.name));
    Object.assign(spec, listPatch(g, 'volumes', vols, VOLUMES, (v): JsonObject => (g.chance(0.5) ? { name: v, $retainKeys: ["configMap", "name"], configMap: { name: `cm-${v}` } } : { name: v, emptyDir: { medium: "Memory" } })));
  }
  if (g.chance(0.3)) spec.tolerations = [{ key: g.pick(['u', 'w']), operator: 'Exists' }];
  const patch: JsonObject = { spec: { template: { spec } } };
  if (g.chance(0.5)) (patch.spec as JsonObject).replicas = 1 + g.pick([1, 2, 3]);
  const meta: JsonObject = {};
  if (g.chance(0.5)) meta.labels = { tier: g.chance(0.5) ? null : 'z', extra: 'e' };
  if (g.chance(0.3)) meta.finalizers = ['example.com/z'];
  if (g.chance(0.3)) meta['$deleteFromPrimitiveList/finalizers'] = ['example.com/a', 'example.com/c'];
  if (Object.keys(meta).length > 0) patch.metadata = meta;
  return patch;
}

/**
 * kubectl --local patches an unstructured object, so directives inside newly added items stay in
 * its output; the server decodes the result into Go structs, which drops them. Compare what the
 * server would store.
 */
function dropDirectives(v: JsonValue): JsonValue {
  if (Array.isArray(v)) return v.map(dropDirectives);
  if (typeof v !== 'object' || v === null) return v;
  const out: JsonObject = {};
  for (const [k, e] of Object.entries(v)) if (!k.startsWith('$')) out[k] = dropDirectives(e);
  return out;
}

function kubectlPatch(seed: number, orig: JsonObject, patch: JsonObject): Promise<JsonObject | Error> {
  const file = join(dir, `seed-${seed}.json`);
  writeFileSync(file, JSON.stringify(orig));
  return new Promise((resolve) => {
    execFile(
      KUBECTL,
      ['patch', '-f', file, '--local', '--type', 'strategic', '-p', JSON.stringify(patch), '-o', 'json', '--server', 'http://127.0.0.1:1'],
      { timeout: 30_000 },
      (err, stdout, stderr) => resolve(err === null ? (dropDirectives(JSON.parse(stdout) as JsonValue) as JsonObject) : new Error(stderr || err.message)),
    );
  });
}

describe('strategic merge patch vs. kubectl on random apply-style patches', () => {
  it(`agrees on ${SEEDS} seeds`, async () => {
    let refused = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const g = new Gen(new SeededRandom(seed));
      const orig = original(g);
      const patch = patchFor(g, orig);
      const want = await kubectlPatch(seed, orig, patch);
      let got: JsonObject | Error;
      try {
        got = applyStrategicMergePatch(orig, patch, 'Deployment');
      } catch (e) {
        if (!(e instanceof KubeStatusError)) throw e;
        got = e;
      }
      const context = `seed ${seed}\noriginal ${JSON.stringify(orig)}\npatch ${JSON.stringify(patch)}\nkubectl ${want instanceof Error ? want.message : JSON.stringify(want)}`;
      if (want instanceof Error) {
        refused++;
        expect(got instanceof Error, context).toBe(true);
      } else {
        expect(got, context).toEqual(want);
      }
    }
    // The generator must exercise both outcomes, or it is not testing the refusals.
    expect(refused).toBeGreaterThan(0);
    expect(refused).toBeLessThan(SEEDS);
  }, 300_000);
});
