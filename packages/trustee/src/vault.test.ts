/**
 * The trustee's vault (docs/spec/access.md §6): a wrong key is refused with its own error (TRU-1), a missing or
 * malformed key source too (TRU-2), a tampered or moved sealed row does not open (TRU-3), the data directory must
 * be private (TRU-4), identity.json must match the vault (TRU-5); no error message carries a secret.
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createDkgSession,
  DkgParticipant,
  randomBytes,
  runDkgLocally,
  toBase64,
  toHex,
  utf8Encode,
} from '@overt/core';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { isTrusteeError } from './errors.js';
import { TrusteeVault, VAULT_FILE, vaultKeySource } from './vault.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'overt-vault-'));
  dirs.push(d);
  return join(d, 'trustee');
}

const FAST = { t: 1, m: 8 * 1024 };

async function expectCode(p: Promise<unknown>, code: string, check: string, secrets: readonly string[] = []) {
  try {
    await p;
  } catch (e) {
    expect(isTrusteeError(e)).toBe(true);
    const err = e as { code: string; check: string; message: string };
    expect([err.code, err.check]).toEqual([code, check]);
    for (const s of secrets) expect(err.message).not.toContain(s);
    return;
  }
  throw new Error('expected an error');
}

/** A real 2-of-3 DKG among three vaults: trustee 1's output. */
async function dkgFor(vaults: readonly TrusteeVault[], epoch: number) {
  const session = createDkgSession({
    org: 'overt.test',
    epoch,
    attempt: 0,
    threshold: 2,
    participants: vaults.map((v) => ({
      index: v.index,
      signingKey: v.signingKey().publicKey,
      encryptionKey: v.hpkeKeyPair().publicKey,
    })),
  });
  const run = await runDkgLocally(
    vaults.map((v) =>
      DkgParticipant.forDkg(session, {
        index: v.index,
        signingKey: v.signingKey(),
        encryptionSecretKey: v.hpkeKeyPair().secretKey,
      }),
    ),
  );
  return run.outputs.map((o) => {
    if (o instanceof Error) throw o;
    return o;
  });
}

