// Builds the optional native helper src/native/malloc-trim.c into dist/native/ (part of
// `npm run build`). It needs a C compiler and Node's headers; without them ketch runs as before,
// only without giving freed malloc memory back when idle, so a failure here warns and exits 0.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src', 'native', 'malloc-trim.c');
const out = join(root, 'dist', 'native', 'malloc-trim.node');

function skip(why) {
  console.warn(`build-native: ${why}; ketch will run without returning freed malloc memory to the system (optional).`);
  process.exit(0);
}

/** Where node_api.h is: npm's nodedir setting, else next to the running node (…/bin/node -> …/include/node). */
function headerDir() {
  const prefixes = [process.env.npm_config_nodedir, join(dirname(process.execPath), '..')].filter(Boolean);
  return prefixes.map((p) => join(p, 'include', 'node')).find((d) => existsSync(join(d, 'node_api.h')));
}

rmSync(out, { force: true });
if (process.platform !== 'linux') skip(`malloc_trim is glibc's, and this is ${process.platform}`);
const include = headerDir();
if (include === undefined) skip("Node's headers (node_api.h) were not found: set npm's nodedir to a Node source or headers folder");
mkdirSync(dirname(out), { recursive: true });
const cc = process.env.CC ?? 'cc';
try {
  execFileSync(cc, ['-O2', '-shared', '-fPIC', '-DNODE_GYP_MODULE_NAME=malloc_trim', `-I${include}`, '-o', out, source], { stdio: ['ignore', 'inherit', 'inherit'] });
} catch (err) {
  skip(`${cc} failed (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
}
