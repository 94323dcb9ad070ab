/**
 * Deterministic DKG fixtures and the generator of packages/core/test/vectors/dkg.json (docs/spec/dkg.md §10).
 *
 * Every random choice — trustee keys, polynomials, proof nonces, HPKE ephemeral keys — comes from a RandomSource
 * seeded by a fixed string, so the vectors hold every message's bytes, HPKE ciphertexts included.
 *
 *   npx tsx packages/core/test/gen-dkg-vectors.ts          rewrites the vectors
 *   npx tsx packages/core/test/gen-dkg-vectors.ts --check  exits 1 if the committed file differs
 *
 * The vector test (dkg-vectors.test.ts) regenerates them in memory and compares byte for byte.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
// Imported module by module rather than through the package index, so that the vectors depend only on the
// modules they exercise.
import { equalBytes, type RandomSource, toHex, utf8Encode } from '../src/bytes.js';
import {
  buildShare,
  createDkgSession,
  createReshareSession,
  type DkgEncryptionKeyPair,
  type DkgLocalOptions,
  type DkgOutput,
  DkgParticipant,
  type DkgSession,
  deriveDkgEncryptionKey,
  previousFromPublicKey,
  runDkgLocally,
  verifyTranscript,
} from '../src/dkg/index.js';
import { type Element, group, type Scalar, scalarFromInt } from '../src/group.js';
import { taggedHash } from '../src/hash.js';
import { type SigningKeyPair, signingKeyFromSeed } from '../src/sign.js';
import { type KeyShare, lagrangeAtZero, type ThresholdPublicKey } from '../src/threshold.js';

/** A deterministic RandomSource: SHA-256 in counter mode over a seed (test and vector use only). */
export function seededRandom(seed: string): RandomSource {
  const s = utf8Encode(seed);
  let counter = 0;
  let pool = new Uint8Array(0);
  return (n: number) => {
    while (pool.length < n) {
      const c = new Uint8Array(4);
      new DataView(c.buffer).setUint32(0, counter++);
      const block = taggedHash('overt/test/drbg', s, c);
      const next = new Uint8Array(pool.length + block.length);
      next.set(pool);
      next.set(block, pool.length);
      pool = next;
    }
    const out = pool.slice(0, n);
    pool = pool.slice(n);
    return out;
  };
}

/** A trustee's long-term keys. */
export interface Trustee {
  readonly index: number;
  readonly signingKey: SigningKeyPair;
  readonly encryption: DkgEncryptionKeyPair;
}

/** n trustees whose keys derive from `seed`. */
export async function makeTrustees(n: number, seed: string): Promise<Trustee[]> {
  const rng = seededRandom(`${seed}/trustee-keys`);
  const out: Trustee[] = [];
  for (let i = 1; i <= n; i++) {
    out.push({
      index: i,
      signingKey: signingKeyFromSeed(rng(32)),
      encryption: await deriveDkgEncryptionKey(rng(32)),
    });
  }
  return out;
}

export function participantsOf(trustees: readonly Trustee[]) {
  return trustees.map((t, i) => ({
    index: i + 1,
    signingKey: t.signingKey.publicKey,
    encryptionKey: t.encryption.publicKey,
  }));
}

export function dkgSessionFor(trustees: readonly Trustee[], k: number, attempt = 0): DkgSession {
  return createDkgSession({
    org: 'example.org',
    epoch: 202406,
    attempt,
    threshold: k,
    participants: participantsOf(trustees),
  });
}

/** One DKG participant per trustee, each with its own seeded randomness. */
export function dkgParticipants(
  session: DkgSession,
  trustees: readonly Trustee[],
  seed: string,
): DkgParticipant[] {
  return trustees.map((t, i) =>
    DkgParticipant.forDkg(
      session,
      { index: i + 1, signingKey: t.signingKey, encryptionSecretKey: t.encryption.secretKey },
      seededRandom(`${seed}/participant-${i + 1}`),
    ),
  );
}

export interface ReshareSetup {
  readonly session: DkgSession;
  readonly participants: DkgParticipant[];
}

/**
 * A resharing from `previous` (the DKG output and the old trustees) to `next` with threshold `k`. Every old
 * member listed in `dealers` (old indices; default all) deals; old trustee i and new trustee j are the same
 * party when `same(i, j)`.
 */
