/**
 * Envelope framing (docs/spec/envelope.md §3), format 2:
 *
 *     envelope := u32 len(header) ‖ header ‖ capsule (CAPSULE_BYTES) ‖ sender signature (64) ‖ ciphertext
 *
 * The length prefix lets a streaming reader know how many bytes to buffer before the ciphertext starts (the
 * capsule and the signature have fixed sizes); the ciphertext's length is fixed by the header's payload length
 * and chunk size, so an envelope has exactly one valid length. The "head" is everything before the ciphertext.
 * The signature (envelope/signature.ts) is the sending device's Ed25519 signature over the label and the capsule.
 */
import { concatBytes } from '../bytes.js';
import { CAPSULE_BYTES } from '../capsule/index.js';
import { OvertError } from '../errors.js';
import { decodeAs } from './fields.js';
import { ciphertextLength, decodeHeader, envelopeLabel, type Header, MAX_HEADER_BYTES } from './header.js';

/** The sender signature's length: one Ed25519 signature (RFC 8032). */
export const SENDER_SIGNATURE_BYTES = 64;
/** The bytes of a head after the header: the capsule and the sender signature. */
const HEAD_TAIL_BYTES = CAPSULE_BYTES + SENDER_SIGNATURE_BYTES;

/** The decoded head of an envelope: nothing about it has been checked beyond its encoding. */
export interface EnvelopeHead {
  readonly header: Header;
  readonly headerBytes: Uint8Array;
  /** L = taggedHash("overt/envelope/v1/label", headerBytes). */
  readonly label: Uint8Array;
  /** The capsule as transmitted (not yet checked). */
  readonly capsule: Uint8Array;
  /** The sender's signature over (L, capsule) as transmitted (not yet checked; envelope/signature.ts). */
  readonly signature: Uint8Array;
}

/** A decoded envelope, as it came from the relay or the sender: stage 0 of the processing chain. */
export interface UnverifiedEnvelope extends EnvelopeHead {
  readonly ciphertext: Uint8Array;
}

function framing(message: string): never {
  throw new OvertError('ENVELOPE_MALFORMED', message, { check: 'ENV-4' });
}

/**
 * The length of the head (u32 prefix, header, capsule, signature), read from the envelope's first 4 bytes. Throws
 * ENVELOPE_MALFORMED (ENV-4) when fewer than 4 bytes are given or the header length exceeds the maximum.
 */
export function envelopeHeadLength(prefix: Uint8Array): number {
  if (prefix.length < 4) framing('envelope shorter than its length prefix');
  const n = new DataView(prefix.buffer, prefix.byteOffset, 4).getUint32(0);
  if (n > MAX_HEADER_BYTES) framing('header length exceeds the maximum');
  return 4 + n + HEAD_TAIL_BYTES;
}

/**
 * Decodes the head of an envelope (the first {@link envelopeHeadLength} bytes; more may follow and are
 * ignored). Throws ENVELOPE_MALFORMED (ENV-1, ENV-4), ENVELOPE_VERSION (ENV-2), ENVELOPE_TOO_LARGE (ENV-3).
 */
export function decodeEnvelopeHead(bytes: Uint8Array): EnvelopeHead {
  const headLength = envelopeHeadLength(bytes);
  if (bytes.length < headLength) framing('envelope ends inside its head');
  const capsuleAt = headLength - HEAD_TAIL_BYTES;
  const headerBytes = bytes.slice(4, capsuleAt);
  const header = decodeHeader(headerBytes);
  return {
    header,
    headerBytes,
    label: envelopeLabel(headerBytes),
    capsule: bytes.slice(capsuleAt, capsuleAt + CAPSULE_BYTES),
    signature: bytes.slice(capsuleAt + CAPSULE_BYTES, headLength),
  };
}

/** Decodes a whole envelope and checks its ciphertext has exactly the length its header implies (ENV-4). */
export function decodeEnvelope(bytes: Uint8Array): UnverifiedEnvelope {
  return decodeAs('ENVELOPE_MALFORMED', 'ENV-1', 'envelope', () => {
    const head = decodeEnvelopeHead(bytes);
    const at = 4 + head.headerBytes.length + HEAD_TAIL_BYTES;
    const expected = ciphertextLength(head.header.payloadLength, head.header.chunkSize);
    if (bytes.length - at !== expected) framing('ciphertext length does not match the header');
    return { ...head, ciphertext: bytes.subarray(at) };
  });
}

/** The head bytes: u32 len(header) ‖ header ‖ capsule ‖ signature. */
export function encodeEnvelopeHead(
  headerBytes: Uint8Array,
  capsule: Uint8Array,
  signature: Uint8Array,
): Uint8Array {
  if (
    headerBytes.length > MAX_HEADER_BYTES ||
    capsule.length !== CAPSULE_BYTES ||
    signature.length !== SENDER_SIGNATURE_BYTES
  )
    framing('header, capsule or signature has an invalid length');
  const out = new Uint8Array(4 + headerBytes.length + HEAD_TAIL_BYTES);
  new DataView(out.buffer).setUint32(0, headerBytes.length);
  out.set(headerBytes, 4);
  out.set(capsule, 4 + headerBytes.length);
  out.set(signature, 4 + headerBytes.length + CAPSULE_BYTES);
  return out;
}

export function encodeEnvelope(
  headerBytes: Uint8Array,
  capsule: Uint8Array,
  signature: Uint8Array,
  ciphertext: Uint8Array,
): Uint8Array {
  return concatBytes(encodeEnvelopeHead(headerBytes, capsule, signature), ciphertext);
}
