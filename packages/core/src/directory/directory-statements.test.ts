// docs/spec/directory.md: the org-admin's device statements and the trustees' epoch-key statements — byte layout,
// round trip, domain separation, the log-entry framing, the policy binding, the k trustee signatures and the
// interpolation check (A14), and refusal of anything but a canonical, correctly signed statement with our own
// DIRECTORY_* codes (DIR-1..DIR-6) under fuzz. Also the calendar-month epoch numbering (§4).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { orgKey, policy, trusteeKeys, verifiedPolicy } from '../../test/workflow-fixtures.js';
import { concatBytes, randomBytes, toHex, utf8Encode } from '../bytes.js';
import { Writer } from '../codec.js';
import { isOvertError } from '../errors.js';
import { group, randomNonZeroScalar, type Scalar } from '../group.js';
import { generateSigningKey, type SigningKeyPair, sign } from '../sign.js';
import { evaluatePolynomial } from '../threshold.js';
import { signPolicy, verifyPolicy } from '../workflow/policy.js';
import { calendarMonthEpoch, epochLabel, epochStartMs } from './epochs.js';
import {
  assembleEpochKeyStatement,
  checkEpochKeyInterpolation,
  type DeviceStatement,
  decodeDeviceStatement,
  decodeEpochKeyStatement,
  deviceEntry,
  type EpochKeyStatement,
  encodeEpochKeyContent,
  epochKeyEntry,
  policyEntry,
  signDeviceStatement,
  signEpochKeyContent,
  signEpochKeyStatement,
  verifyDeviceStatement,
  verifyDirectoryEntry,
  verifyEpochKeyStatement,
  verifyPolicyEntry,
} from './statements.js';

const admin = generateSigningKey();
const id = fc.stringMatching(/^[A-Za-z0-9._~-]{1,64}$/);

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

/** Y = f(0)·G and Y_i = f(i)·G for a random polynomial f of degree k − 1: what an honest DKG outputs. */
function sharing(k: number, n: number): { groupKey: Uint8Array; verificationKeys: Uint8Array[] } {
  const f: Scalar[] = Array.from({ length: k }, () => randomNonZeroScalar());
  return {
    groupKey: group.baseMul(f[0]!),
    verificationKeys: Array.from({ length: n }, (_, i) => group.baseMul(evaluatePolynomial(f, i + 1))),
  };
}

const epochStatement: EpochKeyStatement = {
  orgId: 'example.org',
  epoch: 3,
  policyHash: verifiedPolicy.hash,
  threshold: 2,
  ...sharing(2, 3),
  transcriptHash: randomBytes(32),
  sessionId: randomBytes(32),
  time: 9,
};

const trustees = trusteeKeys.map((key, i) => ({ index: i + 1, key }));
const signed = (st: EpochKeyStatement = epochStatement, by = trustees.slice(0, 2)) =>
  signEpochKeyStatement(st, by);
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

