/**
 * TDH2 access capsules (Shoup & Gennaro 1998, scheme TDH2) over ristretto255: a content key K encrypted under an
 * epoch key Y with a label L, plus a proof that anyone holding Y and L can check (docs/spec/capsule.md).
 *
 * Stages are types: {@link decodeCapsule} yields a {@link Capsule} (well-formed bytes, nothing more);
 * {@link verifyCapsule} or {@link verifyCapsuleOpening} yield a {@link VerifiedCapsule}, bound to Y and L, which
 * is the only input trustees may create decryption shares for.
 *
 * The capsule does not carry L. In Overt, L is the hash of the canonical envelope header, so checking a capsule
 * against another header fails (guarantee A4: the relay cannot re-label an envelope).
 */
import { concatBytes, equalBytes, type RandomSource, randomBytes } from '../bytes.js';
import { InternalError, isOvertError, OvertError } from '../errors.js';
import {
  decodeElement,
  decodeScalar,
  type Element,
  group,
  hashToScalar,
  isIdentity,
  isZeroScalar,
  type Scalar,
} from '../group.js';
import { taggedHash } from '../hash.js';
import { allHold, type Equation } from './linear.js';
import { CAPSULE_BYTES, KEY_BYTES, LABEL_BYTES, SECOND_GENERATOR, SEED_BYTES, TAG } from './params.js';

/** A decoded capsule: canonical encodings, no identity points, not yet checked against a key and a label. */
export interface Capsule {
  /** c = K ⊕ H_mask(Y, u, r·Y): the masked content key. */
  readonly maskedKey: Uint8Array;
  /** u = r·G. */
  readonly u: Element;
  /** ū = r·Ḡ. */
  readonly uBar: Element;
  /** w = s·G, the proof's commitment on G. */
  readonly w: Element;
  /** w̄ = s·Ḡ, the proof's commitment on Ḡ. */
  readonly wBar: Element;
  /** f = s + e·r, the proof's response. */
  readonly f: Scalar;
}

declare const verifiedCapsuleBrand: unique symbol;

/**
 * A capsule checked for the epoch key and the label it carries here. Only this module creates values of this
 * type; holding one means CAP-6 (or CAP-7) passed for exactly (epochKey, label).
 */
export interface VerifiedCapsule extends Capsule {
  readonly epochKey: Element;
  readonly label: Uint8Array;
  /** taggedHash(capsule-id, Y, L, encoding): names this capsule under this label; shares carry it. */
  readonly id: Uint8Array;
  readonly [verifiedCapsuleBrand]: true;
}

function invalid(message: string, check: string, cause?: unknown): OvertError {
  return new OvertError('CAPSULE_INVALID', message, { check, cause });
}

/** Rejects wrong-length byte arguments (CAP-5) before any of them reaches a hash. */
export function checkLength(b: Uint8Array, n: number, what: string, check: string): void {
  if (!(b instanceof Uint8Array) || b.length !== n) throw invalid(`${what} must be ${n} bytes`, check);
}

// Public keys (Y, Y_i) are checked on every call, but the same key objects come back for a whole epoch: a key
// found valid is remembered by object together with a copy of its bytes, so a key changed in place is checked
// again. Saves a point decoding (a few percent of a verification).
const validKeys = new WeakMap<Uint8Array, Uint8Array>();

/** Is `key` a valid non-identity element (RFC 9496 §4.3.1)? */
export function isValidPublicKey(key: Uint8Array): boolean {
  if (!(key instanceof Uint8Array) || key.length !== 32 || isIdentity(key as Element)) return false;
  const seen = validKeys.get(key);
  if (seen !== undefined && equalBytes(seen, key)) return true;
  if (!group.isValidElement(key)) return false;
  validKeys.set(key, key.slice());
  return true;
}

/** CAP-4: an identity epoch key would make r·Y the identity and the mask public. */
export function checkEpochKey(epochKey: Element): void {
  if (!isValidPublicKey(epochKey)) throw invalid('epoch key is not a valid non-identity element', 'CAP-4');
}

/** The canonical 192-byte encoding: c ‖ u ‖ ū ‖ w ‖ w̄ ‖ f. */
export function encodeCapsule(capsule: Capsule): Uint8Array {
  const out = concatBytes(capsule.maskedKey, capsule.u, capsule.uBar, capsule.w, capsule.wBar, capsule.f);
  if (out.length !== CAPSULE_BYTES) throw new InternalError('capsule fields have the wrong sizes');
  return out;
}

