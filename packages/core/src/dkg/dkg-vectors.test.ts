// The committed DKG vectors (packages/core/test/vectors/dkg.json, docs/spec/dkg.md §10): the generator reproduces
// them byte for byte, and every value in them checks out independently of the generator — keys from seeds,
// messages authentic, shares decrypt to values on the dealers' commitments, the verifier's recorded result.
import { readFileSync } from 'node:fs';
import { x25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import {
  checkSharing,
  DKG_VECTORS_PATH,
  generateDkgVectors,
  seededRandom,
} from '../../test/gen-dkg-vectors.js';
import { fromHex, toHex } from '../bytes.js';
import { decodeScalar, group, hashToScalar, isZeroScalar, type Scalar } from '../group.js';
import { signingKeyFromSeed } from '../sign.js';
import type { KeyShare } from '../threshold.js';
import { openShare, shareInfo } from './hpke.js';
import { checkAuthentic, decodeDkgMessage, shareAad } from './messages.js';
import { shareMatchesCommitments } from './qualify.js';
import { decodeDkgSession } from './session.js';
import { verifyTranscript } from './transcript.js';

interface VectorRun {
  name: string;
  seed: string;
  session: string;
  sessionId: string;
  messages: { phase: string; sender: number; recipient: number | null; bytes: string }[];
  rejections: { phase: string; receiver: number | null; code: string; check: string | null }[];
  shares: { index: number; secret: string }[];
  output: {
    transcript: string;
    transcriptHash: string;
    qualified: number[];
    groupKey: string;
    verificationKeys: string[];
  };
  verifier: {
    transcriptHash: string;
    sessionId: string;
    qualified: number[];
    disqualified: unknown[];
    groupKey: string;
    verificationKeys: string[];
  };
}

const text = readFileSync(DKG_VECTORS_PATH, 'utf8');
const vectors = JSON.parse(text) as {
  trustees: {
    index: number;
    signingSeed: string;
    signingKey: string;
    encryptionSecretKey: string;
    encryptionKey: string;
  }[];
  runs: VectorRun[];
};

describe('DKG vectors', () => {
  it('the generator reproduces dkg.json byte for byte', async () => {
    expect(await generateDkgVectors()).toBe(text);
  });

  it('trustee keys derive from their seeds', () => {
    for (const t of vectors.trustees) {
      expect(toHex(signingKeyFromSeed(fromHex(t.signingSeed)).publicKey)).toBe(t.signingKey);
      expect(toHex(x25519.getPublicKey(fromHex(t.encryptionSecretKey)))).toBe(t.encryptionKey);
    }
  });

  it.each(vectors.runs.map((r) => [r.name, r] as const))('%s checks out independently', async (_, run) => {
    const session = decodeDkgSession(fromHex(run.session));
    expect(toHex(session.bytes)).toBe(run.session);
    expect(toHex(session.id)).toBe(run.sessionId);
    const verified = verifyTranscript(fromHex(run.output.transcript), { expectedSessionId: session.id });
    expect({
      transcriptHash: toHex(verified.transcriptHash),
      sessionId: toHex(verified.session.id),
      qualified: verified.qualified,
      disqualified: verified.disqualified,
      groupKey: toHex(verified.publicKey.groupKey),
      verificationKeys: verified.publicKey.verificationKeys.map(toHex),
    }).toEqual(run.verifier);
    expect(run.output.transcriptHash).toBe(run.verifier.transcriptHash);
    // Every message is authentic; every share message decrypts for its recipient to a value that is or is not on
    // the dealer's commitments exactly as the recorded rejections say.
    let badShares = 0;
    for (const m of run.messages) {
      const msg = decodeDkgMessage(fromHex(m.bytes));
      checkAuthentic(session, msg);
      expect(msg.sender).toBe(m.sender);
      if (msg.type !== 'share') continue;
      const key = fromHex(vectors.trustees[msg.recipient - 1]!.encryptionSecretKey);
      const plain = await openShare(
        key,
        msg.enc,
        shareInfo(session.id, msg.sender, msg.recipient),
        shareAad(msg),
        msg.ciphertext,
      );
      const commitments = verified.commitments.get(msg.sender)!;
      if (!shareMatchesCommitments(decodeScalar(plain), commitments, msg.recipient)) badShares++;
    }
    expect(badShares).toBe(run.rejections.filter((r) => r.check === 'DKG-13').length);
    const shares: KeyShare[] = run.shares.map((s) => ({
      index: s.index,
      secret: decodeScalar(fromHex(s.secret)),
    }));
    checkSharing(verified.publicKey, shares);
  });

  it.each(vectors.runs.map((r) => [r.name, r] as const))(
    '%s: every round-1 proof uses the hedged nonce drawn from its seed stream (dkg.md §4.1, §10)',
    (_, run) => {
      const session = decodeDkgSession(fromHex(run.session));
      const honest = vectors.runs.find((r) => r.name === 'honest-2-of-3')!;
      const scalar64 = (rng: (n: number) => Uint8Array): Scalar => {
        for (;;) {
          const s = group.scalarReduce64(rng(64));
          if (!isZeroScalar(s)) return s;
        }
      };
      const round1 = run.messages.filter((m) => m.phase === 'round1');
      expect(round1.length).toBeGreaterThan(0);
      for (const m of round1) {
        const msg = decodeDkgMessage(fromHex(m.bytes));
        if (msg.type !== 'round1') throw new Error('not a round-1 message');
        const i = msg.sender;
        // dkg.md §10: a DKG dealer draws a_0..a_{k−1}; a resharing dealer's a_0 is its old share and it draws
        // a_1..a_{k−1}; then ρ (32 bytes).
        const rng = seededRandom(`${run.seed}/${session.kind === 'dkg' ? 'participant' : 'dealer'}-${i}`);
        const a0 =
          session.kind === 'dkg'
            ? scalar64(rng)
            : decodeScalar(fromHex(honest.shares.find((s) => s.index === i)!.secret));
        const coefficients = [a0];
        while (coefficients.length < session.threshold) coefficients.push(scalar64(rng));
        const rho = rng(32);
        expect(msg.commitments.map(toHex)).toEqual(coefficients.map((a) => toHex(group.baseMul(a))));
        const r = hashToScalar('overt/dkg/v1/pok-nonce', a0, session.id, Uint8Array.of(i), rho);
        expect(toHex(msg.proof.R)).toBe(toHex(group.baseMul(r)));
        const c = hashToScalar(
          'overt/dkg/v1/pok',
          session.id,
          Uint8Array.of(i),
          msg.commitments[0]!,
          msg.proof.R,
        );
        expect(toHex(msg.proof.z)).toBe(toHex(group.scalarAdd(r, group.scalarMul(c, a0))));
      }
    },
  );

  it('the resharing vector keeps the group key of the honest run', () => {
    const honest = vectors.runs.find((r) => r.name === 'honest-2-of-3')!;
    const reshare = vectors.runs.find((r) => r.name.startsWith('reshare'))!;
    expect(reshare.output.groupKey).toBe(honest.output.groupKey);
    expect(reshare.output.verificationKeys).not.toEqual(honest.output.verificationKeys);
    const session = decodeDkgSession(fromHex(reshare.session));
    expect(toHex(session.previous!.transcriptHash)).toBe(honest.output.transcriptHash);
  });
});
