/**
 * Benchmark of the epoch DKG and resharing (docs/spec/dkg.md): `npx tsx bench/core/dkg.ts [--quick]` prints JSON.
 *
 * A "run" is a whole session with every participant in this one process (runDkgLocally): all n participants'
 * round 1, n(n−1) HPKE-sealed shares, their decryption and Feldman checks, and every participant's finish,
 * including its transcript. k is a majority, k = ⌊n/2⌋ + 1: (2,3), (3,5), (4,7). Divide by n for the work of
 * one trustee.
 *
 * Baselines measured in the same run: raw ristretto255 multiplications (libsodium), and the other primitives a
 * run is made of (HPKE seal/open through @hpke/core, Ed25519 sign/verify). `model_ms` adds up what those
 * primitives alone cost for the operation counts of a run, so `actual / model` shows the overhead of everything
 * else (encoding, hashing, the state machine, promise scheduling).
 *
 * bench/core/harness.ts measures synchronous functions only; the DKG is asynchronous (HPKE is), so the
 * asynchronous measurements use `measureAsync` below, which follows the harness's method (warm-up, samples of
 * at least minMs, median) and returns the harness's Result shape.
 */
import { randomBytes } from '../../packages/core/src/bytes.js';
import { openShare, sealShare } from '../../packages/core/src/dkg/hpke.js';
import {
  createDkgSession,
  createReshareSession,
  type DkgOutput,
  DkgParticipant,
  type DkgSession,
  deriveDkgEncryptionKey,
  previousFromPublicKey,
  runDkgLocally,
  verifyTranscript,
} from '../../packages/core/src/dkg/index.js';
import { group, randomScalar } from '../../packages/core/src/group.js';
import {
  generateSigningKey,
  type SigningKeyPair,
  sign,
  verifySignature,
} from '../../packages/core/src/sign.js';
import { measure, type Result, report } from './harness.js';

const quick = process.argv.includes('--quick');
const minMs = quick ? 150 : 600;

function withBaseline(r: Result, baseline: Result): Result {
  return {
    ...r,
    baseline: {
      name: baseline.name,
      speed_ratio: Math.round((r.ops_per_s / baseline.ops_per_s) * 1e6) / 1e6,
      cost_in_baseline_ops: Math.round((baseline.ops_per_s / r.ops_per_s) * 10) / 10,
    },
  };
}

/** The harness's method for an asynchronous operation: warm-up, `samples` samples of ≥ minMs, the median. */
async function measureAsync(
  name: string,
  fn: () => Promise<unknown>,
  options: { baseline?: Result; samples?: number; extra?: Record<string, unknown> } = {},
): Promise<Result> {
  await fn();
  const rates: number[] = [];
  let calls = 0;
  for (let s = 0; s < (options.samples ?? 3); s++) {
    let n = 0;
    const t0 = performance.now();
    let elapsed = 0;
    do {
      await fn();
      n++;
      elapsed = performance.now() - t0;
    } while (elapsed < minMs);
    calls += n;
    rates.push((n / elapsed) * 1000);
  }
  rates.sort((a, b) => a - b);
  const opsPerS = rates[Math.floor(rates.length / 2)]!;
  const r: Result = {
    name,
    ops_per_s: Math.round(opsPerS * 100) / 100,
    us_per_op: Math.round(1e8 / opsPerS) / 100,
    ms_per_op: Math.round(1e5 / opsPerS) / 100,
    calls,
    ops_per_call: 1,
    samples_ops_per_s: rates.map((x) => Math.round(x * 100) / 100),
    ...options.extra,
  };
  return options.baseline ? withBaseline(r, options.baseline) : r;
}

// ── baselines ───────────────────────────────────────────────────────────────────────────────────────────────

