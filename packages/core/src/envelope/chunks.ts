/**
 * Chunk geometry and the ciphertext digest (docs/spec/envelope.md §5).
 *
 * A payload of length P in chunks of size S has n = max(1, ceil(P / S)) chunks; chunk i < n − 1 holds S
 * plaintext bytes and the final one the rest (0 bytes only when P = 0). Each ciphertext chunk is its
 * plaintext length plus a 16-byte GCM tag, so the header fixes the exact length of every chunk.
 *
 * The ciphertext digest is a hash list over the ciphertext chunks as transmitted:
 *     digest = SHA-256( u16 len(T) ‖ T ‖ SHA-256(c_0) ‖ SHA-256(c_1) ‖ … ‖ SHA-256(c_{n−1}) ),
 *     T = "overt/envelope/v1/ciphertext-digest".
 * The number of chunks is fixed by the header, so the concatenation is unambiguous. It is computed in one
 * pass while the ciphertext streams by, by the sender (which only learns it at the end) and by the relay
 * and a trustee (which hold no key); whoever keeps the list of chunk hashes can check any single chunk
 * against it. Hashing each chunk with plain SHA-256 lets the platform's WebCrypto digest do the bulk work
 * (aead/backend.ts). A recipient needs no per-chunk digest check: each chunk is already authenticated at its
 * position under the committed key; the digest tells it, at the end, that what it decrypted is exactly the
 * ciphertext the label (and so the capsule) names.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { AEAD_TAG_BYTES } from '../aead/backend.js';
import { utf8Encode } from '../bytes.js';
import type { ErrorCode } from '../errors.js';
import { OvertError } from '../errors.js';
import { chunkCount } from './header.js';

export const TAG_CIPHERTEXT_DIGEST = 'overt/envelope/v1/ciphertext-digest';

/** u16 len(tag) ‖ tag: the prefix of every hash-list and MAC input (the framing taggedHash starts with). */
export function tagPrefix(tag: string): Uint8Array {
  const t = utf8Encode(tag);
  const out = new Uint8Array(2 + t.length);
  new DataView(out.buffer).setUint16(0, t.length);
  out.set(t, 2);
  return out;
}

const DIGEST_PREFIX = tagPrefix(TAG_CIPHERTEXT_DIGEST);

/** The digest, fed one chunk hash SHA-256(c_i) at a time in chunk order. */
export class CiphertextDigest {
  private readonly hash = sha256.create().update(DIGEST_PREFIX);

  add(chunkHash: Uint8Array): this {
    this.hash.update(chunkHash);
    return this;
  }

  digest(): Uint8Array {
    return this.hash.digest();
  }
}

/** The digest of a complete ciphertext given as its chunks (synchronous; for tests and small envelopes). */
export function ciphertextDigest(chunks: Iterable<Uint8Array>): Uint8Array {
  const d = new CiphertextDigest();
  for (const c of chunks) d.add(sha256(c));
  return d.digest();
}

/** Geometry of one stream: the exact byte length of chunk i, plaintext or ciphertext. */
export class ChunkGeometry {
  readonly count: number;

  constructor(
    readonly payloadLength: number,
    readonly chunkSize: number,
  ) {
    this.count = chunkCount(payloadLength, chunkSize);
  }

  plainLength(index: number): number {
    return index < this.count - 1 ? this.chunkSize : this.payloadLength - this.chunkSize * (this.count - 1);
  }

  cipherLength(index: number): number {
    return this.plainLength(index) + AEAD_TAG_BYTES;
  }

  get ciphertextLength(): number {
    return this.payloadLength + AEAD_TAG_BYTES * this.count;
  }
}

export interface Chunk {
  readonly index: number;
  readonly last: boolean;
  readonly bytes: Uint8Array;
}

export interface FramerErrors {
  /** Raised when more bytes arrive than the geometry allows. */
  readonly overflow: { code: ErrorCode; check: string; message: string };
  /** Raised by {@link Framer.end} when fewer bytes arrived. */
  readonly underflow: { code: ErrorCode; check: string; message: string };
}

/**
 * Cuts a byte stream, delivered in pieces of any size, into the chunks of a geometry (plaintext or
 * ciphertext sizes). Holds at most one chunk in memory.
 */
export class Framer {
  private index = 0;
  private buffer: Uint8Array | null = null;
  private filled = 0;

  constructor(
    private readonly sizeOf: (index: number) => number,
    private readonly count: number,
    private readonly errors: FramerErrors,
  ) {}

  get done(): boolean {
    return this.index >= this.count;
  }

  /** The complete chunks that `bytes` finishes, in order. A chunk may be a view into `bytes`. */
  push(bytes: Uint8Array): Chunk[] {
    const out: Chunk[] = [];
    let at = 0;
    while (at < bytes.length) {
      if (this.done) {
        const e = this.errors.overflow;
        throw new OvertError(e.code, e.message, { check: e.check });
      }
      const size = this.sizeOf(this.index);
      if (this.filled === 0 && bytes.length - at >= size) {
        this.emit(bytes.subarray(at, at + size), out);
        at += size;
        continue;
      }
      this.buffer ??= new Uint8Array(size);
      const n = Math.min(size - this.filled, bytes.length - at);
      this.buffer.set(bytes.subarray(at, at + n), this.filled);
      this.filled += n;
      at += n;
      if (this.filled === size) {
        const full = this.buffer;
        this.buffer = null;
        this.filled = 0;
        this.emit(full, out);
      }
    }
    return out;
  }

  /** Asserts every chunk has arrived; returns the final chunk if it is empty (an empty payload). */
  end(): Chunk[] {
    const out: Chunk[] = [];
    if (!this.done && this.filled === 0 && this.sizeOf(this.index) === 0) this.emit(new Uint8Array(0), out);
    if (!this.done) {
      const e = this.errors.underflow;
      throw new OvertError(e.code, e.message, { check: e.check });
    }
    return out;
  }

  private emit(bytes: Uint8Array, out: Chunk[]): void {
    out.push({ index: this.index, last: this.index === this.count - 1, bytes });
    this.index++;
  }
}
