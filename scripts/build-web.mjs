// `npm run build`'s third step (after `tsc --build` and the CLI bundle): type-checks and builds the web app
// (packages/web) into packages/web/dist with Vite; the relay serves it at `/` (web.md §4). When Vite is not
// installed it says so and exits 0: the system runs without the page, and `/` explains how to build it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = new URL('../', import.meta.url);
const web = fileURLToPath(new URL('packages/web/', root));
const vite = fileURLToPath(new URL('node_modules/vite/bin/vite.js', root));
if (!existsSync(vite)) {
  console.error('build-web: vite is not installed; the relay serves no web app (run npm install)');
  process.exit(0);
}
const tsc = fileURLToPath(new URL('node_modules/typescript/bin/tsc', root));
const check = spawnSync(process.execPath, [tsc, '-p', `${web}tsconfig.json`, '--noEmit'], {
  stdio: 'inherit',
});
if (check.status !== 0) process.exit(check.status ?? 1);
const build = spawnSync(process.execPath, [vite, 'build', '--logLevel', 'warn', web], { stdio: 'inherit' });
process.exit(build.status ?? 1);
