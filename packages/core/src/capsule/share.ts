/**
 * TDH2 decryption shares (Shoup & Gennaro 1998, scheme TDH2): trustee i publishes u_i = x_i·u with a Chaum–Pedersen
 * proof that log_G Y_i = log_u u_i, bound to the capsule, its label and the index; any k valid shares combine by
 * Lagrange interpolation in the exponent to x·u, which unmasks K (docs/spec/capsule.md §5).
 *
 * Stages are types: {@link decodeShare} → {@link DecryptionShare}; {@link verifyShare} → {@link VerifiedShare};
 * {@link combineShares} accepts only verified shares, so a bad share is caught and its trustee named (A9)
 * before it can spoil a combination. Both take the epoch's whole key set (ThresholdPublicKey), never a bare Y_i or
 * a bare k, and check that it is the capsule's epoch key (SHR-10).
 */
import { concatBytes, equalBytes, type RandomSource, randomBytes } from '../bytes.js';
import { InternalError, OvertError } from '../errors.js';
import {
  decodeElement,
  decodeScalar,
  type Element,
  group,
  hashToScalar,
  hedgedNonce,
  isIdentity,
  type Scalar,
} from '../group.js';
import { sha256 } from '../hash.js';
import {
  checkIndex,
  isConsistentSharing,
  type KeyShare,
  lagrangeAtZero,
  MAX_PARTICIPANTS,
  type ThresholdPublicKey,
} from '../threshold.js';
import { isValidPublicKey, unmask, type VerifiedCapsule } from './capsule.js';
import { allHold, type Equation } from './linear.js';
import { SHARE_BYTES, TAG } from './params.js';

/** A decoded decryption share: well-formed, not yet checked against a capsule and a verification key. */
export interface DecryptionShare {
  /** The trustee's participant index i (1..255). */
  readonly index: number;
  /** The {@link VerifiedCapsule.id} this share was made for. */
  readonly capsuleId: Uint8Array;
  /** u_i = x_i·u. */
  readonly value: Element;
  /** a = t·G, the proof's commitment on G. */
  readonly a: Element;
  /** b = t·u, the proof's commitment on u. */
  readonly b: Element;
  /** z = t + c·x_i, the proof's response. */
  readonly z: Scalar;
}

declare const verifiedShareBrand: unique symbol;

/**
 * A share whose proof held for its capsule and the trustee's verification key (SHR-4, SHR-5), taken from a key
 * set that is the capsule's epoch key (SHR-10).
 */
export interface VerifiedShare extends DecryptionShare {
  /** The Y_i the proof was checked against: {@link combineShares} requires it to be its key set's. */
  readonly verificationKey: Element;
  readonly [verifiedShareBrand]: true;
}

function invalid(message: string, check: string, cause?: unknown): OvertError {
  return new OvertError('SHARE_INVALID', message, { check, cause });
}

/** The canonical 161-byte encoding: index ‖ capsule id ‖ u_i ‖ a ‖ b ‖ z. */
export function encodeShare(share: DecryptionShare): Uint8Array {
  checkIndex(share.index);
  const out = concatBytes(
    Uint8Array.of(share.index),
    share.capsuleId,
    share.value,
    share.a,
    share.b,
    share.z,
  );
  if (out.length !== SHARE_BYTES) throw new InternalError('share fields have the wrong sizes');
  return out;
}

/**
 * Decodes attacker-controlled bytes into a {@link DecryptionShare}. Throws SHARE_INVALID (SHR-1 length, SHR-3
 * points and scalar) or SHARE_INDEX (SHR-2, index 0). The proof is checked by {@link verifyShare}.
 */
