// RFC 9106 Argon2id (p = 1, version 0x13) through libsodium, cross-checked against @noble/hashes' independent
// implementation, and the parameter bounds that keep a value read from a file from asking for unbounded work.
import { argon2id as nobleArgon2id } from '@noble/hashes/argon2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex, utf8Encode } from './bytes.js';
import { isOvertError } from './errors.js';
import { ARGON2ID_MAX_KIB, ARGON2ID_MAX_PASSES, argon2id } from './pwhash.js';

function expectOvertError(fn: () => unknown, code: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(isOvertError(thrown) && thrown.code).toBe(code);
}

describe('RFC 9106 Argon2id', () => {
  it('agrees with @noble/hashes on random passwords, salts and small parameters (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 40 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 8, max: 64 }),
        fc.integer({ min: 16, max: 64 }),
        (pw, salt, t, m, len) => {
          const ours = argon2id(pw, salt, { t, m }, len);
          const ref = nobleArgon2id(pw, salt, { t, m, p: 1, dkLen: len, version: 0x13 });
          expect(toHex(ours)).toBe(toHex(ref));
        },
      ),
      { numRuns: 25 },
    );
  });

  it('agrees with @noble/hashes at 1 MiB, and depends on every input', () => {
    const salt = new Uint8Array(16).fill(7);
    const pw = utf8Encode('correct horse battery staple');
    const k = argon2id(pw, salt, { t: 2, m: 1024 });
    expect(toHex(k)).toBe(toHex(nobleArgon2id(pw, salt, { t: 2, m: 1024, p: 1, dkLen: 32 })));
    expect(toHex(argon2id(utf8Encode('correct horse battery stapl'), salt, { t: 2, m: 1024 }))).not.toBe(
      toHex(k),
    );
    expect(toHex(argon2id(pw, new Uint8Array(16).fill(8), { t: 2, m: 1024 }))).not.toBe(toHex(k));
    expect(toHex(argon2id(pw, salt, { t: 3, m: 1024 }))).not.toBe(toHex(k));
    expect(toHex(argon2id(pw, salt, { t: 2, m: 2048 }))).not.toBe(toHex(k));
  });

  it('refuses salts, lengths and parameters out of range with our own errors', () => {
    const pw = new Uint8Array(1);
    const salt = new Uint8Array(16);
    expectOvertError(() => argon2id(pw, new Uint8Array(15), { t: 1, m: 8 }), 'CODEC_LENGTH');
    expectOvertError(() => argon2id(pw, salt, { t: 1, m: 8 }, 15), 'CODEC_LENGTH');
    expectOvertError(() => argon2id(pw, salt, { t: 1, m: 8 }, 65), 'CODEC_LENGTH');
    for (const t of [0, ARGON2ID_MAX_PASSES + 1, 1.5, Number.NaN])
      expectOvertError(() => argon2id(pw, salt, { t, m: 8 }), 'CODEC_RANGE');
    for (const m of [7, ARGON2ID_MAX_KIB + 1, 2 ** 40, 8.5])
      expectOvertError(() => argon2id(pw, salt, { t: 1, m }), 'CODEC_RANGE');
  });
});
