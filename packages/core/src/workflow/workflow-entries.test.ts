// Log-entry bodies (docs/spec/workflow.md §9): execution, release, extension, unseal, shred and refusal. Codec
// round trips, every check ID with its code, tampering (bit flips, wrong signer, replay onto another request),
// the limits (A10, A11), the 64 KiB entry bound at maximum field sizes, and the overdue-seal helper.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  approvals,
  execLabels,
  execution,
  extensionBytes,
  labels,
  logged,
  otherReq,
  refusalOf,
  relayKey,
  release,
  req,
  signedExecution,
  T_EXEC,
  verifiedExecution,
} from '../../test/entries-fixtures.js';
import { bytesArb, flip, idStringArb, millisArb, outcome } from '../../test/envelope-fixtures.js';
import {
  committed,
  DAY,
  loggedDecisions,
  orgKey,
  policy,
  requesterKeys,
  signedDecision,
  trusteeKeys,
  verifiedPolicy,
  verifiedRequest,
} from '../../test/workflow-fixtures.js';
import { fromHex, toHex } from '../bytes.js';
import { signingKeyFromSeed } from '../sign.js';
import { verifyDecision } from './decision.js';
import { MAX_ENTRY_BYTES } from './entries.js';
import {
  checkExecutionLabels,
  decodeExecution,
  type Execution,
  encodeExecution,
  executionFor,
  executionRoot,
  rfc6962Root,
  signExecution,
  verifyExecution,
} from './execution.js';
import {
  decodeExtension,
  type Extension,
  encodeExtension,
  encodeExtensionStatement,
  extensionStatementFor,
  signExtensionStatement,
  verifyExtension,
} from './extension.js';
import { overdueSeals } from './overdue.js';
import { signPolicy, verifyPolicy } from './policy.js';
import { decodeRefusal, encodeRefusal, type Refusal, signRefusal, verifyRefusal } from './refusal.js';
import { decodeRelease, encodeRelease, type Release, signRelease, verifyRelease } from './release.js';
import { signRequest, verifyRequest } from './request.js';
import { decodeShred, encodeShred, type Shred, shredFor, signShred, verifyShred } from './shred.js';
import {
  decodeUnseal,
  encodeUnseal,
  signUnseal,
  UNSEAL_JUSTIFICATION_MAX,
  type Unseal,
  unsealFor,
  verifyUnseal,
} from './unseal.js';

const h32 = bytesArb(32, 32);
const id16 = bytesArb(16, 16);
const idx = fc.integer({ min: 1, max: 255 });
const RUNS = { numRuns: 100 };
const stranger = signingKeyFromSeed(new Uint8Array(32).fill(0x99));

/** Flips every bit of `signed` and expects each change to be refused with one of our errors. */
async function everyBitFlipFails(signed: Uint8Array, verify: (b: Uint8Array) => unknown): Promise<void> {
  for (let at = 0; at < signed.length; at++)
    for (let bit = 0; bit < 8; bit++) {
      const r = await outcome(() => verify(flip(signed, at, bit)));
      if (r === 'ok') throw new Error(`flip at byte ${at} bit ${bit} was accepted`);
    }
}

describe('RFC 6962 Merkle root over envelope labels (WF-E6)', () => {
  it('matches the RFC 6962 tree-hash vectors (CT test tree)', () => {
    const leaves = [
      '',
      '00',
      '10',
      '2021',
      '3031',
      '40414243',
      '5051525354555657',
      '606162636465666768696a6b6c6d6e6f',
    ].map(fromHex);
    const roots: Record<number, string> = {
      0: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      1: '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      3: 'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
      5: '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
      8: '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
    };
    for (const [n, root] of Object.entries(roots))
      expect(toHex(rfc6962Root(leaves.slice(0, Number(n))))).toBe(root);
  });

  it('sorts the labels, so the root does not depend on selection order; refuses duplicates and bad sizes', () => {
    const ls = labels(7);
    expect(executionRoot([...ls].reverse())).toEqual(executionRoot(ls));
    expect(executionRoot(ls)).not.toEqual(executionRoot(ls.slice(1)));
    expect(() => executionRoot([ls[0]!, ls[0]!])).toThrow(expect.objectContaining({ check: 'WF-E6' }));
    expect(() => executionRoot([new Uint8Array(31)])).toThrow(
      expect.objectContaining({ code: 'EXECUTION_INVALID' }),
    );
  });
});

