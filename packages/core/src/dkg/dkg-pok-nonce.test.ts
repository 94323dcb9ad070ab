// The hedged proof-of-knowledge nonce (docs/spec/dkg.md §4.1, §10): r = HS("overt/dkg/v1/pok-nonce", a_0,
// session_id, u8 dealer, ρ). A resharing dealer's a_0 is its long-lived share x_i, so a nonce that repeats across
// two sessions would reveal x_i by the two-equation attack z_1 − z_2 = (c_1 − c_2)·x_i. These tests run that
// attack against proofs made with a randomness source forced to repeat, and check that it now fails.
import { describe, expect, it } from 'vitest';
import { makeTrustees, runDkg, seededRandom } from '../../test/gen-dkg-vectors.js';
import { equalBytes, type RandomSource, toHex } from '../bytes.js';
import { type Element, group, hashToScalar, randomNonZeroScalar, type Scalar } from '../group.js';
import type { KeyShare } from '../threshold.js';
import { DKG_TAG_POK, type DkgRound1Message, decodeDkgMessage, pokNonce } from './messages.js';
import { DkgParticipant } from './participant.js';
import { createDkgSession, createReshareSession, type DkgSession, previousFromPublicKey } from './session.js';

/** A broken randomness source: the same bytes on every call. */
const stuck: RandomSource = (n) => new Uint8Array(n).fill(0x5a);

/** c = HS("overt/dkg/v1/pok", session_id, u8 dealer, C_0, R), written from dkg.md §4.1. */
function challenge(sessionId: Uint8Array, dealer: number, c0: Element, R: Element): Scalar {
  return hashToScalar(DKG_TAG_POK, sessionId, Uint8Array.of(dealer), c0, R);
}

interface Proof {
  readonly sessionId: Uint8Array;
  readonly dealer: number;
  readonly c0: Element;
  readonly R: Element;
  readonly z: Scalar;
}

function proofOf(bytes: Uint8Array): Proof {
  const msg = decodeDkgMessage(bytes) as DkgRound1Message;
  expect(msg.type).toBe('round1');
  return {
    sessionId: msg.sessionId,
    dealer: msg.sender,
    c0: msg.commitments[0]!,
    R: msg.proof.R,
    z: msg.proof.z,
  };
}

/**
 * The standard attack on two Schnorr proofs for the same C_0 = x·G: if they share R (hence r) but not the
 * challenge, x = (z_1 − z_2) / (c_1 − c_2). Returns the candidate, or undefined when the challenges are equal.
 */
function twoEquationAttack(p1: Proof, p2: Proof): Scalar | undefined {
  const c1 = challenge(p1.sessionId, p1.dealer, p1.c0, p1.R);
  const c2 = challenge(p2.sessionId, p2.dealer, p2.c0, p2.R);
  const dc = group.scalarSub(c1, c2);
  if (equalBytes(dc, new Uint8Array(32))) return undefined;
  return group.scalarMul(group.scalarSub(p1.z, p2.z), group.scalarInv(dc));
}

/** Recovers x when it works: the candidate is checked against the public C_0. */
function recovers(p1: Proof, p2: Proof): boolean {
  const x = twoEquationAttack(p1, p2);
  return x !== undefined && equalBytes(group.baseMul(x), p1.c0);
}

async function previousSharing() {
  const trustees = await makeTrustees(3, 'pok-nonce');
  const { outputs } = await runDkg(trustees, 2, 'pok-nonce/dkg');
  const output = outputs[0]!;
  const shares = outputs.map((o) => o.keyShare!) as KeyShare[];
  return { trustees, output, shares };
}

function reshareSession(
  prev: Awaited<ReturnType<typeof previousSharing>>,
  o: { epoch: number; attempt: number; threshold: number },
): DkgSession {
  return createReshareSession({
    org: 'example.org',
    epoch: o.epoch,
    attempt: o.attempt,
    threshold: o.threshold,
    participants: prev.trustees.map((t, i) => ({
      index: i + 1,
      signingKey: t.signingKey.publicKey,
      encryptionKey: t.encryption.publicKey,
    })),
    previous: previousFromPublicKey(
      prev.output.publicKey,
      prev.trustees.map((t) => t.signingKey.publicKey),
      prev.output.transcriptHash,
    ),
  });
}

