// bench/access runs end to end on a small warrant (1,100 envelopes: two release batches, the second partial) and
// reports every stage: real envelopes generated and put in label order, a real log (policy, request, approvals,
// execution over the sorted labels, the releases), two trustees' releases with their sealed share bundles, the
// requester's opened bundles and plaintexts all equal to what was sealed, the evidence bundle written and
// verified with every message verified, the batch-verification MSM comparison with equal outcomes, and the bound.
// No assertion on any timing (common rules: tests never assert on speed).
import { describe, expect, it } from 'vitest';
import { runBench } from './run-bench.js';

describe('bench/access', () => {
  it('runs a 1,100-envelope warrant: bundles sealed and opened, every plaintext checked, the evidence bundle verified', async () => {
    const r = await runBench('bench/access/run.ts', ['--envelopes', '1100', '--quick']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.suite).toBe('access');
    expect(doc.envelopes).toBe(1100);
    for (const s of ['trustee_1_release', 'trustee_2_release']) {
      expect(doc.stages[s].envelopes).toBe(1100);
      expect(doc.stages[s].failures).toBe(0);
      // Two sealed bundles: 1,100 entries of 197 bytes plus headers, HPKE enc and tags.
      expect(doc.stages[s].bundle_bytes).toBeGreaterThan(1100 * 197);
      expect(doc.stages[s].main_thread_ms.seal_bundle_and_sign_release).toEqual(expect.any(Number));
    }
    expect(doc.stages.requester.main_thread_ms.open_bundles).toEqual(expect.any(Number));
    expect(doc.stages.requester).toMatchObject({
      envelopes: 1100,
      opened: 1100,
      plaintext_mismatches: 0,
      failures: 0,
    });
    // The evidence bundle of the warrant, written and read back: every message verified, nothing failed.
    expect(doc.stages.evidence_bundle).toMatchObject({
      envelopes: 1100,
      verified_ok: true,
      messages: 1100,
      messages_verified: 1100,
      failures: 0,
    });
    // Per message its head, ciphertext and text (3 × 1,100), then the log entries with their receipts, the sealed
    // and opened share bundles, the anchors, checkpoint and manifest.
    expect(doc.stages.evidence_bundle.files).toBeGreaterThan(3 * 1100);
    expect(doc.stages.evidence_bundle.collect.cpu_s).toEqual(expect.any(Number));
    for (const kind of ['shares', 'capsules']) {
      expect(doc.batch_verification_msm[kind].outcome_equal).toBe(true);
      expect(doc.batch_verification_msm[kind].batch).toBe(1024);
    }
    expect(doc.model.per_envelope.through_requester).toEqual({ base: 7, variable: 21, ed25519: 2 });
    expect(doc.model.per_envelope.total).toEqual({ base: 10, variable: 32, ed25519: 3 });
    expect(doc.model.bound_envelopes_per_s.end_to_end).toBeGreaterThan(0);
    expect(doc.end_to_end.envelopes_per_s).toBeGreaterThan(0);
    expect(doc.memory.paged_stages.rss_peak_mb).toBeGreaterThan(0);
    expect(doc.memory.evidence_bundle_rss_peak_mb).toBeGreaterThan(0);
  }, 600_000);
});
