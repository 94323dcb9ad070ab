/**
 * The `overt` command as a person uses it every day (docs/spec/cli.md §1.1, §3.4, §4.1; issue #9), against the
 * real system of `npm start` through spawned and in-process `overt` runs: ids that begin with `-` accepted by every
 * command that takes one, refusals that say what is wrong (several words, an empty message, a bad user id, a
 * device not enrolled, a wrong key file, an unreadable file, a relay that is down or is not a relay) with the
 * documented exit codes, an identical `admin enrol` re-run as a no-op, a failed `chat new` that leaves nothing,
 * `chat add` / `chat remove`, and `history`.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { TEXT_CONTENT_TYPE } from '@overt/client';
import { describe, expect, it } from 'vitest';
import { ok, useNpmStart } from '../test/npm-start.js';
import { runCli, runInProcess } from '../test/run-cli.js';

const sys = useNpmStart('overt-everyday-cli-');
const ann = join(sys.tmp, 'ann');
const ben = join(sys.tmp, 'ben');
const cat = join(sys.tmp, 'cat');

/** A base64url id of `bytes` bytes that begins with `prefix` ('-' or '--'). */
const dashId = (prefix: string, bytes: number) =>
  (prefix + 'A'.repeat(Math.ceil((bytes * 4) / 3))).slice(0, Math.ceil((bytes * 4) / 3));

/** Starts a plain HTTP server answering every request with `status` and `type`; resolves with its URL. */
async function webServer(
  status: number,
  type: string,
  body: string,
): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(status, { 'content-type': type });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** A URL on which nothing listens: a port that was just free. */
async function closedPort(): Promise<string> {
  const { url, server } = await webServer(200, 'text/plain', '');
  await new Promise<void>((r) => server.close(() => r()));
  return url;
}

