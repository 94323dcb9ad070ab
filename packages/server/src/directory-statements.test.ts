// docs/spec/relay.md §4.1: the relay's side of the org-admin's device statements, the trustees' epoch-key
// statements and the policy. The formats, byte layout, round trips and parser fuzzing are core's
// (packages/core/src/directory/directory-statements.test.ts); this tests only what the relay adds: its wrappers
// pass statements through unchanged, frame log entries with the log registry's types, and turn every refusal into
// the relay's own code under AUTH-9 (does not decode), AUTH-11 (fails the policy's checks) or AUTH-12 (policy),
// fuzzed: nothing else.
import {
  generateSigningKey,
  group,
  randomBytes,
  randomNonZeroScalar,
  scalarFromInt,
  signEpochKeyStatement,
  signPolicy,
} from '@overt/core';
import { decodeEntry, ENTRY_TYPES } from '@overt/log';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TRUSTEE_KEYS, testPolicy } from '../test/harness.js';
import { isRelayError, type RelayErrorCode } from './errors.js';
import {
  type DeviceStatement,
  deviceEntry,
  epochKeyEntry,
  policyEntry,
  signDeviceStatement,
  verifyDeviceStatement,
  verifyEpochKeyStatement,
  verifyPolicyStatement,
} from './statements.js';

const admin = generateSigningKey();
const key = () => group.baseMul(randomNonZeroScalar());

const device: DeviceStatement = {
  kind: 'added',
  orgId: 'org',
  userId: 'alice',
  deviceId: 'd1',
  identityKey: new Uint8Array(32).fill(2),
  time: 5,
};

const signedPolicy = signPolicy(testPolicy('org'), admin);
const policy = verifyPolicyStatement(admin.publicKey, signedPolicy);
const groupKey = key();
const slope = key();
const epochStatement = {
  orgId: 'org',
  epoch: 3,
  policyHash: policy.hash,
  threshold: 2,
  groupKey,
  verificationKeys: [1, 2, 3].map((i) => group.add(groupKey, group.mul(scalarFromInt(i), slope))),
  transcriptHash: randomBytes(32),
  sessionId: randomBytes(32),
  time: 9,
};
const trustees = TRUSTEE_KEYS.map((k, i) => ({ index: i + 1, key: k }));

/**
 * Runs `f` and requires the relay's `code` under its check (AUTH-9, AUTH-11 for an epoch key that fails the
 * policy's checks, AUTH-12 for a policy), never core's error, a TypeError, or success.
 */
function refusesAs(code: RelayErrorCode, f: () => unknown): void {
  try {
    f();
  } catch (e) {
    const checks =
      code === 'POLICY_INVALID'
        ? ['AUTH-12']
        : code === 'EPOCH_KEY_INVALID'
          ? ['AUTH-9', 'AUTH-11']
          : ['AUTH-9'];
    if (isRelayError(e, code) && checks.includes(e.check ?? '')) return;
    throw e;
  }
  throw new Error('a bad statement was accepted');
}

/** `valid` with one byte flipped, `valid` truncated, and unrelated random bytes. */
const corruptions = (valid: Uint8Array, maxRandom: number) =>
  fc
    .tuple(fc.nat(), fc.integer({ min: 1, max: 255 }), fc.nat(), fc.uint8Array({ maxLength: maxRandom }))
    .map(([i, x, cut, random]) => {
      const flipped = new Uint8Array(valid);
      flipped[i % flipped.length]! ^= x;
      return [flipped, valid.subarray(0, cut % valid.length), random];
    });

