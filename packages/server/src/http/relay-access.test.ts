// docs/spec/access.md §4 over real HTTP with real core objects: a policy naming three trustees (k = 2) and two
// requesters, envelopes sealed and signed by core and ingested by the relay, a request filed by its requester,
// decisions by two trustees after which the relay executes (§4.1) — the execution verified from the log alone,
// its Merkle root over exactly the in-scope labels —, the executed envelopes served in pages, a release with its
// sealed bundle, a refusal; denied and over-limit requests; every auth refusal, idempotent repeat and conflict;
// and fuzzed bodies that must be ACCESS_BAD_REQUEST (ACC-0) and change nothing. Driven through the client's
// AccessRelayClient.
import { AccessRelayClient, ClientError } from '@overt/client';
import {
  checkExecutionLabels,
  commitConfidential,
  decisionFor,
  decisionsOnLog,
  decodeEnvelopeHead,
  type Element,
  executionRoot,
  group,
  type HeaderFields,
  type Policy,
  type Request,
  randomBytes,
  randomNonZeroScalar,
  releaseFor,
  type SealedEnvelope,
  type SigningKeyPair,
  scalarFromInt,
  sealEnvelope,
  sha256,
  signDecision,
  signEpochKeyStatement,
  signingKeyFromSeed,
  signPolicy,
  signRefusal,
  signRelease,
  signRequest,
  toBase64,
  toBase64Url,
  utf8Encode,
  type VerifiedExecution,
  type VerifiedPolicy,
  type VerifiedRequest,
  verifyExecution,
  verifyPolicy,
  verifyRequest,
} from '@overt/core';
import { decodeEntry, ENTRY_TYPES } from '@overt/log';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Client,
  createConversation,
  type Device,
  type Harness,
  ORG,
  startHarness,
  TRUSTEE_KEYS,
  testPolicy,
  textFields,
} from '../../test/harness.js';
import { calendarMonthEpoch } from '../epochs.js';
import { dropSchema, randomSchemaName, testDatabaseUrl } from '../storage/testing.js';

const EPOCH = calendarMonthEpoch(Date.now());
const REQUESTER_KEY = signingKeyFromSeed(new Uint8Array(32).fill(0x90));
const SECOND_KEY = signingKeyFromSeed(new Uint8Array(32).fill(0x92));
const HOUR = 3_600_000;

let h: Harness;
let policy: VerifiedPolicy;
let alice: Device;
let bob: Device;
let epochKey: Element;
/** alice ↔ bob: every envelope here has bob as a recipient. alice ↔ carol: none has. */
let withBob: Uint8Array;
let withCarol: Uint8Array;
const inScope: SealedEnvelope[] = [];
let requester: AccessRelayClient;
let second: AccessRelayClient;
let trustees: AccessRelayClient[];

function trustee(index: number, key: SigningKeyPair = TRUSTEE_KEYS[index - 1]!): AccessRelayClient {
  return new AccessRelayClient({ url: h.url, signer: { kind: 'trustee', index, key } });
}

async function refusal(p: Promise<unknown>): Promise<{ status?: number; code?: string; check?: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ClientError && e.code === 'RELAY_REFUSED')
      return { status: e.status, code: e.relayCode, check: e.check };
    throw e;
  }
  throw new Error('expected a refusal');
}

/** A signed request by `key` for `requesterId` about bob's messages of the last and next hour. */
function makeRequest(
  extra: Partial<Request> = {},
  key = REQUESTER_KEY,
): { signed: Uint8Array; v: VerifiedRequest } {
  const now = Date.now();
  const { commitment } = commitConfidential({ justification: 'suspected fraud', caseReference: 'case 7' });
  const q: Request = {
    version: 1,
    orgId: ORG,
    requestId: randomBytes(16),
    policyHash: policy.hash,
    requesterId: 'requester',
    createdAt: now,
    legalBasis: 'Court order 12/2026',
    documentHash: randomBytes(32),
    subjects: ['bob'],
    window: { from: now - HOUR, until: now + HOUR },
    conversations: [],
    maxEnvelopes: 100,
    sealUntil: now + 1000,
    confidentialCommitment: commitment,
    ...extra,
  };
  const signed = signRequest(q, key);
  // Requests the policy refuses (the ACC-R1 cases) have no verified form.
  let v: VerifiedRequest | undefined;
  try {
    v = verifyRequest(signed, policy);
  } catch {}
  return { signed, v: v as VerifiedRequest };
}