export function decodeShare(bytes: Uint8Array): DecryptionShare {
  if (!(bytes instanceof Uint8Array) || bytes.length !== SHARE_BYTES)
    throw invalid(`share must be ${SHARE_BYTES} bytes`, 'SHR-1');
  const index = bytes[0]!;
  if (index === 0)
    throw new OvertError('SHARE_INDEX', `share index must be in 1..${MAX_PARTICIPANTS}`, { check: 'SHR-2' });
  const field = (i: number) => bytes.subarray(1 + 32 * i, 33 + 32 * i);
  const point = (i: number, what: string): Element => {
    try {
      return decodeElement(field(i), what);
    } catch (cause) {
      throw invalid(`${what} is not a valid non-identity element`, 'SHR-3', cause);
    }
  };
  const value = point(1, 'share value');
  const a = point(2, 'commitment a');
  const b = point(3, 'commitment b');
  let z: Scalar;
  try {
    z = decodeScalar(field(4), 'z');
  } catch (cause) {
    throw invalid('z is not a canonical scalar', 'SHR-3', cause);
  }
  return Object.freeze({ index, capsuleId: field(0).slice(), value, a, b, z });
}

/** c_i = H_challenge(id, i, Y_i, u, u_i, a, b) (docs/spec/capsule.md §5). */
export function shareChallenge(
  capsule: VerifiedCapsule,
  index: number,
  verificationKey: Element,
  share: Pick<DecryptionShare, 'value' | 'a' | 'b'>,
): Scalar {
  return hashToScalar(
    TAG.shareChallenge,
    capsule.id,
    Uint8Array.of(index),
    verificationKey,
    capsule.u,
    share.value,
    share.a,
    share.b,
  );
}

// Y_i = x_i·G costs a base-point multiplication per share; a trustee reuses one KeyShare for a whole release,
// so it is computed once per KeyShare object. The entry is checked against a SHA-256 fingerprint of the secret
// (never a copy of it), so a KeyShare whose bytes were changed or zeroised in place is never paired with a
// stale key, and no secret outlives the caller's own copy.
const verificationKeyCache = new WeakMap<KeyShare, { fingerprint: Uint8Array; key: Element }>();

function verificationKeyOf(share: KeyShare): Element {
  const fingerprint = sha256(share.secret);
  const hit = verificationKeyCache.get(share);
  if (hit && equalBytes(hit.fingerprint, fingerprint)) return hit.key;
  const key = group.baseMul(share.secret);
  verificationKeyCache.set(share, { fingerprint, key });
  return key;
}

/**
 * Trustee i's decryption share for a verified capsule: u_i = x_i·u and a Chaum–Pedersen proof. The nonce is
 * hedged (docs/spec/capsule.md §5): t = H_nonce(x_i, id, 32 bytes from rng), so a broken rng does not leak x_i and a
 * fixed rng gives reproducible vectors. Throws SHARE_INDEX for an index outside 1..255, SHARE_INVALID for a zero
 * secret.
 */
export function createShare(
  share: KeyShare,
  capsule: VerifiedCapsule,
  rng: RandomSource = randomBytes,
): DecryptionShare {
  checkIndex(share.index);
  const value = group.mul(share.secret, capsule.u);
  if (isIdentity(value)) throw invalid('key share is zero', 'SHR-3');
  const verificationKey = verificationKeyOf(share);
  const t = hedgedNonce(TAG.shareNonce, share.secret, [capsule.id], rng);
  const a = group.baseMul(t);
  const b = group.mul(t, capsule.u);
  const c = shareChallenge(capsule, share.index, verificationKey, { value, a, b });
  const z = group.scalarAdd(t, group.scalarMul(c, share.secret));
  return Object.freeze({ index: share.index, capsuleId: capsule.id.slice(), value, a, b, z });
}

/** SHR-4: the share names this capsule under this label and epoch key. */
export function checkShareCapsule(capsule: VerifiedCapsule, share: DecryptionShare): void {
  if (!equalBytes(share.capsuleId, capsule.id))
    throw new OvertError('SHARE_WRONG_CAPSULE', 'share was made for another capsule or label', {
      check: 'SHR-4',
    });
}

/** SHR-9: a verification key must be a valid non-identity element. */
export function checkVerificationKey(verificationKey: Element): void {
  if (!isValidPublicKey(verificationKey))
    throw invalid('verification key is not a valid non-identity element', 'SHR-9');
}

