// docs/spec/client.md §8.1–8.2: the trust anchors and the client's log reader, offline against @overt/log's
// in-memory tiled log (real tiles, bundles, checkpoints and cosignatures): only admin-signed device statements of
// this org in a verified, witnessed, consistent checkpoint are indexed, and epoch keys only when they verify under
// the policy in force at their position (KT-8), one per epoch (KT-9), every later policy reported (KT-10); a forked, uncosigned or tampered log is
// KT_LOG_INVALID (KT-2); an unreachable one KT_LOG_UNAVAILABLE; malformed anchors KT_ANCHORS_INVALID (KT-1) and
// malformed stored state SDK_STORE_MALFORMED (CLI-7), under fuzz.
import {
  deviceEntry,
  type Element,
  type EpochKeyStatement,
  epochKeyEntry,
  generateSigningKey,
  group,
  type Policy,
  policyEntry,
  randomBytes,
  randomNonZeroScalar,
  type SigningKeyPair,
  scalarFromInt,
  signDeviceStatement,
  signEpochKeyStatement,
  signPolicy,
  toBase64,
  utf8Encode,
  verifyPolicy,
} from '@overt/core';
import {
  formatVerifierKey,
  generateSignerKey,
  MemoryTiledLog,
  SIGNATURE_TYPE_COSIGNATURE,
  verifierKeyOf,
} from '@overt/log';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectClientError } from '../../test/expect-error.js';
import { isClientError } from '../errors.js';
import { MemoryStore } from '../store/store.js';
import { type TrustAnchors, trustAnchorsFromWellKnown } from './anchors.js';
import { DirectoryLog, type DirectoryLogEvent } from './directory-log.js';

const ORIGIN = 'org.test/log';
const PREFIX = 'https://relay.test/log/';
const admin = generateSigningKey();
const logKey = generateSignerKey(ORIGIN);
const witnesses = [1, 2].map((i) => generateSignerKey(`w${i}.test`, SIGNATURE_TYPE_COSIGNATURE));
const anchors: TrustAnchors = {
  log: {
    origin: ORIGIN,
    url: PREFIX,
    vkey: formatVerifierKey(verifierKeyOf(logKey)),
    witnessVkeys: witnesses.map((w) => formatVerifierKey(verifierKeyOf(w))),
    witnessQuorum: 2,
  },
  adminKey: admin.publicKey,
};

function added(userId: string, deviceId: string, orgId = 'org', key = admin): Uint8Array {
  return deviceEntry(
    'added',
    signDeviceStatement(key, {
      kind: 'added',
      orgId,
      userId,
      deviceId,
      identityKey: randomBytes(32),
      time: 1,
    }),
  );
}

function reader(
  log: MemoryTiledLog,
  store = new MemoryStore(),
  a = anchors,
  onEvent?: (e: DirectoryLogEvent) => void,
): DirectoryLog {
  return new DirectoryLog({
    anchors: a,
    orgId: 'org',
    store,
    fetch: log.fetcher(PREFIX),
    ...(onEvent ? { onEvent } : {}),
  });
}

const trustees = [1, 2, 3].map(() => generateSigningKey());

function policyOf(
  serial: number,
  keys: readonly SigningKeyPair[] = trustees,
  extra: Partial<Policy> = {},
): Policy {
  return {
    version: 1,
    orgId: 'org',
    serial,
    issuedAt: 1,
    trustees: keys.map((k, i) => ({
      index: i + 1,
      name: `T${i + 1}`,
      signingKey: k.publicKey,
      encryptionKey: new Uint8Array(32).fill(i + 1),
    })),
    threshold: 2,
    witnesses: [{ name: 'w1.test', signingKey: new Uint8Array(32).fill(9) }],
    witnessQuorum: 1,
    requesters: [
      {
        id: 'r',
        name: 'R',
        signingKey: new Uint8Array(32).fill(8),
        encryptionKey: new Uint8Array(32).fill(7),
      },
    ],
    limits: { maxSubjects: 1, maxWindowMs: 1, maxEnvelopes: 1, maxSealMs: 1, maxExtensions: 0 },
    epochLength: { kind: 'calendar-month' },
    retentionMs: 1,
    ...extra,
  };
}

/** A policy entry signed by `key` (the admin unless said otherwise) and its verified form. */
function policy(p: Policy, key = admin) {
  const signed = signPolicy(p, key);
  return { entry: policyEntry(signed), verified: verifyPolicy(signed, key.publicKey) };
}