/** A trustee's refusal of a request (workflow.md §9.7). */
function refusalFor(
  v: VerifiedRequest,
  trusteeIndex: number,
  reason: 'REL-1' | 'REL-5',
  refusedAt: number,
  label?: Uint8Array,
) {
  return {
    version: 1,
    orgId: ORG,
    requestId: v.request.requestId,
    requestHash: v.hash,
    trusteeIndex,
    reason,
    ...(label !== undefined ? { label } : {}),
    refusedAt,
  };
}

const sealedParts = () => [1, 2, 3].map((trustee) => ({ trustee, sealed: randomBytes(100 + trustee) }));

function decision(
  v: VerifiedRequest,
  index: number,
  verdict: 'approve' | 'deny',
  key = TRUSTEE_KEYS[index - 1]!,
) {
  return signDecision(
    decisionFor(v, index, verdict, Date.now(), verdict === 'deny' ? 'no grounds' : ''),
    key,
  );
}

/** Every entry of the log so far, encoded (u8 type ‖ body), read from the log's own storage. */
async function logEntries(): Promise<Uint8Array[]> {
  const size = h.sequencer.checkpoint.size;
  return size === 0 ? [] : h.logStorage.readEntries(0, size);
}

async function entryAt(index: number) {
  const [e] = await h.logStorage.readEntries(index, 1);
  return decodeEntry(e!);
}

beforeAll(async () => {
  h = await startHarness({
    rateLimits: {
      principal: { capacity: 100_000, refillPerSecond: 100_000 },
      address: { capacity: 100_000, refillPerSecond: 100_000 },
    },
  });
  const p: Policy = testPolicy(ORG, {
    requesters: [
      ...testPolicy().requesters,
      {
        id: 'second',
        name: 'Second',
        signingKey: SECOND_KEY.publicKey,
        encryptionKey: new Uint8Array(32).fill(3),
      },
    ],
  });
  const signedPolicy = signPolicy(p, h.adminKey);
  expect(
    (await h.admin.request('POST', '/v1/admin/policies', { statement: toBase64(signedPolicy) })).status,
  ).toBe(201);
  policy = verifyPolicy(signedPolicy, h.adminKey.publicKey);
  trustees = [1, 2, 3].map((i) => trustee(i));
  requester = new AccessRelayClient({
    url: h.url,
    signer: { kind: 'requester', id: 'requester', key: REQUESTER_KEY },
  });
  second = new AccessRelayClient({
    url: h.url,
    signer: { kind: 'requester', id: 'second', key: SECOND_KEY },
  });
  // The trustees publish this month's key themselves (POST /v1/trustee/epoch-keys).
  epochKey = group.baseMul(randomNonZeroScalar());
  const slope = group.baseMul(randomNonZeroScalar());
  const statement = signEpochKeyStatement(
    {
      orgId: ORG,
      epoch: EPOCH,
      policyHash: policy.hash,
      threshold: 2,
      groupKey: epochKey,
      verificationKeys: [1, 2, 3].map((i) => group.add(epochKey, group.mul(scalarFromInt(i), slope))),
      transcriptHash: randomBytes(32),
      sessionId: randomBytes(32),
      time: Date.now(),
    },
    TRUSTEE_KEYS.slice(0, 2).map((key, i) => ({ index: i + 1, key })),
  );
  expect((await trustees[0]!.publishEpochKey(statement)).created).toBe(true);
  alice = await h.enrol('alice', 'alice-phone');
  bob = await h.enrol('bob', 'bob-phone');
  const carol = await h.enrol('carol', 'carol-phone');
  withBob = (await createConversation(alice, [bob])).groupId;
  withCarol = (await createConversation(alice, [carol])).groupId;
  const put = async (f: HeaderFields, text: string) => {
    const s = await sealEnvelope(f, utf8Encode(text), epochKey, alice.key);
    const r = await alice.request('PUT', `/v1/envelopes/${toBase64Url(s.header.messageId)}`, s.envelope);
    expect(r.status).toBe(201);
    return s;
  };
  for (const text of ['one', 'two', 'three'])
    inScope.push(await put(textFields(EPOCH, { conversationId: withBob }), text));
  // One in scope whose ciphertext lives in a chunked blob (relay.md §6.7): served as a stream of its chunks.
  const big = await sealEnvelope(
    textFields(EPOCH, { conversationId: withBob }),
    randomBytes(200_000),
    epochKey,
    alice.key,
  );
  const ciphertext = big.envelope.subarray(big.head.length);
  const chunkSize = 64 * 1024;
  const blob = await alice.request('POST', '/v1/blobs', {
    size: ciphertext.length,
    chunkSize,
    sha256: toBase64(sha256(ciphertext)),
  });
  for (let i = 0; i < blob.body.chunks; i++)
    expect(
      (
        await alice.request(
          'PUT',
          `/v1/blobs/${blob.body.blobId}/chunks/${i}`,
          ciphertext.subarray(i * chunkSize, (i + 1) * chunkSize),
        )
      ).status,
    ).toBe(204);
  expect((await alice.request('POST', `/v1/blobs/${blob.body.blobId}/complete`)).status).toBe(200);
  const bigId = toBase64Url(big.header.messageId);
  expect(
    (await alice.request('PUT', `/v1/envelopes/${bigId}?blob=${blob.body.blobId}`, big.head)).status,
  ).toBe(201);
  inScope.push(big);
  // Out of scope: bob is neither sender nor recipient (SCOPE-3).
  await put(textFields(EPOCH, { conversationId: withCarol, recipients: ['alice', 'carol'] }), 'not for bob');
});
afterAll(async () => {
  await h.close();
});

