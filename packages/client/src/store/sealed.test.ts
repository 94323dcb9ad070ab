// docs/spec/client.md §3.1: sealed records (XChaCha20-Poly1305 with the record's name as associated data, REST-2)
// and the profile key wrapped under a passphrase (Argon2id) or a raw key (REST-1): round trips, every kind of
// tampering refused with our own error, a passphrase change that rewraps one key, and a key file from disk that is
// attacker-controlled JSON. Argon2id runs at its smallest parameters here; the vectors use the real ones.
import { fromBase64, randomBytes, toBase64, utf8Encode } from '@overt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectClientError, onlyClientErrors } from '../../test/expect-error.js';
import {
  createProfileKey,
  openRecord,
  type ProfileSecret,
  parseProfileKeyFile,
  SEALED_OVERHEAD,
  sealRecord,
  storeRecordLabel,
  unlockProfileKey,
  wrapProfileKey,
} from './sealed.js';

const fast = { params: { t: 1, m: 8 } };
const pass = (passphrase: string): ProfileSecret => ({ kind: 'passphrase', passphrase });

describe('sealed records (REST-2)', () => {
  it('round trip any value under any name; the record is the value plus 41 bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 40 }), (value, name) => {
        const key = randomBytes(32);
        const record = sealRecord(key, storeRecordLabel(name), value);
        expect(record.length).toBe(value.length + SEALED_OVERHEAD);
        expect(openRecord(key, storeRecordLabel(name), record)).toEqual(value);
      }),
      { numRuns: 50 },
    );
  });

  it('another name, another key, any flipped bit or a cut record gives SDK_STORE_MALFORMED (property)', async () => {
    const key = randomBytes(32);
    const record = sealRecord(key, storeRecordLabel('conv/a'), utf8Encode('secret state'));
    await expectClientError(
      () => openRecord(key, storeRecordLabel('conv/b'), record),
      'SDK_STORE_MALFORMED',
      'REST-2',
    );
    await expectClientError(
      () => openRecord(key, 'overt/profile/v1/device.key', record),
      'SDK_STORE_MALFORMED',
      'REST-2',
    );
    await expectClientError(
      () => openRecord(randomBytes(32), storeRecordLabel('conv/a'), record),
      'SDK_STORE_MALFORMED',
      'REST-2',
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: record.length * 8 - 1 }), (bit) => {
        const r = record.slice();
        r[bit >> 3]! ^= 1 << (bit & 7);
        expect(() => openRecord(key, storeRecordLabel('conv/a'), r)).toThrow(/REST-2/);
      }),
      { numRuns: 80 },
    );
    for (let cut = 0; cut < record.length; cut += 7)
      expect(() => openRecord(key, storeRecordLabel('conv/a'), record.subarray(0, cut))).toThrow(/REST-2/);
  });

  it('random bytes never open and never throw anything but our error (fuzz)', async () => {
    const key = randomBytes(32);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 100 }), async (bytes) => {
        const r = await onlyClientErrors(async () => openRecord(key, 'x', bytes));
        expect(r).not.toBe('ok');
      }),
      { numRuns: 200 },
    );
    await expectClientError(() => sealRecord(randomBytes(16), 'x', new Uint8Array(1)), 'SDK_USAGE');
  });
});

