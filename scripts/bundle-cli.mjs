// `npm run build`'s second step (after `tsc --build`): bundles the compiled CLI (packages/cli/dist/run.js and the
// command modules it loads on demand) into packages/cli/dist/bundle/ with esbuild, so that `overt` starts by
// reading a few files instead of resolving and loading about three hundred (issue #9, BENCHMARKS "cli/startup").
// The output is ES modules with code splitting: each command family stays its own chunk, loaded only when that
// command runs, and top-level `await sodium.ready` in @overt/core keeps its ESM order (a CommonJS bundle cannot
// await at top level, which is how an earlier bundle attempt ran libsodium before it was ready).
// Native and optional modules stay outside: better-sqlite3 and pg (the log's storage) and ws (loaded on the first
// mailbox socket). bin/overt.js runs the bundle only while it is at least as new as every compiled file.
// esbuild comes with tsx and vitest (both devDependencies); without it the launcher runs dist/ unbundled.
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../packages/cli/', import.meta.url);
const outdir = process.argv[2] ?? fileURLToPath(new URL('dist/bundle', cli));

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  console.error('bundle-cli: esbuild is not installed; `overt` runs packages/cli/dist unbundled');
  process.exit(0);
}
rmSync(outdir, { recursive: true, force: true });
await esbuild.build({
  entryPoints: [fileURLToPath(new URL('dist/run.js', cli))],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['ws', 'better-sqlite3', 'pg', 'pg-native'],
  // CommonJS dependencies that call require() need one in an ES module.
  banner: {
    js: "import { createRequire as __overtCreateRequire } from 'node:module';\nconst require = __overtCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
