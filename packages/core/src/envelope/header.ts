/**
 * The envelope header: a versioned canonical binary encoding (docs/spec/envelope.md §2) and the label
 * L = taggedHash("overt/envelope/v1/label", header) that the access capsule is bound to.
 *
 * The header names everything a trustee needs to decide whether an envelope is in a warrant's scope (org,
 * epoch, conversation, sender, recipients, send time) and everything that binds the ciphertext (payload
 * length, chunk size, key commitment, franking commitment, ciphertext digest). Because the digest is inside
 * the header, L binds the ciphertext too.
 *
 * The encoding is split in two: the header context (every field up to and including the key commitment),
 * which is known before encryption starts and is authenticated by every AEAD chunk and by the franking
 * commitment, and the two trailing 32-byte fields that can only be computed once the payload has been read.
 */

import { KEY_COMMITMENT_BYTES } from '../aead/keys.js';
import { MAX_STREAM_CHUNKS } from '../aead/stream.js';
import { Reader, Writer } from '../codec.js';
import { OvertError } from '../errors.js';
import { taggedHash } from '../hash.js';
import {
  CONVERSATION_ID_MAX,
  DEVICE_ID_MAX,
  decodeAs,
  isFixedBytes,
  isIdString,
  isMillis,
  isOpaqueId,
  isPrintable,
  isSortedUniqueStrings,
  isUint,
  MESSAGE_ID_BYTES,
  ORG_ID_MAX,
  readIdString,
  readPrintable,
  USER_ID_MAX,
  writeAscii,
} from './fields.js';

/**
 * Version 2 (envelope format 2): the header layout of version 1, in envelopes that carry the sender's signature
 * (docs/spec/envelope.md §3). Version 1 envelopes had none and are refused (ENV-2).
 */
export const HEADER_VERSION = 2;
export const MAX_RECIPIENTS = 1024;
export const CONTENT_TYPE_MAX = 127;
export const MIN_CHUNK_SIZE = 16;
export const MAX_CHUNK_SIZE = 1 << 22;
export const DEFAULT_CHUNK_SIZE = 1 << 16;
/** 1 TiB: far above any file we carry, and small enough that every length is exact in a JS number. */
export const MAX_PAYLOAD_BYTES = 2 ** 40;
export const FRANKING_COMMITMENT_BYTES = 32;
export const CIPHERTEXT_DIGEST_BYTES = 32;
/** The largest header can encode (all variable fields at their bounds). */
export const MAX_HEADER_BYTES =
  1 +
  (1 + ORG_ID_MAX) +
  4 +
  (1 + CONVERSATION_ID_MAX) +
  (1 + USER_ID_MAX) +
  (1 + DEVICE_ID_MAX) +
  2 +
  MAX_RECIPIENTS * (1 + USER_ID_MAX) +
  MESSAGE_ID_BYTES +
  8 +
  (1 + CONTENT_TYPE_MAX) +
  8 +
  4 +
  KEY_COMMITMENT_BYTES +
  FRANKING_COMMITMENT_BYTES +
  CIPHERTEXT_DIGEST_BYTES;

export const TAG_LABEL = 'overt/envelope/v1/label';
export const TAG_HEADER_CONTEXT = 'overt/envelope/v1/header-context';

/** What the sender chooses; everything else in the header is computed while sealing. */
export interface HeaderFields {
  readonly orgId: string;
  readonly epoch: number;
  readonly conversationId: Uint8Array;
  readonly senderUserId: string;
  readonly senderDeviceId: Uint8Array;
  /** The user ids of the conversation's members at send time (sender included), sorted, unique. */
  readonly recipients: readonly string[];
  readonly messageId: Uint8Array;
  /** Milliseconds since the Unix epoch. */
  readonly sendTime: number;
  /** A MIME-like type in printable ASCII, e.g. `text/plain; charset=utf-8`. */
  readonly contentType: string;
}

/** The header context: the fields fixed before encryption starts (docs/spec/envelope.md §2.2). */
export interface HeaderContext extends HeaderFields {
  readonly version: number;
  readonly payloadLength: number;
  readonly chunkSize: number;
  readonly keyCommitment: Uint8Array;
}