const s = randomScalar();
const P = group.baseMul(randomScalar());
const baseMul = measure('ristretto255 base-point multiply (libsodium)', () => group.baseMul(s), { minMs });
const varMul = measure('ristretto255 variable-point multiply (libsodium)', () => group.mul(s, P), {
  minMs,
  baseline: baseMul,
});
const signKey: SigningKeyPair = generateSigningKey();
const msg = randomBytes(32);
const sig = sign(signKey, msg);
const edSign = measure('Ed25519 sign (libsodium)', () => sign(signKey, msg), { minMs, baseline: baseMul });
const edVerify = measure('Ed25519 verify (libsodium)', () => verifySignature(signKey.publicKey, msg, sig), {
  minMs,
  baseline: baseMul,
});
const hpkeKey = await deriveDkgEncryptionKey(randomBytes(32));
const info = randomBytes(52);
const aad = randomBytes(36);
const sealed = await sealShare(hpkeKey.publicKey, info, aad, randomBytes(32), randomBytes);
const hpkeSeal = await measureAsync(
  'HPKE seal of a share (@hpke/core, X25519/AES-128-GCM)',
  () => sealShare(hpkeKey.publicKey, info, aad, randomBytes(32), randomBytes),
  { baseline: baseMul },
);
const hpkeOpen = await measureAsync(
  'HPKE open of a share (@hpke/core)',
  () => openShare(hpkeKey.secretKey, sealed.enc, info, aad, sealed.ciphertext),
  { baseline: baseMul },
);

// ── fixtures ────────────────────────────────────────────────────────────────────────────────────────────────

interface Trustee {
  signingKey: SigningKeyPair;
  enc: { publicKey: Uint8Array; secretKey: Uint8Array };
}

async function trustees(n: number): Promise<Trustee[]> {
  const out: Trustee[] = [];
  for (let i = 0; i < n; i++)
    out.push({ signingKey: generateSigningKey(), enc: await deriveDkgEncryptionKey(randomBytes(32)) });
  return out;
}

const participantsOf = (ts: readonly Trustee[]) =>
  ts.map((t, i) => ({ index: i + 1, signingKey: t.signingKey.publicKey, encryptionKey: t.enc.publicKey }));

let attempt = 0;
function dkgSession(ts: readonly Trustee[], k: number): DkgSession {
  return createDkgSession({
    org: 'bench',
    epoch: 1,
    attempt: attempt++,
    threshold: k,
    participants: participantsOf(ts),
  });
}

async function dkgRun(ts: readonly Trustee[], k: number): Promise<DkgOutput[]> {
  const session = dkgSession(ts, k);
  const ps = ts.map((t, i) =>
    DkgParticipant.forDkg(session, {
      index: i + 1,
      signingKey: t.signingKey,
      encryptionSecretKey: t.enc.secretKey,
    }),
  );
  const run = await runDkgLocally(ps);
  if (run.rejections.length > 0) throw new Error('benchmark run rejected a message');
  return run.outputs.map((o) => {
    if (o instanceof Error) throw o;
    return o;
  });
}

async function reshareRun(
  old: readonly Trustee[],
  oldOut: readonly DkgOutput[],
  next: readonly Trustee[],
  k: number,
) {
  const session = createReshareSession({
    org: 'bench',
    epoch: 1,
    attempt: attempt++,
    threshold: k,
    participants: participantsOf(next),
    previous: previousFromPublicKey(
      oldOut[0]!.publicKey,
      old.map((t) => t.signingKey.publicKey),
      oldOut[0]!.transcriptHash,
    ),
  });
  const ps = [
    ...old.map((t, i) =>
      DkgParticipant.forReshare(session, {
        dealer: { share: oldOut[i]!.keyShare!, signingKey: t.signingKey },
      }),
    ),
    ...next.map((t, j) =>
      DkgParticipant.forReshare(session, {
        receiver: { index: j + 1, signingKey: t.signingKey, encryptionSecretKey: t.enc.secretKey },
      }),
    ),
  ];
  const run = await runDkgLocally(ps);
  if (run.rejections.length > 0 || run.outputs.some((o) => o instanceof Error))
    throw new Error('reshare failed');
}

/**
 * Primitive operation counts of one honest run with `d` dealers (each with a round-1 message) and `n`
 * receivers, threshold k of the new sharing, summed over all participants. `shared` is the number of
 * participants that are both dealer and receiver (they keep their own share instead of sealing it).
 */
