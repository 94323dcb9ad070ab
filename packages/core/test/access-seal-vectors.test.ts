// Committed vectors for the access workflow's sealed payloads (vectors/access.json, docs/spec/access.md §2–§3):
// the generator reproduces the file byte for byte, and from the file's bytes alone (with workflow.json and
// entries.json) each trustee opens its confidential part (ACC-1), the requester opens each bundle (ACC-2), and
// the shares verify and combine to each envelope's content key.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex } from '../src/bytes.js';
import { decodeCapsule, verifyCapsule } from '../src/capsule/capsule.js';
import { combineShares, verifyShare } from '../src/capsule/share.js';
import { decodeElement } from '../src/group.js';
import type { ThresholdPublicKey } from '../src/threshold.js';
import { decodeShareBundle, openConfidential, openShareBundle } from '../src/workflow/access-seal.js';
import { decisionsOnLog } from '../src/workflow/decision.js';
import { verifyExecution } from '../src/workflow/execution.js';
import { verifyPolicy } from '../src/workflow/policy.js';
import { verifyRelease } from '../src/workflow/release.js';
import { verifyRequest } from '../src/workflow/request.js';
import { ACCESS_VECTORS_PATH, renderAccessVectors } from './gen-access-vectors.js';
import { ENTRIES_VECTORS_PATH } from './gen-entries-vectors.js';
import { WORKFLOW_VECTORS_PATH } from './gen-workflow-vectors.js';

const file = readFileSync(ACCESS_VECTORS_PATH, 'utf8');
const A = JSON.parse(file);
const E = JSON.parse(readFileSync(ENTRIES_VECTORS_PATH, 'utf8'));
const W = JSON.parse(readFileSync(WORKFLOW_VECTORS_PATH, 'utf8'));

describe('access sealed-payload vectors (ACC-1, ACC-2)', () => {
  it('the generator reproduces vectors/access.json byte for byte', async () => {
    expect(await renderAccessVectors()).toBe(file);
  });

  it('every payload opens and every share combines from the committed bytes alone', async () => {
    const policy = verifyPolicy(fromHex(W.policy.signed), fromHex(W.keys.orgPublicKey));
    const request = verifyRequest(fromHex(W.request.signed), policy);
    for (const c of A.confidential) {
      const o = await openConfidential(fromHex(c.secretKey), c.trustee, request, fromHex(c.sealed));
      expect(o.confidential.justification.length).toBeGreaterThan(0);
    }
    // The relay's part (index 0, after-release.md §1) is there, and its index is bound into the seal.
    const relayPart = (A.confidential as { trustee: number; secretKey: string; sealed: string }[]).find(
      (c) => c.trustee === 0,
    );
    expect(relayPart).toBeDefined();
    await expect(
      openConfidential(fromHex(relayPart!.secretKey), 1, request, fromHex(relayPart!.sealed)),
    ).rejects.toMatchObject({ code: 'CONFIDENTIAL_INVALID' });
    const logged = decisionsOnLog(
      policy,
      request,
      (E.approvals as string[]).map((a) => concatBytes(Uint8Array.of(6), fromHex(a))),
    );
    const execution = verifyExecution(
      fromHex(E.execution.signed),
      fromHex(E.relay.publicKey),
      policy,
      request,
      logged,
    );
    const keySet: ThresholdPublicKey = {
      threshold: A.keySet.threshold,
      groupKey: decodeElement(fromHex(A.keySet.groupKey)),
      verificationKeys: (A.keySet.verificationKeys as string[]).map((k) => decodeElement(fromHex(k))),
    };
    const capsules = (A.envelopes as { label: string; capsule: string }[]).map((e) =>
      verifyCapsule(keySet.groupKey, decodeCapsule(fromHex(e.capsule)), fromHex(e.label)),
    );
    const byPosition = new Map<number, ReturnType<typeof verifyShare>[]>();
    for (const b of A.bundles) {
      const release = verifyRelease(fromHex(b.release), policy, execution);
      const opened = await openShareBundle(
        fromHex(A.requester.secretKey),
        policy,
        execution,
        release,
        b.batch,
        fromHex(b.sealed),
      );
      expect(opened).toEqual(decodeShareBundle(fromHex(b.plaintext)));
      expect(opened.shares.map((s) => s.position)).toEqual(b.positions);
      for (const s of opened.shares) {
        expect(s.label).toEqual(fromHex(A.envelopes[s.position].label));
        const v = verifyShare(keySet, capsules[s.position]!, s.share);
        byPosition.set(s.position, [...(byPosition.get(s.position) ?? []), v]);
      }
    }
    for (const e of A.envelopes) {
      const shares = byPosition.get(e.position) ?? [];
      if (shares.length < 2) continue;
      expect(combineShares(capsules[e.position]!, shares, keySet)).toEqual(fromHex(e.contentKey));
    }
    // Trustee 2 refused position 2: only trustee 1's share exists for it.
    expect(byPosition.get(2)).toHaveLength(1);
  });
});
