/**
 * ECVRF-EDWARDS25519-SHA512-TAI, RFC 9381 §5 with the suite of §5.5 (docs/spec/directory.md §7.2).
 *
 * A verifiable random function: only the holder of the secret key computes `beta = VRF(sk, alpha)`, anyone with
 * the public key checks it from the 80-byte proof. The key-transparency map keys its prefix tree by the VRF of
 * each user id, so walking the tree reveals nothing about who is in the organisation, yet every index is
 * verifiable. draft-ietf-keytrans-protocol §17.1 (`KT_128_SHA256_Ed25519`) uses this suite.
 *
 * All curve arithmetic is @noble/curves' audited edwards25519 (`ed25519.Point`): decoding (RFC 8032 §5.1.3, strict:
 * `y < p`, no `x = 0` with the sign bit set), addition, scalar multiplication and cofactor clearing. Nothing here
 * does field arithmetic of its own. The prover uses noble's constant-time `multiply`; the verifier, which handles
 * only public data, uses `multiplyUnsafe` (variable time, accepts 0).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { concatBytes, toHex } from '../bytes.js';
import { InternalError, OvertError } from '../errors.js';

type Point = ReturnType<typeof ed25519.Point.fromBytes>;

const Point = ed25519.Point;
/** q, the order of the prime-order subgroup (RFC 9381 §5.5: the group order of edwards25519's base point). */
const Q = Point.Fn.ORDER;

/** `suite_string` of ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381 §5.5). */
const SUITE = 0x03;
/** Lengths (RFC 9381 §5.5): `ptLen`, `cLen`, `qLen`; the proof is `ptLen + cLen + qLen` bytes. */
export const VRF_PUBLIC_KEY_LENGTH = 32;
export const VRF_SECRET_KEY_LENGTH = 32;
export const VRF_PROOF_LENGTH = 80;
/** `beta`, the full VRF output (SHA-512). The map truncates it to 32 bytes (directory.md §7.2). */
export const VRF_OUTPUT_LENGTH = 64;
const C_LEN = 16;

function leToInt(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
}

