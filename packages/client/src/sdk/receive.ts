/**
 * Receiving one message's envelope (docs/spec/client.md §4.3), shared by live messages (client.ts) and history
 * records (history.ts): take the envelope the relay pushed with the item or fetch it (and its blob chunks), open
 * it with core's recipient checks against what MLS says, check the relay's stamp and keep the ready report
 * (§4.5), and build the message event. Also the error classes both receive paths use.
 */
import {
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
import { checkStamp, keepReportable } from './franking.js';

/** What the receive paths need from the client. */
export interface ReceiveContext {
  readonly store: KeyValueStore;
  readonly transport: RelayTransport;
  readonly orgId: string;
  readonly relayFrankingKey: Uint8Array | undefined;
  /** The epoch key of `epoch`, accepted only with its statement on the verified log (KT-5). */
  epochKey(epoch: number): Promise<Element>;
}

/** Who MLS (or, for history, the envelope's own header) says sent the message, and to whom. */
export interface Origin {
  readonly senderUserId: string;
  readonly senderDeviceId: Uint8Array;
  readonly members: readonly string[];
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
 * Opens a fetched envelope with core's recipient checks (ENV-5..16: context, key commitment, the capsule
 * recomputed from the seed — A5 —, digest, decryption), checks its stamp (FRK-5), keeps the ready report, and
 * returns the message event.
 */
export async function openReceived(
  ctx: ReceiveContext,
  conv: Conversation,
  transport: KeyTransport,
  fetched: { envelope: UnverifiedEnvelope; stamp: Uint8Array | undefined },
  origin: Origin,
): Promise<MessageEvent> {
  const { envelope } = fetched;
  const opened = await openEnvelope(envelope, transport, {
    orgId: ctx.orgId,
    epoch: envelope.header.epoch,
    epochKey: await ctx.epochKey(envelope.header.epoch),
    conversationId: conv.groupId,
    senderUserId: origin.senderUserId,
    senderDeviceId: origin.senderDeviceId,
    members: origin.members,
  });
  const franking = checkStamp(opened, fetched.stamp, ctx.relayFrankingKey);
  const reportable = await keepReportable(ctx.store, opened, franking);
  const sender: Sender = { userId: origin.senderUserId, deviceId: utf8Decode(origin.senderDeviceId) };
  return {
    kind: 'message',
    conversationId: conv.groupId,
    messageId: opened.header.messageId,
    sender,
    sendTime: opened.header.sendTime,
    contentType: opened.header.contentType,
    payload: opened.payload,
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
