/**
 * The trustee stand-in (docs/spec/start.md §4): share files round-trip and refuse every wrong key, epoch, trustee
 * or mutated byte with our own error (START-3); secret files that others can read are refused (START-2); epoch
 * keys are generated once, reused, published from stored shares after a crash, and a published epoch whose
 * shares are gone is refused (START-4); the policy is logged before any epoch key, each epoch key carries every
 * trustee's signature and verifies under it (A14), and a data directory from before policies is refused with
 * what to do (START-6). Runs the real DKG, relay storage, relay service and log sequencer.
 */
import { chmodSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { equalBytes, generateSigningKey } from '@overt/core';
import { formatVerifierKey, generateSignerKey, verifierKeyOf } from '@overt/log';
import { openSqliteStorage, Sequencer } from '@overt/log/service';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { calendarMonthEpoch, epochLabel, epochStartMs } from '../epochs.js';
import { MailboxHub } from '../hub.js';
import { RelayService } from '../service.js';
import { verifyEpochKeyStatement } from '../statements.js';
import { SqliteRelayStorage } from '../storage/sqlite.js';
import { ensureEpochKeys } from './epoch-keys.js';
import { isStandaloneError } from './errors.js';
import { ensurePolicy } from './policy.js';
import {
  decodeShareFile,
  encodeShareFile,
  LocalTrustee,
  loadOrCreateSecretFile,
  type ShareRecord,
} from './trustee.js';

const dir = mkdtempSync(join(tmpdir(), 'overt-trustee-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const record = fc.record({
  epoch: fc.integer({ min: 0, max: 0xffffffff }),
  index: fc.integer({ min: 1, max: 255 }),
  secret: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  transcript: fc.uint8Array({ maxLength: 2000 }),
});
const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

function expectShareFileError(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    expect(isStandaloneError(e, 'START_SHARE_FILE')).toBe(true);
    return;
  }
  throw new Error('expected START_SHARE_FILE');
}

