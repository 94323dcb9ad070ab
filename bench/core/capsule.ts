/**
 * Benchmark of TDH2 access capsules (docs/spec/capsule.md): `npx tsx bench/core/capsule.ts` prints JSON.
 *
 * Every figure is related to raw libsodium multiplications measured in the same run, and each TDH2 operation is
 * listed with the group operations it needs, so `model_ops_per_s` (what those operations alone allow at this
 * run's speed) shows how close an operation is to the physical limit of the back-end.
 */
import { pippenger } from '@noble/curves/abstract/curve.js';
import { ristretto255 } from '@noble/curves/ed25519.js';
import {
  type Capsule,
  combineShares,
  createShare,
  decodeCapsule,
  decodeShare,
  type Element,
  encodeShare,
  evaluatePolynomial,
  group,
  type KeyShare,
  randomBytes,
  randomScalar,
  scalarToBigint,
  sealCapsule,
  type ThresholdPublicKey,
  taggedHash,
  type VerifiedCapsule,
  verifyCapsule,
  verifyCapsuleOpening,
  verifyCapsulesBatch,
  verifyShare,
  verifySharesBatch,
} from '../../packages/core/src/index.js';
import { type CompareEntry, compare, type Result, report } from './harness.js';

const quick = process.argv.includes('--quick');
const minMs = quick ? 100 : 300;
const samples = quick ? 3 : 5;

// A (5, 7) sharing of an epoch key.
const N = 7;
const coeffs = Array.from({ length: 5 }, () => randomScalar());
const epochKey = group.baseMul(coeffs[0]!);
const keyShares: KeyShare[] = Array.from({ length: N }, (_, i) => ({
  index: i + 1,
  secret: evaluatePolynomial(coeffs, i + 1),
}));
const vks: Element[] = keyShares.map((s) => group.baseMul(s.secret));
const publicKey: ThresholdPublicKey = { threshold: 5, groupKey: epochKey, verificationKeys: vks };

interface Sealed {
  key: Uint8Array;
  label: Uint8Array;
  seed: Uint8Array;
  bytes: Uint8Array;
  capsule: Capsule;
  verified: VerifiedCapsule;
}
function sealOne(): Sealed {
  const key = randomBytes(32);
  const label = randomBytes(32);
  const seed = randomBytes(32);
  const bytes = sealCapsule(epochKey, key, label, seed);
  const capsule = decodeCapsule(bytes);
  return { key, label, seed, bytes, capsule, verified: verifyCapsule(epochKey, capsule, label) };
}

const s = randomScalar();
const p = group.baseMul(randomScalar());
const q = group.baseMul(randomScalar());
const one = sealOne();
const seedFor = randomBytes(32);
const encodedShares = keyShares.map((k) => encodeShare(createShare(k, one.verified)));
/** A (k, N) sharing of the same epoch secret (the first k coefficients) and its verified shares of `one`. */
function sharingOf(k: number) {
  const c = coeffs.slice(0, k);
  const shares = keyShares.map((ks) => ({ index: ks.index, secret: evaluatePolynomial(c, ks.index) }));
  const key: ThresholdPublicKey = {
    threshold: k,
    groupKey: epochKey,
    verificationKeys: shares.map((x) => group.baseMul(x.secret)),
  };
  return { key, verified: shares.map((x) => verifyShare(key, one.verified, createShare(x, one.verified))) };
}

type Ops = { base?: number; variable?: number; add?: number; hash?: number };
interface Op {
  name: string;
  fn: () => unknown;
  ops?: Ops;
  target?: number;
}

