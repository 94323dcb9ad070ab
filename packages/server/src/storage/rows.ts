/**
 * Row shapes and row mapping shared by the SQLite and PostgreSQL drivers: the same columns and the same
 * conversion to records, written once so the two drivers cannot drift apart. Only the integer representation
 * differs (SQLite returns numbers, PostgreSQL bigint columns arrive as decimal strings): each driver passes its
 * own integer conversion. SQL text that differs per dialect stays in the drivers.
 */
import { concatBytes } from '@overt/core';
import { RelayError } from '../errors.js';
import {
  type AbuseReportSummary,
  type EnvelopeRecord,
  type MailboxItem,
  type MailboxKind,
  type NewAbuseReport,
  plainBytes,
} from './storage.js';

/** The columns of an envelope row, in the order of {@link envelopeRowValues}. */
export const ENVELOPE_COLUMNS =
  'message_id, org_id, epoch, conversation_id, sender_user_id, sender_device_id, ' +
  'send_time, header, capsule, ciphertext, blob_id, received_at';

/** An envelope record's values in the order of {@link ENVELOPE_COLUMNS}. */
export function envelopeRowValues(e: EnvelopeRecord) {
  return [
    e.messageId,
    e.orgId,
    e.epoch,
    e.conversationId,
    e.senderUserId,
    e.senderDeviceId,
    e.sendTime,
    e.header,
    concatBytes(e.capsule, e.signature),
    e.ciphertext,
    e.blobId,
    e.receivedAt,
  ] as const;
}

/** Length of the sender signature at the end of the `capsule` column (capsule ‖ signature, relay.md §5). */
const SIGNATURE_BYTES = 64;

/**
 * Splits the `capsule` column into the capsule and the sender signature (its last 64 bytes). A shorter value is
 * STORE_R_CORRUPT (STORE-R-3).
 */
export function capsuleColumn(
  value: Uint8Array,
  driver: string,
): { capsule: Uint8Array; signature: Uint8Array } {
  if (value.length < SIGNATURE_BYTES)
    throw new RelayError('STORE_R_CORRUPT', `${driver}: envelope capsule column too short`, {
      check: 'STORE-R-3',
    });
  const at = value.length - SIGNATURE_BYTES;
  return { capsule: plainBytes(value.subarray(0, at)), signature: plainBytes(value.subarray(at)) };
}

/** The columns an abuse report is inserted with, in the order of {@link abuseReportRowValues}. */
export const ABUSE_REPORT_COLUMNS =
  'message_id, reporter_user_id, reporter_device_id, sender_user_id, sender_device_id, conversation_id, ' +
  'send_time, stamp_time, reason, report, received_at';

/** A new abuse report's values in the order of {@link ABUSE_REPORT_COLUMNS}. */
export function abuseReportRowValues(r: NewAbuseReport) {
  return [
    r.messageId,
    r.reporterUserId,
    r.reporterDeviceId,
    r.senderUserId,
    r.senderDeviceId,
    r.conversationId,
    r.sendTime,
    r.stampTime,
    r.reason,
    r.report,
    r.receivedAt,
  ] as const;
}

/** The columns of an abuse report's summary (everything but the report bytes). */
export const REPORT_SUMMARY_COLUMNS =
  'report_id, message_id, reporter_user_id, reporter_device_id, sender_user_id, sender_device_id, ' +
  'conversation_id, send_time, stamp_time, reason, received_at';

/** A row of {@link REPORT_SUMMARY_COLUMNS}; `Int` is how the driver returns integer columns. */
export interface AbuseReportRow<Int> {
  report_id: Int;
  message_id: Uint8Array;
  reporter_user_id: string;
  reporter_device_id: string;
  sender_user_id: string;
  sender_device_id: string;
  conversation_id: Uint8Array;
  send_time: Int;
  stamp_time: Int;
  reason: string | null;
  received_at: Int;
}

export function reportSummaryFrom<Int>(r: AbuseReportRow<Int>, int: (v: Int) => number): AbuseReportSummary {
  return {
    reportId: int(r.report_id),
    messageId: plainBytes(r.message_id),
    reporterUserId: r.reporter_user_id,
    reporterDeviceId: r.reporter_device_id,
    senderUserId: r.sender_user_id,
    senderDeviceId: r.sender_device_id,
    conversationId: plainBytes(r.conversation_id),
    sendTime: int(r.send_time),
    stampTime: int(r.stamp_time),
    reason: r.reason,
    receivedAt: int(r.received_at),
  };
}

/**
 * The mailbox columns of `mailbox m`, aliased m_* so that they can be read next to a joined envelope row (e.*,
 * whose epoch, sender_device_id and received_at would otherwise collide).
 */
export const MAILBOX_COLUMNS =
  'm.seq AS m_seq, m.kind AS m_kind, m.group_id AS m_group_id, m.epoch AS m_epoch, ' +
  'm.sender_device_id AS m_sender, m.data AS m_data, m.received_at AS m_received_at';

/** A row of {@link MAILBOX_COLUMNS}; `Int` is how the driver returns integer columns. */
export interface MailboxRow<Int> {
  m_seq: Int;
  m_kind: string;
  m_group_id: Uint8Array;
  m_epoch: Int;
  m_sender: string;
  m_data: Uint8Array;
  m_received_at: Int;
}

const KINDS: readonly MailboxKind[] = ['commit', 'welcome', 'message'];

/** The mailbox item of a row; an unknown kind is the driver's `corrupt('mailbox kind')` (STORE-R-3). */
export function mailboxItemFrom<Int>(
  r: MailboxRow<Int>,
  int: (v: Int) => number,
  corrupt: (what: string) => Error,
): MailboxItem {
  const kind = KINDS.find((k) => k === r.m_kind);
  if (kind === undefined) throw corrupt('mailbox kind');
  return {
    seq: int(r.m_seq),
    kind,
    groupId: plainBytes(r.m_group_id),
    epoch: int(r.m_epoch),
    senderDeviceId: r.m_sender,
    data: plainBytes(r.m_data),
    receivedAt: int(r.m_received_at),
  };
}
