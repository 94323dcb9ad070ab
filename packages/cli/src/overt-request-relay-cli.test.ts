/**
 * The requester's commands end to end over the real relay, its Sequencer-backed log cosigned by two real witness
 * daemons (the server's test harness, as packages/server/src/http/relay-access-requester.test.ts): `overt request
 * file` with a requester key file (keys derived by the server's requesterKeysFromSecret), `request status` pending
 * then executed with two releases, `request collect` (every message opened; a bad share named by its trustee),
 * `request open --case` writing the evidence directory and archive, `evidence verify` passing, then failing on a
 * flipped byte and naming the file. The trustees' part is done here with core (a stand-in for the trustee daemons,
 * whose shares are real: a real 2-of-3 sharing) until the daemons run in `npm start` (docs/spec/cli.md §9).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessRelayClient } from '@overt/client';
import {
  type BundleShare,
  createShare,
  decisionFor,
  decisionsOnLog,
  decodeCapsule,
  decodeEnvelopeHead,
  decodeRequest,
  decodeSigned,
  fromBase64Url,
  openConfidential,
  type Policy,
  releaseFor,
  sealEnvelope,
  sealShareBundle,
  sha256,
  signDecision,
  signEpochKeyStatement,
  signPolicy,
  signRelease,
  toBase64,
  toBase64Url,
  utf8Encode,
  type VerifiedPolicy,
  verifyCapsule,
  verifyExecution,
  verifyPolicy,
  verifyRequest,
} from '@overt/core';
import { formatVerifierKey, generateSignerKey, parseVerifierKey, verifierKeyOf } from '@overt/log';
import type { LogWitness } from '@overt/log/service';
import { calendarMonthEpoch } from '@overt/server';
import { requesterKeysFromSecret } from '@overt/up';
import { type RunningWitness, startWitnessDaemon, submitToWitness } from '@overt/witness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hpkeKeys, keySet, keyShares } from '../../core/test/access-fixtures.js';
import {
  createConversation,
  type Harness,
  LOG_ORIGIN,
  ORG,
  startHarness,
  TRUSTEE_KEYS,
  testPolicy,
  textFields,
} from '../../server/test/harness.js';
import { runInProcess } from '../test/run-cli.js';

const HOUR = 3_600_000;

let dir: string;
let h: Harness;
let witnesses: RunningWitness[];
let policy: VerifiedPolicy;
let keys: Awaited<ReturnType<typeof hpkeKeys>>;
let requesterHpke: Uint8Array;
const keyFile = () => join(dir, 'requester.key');
const anchorsFile = () => join(dir, 'org.json');
const base = () => ['--relay', h.url, '--requester-key', keyFile(), '--org-anchors', anchorsFile()];

async function json(args: string[]): Promise<Record<string, unknown>> {
  const r = await runInProcess([...args, '--json']);
  if (r.code !== 0) throw new Error(`overt ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'overt-request-relay-'));
  const secret = new Uint8Array(32).fill(0x5a);
  writeFileSync(keyFile(), secret, { mode: 0o600 });
  const requester = await requesterKeysFromSecret(secret);
  requesterHpke = requester.encryption.publicKey;

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
  // The org's anchors as /.well-known/overt gives them, pinned by the requester (--org-anchors).
  writeFileSync(
    anchorsFile(),
    JSON.stringify({
      org: ORG,
      admin_key: toBase64(h.adminKey.publicKey),
      log: {
        origin: LOG_ORIGIN,
        url: `${h.url}/log/`,
        vkey: formatVerifierKey(logVerifier),
        witness_vkeys: witnesses.map((w) => w.vkey),
        witness_quorum: 2,
      },
      accessKey: toBase64(h.accessKey!.publicKey),
    }),
  );
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
        id: 'police',
        name: 'Police',
        signingKey: requester.signingKey.publicKey,
        encryptionKey: requester.encryption.publicKey,
      },
    ],
  });
  requester.encryption.secretKey.fill(0);
  const signedPolicy = signPolicy(p, h.adminKey);
  expect(
    (await h.admin.request('POST', '/v1/admin/policies', { statement: toBase64(signedPolicy) })).status,
  ).toBe(201);
  policy = verifyPolicy(signedPolicy, h.adminKey.publicKey);
  const epoch = calendarMonthEpoch(Date.now());
  const statement = signEpochKeyStatement(
    {
      orgId: ORG,
      epoch,
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
  for (const text of ['meet at nine', 'bring the numbers']) {
    const sealed = await sealEnvelope(
      textFields(epoch, { conversationId: groupId }),
      utf8Encode(text),
      keySet.groupKey,
      alice.key,
    );
    const r = await alice.request(
      'PUT',
      `/v1/envelopes/${toBase64Url(sealed.header.messageId)}`,
      sealed.envelope,
    );
    expect(r.status).toBe(201);
  }
}, 60_000);

afterAll(async () => {
  await h?.close();
  for (const w of witnesses ?? []) await w.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Trustees 1..3 as the relay knows them. */
