/**
 * The bulk primitives of envelopes, AES-256-GCM (NIST SP 800-38D) and SHA-256 (FIPS 180-4), behind one small
 * asynchronous interface with two back-ends that produce identical bytes:
 *
 * - {@link webCryptoBackend}: the platform's WebCrypto (`globalThis.crypto.subtle`, in Node ≥ 19 and every
 *   browser's secure context). Measured 9–26× faster than pure JS on 64 KiB chunks (docs/spec/envelope.md
 *   §"Choice of AEAD"), which is what makes multi-megabyte files practical (likewise SHA-256, ~3×); it is
 *   asynchronous, so the whole envelope API is.
 * - {@link nobleBackend}: @noble/ciphers' and @noble/hashes' audited pure-TypeScript AES-GCM and SHA-256, for contexts without WebCrypto
 *   (a browser page served over plain http has no `crypto.subtle`) and as the cross-check in tests.
 *
 * Every key here is a per-message key derived by aead/keys.ts; callers never pass a long-term key.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { sha256 } from '@noble/hashes/sha2.js';

export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 12;
export const AEAD_TAG_BYTES = 16;

/** An AES-256-GCM key prepared for repeated use (WebCrypto imports it once per message, not per chunk). */
export interface AeadKey {
  /** Ciphertext ‖ 16-byte tag. */
  seal(nonce: Uint8Array, associatedData: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array>;
  /** The plaintext, or null when the tag does not verify. Never throws on bad ciphertext. */
  open(nonce: Uint8Array, associatedData: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array | null>;
}

export interface CryptoBackend {
  readonly name: string;
  importKey(key: Uint8Array): Promise<AeadKey>;
  /** Plain SHA-256 of one chunk (the chunk hashes of docs/spec/envelope.md §5). */
  sha256(data: Uint8Array): Promise<Uint8Array>;
}

// WebCrypto's BufferSource is typed over ArrayBuffer only. Views over a SharedArrayBuffer are not supported
// (WebCrypto refuses them); bytes from the network, files and our own encoders are never shared.
type Buf = Uint8Array<ArrayBuffer>;

export const webCryptoBackend: CryptoBackend = {
  name: 'webcrypto',
  async sha256(data) {
    return new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', data as Buf));
  },
  async importKey(key) {
    const subtle = globalThis.crypto.subtle;
    const k = await subtle.importKey('raw', key as Buf, 'AES-GCM', false, ['encrypt', 'decrypt']);
    return {
      async seal(nonce, associatedData, plaintext) {
        const params = { name: 'AES-GCM', iv: nonce as Buf, additionalData: associatedData as Buf };
        return new Uint8Array(await subtle.encrypt(params, k, plaintext as Buf));
      },
      async open(nonce, associatedData, ciphertext) {
        if (ciphertext.length < AEAD_TAG_BYTES) return null;
        const params = { name: 'AES-GCM', iv: nonce as Buf, additionalData: associatedData as Buf };
        try {
          return new Uint8Array(await subtle.decrypt(params, k, ciphertext as Buf));
        } catch {
          // WebCrypto reports a bad tag as an OperationError; that is the only failure for valid inputs.
          return null;
        }
      },
    };
  },
};

export const nobleBackend: CryptoBackend = {
  name: 'noble',
  async sha256(data) {
    return sha256(data);
  },
  async importKey(key) {
    const k = key.slice();
    return {
      async seal(nonce, associatedData, plaintext) {
        return gcm(k, nonce, associatedData).encrypt(plaintext);
      },
      async open(nonce, associatedData, ciphertext) {
        if (ciphertext.length < AEAD_TAG_BYTES) return null;
        try {
          return gcm(k, nonce, associatedData).decrypt(ciphertext);
        } catch {
          return null;
        }
      },
    };
  },
};

/**
 * Synchronous AES-256-GCM (@noble/ciphers), the same function as both back-ends. For messages of a few KiB, a
 * WebCrypto call costs more in key import, thread-pool dispatch and promise plumbing than the cipher itself;
 * the envelope's small-payload path (envelope/seal.ts, envelope/open.ts) uses this instead.
 */
export function gcmSealSync(
  key: Uint8Array,
  nonce: Uint8Array,
  associatedData: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  return gcm(key, nonce, associatedData).encrypt(plaintext);
}

/** {@link gcmSealSync}'s inverse: the plaintext, or null when the tag does not verify. Never throws. */
export function gcmOpenSync(
  key: Uint8Array,
  nonce: Uint8Array,
  associatedData: Uint8Array,
  ciphertext: Uint8Array,
): Uint8Array | null {
  if (ciphertext.length < AEAD_TAG_BYTES) return null;
  try {
    return gcm(key, nonce, associatedData).decrypt(ciphertext);
  } catch {
    return null;
  }
}

/** WebCrypto where the platform has it, else @noble/ciphers; both compute the same function. */
export function defaultCryptoBackend(): CryptoBackend {
  return globalThis.crypto?.subtle !== undefined ? webCryptoBackend : nobleBackend;
}