describe('overt every day', () => {
  let conv = '';

  it('set-up: three people; an identical admin enrol run again is a no-op', async () => {
    await Promise.all([sys.enrol('ann', ann), sys.enrol('ben', ben), sys.enrol('cat', cat)]);
    const key = JSON.parse(readFileSync(join(ann, 'profile.json'), 'utf8')) as Record<string, unknown>;
    expect(key.user).toBe('ann');
    // The device key as `device init` printed it is in admin enrol's arguments; run the same enrolment again.
    const init = await ok([
      'device',
      'init',
      '--relay',
      sys.relay,
      '--user',
      'dan',
      '--device',
      '-dan-pc',
      '--profile',
      join(sys.tmp, 'dan'),
    ]);
    const args = sys.adminEnrolArgs('dan', '-dan-pc', init.deviceKey as string);
    expect(await ok(args)).toMatchObject({ ok: true, device: '-dan-pc', alreadyEnrolled: false });
    const again = await ok(args);
    expect(again).toMatchObject({ ok: true, device: '-dan-pc', alreadyEnrolled: true, userCreated: false });
    // Another key under the same device id is still refused (ids are never reused).
    const other = await runCli([
      ...sys.adminEnrolArgs('dan', '-dan-pc', Buffer.alloc(32, 7).toString('base64')),
    ]);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('DIR_DEVICE_EXISTS');
    for (const p of [ann, ben, cat]) await ok(['chat', 'list', '--profile', p]);
  }, 90_000);

  it('a failed chat new leaves no conversation behind', async () => {
    const r = await runCli(['chat', 'new', '--profile', ann, '--with', 'ben,nobody-here']);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toContain('a bug');
    expect(await ok(['chat', 'list', '--profile', ann])).toEqual({ ok: true, conversations: [] });
    expect(await ok(['chat', 'list', '--profile', ben])).toEqual({ ok: true, conversations: [] });
  }, 40_000);

  it('send: several words are refused with how to quote them, an empty message is refused', async () => {
    conv = (await ok(['chat', 'new', '--profile', ann, '--with', 'ben'])).conversation as string;
    const words = await runInProcess(['send', '--profile', ann, '--to', conv, 'hello', 'ben']);
    expect(words.code).toBe(2);
    expect(words.stderr).toContain('quote it as one');
    for (const empty of ['', '   '])
      expect((await runInProcess(['send', '--profile', ann, '--to', conv, empty])).stderr).toContain(
        'the message is empty',
      );
    // Text that begins with - is text.
    const dashes = await runCli(['send', '--profile', ann, '--to', conv, '--', '-- not an option']);
    expect(dashes.code, dashes.stderr).toBe(0);
    await ok(['send', '--profile', ann, '--to', conv, '-1 degrees']);
  }, 40_000);

  it('history shows what read printed, with ids, senders and times', async () => {
    const read = (await ok(['read', '--profile', ben])).events as Record<string, unknown>[];
    const messages = read.filter((e) => e.event === 'message');
    expect(messages.map((m) => m.text)).toEqual(['-- not an option', '-1 degrees']);
    const h = await ok(['history', '--profile', ben, '--conversation', conv]);
    expect(h.messages).toEqual(
      messages.map((m) => ({
        conversation: conv,
        messageId: m.messageId,
        sender: { userId: 'ann', deviceId: 'ann-laptop' },
        time: m.time,
        contentType: TEXT_CONTENT_TYPE,
        text: m.text,
      })),
    );
    const text = await runCli(['history', '--profile', ben]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`ann/ann-laptop: -1 degrees  (${messages[1]!.messageId as string})`);
    // Another conversation's history is its own; ann never read anything.
    expect((await ok(['history', '--profile', ben, '--conversation', dashId('-', 16)])).messages).toEqual([]);
    expect((await ok(['history', '--profile', ann])).messages).toEqual([]);
  }, 40_000);

  it('chat add and chat remove change the members; the others see it', async () => {
    const added = await ok(['chat', 'add', '--profile', ann, '--to', conv, '--with', 'cat']);
    expect(added.members).toEqual(expect.arrayContaining([{ userId: 'cat', deviceId: 'cat-laptop' }]));
    const catRead = (await ok(['read', '--profile', cat])).events as Record<string, unknown>[];
    expect(catRead[0]).toMatchObject({ event: 'joined', conversation: conv });
    const removed = await ok(['chat', 'remove', '--profile', ann, '--to', conv, '--user', 'cat']);
    expect(removed.members).not.toEqual(expect.arrayContaining([expect.objectContaining({ userId: 'cat' })]));
    const benRead = (await ok(['read', '--profile', ben])).events as Record<string, unknown>[];
    expect(benRead.map((e) => e.event)).toEqual(['membership', 'membership']);
    // Removing someone who is not a member, or a bad user id, is a usage error.
    expect(
      (await runInProcess(['chat', 'remove', '--profile', ann, '--to', conv, '--user', 'cat'])).code,
    ).toBe(2);
    expect((await runInProcess(['chat', 'add', '--profile', ann, '--to', conv, '--with', 'a b'])).code).toBe(
      2,
    );
  }, 60_000);

  it('every id-taking option and positional accepts an id that begins with - or --', async () => {
    const missingConv = dashId('-', 16);
    const dashDash = dashId('--', 16);
    const msg = dashId('-', 16);
    const cases: [string[], RegExp][] = [
      [['send', '--profile', ann, '--to', missingConv, 'x'], /unknown conversation|SDK_/],
      [['send', '--profile', ann, '--to', dashDash, 'x'], /unknown conversation|SDK_/],
      [['read', '--profile', ann, '--conv', missingConv], /^$/],
      [['chat', 'add', '--profile', ann, '--to', missingConv, '--with', 'cat'], /not in that conversation/],
      [
        ['chat', 'remove', '--profile', ann, '--to', missingConv, '--user', 'cat'],
        /not in that conversation/,
      ],
      [['history', '--profile', ann, '--conversation', missingConv], /^$/],
      [['file', 'save', msg, '--out', join(sys.tmp, 'x'), '--profile', ann], /no received file/],
      [['file', 'save', '--out', join(sys.tmp, 'x'), '--profile', ann, '--', dashDash], /no received file/],
      [['report', msg, '--profile', ann], /not reportable|FRK-6|NOT_REPORTABLE/],
      [['device', 'approve', '-no-such', '--profile', ann], /ann\/-no-such is not enrolled/],
    ];
    for (const [args, stderr] of cases) {
      const r = await runInProcess(args);
      expect(r.stderr, args.join(' ')).not.toMatch(/ambiguous|Unknown option|unexpected argument|a bug/);
      expect(r.stderr, args.join(' ')).toMatch(stderr);
    }
    // The device id '-dan-pc' went through device init, admin enrol (above) and device approve.
    expect(await ok(['device', 'approve', '-dan-pc', '--profile', join(sys.tmp, 'dan')])).toMatchObject({
      device: '-dan-pc',
    });
  }, 60_000);

  it('refusals say what is wrong: user id, key file, unreadable file', async () => {
    const badUser = await runInProcess([
      'device',
      'init',
      '--relay',
      sys.relay,
      '--user',
      'a b',
      '--profile',
      join(sys.tmp, 'x1'),
    ]);
    expect(badUser.code).toBe(2);
    expect(badUser.stderr).toContain('--user must be');
    const enrolArgs = (key: string) => [
      'admin',
      'enrol',
      '--relay',
      sys.relay,
      '--admin-key',
      key,
      '--user',
      'eve',
      '--device',
      'eve-1',
      '--device-key',
      Buffer.alloc(32, 9).toString('base64'),
    ];
    // The wrong file: a device profile's JSON instead of the admin key.
    const wrong = await runCli(enrolArgs(join(ann, 'profile.json')));
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('is not an org admin key');
    expect(wrong.stderr).not.toMatch(/a bug|\n\s+at /);
    expect((await runInProcess(enrolArgs(join(sys.tmp, 'absent.key')))).stderr).toContain('ENOENT');
    expect((await runInProcess(enrolArgs(sys.tmp))).stderr).toContain('EISDIR');
    const noFile = await runInProcess([
      'send',
      '--profile',
      ann,
      '--to',
      conv,
      '--file',
      join(sys.tmp, 'nope.pdf'),
    ]);
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toContain('no such file (ENOENT)');
    if (process.getuid?.() !== 0) {
      const locked = join(sys.tmp, 'locked.bin');
      writeFileSync(locked, 'x', { mode: 0o000 });
      expect(
        (await runInProcess(['send', '--profile', ann, '--to', conv, '--file', locked])).stderr,
      ).toContain('EACCES');
    }
  }, 40_000);

  it('a relay that is down, or a server that is not a relay, is said to be so (exit 4)', async () => {
    const down = await closedPort();
    const init = await runCli([
      'device',
      'init',
      '--relay',
      down,
      '--user',
      'fay',
      '--profile',
      join(sys.tmp, 'fay'),
    ]);
    expect(init.code).toBe(4);
    expect(init.stderr).toContain(`cannot reach the relay at ${down} (ECONNREFUSED)`);
    for (const [status, type, body, said] of [
      [404, 'text/html', '<h1>Not Found</h1>', 'answered HTTP 404'],
      [200, 'text/html', '<html></html>', 'is text/html, not JSON'],
    ] as const) {
      const web = await webServer(status, type, body);
      try {
        const r = await runInProcess([
          'device',
          'init',
          '--relay',
          web.url,
          '--user',
          'fay',
          '--profile',
          join(sys.tmp, 'fay'),
        ]);
        expect(r.code).toBe(4);
        expect(r.stderr).toContain(`${web.url} is not an Overt relay: `);
        expect(r.stderr).toContain(said);
      } finally {
        await new Promise<void>((r) => web.server.close(() => r()));
      }
    }
    // A profile whose relay is down: read says so, not KT_LOG_UNAVAILABLE alone.
    const copy = join(sys.tmp, 'ann-copy');
    mkdirSync(copy, { mode: 0o700 });
    cpSync(ann, copy, { recursive: true });
    const info = JSON.parse(readFileSync(join(copy, 'profile.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(copy, 'profile.json'), JSON.stringify({ ...info, relay: down }));
    const r = await runCli(['read', '--profile', copy]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('cannot reach the relay (ECONNREFUSED)');
  }, 40_000);
});
