/**
 * Encryption of DKG shares to their recipients with HPKE (RFC 9180) base mode, suite DHKEM(X25519, HKDF-SHA256),
 * HKDF-SHA256, AES-128-GCM — the HPKE configuration of MLS cipher suite 1 (RFC 9420 §17.1) — through @hpke/core.
 *
 * The ephemeral key is derived with the KEM's DeriveKeyPair (RFC 9180 §7.1.3) from 32 bytes of the caller's
 * RandomSource. RFC 9180 §4 defines GenerateKeyPair as exactly this on uniformly random input, so this changes
 * nothing for security and makes whole runs reproducible from seeds (docs/spec/dkg.md §4.2, the vectors).
 * @hpke/core accepts that input through its `ekm` parameter, which it labels for testing; the dependency is
 * pinned (1.9.0) and the vector test fails if its behaviour changes.
 *
 * @hpke/core is asynchronous and returns ArrayBuffers; everything here returns Uint8Array.
 */
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { concatBytes, type RandomSource, randomBytes, utf8Encode } from '../bytes.js';
import { OvertError } from '../errors.js';

const suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes128Gcm(),
});

/** Nenc for DHKEM(X25519): the encapsulated key. */
export const DKG_HPKE_ENC_BYTES = 32;
/** Ciphertext of a 32-byte scalar under AES-128-GCM: 32 + 16-byte tag. */
export const DKG_HPKE_CIPHERTEXT_BYTES = 48;

/** An X25519 key pair for HPKE, both halves as raw 32-byte strings (RFC 9180 §7.1.1 SerializePublicKey). */
export interface DkgEncryptionKeyPair {
  readonly publicKey: Uint8Array;
  /** Secret: never log it. */
  readonly secretKey: Uint8Array;
}

/** RFC 9180 §7.1.3 DeriveKeyPair for DHKEM(X25519, HKDF-SHA256); `ikm` should carry at least 32 bytes of entropy. */
export async function deriveDkgEncryptionKey(ikm: Uint8Array): Promise<DkgEncryptionKeyPair> {
  const kp = await suite.kem.deriveKeyPair(ikm);
  return {
    publicKey: new Uint8Array(await suite.kem.serializePublicKey(kp.publicKey)),
    secretKey: new Uint8Array(await suite.kem.serializePrivateKey(kp.privateKey)),
  };
}

/** A fresh HPKE key pair from `rng` (default: the platform's CSPRNG). */
export function generateDkgEncryptionKey(rng: RandomSource = randomBytes): Promise<DkgEncryptionKeyPair> {
  return deriveDkgEncryptionKey(rng(32));
}

/** info = "overt/dkg/v1/share" ‖ session_id ‖ u8 sender ‖ u8 recipient (docs/spec/dkg.md §4.2). */
export function shareInfo(sessionId: Uint8Array, sender: number, recipient: number): Uint8Array {
  return concatBytes(utf8Encode('overt/dkg/v1/share'), sessionId, Uint8Array.of(sender, recipient));
}

/** Seals `plaintext` to `recipientKey`; the KEM's ephemeral key comes from `rng`. */
export async function sealShare(
  recipientKey: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
  rng: RandomSource,
): Promise<{ enc: Uint8Array; ciphertext: Uint8Array }> {
  let pk: CryptoKey;
  try {
    pk = await suite.kem.deserializePublicKey(recipientKey);
  } catch (cause) {
    throw new OvertError('DKG_PARAMS', 'recipient encryption key is not a usable X25519 key', {
      check: 'DKG-1',
      cause,
    });
  }
  try {
    const out = await suite.seal({ recipientPublicKey: pk, info, ekm: rng(32) }, plaintext, aad);
    return { enc: new Uint8Array(out.enc), ciphertext: new Uint8Array(out.ct) };
  } catch (cause) {
    // RFC 9180 §7.1.4: an all-zero X25519 output (a low-order recipient key) makes encapsulation fail.
    throw new OvertError('DKG_PARAMS', 'encapsulation to the recipient encryption key failed', {
      check: 'DKG-1',
      cause,
    });
  }
}

/** Opens a sealed share; any failure (bad key, bad enc, wrong context, forged ciphertext) is DKG_BAD_SHARE. */
export async function openShare(
  secretKey: Uint8Array,
  enc: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
): Promise<Uint8Array> {
  try {
    const sk = await suite.kem.deserializePrivateKey(secretKey);
    return new Uint8Array(await suite.open({ recipientKey: sk, enc, info }, ciphertext, aad));
  } catch (cause) {
    throw new OvertError('DKG_BAD_SHARE', 'share ciphertext does not decrypt', { check: 'DKG-12', cause });
  }
}
