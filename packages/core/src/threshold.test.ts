// threshold.ts: Shamir sharing over the scalar field of ristretto255 — polynomial evaluation, Feldman
// commitments and Lagrange interpolation at zero, checked against plain bigint arithmetic mod ℓ.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex } from './bytes.js';
import {
  type Element,
  group,
  ORDER,
  randomScalar,
  type Scalar,
  scalarFromBigint,
  scalarToBigint,
} from './group.js';
import {
  checkIndex,
  checkThresholdParams,
  evaluateCommitment,
  evaluatePolynomial,
  isConsistentSharing,
  lagrangeAt,
  lagrangeAtZero,
  MAX_PARTICIPANTS,
  type ThresholdPublicKey,
} from './threshold.js';

const mod = (n: bigint) => ((n % ORDER) + ORDER) % ORDER;
const scalar = fc.bigInt({ min: 0n, max: ORDER - 1n }).map(scalarFromBigint);
const poly = fc.array(scalar, { minLength: 1, maxLength: 6 });
const codeOf = (code: string) => expect.objectContaining({ code });

function naive(coeffs: readonly Scalar[], x: number): bigint {
  return mod(coeffs.reduce((acc, c, k) => acc + scalarToBigint(c) * BigInt(x) ** BigInt(k), 0n));
}

/** Distinct indices in 1..255, at least one. */
const indexSet = fc.uniqueArray(fc.integer({ min: 1, max: MAX_PARTICIPANTS }), {
  minLength: 1,
  maxLength: 8,
});

describe('parameters', () => {
  it('checkThresholdParams accepts 1 ≤ k ≤ n ≤ 255 only', () => {
    for (const [k, n] of [
      [1, 1],
      [2, 3],
      [255, 255],
    ] as const)
      checkThresholdParams(k, n);
    for (const [k, n] of [
      [0, 1],
      [2, 1],
      [1, 256],
      [1.5, 3],
      [2, Number.NaN],
    ] as const)
      expect(() => checkThresholdParams(k, n)).toThrow(codeOf('DKG_PARAMS'));
  });

  it('checkIndex accepts 1..255 only', () => {
    checkIndex(1);
    checkIndex(255);
    for (const i of [0, 256, -1, 2.5, Number.NaN]) expect(() => checkIndex(i)).toThrow(codeOf('SHARE_INDEX'));
  });
});

describe('polynomials and commitments', () => {
  it('evaluatePolynomial matches Σ a_k·i^k mod ℓ', () => {
    fc.assert(
      fc.property(poly, fc.integer({ min: 1, max: 255 }), (coeffs, i) => {
        expect(scalarToBigint(evaluatePolynomial(coeffs, i))).toBe(naive(coeffs, i));
      }),
    );
  });

  it('evaluateCommitment(a·G, i) = f(i)·G (Feldman)', () => {
    fc.assert(
      fc.property(poly, fc.integer({ min: 1, max: 255 }), (coeffs, i) => {
        const commitments: Element[] = coeffs.map((c) => group.baseMul(c));
        expect(toHex(evaluateCommitment(commitments, i))).toBe(
          toHex(group.baseMul(evaluatePolynomial(coeffs, i))),
        );
      }),
      { numRuns: 30 },
    );
  });

  it('never evaluates a share at index 0 (that is the secret) and refuses empty polynomials', () => {
    const coeffs = [randomScalar(), randomScalar()];
    expect(() => evaluatePolynomial(coeffs, 0)).toThrow(codeOf('SHARE_INDEX'));
    expect(() => evaluatePolynomial(coeffs, 256)).toThrow(codeOf('SHARE_INDEX'));
    expect(() => evaluatePolynomial([], 1)).toThrow(codeOf('DKG_PARAMS'));
    expect(() => evaluateCommitment([], 1)).toThrow(codeOf('DKG_PARAMS'));
  });
});

