// Builds the dashboard page (`ketch-cluster dashboard`) into dist/dashboard/: index.html, and the
// Preact app and its stylesheet bundled by esbuild into app.js and app.css. Everything the page
// needs is served by the dashboard server from there: no CDN, nothing fetched at run time.
// Run by `npm run build` after the page is type-checked (src/launcher/dashboard/web/tsconfig.json).

import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const web = join(root, "src", "launcher", "dashboard", "web");
const outdir = join(root, "dist", "dashboard");
mkdirSync(outdir, { recursive: true });

await build({
  absWorkingDir: root,
  entryPoints: { app: join(web, "main.tsx") },
  outdir,
  bundle: true,
  format: "iife",
  platform: "browser",
  target: "es2020",
  jsx: "automatic",
  jsxImportSource: "preact",
  minify: true,
  sourcemap: false,
  legalComments: "none",
  logLevel: "warning",
});
copyFileSync(join(web, "index.html"), join(outdir, "index.html"));