describe('execution entries (WF-E)', () => {
  it('round-trips every valid execution', () => {
    const arb = fc.record({
      version: fc.constant(1),
      orgId: idStringArb(64),
      requestId: id16,
      requestHash: h32,
      decisionHashes: fc
        .uniqueArray(h32, { minLength: 1, maxLength: 8, selector: toHex })
        .map((l) => l.sort((a, b) => (toHex(a) < toHex(b) ? -1 : 1))),
      envelopeCount: fc.integer({ min: 0, max: 0xffffffff }),
      merkleRoot: h32,
      executedAt: millisArb,
    });
    fc.assert(
      fc.property(arb, (e: Execution) => {
        const b = encodeExecution(e);
        expect(decodeExecution(b)).toEqual(e);
        expect(encodeExecution(decodeExecution(b))).toEqual(b);
      }),
      RUNS,
    );
  });

  it('verifies the relay-signed execution and checks the labels against its root', () => {
    expect(verifiedExecution.approvers).toEqual([1, 2]);
    expect(() => checkExecutionLabels(verifiedExecution, [...execLabels].reverse())).not.toThrow();
  });

  it('refuses a wrong relay key or any bit flip (WF-E3, WF-E1)', async () => {
    const v = (b: Uint8Array) => verifyExecution(b, relayKey.publicKey, verifiedPolicy, req, logged);
    expect(
      await outcome(() => verifyExecution(signedExecution, stranger.publicKey, verifiedPolicy, req, logged)),
    ).toBe('SIGNATURE_INVALID WF-E3');
    expect(await outcome(() => v(signExecution(execution, stranger)))).toBe('SIGNATURE_INVALID WF-E3');
    await everyBitFlipFails(signedExecution, v);
  });

  it('an execution replayed onto another request is refused (WF-E2, A8)', async () => {
    const otherLogged = loggedDecisions(
      otherReq,
      [1, 2].map((i) => signedDecision(otherReq, i)),
    );
    expect(
      await outcome(() =>
        verifyExecution(signedExecution, relayKey.publicKey, verifiedPolicy, otherReq, otherLogged),
      ),
    ).toBe('EXECUTION_INVALID WF-E2');
    // Same id, other contents: the content hash differs.
    const twin = verifiedRequest({ maxEnvelopes: 499 });
    expect(
      await outcome(() =>
        verifyExecution(signedExecution, relayKey.publicKey, verifiedPolicy, twin, loggedDecisions(twin, [])),
      ),
    ).toBe('EXECUTION_INVALID WF-E2');
    // Decisions gathered for another request are not this request's.
    expect(
      await outcome(() =>
        verifyExecution(signedExecution, relayKey.publicKey, verifiedPolicy, req, otherLogged),
      ),
    ).toBe('EXECUTION_INVALID WF-E4');
  });

  it('needs k distinct approvals it can point to (WF-E4)', async () => {
    const log = (...signed: Uint8Array[]) => loggedDecisions(req, signed);
    const v = (e: Execution, ds = logged) =>
      outcome(() => verifyExecution(signExecution(e, relayKey), relayKey.publicKey, verifiedPolicy, req, ds));
    const [a1, a2] = [1, 2].map((i) => signedDecision(req, i));
    expect(await v(executionFor(req, approvals.slice(0, 1), execLabels, T_EXEC))).toBe(
      'EXECUTION_INVALID WF-E4',
    );
    // The execution cites an approval that is not on the log.
    expect(await v(execution, log(a1!))).toBe('EXECUTION_INVALID WF-E4');
    const deny3 = signedDecision(req, 3, 'deny');
    const deny = verifyDecision(deny3, verifiedPolicy, req);
    expect(await v(executionFor(req, [...approvals, deny], execLabels, T_EXEC), log(a1!, a2!, deny3))).toBe(
      'EXECUTION_INVALID WF-E4',
    );
    const three = [...approvals, verifyDecision(signedDecision(req, 3), verifiedPolicy, req)];
    expect(await v(executionFor(req, three, execLabels, T_EXEC), log(a1!, a2!, signedDecision(req, 3)))).toBe(
      'ok',
    );
    // Release rule 2 over the whole log: trustee 2 also denied, so its cited approval does not count — even though
    // the execution cites only approvals.
    expect(await v(execution, log(a1!, a2!, signedDecision(req, 2, 'deny')))).toBe('EXECUTION_INVALID WF-E4');
  });

  it('allows up to the request maximum and refuses one envelope more (WF-E5, A11)', async () => {
    const small = verifiedRequest({ maxEnvelopes: 3 });
    const signed = [1, 2].map((i) => signedDecision(small, i));
    const ds = signed.map((b) => verifyDecision(b, verifiedPolicy, small));
    const v = (n: number) =>
      outcome(() =>
        verifyExecution(
          signExecution(executionFor(small, ds, labels(n), T_EXEC), relayKey),
          relayKey.publicKey,
          verifiedPolicy,
          small,
          loggedDecisions(small, signed),
        ),
      );
    expect(await v(3)).toBe('ok');
    expect(await v(4)).toBe('REQUEST_LIMIT WF-E5');
    // The policy limit holds even against a request verified under a looser policy.
    const loose = verifyPolicy(
      signPolicy(policy({ limits: { ...policy().limits, maxEnvelopes: 2 } }), orgKey),
      orgKey.publicKey,
    );
    const looseReq = verifyRequest(
      signRequest({ ...small.request, policyHash: loose.hash, maxEnvelopes: 2 }, requesterKeys.internal),
      loose,
    );
    const lSigned = [1, 2].map((i) => signedDecision(looseReq, i));
    const lds = lSigned.map((b) => verifyDecision(b, loose, looseReq));
    const e = executionFor(looseReq, lds, labels(3), T_EXEC);
    expect(
      await outcome(() =>
        verifyExecution(
          signExecution(e, relayKey),
          relayKey.publicKey,
          loose,
          looseReq,
          loggedDecisions(looseReq, lSigned, loose),
        ),
      ),
    ).toBe('REQUEST_LIMIT WF-E5');
  });

  it('refuses a swapped, missing or extra envelope (WF-E6, release rule 4)', async () => {
    const swapped = [...execLabels.slice(1), labels(1, 'other')[0]!];
    expect(await outcome(() => checkExecutionLabels(verifiedExecution, swapped))).toBe(
      'EXECUTION_INVALID WF-E6',
    );
    expect(await outcome(() => checkExecutionLabels(verifiedExecution, execLabels.slice(1)))).toBe(
      'EXECUTION_INVALID WF-E6',
    );
    expect(
      await outcome(() => checkExecutionLabels(verifiedExecution, [...execLabels, ...labels(1, 'x')])),
    ).toBe('EXECUTION_INVALID WF-E6');
    expect(
      await outcome(() => checkExecutionLabels(verifiedExecution, [...execLabels, execLabels[0]!])),
    ).toBe('EXECUTION_INVALID WF-E6');
  });
});