/** An epoch-key entry under `p` signed by `signers` (indices 1..), verification keys interpolating to the key. */
function epochKey(
  p: ReturnType<typeof verifyPolicy>,
  epoch: number,
  signers: readonly SigningKeyPair[] = trustees.slice(0, 2),
  extra: Partial<EpochKeyStatement> = {},
): Uint8Array {
  const groupKey = (extra.groupKey as Element | undefined) ?? group.baseMul(randomNonZeroScalar());
  const slope = group.baseMul(randomNonZeroScalar());
  return epochKeyEntry(
    signEpochKeyStatement(
      {
        orgId: 'org',
        epoch,
        policyHash: p.hash,
        threshold: 2,
        groupKey,
        verificationKeys: [1, 2, 3].map((i) => group.add(groupKey, group.mul(scalarFromInt(i), slope))),
        transcriptHash: randomBytes(32),
        sessionId: randomBytes(32),
        time: 2,
        ...extra,
      },
      signers.map((key, i) => ({ index: i + 1, key })),
    ),
  );
}

describe('DirectoryLog', () => {
  it('indexes only admin-signed directory statements of this org, each in a verified checkpoint', async () => {
    const log = new MemoryTiledLog(ORIGIN, logKey, witnesses);
    const p1 = policy(policyOf(1));
    log.append(
      added('u', 'd0'),
      added('u', 'd1', 'other-org'),
      added('u', 'd2', 'org', generateSigningKey()),
      Uint8Array.of(5, 1, 2, 3),
      p1.entry,
      epochKey(p1.verified, 5),
    );
    const r = reader(log);
    expect(await r.size()).toBe(0);
    expect(await r.update()).toEqual({ size: 6, newEntries: 6 });
    expect((await r.deviceAddedAt(0))?.deviceId).toBe('d0');
    for (const i of [1, 2, 3, 4]) expect(await r.statementAt(i)).toBeUndefined();
    expect((await r.epochKeyAt(5))?.epoch).toBe(5);
    expect(await r.deviceAddedAt(5)).toBeUndefined();
    expect(await r.covers(5)).toBe(true);
    expect(await r.covers(6)).toBe(false);
  });

  it('epoch keys count only under the policy in force at their position: k trustee signatures (KT-8), one key per epoch (KT-9), later policies reported (KT-10)', async () => {
    const log = new MemoryTiledLog(ORIGIN, logKey, witnesses);
    const events: DirectoryLogEvent[] = [];
    const p1 = policy(policyOf(1));
    const early = epochKey(p1.verified, 4);
    const good = epochKey(p1.verified, 5);
    log.append(
      early, // 0: before any policy: vouches for nothing (DIR-4)
      p1.entry, // 1
      good, // 2
      good, // 3: the same statement again (a retried append): not a conflict
      epochKey(p1.verified, 6, [admin, admin]), // 4: the admin signing as trustees (DIR-5)
      epochKey(p1.verified, 7, trustees.slice(0, 1)), // 5: one trustee is not k (DIR-5)
      epochKey(p1.verified, 8, trustees, {
        verificationKeys: [1, 2, 3].map(() => group.baseMul(randomNonZeroScalar())),
      }), // 6: DIR-6
      epochKey(p1.verified, 5), // 7: a second, different key for epoch 5 (KT-9)
      policy(policyOf(1, trustees)).entry, // 8: serial not greater: not in force, no notice
      policy(policyOf(2), generateSigningKey()).entry, // 9: not signed by the pinned admin key: nothing
    );
    const store = new MemoryStore();
    const r = reader(log, store, anchors, (e) => {
      events.push(e);
    });
    await r.update();
    expect(events.map((e) => [e.type, e.index, e.type === 'policy-changed' ? 0 : e.epoch])).toEqual([
      ['epoch-key-invalid', 0, 4],
      ['epoch-key-invalid', 4, 6],
      ['epoch-key-invalid', 5, 7],
      ['epoch-key-invalid', 6, 8],
      ['epoch-key-conflict', 7, 5],
    ]);
    expect(events.map((e) => (e.type === 'epoch-key-invalid' ? e.reason : ''))).toEqual([
      'DIR-4',
      'DIR-5',
      'DIR-5',
      'DIR-6',
      '',
    ]);
    expect((await r.epochKeyAt(2))?.epoch).toBe(5);
    expect(await r.epochKeyIndex(5)).toBe(2);
    expect(await r.epochConflict(5)).toBe(7);
    expect(await r.epochKeyAt(4)).toBeUndefined();
    expect(await r.untrustedEpochKeyAt(4)).toEqual({ epoch: 6, reason: 'DIR-5' });
    expect((await r.accessPolicy())?.index).toBe(1);

    // A new policy swapping trustee 3 for a key the admin holds: reported with what changed; later keys are
    // verified under it, and a key still naming the old policy is refused (DIR-4).
    const rogue = generateSigningKey();
    const p2 = policy(policyOf(2, [trustees[0]!, trustees[1]!, rogue]));
    log.append(p2.entry, epochKey(p2.verified, 9), epochKey(p1.verified, 10));
    events.length = 0;
    await r.update();
    expect(events.map((e) => e.type)).toEqual(['policy-changed', 'epoch-key-invalid']);
    const change = events[0]!;
    if (change.type !== 'policy-changed') throw new Error('unreachable');
    expect(change.previous.policy.serial).toBe(1);
    expect(change.policy.policy.serial).toBe(2);
    expect((await r.accessPolicy())?.index).toBe(10);
    expect((await r.epochKeyAt(11))?.epoch).toBe(9);
    expect(await r.untrustedEpochKeyAt(12)).toEqual({ epoch: 10, reason: 'DIR-4' });
    // A fresh reader over the same store re-verifies what it stored, under the policy each key was verified under.
    expect((await reader(log, store).epochKeyAt(2))?.epoch).toBe(5);
  });

  it('KT-9: a resharing (same group key, verified under a newer policy than the key in force) becomes the statement in force; another key, or a second one under the same policy, is a conflict', async () => {
    const log = new MemoryTiledLog(ORIGIN, logKey, witnesses);
    const events: DirectoryLogEvent[] = [];
    const p1 = policy(policyOf(1));
    const p2 = policy(policyOf(2));
    const y = group.baseMul(randomNonZeroScalar());
    const reshare = epochKey(p2.verified, 5, trustees.slice(0, 2), { groupKey: y });
    log.append(
      p1.entry, // 0
      epochKey(p1.verified, 5, trustees.slice(0, 2), { groupKey: y }), // 1
      p2.entry, // 2
      reshare, // 3: the resharing
      reshare, // 4: the same statement again: neither
    );
    const store = new MemoryStore();
    const r = reader(log, store, anchors, (e) => {
      events.push(e);
    });
    await r.update();
    expect(events.map((e) => [e.type, e.index])).toEqual([['policy-changed', 2]]);
    expect(await r.epochConflict(5)).toBeUndefined();
    expect(await r.epochKeyIndex(5)).toBe(1);
    expect(await r.epochKeyInForceIndex(5)).toBe(3);
    expect((await r.epochKeyAt(3))?.groupKey).toEqual(y);
    const p3 = policy(policyOf(3));
    log.append(
      epochKey(p2.verified, 5, trustees.slice(0, 2), { groupKey: y }), // 5: a second one under p2: conflict
      p3.entry, // 6
      epochKey(p3.verified, 5), // 7: another group key under a newer policy: conflict
    );
    events.length = 0;
    await r.update();
    expect(events.map((e) => [e.type, e.index])).toEqual([
      ['epoch-key-conflict', 5],
      ['policy-changed', 6],
      ['epoch-key-conflict', 7],
    ]);
    expect(await r.epochConflict(5)).toBe(5);
    expect(await r.epochKeyInForceIndex(5)).toBe(3);
  });

  it('a log that shows a fork of what this client saw before is refused (split view, KT-2)', async () => {
    const log = new MemoryTiledLog(ORIGIN, logKey, witnesses);
    log.append(added('u', 'd0'));
    const fork = log.fork();
    log.append(added('u', 'd1'));
    fork.append(added('u', 'ghost'));
    const store = new MemoryStore();
    await reader(log, store).update();
    const e = await expectClientError(reader(fork, store).update(), 'KT_LOG_INVALID', 'KT-2');
    expect(e.message).toMatch(/inconsistent/);
  });

  it('too few witness cosignatures, or entries that are not the signed tree, are refused (KT-2)', async () => {
    const bare = new MemoryTiledLog(ORIGIN, logKey, witnesses.slice(0, 1));
    bare.append(added('u', 'd0'));
    await expectClientError(reader(bare).update(), 'KT_LOG_INVALID', 'KT-2');
    const log = new MemoryTiledLog(ORIGIN, logKey, witnesses);
    log.append(added('u', 'd0'), added('u', 'd1'));
    const bundle = log.files.get('tile/entries/000.p/2')!;
    const tampered = bundle.slice();
    tampered[tampered.length - 1]! ^= 1;
    log.files.set('tile/entries/000.p/2', tampered);
    await expectClientError(reader(log).update(), 'KT_LOG_INVALID', 'KT-2');
  });

  it('an unreachable log is KT_LOG_UNAVAILABLE and changes nothing', async () => {
    const store = new MemoryStore();
    const r = new DirectoryLog({
      anchors,
      orgId: 'org',
      store,
      fetch: async () => {
        throw new Error('offline');
      },
    });
    await expectClientError(r.update(), 'KT_LOG_UNAVAILABLE');
    expect(await store.list('kt/')).toEqual([]);
  });

  it('fuzz: stored log state that does not decode is SDK_STORE_MALFORMED', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async (bytes) => {
        const store = new MemoryStore();
        await store.put('kt/monitor', bytes);
        const log = new MemoryTiledLog(ORIGIN, logKey, witnesses);
        await expectClientError(reader(log, store).update(), 'SDK_STORE_MALFORMED');
      }),
      { numRuns: 50 },
    );
    // Well-formed JSON whose checkpoint is not this log's.
    const other = new MemoryTiledLog(ORIGIN, generateSignerKey(ORIGIN), witnesses);
    const store = new MemoryStore();
    await store.put('kt/monitor', utf8Encode(JSON.stringify({ checkpoint: other.checkpoint, frontier: [] })));
    await expectClientError(
      reader(new MemoryTiledLog(ORIGIN, logKey, witnesses), store).update(),
      'SDK_STORE_MALFORMED',
    );
  });
});

