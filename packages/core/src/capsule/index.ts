/**
 * Threshold access capsules: TDH2 (Shoup & Gennaro 1998) over ristretto255 — sealing a content key under an
 * epoch key with a label, the public validity check, decryption shares with Chaum–Pedersen proofs, their
 * combination, and batch verification. Specification: docs/spec/capsule.md.
 */

export {
  type BatchFailure,
  type BatchOptions,
  type BatchResult,
  type BatchStrategy,
  type CapsuleBatchItem,
  type ShareBatchItem,
  verifyCapsulesBatch,
  verifySharesBatch,
} from './batch.js';
export {
  type Capsule,
  decodeCapsule,
  encodeCapsule,
  sealCapsule,
  sealCapsuleRandom,
  type VerifiedCapsule,
  verifyCapsule,
  verifyCapsuleOpening,
} from './capsule.js';
export {
  CAPSULE_BYTES,
  GENERATOR_DST,
  GENERATOR_MSG,
  KEY_BYTES,
  LABEL_BYTES,
  SECOND_GENERATOR,
  SEED_BYTES,
  SHARE_BYTES,
} from './params.js';
export {
  combineShares,
  createShare,
  type DecryptionShare,
  decodeShare,
  encodeShare,
  type VerifiedShare,
  verifyShare,
} from './share.js';
