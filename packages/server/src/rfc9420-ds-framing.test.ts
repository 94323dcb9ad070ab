// RFC 9420 §6, §5.2, §12.4.3.1: the delivery service's framing reader (mls-framing.ts) agrees with a full MLS
// implementation (ts-mls through the client SDK) on real messages, and on random or mutated bytes raises only our
// own DS_* errors (DS-1).
import {
  Conversation,
  createMlsIdentity,
  decodeKeyPackageBundle,
  encodeKeyPackageBundle,
  generateKeyPackage,
  inspectMessage,
  type KeyPackageBundle,
  type MlsIdentity,
} from '@overt/client';
import { generateSigningKey, randomBytes, utf8Encode } from '@overt/core';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { isRelayError } from './errors.js';
import {
  readGroupMessage,
  readKeyPackage,
  readOvertCredential,
  readWelcomeRecipients,
  refHash,
} from './mls-framing.js';

const options = { authenticate: () => true };
let alice: MlsIdentity;
let bob: MlsIdentity;
let bobPackage: KeyPackageBundle;
let commit: Uint8Array;
let welcome: Uint8Array;
let application: Uint8Array;
let groupId: Uint8Array;
let samples: Uint8Array[];

beforeAll(async () => {
  alice = createMlsIdentity('alice', utf8Encode('alice-phone'), generateSigningKey());
  bob = createMlsIdentity('bob', utf8Encode('bob-phone'), generateSigningKey());
  bobPackage = await generateKeyPackage(bob);
  groupId = randomBytes(20);
  const conv = await Conversation.create(alice, options, groupId);
  const add = await conv.addMembers([bobPackage.keyPackage]);
  commit = add.commit;
  welcome = add.welcome!;
  await conv.mergePendingCommit();
  application = await conv.encrypt({
    messageId: randomBytes(16),
    contentKey: randomBytes(32),
    seed: randomBytes(32),
  });
  samples = [commit, welcome, application, bobPackage.keyPackage];
});

/** Runs `f`; any exception must be one of ours with a DS_ code. */
function onlyOurErrors(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!isRelayError(e) || !e.code.startsWith('DS_')) throw e;
  }
}

describe('agreement with ts-mls on real messages', () => {
  it('reads group id, epoch and content type of a commit and an application message', () => {
    for (const m of [commit, application]) {
      const ours = readGroupMessage(m);
      const theirs = inspectMessage(m);
      if (theirs.kind !== 'private' && theirs.kind !== 'public') throw new Error('expected a group message');
      expect(ours.groupId).toEqual(theirs.groupId);
      expect(BigInt(ours.epoch)).toBe(theirs.epoch);
      expect(ours.contentType).toBe(theirs.contentType);
      expect(ours.wireFormat).toBe(theirs.kind === 'private' ? 'private_message' : 'public_message');
    }
    expect(readGroupMessage(commit)).toMatchObject({ epoch: 0, contentType: 'commit' });
    expect(readGroupMessage(application)).toMatchObject({ epoch: 1, contentType: 'application' });
  });

  it('computes the KeyPackageRef (§5.2) the Welcome names, and reads the leaf key and credential', () => {
    const kp = readKeyPackage(bobPackage.keyPackage);
    expect(kp.ref).toEqual(bobPackage.ref);
    expect(kp.signatureKey).toEqual(bob.identityKey);
    expect(readOvertCredential(kp.credentialIdentity!)).toEqual({
      userId: 'bob',
      deviceId: utf8Encode('bob-phone'),
      identityKey: bob.identityKey,
    });
    expect(readWelcomeRecipients(welcome)).toEqual([bobPackage.ref]);
    const theirs = inspectMessage(welcome);
    if (theirs.kind !== 'welcome') throw new Error('expected a Welcome');
    expect(theirs.recipients).toEqual([bobPackage.ref]);
  });

  it('reads the last_resort extension (RFC 9420 §16.8, DS-12) as ts-mls encodes it, and only there', async () => {
    expect(readKeyPackage(bobPackage.keyPackage).lastResort).toBe(false);
    const last = await generateKeyPackage(bob, { lastResort: true });
    const kp = readKeyPackage(last.keyPackage);
    expect(kp.lastResort).toBe(true);
    expect(kp.ref).toEqual(last.ref);
    // The full engine (ts-mls, through the client's bundle decoder) reads the same extension.
    expect((await decodeKeyPackageBundle(encodeKeyPackageBundle(last), bob)).lastResort).toBe(true);
    expect((await decodeKeyPackageBundle(encodeKeyPackageBundle(bobPackage), bob)).lastResort).toBe(false);
    // Every truncation of the tail (leaf extensions, signatures, key-package extensions) is refused with our
    // own error, never read as one-time by accident.
    for (let cut = last.keyPackage.length - 1; cut > last.keyPackage.length - 200; cut--)
      expect(() => readKeyPackage(last.keyPackage.subarray(0, cut))).toThrow(
        expect.objectContaining({ code: 'DS_MLS_MALFORMED', check: 'DS-1' }),
      );
  });

  it('refuses other wire formats with DS_WIRE_FORMAT', () => {
    for (const [f, m] of [
      [readGroupMessage, welcome],
      [readGroupMessage, bobPackage.keyPackage],
      [readKeyPackage, commit],
      [readWelcomeRecipients, application],
    ] as const) {
      try {
        f(m);
        throw new Error('accepted');
      } catch (e) {
        expect(isRelayError(e, 'DS_WIRE_FORMAT')).toBe(true);
      }
    }
  });
});

describe('variable-length integers (§2.1.2)', () => {
  it('RefHash frames label and value with minimal varints at every length boundary', () => {
    for (const n of [0, 63, 64, 16383, 16384]) {
      const h = refHash('L', new Uint8Array(n));
      expect(h).toHaveLength(32);
    }
    expect(refHash('L', new Uint8Array(63))).not.toEqual(refHash('L', new Uint8Array(64)));
  });

  it('refuses non-minimal and reserved length prefixes', () => {
    // version 1, private message, group_id with a 2-byte length of 5 (non-minimal), …
    const nonMinimal = new Uint8Array([0, 1, 0, 2, 0x40, 5, 1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    const reserved = new Uint8Array([0, 1, 0, 2, 0xc0, 0, 0, 0, 0, 0, 0, 5]);
    for (const m of [nonMinimal, reserved])
      expect(() => readGroupMessage(m)).toThrowError(/DS_MLS_MALFORMED/);
    const ok = new Uint8Array([0, 1, 0, 2, 5, 1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0, 9, 1]);
    expect(readGroupMessage(ok)).toMatchObject({ epoch: 9, contentType: 'application' });
  });
});

describe('fuzz: random and mutated bytes raise only DS_ errors', () => {
  const readers = [readGroupMessage, readKeyPackage, readWelcomeRecipients];

  it('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        for (const r of readers) onlyOurErrors(() => r(b));
        onlyOurErrors(() => readOvertCredential(b));
      }),
      { numRuns: 2000 },
    );
  });

  it('mutations and truncations of real messages', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
        fc.option(fc.nat()),
        (which, flips, cut) => {
          const m = new Uint8Array(samples[which]!);
          for (const [i, x] of flips) m[i % m.length]! ^= x;
          const input = cut === null ? m : m.subarray(0, cut % (m.length + 1));
          for (const r of readers) onlyOurErrors(() => r(input));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
