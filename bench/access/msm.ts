/**
 * bench/access baseline: would a real multi-scalar multiplication make batch verification pay (capsule.md §8)?
 * One batch of 1024 share proofs (one trustee's shares of 1024 capsules, the release batch) and one of 1024
 * capsules, each checked three ways on one core:
 *
 *   - core's batch path as it is (verifySharesBatch / verifyCapsulesBatch, strategy 'auto' — the cost model of
 *     linear.ts — and 'individual': every equation alone with libsodium single multiplications);
 *   - the random-linear-combination check of the same equations (linear.ts holdsCombined's merge: 128-bit ρ_j,
 *     terms on equal points merged) evaluated with @noble/curves 2.0.1's `pippenger` over ristretto255 points: the
 *     equations (challenge hashes) built by core's own shareEquations / capsuleEquations, every distinct point
 *     decoded with RistrettoPoint.fromBytes, one MSM, compared with the identity.
 *
 * All three return "every item holds" for honest input; the MSM figure includes everything the combined check
 * needs (building the equations, merging, decoding, the MSM), so it is comparable with the batch calls' times.
 * No field arithmetic here: scalars and points are @noble/curves' and libsodium's.
 */
import { pippenger } from '@noble/curves/abstract/curve.js';
import { ristretto255 } from '@noble/curves/ed25519.js';
import { capsuleEquations } from '../../packages/core/src/capsule/capsule.js';
import type { Equation } from '../../packages/core/src/capsule/linear.js';
import { createShare, shareEquations } from '../../packages/core/src/capsule/share.js';
import {
  type DecryptionShare,
  type Element,
  type KeyShare,
  randomBytes,
  type ThresholdPublicKey,
  toHex,
  type VerifiedCapsule,
  verifyCapsulesBatch,
  verifySharesBatch,
} from '../../packages/core/src/index.js';
import { now as cpuNow } from '../core/harness.js';

const RP = ristretto255.Point;
const Fn = RP.Fn;

/** Σ_j ρ_j·(Σ terms_j − rhs_j) with terms on equal points merged (as linear.ts holdsCombined), by one MSM. */
function holdsByMsm(eqs: readonly Equation[]): boolean {
  const rho = randomBytes(16 * eqs.length);
  const merged = new Map<string, { point: Uint8Array; scalar: bigint }>();
  const add = (point: Uint8Array, scalar: bigint) => {
    const key = toHex(point);
    const m = merged.get(key);
    if (m) m.scalar = Fn.add(m.scalar, scalar);
    else merged.set(key, { point, scalar });
  };
  eqs.forEach((eq, j) => {
    let r = 0n;
    for (let i = 15; i >= 0; i--) r = (r << 8n) | BigInt(rho[16 * j + i]!);
    for (const t of eq.terms) add(t.point, Fn.mul(r, Fn.fromBytes(t.scalar)));
    add(eq.rhs, Fn.neg(r));
  });
  const all = [...merged.values()];
  const sum = pippenger(
    RP,
    all.map((m) => RP.fromBytes(m.point)),
    all.map((m) => m.scalar),
  );
  return sum.equals(RP.ZERO);
}

export interface MsmItems {
  readonly publicKey: ThresholdPublicKey;
  readonly keyShare: KeyShare;
  /** 1024 verified capsules with their labels (distinct envelopes). */
  readonly capsules: readonly VerifiedCapsule[];
}

export interface MsmResult {
  readonly batch: number;
  readonly ms_per_batch: Record<string, number>;
  readonly per_item_us: Record<string, number>;
  readonly msm_over_auto: number;
  readonly outcome_equal: boolean;
  readonly distinct_points: number;
  readonly note: string;
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

function time(samples: number, f: () => boolean): { ms: number; ok: boolean } {
  let ok = true;
  f(); // warm
  const ms: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t = cpuNow();
    ok = f() && ok;
    ms.push(cpuNow() - t);
  }
  return { ms: median(ms), ok };
}

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

/** Shares and capsules, each batch timed `samples` times (median, this process's CPU clock). */
export function measureMsm(items: MsmItems, samples: number): { shares: MsmResult; capsules: MsmResult } {
  const capsules = items.capsules;
  const n = capsules.length;
  const shares: DecryptionShare[] = capsules.map((c) => createShare(items.keyShare, c));
  const y = items.publicKey.verificationKeys[items.keyShare.index - 1]! as Element;
  const shareItems = capsules.map((capsule, j) => ({
    capsule,
    publicKey: items.publicKey,
    share: shares[j]!,
  }));
  const capsuleItems = capsules.map((c) => ({ epochKey: c.epochKey, capsule: c, label: c.label }));
  const shareEqs = () => capsules.flatMap((c, j) => shareEquations(y, c, shares[j]!, j));
  const capsuleEqs = () => capsules.flatMap((c, j) => capsuleEquations(c.epochKey, c.label, c, j));

  const one = (
    batchAuto: () => boolean,
    batchIndividual: () => boolean,
    batchCombined: () => boolean,
    eqs: () => Equation[],
  ): MsmResult => {
    const auto = time(samples, batchAuto);
    const individual = time(samples, batchIndividual);
    const combined = time(samples, batchCombined);
    const msm = time(samples, () => holdsByMsm(eqs()));
    const distinct = new Set(eqs().flatMap((e) => [...e.terms.map((t) => toHex(t.point)), toHex(e.rhs)]))
      .size;
    const ms = {
      core_auto_libsodium: round(auto.ms),
      core_individual_libsodium: round(individual.ms),
      core_combined_libsodium: round(combined.ms),
      noble_pippenger_msm: round(msm.ms),
    };
    return {
      batch: n,
      ms_per_batch: ms,
      per_item_us: Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, round((v * 1000) / n)])),
      msm_over_auto: round(msm.ms / auto.ms, 2),
      outcome_equal: auto.ok && individual.ok && combined.ok && msm.ok,
      distinct_points: distinct,
      note: 'one core, CPU clock, median of the samples; the MSM figure includes building the equations (challenge hashes), merging, decoding every distinct point and the MSM',
    };
  };
  return {
    shares: one(
      () => verifySharesBatch(shareItems, { strategy: 'auto' }).failures.length === 0,
      () => verifySharesBatch(shareItems, { strategy: 'individual' }).failures.length === 0,
      () => verifySharesBatch(shareItems, { strategy: 'combined' }).failures.length === 0,
      shareEqs,
    ),
    capsules: one(
      () => verifyCapsulesBatch(capsuleItems, { strategy: 'auto' }).failures.length === 0,
      () => verifyCapsulesBatch(capsuleItems, { strategy: 'individual' }).failures.length === 0,
      () => verifyCapsulesBatch(capsuleItems, { strategy: 'combined' }).failures.length === 0,
      capsuleEqs,
    ),
  };
}
