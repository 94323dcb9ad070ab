/**
 * The "shown messages" log of a profile (docs/spec/cli.md §3.4): every message and file `read` or `watch` has
 * printed, kept so that `overt history` can show a conversation's past. The client keeps no plaintext of received
 * messages (its `hist/` records hold keys, and only for history-sharing conversations), so the CLI appends here
 * when it prints. Records live in the profile's store, sealed under the profile key like every other record:
 *
 *   `cli/shown/<b64u conversation id>/<send time, 16 decimal digits>-<b64u message id>` → UTF-8 JSON
 *   {messageId, sender: {userId, deviceId}, time (ISO 8601), contentType, text?, bytes?}
 *
 * Keys sort by conversation then send time, so one conversation's history is one ordered prefix listing. Writing
 * a record twice (a message shown again) overwrites it with the same content.
 */
import type { ClientEvent } from '@overt/client';
import { TEXT_CONTENT_TYPE } from '@overt/client';
import { toBase64Url, utf8Decode, utf8Encode } from '@overt/core';

export const SHOWN_PREFIX = 'cli/shown/';

/** One message as `overt history` shows it. */
export interface ShownMessage {
  readonly conversation: string;
  readonly messageId: string;
  readonly sender: { readonly userId: string; readonly deviceId: string };
  readonly time: string;
  readonly contentType: string;
  /** The text of a text message. */
  readonly text?: string;
  /** The size of a file (kept under cli/file/<message id>; `overt file save`). */
  readonly bytes?: number;
}

interface Store {
  put(key: string, value: Uint8Array): Promise<void>;
  get(key: string): Promise<Uint8Array | undefined>;
  list(prefix: string): Promise<string[]>;
}

/** Appends a message event that has just been printed; other events are not messages and are not kept. */
export async function recordShown(store: Store, e: ClientEvent): Promise<void> {
  if (e.kind !== 'message') return;
  const conversation = toBase64Url(e.conversationId);
  const messageId = toBase64Url(e.messageId);
  let text: string | undefined;
  if (e.contentType === TEXT_CONTENT_TYPE) {
    try {
      text = utf8Decode(e.payload);
    } catch {
      // Not UTF-8 although labelled text: `read` saved it as a file, and so it is recorded.
    }
  }
  const record: ShownMessage = {
    conversation,
    messageId,
    sender: { userId: e.sender.userId, deviceId: e.sender.deviceId },
    time: new Date(e.sendTime).toISOString(),
    contentType: e.contentType,
    ...(text === undefined ? { bytes: e.payload.length } : { text }),
  };
  const key = `${SHOWN_PREFIX}${conversation}/${String(Math.max(0, Math.floor(e.sendTime))).padStart(16, '0')}-${messageId}`;
  await store.put(key, utf8Encode(JSON.stringify(record)));
}

/** The shown messages of `conversation` (b64u), or of every conversation, oldest first within each. */
export async function listShown(store: Store, conversation?: string): Promise<ShownMessage[]> {
  const prefix = conversation === undefined ? SHOWN_PREFIX : `${SHOWN_PREFIX}${conversation}/`;
  const out: ShownMessage[] = [];
  for (const k of (await store.list(prefix)).sort()) {
    const bytes = await store.get(k);
    if (bytes === undefined) continue;
    out.push(JSON.parse(utf8Decode(bytes)) as ShownMessage);
  }
  return out;
}
