/**
 * The prime-order group ristretto255 (RFC 9496) and its scalar field, behind one small interface with two
 * back-ends:
 *
 * - {@link sodium}: libsodium (WASM, via libsodium-wrappers-sumo). About 7–9× faster than pure JS on this
 *   project's machines (DESIGN §9), so every protocol in @overt/core uses it.
 * - {@link noble}: @noble/curves, the audited pure-TypeScript reference. Tests cross-check both back-ends
 *   operation by operation, and both against RFC 9496 Appendix A.
 *
 * Elements and scalars are their canonical 32-byte encodings (RFC 9496 §4.3.2 encode; scalars little-endian,
 * fully reduced mod ℓ), branded so that unchecked bytes cannot be passed where a decoded value is expected.
 * Decoding attacker-controlled bytes goes only through {@link decodeElement} and {@link decodeScalar}.
 *
 * Constant time: libsodium's scalar multiplication is constant time; the noble back-end is not guaranteed to
 * be, and is used for reference only. Branching on public data (identity checks) is deliberate.
 */
import { expand_message_xmd } from '@noble/curves/abstract/hash-to-curve.js';
import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js';
import sodiumLib from 'libsodium-wrappers-sumo';
import { equalBytes, type RandomSource, randomBytes, utf8Encode } from './bytes.js';
import { InternalError, OvertError } from './errors.js';
import { sha512, taggedHash64 } from './hash.js';

await sodiumLib.ready;

/** A canonical ristretto255 element encoding (32 bytes), known to decode. */
export type Element = Uint8Array & { readonly __element: unique symbol };
/** A canonical scalar mod ℓ (32 bytes little-endian). */
export type Scalar = Uint8Array & { readonly __scalar: unique symbol };

export const ELEMENT_BYTES = 32;
export const SCALAR_BYTES = 32;
/** ℓ = 2^252 + 27742317777372353535851937790883648493, the order of ristretto255. */
export const ORDER = 2n ** 252n + 27742317777372353535851937790883648493n;

/** The group operations every protocol needs. Each back-end implements all of them. */
export interface Group {
  readonly name: string;
  readonly identity: Element;
  readonly generator: Element;
  /** s·G for the RFC 9496 generator G. */
  baseMul(s: Scalar): Element;
  /** s·P. */
  mul(s: Scalar, p: Element): Element;
  add(p: Element, q: Element): Element;
  sub(p: Element, q: Element): Element;
  /** RFC 9496 §4.3.4 one-way map from 64 uniform bytes to an element. */
  fromUniformBytes(b: Uint8Array): Element;
  /** Is this 32-byte string the canonical encoding of an element (identity included)? */
  isValidElement(b: Uint8Array): boolean;
  scalarAdd(a: Scalar, b: Scalar): Scalar;
  scalarSub(a: Scalar, b: Scalar): Scalar;
  scalarMul(a: Scalar, b: Scalar): Scalar;
  scalarNeg(a: Scalar): Scalar;
  /** a⁻¹ mod ℓ; throws GROUP_ZERO_SCALAR for 0. */
  scalarInv(a: Scalar): Scalar;
  /** A 64-byte string reduced mod ℓ (uniform when the input is). */
  scalarReduce64(b: Uint8Array): Scalar;
}

const IDENTITY = new Uint8Array(32) as Element;
const ZERO_SCALAR = new Uint8Array(32) as Scalar;

function isZero(b: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < b.length; i++) acc |= b[i]!;
  return acc === 0;
}

