/**
 * The binary send frame of the mailbox WebSocket (relay.md §6.8). All integers big-endian:
 *
 *   u8  type = 0x01 (SEND)
 *   u32 requestId            chosen by the client, echoed in the answer
 *   u8  g = groupId length   1..64
 *   g   groupId              the MLS group (= the envelope's conversation id)
 *   u32 m = message length   1..
 *   m   message              MLSMessage: an application message of the group
 *   ..  envelope             the rest: u32 headerLength ‖ header ‖ capsule ‖ ciphertext, as PUT /v1/envelopes
 *
 * Parsing never throws anything but a {@link RelayError} (RLY-18, RLY-3); the answer names the request id when
 * the frame was long enough to carry one.
 */
import { RelayError } from '../errors.js';

export const FRAME_SEND = 0x01;
/** Largest send frame the relay parses (an inline envelope of 1 MiB plus its MLS message and head). */
export const MAX_SEND_FRAME = (1 << 20) + 256 * 1024;
const MAX_GROUP_ID = 64;
const MIN_ENVELOPE = 4;

export interface SendFrame {
  readonly requestId: number;
  readonly groupId: Uint8Array;
  readonly message: Uint8Array;
  readonly envelope: Uint8Array;
}

function malformed(what: string): RelayError {
  return new RelayError('RELAY_INVALID_BODY', `malformed send frame: ${what}`, { check: 'RLY-18' });
}

/** The request id of a frame that may be malformed, when its first five bytes are there. */
export function frameRequestId(frame: Uint8Array): number | undefined {
  if (frame.length < 5 || frame[0] !== FRAME_SEND) return undefined;
  return new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(1);
}

export function parseSendFrame(frame: Uint8Array): SendFrame {
  if (frame.length > MAX_SEND_FRAME)
    throw new RelayError('RELAY_BODY_TOO_LARGE', 'the send frame exceeds the limit', { check: 'RLY-3' });
  if (frame.length < 1) throw malformed('empty');
  if (frame[0] !== FRAME_SEND) throw malformed('unknown frame type');
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (frame.length < 6) throw malformed('truncated');
  const requestId = view.getUint32(1);
  const g = frame[5]!;
  if (g < 1 || g > MAX_GROUP_ID) throw malformed('group id length');
  let at = 6;
  if (frame.length < at + g + 4) throw malformed('truncated');
  const groupId = frame.slice(at, at + g);
  at += g;
  const m = view.getUint32(at);
  at += 4;
  if (m < 1 || frame.length - at < m + MIN_ENVELOPE) throw malformed('message length');
  const message = frame.slice(at, at + m);
  at += m;
  return { requestId, groupId, message, envelope: frame.slice(at) };
}

/** Encodes a send frame (the client's side; tests and the benchmark use it too). */
export function encodeSendFrame(f: SendFrame): Uint8Array {
  if (f.groupId.length < 1 || f.groupId.length > MAX_GROUP_ID) throw new RangeError('group id length');
  const out = new Uint8Array(10 + f.groupId.length + f.message.length + f.envelope.length);
  const view = new DataView(out.buffer);
  out[0] = FRAME_SEND;
  view.setUint32(1, f.requestId);
  out[5] = f.groupId.length;
  out.set(f.groupId, 6);
  let at = 6 + f.groupId.length;
  view.setUint32(at, f.message.length);
  at += 4;
  out.set(f.message, at);
  out.set(f.envelope, at + f.message.length);
  return out;
}
