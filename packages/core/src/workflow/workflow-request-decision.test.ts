// Requests and decisions (docs/spec/workflow.md §3–§4): codec round trips, the confidential commitment,
// verification against the policy and its limits (A11), and approvals bound to one request (A8).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesArb, flip, idStringArb, millisArb, outcome, seededRng } from '../../test/envelope-fixtures.js';
import {
  committed,
  confidential,
  DAY,
  decisionEntry,
  loggedDecisions,
  orgKey,
  policy,
  request,
  requesterKeys,
  signedDecision,
  signedRequest,
  trusteeKeys,
  verifiedPolicy,
  verifiedRequest,
} from '../../test/workflow-fixtures.js';
import { compareBytes, toHex } from '../bytes.js';
import {
  approvingTrustees,
  checkApprovalQuorum,
  decisionFor,
  decisionsOnLog,
  decodeDecision,
  encodeDecision,
  signDecision,
  verifyDecision,
} from './decision.js';
import { signPolicy, verifyPolicy } from './policy.js';
import {
  checkOpening,
  commitConfidential,
  decodeOpening,
  decodeRequest,
  encodeOpening,
  encodeRequest,
  type Request,
  verifyRequest,
} from './request.js';

const requestArb: fc.Arbitrary<Request> = fc
  .record({
    orgId: idStringArb(64),
    requestId: bytesArb(16, 16),
    policyHash: bytesArb(32, 32),
    requesterId: idStringArb(128),
    createdAt: fc.integer({ min: 0, max: 2 ** 50 }),
    legalBasis: fc
      .string({ minLength: 1, maxLength: 200 })
      .filter((s) => new TextEncoder().encode(s).length <= 1024),
    documentHash: bytesArb(32, 32),
    subjects: fc.uniqueArray(idStringArb(128), { minLength: 1, maxLength: 5 }),
    from: fc.integer({ min: 0, max: 2 ** 50 }),
    length: fc.integer({ min: 1, max: 2 ** 40 }),
    conversations: fc.uniqueArray(bytesArb(1, 64), { maxLength: 4, selector: toHex }),
    maxEnvelopes: fc.integer({ min: 1, max: 0xffffffff }),
    seal: fc.integer({ min: 0, max: 2 ** 40 }),
    confidentialCommitment: bytesArb(32, 32),
  })
  .map(({ from, length, seal, ...r }) => ({
    ...r,
    version: 1,
    subjects: [...r.subjects].sort(),
    conversations: [...r.conversations].sort(compareBytes),
    window: { from, until: from + length },
    sealUntil: r.createdAt + seal,
  }));

describe('request codec and commitment', () => {
  it('round-trips every valid request canonically', () => {
    fc.assert(
      fc.property(requestArb, (q) => {
        const bytes = encodeRequest(q);
        const back = decodeRequest(bytes);
        expect(back).toEqual(q);
        expect(toHex(encodeRequest(back))).toBe(toHex(bytes));
      }),
      { numRuns: 150 },
    );
  });

  it.each<[string, Partial<Request>]>([
    ['an empty window', { window: { from: 10, until: 10 } }],
    ['a reversed window', { window: { from: 11, until: 10 } }],
    ['no subjects', { subjects: [] }],
    ['unsorted subjects', { subjects: ['bob@example.org', 'alice@example.org'] }],
    ['a seal ending before creation', { sealUntil: 0 }],
    ['an empty legal basis', { legalBasis: '' }],
    ['a 15-byte request id', { requestId: new Uint8Array(15) }],
    ['duplicate conversations', { conversations: [Uint8Array.of(1), Uint8Array.of(1)] }],
    ['zero envelopes', { maxEnvelopes: 0 }],
  ])('refuses %s (REQUEST_INVALID, WF-R1)', async (_, change) => {
    expect(await outcome(() => encodeRequest(request(change)))).toBe('REQUEST_INVALID WF-R1');
  });

  it('opens its commitment with the right opening only (WF-R6)', async () => {
    const q = request();
    checkOpening(q, committed.opening);
    const back = decodeOpening(encodeOpening(committed.opening));
    checkOpening(q, back);
    const changed = {
      ...committed.opening,
      confidential: { ...confidential, caseReference: 'II-2025-0043' },
    };
    expect(await outcome(() => checkOpening(q, changed))).toBe('COMMITMENT_MISMATCH WF-R6');
    expect(
      await outcome(() => checkOpening(q, { ...committed.opening, salt: flip(committed.opening.salt, 0) })),
    ).toBe('COMMITMENT_MISMATCH WF-R6');
    // Salted: the same confidential part commits differently each time, so the log does not reveal it.
    expect(toHex(commitConfidential(confidential, seededRng('other')).commitment)).not.toBe(
      toHex(committed.commitment),
    );
  });

  it('round-trips openings', () => {
    fc.assert(
      fc.property(
        bytesArb(32, 32),
        fc.string({ minLength: 1, maxLength: 300 }),
        fc.string({ maxLength: 60 }),
        (salt, justification, caseReference) => {
          const o = { salt, confidential: { justification, caseReference } };
          expect(decodeOpening(encodeOpening(o))).toEqual(o);
        },
      ),
    );
  });
});

