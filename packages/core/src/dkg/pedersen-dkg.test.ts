// Pedersen DKG with Feldman commitments, proofs of knowledge (Komlo–Goldberg 2020) and GJKR 1999 complaint
// resolution (docs/spec/dkg.md §4–7): honest runs, the state machine, and the transcript verifier. Cheating
// participants: gjkr-complaints.test.ts.
import { describe, expect, it } from 'vitest';
import {
  checkSharing,
  dkgParticipants,
  dkgSessionFor,
  makeTrustees,
  runDkg,
  type Trustee,
} from '../../test/gen-dkg-vectors.js';
import { concatBytes, equalBytes, toHex } from '../bytes.js';
import { Reader } from '../codec.js';
import { isOvertError, OvertError } from '../errors.js';
import { type Element, group } from '../group.js';
import { taggedHash } from '../hash.js';
import { sign } from '../sign.js';
import { evaluateCommitment, type KeyShare, type ThresholdPublicKey } from '../threshold.js';
import { type DkgLocalRun, runDkgLocally } from './local.js';
import { DKG_TAG_MESSAGE } from './messages.js';
import { type DkgOutput, DkgParticipant } from './participant.js';
import { createDkgSession } from './session.js';
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

describe('Pedersen DKG: honest runs', () => {
  it.each([
    [2, 3],
    [3, 5],
    [4, 7],
  ])(
    '(k, n) = (%i, %i): everyone agrees, the transcript verifies, every k-subset gives x with x·G = Y',
    async (k, n) => {
      const trustees = await makeTrustees(n, `honest-${k}-${n}`);
      const { run, outputs } = await runDkg(trustees, k, `honest-${k}-${n}`);
      expect(run.rejections).toEqual([]);
      expect(outputs).toHaveLength(n);
      const out = expectAgreement(outputs);
      expect(out.qualified).toEqual(trustees.map((t) => t.index));
      expect(out.disqualified).toEqual([]);
      expect(out.publicKey.threshold).toBe(k);
      // Every Y_j is computable from the commitments alone (the public side of Feldman VSS).
      const { commitments } = verifyTranscript(out.transcript);
      for (let j = 1; j <= n; j++) {
        let yj: Element = group.identity;
        for (const c of commitments.values()) yj = group.add(yj, evaluateCommitment(c, j));
        expect(toHex(yj)).toBe(toHex(out.publicKey.verificationKeys[j - 1]!));
      }
      expectConsistentSharing(
        out.publicKey,
        outputs.map((o) => o.keyShare!),
      );
    },
  );

  it('no participant holds the secret: each share differs from x and every Y_i differs from Y', async () => {
    const trustees = await makeTrustees(3, 'no-dealer');
    const { outputs } = await runDkg(trustees, 2, 'no-dealer');
    const y = outputs[0]!.publicKey.groupKey;
    for (const o of outputs) expect(toHex(group.baseMul(o.keyShare!.secret))).not.toBe(toHex(y));
  });

  it('different randomness gives a different group key; the same randomness the same transcript', async () => {
    const trustees = await makeTrustees(3, 'randomness');
    const a = await runDkg(trustees, 2, 'seed-a');
    const b = await runDkg(trustees, 2, 'seed-b');
    const a2 = await runDkg(trustees, 2, 'seed-a');
    expect(toHex(a.outputs[0]!.publicKey.groupKey)).not.toBe(toHex(b.outputs[0]!.publicKey.groupKey));
    expect(toHex(a.outputs[0]!.transcript)).toBe(toHex(a2.outputs[0]!.transcript));
  });

  it('k = n works (everyone needed) and k = 1 gives every participant the whole secret', async () => {
    const trustees = await makeTrustees(3, 'edges');
    const full = await runDkg(trustees, 3, 'edges-3');
    expectConsistentSharing(
      expectAgreement(full.outputs).publicKey,
      full.outputs.map((o) => o.keyShare!),
    );
    const one = await runDkg(trustees, 1, 'edges-1');
    const out = expectAgreement(one.outputs);
    for (const o of one.outputs)
      expect(toHex(group.baseMul(o.keyShare!.secret))).toBe(toHex(out.publicKey.groupKey));
  });
});

