/**
 * Whether a device enrolment is already on the log (docs/spec/cli.md §2): lets `overt admin enrol`, run again with
 * the same user, device id and key (a retry after a lost answer, a script run twice), succeed as a no-op. The relay
 * answers DIR_DEVICE_EXISTS for a taken device id and offers the admin no directory lookup, so the public log is
 * read: its entry bundles (C2SP tlog-tiles) up to the published checkpoint, each device statement verified under
 * the org admin's key. Like waitWitnessed this is a convenience for the admin, not a verification: every client
 * verifies the log itself.
 */
import { equalBytes, isDirectoryEntry, verifyDirectoryEntry } from '@overt/core';
import { decodeEntryBundle, entryBundlePath } from '@overt/log';

/**
 * The log index of the device-added statement naming exactly (org, user, device, key), signed by `adminKey`, when
 * no later removal of that device is logged; undefined otherwise.
 */
export async function findEnrolment(
  relay: string,
  adminKey: Uint8Array,
  want: { orgId: string; userId: string; deviceId: string; identityKey: Uint8Array },
): Promise<number | undefined> {
  const checkpoint = await (await fetch(new URL('/log/checkpoint', relay))).text();
  const size = Number(checkpoint.split('\n')[1]);
  if (!Number.isSafeInteger(size) || size < 0) return undefined;
  let found: number | undefined;
  for (let start = 0; start < size; start += 256) {
    const width = Math.min(256, size - start);
    const res = await fetch(new URL(`/log/${entryBundlePath({ index: start / 256, width })}`, relay));
    if (!res.ok) return undefined;
    const entries = decodeEntryBundle(new Uint8Array(await res.arrayBuffer()), width);
    for (const [i, entry] of entries.entries()) {
      if (!isDirectoryEntry(entry)) continue;
      let s: ReturnType<typeof verifyDirectoryEntry>;
      try {
        s = verifyDirectoryEntry(adminKey, entry);
      } catch {
        continue; // An epoch key (needs the policy) or an entry that does not verify: not a device of ours.
      }
      if (s.type !== 'device' || s.statement.deviceId !== want.deviceId) continue;
      if (s.statement.kind === 'removed') {
        found = undefined;
        continue;
      }
      if (
        s.statement.orgId === want.orgId &&
        s.statement.userId === want.userId &&
        equalBytes(s.statement.identityKey, want.identityKey)
      )
        found = start + i;
    }
  }
  return found;
}