describe('release entries (WF-L)', () => {
  it('round-trips every valid release', () => {
    const arb = fc.record({
      version: fc.constant(1),
      orgId: idStringArb(64),
      requestId: id16,
      executionHash: h32,
      trusteeIndex: idx,
      shareCount: fc.integer({ min: 0, max: 0xffffffff }),
      bundleHash: h32,
      releasedAt: millisArb,
    });
    fc.assert(
      fc.property(arb, (x: Release) => {
        expect(decodeRelease(encodeRelease(x))).toEqual(x);
      }),
      RUNS,
    );
  });

  it('verifies an approving trustee’s release and refuses every tampering', async () => {
    const v = (b: Uint8Array) => verifyRelease(b, verifiedPolicy, verifiedExecution);
    const signed = signRelease(release(), trusteeKeys[0]!);
    expect(v(signed).release.shareCount).toBe(5);
    expect(await outcome(() => v(signRelease(release(), trusteeKeys[1]!)))).toBe('SIGNATURE_INVALID WF-L3');
    expect(await outcome(() => v(signRelease({ ...release(), trusteeIndex: 9 }, trusteeKeys[0]!)))).toBe(
      'RELEASE_INVALID WF-L2',
    );
    expect(
      await outcome(() =>
        v(signRelease({ ...release(), executionHash: new Uint8Array(32) }, trusteeKeys[0]!)),
      ),
    ).toBe('RELEASE_INVALID WF-L4');
    expect(
      await outcome(() =>
        v(signRelease({ ...release(), requestId: otherReq.request.requestId }, trusteeKeys[0]!)),
      ),
    ).toBe('RELEASE_INVALID WF-L4');
    await everyBitFlipFails(signed, v);
  });

  it('refuses a release by a trustee whose approval the execution did not rely on (WF-L5)', async () => {
    expect(
      await outcome(() =>
        verifyRelease(signRelease(release(3), trusteeKeys[2]!), verifiedPolicy, verifiedExecution),
      ),
    ).toBe('RELEASE_INVALID WF-L5');
  });

  it('refuses more shares than envelopes executed (WF-L6)', async () => {
    const v = (n: number) =>
      outcome(() =>
        verifyRelease(signRelease(release(2, n), trusteeKeys[1]!), verifiedPolicy, verifiedExecution),
      );
    expect(await v(5)).toBe('ok');
    expect(await v(6)).toBe('RELEASE_INVALID WF-L6');
  });
});

