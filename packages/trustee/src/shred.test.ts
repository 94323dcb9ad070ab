/**
 * Crypto-shredding on the trustee (docs/spec/after-release.md §6) against a real relay and log: the due time is
 * epochEnd(e) + retention_ms (calendar months and fixed-length epochs); a poll before it shreds nothing, a poll at
 * it shreds (TRU-S1) and posts the statement; a statement the relay could not take is kept, signed once, and posted
 * as recorded after a restart; the relay logs it once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessRelayClient } from '@overt/client';
import {
  createDkgSession,
  DkgParticipant,
  decodeShred,
  decodeSigned,
  randomBytes,
  runDkgLocally,
  signPolicy,
  toBase64,
  verifyPolicy,
} from '@overt/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type RelayFixture, startRelayFixture } from '../test/relay-fixture.js';
import { OperatorApi } from './api.js';
import { isTrusteeError } from './errors.js';
import { epochEndMs, mountShredRoutes, Shredder, shredDueAt } from './shred.js';
import { TrusteeVault } from './vault.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const EPOCH = 683; // 2026-12

async function trustees(fx: RelayFixture) {
  const base = mkdtempSync(join(tmpdir(), 'overt-shred-'));
  cleanups.push(() => rmSync(base, { recursive: true, force: true }));
  const keys = [1, 2, 3].map(() => randomBytes(32));
  const open = (i: number) =>
    TrusteeVault.open({ dataDir: join(base, `t${i}`), key: { kind: 'raw', key: keys[i - 1]! }, index: i });
  const vaults = await Promise.all([1, 2, 3].map(open));
  const session = createDkgSession({
    org: fx.anchors.origin,
    epoch: EPOCH,
    attempt: 0,
    threshold: 2,
    participants: vaults.map((v) => ({
      index: v.index,
      signingKey: v.signingKey().publicKey,
      encryptionKey: v.hpkeKeyPair().publicKey,
    })),
  });
  const run = await runDkgLocally(
    vaults.map((v) =>
      DkgParticipant.forDkg(session, {
        index: v.index,
        signingKey: v.signingKey(),
        encryptionSecretKey: v.hpkeKeyPair().secretKey,
      }),
    ),
  );
  vaults.forEach((v, i) => {
    const o = run.outputs[i]!;
    if (o instanceof Error) throw o;
    v.putPendingShare(EPOCH, o.keyShare!, o.transcript, o.transcriptHash);
    expect(v.activateShare(EPOCH, o.transcriptHash)).toBe(true);
  });
  const policy = fx.policyFor(
    vaults.map((v) => ({ signingKey: v.identity.signingKey, hpkeKey: v.identity.hpkeKey })),
    2,
    1,
  );
  await fx.publishPolicy(policy);
  const verified = verifyPolicy(signPolicy(policy, fx.admin), fx.admin.publicKey);
  return { vaults, open, verified };
}

function relayOf(url: string, v: TrusteeVault) {
  return new AccessRelayClient({ url, signer: { kind: 'trustee', index: v.index, key: v.signingKey() } });
}

describe('trustee shredding (after-release.md §6)', () => {
  it('the due time is epochEnd(e) + retention_ms, for calendar months and fixed-length epochs', () => {
    expect(epochEndMs({ kind: 'calendar-month' }, EPOCH)).toBe(Date.UTC(2027, 0, 1));
    expect(epochEndMs({ kind: 'calendar-month' }, 11)).toBe(Date.UTC(1971, 0, 1));
    expect(epochEndMs({ kind: 'fixed', ms: 1000 }, 0)).toBe(1000);
    expect(epochEndMs({ kind: 'fixed', ms: 86_400_000 }, 20_000)).toBe(20_001 * 86_400_000);
  });

  it('shreds at epochEnd + retention, not before; a statement the relay did not take is posted as recorded after a restart', async () => {
    const fx = await startRelayFixture();
    cleanups.push(() => fx.close());
    const { vaults, open, verified } = await trustees(fx);
    const due = shredDueAt(verified, EPOCH);
    expect(due).toBe(Date.UTC(2027, 0, 1) + 1e10);
    let now = due - 1;
    const lines: string[] = [];
    const v1 = vaults[0]!;
    // The relay is unreachable for this start (nothing listens on port 1).
    const down = new Shredder({
      vault: v1,
      relay: relayOf('http://127.0.0.1:1', v1),
      policy: () => verified,
      now: () => now,
      logLine: (l) => lines.push(l),
    });
    await down.tick();
    expect(v1.shareEpochs()).toEqual([EPOCH]);
    expect(v1.shreddedEpochs()).toEqual([]);
    now = due;
    await down.tick();
    expect(v1.shareEpochs()).toEqual([]);
    const [rec] = v1.shreddedEpochs();
    expect(rec).toMatchObject({ epoch: EPOCH, at: due, logIndex: null });
    const shred = decodeShred(decodeSigned(rec!.statement, 200, 'SHRED_INVALID', 'WF-S1').body);
    expect(shred).toMatchObject({
      epoch: EPOCH,
      trusteeIndex: 1,
      shreddedAt: due,
      orgId: verified.policy.orgId,
    });
    await expect(v1.share(EPOCH)).rejects.toSatisfy((e) => isTrusteeError(e, 'TRUSTEE_SHARE_SHREDDED'));
    expect(lines).toEqual([`trustee 1: shredded its share of epoch ${EPOCH}`]);
    for (const v of vaults) v.close();

    // A restart: the recorded statement, not a new one, goes to the relay, which logs it once.
    const again = await open(1);
    cleanups.push(() => again.close());
    const up = new Shredder({
      vault: again,
      relay: relayOf(fx.url, again),
      policy: () => verified,
      now: () => due + 60_000,
      logLine: (l) => lines.push(l),
    });
    await up.tick();
    const [logged] = again.shreddedEpochs();
    expect(logged!.statement).toEqual(rec!.statement);
    expect(logged!.logIndex).toBeGreaterThan(0);
    const stored = await fx.service.storage.access.getShred(EPOCH, 1);
    expect(toBase64(stored!.signed)).toBe(toBase64(rec!.statement));
    expect(stored!.logIndex).toBe(logged!.logIndex);
    await up.tick();
    expect((await fx.service.storage.access.listShreds(EPOCH)).length).toBe(1);
    // Shredding by hand again answers the first record.
    expect(up.shred(EPOCH)).toEqual({ record: logged, created: false });
  }, 120_000);

  it('POST /v1/shreds shreds on the operator’s word and posts at once; a repeat answers the first record; bad bodies, no share and no policy are refused', async () => {
    const fx = await startRelayFixture();
    cleanups.push(() => fx.close());
    const { vaults, verified } = await trustees(fx);
    cleanups.push(() => {
      for (const v of vaults) v.close();
    });
    const token = 'ab'.repeat(32);
    let policy: typeof verified | undefined;
    const urls: string[] = [];
    for (const v of vaults.slice(0, 2)) {
      const api = new OperatorApi(token);
      const shredder = new Shredder({
        vault: v,
        relay: relayOf(fx.url, v),
        policy: () => policy,
        now: () => 1_800_000_000_000 + v.index,
        logLine: () => undefined,
      });
      mountShredRoutes(api, shredder, v);
      urls.push(await api.listen('127.0.0.1', 0));
      cleanups.push(() => api.close());
    }
    const call = async (i: number, method: 'GET' | 'POST', body?: unknown) => {
      const res = await fetch(`${urls[i - 1]}/v1/shreds`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    // No policy in force on this trustee's view: it cannot name the org, nothing is shredded.
    expect(await call(1, 'POST', { epoch: EPOCH })).toMatchObject({
      status: 400,
      body: { code: 'TRUSTEE_NO_POLICY' },
    });
    expect(vaults[0]!.shareEpochs()).toEqual([EPOCH]);
    policy = verified;
    for (const bad of [
      {},
      { epoch: -1 },
      { epoch: 2 ** 32 },
      { epoch: 1.5 },
      { epoch: EPOCH, now: 1 },
      [EPOCH],
      'x',
    ])
      expect(await call(1, 'POST', bad)).toMatchObject({ status: 400, body: { code: 'TRUSTEE_API' } });
    expect(await call(1, 'POST', { epoch: EPOCH + 1 })).toMatchObject({
      status: 400,
      body: { code: 'TRUSTEE_API' },
    });
    expect(vaults[0]!.shareEpochs()).toEqual([EPOCH]);
    const first = await call(1, 'POST', { epoch: EPOCH });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ epoch: EPOCH, at: 1_800_000_000_001, created: true });
    expect(typeof first.body.logIndex).toBe('number');
    expect(await call(1, 'POST', { epoch: EPOCH })).toEqual({
      status: 200,
      body: { ...first.body, created: false },
    });
    expect(await call(1, 'GET')).toEqual({
      status: 200,
      body: { shredded: [{ epoch: EPOCH, at: 1_800_000_000_001, logIndex: first.body.logIndex }] },
    });
    expect(await call(2, 'POST', { epoch: EPOCH })).toMatchObject({ status: 201, body: { created: true } });
    expect((await fx.service.storage.access.listShreds(EPOCH)).map((s) => s.trusteeIndex)).toEqual([1, 2]);
    // Trustee 3 alone holds a share of the epoch now: fewer than k = 2.
    expect(vaults.map((v) => v.shareEpochs().length)).toEqual([0, 0, 1]);
  }, 120_000);
});
