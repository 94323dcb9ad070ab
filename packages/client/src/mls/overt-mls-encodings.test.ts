/**
 * Overt's own encodings in the MLS layer (docs/spec/mls.md): the credential (MLS-1), the key-transport payload
 * (MLS-14), the key-package bundle and key-package validation (MLS-13, MLS-18), and header inspection (MLS-15).
 * Round trips are property tests; every decoder is fed random and mutated bytes and may only throw our errors.
 */
import { generateSigningKey, randomBytes } from '@overt/core';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { expectClientError, onlyClientErrors } from '../../test/expect-error.js';
import { newDevice } from '../../test/mls-helpers.js';
import {
  ClientError,
  createMlsIdentity,
  decodeKeyPackageBundle,
  decodeKeyTransport,
  decodeMemberCredential,
  encodeKeyPackageBundle,
  encodeKeyTransport,
  encodeMemberCredential,
  generateKeyPackage,
  inspectKeyPackage,
  inspectMessage,
  KEY_TRANSPORT_BYTES,
} from '../index.js';

/** User ids: 1..128 characters of 0x21–0x7e (docs/spec/envelope.md §2.1). */
const userId = fc
  .array(fc.integer({ min: 0x21, max: 0x7e }), { minLength: 1, maxLength: 128 })
  .map((cs) => String.fromCharCode(...cs));
const deviceId = fc.uint8Array({ minLength: 1, maxLength: 64 });
const credential = fc.record({
  userId,
  deviceId,
  identityKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
});
const payload = fc.record({
  messageId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  contentKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  seed: fc.uint8Array({ minLength: 32, maxLength: 32 }),
});

/** Decoding either fails with `code` or yields a value that encodes back to exactly the input. */
function canonicalOrRejected<T>(
  bytes: Uint8Array,
  decode: (b: Uint8Array) => T,
  encode: (v: T) => Uint8Array,
  code: string,
) {
  let v: T;
  try {
    v = decode(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(ClientError);
    expect((e as ClientError).code).toBe(code);
    return;
  }
  expect(encode(v)).toEqual(bytes);
}

/** `b` with one byte changed: XOR with a non-zero mask derived from `flip`. */
function mutate(b: Uint8Array, at: number, flip: number): Uint8Array {
  const out = b.slice();
  if (out.length > 0) out[at % out.length] = out[at % out.length]! ^ ((flip % 255) + 1);
  return out;
}

describe('credential (MLS-1)', () => {
  test('round trip', () => {
    fc.assert(
      fc.property(credential, (c) => {
        expect(decodeMemberCredential(encodeMemberCredential(c))).toEqual(c);
      }),
    );
  });

  test('layout: version, two length-prefixed ids, the 32-byte key', () => {
    const key = new Uint8Array(32).fill(7);
    const bytes = encodeMemberCredential({
      userId: 'al',
      deviceId: Uint8Array.of(0, 0xff),
      identityKey: key,
    });
    expect([...bytes.subarray(0, 7)]).toEqual([1, 2, 0x61, 0x6c, 2, 0x00, 0xff]);
    expect(bytes.length).toBe(7 + 32);
  });

  test('random and mutated bytes: canonical value or MLS_CREDENTIAL_MALFORMED', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (b) =>
        canonicalOrRejected(b, decodeMemberCredential, encodeMemberCredential, 'MLS_CREDENTIAL_MALFORMED'),
      ),
    );
    fc.assert(
      fc.property(credential, fc.nat(), fc.nat(255), (c, at, flip) =>
        canonicalOrRejected(
          mutate(encodeMemberCredential(c), at, flip),
          decodeMemberCredential,
          encodeMemberCredential,
          'MLS_CREDENTIAL_MALFORMED',
        ),
      ),
    );
  });

  test('rejects empty ids, user ids outside 0x21-0x7e, unknown versions, trailing bytes', async () => {
    const key = new Uint8Array(32);
    const good = encodeMemberCredential({ userId: 'a', deviceId: Uint8Array.of(0x62), identityKey: key });
    await expectClientError(
      () => decodeMemberCredential(Uint8Array.of(1, 0, 1, 0x62, ...key)),
      'MLS_CREDENTIAL_MALFORMED',
      'MLS-1',
    );
    await expectClientError(
      () => decodeMemberCredential(Uint8Array.of(1, 1, 0x20, 1, 0x62, ...key)),
      'MLS_CREDENTIAL_MALFORMED',
      'MLS-1',
    );
    await expectClientError(
      () => decodeMemberCredential(Uint8Array.of(1, 1, 0x61, 0, ...key)),
      'MLS_CREDENTIAL_MALFORMED',
      'MLS-1',
    );
    await expectClientError(
      () => decodeMemberCredential(Uint8Array.of(1, 1, 0xff, 1, 0x62, ...key)),
      'MLS_CREDENTIAL_MALFORMED',
      'MLS-1',
    );
    await expectClientError(
      () => decodeMemberCredential(Uint8Array.of(2, ...good.subarray(1))),
      'MLS_CREDENTIAL_MALFORMED',
      'MLS-1',
    );
    await expectClientError(
      () => decodeMemberCredential(Uint8Array.of(...good, 0)),
      'MLS_CREDENTIAL_MALFORMED',
      'MLS-1',
    );
  });

  test('identities: envelope-compatible ids and a real Ed25519 key pair', async () => {
    const kp = generateSigningKey();
    const d = Uint8Array.of(1);
    expect(createMlsIdentity('u', d, kp).identityKey).toEqual(kp.publicKey);
    expect(createMlsIdentity('x'.repeat(128), new Uint8Array(64), kp).userId.length).toBe(128);
    await expectClientError(() => createMlsIdentity('', d, kp), 'MLS_USAGE');
    await expectClientError(() => createMlsIdentity('x'.repeat(129), d, kp), 'MLS_USAGE');
    await expectClientError(() => createMlsIdentity('a b', d, kp), 'MLS_USAGE');
    await expectClientError(() => createMlsIdentity('é', d, kp), 'MLS_USAGE');
    await expectClientError(() => createMlsIdentity('u', new Uint8Array(0), kp), 'MLS_USAGE');
    await expectClientError(() => createMlsIdentity('u', new Uint8Array(65), kp), 'MLS_USAGE');
    const other = generateSigningKey();
    await expectClientError(
      () => createMlsIdentity('u', d, { publicKey: other.publicKey, secretKey: kp.secretKey }),
      'MLS_USAGE',
    );
  });
});