describe('extension entries (WF-X, A10)', () => {
  const seal = req.request.sealUntil;
  const first = () => verifyExtension(extensionBytes(req, undefined, seal + 30 * DAY), verifiedPolicy, req);

  it('round-trips every well-formed extension', () => {
    const arb = fc
      .record({
        orgId: idStringArb(64),
        requestId: id16,
        requestHash: h32,
        number: idx,
        oldSealUntil: fc.integer({ min: 0, max: 2 ** 52 }),
        delta: fc.integer({ min: 1, max: 2 ** 40 }),
        issuedAt: millisArb,
        signers: fc.uniqueArray(idx, { minLength: 1, maxLength: 6 }),
        sig: bytesArb(64, 64),
      })
      .map(({ delta, signers, sig, ...s }) => ({
        statement: { version: 1, ...s, newSealUntil: s.oldSealUntil + delta },
        signatures: signers.sort((a, b) => a - b).map((trusteeIndex) => ({ trusteeIndex, signature: sig })),
      }));
    fc.assert(
      fc.property(arb, (x: Extension) => {
        expect(decodeExtension(encodeExtension(x))).toEqual(x);
      }),
      RUNS,
    );
  });

  it('verifies a chain of k-signed extensions up to max_extensions and refuses one more (WF-X5)', async () => {
    const one = first();
    const two = verifyExtension(
      extensionBytes(req, one, seal + 60 * DAY, [1, 2], seal),
      verifiedPolicy,
      req,
      one,
    );
    expect(two.extension.statement.number).toBe(2);
    expect(
      await outcome(() =>
        verifyExtension(extensionBytes(req, two, seal + 61 * DAY, [1, 2], seal), verifiedPolicy, req, two),
      ),
    ).toBe('REQUEST_LIMIT WF-X5');
  });

  it('allows an extension of exactly the max seal length and refuses 1 ms more (WF-X5)', async () => {
    const max = verifiedPolicy.policy.limits.maxSealMs;
    const v = (d: number) =>
      outcome(() => verifyExtension(extensionBytes(req, undefined, seal + d), verifiedPolicy, req));
    expect(await v(max)).toBe('ok');
    expect(await v(max + 1)).toBe('REQUEST_LIMIT WF-X5');
  });

  it('needs k distinct authorised trustees (WF-X3, WF-X1 for a duplicate signer)', async () => {
    const v = (b: Uint8Array) => outcome(() => verifyExtension(b, verifiedPolicy, req));
    expect(await v(extensionBytes(req, undefined, seal + DAY, [2]))).toBe('EXTENSION_INVALID WF-X3');
    expect(await v(extensionBytes(req, undefined, seal + DAY, [1, 2, 3]))).toBe('ok');
    // Trustee 4 is not in the policy (its key is trustee 1's).
    expect(await v(extensionBytes(req, undefined, seal + DAY, [1, 4]))).toBe('EXTENSION_INVALID WF-X3');
    // The same trustee twice: build the bytes by hand, since encodeExtension refuses it.
    const good = extensionBytes(req, undefined, seal + DAY, [1, 2]);
    const st = good.subarray(0, good.length - 1 - 2 * 65);
    const g1 = good.subarray(good.length - 2 * 65, good.length - 65);
    const dup = Uint8Array.of(...st, 2, ...g1, ...g1);
    expect(await v(dup)).toBe('EXTENSION_INVALID WF-X1');
  });

  it('refuses a forged or misattributed signature (WF-X4) and any bit flip', async () => {
    const s = extensionStatementFor(req, undefined, seal + DAY, seal - DAY);
    const forged = encodeExtension({
      statement: s,
      signatures: [signExtensionStatement(s, 1, trusteeKeys[0]!), signExtensionStatement(s, 2, stranger)],
    });
    expect(await outcome(() => verifyExtension(forged, verifiedPolicy, req))).toBe('SIGNATURE_INVALID WF-X4');
    // Signatures lifted from an extension of one request onto the same statement about another (A8).
    const mine = decodeExtension(extensionBytes(req, undefined, seal + DAY, [1, 2], seal - DAY));
    const theirs = extensionStatementFor(otherReq, undefined, seal + DAY, seal - DAY);
    const lifted = encodeExtension({ statement: theirs, signatures: mine.signatures });
    expect(await outcome(() => verifyExtension(lifted, verifiedPolicy, otherReq))).toBe(
      'SIGNATURE_INVALID WF-X4',
    );
    const good = extensionBytes(req, undefined, seal + DAY);
    await everyBitFlipFails(good, (b) => verifyExtension(b, verifiedPolicy, req));
  });

  it('refuses replay onto another request and breaks in the chain (WF-X2)', async () => {
    const one = first();
    expect(await outcome(() => verifyExtension(one.encoded, verifiedPolicy, otherReq))).toBe(
      'EXTENSION_INVALID WF-X2',
    );
    // The second extension presented as the first, and the first replayed as its own successor.
    const two = extensionBytes(req, one, seal + 60 * DAY, [1, 2], seal);
    expect(await outcome(() => verifyExtension(two, verifiedPolicy, req))).toBe('EXTENSION_INVALID WF-X2');
    expect(await outcome(() => verifyExtension(one.encoded, verifiedPolicy, req, one))).toBe(
      'EXTENSION_INVALID WF-X2',
    );
  });

  it('refuses an extension agreed after its deadline (WF-X6) and a seal that does not move later (WF-X1)', async () => {
    expect(
      await outcome(() =>
        verifyExtension(extensionBytes(req, undefined, seal + DAY, [1, 2], seal), verifiedPolicy, req),
      ),
    ).toBe('ok');
    expect(
      await outcome(() =>
        verifyExtension(extensionBytes(req, undefined, seal + DAY, [1, 2], seal + 1), verifiedPolicy, req),
      ),
    ).toBe('EXTENSION_INVALID WF-X6');
    expect(
      await outcome(() => encodeExtensionStatement(extensionStatementFor(req, undefined, seal, seal - 1))),
    ).toBe('EXTENSION_INVALID WF-X1');
  });
});

