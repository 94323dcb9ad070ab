// Resharing without reconstruction (docs/spec/dkg.md §8; Herzberg et al. 1995 proactive refresh, Desmedt–Jajodia
// 1997 redistribution): old members deal their shares with Feldman commitments pinned to their public Y_i; new
// members combine with Lagrange coefficients; the group key stays, n and k may change.
import { describe, expect, it } from 'vitest';
import {
  checkSharing,
  makeTrustees,
  reshareSetup,
  runDkg,
  seededRandom,
  type Trustee,
} from '../../test/gen-dkg-vectors.js';
import { toHex } from '../bytes.js';
import { OvertError } from '../errors.js';
import { type Element, group, scalarFromInt } from '../group.js';
import type { KeyShare } from '../threshold.js';
import { runDkgLocally } from './local.js';
import { buildRound1, buildShare } from './messages.js';
import { type DkgOutput, DkgParticipant } from './participant.js';
import { createReshareSession, previousFromPublicKey } from './session.js';
import { verifyTranscript } from './transcript.js';

async function epochKey(n: number, k: number, seed: string) {
  const trustees = await makeTrustees(n, seed);
  const { outputs } = await runDkg(trustees, k, seed);
  const output = outputs[0]!;
  const shares = outputs.map((o) => o.keyShare!);
  return { trustees, output, shares, secret: checkSharing(output.publicKey, shares) };
}

function outputs(run: { outputs: readonly (DkgOutput | OvertError)[] }): DkgOutput[] {
  return run.outputs.map((o) => {
    if (o instanceof OvertError) throw o;
    return o;
  });
}

function newShares(outs: readonly DkgOutput[]): KeyShare[] {
  return outs.flatMap((o) => (o.keyShare ? [o.keyShare] : []));
}

/** Every participant (dealers and receivers) agrees; the transcript verifies; Y is the old Y. */
function expectAgreedRefresh(outs: readonly DkgOutput[], oldY: Element): DkgOutput {
  const first = outs[0]!;
  for (const o of outs) expect(toHex(o.transcript)).toBe(toHex(first.transcript));
  expect(toHex(first.publicKey.groupKey)).toBe(toHex(oldY));
  const v = verifyTranscript(first.transcript);
  expect(toHex(v.publicKey.groupKey)).toBe(toHex(oldY));
  expect(v.publicKey.verificationKeys.map(toHex)).toEqual(first.publicKey.verificationKeys.map(toHex));
  expect(v.session.kind).toBe('reshare');
  return first;
}

