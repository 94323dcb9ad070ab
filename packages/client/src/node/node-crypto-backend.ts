/**
 * core's envelope AEAD back-end (AES-256-GCM and SHA-256, core aead/backend.ts) on node:crypto, for Node-only
 * bulk paths such as the requester's access workers: same bytes as core's WebCrypto and @noble back-ends, without
 * WebCrypto's per-call dispatch or pure-JS AES (core opens envelopes up to 4 KiB with @noble AES-GCM by default,
 * which is the right choice in a browser and the slow one in a Node worker that opens thousands of them).
 */
import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import type { CryptoBackend } from '@overt/core';

const TAG_BYTES = 16;

export const nodeCryptoBackend: CryptoBackend = {
  name: 'node:crypto',
  async sha256(data) {
    return new Uint8Array(createHash('sha256').update(data).digest());
  },
  async importKey(key) {
    const k = Buffer.from(key);
    return {
      async seal(nonce, associatedData, plaintext) {
        const c = createCipheriv('aes-256-gcm', k, nonce);
        c.setAAD(associatedData);
        const out = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
        return new Uint8Array(out.buffer, out.byteOffset, out.length);
      },
      async open(nonce, associatedData, ciphertext) {
        if (ciphertext.length < TAG_BYTES) return null;
        try {
          const d = createDecipheriv('aes-256-gcm', k, nonce);
          d.setAAD(associatedData);
          d.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_BYTES));
          const out = Buffer.concat([
            d.update(ciphertext.subarray(0, ciphertext.length - TAG_BYTES)),
            d.final(),
          ]);
          return new Uint8Array(out.buffer, out.byteOffset, out.length);
        } catch {
          // A tag that does not verify: the only failure for valid inputs.
          return null;
        }
      },
    };
  },
};