describe('request verification (release rule 1)', () => {
  it('accepts a request within every limit and exactly at the limits', () => {
    expect(verifiedRequest().request.requesterId).toBe('internal-investigations');
    const p = policy().limits;
    const q = request({
      subjects: ['a@example.org', 'b@example.org', 'c@example.org'].slice(0, p.maxSubjects),
      window: { from: 0, until: p.maxWindowMs },
      maxEnvelopes: p.maxEnvelopes,
      sealUntil: request().createdAt + p.maxSealMs,
    });
    verifyRequest(signedRequest(q), verifiedPolicy);
  });

  it.each<[string, Partial<Request>]>([
    ['one subject too many', { subjects: ['a@x', 'b@x', 'c@x', 'd@x'] }],
    ['a window 1 ms too long', { window: { from: 0, until: 31 * DAY + 1 } }],
    ['one envelope too many', { maxEnvelopes: 1001 }],
    ['a seal 1 ms too long', { sealUntil: request().createdAt + 180 * DAY + 1 }],
  ])('refuses %s (REQUEST_LIMIT, WF-R5, A11)', async (_, change) => {
    expect(await outcome(() => verifyRequest(signedRequest(change), verifiedPolicy))).toBe(
      'REQUEST_LIMIT WF-R5',
    );
  });

  it('refuses a population-scale request (A11)', async () => {
    const everyone = Array.from({ length: 5000 }, (_, i) => `user${String(i).padStart(5, '0')}@example.org`);
    expect(await outcome(() => verifyRequest(signedRequest({ subjects: everyone }), verifiedPolicy))).toBe(
      'REQUEST_LIMIT WF-R5',
    );
  });

  it('refuses requests for another org or policy (WF-R2), unknown requesters (WF-R3), bad signatures (WF-R4)', async () => {
    expect(await outcome(() => verifyRequest(signedRequest({ orgId: 'other.org' }), verifiedPolicy))).toBe(
      'REQUEST_INVALID WF-R2',
    );
    expect(
      await outcome(() => verifyRequest(signedRequest({ policyHash: new Uint8Array(32) }), verifiedPolicy)),
    ).toBe('REQUEST_INVALID WF-R2');
    expect(
      await outcome(() => verifyRequest(signedRequest({ requesterId: 'journalist' }), verifiedPolicy)),
    ).toBe('REQUEST_INVALID WF-R3');
    // Signed by another authorised requester than the one it names.
    expect(await outcome(() => verifyRequest(signedRequest({}, requesterKeys.police), verifiedPolicy))).toBe(
      'SIGNATURE_INVALID WF-R4',
    );
    const signed = signedRequest();
    expect(await outcome(() => verifyRequest(flip(signed, signed.length - 1), verifiedPolicy))).toBe(
      'SIGNATURE_INVALID WF-R4',
    );
    expect(await outcome(() => verifyRequest(signed.subarray(0, 10), verifiedPolicy))).toBe(
      'REQUEST_INVALID WF-R1',
    );
  });
});