function intToLe(n: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

function proofError(message: string, cause?: unknown): OvertError {
  return new OvertError('VRF_PROOF_INVALID', message, { check: 'MAP-1', cause });
}

/** RFC 8032 §5.1.3 decoding, strict; `null` when the string is not a point. */
function decodePoint(b: Uint8Array): Point | null {
  try {
    return Point.fromBytes(b, false);
  } catch {
    return null;
  }
}

/**
 * RFC 9381 §5.4.5 ECVRF_validate_key plus decoding: a canonical encoding of a point not of small order.
 * Throws VRF_KEY_INVALID otherwise.
 */
function decodePublicKey(pk: Uint8Array): Point {
  if (!(pk instanceof Uint8Array) || pk.length !== VRF_PUBLIC_KEY_LENGTH) {
    throw new OvertError('VRF_KEY_INVALID', 'VRF public key must be 32 bytes', { check: 'MAP-1' });
  }
  // A map has one VRF key that every lookup is checked under. Keep the last few keys decoded and validated, and give
  // a key seen a second time noble's multiplication tables (`precompute`, ~10× a verification once, then c·Y is
  // several times cheaper), so a client checking many lookups under its map's key pays the table once.
  const hex = toHex(pk);
  const hit = keyCache.get(hex);
  if (hit !== undefined) {
    if (++hit.uses === 2) hit.point.precompute(8);
    return hit.point;
  }
  const Y = decodeAndValidate(pk);
  if (keyCache.size >= 4) keyCache.delete(keyCache.keys().next().value!);
  keyCache.set(hex, { point: Y, uses: 1 });
  return Y;
}

const keyCache = new Map<string, { point: Point; uses: number }>();

function decodeAndValidate(pk: Uint8Array): Point {
  if (pk.length !== VRF_PUBLIC_KEY_LENGTH) {
    throw new OvertError('VRF_KEY_INVALID', 'VRF public key must be 32 bytes', { check: 'MAP-1' });
  }
  const Y = decodePoint(pk);
  if (Y === null)
    throw new OvertError('VRF_KEY_INVALID', 'VRF public key is not a point', { check: 'MAP-1' });
  if (Y.isSmallOrder()) {
    throw new OvertError('VRF_KEY_INVALID', 'VRF public key is of small order', { check: 'MAP-1' });
  }
  return Y;
}

/** True when `pk` is a VRF public key the verifier accepts (32 bytes, canonical point, not of small order). */
export function isValidVrfPublicKey(pk: Uint8Array): boolean {
  try {
    decodePublicKey(pk);
    return true;
  } catch {
    return false;
  }
}

/**
 * RFC 9381 §5.4.1.1 ECVRF_encode_to_curve_try_and_increment, salt = the public key's encoding. Also returns the
 * counter that succeeded (the RFC's examples state it).
 */
export function vrfEncodeToCurve(pkBytes: Uint8Array, alpha: Uint8Array): { H: Point; ctr: number } {
  for (let ctr = 0; ctr < 256; ctr++) {
    const hash = sha512(concatBytes(Uint8Array.of(SUITE, 0x01), pkBytes, alpha, Uint8Array.of(ctr, 0x00)));
    // interpret_hash_value_as_a_point: string_to_point of the first ptLen bytes (§5.5).
    const P = decodePoint(hash.subarray(0, 32));
    if (P !== null) return { H: P.clearCofactor(), ctr };
  }
  // Each try succeeds with probability ~1/2; 256 failures do not happen (RFC 9381 §5.4.1.1 allows any cap).
  throw new InternalError('encode_to_curve: no point after 256 tries');
}

/** RFC 9381 §5.4.3 ECVRF_challenge_generation: the first cLen bytes of the hash, as an integer. */
function challenge(points: readonly Uint8Array[]): bigint {
  const c = sha512(concatBytes(Uint8Array.of(SUITE, 0x02), ...points, Uint8Array.of(0x00)));
  return leToInt(c.subarray(0, C_LEN));
}

/** RFC 8032 §5.1.5 key expansion (what RFC 9381 §5.5 prescribes): the secret scalar x and the nonce prefix. */
function expandSecret(sk: Uint8Array): { x: bigint; prefix: Uint8Array; pk: Uint8Array; Y: Point } {
  if (!(sk instanceof Uint8Array) || sk.length !== VRF_SECRET_KEY_LENGTH) {
    throw new OvertError('VRF_KEY_INVALID', 'VRF secret key must be 32 bytes');
  }
  const e = ed25519.utils.getExtendedPublicKey(sk);
  return { x: e.scalar, prefix: e.prefix, pk: e.pointBytes, Y: e.point };
}

/** The VRF public key (32 bytes) of a 32-byte secret key (an Ed25519 seed). */
export function vrfPublicKey(sk: Uint8Array): Uint8Array {
  return expandSecret(sk).pk;
}

/**
 * RFC 9381 §5.1 ECVRF_prove: the 80-byte proof `Gamma ‖ c ‖ s` for `alpha`. Deterministic.
 * Throws VRF_KEY_INVALID for a secret key that is not 32 bytes.
 */
export function vrfProve(sk: Uint8Array, alpha: Uint8Array): Uint8Array {
  const { x, prefix, pk } = expandSecret(sk);
  const { H } = vrfEncodeToCurve(pk, alpha);
  const hBytes = H.toBytes();
  const Gamma = H.multiply(x % Q);
  // §5.4.2.2 nonce generation (RFC 8032 style): k = SHA-512(prefix ‖ h_string) mod q.
  const k = leToInt(sha512(concatBytes(prefix, hBytes))) % Q;
  if (k === 0n) throw new InternalError('VRF nonce is zero');
  const c = challenge([
    pk,
    hBytes,
    Gamma.toBytes(),
    Point.BASE.multiply(k).toBytes(),
    H.multiply(k).toBytes(),
  ]);
  const s = (k + c * (x % Q)) % Q;
  return concatBytes(Gamma.toBytes(), intToLe(c, C_LEN), intToLe(s, 32));
}

interface DecodedProof {
  Gamma: Point;
  c: bigint;
  s: bigint;
}

/** RFC 9381 §5.4.4 ECVRF_decode_proof. Throws VRF_PROOF_INVALID. */
function decodeProof(pi: Uint8Array): DecodedProof {
  if (!(pi instanceof Uint8Array) || pi.length !== VRF_PROOF_LENGTH) {
    throw proofError('VRF proof must be 80 bytes');
  }
  const Gamma = decodePoint(pi.subarray(0, 32));
  if (Gamma === null) throw proofError('VRF proof: Gamma is not a point');
  const c = leToInt(pi.subarray(32, 48));
  const s = leToInt(pi.subarray(48, 80));
  if (s >= Q) throw proofError('VRF proof: s is not reduced');
  return { Gamma, c, s };
}

/** RFC 9381 §5.2 ECVRF_proof_to_hash of a decoded Gamma. */
function gammaToHash(Gamma: Point): Uint8Array {
  return sha512(
    concatBytes(Uint8Array.of(SUITE, 0x03), Gamma.clearCofactor().toBytes(), Uint8Array.of(0x00)),
  );
}

/**
 * RFC 9381 §5.2 ECVRF_proof_to_hash: the 64-byte output `beta` of a proof, **without verifying it**. Only for a
 * proof one made oneself or has verified; verifiers use {@link vrfVerify}, which returns beta. Throws
 * VRF_PROOF_INVALID for a proof that does not decode.
 */
export function vrfProofToHash(pi: Uint8Array): Uint8Array {
  return gammaToHash(decodeProof(pi).Gamma);
}

/**
 * RFC 9381 §5.3 ECVRF_verify with `validate_key = TRUE` (§5.4.5): returns `beta` when `pi` proves
 * `beta = VRF(sk, alpha)` for the secret key of `pk`.
 * Throws VRF_KEY_INVALID for a public key that is not 32 bytes of a point of large order, VRF_PROOF_INVALID for
 * any other failure (MAP-1).
 */
export function vrfVerify(pk: Uint8Array, alpha: Uint8Array, pi: Uint8Array): Uint8Array {
  const Y = decodePublicKey(pk);
  if (!(alpha instanceof Uint8Array)) throw proofError('VRF input must be bytes');
  const { Gamma, c, s } = decodeProof(pi);
  const { H } = vrfEncodeToCurve(pk, alpha);
  // U = s·B − c·Y, V = s·H − c·Gamma (§5.3 steps 5, 6). Public data: variable-time multiplication.
  const U = Point.BASE.multiplyUnsafe(s).subtract(Y.multiplyUnsafe(c));
  const V = H.multiplyUnsafe(s).subtract(Gamma.multiplyUnsafe(c));
  const c2 = challenge([pk, H.toBytes(), Gamma.toBytes(), U.toBytes(), V.toBytes()]);
  if (c2 !== c) throw proofError('VRF proof does not verify');
  return gammaToHash(Gamma);
}
