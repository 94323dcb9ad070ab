// The requester's half of accountable access end to end (docs/spec/access.md §2, §4, §8; evidence.md) over the
// real relay, its real Sequencer-backed log cosigned by two real witness daemons, and the client's
// AccessRelayClient: the requester builds, seals and files a request; a trustee opens its sealed confidential part
// (ACC-1); two trustees approve and the relay executes; the two trustees release HPKE-sealed share bundles of
// real decryption shares of a real 2-of-3 sharing (ACC-2); the requester collects from the relay and a log view
// read over HTTP (checkpoint verified under the witness quorum), opens every message to its text or file, and
// writes an evidence bundle with tlog-proof receipts built from the log's tiles, which verifies offline.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AccessRelayClient,
  buildEvidenceFiles,
  buildRequest,
  collectFromRelay,
  type EvidenceAnchors,
  encodeFileContent,
  evidenceIndices,
  evidenceReceipts,
  FILE_CONTENT_TYPE,
  fileRequest,
} from '@overt/client';
import { verifyEvidenceAt, writeEvidenceArchive } from '@overt/client/node';
import {
  type BundleShare,
  createShare,
  decisionFor,
  decisionsOnLog,
  decodeCapsule,
  decodeEnvelopeHead,
  openConfidential,
  type Policy,
  releaseFor,
  type SealedEnvelope,
  sealEnvelope,
  sealShareBundle,
  sha256,
  signDecision,
  signEpochKeyStatement,
  signingKeyFromSeed,
  signPolicy,
  signRelease,
  toBase64,
  toBase64Url,
  utf8Decode,
  utf8Encode,
  type VerifiedPolicy,
  verifyCapsule,
  verifyExecution,
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
  TileHashReader,
  type VerifiedCheckpoint,
  verifierKeyOf,
  verifyCheckpoint,
} from '@overt/log';
import type { LogWitness } from '@overt/log/service';
import { type RunningWitness, startWitnessDaemon, submitToWitness } from '@overt/witness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hpkeKeys, keySet, keyShares } from '../../../core/test/access-fixtures.js';
import {
  createConversation,
  type Harness,
  LOG_ORIGIN,
  ORG,
  startHarness,
  TRUSTEE_KEYS,
  testPolicy,
  textFields,
} from '../../test/harness.js';
import { calendarMonthEpoch } from '../epochs.js';

const EPOCH = calendarMonthEpoch(Date.now());
const REQUESTER_KEY = signingKeyFromSeed(new Uint8Array(32).fill(0x94));
const HOUR = 3_600_000;

