// `npm run build`'s second step (after `tsc --build`): bundles the compiled CLI (packages/cli/dist/run.js and the
// command modules it loads on demand) into packages/cli/dist/bundle/ with esbuild, so that `overt` starts by
// reading a few files instead of resolving and loading about three hundred (issue #9, BENCHMARKS "cli/startup").
// The output is ES modules with code splitting: each command family stays its own chunk, loaded only when that
// command runs, and top-level `await sodium.ready` in @overt/core keeps its ESM order (a CommonJS bundle cannot
// await at top level, which is how an earlier bundle attempt ran libsodium before it was ready).
// Native and optional modules stay outside: better-sqlite3 and pg (the log's storage) and ws (loaded on the first
// mailbox socket), pino (the services' structured logs; its transports load worker files by path). bin/overt.js runs the bundle only while it is at least as new as every compiled file.
// esbuild comes with tsx and vitest (both devDependencies); without it the launcher runs dist/ unbundled.
import { rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
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
/**
 * libsodium's WebAssembly is inlined in its JavaScript as base64, decoded at every start by a JavaScript loop over
 * its 380,000 characters. In the bundle that loop becomes Node's native base64 decoder (same bytes, a fraction of
 * the time). The loop is matched exactly (libsodium-sumo is pinned); if a new version writes it otherwise the file
 * is bundled unchanged and a warning says so.
 */
const WASM_DECODER =
  /\(A=>\{for\(var I,g,C=0,B=0,Q=\d+,E=new Uint8Array\(\d+-\("="==A\[\d+\]\)-\("="==A\[\d+\]\)\);C<Q;C\+=4,B\+=3\)I=R\[A\.charCodeAt\(C\+1\)\],g=R\[A\.charCodeAt\(C\+2\)\],E\[B\]=R\[A\.charCodeAt\(C\)\]<<2\|I>>4,E\[B\+1\]=I<<4\|g>>2,E\[B\+2\]=g<<6\|R\[A\.charCodeAt\(C\+3\)\];return E\}\)\("AGFzbQ/;
const nativeWasmDecode = {
  name: 'libsodium-native-base64',
  setup(build) {
    build.onLoad(
      { filter: /libsodium-sumo[\\/]dist[\\/]modules-sumo-esm[\\/]libsodium-sumo\.mjs$/ },
      async (args) => {
        const source = await readFile(args.path, 'utf8');
        const matches = source.match(new RegExp(WASM_DECODER.source, 'g')) ?? [];
        if (matches.length !== 1) {
          console.warn('bundle-cli: libsodium-sumo decodes its WebAssembly otherwise now; bundled unchanged');
          return { contents: source, loader: 'js' };
        }
        const native =
          '(A=>{const b=Buffer.from(A,"base64");return new Uint8Array(b.buffer,b.byteOffset,b.length)})("AGFzbQ';
        return { contents: source.replace(WASM_DECODER, native), loader: 'js' };
      },
    );
  },
};

rmSync(outdir, { recursive: true, force: true });
await esbuild.build({
  // The access worker pool (trustee releases, requester opens) starts `./access-worker.js` next to the module that
  // holds it: every chunk lands flat in outdir, so the worker is bundled as an entry of its own there.
  entryPoints: [
    { in: fileURLToPath(new URL('dist/run.js', cli)), out: 'run' },
    {
      in: fileURLToPath(new URL('../client/dist/node/access-worker.js', cli)),
      out: 'access-worker',
    },
  ],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // @overt/up forks its witness and trustee children from files next to its own dist/ modules: it runs unbundled.
  external: ['ws', 'better-sqlite3', 'pg', 'pg-native', '@overt/up', 'pino'],
  // No comments and no indentation: a quarter less to read and parse at every start, and only ASCII (a comment's
  // "§" or "—" made a whole chunk a two-byte string for V8 to decode and scan). Names are kept, for stack traces.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  charset: 'ascii',
  plugins: [nativeWasmDecode],
  // CommonJS dependencies that call require() need one in an ES module.
  banner: {
    js: "import { createRequire as __overtCreateRequire } from 'node:module';\nconst require = __overtCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
