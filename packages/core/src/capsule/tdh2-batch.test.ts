// Batch verification of TDH2 capsules and decryption shares (docs/spec/capsule.md §8):
// same outcome as one-by-one verification, the bad items named (A9), and the random linear combination sound
// against errors that a fixed combination would let cancel out.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { equalBytes, randomBytes } from '../bytes.js';
import { type Element, group, randomScalar, type Scalar, scalarFromInt } from '../group.js';
import { evaluatePolynomial, type KeyShare, type ThresholdPublicKey } from '../threshold.js';
import {
  type BatchStrategy,
  type CapsuleBatchItem,
  createShare,
  decodeCapsule,
  decodeShare,
  encodeCapsule,
  encodeShare,
  type ShareBatchItem,
  sealCapsule,
  type VerifiedCapsule,
  verifyCapsule,
  verifyCapsulesBatch,
  verifyShare,
  verifySharesBatch,
} from './index.js';
import { type Equation, failingItems, holdsAlone, holdsCombined, plan } from './linear.js';
import { shareEquations } from './share.js';

const coeffs: Scalar[] = [randomScalar(), randomScalar(), randomScalar()];
const epochKey = group.baseMul(coeffs[0]!);
const keyShares: KeyShare[] = [1, 2, 3, 4, 5].map((i) => ({
  index: i,
  secret: evaluatePolynomial(coeffs, i),
}));
const vks: Element[] = keyShares.map((s) => group.baseMul(s.secret));
const publicKey: ThresholdPublicKey = { threshold: 3, groupKey: epochKey, verificationKeys: vks };
/** A key set of another epoch, with the same shape. */
const otherEpoch: ThresholdPublicKey = (() => {
  const c = [randomScalar(), randomScalar(), randomScalar()];
  const keys = [1, 2, 3, 4, 5].map((i) => group.baseMul(evaluatePolynomial(c, i)));
  return { threshold: 3, groupKey: group.baseMul(c[0]!), verificationKeys: keys };
})();

function sealOne(): { label: Uint8Array; bytes: Uint8Array; verified: VerifiedCapsule } {
  const label = randomBytes(32);
  const bytes = sealCapsule(epochKey, randomBytes(32), label, randomBytes(32));
  return { label, bytes, verified: verifyCapsule(epochKey, decodeCapsule(bytes), label) };
}

const capsules = Array.from({ length: 12 }, sealOne);
/** One trustee's shares over many capsules, then k trustees' shares of one capsule. */
const oneTrustee: ShareBatchItem[] = capsules.map((c) => ({
  capsule: c.verified,
  publicKey,
  share: createShare(keyShares[0]!, c.verified),
}));
const oneCapsule: ShareBatchItem[] = keyShares.map((k) => ({
  capsule: capsules[0]!.verified,
  publicKey,
  share: createShare(k, capsules[0]!.verified),
}));
const strategies: BatchStrategy[] = ['auto', 'combined', 'individual'];

function flipShare(item: ShareBatchItem, byte: number): ShareBatchItem {
  const b = encodeShare(item.share);
  b[byte]! ^= 1;
  return { ...item, share: decodeShare(b) };
}

/** A trustee answering u_i + G instead of x_i·u with its otherwise honest proof. */
function badValue(item: ShareBatchItem): ShareBatchItem {
  return { ...item, share: { ...item.share, value: group.add(item.share.value, group.generator) } };
}

describe('verifySharesBatch', () => {
  it.each(strategies)('accepts all-valid batches with strategy %s', (strategy) => {
    for (const items of [oneTrustee, oneCapsule, [...oneTrustee, ...oneCapsule]]) {
      const r = verifySharesBatch(items, { strategy });
      expect(r.failures).toEqual([]);
      expect(
        r.verified.every(
          (v, j) => v !== undefined && equalBytes(encodeShare(v), encodeShare(items[j]!.share)),
        ),
      ).toBe(true);
    }
  });

  it.each(strategies)('names exactly the bad shares and their trustees with strategy %s (A9)', (strategy) => {
    const items = [...oneTrustee];
    items[3] = badValue(items[3]!);
    items[7] = flipShare(items[7]!, 160); // z
    items[9] = { ...items[9]!, share: { ...items[9]!.share, index: 2 } }; // checked against another trustee's key
    items[10] = { ...items[10]!, capsule: capsules[0]!.verified }; // made for another capsule
    items[11] = { ...items[11]!, publicKey: otherEpoch }; // checked against another epoch's key set
    const r = verifySharesBatch(items, { strategy });
    expect(r.failures.map((f) => [f.position, f.error.code, f.error.check])).toEqual([
      [3, 'SHARE_INVALID', 'SHR-5'],
      [7, 'SHARE_INVALID', 'SHR-5'],
      [9, 'SHARE_INVALID', 'SHR-5'],
      [10, 'SHARE_WRONG_CAPSULE', 'SHR-4'],
      [11, 'SHARE_WRONG_KEY_SET', 'SHR-10'],
    ]);
    expect(r.verified.map((v) => v === undefined)).toEqual(
      items.map((_, j) => [3, 7, 9, 10, 11].includes(j)),
    );
    // Every failure is exactly what verifyShare says about that item alone.
    for (const f of r.failures) {
      const it = items[f.position]!;
      expect(() => verifyShare(it.publicKey, it.capsule, it.share)).toThrow(f.error.code);
    }
  });

  it.each(strategies)(
    'names the cheating trustee among k shares of one capsule with strategy %s',
    (strategy) => {
      const items = [...oneCapsule];
      items[2] = badValue(items[2]!);
      const r = verifySharesBatch(items, { strategy });
      expect(r.failures.map((f) => [f.position, items[f.position]!.share.index])).toEqual([[2, 3]]);
    },
  );

  it('reports index and key errors per item without throwing', () => {
    const items = [...oneCapsule];
    items[1] = { ...items[1]!, publicKey: otherEpoch };
    items[3] = { ...items[3]!, share: { ...items[3]!.share, index: 6 } };
    items[4] = { ...items[4]!, share: { ...items[4]!.share, index: 0 } };
    const r = verifySharesBatch(items);
    expect(r.failures.map((f) => [f.position, f.error.code])).toEqual([
      [1, 'SHARE_WRONG_KEY_SET'],
      [3, 'SHARE_INDEX'],
      [4, 'SHARE_INDEX'],
    ]);
    // The verified shares carry the Y_i they were checked against, which combination requires.
    expect(r.verified[0]!.verificationKey).toEqual(vks[0]);
  });

  it('handles the empty batch', () => {
    expect(verifySharesBatch([])).toEqual({ verified: [], failures: [] });
  });

  it('agrees with one-by-one verification on random corruptions (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(oneTrustee.length - 1), fc.nat(160)), { maxLength: 3 }),
        fc.constantFrom<BatchStrategy>(...strategies),
        (flips, strategy) => {
          const items = [...oneTrustee];
          for (const [j, byte] of flips) {
            const b = encodeShare(items[j]!.share);
            b[byte]! ^= 0x40;
            try {
              items[j] = { ...items[j]!, share: decodeShare(b) };
            } catch {
              // An undecodable share never reaches verification; keep the item as it was.
            }
          }
          const r = verifySharesBatch(items, { strategy });
          const expected = items.flatMap((it, j) => {
            try {
              verifyShare(it.publicKey, it.capsule, it.share);
              return [];
            } catch (e) {
              return [[j, (e as { code: string }).code]];
            }
          });
          expect(r.failures.map((f) => [f.position, f.error.code])).toEqual(expected);
        },
      ),
      { numRuns: 12 },
    );
  });
});