describe('the whole flow (access.md §4, §4.1)', () => {
  let filed: VerifiedRequest;
  let execution: VerifiedExecution;
  let executionIndex: number;

  it('files a request, logs two approvals, executes over the in-scope labels, serves the envelopes (ACC-D1, ACC-X1)', async () => {
    const { signed, v } = makeRequest();
    filed = v;
    const sealed = sealedParts();
    const r = await requester.fileRequest(signed, sealed);
    expect(r.created).toBe(true);
    expect(r.requestId).toEqual(v.request.requestId);
    expect(await entryAt(r.index)).toEqual({ type: ENTRY_TYPES.request, body: signed });
    // Idempotent: the same bytes again answer the same index (200), nothing is appended.
    const size = h.sequencer.checkpoint.size;
    expect(await requester.fileRequest(signed, sealed)).toEqual({ ...r, created: false });
    expect(h.sequencer.checkpoint.size).toBe(size);
    expect((await trustees[1]!.sealedPart(v.request.requestId)).length).toBe(102);
    expect((await requester.listRequests()).items).toEqual([
      { requestId: v.request.requestId, index: r.index, status: 'pending' },
    ]);

    const d1 = decision(v, 1, 'approve');
    const first = await trustees[0]!.submitDecision(d1);
    expect(first).toMatchObject({ created: true });
    expect(first.execution).toBeUndefined();
    expect(await trustees[0]!.submitDecision(d1)).toEqual({ index: first.index, created: false });
    expect(await entryAt(first.index)).toEqual({ type: ENTRY_TYPES.decision, body: d1 });
    const second = await trustees[1]!.submitDecision(decision(v, 2, 'approve'));
    expect(second.execution).toBeDefined();
    executionIndex = second.execution!.index;

    // The execution, from the log alone: signed by the relay's execution key, citing the logged approvals, over
    // exactly the four in-scope envelopes (not carol's), their labels' root.
    const entry = await entryAt(executionIndex);
    expect(entry.type).toBe(ENTRY_TYPES.execution);
    const logged = decisionsOnLog(policy, v, await logEntries());
    execution = verifyExecution(entry.body, h.accessKey!.publicKey, policy, v, logged);
    expect(execution.approvers).toEqual([1, 2]);
    const labels = inScope.map((s) => decodeEnvelopeHead(s.head).label);
    expect(execution.execution.envelopeCount).toBe(4);
    expect(execution.execution.merkleRoot).toEqual(executionRoot(labels));
    checkExecutionLabels(execution, labels);
    // A third approval does not execute again.
    expect((await trustees[2]!.submitDecision(decision(v, 3, 'approve'))).execution).toEqual({
      index: executionIndex,
    });

    // Envelopes: pages of heads, positions in label order; the ciphertext for the requester.
    const p1 = await trustees[2]!.envelopes(v.request.requestId, 0, 2);
    expect(p1.items.map((e) => e.position)).toEqual([0, 1]);
    expect(p1.next).toBe(2);
    const p2 = await requester.envelopes(v.request.requestId, p1.next!);
    expect(p2.items.map((e) => e.position)).toEqual([2, 3]);
    expect(p2.next).toBeNull();
    const served = [...p1.items, ...p2.items];
    checkExecutionLabels(
      execution,
      served.map((e) => e.label),
    );
    for (const e of served) {
      const original = inScope.find((s) => toBase64(s.header.messageId) === toBase64(e.messageId))!;
      expect(e.head).toEqual(original.head);
      expect(decodeEnvelopeHead(e.head).label).toEqual(e.label);
      expect(await requester.ciphertext(v.request.requestId, e.position)).toEqual(
        original.envelope.subarray(original.head.length),
      );
    }
    const sorted = served.map((e) => e.label);
    expect([...sorted].sort((a, b) => Buffer.compare(a, b))).toEqual(sorted);
    expect(await refusal(requester.ciphertext(v.request.requestId, 4))).toMatchObject({
      status: 404,
      code: 'ACCESS_ENVELOPE_UNKNOWN',
    });
    expect(await trustees[0]!.device('alice-phone')).toEqual({ index: alice.logIndex });
    expect(await refusal(trustees[0]!.device('nobody'))).toMatchObject({ status: 404 });
  });

  it('releases: verified under the logged execution, bundle hash, batch, idempotent, one per batch (ACC-L1..L5)', async () => {
    const id = filed.request.requestId;
    const bundle = randomBytes(700);
    const release = signRelease(releaseFor(execution, 1, 3, bundle, Date.now()), TRUSTEE_KEYS[0]!);
    const r = await trustees[0]!.submitRelease(release, bundle, 0);
    expect(r.created).toBe(true);
    expect(await entryAt(r.index)).toEqual({ type: ENTRY_TYPES.release, body: release });
    expect(await trustees[0]!.submitRelease(release, bundle, 0)).toEqual({ index: r.index, created: false });
    const size = h.sequencer.checkpoint.size;
    const other = randomBytes(700);
    const otherRelease = signRelease(releaseFor(execution, 1, 2, other, Date.now()), TRUSTEE_KEYS[0]!);
    expect(await refusal(trustees[0]!.submitRelease(otherRelease, other, 0))).toMatchObject({
      status: 409,
      code: 'ACCESS_RELEASE_CONFLICT',
      check: 'ACC-L4',
    });
    expect(await refusal(trustees[0]!.submitRelease(otherRelease, bundle, 0))).toMatchObject({
      status: 400,
      code: 'ACCESS_BUNDLE_MISMATCH',
      check: 'ACC-L3',
    });
    expect(await refusal(trustees[0]!.submitRelease(otherRelease, other, 1))).toMatchObject({
      status: 400,
      check: 'ACC-L5',
    });
    // Trustee 3 approved after the execution: its approval was not relied on (WF-L5).
    const late = signRelease(releaseFor(execution, 3, 3, bundle, Date.now()), TRUSTEE_KEYS[2]!);
    expect(await refusal(trustees[2]!.submitRelease(late, bundle, 0))).toMatchObject({
      status: 400,
      code: 'ACCESS_RELEASE_INVALID',
      check: 'ACC-L1',
    });
    const t2 = signRelease(releaseFor(execution, 2, 3, bundle, Date.now()), TRUSTEE_KEYS[1]!);
    expect(await refusal(trustees[0]!.submitRelease(t2, bundle, 0))).toMatchObject({
      status: 403,
      check: 'ACC-L2',
    });
    expect(h.sequencer.checkpoint.size).toBe(size);
    expect(await requester.releaseBundle(id, 1, 0)).toEqual(bundle);
    expect(await refusal(requester.releaseBundle(id, 2, 0))).toMatchObject({ status: 404 });
    expect(await refusal(trustees[0]!.releaseBundle(id, 1, 0))).toMatchObject({
      status: 403,
      check: 'AUTH-8',
    });
  });

  it('a refusal is logged once; the view lists everything logged about the request (ACC-F1, ACC-F2)', async () => {
    const id = filed.request.requestId;
    const label = decodeEnvelopeHead(inScope[0]!.head).label;
    const f = signRefusal(refusalFor(filed, 2, 'REL-5', Date.now(), label), TRUSTEE_KEYS[1]!);
    const r = await trustees[1]!.submitRefusal(f);
    expect(r.created).toBe(true);
    expect(await entryAt(r.index)).toEqual({ type: ENTRY_TYPES.refusal, body: f });
    expect(await trustees[1]!.submitRefusal(f)).toEqual({ index: r.index, created: false });
    expect(await refusal(trustees[2]!.submitRefusal(f))).toMatchObject({ status: 403, check: 'ACC-F2' });
    const { v: unknown } = makeRequest();
    const stray = signRefusal(refusalFor(unknown, 2, 'REL-1', Date.now()), TRUSTEE_KEYS[1]!);
    expect(await refusal(trustees[1]!.submitRefusal(stray))).toMatchObject({ status: 400, check: 'ACC-F1' });
    const view = await requester.getRequest(id);
    expect(view.status).toBe('executed');
    expect(view.request).toEqual(filed.signed);
    expect(view.decisions.map((d) => d.decision.length > 0)).toEqual([true, true, true]);
    expect(view.execution?.index).toBe(executionIndex);
    expect(view.releases.map((x) => [x.trustee, x.batch])).toEqual([[1, 0]]);
    expect(view.refusals).toEqual([{ refusal: f, index: r.index }]);
  });

  it('denied once k approvals can no longer be reached; over-limit when the scope holds more than allowed', async () => {
    const { signed, v } = makeRequest();
    await requester.fileRequest(signed, sealedParts());
    await trustees[1]!.submitDecision(decision(v, 2, 'deny'));
    expect((await requester.getRequest(v.request.requestId)).status).toBe('pending');
    // Trustee 1 approves and denies: not counted; with 2 and 1 denying, 1 of 3 is left for k = 2.
    await trustees[0]!.submitDecision(decision(v, 1, 'approve'));
    const last = await trustees[0]!.submitDecision(decision(v, 1, 'deny'));
    expect(last.execution).toBeUndefined();
    expect((await requester.getRequest(v.request.requestId)).status).toBe('denied');
    expect(await refusal(requester.envelopes(v.request.requestId))).toMatchObject({
      status: 409,
      code: 'ACCESS_NOT_EXECUTED',
    });

    const over = makeRequest({ maxEnvelopes: 2 });
    await requester.fileRequest(over.signed, sealedParts());
    await trustees[0]!.submitDecision(decision(over.v, 1, 'approve'));
    expect((await trustees[2]!.submitDecision(decision(over.v, 3, 'approve'))).execution).toBeUndefined();
    expect((await requester.getRequest(over.v.request.requestId)).status).toBe('over-limit');
    const statuses = (await trustees[0]!.listRequests()).items.map((x) => x.status);
    expect(statuses).toEqual(['executed', 'denied', 'over-limit']);
  });
});

