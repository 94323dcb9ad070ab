// The trustee's access half against the real relay of access.md §4 (server harness: relay, sequencer, SQLite log,
// two in-process witnesses cosigning every checkpoint), driven through the client's AccessRelayClient: the
// requester files a request sealed to every trustee, trustee 1 reads it and approves through its operator routes,
// trustee 2 approves, the relay executes; trustee 1's AccessService, fed the relay's log, releases under the
// release rule; the relay accepts the release (ACC-L1..L4) and the requester opens the bundle and verifies every
// share against its capsule. A re-run after the release sends nothing new.
import { AccessRelayClient } from '@overt/client';
import {
  commitConfidential,
  decisionFor,
  decisionsOnLog,
  decodeCapsule,
  evaluatePolynomial,
  generateDkgEncryptionKey,
  group,
  openShareBundle,
  randomBytes,
  randomScalar,
  type SealedEnvelope,
  sealConfidentialToAll,
  sealEnvelope,
  signDecision,
  signEpochKeyStatement,
  signingKeyFromSeed,
  signPolicy,
  signRequest,
  type ThresholdPublicKey,
  toBase64,
  toBase64Url,
  utf8Encode,
  verifyCapsule,
  verifyExecution,
  verifyPolicy,
  verifyRelease,
  verifyRequest,
  verifyShare,
} from '@overt/core';
import {
  cosign,
  formatSignatureLine,
  makeVerifierKey,
  parseNote,
  SIGNATURE_TYPE_COSIGNATURE,
  SIGNATURE_TYPE_ED25519,
  signerKeyFromSeed,
  verifierKeyOf,
} from '@overt/log';
import type { LogWitness } from '@overt/log/service';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calendarMonthEpoch } from '../../../server/src/epochs.js';
import {
  createConversation,
  type Harness,
  LOG_ORIGIN,
  ORG,
  startHarness,
  TRUSTEE_KEYS,
  testPolicy,
  textFields,
} from '../../../server/test/harness.js';
import { handleAccessRoute } from './routes.js';
import { AccessService } from './service.js';

const EPOCH = calendarMonthEpoch(Date.now());
const HOUR = 3_600_000;
const REQUESTER_KEY = signingKeyFromSeed(new Uint8Array(32).fill(0x90));
const witnessKeys = [1, 2].map((i) =>
  signerKeyFromSeed(`witness-${i}.test`, SIGNATURE_TYPE_COSIGNATURE, new Uint8Array(32).fill(0x80 + i)),
);
const logSigner = signerKeyFromSeed(LOG_ORIGIN, SIGNATURE_TYPE_ED25519, new Uint8Array(32).fill(0x60));

/** An in-process witness: cosigns whatever the sequencer submits, with the current time. */
const inProcess = (key: (typeof witnessKeys)[number]): LogWitness => ({
  key: verifierKeyOf(key),
  addCheckpoint: async (note) => {
    const text = parseNote(new TextDecoder().decode(note)).text;
    return { lines: formatSignatureLine(cosign(text, key, Math.floor(Date.now() / 1000))) };
  },
});

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    logKey: logSigner,
    witnesses: witnessKeys.map(inProcess),
    witnessQuorum: 2,
    rateLimits: {
      principal: { capacity: 100_000, refillPerSecond: 100_000 },
      address: { capacity: 100_000, refillPerSecond: 100_000 },
    },
  });
});
afterAll(async () => {
  await h.close();
});