describe('device statements', () => {
  it('pass through unchanged, and their log entries carry the log registry’s types', () => {
    const bytes = signDeviceStatement(admin, device);
    expect(verifyDeviceStatement(admin.publicKey, 'added', bytes)).toEqual(device);
    expect(decodeEntry(deviceEntry('added', bytes))).toEqual({ type: ENTRY_TYPES.device_added, body: bytes });
    expect(decodeEntry(deviceEntry('removed', bytes)).type).toBe(ENTRY_TYPES.device_removed);
  });

  it('every refusal is DIR_STATEMENT_INVALID under AUTH-9: wrong kind, wrong key, bad fields', () => {
    const bytes = signDeviceStatement(admin, device);
    refusesAs('DIR_STATEMENT_INVALID', () => verifyDeviceStatement(admin.publicKey, 'removed', bytes));
    refusesAs('DIR_STATEMENT_INVALID', () =>
      verifyDeviceStatement(generateSigningKey().publicKey, 'added', bytes),
    );
    refusesAs('DIR_STATEMENT_INVALID', () => signDeviceStatement(admin, { ...device, userId: '' }));
  });

  it('fuzz: mutated, truncated and random bytes raise only DIR_STATEMENT_INVALID', () => {
    const valid = signDeviceStatement(admin, device);
    fc.assert(
      fc.property(corruptions(valid, 200), (bad) => {
        for (const b of bad)
          refusesAs('DIR_STATEMENT_INVALID', () => verifyDeviceStatement(admin.publicKey, 'added', b));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('epoch-key statements and policies', () => {
  it('pass through unchanged; refusals are EPOCH_KEY_INVALID under AUTH-9 (decoding) or AUTH-11 (the policy)', () => {
    const bytes = signEpochKeyStatement(epochStatement, trustees.slice(0, 2));
    expect(verifyEpochKeyStatement(policy, bytes)).toMatchObject(epochStatement);
    expect(decodeEntry(epochKeyEntry(bytes))).toEqual({ type: ENTRY_TYPES.epoch_key, body: bytes });
    expect(decodeEntry(policyEntry(signedPolicy))).toEqual({ type: ENTRY_TYPES.policy, body: signedPolicy });
    for (const bad of [
      { ...epochStatement, groupKey: new Uint8Array(32) },
      { ...epochStatement, groupKey: new Uint8Array(32).fill(0xff) },
    ])
      refusesAs('EPOCH_KEY_INVALID', () =>
        verifyEpochKeyStatement(policy, signEpochKeyStatement(bad, trustees.slice(0, 2))),
      );
    const underPolicy = (b: Uint8Array) => {
      try {
        verifyEpochKeyStatement(policy, b);
      } catch (e) {
        if (isRelayError(e, 'EPOCH_KEY_INVALID')) return e.check;
        throw e;
      }
      return 'accepted';
    };
    // The admin signs as trustees: AUTH-11, never accepted.
    expect(
      underPolicy(
        signEpochKeyStatement(
          epochStatement,
          [1, 2].map((index) => ({ index, key: admin })),
        ),
      ),
    ).toBe('AUTH-11');
    expect(underPolicy(signEpochKeyStatement({ ...epochStatement, threshold: 1 }, trustees))).toBe('AUTH-11');
    expect(
      underPolicy(
        signEpochKeyStatement({ ...epochStatement, verificationKeys: [key(), key(), key()] }, trustees),
      ),
    ).toBe('AUTH-11');
    // A policy under another key: POLICY_INVALID under AUTH-12.
    refusesAs('POLICY_INVALID', () => verifyPolicyStatement(generateSigningKey().publicKey, signedPolicy));
  });

  it('fuzz: mutated, truncated and random bytes raise only EPOCH_KEY_INVALID / POLICY_INVALID', () => {
    const valid = signEpochKeyStatement(epochStatement, trustees);
    fc.assert(
      fc.property(corruptions(valid, 400), corruptions(signedPolicy, 400), (bad, badPolicy) => {
        for (const b of bad) refusesAs('EPOCH_KEY_INVALID', () => verifyEpochKeyStatement(policy, b));
        for (const b of badPolicy)
          refusesAs('POLICY_INVALID', () => verifyPolicyStatement(admin.publicKey, b));
      }),
      { numRuns: 300 },
    );
  });
});
