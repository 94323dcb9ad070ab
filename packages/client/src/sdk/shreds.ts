/**
 * Shredded epochs in the client (docs/spec/client.md §4.7; DESIGN §4 flow 9, A13): once enough trustees have
 * logged that they erased their shares of an epoch's escrow key, that epoch's envelopes are unreadable outside
 * their conversations, and the relay deletes them. The (message id, K, seed) history records this device kept of
 * that epoch's messages (client.md §4.6) are then deleted too: they could only open those messages, and a stolen
 * device should not be the last place an erased epoch can still be read.
 *
 * The log reader (log/directory-log.ts) keeps the org's access policy in force along the log (a policy entry
 * signed with the pinned org-admin key, directory.md §2) and hands every other non-directory entry it has verified
 * to {@link watchShredEntry}: a **shred** entry (log type 11) that verifies under the policy in force at its
 * position (workflow.md §9.6: WF-S1…WF-S3) is noted (`kt/shred/<epoch>/<trustee index>`); when `n − k + 1` distinct
 * trustees of that policy have shredded epoch `e`, fewer than k shares remain: the history records of `e` are
 * pruned and `kt/shredded/<epoch>` notes it (HIS-5).
 *
 * Anything that does not verify vouches for nothing and is ignored: a forged or foreign statement deletes nothing.
 * Entries are handled before the checkpoint that includes them is saved, so after a crash they are handled again
 * (every step is idempotent).
 */
import { epochStartMs, isOvertError, type VerifiedPolicy, verifyShred } from '@overt/core';
import { ENTRY_TYPES } from '@overt/log';
import { ClientError } from '../errors.js';
import type { KeyValueStore } from '../store/store.js';

const pad = (n: number, w: number): string => String(n).padStart(w, '0');
const shredPrefix = (epoch: number): string => `kt/shred/${pad(epoch, 10)}/`;
const shreddedKey = (epoch: number): string => `kt/shredded/${pad(epoch, 10)}`;

/** A history record's key (sdk/history.ts): `hist/<b64u group id>/<16-digit send time>-<hex message id>`. */
const HISTORY_KEY = /^hist\/[A-Za-z0-9_-]+\/([0-9]{16})-[0-9a-f]{32}$/;

/**
 * Deletes the history records (client.md §3 `hist/…`) of every conversation whose message was sent in calendar-month
 * epoch `epoch` — the epoch of a send time, which the relay requires of every envelope's header epoch (RLY, directory
 * §4) — and returns how many. One algorithm over the store interface, so every backend prunes the same way; other
 * keys, and records of other epochs, are untouched. SDK_USAGE unless `epoch` is a u32.
 */
export async function pruneHistoryEpoch(store: KeyValueStore, epoch: number): Promise<number> {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff)
    throw new ClientError('SDK_USAGE', 'an epoch is a u32');
  const from = epochStartMs(epoch);
  const to = epochStartMs(epoch + 1);
  let n = 0;
  for (const k of await store.list('hist/')) {
    const m = HISTORY_KEY.exec(k);
    if (m === null) continue;
    const t = Number(m[1]);
    if (t < from || t >= to) continue;
    await store.delete(k);
    n++;
  }
  return n;
}

/** Whether this device has seen epoch `epoch` shredded on the log (and pruned its history). */
export async function isEpochShredded(store: KeyValueStore, epoch: number): Promise<boolean> {
  return (await store.get(shreddedKey(epoch))) !== undefined;
}

export interface ShredWatchOptions {
  readonly store: KeyValueStore;
  /** The org's access policy in force at the entry's position (the log reader's; undefined before the first). */
  readonly policy: () => Promise<VerifiedPolicy | undefined>;
}

/** Runs `f` on attacker-controlled bytes: our own OvertError means "does not verify" (undefined). */
function verified<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (isOvertError(e)) return undefined;
    throw e;
  }
}

/**
 * The log monitor's hook for one verified log entry that is neither a policy nor a directory statement (`entry` =
 * u8 type ‖ body, log.md §7). Returns the epoch whose history it pruned, if this entry completed a shred quorum.
 */
export async function watchShredEntry(
  o: ShredWatchOptions,
  _index: number,
  entry: Uint8Array,
): Promise<number | undefined> {
  if (entry[0] !== ENTRY_TYPES.shred) return undefined;
  const policy = await o.policy();
  // No policy read yet: no trustee is known, so the statement cannot be verified.
  if (policy === undefined) return undefined;
  const s = verified(() => verifyShred(entry.subarray(1), policy));
  if (s === undefined) return undefined;
  const { epoch, trusteeIndex } = s.shred;
  await o.store.put(`${shredPrefix(epoch)}${pad(trusteeIndex, 3)}`, new Uint8Array(0));
  // Fewer than k shares remain once n − k + 1 distinct trustees of the policy have erased theirs (workflow.md §9.6).
  const trustees = new Set(policy.policy.trustees.map((t) => pad(t.index, 3)));
  const shredded = (await o.store.list(shredPrefix(epoch))).filter((k) =>
    trustees.has(k.slice(shredPrefix(epoch).length)),
  ).length;
  if (shredded < trustees.size - policy.policy.threshold + 1) return undefined;
  await pruneHistoryEpoch(o.store, epoch);
  await o.store.put(shreddedKey(epoch), new Uint8Array(0));
  return epoch;
}
