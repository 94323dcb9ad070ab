/**
 * Shamir secret sharing over the scalar field of ristretto255: the shapes shared by key generation (dkg/),
 * resharing and threshold decryption (capsule/), and Lagrange interpolation at zero.
 *
 * Participant indices are 1..n (index 0 would be the secret itself). A (k, n) sharing is a polynomial f of
 * degree k − 1 with f(0) = x; participant i holds x_i = f(i) and everybody may know Y_i = x_i·G.
 */
import { equalBytes } from './bytes.js';
import { OvertError } from './errors.js';
import { type Element, group, type Scalar, scalarFromInt } from './group.js';

/** The largest number of participants in one sharing (indices are u8 on the wire). */
export const MAX_PARTICIPANTS = 255;

/** One participant's secret share x_i = f(i). Secret: never log it, never send it unencrypted. */
export interface KeyShare {
  readonly index: number;
  readonly secret: Scalar;
}

/** The public side of a (k, n) sharing: Y = x·G and every Y_i = x_i·G (verificationKeys[i - 1]). */
export interface ThresholdPublicKey {
  readonly threshold: number;
  readonly groupKey: Element;
  readonly verificationKeys: readonly Element[];
}

/** Throws DKG_PARAMS unless 1 ≤ k ≤ n ≤ MAX_PARTICIPANTS. */
export function checkThresholdParams(threshold: number, participants: number): void {
  if (
    !Number.isInteger(threshold) ||
    !Number.isInteger(participants) ||
    threshold < 1 ||
    participants < threshold ||
    participants > MAX_PARTICIPANTS
  ) {
    throw new OvertError('DKG_PARAMS', `need integers 1 <= k <= n <= ${MAX_PARTICIPANTS}`);
  }
}

/** Throws SHARE_INDEX unless i is an integer in 1..MAX_PARTICIPANTS. */
export function checkIndex(i: number): void {
  if (!Number.isInteger(i) || i < 1 || i > MAX_PARTICIPANTS) {
    throw new OvertError('SHARE_INDEX', `participant index must be in 1..${MAX_PARTICIPANTS}`);
  }
}

/**
 * λ_i for interpolation at 0 over the distinct indices `indices` (which must contain i):
 * λ_i = Π_{j ≠ i} j / (j − i). Throws SHARE_DUPLICATE on repeated indices, SHARE_INDEX on a bad one.
 */
export function lagrangeAtZero(indices: readonly number[], i: number): Scalar {
  const seen = new Set<number>();
  for (const j of indices) {
    checkIndex(j);
    if (seen.has(j)) throw new OvertError('SHARE_DUPLICATE', 'duplicate participant index');
    seen.add(j);
  }
  if (!seen.has(i)) throw new OvertError('SHARE_INDEX', 'index is not among the interpolation set');
  let num = scalarFromInt(1);
  let den = scalarFromInt(1);
  const si = scalarFromInt(i);
  for (const j of indices) {
    if (j === i) continue;
    const sj = scalarFromInt(j);
    num = group.scalarMul(num, sj);
    den = group.scalarMul(den, group.scalarSub(sj, si));
  }
  return group.scalarMul(num, group.scalarInv(den));
}

/**
 * L_j(x) = Π_{m ∈ indices, m ≠ j} (x − m)/(j − m): the Lagrange basis polynomial of j over the distinct
 * `indices`, evaluated at x (at x = 0 it is {@link lagrangeAtZero}'s λ_j). The caller passes distinct indices.
 */
export function lagrangeAt(indices: readonly number[], j: number, x: number): Scalar {
  let num = scalarFromInt(1);
  let den = scalarFromInt(1);
  const sx = scalarFromInt(x);
  const sj = scalarFromInt(j);
  for (const m of indices) {
    if (m === j) continue;
    const sm = scalarFromInt(m);
    num = group.scalarMul(num, group.scalarSub(sx, sm));
    den = group.scalarMul(den, group.scalarSub(sj, sm));
  }
  return group.scalarMul(num, group.scalarInv(den));
}

function isElementOrIdentity(e: unknown): e is Element {
  if (!(e instanceof Uint8Array) || e.length !== 32) return false;
  return e.every((b) => b === 0) || group.isValidElement(e);
}

/**
 * Is `publicKey` one (k, n) sharing (foundations.md §7)? True when Y_1..Y_n lie on one polynomial of degree k − 1
 * "in the exponent" whose value at 0 is Y: with B = {1..k}, Y = Σ_{b∈B} L_b(0)·Y_b and Y_m = Σ_{b∈B} L_b(m)·Y_b
 * for every m = k+1..n. Then every k of the Y_i interpolate to Y, and any k shares that verify under their Y_i
 * combine to the one secret behind Y. False for anything malformed: k outside 1..n, more than
 * {@link MAX_PARTICIPANTS} keys, a key that is not a ristretto255 encoding (the identity is allowed for a Y_i, as
 * verified DKG transcripts allow it), Y not a non-identity element. Costs k·(n − k + 1) variable-point
 * multiplications.
 */
export function isConsistentSharing(publicKey: ThresholdPublicKey): boolean {
  const { threshold: k, groupKey, verificationKeys: keys } = publicKey;
  if (
    !Array.isArray(keys) ||
    !Number.isInteger(k) ||
    k < 1 ||
    k > keys.length ||
    keys.length > MAX_PARTICIPANTS
  )
    return false;
  if (!isElementOrIdentity(groupKey) || groupKey.every((b) => b === 0)) return false;
  if (!keys.every(isElementOrIdentity)) return false;
  const base = Array.from({ length: k }, (_, b) => b + 1);
  const interpolate = (x: number): Element => {
    let acc = group.identity;
    for (const b of base) acc = group.add(acc, group.mul(lagrangeAt(base, b, x), keys[b - 1]!));
    return acc;
  };
  if (!equalBytes(interpolate(0), groupKey)) return false;
  for (let m = k + 1; m <= keys.length; m++) if (!equalBytes(interpolate(m), keys[m - 1]!)) return false;
  return true;
}

/**
 * Evaluates the polynomial with the given coefficients (constant term first) at x = index, by Horner's rule.
 * Throws SHARE_INDEX unless index is in 1..MAX_PARTICIPANTS: f(0) is the shared secret itself, never a share.
 * Throws DKG_PARAMS for an empty polynomial.
 */
export function evaluatePolynomial(coefficients: readonly Scalar[], index: number): Scalar {
  checkIndex(index);
  checkNonEmpty(coefficients.length);
  const x = scalarFromInt(index);
  let acc = coefficients[coefficients.length - 1]!;
  for (let k = coefficients.length - 2; k >= 0; k--)
    acc = group.scalarAdd(group.scalarMul(acc, x), coefficients[k]!);
  return acc;
}

function checkNonEmpty(n: number): void {
  if (n === 0) throw new OvertError('DKG_PARAMS', 'a polynomial needs at least one coefficient');
}

/**
 * Σ_l index^l · C_l for commitments C_l = a_l·G (Feldman): the public image f(index)·G of a committed
 * polynomial, which checks a received share without learning it.
 */
export function evaluateCommitment(commitments: readonly Element[], index: number): Element {
  // Commitments arrive from other participants: an empty list must fail with our error, not a TypeError.
  checkNonEmpty(commitments.length);
  const x = scalarFromInt(index);
  let acc = commitments[commitments.length - 1]!;
  for (let k = commitments.length - 2; k >= 0; k--) acc = group.add(group.mul(x, acc), commitments[k]!);
  return acc;
}