describe('unseal entries (WF-U)', () => {
  const u = (publisher = 0) => unsealFor(req, committed.opening, publisher, req.request.sealUntil);
  const v = (b: Uint8Array) => verifyUnseal(b, verifiedPolicy, req, relayKey.publicKey);

  it('round-trips every valid unseal', () => {
    const arb = fc.record({
      version: fc.constant(1),
      orgId: idStringArb(64),
      requestId: id16,
      requestHash: h32,
      publisher: fc.integer({ min: 0, max: 255 }),
      unsealedAt: millisArb,
      opening: fc.record({
        salt: h32,
        confidential: fc.record({
          justification: fc.string({ minLength: 1, maxLength: 200 }),
          caseReference: fc.string({ maxLength: 60 }),
        }),
      }),
    });
    fc.assert(
      fc.property(arb, (x: Unseal) => {
        expect(decodeUnseal(encodeUnseal(x))).toEqual(x);
      }),
      RUNS,
    );
  });

  it('verifies an unseal by the relay or by a trustee, and any bit flip fails', async () => {
    const byRelay = signUnseal(u(), relayKey);
    expect(v(byRelay).unseal.opening).toEqual(committed.opening);
    expect(v(signUnseal(u(3), trusteeKeys[2]!)).unseal.publisher).toBe(3);
    await everyBitFlipFails(byRelay, v);
  });

  it('refuses a wrong opening (WF-U5), signer (WF-U4), publisher (WF-U3) or request (WF-U2)', async () => {
    const wrong = {
      ...committed.opening,
      confidential: { ...committed.opening.confidential, caseReference: 'II-2025-0043' },
    };
    expect(await outcome(() => v(signUnseal({ ...u(), opening: wrong }, relayKey)))).toBe(
      'COMMITMENT_MISMATCH WF-U5',
    );
    expect(
      await outcome(() =>
        v(signUnseal({ ...u(), opening: { ...committed.opening, salt: new Uint8Array(32) } }, relayKey)),
      ),
    ).toBe('COMMITMENT_MISMATCH WF-U5');
    expect(await outcome(() => v(signUnseal(u(1), trusteeKeys[1]!)))).toBe('SIGNATURE_INVALID WF-U4');
    expect(await outcome(() => v(signUnseal(u(0), trusteeKeys[0]!)))).toBe('SIGNATURE_INVALID WF-U4');
    expect(await outcome(() => v(signUnseal(u(9), trusteeKeys[0]!)))).toBe('UNSEAL_INVALID WF-U3');
    expect(
      await outcome(() =>
        verifyUnseal(signUnseal(u(), relayKey), verifiedPolicy, otherReq, relayKey.publicKey),
      ),
    ).toBe('UNSEAL_INVALID WF-U2');
  });
});

