// The committed TDH2 vectors (packages/core/test/vectors/capsule.json): the implementation reproduces every
// positive vector and reports every negative one with its code and check ID; an independent re-computation from
// docs/spec/capsule.md on the @noble/curves back-end gives the same bytes; the generator reproduces the file.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderCapsuleVectors, VECTORS_PATH } from '../../test/gen-capsule-vectors.js';
import { concatBytes, fromHex, toHex, utf8Encode } from '../bytes.js';
import { OvertError } from '../errors.js';
import { type Element, hashToElementNoble, noble, type Scalar } from '../group.js';
import { taggedHash, taggedHash64 } from '../hash.js';
import { evaluatePolynomial, type ThresholdPublicKey } from '../threshold.js';
import {
  combineShares,
  createShare,
  decodeCapsule,
  decodeShare,
  encodeShare,
  GENERATOR_DST,
  GENERATOR_MSG,
  SECOND_GENERATOR,
  sealCapsule,
  verifyCapsule,
  verifyCapsuleOpening,
  verifyShare,
} from './index.js';

interface Vectors {
  second_generator: { msg: string; dst: string; point: string };
  sharings: {
    name: string;
    threshold: number;
    participants: number;
    coefficients: string[];
    group_key: string;
    shares: { index: number; secret: string; verification_key: string }[];
  }[];
  capsules: {
    sharing: string;
    key: string;
    label: string;
    seed: string;
    capsule: string;
    capsule_id: string;
    shares: { index: number; nonce_input: string; share: string }[];
    combinations: { indices: number[]; key: string }[];
  }[];
  negative: {
    name: string;
    sharing: string;
    kind: 'capsule' | 'opening' | 'share' | 'combine';
    label: string;
    capsule: string;
    key?: string;
    seed?: string;
    share?: string;
    shares?: string[];
    /** The sharing whose key set the share is checked against, when it is not the capsule's own. */
    key_set?: string;
    code: string;
    check: string;
  }[];
}

const text = readFileSync(VECTORS_PATH, 'utf8');
const V = JSON.parse(text) as Vectors;

function publicKeyOf(name: string): ThresholdPublicKey {
  const s = V.sharings.find((x) => x.name === name)!;
  return {
    threshold: s.threshold,
    groupKey: fromHex(s.group_key) as Element,
    verificationKeys: s.shares.map((x) => fromHex(x.verification_key) as Element),
  };
}

// docs/spec/capsule.md, written out again on the reference back-end with only the spec's formulas.
const ref = {
  scalar: (tag: string, ...parts: Uint8Array[]) => noble.scalarReduce64(taggedHash64(tag, ...parts)),
  gBar: hashToElementNoble(
    utf8Encode('overt/v1/tdh2/second-generator'),
    'OVERT-V01-TDH2-GENERATOR-with-ristretto255_XMD:SHA-512_R255MAP_RO_',
  ),
  seal(Y: Element, K: Uint8Array, L: Uint8Array, seed: Uint8Array): Uint8Array {
    const r = ref.scalar('overt/v1/tdh2/seal-r', seed, L, Y, K);
    const s = ref.scalar('overt/v1/tdh2/seal-s', seed, L, Y, K);
    const u = noble.baseMul(r);
    const uBar = noble.mul(r, ref.gBar);
    const w = noble.baseMul(s);
    const wBar = noble.mul(s, ref.gBar);
    const mask = taggedHash('overt/v1/tdh2/mask', Y, u, noble.mul(r, Y));
    const c = K.map((b, i) => b ^ mask[i]!);
    const e = ref.scalar('overt/v1/tdh2/capsule-challenge', Y, L, c, u, uBar, w, wBar);
    return concatBytes(c, u, uBar, w, wBar, noble.scalarAdd(s, noble.scalarMul(e, r)));
  },
  share(Y: Element, L: Uint8Array, capsule: Uint8Array, index: number, x: Scalar, nonceInput: Uint8Array) {
    const id = taggedHash('overt/v1/tdh2/capsule-id', Y, L, capsule);
    const u = capsule.subarray(32, 64) as Element;
    const value = noble.mul(x, u);
    const t = ref.scalar('overt/v1/tdh2/share-nonce', x, id, nonceInput);
    const a = noble.baseMul(t);
    const b = noble.mul(t, u);
    const c = ref.scalar(
      'overt/v1/tdh2/share-challenge',
      id,
      Uint8Array.of(index),
      noble.baseMul(x),
      u,
      value,
      a,
      b,
    );
    return concatBytes(Uint8Array.of(index), id, value, a, b, noble.scalarAdd(t, noble.scalarMul(c, x)));
  },
};

