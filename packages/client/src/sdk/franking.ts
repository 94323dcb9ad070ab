/**
 * The recipient's half of message franking (DESIGN §4 flow 10, threat A12; docs/spec/client.md §4.5,
 * franking.md): check the relay's stamp when a message arrives, keep what a later report needs, and file the
 * report with the organisation (the relay's `POST /v1/reports`).
 *
 * **What is kept.** A report carries the header, the plaintext, the franking key fk and the stamp (core
 * `encodeReport`). The SDK does not keep received messages, so for each message that can be reported it stores
 * that report, ready to send, under `frank/<message id>` (base64url). It holds the plaintext: the store is already
 * the device's secret state (MLS secrets), and the message was shown to the user anyway. fk reveals no other
 * message (franking.md §2). Payloads larger than {@link REPORTABLE_MAX} (core's MAX_REPORT_PLAINTEXT, the largest
 * plaintext a report may carry) are not kept: such a message cannot be reported (franking.md §2).
 * `forgetReportable` deletes a record (e.g. when the user deletes the message).
 */
import {
  createReport,
  decodeReport,
  encodeReport,
  isOvertError,
  MAX_REPORT_PLAINTEXT,
  type OpenedEnvelope,
  toBase64Url,
  verifyStamp,
} from '@overt/core';
import { ClientError } from '../errors.js';
import type { KeyValueStore } from '../store/store.js';
import type { FiledReport, RelayTransport } from '../transport/relay-transport.js';

/** The largest payload kept for a report: core's MAX_REPORT_PLAINTEXT (1 MiB), the one reporting limit. */
export const REPORTABLE_MAX = MAX_REPORT_PLAINTEXT;

/**
 * What the recipient knows about the relay's stamp of a message:
 * `verified` — it verifies under the pinned relay franking key; `unverified` — no key is pinned, so it was kept
 * unchecked (the organisation checks it on report); `invalid` — it does not verify (FRK-5: not kept, the message is
 * not reportable); `absent` — the relay served none.
 */
export type StampStatus = 'verified' | 'unverified' | 'invalid' | 'absent';

export interface StampCheck {
  /** The stamp, when it is usable for a report (status `verified` or `unverified`). */
  readonly stamp: Uint8Array | undefined;
  readonly status: StampStatus;
}

/** FRK-5: the stamp served with an envelope, checked under the relay's franking key when it is pinned. */
export function checkStamp(
  opened: OpenedEnvelope,
  stamp: Uint8Array | undefined,
  relayFrankingKey: Uint8Array | undefined,
): StampCheck {
  if (stamp === undefined) return { stamp: undefined, status: 'absent' };
  if (relayFrankingKey === undefined) return { stamp, status: 'unverified' };
  try {
    verifyStamp(opened.header, opened.label, stamp, relayFrankingKey);
    return { stamp, status: 'verified' };
  } catch (e) {
    if (!isOvertError(e)) throw e;
    return { stamp: undefined, status: 'invalid' };
  }
}

export function reportableKey(messageId: Uint8Array): string {
  return `frank/${toBase64Url(messageId)}`;
}

/** Stores the ready report of a message when it can be reported; true when it was kept. */
export async function keepReportable(
  store: KeyValueStore,
  opened: OpenedEnvelope,
  check: StampCheck,
): Promise<boolean> {
  if (check.stamp === undefined || opened.payload.length > REPORTABLE_MAX) return false;
  const report = encodeReport(createReport(opened, opened.payload, check.stamp));
  await store.put(reportableKey(opened.header.messageId), report);
  return true;
}

/** Deletes the kept report of a message (nothing happens when none is kept). */
export async function forgetReportable(store: KeyValueStore, messageId: Uint8Array): Promise<void> {
  await store.delete(reportableKey(messageId));
}

/**
 * Files the kept report of a message with the organisation (relay.md §10.2). SDK_NOT_REPORTABLE (FRK-6) when
 * none is kept; RELAY_REFUSED with the relay's REPORT_* code (FRK-1…FRK-4, RPT-1, RPT-2) when it refuses.
 */
export async function fileReport(
  store: KeyValueStore,
  transport: RelayTransport,
  messageId: Uint8Array,
  reason: string | undefined,
): Promise<FiledReport> {
  const report = await store.get(reportableKey(messageId));
  if (report === undefined)
    throw new ClientError('SDK_NOT_REPORTABLE', 'no report is kept for this message', { check: 'FRK-6' });
  try {
    decodeReport(report);
  } catch (cause) {
    throw new ClientError('SDK_STORE_MALFORMED', 'the kept report does not decode', {
      check: 'CLI-7',
      cause,
    });
  }
  return transport.fileReport(report, reason);
}
