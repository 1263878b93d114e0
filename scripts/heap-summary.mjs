// Summarises a .heapsnapshot without a GUI (issue 9): self size by node type and name, largest
// first; with a regex, also which retainer chains (first retainer, `depth` levels) hold the nodes
// whose "type:name" label matches, weighted by their self size.
//   node --max-old-space-size=8000 scripts/heap-summary.mjs FILE [topN=30] [regex] [depth=1]
// e.g. ... heap.heapsnapshot 25 'native:system / JSArrayBufferData' 3 shows what pins Buffer memory.
// Take the snapshot with v8.writeHeapSnapshot() (for a member: node --heapsnapshot-signal=SIGUSR2).
import { readFileSync } from 'node:fs';
const [file, topS = '30', retRe, depthS = '1'] = process.argv.slice(2);
const snap = JSON.parse(readFileSync(file, 'utf8'));
const m = snap.snapshot.meta;
const nf = m.node_fields, ef = m.edge_fields, NF = nf.length, EF = ef.length;
const types = m.node_types[0], etypes = m.edge_types[0];
const nodes = snap.nodes, edges = snap.edges, strings = snap.strings;
const iType = nf.indexOf('type'), iName = nf.indexOf('name'), iSize = nf.indexOf('self_size'), iEc = nf.indexOf('edge_count');
const eType = ef.indexOf('type'), eName = ef.indexOf('name_or_index'), eTo = ef.indexOf('to_node');
const n = nodes.length / NF;
const firstEdge = new Uint32Array(n + 1);
for (let i = 0, e = 0; i < n; i++) { firstEdge[i] = e; e += nodes[i * NF + iEc] * EF; firstEdge[i + 1] = e; }
const label = (i) => { const t = types[nodes[i * NF + iType]]; let nm = strings[nodes[i * NF + iName]]; if (t === 'string' || t === 'concatenated string' || t === 'sliced string') nm = '<str>'; if (t==='number') nm='<num>'; return `${t}:${nm.slice(0, 60)}`; };
const agg = new Map(); let total = 0;
for (let i = 0; i < n; i++) { const s = nodes[i * NF + iSize]; total += s; const k = label(i); const a = agg.get(k) ?? [0, 0]; a[0] += s; a[1]++; agg.set(k, a); }
const MB = (x) => (x / 1048576).toFixed(2);
console.log(`nodes ${n}, total self ${MB(total)} MiB`);
for (const [k, [s, c]] of [...agg].sort((a, b) => b[1][0] - a[1][0]).slice(0, Number(topS))) console.log(MB(s).padStart(8), String(c).padStart(8), k);
if (retRe) {
  const re = new RegExp(retRe);
  const parents = new Map(); // child -> list of [parent, edgeLabel]
  for (let p = 0; p < n; p++) for (let e = firstEdge[p]; e < firstEdge[p + 1]; e += EF) {
    const et = etypes[edges[e + eType]]; if (et === 'weak' || et === 'shortcut') continue;
    const c = edges[e + eTo] / NF; const nm = (et === 'element' || et === 'hidden') ? `[${et}]` : strings[edges[e + eName]];
    let l = parents.get(c); if (!l) parents.set(c, l = []); l.push(p, nm);
  }
  const ra = new Map();
  const depth = Number(depthS);
  for (let i = 0; i < n; i++) {
    if (!re.test(label(i))) continue;
    const s = nodes[i * NF + iSize];
    let cur = i; const path = [];
    for (let d = 0; d < depth; d++) { const l = parents.get(cur); if (!l) break; path.push(`${label(l[0])}.${l[1]}`); cur = l[0]; }
    const k = path.join(' <- '); const a = ra.get(k) ?? [0, 0]; a[0] += s; a[1]++; ra.set(k, a);
  }
  console.log(`\nretainers of /${retRe}/ (first retainer chain, depth ${depth}):`);
  for (const [k, [s, c]] of [...ra].sort((a, b) => b[1][0] - a[1][0]).slice(0, 25)) console.log(MB(s).padStart(8), String(c).padStart(8), k);
}
