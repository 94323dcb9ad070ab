/**
 * Fixed parameters of TDH2 over ristretto255 (docs/spec/capsule.md §1): encoding sizes, every
 * domain-separation tag, and the second generator Ḡ. Changing any value here changes every capsule, share and
 * test vector, so each one is part of the wire format.
 */
import { utf8Encode } from '../bytes.js';
import { type Element, hashToElement } from '../group.js';

/** Length of the content key K, the label L and the sealing seed. */
export const KEY_BYTES = 32;
export const LABEL_BYTES = 32;
export const SEED_BYTES = 32;

/** c ‖ u ‖ ū ‖ w ‖ w̄ ‖ f (docs/spec/capsule.md §3). */
export const CAPSULE_BYTES = 6 * 32;
/** index ‖ capsule id ‖ u_i ‖ a ‖ b ‖ z (docs/spec/capsule.md §5). */
export const SHARE_BYTES = 1 + 5 * 32;

/** RFC 9380 §3.1 domain separation tag for hashing Ḡ to ristretto255 (suite ristretto255_XMD:SHA-512_R255MAP_RO_). */
export const GENERATOR_DST = 'OVERT-V01-TDH2-GENERATOR-with-ristretto255_XMD:SHA-512_R255MAP_RO_';
/** The message hashed to Ḡ under {@link GENERATOR_DST}. */
export const GENERATOR_MSG = 'overt/v1/tdh2/second-generator';

/** taggedHash / hashToScalar tags; each is used for exactly one purpose (docs/spec/capsule.md §1). */
export const TAG = {
  sealR: 'overt/v1/tdh2/seal-r',
  sealS: 'overt/v1/tdh2/seal-s',
  mask: 'overt/v1/tdh2/mask',
  capsuleChallenge: 'overt/v1/tdh2/capsule-challenge',
  capsuleId: 'overt/v1/tdh2/capsule-id',
  shareNonce: 'overt/v1/tdh2/share-nonce',
  shareChallenge: 'overt/v1/tdh2/share-challenge',
} as const;

/**
 * Ḡ, TDH2's second generator. Hash-to-group output has no known discrete logarithm to G (RFC 9380 §10.1),
 * which the validity proof needs: knowing log_G Ḡ would let a sealer prove a false statement about u and ū.
 */
export const SECOND_GENERATOR: Element = hashToElement(utf8Encode(GENERATOR_MSG), GENERATOR_DST);