export interface Header extends HeaderContext {
  readonly frankingCommitment: Uint8Array;
  readonly ciphertextDigest: Uint8Array;
}

/** Number of STREAM chunks: ceil(length / chunkSize), and one (empty, final) chunk for an empty payload. */
export function chunkCount(payloadLength: number, chunkSize: number): number {
  return payloadLength === 0 ? 1 : Math.ceil(payloadLength / chunkSize);
}

/** Exact ciphertext length: the payload plus one 16-byte GCM tag per chunk. */
export function ciphertextLength(payloadLength: number, chunkSize: number): number {
  return payloadLength + 16 * chunkCount(payloadLength, chunkSize);
}

function malformed(what: string): never {
  throw new OvertError('ENVELOPE_MALFORMED', `header field ${what} is invalid`, { check: 'ENV-1' });
}

/**
 * Checks every rule on a header's context fields (bounds, formats, sorted unique recipients containing the
 * sender, size limits). Throws ENVELOPE_MALFORMED (ENV-1), ENVELOPE_VERSION (ENV-2) or ENVELOPE_TOO_LARGE
 * (ENV-3). Used by the encoder on the caller's values and by the decoder on the attacker's.
 */
export function validateHeaderContext(h: HeaderContext): void {
  if (h.version !== HEADER_VERSION)
    throw new OvertError('ENVELOPE_VERSION', 'unsupported header version', { check: 'ENV-2' });
  if (!isIdString(h.orgId, ORG_ID_MAX)) malformed('orgId');
  if (!isUint(h.epoch, 0xffffffff)) malformed('epoch');
  if (!isOpaqueId(h.conversationId, CONVERSATION_ID_MAX)) malformed('conversationId');
  if (!isIdString(h.senderUserId, USER_ID_MAX)) malformed('senderUserId');
  if (!isOpaqueId(h.senderDeviceId, DEVICE_ID_MAX)) malformed('senderDeviceId');
  if (!Array.isArray(h.recipients) || h.recipients.length < 1 || h.recipients.length > MAX_RECIPIENTS)
    malformed('recipients');
  for (const r of h.recipients) if (!isIdString(r, USER_ID_MAX)) malformed('recipients');
  if (!isSortedUniqueStrings(h.recipients)) malformed('recipients (order)');
  // The sender's other devices receive the message too, so the sender is always a member.
  if (!h.recipients.includes(h.senderUserId)) malformed('recipients (sender missing)');
  if (!isFixedBytes(h.messageId, MESSAGE_ID_BYTES)) malformed('messageId');
  if (!isMillis(h.sendTime)) malformed('sendTime');
  if (!isPrintable(h.contentType, CONTENT_TYPE_MAX)) malformed('contentType');
  if (!isUint(h.chunkSize, MAX_CHUNK_SIZE) || h.chunkSize < MIN_CHUNK_SIZE) malformed('chunkSize');
  if (!isMillis(h.payloadLength)) malformed('payloadLength');
  if (h.payloadLength > MAX_PAYLOAD_BYTES || chunkCount(h.payloadLength, h.chunkSize) >= MAX_STREAM_CHUNKS)
    throw new OvertError('ENVELOPE_TOO_LARGE', 'payload exceeds the envelope limit', { check: 'ENV-3' });
  if (!isFixedBytes(h.keyCommitment, KEY_COMMITMENT_BYTES)) malformed('keyCommitment');
}

export function validateHeader(h: Header): void {
  validateHeaderContext(h);
  if (!isFixedBytes(h.frankingCommitment, FRANKING_COMMITMENT_BYTES)) malformed('frankingCommitment');
  if (!isFixedBytes(h.ciphertextDigest, CIPHERTEXT_DIGEST_BYTES)) malformed('ciphertextDigest');
}

function writeContext(w: Writer, h: HeaderContext): void {
  w.u8(h.version);
  writeAscii(w, h.orgId);
  w.u32(h.epoch);
  w.vec8(h.conversationId);
  writeAscii(w, h.senderUserId);
  w.vec8(h.senderDeviceId);
  w.u16(h.recipients.length);
  for (const r of h.recipients) writeAscii(w, r);
  w.bytes(h.messageId);
  w.u64(h.sendTime);
  writeAscii(w, h.contentType);
  w.u64(h.payloadLength);
  w.u32(h.chunkSize);
  w.bytes(h.keyCommitment);
}

