/**
 * A scripted access history on a real tiled log (after-release.md §5, the statistics test; §4, the notices' log
 * half): policies, requests, decisions, executions, releases, refusals, extensions, unseals and shreds, every one
 * signed with core's real functions — and beside each kind, entries that must not count (a wrong key, a broken
 * chain, a second execution or unseal, a request under a superseded policy, byte-identical repeats). Times and keys
 * are fixed, so every number the statistics give can be worked out by hand (stats.test.ts does).
 */
import {
  compareBytes,
  concatBytes,
  decisionFor,
  decisionsOnLog,
  decodeSigned,
  encodeExtension,
  executionFor,
  extensionStatementFor,
  policyEntry,
  REQUEST_VERSION,
  type RefusalReason,
  type Request,
  releaseFor,
  requestHash,
  type SigningKeyPair,
  sha256,
  shredFor,
  signDecision,
  signExecution,
  signExtensionStatement,
  signingKeyFromSeed,
  signPolicy,
  signRefusal,
  signRelease,
  signRequest,
  signShred,
  signUnseal,
  unsealFor,
  utf8Encode,
  type VerifiedExecution,
  type VerifiedExtension,
  type VerifiedPolicy,
  type VerifiedRequest,
  verifyDecision,
  verifyExecution,
  verifyExtension,
  verifyPolicy,
  verifyRequest,
} from '@overt/core';
import { MemoryTiledLog } from '@overt/log';
import { committed, orgKey, policy, requesterKeys, trusteeKeys } from '../../core/test/workflow-fixtures.js';
import { logKey, logViewOf, ORIGIN, relayKey, witnessKeys } from './access-case.js';

export const DAY = 86_400_000;
export const HOUR = 3_600_000;
/** 2026-12-01T00:00:00Z */
export const DEC = Date.UTC(2026, 11, 1);
/** 2027-01-01T00:00:00Z */
export const JAN = Date.UTC(2027, 0, 1);
/** The statistics' clock: 2027-02-01T00:00:00Z. */
export const NOW = Date.UTC(2027, 1, 1);

const seed = (s: string) => sha256(utf8Encode(`overt/test/access-history/${s}`));
const strangerKey = signingKeyFromSeed(seed('stranger'));

export const entry = (type: number, body: Uint8Array): Uint8Array => concatBytes(Uint8Array.of(type), body);
const label = (name: string): Uint8Array => sha256(utf8Encode(`label ${name}`));

export interface ScriptedHistory {
  readonly log: MemoryTiledLog;
  readonly policy: VerifiedPolicy;
  readonly requests: {
    readonly A: VerifiedRequest;
    readonly B: VerifiedRequest;
    readonly C: VerifiedRequest;
    readonly G: VerifiedRequest;
  };
  readonly labels: { readonly A: Uint8Array[]; readonly C: Uint8Array[] };
  readonly executions: { readonly A: VerifiedExecution; readonly C: VerifiedExecution };
}

/**
 * The history (times UTC). Requests: A (internal, Dec 1, seal Dec 31, extended once to Mar 1, executed over 5
 * envelopes, trustees 1 and 2 release 5 and 4 shares: trustee 2 refuses label A[2]); B (police, Dec 2, seal
 * Dec 12, denied by trustees 1 and 2, never unsealed: overdue); C (internal, Jan 5, executed over 3 envelopes,
 * released by trustees 1 and 3, unsealed by the relay Jan 26); G (police, Jan 6, seal Apr 16, undecided).
 * Shreds: epoch 11 by trustees 1 and 2 (shredded: n − k + 1 = 2), epoch 12 by trustee 3 only.
 */
