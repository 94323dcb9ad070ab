/**
 * `overt up --demo-users` as a newcomer runs it (issue #12): the all-in-one start through the `overt` command
 * (spawned, sources, free ports, a temporary data directory), then `overt send --as alice --to bob 'hi'` and
 * `overt read --as bob` with nothing copied by hand; a second start on the same directory reuses the demo users
 * and loses nothing; bad arguments give one clear line.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stopChild } from '../../../test/children.js';
import { ok } from '../test/npm-start.js';
import { runInProcess } from '../test/run-cli.js';
import { freePort, startUp } from '../test/up.js';

const tmp = mkdtempSync(join(tmpdir(), 'overt-up-cli-'));
const data = join(tmp, 'data');

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Starts `overt up` on the test's data directory. */
const up = (port: number, args: readonly string[]) => startUp(data, port, args);

/** `overt … --json` as a demo user would type it: OVERT_DATA names the data directory, no passphrase given. */
const as = (args: readonly string[]) => ok(args, { OVERT_DATA: data, OVERT_PROFILE_KEY: undefined });

describe('overt up --demo-users', () => {
  it('makes alice, bob and carol; send --as alice --to bob works at once; a restart keeps everything', async () => {
    const port = await freePort();
    let running = await up(port, ['--demo-users']);
    try {
      expect(running.out).toMatch(/Demo users\s+alice, bob, carol .*\(new: alice, bob, carol\)/);
      expect(running.out).toContain(`OVERT_DATA=${data} npx overt send --as alice --to bob 'hi'`);
      for (const user of ['alice', 'bob', 'carol']) {
        expect(statSync(join(data, 'demo', `${user}.passphrase`)).mode & 0o777).toBe(0o600);
        expect(statSync(join(data, 'demo', user)).mode & 0o777).toBe(0o700);
      }
      const sent = await as(['send', '--as', 'alice', '--to', 'bob', 'hi']);
      const read = (await as(['read', '--as', 'bob'])).events as Record<string, unknown>[];
      expect(read.map((e) => e.event)).toEqual(['joined', 'message']);
      expect(read[1]).toMatchObject({ text: 'hi', messageId: sent.messageId });
      const conversation = read[1]!.conversation;
      // bob answers "to alice": the same one-to-one conversation, not a new one.
      await as(['send', '--as', 'bob', '--to', 'alice', 'hello alice']);
      const back = (await as(['read', '--as', 'alice'])).events as Record<string, unknown>[];
      expect(back).toEqual([expect.objectContaining({ conversation, text: 'hello alice' })]);
      // A user nobody enrolled: one clear failure, and alice is in no extra conversation.
      const nobody = await runInProcess(['send', '--as', 'alice', '--to', 'nobody', 'x'], {
        OVERT_DATA: data,
        OVERT_PROFILE_KEY: undefined,
      });
      expect(nobody.code).toBe(1);
      expect(nobody.stderr.trim().split('\n')).toHaveLength(1);
      expect(((await as(['chat', 'list', '--as', 'alice'])).conversations as unknown[]).length).toBe(1);
    } finally {
      await stopChild(running.child, { leader: true, graceMs: 10_000 });
    }

    const ready = readFileSync(join(data, 'demo', 'alice.ready'), 'utf8');
    running = await up(port, ['--demo-users']);
    try {
      // Reused, not made again: same device, no "new" users, and the conversation is still there.
      expect(running.out).toMatch(/Demo users\s+alice, bob, carol under \S+;/);
      expect(readFileSync(join(data, 'demo', 'alice.ready'), 'utf8')).toBe(ready);
      await as(['send', '--as', 'alice', '--to', 'bob', 'still here']);
      const read = (await as(['read', '--as', 'bob'])).events as Record<string, unknown>[];
      expect(read).toEqual([expect.objectContaining({ text: 'still here' })]);
    } finally {
      await stopChild(running.child, { leader: true, graceMs: 10_000 });
    }
  }, 400_000);

  it('bad arguments and a missing demo user each give one clear line', async () => {
    const badPort = await runInProcess(['up', '--port', 'x']);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr.split('\n')[0]).toBe('overt up: --port must be an integer from 0 to 65535');
    const dave = await runInProcess(['read', '--as', 'dave'], { OVERT_DATA: data });
    expect(dave.code).toBe(2);
    expect(dave.stderr).toContain('no demo user dave in');
    const both = await runInProcess(['read', '--as', 'alice', '--profile', tmp], { OVERT_DATA: data });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give --profile or --as, not both');
  });
});