const trustee = (i: number) =>
  new AccessRelayClient({ url: h.url, signer: { kind: 'trustee', index: i, key: TRUSTEE_KEYS[i - 1]! } });

/** Files a request for bob's messages with the CLI; returns its id. */
async function file(): Promise<string> {
  const now = Date.now();
  const filed = await json([
    'request',
    'file',
    ...base(),
    '--subject',
    'bob',
    '--from',
    new Date(now - HOUR).toISOString(),
    '--until',
    new Date(now + HOUR).toISOString(),
    '--seal-until',
    new Date(now + 12 * HOUR).toISOString(),
    '--legal-basis',
    'Court order 12/2026',
    '--document-hash',
    'ab'.repeat(32),
    '--justification',
    'suspected fraud',
    '--case-ref',
    'case 7',
  ]);
  expect(filed).toMatchObject({ ok: true, requester: 'police', anchors: 'file' });
  return filed.requestId as string;
}

/** Trustees 1 and 2 open their sealed parts, approve, and release batch 0 (`tamper` may spoil a share). */
async function approveAndRelease(id: string, tamper?: (t: number, shares: BundleShare[]) => BundleShare[]) {
  const requestId = fromBase64Url(id);
  const view = await trustee(1).getRequest(requestId);
  const request = verifyRequest(view.request, policy);
  expect(
    decodeRequest(decodeSigned(view.request, 1 << 24, 'REQUEST_INVALID', 'WF-R1').body).requesterId,
  ).toBe('police');
  for (const i of [1, 2]) {
    const opening = await openConfidential(
      keys.trustees[i - 1]!.secretKey,
      i,
      request,
      await trustee(i).sealedPart(requestId),
    );
    expect(opening.confidential).toEqual({ justification: 'suspected fraud', caseReference: 'case 7' });
    await trustee(i).submitDecision(
      signDecision(decisionFor(request, i, 'approve', Date.now()), TRUSTEE_KEYS[i - 1]!),
    );
  }
  const executed = await trustee(1).getRequest(requestId);
  expect(executed.status).toBe('executed');
  const execution = verifyExecution(
    executed.execution!.execution,
    h.accessKey!.publicKey,
    policy,
    request,
    decisionsOnLog(
      policy,
      request,
      executed.decisions.map((d) => Uint8Array.of(6, ...d.decision)),
    ),
  );
  const page = await trustee(1).envelopes(requestId, 0, 100);
  for (const t of [1, 2]) {
    let shares: BundleShare[] = page.items.map((e) => {
      const head = decodeEnvelopeHead(e.head);
      const capsule = verifyCapsule(keySet.groupKey, decodeCapsule(head.capsule), head.label);
      return { position: e.position, label: head.label, share: createShare(keyShares[t - 1]!, capsule) };
    });
    if (tamper) shares = tamper(t, shares);
    const bundle = await sealShareBundle(requesterHpke, {
      requestId,
      executionHash: execution.hash,
      trusteeIndex: t,
      batch: 0,
      shares,
    });
    await trustee(t).submitRelease(
      signRelease(releaseFor(execution, t, shares.length, bundle, Date.now()), TRUSTEE_KEYS[t - 1]!),
      bundle,
      0,
    );
  }
}

