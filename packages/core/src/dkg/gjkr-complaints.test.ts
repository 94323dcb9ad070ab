// GJKR 1999 complaint resolution in the Pedersen DKG (docs/spec/dkg.md §5–6): every cheating participant the
// spec names is disqualified or rejected with the right code, and the honest participants still agree on one Y.
import { describe, expect, it } from 'vitest';
import {
  checkSharing,
  dkgParticipants,
  dkgSessionFor,
  makeTrustees,
  runDkg,
  seededRandom,
  type Trustee,
} from '../../test/gen-dkg-vectors.js';
import { concatBytes, toHex } from '../bytes.js';
import { OvertError } from '../errors.js';
import { type Element, group, type Scalar, scalarFromInt } from '../group.js';
import { taggedHash } from '../hash.js';
import { sign } from '../sign.js';
import type { KeyShare, ThresholdPublicKey } from '../threshold.js';
import { type DkgLocalRun, runDkgLocally } from './local.js';
import {
  buildComplaint,
  buildJustification,
  buildRound1,
  buildShare,
  DKG_TAG_MESSAGE,
  type DkgRound1Message,
  decodeDkgMessage,
} from './messages.js';
import type { DkgOutput } from './participant.js';
import { verifyTranscript } from './transcript.js';

function expectConsistentSharing(publicKey: ThresholdPublicKey, shares: readonly KeyShare[]): void {
  expect(() => checkSharing(publicKey, shares)).not.toThrow();
}

function outputsOf(run: DkgLocalRun, honest: (index: number) => boolean): DkgOutput[] {
  return run.outputs
    .map((o, i) => ({ o, i: i + 1 }))
    .filter(({ i }) => honest(i))
    .map(({ o }) => {
      if (o instanceof OvertError) throw o;
      return o as DkgOutput;
    });
}

/** All honest outputs agree byte for byte; the transcript verifies to the same public key and QUAL. */
function expectAgreement(outputs: readonly DkgOutput[]): DkgOutput {
  const first = outputs[0]!;
  for (const o of outputs) {
    expect(toHex(o.transcript)).toBe(toHex(first.transcript));
    expect(toHex(o.publicKey.groupKey)).toBe(toHex(first.publicKey.groupKey));
    expect(o.qualified).toEqual(first.qualified);
  }
  const verified = verifyTranscript(first.transcript);
  expect(toHex(verified.transcriptHash)).toBe(toHex(first.transcriptHash));
  expect(verified.qualified).toEqual(first.qualified);
  expect(toHex(verified.publicKey.groupKey)).toBe(toHex(first.publicKey.groupKey));
  expect(verified.publicKey.verificationKeys.map(toHex)).toEqual(first.publicKey.verificationKeys.map(toHex));
  return first;
}

function rejectionsOf(run: DkgLocalRun) {
  return run.rejections.map((r) => ({
    phase: r.phase,
    to: r.receiver.receiverIndex,
    code: r.error.code,
    check: r.error.check,
  }));
}

/** Re-signs an altered message body with `key`, as a cheating sender would. */
function resign(unsigned: Uint8Array, key: Trustee['signingKey']): Uint8Array {
  return concatBytes(unsigned, sign(key, taggedHash(DKG_TAG_MESSAGE, unsigned)));
}

