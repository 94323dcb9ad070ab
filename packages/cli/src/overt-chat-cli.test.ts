/**
 * The messaging commands end to end (docs/spec/cli.md), as two people in two terminals would run them: the real
 * system of `npm start` (scripts/start.mjs from the sources, free ports, a temporary data directory), two
 * profiles enrolled with its admin key, then chat new / send / read / watch through spawned `overt` processes.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RelayTransport } from '@overt/client';
import { generateSigningKey, signPolicy, toBase64, utf8Encode, verifyPolicyEntry } from '@overt/core';
import { decodeEntryBundle, parseSignerKey } from '@overt/log';
import { describe, expect, it } from 'vitest';
import { ok, useNpmStart } from '../test/npm-start.js';
import { runCli, runInProcess, startDaemon, unlockForTest } from '../test/run-cli.js';
import { printable } from './chat-commands.js';

const sys = useNpmStart('overt-chat-cli-');
const alice = join(sys.tmp, 'alice');
const bob = join(sys.tmp, 'bob');

/** Enrols `user`'s laptop with a profile in `profile`, checking what `overt admin enrol` reports. */
async function enrol(user: string, profile: string): Promise<void> {
  const enrolled = await sys.enrol(user, profile);
  expect(enrolled).toMatchObject({ ok: true, user, device: `${user}-laptop`, userCreated: true });
  expect(enrolled.logIndex).toBeTypeOf('number');
}