describe('overt request and overt evidence over the real relay, log and witnesses', () => {
  it('file → pending → 2 approvals and releases → executed → collect → open → evidence verify → a flipped byte fails', async () => {
    const id = await file();
    expect(await json(['request', 'status', id, ...base()])).toMatchObject({
      status: 'pending',
      decisions: [],
      execution: null,
    });

    await approveAndRelease(id);
    const status = await json(['request', 'status', id, ...base()]);
    expect(status).toMatchObject({
      status: 'executed',
      relayStatus: 'executed',
      execution: { envelopes: 2 },
      refusals: [],
      unlisted: 0,
    });
    expect(
      (status.decisions as { trustee: number; verdict: string }[]).map((d) => [d.trustee, d.verdict]),
    ).toEqual([
      [1, 'approve'],
      [2, 'approve'],
    ]);
    expect(
      (status.releases as { trustee: number; shares: number }[]).map((r) => [r.trustee, r.shares]),
    ).toEqual([
      [1, 2],
      [2, 2],
    ]);

    const caseDir = join(dir, 'case');
    const collected = await json(['request', 'collect', id, ...base(), '--out', caseDir]);
    expect(collected).toMatchObject({ ok: true, envelopes: 2, opened: 2, failed: 0, badTrustees: [] });
    // collect writes no plaintext.
    const caseText = ['case.json', 'log.bin'].map((f) => readFileSync(join(caseDir, f), 'latin1')).join('');
    expect(caseText).not.toContain('meet at nine');

    const evidence = join(dir, 'evidence');
    const archive = join(dir, 'evidence.overt');
    const opened = await json([
      'request',
      'open',
      id,
      ...base(),
      '--case',
      caseDir,
      '--out',
      evidence,
      '--archive',
      archive,
    ]);
    expect(opened).toMatchObject({ ok: true, verified: true, opened: 2, failures: [] });
    const texts = [0, 1].map((p) => readFileSync(join(evidence, 'messages', String(p), 'text.txt'), 'utf8'));
    expect(texts.sort()).toEqual(['bring the numbers', 'meet at nine']);

    for (const target of [evidence, archive])
      expect(await json(['evidence', 'verify', target, '--org-anchors', anchorsFile()])).toMatchObject({
        ok: true,
        anchorsPinned: true,
      });

    const target = join(evidence, 'messages', '1', 'text.txt');
    const bytes = readFileSync(target);
    bytes[0]! ^= 1;
    writeFileSync(target, bytes);
    const bad = await runInProcess(['evidence', 'verify', evidence, '--org-anchors', anchorsFile()]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^FAILED/);
    expect(bad.stdout).toContain('messages/1/text.txt');
  }, 120_000);

  it('collect names the trustee whose share is bad, and open refuses to write that evidence', async () => {
    const id = await file();
    // Trustee 2 releases, for position 1, its share of position 0.
    await approveAndRelease(id, (t, shares) =>
      t === 2 ? shares.map((s, i) => (i === 1 ? { ...s, share: shares[0]!.share } : s)) : shares,
    );
    const r = await runInProcess([
      'request',
      'collect',
      id,
      ...base(),
      '--out',
      join(dir, 'bad-case'),
      '--json',
    ]);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ ok: false, opened: 1, failed: 1, badTrustees: [2] });
    expect(j.verdicts[1]).toMatchObject({ ok: false, check: 'ACC-A9', badShares: [{ trustee: 2 }] });
    const text = await runInProcess(['request', 'collect', id, ...base(), '--out', join(dir, 'bad-case-2')]);
    expect(text.stdout).toContain('bad share from trustee 2');

    const open = await runInProcess([
      'request',
      'open',
      id,
      ...base(),
      '--case',
      join(dir, 'bad-case'),
      '--out',
      join(dir, 'bad-evidence'),
      '--json',
    ]);
    expect(open.code).toBe(1);
    expect(JSON.parse(open.stdout).error).toMatchObject({ code: 'EVIDENCE_INVALID', check: 'EVD-1' });
  }, 120_000);
});