/** libsodium refuses to return the identity (and refuses scalar 0); the group law says it is the answer. */
export const sodium: Group = {
  name: 'libsodium',
  identity: IDENTITY,
  generator: sodiumLib.crypto_scalarmult_ristretto255_base(scalarFromBigint(1n)) as Element,
  baseMul(s) {
    if (isZero(s)) return IDENTITY;
    return sodiumLib.crypto_scalarmult_ristretto255_base(s) as Element;
  },
  mul(s, p) {
    if (isZero(s) || isZero(p)) return IDENTITY;
    try {
      return sodiumLib.crypto_scalarmult_ristretto255(s, p) as Element;
    } catch {
      // The only failure for a valid scalar and element: the product is the identity.
      return IDENTITY;
    }
  },
  add: (p, q) => sodiumLib.crypto_core_ristretto255_add(p, q) as Element,
  sub: (p, q) => sodiumLib.crypto_core_ristretto255_sub(p, q) as Element,
  fromUniformBytes: (b) => sodiumLib.crypto_core_ristretto255_from_hash(b) as Element,
  isValidElement: (b) => b.length === 32 && sodiumLib.crypto_core_ristretto255_is_valid_point(b),
  scalarAdd: (a, b) => sodiumLib.crypto_core_ristretto255_scalar_add(a, b) as Scalar,
  scalarSub: (a, b) => sodiumLib.crypto_core_ristretto255_scalar_sub(a, b) as Scalar,
  scalarMul: (a, b) => sodiumLib.crypto_core_ristretto255_scalar_mul(a, b) as Scalar,
  scalarNeg: (a) => sodiumLib.crypto_core_ristretto255_scalar_negate(a) as Scalar,
  scalarInv(a) {
    if (isZero(a)) throw new OvertError('GROUP_ZERO_SCALAR', 'cannot invert the zero scalar');
    return sodiumLib.crypto_core_ristretto255_scalar_invert(a) as Scalar;
  },
  scalarReduce64: (b) => sodiumLib.crypto_core_ristretto255_scalar_reduce(b) as Scalar,
};

const RP = ristretto255.Point;
const Fn = RP.Fn;

function nPoint(e: Uint8Array) {
  return RP.fromBytes(e);
}

function nScalar(s: Uint8Array): bigint {
  return Fn.fromBytes(s);
}

/** Pure-TypeScript reference back-end (@noble/curves). Not constant time; for cross-checks only. */
export const noble: Group = {
  name: '@noble/curves',
  identity: IDENTITY,
  generator: RP.BASE.toBytes() as Element,
  baseMul: (s) => (isZero(s) ? IDENTITY : (RP.BASE.multiply(nScalar(s)).toBytes() as Element)),
  mul: (s, p) => (isZero(s) ? IDENTITY : (nPoint(p).multiplyUnsafe(nScalar(s)).toBytes() as Element)),
  add: (p, q) => nPoint(p).add(nPoint(q)).toBytes() as Element,
  sub: (p, q) => nPoint(p).subtract(nPoint(q)).toBytes() as Element,
  fromUniformBytes: (b) => ristretto255_hasher.deriveToCurve!(b).toBytes() as Element,
  isValidElement(b) {
    if (b.length !== 32) return false;
    try {
      RP.fromBytes(b);
      return true;
    } catch {
      return false;
    }
  },
  scalarAdd: (a, b) => Fn.toBytes(Fn.add(nScalar(a), nScalar(b))) as Scalar,
  scalarSub: (a, b) => Fn.toBytes(Fn.sub(nScalar(a), nScalar(b))) as Scalar,
  scalarMul: (a, b) => Fn.toBytes(Fn.mul(nScalar(a), nScalar(b))) as Scalar,
  scalarNeg: (a) => Fn.toBytes(Fn.neg(nScalar(a))) as Scalar,
  scalarInv(a) {
    if (isZero(a)) throw new OvertError('GROUP_ZERO_SCALAR', 'cannot invert the zero scalar');
    return Fn.toBytes(Fn.inv(nScalar(a))) as Scalar;
  },
  scalarReduce64: (b) => scalarFromBigint(bytesToBigintLE(b)),
};

/** The back-end every protocol in this package uses. */
export const group: Group = sodium;

function bytesToBigintLE(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
}

/** n mod ℓ as a scalar. */
export function scalarFromBigint(n: bigint): Scalar {
  let v = n % ORDER;
  if (v < 0n) v += ORDER;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out as Scalar;
}

export function scalarToBigint(s: Scalar): bigint {
  return bytesToBigintLE(s);
}

/** A small non-negative integer (a participant index, a count) as a scalar. */
export function scalarFromInt(n: number): Scalar {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new OvertError('GROUP_BAD_SCALAR', 'scalar index must be a non-negative integer');
  return scalarFromBigint(BigInt(n));
}

export function isZeroScalar(s: Scalar): boolean {
  return isZero(s);
}

export function isIdentity(e: Element): boolean {
  return isZero(e);
}

export const zeroScalar: Scalar = ZERO_SCALAR;

/** A uniformly random scalar: 64 random bytes reduced mod ℓ (bias < 2^-250). */
export function randomScalar(rng: RandomSource = randomBytes): Scalar {
  return group.scalarReduce64(rng(64));
}

