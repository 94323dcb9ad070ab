/**
 * Relay capacity benchmark (issue 4, figure a; BENCHMARKS.md "relay capacity"): the entry point. The benchmark
 * itself is capacity-main.ts (relay in this process, clients in capacity-client.ts processes).
 *
 *   npx tsx bench/relay/capacity.ts [--quick] [--sqlite-only] [--checks on|off] [--messages-per-sender N]
 *
 * The relay's sources import '@overt/*'; plain tsx resolves those to the packages' builds (possibly stale). This
 * launcher has no static import of them: it reruns itself under the test tsconfig, whose paths map them to the
 * working tree's sources, and only then loads the benchmark.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

if (!import.meta.resolve('@overt/core').includes('/packages/core/src/')) {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync('npx', ['tsx', '--tsconfig', 'tsconfig.test.json', self, ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  process.exit(r.status ?? 1);
}
await import('./capacity-main.js');
