/**
 * Batch verification of capsules and decryption shares (docs/spec/capsule.md §8): the same
 * outcome as verifying each item alone, up to a 2^-128 error per batch, with the equations that share points
 * combined by random linear combination (linear.ts). A failed batch falls back to checking its equations one by
 * one, so every bad item is named with the error single verification would give (guarantee A9).
 */
import { type RandomSource, randomBytes } from '../bytes.js';
import { isOvertError, OvertError } from '../errors.js';
import type { Element } from '../group.js';
import type { ThresholdPublicKey } from '../threshold.js';
import {
  brandVerified,
  type Capsule,
  capsuleEquations,
  checkEpochKey,
  checkLength,
  type VerifiedCapsule,
} from './capsule.js';
import { type BatchStrategy, type Equation, failingItems } from './linear.js';
import { LABEL_BYTES } from './params.js';
import {
  brandShare,
  checkKeySet,
  checkShareCapsule,
  checkVerificationKey,
  type DecryptionShare,
  memberKey,
  shareEquations,
  type VerifiedShare,
} from './share.js';

export type { BatchStrategy } from './linear.js';

export interface BatchOptions {
  /** Source of the batch coefficients; they must be unpredictable to whoever made the items. */
  rng?: RandomSource;
  /** 'auto' (default) follows the cost model; 'combined' and 'individual' force one way (benchmarks, tests). */
  strategy?: BatchStrategy;
}

export interface BatchFailure {
  /** Position of the failed item in the input. */
  readonly position: number;
  /** The error that verifying this item alone raises. */
  readonly error: OvertError;
}

export interface BatchResult<T> {
  /** One entry per input item, in input order: its verified form, or undefined when it failed. */
  readonly verified: readonly (T | undefined)[];
  /** The failed items in input order; empty when every item verified. */
  readonly failures: readonly BatchFailure[];
}

function run<I, T>(
  items: readonly I[],
  options: BatchOptions,
  precheck: (item: I) => void,
  equations: (item: I, position: number) => Equation[],
  proofError: () => OvertError,
  brand: (item: I) => T,
): BatchResult<T> {
  const failures = new Map<number, OvertError>();
  const eqs: Equation[] = [];
  items.forEach((item, j) => {
    try {
      precheck(item);
    } catch (e) {
      if (!isOvertError(e)) throw e;
      failures.set(j, e);
      return;
    }
    eqs.push(...equations(item, j));
  });
  for (const j of failingItems(eqs, options.strategy ?? 'auto', options.rng ?? randomBytes))
    failures.set(j, proofError());
  return {
    verified: items.map((item, j) => (failures.has(j) ? undefined : brand(item))),
    failures: [...failures.entries()]
      .sort(([x], [y]) => x - y)
      .map(([position, error]) => ({ position, error })),
  };
}

export interface ShareBatchItem {
  readonly capsule: VerifiedCapsule;
  /** The key set of the capsule's epoch key (SHR-10); the share's Y_i is looked up in it. */
  readonly publicKey: ThresholdPublicKey;
  readonly share: DecryptionShare;
}

/**
 * Verifies many decryption shares — k trustees' shares of one capsule, one trustee's shares of many capsules,
 * or any mix — with the outcome of {@link verifyShare} on each. Failed items carry the error verifyShare raises
 * (SHARE_WRONG_KEY_SET, SHARE_INDEX, SHARE_INVALID, SHARE_WRONG_CAPSULE), so the trustee behind each bad share is
 * known. Does not throw on bad items.
 */
export function verifySharesBatch(
  items: readonly ShareBatchItem[],
  options: BatchOptions = {},
): BatchResult<VerifiedShare> {
  return run(
    items,
    options,
    ({ capsule, publicKey, share }) => {
      checkKeySet(publicKey, capsule);
      checkVerificationKey(memberKey(publicKey, share.index));
      checkShareCapsule(capsule, share);
    },
    ({ capsule, publicKey, share }, j) =>
      shareEquations(memberKey(publicKey, share.index), capsule, share, j),
    () => new OvertError('SHARE_INVALID', 'decryption share proof does not hold', { check: 'SHR-5' }),
    ({ publicKey, share }) => brandShare(share, memberKey(publicKey, share.index)),
  );
}

export interface CapsuleBatchItem {
  readonly epochKey: Element;
  readonly capsule: Capsule;
  readonly label: Uint8Array;
}

/**
 * Verifies many capsules with the outcome of {@link verifyCapsule} on each; failed items carry the error
 * verifyCapsule raises (CAPSULE_INVALID). Does not throw on bad items.
 */
export function verifyCapsulesBatch(
  items: readonly CapsuleBatchItem[],
  options: BatchOptions = {},
): BatchResult<VerifiedCapsule> {
  return run(
    items,
    options,
    ({ epochKey, label }) => {
      checkEpochKey(epochKey);
      checkLength(label, LABEL_BYTES, 'label', 'CAP-5');
    },
    ({ epochKey, capsule, label }, j) => capsuleEquations(epochKey, label, capsule, j),
    () => new OvertError('CAPSULE_INVALID', 'validity proof does not hold', { check: 'CAP-6' }),
    ({ epochKey, capsule, label }) => brandVerified(epochKey, capsule, label),
  );
}
