// `npm run bench [-- --quick] [-- suite …]`: runs every benchmark suite in turn (one at a time, so they do not
// compete for the two cores) and prints one JSON document: {suites: {name: <the suite's own JSON>}}.
// Each suite reports its figures with a baseline measured in the same run; see BENCHMARKS.md.
import { spawnSync } from 'node:child_process';

const SUITES = {
  'core/capsule': 'bench/core/capsule.ts',
  'core/envelope': 'bench/core/envelope.ts',
  'core/dkg': 'bench/core/dkg.ts',
  'log/merkle': 'bench/log/merkle.ts',
  'log/service': 'bench/log/run.ts',
  mls: 'bench/mls/run.ts',
  'relay/e2e': 'bench/relay/e2e.ts',
  'relay/capacity': 'bench/relay/capacity.ts',
  'franking/stamp': 'bench/franking/stamp.ts',
  'cli/startup': 'bench/cli/startup.ts',
  access: 'bench/access/run.ts',
  'kt-map': 'bench/kt-map/run.ts',
};

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const wanted = args.filter((a) => !a.startsWith('--'));
const names = wanted.length > 0 ? wanted : Object.keys(SUITES);
const out = { started: new Date().toISOString(), node: process.version, quick, suites: {} };
let failed = false;

for (const name of names) {
  const file = SUITES[name];
  if (!file) {
    console.error(`unknown suite ${name}; known: ${Object.keys(SUITES).join(', ')}`);
    process.exit(2);
  }
  console.error(`bench: ${name} …`);
  const r = spawnSync('npx', ['tsx', file, ...(quick ? ['--quick'] : [])], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) {
    failed = true;
    out.suites[name] = { error: `exit ${r.status}`, stderr: r.stderr.slice(-2000) };
    continue;
  }
  try {
    out.suites[name] = JSON.parse(r.stdout);
  } catch {
    out.suites[name] = { raw: r.stdout };
  }
}
console.log(JSON.stringify(out, null, 2));
process.exit(failed ? 1 : 0);