describe('shred statements (WF-S, A13)', () => {
  it('round-trips every valid statement', () => {
    const arb = fc
      .tuple(idStringArb(64), fc.integer({ min: 0, max: 0xffffffff }), idx, millisArb)
      .map(([o, e, i, t]) => shredFor(o, e, i, t));
    fc.assert(
      fc.property(arb, (x: Shred) => {
        expect(decodeShred(encodeShred(x))).toEqual(x);
      }),
      RUNS,
    );
  });

  it('verifies the trustee’s statement and refuses every tampering', async () => {
    const x = shredFor('example.org', 7, 2, T_EXEC);
    const signed = signShred(x, trusteeKeys[1]!);
    expect(verifyShred(signed, verifiedPolicy).shred).toEqual(x);
    expect(await outcome(() => verifyShred(signShred(x, trusteeKeys[0]!), verifiedPolicy))).toBe(
      'SIGNATURE_INVALID WF-S3',
    );
    expect(
      await outcome(() => verifyShred(signShred({ ...x, trusteeIndex: 4 }, trusteeKeys[0]!), verifiedPolicy)),
    ).toBe('SHRED_INVALID WF-S2');
    expect(
      await outcome(() =>
        verifyShred(signShred({ ...x, orgId: 'other.org' }, trusteeKeys[1]!), verifiedPolicy),
      ),
    ).toBe('SHRED_INVALID WF-S2');
    const body = encodeShred(x);
    body[body.length - 9] = 2; // the statement byte
    expect(await outcome(() => decodeShred(body))).toBe('SHRED_INVALID WF-S1');
    await everyBitFlipFails(signed, (b) => verifyShred(b, verifiedPolicy));
  });
});