function model(d: number, n: number, k: number, shared: number, reshare: boolean) {
  const everyone = reshare ? d + n : n;
  const shares = d * n - shared;
  const counts = {
    // Commitments and proof nonce; the dealer re-checks its own proof (1 base + 1 variable).
    base: d * (k + 1) + d,
    variable: d,
    sign: d + shares,
    verify: 0,
    seal: shares,
    open: shares,
  };
  // Every other participant verifies every round 1: signature, z·G and c·C_0.
  const r1Receivers = everyone - 1;
  counts.verify += d * r1Receivers;
  counts.base += d * r1Receivers;
  counts.variable += d * r1Receivers;
  // Every share: signature, decryption, Feldman check (1 base + k−1 variable).
  counts.verify += shares;
  counts.base += shares;
  counts.variable += shares * (k - 1);
  // finish: Y_j for every receiver (k−1 variable each) in every participant, own share check (1 base); in a
  // resharing also λ_i·C_il for every dealer and coefficient.
  counts.variable += everyone * n * (k - 1) + (reshare ? everyone * d * k : 0);
  counts.base += n;
  const ms =
    (counts.base / baseMul.ops_per_s +
      counts.variable / varMul.ops_per_s +
      counts.sign / edSign.ops_per_s +
      counts.verify / edVerify.ops_per_s +
      counts.seal / hpkeSeal.ops_per_s +
      counts.open / hpkeOpen.ops_per_s) *
    1000;
  const groupMs = (counts.base / baseMul.ops_per_s + counts.variable / varMul.ops_per_s) * 1000;
  const hpkeMs = (counts.seal / hpkeSeal.ops_per_s + counts.open / hpkeOpen.ops_per_s) * 1000;
  return {
    counts,
    model_ms: Math.round(ms * 10) / 10,
    model_group_ms: Math.round(groupMs * 10) / 10,
    model_hpke_ms: Math.round(hpkeMs * 10) / 10,
  };
}

function annotate(r: Result, m: ReturnType<typeof model>, n: number): Result {
  const ms = 1000 / r.ops_per_s;
  return {
    ...r,
    ...m,
    actual_over_model: Math.round((ms / m.model_ms) * 100) / 100,
    ms_per_trustee: Math.round((ms / n) * 100) / 100,
  };
}

/**
 * The variable-point multiply re-measured right before a slow measurement, so that a change in the machine's
 * load between the start of the run and this figure does not distort the ratio.
 */
function freshBaseline(): Result {
  return measure(
    'ristretto255 variable-point multiply (libsodium), measured just before',
    () => group.mul(s, P),
    {
      minMs: Math.min(minMs, 300),
    },
  );
}

// ── the DKG and resharing ───────────────────────────────────────────────────────────────────────────────────

const results: Result[] = [baseMul, varMul, edSign, edVerify, hpkeSeal, hpkeOpen];
for (const [k, n] of [
  [2, 3],
  [3, 5],
  [4, 7],
] as const) {
  const ts = await trustees(n);
  const r = await measureAsync(`full DKG, (k, n) = (${k}, ${n}), all participants`, () => dkgRun(ts, k), {
    baseline: freshBaseline(),
    extra: { k, n },
  });
  results.push(annotate(r, model(n, n, k, n, false), n));
}

for (const [k0, n0, k1, n1] of [
  [3, 5, 3, 5],
  [2, 3, 4, 7],
  [4, 7, 2, 3],
] as const) {
  const old = await trustees(n0);
  const next = await trustees(n1);
  const oldOut = await dkgRun(old, k0);
  const r = await measureAsync(
    `resharing (${k0}, ${n0}) → (${k1}, ${n1}), all old members dealing, all participants`,
    () => reshareRun(old, oldOut, next, k1),
    { baseline: freshBaseline(), extra: { from: { k: k0, n: n0 }, to: { k: k1, n: n1 } } },
  );
  // Dealers and receivers are distinct participant objects here: nobody keeps a share for itself.
  results.push(annotate(r, model(n0, n1, k1, 0, true), n0 + n1));
}

const ts7 = await trustees(7);
const out7 = await dkgRun(ts7, 4);
results.push(
  measure('verifyTranscript, (4, 7)', () => verifyTranscript(out7[0]!.transcript), {
    minMs,
    baseline: freshBaseline(),
  }),
);
report('core/dkg', results, {
  quick,
  note: 'A run is a whole session with every participant in one process; ms_per_trustee divides by the number of participants. k is a majority. Each slow figure is related to the libsodium variable-point multiply measured just before it in this run (the machine may be shared); model_ms uses the primitive rates measured at the start.',
  sizes_4_of_7: {
    session_bytes: out7[0]!.session.bytes.length,
    transcript_bytes: out7[0]!.transcript.length,
  },
});
