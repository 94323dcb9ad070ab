// `npm start`: builds the workspace and runs the whole system on its embedded default (SQLite under ./data).
// The parts that exist so far are listed below; each issue that adds a service adds it here.
import { spawnSync } from 'node:child_process';

const build = spawnSync('npx', ['tsc', '--build'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

console.log('Overt: the core protocol library is built (packages/core).');
console.log('Not built yet: the relay, log service, witnesses and trustees (see the open issues).');
