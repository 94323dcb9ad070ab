/**
 * The key-transport payload: the only application data Overt sends through MLS (DESIGN §3 "Key transport").
 *
 * The envelope (header ‖ access capsule ‖ ciphertext) travels through the relay; the MLS application message
 * carries only what a recipient needs to open and check it: the message id (to find the envelope), the content
 * key K (to decrypt it) and the capsule seed (to recompute the capsule and reject a sender who skipped or
 * corrupted escrow). Field names and lengths are those of @overt/core's envelope `KeyTransport`
 * (docs/spec/envelope.md), so a decoded payload is passed to the envelope opener as it is.
 *
 * Encoding (docs/spec/mls.md, "Key-transport payload"), 81 bytes, fixed:
 *   u8 version = 1 ‖ message_id[16] ‖ content_key[32] ‖ seed[32]
 */
import { isOvertError, Reader, Writer } from '@overt/core';
import { ClientError } from '../errors.js';

export const KEY_TRANSPORT_VERSION = 1;
const MESSAGE_ID_BYTES = 16;
const CONTENT_KEY_BYTES = 32;
const SEED_BYTES = 32;
export const KEY_TRANSPORT_BYTES = 1 + MESSAGE_ID_BYTES + CONTENT_KEY_BYTES + SEED_BYTES;

/** (message id, K, seed). Secret: K opens the envelope. */
export interface KeyTransportPayload {
  readonly messageId: Uint8Array;
  readonly contentKey: Uint8Array;
  readonly seed: Uint8Array;
}

/** Encodes a payload. Throws MLS_USAGE if a field has the wrong length. */
export function encodeKeyTransport(p: KeyTransportPayload): Uint8Array {
  if (
    p.messageId.length !== MESSAGE_ID_BYTES ||
    p.contentKey.length !== CONTENT_KEY_BYTES ||
    p.seed.length !== SEED_BYTES
  ) {
    throw new ClientError('MLS_USAGE', 'key-transport field has the wrong length');
  }
  return new Writer(KEY_TRANSPORT_BYTES)
    .u8(KEY_TRANSPORT_VERSION)
    .bytes(p.messageId)
    .bytes(p.contentKey)
    .bytes(p.seed)
    .finish();
}

function malformed(message: string, cause?: unknown): ClientError {
  return new ClientError('MLS_PAYLOAD_MALFORMED', message, { check: 'MLS-14', cause });
}

/** Decodes a payload. Throws MLS_PAYLOAD_MALFORMED (check MLS-14) unless `bytes` is exactly one valid encoding. */
export function decodeKeyTransport(bytes: Uint8Array): KeyTransportPayload {
  try {
    const r = new Reader(bytes);
    if (r.u8('payload version') !== KEY_TRANSPORT_VERSION) throw malformed('unknown payload version');
    const messageId = r.bytes(MESSAGE_ID_BYTES, 'message id');
    const contentKey = r.bytes(CONTENT_KEY_BYTES, 'content key');
    const seed = r.bytes(SEED_BYTES, 'capsule seed');
    r.finish('key-transport payload');
    return { messageId, contentKey, seed };
  } catch (e) {
    if (isOvertError(e)) throw malformed('key-transport payload does not decode', e);
    throw e;
  }
}
