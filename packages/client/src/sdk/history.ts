/**
 * History for devices that join later (docs/spec/client.md §4.6, issue 4): in a conversation whose members agreed
 * at creation to share history (mls/history.ts, the GroupContext setting), the member whose commit adds a new
 * device of a user already in the conversation sends, in the new epoch, a history bundle: the (message id, K,
 * seed) records of the earlier messages it holds. The new device fetches each envelope and checks it exactly as
 * a live message is checked — capsule recomputed from the seed (A5), header conversation = this group, org,
 * epoch key on the log, the sender signature under the key the log gives the header's sender device (ENV-21,
 * A15) — with the sender and recipients the header names (the relay checked at upload that the sender is the
 * uploading device, RLY-10, and that the recipients were the members, RLY-15; the signature means neither rests
 * on the relay's word). So a member can show
 * a new device only what is in real envelopes of this conversation; one record that fails its checks is rejected
 * alone (HIS-4) and the others are still shown.
 *
 * Store keys (client.md §3):
 *   `hist/<b64u group id>/<send time, 16 decimal digits>-<hex message id>` → u8 1 ‖ message_id[16] ‖ K[32] ‖ seed[32]
 *       kept for every message sent or received (live or as history) in a `'shared'` conversation only;
 *   `histjoin/<b64u group id>` → decimal ASCII of the epoch this device joined at;
 *   `histin/<mailbox seq>` → a received bundle part held between MLS decryption and opening its records:
 *       u8 1 ‖ vec8(sharer user id) ‖ vec8(sharer device id) ‖ the part's encoding (mls/history.ts).
 */
import {
  type Element,
  isOvertError,
  type KeyTransport,
  Reader,
  randomBytes,
  toBase64Url,
  toHex,
  utf8Decode,
  utf8Encode,
  Writer,
} from '@overt/core';
import { ClientError, isClientError } from '../errors.js';
import type { Conversation } from '../mls/conversation.js';
import type { Member } from '../mls/credential.js';
import {
  decodeHistoryPart,
  encodeHistoryPart,
  HISTORY_MAX_RECORDS,
  HISTORY_MAX_RECORDS_PER_PART,
  type HistoryPart,
} from '../mls/history.js';
import type { KeyValueStore } from '../store/store.js';
import type { RelayTransport } from '../transport/relay-transport.js';
import type { ClientEvent, Sender } from './client.js';
import { fetchEnvelope, isRaceLost, isTransient, openReceived } from './receive.js';

/** Users named in one part (its u8 count). */
const MAX_AUDIENCE = 255;
const RECORD_VERSION = 1;
const HELD_VERSION = 1;

/** What the history code needs from the client it runs in. */
export interface HistoryContext {
  readonly store: KeyValueStore;
  readonly transport: RelayTransport;
  readonly orgId: string;
  readonly userId: string;
  readonly relayFrankingKey: Uint8Array | undefined;
  readonly sendTimeSkewMs: number;
  /** The epoch key of `epoch`, accepted only with its statement on the verified log (KT-5). */
  epochKey(epoch: number): Promise<Element>;
  /** The identity key the verified log gives a device (KT-3): a record's sender signature must verify under it. */
  deviceKey(userId: string, deviceId: Uint8Array): Promise<Uint8Array>;
  /** Stores the conversation's MLS state (after encrypting a part). */
  save(conv: Conversation): Promise<void>;
  /** Processes the mailbox (after losing an epoch race, relay DS-3/DS-4). */
  catchUp(): Promise<void>;
}

function recordPrefix(conversationId: Uint8Array): string {
  return `hist/${toBase64Url(conversationId)}/`;
}

function joinKey(conversationId: Uint8Array): string {
  return `histjoin/${toBase64Url(conversationId)}`;
}

function heldKey(seq: number): string {
  return `histin/${seq}`;
}

function storeMalformed(what: string, cause?: unknown): ClientError {
  return new ClientError('SDK_STORE_MALFORMED', `${what} does not decode`, { check: 'CLI-7', cause });
}

function toSender(m: { userId: string; deviceId: Uint8Array }): Sender {
  return { userId: m.userId, deviceId: utf8Decode(m.deviceId) };
}

/**
 * Keeps the record of a message sent or received in `conv`, so it can be shared with devices that join later.
 * Nothing is kept in a `'none'` conversation: there K would outlive the message for no use.
 */
