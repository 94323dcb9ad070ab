/**
 * Franking stamps and abuse reports (DESIGN §4 step 10, docs/spec/franking.md §3–§4).
 *
 * When the relay accepts an envelope it stamps it: an Ed25519 signature, under the relay's franking key, over
 * the franking commitment together with who sent it where and when (and the label, which pins the exact
 * header). A recipient who wants to report a message sends the organisation the header, the plaintext, the
 * franking key fk (derived from K, so neither K nor any other message is revealed) and the stamp. The
 * organisation recomputes the commitment and checks the stamp: a report with changed plaintext, another
 * sender, another stamp or another message's opening fails (A12).
 */

import { FRANKING_KEY_BYTES } from '../aead/keys.js';
import { equalBytes } from '../bytes.js';
import { Reader, Writer } from '../codec.js';
import { decodeAs, isMillis, writeAscii } from '../envelope/fields.js';
import {
  decodeHeader,
  envelopeLabel,
  type Header,
  headerContextBytes,
  headerContextHash,
  MAX_HEADER_BYTES,
} from '../envelope/header.js';
import type { IngestedEnvelope } from '../envelope/ingest.js';
import type { OpenedEnvelopeHead } from '../envelope/open.js';
import { OvertError } from '../errors.js';
import { SIGNATURE_BYTES, type SigningKeyPair, sign, verifySignature } from '../sign.js';
import { frankingCommitment } from './commitment.js';

export const STAMP_VERSION = 1;
export const REPORT_VERSION = 1;
export const TAG_STAMP = 'overt/franking/v1/stamp';
/** u8 version ‖ u64 stamp time ‖ signature. */
export const STAMP_BYTES = 1 + 8 + SIGNATURE_BYTES;
/**
 * The largest plaintext a report carries, hence the largest reportable message (docs/spec/franking.md §2, §4):
 * 1 MiB. A report holds the whole plaintext (the commitment covers the hash of every chunk, so the organisation
 * needs all of it) and travels in one request body that the relay verifies in memory. The client keeps a report
 * only for payloads up to this size and the relay's report route accepts exactly {@link MAX_REPORT_BYTES}; larger
 * messages are delivered and checked like any other but cannot be reported.
 */
export const MAX_REPORT_PLAINTEXT = 1 << 20;
/** The largest encoded report: version, header (at most MAX_HEADER_BYTES), fk, stamp, length, plaintext. */
export const MAX_REPORT_BYTES =
  1 + 4 + MAX_HEADER_BYTES + FRANKING_KEY_BYTES + STAMP_BYTES + 8 + MAX_REPORT_PLAINTEXT;

/** Whether a message with this payload length can be reported ({@link MAX_REPORT_PLAINTEXT}). */
export function isReportableLength(payloadLength: number): boolean {
  return Number.isSafeInteger(payloadLength) && payloadLength >= 0 && payloadLength <= MAX_REPORT_PLAINTEXT;
}

export interface Stamp {
  readonly version: number;
  /** The relay's clock when it accepted the envelope (ms since the Unix epoch). */
  readonly stampTime: number;
  readonly signature: Uint8Array;
}

export interface AbuseReport {
  readonly headerBytes: Uint8Array;
  readonly plaintext: Uint8Array;
  readonly frankingKey: Uint8Array;
  readonly stamp: Uint8Array;
}

declare const verifiedReportBrand: unique symbol;

export interface VerifiedReport {
  readonly [verifiedReportBrand]: true;
  readonly header: Header;
  readonly label: Uint8Array;
  readonly plaintext: Uint8Array;
  readonly stampTime: number;
}

function invalid(check: string, what: string): never {
  throw new OvertError('FRANKING_INVALID', `report ${what} is invalid`, { check });
}

/**
 * The signed stamp message: u16 len(tag) ‖ tag ‖ u8 version ‖ orgId ‖ conversationId ‖ senderUserId ‖
 * senderDeviceId ‖ messageId ‖ u64 sendTime ‖ frankingCommitment ‖ label ‖ u64 stampTime.
 */
export function stampMessage(header: Header, label: Uint8Array, stampTime: number): Uint8Array {
  const w = new Writer(256);
  w.str16(TAG_STAMP).u8(STAMP_VERSION);
  writeAscii(w, header.orgId);
  w.vec8(header.conversationId);
  writeAscii(w, header.senderUserId);
  w.vec8(header.senderDeviceId).bytes(header.messageId).u64(header.sendTime);
  w.bytes(header.frankingCommitment).bytes(label).u64(stampTime);
  return w.finish();
}

/** The relay stamps an envelope it has ingested (only an IngestedEnvelope can be stamped). */
export function stampEnvelope(
  envelope: IngestedEnvelope,
  relayKey: SigningKeyPair,
  stampTime: number,
): Uint8Array {
  if (!isMillis(stampTime))
    throw new OvertError('FRANKING_STAMP', 'stamp time out of range', { check: 'FRK-4' });
  const signature = sign(relayKey, stampMessage(envelope.header, envelope.label, stampTime));
  return new Writer(STAMP_BYTES).u8(STAMP_VERSION).u64(stampTime).bytes(signature).finish();
}

