/**
 * STREAM (Hoang–Reyhanitabar–Rogaway–Vizár, "Online Authenticated-Encryption and its Nonce-Reuse
 * Misuse-Resistance", CRYPTO 2015, §7): a long plaintext is cut into chunks, each sealed with AES-256-GCM
 * under the same per-message key and the nonce
 *
 *     nonce_i = prefix (7 bytes) ‖ u32 i (big-endian) ‖ u8 last   (last = 0x01 for the final chunk, else 0x00)
 *
 * so the position of every chunk, and which chunk is the final one, is authenticated. Reordering,
 * duplication, dropping a chunk or splicing in a chunk from another stream (another key or prefix) makes a
 * chunk fail at its position; cutting the stream after a non-final chunk is caught because that chunk does
 * not authenticate as the final one (docs/spec/envelope.md §5).
 *
 * Both objects are state machines: after the final chunk, or after any failure, they refuse further input, so
 * a caller cannot continue past an error by accident.
 */
import { OvertError } from '../errors.js';
import {
  AEAD_NONCE_BYTES,
  type AeadKey,
  type CryptoBackend,
  defaultCryptoBackend,
  gcmOpenSync,
  gcmSealSync,
} from './backend.js';
import { type MessageKeys, NONCE_PREFIX_BYTES } from './keys.js';

/** The counter is a u32, so a stream has at most 2^32 − 1 chunks (index 0 .. 2^32 − 2, plus room to fail). */
export const MAX_STREAM_CHUNKS = 0xffffffff;

/** nonce_i = prefix ‖ u32 i ‖ u8 last (HRRV15 §7, the nonce layout also used by Tink's streaming AEAD). */
export function streamNonce(prefix: Uint8Array, index: number, last: boolean): Uint8Array {
  if (prefix.length !== NONCE_PREFIX_BYTES)
    throw new OvertError('ENVELOPE_MALFORMED', 'nonce prefix must be 7 bytes', { check: 'AEAD-1' });
  if (!Number.isInteger(index) || index < 0 || index >= MAX_STREAM_CHUNKS)
    throw new OvertError('ENVELOPE_TOO_LARGE', 'stream has too many chunks', { check: 'AEAD-6' });
  const nonce = new Uint8Array(AEAD_NONCE_BYTES);
  nonce.set(prefix, 0);
  new DataView(nonce.buffer).setUint32(NONCE_PREFIX_BYTES, index);
  nonce[AEAD_NONCE_BYTES - 1] = last ? 1 : 0;
  return nonce;
}

type State = 'open' | 'done' | 'failed';

function refuse(state: State): never {
  throw new OvertError(
    'STREAM_ORDER',
    state === 'done' ? 'chunk after the final chunk' : 'stream already failed',
    { check: 'AEAD-5' },
  );
}

/** Seals the chunks of one stream in order. */
export class StreamSealer {
  private index = 0;
  private state: State = 'open';

  private constructor(
    private readonly key: AeadKey,
    private readonly prefix: Uint8Array,
    private readonly associatedData: Uint8Array,
  ) {}

  /** `associatedData` is bound to every chunk (the envelope passes its header-context hash). */
  static async create(
    keys: MessageKeys,
    associatedData: Uint8Array,
    backend: CryptoBackend = defaultCryptoBackend(),
  ): Promise<StreamSealer> {
    return new StreamSealer(await backend.importKey(keys.encryptionKey), keys.noncePrefix, associatedData);
  }

  get chunksSealed(): number {
    return this.index;
  }

  /**
   * Seals the next chunk; `last` marks the final one. The position is claimed synchronously, so calls that
   * are not awaited one by one still get consecutive positions in call order.
   */
  async seal(plaintext: Uint8Array, last: boolean): Promise<Uint8Array> {
    if (this.state !== 'open') refuse(this.state);
    const nonce = streamNonce(this.prefix, this.index, last);
    this.index++;
    if (last) this.state = 'done';
    return this.key.seal(nonce, this.associatedData, plaintext);
  }
}

