/**
 * The real system of `npm start` for the CLI's end-to-end tests: scripts/start.mjs from the sources
 * (OVERT_START_SOURCE=1) on free ports with a temporary data directory, started before a test file's tests and
 * stopped after them, plus the `overt` calls those tests make to set up their people (device init, admin enrol).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { spawnChild, stopChild } from '../../../test/children.js';
import { type Env, runCli } from './run-cli.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

export interface NpmStart {
  /** A temporary directory for the test file (profiles, files to send), removed after its tests. */
  readonly tmp: string;
  /** The org admin's key file, where `npm start` writes it. */
  readonly adminKey: string;
  /** The relay's URL, known once the system has started (in `beforeAll`). */
  readonly relay: string;
  /** What `npm start` printed up to its ready line (the relay, the trustees with their pids, …). */
  readonly startOutput: string;
  /** `overt admin enrol` arguments that enrol `user`'s `device` with public key `deviceKey` (base64). */
  adminEnrolArgs(user: string, device: string, deviceKey: string): string[];
  /**
   * `overt device init` a profile in `profile` for device `<user>-laptop`, then `overt admin enrol` it;
   * resolves with what admin enrol printed (--json).
   */
  enrol(user: string, profile: string): Promise<Record<string, unknown>>;
}

/** Runs `overt … --json` (with `env` added to the environment), which must exit 0, and parses what it printed. */
export async function ok(args: readonly string[], env: Env = {}): Promise<Record<string, unknown>> {
  const r = await runCli([...args, '--json'], env);
  if (r.code !== 0) throw new Error(`overt ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/**
 * Resolves with the relay URL `npm start` prints once everything is up, and its output to then; rejects if it
 * exits or stalls first.
 */
function relayUrl(system: ChildProcess): Promise<{ url: string; output: string }> {
  let out = '';
  system.stderr?.on('data', (d) => {
    out += String(d);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`start timed out:\n${out}`)), 120_000);
    system.once('exit', (code) => reject(new Error(`start exited with ${code}:\n${out}`)));
    system.stdout?.on('data', (d) => {
      out += String(d);
      if (!out.includes('Ctrl-C stops everything.')) return;
      clearTimeout(timer);
      const url = /relay\s+(http:\/\/\S+)/.exec(out)?.[1];
      if (url) resolve({ url, output: out });
      else reject(new Error(`unexpected output:\n${out}`));
    });
  });
}

/**
 * Registers the `beforeAll` that starts the system and the `afterAll` that stops it and removes `tmp`. `env` is
 * added to the start's environment (e.g. OVERT_UNSEAL_GRACE_MS for its trustee daemons).
 */
export function useNpmStart(tmpPrefix: string, env: Readonly<Record<string, string>> = {}): NpmStart {
  const tmp = mkdtempSync(join(tmpdir(), tmpPrefix));
  const dataDir = join(tmp, 'data');
  const adminKey = join(dataDir, 'admin.key');
  let system: ChildProcess | undefined;
  let relay = '';
  let startOutput = '';

  beforeAll(async () => {
    // Its own process group (test/children.ts): the witnesses it forks are stopped with it, even if it dies first.
    system = spawnChild(process.execPath, ['scripts/start.mjs', '--port', '0', '--data', dataDir], {
      cwd: root,
      env: { ...process.env, OVERT_START_SOURCE: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    ({ url: relay, output: startOutput } = await relayUrl(system));
    // The start waits for the three trustee daemons' first ceremonies (start.md §4.2).
  }, 150_000);

  afterAll(async () => {
    try {
      // SIGTERM to npm start, which stops its witnesses; SIGKILL to any process of its group left after 10 s.
      if (system !== undefined) await stopChild(system, { leader: true, graceMs: 10_000 });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  const adminEnrolArgs = (user: string, device: string, deviceKey: string): string[] => [
    'admin',
    'enrol',
    '--relay',
    relay,
    '--admin-key',
    adminKey,
    '--user',
    user,
    '--device',
    device,
    '--device-key',
    deviceKey,
  ];
  return {
    tmp,
    adminKey,
    get relay() {
      return relay;
    },
    get startOutput() {
      return startOutput;
    },
    adminEnrolArgs,
    async enrol(user, profile) {
      const device = `${user}-laptop`;
      const init = await ok([
        'device',
        'init',
        '--relay',
        relay,
        '--user',
        user,
        '--device',
        device,
        '--profile',
        profile,
      ]);
      return ok(adminEnrolArgs(user, device, init.deviceKey as string));
    },
  };
}