export function decodeStamp(bytes: Uint8Array): Stamp {
  return decodeAs('FRANKING_STAMP', 'FRK-4', 'stamp', () => {
    const r = new Reader(bytes);
    const version = r.u8('stamp version');
    if (version !== STAMP_VERSION)
      throw new OvertError('FRANKING_STAMP', 'unknown stamp version', { check: 'FRK-4' });
    const stamp = {
      version,
      stampTime: r.u64('stampTime'),
      signature: r.bytes(SIGNATURE_BYTES, 'signature'),
    };
    r.finish('stamp');
    return stamp;
  });
}

/**
 * Checks a stamp on a header (a recipient does this on receipt, so it knows a report will verify). Returns
 * the stamp time; throws FRANKING_STAMP (FRK-4) on a malformed stamp or a bad signature.
 */
export function verifyStamp(
  header: Header,
  label: Uint8Array,
  stamp: Uint8Array,
  relayPublicKey: Uint8Array,
): number {
  const s = decodeStamp(stamp);
  if (!verifySignature(relayPublicKey, stampMessage(header, label, s.stampTime), s.signature))
    throw new OvertError('FRANKING_STAMP', 'stamp signature does not verify', { check: 'FRK-4' });
  return s.stampTime;
}

/** A recipient's report of a message it opened. Contains the plaintext and fk: send only to the organisation. */
export function createReport(
  opened: OpenedEnvelopeHead,
  plaintext: Uint8Array,
  stamp: Uint8Array,
): AbuseReport {
  return { headerBytes: opened.headerBytes, plaintext, frankingKey: opened.frankingKey, stamp };
}

/** report := u8 version ‖ vec32 header ‖ fk (32) ‖ stamp (73) ‖ u64 len(plaintext) ‖ plaintext. */
export function encodeReport(r: AbuseReport): Uint8Array {
  if (
    r.frankingKey.length !== FRANKING_KEY_BYTES ||
    r.stamp.length !== STAMP_BYTES ||
    r.plaintext.length > MAX_REPORT_PLAINTEXT
  )
    invalid('FRK-1', 'field lengths');
  const w = new Writer(r.headerBytes.length + r.plaintext.length + 160);
  w.u8(REPORT_VERSION).vec32(r.headerBytes).bytes(r.frankingKey).bytes(r.stamp).u64(r.plaintext.length);
  return w.bytes(r.plaintext).finish();
}

export function decodeReport(bytes: Uint8Array): AbuseReport {
  return decodeAs('FRANKING_INVALID', 'FRK-1', 'report', () => {
    const r = new Reader(bytes);
    if (r.u8('report version') !== REPORT_VERSION) invalid('FRK-1', 'version');
    const headerBytes = r.vec32('header', MAX_HEADER_BYTES);
    const frankingKey = r.bytes(FRANKING_KEY_BYTES, 'franking key');
    const stamp = r.bytes(STAMP_BYTES, 'stamp');
    const n = r.u64('plaintext length');
    if (n > MAX_REPORT_PLAINTEXT) invalid('FRK-1', 'plaintext length');
    const plaintext = r.bytes(n, 'plaintext');
    r.finish('report');
    return { headerBytes, plaintext, frankingKey, stamp };
  });
}

export interface ReportContext {
  /** The relay's franking public key (pinned by the organisation). */
  readonly relayPublicKey: Uint8Array;
  /** The authenticated user filing the report: must be a recipient of the message. */
  readonly reporterUserId: string;
}

/**
 * The organisation verifies a report (A12). Throws FRANKING_INVALID when the report or its header is
 * malformed (FRK-1), the reporter is not a recipient (FRK-2), or the plaintext and fk do not open the
 * header's franking commitment (FRK-3); FRANKING_STAMP when the stamp does not verify for this header (FRK-4).
 */
export function verifyReport(report: Uint8Array | AbuseReport, ctx: ReportContext): VerifiedReport {
  const r = report instanceof Uint8Array ? decodeReport(report) : report;
  // The same limit whether the report arrives encoded or as an object: no report is larger than one that decodes.
  if (!(r.plaintext instanceof Uint8Array) || r.plaintext.length > MAX_REPORT_PLAINTEXT)
    invalid('FRK-1', 'plaintext length');
  let header: Header;
  try {
    header = decodeHeader(r.headerBytes);
  } catch (cause) {
    throw new OvertError('FRANKING_INVALID', 'report header is malformed', { check: 'FRK-1', cause });
  }
  if (!header.recipients.includes(ctx.reporterUserId)) invalid('FRK-2', 'reporter');
  if (
    r.frankingKey.length !== FRANKING_KEY_BYTES ||
    r.plaintext.length !== header.payloadLength ||
    !equalBytes(
      frankingCommitment(
        r.frankingKey,
        headerContextHash(headerContextBytes(r.headerBytes)),
        r.plaintext,
        header.chunkSize,
      ),
      header.frankingCommitment,
    )
  )
    invalid('FRK-3', 'opening');
  const label = envelopeLabel(r.headerBytes);
  const stampTime = verifyStamp(header, label, r.stamp, ctx.relayPublicKey);
  return { header, label, plaintext: r.plaintext, stampTime } as VerifiedReport;
}
