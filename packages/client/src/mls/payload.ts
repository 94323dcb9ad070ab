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
import { isOvertError, Reader, utf8Decode, utf8Encode, Writer } from '@overt/core';
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

/**
 * The conversation-name payload (mls.md §6): the application data that names or renames a conversation. It travels
 * only inside MLS PrivateMessages, so the relay never learns the name, and every member (also one added later: the
 * adder sends it again after the commit, client.md §4.1) takes the last one in mailbox order.
 *
 * Encoding: u8 payload_type = 3 ‖ u8 version = 1 ‖ u16 name_len ‖ name[name_len]; the name is 0..256 bytes of
 * UTF-8 (empty: no name) with no control character (C0, DEL, C1) and no line or bidi control (U+2028–U+202E,
 * U+2066–U+2069).
 */
export const CONVERSATION_NAME_PAYLOAD_TYPE = 3;
export const CONVERSATION_NAME_VERSION = 1;
export const CONVERSATION_NAME_MAX_BYTES = 256;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const NAME_FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u2028-\u202e\u2066-\u2069]/u;

/** Whether `name` can be a conversation name (client-side check before sending; the same rule as decoding). */
export function validConversationName(name: string): boolean {
  return utf8Encode(name).length <= CONVERSATION_NAME_MAX_BYTES && !NAME_FORBIDDEN.test(name);
}

/** Encodes a conversation name. Throws MLS_USAGE if it is too long or holds a forbidden character. */
export function encodeConversationName(name: string): Uint8Array {
  if (!validConversationName(name))
    throw new ClientError(
      'MLS_USAGE',
      `a conversation name is at most ${CONVERSATION_NAME_MAX_BYTES} bytes of UTF-8 without control characters`,
    );
  const bytes = utf8Encode(name);
  return new Writer(4 + bytes.length)
    .u8(CONVERSATION_NAME_PAYLOAD_TYPE)
    .u8(CONVERSATION_NAME_VERSION)
    .vec16(bytes)
    .finish();
}

/** Decodes a conversation name. Throws MLS_PAYLOAD_MALFORMED (MLS-14) unless `bytes` is exactly one valid encoding. */
export function decodeConversationName(bytes: Uint8Array): string {
  let name: string;
  try {
    const r = new Reader(bytes);
    if (r.u8('payload type') !== CONVERSATION_NAME_PAYLOAD_TYPE) throw malformed('not a conversation name');
    if (r.u8('name version') !== CONVERSATION_NAME_VERSION)
      throw malformed('unknown conversation name version');
    name = utf8Decode(r.vec16('conversation name', CONVERSATION_NAME_MAX_BYTES));
    r.finish('conversation name payload');
  } catch (e) {
    if (e instanceof ClientError) throw e;
    if (isOvertError(e)) throw malformed('conversation name payload does not decode', e);
    throw e;
  }
  if (NAME_FORBIDDEN.test(name)) throw malformed('conversation name holds a control character');
  return name;
}
