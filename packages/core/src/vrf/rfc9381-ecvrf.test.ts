// RFC 9381 Appendix B.3 (ECVRF-EDWARDS25519-SHA512-TAI) vectors from test/vectors, every intermediate value the RFC
// prints (x, the try-and-increment counter, H, k, U, V) as well as pi and beta; then properties: random keys and
// inputs round-trip, any flipped bit of a proof and malformed lengths are refused with our typed errors (MAP-1).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex, toHex } from '../bytes.js';
import { OvertError } from '../errors.js';
import {
  isValidVrfPublicKey,
  VRF_PROOF_LENGTH,
  vrfEncodeToCurve,
  vrfProofToHash,
  vrfProve,
  vrfPublicKey,
  vrfVerify,
} from './ecvrf.js';

const FILE = join(
  import.meta.dirname,
  '..',
  '..',
  'test',
  'vectors',
  'rfc9381-ecvrf-edwards25519-sha512-tai.json',
);
const V = JSON.parse(readFileSync(FILE, 'utf8')) as {
  vectors: {
    name: string;
    SK: string;
    PK: string;
    alpha: string;
    x: string;
    ctr: number;
    H: string;
    k: string;
    U: string;
    V: string;
    pi: string;
    beta: string;
  }[];
};

function code(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    if (!(e instanceof OvertError)) throw e;
    return e.code;
  }
}

function le(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
}

const Q = ed25519.Point.Fn.ORDER;

describe('RFC 9381 Appendix B.3: ECVRF-EDWARDS25519-SHA512-TAI', () => {
  it('has the three examples of the RFC', () => {
    expect(V.vectors.map((v) => v.name)).toEqual(['Example 16', 'Example 17', 'Example 18']);
  });

  for (const v of V.vectors) {
    it(`${v.name}: public key, x, H and its counter, k, U, V, pi and beta`, () => {
      const sk = fromHex(v.SK);
      const pk = fromHex(v.PK);
      const alpha = fromHex(v.alpha);
      expect(toHex(vrfPublicKey(sk))).toBe(v.PK);
      // x is the clamped first half of SHA-512(SK) (RFC 8032 §5.1.5), printed unreduced.
      const head = sha512(sk).slice(0, 32);
      head[0]! &= 248;
      head[31]! &= 127;
      head[31]! |= 64;
      expect(toHex(head)).toBe(v.x);
      const { H, ctr } = vrfEncodeToCurve(pk, alpha);
      expect(ctr).toBe(v.ctr);
      expect(toHex(H.toBytes())).toBe(v.H);
      const kString = sha512(concatBytes(sha512(sk).subarray(32), H.toBytes()));
      expect(toHex(kString)).toBe(v.k);
      const k = le(kString) % Q;
      expect(toHex(ed25519.Point.BASE.multiply(k).toBytes())).toBe(v.U);
      expect(toHex(H.multiply(k).toBytes())).toBe(v.V);
      const pi = vrfProve(sk, alpha);
      expect(toHex(pi)).toBe(v.pi);
      expect(toHex(vrfProofToHash(pi))).toBe(v.beta);
      expect(toHex(vrfVerify(pk, alpha, fromHex(v.pi)))).toBe(v.beta);
    });
  }

  it('a vector proof does not verify for another input or another key', () => {
    const [a, b] = V.vectors;
    expect(code(() => vrfVerify(fromHex(a!.PK), fromHex('01'), fromHex(a!.pi)))).toBe('VRF_PROOF_INVALID');
    expect(code(() => vrfVerify(fromHex(b!.PK), fromHex(a!.alpha), fromHex(a!.pi)))).toBe(
      'VRF_PROOF_INVALID',
    );
  });
});

