// The committing AEAD of envelopes (docs/spec/envelope.md §4): the two AES-256-GCM / SHA-256 back-ends
// against the GCM specification's test case 16 and against each other, the HKDF key schedule, and the key
// commitment that defeats invisible salamanders (Dodis–Grubbs–Ristenpart–Woodage 2018).
import { gcm } from '@noble/ciphers/aes.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { collidingCiphertext } from '../../test/gcm-key-collision.js';
import { equalBytes, fromHex, toHex, utf8Encode } from '../bytes.js';
import { isOvertError } from '../errors.js';
import { nobleBackend, webCryptoBackend } from './backend.js';
import { deriveMessageKeys, openMessageKeys } from './keys.js';
import { streamNonce } from './stream.js';

const BACKENDS = [webCryptoBackend, nobleBackend];

// McGrew & Viega, "The Galois/Counter Mode of Operation", test case 16 (AES-256, 60-byte plaintext, AAD).
const TC16 = {
  key: 'feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308',
  iv: 'cafebabefacedbaddecaf888',
  pt: 'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
  aad: 'feedfacedeadbeeffeedfacedeadbeefabaddad2',
  ct: '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662',
  tag: '76fc6ece0f4e1768cddf8853bb2d551b',
};

describe('AES-256-GCM back-ends', () => {
  it.each(BACKENDS)('$name reproduces GCM test case 16 and rejects a flipped tag', async (backend) => {
    const key = await backend.importKey(fromHex(TC16.key));
    const sealed = await key.seal(fromHex(TC16.iv), fromHex(TC16.aad), fromHex(TC16.pt));
    expect(toHex(sealed)).toBe(TC16.ct + TC16.tag);
    expect(toHex((await key.open(fromHex(TC16.iv), fromHex(TC16.aad), sealed))!)).toBe(TC16.pt);
    sealed[sealed.length - 1]! ^= 1;
    expect(await key.open(fromHex(TC16.iv), fromHex(TC16.aad), sealed)).toBeNull();
    expect(await key.open(fromHex(TC16.iv), fromHex(TC16.aad), new Uint8Array(15))).toBeNull();
  });

  it('WebCrypto and @noble agree byte for byte and open each other’s output', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        fc.uint8Array({ maxLength: 64 }),
        fc.uint8Array({ maxLength: 300 }),
        async (k, n, ad, pt) => {
          const [a, b] = await Promise.all(BACKENDS.map((x) => x.importKey(k)));
          const ca = await a!.seal(n, ad, pt);
          expect(toHex(await b!.seal(n, ad, pt))).toBe(toHex(ca));
          expect(toHex((await b!.open(n, ad, ca))!)).toBe(toHex(pt));
          const other = ad.length > 0 ? ad.slice(1) : Uint8Array.of(0);
          expect(await a!.open(n, other, ca)).toBeNull();
          expect(await b!.open(n, other, ca)).toBeNull();
        },
      ),
      { numRuns: 60 },
    );
  });

  it('SHA-256 back-ends agree with each other and with FIPS 180-4 ("abc")', async () => {
    const abc = new Uint8Array([0x61, 0x62, 0x63]);
    for (const b of BACKENDS)
      expect(toHex(await b.sha256(abc))).toBe(
        'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      );
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), async (d) => {
        const [x, y] = await Promise.all(BACKENDS.map((b) => b.sha256(d)));
        expect(toHex(x!)).toBe(toHex(y!));
        expect(toHex(x!)).toBe(toHex(sha256(d)));
      }),
      { numRuns: 40 },
    );
  });
});

describe('key schedule and key commitment', () => {
  it('is HKDF-SHA256 (RFC 5869) with the documented salt and labels', () => {
    const derive = (k: Uint8Array, label: string, n: number) =>
      toHex(hkdf(sha256, k, utf8Encode('overt/envelope/v1/key-schedule'), utf8Encode(label), n));
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (k) => {
        const keys = deriveMessageKeys(k);
        expect(toHex(keys.encryptionKey)).toBe(derive(k, 'overt/envelope/v1/encryption-key', 32));
        expect(toHex(keys.commitment)).toBe(derive(k, 'overt/envelope/v1/key-commitment', 32));
        expect(toHex(keys.noncePrefix)).toBe(derive(k, 'overt/envelope/v1/nonce-prefix', 7));
        expect(toHex(keys.frankingKey)).toBe(derive(k, 'overt/envelope/v1/franking-key', 32));
      }),
      { numRuns: 50 },
    );
  });

  it('derives four distinct values of the documented sizes, deterministically', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (k) => {
        const a = deriveMessageKeys(k);
        const b = deriveMessageKeys(k);
        expect(a.encryptionKey.length).toBe(32);
        expect(a.commitment.length).toBe(32);
        expect(a.noncePrefix.length).toBe(7);
        expect(a.frankingKey.length).toBe(32);
        expect(toHex(a.commitment)).toBe(toHex(b.commitment));
        expect(equalBytes(a.encryptionKey, a.commitment)).toBe(false);
        expect(equalBytes(a.encryptionKey, a.frankingKey)).toBe(false);
        expect(equalBytes(a.encryptionKey, k)).toBe(false);
      }),
      { numRuns: 50 },
    );
  });

  it('rejects a content key that is not 32 bytes (AEAD-1)', () => {
    for (const n of [0, 16, 31, 33]) {
      try {
        deriveMessageKeys(new Uint8Array(n));
        expect.unreachable();
      } catch (e) {
        expect(isOvertError(e, 'ENVELOPE_MALFORMED') && e.check).toBe('AEAD-1');
      }
    }
  });

  it('accepts exactly the committed key and rejects any other (AEAD-2)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (k, other) => {
          const { commitment } = deriveMessageKeys(k);
          expect(toHex(openMessageKeys(k, commitment).encryptionKey)).toBe(
            toHex(deriveMessageKeys(k).encryptionKey),
          );
          fc.pre(!equalBytes(k, other));
          expect(() => openMessageKeys(other, commitment)).toThrow(/ENVELOPE_COMMITMENT \[AEAD-2\]/);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('invisible salamander: a GCM ciphertext that opens under two keys is refused for the uncommitted one', () => {
    const ka = new Uint8Array(32).fill(0xaa);
    const kb = new Uint8Array(32).fill(0xbb);
    const a = deriveMessageKeys(ka);
    const b = deriveMessageKeys(kb);
    const ad = sha256(new Uint8Array([1, 2, 3]));
    const na = streamNonce(a.noncePrefix, 0, true);
    const nb = streamNonce(b.noncePrefix, 0, true);
    const c = collidingCiphertext(a.encryptionKey, na, b.encryptionKey, nb, ad, new Uint8Array(16).fill(7));
    // Plain GCM is not committing: both keys authenticate the same bytes, to different plaintexts.
    const pa = gcm(a.encryptionKey, na, ad).decrypt(c);
    const pb = gcm(b.encryptionKey, nb, ad).decrypt(c);
    expect(toHex(pa)).not.toBe(toHex(pb));
    // The header commits to ka, so kb never reaches the decryption.
    expect(() => openMessageKeys(kb, a.commitment)).toThrow(/ENVELOPE_COMMITMENT/);
    expect(openMessageKeys(ka, a.commitment).encryptionKey).toEqual(a.encryptionKey);
  });
});
