/**
 * The key-committing key schedule of an envelope (docs/spec/envelope.md §4).
 *
 * One fresh 32-byte content key K per envelope. HKDF-SHA256 (RFC 5869) derives from K, under distinct
 * labels: the AES-256-GCM key, a 32-byte key commitment, the 7-byte STREAM nonce prefix and the franking key.
 * The commitment goes in the header; the opener recomputes it from the K it was given and refuses to decrypt
 * unless it matches. This is the "UtC" pattern of Bellare–Hoang (EUROCRYPT 2022): a collision-resistant
 * derivation yields both the commitment and the encryption key, so one header can only ever be opened under
 * one K, which removes the invisible-salamander attack on GCM (Dodis–Grubbs–Ristenpart–Woodage, CRYPTO 2018).
 * The AWS Encryption SDK's key commitment is built the same way (HKDF-derived commitment key).
 */
import { extract } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes, utf8Encode } from '../bytes.js';
import { OvertError } from '../errors.js';

export const CONTENT_KEY_BYTES = 32;
export const KEY_COMMITMENT_BYTES = 32;
export const NONCE_PREFIX_BYTES = 7;
export const FRANKING_KEY_BYTES = 32;

export const TAG_KEY_SCHEDULE = 'overt/envelope/v1/key-schedule';
export const TAG_ENCRYPTION_KEY = 'overt/envelope/v1/encryption-key';
export const TAG_KEY_COMMITMENT = 'overt/envelope/v1/key-commitment';
export const TAG_NONCE_PREFIX = 'overt/envelope/v1/nonce-prefix';
export const TAG_FRANKING_KEY = 'overt/envelope/v1/franking-key';

const SALT = utf8Encode(TAG_KEY_SCHEDULE);
const INFO_ENC = utf8Encode(TAG_ENCRYPTION_KEY);
const INFO_COMMIT = utf8Encode(TAG_KEY_COMMITMENT);
const INFO_PREFIX = utf8Encode(TAG_NONCE_PREFIX);
const INFO_FRANK = utf8Encode(TAG_FRANKING_KEY);
/** The single HKDF-Expand block counter every output here needs (each is at most one SHA-256 output). */
const COUNTER_1 = Uint8Array.of(1);

/** Everything derived from one content key K. All fields but `commitment` are secret. */
export interface MessageKeys {
  readonly encryptionKey: Uint8Array;
  readonly commitment: Uint8Array;
  readonly noncePrefix: Uint8Array;
  readonly frankingKey: Uint8Array;
}

function checkContentKey(key: Uint8Array): void {
  if (key.length !== CONTENT_KEY_BYTES)
    throw new OvertError('ENVELOPE_MALFORMED', 'content key must be 32 bytes', { check: 'AEAD-1' });
}

/** Derives the message keys from K. Throws ENVELOPE_MALFORMED (AEAD-1) unless K is 32 bytes. */
export function deriveMessageKeys(contentKey: Uint8Array): MessageKeys {
  checkContentKey(contentKey);
  const prk = extract(sha256, contentKey, SALT);
  // HKDF-Expand (RFC 5869 §2.3) for L ≤ 32 is the first L bytes of T(1) = HMAC(PRK, info ‖ 0x01). The four
  // outputs share one HMAC keyed with PRK, cloned per label, instead of keying a fresh HMAC for each.
  const keyed = hmac.create(sha256, prk);
  const expand32 = (info: Uint8Array, length: number): Uint8Array => {
    const t = keyed.clone().update(info).update(COUNTER_1).digest();
    return length === t.length ? t : t.slice(0, length);
  };
  const keys = {
    encryptionKey: expand32(INFO_ENC, 32),
    commitment: expand32(INFO_COMMIT, KEY_COMMITMENT_BYTES),
    noncePrefix: expand32(INFO_PREFIX, NONCE_PREFIX_BYTES),
    frankingKey: expand32(INFO_FRANK, FRANKING_KEY_BYTES),
  };
  keyed.destroy();
  prk.fill(0);
  return keys;
}

/**
 * Derives the message keys from K and checks them against the commitment taken from a header, before any
 * decryption (AEAD-2). Throws ENVELOPE_COMMITMENT when K is not the key the header commits to.
 */
export function openMessageKeys(contentKey: Uint8Array, commitment: Uint8Array): MessageKeys {
  const keys = deriveMessageKeys(contentKey);
  if (!equalBytes(keys.commitment, commitment))
    throw new OvertError('ENVELOPE_COMMITMENT', 'content key does not match the key commitment', {
      check: 'AEAD-2',
    });
  return keys;
}
