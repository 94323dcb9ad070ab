// `npm start [-- --port N --data DIR --demo-users]`: builds the workspace, then runs `overt up`, the whole system on its embedded default
// (SQLite under ./data): the relay with the log at http://127.0.0.1:8420 (tiles under /log/, /.well-known/overt),
// two witnesses and three trustee daemons as separate processes. docs/spec/start.md.
// OVERT_START_SOURCE=1 skips the build and runs the TypeScript sources through tsx (the start test uses it, so it
// never builds into the shared tree or runs a stale build).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = new URL('../', import.meta.url);
let entry;
if (process.env.OVERT_START_SOURCE === '1') {
  const tsconfig = fileURLToPath(new URL('packages/up/src/tsconfig.run.json', root));
  const tsx = await import('tsx/esm/api');
  tsx.register({ tsconfig });
  entry = await import(new URL('packages/up/src/main.ts', root).href);
} else {
  const tsc = fileURLToPath(new URL('node_modules/typescript/bin/tsc', root));
  const build = spawnSync(process.execPath, [tsc, '--build'], { stdio: 'inherit', cwd: fileURLToPath(root) });
  if (build.status !== 0) process.exit(build.status ?? 1);
  // `npm run build`'s second step: the `overt` command's bundle (scripts/bundle-cli.mjs), so that the CLI
  // people run next to this system starts fast.
  const bundle = spawnSync(process.execPath, [fileURLToPath(new URL('scripts/bundle-cli.mjs', root))], {
    stdio: 'inherit',
  });
  if (bundle.status !== 0) process.exit(bundle.status ?? 1);
  // `npm run build`'s third step: the web app (packages/web, Vite), served by the relay at `/`. Without Vite the
  // system still starts; `/` then says the app is not built.
  const web = spawnSync(process.execPath, [fileURLToPath(new URL('scripts/build-web.mjs', root))], {
    stdio: 'inherit',
  });
  if (web.status !== 0) process.exit(web.status ?? 1);
  // `npm start` is `overt up` (its options, and --demo-users): the command's bundle runs it and exits when done.
  process.argv = [process.argv[0], 'overt', 'up', ...process.argv.slice(2)];
  await import(new URL('packages/cli/dist/bundle/run.js', root).href);
}
if (entry !== undefined) {
  // Exit explicitly once main has stopped everything (children reaped, databases closed): a client still holding a
  // connection open must not keep the process alive.
  process.exit(await entry.main(process.argv.slice(2)));
}
