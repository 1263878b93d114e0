#!/usr/bin/env node
// Summarises a V8 sampling heap profile (.heapprofile, e.g. from bench/ketch-profiled.ts with
// KETCH_BENCH_HEAP_PROF_DIR): bytes allocated per function (self) and per short call chain, so the
// allocation churn behind GC time can be traced to code. Usage: alloc-summary.mjs FILE [--top N] [--per N]
import { readFileSync } from 'node:fs';

const [file, ...rest] = process.argv.slice(2);
if (file === undefined) {
  console.error('usage: alloc-summary.mjs FILE.heapprofile [--top N] [--per OPS]');
  process.exit(2);
}
const opt = (name, dflt) => {
  const i = rest.indexOf(name);
  return i >= 0 ? Number(rest[i + 1]) : dflt;
};
const top = opt('--top', 25);
const per = opt('--per', 0); // divide by this many operations to print bytes per op
const profile = JSON.parse(readFileSync(file, 'utf8'));

const where = (cf) => `${cf.functionName || '(anonymous)'} ${(cf.url || '').replace(/^.*\/(dist|node_modules)\//, '$1/')}:${cf.lineNumber + 1}`;
const self = new Map();
const chains = new Map();
let total = 0;
function walk(node, stack) {
  const here = [...stack, where(node.callFrame)];
  const bytes = node.selfSize;
  if (bytes > 0) {
    total += bytes;
    self.set(here.at(-1), (self.get(here.at(-1)) ?? 0) + bytes);
    const chain = here.slice(-4).join(' < ');
    chains.set(chain, (chains.get(chain) ?? 0) + bytes);
  }
  for (const c of node.children) walk(c, here);
}
walk(profile.head, []);

const fmt = (b) => (per > 0 ? `${(b / per).toFixed(0)} B/op` : `${(b / 2 ** 20).toFixed(1)} MiB`);
console.log(`sampled allocation total ${fmt(total)}`);
for (const [title, map] of [['by function (self)', self], ['by call chain (innermost 4)', chains]]) {
  console.log(`\n== ${title}`);
  for (const [k, v] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * v) / total).toFixed(1).padStart(5)}%  ${fmt(v).padStart(10)}  ${k}`);
  }
}
