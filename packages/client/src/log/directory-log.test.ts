// docs/spec/client.md §8.1–8.2: the trust anchors and the client's log reader, offline against @overt/log's
// in-memory tiled log (real tiles, bundles, checkpoints and cosignatures): only admin-signed statements of this
// org in a verified, witnessed, consistent checkpoint are indexed; a forked, uncosigned or tampered log is
// KT_LOG_INVALID (KT-2); an unreachable one KT_LOG_UNAVAILABLE; malformed anchors KT_ANCHORS_INVALID (KT-1) and
// malformed stored state SDK_STORE_MALFORMED (CLI-7), under fuzz.
import {
  deviceEntry,
  epochKeyEntry,
  generateSigningKey,
  group,
  randomBytes,
  randomNonZeroScalar,
  signDeviceStatement,
  signEpochKeyStatement,
  toBase64,
  utf8Encode,
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
import { DirectoryLog } from './directory-log.js';

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

function reader(log: MemoryTiledLog, store = new MemoryStore(), a = anchors): DirectoryLog {
  return new DirectoryLog({ anchors: a, orgId: 'org', store, fetch: log.fetcher(PREFIX) });
}

describe('DirectoryLog', () => {
  it('indexes only admin-signed directory statements of this org, each in a verified checkpoint', async () => {
    const log = new MemoryTiledLog(ORIGIN, logKey, witnesses);
    const epoch = signEpochKeyStatement(admin, {
      orgId: 'org',
      epoch: 5,
      threshold: 1,
      groupKey: group.baseMul(randomNonZeroScalar()),
      verificationKeys: [group.baseMul(randomNonZeroScalar())],
      transcriptHash: randomBytes(32),
      time: 2,
    });
    log.append(
      added('u', 'd0'),
      added('u', 'd1', 'other-org'),
      added('u', 'd2', 'org', generateSigningKey()),
      Uint8Array.of(5, 1, 2, 3),
      epochKeyEntry(epoch),
    );
    const r = reader(log);
    expect(await r.size()).toBe(0);
    expect(await r.update()).toEqual({ size: 5, newEntries: 5 });
    expect((await r.deviceAddedAt(0))?.deviceId).toBe('d0');
    for (const i of [1, 2, 3]) expect(await r.statementAt(i)).toBeUndefined();
    expect((await r.epochKeyAt(4))?.epoch).toBe(5);
    expect(await r.deviceAddedAt(4)).toBeUndefined();
    expect(await r.covers(4)).toBe(true);
    expect(await r.covers(5)).toBe(false);
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