export function buildScriptedHistory(): ScriptedHistory {
  const signedP1 = signPolicy(policy(), orgKey);
  const P1 = verifyPolicy(signedP1, orgKey.publicKey);
  const log = new MemoryTiledLog(ORIGIN, logKey, witnessKeys, () => Math.floor(NOW / 1000));
  const add = (...entries: Uint8Array[]) => log.append(...entries);

  const req = (id: number, over: Partial<Request>, key: SigningKeyPair): Uint8Array =>
    signRequest(
      {
        version: REQUEST_VERSION,
        orgId: 'example.org',
        requestId: new Uint8Array(16).fill(id),
        policyHash: P1.hash,
        requesterId: 'internal-investigations',
        createdAt: DEC,
        legalBasis: 'Employment contract §12',
        documentHash: sha256(utf8Encode(`order ${id}`)),
        subjects: ['alice@example.org'],
        window: { from: DEC - 10 * DAY, until: DEC },
        conversations: [],
        maxEnvelopes: 100,
        sealUntil: DEC + 30 * DAY,
        confidentialCommitment: committed.commitment,
        ...over,
      },
      key,
    );
  const police = { requesterId: 'police-unit-7' };

  // 0: the policy; 1: a policy signed by a trustee's key (vouches for nothing, not an access entry).
  add(policyEntry(signedP1), policyEntry(signPolicy(policy({ serial: 9 }), trusteeKeys[0]!)));

  const sA = req(0xa1, { createdAt: DEC + HOUR, sealUntil: DEC + 30 * DAY }, requesterKeys.internal);
  const sB = req(0xb2, { ...police, createdAt: DEC + DAY, sealUntil: DEC + 11 * DAY }, requesterKeys.police);
  const sC = req(0xc3, { createdAt: JAN + 4 * DAY, sealUntil: JAN + 24 * DAY }, requesterKeys.internal);
  const sG = req(
    0xd4,
    { ...police, createdAt: JAN + 5 * DAY, sealUntil: JAN + 105 * DAY },
    requesterKeys.police,
  );
  // D: police's request signed with the internal key (WF-R4); E: under a policy that is not logged (WF-R2).
  const sD = req(0xd0, { ...police, createdAt: DEC + DAY }, requesterKeys.internal);
  const sE = req(0xe0, { ...police, policyHash: sha256(utf8Encode('no such policy')) }, requesterKeys.police);
  const [A, B, C, G] = [sA, sB, sC, sG].map((s) => verifyRequest(s, P1)) as [
    VerifiedRequest,
    VerifiedRequest,
    VerifiedRequest,
    VerifiedRequest,
  ];
  add(entry(5, sA), entry(5, sB), entry(5, sD), entry(5, sE), entry(5, sA) /* repeat */);
  const idD = new Uint8Array(16).fill(0xd0);
  const hashD = requestHash(decodeSigned(sD, 1 << 24, 'REQUEST_INVALID', 'WF-R1').body);

  const decide = (
    r: VerifiedRequest,
    t: number,
    verdict: 'approve' | 'deny',
    at: number,
    key = trusteeKeys[t - 1]!,
  ) => signDecision(decisionFor(r, t, verdict, at), key);
  const dA1 = decide(A, 1, 'approve', DEC + 2 * DAY);
  const dA2 = decide(A, 2, 'approve', DEC + 2 * DAY);
  const dA3 = decide(A, 3, 'deny', DEC + 3 * DAY);
  const dB1 = decide(B, 1, 'deny', DEC + 2 * DAY);
  const dB2 = decide(B, 2, 'deny', DEC + 2 * DAY);
  add(
    entry(6, dA1),
    entry(6, dA2),
    entry(6, dA2) /* repeat */,
    entry(6, dA3),
    entry(6, dB1),
    entry(6, dB2),
    entry(6, decide(A, 1, 'approve', DEC + 2 * DAY, trusteeKeys[1]!)) /* wrong key */,
    // A decision about D, which did not verify.
    entry(
      6,
      signDecision(
        { ...decisionFor(A, 1, 'approve', DEC + 2 * DAY), requestId: idD, requestHash: hashD },
        trusteeKeys[0]!,
      ),
    ),
  );

  const labelsA = [0, 1, 2, 3, 4].map((i) => label(`A${i}`)).sort(compareBytes);
  const approvalsA = [dA1, dA2].map((d) => verifyDecision(d, P1, A));
  const xA = signExecution(executionFor(A, approvalsA, labelsA, DEC + 4 * DAY), relayKey);
  const xA2 = signExecution(executionFor(A, approvalsA, labelsA, DEC + 5 * DAY), relayKey);
  const denialsB = [dB1, dB2].map((d) => verifyDecision(d, P1, B));
  const xB = signExecution(executionFor(B, denialsB, [label('B0')], DEC + 4 * DAY), relayKey);
  add(entry(7, xA), entry(7, xA2) /* second */, entry(7, xB) /* denied: WF-E4 */);
  const decisionEntriesA = [dA1, dA2, dA2, dA3, dB1, dB2].map((d) => entry(6, d));
  const exA = verifyExecution(xA, relayKey.publicKey, P1, A, decisionsOnLog(P1, A, decisionEntriesA));
  const exA2 = verifyExecution(xA2, relayKey.publicKey, P1, A, decisionsOnLog(P1, A, decisionEntriesA));

  const bundle = (s: string) => utf8Encode(`sealed bundle ${s}`);
  const rel = (ex: VerifiedExecution, t: number, n: number, at: number) =>
    signRelease(releaseFor(ex, t, n, bundle(`${t}/${at}`), at), trusteeKeys[t - 1]!);
  const refuse = (
    r: { requestId: Uint8Array; hash: Uint8Array },
    t: number,
    reason: RefusalReason,
    at: number,
    l?: Uint8Array,
    key = trusteeKeys[t - 1]!,
  ) =>
    signRefusal(
      {
        version: 1,
        orgId: 'example.org',
        requestId: r.requestId,
        requestHash: r.hash,
        trusteeIndex: t,
        reason,
        ...(l ? { label: l } : {}),
        refusedAt: at,
      },
      key,
    );
  const idA = { requestId: A.request.requestId, hash: A.hash };
  add(
    entry(8, rel(exA, 1, 5, DEC + 5 * DAY)),
    entry(8, rel(exA, 2, 4, DEC + 5 * DAY)),
    entry(8, rel(exA, 3, 5, DEC + 5 * DAY)) /* trustee 3 did not approve: WF-L5 */,
    entry(8, rel(exA2, 1, 5, DEC + 5 * DAY)) /* for the second execution, which counts for nothing */,
    entry(12, refuse(idA, 2, 'REL-5', DEC + 5 * DAY, labelsA[2])),
    entry(12, refuse(idA, 2, 'REL-5', DEC + 5 * DAY + 1, labelsA[2])) /* the same envelope again */,
    entry(12, refuse({ requestId: B.request.requestId, hash: B.hash }, 1, 'REL-2', DEC + 3 * DAY)),
    entry(12, refuse({ requestId: idD, hash: hashD }, 1, 'REL-1', DEC + 2 * DAY)),
    entry(12, refuse(idA, 2, 'REL-5', DEC + 5 * DAY, labelsA[3], strangerKey)) /* wrong key */,
    entry(
      12,
      refuse({ requestId: new Uint8Array(16).fill(0x99), hash: sha256(utf8Encode('x')) }, 1, 'REL-1', DEC),
    ),
  );

  // Extensions: A's first link (k = 2 signers); B's by one trustee (WF-X3); A's "second" off the chain (WF-X2).
  const extend = (
    r: VerifiedRequest,
    prev: VerifiedExtension | undefined,
    until: number,
    at: number,
    signers: number[],
    old?: number,
  ) => {
    const s = {
      ...extensionStatementFor(r, prev, until, at),
      ...(old !== undefined ? { oldSealUntil: old } : {}),
    };
    return encodeExtension({
      statement: s,
      signatures: signers.map((t) => signExtensionStatement(s, t, trusteeKeys[t - 1]!)),
    });
  };
  const eA1 = extend(A, undefined, A.request.sealUntil + 60 * DAY, DEC + 19 * DAY, [1, 2]);
  const vA1 = verifyExtension(eA1, P1, A);
  add(
    entry(9, eA1),
    entry(9, extend(B, undefined, B.request.sealUntil + 30 * DAY, DEC + 5 * DAY, [1])),
    entry(9, extend(A, vA1, A.request.sealUntil + 90 * DAY, DEC + 20 * DAY, [1, 2], A.request.sealUntil)),
  );

  add(entry(5, sC), entry(5, sG));
  const dC1 = decide(C, 1, 'approve', JAN + 5 * DAY);
  const dC3 = decide(C, 3, 'approve', JAN + 6 * DAY);
  add(entry(6, dC1), entry(6, dC3));
  const labelsC = [0, 1, 2].map((i) => label(`C${i}`)).sort(compareBytes);
  const approvalsC = [dC1, dC3].map((d) => verifyDecision(d, P1, C));
  const xC = signExecution(executionFor(C, approvalsC, labelsC, JAN + 7 * DAY), relayKey);
  add(entry(7, xC));
  const exC = verifyExecution(
    xC,
    relayKey.publicKey,
    P1,
    C,
    decisionsOnLog(P1, C, [entry(6, dC1), entry(6, dC3)]),
  );
  add(entry(8, rel(exC, 1, 3, JAN + 8 * DAY)), entry(8, rel(exC, 3, 3, JAN + 8 * DAY)));

  // Unseals: C by the relay; B with an opening that is not its commitment's (WF-U5); C again by trustee 1 (second).
  const wrongOpening = { salt: new Uint8Array(32).fill(9), confidential: committed.opening.confidential };
  add(
    entry(10, signUnseal(unsealFor(C, committed.opening, 0, JAN + 25 * DAY), relayKey)),
    entry(10, signUnseal(unsealFor(B, wrongOpening, 0, JAN + 25 * DAY), relayKey)),
    entry(10, signUnseal(unsealFor(C, committed.opening, 1, JAN + 26 * DAY), trusteeKeys[0]!)),
  );

  // Shreds.
  const shred = (epoch: number, t: number, at: number, key = trusteeKeys[t - 1]!) =>
    entry(11, signShred(shredFor('example.org', epoch, t, at), key));
  add(
    shred(11, 1, JAN + 10 * DAY),
    shred(11, 2, JAN + 10 * DAY),
    shred(11, 1, JAN + 11 * DAY) /* again, other bytes: the same pair */,
    shred(12, 3, JAN + 10 * DAY),
    shred(12, 2, JAN + 10 * DAY, strangerKey) /* wrong key */,
  );

  // A new policy (serial 4); a request filed afterwards under the old one does not verify (WF-R2).
  const P2 = verifyPolicy(signPolicy(policy({ serial: 4 }), orgKey), orgKey.publicKey);
  add(
    policyEntry(P2.signed),
    entry(5, req(0xf0, { createdAt: JAN + 20 * DAY, sealUntil: JAN + 40 * DAY }, requesterKeys.internal)),
  );

  return {
    log,
    policy: P1,
    requests: { A, B, C, G },
    labels: { A: labelsA, C: labelsC },
    executions: { A: exA, C: exC },
  };
}

export { logViewOf };
