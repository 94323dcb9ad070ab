// Test runner configuration: every package's tests run against its TypeScript sources, so a test never
// depends on a stale build. `@overt/*` imports resolve to the sources the same way.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string) => fileURLToPath(new URL(`./packages/${p}`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@overt\/log\/service$/, replacement: src('log/src/service/index.ts') },
      { find: /^@overt\/client\/node$/, replacement: src('client/src/node/index.ts') },
      { find: /^@overt\/([a-z]+)$/, replacement: src('$1/src/index.ts') },
    ],
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Three test files at a time on the 2-core machines CI runs on (vitest's default is cores − 1 = 1): the long
    // files spend most of their time waiting on child processes (npm start, trustee ceremonies, relay restarts,
    // seal dates). Three once made the ceremony (DKG-16) and heartbeat tests flaky; both now allow for a loaded
    // machine (4 s phases; in-flight witness requests counted before the check).
    maxWorkers: 3,
  },
});
