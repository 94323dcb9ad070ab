/**
 * The start's trustee side (docs/spec/start.md §4): secret files that others can read are refused (START-2); the
 * policy naming the trustee daemons' public keys is logged before any epoch key and reused on a restart, a logged
 * policy that names other trustees is refused (START-4), and a data directory from before policies is refused
 * with what to do (START-6); the trustee daemon's entry file is found without importing @overt/trustee. The epoch
 * keys themselves are made by the trustee daemons (packages/trustee: ceremony tests; standalone-start.test.ts runs
 * them as child processes). Runs the real relay storage, relay service and log sequencer.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { equalBytes, generateDkgEncryptionKey, generateSigningKey } from '@overt/core';
import { formatVerifierKey, generateSignerKey, verifierKeyOf } from '@overt/log';
import { openSqliteStorage, Sequencer } from '@overt/log/service';
import {
  calendarMonthEpoch,
  epochLabel,
  epochStartMs,
  MailboxHub,
  RelayService,
  SqliteRelayStorage,
} from '@overt/server';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { buildIsCurrent } from './child-entry.js';
import { isStandaloneError } from './errors.js';
import { loadOrCreateSecretFile } from './files.js';
import { ensurePolicy, type PolicyTrustee } from './policy.js';
import { trusteeEntry } from './trustees.js';

const dir = mkdtempSync(join(tmpdir(), 'overt-trustee-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectShareFileError(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    expect(isStandaloneError(e, 'START_SHARE_FILE')).toBe(true);
    return;
  }
  throw new Error('expected START_SHARE_FILE');
}

async function trusteeKeys(): Promise<PolicyTrustee[]> {
  return Promise.all(
    [1, 2, 3].map(async (index) => ({
      index,
      signingKey: generateSigningKey().publicKey,
      encryptionKey: (await generateDkgEncryptionKey()).publicKey,
    })),
  );
}

describe('the trustee daemon entry', () => {
  it('is resolved through @overt/trustee/package.json: the sources under tsx when forced (OVERT_START_CHILDREN=source), the compiled dist/main.js whenever the build is current', () => {
    const saved = process.env.OVERT_START_CHILDREN;
    try {
      process.env.OVERT_START_CHILDREN = 'source';
      const source = trusteeEntry();
      expect(source.path).toMatch(/trustee[/\\]src[/\\]main\.ts$/);
      expect(existsSync(source.path)).toBe(true);
      expect(source.execArgv).toEqual(['--import', 'tsx']);
      delete process.env.OVERT_START_CHILDREN;
      const chosen = trusteeEntry();
      const dist = join(dirname(dirname(source.path)), 'dist', 'main.js');
      const current = buildIsCurrent(
        dist,
        ['core', 'log', 'client', 'trustee'].map((p) => join(dirname(dirname(dirname(source.path))), p)),
      );
      // npm test builds first, so here dist is current; a stale or missing build falls back to the sources.
      expect(chosen.path).toBe(current ? dist : source.path);
      expect(chosen.execArgv).toEqual(current ? [] : ['--import', 'tsx']);
    } finally {
      if (saved === undefined) delete process.env.OVERT_START_CHILDREN;
      else process.env.OVERT_START_CHILDREN = saved;
    }
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

describe('the policy of the trustee daemons (START-4, START-6)', () => {
  it('is logged once, reused on a restart, and refused when the logged one names other trustees', async () => {
    const orgId = 'example.org';
    const admin = generateSigningKey();
    const trustees = await trusteeKeys();
    const relay = await relayWith(orgId, admin);
    try {
      const first = await ensurePolicyWithWitnesses(relay, orgId, admin, trustees);
      expect(first.status).toBe('published');
      expect(first.record.logIndex).toBe(0);
      expect(first.policy.policy.trustees.map((t) => t.signingKey)).toEqual(
        trustees.map((t) => t.signingKey),
      );
      expect(first.policy.policy.threshold).toBe(2);
      const again = await ensurePolicyWithWitnesses(relay, orgId, admin, trustees);
      expect(again.status).toBe('reused');
      expect(equalBytes(again.policy.hash, first.policy.hash)).toBe(true);
      const others = await trusteeKeys();
      await expect(ensurePolicyWithWitnesses(relay, orgId, admin, others)).rejects.toSatisfy(
        (err: unknown) => isStandaloneError(err, 'START_STATE') && err.check === 'START-4',
      );
    } finally {
      await relay.close();
    }
  });

  it('START-6: a data directory with epoch keys and no policy (made before A14) is refused with what to do', async () => {
    const orgId = 'example.org';
    const admin = generateSigningKey();
    const trustees = await trusteeKeys();
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
  trustees: readonly PolicyTrustee[],
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
