/**
 * Receiving one message's envelope (docs/spec/client.md §4.3), shared by live messages (client.ts) and history
 * records (history.ts): take the envelope the relay pushed with the item or fetch it (and its blob chunks), check
 * that its epoch is the calendar month of its send time (CLI-8), open it with core's recipient checks against
 * what MLS says — the sender's signature under its credential key among them (ENV-21, A15) —, check the relay's
 * stamp (§4.5) and, for a live message, that the send time is within the stated skew of the stamp time (CLI-9),
 * keep the ready report, and build the message event. Also the error classes both receive paths use.
 */
import {
  calendarMonthEpoch,
  concatBytes,
  decodeEnvelope,
  type Element,
  equalBytes,
  isOvertError,
  type KeyTransport,
  openEnvelope,
  type UnverifiedEnvelope,
  utf8Decode,
} from '@overt/core';
import { ClientError, isClientError } from '../errors.js';
import type { Conversation } from '../mls/conversation.js';
import type { KeyValueStore } from '../store/store.js';
import type { MailboxItem, RelayTransport } from '../transport/relay-transport.js';
import type { ClientEvent, Sender } from './client.js';
import { decodeMessageContent } from './content.js';
import { checkStamp, keepReportable } from './franking.js';
import { keepHeader } from './headers.js';

/** What the receive paths need from the client. */
export interface ReceiveContext {
  readonly store: KeyValueStore;
  readonly transport: RelayTransport;
  readonly orgId: string;
  readonly relayFrankingKey: Uint8Array | undefined;
  /** Largest accepted |stamp time − send time| of a live message, ms (CLI-9). */
  readonly sendTimeSkewMs: number;
  /** The epoch key of `epoch`, accepted only with its statement on the verified log (KT-5). */
  epochKey(epoch: number): Promise<Element>;
  /** The identity key the verified log gives a device (KT-3), for a sender MLS does not vouch for here. */
  deviceKey(userId: string, deviceId: Uint8Array): Promise<Uint8Array>;
}

/**
 * The largest difference the recipient accepts between a live message's send time and the relay's stamp time
 * (its receive time), 5 minutes: the relay's own ingest window (relay.md RLY-12, `envelopeSkewMs` default), so an
 * honest sender and relay never exceed it. Docs: client.md §4.3.
 */
export const SEND_TIME_SKEW_MS = 5 * 60_000;

/** Who MLS (or, for history, the envelope's own header) says sent the message, and to whom. */
export interface Origin {
  readonly senderUserId: string;
  readonly senderDeviceId: Uint8Array;
  /**
   * The sender's identity key from the MLS credential that sent the message. Absent for history records (and
   * inbox records written before envelopes were signed): the key the log gives the header's sender is used.
   */
  readonly senderKey?: Uint8Array;
  readonly members: readonly string[];
  /** A live message (not history): its send time is checked against the relay's stamp time (CLI-9). */
  readonly live: boolean;
}

function timeRefused(message: string, check: string): ClientError {
  return new ClientError('SDK_ENVELOPE_TIME', message, { check });
}

type MessageEvent = Extract<ClientEvent, { kind: 'message' }>;

/**
 * The envelope named by `transport`: the inline copy pushed with the item when it is that message, else one GET
 * (and the blob's chunks). Either way it is opened and checked, so a wrong inline envelope is refused, not trusted.
 */
export async function fetchEnvelope(
  ctx: ReceiveContext,
  messageId: Uint8Array,
  inline?: MailboxItem['inline'],
): Promise<{ envelope: UnverifiedEnvelope; stamp: Uint8Array | undefined }> {
  if (inline !== undefined && equalBytes(inline.messageId, messageId))
    return { envelope: decodeEnvelope(inline.envelope), stamp: inline.stamp };
  const served = await ctx.transport.getEnvelope(messageId);
  let ciphertext = served.ciphertext;
  if (ciphertext === undefined) {
    if (served.blob === undefined) throw new ClientError('RELAY_RESPONSE_MALFORMED', 'envelope has no body');
    const parts: Uint8Array[] = [];
    for (let i = 0; i < served.blob.chunks; i++)
      parts.push(await ctx.transport.getEnvelopeChunk(messageId, i));
    ciphertext = concatBytes(...parts);
  }
  return { envelope: decodeEnvelope(concatBytes(served.head, ciphertext)), stamp: served.stamp };
}

