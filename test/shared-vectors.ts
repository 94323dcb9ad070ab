/**
 * The project's shared public vectors (DESIGN §7): `../shared/vectors` beside the repository, or the directory
 * `$OVERT_VECTORS` names. They are not committed here; a suite that needs a part of them runs when it is
 * present and is skipped LOUDLY otherwise (a warning naming where it looked, and the suite reported as skipped),
 * as the MLS interop suites do (packages/client/test/mls-vectors.ts).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe } from 'vitest';

/** Where the shared vectors are looked for: `$OVERT_VECTORS` when set (and not empty), else ../shared/vectors. */
export const SHARED_VECTORS_DIR =
  process.env.OVERT_VECTORS || fileURLToPath(new URL('../../shared/vectors', import.meta.url));

export interface SharedVectors {
  /** `<SHARED_VECTORS_DIR>/<part>`. */
  readonly dir: string;
  readonly present: boolean;
  /** `describe` when the part is present, `describe.skip` (reported as skipped) when it is not. */
  readonly describe: ReturnType<typeof describe.skipIf>;
  /** A path inside the part. */
  path(...segments: string[]): string;
}

const warned = new Set<string>();

/**
 * One part of the shared vectors (`merkle`, `signed-note`, `tessera-log`, …), present when `probe` (a file or
 * directory inside it) exists.
 */
export function sharedVectors(part: string, probe: string): SharedVectors {
  const dir = join(SHARED_VECTORS_DIR, part);
  const present = existsSync(join(dir, probe));
  if (!present && !warned.has(part)) {
    warned.add(part);
    console.warn(
      `shared vectors "${part}" not found (looked for ${join(dir, probe)}): the suites that need them are ` +
        'SKIPPED. Set OVERT_VECTORS to a copy of the shared vectors directory.',
    );
  }
  return {
    dir,
    present,
    describe: describe.skipIf(!present),
    path: (...segments) => join(dir, ...segments),
  };
}