describe('Lagrange interpolation at zero', () => {
  it('Σ λ_i·f(i) = f(0) for any set of at least deg + 1 indices', () => {
    fc.assert(
      fc.property(poly, indexSet, (coeffs, indices) => {
        fc.pre(indices.length >= coeffs.length);
        let acc = 0n;
        for (const i of indices)
          acc += scalarToBigint(lagrangeAtZero(indices, i)) * scalarToBigint(evaluatePolynomial(coeffs, i));
        expect(mod(acc)).toBe(scalarToBigint(coeffs[0]!));
      }),
    );
  });

  it('matches Π j / (j − i) computed with bigints, and the weights sum to 1', () => {
    const inv = (a: bigint) => {
      let [r0, r1, s0, s1] = [mod(a), ORDER, 1n, 0n];
      while (r1 !== 0n) {
        const q = r0 / r1;
        [r0, r1, s0, s1] = [r1, r0 - q * r1, s1, s0 - q * s1];
      }
      return mod(s0);
    };
    fc.assert(
      fc.property(indexSet, (indices) => {
        let sum = 0n;
        for (const i of indices) {
          let expected = 1n;
          for (const j of indices) if (j !== i) expected = mod(expected * BigInt(j) * inv(BigInt(j - i)));
          const got = scalarToBigint(lagrangeAtZero(indices, i));
          expect(got).toBe(expected);
          sum += got;
        }
        expect(mod(sum)).toBe(1n);
      }),
    );
  });

  it('interpolates in the exponent: Σ λ_i·Y_i = Y', () => {
    const coeffs = [randomScalar(), randomScalar(), randomScalar()];
    const idx = [2, 5, 9];
    let acc = group.identity;
    for (const i of idx)
      acc = group.add(acc, group.mul(lagrangeAtZero(idx, i), group.baseMul(evaluatePolynomial(coeffs, i))));
    expect(toHex(acc)).toBe(toHex(group.baseMul(coeffs[0]!)));
  });

  it('rejects duplicates, an index outside the set and indices out of range', () => {
    expect(() => lagrangeAtZero([1, 2, 2], 1)).toThrow(codeOf('SHARE_DUPLICATE'));
    expect(() => lagrangeAtZero([1, 2], 3)).toThrow(codeOf('SHARE_INDEX'));
    expect(() => lagrangeAtZero([0, 1], 1)).toThrow(codeOf('SHARE_INDEX'));
    expect(() => lagrangeAtZero([1, 256], 1)).toThrow(codeOf('SHARE_INDEX'));
    expect(toHex(lagrangeAtZero([7], 7))).toBe(toHex(scalarFromBigint(1n)));
  });
});

describe('isConsistentSharing (one (k, n) sharing of Y; DKG-2, SHR-10)', () => {
  const sharingOf = (coeffs: readonly Scalar[], n: number): ThresholdPublicKey => ({
    threshold: coeffs.length,
    groupKey: group.baseMul(coeffs[0]!),
    verificationKeys: Array.from({ length: n }, (_, i) => group.baseMul(evaluatePolynomial(coeffs, i + 1))),
  });

  it('lagrangeAt(S, j, 0) is λ_j, and L_j(m) = [j = m] on the set itself', () => {
    const S = [1, 3, 4];
    for (const j of S) {
      expect(toHex(lagrangeAt(S, j, 0))).toBe(toHex(lagrangeAtZero(S, j)));
      for (const m of S) expect(scalarToBigint(lagrangeAt(S, j, m))).toBe(j === m ? 1n : 0n);
    }
  });

  it('accepts every real sharing and refuses any changed key, a smaller k or a wrong Y (property)', () => {
    fc.assert(
      fc.property(
        fc.array(scalar, { minLength: 1, maxLength: 4 }).filter((c) => scalarToBigint(c[0]!) !== 0n),
        fc.integer({ min: 0, max: 3 }),
        fc.nat(),
        (coeffs, extra, which) => {
          const k = coeffs.length;
          const pk = sharingOf(coeffs, k + extra);
          expect(isConsistentSharing(pk)).toBe(true);
          // Another key set with the same group key (a resharing) is consistent too, but is another key set.
          const keys = [...pk.verificationKeys];
          const i = which % keys.length;
          keys[i] = group.add(keys[i]!, group.generator);
          expect(isConsistentSharing({ ...pk, verificationKeys: keys })).toBe(false);
          expect(isConsistentSharing({ ...pk, groupKey: group.add(pk.groupKey, group.generator) })).toBe(
            false,
          );
          // A lower degree claim holds only if the polynomial really has that degree (top coefficient 0).
          if (k > 1 && scalarToBigint(coeffs[k - 1]!) !== 0n)
            expect(isConsistentSharing({ ...pk, threshold: k - 1 })).toBe(false);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('refuses malformed key sets instead of throwing', () => {
    const pk = sharingOf([randomScalar(), randomScalar()], 3);
    for (const threshold of [0, 4, 1.5, Number.NaN])
      expect(isConsistentSharing({ ...pk, threshold })).toBe(false);
    expect(isConsistentSharing({ ...pk, groupKey: group.identity })).toBe(false);
    const notAPoint = new Uint8Array(32).fill(0xff) as Element;
    expect(
      isConsistentSharing({ ...pk, verificationKeys: [notAPoint, ...pk.verificationKeys.slice(1)] }),
    ).toBe(false);
    expect(isConsistentSharing({ ...pk, verificationKeys: [] })).toBe(false);
  });
});
