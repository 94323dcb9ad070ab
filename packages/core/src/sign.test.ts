// RFC 8032 §7.1 Ed25519 test vectors, and a cross-check of libsodium against @noble/curves.
import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from './bytes.js';
import { sign, signingKeyFromSeed, verifySignature } from './sign.js';

// RFC 8032 §7.1, TEST 1–3.
const RFC8032 = [
  {
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    pub: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    msg: '',
    sig: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    pub: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    msg: '72',
    sig: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    seed: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    pub: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    msg: 'af82',
    sig: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
];

describe('RFC 8032 Ed25519', () => {
  it.each(RFC8032)('reproduces the §7.1 vector for public key $pub', (v) => {
    const key = signingKeyFromSeed(fromHex(v.seed));
    expect(toHex(key.publicKey)).toBe(v.pub);
    expect(toHex(sign(key, fromHex(v.msg)))).toBe(v.sig);
    expect(verifySignature(key.publicKey, fromHex(v.msg), fromHex(v.sig))).toBe(true);
  });

  it('agrees with @noble/curves and rejects any single-bit change', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.nat(511),
        (seed, msg, bit) => {
          const key = signingKeyFromSeed(seed);
          const sig = sign(key, msg);
          expect(toHex(sig)).toBe(toHex(ed25519.sign(msg, seed)));
          expect(verifySignature(key.publicKey, msg, sig)).toBe(true);
          const bad = sig.slice();
          bad[bit >> 3]! ^= 1 << (bit & 7);
          expect(verifySignature(key.publicKey, msg, bad)).toBe(false);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('returns false, never throws, on malformed keys and signatures', () => {
    expect(verifySignature(new Uint8Array(31), new Uint8Array(0), new Uint8Array(64))).toBe(false);
    expect(verifySignature(new Uint8Array(32), new Uint8Array(0), new Uint8Array(63))).toBe(false);
    expect(verifySignature(new Uint8Array(32).fill(0xff), new Uint8Array(0), new Uint8Array(64))).toBe(false);
  });
});