let dir: string;
let h: Harness;
let witnesses: RunningWitness[];
let logPolicy: LogPolicy;
let anchors: EvidenceAnchors;
let policy: VerifiedPolicy;
let keys: Awaited<ReturnType<typeof hpkeKeys>>;
const sent: {
  sealed: SealedEnvelope;
  text?: string;
  file?: { name: string; contentType: string; data: Uint8Array };
}[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'overt-access-requester-'));
  const logKey = generateSignerKey(LOG_ORIGIN);
  const logVerifier = verifierKeyOf(logKey);
  witnesses = [];
  for (const name of ['w1.test', 'w2.test'])
    witnesses.push(
      await startWitnessDaemon({
        dataDir: join(dir, name),
        name,
        logs: [{ origin: LOG_ORIGIN, keys: [logVerifier] }],
      }),
    );
  const wkeys = witnesses.map((w) => parseVerifierKey(w.vkey));
  const logWitnesses: LogWitness[] = witnesses.map((w, i) => ({
    key: wkeys[i]!,
    addCheckpoint: (note, oldSize, prove, signal) =>
      submitToWitness(w.url, note, oldSize, prove, { witnessKey: wkeys[i]!, signal }),
  }));
  logPolicy = { origin: LOG_ORIGIN, logKeys: [logVerifier], witnesses: makeWitnessPolicy(wkeys, 2) };
  h = await startHarness({
    logKey,
    witnesses: logWitnesses,
    witnessQuorum: 2,
    heartbeatMs: 200,
    rateLimits: {
      principal: { capacity: 100_000, refillPerSecond: 100_000 },
      address: { capacity: 100_000, refillPerSecond: 100_000 },
    },
  });
  anchors = {
    org: ORG,
    orgKey: h.adminKey.publicKey,
    relayKey: h.accessKey!.publicKey,
    log: {
      origin: LOG_ORIGIN,
      vkey: formatVerifierKey(logVerifier),
      witnessVkeys: witnesses.map((w) => w.vkey),
      witnessQuorum: 2,
    },
  };
  keys = await hpkeKeys();
  const p: Policy = testPolicy(ORG, {
    trustees: TRUSTEE_KEYS.map((k, i) => ({
      index: i + 1,
      name: `Trustee ${i + 1}`,
      signingKey: k.publicKey,
      encryptionKey: keys.trustees[i]!.publicKey,
    })),
    requesters: [
      {
        id: 'requester',
        name: 'Requester',
        signingKey: REQUESTER_KEY.publicKey,
        encryptionKey: keys.requester.publicKey,
      },
    ],
  });
  const signedPolicy = signPolicy(p, h.adminKey);
  expect(
    (await h.admin.request('POST', '/v1/admin/policies', { statement: toBase64(signedPolicy) })).status,
  ).toBe(201);
  policy = verifyPolicy(signedPolicy, h.adminKey.publicKey);
  // The trustees' key of this month: a real 2-of-3 sharing whose shares trustees 1 and 2 hold below.
  const statement = signEpochKeyStatement(
    {
      orgId: ORG,
      epoch: EPOCH,
      policyHash: policy.hash,
      threshold: 2,
      groupKey: keySet.groupKey,
      verificationKeys: keySet.verificationKeys,
      transcriptHash: sha256(utf8Encode('transcript')),
      sessionId: sha256(utf8Encode('session')),
      time: Date.now(),
    },
    TRUSTEE_KEYS.slice(0, 2).map((key, i) => ({ index: i + 1, key })),
  );
  const t1 = new AccessRelayClient({
    url: h.url,
    signer: { kind: 'trustee', index: 1, key: TRUSTEE_KEYS[0]! },
  });
  expect((await t1.publishEpochKey(statement)).created).toBe(true);
  const alice = await h.enrol('alice', 'alice-phone');
  const bob = await h.enrol('bob', 'bob-phone');
  const { groupId } = await createConversation(alice, [bob]);
  const file = { name: 'minutes.txt', contentType: 'text/plain', data: utf8Encode('Board minutes, draft 3') };
  const messages: { text?: string; file?: typeof file }[] = [
    { text: 'meet at nine' },
    { file },
    { text: 'bring the numbers' },
  ];
  for (const m of messages) {
    const isFile = m.file !== undefined;
    const f = textFields(EPOCH, {
      conversationId: groupId,
      ...(isFile ? { contentType: FILE_CONTENT_TYPE } : {}),
    });
    const sealed = await sealEnvelope(
      f,
      m.file !== undefined ? encodeFileContent(m.file) : utf8Encode(m.text!),
      keySet.groupKey,
      alice.key,
    );
    const r = await alice.request(
      'PUT',
      `/v1/envelopes/${toBase64Url(sealed.header.messageId)}`,
      sealed.envelope,
    );
    expect(r.status).toBe(201);
    sent.push({ sealed, ...m });
  }
});

