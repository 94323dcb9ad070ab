/**
 * Unread events kept in the store (docs/spec/client.md §4.3): every event a sync produces — a message with its
 * payload, franking key and stamp, a membership change, a rejection, a key-transparency alert — is written to the
 * store in the same atomic batch that advances the MLS state and the mailbox cursor, and stays there until the
 * application marks it read. So an event is never only in memory: a crash or an error at any point loses none.
 *
 *     event/<seq:16 digits>-<n:6 digits>   the n-th event of mailbox item seq (a history part gives several)
 *     event/k-<time:16 digits>-<n:6 digits>  an alert or notice of log monitoring (KT-6..KT-10), or a membership
 *                                            change this device made for its user's new device (client.md §4.1)
 *     event/k-u-<log index:16 digits>        an unknown-device alert (KT-6): returned by log monitoring on every sync
 *                                            until resolved, so one key per alert — written again after it is read,
 *                                            never twice while unread (client.md §8.4)
 *
 * The value is a UTF-8 JSON object, version 1: `{"v":1,"e":EVENT}` where EVENT is the ClientEvent with every byte
 * string written as `{"b64":"<base64>"}`. It lives only in the sealed store (client.md §3.1), is as secret as the
 * message it holds, and is deleted when read.
 */
import { fromBase64, toBase64, utf8Decode, utf8Encode } from '@overt/core';
import { ClientError } from '../errors.js';
import type { ClientEvent } from './client.js';

export const EVENT_PREFIX = 'event/';
const VERSION = 1;
const KINDS = new Set(['joined', 'membership', 'message', 'renamed', 'rejected', 'alert', 'notice']);

/** The store key of the `n`-th event of mailbox item `seq`. */
export function itemEventKey(seq: number, n: number): string {
  return `${EVENT_PREFIX}${String(seq).padStart(16, '0')}-${String(n).padStart(6, '0')}`;
}

/** The store key of the `n`-th log-monitoring event found at `time` (ms). */
export function monitorEventKey(time: number, n: number): string {
  return `${EVENT_PREFIX}k-${String(time).padStart(16, '0')}-${String(n).padStart(6, '0')}`;
}

/** The store key of the unknown-device alert at `logIndex` (one per alert: it repeats until resolved). */
export function repeatingAlertKey(logIndex: number): string {
  return `${EVENT_PREFIX}k-u-${String(logIndex).padStart(16, '0')}`;
}

export function encodeEvent(e: ClientEvent): Uint8Array {
  return utf8Encode(
    JSON.stringify({ v: VERSION, e }, (_k, v) => (v instanceof Uint8Array ? { b64: toBase64(v) } : v)),
  );
}

function malformed(cause?: unknown): ClientError {
  return new ClientError('SDK_STORE_MALFORMED', 'stored event does not decode', {
    check: 'CLI-7',
    ...(cause !== undefined ? { cause } : {}),
  });
}

/** Throws SDK_STORE_MALFORMED (CLI-7) for bytes that are not one stored event. */
export function decodeEvent(bytes: Uint8Array): ClientEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8Decode(bytes), (_k, v) => {
      if (v !== null && typeof v === 'object' && !Array.isArray(v) && 'b64' in v) {
        if (Object.keys(v).length !== 1 || typeof v.b64 !== 'string') throw malformed();
        return fromBase64(v.b64);
      }
      return v;
    });
  } catch (cause) {
    if (cause instanceof ClientError) throw cause;
    throw malformed(cause);
  }
  const o = parsed as { v?: unknown; e?: { kind?: unknown; conversationId?: unknown } } | null;
  if (o === null || typeof o !== 'object' || o.v !== VERSION) throw malformed();
  const e = o.e;
  if (e === null || typeof e !== 'object' || typeof e.kind !== 'string' || !KINDS.has(e.kind))
    throw malformed();
  if (e.kind !== 'alert' && e.kind !== 'notice' && !(e.conversationId instanceof Uint8Array))
    throw malformed();
  // JSON drops undefined members: put back the ones the event type always has.
  const r = e as Record<string, unknown>;
  if (e.kind === 'message' && !('stamp' in r)) r.stamp = undefined;
  if (e.kind === 'rejected' && !('check' in r)) r.check = undefined;
  return e as ClientEvent;
}
