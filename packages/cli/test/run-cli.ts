/**
 * Runs the `overt` command as a user would: `node packages/cli/bin/overt.js …` in a child process, from the
 * sources (OVERT_CLI_SOURCE=1, so a stale build is never what is tested).
 *
 * Profiles are locked with a raw key (OVERT_PROFILE_KEY, docs/spec/cli.md §3.1), random per test file, so that
 * commands skip Argon2id; tests of passphrases pass their own environment (`env`, where `undefined` removes a
 * variable).
 *
 * Every process is started through test/children.ts: in its own process group, stopped with everything it started
 * when the test that started it finishes (passed, failed or timed out), and — for daemons started in a beforeAll —
 * by the afterAll this module registers in every test file that imports it.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { spawnChild, stopChild, stopChildrenAfterAll } from '../../../test/children.js';

stopChildrenAfterAll();

const BIN = fileURLToPath(new URL('../bin/overt.js', import.meta.url));

/** The raw profile key every command of this test file unlocks with, unless its `env` says otherwise. */
export const TEST_PROFILE_KEY = randomBytes(32).toString('hex');

export type Env = Readonly<Record<string, string | undefined>>;

/** The environment a command runs with: the test's own, the test profile key, then `extra`. */
export function cliEnv(extra: Env = {}): Record<string, string> {
  const env: Record<string, string | undefined> = {
    ...process.env,
    OVERT_PASSPHRASE: undefined,
    OVERT_NEW_PASSPHRASE: undefined,
    OVERT_PROFILE_KEY: TEST_PROFILE_KEY,
    ...extra,
  };
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function start(args: readonly string[], env: Env = {}): ChildProcessWithoutNullStreams {
  return spawnChild(process.execPath, [BIN, ...args], {
    env: cliEnv({ OVERT_CLI_SOURCE: '1', NO_COLOR: '1', ...env }),
    stdio: 'pipe',
  }) as ChildProcessWithoutNullStreams;
}

/** Runs a command to completion. */
export function runCli(args: readonly string[], env: Env = {}): Promise<CliResult> {
  const child = start(args, env);
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

export function startDaemon(args: readonly string[], env: Env = {}): Daemon {
  const child = start(args, env);
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
export async function runInProcess(
  args: readonly string[],
  env: Env = {},
  readSecret?: (prompt: string) => Promise<string>,
  readLine?: (prompt: string) => Promise<string>,
): Promise<CliResult> {
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
    env: cliEnv(env),
    ...(readSecret ? { readSecret } : {}),
    ...(readLine ? { readLine } : {}),
  });
  return { code, stdout, stderr };
}

/**
 * Unlocks a profile the way a command run with `env` would (test profile key by default), for tests that look at
 * or alter its store directly.
 */
export async function unlockForTest(dir: string, env: Env = {}) {
  const { SecretSource } = await import('../src/passphrase.js');
  const { unlockProfile } = await import('../src/profile.js');
  const ctx = {
    values: {},
    positionals: [],
    json: false,
    io: {
      stdout: () => undefined,
      stderr: () => undefined,
      stopped: new Promise<void>(() => undefined),
      env: cliEnv(env),
    },
  };
  return unlockProfile(dir, new SecretSource(ctx));
}