afterAll(async () => {
  await h?.close();
  for (const w of witnesses ?? []) await w.close();
  rmSync(dir, { recursive: true, force: true });
});

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (r.status !== 200) throw new Error(`${url}: ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

/** The log's published checkpoint once it covers `size` entries and the witness quorum cosigned it. */
async function cosignedCheckpoint(size: number): Promise<{ note: string; checkpoint: VerifiedCheckpoint }> {
  for (let i = 0; i < 400; i++) {
    const note = utf8Decode(await fetchBytes(`${h.url}/log/checkpoint`));
    try {
      const checkpoint = verifyCheckpoint(note, logPolicy);
      if (checkpoint.size >= size) return { note, checkpoint };
    } catch {}
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('no cosigned checkpoint');
}

/** Every entry below `size`, read from the log's entry bundles over HTTP. */
async function entriesOverHttp(size: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (let index = 0; index * 256 < size; index++) {
    const width = Math.min(256, size - index * 256);
    out.push(
      ...decodeEntryBundle(await fetchBytes(`${h.url}/log/${entryBundlePath({ index, width })}`), width),
    );
  }
  return out;
}

describe("the requester's half, end to end (access.md §8, evidence.md)", () => {
  it('files, gets executed and released, collects every message and writes evidence that verifies offline', async () => {
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
      documentHash: sha256(utf8Encode('order')),
      subjects: ['bob'],
      window: { from: now - HOUR, until: now + HOUR },
      maxEnvelopes: 100,
      sealUntil: now + 1000,
      createdAt: now,
      confidential: { justification: 'suspected fraud', caseReference: 'case 7' },
    });
    const requestId = built.verified.request.requestId;
    const filed = await fileRequest(requester, built);
    expect(filed.requestId).toEqual(requestId);

    // ACC-1: each trustee opens its own sealed part, as the relay serves it.
    const trustees = [1, 2, 3].map(
      (index) =>
        new AccessRelayClient({
          url: h.url,
          signer: { kind: 'trustee', index, key: TRUSTEE_KEYS[index - 1]! },
        }),
    );
    for (const i of [1, 2, 3]) {
      const sealed = await trustees[i - 1]!.sealedPart(requestId);
      const opening = await openConfidential(keys.trustees[i - 1]!.secretKey, i, built.verified, sealed);
      expect(opening.confidential.justification).toBe('suspected fraud');
    }

    // Two approvals: the relay executes.
    for (const i of [1, 2])
      await trustees[i - 1]!.submitDecision(
        signDecision(decisionFor(built.verified, i, 'approve', Date.now()), TRUSTEE_KEYS[i - 1]!),
      );
    const view = await requester.getRequest(requestId);
    expect(view.status).toBe('executed');
    const exec = view.execution!;

    // Trustees 1 and 2 release batch 0 (a stand-in for the trustee daemon: the shares are real).
    const decisions = view.decisions.map((d) => Uint8Array.of(6, ...d.decision));
    const execution = verifyExecution(
      exec.execution,
      h.accessKey!.publicKey,
      policy,
      built.verified,
      decisionsOnLog(policy, built.verified, decisions),
    );
    const page = await trustees[0]!.envelopes(requestId, 0, 100);
    expect(page.items).toHaveLength(3);
    for (const t of [1, 2]) {
      const shares: BundleShare[] = page.items.map((e) => {
        const head = decodeEnvelopeHead(e.head);
        const capsule = verifyCapsule(keySet.groupKey, decodeCapsule(head.capsule), head.label);
        return { position: e.position, label: head.label, share: createShare(keyShares[t - 1]!, capsule) };
      });
      const bundle = await sealShareBundle(keys.requester.publicKey, {
        requestId,
        executionHash: execution.hash,
        trusteeIndex: t,
        batch: 0,
        shares,
      });
      const release = signRelease(
        releaseFor(execution, t, shares.length, bundle, Date.now()),
        TRUSTEE_KEYS[t - 1]!,
      );
      await trustees[t - 1]!.submitRelease(release, bundle, 0);
    }

    // The requester: a log view read over HTTP under the witnessed checkpoint, then collect.
    const last = (await requester.getRequest(requestId)).releases.reduce((m, r) => Math.max(m, r.index), 0);
    const { note, checkpoint } = await cosignedCheckpoint(last + 1);
    const entries = await entriesOverHttp(checkpoint.size);
    const collected = await collectFromRelay(requester, {
      orgKey: h.adminKey.publicKey,
      relayKey: h.accessKey!.publicKey,
      requestId,
      log: { checkpoint, entries },
      secretKey: keys.requester.secretKey,
      strict: true,
    });
    expect(collected.verdicts.map((v) => v.ok)).toEqual([true, true, true]);
    const shown = collected.verdicts.map((v) =>
      v.ok ? (v.content.fileName ?? utf8Decode(v.content.payload)) : undefined,
    );
    expect(shown.sort()).toEqual(['bring the numbers', 'meet at nine', 'minutes.txt']);

    // Evidence: receipts from the log's tiles over HTTP, written as one archive, verified offline.
    const reader = new TileHashReader(checkpoint.size, (path) => fetchBytes(`${h.url}/log/${path}`));
    const receipts = await evidenceReceipts(evidenceIndices(collected), note, reader);
    const files = buildEvidenceFiles({
      collected,
      anchors,
      checkpoint: note,
      receipts,
      signingKey: REQUESTER_KEY,
      createdAt: Date.now(),
    });
    const archive = join(dir, 'case.overt-evidence');
    await writeEvidenceArchive(archive, files);
    const report = await verifyEvidenceAt(archive, { anchors });
    expect(report.failures).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.messages.map((m) => m.status)).toEqual(['verified', 'verified', 'verified']);
    expect(report.checkpoint?.witnesses).toEqual(['w1.test', 'w2.test']);
  });
});
