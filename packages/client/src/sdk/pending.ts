/**
 * The inbox record (docs/spec/client.md §4.3): what MLS told this device about one incoming message, kept in the
 * store between decrypting the MLS message and opening its envelope. MLS accepts a message once (MLS-9), so
 * without this record a relay or network failure while fetching the envelope would lose the message for good.
 *
 *     record := u8 version (2) ‖ message_id[16] ‖ content_key[32] ‖ seed[32] ‖ vec8(sender_user_id)
 *               ‖ vec8(sender_device_id) ‖ sender_identity_key[32] ‖ u16 n ‖ n × vec8(member_user_id)
 *
 * The sender's identity key is the signature key of the MLS credential that sent the message: the envelope's
 * sender signature must verify under it (ENV-21). A version 1 record (written before envelopes were signed) has
 * none; the receive path then takes the key the log gives the sender device.
 *
 * It holds K and the seed: it is as secret as the MLS state next to it, and deleted once the message is opened or
 * rejected.
 */
import { isOvertError, type KeyTransport, Reader, utf8Decode, utf8Encode, Writer } from '@overt/core';
import { ClientError } from '../errors.js';

const VERSION = 2;
const VERSION_UNSIGNED = 1;
const IDENTITY_KEY_BYTES = 32;

export interface PendingOpen {
  readonly transport: KeyTransport;
  readonly senderUserId: string;
  readonly senderDeviceId: Uint8Array;
  /** The MLS credential's identity key; undefined only in a version 1 record. */
  readonly senderKey: Uint8Array | undefined;
  /** User ids of the roster in the message's MLS epoch (the envelope's recipients must equal them, ENV-9). */
  readonly members: readonly string[];
}

export function encodePendingOpen(p: PendingOpen): Uint8Array {
  if (p.senderKey?.length !== IDENTITY_KEY_BYTES)
    throw new ClientError('SDK_USAGE', 'an inbox record needs the sender identity key');
  const w = new Writer(240)
    .u8(VERSION)
    .bytes(p.transport.messageId)
    .bytes(p.transport.contentKey)
    .bytes(p.transport.seed)
    .vec8(utf8Encode(p.senderUserId))
    .vec8(p.senderDeviceId)
    .bytes(p.senderKey)
    .u16(p.members.length);
  for (const m of p.members) w.vec8(utf8Encode(m));
  return w.finish();
}

/** Throws SDK_STORE_MALFORMED (CLI-7) for bytes that are not one record. */
export function decodePendingOpen(bytes: Uint8Array): PendingOpen {
  try {
    const r = new Reader(bytes);
    const version = r.u8('version');
    if (version !== VERSION && version !== VERSION_UNSIGNED)
      throw new ClientError('SDK_STORE_MALFORMED', 'unknown inbox record version');
    const messageId = r.bytes(16, 'message id');
    const contentKey = r.bytes(32, 'content key');
    const seed = r.bytes(32, 'seed');
    const senderUserId = utf8Decode(r.vec8('sender user'));
    const senderDeviceId = r.vec8('sender device');
    const senderKey = version === VERSION ? r.bytes(IDENTITY_KEY_BYTES, 'sender key') : undefined;
    const n = r.u16('members');
    const members: string[] = [];
    for (let i = 0; i < n; i++) members.push(utf8Decode(r.vec8('member')));
    r.finish('inbox record');
    return { transport: { messageId, contentKey, seed }, senderUserId, senderDeviceId, senderKey, members };
  } catch (cause) {
    if (cause instanceof ClientError) throw cause;
    if (isOvertError(cause))
      throw new ClientError('SDK_STORE_MALFORMED', 'inbox record does not decode', { check: 'CLI-7', cause });
    throw cause;
  }
}