describe('refusals (WF-F)', () => {
  it('round-trips every valid refusal, with and without a label', () => {
    const arb = fc
      .record({
        version: fc.constant(1),
        orgId: idStringArb(64),
        requestId: id16,
        requestHash: h32,
        trusteeIndex: idx,
        reason: fc.constantFrom('REL-1', 'REL-2', 'REL-3', 'REL-4', 'REL-5' as const),
        label: fc.option(h32, { nil: undefined }),
        refusedAt: millisArb,
      })
      .map(({ label, ...x }) => (label === undefined ? x : { ...x, label }));
    fc.assert(
      fc.property(arb, (x) => {
        expect(decodeRefusal(encodeRefusal(x as Refusal))).toEqual(x);
      }),
      RUNS,
    );
  });

  it('verifies the trustee’s refusal and refuses every tampering', async () => {
    const x = refusalOf('REL-4', execLabels[0]);
    const signed = signRefusal(x, trusteeKeys[1]!);
    const binding = { requestId: req.request.requestId, hash: req.hash };
    expect(verifyRefusal(signed, verifiedPolicy, binding).refusal).toEqual(x);
    expect(
      verifyRefusal(signRefusal(refusalOf('REL-1'), trusteeKeys[1]!), verifiedPolicy).refusal.label,
    ).toBeUndefined();
    expect(await outcome(() => verifyRefusal(signRefusal(x, trusteeKeys[0]!), verifiedPolicy))).toBe(
      'SIGNATURE_INVALID WF-F3',
    );
    expect(
      await outcome(() =>
        verifyRefusal(signRefusal({ ...x, trusteeIndex: 7 }, trusteeKeys[1]!), verifiedPolicy),
      ),
    ).toBe('REFUSAL_INVALID WF-F2');
    expect(
      await outcome(() =>
        verifyRefusal(signed, verifiedPolicy, { requestId: otherReq.request.requestId, hash: otherReq.hash }),
      ),
    ).toBe('REFUSAL_INVALID WF-F4');
    const body = encodeRefusal(refusalOf('REL-5'));
    body[1 + 12 + 16 + 32 + 1] = 6; // reason code after version, org id, request id and hash, trustee index
    expect(await outcome(() => decodeRefusal(body))).toBe('REFUSAL_INVALID WF-F1');
    await everyBitFlipFails(signed, (b) => verifyRefusal(b, verifiedPolicy, binding));
  });
});

