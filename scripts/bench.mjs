// `npm run bench [-- --quick] [-- PART …] [-- --out FILE] [-- --list]`: the benchmark suite (issue #13). Runs
// every part (or the named ones) one after another and writes bench/results.json (schema
// bench/results.schema.json), each part's own JSON in bench/raw/. See bench/suite/run.ts and BENCHMARKS.md.
// The parts run on the working tree's TypeScript sources (tsx with tsconfig.test.json): no build needed.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/suite/run.ts', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, TSX_TSCONFIG_PATH: 'tsconfig.test.json' },
});
process.exit(r.status ?? 1);
