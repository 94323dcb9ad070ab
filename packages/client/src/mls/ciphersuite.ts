/**
 * The one MLS ciphersuite Overt speaks: MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 (RFC 9420 §17.1, id 0x0001),
 * the suite every RFC 9420 implementation must support (§13). Its signature scheme is Ed25519, the scheme of
 * Overt's device identity keys, so a device signs its MLS leaf with the very key the transparency log lists.
 *
 * The implementation is assembled from ts-mls's own `nobleCryptoProvider` (SHA-256 and HMAC from @noble/hashes,
 * AES-128-GCM from @noble/ciphers, HPKE from @hpke/core) with two parts replaced:
 * - the KDF: HKDF-SHA256 (RFC 5869) from @noble/hashes instead of @hpke/core's WebCrypto HMAC. MLS derives
 *   dozens of secrets per message and hundreds per commit (RFC 9420 §8, §9); a WebCrypto key import and an
 *   asynchronous job per HMAC dominated the cost of processing a commit in a 50-member group;
 * - Ed25519: @overt/core's libsodium binding, so that one Ed25519 implementation checks every signature in
 *   Overt, with strict verification (non-canonical encodings and small-order keys rejected, so all members agree
 *   on validity), and no per-signature key import.
 * Both replacements are checked against the RFC 9420 interop vectors (rfc9420-interop-vectors.test.ts), and
 * bench/mls/run.ts measures them against ts-mls's default provider.
 */

import { expand, extract } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  generateSigningKey,
  type SigningKeyPair,
  sign,
  signingKeyFromSeed,
  verifySignature,
} from '@overt/core';
import {
  type CiphersuiteImpl,
  type CiphersuiteName,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  type Kdf,
  nobleCryptoProvider,
  type Signature,
} from 'ts-mls';
import { ClientError } from '../errors.js';

export const CIPHERSUITE_NAME: CiphersuiteName = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
export const CIPHERSUITE_ID = 1;

/**
 * Ed25519 for ts-mls's `Signature` interface. A signing key is libsodium's 64-byte secret key (seed ‖ public key),
 * as held by an {@link SigningKeyPair}; a bare 32-byte seed (RFC 8032 §5.1.5, the format of the RFC 9420 test
 * vectors) is also accepted.
 */
export const ed25519Signature: Signature = {
  async sign(signKey: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
    return sign(toKeyPair(signKey), message);
  },
  async verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    return verifySignature(publicKey, message, signature);
  },
  async keygen(): Promise<{ publicKey: Uint8Array; signKey: Uint8Array }> {
    const kp = generateSigningKey();
    return { publicKey: kp.publicKey, signKey: kp.secretKey };
  },
};

function toKeyPair(signKey: Uint8Array): SigningKeyPair {
  if (signKey.length === 64) return { secretKey: signKey, publicKey: signKey.subarray(32) };
  if (signKey.length === 32) return signingKeyFromSeed(signKey);
  throw new ClientError('MLS_USAGE', 'Ed25519 signing key must be 32 or 64 bytes');
}

/** HKDF-SHA256 (RFC 5869) for ts-mls's `Kdf` interface. An empty salt is HashLen zero bytes (§2.2), as HMAC pads. */
export const hkdfSha256: Kdf = {
  async extract(salt: Uint8Array, ikm: Uint8Array): Promise<Uint8Array> {
    return extract(sha256, ikm, salt);
  },
  async expand(prk: Uint8Array, info: Uint8Array, len: number): Promise<Uint8Array> {
    return expand(sha256, prk, info, len);
  },
  size: 32,
};

let cached: Promise<CiphersuiteImpl> | undefined;

/** Overt's implementation of suite 1 (see the module comment). Built once, then shared. */
export function mlsCiphersuite(): Promise<CiphersuiteImpl> {
  cached ??= getCiphersuiteImpl(getCiphersuiteFromName(CIPHERSUITE_NAME), nobleCryptoProvider).then(
    (impl) => ({
      ...impl,
      kdf: hkdfSha256,
      signature: ed25519Signature,
    }),
  );
  return cached;
}

/** ts-mls's own implementation of suite 1, unchanged: the baseline for benchmarks and interop vectors. */
export function tsMlsCiphersuite(): Promise<CiphersuiteImpl> {
  return getCiphersuiteImpl(getCiphersuiteFromName(CIPHERSUITE_NAME));
}
