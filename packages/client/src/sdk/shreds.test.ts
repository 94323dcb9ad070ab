// docs/spec/client.md §4.7 (HIS-5): the log monitor's handler for workflow entries. History records of an epoch are
// pruned once n − k + 1 distinct trustees of the policy in force have logged verified shred statements for it; a
// statement before any policy, from outside the policy, of another org, forged or repeated prunes nothing, and the
// quorum is the policy's. Random entry bytes never throw. (Which policy is in force is the log reader's: KT-10.)
import {
  epochStartMs,
  generateSigningKey,
  randomBytes,
  shredFor,
  signPolicy,
  signShred,
  toHex,
  type VerifiedPolicy,
  verifyPolicy,
} from '@overt/core';
import { ENTRY_TYPES, encodeEntry } from '@overt/log';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { orgKey, policy, trusteeKeys } from '../../../core/test/workflow-fixtures.js';
import { MemoryStore } from '../store/store.js';
import { isEpochShredded, type ShredWatchOptions, watchShredEntry } from './shreds.js';

const ORG = 'example.org';
const E = 673;

/** 2-of-3 by default: the quorum of shreds is 3 − 2 + 1 = 2. */
const verified = (threshold = 2): VerifiedPolicy =>
  verifyPolicy(signPolicy(policy({ orgId: ORG, threshold }), orgKey), orgKey.publicKey);

function options(inForce: () => VerifiedPolicy | undefined): ShredWatchOptions {
  return { store: new MemoryStore(), policy: async () => inForce() };
}

/** Trustee `i`'s (1-based) shred of `epoch`, signed with `key` (default: its own). */
const shredEntry = (i: number, epoch = E, key = trusteeKeys[i - 1]!, orgId = ORG) =>
  encodeEntry({ type: ENTRY_TYPES.shred, body: signShred(shredFor(orgId, epoch, i, Date.now()), key) });

async function keepRecords(o: ShredWatchOptions): Promise<void> {
  for (const [group, at] of [
    ['AAAA', epochStartMs(E) + 5],
    ['BBBB', epochStartMs(E + 1) - 1],
    ['AAAA', epochStartMs(E + 1)],
  ] as const)
    await o.store.put(
      `hist/${group}/${String(at).padStart(16, '0')}-${toHex(randomBytes(16))}`,
      new Uint8Array(81),
    );
}

describe('shred statements on the log prune history (HIS-5)', () => {
  it('prunes only at n − k + 1 distinct verified trustees of the policy in force', async () => {
    let inForce: VerifiedPolicy | undefined;
    const o = options(() => inForce);
    await keepRecords(o);
    let index = 0;
    const see = (entry: Uint8Array) => watchShredEntry(o, index++, entry);
    // Before any policy no trustee is known: nothing is noted.
    expect(await see(shredEntry(1))).toBeUndefined();
    expect(await o.store.list('kt/shred/')).toEqual([]);
    inForce = verified();
    expect(await see(shredEntry(1))).toBeUndefined();
    // Repeated, forged in trustee 2's name, of another org, or of another epoch: none of them completes epoch E.
    expect(await see(shredEntry(1))).toBeUndefined();
    expect(await see(shredEntry(2, E, generateSigningKey()))).toBeUndefined();
    expect(await see(shredEntry(2, E, trusteeKeys[1]!, 'other.org'))).toBeUndefined();
    expect(await see(shredEntry(3, E + 1))).toBeUndefined();
    expect(await o.store.list('hist/')).toHaveLength(3);
    expect(await isEpochShredded(o.store, E)).toBe(false);
    expect(await see(shredEntry(3))).toBe(E);
    expect(await isEpochShredded(o.store, E)).toBe(true);
    // Epoch E's two records are gone, in both conversations; E + 1's stays.
    const left = await o.store.list('hist/');
    expect(left).toHaveLength(1);
    expect(left[0]).toContain(String(epochStartMs(E + 1)).padStart(16, '0'));
    // Handling the same entries again (after a crash) is harmless.
    expect(await see(shredEntry(3))).toBe(E);
    expect(await o.store.list('hist/')).toHaveLength(1);
  });

  it("the quorum is the policy's: 3-of-3 needs a single trustee's shred, 1-of-3 all three", async () => {
    const strict = options(() => verified(3));
    await keepRecords(strict);
    expect(await watchShredEntry(strict, 0, shredEntry(2))).toBe(E);
    const loose = options(() => verified(1));
    await keepRecords(loose);
    expect(await watchShredEntry(loose, 0, shredEntry(1))).toBeUndefined();
    expect(await watchShredEntry(loose, 1, shredEntry(2))).toBeUndefined();
    expect(await loose.store.list('hist/')).toHaveLength(3);
    expect(await watchShredEntry(loose, 2, shredEntry(3))).toBe(E);
    expect(await loose.store.list('hist/')).toHaveLength(1);
  });

  it('random entry bytes and mutated shreds are ignored without throwing (fuzz)', async () => {
    const o = options(() => verified());
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(ENTRY_TYPES.shred, ENTRY_TYPES.request, ENTRY_TYPES.release, 0, 255),
        fc.uint8Array({ maxLength: 200 }),
        async (type, body) => {
          expect(await watchShredEntry(o, 1, Uint8Array.of(type, ...body))).toBeUndefined();
        },
      ),
      { numRuns: 200 },
    );
    // A mutated real shred: never throws, never counts as another trustee's.
    const real = shredEntry(1);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 8, max: real.length * 8 - 1 }), async (bit) => {
        const m = real.slice();
        m[bit >> 3]! ^= 1 << (bit & 7);
        expect(await watchShredEntry(o, 2, m)).toBeUndefined();
      }),
      { numRuns: 60 },
    );
    expect((await o.store.list('kt/shred/')).length).toBeLessThanOrEqual(1);
  });
});