describe('Pedersen DKG: cheating participants', () => {
  const honestExcept = (bad: number) => (i: number) => i !== bad;

  it('a bad share to one recipient draws a complaint; a correct justification keeps the dealer in QUAL', async () => {
    const trustees = await makeTrustees(5, 'bad-share');
    const session = dkgSessionFor(trustees, 3);
    const participants = dkgParticipants(session, trustees, 'bad-share');
    const rng = seededRandom('bad-share/cheat');
    const run = await runDkgLocally(participants, {
      intercept: (m) =>
        m.phase === 'share' && m.from.dealerIndex === 4 && m.recipient === 2
          ? buildShare(session, 4, trustees[3]!.signingKey, 2, scalarFromInt(12345), rng)
          : m.bytes,
    });
    expect(rejectionsOf(run)).toEqual([{ phase: 'share', to: 2, code: 'DKG_BAD_SHARE', check: 'DKG-13' }]);
    const outputs = outputsOf(run, () => true);
    const out = expectAgreement(outputs);
    expect(out.qualified).toEqual([1, 2, 3, 4, 5]);
    // The recipient took the publicly revealed share, so its final share still matches Y_2.
    expectConsistentSharing(
      out.publicKey,
      outputs.map((o) => o.keyShare!),
    );
  });

  it('a bad share whose dealer also reveals a bad share is disqualified; the honest still agree on one Y', async () => {
    const trustees = await makeTrustees(5, 'bad-justification');
    const session = dkgSessionFor(trustees, 3);
    const participants = dkgParticipants(session, trustees, 'bad-justification');
    const rng = seededRandom('bad-justification/cheat');
    const run = await runDkgLocally(participants, {
      intercept: (m) => {
        if (m.phase === 'share' && m.from.dealerIndex === 4 && m.recipient === 2)
          return buildShare(session, 4, trustees[3]!.signingKey, 2, scalarFromInt(1), rng);
        if (m.phase === 'justification' && m.from.dealerIndex === 4)
          return buildJustification(session, 4, trustees[3]!.signingKey, [
            { complainer: 2, share: scalarFromInt(1) },
          ]);
        return m.bytes;
      },
    });
    const outputs = outputsOf(run, honestExcept(4));
    const out = expectAgreement(outputs);
    expect(out.qualified).toEqual([1, 2, 3, 5]);
    expect(out.disqualified).toEqual([{ index: 4, reason: 'bad-justification' }]);
    expectConsistentSharing(
      out.publicKey,
      outputs.map((o) => o.keyShare!),
    );
    // Y is the sum of the qualified constant terms only.
    const { commitments } = verifyTranscript(out.transcript);
    let y: Element = group.identity;
    for (const [i, c] of commitments) if (i !== 4) y = group.add(y, c[0]!);
    expect(toHex(y)).toBe(toHex(out.publicKey.groupKey));
  });

  it('a dealer that does not answer a complaint is disqualified', async () => {
    const trustees = await makeTrustees(3, 'no-answer');
    const session = dkgSessionFor(trustees, 2);
    const participants = dkgParticipants(session, trustees, 'no-answer');
    const run = await runDkgLocally(participants, {
      intercept: (m) => {
        if (m.phase === 'share' && m.from.dealerIndex === 3 && m.recipient === 1) return null;
        if (m.phase === 'justification' && m.from.dealerIndex === 3) return null;
        return m.bytes;
      },
    });
    const outputs = outputsOf(run, honestExcept(3));
    const out = expectAgreement(outputs);
    expect(out.qualified).toEqual([1, 2]);
    expect(out.disqualified).toEqual([{ index: 3, reason: 'unanswered-complaint' }]);
    // Participant 3 is still a share holder of the result.
    expectConsistentSharing(
      out.publicKey,
      outputs.map((o) => o.keyShare!),
    );
  });

  it('a commitment that does not match the shares is caught by every recipient and disqualifies the dealer', async () => {
    const trustees = await makeTrustees(5, 'bad-commitment');
    const session = dkgSessionFor(trustees, 3);
    const participants = dkgParticipants(session, trustees, 'bad-commitment');
    const rng = seededRandom('bad-commitment/cheat');
    const other = [scalarFromInt(5), scalarFromInt(6), scalarFromInt(7)];
    const run = await runDkgLocally(participants, {
      intercept: (m) =>
        m.phase === 'round1' && m.from.dealerIndex === 1
          ? buildRound1(session, 1, trustees[0]!.signingKey, other, rng)
          : m.bytes,
    });
    const badShares = rejectionsOf(run).filter((r) => r.check === 'DKG-13');
    expect(badShares.map((r) => r.to)).toEqual([2, 3, 4, 5]);
    const out = expectAgreement(outputsOf(run, honestExcept(1)));
    expect(out.disqualified).toEqual([{ index: 1, reason: 'bad-justification' }]);
    expect(out.qualified).toEqual([2, 3, 4, 5]);
  });

  it('a round 1 with the wrong number of commitments is rejected (DKG_BAD_COMMITMENT) and leaves the dealer out', async () => {
    const trustees = await makeTrustees(3, 'commitment-count');
    const session = dkgSessionFor(trustees, 2);
    const participants = dkgParticipants(session, trustees, 'commitment-count');
    const rng = seededRandom('commitment-count/cheat');
    const run = await runDkgLocally(participants, {
      intercept: (m) =>
        m.phase === 'round1' && m.from.dealerIndex === 2
          ? buildRound1(
              session,
              2,
              trustees[1]!.signingKey,
              [scalarFromInt(3), scalarFromInt(4), scalarFromInt(5)],
              rng,
            )
          : m.bytes,
    });
    const r1 = rejectionsOf(run).filter((r) => r.phase === 'round1');
    expect(r1).toEqual([
      { phase: 'round1', to: 1, code: 'DKG_BAD_COMMITMENT', check: 'DKG-7' },
      { phase: 'round1', to: 3, code: 'DKG_BAD_COMMITMENT', check: 'DKG-7' },
    ]);
    // Dealer 2's shares then come from a dealer without an accepted round 1.
    expect(
      rejectionsOf(run)
        .filter((r) => r.phase === 'share')
        .map((r) => r.code),
    ).toEqual(['DKG_DISQUALIFIED', 'DKG_DISQUALIFIED']);
    const out = expectAgreement(outputsOf(run, honestExcept(2)));
    expect(out.qualified).toEqual([1, 3]);
  });

  it('a bad proof of knowledge is rejected (DKG_BAD_PROOF) and the dealer is not in QUAL', async () => {
    const trustees = await makeTrustees(3, 'bad-pok');
    const session = dkgSessionFor(trustees, 2);
    const participants = dkgParticipants(session, trustees, 'bad-pok');
    const run = await runDkgLocally(participants, {
      intercept: (m) => {
        if (m.phase !== 'round1' || m.from.dealerIndex !== 3) return m.bytes;
        // Replace z with z + 1 and re-sign: a well-formed, authentic message whose proof fails.
        const unsigned = m.bytes.slice(0, m.bytes.length - 64);
        const zAt = unsigned.length - 32;
        const z = group.scalarAdd(unsigned.slice(zAt) as Scalar, scalarFromInt(1));
        unsigned.set(z, zAt);
        return resign(unsigned, trustees[2]!.signingKey);
      },
    });
    expect(rejectionsOf(run).filter((r) => r.phase === 'round1')).toEqual([
      { phase: 'round1', to: 1, code: 'DKG_BAD_PROOF', check: 'DKG-8' },
      { phase: 'round1', to: 2, code: 'DKG_BAD_PROOF', check: 'DKG-8' },
    ]);
    const out = expectAgreement(outputsOf(run, honestExcept(3)));
    expect(out.qualified).toEqual([1, 2]);
  });

  it('a proof of knowledge copied from another dealer (rogue key) fails: the proof binds the dealer index', async () => {
    const trustees = await makeTrustees(3, 'copied-pok');
    const session = dkgSessionFor(trustees, 2);
    const participants = dkgParticipants(session, trustees, 'copied-pok');
    const honest1 = decodeDkgMessage(participants[0]!.round1Message!) as DkgRound1Message;
    // Dealer 3 publishes dealer 1's commitments and proof under its own index and key.
    const unsigned = participants[2]!.round1Message!.slice(0, -64);
    const body = honest1.bytes.slice(35, -64);
    const forged = resign(concatBytes(unsigned.slice(0, 35), body), trustees[2]!.signingKey);
    expect(() => participants[1]!.receiveRound1(forged)).toThrowError(
      expect.objectContaining({ code: 'DKG_BAD_PROOF' }),
    );
  });

  it('a message replayed from another session is rejected with DKG_SESSION', async () => {
    const trustees = await makeTrustees(3, 'replay');
    const old = await runDkg(trustees, 2, 'replay-old');
    const oldRound1 = old.participants[2]!.round1Message!;
    const session = dkgSessionFor(trustees, 2, 1);
    const participants = dkgParticipants(session, trustees, 'replay-new');
    expect(() => participants[0]!.receiveRound1(oldRound1)).toThrowError(
      expect.objectContaining({ code: 'DKG_SESSION', check: 'DKG-3' }),
    );
    // Injected into a full run, the replay changes nothing.
    const run = await runDkgLocally(participants, {
      inject: (phase) => (phase === 'round1' ? [oldRound1] : []),
    });
    expect(new Set(run.rejections.map((r) => r.error.code))).toEqual(new Set(['DKG_SESSION']));
    expectAgreement(outputsOf(run, () => true));
  });

  it('a share replayed from another session is rejected with DKG_SESSION, even for the same recipient', async () => {
    const trustees = await makeTrustees(3, 'replay-share');
    const sessionA = dkgSessionFor(trustees, 2, 0);
    const sessionB = dkgSessionFor(trustees, 2, 1);
    const share = await buildShare(
      sessionA,
      2,
      trustees[1]!.signingKey,
      1,
      scalarFromInt(9),
      seededRandom('r'),
    );
    const [p1] = dkgParticipants(sessionB, trustees, 'replay-share');
    for (const p of dkgParticipants(sessionB, trustees, 'replay-share').slice(1))
      p1!.receiveRound1(p.round1Message!);
    await p1!.endRound1();
    await expect(p1!.receiveShare(share)).rejects.toMatchObject({ code: 'DKG_SESSION' });
  });

  it('a message signed by the wrong key is rejected with DKG_SIGNATURE', async () => {
    const trustees = await makeTrustees(3, 'wrong-key');
    const session = dkgSessionFor(trustees, 2);
    const participants = dkgParticipants(session, trustees, 'wrong-key');
    const rng = seededRandom('wrong-key/cheat');
    // Trustee 3 forges a round 1 in dealer 2's name, signed with its own key.
    const forged = buildRound1(
      session,
      2,
      trustees[2]!.signingKey,
      [scalarFromInt(3), scalarFromInt(4)],
      rng,
    );
    expect(() => participants[0]!.receiveRound1(forged)).toThrowError(
      expect.objectContaining({ code: 'DKG_SIGNATURE', check: 'DKG-4' }),
    );
    // A bit flip anywhere in the signed part also fails the signature.
    const flipped = participants[1]!.round1Message!.slice();
    flipped[40]! ^= 1;
    expect(() => participants[0]!.receiveRound1(flipped)).toThrowError(OvertError);
    // Sender index outside the session.
    const outsider = participants[1]!.round1Message!.slice();
    outsider[34] = 9;
    expect(() => participants[0]!.receiveRound1(outsider)).toThrowError(
      expect.objectContaining({ code: 'DKG_SIGNATURE' }),
    );
    // In a full run the forgery (delivered instead of dealer 2's real round 1) leaves dealer 2 out.
    const run = await runDkgLocally(participants, {
      intercept: (m) => (m.phase === 'round1' && m.from.dealerIndex === 2 ? forged : m.bytes),
    });
    const out = expectAgreement(outputsOf(run, (i) => i !== 2));
    expect(out.qualified).toEqual([1, 3]);
  });

  it('a false complaint against an honest dealer does not disqualify it', async () => {
    const trustees = await makeTrustees(5, 'false-complaint');
    const session = dkgSessionFor(trustees, 3);
    const participants = dkgParticipants(session, trustees, 'false-complaint');
    const run = await runDkgLocally(participants, {
      inject: (phase) =>
        phase === 'complaint'
          ? [
              buildComplaint(session, 5, trustees[4]!.signingKey, [
                { accused: 1, reason: 'invalid-share' },
                { accused: 2, reason: 'missing' },
              ]),
            ]
          : [],
    });
    const out = expectAgreement(outputsOf(run, () => true));
    expect(out.qualified).toEqual([1, 2, 3, 4, 5]);
    expect(out.disqualified).toEqual([]);
    expectConsistentSharing(
      out.publicKey,
      outputsOf(run, () => true).map((o) => o.keyShare!),
    );
  });

  it('an equivocating sender (two different round-1 messages) is refused the second time with DKG_STATE', async () => {
    const trustees = await makeTrustees(3, 'equivocation');
    const session = dkgSessionFor(trustees, 2);
    const participants = dkgParticipants(session, trustees, 'equivocation');
    const second = buildRound1(
      session,
      2,
      trustees[1]!.signingKey,
      [scalarFromInt(3), scalarFromInt(4)],
      seededRandom('x'),
    );
    participants[0]!.receiveRound1(participants[1]!.round1Message!);
    participants[0]!.receiveRound1(participants[1]!.round1Message!);
    expect(() => participants[0]!.receiveRound1(second)).toThrowError(
      expect.objectContaining({ code: 'DKG_STATE', check: 'DKG-5' }),
    );
  });

  it('fewer than k qualified dealers end the session with DKG_TOO_FEW_QUALIFIED', async () => {
    const trustees = await makeTrustees(5, 'too-few');
    const session = dkgSessionFor(trustees, 3);
    const participants = dkgParticipants(session, trustees, 'too-few');
    // Dealers 1, 2 and 3 never publish a round 1.
    const run = await runDkgLocally(participants, {
      intercept: (m) => (m.phase === 'round1' && m.from.dealerIndex! <= 3 ? null : m.bytes),
    });
    for (const [i, o] of run.outputs.entries()) {
      if (i >= 3) expect(o).toMatchObject({ code: 'DKG_TOO_FEW_QUALIFIED', check: 'DKG-17' });
    }
    // The session is over for everyone, whatever happened.
    expect(participants.every((p) => p.phase === 'finished')).toBe(true);
  });

  it('complaints and disqualifications cannot push QUAL below k without failing loudly', async () => {
    const trustees = await makeTrustees(3, 'dq-too-few');
    const session = dkgSessionFor(trustees, 3);
    const participants = dkgParticipants(session, trustees, 'dq-too-few');
    const run = await runDkgLocally(participants, {
      intercept: (m) =>
        m.phase === 'share' && m.from.dealerIndex === 1 && m.recipient === 2
          ? null
          : m.phase === 'justification'
            ? null
            : m.bytes,
    });
    expect(run.outputs[1]).toMatchObject({ code: 'DKG_TOO_FEW_QUALIFIED' });
    expect(run.outputs[2]).toMatchObject({ code: 'DKG_TOO_FEW_QUALIFIED' });
  });
});