describe('DirectoryLog freshness (client.md §8.6)', () => {
  it('the view is as old as its witness quorum’s timestamps; a heartbeat of the same tree makes it fresh again', async () => {
    let t = 1_800_000_000;
    let now = t * 1000;
    const log = new MemoryTiledLog(ORIGIN, logKey, witnesses, () => t);
    log.append(added('ann', 'ann-phone'));
    const dir = new DirectoryLog({
      anchors,
      orgId: 'org',
      store: new MemoryStore(),
      fetch: log.fetcher(PREFIX),
      now: () => now,
    });
    expect((await dir.freshness(300)).fresh).toBe(false);
    await dir.update();
    expect(await dir.freshness(300)).toMatchObject({ fresh: true, ageSeconds: 0 });
    now += 301_000;
    expect(await dir.freshness(300)).toMatchObject({ fresh: false, ageSeconds: 301 });
    // The log's heartbeat: the same tree cosigned again at the witnesses' current time.
    t += 301;
    log.append();
    expect(await dir.update()).toEqual({ size: 1, newEntries: 0 });
    expect(await dir.freshness(300)).toMatchObject({ fresh: true, ageSeconds: 0, timestamp: t });
  });
});

describe('trust anchors', () => {
  const doc = {
    org: 'org',
    admin_key: toBase64(admin.publicKey),
    log: {
      origin: ORIGIN,
      url: PREFIX,
      vkey: anchors.log.vkey,
      witness_vkeys: anchors.log.witnessVkeys,
      witness_quorum: 2,
    },
  };

  it('reads /.well-known/overt', () => {
    expect(trustAnchorsFromWellKnown(doc)).toEqual({ orgId: 'org', anchors });
  });

  it('fuzz: any document gives anchors or KT_ANCHORS_INVALID only', () => {
    const field = fc.constantFrom(
      'org',
      'admin_key',
      'log',
      'origin',
      'url',
      'vkey',
      'witness_vkeys',
      'witness_quorum',
    );
    fc.assert(
      fc.property(field, fc.jsonValue(), fc.anything(), (name, value, random) => {
        const mutated = JSON.parse(JSON.stringify(doc));
        if (name in mutated) mutated[name] = value;
        else mutated.log[name] = value;
        for (const d of [mutated, random]) {
          try {
            trustAnchorsFromWellKnown(d);
          } catch (e) {
            if (!isClientError(e, 'KT_ANCHORS_INVALID')) throw e;
          }
        }
      }),
      { numRuns: 500 },
    );
    for (const bad of [
      { ...doc, admin_key: toBase64(randomBytes(31)) },
      { ...doc, log: { ...doc.log, witness_quorum: 3 } },
      { ...doc, log: { ...doc.log, witness_vkeys: [anchors.log.vkey] } },
    ])
      expect(() => trustAnchorsFromWellKnown(bad)).toThrowError(/KT_ANCHORS_INVALID/);
  });

  it('refuses a witness quorum of 0, with or without witnesses: nothing would vouch for a view being current (KT-FRESH-2)', () => {
    for (const log of [
      { ...doc.log, witness_quorum: 0 },
      { ...doc.log, witness_vkeys: [], witness_quorum: 0 },
    ]) {
      const e = (() => {
        try {
          trustAnchorsFromWellKnown({ ...doc, log });
        } catch (err) {
          return err;
        }
      })();
      expect(isClientError(e, 'KT_ANCHORS_INVALID') && e.check).toBe('KT-FRESH-2');
    }
    expect(
      trustAnchorsFromWellKnown({ ...doc, log: { ...doc.log, witness_quorum: 1 } }).anchors.log.witnessQuorum,
    ).toBe(1);
  });
});