describe('trustee vault (access.md §6)', () => {
  it('creates a private data directory, identity.json and a vault that reopens with the passphrase (TRU-1)', async () => {
    const dir = tmp();
    const pass = 'correct horse battery staple';
    const v = await TrusteeVault.open({
      dataDir: dir,
      key: { kind: 'passphrase', passphrase: utf8Encode(pass) },
      index: 2,
      argon2: FAST,
    });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, VAULT_FILE)).mode & 0o077).toBe(0);
    const id = JSON.parse(readFileSync(join(dir, 'identity.json'), 'utf8'));
    expect(id).toEqual({
      version: 1,
      index: 2,
      signingKey: toBase64(v.signingKey().publicKey),
      hpkeKey: toBase64(v.hpkeKeyPair().publicKey),
    });
    const seedHex = toHex(v.signingKey().secretKey.subarray(0, 32));
    const hpkeHex = toHex(v.hpkeKeyPair().secretKey);
    v.close();
    // No secret is stored in the clear anywhere in the directory.
    for (const f of [VAULT_FILE, 'identity.json']) {
      const raw = readFileSync(join(dir, f));
      expect(raw.includes(Buffer.from(seedHex, 'hex'))).toBe(false);
      expect(raw.includes(Buffer.from(hpkeHex, 'hex'))).toBe(false);
    }
    const again = await TrusteeVault.open({
      dataDir: dir,
      key: { kind: 'passphrase', passphrase: utf8Encode(pass) },
    });
    expect(again.index).toBe(2);
    expect(toHex(again.hpkeKeyPair().secretKey)).toBe(hpkeHex);
    again.close();
    await expectCode(
      TrusteeVault.open({ dataDir: dir, key: { kind: 'passphrase', passphrase: utf8Encode('wrong') } }),
      'TRUSTEE_VAULT_KEY',
      'TRU-1',
      ['wrong', pass],
    );
    const raw = randomBytes(32);
    await expectCode(
      TrusteeVault.open({ dataDir: dir, key: { kind: 'raw', key: raw } }),
      'TRUSTEE_VAULT_KEY',
      'TRU-1',
      [toHex(raw)],
    );
  });

  it('a raw key: the wrong one is TRU-1; the key source from the environment, malformed is TRU-2', async () => {
    const dir = tmp();
    const key = randomBytes(32);
    (await TrusteeVault.open({ dataDir: dir, key: { kind: 'raw', key }, index: 1 })).close();
    const wrong = randomBytes(32);
    await expectCode(
      TrusteeVault.open({ dataDir: dir, key: { kind: 'raw', key: wrong } }),
      'TRUSTEE_VAULT_KEY',
      'TRU-1',
      [toHex(wrong), toHex(key)],
    );
    expect(vaultKeySource({ OVERT_TRUSTEE_VAULT_KEY: toHex(key) })).toEqual({ kind: 'raw', key });
    expect(vaultKeySource({ OVERT_TRUSTEE_PASSPHRASE: 'p' })).toEqual({
      kind: 'passphrase',
      passphrase: utf8Encode('p'),
    });
    const file = join(dirs[0]!, 'pass');
    writeFileSync(file, 'from file\nignored\n');
    expect(vaultKeySource({}, file)).toEqual({ kind: 'passphrase', passphrase: utf8Encode('from file') });
    for (const env of [{}, { OVERT_TRUSTEE_VAULT_KEY: 'zz' }, { OVERT_TRUSTEE_VAULT_KEY: 'abcd' }]) {
      await expectCode(
        Promise.resolve().then(() => vaultKeySource(env)),
        'TRUSTEE_VAULT_KEY',
        'TRU-2',
      );
    }
    // A wrong index for an existing vault, and a new vault without an index (TRU-5).
    await expectCode(
      TrusteeVault.open({ dataDir: dir, key: { kind: 'raw', key }, index: 3 }),
      'TRUSTEE_STATE',
      'TRU-5',
    );
    await expectCode(
      TrusteeVault.open({ dataDir: tmp(), key: { kind: 'raw', key } }),
      'TRUSTEE_STATE',
      'TRU-5',
    );
  });

  it('stores a share as pending, activates the logged one, keeps one share per epoch; a tampered or moved row does not open (TRU-3)', async () => {
    const keys = [1, 2, 3].map(() => randomBytes(32));
    const vs = await Promise.all(
      [1, 2, 3].map((i) =>
        TrusteeVault.open({ dataDir: tmp(), key: { kind: 'raw', key: keys[i - 1]! }, index: i }),
      ),
    );
    const a = await dkgFor(vs, 690);
    const b = await dkgFor(vs, 690);
    const v = vs[0]!;
    v.putPendingShare(690, a[0]!.keyShare!, a[0]!.transcript, a[0]!.transcriptHash);
    v.putPendingShare(690, b[0]!.keyShare!, b[0]!.transcript, b[0]!.transcriptHash);
    expect(await v.share(690)).toBeUndefined();
    expect(v.activateShare(690, randomBytes(32))).toBe(false);
    expect(v.activateShare(690, b[0]!.transcriptHash)).toBe(true);
    const s = (await v.share(690))!;
    expect(s.transcriptHash).toEqual(b[0]!.transcriptHash);
    expect(s.share.secret).toEqual(b[0]!.keyShare!.secret);
    expect(s.publicKey.groupKey).toEqual(b[0]!.publicKey.groupKey);
    expect(v.hasPendingShare(690, a[0]!.transcriptHash)).toBe(false);
    expect(v.shareEpochs()).toEqual([690]);
    const dir = v.dataDir;
    const secretHex = toHex(s.share.secret);
    for (const x of vs) x.close();

    // Tamper: flip one byte of the share row; move the signing-seed row under another name.
    const db = new Database(join(dir, VAULT_FILE));
    const row = db.prepare("SELECT sealed FROM secrets WHERE name = 'epoch/690/share'").get() as {
      sealed: Buffer;
    };
    const flipped = Buffer.from(row.sealed);
    flipped[40] = flipped[40]! ^ 1;
    db.prepare("UPDATE secrets SET sealed = ? WHERE name = 'epoch/690/share'").run(flipped);
    db.close();
    const reopened = await TrusteeVault.open({ dataDir: dir, key: { kind: 'raw', key: keys[0]! } });
    await expectCode(reopened.share(690), 'TRUSTEE_VAULT_CORRUPT', 'TRU-3', [secretHex]);
    reopened.close();
    const db2 = new Database(join(dir, VAULT_FILE));
    const hpke = db2.prepare("SELECT sealed FROM secrets WHERE name = 'identity/hpke-secret'").get() as {
      sealed: Buffer;
    };
    db2.prepare("UPDATE secrets SET sealed = ? WHERE name = 'identity/signing-seed'").run(hpke.sealed);
    db2.close();
    await expectCode(
      TrusteeVault.open({ dataDir: dir, key: { kind: 'raw', key: keys[0]! } }),
      'TRUSTEE_VAULT_CORRUPT',
      'TRU-3',
    );
  });

  it('shreds a share: the share and its pending rows are gone (from every file of the vault), the epoch is recorded once with its statement, and asking says TRUSTEE_SHARE_SHREDDED (TRU-S1)', async () => {
    const keys = [1, 2, 3].map(() => randomBytes(32));
    const vs = await Promise.all(
      [1, 2, 3].map((i) =>
        TrusteeVault.open({ dataDir: tmp(), key: { kind: 'raw', key: keys[i - 1]! }, index: i }),
      ),
    );
    const a = await dkgFor(vs, 690);
    const b = await dkgFor(vs, 691);
    const v = vs[0]!;
    v.putPendingShare(690, a[0]!.keyShare!, a[0]!.transcript, a[0]!.transcriptHash);
    expect(v.activateShare(690, a[0]!.transcriptHash)).toBe(true);
    v.putPendingShare(691, b[0]!.keyShare!, b[0]!.transcript, b[0]!.transcriptHash);
    expect(v.activateShare(691, b[0]!.transcriptHash)).toBe(true);
    // A leftover pending row of the epoch goes with it.
    v.putPendingShare(690, b[0]!.keyShare!, b[0]!.transcript, randomBytes(32));
    const secretHex = toHex((await v.share(690))!.share.secret);
    const peek = new Database(join(v.dataDir, VAULT_FILE), { readonly: true });
    const sealedShare = (
      peek.prepare("SELECT sealed FROM secrets WHERE name = 'epoch/690/share'").get() as { sealed: Buffer }
    ).sealed;
    peek.close();
    const inFiles = () =>
      readdirSync(v.dataDir).filter((f) => readFileSync(join(v.dataDir, f)).indexOf(sealedShare) >= 0);
    expect(inFiles().length).toBeGreaterThan(0);
    await expectCode(
      Promise.resolve().then(() => v.shred(692, 5, () => randomBytes(8))),
      'TRUSTEE_API',
      'TRU-S1',
    );
    let signed = 0;
    const statement = randomBytes(120);
    const rec = v.shred(690, 1_000, (at) => {
      signed++;
      expect(at).toBe(1_000);
      return statement;
    });
    expect(rec).toEqual({ epoch: 690, at: 1_000, statement, logIndex: null });
    // Signed once: a second shred returns the first record.
    expect(v.shred(690, 2_000, () => randomBytes(120))).toEqual(rec);
    expect(signed).toBe(1);
    await expectCode(v.share(690), 'TRUSTEE_SHARE_SHREDDED', 'TRU-S1', [secretHex]);
    // Not in the database file's free pages, nor in the WAL: no file of the vault holds the sealed share.
    expect(inFiles()).toEqual([]);
    expect(v.shareEpochs()).toEqual([691]);
    expect((await v.share(691))!.epoch).toBe(691);
    // No ceremony output brings it back.
    expect(() => v.putPendingShare(690, a[0]!.keyShare!, a[0]!.transcript, a[0]!.transcriptHash)).toThrow(
      /TRUSTEE_SHARE_SHREDDED/,
    );
    v.markShredLogged(690, 17);
    const dir = v.dataDir;
    for (const x of vs) x.close();

    // After a restart: still shredded, and no row of the database holds the share.
    const reopened = await TrusteeVault.open({ dataDir: dir, key: { kind: 'raw', key: keys[0]! } });
    expect(reopened.shreddedEpochs()).toEqual([{ epoch: 690, at: 1_000, statement, logIndex: 17 }]);
    await expectCode(reopened.share(690), 'TRUSTEE_SHARE_SHREDDED', 'TRU-S1');
    reopened.close();
    const db = new Database(join(dir, VAULT_FILE));
    const names = (db.prepare('SELECT name FROM secrets').all() as { name: string }[]).map((r) => r.name);
    db.close();
    expect(names.filter((n) => n.startsWith('epoch/690/'))).toEqual([]);
  });

  it('refuses a data directory others can read (TRU-4)', async () => {
    const dir = tmp();
    const key = randomBytes(32);
    (await TrusteeVault.open({ dataDir: dir, key: { kind: 'raw', key }, index: 1 })).close();
    chmodSync(dir, 0o755);
    await expectCode(
      TrusteeVault.open({ dataDir: dir, key: { kind: 'raw', key } }),
      'TRUSTEE_STATE',
      'TRU-4',
    );
    chmodSync(dir, 0o700);
    // identity.json that names other keys (TRU-5).
    const id = JSON.parse(readFileSync(join(dir, 'identity.json'), 'utf8'));
    writeFileSync(
      join(dir, 'identity.json'),
      JSON.stringify({ ...id, signingKey: toBase64(randomBytes(32)) }),
    );
    await expectCode(
      TrusteeVault.open({ dataDir: dir, key: { kind: 'raw', key } }),
      'TRUSTEE_STATE',
      'TRU-5',
    );
  });
});
