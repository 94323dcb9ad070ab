/**
 * History for devices that join later (docs/spec/client.md §4.6): the per-conversation setting, carried in the
 * MLS GroupContext, and the history-bundle application payload.
 *
 * The setting is a private-use GroupContext extension (RFC 9420 §13.3, type {@link HISTORY_EXTENSION_TYPE}): every
 * member derives the same key schedule from the same GroupContext, so all members agree on it, a Welcome carries
 * it to joiners inside the signed GroupInfo, and it can only change by a GroupContextExtensions commit — which
 * Overt never makes or accepts (MLS-7). So the setting chosen at creation holds for the conversation's life.
 * `'none'` is the absence of the extension (groups made before the setting existed are `'none'`), `'shared'` the
 * extension with data `0x01`; anything else is refused (MLS-17).
 *
 * A history bundle gives a joining device (message id, K, seed) of messages sent before it joined. It gives
 * nothing a member could not already show: the joiner fetches each envelope and checks it like a live message
 * (sdk/history.ts). Encoding (one part, the application data of one MLS application message):
 *
 *   u8 payload_type = 2 ‖ u8 version = 1 ‖ bundle_id[16] ‖ u64 for_epoch ‖ u16 part_index ‖ u16 part_count
 *   ‖ u8 n (1..255) ‖ n × vec8(audience user id, 1..255 bytes UTF-8)
 *   ‖ u16 m (1..64) ‖ m × (message_id[16] ‖ content_key[32] ‖ seed[32])
 *
 * `payload_type` shares the first byte with the key-transport payload (whose `version = 1`), so one byte tells
 * the two apart.
 */
import { isOvertError, Reader, utf8Decode, utf8Encode, Writer } from '@overt/core';
import type { Extension } from 'ts-mls';
import { ClientError } from '../errors.js';
import type { KeyTransportPayload } from './payload.js';

/** The conversation's history setting: whether devices that join later may be given earlier messages. */
export type HistorySetting = 'none' | 'shared';

/** RFC 9420 §13.3 private-use extension type of the Overt history setting. */
export const HISTORY_EXTENSION_TYPE = 0xf0a1;
const SHARED = 0x01;

/** First byte of a history-bundle application payload (the key-transport payload's first byte is 1). */
export const HISTORY_PAYLOAD_TYPE = 2;
export const HISTORY_BUNDLE_VERSION = 1;
/** Records in one part: a part stays near 5 KiB plus its audience, far under the relay's 2 MiB body limit. */
export const HISTORY_MAX_RECORDS_PER_PART = 64;
/** Parts in one bundle; a bundle carries at most 16 × 64 = 1024 records (the most recent ones). */
export const HISTORY_MAX_PARTS = 16;
export const HISTORY_MAX_RECORDS = HISTORY_MAX_RECORDS_PER_PART * HISTORY_MAX_PARTS;
const BUNDLE_ID_BYTES = 16;
const RECORD_BYTES = 16 + 32 + 32;
const MAX_AUDIENCE = 255;

/** The GroupContext extensions that carry `setting` (none for `'none'`). */
export function historyExtensions(setting: HistorySetting): Extension[] {
  if (setting === 'none') return [];
  if (setting === 'shared')
    return [{ extensionType: HISTORY_EXTENSION_TYPE, extensionData: Uint8Array.of(SHARED) }];
  throw new ClientError('MLS_USAGE', 'history setting must be none or shared');
}

/**
 * The history setting a GroupContext carries. Throws MLS_GROUP_POLICY (MLS-17) for any other extension, a
 * repeated one, or extension data other than exactly `0x01`.
 */
export function historySettingOf(extensions: readonly Extension[]): HistorySetting {
  if (extensions.length === 0) return 'none';
  const e = extensions[0]!;
  if (
    extensions.length !== 1 ||
    e.extensionType !== HISTORY_EXTENSION_TYPE ||
    e.extensionData.length !== 1 ||
    e.extensionData[0] !== SHARED
  )
    throw new ClientError('MLS_GROUP_POLICY', 'group context carries an extension Overt does not use', {
      check: 'MLS-17',
    });
  return 'shared';
}

