/**
 * The franking commitment (Grubbs–Lu–Ristenpart, "Message Franking via Committing Authenticated Encryption",
 * CRYPTO 2017; Facebook's scheme, §3 there): an HMAC-SHA256 under a per-message franking key over the
 * envelope's header context and the plaintext (docs/spec/franking.md §2):
 *
 *     fc = HMAC-SHA256(fk, u16 len(T) ‖ T ‖ HC ‖ SHA-256(m_0) ‖ … ‖ SHA-256(m_{n−1})),
 *     T = "overt/franking/v1/commitment"
 *
 * where m_i are the plaintext chunks in the envelope's chunk geometry (their number is fixed by the header,
 * which HC binds) and HC is the header-context hash (docs/spec/envelope.md §2.2), so fc binds sender,
 * conversation, recipients, message id and send time as well as the plaintext. Hashing each chunk first lets
 * the platform's SHA-256 do the bulk work while a file streams. HMAC over a collision-resistant hash is a
 * committing MAC: nobody, the sender included, can find a second (fk', plaintext') with the same fc (GLR17
 * §4). fk is derived from the content key K (aead/keys.ts), so revealing it in a report discloses neither K
 * nor any other message.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ChunkGeometry, tagPrefix } from '../envelope/chunks.js';

export const TAG_FRANKING_COMMITMENT = 'overt/franking/v1/commitment';
const PREFIX = tagPrefix(TAG_FRANKING_COMMITMENT);

/** Computes fc incrementally, one plaintext chunk hash SHA-256(m_i) at a time, in chunk order. */
export class FrankingMac {
  private readonly mac: ReturnType<typeof hmac.create>;

  constructor(frankingKey: Uint8Array, headerContextHash: Uint8Array) {
    this.mac = hmac.create(sha256, frankingKey);
    this.mac.update(PREFIX).update(headerContextHash);
  }

  add(chunkHash: Uint8Array): this {
    this.mac.update(chunkHash);
    return this;
  }

  digest(): Uint8Array {
    return this.mac.digest();
  }
}

/** fc for a plaintext held in memory, cut into chunks of `chunkSize` (the header's). */
export function frankingCommitment(
  frankingKey: Uint8Array,
  headerContextHash: Uint8Array,
  plaintext: Uint8Array,
  chunkSize: number,
): Uint8Array {
  const g = new ChunkGeometry(plaintext.length, chunkSize);
  const mac = new FrankingMac(frankingKey, headerContextHash);
  for (let i = 0, at = 0; i < g.count; i++) {
    const n = g.plainLength(i);
    mac.add(sha256(plaintext.subarray(at, at + n)));
    at += n;
  }
  return mac.digest();
}
