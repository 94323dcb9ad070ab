// docs/spec/relay.md §4.1: the relay's side of the org-admin's device and epoch-key statements. The formats, byte
// layout, round trips and parser fuzzing are core's (packages/core/src/directory/directory-statements.test.ts);
// this tests only what the relay adds: its wrappers pass statements through unchanged, frame log entries with the
// log registry's types, and turn every refusal into the relay's own code under AUTH-9 (fuzzed: nothing else).
import { generateSigningKey, group, randomBytes, randomNonZeroScalar } from '@overt/core';
import { decodeEntry, ENTRY_TYPES } from '@overt/log';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isRelayError, type RelayErrorCode } from './errors.js';
import {
  type DeviceStatement,
  deviceEntry,
  epochKeyEntry,
  signDeviceStatement,
  signEpochKeyStatement,
  verifyDeviceStatement,
  verifyEpochKeyStatement,
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

const epochStatement = {
  orgId: 'org',
  epoch: 3,
  threshold: 2,
  groupKey: key(),
  verificationKeys: [key(), key(), key()],
  transcriptHash: randomBytes(32),
  time: 9,
};

/** Runs `f` and requires the relay's `code` under AUTH-9 (never core's error, a TypeError, or success). */
function refusesAs(code: RelayErrorCode, f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (isRelayError(e, code) && e.check === 'AUTH-9') return;
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

describe('epoch-key statements', () => {
  it('pass through unchanged; bad thresholds and non-canonical keys are EPOCH_KEY_INVALID under AUTH-9', () => {
    const bytes = signEpochKeyStatement(admin, epochStatement);
    expect(verifyEpochKeyStatement(admin.publicKey, bytes)).toEqual(epochStatement);
    expect(decodeEntry(epochKeyEntry(bytes))).toEqual({ type: ENTRY_TYPES.epoch_key, body: bytes });
    for (const bad of [
      { ...epochStatement, threshold: 4 },
      { ...epochStatement, threshold: 0 },
      { ...epochStatement, groupKey: new Uint8Array(32) },
      { ...epochStatement, groupKey: new Uint8Array(32).fill(0xff) },
    ])
      refusesAs('EPOCH_KEY_INVALID', () =>
        verifyEpochKeyStatement(admin.publicKey, signEpochKeyStatement(admin, bad)),
      );
  });

  it('fuzz: mutated, truncated and random bytes raise only EPOCH_KEY_INVALID', () => {
    const valid = signEpochKeyStatement(admin, epochStatement);
    fc.assert(
      fc.property(corruptions(valid, 300), (bad) => {
        for (const b of bad)
          refusesAs('EPOCH_KEY_INVALID', () => verifyEpochKeyStatement(admin.publicKey, b));
      }),
      { numRuns: 500 },
    );
  });
});