describe('verifyCapsulesBatch', () => {
  const items: CapsuleBatchItem[] = capsules.map((c) => ({
    epochKey,
    capsule: decodeCapsule(c.bytes),
    label: c.label,
  }));

  it.each(strategies)('accepts valid capsules and names the bad ones with strategy %s', (strategy) => {
    const ok = verifyCapsulesBatch(items, { strategy });
    expect(ok.failures).toEqual([]);
    expect(ok.verified.every((v, j) => equalBytes(v!.id, capsules[j]!.verified.id))).toBe(true);
    const bad = [...items];
    bad[1] = { ...bad[1]!, label: randomBytes(32) }; // re-labelled (A4)
    const flipped = encodeCapsule(bad[5]!.capsule);
    flipped[0]! ^= 1;
    bad[5] = { ...bad[5]!, capsule: decodeCapsule(flipped) };
    bad[8] = { ...bad[8]!, epochKey: vks[0]! };
    bad[11] = { ...bad[11]!, label: new Uint8Array(31) };
    const r = verifyCapsulesBatch(bad, { strategy });
    expect(r.failures.map((f) => [f.position, f.error.check])).toEqual([
      [1, 'CAP-6'],
      [5, 'CAP-6'],
      [8, 'CAP-6'],
      [11, 'CAP-5'],
    ]);
    expect(r.failures.every((f) => f.error.code === 'CAPSULE_INVALID')).toBe(true);
  });
});

describe('linear combination (Bellare–Garay–Rabin small-exponent test)', () => {
  const G = group.generator;
  const D = group.baseMul(randomScalar());
  const one = scalarFromInt(1);
  // Two false equations whose errors cancel when simply added: G = G + D and G = G − D.
  const cancelling: Equation[] = [
    { item: 0, terms: [{ scalar: one, point: G }], rhs: group.add(G, D) },
    { item: 1, terms: [{ scalar: one, point: G }], rhs: group.sub(G, D) },
  ];

  it('random coefficients catch errors that a fixed combination would cancel', () => {
    const ones = (n: number) => {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i += 16) out[i] = 1;
      return out;
    };
    // With every coefficient 1 the sum is G + G = (G + D) + (G − D): the combination is fooled.
    expect(holdsCombined(cancelling, ones)).toBe(true);
    expect(holdsCombined(cancelling, randomBytes)).toBe(false);
    expect(cancelling.map(holdsAlone)).toEqual([false, false]);
    expect([...failingItems(cancelling, 'combined', randomBytes)].sort()).toEqual([0, 1]);
  });

  it('the planner combines only where points are shared enough to pay for it', () => {
    const eqs = oneTrustee.flatMap((it, j) =>
      shareEquations(vks[it.share.index - 1]!, it.capsule, it.share, j),
    );
    const planned = plan(eqs, 'auto');
    // G-side equations (even positions) share G and Y_1: combined; u-side equations have unique points: alone.
    expect(planned.filter((_, i) => i % 2 === 0).every(Boolean)).toBe(true);
    expect(planned.filter((_, i) => i % 2 === 1).some(Boolean)).toBe(false);
    // k = 5 shares of one capsule: every Y_i occurs once, nothing pays for its coefficient multiplication.
    expect(
      plan(
        oneCapsule.flatMap((it, j) => shareEquations(vks[it.share.index - 1]!, it.capsule, it.share, j)),
        'auto',
      ).some(Boolean),
    ).toBe(false);
  });
});