describe('Pedersen DKG: complaint and justification rules', () => {
  async function inPhase(seed: string, phase: 'complaints' | 'justifications') {
    const trustees = await makeTrustees(3, seed);
    const session = dkgSessionFor(trustees, 2);
    const [p1, p2] = dkgParticipants(session, trustees, seed);
    // Participant 1 accepts dealer 2's round 1 but never sees dealer 3's.
    p1!.receiveRound1(p2!.round1Message!);
    await p1!.endRound1();
    for (const s of await p2!.endRound1()) if (s.recipient === 1) await p1!.receiveShare(s.bytes);
    p1!.endShares();
    if (phase === 'justifications') p1!.endComplaints();
    return { trustees, session, p1: p1! };
  }

  it('a complaint against itself or against a dealer without an accepted round 1 is refused (DKG_BAD_COMPLAINT, DKG-14)', async () => {
    const { trustees, session, p1 } = await inPhase('complaint-rules', 'complaints');
    const self = buildComplaint(session, 2, trustees[1]!.signingKey, [{ accused: 2, reason: 'missing' }]);
    expect(() => p1.receiveComplaint(self)).toThrowError(
      expect.objectContaining({ code: 'DKG_BAD_COMPLAINT', check: 'DKG-14' }),
    );
    const absent = buildComplaint(session, 2, trustees[1]!.signingKey, [{ accused: 3, reason: 'missing' }]);
    expect(() => p1.receiveComplaint(absent)).toThrowError(
      expect.objectContaining({ code: 'DKG_BAD_COMPLAINT', check: 'DKG-14' }),
    );
    // A valid one is accepted, once; a different second complaint from the same sender is equivocation.
    p1.receiveComplaint(
      buildComplaint(session, 3, trustees[2]!.signingKey, [{ accused: 1, reason: 'missing' }]),
    );
    const second = buildComplaint(session, 3, trustees[2]!.signingKey, [{ accused: 2, reason: 'missing' }]);
    expect(() => p1.receiveComplaint(second)).toThrowError(
      expect.objectContaining({ code: 'DKG_STATE', check: 'DKG-5' }),
    );
  });

  it('a justification must answer a complaint (DKG-15) and come from an accepted dealer (DKG-10)', async () => {
    const { trustees, session, p1 } = await inPhase('justification-rules', 'justifications');
    const unasked = buildJustification(session, 2, trustees[1]!.signingKey, [
      { complainer: 3, share: scalarFromInt(1) },
    ]);
    expect(() => p1.receiveJustification(unasked)).toThrowError(
      expect.objectContaining({ code: 'DKG_BAD_COMPLAINT', check: 'DKG-15' }),
    );
    const outsider = buildJustification(session, 3, trustees[2]!.signingKey, [
      { complainer: 1, share: scalarFromInt(1) },
    ]);
    expect(() => p1.receiveJustification(outsider)).toThrowError(
      expect.objectContaining({ code: 'DKG_DISQUALIFIED', check: 'DKG-10' }),
    );
  });
});