describe('Pedersen DKG: state machine', () => {
  it('refuses messages outside their phase and calls out of order (DKG_STATE, DKG-6)', async () => {
    const trustees = await makeTrustees(3, 'phases');
    const session = dkgSessionFor(trustees, 2);
    const [p1, p2, p3] = dkgParticipants(session, trustees, 'phases');
    expect(() => p1!.endShares()).toThrowError(
      expect.objectContaining({ code: 'DKG_STATE', check: 'DKG-6' }),
    );
    expect(() => p1!.finish()).toThrowError(expect.objectContaining({ code: 'DKG_STATE' }));
    p1!.receiveRound1(p2!.round1Message!);
    p1!.receiveRound1(p3!.round1Message!);
    const shares2 = await p2!.endRound1();
    await expect(p1!.receiveShare(shares2[0]!.bytes)).rejects.toMatchObject({
      code: 'DKG_STATE',
      check: 'DKG-6',
    });
    await p1!.endRound1();
    expect(() => p1!.receiveRound1(p2!.round1Message!)).toThrowError(
      expect.objectContaining({ code: 'DKG_STATE' }),
    );
    // A share for participant 3 delivered to participant 1.
    const to3 = shares2.find((s) => s.recipient === 3)!;
    await expect(p1!.receiveShare(to3.bytes)).rejects.toMatchObject({ code: 'DKG_STATE', check: 'DKG-11' });
    // A round-1 message where a share is expected.
    await expect(p1!.receiveShare(p2!.round1Message!)).rejects.toMatchObject({ code: 'DKG_STATE' });
  });

  it('checks its own keys against the session (DKG_PARAMS, DKG-20)', async () => {
    const trustees = await makeTrustees(3, 'own-keys');
    const session = dkgSessionFor(trustees, 2);
    const t = trustees[0]!;
    expect(() =>
      DkgParticipant.forDkg(session, {
        index: 2,
        signingKey: t.signingKey,
        encryptionSecretKey: t.encryption.secretKey,
      }),
    ).toThrowError(expect.objectContaining({ code: 'DKG_PARAMS', check: 'DKG-20' }));
    expect(() =>
      DkgParticipant.forDkg(session, {
        index: 1,
        signingKey: t.signingKey,
        encryptionSecretKey: trustees[1]!.encryption.secretKey,
      }),
    ).toThrowError(expect.objectContaining({ code: 'DKG_PARAMS' }));
    expect(() =>
      DkgParticipant.forDkg(session, {
        index: 4,
        signingKey: t.signingKey,
        encryptionSecretKey: t.encryption.secretKey,
      }),
    ).toThrowError(expect.objectContaining({ code: 'DKG_PARAMS' }));
  });

  it('an undecryptable share (a flipped ciphertext bit, re-signed) becomes a complaint, not a crash', async () => {
    const trustees = await makeTrustees(3, 'undecryptable');
    const session = dkgSessionFor(trustees, 2);
    const participants = dkgParticipants(session, trustees, 'undecryptable');
    const run = await runDkgLocally(participants, {
      intercept: (m) => {
        if (m.phase !== 'share' || m.from.dealerIndex !== 2 || m.recipient !== 3) return m.bytes;
        // Flip a ciphertext bit and re-sign: authentic, but AES-GCM rejects it.
        const unsigned = m.bytes.slice(0, -64);
        unsigned[unsigned.length - 1]! ^= 1;
        return resign(unsigned, trustees[1]!.signingKey);
      },
    });
    expect(rejectionsOf(run)).toEqual([{ phase: 'share', to: 3, code: 'DKG_BAD_SHARE', check: 'DKG-12' }]);
    const out = expectAgreement(outputsOf(run, () => true));
    expect(out.qualified).toEqual([1, 2, 3]);
  });

  it('session parameters are validated (DKG_PARAMS, DKG-1)', async () => {
    const trustees = await makeTrustees(3, 'params');
    const participants = trustees.map((t) => ({
      index: t.index,
      signingKey: t.signingKey.publicKey,
      encryptionKey: t.encryption.publicKey,
    }));
    const base = { org: 'o', epoch: 1, attempt: 0, threshold: 2, participants };
    const bad = [
      { ...base, threshold: 0 },
      { ...base, threshold: 4 },
      { ...base, org: '' },
      { ...base, org: 'x'.repeat(256) },
      // The org id of foundations.md §8, as in envelope headers: at most 64 characters of 0x21–0x7e.
      { ...base, org: 'x'.repeat(65) },
      { ...base, org: 'with space' },
      { ...base, org: 'exämple.org' },
      { ...base, epoch: -1 },
      { ...base, attempt: 2 ** 32 },
      { ...base, participants: [participants[1]!, participants[0]!, participants[2]!] },
      {
        ...base,
        participants: [
          participants[0]!,
          { ...participants[1]!, signingKey: participants[0]!.signingKey },
          participants[2]!,
        ],
      },
      {
        ...base,
        participants: [
          participants[0]!,
          { ...participants[1]!, encryptionKey: new Uint8Array(32) },
          participants[2]!,
        ],
      },
      {
        ...base,
        participants: [
          participants[0]!,
          { ...participants[1]!, signingKey: new Uint8Array(31) },
          participants[2]!,
        ],
      },
    ];
    for (const params of bad) {
      expect(() => createDkgSession(params)).toThrowError(
        expect.objectContaining({ code: 'DKG_PARAMS', check: 'DKG-1' }),
      );
    }
    expect(createDkgSession({ ...base, org: 'x'.repeat(64) }).org).toHaveLength(64);
  });
});