describe('epoch-key statements (v2: trustee-signed, A14)', () => {
  it('lays out content ‖ u8 count ‖ (u8 index ‖ signature) and round-trips under its policy', () => {
    const bytes = signed();
    const content = encodeEpochKeyContent(epochStatement);
    expect(toHex(bytes.subarray(0, content.length))).toBe(toHex(content));
    expect(toHex(content.subarray(0, 16))).toBe(`0b${toHex(utf8Encode('example.org'))}00000003`);
    expect(toHex(content.subarray(16, 48))).toBe(toHex(verifiedPolicy.hash));
    expect(content.length).toBe(1 + 11 + 4 + 32 + 1 + 1 + 32 + 3 * 32 + 32 + 32 + 8);
    expect(bytes.length).toBe(content.length + 1 + 2 * 65);
    expect(bytes[content.length]).toBe(2);
    expect(bytes[content.length + 1]).toBe(1);
    expect(bytes[content.length + 66]).toBe(2);
    const v = verifyEpochKeyStatement(verifiedPolicy, bytes);
    expect(v).toMatchObject(epochStatement);
    expect(v.signatures.map((x) => x.index)).toEqual([1, 2]);
    expect(verifyEpochKeyStatement(verifiedPolicy, signed(epochStatement, trustees)).signatures).toHaveLength(
      3,
    );
    const entry = verifyDirectoryEntry(orgKey.publicKey, epochKeyEntry(bytes), verifiedPolicy);
    expect(entry.type).toBe('epoch-key');
    // No policy in force: an epoch key vouches for nothing (DIR-4).
    expect(() => verifyDirectoryEntry(orgKey.publicKey, epochKeyEntry(bytes))).toThrow(
      expect.objectContaining({ code: 'DIRECTORY_EPOCH_KEY_INVALID', check: 'DIR-4' }),
    );
  });

  it('DIR-5: the admin key alone, made-up trustee keys, fewer than k trustees or a bad signature never verify', () => {
    const content = encodeEpochKeyContent(epochStatement);
    const check = (bytes: Uint8Array, id: string) =>
      expect(() => verifyEpochKeyStatement(verifiedPolicy, bytes)).toThrow(
        expect.objectContaining({ code: 'DIRECTORY_EPOCH_KEY_INVALID', check: id }),
      );
    // The admin signs as trustees 1 and 2.
    check(
      signed(epochStatement, [
        { index: 1, key: orgKey },
        { index: 2, key: orgKey },
      ]),
      'DIR-5',
    );
    // Keys the admin made up, under trustee indices.
    check(
      signed(
        epochStatement,
        [1, 2, 3].map((index) => ({ index, key: generateSigningKey() })),
      ),
      'DIR-5',
    );
    // One honest trustee is not k.
    check(signed(epochStatement, trustees.slice(0, 1)), 'DIR-5');
    // A signer the policy does not name.
    check(
      signed(epochStatement, [...trustees.slice(0, 2), { index: 9, key: generateSigningKey() }]),
      'DIR-5',
    );
    // Two honest signatures and a forged third: every listed signature must verify.
    check(
      assembleEpochKeyStatement(content, [
        ...trustees
          .slice(0, 2)
          .map(({ index, key }) => ({ index, signature: signEpochKeyContent(key, content) })),
        { index: 3, signature: new Uint8Array(64).fill(7) },
      ]),
      'DIR-5',
    );
    // A v1 signature (old tag) over the same content.
    const v1 = (k: SigningKeyPair) =>
      sign(k, concatBytes(new Writer().vec16(utf8Encode('overt/directory/v1/epoch-key')).finish(), content));
    check(
      assembleEpochKeyStatement(
        content,
        trustees.slice(0, 2).map(({ index, key }) => ({ index, signature: v1(key) })),
      ),
      'DIR-5',
    );
  });

  it('every field mutation of a signed statement is refused', () => {
    const bytes = signed();
    const content = encodeEpochKeyContent(epochStatement);
    const other = sharing(2, 3);
    const mutations: [Partial<EpochKeyStatement>, string][] = [
      [{ orgId: 'example.net' }, 'DIR-4'],
      [{ epoch: 4 }, 'DIR-5'],
      [{ policyHash: randomBytes(32) }, 'DIR-4'],
      [{ threshold: 3 }, 'DIR-4'],
      [{ threshold: 1 }, 'DIR-4'],
      [{ groupKey: other.groupKey }, 'DIR-6'],
      [
        { verificationKeys: [other.verificationKeys[0]!, ...epochStatement.verificationKeys.slice(1)] },
        'DIR-6',
      ],
      [{ verificationKeys: epochStatement.verificationKeys.slice(0, 2) }, 'DIR-4'],
      [{ transcriptHash: randomBytes(32) }, 'DIR-5'],
      [{ sessionId: randomBytes(32) }, 'DIR-5'],
      [{ time: 10 }, 'DIR-5'],
    ];
    const sigs = bytes.subarray(content.length);
    for (const [m, id] of mutations) {
      const st = { ...epochStatement, ...m };
      // Re-signed by the honest trustees: the policy binding and the interpolation still refuse it …
      if (id !== 'DIR-5')
        expect(() => verifyEpochKeyStatement(verifiedPolicy, signed(st))).toThrow(
          expect.objectContaining({ code: 'DIRECTORY_EPOCH_KEY_INVALID', check: id }),
        );
      // … and with the original signatures, nothing verifies.
      expect(() =>
        verifyEpochKeyStatement(verifiedPolicy, concatBytes(encodeEpochKeyContent(st), sigs)),
      ).toThrow(expect.objectContaining({ code: 'DIRECTORY_EPOCH_KEY_INVALID' }));
    }
    // Under another policy (a new serial): the statement names the old one.
    const next = verifyPolicy(signPolicy(policy({ serial: 4 }), orgKey), orgKey.publicKey);
    expect(() => verifyEpochKeyStatement(next, bytes)).toThrow(expect.objectContaining({ check: 'DIR-4' }));
    // A policy whose trustee indices are not 1..n cannot be the DKG's.
    const gapped = verifyPolicy(
      signPolicy(policy({ trustees: policy().trustees.map((t) => ({ ...t, index: t.index * 2 })) }), orgKey),
      orgKey.publicKey,
    );
    expect(() =>
      verifyEpochKeyStatement(gapped, signed({ ...epochStatement, policyHash: gapped.hash })),
    ).toThrow(expect.objectContaining({ check: 'DIR-4' }));
  });

  it('DIR-6: verification keys that do not lie on one polynomial of degree k − 1 with the group key are refused', () => {
    for (const [k, n] of [
      [1, 1],
      [1, 3],
      [2, 3],
      [3, 5],
      [5, 5],
    ] as const) {
      const good = { ...epochStatement, threshold: k, ...sharing(k, n) };
      checkEpochKeyInterpolation(good);
      // Any one key replaced, or the group key of another sharing: refused.
      for (let i = 0; i < n; i++) {
        const vks = [...good.verificationKeys];
        vks[i] = group.baseMul(randomNonZeroScalar());
        expect(() => checkEpochKeyInterpolation({ ...good, verificationKeys: vks })).toThrow(
          expect.objectContaining({ code: 'DIRECTORY_EPOCH_KEY_INVALID', check: 'DIR-6' }),
        );
      }
      expect(() => checkEpochKeyInterpolation({ ...good, groupKey: sharing(k, n).groupKey })).toThrow(
        expect.objectContaining({ check: 'DIR-6' }),
      );
      // A sharing of a higher degree does not pass as one of degree k − 1.
      if (k < n)
        expect(() => checkEpochKeyInterpolation({ ...good, ...sharing(k + 1, n) })).toThrow(
          expect.objectContaining({ check: 'DIR-6' }),
        );
    }
  });

  it('refuses to build out-of-range statements; decoding refuses unordered or missing signatures (DIR-2)', () => {
    for (const bad of [
      { threshold: 4 },
      { threshold: 0 },
      { policyHash: new Uint8Array(31) },
      { sessionId: new Uint8Array(33) },
      { orgId: '' },
    ])
      refuses(() => signed({ ...epochStatement, ...bad }), ['DIRECTORY_EPOCH_KEY_INVALID']);
    for (const groupKey of [new Uint8Array(32), new Uint8Array(32).fill(0xff)])
      refuses(
        () => decodeEpochKeyStatement(signed({ ...epochStatement, groupKey })),
        ['DIRECTORY_EPOCH_KEY_INVALID'],
      );
    const content = encodeEpochKeyContent(epochStatement);
    const sig = (i: number) => signEpochKeyContent(trusteeKeys[i - 1]!, content);
    const raw = (pairs: [number, Uint8Array][]) =>
      concatBytes(
        content,
        Uint8Array.of(pairs.length),
        ...pairs.map(([i, s]) => concatBytes(Uint8Array.of(i), s)),
      );
    for (const b of [
      raw([]),
      raw([
        [2, sig(2)],
        [1, sig(1)],
      ]),
      raw([
        [1, sig(1)],
        [1, sig(1)],
      ]),
      raw([
        [0, sig(1)],
        [2, sig(2)],
      ]),
      concatBytes(
        raw([
          [1, sig(1)],
          [2, sig(2)],
        ]),
        Uint8Array.of(0),
      ),
    ])
      expect(() => decodeEpochKeyStatement(b)).toThrow(expect.objectContaining({ check: 'DIR-2' }));
    refuses(() => assembleEpochKeyStatement(content, []), ['DIRECTORY_EPOCH_KEY_INVALID']);
    refuses(
      () =>
        assembleEpochKeyStatement(content, [
          { index: 1, signature: sig(1) },
          { index: 1, signature: sig(1) },
        ]),
      ['DIRECTORY_EPOCH_KEY_INVALID'],
    );
  });

  it('fuzz: mutated, truncated and random bytes raise only DIRECTORY_EPOCH_KEY_INVALID', () => {
    const bytes = signed();
    fc.assert(
      fc.property(
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.nat(),
        fc.uint8Array({ maxLength: 400 }),
        (i, x, cut, random) => {
          const m = new Uint8Array(bytes);
          m[i % m.length]! ^= x;
          for (const b of [m, bytes.subarray(0, cut % bytes.length), random]) {
            refuses(() => verifyEpochKeyStatement(verifiedPolicy, b), ['DIRECTORY_EPOCH_KEY_INVALID']);
            try {
              decodeEpochKeyStatement(b);
            } catch (e) {
              if (!isOvertError(e, 'DIRECTORY_EPOCH_KEY_INVALID')) throw e;
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('policy entries', () => {
  it('u8 1 ‖ signed policy, verified under the org (admin) key only; fuzz gives only our own codes', () => {
    const signedPolicy = signPolicy(policy(), orgKey);
    const entry = policyEntry(signedPolicy);
    expect(entry[0]).toBe(1);
    expect(toHex(verifyPolicyEntry(orgKey.publicKey, entry).hash)).toBe(toHex(verifiedPolicy.hash));
    expect(() => verifyPolicyEntry(generateSigningKey().publicKey, entry)).toThrow(
      expect.objectContaining({ code: 'SIGNATURE_INVALID', check: 'WF-P2' }),
    );
    expect(() => verifyPolicyEntry(orgKey.publicKey, epochKeyEntry(signed()))).toThrow(
      expect.objectContaining({ code: 'DIRECTORY_ENTRY_INVALID', check: 'DIR-3' }),
    );

    // Fuzz: mutated, truncated and random entries give a policy or only our own codes.
    fc.assert(
      fc.property(
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.nat(),
        fc.uint8Array({ maxLength: 600 }),
        (i, x, cut, r) => {
          const m = new Uint8Array(entry);
          m[i % m.length]! ^= x;
          for (const b of [m, entry.subarray(0, cut % entry.length), Uint8Array.of(1, ...r)]) {
            try {
              verifyPolicyEntry(orgKey.publicKey, b);
            } catch (e) {
              if (
                !isOvertError(e) ||
                !['POLICY_INVALID', 'SIGNATURE_INVALID', 'DIRECTORY_ENTRY_INVALID'].includes(e.code)
              )
                throw e;
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('directory log entries', () => {
  it('fuzz: any bytes as an entry give a verified statement or only DIRECTORY_* errors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (b, withPolicy) => {
        refuses(
          () => verifyDirectoryEntry(admin.publicKey, b, withPolicy ? verifiedPolicy : undefined),
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