/** SHR-5 as two linear equations: z·G − c·Y_i = a and z·u − c·u_i = b (checked in linear.ts). */
export function shareEquations(
  verificationKey: Element,
  capsule: VerifiedCapsule,
  share: DecryptionShare,
  item = 0,
): [Equation, Equation] {
  const minusC = group.scalarNeg(shareChallenge(capsule, share.index, verificationKey, share));
  return [
    {
      item,
      terms: [
        { scalar: share.z, point: group.generator },
        { scalar: minusC, point: verificationKey },
      ],
      rhs: share.a,
    },
    {
      item,
      terms: [
        { scalar: share.z, point: capsule.u },
        { scalar: minusC, point: share.value },
      ],
      rhs: share.b,
    },
  ];
}

/** Brands a share whose proof the caller has established against `verificationKey` (batch verification). */
export function brandShare(share: DecryptionShare, verificationKey: Element): VerifiedShare {
  return Object.freeze({ ...share, verificationKey: verificationKey.slice() as Element }) as VerifiedShare;
}

function wrongKeySet(message: string): OvertError {
  return new OvertError('SHARE_WRONG_KEY_SET', message, { check: 'SHR-10' });
}

// A key set found consistent is remembered by object, with a copy of its public bytes, so that a whole release
// (one key set, many shares) pays for the consistency check once and a key set changed in place is checked again.
const consistentKeySets = new WeakMap<ThresholdPublicKey, Uint8Array>();

function keySetBytes(publicKey: ThresholdPublicKey): Uint8Array {
  return concatBytes(Uint8Array.of(publicKey.threshold), publicKey.groupKey, ...publicKey.verificationKeys);
}

/**
 * SHR-10: `publicKey` is the key set of the capsule's epoch key. Its group key must equal the epoch key Y the
 * capsule was verified under (the epoch the caller stated for the envelope), so shares cannot be checked against
 * another epoch's key set; and it must be one (k, n) sharing of Y (threshold.ts isConsistentSharing), so that k
 * shares valid under their Y_i always combine to x·u — a resharing keeps Y but changes every Y_i, and a key set
 * mixing them, or with made-up Y_i, is refused. Throws SHARE_WRONG_KEY_SET.
 */
export function checkKeySet(publicKey: ThresholdPublicKey, capsule: VerifiedCapsule): void {
  // Checked at run time too: a caller that passes a bare threshold (the old combineShares signature) must get our
  // error, not a TypeError.
  if (
    typeof publicKey !== 'object' ||
    publicKey === null ||
    !Number.isInteger(publicKey.threshold) ||
    publicKey.threshold < 1 ||
    publicKey.threshold > MAX_PARTICIPANTS ||
    !(publicKey.groupKey instanceof Uint8Array) ||
    !Array.isArray(publicKey.verificationKeys) ||
    !publicKey.verificationKeys.every((k) => k instanceof Uint8Array)
  )
    throw wrongKeySet('the key set is not a threshold public key');
  if (!equalBytes(publicKey.groupKey, capsule.epochKey))
    throw wrongKeySet("the key set's group key is not the capsule's epoch key");
  const bytes = keySetBytes(publicKey);
  const seen = consistentKeySets.get(publicKey);
  if (seen !== undefined && equalBytes(seen, bytes)) return;
  if (!isConsistentSharing(publicKey))
    throw wrongKeySet('the verification keys are not one sharing of the group key');
  consistentKeySets.set(publicKey, bytes);
}

/**
 * Checks trustee i's share against the epoch's key set (guarantee A9): SHR-10 (SHARE_WRONG_KEY_SET: the key set is
 * not the capsule's epoch key, or not one sharing of it), SHR-2 (SHARE_INDEX: i is not a member), SHR-9, SHR-4
 * (SHARE_WRONG_CAPSULE: made for another capsule, label or epoch key) and SHR-5 (SHARE_INVALID: the
 * Chaum–Pedersen proof fails under Y_i, e.g. a wrong value, another trustee's key, or a changed index).
 *
 * There is no variant taking a bare Y_i: a verification key always comes with the key set it belongs to, so a
 * caller cannot verify a share against the wrong epoch's keys.
 */