describe('auth refusals', () => {
  it('ACC-R1..R4: the policy in force, the requester itself, one sealed part per trustee, one request per id', async () => {
    const size = h.sequencer.checkpoint.size;
    const { signed, v } = makeRequest();
    // A requester filing another requester's request (signed by that requester: it verifies, but is not theirs).
    expect(await refusal(second.fileRequest(signed, sealedParts()))).toMatchObject({
      status: 403,
      code: 'AUTH_FORBIDDEN',
      check: 'ACC-R2',
    });
    expect(await refusal(requester.fileRequest(signed, sealedParts().slice(1)))).toMatchObject({
      status: 400,
      code: 'ACCESS_SEALED_INVALID',
      check: 'ACC-R3',
    });
    const dup = sealedParts();
    dup[2] = { trustee: 2, sealed: randomBytes(5) };
    expect(await refusal(requester.fileRequest(signed, dup))).toMatchObject({ check: 'ACC-R3' });
    const otherPolicy = makeRequest({ policyHash: randomBytes(32) });
    expect(await refusal(requester.fileRequest(otherPolicy.signed, sealedParts()))).toMatchObject({
      status: 400,
      code: 'ACCESS_REQUEST_INVALID',
      check: 'ACC-R1',
    });
    const tooMany = makeRequest({ maxEnvelopes: 1001 });
    expect(await refusal(requester.fileRequest(tooMany.signed, sealedParts()))).toMatchObject({
      check: 'ACC-R1',
    });
    expect(h.sequencer.checkpoint.size).toBe(size);
    await requester.fileRequest(signed, sealedParts());
    const sameId = makeRequest({ requestId: v.request.requestId, legalBasis: 'another basis' });
    expect(await refusal(requester.fileRequest(sameId.signed, sealedParts()))).toMatchObject({
      status: 409,
      code: 'ACCESS_REQUEST_EXISTS',
      check: 'ACC-R4',
    });
    // ACC-A1: another requester neither lists nor reads it.
    expect((await second.listRequests()).items).toEqual([]);
    expect(await refusal(second.getRequest(v.request.requestId))).toMatchObject({
      status: 403,
      check: 'ACC-A1',
    });
    // Wrong signer kinds: a requester cannot decide or read sealed parts; a trustee cannot file.
    expect(await refusal(requester.submitDecision(decision(v, 1, 'approve')))).toMatchObject({
      check: 'AUTH-8',
    });
    expect(await refusal(requester.sealedPart(v.request.requestId))).toMatchObject({ check: 'AUTH-8' });
    expect(await refusal(trustees[0]!.fileRequest(signed, sealedParts()))).toMatchObject({ check: 'AUTH-8' });
    // A device may not use the access endpoints at all.
    expect((await alice.request('GET', '/v1/access/requests')).body).toMatchObject({ check: 'AUTH-8' });
    // A trustee not in the policy is unknown.
    expect(
      await refusal(trustee(7, signingKeyFromSeed(new Uint8Array(32).fill(7))).listRequests()),
    ).toMatchObject({
      status: 401,
      check: 'AUTH-3',
    });
    // ACC-D2: trustee 2 posting trustee 3's decision; ACC-D1: a decision about an unknown request.
    expect(await refusal(trustees[1]!.submitDecision(decision(v, 3, 'approve')))).toMatchObject({
      status: 403,
      check: 'ACC-D2',
    });
    const stray = makeRequest();
    expect(await refusal(trustees[0]!.submitDecision(decision(stray.v, 1, 'approve')))).toMatchObject({
      status: 400,
      code: 'ACCESS_DECISION_INVALID',
      check: 'ACC-D1',
    });
    // A decision signed by the wrong key for its index.
    expect(
      await refusal(trustees[0]!.submitDecision(decision(v, 1, 'approve', TRUSTEE_KEYS[1]!))),
    ).toMatchObject({ status: 400, check: 'ACC-D1' });
  });

  it('ACC-X1: a relay without an execution key takes no request (nothing could ever execute it)', async () => {
    const other = await startHarness({ accessKey: false });
    try {
      const signedPolicy = signPolicy(testPolicy(), other.adminKey);
      await other.admin.request('POST', '/v1/admin/policies', { statement: toBase64(signedPolicy) });
      const p = verifyPolicy(signedPolicy, other.adminKey.publicKey);
      const signed = signRequest({ ...makeRequest().v.request, policyHash: p.hash }, REQUESTER_KEY);
      const r = new AccessRelayClient({
        url: other.url,
        signer: { kind: 'requester', id: 'requester', key: REQUESTER_KEY },
      });
      const size = other.sequencer.checkpoint.size;
      expect(await refusal(r.fileRequest(signed, sealedParts()))).toMatchObject({
        status: 503,
        code: 'ACCESS_DISABLED',
        check: 'ACC-X1',
      });
      expect(other.sequencer.checkpoint.size).toBe(size);
      expect((await r.listRequests()).items).toEqual([]);
    } finally {
      await other.close();
    }
  });
});

