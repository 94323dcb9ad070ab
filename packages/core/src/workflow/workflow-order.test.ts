// Standing orders (docs/spec/after-release.md §8): the recorded group in policy body version 2 (WF-P1), orders as
// request body version 2 (WF-O1..O5), batch executions (WF-B1, WF-B2) and the order scope at a batch (ORD-S1).
import { describe, expect, it } from 'vitest';
import { labels, relayKey, T_EXEC } from '../../test/entries-fixtures.js';
import { fields, SEND_TIME } from '../../test/envelope-fixtures.js';
import {
  DAY,
  loggedDecisions,
  order,
  orgKey,
  policy,
  policyV2,
  RECORDED,
  requesterKeys,
  signedDecision,
  verifiedOrder,
  verifiedPolicy,
  verifiedPolicyV2,
  verifiedRequest,
} from '../../test/workflow-fixtures.js';
import { OvertError } from '../errors.js';
import { verifyDecision } from './decision.js';
import {
  batchExecutionFor,
  decodeExecution,
  encodeExecution,
  executionFor,
  signExecution,
  verifyExecution,
} from './execution.js';
import { decodePolicy, encodePolicy, isRecorded, recordedGroup, signPolicy, verifyPolicy } from './policy.js';
import {
  checkRenewal,
  decodeRequest,
  encodeRequest,
  type Request,
  signRequest,
  verifyRequest,
} from './request.js';
import { inOrderScope, scopeOf } from './scope.js';
import { decodeSigned } from './signed.js';

/** The error code f throws ('ok' when it does not throw). */
function code(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof OvertError) return e.code;
    throw e;
  }
}

describe('policy body version 2: the recorded group (WF-P1)', () => {
  it('round-trips, and a version 1 policy stays byte for byte what it was (no recorded group)', () => {
    const p = policyV2();
    expect(decodePolicy(encodePolicy(p))).toEqual(p);
    expect(recordedGroup(verifiedPolicyV2.policy)).toEqual(RECORDED);
    expect(isRecorded(verifiedPolicyV2.policy, 'alice@example.org')).toBe(true);
    expect(isRecorded(verifiedPolicyV2.policy, 'bob@example.org')).toBe(false);
    const v1 = encodePolicy(policy());
    expect(decodePolicy(v1).recorded).toBeUndefined();
    expect(recordedGroup(decodePolicy(v1))).toEqual([]);
    expect(v1.length).toBeLessThan(encodePolicy(p).length);
  });

  it('refuses an unsorted or repeated group, a bad id, no order length, or a group on a version 1 body', () => {
    for (const bad of [
      policyV2({ recorded: ['b@x', 'a@x'] }),
      policyV2({ recorded: ['a@x', 'a@x'] }),
      policyV2({ recorded: ['has space'] }),
      policyV2({ maxOrderMs: 0 }),
      policy({ recorded: ['a@x'] }),
      policy({ maxOrderMs: 5 }),
    ])
      expect(code(() => encodePolicy(bad))).toBe('POLICY_INVALID');
    // An empty group is allowed in version 2 (the group can be emptied by a later serial).
    expect(decodePolicy(encodePolicy(policyV2({ recorded: [], maxOrderMs: 0 }))).recorded).toEqual([]);
  });

  it('refuses truncation, trailing bytes and a version 1 body carrying version 2 fields', () => {
    const b = encodePolicy(policyV2());
    expect(code(() => decodePolicy(b.subarray(0, b.length - 1)))).toBe('POLICY_INVALID');
    expect(code(() => decodePolicy(Uint8Array.of(...b, 0)))).toBe('POLICY_INVALID');
    const asV1 = b.slice();
    asV1[0] = 1;
    expect(code(() => decodePolicy(asV1))).toBe('POLICY_INVALID');
    const v1 = encodePolicy(policy());
    const asV2 = v1.slice();
    asV2[0] = 2;
    expect(code(() => decodePolicy(asV2))).toBe('POLICY_INVALID');
  });

  it('every single-byte change of a signed version 2 policy is refused', () => {
    const signed = signPolicy(policyV2(), orgKey);
    for (let i = 0; i < signed.length; i += 7) {
      const m = signed.slice();
      m[i]! ^= 0x01;
      expect(['POLICY_INVALID', 'SIGNATURE_INVALID']).toContain(
        code(() => verifyPolicy(m, orgKey.publicKey)),
      );
    }
  });
});

