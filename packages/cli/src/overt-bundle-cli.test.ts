/**
 * The `overt` bundle that `npm run build` makes (scripts/bundle-cli.mjs, issue #9) runs the same commands as the
 * sources: against the real system of `npm start`, a device initialised through the bundle (libsodium
 * key seeding at start-up, which an earlier CommonJS bundle broke), `--help`, `chat new`, `send` and `read`.
 * The bundle is made from packages/cli/dist, which `npm test` builds first (`npm run typecheck`), into this test
 * file's temporary directory (never into the shared tree).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnChild } from '../../../test/children.js';
import { ok, useNpmStart } from '../test/npm-start.js';
import { type CliResult, cliEnv } from '../test/run-cli.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const sys = useNpmStart('overt-bundle-cli-');
const bundle = join(sys.tmp, 'bundle', 'run.js');
const alice = join(sys.tmp, 'alice');
const bob = join(sys.tmp, 'bob');

/** Runs `node <bundle> args…` to completion with the test file's profile key. */
function runBundle(args: readonly string[]): Promise<CliResult> {
  const child = spawnChild(process.execPath, [bundle, ...args], {
    env: cliEnv({ NO_COLOR: '1' }),
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

async function bundleOk(args: readonly string[]): Promise<Record<string, unknown>> {
  const r = await runBundle([...args, '--json']);
  if (r.code !== 0) throw new Error(`bundle ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

beforeAll(() => {
  if (!existsSync(join(root, 'packages/cli/dist/run.js')))
    throw new Error('packages/cli/dist is not built: run `npx tsc --build` (npm test does) first');
  const r = spawnSync(process.execPath, [join(root, 'scripts/bundle-cli.mjs'), join(sys.tmp, 'bundle')], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`bundle-cli failed: ${r.stderr}`);
}, 60_000);

describe('the overt bundle of npm run build', () => {
  it('prints help, inits a device, creates a chat, sends, and the recipient reads', async () => {
    expect(existsSync(bundle)).toBe(true);
    const help = await runBundle(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: overt <family> <command> [options]');

    // A device initialised through the bundle: libsodium ready at import, the Ed25519 seed, the sealed key file.
    const init = await bundleOk([
      'device',
      'init',
      '--relay',
      sys.relay,
      '--user',
      'carol',
      '--device',
      'carol-pc',
      '--profile',
      join(sys.tmp, 'carol'),
    ]);
    expect(Buffer.from(init.deviceKey as string, 'base64').length).toBe(32);
    await Promise.all([sys.enrol('alice', alice), sys.enrol('bob', bob)]);
    // Bob's first command publishes his key packages.
    expect(await bundleOk(['chat', 'list', '--profile', bob])).toEqual({ ok: true, conversations: [] });
    const conv = (await bundleOk(['chat', 'new', '--profile', alice, '--with', 'bob']))
      .conversation as string;
    const sent = await bundleOk(['send', '--profile', alice, '--to', conv, 'hello from the bundle']);
    expect(sent.ok).toBe(true);

    const read = (await bundleOk(['read', '--profile', bob])).events as Record<string, unknown>[];
    expect(read.map((e) => e.event)).toEqual(['joined', 'message']);
    expect(read[1]).toMatchObject({
      conversation: conv,
      sender: { userId: 'alice', deviceId: 'alice-laptop' },
      text: 'hello from the bundle',
      messageId: sent.messageId,
    });
    // And the sources read the same profile the bundle wrote.
    expect(await ok(['chat', 'list', '--profile', alice])).toMatchObject({ ok: true });
  }, 120_000);
});
