// Measures the relay's execution (access.md §4.1) on SQLite: N stored envelopes in the window, half of them in the
// request's scope; the time from the second approval's POST to its answer (select, sort, sign, append, store the
// selection), and a full page of 4096 heads. Run: npx tsx packages/server/test/bench-access-select.ts [N]
import { AccessRelayClient } from '@overt/client';
import {
  commitConfidential,
  decisionFor,
  group,
  randomBytes,
  randomNonZeroScalar,
  sealEnvelope,
  signDecision,
  signingKeyFromSeed,
  signPolicy,
  signRequest,
  toBase64,
  utf8Encode,
  verifyPolicy,
  verifyRequest,
} from '@overt/core';
import { calendarMonthEpoch } from '../src/epochs.js';
import { ORG, startHarness, TRUSTEE_KEYS, testPolicy, textFields } from './harness.js';

const N = Number(process.argv[2] ?? 5000);
const h = await startHarness();
try {
  const signedPolicy = signPolicy(
    testPolicy(ORG, { limits: { ...testPolicy().limits, maxEnvelopes: 100_000 } }),
    h.adminKey,
  );
  await h.admin.request('POST', '/v1/admin/policies', { statement: toBase64(signedPolicy) });
  const policy = verifyPolicy(signedPolicy, h.adminKey.publicKey);
  const epoch = calendarMonthEpoch(Date.now());
  const y = group.baseMul(randomNonZeroScalar());
  const signer = signingKeyFromSeed(new Uint8Array(32).fill(9));
  let t = performance.now();
  for (let i = 0; i < N; i++) {
    const recipients = i % 2 === 0 ? ['alice', 'bob'] : ['alice', 'carol'];
    const s = await sealEnvelope(textFields(epoch, { recipients }), utf8Encode(`m${i}`), y, signer);
    const head = s.head;
    const headerLength = new DataView(head.buffer, head.byteOffset).getUint32(0);
    await h.relay.storage.putEnvelope({
      messageId: s.header.messageId,
      orgId: ORG,
      epoch,
      conversationId: s.header.conversationId,
      senderUserId: 'alice',
      senderDeviceId: 'alice-phone',
      sendTime: s.header.sendTime,
      header: head.subarray(4, 4 + headerLength),
      capsule: head.subarray(4 + headerLength, head.length - 64),
      signature: head.subarray(head.length - 64),
      ciphertext: s.envelope.subarray(head.length),
      blobId: null,
      receivedAt: Date.now(),
    });
  }
  console.log(`stored ${N} envelopes in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const now = Date.now();
  const requesterKey = signingKeyFromSeed(new Uint8Array(32).fill(0x90));
  const signed = signRequest(
    {
      version: 1,
      orgId: ORG,
      requestId: randomBytes(16),
      policyHash: policy.hash,
      requesterId: 'requester',
      createdAt: now,
      legalBasis: 'bench',
      documentHash: randomBytes(32),
      subjects: ['bob'],
      window: { from: now - 3_600_000, until: now + 3_600_000 },
      conversations: [],
      maxEnvelopes: 100_000,
      sealUntil: now,
      confidentialCommitment: commitConfidential({ justification: 'j', caseReference: '' }).commitment,
    },
    requesterKey,
  );
  const v = verifyRequest(signed, policy);
  const r = new AccessRelayClient({
    url: h.url,
    signer: { kind: 'requester', id: 'requester', key: requesterKey },
  });
  await r.fileRequest(
    signed,
    [1, 2, 3].map((trustee) => ({ trustee, sealed: randomBytes(64) })),
  );
  const tc = (i: number) =>
    new AccessRelayClient({ url: h.url, signer: { kind: 'trustee', index: i, key: TRUSTEE_KEYS[i - 1]! } });
  await tc(1).submitDecision(signDecision(decisionFor(v, 1, 'approve', Date.now()), TRUSTEE_KEYS[0]!));
  t = performance.now();
  const d = await tc(2).submitDecision(
    signDecision(decisionFor(v, 2, 'approve', Date.now()), TRUSTEE_KEYS[1]!),
  );
  console.log(
    `execution of ${N / 2} of ${N} envelopes: ${(performance.now() - t).toFixed(0)} ms (log index ${d.execution?.index})`,
  );
  t = performance.now();
  const page = await r.envelopes(v.request.requestId, 0, 4096);
  console.log(
    `page of ${page.items.length} heads: ${(performance.now() - t).toFixed(0)} ms, next ${page.next}`,
  );
} finally {
  await h.close();
}
