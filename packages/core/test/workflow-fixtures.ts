/**
 * Shared fixtures for the workflow tests: an organisation key, a 2-of-3 trustee policy with two witnesses and
 * two requesters, and helpers that build signed requests and decisions.
 */
import { concatBytes, utf8Encode } from '../src/bytes.js';
import { sha256 } from '../src/hash.js';
import { signingKeyFromSeed } from '../src/sign.js';
import {
  DECISION_ENTRY_TYPE,
  decisionFor,
  decisionsOnLog,
  type LoggedDecisions,
  signDecision,
  type Verdict,
} from '../src/workflow/decision.js';
import { type Policy, signPolicy, type VerifiedPolicy, verifyPolicy } from '../src/workflow/policy.js';
import {
  commitConfidential,
  type Request,
  type RequestConfidential,
  signRequest,
  type VerifiedRequest,
  verifyRequest,
} from '../src/workflow/request.js';
import { SEND_TIME, seededRng } from './envelope-fixtures.js';

const key = (n: number) => signingKeyFromSeed(new Uint8Array(32).fill(n));

export const orgKey = key(0x01);
export const trusteeKeys = [key(0x11), key(0x12), key(0x13)];
export const witnessKeys = [key(0x21), key(0x22)];
export const requesterKeys = { police: key(0x31), internal: key(0x32) };
export const DAY = 86_400_000;

export function policy(overrides: Partial<Policy> = {}): Policy {
  return {
    version: 1,
    orgId: 'example.org',
    serial: 3,
    issuedAt: SEND_TIME - 30 * DAY,
    trustees: trusteeKeys.map((k, i) => ({
      index: i + 1,
      name: ['General Counsel', 'Oversight Board', 'Data Protection Officer'][i]!,
      signingKey: k.publicKey,
      encryptionKey: new Uint8Array(32).fill(0x40 + i),
    })),
    threshold: 2,
    witnesses: witnessKeys.map((k, i) => ({ name: `witness${i + 1}.example.net`, signingKey: k.publicKey })),
    witnessQuorum: 2,
    requesters: [
      {
        id: 'internal-investigations',
        name: 'Internal Investigations',
        signingKey: requesterKeys.internal.publicKey,
        encryptionKey: new Uint8Array(32).fill(0x51),
      },
      {
        id: 'police-unit-7',
        name: 'Police Unit 7',
        signingKey: requesterKeys.police.publicKey,
        encryptionKey: new Uint8Array(32).fill(0x52),
      },
    ],
    limits: {
      maxSubjects: 3,
      maxWindowMs: 31 * DAY,
      maxEnvelopes: 1000,
      maxSealMs: 180 * DAY,
      maxExtensions: 2,
    },
    epochLength: { kind: 'calendar-month' },
    retentionMs: 365 * DAY,
    ...overrides,
  };
}

export const verifiedPolicy = verifyPolicy(signPolicy(policy(), orgKey), orgKey.publicKey);

export const confidential: RequestConfidential = {
  justification: 'Suspected disclosure of client data to a competitor between 1 and 20 December.',
  caseReference: 'II-2025-0042',
};

export const committed = commitConfidential(confidential, seededRng('salt'));

export function request(overrides: Partial<Request> = {}): Request {
  return {
    version: 1,
    orgId: 'example.org',
    requestId: new Uint8Array(16).fill(0x77),
    policyHash: verifiedPolicy.hash,
    requesterId: 'internal-investigations',
    createdAt: SEND_TIME + 10 * DAY,
    legalBasis: 'Employment contract §12; works council agreement 2024/3',
    documentHash: sha256(utf8Encode('order document')),
    subjects: ['alice@example.org'],
    window: { from: SEND_TIME - 5 * DAY, until: SEND_TIME + 5 * DAY },
    conversations: [],
    maxEnvelopes: 500,
    sealUntil: SEND_TIME + 100 * DAY,
    confidentialCommitment: committed.commitment,
    ...overrides,
  };
}

export function signedRequest(overrides: Partial<Request> = {}, signer = requesterKeys.internal): Uint8Array {
  return signRequest(request(overrides), signer);
}

export function verifiedRequest(overrides: Partial<Request> = {}): VerifiedRequest {
  return verifyRequest(signedRequest(overrides), verifiedPolicy);
}

export function signedDecision(
  req: VerifiedRequest,
  trusteeIndex: number,
  verdict: Verdict = 'approve',
): Uint8Array {
  return signDecision(
    decisionFor(req, trusteeIndex, verdict, SEND_TIME + 11 * DAY),
    trusteeKeys[trusteeIndex - 1]!,
  );
}

/** A signed decision as it sits on the log: the encoded entry u8 6 ‖ signed decision (docs/spec/log.md). */
export function decisionEntry(signed: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(DECISION_ENTRY_TYPE), signed);
}

/** The decisions about `req` on a log made of `signed` decisions (each one entry, in order). */
export function loggedDecisions(
  req: VerifiedRequest,
  signed: readonly Uint8Array[],
  pol: VerifiedPolicy = verifiedPolicy,
): LoggedDecisions {
  return decisionsOnLog(pol, req, signed.map(decisionEntry));
}

// Standing orders (docs/spec/after-release.md §8): a version 2 policy with a recorded group, and an order.

export const RECORDED = ['alice@example.org', 'trader2@example.org'];

export function policyV2(overrides: Partial<Policy> = {}): Policy {
  return policy({ version: 2, serial: 4, recorded: RECORDED, maxOrderMs: 92 * DAY, ...overrides });
}

export const verifiedPolicyV2 = verifyPolicy(signPolicy(policyV2(), orgKey), orgKey.publicKey);

export function order(overrides: Partial<Request> = {}): Request {
  const createdAt = SEND_TIME - 6 * DAY;
  return request({
    version: 2,
    requestId: new Uint8Array(16).fill(0x78),
    policyHash: verifiedPolicyV2.hash,
    requesterId: 'internal-investigations',
    legalBasis: 'MiFID II art. 16(7): recording of telephone conversations and electronic communications',
    subjects: RECORDED,
    createdAt,
    window: { from: SEND_TIME - 5 * DAY, until: SEND_TIME + 85 * DAY },
    maxEnvelopes: 1000,
    sealUntil: createdAt,
    order: {},
    ...overrides,
  });
}

export function verifiedOrder(overrides: Partial<Request> = {}): VerifiedRequest {
  return verifyRequest(signRequest(order(overrides), requesterKeys.internal), verifiedPolicyV2);
}