export function reshareSetup(
  previous: { output: DkgOutput; trustees: readonly Trustee[]; shares: readonly KeyShare[] },
  next: readonly Trustee[],
  k: number,
  seed: string,
  dealers: readonly number[] = previous.trustees.map((t) => t.index),
): ReshareSetup {
  const session = createReshareSession({
    org: 'example.org',
    epoch: 202406,
    attempt: 0,
    threshold: k,
    participants: participantsOf(next),
    previous: previousFromPublicKey(
      previous.output.publicKey,
      previous.trustees.map((t) => t.signingKey.publicKey),
      previous.output.transcriptHash,
    ),
  });
  const participants: DkgParticipant[] = [];
  for (const i of dealers) {
    participants.push(
      DkgParticipant.forReshare(
        session,
        { dealer: { share: previous.shares[i - 1]!, signingKey: previous.trustees[i - 1]!.signingKey } },
        seededRandom(`${seed}/dealer-${i}`),
      ),
    );
  }
  next.forEach((t, j) => {
    participants.push(
      DkgParticipant.forReshare(
        session,
        {
          receiver: {
            index: j + 1,
            signingKey: t.signingKey,
            encryptionSecretKey: t.encryption.secretKey,
          },
        },
        seededRandom(`${seed}/receiver-${j + 1}`),
      ),
    );
  });
  return { session, participants };
}

function subsets<T>(items: readonly T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [head, ...rest] = items;
  return [...subsets(rest, k - 1).map((s) => [head!, ...s]), ...subsets(rest, k)];
}

/**
 * Checks the threshold algebra of a sharing and throws if it fails: x_i·G = Y_i for every share; for every
 * k-subset of the shares Σλ_i·Y_i = Y, and the interpolated x is one and the same scalar with x·G = Y; and
 * k − 1 shares interpolate to something else. Returns x (the tests may look at it; a real system never does).
 */
export function checkSharing(publicKey: ThresholdPublicKey, shares: readonly KeyShare[]): Scalar {
  const k = publicKey.threshold;
  const fail = (what: string) => {
    throw new Error(`inconsistent sharing: ${what}`);
  };
  for (const s of shares) {
    if (!equalBytes(group.baseMul(s.secret), publicKey.verificationKeys[s.index - 1]!)) fail('x_i·G ≠ Y_i');
  }
  const interpolate = (subset: readonly KeyShare[]) => {
    const idx = subset.map((s) => s.index);
    let y: Element = group.identity;
    let x = scalarFromInt(0);
    for (const s of subset) {
      const l = lagrangeAtZero(idx, s.index);
      y = group.add(y, group.mul(l, publicKey.verificationKeys[s.index - 1]!));
      x = group.scalarAdd(x, group.scalarMul(l, s.secret));
    }
    return { x, y };
  };
  let secret: Scalar | undefined;
  for (const subset of subsets(shares, k)) {
    const { x, y } = interpolate(subset);
    if (!equalBytes(y, publicKey.groupKey)) fail('Σλ_i·Y_i ≠ Y');
    if (!equalBytes(group.baseMul(x), publicKey.groupKey)) fail('x·G ≠ Y');
    if (secret && !equalBytes(x, secret)) fail('two k-subsets interpolate to different secrets');
    secret = x;
  }
  if (!secret) fail('fewer than k shares');
  if (k > 1 && equalBytes(group.baseMul(interpolate(shares.slice(0, k - 1)).x), publicKey.groupKey)) {
    fail('k − 1 shares reveal the secret');
  }
  return secret!;
}

function isOutput(o: DkgOutput | Error): o is DkgOutput {
  return !(o instanceof Error);
}

/** Runs a DKG among `trustees` and returns the first output and everyone's shares (test helper). */
export async function runDkg(
  trustees: readonly Trustee[],
  k: number,
  seed: string,
  options?: DkgLocalOptions,
) {
  const session = dkgSessionFor(trustees, k);
  const participants = dkgParticipants(session, trustees, seed);
  const run = await runDkgLocally(participants, options);
  const outputs = run.outputs.filter(isOutput);
  return { session, participants, run, outputs };
}

const hex = toHex;

function describeOutput(o: DkgOutput) {
  return {
    transcript: hex(o.transcript),
    transcriptHash: hex(o.transcriptHash),
    qualified: o.qualified,
    groupKey: hex(o.publicKey.groupKey),
    verificationKeys: o.publicKey.verificationKeys.map(hex),
  };
}

