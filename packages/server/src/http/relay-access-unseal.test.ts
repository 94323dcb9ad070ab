// docs/spec/after-release.md §1, §2 over real HTTP with real core objects, on SQLite and (with DATABASE_URL) on
// PostgreSQL: a request filed with the part sealed to the relay's unseal key (ACC-R3) is unsealed by the relay's
// task once its seal date has passed (ACC-U4), once; the public reads (unsealed list, every logged entry, the
// execution's labels) answer only after the unseal; a request filed without a relay part is unsealed by a trustee
// (ACC-U1..U3, U5); extensions are proposed by the requester within the policy's limits (ACC-E1), signed by the
// trustees (ACC-E2), logged with k signatures (ACC-E3) and never past the deadline (ACC-E4); and fuzzed bodies of
// the new endpoints are ACCESS_BAD_REQUEST (ACC-0) and change nothing.
import { AccessRelayClient, ClientError } from '@overt/client';
import {
  commitConfidential,
  type DkgEncryptionKeyPair,
  decisionFor,
  decodeEnvelopeHead,
  decodeExtensionStatement,
  generateDkgEncryptionKey,
  group,
  type Policy,
  type Request,
  type RequestOpening,
  randomBytes,
  randomNonZeroScalar,
  scalarFromInt,
  sealConfidential,
  sealEnvelope,
  signDecision,
  signEpochKeyStatement,
  signExtensionStatement,
  signingKeyFromSeed,
  signPolicy,
  signRequest,
  signUnseal,
  toBase64,
  toBase64Url,
  unsealFor,
  utf8Encode,
  type VerifiedPolicy,
  type VerifiedRequest,
  verifyExtension,
  verifyPolicy,
  verifyRequest,
  verifyUnseal,
} from '@overt/core';
import { decodeEntry, ENTRY_TYPES } from '@overt/log';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Client,
  createConversation,
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
const HOUR = 3_600_000;
/** The seal of the requests that are unsealed in these tests: short, the tests wait it out. */
const SHORT_SEAL_MS = 1_200;

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

/** Resolves once the wall clock is strictly past `t` (bounded: t is at most a few seconds ahead). */
async function until(t: number): Promise<void> {
  while (Date.now() <= t) await new Promise((r) => setTimeout(r, Math.min(200, t - Date.now() + 1)));
}

interface World {
  readonly h: Harness;
  readonly policy: VerifiedPolicy;
  readonly unsealKey: DkgEncryptionKeyPair;
  readonly trustees: AccessRelayClient[];
  readonly requester: AccessRelayClient;
  readonly conversation: Uint8Array;
  readonly labels: Uint8Array[];
}

