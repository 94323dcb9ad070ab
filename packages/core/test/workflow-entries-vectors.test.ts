// Committed vectors for the log-entry bodies (vectors/entries.json, docs/spec/workflow.md §9.9): the generator
// reproduces the file byte for byte, and every object verifies from the file's bytes alone (with the policy and
// request of vectors/workflow.json).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex } from '../src/bytes.js';
import { decisionsOnLog } from '../src/workflow/decision.js';
import { checkExecutionLabels, verifyExecution } from '../src/workflow/execution.js';
import { verifyExtension } from '../src/workflow/extension.js';
import { verifyPolicy } from '../src/workflow/policy.js';
import { verifyRefusal } from '../src/workflow/refusal.js';
import { verifyRelease } from '../src/workflow/release.js';
import { verifyRequest } from '../src/workflow/request.js';
import { verifyShred } from '../src/workflow/shred.js';
import { verifyUnseal } from '../src/workflow/unseal.js';
import { ENTRIES_VECTORS_PATH, renderEntriesVectors } from './gen-entries-vectors.js';
import { WORKFLOW_VECTORS_PATH } from './gen-workflow-vectors.js';

const file = readFileSync(ENTRIES_VECTORS_PATH, 'utf8');
const E = JSON.parse(file);
const W = JSON.parse(readFileSync(WORKFLOW_VECTORS_PATH, 'utf8'));

describe('log-entry body vectors', () => {
  it('the generator reproduces vectors/entries.json byte for byte', () => {
    expect(renderEntriesVectors()).toBe(file);
  });

  it('every object verifies from the committed bytes alone', () => {
    const policy = verifyPolicy(fromHex(W.policy.signed), fromHex(W.keys.orgPublicKey));
    const request = verifyRequest(fromHex(W.request.signed), policy);
    const relay = fromHex(E.relay.publicKey);
    // The approvals as the log holds them: entries u8 6 ‖ signed decision.
    const logged = decisionsOnLog(
      policy,
      request,
      (E.approvals as string[]).map((a) => concatBytes(Uint8Array.of(6), fromHex(a))),
    );
    expect(logged.decisions).toHaveLength(2);
    const execution = verifyExecution(fromHex(E.execution.signed), relay, policy, request, logged);
    expect(execution.hash).toEqual(fromHex(E.execution.hash));
    checkExecutionLabels(execution, (E.execution.labels as string[]).map(fromHex));
    expect(verifyRelease(fromHex(E.release.signed), policy, execution).release.trusteeIndex).toBe(1);
    const ext = verifyExtension(fromHex(E.extension.encoded), policy, request);
    expect(ext.extension.statement.newSealUntil).toBe(E.extension.newSealUntil);
    expect(verifyUnseal(fromHex(E.unseal.signed), policy, request, relay).unseal.publisher).toBe(0);
    expect(verifyShred(fromHex(E.shred.signed), policy).shred.epoch).toBe(7);
    const binding = { requestId: request.request.requestId, hash: request.hash };
    expect(verifyRefusal(fromHex(E.refusal.signed), policy, binding).refusal.reason).toBe('REL-4');
  });
});