async function recordedRun(participants: DkgParticipant[], options: DkgLocalOptions = {}) {
  const messages: { phase: string; sender: number; recipient: number | null; bytes: string }[] = [];
  const run = await runDkgLocally(participants, {
    ...options,
    intercept: async (m) => {
      const bytes = options.intercept ? await options.intercept(m) : m.bytes;
      if (bytes) {
        messages.push({
          phase: m.phase,
          sender: bytes[34]!,
          recipient: m.recipient ?? null,
          bytes: hex(bytes),
        });
      }
      return bytes;
    },
  });
  const rejections = run.rejections.map((r) => ({
    phase: r.phase,
    receiver: r.receiver.receiverIndex ?? null,
    code: r.error.code,
    check: r.error.check ?? null,
  }));
  const outputs = run.outputs.map((o) => {
    if (!isOutput(o)) throw new Error(`a vector run failed: ${o.message}`);
    return o;
  });
  const first = outputs[0]!;
  for (const o of outputs) {
    if (hex(o.transcriptHash) !== hex(first.transcriptHash)) throw new Error('participants disagree');
  }
  const verified = verifyTranscript(first.transcript);
  checkSharing(
    verified.publicKey,
    outputs.flatMap((o) => (o.keyShare ? [o.keyShare] : [])),
  );
  return {
    messages,
    rejections,
    shares: outputs
      .filter((o) => o.keyShare)
      .map((o) => ({ index: o.keyShare!.index, secret: hex(o.keyShare!.secret) })),
    output: describeOutput(first),
    verifier: {
      transcriptHash: hex(verified.transcriptHash),
      sessionId: hex(verified.session.id),
      qualified: verified.qualified,
      disqualified: verified.disqualified,
      groupKey: hex(verified.publicKey.groupKey),
      verificationKeys: verified.publicKey.verificationKeys.map(hex),
    },
    outputs,
  };
}

function trusteeVector(t: Trustee) {
  return {
    index: t.index,
    signingSeed: hex(t.signingKey.secretKey.slice(0, 32)),
    signingKey: hex(t.signingKey.publicKey),
    encryptionSecretKey: hex(t.encryption.secretKey),
    encryptionKey: hex(t.encryption.publicKey),
  };
}

/** The vectors as JSON text (two-space indent, trailing newline). */
export async function generateDkgVectors(): Promise<string> {
  const trustees = await makeTrustees(3, 'dkg-vectors');
  const seed = 'dkg-vectors/2-of-3';

  // 1. An honest (2,3) run.
  const session = dkgSessionFor(trustees, 2);
  const honest = await recordedRun(dkgParticipants(session, trustees, seed));

  // 2. The same trustees, attempt 1: dealer 3 sends participant 1 a wrong share; 1 complains; 3 answers with the
  //    right share and stays qualified; 1 uses the revealed share.
  const session2 = dkgSessionFor(trustees, 2, 1);
  const cheatRng = seededRandom(`${seed}/cheat`);
  const complaint = await recordedRun(dkgParticipants(session2, trustees, `${seed}/attempt-1`), {
    intercept: (m) =>
      m.phase === 'share' && m.from.dealerIndex === 3 && m.recipient === 1
        ? buildShare(session2, 3, trustees[2]!.signingKey, 1, scalarFromInt(7), cheatRng)
        : m.bytes,
  });

  // 3. Resharing the honest run's key from (2,3) to (2,3) among the same trustees (a proactive refresh), with
  //    old members 1 and 3 dealing.
  const reshare = reshareSetup(
    {
      output: honest.outputs[0]!,
      trustees,
      shares: honest.outputs.map((o) => o.keyShare!),
    },
    trustees,
    2,
    `${seed}/reshare`,
    [1, 3],
  );
  const refreshed = await recordedRun(reshare.participants);

  const strip = ({ outputs: _, ...rest }: Awaited<ReturnType<typeof recordedRun>>) => rest;
  const vectors = {
    description:
      'Overt DKG vectors (docs/spec/dkg.md §10). All randomness from seededRandom(seed) in ' +
      'packages/core/test/gen-dkg-vectors.ts; HPKE ephemeral keys are DeriveKeyPair(32 bytes of it), so share ' +
      'ciphertexts are deterministic too. Message bytes are hex, in delivery order.',
    trustees: trustees.map(trusteeVector),
    runs: [
      {
        name: 'honest-2-of-3',
        seed,
        session: hex(session.bytes),
        sessionId: hex(session.id),
        ...strip(honest),
      },
      {
        name: 'complaint-answered-2-of-3',
        seed: `${seed}/attempt-1`,
        session: hex(session2.bytes),
        sessionId: hex(session2.id),
        ...strip(complaint),
      },
      {
        name: 'reshare-2-of-3-to-2-of-3',
        seed: `${seed}/reshare`,
        session: hex(reshare.session.bytes),
        sessionId: hex(reshare.session.id),
        ...strip(refreshed),
      },
    ],
  };
  return `${JSON.stringify(vectors, null, 2)}\n`;
}

/** Where the committed vectors live. */
export const DKG_VECTORS_PATH = fileURLToPath(new URL('./vectors/dkg.json', import.meta.url));

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const text = await generateDkgVectors();
  if (process.argv.includes('--check')) {
    const same = existsSync(DKG_VECTORS_PATH) && readFileSync(DKG_VECTORS_PATH, 'utf8') === text;
    console.log(same ? 'dkg.json is up to date' : 'dkg.json differs from the generator output');
    process.exit(same ? 0 : 1);
  }
  writeFileSync(DKG_VECTORS_PATH, text);
  console.log(`wrote ${DKG_VECTORS_PATH}`);
}
