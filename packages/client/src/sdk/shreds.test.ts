// docs/spec/client.md §4.7 (HIS-5): the log monitor's handler for workflow entries. History records of an epoch are
// pruned once n − k + 1 distinct trustees of the org's policy (signed with the pinned admin key) have logged verified
// shred statements for it; a statement before any policy, from outside the policy, of another org, forged or repeated
// prunes nothing. Random entry bytes never throw.
import {
  epochStartMs,
  generateSigningKey,
  randomBytes,
  shredFor,
  signPolicy,
  signShred,
  toHex,
} from '@overt/core';
import { ENTRY_TYPES, encodeEntry } from '@overt/log';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { orgKey, policy, trusteeKeys } from '../../../core/test/workflow-fixtures.js';
import { MemoryStore } from '../store/store.js';
import { isEpochShredded, type ShredWatchOptions, watchShredEntry } from './shreds.js';

const ORG = 'example.org';
const E = 673;

function options(): ShredWatchOptions {
  return { store: new MemoryStore(), orgId: ORG, adminKey: orgKey.publicKey };
}

const policyEntry = (serial = 3, key = orgKey, orgId = ORG) =>
  encodeEntry({ type: ENTRY_TYPES.policy, body: signPolicy(policy({ serial, orgId }), key) });

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
  it('prunes only at n − k + 1 distinct verified trustees of the policy', async () => {
    const o = options();
    await keepRecords(o);
    let index = 0;
    const see = (entry: Uint8Array) => watchShredEntry(o, index++, entry);
    // Before any policy no trustee is known: nothing is noted.
    expect(await see(shredEntry(1))).toBeUndefined();
    expect(await o.store.list('kt/shred/')).toEqual([]);
    // A policy signed by another key, or of another org, names no trustee for this client.
    await see(policyEntry(3, generateSigningKey()));
    await see(policyEntry(3, orgKey, 'other.org'));
    expect(await o.store.get('kt/policy')).toBeUndefined();
    await see(policyEntry(3));
    expect(await o.store.get('kt/policy')).toBeDefined();
    // 2-of-3: fewer than k shares remain once 2 trustees have shredded.
    expect(await see(shredEntry(1))).toBeUndefined();
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

  it('a later policy replaces an earlier one only with a higher serial', async () => {
    const o = options();
    await watchShredEntry(o, 0, policyEntry(5));
    const held = await o.store.get('kt/policy');
    await watchShredEntry(o, 1, policyEntry(4));
    expect(await o.store.get('kt/policy')).toEqual(held);
    await watchShredEntry(o, 2, policyEntry(6));
    expect(await o.store.get('kt/policy')).not.toEqual(held);
  });

  it('random policy and shred entry bytes are ignored without throwing (fuzz)', async () => {
    const o = options();
    await watchShredEntry(o, 0, policyEntry(3));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(ENTRY_TYPES.policy, ENTRY_TYPES.shred, ENTRY_TYPES.request, 0, 255),
        fc.uint8Array({ maxLength: 200 }),
        async (type, body) => {
          expect(await watchShredEntry(o, 1, Uint8Array.of(type, ...body))).toBeUndefined();
        },
      ),
      { numRuns: 200 },
    );
    // A mutated real shred: never counted twice for one trustee, never throws.
    const real = shredEntry(1);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: real.length * 8 - 1 }), async (bit) => {
        const m = real.slice();
        m[bit >> 3]! ^= 1 << (bit & 7);
        expect(await watchShredEntry(o, 2, m)).toBeUndefined();
      }),
      { numRuns: 60 },
    );
    expect((await o.store.list('kt/shred/')).length).toBeLessThanOrEqual(1);
  });
});