describe('share files (START-3)', () => {
  it('round-trips every record under its key, epoch and index', () => {
    fc.assert(
      fc.property(key32, record, (key, r: ShareRecord) => {
        const back = decodeShareFile(key, r.epoch, r.index, encodeShareFile(key, r));
        expect(back.epoch).toBe(r.epoch);
        expect(back.index).toBe(r.index);
        expect(equalBytes(back.secret, r.secret)).toBe(true);
        expect(equalBytes(back.transcript, r.transcript)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('START-3: refuses another key, epoch or trustee', () => {
    fc.assert(
      fc.property(key32, key32, record, (key, other, r: ShareRecord) => {
        const file = encodeShareFile(key, r);
        if (!equalBytes(key, other))
          expectShareFileError(() => decodeShareFile(other, r.epoch, r.index, file));
        expectShareFileError(() => decodeShareFile(key, (r.epoch + 1) % 2 ** 32, r.index, file));
        expectShareFileError(() =>
          decodeShareFile(key, r.epoch, (r.index % 255) + 1 === r.index ? 1 : (r.index % 255) + 1, file),
        );
      }),
      { numRuns: 50 },
    );
  });

  it('START-3: random and mutated bytes give only START_SHARE_FILE (fuzz)', () => {
    const key = new Uint8Array(32).fill(7);
    const good = encodeShareFile(key, {
      epoch: 5,
      index: 2,
      secret: new Uint8Array(32).fill(1),
      transcript: new Uint8Array(40),
    });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expectShareFileError(() => decodeShareFile(key, 5, 2, bytes));
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: good.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (at, flip) => {
          const bad = good.slice();
          bad[at]! ^= flip;
          expectShareFileError(() => decodeShareFile(key, 5, 2, bad));
          expectShareFileError(() => decodeShareFile(key, 5, 2, good.subarray(0, at)));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('secret files (START-2)', () => {
  it('creates a 0600 file once, then reads the same secret; refuses one others can read', () => {
    const path = join(dir, 'secret-test.key');
    const a = loadOrCreateSecretFile(path, 32);
    const b = loadOrCreateSecretFile(path, 32);
    expect(a.created).toBe(true);
    expect(b.created).toBe(false);
    expect(equalBytes(a.secret, b.secret)).toBe(true);
    chmodSync(path, 0o644);
    expectShareFileError(() => loadOrCreateSecretFile(path, 32));
  });
});

describe('calendar-month epochs', () => {
  it('numbers months from January 1970, UTC', () => {
    expect(calendarMonthEpoch(0)).toBe(0);
    expect(calendarMonthEpoch(Date.UTC(2026, 10, 30, 23, 59, 59, 999))).toBe(682);
    expect(calendarMonthEpoch(Date.UTC(2026, 11, 1))).toBe(683);
    expect(epochLabel(683)).toBe('2026-12');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 12 * 1000 }), (e) => {
        expect(calendarMonthEpoch(epochStartMs(e))).toBe(e);
        expect(calendarMonthEpoch(epochStartMs(e) - 1)).toBe(e - 1);
      }),
    );
  });
});

async function relayWith(orgId: string, admin: ReturnType<typeof generateSigningKey>) {
  const storage = SqliteRelayStorage.open({ path: ':memory:' });
  await storage.claimOrgAdmin(admin.publicKey, Date.now());
  const logStorage = openSqliteStorage({ path: ':memory:' });
  const sequencer = await Sequencer.start({
    storage: logStorage,
    origin: 'test/log',
    key: generateSignerKey('test/log'),
  });
  const service = new RelayService({ storage, log: sequencer, hub: new MailboxHub(), orgId, now: Date.now });
  return {
    storage,
    service,
    close: async () => {
      await sequencer.close();
      logStorage.close();
      await storage.close();
    },
  };
}

describe('epoch keys ahead of time (START-4)', () => {
  it('generates once, reuses, publishes stored shares after a crash, and refuses a published epoch without shares', async () => {
    const orgId = 'example.org';
    const admin = generateSigningKey();
    const trustees = await Promise.all([1, 2, 3].map((i) => LocalTrustee.open(join(dir, `t${i}`), i)));
    const e = 682;
    const relay = await relayWith(orgId, admin);
    try {
      const witnessPolicy = await ensurePolicyWithWitnesses(relay, orgId, admin, trustees);
      expect(witnessPolicy.status).toBe('published');
      expect(witnessPolicy.record.logIndex).toBe(0);
      const policy = witnessPolicy.policy;
      const opts = { trustees, policy, orgId, storage: relay.storage, service: relay.service, now: Date.now };
      const first = await ensureEpochKeys({ ...opts, epochs: [e, e + 1] });
      expect(first.map((o) => o.status)).toEqual(['generated', 'generated']);
      for (const o of first) {
        const s = verifyEpochKeyStatement(policy, o.record.statement);
        expect(s.epoch).toBe(o.epoch);
        expect(s.threshold).toBe(2);
        expect(s.verificationKeys).toHaveLength(3);
        expect(s.signatures.map((x) => x.index)).toEqual([1, 2, 3]);
        expect(equalBytes(s.policyHash, policy.hash)).toBe(true);
        expect(o.record.logIndex).toBeGreaterThan(0);
      }
      // A restart reuses the logged policy.
      const reused = await ensurePolicyWithWitnesses(relay, orgId, admin, trustees);
      expect(reused.status).toBe('reused');
      expect(equalBytes(reused.policy.hash, policy.hash)).toBe(true);
      const again = await ensureEpochKeys({ ...opts, epochs: [e, e + 1] });
      expect(again.map((o) => o.status)).toEqual(['reused', 'reused']);
      expect(equalBytes(again[0]!.record.groupKey, first[0]!.record.groupKey)).toBe(true);

      // Shares stored but never published (a crash between the DKG and the log): published as they are.
      const fresh = await relayWith(orgId, admin);
      try {
        await fresh.service.publishPolicy(policy.signed);
        const after = await ensureEpochKeys({
          ...opts,
          storage: fresh.storage,
          service: fresh.service,
          epochs: [e],
        });
        expect(after[0]!.status).toBe('published');
        expect(equalBytes(after[0]!.record.transcriptHash, first[0]!.record.transcriptHash)).toBe(true);
      } finally {
        await fresh.close();
      }

      unlinkSync(trustees[1]!.sharePath(e + 1));
      await expect(ensureEpochKeys({ ...opts, epochs: [e + 1] })).rejects.toSatisfy(
        (err: unknown) => isStandaloneError(err, 'START_STATE') && err.check === 'START-4',
      );
    } finally {
      await relay.close();
    }
  });

  it('START-6: a data directory with epoch keys and no policy (made before A14) is refused with what to do', async () => {
    const orgId = 'example.org';
    const admin = generateSigningKey();
    const trustees = await Promise.all([1, 2, 3].map((i) => LocalTrustee.open(join(dir, `old${i}`), i)));
    const relay = await relayWith(orgId, admin);
    try {
      // What an earlier version left behind: an (admin-signed) epoch key in the relay's database, no policy.
      await relay.storage.putEpochKey({
        epoch: 682,
        threshold: 2,
        groupKey: new Uint8Array(32).fill(1),
        verificationKeys: [1, 2, 3].map((i) => new Uint8Array(32).fill(i)),
        transcriptHash: new Uint8Array(32),
        statement: new Uint8Array(100),
        logIndex: 0,
        publishedAt: 1,
      });
      const err = await ensurePolicyWithWitnesses(relay, orgId, admin, trustees).catch((e: unknown) => e);
      expect(isStandaloneError(err, 'START_STATE') && err.check === 'START-6').toBe(true);
      expect((err as Error).message).toMatch(/earlier version.*Move it aside/s);
      expect(await relay.storage.currentPolicy()).toBeUndefined();
    } finally {
      await relay.close();
    }
  });
});

/** The start's policy step with two made-up witness keys. */
function ensurePolicyWithWitnesses(
  relay: { storage: SqliteRelayStorage; service: RelayService },
  orgId: string,
  admin: ReturnType<typeof generateSigningKey>,
  trustees: readonly LocalTrustee[],
) {
  const witnessVkeys = [1, 2].map((i) => formatVerifierKey(verifierKeyOf(generateSignerKey(`w${i}.test`))));
  return ensurePolicy({
    dataDir: dir,
    orgId,
    admin,
    trustees,
    witnessVkeys,
    witnessQuorum: 2,
    storage: relay.storage,
    service: relay.service,
    now: Date.now,
  });
}
