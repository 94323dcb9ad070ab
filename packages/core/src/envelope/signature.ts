/**
 * The sender signature of an envelope (docs/spec/envelope.md §3.1; DESIGN A15). The sending device signs the
 * label and the capsule with its Ed25519 identity key — the key the org-admin enrolled on the transparency log,
 * which is also its MLS signature key:
 *
 *     input     = u16 len(tag) ‖ tag ‖ L (32) ‖ capsule (192)        tag = "overt/envelope/v2/sender-signature"
 *     signature = Ed25519-Sign(device key, input)                     (RFC 8032, pure Ed25519)
 *
 * L binds every header field (sender, recipients, conversation, time, ciphertext digest), the capsule binds K
 * under the epoch key, so a signature says: this device sent exactly this header with exactly this escrow. Without
 * it, trustees and requesters would have only the relay's word for who sent an envelope: anyone holding the
 * public epoch key can build a valid capsule under any header. The input starts with the byte 0x00 (the high
 * byte of the tag length), so it never parses as an MLS SignWithLabel input, whose label "MLS 1.0 …" is
 * non-empty (RFC 9420 §5.1.2; docs/SECURITY.md "One key, two protocols").
 *
 * Three verifiers, one computation, three check IDs: the relay against the authenticated device's key (ENV-20,
 * envelope/ingest.ts), a recipient against the key of the MLS credential that sent the message (ENV-21,
 * envelope/open.ts), and a trustee or requester against the device key on the log ({@link verifySenderSignature},
 * ENV-22).
 */
import { concatBytes, utf8Encode } from '../bytes.js';
import { CAPSULE_BYTES } from '../capsule/index.js';
import { OvertError } from '../errors.js';
import { type SigningKeyPair, sign, verifySignature } from '../sign.js';
import { decodeEnvelopeHead, type EnvelopeHead, SENDER_SIGNATURE_BYTES } from './envelope.js';

export const TAG_SENDER_SIGNATURE = 'overt/envelope/v2/sender-signature';

const TAG_PREFIX: Uint8Array = (() => {
  const t = utf8Encode(TAG_SENDER_SIGNATURE);
  return concatBytes(Uint8Array.of(t.length >> 8, t.length & 0xff), t);
})();

/** The signed bytes: u16 len(tag) ‖ tag ‖ L ‖ capsule. Throws ENVELOPE_MALFORMED (ENV-4) on wrong lengths. */
export function senderSignatureInput(label: Uint8Array, capsule: Uint8Array): Uint8Array {
  if (label.length !== 32 || capsule.length !== CAPSULE_BYTES)
    throw new OvertError('ENVELOPE_MALFORMED', 'label or capsule has an invalid length', { check: 'ENV-4' });
  return concatBytes(TAG_PREFIX, label, capsule);
}

/** The sending device's signature over (L, capsule): called by the sealer once the capsule exists. */
export function signSender(key: SigningKeyPair, label: Uint8Array, capsule: Uint8Array): Uint8Array {
  return sign(key, senderSignatureInput(label, capsule));
}

/** True iff `head.signature` is `deviceKey`'s signature over the head's label and capsule. Never throws. */
export function isSenderSignatureValid(head: EnvelopeHead, deviceKey: Uint8Array): boolean {
  if (!(deviceKey instanceof Uint8Array) || !(head.signature instanceof Uint8Array)) return false;
  if (head.signature.length !== SENDER_SIGNATURE_BYTES) return false;
  return verifySignature(deviceKey, senderSignatureInput(head.label, head.capsule), head.signature);
}

/** Throws ENVELOPE_SIGNATURE under `check` unless the head's sender signature verifies under `deviceKey`. */
export function requireSenderSignature(head: EnvelopeHead, deviceKey: Uint8Array, check: string): void {
  if (!isSenderSignatureValid(head, deviceKey))
    throw new OvertError('ENVELOPE_SIGNATURE', 'the sender signature does not verify under the device key', {
      check,
    });
}

/**
 * The standalone check for trustees and requesters (DESIGN §5 release rule 5): `head` is an envelope's head
 * (its first envelopeHeadLength() bytes, or more) or a decoded head; `deviceKey` is the Ed25519 key that the
 * log's device-added statement gives for the header's sender device. The caller looks the key up on the log;
 * this function checks nothing about the header beyond its encoding. Returns the decoded head. Throws
 * ENVELOPE_MALFORMED / _VERSION / _TOO_LARGE (ENV-1..4) on a bad head, ENVELOPE_SIGNATURE (ENV-22) on a
 * signature that does not verify.
 */
export function verifySenderSignature(head: Uint8Array | EnvelopeHead, deviceKey: Uint8Array): EnvelopeHead {
  const decoded = head instanceof Uint8Array ? decodeEnvelopeHead(head) : head;
  requireSenderSignature(decoded, deviceKey, 'ENV-22');
  return decoded;
}