describe('verifyTranscript', () => {
  it('rejects a transcript whose claimed output, QUAL or messages were altered', async () => {
    const trustees = await makeTrustees(3, 'tamper');
    const { outputs } = await runDkg(trustees, 2, 'tamper');
    const t = outputs[0]!.transcript;
    // Last 32 bytes: Y_3. Flip it to another valid element.
    const yAt = t.length - 32;
    const altered = t.slice();
    altered.set(group.add(t.slice(yAt) as Element, group.generator), yAt);
    expect(() => verifyTranscript(altered)).toThrowError(
      expect.objectContaining({ code: 'DKG_TRANSCRIPT', check: 'DKG-19' }),
    );
    // Group key (before the count byte and the three verification keys).
    const gAt = t.length - 32 * 3 - 1 - 32;
    const altered2 = t.slice();
    altered2.set(group.add(t.slice(gAt, gAt + 32) as Element, group.generator), gAt);
    expect(() => verifyTranscript(altered2)).toThrowError(
      expect.objectContaining({ code: 'DKG_TRANSCRIPT', check: 'DKG-19' }),
    );
    // QUAL claims only {1, 2}: the count byte and the list shrink.
    const qAt = gAt - 4;
    expect(t[qAt]).toBe(3);
    const shrunk = concatBytes(t.slice(0, qAt), Uint8Array.of(2, 1, 2), t.slice(gAt));
    expect(() => verifyTranscript(shrunk)).toThrowError(expect.objectContaining({ code: 'DKG_TRANSCRIPT' }));
    // Any flipped bit anywhere fails (codec, group or transcript error, never a silent pass).
    for (let bit = 0; bit < t.length * 8; bit += 97) {
      const f = t.slice();
      f[bit >> 3]! ^= 1 << (bit & 7);
      expect(() => verifyTranscript(f)).toThrowError(OvertError);
    }
    expect(() => verifyTranscript(t, { expectedSessionId: new Uint8Array(32) })).toThrowError(
      expect.objectContaining({ code: 'DKG_TRANSCRIPT', check: 'DKG-3' }),
    );
    expect(
      equalBytes(
        verifyTranscript(t, { expectedSessionId: outputs[0]!.session.id }).transcriptHash,
        outputs[0]!.transcriptHash,
      ),
    ).toBe(true);
  });

  it('keeps complaints and justifications and re-resolves them to the same QUAL', async () => {
    const trustees = await makeTrustees(3, 'transcript-complaints');
    const session = dkgSessionFor(trustees, 2);
    const participants = dkgParticipants(session, trustees, 'transcript-complaints');
    const run = await runDkgLocally(participants, {
      intercept: (m) =>
        m.phase === 'share' && m.from.dealerIndex === 2 && m.recipient === 3
          ? null
          : m.phase === 'justification'
            ? null
            : m.bytes,
    });
    const out = expectAgreement(outputsOf(run, (i) => i !== 2));
    const v = verifyTranscript(out.transcript);
    expect(v.disqualified).toEqual([{ index: 2, reason: 'unanswered-complaint' }]);
    expect(v.qualified).toEqual([1, 3]);
  });

  it('checks every message in it as a participant would, and their canonical order (DKG-18, DKG-3, DKG-4)', async () => {
    const trustees = await makeTrustees(3, 'transcript-order');
    const session = dkgSessionFor(trustees, 2);
    const participants = dkgParticipants(session, trustees, 'transcript-order');
    const run = await runDkgLocally(participants, {
      intercept: (m) =>
        m.phase === 'share' && m.from.dealerIndex === 1 && m.recipient === 2 ? null : m.bytes,
    });
    const t = expectAgreement(outputsOf(run, () => true)).transcript;
    const parts = splitTranscript(t);
    expect(parts.lists.map((l) => l.length)).toEqual([3, 1, 1]);
    const build = (lists: Uint8Array[][]) => joinTranscript({ ...parts, lists });
    expect(toHex(build(parts.lists))).toBe(toHex(t));
    const [r1, c, j] = parts.lists as [Uint8Array[], Uint8Array[], Uint8Array[]];
    const fails = (lists: Uint8Array[][], check: string) =>
      expect(() => verifyTranscript(build(lists))).toThrowError(
        expect.objectContaining({ code: 'DKG_TRANSCRIPT', check }),
      );
    fails([[r1[1]!, r1[0]!, r1[2]!], c, j], 'DKG-18');
    fails([[r1[0]!, r1[0]!, r1[2]!], c, j], 'DKG-18');
    fails([r1, j, c], 'DKG-18');
    const other = dkgParticipants(dkgSessionFor(trustees, 2, 9), trustees, 'transcript-order-other');
    fails([[other[0]!.round1Message!, r1[1]!, r1[2]!], c, j], 'DKG-3');
    const badSig = r1[1]!.slice();
    badSig[badSig.length - 1]! ^= 1;
    fails([[r1[0]!, badSig, r1[2]!], c, j], 'DKG-4');
    // Without the justification, dealer 1 loses the complaint: QUAL and Y differ from what the transcript claims.
    fails([r1, c, []], 'DKG-19');
    // Without the complaint, the justification answers nothing.
    fails([r1, [], j], 'DKG-15');
  });

  it('only our own errors come out of transcripts made of valid pieces put together wrongly', async () => {
    const trustees = await makeTrustees(3, 'transcript-shapes');
    const { outputs } = await runDkg(trustees, 2, 'transcript-shapes');
    const t = outputs[0]!.transcript;
    for (let cut = 0; cut < t.length; cut += 37) {
      try {
        verifyTranscript(t.slice(0, cut));
        throw new Error('a truncated transcript verified');
      } catch (e) {
        expect(isOvertError(e)).toBe(true);
      }
    }
  });
});

/** The transcript's parts (docs/spec/dkg.md §7.1), for tests that rebuild transcripts out of order. */
function splitTranscript(t: Uint8Array) {
  const r2 = new Reader(t);
  r2.u8();
  const session = r2.vec32();
  const lists: Uint8Array[][] = [];
  for (let l = 0; l < 3; l++) {
    const n = r2.u8();
    const list: Uint8Array[] = [];
    for (let i = 0; i < n; i++) list.push(r2.vec16());
    lists.push(list);
  }
  const tail = r2.bytes(r2.remaining);
  return { session, lists, tail };
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

function joinTranscript(p: { session: Uint8Array; lists: Uint8Array[][]; tail: Uint8Array }): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.of(1), u32(p.session.length), p.session];
  for (const list of p.lists) {
    parts.push(Uint8Array.of(list.length));
    for (const m of list) parts.push(Uint8Array.of(m.length >> 8, m.length & 0xff), m);
  }
  parts.push(p.tail);
  return concatBytes(...parts);
}
