// bench/kt-map runs on a 1,000-label map and reports every figure of BENCHMARKS.md "Key transparency map": the
// baselines, one point of the curve (its lookup proofs verified inside the bench before they are measured), the
// owner-monitoring steps for three epoch intervals and a monitoring proof whose rebuilt root is the published one.
// No assertion on any timing (common rules: tests never assert on speed).
import { describe, expect, it } from 'vitest';
import { runBench } from './run-bench.js';

describe('bench/kt-map', () => {
  it('reports the curve, the monitoring figures and the baselines for a 1,000-label map', async () => {
    const r = await runBench('bench/kt-map/run.ts', ['--quick', '--max', '1000']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.suite).toBe('kt-map');
    expect(doc.ed25519_ok).toBe(true);
    expect(doc.results.map((x: { name: string }) => x.name)).toEqual([
      'sha256 65 B (node:crypto)',
      'sha256 65 B (@noble/hashes)',
      'ed25519 verify (libsodium)',
      'vrf prove (ECVRF-EDWARDS25519-SHA512-TAI, noble)',
      'vrf verify',
    ]);
    expect(doc.curve).toHaveLength(1);
    const c = doc.curve[0];
    expect(c.entries).toBe(1000);
    // VRF proof + prefix proof + version, opening and a two-device value: more than 80 + 3 + 24 + 113 bytes.
    expect(c.lookup_proof_bytes_mean).toBeGreaterThan(220);
    expect(c.lookup_depth_mean).toBeGreaterThan(5);
    expect(c.whole_log_new_client_bytes).toBe(1000 * doc.directory_entry_bytes);
    expect(doc.monitoring.map((m: { epoch_interval_s?: number }) => m.epoch_interval_s)).toEqual([
      60,
      600,
      3600,
      undefined,
    ]);
    for (const m of doc.monitoring.slice(0, 3)) expect(m.owner_bytes_per_day).toBeGreaterThan(0);
    expect(doc.monitoring[3].rebuilt_root_matches).toBe(true);
  }, 180_000);
});