async function startWorld(postgres?: { url: string; schema: string }): Promise<World> {
  const unsealKey = await generateDkgEncryptionKey();
  const h = await startHarness({
    unsealKey,
    // The task's first pass runs at start (nothing to do); the tests run passes themselves (unsealDue).
    unsealPollMs: HOUR,
    rateLimits: {
      principal: { capacity: 100_000, refillPerSecond: 100_000 },
      address: { capacity: 100_000, refillPerSecond: 100_000 },
    },
    ...(postgres !== undefined ? { postgres } : {}),
  });
  const p: Policy = testPolicy(ORG);
  const signedPolicy = signPolicy(p, h.adminKey);
  expect(
    (await h.admin.request('POST', '/v1/admin/policies', { statement: toBase64(signedPolicy) })).status,
  ).toBe(201);
  const policy = verifyPolicy(signedPolicy, h.adminKey.publicKey);
  const trustees = [1, 2, 3].map(
    (index) =>
      new AccessRelayClient({
        url: h.url,
        signer: { kind: 'trustee', index, key: TRUSTEE_KEYS[index - 1]! },
      }),
  );
  const requester = new AccessRelayClient({
    url: h.url,
    signer: { kind: 'requester', id: 'requester', key: REQUESTER_KEY },
  });
  const y = group.baseMul(randomNonZeroScalar());
  const slope = group.baseMul(randomNonZeroScalar());
  await trustees[0]!.publishEpochKey(
    signEpochKeyStatement(
      {
        orgId: ORG,
        epoch: EPOCH,
        policyHash: policy.hash,
        threshold: 2,
        groupKey: y,
        verificationKeys: [1, 2, 3].map((i) => group.add(y, group.mul(scalarFromInt(i), slope))),
        transcriptHash: randomBytes(32),
        sessionId: randomBytes(32),
        time: Date.now(),
      },
      TRUSTEE_KEYS.slice(0, 2).map((key, i) => ({ index: i + 1, key })),
    ),
  );
  const alice = await h.enrol('alice', 'alice-phone');
  const bob = await h.enrol('bob', 'bob-phone');
  const conversation = (await createConversation(alice, [bob])).groupId;
  const labels: Uint8Array[] = [];
  for (const text of ['one', 'two', 'three']) {
    const s = await sealEnvelope(
      textFields(EPOCH, { conversationId: conversation }),
      utf8Encode(text),
      y,
      alice.key,
    );
    expect(
      (await alice.request('PUT', `/v1/envelopes/${toBase64Url(s.header.messageId)}`, s.envelope)).status,
    ).toBe(201);
    labels.push(decodeEnvelopeHead(s.head).label);
  }
  return { h, policy, unsealKey, trustees, requester, conversation, labels };
}

interface Filed {
  readonly v: VerifiedRequest;
  readonly signed: Uint8Array;
  readonly opening: RequestOpening;
  readonly index: number;
}

/** Files a request about bob's messages sealed until now + sealMs, with or without the relay's part. */
async function file(w: World, sealMs: number, relayPart: boolean): Promise<Filed> {
  const now = Date.now();
  const { commitment, opening } = commitConfidential({
    justification: 'suspected fraud',
    caseReference: 'c-7',
  });
  const q: Request = {
    version: 1,
    orgId: ORG,
    requestId: randomBytes(16),
    policyHash: w.policy.hash,
    requesterId: 'requester',
    createdAt: now,
    legalBasis: 'Court order 12/2026',
    documentHash: randomBytes(32),
    subjects: ['bob'],
    window: { from: now - HOUR, until: now + HOUR },
    conversations: [w.conversation],
    maxEnvelopes: 100,
    sealUntil: now + sealMs,
    confidentialCommitment: commitment,
  };
  const signed = signRequest(q, REQUESTER_KEY);
  const v = verifyRequest(signed, w.policy);
  const sealed = await Promise.all(
    w.policy.policy.trustees.map(async (t) => ({
      trustee: t.index,
      sealed: await sealConfidential(t.encryptionKey, t.index, v, opening),
    })),
  );
  const relaySealed = relayPart ? await sealConfidential(w.unsealKey.publicKey, 0, v, opening) : undefined;
  const r = await w.requester.fileRequest(signed, sealed, relaySealed);
  return { v, signed, opening, index: r.index };
}

async function entryAt(h: Harness, index: number) {
  const [e] = await h.logStorage.readEntries(index, 1);
  return decodeEntry(e!);
}

function approve(w: World, f: Filed, ...who: number[]) {
  return Promise.all(
    who.map((i) =>
      w.trustees[i - 1]!.submitDecision(
        signDecision(decisionFor(f.v, i, 'approve', Date.now(), ''), TRUSTEE_KEYS[i - 1]!),
      ),
    ),
  );
}