describe('overt messaging commands against npm start', () => {
  let conv = '';

  it('device init writes a private profile; admin enrol logs both devices', async () => {
    await Promise.all([enrol('alice', alice), enrol('bob', bob)]);
    expect(statSync(alice).mode & 0o777).toBe(0o700);
    expect(statSync(join(alice, 'device.key')).mode & 0o777).toBe(0o600);
    // A second init on the same directory must not overwrite the device key.
    const again = await runInProcess([
      'device',
      'init',
      '--relay',
      sys.relay,
      '--user',
      'alice',
      '--profile',
      alice,
    ]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already holds a device profile');
  }, 40_000);

  it('alice creates a chat with bob and sends text and a file; bob reads both', async () => {
    // Bob's first command publishes his key packages, so alice can add him while he is offline.
    expect(await ok(['chat', 'list', '--profile', bob])).toEqual({ ok: true, conversations: [] });
    const created = await ok(['chat', 'new', '--profile', alice, '--with', 'bob']);
    conv = created.conversation as string;
    expect(created.missing).toEqual([]);
    expect(created.members).toEqual(
      expect.arrayContaining([
        { userId: 'alice', deviceId: 'alice-laptop' },
        { userId: 'bob', deviceId: 'bob-laptop' },
      ]),
    );
    await ok(['send', '--profile', alice, '--to', conv, 'hello bob']);
    const file = join(sys.tmp, 'note.bin');
    const content = new Uint8Array([0, 1, 2, 250, 255, 10, 13]);
    writeFileSync(file, content);
    await ok(['send', '--profile', alice, '--to', conv, '--file', file, '--type', 'application/x-test']);

    const read = (await ok(['read', '--profile', bob])).events as Record<string, unknown>[];
    expect(read.map((e) => e.event)).toEqual(['joined', 'message', 'file']);
    expect(read[1]).toMatchObject({
      conversation: conv,
      sender: { userId: 'alice', deviceId: 'alice-laptop' },
      text: 'hello bob',
    });
    // The sender's file name and type travel encrypted inside the message (client.md §4.8).
    expect(read[2]).toMatchObject({
      contentType: 'application/x-test',
      name: 'note.bin',
      bytes: content.length,
    });
    // The file is kept encrypted in the profile; `file save` writes it out.
    const saved = join(sys.tmp, 'saved.bin');
    const id = read[2]!.messageId as string;
    expect(await ok(['file', 'save', id, '--out', saved, '--profile', bob])).toMatchObject({
      ok: true,
      bytes: content.length,
    });
    expect(new Uint8Array(readFileSync(saved))).toEqual(content);
    expect(statSync(saved).mode & 0o777).toBe(0o600);
    expect((await runInProcess(['file', 'save', id, '--out', saved, '--profile', bob])).code).toBe(2);
    // Into a directory: under the sender's name, and renamed rather than overwriting an existing file.
    const dir = join(sys.tmp, 'downloads');
    mkdirSync(dir);
    writeFileSync(join(dir, 'note.bin'), 'mine');
    expect(await ok(['file', 'save', id, '--out', dir, '--profile', bob])).toMatchObject({
      path: join(dir, 'note (1).bin'),
    });
    expect(readFileSync(join(dir, 'note.bin'), 'utf8')).toBe('mine');
    expect(new Uint8Array(readFileSync(join(dir, 'note (1).bin')))).toEqual(content);
    // Read means read: nothing is shown twice.
    const again = await runInProcess(['read', '--profile', bob, '--json']);
    expect(JSON.parse(again.stdout).events).toEqual([]);
  }, 60_000);

  it('chat new --name: the name reaches bob encrypted; chat list shows it; chat rename changes it for both', async () => {
    const created = await ok(['chat', 'new', '--profile', alice, '--with', 'bob', '--name', 'Q3 planning']);
    const named = created.conversation as string;
    expect(created.name).toBe('Q3 planning');
    const listed = (await ok(['chat', 'list', '--profile', bob])).conversations as Record<string, unknown>[];
    expect(listed.find((c) => c.conversation === named)).toMatchObject({ name: 'Q3 planning' });
    expect(listed.find((c) => c.conversation === conv)?.name).toBeUndefined();
    await ok(['chat', 'rename', '--profile', bob, '--conv', named, 'Q4 planning']);
    const r = await runCli(['chat', 'list', '--profile', alice]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${named}  "Q4 planning"  `);
    // Renames are shown by read; the unread events of chat list are kept for it.
    const events = (await ok(['read', '--profile', bob])).events as Record<string, unknown>[];
    expect(events.filter((e) => e.event === 'renamed')).toMatchObject([{ name: 'Q3 planning' }]);
    expect((await runInProcess(['chat', 'rename', '--profile', bob, '--conv', named, 'a\u0007b'])).code).toBe(
      2,
    );
  }, 60_000);

  it('bob replies; alice reads it in text form, with --conv', async () => {
    await ok(['send', '--profile', bob, '--to', conv, 'hi alice']);
    const r = await runCli(['read', '--profile', alice, '--conv', conv]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/bob\/bob-laptop: hi alice {2}\([A-Za-z0-9_-]{22}\)\n/);
    expect(r.stdout).not.toContain('REJECTED');
  }, 30_000);

  it('watch prints a message as it arrives and stops on SIGTERM', async () => {
    const w = startDaemon(['watch', '--profile', bob, '--json']);
    await w.waitFor((e) => e.event === 'watching');
    await ok(['send', '--profile', alice, '--to', conv, 'live']);
    const e = await w.waitFor((e) => e.event === 'message');
    expect(e).toMatchObject({ text: 'live', sender: { userId: 'alice' } });
    expect((await w.stop()).code).toBe(0);
  }, 40_000);

  it('one profile, several processes (cli.md §3.3): watch and send on bob, five parallel sends from alice; all delivered, none rejected', async () => {
    const w = startDaemon(['watch', '--profile', bob, '--json']);
    try {
      await w.waitFor((e) => e.event === 'watching');
      // bob sends from a second terminal while his watch runs; alice's messages wake the watch in between.
      const fromBob = ['bob 1', 'bob 2', 'bob 3'];
      const fromAlice = ['alice 1', 'p1', 'p2', 'p3', 'p4', 'p5'];
      await ok(['send', '--profile', bob, '--to', conv, fromBob[0]!]);
      await ok(['send', '--profile', alice, '--to', conv, fromAlice[0]!]);
      await ok(['send', '--profile', bob, '--to', conv, fromBob[1]!]);
      // Five sends from alice's profile at once: each waits for the lock in turn.
      await Promise.all(fromAlice.slice(1).map((t) => ok(['send', '--profile', alice, '--to', conv, t])));
      await ok(['send', '--profile', bob, '--to', conv, fromBob[2]!]);
      const seen = new Set<string>();
      while (seen.size < fromAlice.length) {
        const e = await w.waitFor((e) => e.event === 'message' && !seen.has(e.text as string));
        seen.add(e.text as string);
      }
      expect([...seen].sort()).toEqual([...fromAlice].sort());
      // alice gets bob's three, none rejected (read exits 1 on a rejected item; ok() would throw).
      // (Events of earlier tests in this shared system, such as a rename, may come first: only messages count.)
      const events = (await ok(['read', '--profile', alice])).events as Record<string, unknown>[];
      expect(events.some((e) => e.event === 'rejected')).toBe(false);
      const read = events.filter((e) => e.event === 'message');
      expect(read.map((e) => e.event)).toEqual(['message', 'message', 'message']);
      expect(read.map((e) => e.text)).toEqual(fromBob);
    } finally {
      await w.stop();
    }
    // bob's own watch printed no rejection either.
    expect(w.events.some((e) => e.event === 'rejected')).toBe(false);
  }, 120_000);

  it("a profile locked by a running process is waited for, then refused with its pid; a dead holder's lock is taken over", async () => {
    const lock = join(bob, 'overt.lock');
    // This test's own process stands for a running holder.
    writeFileSync(lock, `${process.pid}\n`);
    try {
      const r = await runCli(['read', '--profile', bob], { OVERT_PROFILE_LOCK_WAIT: '1' });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`profile in use by pid ${process.pid}`);
    } finally {
      rmSync(lock, { force: true });
    }
    // A holder that died (its pid is no running process) left the lock: it is stale and taken over.
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    writeFileSync(lock, `${dead}\n`);
    expect((await ok(['read', '--profile', bob])).ok).toBe(true);
    expect(existsSync(lock)).toBe(false);
  }, 60_000);

  it('a device enrolled for bob that bob did not approve is an ALERT on every read until approved (A6)', async () => {
    const adminEnrol = (device: string) =>
      ok(sys.adminEnrolArgs('bob', device, toBase64(generateSigningKey().publicKey)));
    // Only an enrolled device can be approved: a typo must not pre-approve a name.
    const early = await runInProcess(['device', 'approve', 'bob-phone', '--profile', bob]);
    expect(early.code).toBe(2);
    expect(early.stderr).toContain('bob/bob-phone is not enrolled');
    await adminEnrol('bob-phone');
    expect(await ok(['device', 'approve', 'bob-phone', '--profile', bob])).toEqual({
      ok: true,
      user: 'bob',
      device: 'bob-phone',
      key: null,
    });
    const ghost = await adminEnrol('bob-ghost');
    const alert = expect.objectContaining({
      event: 'alert',
      alert: 'unknown-device',
      user: 'bob',
      device: 'bob-ghost',
      logIndex: ghost.logIndex,
      check: 'KT-6',
    });
    const r = await runInProcess(['read', '--profile', bob, '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).events).toEqual([alert]);
    // A command that syncs without showing (send, chat list) does not swallow it, nor queue a second copy.
    await ok(['chat', 'list', '--profile', bob]);
    const again = await runInProcess(['read', '--profile', bob]);
    expect(again.code).toBe(1);
    expect(again.stdout.match(/ALERT unknown-device bob\/bob-ghost \(log index \d+, KT-6\)/g)).toHaveLength(
      1,
    );
    // watch shows it too.
    const w = startDaemon(['watch', '--profile', bob, '--json']);
    try {
      expect(await w.waitFor((e) => e.event === 'alert')).toMatchObject({ device: 'bob-ghost' });
    } finally {
      await w.stop();
    }
    // Approving another key of that device resolves nothing; approving the enrolled key (or any) does.
    const wrongKey = toBase64(generateSigningKey().publicKey);
    expect(
      (await runInProcess(['device', 'approve', 'bob-ghost', '--key', wrongKey, '--profile', bob])).code,
    ).toBe(2);
    await ok(['device', 'approve', 'bob-ghost', '--profile', bob]);
    const after = await runInProcess(['read', '--profile', bob]);
    expect(after.code).toBe(0);
    expect(after.stdout).not.toContain('ALERT');
  }, 60_000);

  it('a new policy on the log (a trustee swapped for a key the admin holds) is printed as a NOTICE (KT-10, A14)', async () => {
    // The admin reads the policy in force from the log (entry 0, written by npm start) and logs a successor.
    const admin = parseSignerKey(readFileSync(sys.adminKey, 'utf8').trim());
    const checkpoint = await (await fetch(`${sys.relay}/log/checkpoint`)).text();
    const size = Number(checkpoint.split('\n')[1]);
    const bundle = new Uint8Array(
      await (await fetch(`${sys.relay}/log/tile/entries/000.p/${Math.min(size, 256)}`)).arrayBuffer(),
    );
    const first = verifyPolicyEntry(
      admin.publicKey,
      decodeEntryBundle(bundle, Math.min(size, 256))[0]!,
    ).policy;
    const next = {
      ...first,
      serial: first.serial + 1,
      trustees: first.trustees.map((t) =>
        t.index === 3 ? { ...t, signingKey: generateSigningKey().publicKey } : t,
      ),
    };
    const transport = new RelayTransport({ url: sys.relay, key: admin.keyPair, signer: { kind: 'admin' } });
    const posted = (await transport.request('POST', '/v1/admin/policies', {
      statement: toBase64(signPolicy(next, admin.keyPair)),
    })) as { logIndex: number };
    // The relay answers once the entry is sequenced; a client sees it once a cosigned checkpoint covers it.
    for (let i = 0; i < 200; i++) {
      const cp = await (await fetch(`${sys.relay}/log/checkpoint`)).text();
      if (Number(cp.split('\n')[1]) > posted.logIndex) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const r = await runInProcess(['read', '--profile', bob]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(
        `NOTICE policy-changed serial ${first.serial} → ${next.serial} \\(log index \\d+, KT-10\\): trustee 3 \\(Local trustee 3\\) signing key replaced`,
      ),
    );
    // Shown once.
    expect((await runInProcess(['read', '--profile', bob])).stdout).not.toContain('NOTICE');
  }, 40_000);

  it('refuses a device key others can read, and usage mistakes, with exit status 2', async () => {
    chmodSync(join(bob, 'device.key'), 0o644);
    const r = await runInProcess(['read', '--profile', bob]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('chmod 600');
    chmodSync(join(bob, 'device.key'), 0o600);
    expect((await runInProcess(['send', '--profile', bob, '--to', conv])).code).toBe(2);
    expect((await runInProcess(['send', '--profile', bob, '--to', '!!', 'x'])).code).toBe(2);
    for (const cmd of [
      ['send'],
      ['read'],
      ['watch'],
      ['chat', 'new'],
      ['admin', 'enrol'],
      ['device', 'init'],
      ['device', 'approve'],
      ['device', 'passphrase'],
      ['file', 'save'],
    ]) {
      const h = await runInProcess([...cmd, '--help']);
      expect(h.code).toBe(0);
      expect(h.stdout).toContain('Example');
    }
  }, 30_000);
});

describe('rejected items', () => {
  it('read prints a rejected item as REJECTED with code and check, never its content, and exits 1', async () => {
    // The SDK's rejection (client.md) as it reaches the CLI: injected into the unread queue of bob's profile.
    const { store } = await unlockForTest(bob);
    const rejected = {
      kind: 'rejected',
      conversationId: { b64: 'AAECAw==' },
      item: 'message',
      sender: 'alice',
      code: 'ENV_CAPSULE_MISMATCH',
      check: 'ENV-11',
    };
    await store.put('cli/unread/000000000000', utf8Encode(JSON.stringify(rejected)));
    const r = await runInProcess(['read', '--profile', bob]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^REJECTED message in AAECAw claimed from alice: ENV_CAPSULE_MISMATCH \(ENV-11\) — not shown/m,
    );
    expect(r.stdout).not.toMatch(/: (hello|hi|live)/);
  }, 30_000);
});

describe('printable', () => {
  it('escapes terminal control characters from the network, keeps newlines and text', () => {
    expect(printable('a\u001b[2Jb\u009bc\nd\te')).toBe('a\\u001b[2Jb\\u009bc\nd\te');
    expect(printable('héllo ✓')).toBe('héllo ✓');
  });
});
