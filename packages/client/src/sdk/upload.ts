/**
 * Sealing an envelope and putting it on the relay (docs/spec/client.md §4, relay.md §6.7). A small envelope goes
 * inline in one PUT. A large one streams: core's {@link EnvelopeSealer} seals the payload chunk by chunk, each
 * relay blob chunk is uploaded as soon as its ciphertext is complete, the blob's SHA-256 is computed on the way
 * and declared at completion, and the head (known only once sealing finishes, signed with the device's identity
 * key, envelope.md §3.1) is PUT last. So the client never holds the whole ciphertext, only the payload it was
 * given and one blob chunk.
 */
import {
  ciphertextLength,
  DEFAULT_CHUNK_SIZE,
  type Element,
  EnvelopeSealer,
  type HeaderFields,
  isOvertError,
  type SealedEnvelope,
  type SealedEnvelopeHead,
  type SigningKeyPair,
  sealEnvelope,
  sha256,
} from '@overt/core';
import { ClientError } from '../errors.js';
import type { RelayTransport } from '../transport/relay-transport.js';

export interface UploadLimits {
  /** Envelopes whose ciphertext is at most this long go inline (the relay's body limit is 2 MiB). */
  readonly inlineMax: number;
  /** Relay blob chunk size (the relay accepts 64 KiB .. 1 MiB). */
  readonly blobChunkSize: number;
  /** Called after each blob chunk of plaintext is sealed and uploaded: bytes of `payload` done, and its length. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** Core's sealing refusals (a field the header cannot carry, a payload too large) are the caller's. */
async function sealing<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (cause) {
    if (isOvertError(cause)) throw new ClientError('SDK_USAGE', 'payload cannot be sealed', { cause });
    throw cause;
  }
}

/**
 * Seals a small envelope, signed with the device's identity key `signer`, without storing it (the caller sends it
 * with its MLS message in one frame).
 */
export function sealInline(
  fields: HeaderFields,
  payload: Uint8Array,
  epochKey: Element,
  signer: SigningKeyPair,
): Promise<SealedEnvelope> {
  return sealing(() => sealEnvelope(fields, payload, epochKey, signer));
}

/**
 * Seals `payload` under the epoch key, signs it with the device's identity key `signer` (the key the relay
 * authenticates the upload with) and stores the envelope on the relay; resolves the head and the secrets
 * (K, seed) for the MLS message. Throws SDK_USAGE when core refuses to seal, RELAY_* when the relay refuses.
 * A failure mid-stream leaves an incomplete blob on the relay, which no envelope can reference.
 */
export async function sealAndPut(
  transport: RelayTransport,
  fields: HeaderFields,
  payload: Uint8Array,
  epochKey: Element,
  signer: SigningKeyPair,
  limits: UploadLimits,
): Promise<SealedEnvelopeHead> {
  const size = ciphertextLength(payload.length, DEFAULT_CHUNK_SIZE);
  if (size <= limits.inlineMax) {
    const { envelope, ...head } = await sealing(() => sealEnvelope(fields, payload, epochKey, signer));
    await transport.putEnvelope(head.header.messageId, envelope);
    return head;
  }
  const sealer = await sealing(() => EnvelopeSealer.create(fields, payload.length, epochKey, signer));
  const { blobId } = await transport.createBlob(size, limits.blobChunkSize);
  const out = new BlobChunker(transport, blobId, limits.blobChunkSize);
  // Feed the sealer one blob chunk of plaintext at a time: its ciphertext is slightly longer (a tag per
  // envelope chunk), so each step completes about one relay chunk.
  for (let at = 0; at < payload.length; at += limits.blobChunkSize) {
    await out.write(await sealing(() => sealer.update(payload.subarray(at, at + limits.blobChunkSize))));
    limits.onProgress?.(Math.min(payload.length, at + limits.blobChunkSize), payload.length);
  }
  const { ciphertextTail, ...head } = await sealing(() => sealer.finish());
  await out.write(ciphertextTail);
  const digest = await out.end();
  await transport.completeBlob(blobId, digest);
  await transport.putEnvelope(head.header.messageId, head.head, blobId);
  return head;
}

/** Cuts a stream of ciphertext pieces into relay blob chunks, uploads each, and hashes the whole. */
class BlobChunker {
  private readonly buffer: Uint8Array;
  private filled = 0;
  private index = 0;
  private readonly hash = sha256.create();

  constructor(
    private readonly transport: RelayTransport,
    private readonly blobId: string,
    chunkSize: number,
  ) {
    this.buffer = new Uint8Array(chunkSize);
  }

  async write(piece: Uint8Array): Promise<void> {
    this.hash.update(piece);
    let at = 0;
    while (at < piece.length) {
      const n = Math.min(piece.length - at, this.buffer.length - this.filled);
      this.buffer.set(piece.subarray(at, at + n), this.filled);
      this.filled += n;
      at += n;
      if (this.filled === this.buffer.length) await this.flush();
    }
  }

  /** Uploads the last (shorter) chunk, if any; resolves the SHA-256 of everything written. */
  async end(): Promise<Uint8Array> {
    if (this.filled > 0) await this.flush();
    return this.hash.digest();
  }

  private async flush(): Promise<void> {
    // The transport copies the body before sending, so the buffer can be reused at once.
    await this.transport.putBlobChunk(this.blobId, this.index++, this.buffer.subarray(0, this.filled));
    this.filled = 0;
  }
}