describe('capsule.json', () => {
  it('is reproduced byte for byte by its generator', () => {
    expect(renderCapsuleVectors()).toBe(text);
  });

  it('names the second generator the implementation uses, and @noble/curves hashes to the same point', () => {
    expect(V.second_generator).toEqual({
      msg: GENERATOR_MSG,
      dst: GENERATOR_DST,
      point: toHex(SECOND_GENERATOR),
    });
    expect(toHex(ref.gBar)).toBe(V.second_generator.point);
  });

  it('sharings: f(i) and Y_i = f(i)·G from the listed coefficients', () => {
    for (const s of V.sharings) {
      const coeffs = s.coefficients.map((h) => fromHex(h) as Scalar);
      expect(toHex(noble.baseMul(coeffs[0]!))).toBe(s.group_key);
      for (const sh of s.shares) {
        expect(toHex(evaluatePolynomial(coeffs, sh.index))).toBe(sh.secret);
        expect(toHex(noble.baseMul(fromHex(sh.secret) as Scalar))).toBe(sh.verification_key);
      }
    }
  });

  it.each(V.capsules.map((c) => [c.sharing, c] as const))(
    'capsule %s: seal, shares and every combination',
    (_, c) => {
      const pk = publicKeyOf(c.sharing);
      const sharing = V.sharings.find((x) => x.name === c.sharing)!;
      const [key, label, seed] = [fromHex(c.key), fromHex(c.label), fromHex(c.seed)];
      expect(toHex(sealCapsule(pk.groupKey, key, label, seed))).toBe(c.capsule);
      expect(toHex(ref.seal(pk.groupKey, key, label, seed))).toBe(c.capsule);
      const vc = verifyCapsule(pk.groupKey, decodeCapsule(fromHex(c.capsule)), label);
      expect(toHex(vc.id)).toBe(c.capsule_id);
      expect(toHex(verifyCapsuleOpening(pk.groupKey, fromHex(c.capsule), key, label, seed).id)).toBe(
        c.capsule_id,
      );
      const verified = c.shares.map((sh) => {
        const secret = fromHex(sharing.shares[sh.index - 1]!.secret) as Scalar;
        const nonce = fromHex(sh.nonce_input);
        expect(toHex(encodeShare(createShare({ index: sh.index, secret }, vc, () => nonce)))).toBe(sh.share);
        expect(toHex(ref.share(pk.groupKey, label, fromHex(c.capsule), sh.index, secret, nonce))).toBe(
          sh.share,
        );
        return verifyShare(pk, vc, decodeShare(fromHex(sh.share)));
      });
      expect(c.combinations.length).toBeGreaterThan(0);
      for (const comb of c.combinations) {
        const chosen = comb.indices.map((i) => verified[i - 1]!);
        expect(toHex(combineShares(vc, chosen, pk))).toBe(comb.key);
        expect(comb.key).toBe(c.key);
      }
    },
  );

  it.each(V.negative.map((n) => [`${n.sharing}: ${n.name}`, n] as const))('negative %s', (_, n) => {
    const pk = publicKeyOf(n.sharing);
    const label = fromHex(n.label);
    const capsuleLabel = fromHex(V.capsules.find((c) => c.sharing === n.sharing)!.label);
    let error: unknown;
    try {
      switch (n.kind) {
        case 'capsule':
          verifyCapsule(pk.groupKey, decodeCapsule(fromHex(n.capsule)), label);
          break;
        case 'opening':
          verifyCapsuleOpening(pk.groupKey, fromHex(n.capsule), fromHex(n.key!), label, fromHex(n.seed!));
          break;
        case 'share': {
          const vc = verifyCapsule(pk.groupKey, decodeCapsule(fromHex(n.capsule)), capsuleLabel);
          verifyShare(n.key_set ? publicKeyOf(n.key_set) : pk, vc, decodeShare(fromHex(n.share!)));
          break;
        }
        case 'combine': {
          const vc = verifyCapsule(pk.groupKey, decodeCapsule(fromHex(n.capsule)), capsuleLabel);
          const shares = n.shares!.map((h) => verifyShare(pk, vc, decodeShare(fromHex(h))));
          combineShares(vc, shares, pk);
          break;
        }
      }
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OvertError);
    expect((error as OvertError).code).toBe(n.code);
    expect((error as OvertError).check).toBe(n.check);
  });
});