/**
 * Decodes attacker-controlled bytes into a {@link Capsule}. Throws CAPSULE_INVALID: CAP-1 on a wrong length,
 * CAP-2 on a point that is not a canonical non-identity ristretto255 encoding, CAP-3 on a non-reduced scalar.
 * The proof is not checked here: call {@link verifyCapsule}.
 */
export function decodeCapsule(bytes: Uint8Array): Capsule {
  if (!(bytes instanceof Uint8Array) || bytes.length !== CAPSULE_BYTES)
    throw invalid(`capsule must be ${CAPSULE_BYTES} bytes`, 'CAP-1');
  const field = (i: number) => bytes.subarray(32 * i, 32 * i + 32);
  const point = (i: number, what: string): Element => {
    try {
      return decodeElement(field(i), what);
    } catch (cause) {
      if (isOvertError(cause)) throw invalid(`${what} is not a valid non-identity element`, 'CAP-2', cause);
      throw cause;
    }
  };
  const u = point(1, 'u');
  const uBar = point(2, 'u-bar');
  const w = point(3, 'w');
  const wBar = point(4, 'w-bar');
  let f: Scalar;
  try {
    f = decodeScalar(field(5), 'f');
  } catch (cause) {
    throw invalid('f is not a canonical scalar', 'CAP-3', cause);
  }
  return Object.freeze({ maskedKey: field(0).slice(), u, uBar, w, wBar, f });
}

/** e = H_challenge(Y, L, c, u, ū, w, w̄) (docs/spec/capsule.md §4). */
export function capsuleChallenge(epochKey: Element, label: Uint8Array, c: Capsule): Scalar {
  return hashToScalar(TAG.capsuleChallenge, epochKey, label, c.maskedKey, c.u, c.uBar, c.w, c.wBar);
}

/** The 32-byte mask H_mask(Y, u, Z) with Z = r·Y = x·u. */
export function capsuleMask(epochKey: Element, u: Element, z: Element): Uint8Array {
  return taggedHash(TAG.mask, epochKey, u, z);
}

