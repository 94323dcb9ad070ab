/**
 * Abuse reports from the command line (client.md §4.5, relay.md §10; A12), against the real system of `npm start`:
 * the relay publishes its franking key in /.well-known/overt, bob's profile pins it, bob reads a message and
 * reports it with `overt report`, and the org admin lists and reads it with `overt admin reports`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromBase64 } from '@overt/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runInProcess } from '../test/run-cli.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'overt-report-cli-'));
const dataDir = join(tmp, 'data');
const alice = join(tmp, 'alice');
const bob = join(tmp, 'bob');
let system: ChildProcess;
let relay = '';

function startSystem(): Promise<string> {
  system = spawn(process.execPath, ['scripts/start.mjs', '--port', '0', '--data', dataDir], {
    cwd: root,
    env: { ...process.env, OVERT_START_SOURCE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  system.stderr?.on('data', (d) => {
    out += String(d);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`start timed out:\n${out}`)), 30_000);
    system.once('exit', (code) => reject(new Error(`start exited with ${code}:\n${out}`)));
    system.stdout?.on('data', (d) => {
      out += String(d);
      if (!out.includes('Ctrl-C stops everything.')) return;
      clearTimeout(timer);
      const url = /relay\s+(http:\/\/\S+)/.exec(out)?.[1];
      if (url) resolve(url);
      else reject(new Error(`unexpected output:\n${out}`));
    });
  });
}

async function ok(args: readonly string[]): Promise<Record<string, unknown>> {
  const r = await runCli([...args, '--json']);
  if (r.code !== 0) throw new Error(`overt ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

async function enrol(user: string, profile: string): Promise<void> {
  const init = await ok(
    ['device', 'init', '--relay', relay, '--user', user, '--device', `${user}-laptop`].concat([
      '--profile',
      profile,
    ]),
  );
  await ok([
    'admin',
    'enrol',
    '--relay',
    relay,
    '--admin-key',
    join(dataDir, 'admin.key'),
    '--user',
    user,
    '--device',
    `${user}-laptop`,
    '--device-key',
    init.deviceKey as string,
  ]);
}

const adminArgs = () => ['admin', 'reports', '--relay', relay, '--admin-key', join(dataDir, 'admin.key')];

beforeAll(async () => {
  relay = await startSystem();
}, 40_000);

afterAll(async () => {
  if (system?.exitCode === null) {
    const exited = new Promise((r) => system.once('exit', r));
    system.kill('SIGTERM');
    await exited;
  }
  rmSync(tmp, { recursive: true, force: true });
});

describe('overt report and overt admin reports against npm start', () => {
  it('bob reports a message from alice; the admin reads it bound to alice', async () => {
    const wellKnown = (await (await fetch(`${relay}/.well-known/overt`)).json()) as { franking_key: string };
    expect(fromBase64(wellKnown.franking_key).length).toBe(32);
    await Promise.all([enrol('alice', alice), enrol('bob', bob)]);
    await ok(['chat', 'list', '--profile', bob]);
    // The profile pinned the relay's franking key on first contact.
    expect(JSON.parse(readFileSync(join(bob, 'profile.json'), 'utf8')).frankingKey).toBe(
      wellKnown.franking_key,
    );
    const conv = (await ok(['chat', 'new', '--profile', alice, '--with', 'bob'])).conversation as string;
    await ok(['send', '--profile', alice, '--to', conv, 'hand over the keys or else']);
    const events = (await ok(['read', '--profile', bob])).events as Record<string, unknown>[];
    const message = events.find((e) => e.event === 'message')!;
    expect(message).toMatchObject({ text: 'hand over the keys or else', reportable: true });
    const id = message.messageId as string;

    const filed = await ok(['report', id, '--profile', bob, '--reason', 'extortion']);
    expect(filed).toMatchObject({ ok: true, result: 'stored', messageId: id, sender: 'alice' });
    const text = await runInProcess(['report', id, '--profile', bob]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('already reported');

    const list = (await ok(adminArgs())).reports as Record<string, unknown>[];
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({
      messageId: id,
      reporter: 'bob/bob-laptop',
      sender: 'alice/alice-laptop',
      reason: 'extortion',
    });
    const one = (await ok([...adminArgs(), '--id', String(list[0]!.reportId)])).report as Record<
      string,
      unknown
    >;
    expect(one).toMatchObject({ text: 'hand over the keys or else', sender: 'alice/alice-laptop' });
    const human = await runInProcess([...adminArgs(), '--id', String(list[0]!.reportId)]);
    expect(human.stdout).toMatch(/text {6}hand over the keys or else/);
  }, 90_000);

  it('a message never received is not reportable (exit 1); usage mistakes exit 2; --help has examples', async () => {
    const r = await runInProcess(['report', 'AAAAAAAAAAAAAAAAAAAAAA', '--profile', bob, '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'SDK_NOT_REPORTABLE', check: 'FRK-6' });
    expect((await runInProcess(['report', 'not-an-id!', '--profile', bob])).code).toBe(2);
    expect(
      (await runInProcess(['report', 'AAAAAAAAAAAAAAAAAAAAAA', '--profile', bob, '--reason', ''])).code,
    ).toBe(2);
    const denied = await runInProcess([...adminArgs(), '--id', '999', '--json']);
    expect(denied.code).toBe(1);
    expect(JSON.parse(denied.stdout).error).toMatchObject({ relayCode: 'REPORT_UNKNOWN' });
    for (const cmd of [['report'], ['admin', 'reports']]) {
      const h = await runInProcess([...cmd, '--help']);
      expect(h.code).toBe(0);
      expect(h.stdout).toContain('Example');
    }
  }, 60_000);
});
