/**
 * The relay's half of message franking (DESIGN §4 flow 10, threat A12; docs/spec/franking.md §3–§4, relay.md
 * §10): the stamp served with every envelope, and the abuse reports recipients file with the organisation.
 *
 * **Stamps are computed when an envelope is served, not stored at ingest.** An Ed25519 signature is
 * deterministic (RFC 8032 §5.1.6), and everything the stamp signs — the header (sender, conversation, message
 * id, send time, franking commitment), its label and the stamp time — is in the stored envelope record, whose
 * `receivedAt` is the stamp time. So signing at serve time yields the very bytes signing at ingest would have,
 * ingest (the hot path) pays nothing, and storage needs no column. What the stamp attests is still what the relay
 * checked at ingest: the envelopes table only ever holds envelopes that passed core's ingest check with the
 * authenticated device as sender (RLY-10, core ENV-8), so "stored" implies "ingested". The cost moves to
 * delivery: one header decode and one signature per served envelope (tens of microseconds).
 *
 * A report is checked by core's `verifyReport` (FRK-1…FRK-4) against the relay's own franking key and the
 * authenticated reporter's user, then against storage (RPT-2): the envelope must be one this relay stored, with
 * exactly the reported header. Only an accepted report is stored. Reports hold a plaintext: nothing here logs
 * them, and errors name the failed rule only.
 */
import {
  decodeHeader,
  decodeReport,
  envelopeLabel,
  equalBytes,
  isOvertError,
  type SigningKeyPair,
  STAMP_BYTES,
  STAMP_VERSION,
  sign,
  stampMessage,
  toHex,
  type VerifiedReport,
  verifyReport,
  Writer,
} from '@overt/core';
import { RelayError } from './errors.js';
import type {
  AbuseReportRecord,
  AbuseReportSummary,
  DeviceRecord,
  EnvelopeRecord,
  RelayStorage,
} from './storage/storage.js';

/** Stamps kept by {@link ReportDesk.stampOf} (oldest dropped first; 4096 × ~150 B). */
export const STAMP_CACHE_SIZE = 4096;

/** The longest `reason` a reporter may attach (characters). */
export const MAX_REPORT_REASON = 500;

/**
 * The franking stamp of a stored envelope (franking.md §3): `u8 1 ‖ u64 receivedAt ‖ Ed25519(key,
 * stamp_message(header, L, receivedAt))`, 73 bytes — byte for byte what core's `stampEnvelope` gives for the
 * ingested envelope at its receive time.
 */
export function envelopeStamp(record: EnvelopeRecord, key: SigningKeyPair): Uint8Array {
  const header = decodeHeader(record.header);
  const signature = sign(key, stampMessage(header, envelopeLabel(record.header), record.receivedAt));
  return new Writer(STAMP_BYTES).u8(STAMP_VERSION).u64(record.receivedAt).bytes(signature).finish();
}

/** Core's franking refusals as relay errors: the check ID stays core's (franking.md §6). */
function reportError(e: unknown): RelayError {
  if (!isOvertError(e)) throw e;
  const check = e.check;
  if (e.code === 'FRANKING_STAMP')
    return new RelayError('REPORT_STAMP', 'the stamp does not verify for this header', { check: 'FRK-4' });
  if (check === 'FRK-2')
    return new RelayError('REPORT_NOT_RECIPIENT', 'the reporter is not a recipient of the message', {
      check: 'FRK-2',
    });
  if (check === 'FRK-3')
    return new RelayError('REPORT_OPENING', 'the plaintext and franking key do not open the commitment', {
      check: 'FRK-3',
    });
  return new RelayError('REPORT_MALFORMED', 'the report does not decode', { check: 'FRK-1' });
}

export interface FiledReport {
  readonly reportId: number;
  readonly result: 'stored' | 'duplicate';
  readonly verified: VerifiedReport;
}

/** Abuse reports (relay.md §10): filing by recipients, reading by the org-admin. */
export class ReportDesk {
  private readonly stamps = new Map<string, { readonly receivedAt: number; readonly stamp: Uint8Array }>();

