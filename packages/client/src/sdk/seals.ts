/**
 * Overdue seals in the client (docs/spec/after-release.md §3, OVD-1; DESIGN A10): every client monitors the org's
 * log for requests whose seal-until in force has passed with neither an unseal nor an extension, and raises the
 * key-transparency alert `seal-overdue` — once per request — so that a seal the organisation quietly lets run on is
 * seen by the people it concerns, not only by auditors.
 *
 * The log reader (log/directory-log.ts) hands every verified entry that is neither a policy nor a directory
 * statement to {@link watchSealEntry}, which keeps the access entries (`kt/access/<index>`, the entry bytes, before
 * the checkpoint that includes them is saved: requests, decisions, executions, releases, extensions, unseals,
 * refusals — the notices of notices.ts read them too). {@link findOverdueSeals} then reads them,
 * with the policies that came into force (`kt/policy/<index>`, the reader's), under exactly the rules of the
 * statistics (access/access-log.ts: each entry under the policy in force at its position, the extension chain,
 * the relay's key for its unseals) and core's `overdueSeals` at the client's clock. A request alerted is noted
 * (`kt/seal-overdue/<request hash hex>`) in the same atomic batch as its alert, so it is raised once, never lost.
 *
 *     kt/access/<index:16 digits>             an access entry (u8 type ‖ body) of the verified log
 *     kt/seal-overdue/<request hash hex>      this request's seal-overdue alert was raised
 */
import { overdueSeals, toHex, utf8Encode } from '@overt/core';
import { ACCESS_LOG_TYPES, type AccessAnchors, type AccessLog, readAccessLog } from '../access/access-log.js';
import type { KeyValueStore, StoreOp } from '../store/store.js';

const ACCESS_PREFIX = 'kt/access/';
const POLICY_PREFIX = 'kt/policy/';
const accessKey = (index: number): string => `${ACCESS_PREFIX}${String(index).padStart(16, '0')}`;
const alertedKey = (hash: Uint8Array): string => `kt/seal-overdue/${toHex(hash)}`;

/** Every access entry but shreds (shreds.ts keeps those): seals need requests, extensions and unseals; notices
 * (notices.ts) also the decisions, the execution, the releases and the refusals of a request. */
const WATCHED: ReadonlySet<number> = new Set([
  ACCESS_LOG_TYPES.request,
  ACCESS_LOG_TYPES.decision,
  ACCESS_LOG_TYPES.execution,
  ACCESS_LOG_TYPES.release,
  ACCESS_LOG_TYPES.extension,
  ACCESS_LOG_TYPES.unseal,
  ACCESS_LOG_TYPES.refusal,
]);

/**
 * The log monitor's hook for one verified entry that is neither a policy nor a directory statement: keeps an access
 * entry for {@link findOverdueSeals} and the notices. Idempotent (the same bytes under the same key).
 */
export async function watchSealEntry(store: KeyValueStore, index: number, entry: Uint8Array): Promise<void> {
  if (entry[0] === undefined || !WATCHED.has(entry[0])) return;
  await store.put(accessKey(index), entry);
}

/**
 * The access workflow of the verified log this device has read (access/access-log.ts's rules), from the stored
 * policies that came into force and access entries in log order; `indices[i]` is the log index of the i-th of
 * them (the result's indices are positions in that sparse list). Undefined when no access entry is stored.
 */
export async function storedAccessLog(
  store: KeyValueStore,
  anchors: AccessAnchors,
): Promise<{ log: AccessLog; indices: number[] } | undefined> {
  const at: { index: number; key: string }[] = [];
  for (const [prefix, keys] of [
    [POLICY_PREFIX, await store.list(POLICY_PREFIX)],
    [ACCESS_PREFIX, await store.list(ACCESS_PREFIX)],
  ] as const)
    for (const key of keys) {
      const index = indexOf(key, prefix);
      if (index !== undefined) at.push({ index, key });
    }
  if (!at.some((a) => a.key.startsWith(ACCESS_PREFIX))) return undefined;
  at.sort((a, b) => a.index - b.index);
  const entries: Uint8Array[] = [];
  const indices: number[] = [];
  for (const a of at) {
    const bytes = await store.get(a.key);
    if (bytes === undefined) continue;
    entries.push(bytes);
    indices.push(a.index);
  }
  return { log: readAccessLog(entries, anchors), indices };
}

/** One overdue seal, as the alert names it. */
export interface FoundOverdueSeal {
  readonly requestId: Uint8Array;
  readonly requestHash: Uint8Array;
  /** The log index of the request. */
  readonly logIndex: number;
  /** The seal-until in force (ms). */
  readonly sealUntil: number;
}

export interface SealCheckOptions {
  readonly store: KeyValueStore;
  readonly adminKey: Uint8Array;
  /** The relay's access key (anchors' `accessKey`): without it no relay unseal verifies, so no check is made. */
  readonly relayKey: Uint8Array | undefined;
  readonly orgId: string;
  readonly now: number;
}

function indexOf(key: string, prefix: string): number | undefined {
  const text = key.slice(prefix.length);
  return /^[0-9]{1,16}$/.test(text) ? Number(text) : undefined;
}

/**
 * The overdue seals not alerted yet, oldest request first, and the store writes that mark each one alerted (to be
 * applied with its alert, in one batch). None without the relay's key.
 */
export async function findOverdueSeals(
  o: SealCheckOptions,
): Promise<{ found: FoundOverdueSeal[]; mark: (s: FoundOverdueSeal) => StoreOp }> {
  const mark = (s: FoundOverdueSeal): StoreOp => ({
    key: alertedKey(s.requestHash),
    value: new Uint8Array(0),
  });
  if (o.relayKey === undefined) return { found: [], mark };
  const stored = await storedAccessLog(o.store, { orgKey: o.adminKey, relayKey: o.relayKey, orgId: o.orgId });
  if (stored === undefined) return { found: [], mark };
  const { log, indices } = stored;
  const overdue = overdueSeals(
    log.cases.map((c) => c.request),
    log.cases.flatMap((c) => c.extensions.map((x) => x.value)),
    log.cases.flatMap((c) => (c.unseal ? [c.unseal.value] : [])),
    o.now,
  );
  const found: FoundOverdueSeal[] = [];
  for (const s of overdue) {
    if ((await o.store.get(alertedKey(s.requestHash))) !== undefined) continue;
    const c = log.cases.find((x) => toHex(x.request.hash) === toHex(s.requestHash))!;
    found.push({
      requestId: s.requestId,
      requestHash: s.requestHash,
      logIndex: indices[c.index]!,
      sealUntil: s.sealUntil,
    });
  }
  return { found, mark };
}

/** The alert's stored form (kt/alert/…), as key-transparency.ts keeps every alert. */
export function sealAlertJson(s: FoundOverdueSeal): Uint8Array {
  return utf8Encode(
    JSON.stringify({
      alert: 'seal-overdue',
      requestId: toHex(s.requestId),
      sealUntil: s.sealUntil,
      index: s.logIndex,
    }),
  );
}
