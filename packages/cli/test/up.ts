/**
 * `overt up` as the CLI's end-to-end tests start it: the spawned command (sources, a given port, free witness
 * ports, a temporary data directory), resolved once it printed its start-up time line; stopped with its process group
 * by test/children.ts.
 */
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { spawnChild } from '../../../test/children.js';
import { cliEnv } from './run-cli.js';

const BIN = fileURLToPath(new URL('../bin/overt.js', import.meta.url));

/** A port free right now (e.g. so that a restart can use the same one, or to name a port nothing listens on). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `overt up --port PORT --data DATA …args` and resolves with it, everything it printed up to its start-up
 * time line, and the relay's URL; rejects if it exits or stalls first.
 */
export async function startUp(
  data: string,
  port: number,
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
): Promise<{ child: ChildProcess; out: string; url: string }> {
  const child = spawnChild(
    process.execPath,
    [
      BIN,
      'up',
      '--port',
      String(port),
      '--witness-ports',
      '0,0',
      '--data',
      data,
      '--log-level',
      'warn',
      ...args,
    ],
    {
      // No profile key from the test environment: the demo users use their passphrase files.
      env: cliEnv({ OVERT_CLI_SOURCE: '1', NO_COLOR: '1', OVERT_PROFILE_KEY: undefined, ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stderr?.on('data', (d) => {
    out += String(d);
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`overt up timed out:\n${out}`)), 150_000);
    child.once('exit', (code) => reject(new Error(`overt up exited with ${code}:\n${out}`)));
    child.stdout?.on('data', (d) => {
      out += String(d);
      if (/Started in \d+ ms/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const url = /relay\s+(http:\/\/\S+)/.exec(out)?.[1];
  if (url === undefined) throw new Error(`overt up printed no relay URL:\n${out}`);
  return { child, out, url };
}
