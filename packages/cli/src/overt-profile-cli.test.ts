/**
 * The encrypted profile (docs/spec/cli.md §3) end to end against the real system of `npm start`: a profile made
 * with a passphrase (real Argon2id) holds no device seed, message text or file bytes in any file; a wrong, missing
 * or mismatched secret exits 3 with a message and no stack trace; a swapped or flipped record exits 1 with
 * SDK_STORE_MALFORMED (REST-2); a passphrase change rewraps the key; and a profile in the previous, unencrypted
 * format is refused without a passphrase and encrypted on its first unlock, also after a crash part-way.
 */
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { createProfileKey } from '@overt/client';
import { FileStore } from '@overt/client/node';
import { fromBase64Url, signingSeed, toBase64Url, toHex, utf8Encode } from '@overt/core';
import { describe, expect, it } from 'vitest';
import { ok, useNpmStart } from '../test/npm-start.js';
import { type Env, runCli, runInProcess, unlockForTest } from '../test/run-cli.js';

const sys = useNpmStart('overt-profile-cli-');
const alice = join(sys.tmp, 'alice');
const bob = join(sys.tmp, 'bob');
const carol = join(sys.tmp, 'carol');

const ALICE: Env = { OVERT_PASSPHRASE: 'alice: correct horse battery', OVERT_PROFILE_KEY: undefined };
const TEXT = 'the board meets at the old mill at nine';
const FILE_BYTES = utf8Encode('%PDF-1.7 quarterly figures, not for release');

/** Every file under `dir`, recursively: its name and its bytes. */
function everything(dir: string): Buffer[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((p) => statSync(p).isFile())
    .flatMap((p) => [Buffer.from(p), readFileSync(p)]);
}

/** Whether any file under `dir` holds `secret` (as a grep -r for its bytes would find). */
function onDisk(dir: string, secret: Uint8Array | string): boolean {
  const needle = Buffer.from(typeof secret === 'string' ? utf8Encode(secret) : secret);
  return everything(dir).some((b) => b.indexOf(needle) >= 0);
}

const noStackTrace = (stderr: string) => expect(stderr).not.toMatch(/\n\s+at /);

/** A secret prompt that answers `answers` in turn, then cancels. */
function answering(...answers: string[]) {
  return async () => {
    const a = answers.shift();
    if (a === undefined) throw new Error('cancelled');
    return a;
  };
}

/**
 * Rewrites an encrypted profile into the format the previous version wrote: hex device key, plaintext
 * `store/k-<base64url key>` files, received files under `files/`, no key file, version 1.
 */
async function toPreviousFormat(dir: string, env: Env = {}): Promise<void> {
  const p = await unlockForTest(dir, env);
  const storeDir = join(dir, 'store');
  for (const k of await p.store.list('')) {
    const value = (await p.store.get(k))!;
    rmSync(join(storeDir, `s-${toBase64Url(utf8Encode(k))}`));
    if (k.startsWith('cli/file/')) {
      mkdirSync(join(dir, 'files'), { recursive: true, mode: 0o700 });
      writeFileSync(join(dir, 'files', k.slice('cli/file/'.length)), value, { mode: 0o600 });
    } else writeFileSync(join(storeDir, `k-${toBase64Url(utf8Encode(k))}`), value, { mode: 0o600 });
  }
  writeFileSync(join(dir, 'device.key'), `${toHex(signingSeed(p.key))}\n`, { mode: 0o600 });
  rmSync(join(dir, 'profile-key.json'));
  const info = JSON.parse(readFileSync(join(dir, 'profile.json'), 'utf8'));
  writeFileSync(join(dir, 'profile.json'), JSON.stringify({ ...info, version: 1 }), { mode: 0o600 });
}

