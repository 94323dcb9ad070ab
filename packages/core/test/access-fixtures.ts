/**
 * Fixtures for the sealed payloads of the access workflow (docs/spec/access.md §2–§3), on top of
 * workflow-fixtures.ts and entries-fixtures.ts: HPKE key pairs for the three trustees and the requester, a 2-of-3
 * sharing of an epoch key, one capsule per label of the fixture execution, and each trustee's decryption shares.
 * Every value is derived from fixed strings, so the vectors built from them are byte-identical on every run.
 */
import { compareBytes, utf8Encode } from '../src/bytes.js';
import { decodeCapsule, sealCapsule, type VerifiedCapsule, verifyCapsule } from '../src/capsule/capsule.js';
import { createShare } from '../src/capsule/share.js';
import { type DkgEncryptionKeyPair, deriveDkgEncryptionKey } from '../src/dkg/hpke.js';
import { group, hashToScalar } from '../src/group.js';
import { taggedHash } from '../src/hash.js';
import { evaluatePolynomial, type KeyShare, type ThresholdPublicKey } from '../src/threshold.js';
import type { BundleShare, ShareBundle } from '../src/workflow/access-seal.js';
import { execLabels, verifiedExecution } from './entries-fixtures.js';
import { seededRng } from './envelope-fixtures.js';

const TAG = 'overt/test/access';

function derive(...parts: string[]): Uint8Array {
  return taggedHash(TAG, ...parts.map(utf8Encode));
}

export async function hpkeKeys(): Promise<{
  trustees: DkgEncryptionKeyPair[];
  requester: DkgEncryptionKeyPair;
  /** The relay's unseal key (after-release.md §1): the part at index 0 (RELAY_PART_INDEX) is sealed to it. */
  relay: DkgEncryptionKeyPair;
}> {
  return {
    trustees: await Promise.all([1, 2, 3].map((i) => deriveDkgEncryptionKey(derive('trustee hpke', `${i}`)))),
    requester: await deriveDkgEncryptionKey(derive('requester hpke')),
    relay: await deriveDkgEncryptionKey(derive('relay unseal hpke')),
  };
}

const coefficients = [0, 1].map((j) => hashToScalar(TAG, utf8Encode('coefficient'), Uint8Array.of(j)));
export const keyShares: KeyShare[] = [1, 2, 3].map((index) => ({
  index,
  secret: evaluatePolynomial(coefficients, index),
}));
export const keySet: ThresholdPublicKey = {
  threshold: 2,
  groupKey: group.baseMul(coefficients[0]!),
  verificationKeys: keyShares.map((s) => group.baseMul(s.secret)),
};

/** The execution's labels in position order (sorted by bytes, workflow.md §9.2). */
export const positions: Uint8Array[] = [...execLabels].sort(compareBytes);
/** K for each position. */
export const contentKeys: Uint8Array[] = positions.map((_, p) => derive('content key', `${p}`));
export const capsules: VerifiedCapsule[] = positions.map((label, p) =>
  verifyCapsule(
    keySet.groupKey,
    decodeCapsule(sealCapsule(keySet.groupKey, contentKeys[p]!, label, derive('seed', `${p}`))),
    label,
  ),
);

/** Trustee `trustee`'s bundle for batch 0, with the shares of `only` positions (default all). */
export function bundleOf(trustee: number, only?: readonly number[]): ShareBundle {
  const rng = seededRng(`${TAG}/shares/${trustee}`);
  const shares: BundleShare[] = (only ?? positions.map((_, p) => p)).map((p) => ({
    position: p,
    label: positions[p]!,
    share: createShare(keyShares[trustee - 1]!, capsules[p]!, rng),
  }));
  return {
    requestId: verifiedExecution.execution.requestId,
    executionHash: verifiedExecution.hash,
    trusteeIndex: trustee,
    batch: 0,
    shares,
  };
}
