// docs/spec/directory.md: the org-admin's device and epoch-key statements — byte layout, round trip, domain
// separation, the log-entry framing, and refusal of anything but a canonical, correctly signed statement with
// our own DIRECTORY_* codes (DIR-1..DIR-3) under fuzz. Also the calendar-month epoch numbering (§4).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { randomBytes, toHex } from '../bytes.js';
import { isOvertError } from '../errors.js';
import { group, randomNonZeroScalar } from '../group.js';
import { generateSigningKey } from '../sign.js';
import { calendarMonthEpoch, epochLabel, epochStartMs } from './epochs.js';
import {
  type DeviceStatement,
  decodeDeviceStatement,
  decodeEpochKeyStatement,
  deviceEntry,
  epochKeyEntry,
  signDeviceStatement,
  signEpochKeyStatement,
  verifyDeviceStatement,
  verifyDirectoryEntry,
  verifyEpochKeyStatement,
} from './statements.js';

const admin = generateSigningKey();
const id = fc.stringMatching(/^[A-Za-z0-9._~-]{1,64}$/);
const key = () => group.baseMul(randomNonZeroScalar());

function device(extra: Partial<DeviceStatement> = {}): DeviceStatement {
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

const epochStatement = {
  orgId: 'org',
  epoch: 3,
  threshold: 2,
  groupKey: key(),
  verificationKeys: [key(), key(), key()],
  transcriptHash: randomBytes(32),
  time: 9,
};

/** Runs `f` and requires it to throw one of our own `codes` (never a TypeError, never success). */
function refuses(f: () => unknown, codes: readonly string[]): void {
  try {
    f();
  } catch (e) {
    if (isOvertError(e) && codes.includes(e.code) && e.check?.startsWith('DIR-')) return;
    throw e;
  }
  throw new Error('malformed input was accepted');
}

describe('device statements', () => {
  it('lays out content ‖ signature as specified; the entry is u8 type ‖ statement', () => {
    const bytes = signDeviceStatement(admin, device());
    const content = `036f7267${'05616c696365'}${'026431'}${'02'.repeat(32)}0000000000000005`;
    expect(toHex(bytes.subarray(0, bytes.length - 64))).toBe(content);
    expect(deviceEntry('added', bytes)[0]).toBe(3);
    expect(deviceEntry('removed', bytes)[0]).toBe(4);
    expect(verifyDirectoryEntry(admin.publicKey, deviceEntry('added', bytes))).toEqual({
      type: 'device',
      statement: device(),
    });
  });

  it('round-trips; an added statement never verifies as a removal, nor under another key', () => {
    fc.assert(
      fc.property(
        id,
        id,
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.nat({ max: 2 ** 50 }),
        (u, d, k, t) => {
          const s = device({ userId: u, deviceId: d, identityKey: k, time: t });
          const bytes = signDeviceStatement(admin, s);
          expect(verifyDeviceStatement(admin.publicKey, 'added', bytes)).toEqual(s);
          expect(decodeDeviceStatement('added', bytes)).toEqual(s);
          refuses(
            () => verifyDeviceStatement(admin.publicKey, 'removed', bytes),
            ['DIRECTORY_STATEMENT_INVALID'],
          );
          refuses(
            () => verifyDirectoryEntry(admin.publicKey, deviceEntry('removed', bytes)),
            ['DIRECTORY_STATEMENT_INVALID'],
          );
          refuses(
            () => verifyDeviceStatement(generateSigningKey().publicKey, 'added', bytes),
            ['DIRECTORY_STATEMENT_INVALID'],
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  it('refuses to sign out-of-range fields', () => {
    for (const bad of [
      device({ userId: '' }),
      device({ deviceId: 'a b' }),
      device({ orgId: '' }),
      device({ identityKey: new Uint8Array(31) }),
      device({ time: -1 }),
    ])
      refuses(() => signDeviceStatement(admin, bad), ['DIRECTORY_STATEMENT_INVALID']);
  });

  it('fuzz: mutated, truncated and random bytes raise only DIRECTORY_STATEMENT_INVALID', () => {
    const valid = signDeviceStatement(admin, device());
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
            refuses(
              () => verifyDeviceStatement(admin.publicKey, 'added', b),
              ['DIRECTORY_STATEMENT_INVALID'],
            );
            try {
              decodeDeviceStatement('added', b);
            } catch (e) {
              if (!isOvertError(e, 'DIRECTORY_STATEMENT_INVALID')) throw e;
            }
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('epoch-key statements', () => {
  it('round-trips and refuses non-canonical keys and bad thresholds', () => {
    const bytes = signEpochKeyStatement(admin, epochStatement);
    expect(verifyEpochKeyStatement(admin.publicKey, bytes)).toEqual(epochStatement);
    expect(verifyDirectoryEntry(admin.publicKey, epochKeyEntry(bytes))).toEqual({
      type: 'epoch-key',
      statement: epochStatement,
    });
    refuses(
      () => signEpochKeyStatement(admin, { ...epochStatement, threshold: 4 }),
      ['DIRECTORY_EPOCH_KEY_INVALID'],
    );
    refuses(
      () => signEpochKeyStatement(admin, { ...epochStatement, threshold: 0 }),
      ['DIRECTORY_EPOCH_KEY_INVALID'],
    );
    for (const groupKey of [new Uint8Array(32), new Uint8Array(32).fill(0xff)])
      refuses(
        () =>
          verifyEpochKeyStatement(
            admin.publicKey,
            signEpochKeyStatement(admin, { ...epochStatement, groupKey }),
          ),
        ['DIRECTORY_EPOCH_KEY_INVALID'],
      );
  });

  it('fuzz: mutated, truncated and random bytes raise only DIRECTORY_EPOCH_KEY_INVALID', () => {
    const bytes = signEpochKeyStatement(admin, epochStatement);
    fc.assert(
      fc.property(
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.nat(),
        fc.uint8Array({ maxLength: 300 }),
        (i, x, cut, random) => {
          const m = new Uint8Array(bytes);
          m[i % m.length]! ^= x;
          for (const b of [m, bytes.subarray(0, cut % bytes.length), random]) {
            refuses(() => verifyEpochKeyStatement(admin.publicKey, b), ['DIRECTORY_EPOCH_KEY_INVALID']);
            try {
              decodeEpochKeyStatement(b);
            } catch (e) {
              if (!isOvertError(e, 'DIRECTORY_EPOCH_KEY_INVALID')) throw e;
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('directory log entries', () => {
  it('fuzz: any bytes as an entry give a verified statement or only DIRECTORY_* errors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (b) => {
        refuses(
          () => verifyDirectoryEntry(admin.publicKey, b),
          ['DIRECTORY_ENTRY_INVALID', 'DIRECTORY_STATEMENT_INVALID', 'DIRECTORY_EPOCH_KEY_INVALID'],
        );
      }),
      { numRuns: 1000 },
    );
    refuses(() => verifyDirectoryEntry(admin.publicKey, new Uint8Array(0)), ['DIRECTORY_ENTRY_INVALID']);
    refuses(() => verifyDirectoryEntry(admin.publicKey, Uint8Array.of(5, 1, 2)), ['DIRECTORY_ENTRY_INVALID']);
  });
});

describe('calendar-month epochs', () => {
  it('numbers months from January 1970 and bounds each window', () => {
    expect(calendarMonthEpoch(0)).toBe(0);
    expect(calendarMonthEpoch(Date.UTC(2026, 0, 31, 23, 59, 59, 999))).toBe(672);
    expect(calendarMonthEpoch(Date.UTC(2026, 1, 1))).toBe(673);
    expect(epochLabel(672)).toBe('2026-01');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_000_000_000_000 }), (ms) => {
        const e = calendarMonthEpoch(ms);
        expect(epochStartMs(e)).toBeLessThanOrEqual(ms);
        expect(epochStartMs(e + 1)).toBeGreaterThan(ms);
      }),
    );
  });
});
