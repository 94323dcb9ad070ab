/**
 * A part of the benchmark suite: one module under bench/suite/parts/ that runs one existing benchmark (or a
 * scaling curve) and reports its figures in the common shape (figures.ts). Parts run one after another, each
 * benchmark in a child process of its own, so they do not compete for the cores and a crash stays in its part.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Figure } from './figures.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface PartContext {
  readonly quick: boolean;
  /** Progress to stderr. */
  log(message: string): void;
}

export interface PartResult {
  figures: Figure[];
  /** The wrapped benchmark's own JSON (kept in bench/raw/<part>.json, not validated). */
  raw: unknown;
  note?: string;
}

export interface Part {
  /** "core/capsule": what `npm run bench -- <name>` selects. */
  readonly name: string;
  readonly description: string;
  /** false: left out of a whole-suite `--quick` run (too slow for it); it still runs when named. */
  readonly quickByDefault?: boolean;
  run(ctx: PartContext): Promise<PartResult>;
}

/** The command that reproduces a part alone. */
export function commandOf(part: string, quick = false): string {
  return `npm run bench -- ${quick ? '--quick ' : ''}${part}`;
}

/**
 * Runs a TypeScript benchmark script under tsx with the test tsconfig (so `@overt/*` are the working tree's
 * sources, no build needed) and parses the JSON document it prints on stdout. Its stderr is passed through.
 */
export function runScript(
  file: string,
  args: readonly string[] = [],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
      cwd: ROOT,
      env: { ...process.env, TSX_TSCONFIG_PATH: 'tsconfig.test.json', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderrTail = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      process.stderr.write(d);
      stderrTail = (stderrTail + d).slice(-2000);
    });
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            child.kill('SIGKILL');
          }, options.timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (code !== 0) {
        reject(
          new Error(
            `${file} exited ${code ?? signal}: ${stderrTail.trim().split('\n').slice(-5).join(' | ')}`,
          ),
        );
        return;
      }
      try {
        resolve(JSON.parse(stdout.slice(stdout.indexOf('{'))));
      } catch {
        reject(new Error(`${file} printed no JSON document`));
      }
    });
  });
}

/** Runs the same script `n` times, one after another. */
export async function repeatScript(file: string, args: readonly string[], n: number): Promise<unknown[]> {
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) out.push(await runScript(file, args));
  return out;
}
