/**
 * Resharing end to end over real processes' components (access.md §7.5): a real relay and log (sequencer, two
 * witness daemons, quorum 2) and four trustee daemons. Under policy 1 (trustees 1, 2, 3; k = 2) the daemons make
 * the keys of the current and the next epoch; the admin logs policy 2, which replaces trustee 3 by a new trustee
 * (at index 3, with its own keys). The daemons reshare both epochs over the relay's mailbox; the relay takes the
 * statements (same Y, newer policy: STORE-R-2) and serves them; the client's log reader takes them without a
 * KT-9 conflict; the dropped trustee erases its shares (dkg.md §8) and says so; the remaining trustees hold the new
 * shares (CER-9); the relay pruned the mail of finished sessions (MAIL-1). Then a message sealed to Y opens from
 * the new shares of trustee 1 and the new trustee, verified under the statement in force, while a share of the
 * old sharing does not combine with a new one (SHR-10).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirectoryLog, MemoryStore } from '@overt/client';
import {
  combineShares,
  createShare,
  decodeCapsule,
  decodeElement,
  decodeEpochKeyStatement,
  generateSigningKey,
  isOvertError,
  openRecoveredEnvelope,
  randomBytes,
  sealEnvelope,
  type ThresholdPublicKey,
  utf8Decode,
  utf8Encode,
  verifyCapsule,
  verifyShare,
} from '@overt/core';
import { afterEach, describe, expect, it } from 'vitest';
import { fields } from '../../core/test/envelope-fixtures.js';
import { calendarMonthEpoch, type RunningTrustee, startTrustee } from '../src/daemon.js';
import { ORG, startRelayFixture } from './relay-fixture.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
});

async function until(what: string, f: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function keySetOf(statement: Uint8Array): ThresholdPublicKey {
  const s = decodeEpochKeyStatement(statement);
  return {
    threshold: s.threshold,
    groupKey: decodeElement(s.groupKey, 'group key'),
    verificationKeys: s.verificationKeys.map((v) => decodeElement(v, 'verification key')),
  };
}

describe('resharing over the relay (access.md §7.5)', () => {
  it('policy 2 replaces trustee 3: the daemons reshare, the relay and the client take it, trustee 3 erases its shares, a release after it opens', async () => {
    const fx = await startRelayFixture();
    cleanups.push(() => fx.close());
    const base = mkdtempSync(join(tmpdir(), 'overt-reshare-'));
    cleanups.push(() => rmSync(base, { recursive: true, force: true }));
    const start = async (name: string, index: number): Promise<RunningTrustee> => {
      const t = await startTrustee({
        dataDir: join(base, name),
        relayUrl: fx.url,
        index,
        port: 0,
        key: { kind: 'raw', key: randomBytes(32) },
        anchors: fx.anchors,
        pollMs: 100,
        idleMs: 300,
        phaseMs: 5_000,
        logLine: () => undefined,
      });
      cleanups.push(() => t.close());
      return t;
    };
    const [t1, t2, t3] = [await start('t1', 1), await start('t2', 2), await start('t3', 3)];
    await fx.publishPolicy(fx.policyFor([t1!.vault.identity, t2!.vault.identity, t3!.vault.identity], 2, 1));
    const current = calendarMonthEpoch(Date.now());
    const epochs = [current, current + 1];
    await until('every trustee to hold a share of both epochs under policy 1', async () => {
      for (const t of [t1!, t2!, t3!])
        for (const e of epochs) if ((await t.vault.share(e)) === undefined) return false;
      return true;
    });
    const first = new Map<number, { logIndex: number; groupKey: Uint8Array; statement: Uint8Array }>();
    for (const e of epochs) first.set(e, (await fx.service.storage.getEpochKey(e))!);
    const oldShare3 = (await t3!.vault.share(current))!;

    // The new trustee takes index 3 in policy 2 (policy indices are 1..n, directory.md DIR-4).
    const t4 = await start('t4', 3);
    const started = Date.now();
    await fx.publishPolicy(fx.policyFor([t1!.vault.identity, t2!.vault.identity, t4.vault.identity], 2, 2));
    const p2 = () => t1!.log.policy();
    await until('policy 2 on trustee 1', () => p2()?.policy.serial === 2);
    const p2Hash = p2()!.hash;
    await until(
      'the resharing of both epochs on the relay and in the vaults of trustees 1, 2 and the new one',
      async () => {
        for (const e of epochs) {
          const k = await fx.service.storage.getEpochKey(e);
          if (k === undefined || k.logIndex === first.get(e)!.logIndex) return false;
          for (const t of [t1!, t2!, t4]) {
            const share = await t.vault.share(e);
            if (share === undefined || !Buffer.from(share.transcriptHash).equals(k.transcriptHash))
              return false;
          }
        }
        return true;
      },
      120_000,
    );
    const ms = Date.now() - started;

    // The relay: same Y, the policy in force, both statements kept, the latest served (STORE-R-2).
    for (const e of epochs) {
      const k = (await fx.service.storage.getEpochKey(e))!;
      expect(k.groupKey).toEqual(first.get(e)!.groupKey);
      expect(decodeEpochKeyStatement(k.statement).policyHash).toEqual(p2Hash);
      const history = await fx.service.storage.epochKeyHistory(e);
      expect(history.map((h) => h.logIndex)).toEqual([first.get(e)!.logIndex, k.logIndex]);
    }

    // The dropped trustee erased both shares as soon as the resharing was on its view, and says so (dkg.md §8).
    await until('trustee 3 to erase its shares', async () => {
      for (const e of epochs) if ((await t3!.vault.share(e)) !== undefined) return false;
      return true;
    });
    expect(t3!.vault.shareEpochs()).toEqual([]);
    expect(t3!.vault.alerts().map((a) => a.kind)).toEqual(
      expect.arrayContaining(['policy-dropped', 'share-erased']),
    );
    expect(t3!.vault.alerts().filter((a) => a.kind === 'share-erased')).toHaveLength(2);
    for (const t of [t1!, t2!, t4])
      for (const kind of ['share-erased', 'epoch-key-conflict', 'epoch-key-unsigned'])
        expect(t.vault.alerts().map((a) => a.kind)).not.toContain(kind);

    // The client's log reader over the relay's log: the resharing is the statement in force, no KT-9 alert.
    const events: string[] = [];
    const reader = new DirectoryLog({
      anchors: {
        log: {
          origin: fx.anchors.origin,
          url: `${fx.url}/log/`,
          vkey: fx.anchors.logVkey,
          witnessVkeys: fx.anchors.witnessVkeys,
          witnessQuorum: fx.anchors.witnessQuorum,
        },
        adminKey: fx.admin.publicKey,
      },
      orgId: ORG,
      store: new MemoryStore(),
      onEvent: (e) => {
        events.push(e.type);
      },
    });
    await reader.update();
    expect(events).toEqual(['policy-changed']);
    for (const e of epochs) {
      expect(await reader.epochConflict(e)).toBeUndefined();
      expect(await reader.epochKeyIndex(e)).toBe(first.get(e)!.logIndex);
      const inForce = (await fx.service.storage.getEpochKey(e))!;
      expect(await reader.epochKeyInForceIndex(e)).toBe(inForce.logIndex);
      expect((await reader.epochKeyAt(inForce.logIndex))?.groupKey).toEqual(first.get(e)!.groupKey);
    }

    // MAIL-1: the second resharing statement pruned every mail stored before the first one was logged.
    const seqs = new Set<number>();
    for (const j of [1, 2, 3])
      for (const m of await fx.service.storage.access.readMail(j, 0, 1000)) seqs.add(m.seq);
    expect(seqs.size).toBeGreaterThan(0);
    expect(Math.min(...seqs)).toBeGreaterThan(1);

    // A message sealed to Y this epoch opens from the new shares of trustee 1 and the new trustee, each verified
    // under the statement in force; trustee 3's old share does not combine with a new one (SHR-10).
    const inForce = (await fx.service.storage.getEpochKey(current))!;
    const keySet = keySetOf(inForce.statement);
    const oldKeySet = keySetOf(first.get(current)!.statement);
    const sealed = await sealEnvelope(
      fields({ orgId: ORG, epoch: current, sendTime: Date.now() }),
      utf8Encode('after the resharing'),
      keySet.groupKey,
      generateSigningKey(),
    );
    const capsule = verifyCapsule(keySet.groupKey, decodeCapsule(sealed.capsule), sealed.label);
    const newShares = [];
    for (const t of [t1!, t4]) {
      const held = (await t.vault.share(current))!;
      newShares.push(verifyShare(keySet, capsule, createShare(held.share, capsule)));
    }
    const key = combineShares(capsule, newShares, keySet);
    const opened = await openRecoveredEnvelope(sealed.envelope, capsule, key);
    expect(utf8Decode(opened.payload)).toBe('after the resharing');
    const stale = verifyShare(oldKeySet, capsule, createShare(oldShare3.share, capsule));
    expect(() => verifyShare(keySet, capsule, createShare(oldShare3.share, capsule))).toThrow();
    let code: string | undefined;
    try {
      combineShares(capsule, [newShares[0]!, stale], keySet);
    } catch (e) {
      if (isOvertError(e)) code = e.code;
    }
    expect(code).toBe('SHARE_WRONG_KEY_SET');
    console.log(`resharing over the relay: two epochs in ${ms} ms after policy 2 was logged`);
  }, 240_000);
});
