/**
 * Fixtures for the log-entry bodies (docs/spec/workflow.md §9), on top of workflow-fixtures.ts: a relay key,
 * envelope labels, and one signed object of each kind about the fixture request, all deterministic.
 */

import { utf8Encode } from '../src/bytes.js';
import { taggedHash } from '../src/hash.js';
import { signingKeyFromSeed } from '../src/sign.js';
import { verifyDecision } from '../src/workflow/decision.js';
import { executionFor, signExecution, verifyExecution } from '../src/workflow/execution.js';
import {
  encodeExtension,
  extensionStatementFor,
  signExtensionStatement,
  type VerifiedExtension,
} from '../src/workflow/extension.js';
import type { RefusalReason } from '../src/workflow/refusal.js';
import { releaseFor } from '../src/workflow/release.js';
import type { VerifiedRequest } from '../src/workflow/request.js';
import { SEND_TIME } from './envelope-fixtures.js';
import {
  DAY,
  loggedDecisions,
  signedDecision,
  trusteeKeys,
  verifiedPolicy,
  verifiedRequest,
} from './workflow-fixtures.js';

export const relayKey = signingKeyFromSeed(new Uint8Array(32).fill(0x41));
export const T_EXEC = SEND_TIME + 12 * DAY;

export function labels(n: number, tag = 'envelope'): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => taggedHash('overt/test/label', utf8Encode(`${tag} ${i}`)));
}

export const req = verifiedRequest();
export const otherReq = verifiedRequest({ requestId: new Uint8Array(16).fill(0x78) });
export const approvals = [1, 2].map((i) => verifyDecision(signedDecision(req, i), verifiedPolicy, req));
/** The log's decisions about `req`: the two approvals. */
export const logged = loggedDecisions(
  req,
  [1, 2].map((i) => signedDecision(req, i)),
);
export const execLabels = labels(5);
export const execution = executionFor(req, approvals, execLabels, T_EXEC);
export const signedExecution = signExecution(execution, relayKey);
export const verifiedExecution = verifyExecution(
  signedExecution,
  relayKey.publicKey,
  verifiedPolicy,
  req,
  logged,
);
export const release = (trusteeIndex = 1, shareCount = 5) =>
  releaseFor(verifiedExecution, trusteeIndex, shareCount, utf8Encode('hpke sealed bundle'), T_EXEC + 1000);

/** An extension of `r` signed by `signers` (trustee indices), encoded as its log-entry body. */
export function extensionBytes(
  r: VerifiedRequest,
  previous: VerifiedExtension | undefined,
  newSealUntil: number,
  signers: readonly number[] = [1, 2],
  issuedAt = r.request.sealUntil - DAY,
): Uint8Array {
  const statement = extensionStatementFor(r, previous, newSealUntil, issuedAt);
  return encodeExtension({
    statement,
    signatures: signers.map((i) => signExtensionStatement(statement, i, trusteeKeys[(i - 1) % 3]!)),
  });
}

export const refusalOf = (reason: RefusalReason, label?: Uint8Array) => ({
  version: 1,
  orgId: 'example.org',
  requestId: req.request.requestId,
  requestHash: req.hash,
  trusteeIndex: 2,
  reason,
  ...(label === undefined ? {} : { label }),
  refusedAt: T_EXEC + 2000,
});