// All single operations are measured interleaved (harness.compare), so a burst of load from another process
// hits the raw multiplications and the TDH2 operations alike and the ratios stay meaningful.
const single: Op[] = [
  { name: 'libsodium ristretto255 base-point multiply', fn: () => group.baseMul(s) },
  { name: 'libsodium ristretto255 variable-point multiply', fn: () => group.mul(s, p) },
  { name: 'libsodium ristretto255 add (decode, add, encode)', fn: () => group.add(p, q) },
  { name: 'taggedHash of 7 × 32 bytes', fn: () => taggedHash('overt/v1/bench', p, p, p, p, p, p, p) },
  {
    name: 'capsule seal',
    fn: () => sealCapsule(epochKey, one.key, one.label, seedFor),
    ops: { base: 2, variable: 3, hash: 4 },
    target: 2000,
  },
  {
    name: 'recipient check (recompute capsule, compare)',
    fn: () => verifyCapsuleOpening(epochKey, one.bytes, one.key, one.label, one.seed),
    ops: { base: 2, variable: 3, hash: 5 },
    target: 2000,
  },
  {
    name: 'capsule validity check (decode + verify)',
    fn: () => verifyCapsule(epochKey, decodeCapsule(one.bytes), one.label),
    ops: { base: 1, variable: 3, add: 2, hash: 2 },
  },
  {
    name: 'share + proof',
    fn: () => createShare(keyShares[0]!, one.verified),
    ops: { base: 1, variable: 2, hash: 2 },
  },
  {
    name: 'check + share + proof (decode, verify capsule, share, proof, encode)',
    fn: () =>
      encodeShare(createShare(keyShares[0]!, verifyCapsule(epochKey, decodeCapsule(one.bytes), one.label))),
    ops: { base: 2, variable: 5, add: 2, hash: 4 },
    target: 800,
  },
  {
    name: 'share verify (decode + verify)',
    fn: () => verifyShare(publicKey, one.verified, decodeShare(encodedShares[0]!)),
    ops: { base: 1, variable: 3, add: 2, hash: 1 },
    target: 2000,
  },
  ...[2, 3, 5].map((k) => {
    const { key, verified } = sharingOf(k);
    return {
      name: `combine k = ${k}`,
      fn: () => combineShares(one.verified, verified.slice(0, k), key),
      ops: { variable: k, add: k - 1, hash: 1 },
    };
  }),
];

const measured = compare(single, { minMs, samples });
const [base, variable, add, hash] = measured as [Result, Result, Result, Result];
const results: Result[] = measured.map((r, i) => {
  const op = single[i]!;
  if (!op.ops) return r;
  const us =
    (op.ops.base ?? 0) * base.us_per_op +
    (op.ops.variable ?? 0) * variable.us_per_op +
    (op.ops.add ?? 0) * add.us_per_op +
    (op.ops.hash ?? 0) * hash.us_per_op;
  return {
    ...r,
    vs_variable_mult: Math.round((r.ops_per_s / variable.ops_per_s) * 1e4) / 1e4,
    group_ops: op.ops,
    model_ops_per_s: Math.round(1e6 / us),
    ...(op.target === undefined
      ? {}
      : { target_ops_per_s: op.target, meets_target: r.ops_per_s >= op.target }),
  };
});

/**
 * Counts the libsodium group operations one call of `fn` performs, by wrapping the back-end's methods for the
 * duration of the call. Counts do not depend on machine load, so they back the timed batch comparison below.
 */
function countOps(fn: () => unknown): Required<Ops> & { decode: number } {
  const g = group as { -readonly [K in keyof typeof group]: (typeof group)[K] };
  const saved = { baseMul: g.baseMul, mul: g.mul, add: g.add, sub: g.sub, isValidElement: g.isValidElement };
  const n = { base: 0, variable: 0, add: 0, hash: 0, decode: 0 };
  g.baseMul = (x) => {
    n.base++;
    return saved.baseMul(x);
  };
  g.mul = (x, y) => {
    n.variable++;
    return saved.mul(x, y);
  };
  g.add = (x, y) => {
    n.add++;
    return saved.add(x, y);
  };
  g.sub = (x, y) => {
    n.add++;
    return saved.sub(x, y);
  };
  g.isValidElement = (b) => {
    n.decode++;
    return saved.isValidElement(b);
  };
  try {
    fn();
  } finally {
    Object.assign(g, saved);
  }
  return n;
}

function perItem(ops: { base: number; variable: number; add: number }, items: number) {
  const r = (x: number) => Math.round((x / items) * 100) / 100;
  const us = ops.base * base.us_per_op + ops.variable * variable.us_per_op + ops.add * add.us_per_op;
  return {
    base: r(ops.base),
    variable: r(ops.variable),
    add: r(ops.add),
    modelled_us: Math.round(us / items),
  };
}

// Could @noble/curves' multi-scalar multiplication (Pippenger, abstract/curve.js in 2.0.1) make a combined check
// cheap? Per point it must beat one libsodium variable-point multiplication, including decoding the point.
const msmPoints = (n: number) =>
  Array.from({ length: n }, () => ristretto255.Point.fromBytes(group.baseMul(randomScalar())));