describe('every body fits one log entry (u8 type ‖ body ≤ 65,535 bytes) at its maximum field sizes', () => {
  const org = 'o'.repeat(64);
  const fits = (entryBody: Uint8Array) => expect(1 + entryBody.length).toBeLessThanOrEqual(MAX_ENTRY_BYTES);
  const key = trusteeKeys[0]!;

  it('execution, release, shred, refusal', () => {
    const hashes = Array.from({ length: 255 }, (_, i) => new Uint8Array(32).fill(i));
    fits(
      signExecution(
        {
          ...execution,
          orgId: org,
          decisionHashes: hashes,
          envelopeCount: 0xffffffff,
          executedAt: Number.MAX_SAFE_INTEGER,
        },
        relayKey,
      ),
    );
    fits(signRelease({ ...release(), orgId: org, trusteeIndex: 255, shareCount: 0xffffffff }, key));
    fits(signShred(shredFor(org, 0xffffffff, 255, Number.MAX_SAFE_INTEGER), key));
    fits(signRefusal({ ...refusalOf('REL-5', new Uint8Array(32)), orgId: org }, key));
  });

  it('an extension with 255 signatures', () => {
    const s = { ...extensionStatementFor(req, undefined, 2 ** 52, 0), orgId: org, number: 255 };
    const sig = signExtensionStatement(s, 1, key).signature;
    fits(
      encodeExtension({
        statement: s,
        signatures: Array.from({ length: 255 }, (_, i) => ({ trusteeIndex: i + 1, signature: sig })),
      }),
    );
  });

  it('an unseal with the longest justification it allows, and not one byte more', async () => {
    const opening = {
      salt: new Uint8Array(32),
      confidential: { justification: 'j'.repeat(UNSEAL_JUSTIFICATION_MAX), caseReference: 'c'.repeat(255) },
    };
    const x = { ...unsealFor(req, opening, 255, Number.MAX_SAFE_INTEGER), orgId: org };
    const signed = signUnseal(x, key);
    expect(1 + signed.length).toBe(MAX_ENTRY_BYTES);
    const over = {
      ...x,
      opening: {
        ...opening,
        confidential: { ...opening.confidential, justification: `${opening.confidential.justification}j` },
      },
    };
    expect(await outcome(() => encodeUnseal(over))).toBe('UNSEAL_INVALID WF-U1');
  });
});

describe('overdue seals (A10)', () => {
  const seal = req.request.sealUntil;
  const unseal = verifyUnseal(
    signUnseal(unsealFor(req, committed.opening, 0, seal), relayKey),
    verifiedPolicy,
    req,
    relayKey.publicKey,
  );
  const ext1 = verifyExtension(extensionBytes(req, undefined, seal + 10 * DAY), verifiedPolicy, req);
  const ext2 = verifyExtension(
    extensionBytes(req, ext1, seal + 20 * DAY, [2, 3], seal),
    verifiedPolicy,
    req,
    ext1,
  );

  it('is due strictly after seal-until, not at it', () => {
    expect(overdueSeals([req], [], [], seal)).toEqual([]);
    expect(overdueSeals([req], [], [], seal + 1)).toEqual([
      { requestId: req.request.requestId, requestHash: req.hash, sealUntil: seal, overdueMs: 1 },
    ]);
  });

  it('an unseal clears it, for that request only', () => {
    expect(overdueSeals([req, otherReq], [], [unseal], seal + DAY).map((o) => o.requestHash)).toEqual([
      otherReq.hash,
    ]);
  });

  it('follows the extension chain to the seal-until in force', () => {
    expect(overdueSeals([req], [ext1], [], seal + 10 * DAY)).toEqual([]);
    expect(overdueSeals([req], [ext2, ext1], [], seal + 20 * DAY)).toEqual([]);
    expect(overdueSeals([req], [ext1, ext2], [], seal + 20 * DAY + 1)[0]?.sealUntil).toBe(seal + 20 * DAY);
    // Without the first link, the second does not count.
    expect(overdueSeals([req], [ext2], [], seal + 1)[0]?.sealUntil).toBe(seal);
    // Another request's extension does not extend this one.
    expect(overdueSeals([otherReq], [ext1], [], otherReq.request.sealUntil + 1)).toHaveLength(1);
  });
});
