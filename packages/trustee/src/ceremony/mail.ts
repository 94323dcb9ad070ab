/**
 * Ceremony mail (docs/spec/access.md §7.1): what the trustees send each other through the relay's trustee
 * mailbox, an untrusted transport. Every mail is signed by its sender's trustee key (the policy's) and bound to one
 * DKG session by its id; the DKG messages inside are signed and session-bound again by core (dkg.md §4).
 *
 *   mail      = u8 version(1) ‖ u8 kind ‖ u8 sender ‖ session_id[32] ‖ vec32(payload) ‖ signature[64]
 *   signature = Ed25519(sender's trustee key, u16(len(tag)) ‖ tag ‖ every preceding byte)
 *   tag       = "overt/trustee/v1/ceremony-mail"
 *
 *   proposal (kind 1) = u8 version(1) ‖ vec32(session bytes, dkg.md §2.1) ‖ policy_hash[32] ‖ u64 time_ms
 *                       ‖ u32 phase_ms
 */
import {
  isOvertError,
  Reader,
  SIGNATURE_BYTES,
  type SigningKeyPair,
  sign,
  utf8Encode,
  verifySignature,
  Writer,
} from '@overt/core';
import { TrusteeError } from '../errors.js';

export const MAIL_VERSION = 1;
export const MAIL_TAG = 'overt/trustee/v1/ceremony-mail';
/** The relay's limit on a mailbox body (access.md §4). */
export const MAIL_MAX_BYTES = 256 * 1024;

export const MAIL_KIND = {
  propose: 1,
  round1: 2,
  share: 3,
  complaint: 4,
  justification: 5,
  result: 6,
  abort: 7,
} as const;
export type MailKind = keyof typeof MAIL_KIND;
const KIND_NAMES = new Map<number, MailKind>(Object.entries(MAIL_KIND).map(([k, v]) => [v, k as MailKind]));

export interface CeremonyMail {
  readonly kind: MailKind;
  readonly sender: number;
  readonly sessionId: Uint8Array;
  readonly payload: Uint8Array;
  readonly bytes: Uint8Array;
  /** The bytes the signature covers (without the tag prefix). */
  readonly signed: Uint8Array;
  readonly signature: Uint8Array;
}

export function mailInvalid(message: string, check = 'CER-1', cause?: unknown): TrusteeError {
  return new TrusteeError('CEREMONY_INVALID', message, { check, cause });
}

function signingInput(signed: Uint8Array): Uint8Array {
  return new Writer(signed.length + 40).vec16(utf8Encode(MAIL_TAG)).bytes(signed).finish();
}

export function buildMail(
  kind: MailKind,
  sender: number,
  sessionId: Uint8Array,
  payload: Uint8Array,
  key: SigningKeyPair,
): Uint8Array {
  const signed = new Writer(payload.length + 48)
    .u8(MAIL_VERSION)
    .u8(MAIL_KIND[kind])
    .u8(sender)
    .bytes(sessionId)
    .vec32(payload)
    .finish();
  return new Writer(signed.length + SIGNATURE_BYTES)
    .bytes(signed)
    .bytes(sign(key, signingInput(signed)))
    .finish();
}

/** Decodes a mail structurally (CER-1); the signature is checked by {@link verifyMail}. */
export function decodeMail(bytes: Uint8Array): CeremonyMail {
  if (!(bytes instanceof Uint8Array) || bytes.length > MAIL_MAX_BYTES) throw mailInvalid('mail is too large');
  try {
    const r = new Reader(bytes);
    if (r.u8('version') !== MAIL_VERSION) throw mailInvalid('unknown mail version');
    const kind = KIND_NAMES.get(r.u8('kind'));
    if (kind === undefined) throw mailInvalid('unknown mail kind');
    const sender = r.u8('sender');
    if (sender < 1) throw mailInvalid('sender index out of range');
    const sessionId = r.bytes(32, 'session id').slice();
    const payload = r.vec32('payload', MAIL_MAX_BYTES).slice();
    const signedLength = bytes.length - r.remaining;
    const signature = r.bytes(SIGNATURE_BYTES, 'signature').slice();
    r.finish('mail');
    return { kind, sender, sessionId, payload, bytes, signed: bytes.subarray(0, signedLength), signature };
  } catch (e) {
    if (e instanceof TrusteeError) throw e;
    if (isOvertError(e)) throw mailInvalid('mail does not decode', 'CER-1', e);
    throw e;
  }
}

/** Checks the mail's signature under the sender's trustee key (CER-1). */
export function verifyMail(mail: CeremonyMail, senderKey: Uint8Array): void {
  if (!verifySignature(senderKey, signingInput(mail.signed), mail.signature))
    throw mailInvalid("mail signature does not verify under the sender's trustee key");
}

export interface Proposal {
  readonly session: Uint8Array;
  readonly policyHash: Uint8Array;
  /** The time the epoch-key statement carries (every participant signs the same content). */
  readonly time: number;
  /** Each phase's deadline, from the moment a participant enters it. */
  readonly phaseMs: number;
}

export function encodeProposal(p: Proposal): Uint8Array {
  return new Writer(p.session.length + 64)
    .u8(1)
    .vec32(p.session)
    .bytes(p.policyHash)
    .u64(p.time)
    .u32(p.phaseMs)
    .finish();
}

export function decodeProposal(bytes: Uint8Array): Proposal {
  try {
    const r = new Reader(bytes);
    if (r.u8('proposal version') !== 1) throw mailInvalid('unknown proposal version', 'CER-2');
    const p = {
      session: r.vec32('session', 64 * 1024).slice(),
      policyHash: r.bytes(32, 'policy hash').slice(),
      time: r.u64('time'),
      phaseMs: r.u32('phase ms'),
    };
    r.finish('proposal');
    return p;
  } catch (e) {
    if (e instanceof TrusteeError) throw e;
    if (isOvertError(e)) throw mailInvalid('proposal does not decode', 'CER-2', e);
    throw e;
  }
}

/** result payload = transcript_hash[32] ‖ signature over the epoch-key content[64] (directory.md §1.2). */
export function encodeResult(transcriptHash: Uint8Array, signature: Uint8Array): Uint8Array {
  return new Writer(96).bytes(transcriptHash).bytes(signature).finish();
}

export function decodeResult(bytes: Uint8Array): { transcriptHash: Uint8Array; signature: Uint8Array } {
  try {
    const r = new Reader(bytes);
    const out = {
      transcriptHash: r.bytes(32, 'transcript hash').slice(),
      signature: r.bytes(64, 'sig').slice(),
    };
    r.finish('result');
    return out;
  } catch (e) {
    if (isOvertError(e)) throw mailInvalid('result does not decode', 'CER-1', e);
    throw e;
  }
}
