// The organisation's signed policy (docs/spec/workflow.md §2): codec round trips, structural rules,
// signature.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bytesArb,
  flip,
  idStringArb,
  millisArb,
  outcome,
  printableArb,
} from '../../test/envelope-fixtures.js';
import { orgKey, policy, trusteeKeys } from '../../test/workflow-fixtures.js';
import { toHex } from '../bytes.js';
import { decodePolicy, encodePolicy, type Policy, signPolicy, verifyPolicy } from './policy.js';
import { TAG_REQUEST_SIGNATURE } from './request.js';
import { signBody } from './signed.js';

const policyArb: fc.Arbitrary<Policy> = fc
  .record({
    orgId: idStringArb(64),
    serial: fc.integer({ min: 0, max: 0xffffffff }),
    issuedAt: millisArb,
    trusteeKeys: fc.uniqueArray(bytesArb(32, 32), { minLength: 1, maxLength: 7, selector: toHex }),
    indices: fc.uniqueArray(fc.integer({ min: 1, max: 255 }), { minLength: 7, maxLength: 7 }),
    names: fc.array(printableArb(64), { minLength: 7, maxLength: 7 }),
    k: fc.integer({ min: 1, max: 7 }),
    witnesses: fc.uniqueArray(fc.record({ name: idStringArb(128), signingKey: bytesArb(32, 32) }), {
      minLength: 1,
      maxLength: 4,
      selector: (w) => w.name,
    }),
    q: fc.integer({ min: 1, max: 4 }),
    requesters: fc.uniqueArray(
      fc.record({
        id: idStringArb(128),
        name: printableArb(64),
        signingKey: bytesArb(32, 32),
        encryptionKey: bytesArb(32, 133),
      }),
      { minLength: 1, maxLength: 4, selector: (r) => r.id },
    ),
    limits: fc.record({
      maxSubjects: fc.integer({ min: 1, max: 0xffff }),
      maxWindowMs: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      maxEnvelopes: fc.integer({ min: 1, max: 0xffffffff }),
      maxSealMs: millisArb,
      maxExtensions: fc.integer({ min: 0, max: 255 }),
    }),
    epoch: fc.oneof(
      fc.constant({ kind: 'calendar-month' as const }),
      fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }).map((ms) => ({ kind: 'fixed' as const, ms })),
    ),
    retentionMs: millisArb,
  })
  .map((r) => {
    const n = r.trusteeKeys.length;
    const indices = r.indices.slice(0, n).sort((a, b) => a - b);
    const sort = <T>(xs: T[], key: (x: T) => string) =>
      [...xs].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    return {
      version: 1,
      orgId: r.orgId,
      serial: r.serial,
      issuedAt: r.issuedAt,
      trustees: r.trusteeKeys.map((k, i) => ({
        index: indices[i]!,
        name: r.names[i]!,
        signingKey: k,
        encryptionKey: k,
      })),
      threshold: Math.min(r.k, n),
      witnesses: sort(r.witnesses, (w) => w.name),
      witnessQuorum: Math.min(r.q, r.witnesses.length),
      requesters: sort(r.requesters, (x) => x.id),
      limits: r.limits,
      epochLength: r.epoch,
      retentionMs: r.retentionMs,
    };
  })
  // Signing keys must be distinct across roles; random 32-byte keys collide only by construction.
  .filter((p) => {
    const all = [...p.trustees, ...p.witnesses, ...p.requesters].map((x) => toHex(x.signingKey));
    return new Set(all).size === all.length;
  });

describe('policy codec', () => {
  it('round-trips every valid policy canonically', () => {
    fc.assert(
      fc.property(policyArb, (p) => {
        const bytes = encodePolicy(p);
        const back = decodePolicy(bytes);
        expect(back).toEqual(p);
        expect(toHex(encodePolicy(back))).toBe(toHex(bytes));
      }),
      { numRuns: 100 },
    );
  });

  const base = policy();
  it.each<[string, Partial<Policy>]>([
    ['no trustees', { trustees: [], threshold: 1 }],
    ['threshold 0', { threshold: 0 }],
    ['threshold above n', { threshold: 4 }],
    ['trustee index 0', { trustees: base.trustees.map((t, i) => ({ ...t, index: i })) }],
    ['trustees out of order', { trustees: [...base.trustees].reverse() }],
    [
      'a short trustee key',
      { trustees: base.trustees.map((t) => ({ ...t, signingKey: t.signingKey.subarray(1) })) },
    ],
    [
      'a 31-byte encryption key',
      { trustees: base.trustees.map((t) => ({ ...t, encryptionKey: new Uint8Array(31) })) },
    ],
    ['no witnesses', { witnesses: [], witnessQuorum: 1 }],
    ['witness quorum above the witnesses', { witnessQuorum: 3 }],
    ['witness quorum 0', { witnessQuorum: 0 }],
    ['unsorted requesters', { requesters: [...base.requesters].reverse() }],
    [
      'a requester key equal to a trustee key',
      { requesters: base.requesters.map((r) => ({ ...r, signingKey: trusteeKeys[0]!.publicKey })) },
    ],
    ['maxSubjects 0', { limits: { ...base.limits, maxSubjects: 0 } }],
    ['maxEnvelopes 0', { limits: { ...base.limits, maxEnvelopes: 0 } }],
    ['a fixed epoch of 0 ms', { epochLength: { kind: 'fixed', ms: 0 } }],
    ['version 3', { version: 3 }],
    ['a recorded group on a version 1 body', { recorded: ['alice@example.org'] }],
  ])('refuses %s (POLICY_INVALID, WF-P1)', async (_, change) => {
    expect(await outcome(() => encodePolicy({ ...base, ...change }))).toBe('POLICY_INVALID WF-P1');
  });
});

describe('policy signature', () => {
  it('verifies under the organisation key and nothing else (WF-P2)', async () => {
    const signed = signPolicy(policy(), orgKey);
    const v = verifyPolicy(signed, orgKey.publicKey);
    expect(v.policy.threshold).toBe(2);
    expect(v.hash).toHaveLength(32);
    expect(await outcome(() => verifyPolicy(signed, trusteeKeys[0]!.publicKey))).toBe(
      'SIGNATURE_INVALID WF-P2',
    );
    const bodyStart = 4;
    expect(await outcome(() => verifyPolicy(flip(signed, signed.length - 1), orgKey.publicKey))).toBe(
      'SIGNATURE_INVALID WF-P2',
    );
    expect(await outcome(() => verifyPolicy(flip(signed, bodyStart + 1), orgKey.publicKey))).toMatch(
      /POLICY_INVALID|SIGNATURE_INVALID/,
    );
    expect(await outcome(() => verifyPolicy(signed.subarray(0, 70), orgKey.publicKey))).toBe(
      'POLICY_INVALID WF-P1',
    );
  });

  it('is domain-separated: the same body signed under another object type’s tag does not verify', async () => {
    const asRequest = signBody(TAG_REQUEST_SIGNATURE, orgKey, encodePolicy(policy()));
    expect(await outcome(() => verifyPolicy(asRequest, orgKey.publicKey))).toBe('SIGNATURE_INVALID WF-P2');
  });
});