function xor32(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** Recovers K from the capsule and Z = x·u (used by share combination). */
export function unmask(capsule: VerifiedCapsule, z: Element): Uint8Array {
  return xor32(capsule.maskedKey, capsuleMask(capsule.epochKey, capsule.u, z));
}

function brand(
  epochKey: Element,
  capsule: Capsule,
  label: Uint8Array,
  encoding: Uint8Array,
): VerifiedCapsule {
  const id = taggedHash(TAG.capsuleId, epochKey, label, encoding);
  return Object.freeze({
    maskedKey: capsule.maskedKey,
    u: capsule.u,
    uBar: capsule.uBar,
    w: capsule.w,
    wBar: capsule.wBar,
    f: capsule.f,
    epochKey: epochKey.slice() as Element,
    label: label.slice(),
    id,
  }) as VerifiedCapsule;
}

function seal(epochKey: Element, key: Uint8Array, label: Uint8Array, seed: Uint8Array): Capsule {
  checkEpochKey(epochKey);
  checkLength(key, KEY_BYTES, 'content key', 'CAP-5');
  checkLength(label, LABEL_BYTES, 'label', 'CAP-5');
  checkLength(seed, SEED_BYTES, 'seed', 'CAP-5');
  // docs/spec/capsule.md §3: (r, s) are a function of (seed, L, Y, K), so a recipient holding K and the seed recomputes
  // the exact bytes (guarantee A5). With a uniformly random secret seed they are uniform in the random-oracle model.
  const r = hashToScalar(TAG.sealR, seed, label, epochKey, key);
  const s = hashToScalar(TAG.sealS, seed, label, epochKey, key);
  // Probability 2^-251: an input that hits it is not one anyone can find, so it is treated as a bug.
  if (isZeroScalar(r) || isZeroScalar(s)) throw new InternalError('derived sealing scalar is zero');
  const u = group.baseMul(r);
  const w = group.baseMul(s);
  const uBar = group.mul(r, SECOND_GENERATOR);
  const wBar = group.mul(s, SECOND_GENERATOR);
  const z = group.mul(r, epochKey);
  const maskedKey = xor32(key, capsuleMask(epochKey, u, z));
  const partial = { maskedKey, u, uBar, w, wBar, f: s };
  const e = capsuleChallenge(epochKey, label, partial);
  return Object.freeze({ ...partial, f: group.scalarAdd(s, group.scalarMul(e, r)) });
}

/**
 * Seals the 32-byte content key K under the epoch key Y with the 32-byte label L, deterministically: the same
 * (Y, K, L, seed) always gives the same bytes. The seed must be secret and fresh per message (it travels with
 * K over the end-to-end channel). Throws CAPSULE_INVALID on an identity epoch key or wrong-length arguments.
 */
export function sealCapsule(
  epochKey: Element,
  key: Uint8Array,
  label: Uint8Array,
  seed: Uint8Array,
): Uint8Array {
  return encodeCapsule(seal(epochKey, key, label, seed));
}

/** {@link sealCapsule} with a fresh random seed from `rng`, for callers that never need to recompute it. */
export function sealCapsuleRandom(
  epochKey: Element,
  key: Uint8Array,
  label: Uint8Array,
  rng: RandomSource = randomBytes,
): Uint8Array {
  return sealCapsule(epochKey, key, label, rng(SEED_BYTES));
}

/**
 * The TDH2 validity check (CAP-6): f·G = w + e·u and f·Ḡ = w̄ + e·ū, i.e. u and ū have the same discrete log,
 * with e bound to Y and L. Anyone can run it; it needs no secret. Returns the capsule as a {@link VerifiedCapsule}
 * for (epochKey, label). Throws CAPSULE_INVALID (CAP-4, CAP-5, CAP-6); a capsule checked against another label
 * or another epoch key fails CAP-6.
 */
export function verifyCapsule(epochKey: Element, capsule: Capsule, label: Uint8Array): VerifiedCapsule {
  checkEpochKey(epochKey);
  checkLength(label, LABEL_BYTES, 'label', 'CAP-5');
  if (!allHold(capsuleEquations(epochKey, label, capsule)))
    throw invalid('validity proof does not hold', 'CAP-6');
  return brand(epochKey, capsule, label, encodeCapsule(capsule));
}

/** CAP-6 as two linear equations: f·G − e·u = w and f·Ḡ − e·ū = w̄ (checked in linear.ts). */
export function capsuleEquations(
  epochKey: Element,
  label: Uint8Array,
  capsule: Capsule,
  item = 0,
): [Equation, Equation] {
  const minusE = group.scalarNeg(capsuleChallenge(epochKey, label, capsule));
  return [
    {
      item,
      terms: [
        { scalar: capsule.f, point: group.generator },
        { scalar: minusE, point: capsule.u },
      ],
      rhs: capsule.w,
    },
    {
      item,
      terms: [
        { scalar: capsule.f, point: SECOND_GENERATOR },
        { scalar: minusE, point: capsule.uBar },
      ],
      rhs: capsule.wBar,
    },
  ];
}

/** Brands a capsule whose proof the caller has already established (batch verification). */
export function brandVerified(epochKey: Element, capsule: Capsule, label: Uint8Array): VerifiedCapsule {
  return brand(epochKey, capsule, label, encodeCapsule(capsule));
}

/**
 * The recipient's check (CAP-7, guarantee A5): recomputes the capsule from (Y, K, L, seed) received over the
 * end-to-end channel and compares it with the stored bytes. Equal bytes are a valid capsule by construction, so
 * no proof is checked. Throws CAPSULE_MISMATCH when they differ, CAPSULE_INVALID on malformed arguments.
 */
export function verifyCapsuleOpening(
  epochKey: Element,
  capsuleBytes: Uint8Array,
  key: Uint8Array,
  label: Uint8Array,
  seed: Uint8Array,
): VerifiedCapsule {
  const expected = seal(epochKey, key, label, seed);
  const encoding = encodeCapsule(expected);
  if (!(capsuleBytes instanceof Uint8Array) || !equalBytes(encoding, capsuleBytes)) {
    throw new OvertError('CAPSULE_MISMATCH', 'capsule does not match the key, seed and label', {
      check: 'CAP-7',
    });
  }
  return brand(epochKey, expected, label, encoding);
}
