// The requester's case cryptography on worker threads (PooledCaseCrypto over AccessWorkerPool.recover) against
// the in-process path, over a real case (real tiled log, trustee-signed epoch key, envelopes, HPKE-sealed share
// bundles): the same verdicts, field for field — every message opened, and a bad share failing its message with
// ACC-A9 naming its trustee — and an evidence bundle that verifies (EVD-9) with the pool as without it.
import type { ShareBundle } from '@overt/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orgKey } from '../../../core/test/workflow-fixtures.js';
import { type AccessCaseFixture, buildAccessCase, relayKey } from '../../test/access-case.js';
import { evidenceFilesOf } from '../../test/gen-evidence-vector.js';
import { verifyEvidence } from '../access/evidence-verify.js';
import { type CollectInput, collect } from '../access/requester.js';
import { PooledCaseCrypto } from './access-case-crypto.js';

let fx: AccessCaseFixture;
const crypto = new PooledCaseCrypto(2);
beforeAll(async () => {
  fx = await buildAccessCase();
});
afterAll(async () => {
  await crypto.close();
});

function input(f: AccessCaseFixture, over: Partial<CollectInput> = {}): CollectInput {
  return {
    orgKey: orgKey.publicKey,
    relayKey: relayKey.publicKey,
    requestId: f.built.verified.request.requestId,
    log: { checkpoint: f.checkpoint, entries: f.entries },
    releases: f.releases,
    envelopes: f.envelopes,
    secretKey: f.requesterSecretKey,
    ...over,
  };
}

describe('PooledCaseCrypto (collect and evidence on worker threads)', () => {
  it('opens every message of a case exactly as the in-process path does', async () => {
    const pooled = await collect(input(fx, { crypto }));
    const local = await collect(input(fx));
    expect(pooled.verdicts.every((v) => v.ok)).toBe(true);
    expect(pooled.verdicts).toEqual(local.verdicts);
  });

  it('ACC-A9: a bad share fails its message naming the trustee, as in process', async () => {
    const bad = await buildAccessCase((trustee, b: ShareBundle) =>
      trustee === 2
        ? { ...b, shares: b.shares.map((s, i) => (i === 1 ? { ...s, share: b.shares[0]!.share } : s)) }
        : b,
    );
    const pooled = await collect(input(bad, { crypto }));
    const local = await collect(input(bad));
    expect(pooled.verdicts).toEqual(local.verdicts);
    const v = pooled.verdicts[1]!;
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.code).toBe('ACCESS_BAD_SHARE');
    expect(v.check).toBe('ACC-A9');
    expect(v.badShares.map((b) => b.trustee)).toEqual([2]);
    expect(v.reason).toContain('trustee 2');
    expect(pooled.verdicts[0]!.ok && pooled.verdicts[2]!.ok).toBe(true);
  });

  it('verifies an evidence bundle (EVD-9) with the pool', async () => {
    const files = await evidenceFilesOf(fx);
    const pooled = await verifyEvidence(files, { crypto });
    expect(pooled.ok).toBe(true);
    expect(pooled).toEqual(await verifyEvidence(files));
  });
});
