/**
 * Which file a child process of the all-in-one start runs (docs/spec/start.md §4.1): the compiled .js when this
 * start runs from dist/, and — when it runs from the sources (OVERT_START_SOURCE=1, the tests) — still the compiled
 * .js if the build is current, since loading the sources under tsx costs each child seconds of CPU (measured: the
 * trustee daemon loads in ~1 s from dist/, ~3.6 s from src/ under tsx, on the shared 2-core machine). The build is
 * current when every package the child runs has a dist/ at least as new as each of its non-test TypeScript
 * sources, the rule of the `overt` launcher (packages/cli/bin/overt.js), so a stale build is never run.
 * OVERT_START_CHILDREN=source forces the sources (to measure, or to debug a child under tsx).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The newest mtime of a file under `dir` ending in `suffix` (not `.test.ts`); 0 when there is none. */
function newest(dir: string, suffix: string): number {
  let time = 0;
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) time = Math.max(time, newest(path, suffix));
    else if (e.name.endsWith(suffix) && !e.name.endsWith('.test.ts'))
      time = Math.max(time, statSync(path).mtimeMs);
  }
  return time;
}

/**
 * Whether `entry` (a compiled file) exists and each of `packages` (directories packages/<name>) has a dist/ whose
 * newest .js is at least as new as its newest source .ts.
 */
export function buildIsCurrent(entry: string, packages: readonly string[]): boolean {
  if (process.env.OVERT_START_CHILDREN === 'source' || !existsSync(entry)) return false;
  for (const pkg of packages) {
    const src = newest(join(pkg, 'src'), '.ts');
    const built = newest(join(pkg, 'dist'), '.js');
    if (built === 0 || src > built) return false;
  }
  return true;
}
