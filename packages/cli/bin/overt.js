#!/usr/bin/env node
// Launcher of the `overt` command. An installed package runs its compiled code (dist/). In a source checkout
// that has not been built, it runs the TypeScript sources through tsx, with @overt/* resolved to the sibling
// packages' sources by tsconfig.run.json, so `npx overt` works right after `npm install`.
// OVERT_CLI_SOURCE=1 forces the sources even when a build exists (the CLI's tests use it, so they never run a
// stale build).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/run.js', import.meta.url);
if (process.env.OVERT_CLI_SOURCE !== '1' && existsSync(dist)) {
  await import(dist.href);
} else {
  let tsx;
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    console.error(
      'overt: no compiled CLI found (run `npm run build`) and tsx is not installed to run the sources',
    );
    process.exit(1);
  }
  tsx.register({ tsconfig: fileURLToPath(new URL('../tsconfig.run.json', import.meta.url)) });
  await import(new URL('../src/run.ts', import.meta.url).href);
}
