/**
 * Ed25519 signatures (RFC 8032) for every signed object in Overt: device identities, policies, requests,
 * decisions, log checkpoints and witness cosignatures. Backed by libsodium (WASM, synchronous, measured faster
 * than pure-JS Ed25519 by ~5–10×); @noble/curves' ed25519 is the reference in tests.
 *
 * libsodium's verification is strict: it rejects non-canonical R and S encodings and small-order public keys,
 * so one message has at most one valid signature under a given key.
 */
import sodiumLib from 'libsodium-wrappers-sumo';
import { OvertError } from './errors.js';

await sodiumLib.ready;

export const SIGNING_SEED_BYTES = 32;
export const SIGNING_PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

/** An Ed25519 key pair. `secretKey` is libsodium's 64-byte form (seed ‖ public key); keep it secret. */
export interface SigningKeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

/** Derives the key pair from a 32-byte seed (RFC 8032 §5.1.5). */
export function signingKeyFromSeed(seed: Uint8Array): SigningKeyPair {
  if (seed.length !== SIGNING_SEED_BYTES)
    throw new OvertError('CODEC_LENGTH', 'Ed25519 seed must be 32 bytes');
  const kp = sodiumLib.crypto_sign_seed_keypair(seed);
  return { publicKey: kp.publicKey, secretKey: kp.privateKey };
}

/** A fresh key pair from the platform's random source. */
export function generateSigningKey(): SigningKeyPair {
  const seed = new Uint8Array(SIGNING_SEED_BYTES);
  globalThis.crypto.getRandomValues(seed);
  return signingKeyFromSeed(seed);
}

/** The 32-byte seed inside a libsodium secret key. */
export function signingSeed(key: SigningKeyPair): Uint8Array {
  return key.secretKey.slice(0, SIGNING_SEED_BYTES);
}

export function sign(key: SigningKeyPair, message: Uint8Array): Uint8Array {
  return sodiumLib.crypto_sign_detached(message, key.secretKey);
}

/** True iff `signature` is a valid Ed25519 signature of `message` under `publicKey`. Never throws on bad input. */
export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== SIGNING_PUBLIC_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  try {
    return sodiumLib.crypto_sign_verify_detached(signature, message, publicKey);
  } catch {
    return false;
  }
}
