/**
 * Checking linear equations Σ s_k·P_k = R in ristretto255, one at a time or many at once (docs/spec/capsule.md
 * §8). Both TDH2 proofs reduce to two such equations each, written once in capsule.ts and
 * share.ts and checked here, so single and batch verification cannot drift apart.
 *
 * A batch multiplies the equations by independent random 128-bit coefficients ρ_j and adds them up (Bellare,
 * Garay & Rabin 1998, the small-exponent test): terms on the same point merge into one scalar, so a point
 * shared by many equations — G, a trustee's verification key Y_i, a capsule's u — costs one multiplication for
 * the whole batch. A false equation survives with probability at most 2^-128. When the combined check fails,
 * each of its equations is checked alone, which names the bad items (guarantee A9).
 *
 * The combination pays for merging with a multiplication by ρ_j of every point that occurs once (the proofs'
 * commitments), and libsodium offers only single multiplications, no multi-scalar multiplication. So it wins
 * only where equations share enough points; {@link plan} puts an equation into the combination only when its
 * share of the combined cost is below the cost of checking it alone, by the relative costs in {@link COST}.
 */
import { concatBytes, equalBytes, type RandomSource, toHex } from '../bytes.js';
import { type Element, group, isIdentity, type Scalar } from '../group.js';

/**
 * Relative costs of libsodium 0.8.4 operations through libsodium-wrappers, one base-point multiplication = 1.
 * bench/core/capsule.ts prints the ratios of its own run (2.6–3.2 for a variable-point multiplication and
 * 0.5–0.6 for an addition, which decodes two points and encodes one).
 */
export const COST = { base: 1, variable: 3, add: 0.55 } as const;

/** One term s·P. */
export interface Term {
  readonly scalar: Scalar;
  readonly point: Element;
}

/** Σ terms = rhs, contributed by input item `item`. */
export interface Equation {
  readonly item: number;
  readonly terms: readonly Term[];
  readonly rhs: Element;
}

export type BatchStrategy = 'auto' | 'combined' | 'individual';

// Map keys for points, by object: equations share point objects (G, a trustee's Y_i, a capsule's u), so each
// distinct object is hex-encoded once instead of once per use.
const keys = new WeakMap<Uint8Array, string>();
function keyOf(point: Element): string {
  let k = keys.get(point);
  if (k === undefined) {
    k = toHex(point);
    keys.set(point, k);
  }
  return k;
}

function product(t: Term): Element {
  // G has libsodium's precomputed table: a base-point multiplication costs about a third of a variable one.
  return equalBytes(t.point, group.generator) ? group.baseMul(t.scalar) : group.mul(t.scalar, t.point);
}

function sum(points: readonly Element[]): Element {
  let acc = points[0]!;
  for (let i = 1; i < points.length; i++) acc = group.add(acc, points[i]!);
  return acc;
}

export function holdsAlone(eq: Equation): boolean {
  return equalBytes(sum(eq.terms.map(product)), eq.rhs);
}

/** Every equation alone, all evaluated before answering (the data is public; this keeps timing uniform anyway). */
export function allHold(eqs: readonly Equation[]): boolean {
  let ok = true;
  for (const eq of eqs) ok = holdsAlone(eq) && ok;
  return ok;
}

/** 128-bit coefficients, zero-extended to scalars (< 2^128 < ℓ). */
function coefficients(n: number, rng: RandomSource): Scalar[] {
  const raw = rng(16 * n);
  const out: Scalar[] = [];
  for (let j = 0; j < n; j++)
    out.push(concatBytes(raw.subarray(16 * j, 16 * j + 16), new Uint8Array(16)) as Scalar);
  return out;
}

/** Σ_j ρ_j·(Σ terms_j − rhs_j) = 0, with the terms on equal points merged. */
export function holdsCombined(eqs: readonly Equation[], rng: RandomSource): boolean {
  const rho = coefficients(eqs.length, rng);
  const merged = new Map<string, { point: Element; scalar: Scalar }>();
  const add = (point: Element, scalar: Scalar) => {
    const key = keyOf(point);
    const m = merged.get(key);
    if (m) m.scalar = group.scalarAdd(m.scalar, scalar);
    else merged.set(key, { point, scalar });
  };
  eqs.forEach((eq, j) => {
    for (const t of eq.terms) add(t.point, group.scalarMul(rho[j]!, t.scalar));
    add(eq.rhs, group.scalarNeg(rho[j]!));
  });
  return isIdentity(sum([...merged.values()].map(product)));
}

/**
 * Which equations join the combination. Alone, an equation costs its multiplications and the additions between
 * them. In the combination each term costs a multiplication and an addition shared by every equation with the
 * same point, and the right-hand side (a commitment, almost always unique) costs one of each by itself.
 */
export function plan(eqs: readonly Equation[], strategy: BatchStrategy): boolean[] {
  if (strategy !== 'auto') return eqs.map(() => strategy === 'combined');
  const uses = new Map<string, number>();
  for (const eq of eqs)
    for (const t of eq.terms) {
      const k = keyOf(t.point);
      uses.set(k, (uses.get(k) ?? 0) + 1);
    }
  return eqs.map((eq) => {
    let alone = COST.add * (eq.terms.length - 1);
    let combined = COST.variable + COST.add;
    for (const t of eq.terms) {
      const mul = equalBytes(t.point, group.generator) ? COST.base : COST.variable;
      alone += mul;
      combined += (mul + COST.add) / uses.get(keyOf(t.point))!;
    }
    return combined < alone;
  });
}

/** The items with at least one false equation: planned equations combined, the rest alone, then the fallback. */
export function failingItems(
  eqs: readonly Equation[],
  strategy: BatchStrategy,
  rng: RandomSource,
): Set<number> {
  const inBatch = plan(eqs, strategy);
  const failed = new Set<number>();
  const combined: Equation[] = [];
  eqs.forEach((eq, j) => {
    if (inBatch[j]) combined.push(eq);
    else if (!failed.has(eq.item) && !holdsAlone(eq)) failed.add(eq.item);
  });
  if (combined.length > 0 && !holdsCombined(combined, rng)) {
    for (const eq of combined) if (!failed.has(eq.item) && !holdsAlone(eq)) failed.add(eq.item);
  }
  return failed;
}