export async function keepHistoryRecord(
  store: KeyValueStore,
  conv: Conversation,
  t: KeyTransport,
  sendTime: number,
): Promise<void> {
  if (conv.history !== 'shared') return;
  const at = String(Math.max(0, Math.min(Math.trunc(sendTime), Number.MAX_SAFE_INTEGER))).padStart(16, '0');
  const value = new Writer(81)
    .u8(RECORD_VERSION)
    .bytes(t.messageId)
    .bytes(t.contentKey)
    .bytes(t.seed)
    .finish();
  await store.put(`${recordPrefix(conv.groupId)}${at}-${toHex(t.messageId)}`, value);
}

/** The records kept for a conversation, oldest first (by send time). Throws SDK_STORE_MALFORMED (CLI-7). */
export async function keptHistoryRecords(
  store: KeyValueStore,
  conversationId: Uint8Array,
): Promise<KeyTransport[]> {
  const out: KeyTransport[] = [];
  for (const k of await store.list(recordPrefix(conversationId))) {
    const bytes = await store.get(k);
    if (bytes === undefined) continue;
    try {
      const r = new Reader(bytes);
      if (r.u8('version') !== RECORD_VERSION) throw storeMalformed('history record');
      const t = { messageId: r.bytes(16), contentKey: r.bytes(32), seed: r.bytes(32) };
      r.finish('history record');
      out.push(t);
    } catch (e) {
      if (isOvertError(e)) throw storeMalformed('history record', e);
      throw e;
    }
  }
  return out;
}

async function keptMessageIds(store: KeyValueStore, conversationId: Uint8Array): Promise<Set<string>> {
  const prefix = recordPrefix(conversationId);
  return new Set((await store.list(prefix)).map((k) => k.slice(prefix.length + 17)));
}

/** Notes the epoch this device joined `conv` at (from its Welcome): bundles for that epoch are for it. */
export async function noteJoined(store: KeyValueStore, conv: Conversation): Promise<void> {
  await store.put(joinKey(conv.groupId), utf8Encode(String(conv.epoch)));
}

async function joinedEpoch(store: KeyValueStore, conversationId: Uint8Array): Promise<number | undefined> {
  const bytes = await store.get(joinKey(conversationId));
  if (bytes === undefined) return undefined;
  let text = '';
  try {
    text = utf8Decode(bytes);
  } catch {
    // Not UTF-8: refused just below.
  }
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text) || !Number.isSafeInteger(Number(text)))
    throw storeMalformed('join epoch');
  return Number(text);
}

/** Cuts `records` (the most recent {@link HISTORY_MAX_RECORDS}) into the parts of one bundle. */
export function historyParts(
  records: readonly KeyTransport[],
  forEpoch: number,
  audience: readonly string[],
): HistoryPart[] {
  const recent = records.slice(-HISTORY_MAX_RECORDS);
  const bundleId = randomBytes(16);
  const partCount = Math.ceil(recent.length / HISTORY_MAX_RECORDS_PER_PART);
  const parts: HistoryPart[] = [];
  for (let i = 0; i < partCount; i++)
    parts.push({
      bundleId,
      forEpoch,
      partIndex: i,
      partCount,
      audience,
      records: recent.slice(i * HISTORY_MAX_RECORDS_PER_PART, (i + 1) * HISTORY_MAX_RECORDS_PER_PART),
    });
  return parts;
}

/**
 * After our commit added devices to `conv` (its roster was `before`): if the conversation shares history and
 * some added device belongs to a user who was already a member, sends them the kept records (HIS-3). A new user
 * is not sent history: the relay serves an envelope only to the users it was addressed to (RLY-9). Sent in the
 * epoch the commit created, or a later one after losing a race; `forEpoch` stays the commit's epoch.
 */
export async function shareHistory(
  ctx: HistoryContext,
  conv: Conversation,
  before: readonly Member[],
): Promise<void> {
  if (conv.history !== 'shared' || !conv.isMember) return;
  const forEpoch = Number(conv.epoch);
  const had = new Set(before.map((m) => `${m.userId}\u0000${utf8Decode(m.deviceId)}`));
  const users = new Set(before.map((m) => m.userId));
  const audience = [
    ...new Set(
      conv
        .members()
        .filter((m) => !had.has(`${m.userId}\u0000${utf8Decode(m.deviceId)}`) && users.has(m.userId))
        .map((m) => m.userId),
    ),
  ].sort();
  if (audience.length === 0) return;
  const records = await keptHistoryRecords(ctx.store, conv.groupId);
  if (records.length === 0) return;
  // One bundle per 255 users (the part's audience limit): only a commit adding that many users' devices splits.
  const bundles: HistoryPart[][] = [];
  for (let i = 0; i < audience.length; i += MAX_AUDIENCE)
    bundles.push(historyParts(records, forEpoch, audience.slice(i, i + MAX_AUDIENCE)));
  for (const part of bundles.flat()) {
    for (let attempt = 0; ; attempt++) {
      const message = await conv.encryptHistory(part);
      await ctx.save(conv);
      try {
        await ctx.transport.postMessage(conv.groupId, message);
        break;
      } catch (e) {
        if (attempt < 5 && isRaceLost(e)) {
          await ctx.catchUp();
          if (!conv.isMember) return;
          continue;
        }
        throw e;
      }
    }
  }
}

