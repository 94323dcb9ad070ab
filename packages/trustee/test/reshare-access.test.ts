/**
 * An access release after a resharing, end to end (access.md §7.5, §8): the server's test relay with its
 * Sequencer-backed log cosigned by two real witness daemons and an execution key, and three trustee daemons with
 * their access halves. Policy 1 (trustees 1, 2, 3; k = 2): the daemons make this month's key. Policy 2 replaces
 * trustee 3 by a new daemon: the daemons reshare, the relay takes the statement (STORE-R-2). Then alice sends two
 * messages sealed to Y, the requester files a request under policy 2, trustee 1 and the new trustee approve through
 * their operator APIs, the relay executes, both daemons release with their new shares (the release rule), and
 * the requester's collect verifies every share against the statement in force at its release (ACC-A10) and opens
 * every message, from a log view read over HTTP under the witness quorum.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessRelayClient, buildRequest, collectFromRelay, fileRequest } from '@overt/client';
import {
  generateDkgEncryptionKey,
  type Policy,
  randomBytes,
  sealEnvelope,
  signingKeyFromSeed,
  signPolicy,
  toBase64,
  toBase64Url,
  utf8Decode,
  utf8Encode,
  verifyPolicy,
} from '@overt/core';
import {
  decodeEntryBundle,
  entryBundlePath,
  formatVerifierKey,
  generateSignerKey,
  type LogPolicy,
  makeWitnessPolicy,
  parseVerifierKey,
  verifierKeyOf,
  verifyCheckpoint,
} from '@overt/log';
import type { LogWitness } from '@overt/log/service';
import { type RunningWitness, startWitnessDaemon, submitToWitness } from '@overt/witness';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createConversation,
  LOG_ORIGIN,
  ORG,
  startHarness,
  testPolicy,
  textFields,
} from '../../server/test/harness.js';
import { calendarMonthEpoch, type RunningTrustee, startTrustee } from '../src/daemon.js';

const REQUESTER_KEY = signingKeyFromSeed(new Uint8Array(32).fill(0x95));
const HOUR = 3_600_000;

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

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (r.status !== 200) throw new Error(`${url}: ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function operator(t: RunningTrustee, method: string, path: string, body?: unknown) {
  const r = await fetch(`${t.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${t.apiToken}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

describe('an access release after a resharing (access.md §7.5)', () => {
  it('the daemons reshare, then release with their new shares; the requester verifies them under the statement in force and opens every message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'overt-reshare-access-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const logKey = generateSignerKey(LOG_ORIGIN);
    const logVerifier = verifierKeyOf(logKey);
    const witnesses: RunningWitness[] = [];
    for (const name of ['w1.test', 'w2.test']) {
      const w = await startWitnessDaemon({
        dataDir: join(dir, name),
        name,
        logs: [{ origin: LOG_ORIGIN, keys: [logVerifier] }],
      });
      witnesses.push(w);
      cleanups.push(() => w.close());
    }
    const wkeys = witnesses.map((w) => parseVerifierKey(w.vkey));
    const logWitnesses: LogWitness[] = witnesses.map((w, i) => ({
      key: wkeys[i]!,
      addCheckpoint: (note, oldSize, prove, signal) =>
        submitToWitness(w.url, note, oldSize, prove, { witnessKey: wkeys[i]!, signal }),
    }));
    const logPolicy: LogPolicy = {
      origin: LOG_ORIGIN,
      logKeys: [logVerifier],
      witnesses: makeWitnessPolicy(wkeys, 2),
    };
    const h = await startHarness({
      logKey,
      witnesses: logWitnesses,
      witnessQuorum: 2,
      heartbeatMs: 200,
      rateLimits: {
        principal: { capacity: 100_000, refillPerSecond: 100_000 },
        address: { capacity: 100_000, refillPerSecond: 100_000 },
      },
    });
    cleanups.push(() => h.close());
    const anchors = {
      origin: LOG_ORIGIN,
      logVkey: formatVerifierKey(logVerifier),
      witnessVkeys: witnesses.map((w) => w.vkey),
      witnessQuorum: 2,
      adminKey: toBase64(h.adminKey.publicKey),
      accessKey: toBase64(h.accessKey!.publicKey),
    };
    const epoch = calendarMonthEpoch(Date.now());
    const start = async (name: string, index: number): Promise<RunningTrustee> => {
      const t = await startTrustee({
        dataDir: join(dir, name),
        relayUrl: h.url,
        index,
        port: 0,
        key: { kind: 'raw', key: randomBytes(32) },
        anchors,
        pollMs: 100,
        idleMs: 300,
        phaseMs: 5_000,
        epochs: () => [epoch],
        logLine: () => undefined,
      });
      cleanups.push(() => t.close());
      return t;
    };
    const requesterHpke = await generateDkgEncryptionKey();
    const policyOf = (serial: number, trustees: readonly RunningTrustee[]): Policy =>
      testPolicy(ORG, {
        serial,
        trustees: trustees.map((t, i) => ({
          index: i + 1,
          name: `Trustee ${i + 1}`,
          signingKey: Buffer.from(t.vault.identity.signingKey, 'base64'),
          encryptionKey: Buffer.from(t.vault.identity.hpkeKey, 'base64'),
        })),
        witnesses: wkeys
          .map((k) => ({ name: k.name, signingKey: k.publicKey }))
          .sort((a, b) => (a.name < b.name ? -1 : 1)),
        requesters: [
          {
            id: 'requester',
            name: 'Requester',
            signingKey: REQUESTER_KEY.publicKey,
            encryptionKey: requesterHpke.publicKey,
          },
        ],
      });
    const publish = async (p: Policy) => {
      const signed = signPolicy(p, h.adminKey);
      const r = await h.admin.request('POST', '/v1/admin/policies', { statement: toBase64(signed) });
      expect(r.status).toBe(201);
      return verifyPolicy(signed, h.adminKey.publicKey);
    };

    const t1 = await start('t1', 1);
    const t2 = await start('t2', 2);
    const t3 = await start('t3', 3);
    await publish(policyOf(1, [t1, t2, t3]));
    await until('the key of this epoch in every vault', async () => {
      for (const t of [t1, t2, t3]) if ((await t.vault.share(epoch)) === undefined) return false;
      return true;
    });
    const first = (await h.relay.storage.getEpochKey(epoch))!;
    const t4 = await start('t4', 3);
    const policy = await publish(policyOf(2, [t1, t2, t4]));
    await until(
      'the resharing on the relay and in the new vaults',
      async () => {
        const k = await h.relay.storage.getEpochKey(epoch);
        if (k === undefined || k.logIndex === first.logIndex) return false;
        for (const t of [t1, t2, t4]) {
          const s = await t.vault.share(epoch);
          if (s === undefined || !Buffer.from(s.transcriptHash).equals(k.transcriptHash)) return false;
        }
        return true;
      },
      120_000,
    );
    const reshared = (await h.relay.storage.getEpochKey(epoch))!;
    expect(reshared.groupKey).toEqual(first.groupKey);

    // Alice writes to bob, sealed to Y (the same before and after the resharing).
    const alice = await h.enrol('alice', 'alice-phone');
    const bob = await h.enrol('bob', 'bob-phone');
    const { groupId } = await createConversation(alice, [bob]);
    const texts = ['meet at nine', 'bring the numbers'];
    for (const text of texts) {
      const sealed = await sealEnvelope(
        textFields(epoch, { conversationId: groupId }),
        utf8Encode(text),
        reshared.groupKey as Parameters<typeof sealEnvelope>[2],
        alice.key,
      );
      const r = await alice.request(
        'PUT',
        `/v1/envelopes/${toBase64Url(sealed.header.messageId)}`,
        sealed.envelope,
      );
      expect(r.status).toBe(201);
    }

    // The requester files under policy 2; trustee 1 and the new trustee approve through their operator APIs.
    const requester = new AccessRelayClient({
      url: h.url,
      signer: { kind: 'requester', id: 'requester', key: REQUESTER_KEY },
    });
    const now = Date.now();
    const built = await buildRequest({
      policy,
      requesterId: 'requester',
      signingKey: REQUESTER_KEY,
      legalBasis: 'Court order 12/2026',
      documentHash: randomBytes(32),
      subjects: ['bob'],
      window: { from: now - HOUR, until: now + HOUR },
      maxEnvelopes: 100,
      sealUntil: now + 1000,
      createdAt: now,
      confidential: { justification: 'suspected fraud', caseReference: 'case 9' },
    });
    const requestId = built.verified.request.requestId;
    await fileRequest(requester, built);
    const id = toBase64Url(requestId);
    for (const t of [t1, t4]) {
      await until(`trustee ${t.index} to see the request`, async () => {
        const r = await operator(t, 'GET', `/v1/requests/${id}`);
        return r.status === 200;
      });
      const r = await operator(t, 'POST', `/v1/requests/${id}/decision`, { verdict: 'approve' });
      expect(r.status).toBe(200);
    }
    await until(
      'both daemons to release',
      async () => (await requester.getRequest(requestId)).releases.length === 2,
      60_000,
    );
    const view = await requester.getRequest(requestId);
    const last = view.releases.reduce((m, r) => Math.max(m, r.index), 0);
    expect(Math.min(...view.releases.map((r) => r.index))).toBeGreaterThan(reshared.logIndex);

    // The requester: a log view over HTTP under the witnessed checkpoint; every share checked and combined.
    let checkpoint: ReturnType<typeof verifyCheckpoint> | undefined;
    await until('a cosigned checkpoint covering the releases', async () => {
      try {
        const c = verifyCheckpoint(utf8Decode(await fetchBytes(`${h.url}/log/checkpoint`)), logPolicy);
        if (c.size > last) checkpoint = c;
      } catch {}
      return checkpoint !== undefined;
    });
    const entries: Uint8Array[] = [];
    for (let index = 0; index * 256 < checkpoint!.size; index++) {
      const width = Math.min(256, checkpoint!.size - index * 256);
      entries.push(
        ...decodeEntryBundle(await fetchBytes(`${h.url}/log/${entryBundlePath({ index, width })}`), width),
      );
    }
    const collected = await collectFromRelay(requester, {
      orgKey: h.adminKey.publicKey,
      relayKey: h.accessKey!.publicKey,
      requestId,
      log: { checkpoint: checkpoint!, entries },
      secretKey: requesterHpke.secretKey,
      strict: true,
    });
    expect(collected.verdicts.map((v) => v.ok)).toEqual([true, true]);
    for (const v of collected.verdicts) {
      if (!v.ok) continue;
      expect(v.epochKeyIndex).toBe(reshared.logIndex);
      expect(v.trustees).toEqual([1, 3]);
    }
    expect(collected.verdicts.map((v) => (v.ok ? utf8Decode(v.content.payload) : '')).sort()).toEqual(
      [...texts].sort(),
    );
    // The dropped trustee erased its share (CER-10).
    await until('trustee 3 to erase its share', async () => (await t3.vault.share(epoch)) === undefined);
  }, 240_000);
});
