/**
 * Abuse reports from the command line (client.md §4.5, relay.md §10; A12), against the real system of `npm start`:
 * the relay publishes its franking key in /.well-known/overt, bob's profile pins it, bob reads a message and
 * reports it with `overt report`, and the org admin lists and reads it with `overt admin reports`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromBase64 } from '@overt/core';
import { describe, expect, it } from 'vitest';
import { ok, useNpmStart } from '../test/npm-start.js';
import { runInProcess } from '../test/run-cli.js';

const sys = useNpmStart('overt-report-cli-');
const alice = join(sys.tmp, 'alice');
const bob = join(sys.tmp, 'bob');

const adminArgs = () => ['admin', 'reports', '--relay', sys.relay, '--admin-key', sys.adminKey];

describe('overt report and overt admin reports against npm start', () => {
  it('bob reports a message from alice; the admin reads it bound to alice', async () => {
    const wellKnown = (await (await fetch(`${sys.relay}/.well-known/overt`)).json()) as {
      franking_key: string;
    };
    expect(fromBase64(wellKnown.franking_key).length).toBe(32);
    await Promise.all([sys.enrol('alice', alice), sys.enrol('bob', bob)]);
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