describe('ACC-0: malformed bodies, paths and queries are ACCESS_BAD_REQUEST and change nothing', () => {
  const endpoints: { path: string; who: () => Client; good: Record<string, unknown> }[] = [];
  const t1 = () => new Client(h.url, TRUSTEE_KEYS[0]!, { kind: 'trustee', index: 1 });
  const rq = () => new Client(h.url, REQUESTER_KEY, { kind: 'requester', requesterId: 'requester' });

  async function snapshot() {
    return {
      log: h.sequencer.checkpoint.size,
      requests: (await h.relay.storage.access.listRequests(-1, 1000)).length,
      mail: (await h.relay.storage.access.readMail(2, 0, 1000)).length,
    };
  }

  beforeAll(() => {
    const b = toBase64(randomBytes(40));
    endpoints.push(
      { path: '/v1/access/requests', who: rq, good: { request: b, sealed: [{ trustee: 1, sealed: b }] } },
      { path: '/v1/access/decisions', who: t1, good: { decision: b } },
      { path: '/v1/access/releases', who: t1, good: { release: b, bundle: b, batch: 0 } },
      { path: '/v1/access/refusals', who: t1, good: { refusal: b } },
      { path: '/v1/trustee/mail', who: t1, good: { to: 2, body: b } },
      { path: '/v1/trustee/epoch-keys', who: t1, good: { statement: b } },
      { path: '/v1/trustee/shreds', who: t1, good: { shred: b } },
    );
  });

  /** Values that no field of any access body accepts in place of the one it replaces. */
  const badValue = fc.oneof(
    fc.constantFrom(
      'A',
      'AB=',
      'AAA',
      '@@@@',
      'AAAA====',
      '',
      'QQ==QQ==',
      'Zm9v\n',
      'Zm9=',
      -1,
      1.5,
      2 ** 60,
      256,
    ),
    fc.constant(null),
    fc.boolean(),
    fc.array(fc.integer(), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }),
  );

  it('mutated valid bodies: a field replaced by a bad value, removed, or an unknown field added (property)', async () => {
    const before = await snapshot();
    await fc.assert(
      fc.asyncProperty(
        fc.nat(endpoints.length - 1),
        fc.nat(10),
        fc.constantFrom('replace', 'remove', 'add'),
        badValue,
        async (e, k, how, value) => {
          const ep = endpoints[e]!;
          const body: Record<string, unknown> = { ...ep.good };
          const keys = Object.keys(body);
          const key = keys[k % keys.length]!;
          if (how === 'replace') {
            // A trustee index 0..255 is a valid `to`, a u32 a valid `batch` (an order's batches run past 255,
            // after-release.md §8); a valid base64 string a valid bytes field.
            if (typeof value === 'number' && Number.isInteger(value) && value >= 0) {
              if (key === 'to' && value <= 255) return;
              if (key === 'batch' && value <= 0xffffffff) return;
            }
            body[key] = value;
          } else if (how === 'remove') delete body[key];
          else body.unexpected = value;
          const r = await ep.who().request('POST', ep.path, body);
          expect(r.status).toBe(400);
          expect(r.headers.get('content-type')).toContain('application/problem+json');
          expect(r.body).toMatchObject({ code: 'ACCESS_BAD_REQUEST', check: 'ACC-0' });
        },
      ),
      { numRuns: 120 },
    );
    expect(await snapshot()).toEqual(before);
  });

  it('random bytes, JSON syntax errors, non-objects and oversize values', async () => {
    const before = await snapshot();
    await fc.assert(
      fc.asyncProperty(
        fc.nat(endpoints.length - 1),
        fc.oneof(
          fc.string({ maxLength: 40 }).map((s) => `{${s}`),
          fc
            .jsonValue({ maxDepth: 2 })
            .filter((j) => typeof j !== 'object' || j === null || Array.isArray(j))
            .map((j) => JSON.stringify(j)),
          fc.constantFrom('{"a":', '[1,2', '{"decision":"AA=="', '\u0000', '{}'),
        ),
        async (e, text) => {
          const ep = endpoints[e]!;
          const r = await ep.who().request('POST', ep.path, text);
          expect(r.status).toBe(400);
          expect(r.body).toMatchObject({ code: 'ACCESS_BAD_REQUEST', check: 'ACC-0' });
        },
      ),
      { numRuns: 60 },
    );
    const big = toBase64(randomBytes(256 * 1024 + 3));
    const r = await t1().request('POST', '/v1/trustee/mail', { to: 2, body: big });
    expect(r.body).toMatchObject({ code: 'ACCESS_BAD_REQUEST', check: 'ACC-0' });
    for (const target of [
      '/v1/access/requests?limit=0',
      '/v1/access/requests?after=-1',
      '/v1/access/requests?extra=1',
      '/v1/access/requests/AAAA',
      `/v1/access/requests/${toBase64Url(randomBytes(16))}/envelopes?limit=4097`,
      `/v1/access/requests/${toBase64Url(randomBytes(16))}/releases/0/0`,
    ]) {
      const g = await rq().request('GET', target);
      expect(g.status).toBe(400);
      expect(g.body).toMatchObject({ code: 'ACCESS_BAD_REQUEST', check: 'ACC-0' });
    }
    expect(await snapshot()).toEqual(before);
  });
});

