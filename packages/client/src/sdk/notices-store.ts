/**
 * The user's notices in the client store (docs/spec/after-release.md §4, client.md §8.7): each unsealed request that
 * names this user becomes one notice, built once from the verified log view (access/notices.ts) and kept; it is
 * shown as new until the application marks it seen.
 *
 *     notice/<request id b64u>    {"v":1, "seen": boolean, "notice": Notice}
 */
import { utf8Decode, utf8Encode } from '@overt/core';
import type { AccessAnchors } from '../access/access-log.js';
import { buildNotice, type LabelSource, type Notice, unsealedFor } from '../access/notices.js';
import { ClientError } from '../errors.js';
import type { KeyValueStore } from '../store/store.js';
import { heldHeaders } from './headers.js';
import { storedAccessLog } from './seals.js';

const PREFIX = 'notice/';
const noticeKey = (requestId: string): string => `${PREFIX}${requestId}`;

/** A kept notice. */
export interface StoredNotice {
  readonly notice: Notice;
  /** False until {@link markNoticesSeen}. */
  readonly seen: boolean;
}

function encode(s: StoredNotice): Uint8Array {
  return utf8Encode(JSON.stringify({ v: 1, seen: s.seen, notice: s.notice }));
}

function decode(bytes: Uint8Array): StoredNotice {
  try {
    const j = JSON.parse(utf8Decode(bytes)) as { v?: unknown; seen?: unknown; notice?: Notice };
    if (j.v !== 1 || typeof j.seen !== 'boolean' || typeof j.notice?.requestId !== 'string')
      throw new Error('shape');
    if (!Number.isSafeInteger(j.notice.logIndex) || !Array.isArray(j.notice.opened)) throw new Error('shape');
    return { seen: j.seen, notice: j.notice };
  } catch (cause) {
    throw new ClientError('SDK_STORE_MALFORMED', 'stored notice does not decode', { check: 'CLI-7', cause });
  }
}

/** Every kept notice, in log order of the unseal. */
export async function storedNotices(store: KeyValueStore): Promise<StoredNotice[]> {
  const out: StoredNotice[] = [];
  for (const k of await store.list(PREFIX)) {
    const bytes = await store.get(k);
    if (bytes !== undefined) out.push(decode(bytes));
  }
  return out.sort((a, b) => a.notice.logIndex - b.notice.logIndex);
}

/**
 * Builds the notice of every unsealed request on the stored log view that names `userId`, and keeps it: a new notice,
 * or one whose content changed since it was kept (a release or refusal logged after the unseal), is kept as not
 * seen; an unchanged one keeps its state. Nothing without the relay's access key (its unseals and executions could
 * not be verified). Returns how many were new or changed.
 */
export async function updateNotices(o: {
  readonly store: KeyValueStore;
  readonly anchors: Omit<AccessAnchors, 'relayKey'> & { readonly relayKey: Uint8Array | undefined };
  readonly userId: string;
  readonly labels: LabelSource;
}): Promise<number> {
  const { relayKey } = o.anchors;
  if (relayKey === undefined) return 0;
  const stored = await storedAccessLog(o.store, { ...o.anchors, relayKey });
  if (stored === undefined) return 0;
  const cases = unsealedFor(stored.log, o.userId);
  if (cases.length === 0) return 0;
  const held = await heldHeaders(o.store);
  let changed = 0;
  for (const c of cases) {
    const notice = await buildNotice(c, {
      userId: o.userId,
      log: stored.log,
      indexOf: (p) => stored.indices[p]!,
      held,
      labels: o.labels,
    });
    const key = noticeKey(notice.requestId);
    const before = await o.store.get(key);
    if (before !== undefined && JSON.stringify(decode(before).notice) === JSON.stringify(notice)) continue;
    await o.store.put(key, encode({ notice, seen: false }));
    changed++;
  }
  return changed;
}

/** Marks notices seen (unknown ids are ignored). */
export async function markNoticesSeen(store: KeyValueStore, requestIds: readonly string[]): Promise<void> {
  for (const id of requestIds) {
    const bytes = await store.get(noticeKey(id));
    if (bytes === undefined) continue;
    const s = decode(bytes);
    if (!s.seen) await store.put(noticeKey(id), encode({ ...s, seen: true }));
  }
}