describe('resharing', () => {
  it('(3,5) → (2,3): same group key, same secret, new consistent verification keys', async () => {
    const old = await epochKey(5, 3, 'reshare-35-23');
    const next = await makeTrustees(3, 'reshare-35-23/new');
    const { participants } = reshareSetup(old, next, 2, 'reshare-35-23/run');
    const run = await runDkgLocally(participants);
    expect(run.rejections).toEqual([]);
    const outs = outputs(run);
    const out = expectAgreedRefresh(outs, old.output.publicKey.groupKey);
    expect(out.publicKey.threshold).toBe(2);
    expect(out.publicKey.verificationKeys).toHaveLength(3);
    expect(out.qualified).toEqual([1, 2, 3, 4, 5]);
    const shares = newShares(outs);
    expect(shares.map((s) => s.index)).toEqual([1, 2, 3]);
    // The secret itself is unchanged: any 2 new shares interpolate to the old x.
    expect(toHex(checkSharing(out.publicKey, shares))).toBe(toHex(old.secret));
    // Dealer-only participants (old members) get no share.
    expect(outs.slice(0, 5).every((o) => o.keyShare === null)).toBe(true);
  });

  it('(2,3) → (4,7): the group key stays while n and k grow', async () => {
    const old = await epochKey(3, 2, 'reshare-23-47');
    const next = await makeTrustees(7, 'reshare-23-47/new');
    const { participants } = reshareSetup(old, next, 4, 'reshare-23-47/run');
    const outs = outputs(await runDkgLocally(participants));
    const out = expectAgreedRefresh(outs, old.output.publicKey.groupKey);
    const shares = newShares(outs);
    expect(toHex(checkSharing(out.publicKey, shares))).toBe(toHex(old.secret));
    // Old and new shares are of different polynomials: mixing them does not give the secret.
    const mixed = [old.shares[0]!, ...shares.slice(1, 4)];
    expect(() => checkSharing(out.publicKey, mixed)).toThrow();
  });

  it('exactly k_old dealers suffice, and the refreshed shares are new', async () => {
    const old = await epochKey(5, 3, 'reshare-min');
    const { participants } = reshareSetup(old, old.trustees, 3, 'reshare-min/run', [2, 4, 5]);
    const outs = outputs(await runDkgLocally(participants));
    const out = expectAgreedRefresh(outs, old.output.publicKey.groupKey);
    expect(out.qualified).toEqual([2, 4, 5]);
    const shares = newShares(outs);
    checkSharing(out.publicKey, shares);
    for (const s of shares) expect(toHex(s.secret)).not.toBe(toHex(old.shares[s.index - 1]!.secret));
  });

  it('a dealer that changes its constant term is caught (DKG_BAD_COMMITMENT, DKG-9) and left out', async () => {
    const old = await epochKey(3, 2, 'reshare-constant');
    const next = await makeTrustees(3, 'reshare-constant/new');
    const { session, participants } = reshareSetup(old, next, 2, 'reshare-constant/run');
    const rng = seededRandom('reshare-constant/cheat');
    // Old member 2 deals a polynomial with another constant term (with a valid proof for it).
    const forged = buildRound1(
      session,
      2,
      old.trustees[1]!.signingKey,
      [scalarFromInt(42), scalarFromInt(43)],
      rng,
    );
    const run = await runDkgLocally(participants, {
      intercept: (m) => (m.phase === 'round1' && m.from.dealerIndex === 2 ? forged : m.bytes),
    });
    const r1 = run.rejections.filter((r) => r.phase === 'round1');
    expect(r1.length).toBe(participants.length - 1);
    for (const r of r1) expect(r.error).toMatchObject({ code: 'DKG_BAD_COMMITMENT', check: 'DKG-9' });
    const honest = outputs({ outputs: run.outputs.filter((_, i) => i !== 1) });
    const out = expectAgreedRefresh(honest, old.output.publicKey.groupKey);
    expect(out.qualified).toEqual([1, 3]);
    expect(toHex(checkSharing(out.publicKey, newShares(honest)))).toBe(toHex(old.secret));
  });

  it('a dealer that sends a bad share and does not answer is disqualified; the key survives', async () => {
    const old = await epochKey(5, 3, 'reshare-complaint');
    const next = await makeTrustees(4, 'reshare-complaint/new');
    const { session, participants } = reshareSetup(old, next, 3, 'reshare-complaint/run');
    const rng = seededRandom('reshare-complaint/cheat');
    const run = await runDkgLocally(participants, {
      intercept: (m) => {
        if (m.phase === 'share' && m.from.dealerIndex === 1 && m.recipient === 4)
          return buildShare(session, 1, old.trustees[0]!.signingKey, 4, scalarFromInt(1), rng);
        if (m.phase === 'justification' && m.from.dealerIndex === 1) return null;
        return m.bytes;
      },
    });
    expect(run.rejections.map((r) => r.error.check)).toEqual(['DKG-13']);
    const honest = outputs({ outputs: run.outputs.filter((_, i) => i !== 0) });
    const out = expectAgreedRefresh(honest, old.output.publicKey.groupKey);
    expect(out.qualified).toEqual([2, 3, 4, 5]);
    expect(out.disqualified).toEqual([{ index: 1, reason: 'unanswered-complaint' }]);
    // Lagrange weights over QUAL = {2,3,4,5} still give the old secret.
    expect(toHex(checkSharing(out.publicKey, newShares(honest)))).toBe(toHex(old.secret));
  });

  it('fewer than k_old qualified dealers: DKG_TOO_FEW_QUALIFIED', async () => {
    const old = await epochKey(5, 3, 'reshare-too-few');
    const { participants } = reshareSetup(old, old.trustees, 3, 'reshare-too-few/run', [1, 2]);
    const run = await runDkgLocally(participants);
    for (const o of run.outputs) expect(o).toMatchObject({ code: 'DKG_TOO_FEW_QUALIFIED', check: 'DKG-17' });
  });

  it('refuses a previous sharing whose verification keys are not of one polynomial (DKG-2)', async () => {
    const old = await epochKey(3, 2, 'reshare-previous');
    const keys = [...old.output.publicKey.verificationKeys];
    keys[2] = group.add(keys[2]!, group.generator);
    const build = (verificationKeys: Element[], groupKey = old.output.publicKey.groupKey) =>
      createReshareSession({
        org: 'example.org',
        epoch: 1,
        attempt: 0,
        threshold: 2,
        participants: old.trustees.map((t) => ({
          index: t.index,
          signingKey: t.signingKey.publicKey,
          encryptionKey: t.encryption.publicKey,
        })),
        previous: previousFromPublicKey(
          { threshold: 2, groupKey, verificationKeys },
          old.trustees.map((t) => t.signingKey.publicKey),
          old.output.transcriptHash,
        ),
      });
    expect(() => build(keys)).toThrowError(expect.objectContaining({ code: 'DKG_PARAMS', check: 'DKG-2' }));
    expect(() =>
      build(
        [...old.output.publicKey.verificationKeys],
        group.add(old.output.publicKey.groupKey, group.generator),
      ),
    ).toThrowError(expect.objectContaining({ code: 'DKG_PARAMS', check: 'DKG-2' }));
    expect(() => build([...old.output.publicKey.verificationKeys])).not.toThrow();
  });

  it('a dealer must hold the old share that matches its verification key (DKG-20)', async () => {
    const old = await epochKey(3, 2, 'reshare-own-share');
    const { session } = reshareSetup(old, old.trustees, 2, 'reshare-own-share/run', []);
    const t: Trustee = old.trustees[0]!;
    expect(() =>
      DkgParticipant.forReshare(session, { dealer: { share: old.shares[1]!, signingKey: t.signingKey } }),
    ).toThrowError(expect.objectContaining({ code: 'DKG_PARAMS', check: 'DKG-20' }));
    expect(() =>
      DkgParticipant.forReshare(session, {
        dealer: { share: { index: 1, secret: scalarFromInt(5) }, signingKey: t.signingKey },
      }),
    ).toThrowError(expect.objectContaining({ code: 'DKG_PARAMS', check: 'DKG-20' }));
    expect(() => DkgParticipant.forReshare(session, {})).toThrowError(
      expect.objectContaining({ code: 'DKG_PARAMS' }),
    );
    expect(() =>
      DkgParticipant.forDkg(session, {
        index: 1,
        signingKey: t.signingKey,
        encryptionSecretKey: t.encryption.secretKey,
      }),
    ).toThrowError(expect.objectContaining({ code: 'DKG_PARAMS' }));
  });

  it('complaints come from new members, signed with their new keys; dealers sign with their old keys', async () => {
    const old = await epochKey(3, 2, 'reshare-roles');
    const next = await makeTrustees(3, 'reshare-roles/new');
    const { session, participants } = reshareSetup(old, next, 2, 'reshare-roles/run');
    // A round 1 signed by the new trustee 1 in old dealer 1's name is refused.
    const forged = buildRound1(
      session,
      1,
      next[0]!.signingKey,
      [old.shares[0]!.secret, scalarFromInt(3)],
      seededRandom('roles'),
    );
    expect(() => participants[3]!.receiveRound1(forged)).toThrowError(
      expect.objectContaining({ code: 'DKG_SIGNATURE' }),
    );
  });

  it('resharing twice in a row keeps the key and the secret', async () => {
    const old = await epochKey(3, 2, 'reshare-twice');
    const first = outputs(
      await runDkgLocally(reshareSetup(old, old.trustees, 2, 'reshare-twice/1').participants),
    );
    const firstOut = first.find((o) => o.keyShare)!;
    const second = reshareSetup(
      { output: firstOut, trustees: old.trustees, shares: newShares(first) },
      old.trustees,
      3,
      'reshare-twice/2',
    );
    expect(toHex(second.session.previous!.transcriptHash)).toBe(toHex(firstOut.transcriptHash));
    const outs = outputs(await runDkgLocally(second.participants));
    const out = expectAgreedRefresh(outs, old.output.publicKey.groupKey);
    expect(toHex(checkSharing(out.publicKey, newShares(outs)))).toBe(toHex(old.secret));
  });
});
