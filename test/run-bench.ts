/**
 * Runs a benchmark script as `npm run bench` does (node with tsx, from the repository root) in a child process
 * started through children.ts (stopped with the test, also when it fails), and resolves with what it printed.
 */
import { fileURLToPath } from 'node:url';
import { spawnChild } from './children.js';

const root = fileURLToPath(new URL('..', import.meta.url));

export function runBench(
  script: string,
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnChild(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: root,
    stdio: 'pipe',
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