describe('hedged proof-of-knowledge nonce (dkg.md §4.1)', () => {
  it('the two-equation attack recovers the secret from two proofs that share a nonce (the attack works)', () => {
    // Proofs made the way the unhedged code made them: one random r reused under two session ids.
    const x = randomNonZeroScalar(seededRandom('pok-nonce/attack-secret'));
    const r = randomNonZeroScalar(stuck);
    const c0 = group.baseMul(x);
    const R = group.baseMul(r);
    const proofFor = (sessionId: Uint8Array): Proof => {
      const c = challenge(sessionId, 1, c0, R);
      return { sessionId, dealer: 1, c0, R, z: group.scalarAdd(r, group.scalarMul(c, x)) };
    };
    const p1 = proofFor(new Uint8Array(32).fill(1));
    const p2 = proofFor(new Uint8Array(32).fill(2));
    expect(toHex(twoEquationAttack(p1, p2)!)).toBe(toHex(x));
    expect(recovers(p1, p2)).toBe(true);
  });

  it('a resharing dealer whose rng repeats uses a different nonce in every session; its share stays secret', async () => {
    const prev = await previousSharing();
    const dealer = { share: prev.shares[0]!, signingKey: prev.trustees[0]!.signingKey };
    // Three sessions that differ only in their context: another attempt, another epoch, another threshold.
    const sessions = [
      reshareSession(prev, { epoch: 202407, attempt: 0, threshold: 2 }),
      reshareSession(prev, { epoch: 202407, attempt: 1, threshold: 2 }),
      reshareSession(prev, { epoch: 202408, attempt: 0, threshold: 2 }),
      reshareSession(prev, { epoch: 202407, attempt: 0, threshold: 3 }),
    ];
    const proofs = sessions.map((s) =>
      proofOf(DkgParticipant.forReshare(s, { dealer }, stuck).round1Message!),
    );
    // Same constant term (the share), same broken rng ...
    for (const p of proofs) expect(toHex(p.c0)).toBe(toHex(prev.output.publicKey.verificationKeys[0]!));
    // ... yet every nonce commitment differs, and the attack gets nothing from any pair.
    expect(new Set(proofs.map((p) => toHex(p.R))).size).toBe(proofs.length);
    for (let i = 0; i < proofs.length; i++)
      for (let j = i + 1; j < proofs.length; j++) expect(recovers(proofs[i]!, proofs[j]!)).toBe(false);
  });

  it('DKG dealers with a repeating rng get different nonces for different sessions and dealer indices', async () => {
    const trustees = await makeTrustees(3, 'pok-nonce/dkg-sessions');
    const participants = trustees.map((t, i) => ({
      index: i + 1,
      signingKey: t.signingKey.publicKey,
      encryptionKey: t.encryption.publicKey,
    }));
    const session = (epoch: number) =>
      createDkgSession({ org: 'example.org', epoch, attempt: 0, threshold: 2, participants });
    const round1 = (s: DkgSession, i: number) =>
      proofOf(
        DkgParticipant.forDkg(
          s,
          {
            index: i,
            signingKey: trustees[i - 1]!.signingKey,
            encryptionSecretKey: trustees[i - 1]!.encryption.secretKey,
          },
          stuck,
        ).round1Message!,
      );
    const a = round1(session(1), 1);
    const b = round1(session(2), 1);
    const c = round1(session(1), 2);
    // The stuck rng gives every dealer the same polynomial, so the same C_0: only the hedging separates them.
    expect(toHex(a.c0)).toBe(toHex(b.c0));
    expect(toHex(a.c0)).toBe(toHex(c.c0));
    expect(new Set([a, b, c].map((p) => toHex(p.R))).size).toBe(3);
    expect(recovers(a, b)).toBe(false);
    expect(recovers(a, c)).toBe(false);
  });

  it('is deterministic in (a_0, session id, dealer, ρ) and follows the spec formula', async () => {
    const prev = await previousSharing();
    const s = reshareSession(prev, { epoch: 202407, attempt: 0, threshold: 2 });
    const dealer = { share: prev.shares[1]!, signingKey: prev.trustees[1]!.signingKey };
    const bytes = (rng: RandomSource) => DkgParticipant.forReshare(s, { dealer }, rng).round1Message!;
    // Fixed randomness: the same message byte for byte (the vectors rely on it).
    expect(toHex(bytes(seededRandom('pok-nonce/fixed')))).toBe(toHex(bytes(seededRandom('pok-nonce/fixed'))));
    expect(toHex(bytes(seededRandom('pok-nonce/fixed')))).not.toBe(
      toHex(bytes(seededRandom('pok-nonce/other'))),
    );
    // The rng stream of a resharing dealer with k = 2: a_1 (64 bytes), then ρ (32 bytes).
    const stream = seededRandom('pok-nonce/fixed');
    stream(64);
    const rho = stream(32);
    const r = hashToScalar('overt/dkg/v1/pok-nonce', prev.shares[1]!.secret, s.id, Uint8Array.of(2), rho);
    const p = proofOf(bytes(seededRandom('pok-nonce/fixed')));
    expect(toHex(p.R)).toBe(toHex(group.baseMul(r)));
    expect(toHex(pokNonce(s.id, 2, prev.shares[1]!.secret, () => rho))).toBe(toHex(r));
    const c = challenge(s.id, 2, p.c0, p.R);
    expect(toHex(p.z)).toBe(toHex(group.scalarAdd(r, group.scalarMul(c, prev.shares[1]!.secret))));
  });
});
