// Fuzzing every log-entry body decoder and verifier (docs/spec/workflow.md §9) with random bytes and mutations
// of valid encodings: only our own errors, with this module's codes, may come out.
import fc from 'fast-check';
import { describe, it } from 'vitest';
import {
  extensionBytes,
  logged,
  refusalOf,
  relayKey,
  release,
  req,
  signedExecution,
  verifiedExecution,
} from '../../test/entries-fixtures.js';
import { fuzzInputs, onlyOurErrors } from '../../test/envelope-fixtures.js';
import { committed, trusteeKeys, verifiedPolicy } from '../../test/workflow-fixtures.js';
import { decodeExecution, verifyExecution } from './execution.js';
import { decodeExtension, verifyExtension } from './extension.js';
import { decodeRefusal, signRefusal, verifyRefusal } from './refusal.js';
import { decodeRelease, signRelease, verifyRelease } from './release.js';
import { decodeShred, shredFor, signShred, verifyShred } from './shred.js';
import { decodeUnseal, signUnseal, unsealFor, verifyUnseal } from './unseal.js';

const CODES = [
  'EXECUTION_INVALID',
  'RELEASE_INVALID',
  'EXTENSION_INVALID',
  'UNSEAL_INVALID',
  'SHRED_INVALID',
  'REFUSAL_INVALID',
  'REQUEST_LIMIT',
  'COMMITMENT_MISMATCH',
  'SIGNATURE_INVALID',
];
const RUNS = { numRuns: 300 };

/** Fuzzes a signed object through its verifier, and its body (between the u32 length and the signature). */
async function fuzzSigned(
  signed: Uint8Array,
  verify: (b: Uint8Array) => unknown,
  decode: (b: Uint8Array) => unknown,
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(fuzzInputs(signed), async (b) => {
      await onlyOurErrors(() => verify(b), CODES);
    }),
    RUNS,
  );
  await fc.assert(
    fc.asyncProperty(fuzzInputs(signed.subarray(4, signed.length - 64)), async (b) => {
      await onlyOurErrors(() => decode(b), CODES);
    }),
    RUNS,
  );
}

describe('log-entry body decoder fuzzing', () => {
  it('executions', () =>
    fuzzSigned(
      signedExecution,
      (b) => verifyExecution(b, relayKey.publicKey, verifiedPolicy, req, logged),
      decodeExecution,
    ));

  it('releases', () =>
    fuzzSigned(
      signRelease(release(), trusteeKeys[0]!),
      (b) => verifyRelease(b, verifiedPolicy, verifiedExecution),
      decodeRelease,
    ));

  it('extensions', async () => {
    const good = extensionBytes(req, undefined, req.request.sealUntil + 1000);
    await fc.assert(
      fc.asyncProperty(fuzzInputs(good), async (b) => {
        await onlyOurErrors(() => decodeExtension(b), CODES);
        await onlyOurErrors(() => verifyExtension(b, verifiedPolicy, req), CODES);
      }),
      RUNS,
    );
  });

  it('unseals', () =>
    fuzzSigned(
      signUnseal(unsealFor(req, committed.opening, 0, req.request.sealUntil), relayKey),
      (b) => verifyUnseal(b, verifiedPolicy, req, relayKey.publicKey),
      decodeUnseal,
    ));

  it('shreds', () =>
    fuzzSigned(
      signShred(shredFor('example.org', 7, 1, 1), trusteeKeys[0]!),
      (b) => verifyShred(b, verifiedPolicy),
      decodeShred,
    ));

  it('refusals', () =>
    fuzzSigned(
      signRefusal(refusalOf('REL-4', new Uint8Array(32).fill(5)), trusteeKeys[1]!),
      (b) => verifyRefusal(b, verifiedPolicy, { requestId: req.request.requestId, hash: req.hash }),
      decodeRefusal,
    ));
});