describe('the profile key file (REST-1)', () => {
  it('unwraps with its passphrase only; a wrong one or one of the other kind is SDK_STORE_LOCKED', async () => {
    const { key, file } = createProfileKey(pass('correct horse battery staple'), fast);
    expect(file.kdf).toMatchObject({ name: 'argon2id', t: 1, m: 8, p: 1 });
    expect(fromBase64((file.kdf as { salt: string }).salt).length).toBe(16);
    expect(unlockProfileKey(file, pass('correct horse battery staple'))).toEqual(key);
    await expectClientError(
      () => unlockProfileKey(file, pass('correct horse battery stapler')),
      'SDK_STORE_LOCKED',
      'REST-1',
    );
    await expectClientError(() => unlockProfileKey(file, { kind: 'raw', key }), 'SDK_STORE_LOCKED', 'REST-1');
    await expectClientError(() => unlockProfileKey(file, pass('')), 'SDK_USAGE');
    // The file's own bytes hold neither the key nor the passphrase.
    const text = JSON.stringify(file);
    expect(text).not.toContain(toBase64(key));
    expect(text).not.toContain('horse');
  });

  it('a raw key skips Argon2id; the passphrase is taken in NFC, so é typed either way is the same', async () => {
    const raw = randomBytes(32);
    const r = createProfileKey({ kind: 'raw', key: raw });
    expect(r.file.kdf).toEqual({ name: 'raw' });
    expect(unlockProfileKey(r.file, { kind: 'raw', key: raw })).toEqual(r.key);
    await expectClientError(
      () => unlockProfileKey(r.file, { kind: 'raw', key: randomBytes(32) }),
      'SDK_STORE_LOCKED',
      'REST-1',
    );
    await expectClientError(() => unlockProfileKey(r.file, pass('anything at all')), 'SDK_STORE_LOCKED');
    const composed = createProfileKey(pass('caf\u00e9 au lait'), fast);
    expect(unlockProfileKey(composed.file, pass('cafe\u0301 au lait'))).toEqual(composed.key);
  });

  it('a passphrase change rewraps the same key: the old passphrase stops working, the records still open', async () => {
    const { key, file } = createProfileKey(pass('old passphrase'), fast);
    const record = sealRecord(key, storeRecordLabel('kp/00'), utf8Encode('key package secrets'));
    const next = wrapProfileKey(key, pass('new passphrase'), fast);
    expect((next.kdf as { salt: string }).salt).not.toBe((file.kdf as { salt: string }).salt);
    await expectClientError(() => unlockProfileKey(next, pass('old passphrase')), 'SDK_STORE_LOCKED');
    const again = unlockProfileKey(next, pass('new passphrase'));
    expect(openRecord(again, storeRecordLabel('kp/00'), record)).toEqual(utf8Encode('key package secrets'));
  });

  it('a key file from disk is checked field by field: SDK_STORE_MALFORMED or SDK_STORE_LOCKED only (fuzz)', async () => {
    const { file } = createProfileKey(pass('fuzz passphrase'), fast);
    const good = JSON.parse(JSON.stringify(file)) as Record<string, unknown>;
    const bad: unknown[] = [
      null,
      [],
      'x',
      { ...good, extra: 1 },
      { ...good, format: 'overt/profile-key@v2' },
      { ...good, kdf: { name: 'scrypt' } },
      { ...good, kdf: { ...(good.kdf as object), p: 4 } },
      { ...good, kdf: { ...(good.kdf as object), t: 0 } },
      { ...good, kdf: { ...(good.kdf as object), t: 17 } },
      { ...good, kdf: { ...(good.kdf as object), m: 2 ** 40 } },
      { ...good, kdf: { ...(good.kdf as object), m: '8' } },
      { ...good, kdf: { ...(good.kdf as object), salt: 'AAAA' } },
      { ...good, kdf: { ...(good.kdf as object), salt: '!!' } },
      { ...good, kdf: { name: 'raw', t: 1 } },
      { ...good, wrapped: toBase64(new Uint8Array(72)) },
      { format: good.format, kdf: good.kdf },
    ];
    for (const b of bad)
      await expectClientError(() => parseProfileKeyFile(b), 'SDK_STORE_MALFORMED', 'REST-1');
    // Any single-field mutation that still parses does not unlock.
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('salt', 'wrapped'),
        fc.uint8Array({ minLength: 16, maxLength: 73 }),
        async (field, bytes) => {
          const mutated =
            field === 'salt'
              ? { ...good, kdf: { ...(good.kdf as object), salt: toBase64(bytes.subarray(0, 16)) } }
              : { ...good, wrapped: toBase64(bytes) };
          const r = await onlyClientErrors(async () =>
            unlockProfileKey(parseProfileKeyFile(mutated), pass('fuzz passphrase')),
          );
          expect(r === 'ok' ? 'ok' : r.code).toMatch(/^SDK_STORE_(MALFORMED|LOCKED)$/);
        },
      ),
      { numRuns: 30 },
    );
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (j) => {
        const r = await onlyClientErrors(async () => parseProfileKeyFile(j));
        expect(r === 'ok' ? 'ok' : r.code).toBe('SDK_STORE_MALFORMED');
      }),
      { numRuns: 200 },
    );
  });
});