/** Holds a received part in the store before the MLS state that consumed its key is saved. */
export async function holdHistoryPart(
  store: KeyValueStore,
  seq: number,
  part: HistoryPart,
  sharer: Member,
): Promise<void> {
  const encoded = encodeHistoryPart(part);
  const w = new Writer(encoded.length + 300)
    .u8(HELD_VERSION)
    .vec8(utf8Encode(sharer.userId))
    .vec8(sharer.deviceId)
    .bytes(encoded);
  await store.put(heldKey(seq), w.finish());
}

async function heldPart(
  store: KeyValueStore,
  seq: number,
): Promise<{ part: HistoryPart; sharer: Sender } | undefined> {
  const bytes = await store.get(heldKey(seq));
  if (bytes === undefined) return undefined;
  try {
    const r = new Reader(bytes);
    if (r.u8('version') !== HELD_VERSION) throw storeMalformed('held history part');
    const userId = utf8Decode(r.vec8('sharer user'));
    const deviceId = r.vec8('sharer device');
    const part = decodeHistoryPart(r.bytes(r.remaining, 'part'));
    return { part, sharer: toSender({ userId, deviceId }) };
  } catch (e) {
    if (isOvertError(e) || isClientError(e)) throw storeMalformed('held history part', e);
    throw e;
  }
}

/**
 * Opens the records of the part held for mailbox item `seq` (if any), emitting one `message` event (marked as
 * history, with who shared it) per good record and one `rejected` event per bad one, then deletes the held part.
 * Returns false when nothing is held. The part is ignored (no event) when it is not for this device: it did not
 * join at the part's epoch, or its user is not in the audience (HIS-3), and records already held are skipped —
 * members that had the messages see nothing. In a `'none'` conversation the whole part is refused (HIS-2).
 * Transient failures throw with the part still held; records already shown are kept, so a retry skips them.
 */
export async function openHeldHistory(
  ctx: HistoryContext,
  conv: Conversation,
  seq: number,
  emit: (e: ClientEvent) => void,
): Promise<boolean> {
  const held = await heldPart(ctx.store, seq);
  if (held === undefined) return false;
  const { part, sharer } = held;
  const reject = (code: string, check: string | undefined) =>
    emit({
      kind: 'rejected',
      conversationId: conv.groupId,
      item: 'history',
      sender: sharer.deviceId,
      code,
      check,
    });
  if (conv.history !== 'shared') {
    reject('SDK_HISTORY_REFUSED', 'HIS-2');
  } else if (
    part.forEpoch === (await joinedEpoch(ctx.store, conv.groupId)) &&
    part.audience.includes(ctx.userId)
  ) {
    const kept = await keptMessageIds(ctx.store, conv.groupId);
    for (const record of part.records) {
      const id = toHex(record.messageId);
      if (kept.has(id)) continue;
      try {
        emit(await openRecord(ctx, conv, record, sharer));
        // Only a record that opened counts as held: a bad copy of a message id does not hide a good one.
        kept.add(id);
      } catch (e) {
        if (isTransient(e)) throw e;
        const err = e as { code: string; relayCode?: string; check?: string };
        reject(err.relayCode ?? err.code, err.check ?? 'HIS-4');
      }
    }
  }
  await ctx.store.delete(heldKey(seq));
  return true;
}

/** One record: fetched and checked like a live message (client.md §4.3), with the header's sender and recipients. */
async function openRecord(
  ctx: HistoryContext,
  conv: Conversation,
  record: KeyTransport,
  sharer: Sender,
): Promise<ClientEvent> {
  const fetched = await fetchEnvelope(ctx, record.messageId);
  const { header } = fetched.envelope;
  // The sender the header names, with the key the log gives that device: the sharer cannot choose either, and a
  // record of an envelope the sender never signed — one a relay wrote into its storage — is refused (ENV-21, A15).
  const event = await openReceived(ctx, conv, record, fetched, {
    senderUserId: header.senderUserId,
    senderDeviceId: header.senderDeviceId,
    members: header.recipients,
    live: false,
  });
  await keepHistoryRecord(ctx.store, conv, record, header.sendTime);
  return { ...event, history: { sharedBy: sharer } };
}