/**
 * Opens a fetched envelope: its epoch is the calendar month of its send time (CLI-8, before any key is fetched);
 * core's recipient checks (ENV-5..16: context, the sender signature under the sender's key — ENV-21 —, key
 * commitment, the capsule recomputed from the seed — A5 —, digest, decryption); the stamp (FRK-5); for a live
 * message with a usable stamp, |stamp time − send time| ≤ the skew (CLI-9). Then keeps the ready report and
 * returns the message event. A stamp that is absent or invalid (FRK-5) gives no stamp time: CLI-9 is then not
 * checked (the relay has no franking key, or its stamp is not believed).
 */
export async function openReceived(
  ctx: ReceiveContext,
  conv: Conversation,
  transport: KeyTransport,
  fetched: { envelope: UnverifiedEnvelope; stamp: Uint8Array | undefined },
  origin: Origin,
): Promise<MessageEvent> {
  const { envelope } = fetched;
  // The recipient's epoch is the month of the send time, not whatever the header says (directory.md §4): a
  // header that names another epoch would be sealed to another month's key than its time says.
  const epoch = calendarMonthEpoch(envelope.header.sendTime);
  if (envelope.header.epoch !== epoch)
    throw timeRefused('the envelope epoch is not the calendar month of its send time', 'CLI-8');
  const senderKey = origin.senderKey ?? (await ctx.deviceKey(origin.senderUserId, origin.senderDeviceId));
  const opened = await openEnvelope(envelope, transport, {
    orgId: ctx.orgId,
    epoch,
    epochKey: await ctx.epochKey(epoch),
    conversationId: conv.groupId,
    senderUserId: origin.senderUserId,
    senderDeviceId: origin.senderDeviceId,
    senderKey,
    members: origin.members,
  });
  const franking = checkStamp(opened, fetched.stamp, ctx.relayFrankingKey);
  if (
    origin.live &&
    franking.stampTime !== undefined &&
    Math.abs(franking.stampTime - opened.header.sendTime) > ctx.sendTimeSkewMs
  )
    throw timeRefused('the send time is too far from the relay stamp time', 'CLI-9');
  // A file's name and real type are inside the plaintext (content.ts, client.md §4.8; CLI-11).
  const content = decodeMessageContent(opened.header.contentType, opened.payload, opened.header.messageId);
  const reportable = await keepReportable(ctx.store, opened, franking);
  // For the notices of after-release.md §4: which of this user's messages an unsealed request opened.
  await keepHeader(ctx.store, envelope.headerBytes);
  const sender: Sender = { userId: origin.senderUserId, deviceId: utf8Decode(origin.senderDeviceId) };
  return {
    kind: 'message',
    conversationId: conv.groupId,
    messageId: opened.header.messageId,
    sender,
    sendTime: opened.header.sendTime,
    contentType: content.contentType,
    payload: content.payload,
    ...(content.fileName !== undefined ? { fileName: content.fileName } : {}),
    frankingKey: opened.frankingKey,
    stamp: franking.stamp,
    stampStatus: franking.status,
    reportable,
  };
}

/**
 * A failure that says nothing about the item: the relay unreachable or pushing back (429, 503), the store broken,
 * or the key-transparency hook unable to read the log or to get a fresh view of it (KT-FRESH-1). The item stays unacknowledged and is retried by the next
 * sync; nothing is reported as rejected.
 */
export function isTransient(e: unknown): boolean {
  if (!isClientError(e)) return !isOvertError(e);
  if (
    e.code === 'RELAY_UNAVAILABLE' ||
    e.code === 'SDK_STORE_MALFORMED' ||
    e.code === 'KT_LOG_UNAVAILABLE' ||
    e.code === 'KT_LOG_STALE'
  )
    return true;
  if (e.code === 'RELAY_REFUSED') return e.status === 429 || e.status === 503;
  if (e.code === 'MLS_CREDENTIAL_REJECTED') return isTransient(e.cause) && e.cause !== undefined;
  return false;
}

/** The relay refused because another member's commit came first (relay.md DS-3, DS-4). */
export function isRaceLost(e: unknown): boolean {
  return (
    isClientError(e, 'RELAY_REFUSED') &&
    (e.relayCode === 'DS_EPOCH_MISMATCH' || e.relayCode === 'DS_COMMIT_CONFLICT')
  );
}