function flows(name: string, start: () => Promise<{ w: World; close: () => Promise<void> }>) {
  describe(name, () => {
    let w: World;
    let close: () => Promise<void>;
    beforeAll(async () => {
      ({ w, close } = await start());
    });
    afterAll(async () => {
      await close?.();
    });

    it('the relay unseals a request it holds a part for once its seal date has passed, once (ACC-R3, ACC-U4)', async () => {
      const { h } = w;
      // A relay part that does not open is refused and nothing is logged or stored.
      const sizeAfterOne = h.sequencer.checkpoint.size;
      {
        const now = Date.now();
        const { commitment } = commitConfidential({ justification: 'x', caseReference: '' });
        const q: Request = {
          version: 1,
          orgId: ORG,
          requestId: randomBytes(16),
          policyHash: w.policy.hash,
          requesterId: 'requester',
          createdAt: now,
          legalBasis: 'b',
          documentHash: randomBytes(32),
          subjects: ['bob'],
          window: { from: now - HOUR, until: now + HOUR },
          conversations: [],
          maxEnvelopes: 10,
          sealUntil: now + 1000,
          confidentialCommitment: commitment,
        };
        const signed = signRequest(q, REQUESTER_KEY);
        const parts = [1, 2, 3].map((trustee) => ({ trustee, sealed: randomBytes(120) }));
        expect(await refusal(w.requester.fileRequest(signed, parts, randomBytes(120)))).toMatchObject({
          status: 400,
          code: 'ACCESS_SEALED_INVALID',
          check: 'ACC-R3',
        });
        expect(h.sequencer.checkpoint.size).toBe(sizeAfterOne);
        expect(await h.relay.storage.access.getRequest(q.requestId)).toBeUndefined();
      }

      const f = await file(w, SHORT_SEAL_MS, true);
      const [, second] = await approve(w, f, 1, 2);
      expect(second!.execution).toBeDefined();
      const id = f.v.request.requestId;
      // Before the seal date: nothing public, nothing unsealed.
      expect(await refusal(w.requester.public.publicRequest(id))).toMatchObject({
        status: 404,
        code: 'ACCESS_NOT_UNSEALED',
      });
      expect(await refusal(w.requester.public.publicLabels(id))).toMatchObject({ status: 404 });
      if (Date.now() <= f.v.request.sealUntil) expect(await h.relay.access.unsealDue()).toEqual([]);
      await until(f.v.request.sealUntil);
      const [index] = await h.relay.access.unsealDue();
      expect(index).toBeDefined();
      const entry = await entryAt(h, index!);
      expect(entry.type).toBe(ENTRY_TYPES.unseal);
      const u = verifyUnseal(entry.body, w.policy, f.v, h.accessKey!.publicKey);
      expect(u.unseal.publisher).toBe(0);
      expect(u.unseal.opening.confidential).toEqual({
        justification: 'suspected fraud',
        caseReference: 'c-7',
      });
      expect(u.unseal.unsealedAt).toBeGreaterThan(f.v.request.sealUntil);
      // Once: a second pass appends nothing.
      const sizeNow = h.sequencer.checkpoint.size;
      expect(await h.relay.access.unsealDue()).toEqual([]);
      expect(h.sequencer.checkpoint.size).toBe(sizeNow);

      // The public reads (no signature).
      const listed = await w.requester.public.listUnsealed();
      expect(listed.items).toContainEqual({ requestId: id, index });
      const pub = await w.requester.public.publicRequest(id);
      expect(pub.request).toEqual({ request: f.signed, index: f.index });
      expect(pub.unseal).toEqual({ unseal: entry.body, index });
      expect(pub.decisions).toHaveLength(2);
      expect(pub.execution?.index).toBe(second!.execution!.index);
      expect(pub.extensions).toEqual([]);
      for (const d of pub.decisions) expect((await entryAt(h, d.index)).body).toEqual(d.decision);
      const p1 = await w.requester.public.publicLabels(id, 0, 2);
      expect(p1.items.map((l) => l.position)).toEqual([0, 1]);
      expect(p1.next).toBe(2);
      const p2 = await w.requester.public.publicLabels(id, 2);
      expect(p2.next).toBeNull();
      expect((await entryAt(h, pub.execution!.index)).body).toEqual(pub.execution!.execution);
      // Every served label is one of the in-scope envelopes'.
      const served = [...p1.items, ...p2.items].map((l) => toBase64(l.label));
      expect([...served].sort()).toEqual(w.labels.map(toBase64).sort());

      // A trustee's unseal of the same request: the relay's is logged (ACC-U3).
      const other = signUnseal(unsealFor(f.v, f.opening, 1, Date.now()), TRUSTEE_KEYS[0]!);
      expect(await refusal(w.trustees[0]!.submitUnseal(other))).toMatchObject({
        status: 409,
        code: 'ACCESS_UNSEAL_EXISTS',
        check: 'ACC-U3',
      });
      // No extension of an unsealed request.
      expect(await refusal(w.requester.proposeExtension(id, Date.now() + HOUR, 'more time'))).toMatchObject({
        status: 409,
        code: 'ACCESS_UNSEALED',
      });
    });

    it('without a relay part a trustee unseals after the date: verified, its own, once (ACC-U1, U2, U3, U5)', async () => {
      const { h } = w;
      const f = await file(w, SHORT_SEAL_MS, false);
      const id = f.v.request.requestId;
      const early = signUnseal(unsealFor(f.v, f.opening, 2, Date.now()), TRUSTEE_KEYS[1]!);
      const size = h.sequencer.checkpoint.size;
      if (Date.now() <= f.v.request.sealUntil)
        expect(await refusal(w.trustees[1]!.submitUnseal(early))).toMatchObject({
          status: 400,
          check: 'ACC-U5',
        });
      await until(f.v.request.sealUntil);
      // The relay holds no part: its task leaves the request alone.
      expect(await h.relay.access.unsealDue()).toEqual([]);
      const mine = signUnseal(unsealFor(f.v, f.opening, 2, Date.now()), TRUSTEE_KEYS[1]!);
      expect(await refusal(w.trustees[0]!.submitUnseal(mine))).toMatchObject({
        status: 403,
        check: 'ACC-U2',
      });
      const asRelay = signUnseal(unsealFor(f.v, f.opening, 0, Date.now()), TRUSTEE_KEYS[1]!);
      expect(await refusal(w.trustees[1]!.submitUnseal(asRelay))).toMatchObject({
        status: 400,
        check: 'ACC-U1',
      });
      const wrongOpening = signUnseal(
        unsealFor(f.v, { ...f.opening, salt: randomBytes(32) }, 2, Date.now()),
        TRUSTEE_KEYS[1]!,
      );
      expect(await refusal(w.trustees[1]!.submitUnseal(wrongOpening))).toMatchObject({
        status: 400,
        code: 'ACCESS_UNSEAL_INVALID',
        check: 'ACC-U1',
      });
      const forged = signUnseal(unsealFor(f.v, f.opening, 2, Date.now()), TRUSTEE_KEYS[0]!);
      expect(await refusal(w.trustees[1]!.submitUnseal(forged))).toMatchObject({
        status: 400,
        check: 'ACC-U1',
      });
      expect(h.sequencer.checkpoint.size).toBe(size);
      const r = await w.trustees[1]!.submitUnseal(mine);
      expect(r.created).toBe(true);
      expect(await entryAt(h, r.index)).toEqual({ type: ENTRY_TYPES.unseal, body: mine });
      expect(await w.trustees[1]!.submitUnseal(mine)).toEqual({ index: r.index, created: false });
      const again = signUnseal(unsealFor(f.v, f.opening, 3, Date.now()), TRUSTEE_KEYS[2]!);
      expect(await refusal(w.trustees[2]!.submitUnseal(again))).toMatchObject({
        status: 409,
        code: 'ACCESS_UNSEAL_EXISTS',
        check: 'ACC-U3',
      });
      // Not executed: the public read has no execution and no labels.
      const pub = await w.requester.public.publicRequest(id);
      expect(pub.unseal.index).toBe(r.index);
      expect(pub.execution).toBeUndefined();
      expect(await refusal(w.requester.public.publicLabels(id))).toMatchObject({
        code: 'ACCESS_NOT_EXECUTED',
      });
    });

    it('extensions: proposed within the limits, signed by k trustees, logged before the deadline (ACC-E1..E3)', async () => {
      const { h } = w;
      const f = await file(w, 3 * HOUR, true);
      const id = f.v.request.requestId;
      const seal = f.v.request.sealUntil;
      const limit = w.policy.policy.limits;
      expect(await refusal(w.requester.proposeExtension(id, seal, 'not later'))).toMatchObject({
        status: 400,
        code: 'ACCESS_EXTENSION_LIMIT',
        check: 'ACC-E1',
      });
      expect(
        await refusal(w.requester.proposeExtension(id, seal + limit.maxSealMs + 1, 'too long')),
      ).toMatchObject({ status: 400, code: 'ACCESS_EXTENSION_LIMIT' });
      const p1 = await w.requester.proposeExtension(id, seal + HOUR, 'the inquiry continues');
      expect(p1.number).toBe(1);
      const s1 = decodeExtensionStatement(p1.statement);
      expect(s1).toMatchObject({ number: 1, oldSealUntil: seal, newSealUntil: seal + HOUR });
      expect(s1.issuedAt).toBeLessThanOrEqual(Date.now());
      expect(await refusal(w.requester.proposeExtension(id, seal + 2 * HOUR, 'again'))).toMatchObject({
        status: 409,
        code: 'ACCESS_EXTENSION_EXISTS',
      });
      const listed = (await w.trustees[2]!.listExtensions()).items.find(
        (x) => toBase64(x.requestId) === toBase64(id),
      );
      expect(listed).toMatchObject({ number: 1, reason: 'the inquiry continues', signers: [], index: null });
      expect(listed!.statement).toEqual(p1.statement);
      expect((await w.requester.listExtensions()).items.map((x) => x.seq)).toContain(listed!.seq);

      const size = h.sequencer.checkpoint.size;
      // A signature over other bytes, or one sent for another trustee.
      const wrong = signExtensionStatement({ ...s1, newSealUntil: seal + 2 * HOUR }, 1, TRUSTEE_KEYS[0]!);
      expect(await refusal(w.trustees[0]!.signExtension(id, 1, wrong.signature))).toMatchObject({
        status: 400,
        code: 'ACCESS_EXTENSION_INVALID',
        check: 'ACC-E2',
      });
      const g1 = signExtensionStatement(s1, 1, TRUSTEE_KEYS[0]!);
      const asOther = await new Client(h.url, TRUSTEE_KEYS[0]!, { kind: 'trustee', index: 1 }).request(
        'POST',
        '/v1/access/extensions/signatures',
        { requestId: toBase64Url(id), number: 1, trustee: 2, signature: toBase64(g1.signature) },
      );
      expect(asOther.status).toBe(403);
      expect(await refusal(w.trustees[0]!.signExtension(id, 2, g1.signature))).toMatchObject({
        status: 404,
        code: 'ACCESS_EXTENSION_UNKNOWN',
      });
      expect(await w.trustees[0]!.signExtension(id, 1, g1.signature)).toEqual({ signers: 1, created: true });
      expect(await w.trustees[0]!.signExtension(id, 1, g1.signature)).toEqual({ signers: 1, created: false });
      expect(h.sequencer.checkpoint.size).toBe(size);
      const g3 = signExtensionStatement(s1, 3, TRUSTEE_KEYS[2]!);
      const done = await w.trustees[2]!.signExtension(id, 1, g3.signature);
      expect(done.signers).toBe(2);
      const e = await entryAt(h, done.index!);
      expect(e.type).toBe(ENTRY_TYPES.extension);
      const x1 = verifyExtension(e.body, w.policy, f.v);
      expect(x1.extension.signatures.map((g) => g.trusteeIndex)).toEqual([1, 3]);

      // Number 2 chains on number 1; number 3 is over the policy's max_extensions (2).
      const p2 = await w.requester.proposeExtension(id, seal + 2 * HOUR, 'still');
      const s2 = decodeExtensionStatement(p2.statement);
      expect(s2).toMatchObject({ number: 2, oldSealUntil: seal + HOUR });
      await w.trustees[1]!.signExtension(id, 2, signExtensionStatement(s2, 2, TRUSTEE_KEYS[1]!).signature);
      const d2 = await w.trustees[2]!.signExtension(
        id,
        2,
        signExtensionStatement(s2, 3, TRUSTEE_KEYS[2]!).signature,
      );
      verifyExtension((await entryAt(h, d2.index!)).body, w.policy, f.v, x1);
      expect(limit.maxExtensions).toBe(2);
      expect(await refusal(w.requester.proposeExtension(id, seal + 3 * HOUR, 'more'))).toMatchObject({
        status: 400,
        code: 'ACCESS_EXTENSION_LIMIT',
      });
    });

    it('nothing is logged past the deadline; an extended seal is not unsealed at its old date (ACC-E4, ACC-U4)', async () => {
      const { h } = w;
      const late = await file(w, SHORT_SEAL_MS, true);
      const extended = await file(w, SHORT_SEAL_MS + 500, true);
      const lateId = late.v.request.requestId;
      const pl = await w.requester.proposeExtension(lateId, late.v.request.sealUntil + HOUR, 'late');
      const sl = decodeExtensionStatement(pl.statement);
      await w.trustees[0]!.signExtension(
        lateId,
        1,
        signExtensionStatement(sl, 1, TRUSTEE_KEYS[0]!).signature,
      );
      const xid = extended.v.request.requestId;
      const px = await w.requester.proposeExtension(xid, extended.v.request.sealUntil + HOUR, 'in time');
      const sx = decodeExtensionStatement(px.statement);
      await w.trustees[0]!.signExtension(xid, 1, signExtensionStatement(sx, 1, TRUSTEE_KEYS[0]!).signature);
      const logged = await w.trustees[1]!.signExtension(
        xid,
        1,
        signExtensionStatement(sx, 2, TRUSTEE_KEYS[1]!).signature,
      );
      expect(logged.index).toBeDefined();

      await until(extended.v.request.sealUntil);
      const size = h.sequencer.checkpoint.size;
      expect(
        await refusal(
          w.trustees[1]!.signExtension(lateId, 1, signExtensionStatement(sl, 2, TRUSTEE_KEYS[1]!).signature),
        ),
      ).toMatchObject({ status: 409, code: 'ACCESS_SEAL_EXPIRED', check: 'ACC-E4' });
      expect(h.sequencer.checkpoint.size).toBe(size);
      // The unextended one is unsealed; the extended one is not (its seal-until in force is an hour later).
      const appended = await h.relay.access.unsealDue();
      const unsealedIds = await Promise.all(appended.map(async (i) => toBase64((await entryAt(h, i)).body)));
      expect(appended).toHaveLength(1);
      expect(unsealedIds[0]).toBe(toBase64((await h.relay.storage.access.getUnseal(lateId))!.signed));
      expect(await h.relay.storage.access.getUnseal(xid)).toBeUndefined();
      expect(
        await refusal(w.requester.proposeExtension(lateId, Date.now() + HOUR, 'too late')),
      ).toMatchObject({
        status: 409,
        code: 'ACCESS_UNSEALED',
      });
    });
  });
}

