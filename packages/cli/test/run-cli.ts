/**
 * Runs the `overt` command as a user would: `node packages/cli/bin/overt.js …` in a child process, from the
 * sources (OVERT_CLI_SOURCE=1, so a stale build is never what is tested).
 *
 * Every process is started through test/children.ts: in its own process group, stopped with everything it started
 * when the test that started it finishes (passed, failed or timed out), and — for daemons started in a beforeAll —
 * by the afterAll this module registers in every test file that imports it.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { spawnChild, stopChild, stopChildrenAfterAll } from '../../../test/children.js';

stopChildrenAfterAll();

const BIN = fileURLToPath(new URL('../bin/overt.js', import.meta.url));

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function start(args: readonly string[]): ChildProcessWithoutNullStreams {
  return spawnChild(process.execPath, [BIN, ...args], {
    env: { ...process.env, OVERT_CLI_SOURCE: '1', NO_COLOR: '1' },
    stdio: 'pipe',
  }) as ChildProcessWithoutNullStreams;
}

/** Runs a command to completion. */
export function runCli(args: readonly string[]): Promise<CliResult> {
  const child = start(args);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A long-running command (`serve`), with its stdout as JSON lines. */
export interface Daemon {
  /** The process id (also its process group's id). */
  readonly pid: number;
  /** Every JSON line printed so far. */
  readonly events: Record<string, unknown>[];
  /** Resolves with the first event satisfying `pred` (waiting for it if needed). */
  waitFor(
    pred: (e: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /**
   * Sends SIGTERM to the daemon (its own shutdown is what the tests check) and resolves with the exit code and
   * everything printed, once no process of its group is left.
   */
  stop(): Promise<CliResult>;
}

export function startDaemon(args: readonly string[]): Daemon {
  const child = start(args);
  const events: Record<string, unknown>[] = [];
  const waiters: {
    pred: (e: Record<string, unknown>) => boolean;
    resolve: (e: Record<string, unknown>) => void;
  }[] = [];
  let stdout = '';
  let stderr = '';
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    partial += d;
    let nl = partial.indexOf('\n');
    while (nl >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      nl = partial.indexOf('\n');
      const e = JSON.parse(line) as Record<string, unknown>;
      events.push(e);
      for (const w of waiters.splice(0)) {
        if (w.pred(e)) w.resolve(e);
        else waiters.push(w);
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const closed = new Promise<CliResult>((resolve) => {
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return {
    pid: child.pid ?? 0,
    events,
    waitFor: (pred, timeoutMs = 30_000) => {
      const seen = events.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out; stdout: ${stdout} stderr: ${stderr}`)),
          timeoutMs,
        );
        waiters.push({
          pred,
          resolve: (e) => {
            clearTimeout(timer);
            resolve(e);
          },
        });
        void closed.then((r) =>
          reject(new Error(`exited ${r.code}; stdout: ${r.stdout} stderr: ${r.stderr}`)),
        );
      });
    },
    stop: async () => {
      child.kill('SIGTERM');
      const result = await closed;
      await stopChild(child);
      return result;
    },
  };
}

/**
 * Runs a command inside the test process through the same `main` the binary calls: for the many small cases
 * (usage errors, refusals) where spawning one process each would only measure process start-up.
 */
export async function runInProcess(args: readonly string[]): Promise<CliResult> {
  const { main } = await import('../src/main.js');
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    stopped: new Promise<void>(() => undefined),
  });
  return { code, stdout, stderr };
}