/** The canonical encoding of the header context (a prefix of the full header encoding). */
export function encodeHeaderContext(h: HeaderContext): Uint8Array {
  validateHeaderContext(h);
  const w = new Writer(512);
  writeContext(w, h);
  return w.finish();
}

/** The canonical header encoding. Throws as {@link validateHeader} on invalid values. */
export function encodeHeader(h: Header): Uint8Array {
  validateHeader(h);
  const w = new Writer(512);
  writeContext(w, h);
  w.bytes(h.frankingCommitment);
  w.bytes(h.ciphertextDigest);
  return w.finish();
}

/** Reads one header from `r` (which may continue with more data). */
export function readHeader(r: Reader): Header {
  const fail = (): never => malformed('encoding');
  const version = r.u8('header version');
  if (version !== HEADER_VERSION)
    throw new OvertError('ENVELOPE_VERSION', 'unsupported header version', { check: 'ENV-2' });
  const orgId = readIdString(r, 'orgId', ORG_ID_MAX, fail);
  const epoch = r.u32('epoch');
  const conversationId = r.vec8('conversationId', CONVERSATION_ID_MAX);
  const senderUserId = readIdString(r, 'senderUserId', USER_ID_MAX, fail);
  const senderDeviceId = r.vec8('senderDeviceId', DEVICE_ID_MAX);
  const count = r.u16('recipient count');
  if (count > MAX_RECIPIENTS) malformed('recipients');
  const recipients: string[] = [];
  for (let i = 0; i < count; i++) recipients.push(readIdString(r, 'recipient', USER_ID_MAX, fail));
  const h: Header = {
    version,
    orgId,
    epoch,
    conversationId,
    senderUserId,
    senderDeviceId,
    recipients,
    messageId: r.bytes(MESSAGE_ID_BYTES, 'messageId'),
    sendTime: r.u64('sendTime'),
    contentType: readPrintable(r, 'contentType', CONTENT_TYPE_MAX, fail),
    payloadLength: r.u64('payloadLength'),
    chunkSize: r.u32('chunkSize'),
    keyCommitment: r.bytes(KEY_COMMITMENT_BYTES, 'keyCommitment'),
    frankingCommitment: r.bytes(FRANKING_COMMITMENT_BYTES, 'frankingCommitment'),
    ciphertextDigest: r.bytes(CIPHERTEXT_DIGEST_BYTES, 'ciphertextDigest'),
  };
  validateHeader(h);
  return h;
}

/**
 * Decodes a header from attacker-controlled bytes: exactly one canonical header, else ENVELOPE_MALFORMED
 * (ENV-1), ENVELOPE_VERSION (ENV-2) or ENVELOPE_TOO_LARGE (ENV-3).
 */
export function decodeHeader(bytes: Uint8Array): Header {
  return decodeAs('ENVELOPE_MALFORMED', 'ENV-1', 'envelope header', () => {
    const r = new Reader(bytes);
    const h = readHeader(r);
    r.finish('envelope header');
    return h;
  });
}

/** The header-context prefix of an encoded header (everything before the two trailing 32-byte fields). */
export function headerContextBytes(headerBytes: Uint8Array): Uint8Array {
  return headerBytes.subarray(0, headerBytes.length - FRANKING_COMMITMENT_BYTES - CIPHERTEXT_DIGEST_BYTES);
}

/** HC = taggedHash("overt/envelope/v1/header-context", context encoding): the AEAD associated data. */
export function headerContextHash(contextBytes: Uint8Array): Uint8Array {
  return taggedHash(TAG_HEADER_CONTEXT, contextBytes);
}

/** L = taggedHash("overt/envelope/v1/label", header encoding): the capsule's label. */
export function envelopeLabel(headerBytes: Uint8Array): Uint8Array {
  return taggedHash(TAG_LABEL, headerBytes);
}