flows('on SQLite', async () => {
  const w = await startWorld();
  return { w, close: () => w.h.close() };
});

describe('on PostgreSQL (the same flows on the other driver)', () => {
  const url = testDatabaseUrl();
  if (url === undefined) {
    console.warn('DATABASE_URL is not set: the PostgreSQL run of the unseal flows is SKIPPED');
    it.skip('SKIPPED: set DATABASE_URL to run it', () => {});
    return;
  }
  const schema = randomSchemaName();
  flows('PostgreSQL', async () => {
    const w = await startWorld({ url, schema });
    return {
      w,
      close: async () => {
        try {
          await w.h.close();
        } finally {
          await dropSchema(url, schema);
        }
      },
    };
  });
});

describe('ACC-0: malformed bodies of the after-release endpoints are ACCESS_BAD_REQUEST and change nothing', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld();
  });
  afterAll(async () => {
    await w?.h.close();
  });

  const badValue = fc.oneof(
    fc.constantFrom('A', 'AB=', '@@@@', '', 'Zm9v\n', -1, 1.5, 2 ** 60, 256, 'x'.repeat(1100)),
    fc.constant(null),
    fc.boolean(),
    fc.array(fc.integer(), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }),
  );

  it('mutated valid bodies: a field replaced, removed, or an unknown field added (property)', async () => {
    const t1 = () => new Client(w.h.url, TRUSTEE_KEYS[0]!, { kind: 'trustee', index: 1 });
    const rq = () => new Client(w.h.url, REQUESTER_KEY, { kind: 'requester', requesterId: 'requester' });
    const id = toBase64Url(randomBytes(16));
    const endpoints = [
      { path: '/v1/access/unseals', who: t1, good: { unseal: toBase64(randomBytes(40)) } },
      { path: '/v1/access/extensions', who: rq, good: { requestId: id, newSealUntil: 5, reason: 'r' } },
      {
        path: '/v1/access/extensions/signatures',
        who: t1,
        good: { requestId: id, number: 1, trustee: 1, signature: toBase64(randomBytes(64)) },
      },
    ];
    const before = w.h.sequencer.checkpoint.size;
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
            // Values some fields accept: a small count for number/trustee/newSealUntil, a short reason.
            if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 && value <= 255)
              return;
            if (
              key === 'newSealUntil' &&
              typeof value === 'number' &&
              Number.isSafeInteger(value) &&
              value >= 0
            )
              return;
            if (key === 'reason' && typeof value === 'string' && value.length <= 1024) return;
            // Well-formed base64 is a well-formed unseal field (any length up to an entry): it reaches the
            // unseal's own checks (ACC-U1), not ACC-0.
            if (key === 'unseal' && typeof value === 'string' && /^(?:[A-Za-z0-9+/]{4})+$/.test(value))
              return;
            body[key] = value;
          } else if (how === 'remove') delete body[key];
          else body.unexpected = value;
          const r = await ep.who().request('POST', ep.path, body);
          expect(r.status).toBe(400);
          expect(r.body).toMatchObject({ code: 'ACCESS_BAD_REQUEST', check: 'ACC-0' });
        },
      ),
      { numRuns: 90 },
    );
    for (const text of ['{"a":', '[1,2', '"x"', '{}', '\u0000'])
      for (const ep of endpoints) {
        const r = await ep.who().request('POST', ep.path, text);
        expect(r.body).toMatchObject({ code: 'ACCESS_BAD_REQUEST', check: 'ACC-0' });
      }
    // Public reads: bad queries and paths (no signature needed to be refused).
    for (const target of [
      '/v1/access/unsealed?limit=0',
      '/v1/access/unsealed?after=-1',
      '/v1/access/unsealed?x=1',
      '/v1/access/requests/AAAA/public',
      `/v1/access/requests/${id}/public?x=1`,
      `/v1/access/requests/${id}/labels?limit=4097`,
      '/v1/access/extensions?limit=0',
    ]) {
      const g = await rq().request('GET', target);
      expect(g.status).toBe(400);
      expect(g.body).toMatchObject({ code: 'ACCESS_BAD_REQUEST', check: 'ACC-0' });
    }
    expect(w.h.sequencer.checkpoint.size).toBe(before);
    expect(await w.h.relay.storage.access.listExtensionProposals(0, 10)).toEqual([]);
  });
});