describe('ECVRF properties (MAP-1)', () => {
  const seed = fc.uint8Array({ minLength: 32, maxLength: 32 });
  const alpha = fc.uint8Array({ minLength: 0, maxLength: 64 });

  it('random keys and inputs: the proof verifies and gives proofToHash; another input does not verify', () => {
    fc.assert(
      fc.property(seed, alpha, alpha, (sk, a, b) => {
        const pk = vrfPublicKey(sk);
        const pi = vrfProve(sk, a);
        expect(pi.length).toBe(VRF_PROOF_LENGTH);
        const beta = vrfVerify(pk, a, pi);
        expect(beta).toEqual(vrfProofToHash(pi));
        expect(vrfProve(sk, a)).toEqual(pi); // deterministic
        if (toHex(a) !== toHex(b)) expect(code(() => vrfVerify(pk, b, pi))).toBe('VRF_PROOF_INVALID');
      }),
      { numRuns: 25 },
    );
  });

  it('a flipped bit in any byte of a proof is refused with VRF_PROOF_INVALID', () => {
    const sk = fromHex(V.vectors[1]!.SK);
    const pk = fromHex(V.vectors[1]!.PK);
    const a = fromHex(V.vectors[1]!.alpha);
    const pi = vrfProve(sk, a);
    // One flip in every byte (a different bit position each time, so all eight positions occur in every field).
    for (let i = 0; i < pi.length; i++) {
      const bad = pi.slice();
      bad[i]! ^= 1 << ((i * 3) & 7);
      expect(code(() => vrfVerify(pk, a, bad))).toBe('VRF_PROOF_INVALID');
    }
  });

  it('malformed lengths, an unreduced s and a Gamma that is not a point are refused', () => {
    const sk = fromHex(V.vectors[0]!.SK);
    const pk = fromHex(V.vectors[0]!.PK);
    const pi = vrfProve(sk, new Uint8Array(0));
    for (const n of [0, 1, 79, 81, 160]) {
      const bad = new Uint8Array(n);
      bad.set(pi.subarray(0, Math.min(n, 80)));
      expect(code(() => vrfVerify(pk, new Uint8Array(0), bad))).toBe('VRF_PROOF_INVALID');
      expect(code(() => vrfProofToHash(bad))).toBe('VRF_PROOF_INVALID');
    }
    // s + q: the same point equation, but s is not reduced (RFC 9381 §5.4.4 step 7).
    const s = le(pi.subarray(48)) + Q;
    const unreduced = pi.slice();
    for (let i = 0; i < 32; i++) unreduced[48 + i] = Number((s >> BigInt(8 * i)) & 0xffn);
    expect(code(() => vrfVerify(pk, new Uint8Array(0), unreduced))).toBe('VRF_PROOF_INVALID');
    // Gamma with y = p (non-canonical) and y = 2 (no square root): not points.
    const p = 2n ** 255n - 19n;
    for (const y of [p, 2n]) {
      const bad = pi.slice();
      for (let i = 0; i < 32; i++) bad[i] = Number((y >> BigInt(8 * i)) & 0xffn);
      expect(code(() => vrfVerify(pk, new Uint8Array(0), bad))).toBe('VRF_PROOF_INVALID');
    }
  });

  it('public keys: wrong length, not a point, small order or non-canonical are VRF_KEY_INVALID', () => {
    const pi = fromHex(V.vectors[0]!.pi);
    const identity = ed25519.Point.ZERO.toBytes();
    const order2 = fromHex('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'); // y = −1
    const nonCanonical = fromHex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'); // y = p
    for (const pk of [new Uint8Array(31), new Uint8Array(33), identity, order2, nonCanonical]) {
      expect(isValidVrfPublicKey(pk)).toBe(false);
      expect(code(() => vrfVerify(pk, new Uint8Array(0), pi))).toBe('VRF_KEY_INVALID');
    }
    expect(code(() => vrfProve(new Uint8Array(31), new Uint8Array(0)))).toBe('VRF_KEY_INVALID');
    expect(isValidVrfPublicKey(fromHex(V.vectors[0]!.PK))).toBe(true);
  });

  it('random bytes as a proof raise only VRF_PROOF_INVALID', () => {
    const pk = fromHex(V.vectors[2]!.PK);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 100 }), (pi) => {
        expect(code(() => vrfVerify(pk, fromHex('af82'), pi))).toBe('VRF_PROOF_INVALID');
      }),
      { numRuns: 200 },
    );
  });
});
