#!/usr/bin/env node
// Launcher of the `overt` command. An installed package runs its compiled code (dist/). In a source checkout it
// runs the compiled code only while it is at least as new as every TypeScript source of the workspace packages
// it is built from; otherwise (not built yet, or sources changed since, e.g. after a pull) it runs the sources
// through tsx, with @overt/* resolved to the sibling packages' sources by tsconfig.run.json, so `npx overt`
// works right after `npm install` and never runs a stale build.
// Of the compiled code it prefers the one-file-per-command bundle `npm run build` makes (dist/bundle/,
// scripts/bundle-cli.mjs; it starts much faster, issue #9) while the bundle is at least as new as every compiled
// file, and runs dist/run.js itself otherwise (no bundle, or `tsc --build` ran without the bundling step).
// OVERT_CLI_SOURCE=1 forces the sources (the CLI's tests use it).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/run.js', import.meta.url);
const bundle = new URL('../dist/bundle/run.js', import.meta.url);
const packages = new URL('../../', import.meta.url);

/**
 * The newest modification time of a file under `dir` whose name ends with `suffix` (0 when there is none),
 * leaving out the subdirectory named `skip`.
 */
function newest(dir, suffix, skip) {
  let time = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory()) {
      if (e.name !== skip) time = Math.max(time, newest(path, suffix, skip));
    } else if (e.name.endsWith(suffix) && !e.name.endsWith('.test.ts'))
      time = Math.max(time, statSync(path).mtimeMs);
  }
  return time;
}

/** The newest compiled file of each workspace package (its dist/ without the bundle), each walked once. */
function newestBuilt() {
  const root = fileURLToPath(packages);
  return new Map(readdirSync(root).map((name) => [name, newest(`${root}${name}/dist`, '.js', 'bundle')]));
}

/**
 * Whether dist/run.js exists and, in a source checkout, every workspace package's build is at least as new as
 * its sources (tsc --build leaves a package's outputs alone when only another package changed).
 */
function buildIsCurrent(built) {
  if (!existsSync(dist)) return false;
  if (!existsSync(new URL('../src', import.meta.url))) return true;
  const root = fileURLToPath(packages);
  for (const [name, time] of built) {
    const src = newest(`${root}${name}/src`, '.ts');
    if (src > 0 && src > time) return false;
  }
  return true;
}

/** Whether dist/bundle/run.js exists and is at least as new as every workspace package's compiled code. */
function bundleIsCurrent(built) {
  if (!existsSync(bundle)) return false;
  const time = statSync(bundle).mtimeMs;
  for (const t of built.values()) if (t > time) return false;
  return true;
}

const built = process.env.OVERT_CLI_SOURCE === '1' ? undefined : newestBuilt();
if (built !== undefined && buildIsCurrent(built)) {
  await import((bundleIsCurrent(built) ? bundle : dist).href);
} else {
  let tsx;
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    console.error(
      'overt: no current compiled CLI found (run `npm run build`) and tsx is not installed to run the sources',
    );
    process.exit(1);
  }
  tsx.register({ tsconfig: fileURLToPath(new URL('../tsconfig.run.json', import.meta.url)) });
  await import(new URL('../src/run.ts', import.meta.url).href);
}