describe('orders: request body version 2 (WF-O1..WF-O5)', () => {
  const sign = (q: Request) => signRequest(q, requesterKeys.internal);
  const check = (overrides: Partial<Request>) => {
    try {
      verifyRequest(sign(order(overrides)), verifiedPolicyV2);
      return 'ok';
    } catch (e) {
      const err = e as { code: string; check: string };
      return `${err.code} ${err.check}`;
    }
  };

  it('round-trips an order and a renewal', () => {
    const o = verifiedOrder();
    expect(decodeRequest(encodeRequest(o.request))).toEqual(o.request);
    const renewal = order({ order: { previous: { requestId: o.request.requestId, hash: o.hash } } });
    expect(decodeRequest(encodeRequest(renewal))).toEqual(renewal);
  });

  it('WF-O1: kind 1 only, has_previous 0 or 1, nothing after; an order field on a version 1 body', () => {
    const body = encodeRequest(order());
    const kind = body.slice();
    kind[kind.length - 2] = 2;
    expect(code(() => decodeRequest(kind))).toBe('REQUEST_INVALID');
    const has = body.slice();
    has[has.length - 1] = 2;
    expect(code(() => decodeRequest(has))).toBe('REQUEST_INVALID');
    expect(code(() => decodeRequest(Uint8Array.of(...body, 0)))).toBe('REQUEST_INVALID');
    expect(code(() => decodeRequest(body.subarray(0, body.length - 1)))).toBe('REQUEST_INVALID');
    expect(code(() => encodeRequest({ ...order(), version: 1 }))).toBe('REQUEST_INVALID');
    const { order: _omit, ...noFields } = order();
    expect(code(() => encodeRequest(noFields))).toBe('REQUEST_INVALID');
  });

  it('WF-O2: only users of the recorded group; WF-O3: its own length and batch limits; WF-O4: never sealed', () => {
    expect(check({})).toBe('ok');
    expect(check({ subjects: ['alice@example.org', 'bob@example.org'] })).toBe('REQUEST_INVALID WF-O2');
    // The order's length is bounded by max_order_ms (92 days here), not by max_window_ms (31 days).
    const from = SEND_TIME - 5 * DAY;
    expect(check({ window: { from, until: from + 92 * DAY } })).toBe('ok');
    expect(check({ window: { from, until: from + 92 * DAY + 1 } })).toBe('REQUEST_LIMIT WF-O3');
    expect(check({ maxEnvelopes: 1001 })).toBe('REQUEST_LIMIT WF-R5');
    const big = verifyPolicy(
      signPolicy(policyV2({ limits: { ...policyV2().limits, maxEnvelopes: 5000 } }), orgKey),
      orgKey.publicKey,
    );
    const q = order({ policyHash: big.hash, maxEnvelopes: 1025 });
    expect(code(() => verifyRequest(sign(q), big))).toBe('REQUEST_LIMIT');
    expect(check({ sealUntil: order().createdAt + 1 })).toBe('REQUEST_INVALID WF-O4');
  });

  it('an order under a version 1 policy is refused: nobody is recorded there', () => {
    const q = order({ policyHash: verifiedPolicy.hash });
    expect(code(() => verifyRequest(sign(q), verifiedPolicy))).toBe('REQUEST_INVALID');
  });

  it('WF-O5: a renewal chains to a logged order of the same requester with no gap and no overlap', () => {
    const first = verifiedOrder();
    const until = first.request.window.until;
    const renew = (o: Partial<Request>) =>
      verifiedOrder({
        requestId: new Uint8Array(16).fill(0x79),
        createdAt: until - DAY,
        sealUntil: until - DAY,
        window: { from: until, until: until + 30 * DAY },
        order: { previous: { requestId: first.request.requestId, hash: first.hash } },
        ...o,
      });
    const renewal = renew({});
    expect(() => checkRenewal(renewal, first)).not.toThrow();
    expect(() => checkRenewal(first, undefined)).not.toThrow(); // not a renewal
    const fails = (r: typeof renewal, p: typeof first | undefined) => {
      try {
        checkRenewal(r, p);
        return 'ok';
      } catch (e) {
        return (e as { check: string }).check;
      }
    };
    expect(fails(renewal, undefined)).toBe('WF-O5');
    expect(fails(renew({ window: { from: until + 1, until: until + 30 * DAY } }), first)).toBe('WF-O5'); // gap
    expect(fails(renew({ window: { from: until - 1, until: until + 30 * DAY } }), first)).toBe('WF-O5'); // overlap
    // Another order under the same id (other contents) is not the one the renewal names.
    const twin = verifiedOrder({ legalBasis: 'another basis' });
    expect(fails(renewal, twin)).toBe('WF-O5');
    // An ordinary request is never renewed.
    expect(fails(renewal, verifiedRequest({ requestId: first.request.requestId }))).toBe('WF-O5');
  });
});