describe('key-transport payload (MLS-14)', () => {
  test('round trip, 81 bytes, version first', () => {
    fc.assert(
      fc.property(payload, (p) => {
        const b = encodeKeyTransport(p);
        expect(b.length).toBe(KEY_TRANSPORT_BYTES);
        expect(b[0]).toBe(1);
        expect(decodeKeyTransport(b)).toEqual(p);
      }),
    );
  });

  test('random and mutated bytes: canonical value or MLS_PAYLOAD_MALFORMED', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) =>
        canonicalOrRejected(b, decodeKeyTransport, encodeKeyTransport, 'MLS_PAYLOAD_MALFORMED'),
      ),
    );
    fc.assert(
      fc.property(payload, fc.nat(), fc.nat(255), (p, at, flip) =>
        canonicalOrRejected(
          mutate(encodeKeyTransport(p), at, flip),
          decodeKeyTransport,
          encodeKeyTransport,
          'MLS_PAYLOAD_MALFORMED',
        ),
      ),
    );
  });

  test('wrong field lengths are refused on encode', async () => {
    await expectClientError(
      () =>
        encodeKeyTransport({
          messageId: randomBytes(15),
          contentKey: randomBytes(32),
          seed: randomBytes(32),
        }),
      'MLS_USAGE',
    );
  });
});

describe('key packages (MLS-13) and their bundles (MLS-18)', () => {
  test('bundle round trip; the published key package names its owner', async () => {
    await fc.assert(
      fc.asyncProperty(userId, deviceId, async (user, device) => {
        const me = createMlsIdentity(user, device, generateSigningKey());
        const b = await generateKeyPackage(me);
        const back = await decodeKeyPackageBundle(encodeKeyPackageBundle(b), me);
        expect(back).toEqual(b);
        const info = await inspectKeyPackage(b.keyPackage);
        expect(info.member).toEqual({ userId: user, deviceId: device, identityKey: me.identityKey });
        expect(info.ref).toEqual(b.ref);
        expect(info.notAfter - info.notBefore).toBe(BigInt(90 * 86400 + 3600));
      }),
      { numRuns: 8 },
    );
  });

  test('a bundle is refused for another identity, or with damaged bytes', async () => {
    const me = newDevice('me');
    const b = await generateKeyPackage(me);
    const bytes = encodeKeyPackageBundle(b);
    await expectClientError(decodeKeyPackageBundle(bytes, newDevice('me')), 'MLS_STATE_MALFORMED', 'MLS-18');
    const swapped = encodeKeyPackageBundle({
      ...b,
      initPrivateKey: b.encryptionPrivateKey,
      encryptionPrivateKey: b.initPrivateKey,
    });
    await expectClientError(decodeKeyPackageBundle(swapped, me), 'MLS_STATE_MALFORMED', 'MLS-18');
    for (let i = 0; i < 200; i++) {
      const r = await onlyClientErrors(() => decodeKeyPackageBundle(mutate(bytes, i * 7, i), me));
      if (r !== 'ok') expect(r.code).toBe('MLS_STATE_MALFORMED');
    }
    for (let i = 0; i < 100; i++) {
      const r = await onlyClientErrors(() => decodeKeyPackageBundle(randomBytes(i * 3), me));
      expect(r !== 'ok' && r.code).toBe('MLS_STATE_MALFORMED');
    }
  });

  test('damaged key packages and random bytes are refused with our errors only', async () => {
    const b = await generateKeyPackage(newDevice('x'));
    let accepted = 0;
    for (let i = 0; i < 300; i++) {
      const r = await onlyClientErrors(() => inspectKeyPackage(mutate(b.keyPackage, i * 13, i + 1)));
      if (r === 'ok') accepted++;
    }
    // Every byte of a key package is covered by its signature or its canonical encoding.
    expect(accepted).toBe(0);
    for (let i = 0; i < 200; i++) {
      const r = await onlyClientErrors(() => inspectKeyPackage(randomBytes(i)));
      expect(r).not.toBe('ok');
    }
  });

  test('inspectMessage: random bytes give MLS_MALFORMED only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        try {
          inspectMessage(b);
        } catch (e) {
          expect(e).toBeInstanceOf(ClientError);
          expect((e as ClientError).code).toBe('MLS_MALFORMED');
        }
      }),
      { numRuns: 2000 },
    );
  });
});