describe('the encrypted profile (cli.md §3)', () => {
  let conv = '';
  let fileId = '';

  it('device init with a passphrase: an Argon2id key file; no seed, text or file bytes in any file', async () => {
    const init = await ok(
      [
        'device',
        'init',
        '--relay',
        sys.relay,
        '--user',
        'alice',
        '--device',
        'alice-laptop',
        '--profile',
        alice,
      ],
      ALICE,
    );
    await ok(sys.adminEnrolArgs('alice', 'alice-laptop', init.deviceKey as string));
    await Promise.all([sys.enrol('bob', bob), sys.enrol('carol', carol)]);
    const keyFile = JSON.parse(readFileSync(join(alice, 'profile-key.json'), 'utf8'));
    expect(keyFile).toMatchObject({
      format: 'overt/profile-key@v1',
      kdf: { name: 'argon2id', t: 2, m: 65536, p: 1 },
    });
    expect(statSync(join(alice, 'profile-key.json')).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(bob, 'profile-key.json'), 'utf8')).kdf).toEqual({ name: 'raw' });
    expect(JSON.parse(readFileSync(join(alice, 'profile.json'), 'utf8')).version).toBe(2);

    await ok(['chat', 'list', '--profile', bob]);
    await ok(['chat', 'list', '--profile', carol]);
    conv = (await ok(['chat', 'new', '--profile', alice, '--with', 'bob,carol'], ALICE))
      .conversation as string;
    await ok(['send', '--profile', alice, '--to', conv, TEXT], ALICE);
    const file = join(sys.tmp, 'figures.pdf');
    writeFileSync(file, FILE_BYTES);
    await ok(['send', '--profile', alice, '--to', conv, '--file', file, '--type', 'application/pdf'], ALICE);
    rmSync(file);
    for (const who of [bob, carol]) {
      const events = (await ok(['read', '--profile', who])).events as Record<string, unknown>[];
      expect(events.map((e) => e.event)).toEqual(['joined', 'message', 'file']);
      expect(events[1]).toMatchObject({ text: TEXT, reportable: true });
      fileId = events[2]!.messageId as string;
    }

    const seeds = [
      signingSeed((await unlockForTest(alice, ALICE)).key),
      signingSeed((await unlockForTest(bob)).key),
    ];
    for (const dir of [alice, bob])
      for (const secret of [TEXT, FILE_BYTES, ...seeds, ...seeds.map(toHex)])
        expect(onDisk(dir, secret)).toBe(false);
  }, 120_000);

  it('a wrong passphrase, none, or the other kind of secret: exit 3 with what to do, never a stack trace', async () => {
    const wrong = await runCli(['read', '--profile', alice], {
      ...ALICE,
      OVERT_PASSPHRASE: 'alice: wrong horse',
    });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(/the passphrase does not unlock .*SDK_STORE_LOCKED REST-1/);
    noStackTrace(wrong.stderr);
    const json = await runInProcess(['read', '--profile', alice, '--json'], {
      ...ALICE,
      OVERT_PASSPHRASE: 'alice: wrong horse',
    });
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, error: { kind: 'locked' } });
    const none = await runInProcess(['read', '--profile', alice], { OVERT_PROFILE_KEY: undefined });
    expect(none.code).toBe(3);
    expect(none.stderr).toContain('no passphrase given: set OVERT_PASSPHRASE');
    const cancelled = await runInProcess(
      ['read', '--profile', alice],
      { OVERT_PROFILE_KEY: undefined },
      answering(),
    );
    expect(cancelled.code).toBe(3);
    const rawLocked = await runInProcess(['read', '--profile', bob], ALICE);
    expect(rawLocked.code).toBe(3);
    expect(rawLocked.stderr).toContain('is locked with a raw key: set OVERT_PROFILE_KEY');
    // A passphrase typed at the prompt unlocks it.
    const typed = await runInProcess(
      ['read', '--profile', alice],
      { OVERT_PROFILE_KEY: undefined },
      answering(ALICE.OVERT_PASSPHRASE!),
    );
    expect(typed.code).toBe(0);
    // Received files stay in the encrypted profile until `file save` writes one out; only a receiver keeps one.
    const out = join(sys.tmp, 'typed.pdf');
    expect((await runInProcess(['file', 'save', fileId, '--out', out, '--profile', alice], ALICE)).code).toBe(
      2,
    );
    expect((await runInProcess(['file', 'save', fileId, '--out', out, '--profile', bob])).code).toBe(0);
    expect(new Uint8Array(readFileSync(out))).toEqual(FILE_BYTES);
    // --passphrase-file: refused while others can read it, used once it is private.
    const pf = join(sys.tmp, 'alice.pass');
    writeFileSync(pf, `${ALICE.OVERT_PASSPHRASE}\n`, { mode: 0o644 });
    chmodSync(pf, 0o644);
    const open = await runInProcess(['read', '--profile', alice, '--passphrase-file', pf], {
      OVERT_PROFILE_KEY: undefined,
    });
    expect(open.code).toBe(2);
    expect(open.stderr).toContain('chmod 600');
    chmodSync(pf, 0o600);
    expect(
      (
        await runInProcess(['read', '--profile', alice, '--passphrase-file', pf], {
          OVERT_PROFILE_KEY: undefined,
        })
      ).code,
    ).toBe(0);
  }, 60_000);

  it('a swapped or flipped record is refused with SDK_STORE_MALFORMED (REST-2), exit 1, no stack trace', async () => {
    const { store } = await unlockForTest(bob);
    const fileOf = (k: string) => join(bob, 'store', `s-${toBase64Url(utf8Encode(k))}`);
    const [kpA, kpB] = await store.list('kp/');
    const [convKey] = await store.list('conv/');
    const refused = async () => {
      const r = await runInProcess(['read', '--profile', bob]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/SDK_STORE_MALFORMED.*REST-2/);
      noStackTrace(r.stderr);
    };
    // One key package's record put under another's name.
    const saved = readFileSync(fileOf(kpB!));
    copyFileSync(fileOf(kpA!), fileOf(kpB!));
    await refused();
    writeFileSync(fileOf(kpB!), saved);
    // One bit of the conversation's MLS state flipped.
    const state = readFileSync(fileOf(convKey!));
    const flipped = Buffer.from(state);
    flipped[flipped.length >> 1]! ^= 0x10;
    writeFileSync(fileOf(convKey!), flipped);
    await refused();
    writeFileSync(fileOf(convKey!), state);
    // The sealed device key, altered.
    const dk = readFileSync(join(bob, 'device.key'));
    writeFileSync(
      join(bob, 'device.key'),
      Buffer.concat([dk.subarray(0, 30), Buffer.from([dk[30]! ^ 1]), dk.subarray(31)]),
    );
    await refused();
    writeFileSync(join(bob, 'device.key'), dk);
    expect((await runInProcess(['read', '--profile', bob])).code).toBe(0);
  }, 60_000);

  it('device passphrase rewraps the profile key: the old passphrase stops working, the new one opens it', async () => {
    const next = 'alice: battery staple horse';
    const changed = await runCli(['device', 'passphrase', '--profile', alice, '--json'], {
      ...ALICE,
      OVERT_NEW_PASSPHRASE: next,
    });
    expect(changed.code).toBe(0);
    expect((await runInProcess(['read', '--profile', alice], ALICE)).code).toBe(3);
    expect(
      (await runInProcess(['read', '--profile', alice], { ...ALICE, OVERT_PASSPHRASE: next })).code,
    ).toBe(0);
    // At the prompt: current, then the new one twice; a mismatch or a short one is a usage error and changes nothing.
    const env = { OVERT_PROFILE_KEY: undefined };
    expect(
      (
        await runInProcess(
          ['device', 'passphrase', '--profile', alice],
          env,
          answering(next, 'one thing', 'another'),
        )
      ).code,
    ).toBe(2);
    expect(
      (await runInProcess(['device', 'passphrase', '--profile', alice], env, answering(next, 'short'))).code,
    ).toBe(2);
    expect(
      (
        await runInProcess(
          ['device', 'passphrase', '--profile', alice],
          env,
          answering(next, ALICE.OVERT_PASSPHRASE!, ALICE.OVERT_PASSPHRASE!),
        )
      ).code,
    ).toBe(0);
    expect((await runInProcess(['read', '--profile', alice], ALICE)).code).toBe(0);
  }, 60_000);

  it('a profile in the previous, unencrypted format: refused without a passphrase, encrypted on its first unlock', async () => {
    await toPreviousFormat(carol);
    // The grep of this test finds plaintext where there is some.
    expect(onDisk(carol, TEXT)).toBe(true);
    expect(onDisk(carol, FILE_BYTES)).toBe(true);
    const legacySeed = readFileSync(join(carol, 'device.key'), 'utf8').trim();
    const none = await runInProcess(['read', '--profile', carol], { OVERT_PROFILE_KEY: undefined });
    expect(none.code).toBe(3);
    expect(none.stderr).toContain(
      'was written unencrypted by an older version of overt; choose a passphrase to encrypt it. (no passphrase given: set OVERT_PASSPHRASE',
    );
    expect(existsSync(join(carol, 'profile-key.json'))).toBe(false);
    expect(readFileSync(join(carol, 'device.key'), 'utf8').trim()).toBe(legacySeed);

    const CAROL: Env = { OVERT_PASSPHRASE: 'carol: tr0ub4dor and 3', OVERT_PROFILE_KEY: undefined };
    const r = await runCli(['read', '--profile', carol], CAROL);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('is now encrypted at rest (it was written by an older version)');
    expect(JSON.parse(readFileSync(join(carol, 'profile.json'), 'utf8')).version).toBe(2);
    expect(JSON.parse(readFileSync(join(carol, 'profile-key.json'), 'utf8')).kdf.name).toBe('argon2id');
    expect(readdirSync(join(carol, 'store')).filter((f) => !f.startsWith('s-'))).toEqual([]);
    expect(existsSync(join(carol, 'files'))).toBe(false);
    for (const secret of [TEXT, FILE_BYTES, legacySeed]) expect(onDisk(carol, secret)).toBe(false);
    // Everything the old profile held is still there: the received file, and the conversation (a new message).
    const out = join(sys.tmp, 'carol.pdf');
    await ok(['file', 'save', fileId, '--out', out, '--profile', carol], CAROL);
    expect(new Uint8Array(readFileSync(out))).toEqual(FILE_BYTES);
    await ok(['send', '--profile', alice, '--to', conv, 'after the upgrade'], ALICE);
    const events = (await ok(['read', '--profile', carol], CAROL)).events as Record<string, unknown>[];
    expect(events).toEqual([expect.objectContaining({ text: 'after the upgrade' })]);
    expect(
      (await runInProcess(['read', '--profile', carol], { ...CAROL, OVERT_PASSPHRASE: 'carol: wrong' })).code,
    ).toBe(3);

    // A crash part-way: the key file written and some records sealed, the device key still hex. The next unlock,
    // with the passphrase the key file was made for, finishes the job.
    await toPreviousFormat(carol, CAROL);
    const { key, file } = createProfileKey({ kind: 'passphrase', passphrase: CAROL.OVERT_PASSPHRASE! });
    writeFileSync(join(carol, 'profile-key.json'), JSON.stringify(file), { mode: 0o600 });
    const half = await FileStore.open(join(carol, 'store'), { key });
    const plain = readdirSync(join(carol, 'store')).filter((f) => f.startsWith('k-'));
    for (const f of plain.slice(0, plain.length >> 1)) {
      const name = Buffer.from(fromBase64Url(f.slice(2))).toString('utf8');
      await half.put(name, readFileSync(join(carol, 'store', f)));
      renameSync(join(carol, 'store', f), join(sys.tmp, f));
    }
    const resumed = await runInProcess(['read', '--profile', carol], CAROL);
    expect(resumed.code).toBe(0);
    expect(readdirSync(join(carol, 'store')).filter((f) => f.startsWith('k-'))).toEqual([]);
    for (const secret of [TEXT, FILE_BYTES, legacySeed]) expect(onDisk(carol, secret)).toBe(false);
    expect(
      (
        await runInProcess(
          ['file', 'save', fileId, '--out', join(sys.tmp, 'c2.pdf'), '--profile', carol],
          CAROL,
        )
      ).code,
    ).toBe(0);
  }, 120_000);

  it('device init asks for a new passphrase twice on the terminal; a short or mismatched one is refused', async () => {
    const dir = join(sys.tmp, 'dora');
    const args = ['device', 'init', '--relay', sys.relay, '--user', 'dora', '--profile', dir];
    const env = { OVERT_PROFILE_KEY: undefined };
    expect((await runInProcess(args, env, answering('seven77'))).code).toBe(2);
    expect((await runInProcess(args, env, answering('dora passphrase', 'dora passphrasf'))).code).toBe(2);
    expect(existsSync(join(dir, 'device.key'))).toBe(false);
    const r = await runInProcess(args, env, answering('dora passphrase', 'dora passphrase'));
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('Choose a passphrase for the new profile');
    expect(JSON.parse(readFileSync(join(dir, 'profile-key.json'), 'utf8')).kdf.name).toBe('argon2id');
    // A second init never touches the profile, and asks nothing.
    const again = await runInProcess(args, env, answering());
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already holds a device profile');
  }, 60_000);
});