describe('trustee access half against the real relay', () => {
  it('reviews, approves and releases; the relay accepts the release and the requester verifies every share', async () => {
    const hpke = await Promise.all([1, 2, 3].map(() => generateDkgEncryptionKey()));
    const requesterHpke = await generateDkgEncryptionKey();
    const base = testPolicy(ORG);
    const signedPolicy = signPolicy(
      {
        ...base,
        trustees: base.trustees.map((t, i) => ({ ...t, encryptionKey: hpke[i]!.publicKey })),
        requesters: base.requesters.map((r) => ({ ...r, encryptionKey: requesterHpke.publicKey })),
      },
      h.adminKey,
    );
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
    // A dealt sharing stands in for the DKG; the trustees sign and publish the epoch key.
    const coefficients = [randomScalar(), randomScalar()];
    const shares = [1, 2, 3].map((index) => ({ index, secret: evaluatePolynomial(coefficients, index) }));
    const publicKey: ThresholdPublicKey = {
      threshold: 2,
      groupKey: group.baseMul(coefficients[0]!),
      verificationKeys: shares.map((s) => group.baseMul(s.secret)),
    };
    await trustees[0]!.publishEpochKey(
      signEpochKeyStatement(
        {
          orgId: ORG,
          epoch: EPOCH,
          policyHash: policy.hash,
          threshold: 2,
          groupKey: publicKey.groupKey,
          verificationKeys: publicKey.verificationKeys,
          transcriptHash: randomBytes(32),
          sessionId: randomBytes(32),
          time: Date.now(),
        },
        TRUSTEE_KEYS.slice(0, 2).map((key, i) => ({ index: i + 1, key })),
      ),
    );
    const alice = await h.enrol('alice', 'alice-phone');
    const bob = await h.enrol('bob', 'bob-phone');
    const conversationId = (await createConversation(alice, [bob])).groupId;
    const sealed: SealedEnvelope[] = [];
    for (const text of ['one', 'two', 'three']) {
      const s = await sealEnvelope(
        textFields(EPOCH, { conversationId }),
        utf8Encode(text),
        publicKey.groupKey,
        alice.key,
      );
      expect(
        (await alice.request('PUT', `/v1/envelopes/${toBase64Url(s.header.messageId)}`, s.envelope)).status,
      ).toBe(201);
      sealed.push(s);
    }

    // The requester files a request about bob, its confidential part sealed to each trustee.
    const now = Date.now();
    const { commitment, opening } = commitConfidential({
      justification: 'suspected fraud',
      caseReference: 'case 7',
    });
    const signed = signRequest(
      {
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
      },
      REQUESTER_KEY,
    );
    const req = verifyRequest(signed, policy);
    const requester = new AccessRelayClient({
      url: h.url,
      signer: { kind: 'requester', id: 'requester', key: REQUESTER_KEY },
    });
    await requester.fileRequest(signed, await sealConfidentialToAll(policy, req, opening));

    // Trustee 1: its access service over the relay's log.
    const service = AccessService.open({
      dataDir: ':memory:',
      vault: {
        index: 1,
        signingKey: () => TRUSTEE_KEYS[0]!,
        hpkeKeyPair: () => hpke[0]!,
        share: async (epoch) =>
          epoch === EPOCH
            ? { epoch, share: shares[0]!, publicKey, transcriptHash: new Uint8Array(32) }
            : undefined,
        addAlert: () => true,
      },
      relay: trustees[0]!,
      orgKey: h.adminKey.publicKey,
      relayKey: h.accessKey!.publicKey,
      log: {
        origin: LOG_ORIGIN,
        logKeys: [makeVerifierKey(LOG_ORIGIN, SIGNATURE_TYPE_ED25519, logSigner.publicKey)],
      },
      maxAgeSeconds: 300,
    });
    // As the daemon's monitor does: only checkpoints the witness quorum cosigned reach the tracker.
    const cosigned = async () => {
      for (let i = 0; i < 200; i++) {
        const cp = h.sequencer.publishedCheckpoint;
        if (cp !== undefined && cp.cosignatures >= 2 && cp.size === h.sequencer.checkpoint.size) return cp;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error('no checkpoint cosigned by the quorum');
    };
    const sync = async () => {
      const cp = await cosigned();
      const entries = await h.logStorage.readEntries(0, cp.size);
      for (const [i, e] of entries.entries()) service.onEntry(i, e);
      const before = service.tracker.checkpoint()?.checkpoint.size;
      service.tracker.onCheckpoint(
        cp.note,
        before === undefined ? [] : await h.sequencer.consistencyProof(before, cp.size),
      );
    };
    await sync();
    const id = toBase64Url(req.request.requestId);
    const listed = await handleAccessRoute(service.routes, 'GET', '/v1/requests');
    expect(listed?.body).toMatchObject({
      requests: [
        { requestId: id, confidential: { justification: 'suspected fraud', caseReference: 'case 7' } },
      ],
    });
    expect(
      (await handleAccessRoute(service.routes, 'POST', `/v1/requests/${id}/decision`, { verdict: 'approve' }))
        ?.status,
    ).toBe(200);
    const second = await trustees[1]!.submitDecision(
      signDecision(decisionFor(req, 2, 'approve', Date.now()), TRUSTEE_KEYS[1]!),
    );
    expect(second.execution).toBeDefined();
    // The relay executed; wait for a cosigned checkpoint covering it, then run the rule.
    await sync();
    const outcome = [...(await service.tick()).values()];
    expect(outcome).toEqual([
      { status: 'released', batches: 1, shares: 3, refused: { 'REL-4': 0, 'REL-5': 0 } },
    ]);
    expect((await service.tick()).size).toBe(0);

    // The requester fetches the bundle the relay stored and verifies every share.
    const view = await requester.getRequest(req.request.requestId);
    expect(view.releases).toHaveLength(1);
    const entries = await h.logStorage.readEntries(0, h.sequencer.checkpoint.size);
    const execution = verifyExecution(
      view.execution!.execution,
      h.accessKey!.publicKey,
      policy,
      req,
      decisionsOnLog(policy, req, entries),
    );
    const release = verifyRelease(view.releases[0]!.release, policy, execution);
    const bundle = await requester.releaseBundle(req.request.requestId, 1, 0);
    const opened = await openShareBundle(requesterHpke.secretKey, policy, execution, release, 0, bundle);
    expect(opened.shares).toHaveLength(3);
    for (const s of sealed) {
      const share = opened.shares.find((x) => toBase64(x.label) === toBase64(s.label))!;
      verifyShare(
        publicKey,
        verifyCapsule(publicKey.groupKey, decodeCapsule(s.capsule), s.label),
        share.share,
      );
    }
    service.close();
  }, 60_000);
});
