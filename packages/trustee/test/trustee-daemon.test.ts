/**
 * The trustee daemon against a real relay and log (sequencer, two witnesses, quorum 2): the operator API needs the
 * bearer token (TRU-7); the daemon refuses to act before a policy is on the log with the witness quorum (TRU-6);
 * its monitor follows the log (policy in force, `onEntry` in order) and raises persisted alerts for an epoch-key
 * statement it did not sign, a policy that drops it, and a stale view.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createDkgSession,
  DkgParticipant,
  generateSigningKey,
  isOvertError,
  randomBytes,
  runDkgLocally,
  signEpochKeyStatement,
  toBase64,
} from '@overt/core';
import { afterEach, describe, expect, it } from 'vitest';
import { calendarMonthEpoch, type RunningTrustee, startTrustee } from '../src/daemon.js';
import { isTrusteeError } from '../src/errors.js';
import { LogFollower } from '../src/monitor.js';
import { TrusteeVault } from '../src/vault.js';
import { ORG, type RelayFixture, startRelayFixture } from './relay-fixture.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until(what: string, f: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function api(t: RunningTrustee, path: string, token: string | null = t.apiToken) {
  const res = await fetch(`${t.url}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('trustee daemon over a real relay and log (access.md §6)', () => {
  let fx: RelayFixture;

  it('follows the policy on the log, refuses to act without it, serves status and alerts behind its token', async () => {
    fx = await startRelayFixture();
    cleanups.push(() => fx.close());
    const base = mkdtempSync(join(tmpdir(), 'overt-trustees-'));
    cleanups.push(() => rmSync(base, { recursive: true, force: true }));
    const trustees: RunningTrustee[] = [];
    const seen: number[] = [];
    for (const i of [1, 2, 3]) {
      const t = await startTrustee({
        dataDir: join(base, `trustee-${i}`),
        relayUrl: fx.url,
        index: i,
        port: 0,
        key: { kind: 'raw', key: randomBytes(32) },
        anchors: fx.anchors,
        pollMs: 150,
        idleMs: 300,
        epochs: () => [],
        ...(i === 1 ? { onEntry: (index: number) => void seen.push(index) } : {}),
      });
      trustees.push(t);
      cleanups.push(() => t.close());
    }
    const [t1, t2, t3] = trustees as [RunningTrustee, RunningTrustee, RunningTrustee];

    // TRU-7: no token, a wrong token, an unknown route.
    expect((await api(t1, '/v1/status', null)).status).toBe(401);
    expect((await api(t1, '/v1/status', 'ab'.repeat(32))).status).toBe(401);
    const missing = await api(t1, '/v1/nothing');
    expect([missing.status, missing.body.check]).toEqual([404, 'TRU-7']);
    const before = await api(t1, '/v1/status');
    expect(before.body).toMatchObject({ index: 1, policy: null, problem: 'no-policy' });
    // TRU-6: no policy on the log yet, so no ceremony.
    await expect(t1.ceremony.tick()).rejects.toSatisfy((e) => isTrusteeError(e, 'TRUSTEE_NO_POLICY'));

    await fx.publishPolicy(
      fx.policyFor(
        trustees.map((t) => t.vault.identity),
        2,
        1,
      ),
    );
    await until('every trustee to see the policy with the witness quorum', () =>
      trustees.every((t) => t.log.policy()?.policy.serial === 1),
    );
    const status = await api(t2, '/v1/status');
    expect(status.body).toMatchObject({ index: 2, policy: { serial: 1 }, problem: null });

    // An epoch key of a real DKG among the three, signed by trustees 1 and 2 only: trustee 3 alerts.
    const policy = t1.log.policy()!;
    const session = createDkgSession({
      org: ORG,
      epoch: 680,
      attempt: 0,
      threshold: 2,
      participants: policy.policy.trustees.map((t) => ({
        index: t.index,
        signingKey: t.signingKey,
        encryptionKey: t.encryptionKey,
      })),
    });
    const run = await runDkgLocally(
      trustees.map((t) =>
        DkgParticipant.forDkg(session, {
          index: t.index,
          signingKey: t.vault.signingKey(),
          encryptionSecretKey: t.vault.hpkeKeyPair().secretKey,
        }),
      ),
    );
    const out = run.outputs[0]!;
    if (isOvertError(out)) throw out;
    await fx.service.publishEpochKey(
      signEpochKeyStatement(
        {
          orgId: ORG,
          epoch: 680,
          policyHash: policy.hash,
          threshold: 2,
          groupKey: out.publicKey.groupKey,
          verificationKeys: out.publicKey.verificationKeys,
          transcriptHash: out.transcriptHash,
          sessionId: session.id,
          time: Date.now(),
        },
        [t1, t2].map((t) => ({ index: t.index, key: t.vault.signingKey() })),
      ),
    );
    await until('the epoch key on every trustee', () =>
      trustees.every((t) => t.log.epochKey(680) !== undefined),
    );
    await until('trustee 3 alert', () => t3.vault.alerts().some((a) => a.kind === 'epoch-key-unsigned'));
    expect(t1.vault.alerts()).toEqual([]);

    // A policy that drops trustee 3.
    await fx.publishPolicy(
      fx.policyFor(
        [t1, t2].map((t) => t.vault.identity),
        2,
        2,
      ),
    );
    await until('policy 2 on every trustee', () =>
      trustees.every((t) => t.log.policy()?.policy.serial === 2),
    );
    const alerts = await api(t3, '/v1/alerts');
    expect((alerts.body.alerts as { kind: string }[]).map((a) => a.kind)).toEqual([
      'epoch-key-unsigned',
      'policy-dropped',
    ]);
    // onEntry saw every entry in order, from the first.
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen).toEqual(seen.map((_, i) => i));

    // A view whose witness quorum last cosigned long ago is stale: no policy in force (TRU-6).
    const dir = mkdtempSync(join(tmpdir(), 'overt-stale-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const v = await TrusteeVault.open({
      dataDir: join(dir, 't'),
      key: { kind: 'raw', key: randomBytes(32) },
      index: 9,
    });
    cleanups.push(() => v.close());
    const follower = new LogFollower({
      vault: v,
      logUrl: `${fx.url}/log/`,
      anchors: fx.anchors,
      now: () => Date.now() + 3_600_000,
    });
    await follower.update();
    expect(follower.policy()).toBeUndefined();
    expect(follower.problem()).toBe('stale-log');
    expect(v.alerts().map((a) => a.kind)).toEqual(['stale-log']);
  }, 90_000);

  it('three daemons run the DKG for the current and next epoch over the relay mailbox and publish the keys (CER-6, CER-9)', async () => {
    fx = await startRelayFixture();
    cleanups.push(() => fx.close());
    const base = mkdtempSync(join(tmpdir(), 'overt-trustees-'));
    cleanups.push(() => rmSync(base, { recursive: true, force: true }));
    const trustees: RunningTrustee[] = [];
    for (const i of [1, 2, 3]) {
      const t = await startTrustee({
        dataDir: join(base, `trustee-${i}`),
        relayUrl: fx.url,
        index: i,
        port: 0,
        key: { kind: 'raw', key: randomBytes(32) },
        anchors: fx.anchors,
        pollMs: 100,
        idleMs: 300,
        phaseMs: 5_000,
        onCeremonyEvent: (e) =>
          process.env.DEBUG_CER &&
          console.log(
            Date.now() % 100000,
            i,
            e.type,
            'check' in e ? e.check : '',
            'message' in e ? e.message : '',
          ),
      });
      trustees.push(t);
      cleanups.push(() => t.close());
    }
    await fx.publishPolicy(
      fx.policyFor(
        trustees.map((t) => t.vault.identity),
        2,
        1,
      ),
    );
    const current = calendarMonthEpoch(Date.now());
    const epochs = [current, current + 1];
    const started = Date.now();
    await until(
      'every trustee to hold an active share of both epochs',
      async () => {
        for (const t of trustees)
          for (const e of epochs) if ((await t.vault.share(e)) === undefined) return false;
        return true;
      },
      60_000,
    );
    const ms = Date.now() - started;
    for (const e of epochs) {
      const logged = trustees[0]!.log.epochKey(e)!;
      expect(logged.statement.signatures.map((x) => x.index)).toEqual([1, 2, 3]);
      const record = await fx.service.storage.getEpochKey(e);
      expect(record?.transcriptHash).toEqual(logged.statement.transcriptHash);
      for (const t of trustees) {
        const share = (await t.vault.share(e))!;
        expect(share.transcriptHash).toEqual(logged.statement.transcriptHash);
        expect(share.publicKey.groupKey).toEqual(logged.statement.groupKey);
      }
    }
    for (const t of trustees) expect(t.vault.alerts()).toEqual([]);
    const status = await api(trustees[1]!, '/v1/status');
    expect(status.body.shares).toEqual(epochs);
    console.log(`ceremony over the relay: two epochs in ${ms} ms`);
  }, 120_000);

  it('a trustee daemon stopped mid-ceremony and restarted: the session fails, a later attempt makes the key, one share each (CER-3, CER-7, CER-9)', async () => {
    fx = await startRelayFixture();
    cleanups.push(() => fx.close());
    const base = mkdtempSync(join(tmpdir(), 'overt-trustees-'));
    cleanups.push(() => rmSync(base, { recursive: true, force: true }));
    const keys = [1, 2, 3].map(() => randomBytes(32));
    const epoch = calendarMonthEpoch(Date.now());
    const events: string[] = [];
    let crash: (() => void) | undefined;
    const start = (i: number, onJoin?: () => void) =>
      startTrustee({
        dataDir: join(base, `trustee-${i}`),
        relayUrl: fx.url,
        index: i,
        port: 0,
        key: { kind: 'raw', key: keys[i - 1]! },
        anchors: fx.anchors,
        pollMs: 100,
        idleMs: 300,
        phaseMs: 3_000,
        epochs: () => [epoch],
        onCeremonyEvent: (e) => {
          events.push(`${i}:${e.type}${'attempt' in e ? `:${e.attempt}` : ''}`);
          if (e.type === 'joined') onJoin?.();
        },
      });
    const t1 = await start(1);
    cleanups.push(() => t1.close());
    const t2 = await start(2);
    cleanups.push(() => t2.close());
    const crashed = new Promise<void>((r) => {
      crash = r;
    });
    let t3 = await start(3, () => crash?.());
    await fx.publishPolicy(
      fx.policyFor(
        [t1, t2, t3].map((t) => t.vault.identity),
        2,
        1,
      ),
    );
    // Trustee 3 goes down as soon as it joins the first session (its polynomial is lost with it).
    await crashed;
    await t3.close();
    await new Promise((r) => setTimeout(r, 500));
    t3 = await start(3);
    cleanups.push(() => t3.close());
    const trustees = [t1, t2, t3];
    await until(
      'every trustee to hold the epoch share',
      async () => {
        for (const t of trustees) if ((await t.vault.share(epoch)) === undefined) return false;
        return true;
      },
      90_000,
    );
    const logged = t1.log.epochKey(epoch)!.statement;
    expect(logged.signatures.map((x) => x.index)).toEqual([1, 2, 3]);
    for (const t of trustees) {
      expect((await t.vault.share(epoch))!.transcriptHash).toEqual(logged.transcriptHash);
      expect(t.vault.hasPendingShare(epoch, logged.transcriptHash)).toBe(false);
    }
    // The first attempt failed and a later one made the key.
    expect(events).toContain('1:proposed:0');
    expect(events.some((e) => /^1:failed:0$/.test(e))).toBe(true);
    expect(events.some((e) => /^1:proposed:[1-9]/.test(e))).toBe(true);
  }, 150_000);

  it('runs the access half from log entry 0: a pin without accessKey gains it, a new access.sqlite re-reads the log; api.url while listening', async () => {
    const fx = await startRelayFixture();
    cleanups.push(() => fx.close());
    const dir = mkdtempSync(join(tmpdir(), 'overt-trustee-access-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const key = randomBytes(32);
    const start = (anchors: typeof fx.anchors) =>
      startTrustee({
        dataDir: join(dir, 't1'),
        relayUrl: fx.url,
        index: 1,
        port: 0,
        key: { kind: 'raw', key: key.slice() },
        anchors,
        pollMs: 100,
        idleMs: 200,
        epochs: () => [],
        logLine: () => undefined,
      });
    // First start: anchors without the relay's execution key, so no access half; the monitor follows the log.
    const first = await start(fx.anchors);
    expect(readFileSync(join(dir, 't1', 'api.url'), 'utf8').trim()).toBe(first.url);
    expect(first.access).toBeUndefined();
    await fx.publishPolicy(fx.policyFor([first.vault.identity], 1, 1));
    await until('the policy', () => first.log.policy()?.policy.serial === 1);
    const size = first.log.latestCheckpoint()!.size;
    expect(size).toBeGreaterThan(0);
    expect((await api(first, '/v1/status')).body.access).toBeNull();
    await first.close();
    expect(existsSync(join(dir, 't1', 'api.url'))).toBe(false);

    // Second start with accessKey: the pin gains it; access.sqlite is new while the monitor is at `size`, so the
    // monitor reads the log again from entry 0 and the tracker sees every entry.
    const accessKey = toBase64(generateSigningKey().publicKey);
    const second = await start({ ...fx.anchors, accessKey });
    expect(second.access).toBeDefined();
    await until(
      'the tracker to catch up from entry 0',
      () => (second.access?.tracker.nextIndex ?? 0) >= size,
    );
    expect(second.access!.tracker.currentPolicy()?.index).toBeDefined();
    expect(
      ((await api(second, '/v1/status')).body.access as { nextIndex: number }).nextIndex,
    ).toBeGreaterThanOrEqual(size);
    expect((await api(second, '/v1/requests')).body).toEqual({ requests: [] });
    expect(second.vault.alerts()).toEqual([]);
    await second.close();

    // A different execution key than the pinned one is refused (TRU-5).
    await expect(
      start({ ...fx.anchors, accessKey: toBase64(generateSigningKey().publicKey) }),
    ).rejects.toSatisfy(
      (e) => isTrusteeError(e, 'TRUSTEE_STATE') && (e as { check?: string }).check === 'TRU-5',
    );
  }, 60_000);
});