  constructor(
    private readonly storage: RelayStorage,
    private readonly key: SigningKeyPair | undefined,
    private readonly now: () => number,
  ) {}

  /** The franking key, or RPT-1 when the relay has none configured. */
  private franking(): SigningKeyPair {
    if (this.key === undefined)
      throw new RelayError('REPORT_DISABLED', 'this relay has no franking key', { check: 'RPT-1' });
    return this.key;
  }

  /**
   * The stamp to serve with an envelope, or undefined on a relay without a franking key. A fan-out pushes one
   * envelope to many members: the last {@link STAMP_CACHE_SIZE} stamps are kept (a stored envelope's header and
   * receive time never change, STORE-R-5), so each is signed about once rather than once per recipient.
   */
  stampOf(record: EnvelopeRecord): Uint8Array | undefined {
    if (this.key === undefined) return undefined;
    const id = toHex(record.messageId);
    const cached = this.stamps.get(id);
    if (cached !== undefined && cached.receivedAt === record.receivedAt) return cached.stamp;
    const stamp = envelopeStamp(record, this.key);
    if (this.stamps.size >= STAMP_CACHE_SIZE) this.stamps.delete(this.stamps.keys().next().value!);
    this.stamps.set(id, { receivedAt: record.receivedAt, stamp });
    return stamp;
  }

  /**
   * Verifies and stores a report by `device` (FRK-1…FRK-4, then RPT-2). A second report of one message by one user
   * is `duplicate` and keeps the first. A refused report stores nothing.
   */
  async file(device: DeviceRecord, bytes: Uint8Array, reason: string | undefined): Promise<FiledReport> {
    const key = this.franking();
    let verified: VerifiedReport;
    let headerBytes: Uint8Array;
    try {
      const report = decodeReport(bytes);
      headerBytes = report.headerBytes;
      verified = verifyReport(report, { relayPublicKey: key.publicKey, reporterUserId: device.userId });
    } catch (e) {
      throw reportError(e);
    }
    const h = verified.header;
    const stored = await this.storage.getEnvelope(h.messageId);
    // A stamp under our key over this header means we stored it once; retention may have deleted it since, and a
    // header we never stored cannot carry a valid stamp. Either way it is not a message we hold (RPT-2). Our stamps
    // carry the receive time, so any other time is not one we served.
    if (
      stored === undefined ||
      !equalBytes(stored.header, headerBytes) ||
      stored.receivedAt !== verified.stampTime
    )
      throw new RelayError('REPORT_ENVELOPE_UNKNOWN', 'the relay holds no such envelope', { check: 'RPT-2' });
    const { reportId, result } = await this.storage.putAbuseReport({
      messageId: h.messageId,
      reporterUserId: device.userId,
      reporterDeviceId: device.deviceId,
      senderUserId: h.senderUserId,
      senderDeviceId: stored.senderDeviceId,
      conversationId: h.conversationId,
      sendTime: h.sendTime,
      stampTime: verified.stampTime,
      reason: reason ?? null,
      report: bytes,
      receivedAt: this.now(),
    });
    return { reportId, result, verified };
  }

  async list(afterId: number, limit: number): Promise<AbuseReportSummary[]> {
    return this.storage.listAbuseReports(afterId, limit);
  }

  /** A stored report, re-verified (so the admin reads only what verifies under the current key). */
  async get(reportId: number): Promise<{ record: AbuseReportRecord; verified: VerifiedReport }> {
    const record = await this.storage.getAbuseReport(reportId);
    if (record === undefined) throw new RelayError('REPORT_UNKNOWN', 'no such report');
    try {
      const verified = verifyReport(record.report, {
        relayPublicKey: this.franking().publicKey,
        reporterUserId: record.reporterUserId,
      });
      return { record, verified };
    } catch (e) {
      if (e instanceof RelayError) throw e;
      throw new RelayError('STORE_R_CORRUPT', 'a stored report no longer verifies', {
        check: 'STORE-R-3',
        cause: reportError(e),
      });
    }
  }
}
