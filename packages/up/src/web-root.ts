/**
 * Where the built web app is (packages/web/dist, `npm run build -w @overt/web`), found from this module's own
 * location: packages/up/src or packages/up/dist (two levels below packages/), or the CLI's bundle
 * packages/cli/dist/bundle (three). `OVERT_WEB_DIR` names another directory. The relay serves it at `/`; when it
 * is missing the relay answers `/` with a page saying the app is not built (web.md §4).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function defaultWebRoot(): string {
  const env = process.env.OVERT_WEB_DIR;
  if (env !== undefined && env !== '') return env;
  const candidates = ['../../web/dist/', '../../../web/dist/'].map((p) =>
    fileURLToPath(new URL(p, import.meta.url)),
  );
  return candidates.find((c) => existsSync(`${c}index.html`)) ?? candidates[0]!;
}
