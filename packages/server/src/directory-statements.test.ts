// docs/spec/relay.md §4.1: the org-admin's device and epoch-key statements — byte layout, round trip, and
// refusal of anything but a canonical, correctly signed statement (AUTH-9), under fuzz.
import { generateSigningKey, group, randomBytes, randomNonZeroScalar, toHex } from '@overt/core';
import { decodeEntry, ENTRY_TYPES } from '@overt/log';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isRelayError } from './errors.js';
import {
  type DeviceStatement,
  deviceEntry,
  signDeviceStatement,
  signEpochKeyStatement,
  verifyDeviceStatement,
  verifyEpochKeyStatement,
} from './statements.js';

const admin = generateSigningKey();
const id = fc.stringMatching(/^[A-Za-z0-9._~-]{1,64}$/);

function statement(extra: Partial<DeviceStatement> = {}): DeviceStatement {
  return {
    kind: 'added',
    orgId: 'org',
    userId: 'alice',
    deviceId: 'd1',
    identityKey: new Uint8Array(32).fill(2),
    time: 5,
    ...extra,
  };
}

describe('device statements', () => {
  it('lays out content ‖ signature as specified and frames the log entry with its type', () => {
    const bytes = signDeviceStatement(admin, statement());
    // vec8 "org" ‖ vec8 "alice" ‖ vec8 "d1" ‖ key (32 × 0x02) ‖ u64 time 5
    const content = `036f7267${'05616c696365'}${'026431'}${'02'.repeat(32)}0000000000000005`;
    expect(toHex(bytes.subarray(0, bytes.length - 64))).toBe(content);
    expect(decodeEntry(deviceEntry('added', bytes))).toEqual({ type: ENTRY_TYPES.device_added, body: bytes });
    expect(decodeEntry(deviceEntry('removed', bytes)).type).toBe(ENTRY_TYPES.device_removed);
  });

  it('round-trips, and an added statement never verifies as a removal (domain separation)', () => {
    fc.assert(
      fc.property(
        id,
        id,
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.nat({ max: 2 ** 50 }),
        (u, d, k, t) => {
          const s = statement({ userId: u, deviceId: d, identityKey: k, time: t });
          const bytes = signDeviceStatement(admin, s);
          expect(verifyDeviceStatement(admin.publicKey, 'added', bytes)).toEqual(s);
          expect(() => verifyDeviceStatement(admin.publicKey, 'removed', bytes)).toThrowError(
            /DIR_STATEMENT_INVALID/,
          );
          expect(() => verifyDeviceStatement(generateSigningKey().publicKey, 'added', bytes)).toThrowError(
            /DIR_STATEMENT_INVALID/,
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  it('fuzz: mutated, truncated and random bytes raise only DIR_STATEMENT_INVALID', () => {
    const valid = signDeviceStatement(admin, statement());
    fc.assert(
      fc.property(
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.nat(),
        fc.uint8Array({ maxLength: 200 }),
        (i, x, cut, random) => {
          const m = new Uint8Array(valid);
          m[i % m.length]! ^= x;
          for (const b of [m, valid.subarray(0, cut % valid.length), random]) {
            try {
              verifyDeviceStatement(admin.publicKey, 'added', b);
              throw new Error('a mutated statement verified');
            } catch (e) {
              if (!isRelayError(e, 'DIR_STATEMENT_INVALID')) throw e;
            }
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('epoch-key statements', () => {
  const key = () => group.baseMul(randomNonZeroScalar());
  it('round-trips and refuses non-canonical keys, bad thresholds and mutations', () => {
    const s = {
      orgId: 'org',
      epoch: 3,
      threshold: 2,
      groupKey: key(),
      verificationKeys: [key(), key(), key()],
      transcriptHash: randomBytes(32),
      time: 9,
    };
    const bytes = signEpochKeyStatement(admin, s);
    expect(verifyEpochKeyStatement(admin.publicKey, bytes)).toEqual(s);
    for (const bad of [
      { ...s, threshold: 4 },
      { ...s, threshold: 0 },
      { ...s, groupKey: new Uint8Array(32) },
      { ...s, groupKey: new Uint8Array(32).fill(0xff) },
    ])
      expect(() => verifyEpochKeyStatement(admin.publicKey, signEpochKeyStatement(admin, bad))).toThrowError(
        /EPOCH_KEY_INVALID/,
      );
    fc.assert(
      fc.property(
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.uint8Array({ maxLength: 300 }),
        (i, x, random) => {
          const m = new Uint8Array(bytes);
          m[i % m.length]! ^= x;
          for (const b of [m, random]) {
            try {
              verifyEpochKeyStatement(admin.publicKey, b);
              throw new Error('a mutated statement verified');
            } catch (e) {
              if (!isRelayError(e, 'EPOCH_KEY_INVALID')) throw e;
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
