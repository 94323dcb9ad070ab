/**
 * Trustee-count curve, one point: `npx tsx bench/scale/trustees.ts --n N [--repeats R]` prints one JSON line
 * (bench/scale/point.ts). k = ⌊N/2⌋ + 1 (a majority, as bench/core/dkg.ts). Measured: a whole (k, N) DKG with
 * every participant in this process (core/test/dkg-fixtures.ts `localDkg`: each trustee's keys, round 1, the
 * N(N−1) HPKE-sealed shares, every check, every finish); verifying k shares of one capsule and combining them (what
 * a requester does per envelope); all timed in ms of this process's CPU clock (point.ts). Baseline in the same process: the time of one libsodium
 * ristretto255 variable-point multiplication, so each ratio is the cost in multiplications.
 */

import {
  combineShares,
  createShare,
  decodeCapsule,
  group,
  randomBytes,
  randomScalar,
  sealCapsule,
  verifyCapsule,
  verifyShare,
} from '../../packages/core/src/index.js';
import { localDkg } from '../../packages/core/test/dkg-fixtures.js';
import { arg, cpuMs, mb, peakRssMb, printPoint, rate } from './point.js';

const N = arg('--n', 3);
const K = Math.floor(N / 2) + 1;
const REPEATS = arg('--repeats', 3);
const MIN_MS = arg('--min-ms', 300);

const s = randomScalar();
const p = group.baseMul(randomScalar());
const mulMs = async () => 1000 / (await rate(() => group.mul(s, p), Math.min(MIN_MS, 200)));

// Warm-up and the key set the share figures use.
const outputs = await localDkg(K, N, 'bench');
const publicKey = outputs[0]!.publicKey;
const label = randomBytes(32);
const capsule = verifyCapsule(
  publicKey.groupKey,
  decodeCapsule(sealCapsule(publicKey.groupKey, randomBytes(32), label, randomBytes(32))),
  label,
);
const shares = outputs.slice(0, K).map((o) => createShare(o.keyShare!, capsule));
const verifyAll = () => shares.map((d) => verifyShare(publicKey, capsule, d));
const verified = verifyAll();
const rest = mb(process.memoryUsage.rss());

const mul: number[] = [];
const dkg: number[] = [];
const verify: number[] = [];
const combine: number[] = [];
for (let r = 0; r < REPEATS; r++) {
  mul.push(await mulMs());
  const t0 = cpuMs();
  await localDkg(K, N, 'bench');
  dkg.push(cpuMs() - t0);
  verify.push(1000 / (await rate(verifyAll, MIN_MS)));
  combine.push(1000 / (await rate(() => combineShares(capsule, verified, publicKey), MIN_MS)));
}
const base = 'one ristretto255 variable-point multiply (libsodium)';
printPoint({
  x: N,
  series: {
    'DKG (all participants)': {
      samples: dkg,
      unit: 'ms',
      higher_is_better: false,
      baseline: base,
      note: `k = ${K}; all participants in one process, including each trustee's key generation`,
    },
    'verify k shares of one capsule': {
      samples: verify,
      unit: 'ms',
      higher_is_better: false,
      baseline: base,
    },
    'combine k shares': { samples: combine, unit: 'ms', higher_is_better: false, baseline: base },
  },
  baselines: { [base]: { samples: mul, unit: 'ms' } },
  rss_rest_mb: rest,
  rss_peak_mb: peakRssMb(),
  extra: { k: K, n: N },
});