describe('batch executions (WF-B1, WF-B2)', () => {
  const o = verifiedOrder();
  const approvals = [1, 2].map((i) => verifyDecision(signedDecision(o, i), verifiedPolicyV2, o));
  const logged = loggedDecisions(
    o,
    [1, 2].map((i) => signedDecision(o, i)),
    verifiedPolicyV2,
  );
  const v = (signed: Uint8Array) => verifyExecution(signed, relayKey.publicKey, verifiedPolicyV2, o, logged);

  it('a batch execution of an order verifies and carries its number', () => {
    const e = batchExecutionFor(o, approvals, labels(3), T_EXEC, 7);
    expect(decodeExecution(encodeExecution(e))).toEqual(e);
    const x = v(signExecution(e, relayKey));
    expect(x.execution.batch).toBe(7);
    expect(x.approvers).toEqual([1, 2]);
  });

  it('WF-B1: an ordinary execution for an order, or a batch execution for a request, is refused', () => {
    const plain = signExecution(executionFor(o, approvals, labels(3), T_EXEC), relayKey);
    expect(() => v(plain)).toThrow(expect.objectContaining({ check: 'WF-B1' }));
    const req = verifiedRequest();
    const reqApprovals = [1, 2].map((i) => verifyDecision(signedDecision(req, i), verifiedPolicy, req));
    const batch = signExecution(batchExecutionFor(req, reqApprovals, labels(2), T_EXEC, 0), relayKey);
    const reqLogged = loggedDecisions(
      req,
      [1, 2].map((i) => signedDecision(req, i)),
    );
    expect(() => verifyExecution(batch, relayKey.publicKey, verifiedPolicy, req, reqLogged)).toThrow(
      expect.objectContaining({ check: 'WF-B1' }),
    );
    // The batch number is part of the body: a version 2 body without it, or a version 1 body with it, is malformed.
    const body = decodeSigned(
      signExecution(batchExecutionFor(o, approvals, labels(1), T_EXEC, 0), relayKey),
      1 << 16,
      'EXECUTION_INVALID',
      'WF-E1',
    ).body;
    expect(code(() => decodeExecution(body.subarray(0, body.length - 4)))).toBe('EXECUTION_INVALID');
    const v1 = body.slice(0, body.length);
    v1[0] = 1;
    expect(code(() => decodeExecution(v1))).toBe('EXECUTION_INVALID');
  });

  it('WF-B2: an empty batch is refused; more than the order allows is WF-E5', () => {
    const empty = signExecution(batchExecutionFor(o, approvals, [], T_EXEC, 0), relayKey);
    expect(() => v(empty)).toThrow(expect.objectContaining({ code: 'REQUEST_LIMIT', check: 'WF-B2' }));
    const over = signExecution(batchExecutionFor(o, approvals, labels(1001), T_EXEC, 0), relayKey);
    expect(() => v(over)).toThrow(expect.objectContaining({ code: 'REQUEST_LIMIT', check: 'WF-E5' }));
  });
});

describe('the order scope at a batch (ORD-S1)', () => {
  const scope = scopeOf(verifiedOrder());
  const t = SEND_TIME;

  it('needs a subject, sender or recipient, that is still in the recorded group at the batch', () => {
    const h = fields({ sendTime: t, senderUserId: 'alice@example.org', recipients: ['bob@example.org'] });
    expect(inOrderScope(h, scope, RECORDED)).toEqual({ inScope: true });
    // alice left the group: nothing of hers is in scope any more, whoever the other party is.
    expect(inOrderScope(h, scope, ['trader2@example.org'])).toEqual({
      inScope: false,
      reason: 'recorded',
      check: 'ORD-S1',
    });
    // A message to a recorded recipient is a communication of that recipient.
    const toTrader = fields({
      sendTime: t,
      senderUserId: 'bob@example.org',
      recipients: ['trader2@example.org'],
    });
    expect(inOrderScope(toTrader, scope, ['trader2@example.org']).inScope).toBe(true);
    // Users outside the order are never in scope, whatever the group says (SCOPE-3 first).
    const others = fields({
      sendTime: t,
      senderUserId: 'bob@example.org',
      recipients: ['carol@example.org'],
    });
    expect(inOrderScope(others, scope, [...RECORDED, 'bob@example.org'])).toEqual({
      inScope: false,
      reason: 'subject',
      check: 'SCOPE-3',
    });
    // Outside the order's window: SCOPE-2.
    expect(inOrderScope(fields({ sendTime: scope.window.until }), scope, RECORDED).inScope).toBe(false);
  });
});
