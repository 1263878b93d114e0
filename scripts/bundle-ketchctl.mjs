// Bundles ketchctl into dist/ketchctl/ (the `ketchctl` bin) with esbuild. Why: loaded module by
// module, ketchctl's start is dominated by resolving and reading some 150 files of grpc-js,
// protobufjs and its own commands (about 100 ms of CPU before any request); one file holding
// what `get` needs, with the rarer commands' code in chunks loaded by their dynamic imports,
// starts in about half of that. Run by `npm run build` after tsc; bundles the TypeScript sources.
// `--outdir DIR` writes elsewhere (the tests bundle the current sources for themselves); DIR must
// be two levels below the repository, as dist/ketchctl is, for proto/ and node_modules/ to be found.
//
// grpc-js and protobufjs are bundled: they are the cost. Other packages stay external and load
// from node_modules as usual: level's native binding finds its prebuilt file relative to its
// own module, and the rest are only on rare paths (snapshot restore).

import { build } from "esbuild";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outdirFlag = process.argv.indexOf("--outdir");
const outdir = outdirFlag === -1 ? join(root, "dist", "ketchctl") : resolve(process.argv[outdirFlag + 1] ?? "");
const bundled = /^(@grpc\/grpc-js|protobufjs|@protobufjs\/[^/]+|long|@js-sdsl\/ordered-map)(\/|$)/;

await build({
  absWorkingDir: root,
  entryPoints: { ketchctl: "src/cmd/ketchctl.ts" },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // Whitespace and syntax only: identifiers stay readable in KETCHCTL_DEBUG stack traces.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: true,
  logLevel: "warning",
  // grpc-js and protobufjs are CommonJS and call require() for Node's modules.
  banner: { js: 'import { createRequire as __ketchctlCreateRequire } from "node:module"; const require = __ketchctlCreateRequire(import.meta.url);' },
  plugins: [
    {
      name: "external-packages",
      setup(pluginBuild) {
        pluginBuild.onResolve({ filter: /^[^./]/ }, (args) => {
          if (args.path.startsWith("node:") || bundled.test(args.path)) return undefined;
          return { path: args.path, external: true };
        });
      },
    },
  ],
});