export function verifyShare(
  publicKey: ThresholdPublicKey,
  capsule: VerifiedCapsule,
  share: DecryptionShare,
): VerifiedShare {
  checkKeySet(publicKey, capsule);
  const verificationKey = memberKey(publicKey, share.index);
  checkVerificationKey(verificationKey);
  checkShareCapsule(capsule, share);
  if (!allHold(shareEquations(verificationKey, capsule, share)))
    throw invalid('decryption share proof does not hold', 'SHR-5');
  return brandShare(share, verificationKey);
}

/** Y_i for participant i of the sharing, or SHARE_INDEX (SHR-2) when i is not a member. */
export function memberKey(publicKey: ThresholdPublicKey, index: number): Element {
  checkIndex(index);
  const key = publicKey.verificationKeys[index - 1];
  if (key === undefined)
    throw new OvertError('SHARE_INDEX', 'share index is not a member of this sharing', { check: 'SHR-2' });
  return key;
}

/**
 * Combines the key set's threshold k of verified shares into K (Shoup & Gennaro 1998, TDH2 combination):
 * x·u = Σ λ_i·u_i over the first k shares, then c ⊕ H_mask(Y, u, x·u). k comes from `publicKey`, never from the
 * caller. Throws SHARE_WRONG_KEY_SET (SHR-10) if the key set is not the capsule's epoch key or a share was verified
 * against another key set, SHARE_WRONG_CAPSULE (SHR-8) if a share belongs to another capsule, SHARE_DUPLICATE
 * (SHR-7) on a repeated index, SHARE_TOO_FEW (SHR-6) with fewer than k shares.
 */
export function combineShares(
  capsule: VerifiedCapsule,
  shares: readonly VerifiedShare[],
  publicKey: ThresholdPublicKey,
): Uint8Array {
  checkKeySet(publicKey, capsule);
  const threshold = publicKey.threshold;
  const seen = new Set<number>();
  for (const s of shares) {
    if (!equalBytes(s.capsuleId, capsule.id))
      throw new OvertError('SHARE_WRONG_CAPSULE', 'share was made for another capsule or label', {
        check: 'SHR-8',
      });
    if (seen.has(s.index))
      throw new OvertError('SHARE_DUPLICATE', 'two shares carry the same index', { check: 'SHR-7' });
    seen.add(s.index);
    const key = publicKey.verificationKeys[s.index - 1];
    if (
      key === undefined ||
      !(s.verificationKey instanceof Uint8Array) ||
      !equalBytes(s.verificationKey, key)
    )
      throw wrongKeySet('a share was verified against another key set');
  }
  if (shares.length < threshold)
    throw new OvertError('SHARE_TOO_FEW', `need ${threshold} shares, got ${shares.length}`, {
      check: 'SHR-6',
    });
  const used = shares.slice(0, threshold);
  const lambdas = coefficientsAtZero(used.map((s) => s.index));
  let acc: Element | undefined;
  used.forEach((s, j) => {
    const term = group.mul(lambdas[j]!, s.value);
    acc = acc === undefined ? term : group.add(acc, term);
  });
  return unmask(capsule, acc!);
}

/**
 * λ_j at zero for each index of `indices`, in order, cached per index list: a release combines the same k
 * trustees' shares for every envelope, and each λ costs a scalar inversion. The cache is small and bounded
 * (indices are public); the cached scalars are copied out, so a caller cannot alter them.
 */
const LAGRANGE_CACHE_MAX = 64;
const lagrangeCache = new Map<string, readonly Scalar[]>();

function coefficientsAtZero(indices: readonly number[]): Scalar[] {
  const key = indices.join(',');
  let lambdas = lagrangeCache.get(key);
  if (lambdas === undefined) {
    lambdas = indices.map((i) => lagrangeAtZero(indices, i));
    if (lagrangeCache.size >= LAGRANGE_CACHE_MAX) lagrangeCache.delete(lagrangeCache.keys().next().value!);
    lagrangeCache.set(key, lambdas);
  }
  return lambdas.map((l) => l.slice() as Scalar);
}