describe('on PostgreSQL (the same flow on the other driver)', () => {
  const url = testDatabaseUrl();
  if (url === undefined) {
    console.warn('DATABASE_URL is not set: the PostgreSQL run of the access flow is SKIPPED');
    it.skip('SKIPPED: set DATABASE_URL to run it', () => {});
    return;
  }
  it('files, executes on two approvals over the in-scope labels, pages envelopes, releases', async () => {
    const schema = randomSchemaName();
    const pgh = await startHarness({ postgres: { url, schema } });
    try {
      const signedPolicy = signPolicy(testPolicy(), pgh.adminKey);
      expect(
        (await pgh.admin.request('POST', '/v1/admin/policies', { statement: toBase64(signedPolicy) })).status,
      ).toBe(201);
      const p = verifyPolicy(signedPolicy, pgh.adminKey.publicKey);
      const t = (i: number) =>
        new AccessRelayClient({
          url: pgh.url,
          signer: { kind: 'trustee', index: i, key: TRUSTEE_KEYS[i - 1]! },
        });
      const y = group.baseMul(randomNonZeroScalar());
      const slope = group.baseMul(randomNonZeroScalar());
      await t(2).publishEpochKey(
        signEpochKeyStatement(
          {
            orgId: ORG,
            epoch: EPOCH,
            policyHash: p.hash,
            threshold: 2,
            groupKey: y,
            verificationKeys: [1, 2, 3].map((i) => group.add(y, group.mul(scalarFromInt(i), slope))),
            transcriptHash: randomBytes(32),
            sessionId: randomBytes(32),
            time: Date.now(),
          },
          TRUSTEE_KEYS.slice(1, 3).map((key, i) => ({ index: i + 2, key })),
        ),
      );
      const a = await pgh.enrol('alice', 'alice-phone');
      const bb = await pgh.enrol('bob', 'bob-phone');
      const conv = (await createConversation(a, [bb])).groupId;
      const labels: Uint8Array[] = [];
      for (let i = 0; i < 3; i++) {
        const s = await sealEnvelope(
          textFields(EPOCH, { conversationId: conv }),
          utf8Encode(`m${i}`),
          y,
          a.key,
        );
        expect(
          (await a.request('PUT', `/v1/envelopes/${toBase64Url(s.header.messageId)}`, s.envelope)).status,
        ).toBe(201);
        labels.push(decodeEnvelopeHead(s.head).label);
      }
      const now = Date.now();
      const { commitment } = commitConfidential({ justification: 'j', caseReference: '' });
      const q: Request = {
        version: 1,
        orgId: ORG,
        requestId: randomBytes(16),
        policyHash: p.hash,
        requesterId: 'requester',
        createdAt: now,
        legalBasis: 'order',
        documentHash: randomBytes(32),
        subjects: ['bob'],
        window: { from: now - HOUR, until: now + HOUR },
        conversations: [conv],
        maxEnvelopes: 10,
        sealUntil: now,
        confidentialCommitment: commitment,
      };
      const signed = signRequest(q, REQUESTER_KEY);
      const v = verifyRequest(signed, p);
      const r = new AccessRelayClient({
        url: pgh.url,
        signer: { kind: 'requester', id: 'requester', key: REQUESTER_KEY },
      });
      await r.fileRequest(signed, sealedParts());
      const d = (i: number, verdict: 'approve' | 'deny') =>
        signDecision(decisionFor(v, i, verdict, Date.now()), TRUSTEE_KEYS[i - 1]!);
      await t(3).submitDecision(d(3, 'approve'));
      const done = await t(1).submitDecision(d(1, 'approve'));
      const [entry] = await pgh.logStorage.readEntries(done.execution!.index, 1);
      const size = pgh.sequencer.checkpoint.size;
      const x = verifyExecution(
        decodeEntry(entry!).body,
        pgh.accessKey!.publicKey,
        p,
        v,
        decisionsOnLog(p, v, await pgh.logStorage.readEntries(0, size)),
      );
      checkExecutionLabels(x, labels);
      const page = await r.envelopes(q.requestId, 1, 5);
      expect(page.items.map((e) => e.position)).toEqual([1, 2]);
      const bundle = randomBytes(64);
      const rel = signRelease(releaseFor(x, 3, 3, bundle, Date.now()), TRUSTEE_KEYS[2]!);
      expect((await t(3).submitRelease(rel, bundle, 0)).created).toBe(true);
      expect(await r.releaseBundle(q.requestId, 3, 0)).toEqual(bundle);
      expect((await r.getRequest(q.requestId)).status).toBe('executed');
    } finally {
      await pgh.close();
      await dropSchema(url, schema);
    }
  });
});