/** A uniformly random non-zero scalar. */
export function randomNonZeroScalar(rng: RandomSource = randomBytes): Scalar {
  for (;;) {
    const s = randomScalar(rng);
    if (!isZero(s)) return s;
  }
}

/**
 * Decodes a scalar from attacker-controlled bytes: exactly 32 bytes and fully reduced (< ℓ), else
 * GROUP_BAD_SCALAR. A non-canonical scalar would let one value have two encodings.
 */
export function decodeScalar(b: Uint8Array, what = 'scalar'): Scalar {
  if (b.length !== SCALAR_BYTES) throw new OvertError('GROUP_BAD_SCALAR', `${what} must be 32 bytes`);
  if (bytesToBigintLE(b) >= ORDER)
    throw new OvertError('GROUP_BAD_SCALAR', `${what} is not reduced mod the group order`);
  return b.slice() as Scalar;
}

/**
 * Decodes an element from attacker-controlled bytes (RFC 9496 §4.3.1: canonical encodings only), else
 * GROUP_BAD_ELEMENT. The identity is refused with GROUP_IDENTITY unless `allowIdentity` is set, because a
 * public key, a capsule point or a share equal to the identity is always a sign of an attack.
 */
export function decodeElement(b: Uint8Array, what = 'element', allowIdentity = false): Element {
  if (b.length !== ELEMENT_BYTES || !group.isValidElement(b)) {
    throw new OvertError('GROUP_BAD_ELEMENT', `${what} is not a canonical ristretto255 encoding`);
  }
  if (!allowIdentity && isZero(b)) throw new OvertError('GROUP_IDENTITY', `${what} is the identity element`);
  return b.slice() as Element;
}

export function elementEquals(a: Element, b: Element): boolean {
  return equalBytes(a, b);
}

/**
 * Hash to the group (RFC 9380 §3 hash_to_curve for the suite ristretto255_XMD:SHA-512_R255MAP_RO_, RFC 9380
 * Appendix B / RFC 9496 §4.3.4): expand_message_xmd(msg, DST, 64) with SHA-512, then the one-way map. Nobody
 * knows the discrete log of the output, which is what TDH2's second generator needs.
 */
export function hashToElement(msg: Uint8Array, dst: string): Element {
  return group.fromUniformBytes(expand_message_xmd(msg, utf8Encode(dst), 64, sha512));
}

/** The same map computed entirely by @noble/curves' own hasher, for cross-checks. */
export function hashToElementNoble(msg: Uint8Array, dst: string): Element {
  return ristretto255_hasher.hashToCurve(msg, { DST: dst }).toBytes() as Element;
}

/** A scalar derived from a domain-separated hash (taggedHash64, reduced mod ℓ): challenges, derived nonces. */
export function hashToScalar(tag: string, ...parts: readonly Uint8Array[]): Scalar {
  return group.scalarReduce64(taggedHash64(tag, ...parts));
}

/** Bytes of fresh randomness ρ that a hedged nonce takes from the rng. */
export const HEDGE_BYTES = 32;

/**
 * A hedged proof nonce (foundations.md §4): `S_tag(secret, context_1, …, context_m, ρ)` with ρ = 32 bytes from
 * `rng`. Deterministic given ρ (reproducible vectors) and uniform when ρ is; when ρ repeats (a broken, seeded or
 * replayed rng) the nonce still differs as soon as the secret or the context differs. The context must hold
 * everything the proof's Fiat–Shamir challenge binds apart from the nonce commitment and what the secret itself
 * determines: then two proofs share a nonce only if they share the challenge, so the two-equation attack
 * (z_1 − z_2 = (c_1 − c_2)·secret) has nothing to work with. Capsule decryption shares (capsule.md §5) and DKG
 * proofs of knowledge (dkg.md §4.1) both use it. A zero nonce (probability 2^-251) is reported as a bug.
 */
export function hedgedNonce(
  tag: string,
  secret: Scalar,
  context: readonly Uint8Array[],
  rng: RandomSource = randomBytes,
): Scalar {
  const nonce = hashToScalar(tag, secret, ...context, rng(HEDGE_BYTES));
  if (isZero(nonce)) throw new InternalError('derived nonce is zero');
  return nonce;
}