const msmScalars = (n: number) => Array.from({ length: n }, () => scalarToBigint(randomScalar()));
const [pts64, sc64, pts256, sc256] = [msmPoints(64), msmScalars(64), msmPoints(256), msmScalars(256)];
const msm = compare(
  [
    { name: 'libsodium variable-point multiply (per point)', fn: () => group.mul(s, p) },
    { name: '@noble/curves ristretto255 point decode', fn: () => ristretto255.Point.fromBytes(p) },
    {
      name: '@noble/curves Pippenger MSM, 64 points (per point)',
      fn: () => pippenger(ristretto255.Point, pts64, sc64),
      opsPerCall: 64,
    },
    {
      name: '@noble/curves Pippenger MSM, 256 points (per point)',
      fn: () => pippenger(ristretto255.Point, pts256, sc256),
      opsPerCall: 256,
    },
  ],
  { minMs, samples },
);
results.push(...msm);

// Batch verification against one-by-one, per item, interleaved.
const batches: Record<string, unknown>[] = [];
const pool = Array.from({ length: 256 }, sealOne);
for (const size of [16, 64, 256]) {
  const caps = pool.slice(0, size);
  const shareScenarios = {
    'shares: one trustee over many capsules': caps.map((c) => ({
      capsule: c.verified,
      publicKey,
      share: createShare(keyShares[0]!, c.verified),
    })),
    'shares: k = 4 trustees for each capsule': caps.slice(0, size / 4).flatMap((c) =>
      [0, 1, 2, 3].map((i) => ({
        capsule: c.verified,
        publicKey,
        share: createShare(keyShares[i]!, c.verified),
      })),
    ),
  };
  const capItems = caps.map((c) => ({ epochKey, capsule: c.capsule, label: c.label }));
  const rows: [string, CompareEntry[]][] = [
    ...Object.entries(shareScenarios).map(([scenario, items]): [string, CompareEntry[]] => [
      scenario,
      [
        {
          name: `${scenario}, ${size} items: one by one (verifyShare)`,
          fn: () => {
            for (const it of items) verifyShare(it.publicKey, it.capsule, it.share);
          },
          opsPerCall: size,
        },
        ...(['auto', 'combined'] as const).map((strategy) => ({
          name: `${scenario}, ${size} items: verifySharesBatch (${strategy})`,
          fn: () => verifySharesBatch(items, { strategy }),
          opsPerCall: size,
        })),
      ],
    ]),
    [
      'capsules',
      [
        {
          name: `capsules, ${size} items: one by one (verifyCapsule)`,
          fn: () => {
            for (const it of capItems) verifyCapsule(it.epochKey, it.capsule, it.label);
          },
          opsPerCall: size,
        },
        ...(['auto', 'combined'] as const).map((strategy) => ({
          name: `capsules, ${size} items: verifyCapsulesBatch (${strategy})`,
          fn: () => verifyCapsulesBatch(capItems, { strategy }),
          opsPerCall: size,
        })),
      ],
    ],
  ];
  for (const [scenario, entries] of rows) {
    const [oneByOne, auto, combined] = compare(entries, { minMs, samples }) as [Result, Result, Result];
    results.push(oneByOne, auto, combined);
    const counted = entries.map((e) => perItem(countOps(e.fn), size));
    batches.push({
      scenario,
      items: size,
      group_ops_per_item: { one_by_one: counted[0], auto: counted[1], combined: counted[2] },
      modelled_auto_speedup: Math.round((counted[0]!.modelled_us / counted[1]!.modelled_us) * 1000) / 1000,
      modelled_combined_speedup:
        Math.round((counted[0]!.modelled_us / counted[2]!.modelled_us) * 1000) / 1000,
      one_by_one_ops_per_s: oneByOne.ops_per_s,
      auto_ops_per_s: auto.ops_per_s,
      auto_speedup: auto.baseline!.speed_ratio,
      combined_ops_per_s: combined.ops_per_s,
      combined_speedup: combined.baseline!.speed_ratio,
    });
  }
}

report('core/capsule', results, {
  note:
    'ops/s on one core; baseline.* relates each figure to a measurement of the same run; model_ops_per_s is ' +
    'the rate the listed group operations alone allow at this run’s measured speeds.',
  cost_ratios_in_base_mults: {
    variable: Math.round((variable.us_per_op / base.us_per_op) * 100) / 100,
    add: Math.round((add.us_per_op / base.us_per_op) * 100) / 100,
  },
  msm_summary: msm.map((r) => ({ name: r.name, per_point_ops_per_s: r.ops_per_s })),
  batch_summary: batches,
});