describe('decisions (A8)', () => {
  const req = verifiedRequest();

  it('round-trips decisions', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 255 }),
        fc.constantFrom<'approve' | 'deny'>('approve', 'deny'),
        millisArb,
        fc.string({ maxLength: 100 }),
        (i, verdict, t, reason) => {
          const d = decisionFor(req, i, verdict, t, reason);
          expect(decodeDecision(encodeDecision(d))).toEqual(d);
        },
      ),
    );
  });

  it('verifies a trustee’s approval of this request', () => {
    const v = verifyDecision(signedDecision(req, 2), verifiedPolicy, req);
    expect(v.decision.verdict).toBe('approve');
    expect(v.decision.trusteeIndex).toBe(2);
  });

  it('an approval replayed onto another request is refused (WF-D4)', async () => {
    const approval = signedDecision(req, 1);
    const other = verifiedRequest({ requestId: new Uint8Array(16).fill(0x78) });
    expect(await outcome(() => verifyDecision(approval, verifiedPolicy, other))).toBe(
      'DECISION_INVALID WF-D4',
    );
    // Same request id, different contents (a wider window): the content hash differs.
    const widened = verifiedRequest({
      window: { from: request().window.from - DAY, until: request().window.until },
    });
    expect(toHex(widened.request.requestId)).toBe(toHex(req.request.requestId));
    expect(await outcome(() => verifyDecision(approval, verifiedPolicy, widened))).toBe(
      'DECISION_INVALID WF-D4',
    );
  });

  it('refuses unknown trustees (WF-D2), another trustee’s signature (WF-D3), malformed bytes (WF-D1)', async () => {
    const d = decisionFor(req, 1, 'approve', 0);
    expect(
      await outcome(() =>
        verifyDecision(signDecision({ ...d, trusteeIndex: 9 }, trusteeKeys[0]!), verifiedPolicy, req),
      ),
    ).toBe('DECISION_INVALID WF-D2');
    expect(
      await outcome(() =>
        verifyDecision(signDecision({ ...d, orgId: 'other.org' }, trusteeKeys[0]!), verifiedPolicy, req),
      ),
    ).toBe('DECISION_INVALID WF-D2');
    expect(await outcome(() => verifyDecision(signDecision(d, trusteeKeys[1]!), verifiedPolicy, req))).toBe(
      'SIGNATURE_INVALID WF-D3',
    );
    expect(await outcome(() => verifyDecision(signDecision(d, orgKey), verifiedPolicy, req))).toBe(
      'SIGNATURE_INVALID WF-D3',
    );
    expect(await outcome(() => verifyDecision(new Uint8Array(5), verifiedPolicy, req))).toBe(
      'DECISION_INVALID WF-D1',
    );
    const bad = encodeDecision(d);
    bad[bad.length - 11] = 3; // verdict byte
    expect(await outcome(() => decodeDecision(bad))).toBe('DECISION_INVALID WF-D1');
  });

  it('counts k distinct approving trustees; duplicates and split votes do not help (WF-D5)', async () => {
    const d = (i: number, verdict: 'approve' | 'deny' = 'approve') => signedDecision(req, i, verdict);
    const quorum = (...signed: Uint8Array[]) =>
      checkApprovalQuorum(verifiedPolicy, req, loggedDecisions(req, signed));
    expect(quorum(d(1), d(3))).toEqual([1, 3]);
    expect(await outcome(() => quorum(d(1), d(1)))).toBe('DECISION_INVALID WF-D5');
    expect(await outcome(() => quorum(d(1), d(2, 'deny')))).toBe('DECISION_INVALID WF-D5');
    expect(approvingTrustees(loggedDecisions(req, [d(1), d(2), d(2, 'deny')]))).toEqual([1]);
    // Decisions collected for another request do not count for this one.
    const other = verifiedRequest({ requestId: new Uint8Array(16).fill(1) });
    const foreign = loggedDecisions(other, [signedDecision(other, 1), signedDecision(other, 2)]);
    expect(await outcome(() => checkApprovalQuorum(verifiedPolicy, req, foreign))).toBe(
      'DECISION_INVALID WF-D4',
    );
  });

  it('release rule 2 runs over the whole log: a denial left out of a hand-picked list still counts (WF-D5)', async () => {
    const a1 = signedDecision(req, 1);
    const a2 = signedDecision(req, 2);
    const deny2 = signedDecision(req, 2, 'deny');
    // The log: the request's entry, trustees 1 and 2 approving, another request's decisions, trustee 2 denying.
    const other = verifiedRequest({ requestId: new Uint8Array(16).fill(2) });
    const log = [
      Uint8Array.of(5, ...signedRequest()),
      decisionEntry(a1),
      decisionEntry(signedDecision(other, 3)),
      decisionEntry(a2),
      decisionEntry(signedDecision(other, 2, 'deny')),
      decisionEntry(deny2),
    ];
    const logged = decisionsOnLog(verifiedPolicy, req, log);
    expect(logged.entriesRead).toBe(6);
    expect(logged.decisions.map((x) => [x.decision.trusteeIndex, x.decision.verdict])).toEqual([
      [1, 'approve'],
      [2, 'approve'],
      [2, 'deny'],
    ]);
    expect(await outcome(() => checkApprovalQuorum(verifiedPolicy, req, logged))).toBe(
      'DECISION_INVALID WF-D5',
    );
    // The list a caller would hand-pick (the two approvals, without the denial) reached the quorum under the old
    // API; it is no longer accepted: the argument must come from decisionsOnLog, which reads the log itself.
    const handPicked = [a1, a2].map((b) => verifyDecision(b, verifiedPolicy, req));
    // @ts-expect-error checkApprovalQuorum takes the logged decisions, not a list of the caller's choosing
    expect(await outcome(() => checkApprovalQuorum(verifiedPolicy, req, handPicked))).toBe(
      'DECISION_INVALID WF-D4',
    );
    // The denial counts wherever it sits in the log, before or after the approval.
    const reordered = decisionsOnLog(verifiedPolicy, req, [log[5]!, log[0]!, log[3]!, log[1]!]);
    expect(await outcome(() => checkApprovalQuorum(verifiedPolicy, req, reordered))).toBe(
      'DECISION_INVALID WF-D5',
    );
  });

  it('skips log entries that are not verifiable decisions about the request', () => {
    const a1 = signedDecision(req, 1);
    const a3 = signedDecision(req, 3);
    // A denial by trustee 1 that does not verify (signed by trustee 2's key) is attributable to nobody.
    const forgedDeny = signDecision(decisionFor(req, 1, 'deny', 0), trusteeKeys[1]!);
    // Same request id, other contents (a wider request): not a decision about this request (A8).
    const twin = verifiedRequest({ maxEnvelopes: 499 });
    const log = [
      new Uint8Array(0),
      Uint8Array.of(6),
      Uint8Array.of(6, 0, 0, 0, 9, 1, 2),
      decisionEntry(forgedDeny),
      decisionEntry(signedDecision(twin, 2, 'deny')),
      Uint8Array.of(7, ...a1), // a decision's bytes under another entry type
      decisionEntry(a1),
      decisionEntry(a3),
    ];
    const logged = decisionsOnLog(verifiedPolicy, req, log);
    expect(logged.decisions).toHaveLength(2);
    expect(checkApprovalQuorum(verifiedPolicy, req, logged)).toEqual([1, 3]);
  });

  it('counting is independent of the order of the log and of repeated entries (property)', () => {
    const pool = [1, 2, 3].flatMap((i) =>
      (['approve', 'deny'] as const).map((verdict) => decisionEntry(signedDecision(req, i, verdict))),
    );
    // The model: a trustee counts when it approved and never denied.
    const expected = (picked: readonly number[]) => {
      const got = new Set(picked);
      return [1, 2, 3].filter((i) => got.has((i - 1) * 2) && !got.has((i - 1) * 2 + 1));
    };
    fc.assert(
      fc.property(
        fc.array(fc.nat(pool.length - 1), { maxLength: 10 }),
        fc.array(fc.nat(), { minLength: 20, maxLength: 20 }),
        (picked, keys) => {
          const log = picked.map((j) => pool[j]!);
          const once = approvingTrustees(decisionsOnLog(verifiedPolicy, req, log));
          expect(once).toEqual(expected(picked));
          // Shuffled, with every entry repeated: the same answer.
          const shuffled = [...log, ...log]
            .map((e, i) => [keys[i]!, i, e] as const)
            .sort((x, y) => x[0] - y[0] || x[1] - y[1])
            .map(([, , e]) => e);
          expect(approvingTrustees(decisionsOnLog(verifiedPolicy, req, shuffled))).toEqual(once);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('a request verified under one policy does not satisfy another', async () => {
    const stricter = verifyPolicy(signPolicy(policy({ serial: 4 }), orgKey), orgKey.publicKey);
    expect(await outcome(() => verifyRequest(signedRequest(), stricter))).toBe('REQUEST_INVALID WF-R2');
  });
});
