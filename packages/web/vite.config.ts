// The dashboard's production build: static files under dist/, served by the relay at `/` (web.md §4).
// Preact's JSX through Vite's own transform (no Babel preset); ES2022 for libsodium's top-level await in @overt/core.
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  resolve: { alias: { crypto: `${import.meta.dirname}/src/node-crypto-shim.ts` } },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Hashed assets only, no inline scripts: the relay serves them with a strict Content-Security-Policy.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
    // libsodium's WebAssembly (inlined in its JavaScript) is most of the bundle; packages/web/README.md.
    chunkSizeWarningLimit: 1024,
  },
});