/** One part of a history bundle. Secret: the records hold content keys. */
export interface HistoryPart {
  /** Random, the same in every part of one bundle. */
  readonly bundleId: Uint8Array;
  /** The epoch the adding commit created: only devices that joined at it take the bundle. */
  readonly forEpoch: number;
  readonly partIndex: number;
  readonly partCount: number;
  /** The users the bundle is meant for (those whose new devices the commit added). */
  readonly audience: readonly string[];
  readonly records: readonly KeyTransportPayload[];
}

function malformed(message: string, cause?: unknown): ClientError {
  return new ClientError('MLS_PAYLOAD_MALFORMED', message, { check: 'HIS-1', cause });
}

function checkPart(p: HistoryPart): void {
  const ok =
    p.bundleId.length === BUNDLE_ID_BYTES &&
    Number.isSafeInteger(p.forEpoch) &&
    p.forEpoch >= 0 &&
    Number.isInteger(p.partCount) &&
    p.partCount >= 1 &&
    p.partCount <= HISTORY_MAX_PARTS &&
    Number.isInteger(p.partIndex) &&
    p.partIndex >= 0 &&
    p.partIndex < p.partCount &&
    p.audience.length >= 1 &&
    p.audience.length <= MAX_AUDIENCE &&
    p.records.length >= 1 &&
    p.records.length <= HISTORY_MAX_RECORDS_PER_PART;
  if (!ok) throw new ClientError('MLS_USAGE', 'history part out of range');
}

/** Encodes one part. Throws MLS_USAGE for a field out of range or of the wrong length. */
export function encodeHistoryPart(p: HistoryPart): Uint8Array {
  checkPart(p);
  const w = new Writer(64 + p.records.length * RECORD_BYTES)
    .u8(HISTORY_PAYLOAD_TYPE)
    .u8(HISTORY_BUNDLE_VERSION)
    .bytes(p.bundleId)
    .u64(p.forEpoch)
    .u16(p.partIndex)
    .u16(p.partCount)
    .u8(p.audience.length);
  for (const u of p.audience) {
    const b = utf8Encode(u);
    if (b.length < 1 || b.length > 255)
      throw new ClientError('MLS_USAGE', 'audience user id must be 1..255 bytes');
    w.vec8(b);
  }
  w.u16(p.records.length);
  for (const r of p.records) {
    if (r.messageId.length !== 16 || r.contentKey.length !== 32 || r.seed.length !== 32)
      throw new ClientError('MLS_USAGE', 'history record field has the wrong length');
    w.bytes(r.messageId).bytes(r.contentKey).bytes(r.seed);
  }
  return w.finish();
}

/**
 * Decodes one part. Throws MLS_PAYLOAD_MALFORMED (HIS-1) unless `bytes` is exactly one valid encoding: known
 * type and version, counts and indices in range, user ids of 1..255 bytes of UTF-8, no trailing bytes.
 */
export function decodeHistoryPart(bytes: Uint8Array): HistoryPart {
  try {
    const r = new Reader(bytes);
    if (r.u8('payload type') !== HISTORY_PAYLOAD_TYPE) throw malformed('not a history bundle');
    if (r.u8('bundle version') !== HISTORY_BUNDLE_VERSION) throw malformed('unknown history bundle version');
    const bundleId = r.bytes(BUNDLE_ID_BYTES, 'bundle id');
    const forEpoch = r.u64('for epoch');
    const partIndex = r.u16('part index');
    const partCount = r.u16('part count');
    if (partCount < 1 || partCount > HISTORY_MAX_PARTS || partIndex >= partCount)
      throw malformed('part index or count out of range');
    const n = r.u8('audience count');
    if (n < 1) throw malformed('empty audience');
    const audience: string[] = [];
    for (let i = 0; i < n; i++) {
      const b = r.vec8('audience user id');
      if (b.length < 1) throw malformed('empty user id');
      audience.push(utf8Decode(b));
    }
    const m = r.u16('record count');
    if (m < 1 || m > HISTORY_MAX_RECORDS_PER_PART) throw malformed('record count out of range');
    const records: KeyTransportPayload[] = [];
    for (let i = 0; i < m; i++)
      records.push({
        messageId: r.bytes(16, 'message id'),
        contentKey: r.bytes(32, 'content key'),
        seed: r.bytes(32, 'capsule seed'),
      });
    r.finish('history bundle');
    return { bundleId, forEpoch, partIndex, partCount, audience, records };
  } catch (e) {
    if (e instanceof ClientError) throw e;
    if (isOvertError(e)) throw malformed('history bundle does not decode', e);
    throw e;
  }
}
