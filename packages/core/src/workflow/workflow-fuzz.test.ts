// Fuzzing every workflow decoder and verifier with random bytes and mutations of valid encodings: only our
// own errors, with this module's codes, may come out.
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { fuzzInputs, onlyOurErrors } from '../../test/envelope-fixtures.js';
import {
  committed,
  orgKey,
  policy,
  request,
  signedDecision,
  signedRequest,
  verifiedPolicy,
  verifiedRequest,
} from '../../test/workflow-fixtures.js';
import { decodeDecision, verifyDecision } from './decision.js';
import { decodePolicy, encodePolicy, signPolicy, verifyPolicy } from './policy.js';
import { decodeOpening, decodeRequest, encodeOpening, encodeRequest, verifyRequest } from './request.js';
import { decodeSigned } from './signed.js';

const CODES = [
  'POLICY_INVALID',
  'REQUEST_INVALID',
  'REQUEST_LIMIT',
  'DECISION_INVALID',
  'COMMITMENT_MISMATCH',
  'SIGNATURE_INVALID',
  'SCOPE_OUTSIDE',
];
const RUNS = { numRuns: 300 };
const req = verifiedRequest();

describe('workflow decoder fuzzing', () => {
  it('policies', async () => {
    const signed = signPolicy(policy(), orgKey);
    await fc.assert(
      fc.asyncProperty(fuzzInputs(encodePolicy(policy())), (b) =>
        onlyOurErrors(() => decodePolicy(b), CODES),
      ),
      RUNS,
    );
    await fc.assert(
      fc.asyncProperty(fuzzInputs(signed), (b) =>
        onlyOurErrors(() => verifyPolicy(b, orgKey.publicKey), CODES),
      ),
      RUNS,
    );
  });

  it('requests and openings', async () => {
    await fc.assert(
      fc.asyncProperty(fuzzInputs(encodeRequest(request())), (b) =>
        onlyOurErrors(() => decodeRequest(b), CODES),
      ),
      RUNS,
    );
    await fc.assert(
      fc.asyncProperty(fuzzInputs(signedRequest()), (b) =>
        onlyOurErrors(() => verifyRequest(b, verifiedPolicy), CODES),
      ),
      RUNS,
    );
    await fc.assert(
      fc.asyncProperty(fuzzInputs(encodeOpening(committed.opening)), (b) =>
        onlyOurErrors(() => decodeOpening(b), CODES),
      ),
      RUNS,
    );
  });

  it('decisions and signed frames', async () => {
    const d = signedDecision(req, 1);
    await fc.assert(
      fc.asyncProperty(fuzzInputs(d), async (b) => {
        await onlyOurErrors(() => verifyDecision(b, verifiedPolicy, req), CODES);
        await onlyOurErrors(() => decodeDecision(b.subarray(4, b.length - 64)), CODES);
        await onlyOurErrors(() => decodeSigned(b, 4096, 'DECISION_INVALID', 'WF-D1'), CODES);
      }),
      RUNS,
    );
  });
});