/** Opens the chunks of one stream in order; every returned plaintext chunk is authentic at its position. */
export class StreamOpener {
  private index = 0;
  private state: State = 'open';
  private finalOpened = false;
  private pending: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly key: AeadKey,
    private readonly prefix: Uint8Array,
    private readonly associatedData: Uint8Array,
  ) {}

  static async create(
    keys: MessageKeys,
    associatedData: Uint8Array,
    backend: CryptoBackend = defaultCryptoBackend(),
  ): Promise<StreamOpener> {
    return new StreamOpener(await backend.importKey(keys.encryptionKey), keys.noncePrefix, associatedData);
  }

  get chunksOpened(): number {
    return this.index;
  }

  /** True once the final chunk has been opened: only then is the stream known to be complete. */
  get complete(): boolean {
    return this.finalOpened;
  }

  /**
   * Opens the next chunk. Throws STREAM_ORDER (AEAD-3) when the chunk does not authenticate at this position
   * (reordered, duplicated, taken from another stream, or altered); when a chunk offered as the final one
   * authenticates only as a non-final chunk, the stream was cut short: STREAM_TRUNCATED (AEAD-4). After the
   * final chunk or a failure, every call throws STREAM_ORDER (AEAD-5).
   */
  async open(ciphertext: Uint8Array, last: boolean): Promise<Uint8Array> {
    if (this.state !== 'open') refuse(this.state);
    const index = this.index;
    this.index++;
    if (last) this.state = 'done';
    // Decryption starts at once (chunks may be decrypted in parallel), but results are judged in order, so
    // a failure at position i poisons the opener before position i + 1 can be returned.
    const attempt = this.key.open(streamNonce(this.prefix, index, last), this.associatedData, ciphertext);
    const run = this.pending.then(() => this.judge(attempt, ciphertext, index, last));
    this.pending = run.catch(() => undefined);
    return run;
  }

  private async judge(
    attempt: Promise<Uint8Array | null>,
    ciphertext: Uint8Array,
    index: number,
    last: boolean,
  ): Promise<Uint8Array> {
    const plaintext = await attempt;
    if (this.state === 'failed') refuse('failed');
    if (plaintext !== null) {
      if (last) this.finalOpened = true;
      return plaintext;
    }
    this.state = 'failed';
    if (last) {
      const asMiddle = await this.key.open(
        streamNonce(this.prefix, index, false),
        this.associatedData,
        ciphertext,
      );
      if (asMiddle !== null)
        throw new OvertError('STREAM_TRUNCATED', `stream ends after non-final chunk ${index}`, {
          check: 'AEAD-4',
        });
    }
    throw new OvertError('STREAM_ORDER', `chunk ${index} does not authenticate at its position`, {
      check: 'AEAD-3',
    });
  }
}

/**
 * A whole stream sealed at once and synchronously (for messages held in memory): the same bytes as a
 * {@link StreamSealer} fed `chunks` in order, the last one final.
 */
export function sealStreamSync(
  keys: MessageKeys,
  associatedData: Uint8Array,
  chunks: readonly Uint8Array[],
): Uint8Array[] {
  return chunks.map((c, i) =>
    gcmSealSync(
      keys.encryptionKey,
      streamNonce(keys.noncePrefix, i, i === chunks.length - 1),
      associatedData,
      c,
    ),
  );
}

/**
 * A whole stream opened at once and synchronously, the last chunk as the final one. Accepts exactly what a
 * {@link StreamOpener} accepts and fails the same way: STREAM_ORDER (AEAD-3) at the first chunk that does not
 * authenticate at its position, STREAM_TRUNCATED (AEAD-4) when the last chunk authenticates only as a non-final
 * one.
 */
export function openStreamSync(
  keys: MessageKeys,
  associatedData: Uint8Array,
  chunks: readonly Uint8Array[],
): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let index = 0; index < chunks.length; index++) {
    const last = index === chunks.length - 1;
    const c = chunks[index]!;
    const k = keys.encryptionKey;
    const plaintext = gcmOpenSync(k, streamNonce(keys.noncePrefix, index, last), associatedData, c);
    if (plaintext !== null) {
      out.push(plaintext);
      continue;
    }
    if (last && gcmOpenSync(k, streamNonce(keys.noncePrefix, index, false), associatedData, c) !== null)
      throw new OvertError('STREAM_TRUNCATED', `stream ends after non-final chunk ${index}`, {
        check: 'AEAD-4',
      });
    throw new OvertError('STREAM_ORDER', `chunk ${index} does not authenticate at its position`, {
      check: 'AEAD-3',
    });
  }
  return out;
}
