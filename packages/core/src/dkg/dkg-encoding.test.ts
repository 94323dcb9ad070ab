// docs/spec/dkg.md §2–4 and §7.1: canonical encodings of the session, the four messages and the transcript —
// property tests for every encode/decode and crypto round trip, and a fuzz test feeding random and mutated bytes
// to every decoder (and to the participant's receive functions), asserting that only our own errors come out.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  dkgParticipants,
  makeTrustees,
  runDkg,
  seededRandom,
  type Trustee,
} from '../../test/gen-dkg-vectors.js';
import { concatBytes, equalBytes, toHex } from '../bytes.js';
import { isOvertError } from '../errors.js';
import { group, randomScalar, type Scalar, scalarFromInt } from '../group.js';
import { signingKeyFromSeed } from '../sign.js';
import { evaluatePolynomial } from '../threshold.js';
import { deriveDkgEncryptionKey, openShare, sealShare, shareInfo } from './hpke.js';
import {
  buildComplaint,
  buildJustification,
  buildRound1,
  buildShare,
  checkAuthentic,
  checkRound1,
  DKG_COMPLAINT_REASON,
  type DkgComplaintReason,
  decodeDkgMessage,
  shareAad,
} from './messages.js';
import type { DkgParticipant } from './participant.js';
import { createDkgSession, createReshareSession, type DkgSession, decodeDkgSession } from './session.js';
import { verifyTranscript } from './transcript.js';

/** Runs `f` and requires that it either returns or throws one of our errors. */
function onlyOurErrors(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!isOvertError(e)) throw e;
  }
}

async function onlyOurErrorsAsync(f: () => Promise<unknown>): Promise<void> {
  try {
    await f();
  } catch (e) {
    if (!isOvertError(e)) throw e;
  }
}

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const scalar = bytes32.map((b) => group.scalarReduce64(concatBytes(b, new Uint8Array(32))));
const reasons = Object.keys(DKG_COMPLAINT_REASON) as DkgComplaintReason[];

let trustees: Trustee[];
let session: DkgSession;
let validTranscript: Uint8Array;
let validMessages: Uint8Array[];

beforeAll(async () => {
  trustees = await makeTrustees(5, 'encoding');
  session = createDkgSession({
    org: 'example.org',
    epoch: 7,
    attempt: 0,
    threshold: 3,
    participants: trustees.map((t) => ({
      index: t.index,
      signingKey: t.signingKey.publicKey,
      encryptionKey: t.encryption.publicKey,
    })),
  });
  // A run with a complaint, so that every message type appears in the transcript.
  const small = await makeTrustees(3, 'encoding-run');
  const { outputs } = await runDkg(small, 2, 'encoding-run', {
    intercept: (m) => (m.phase === 'share' && m.from.dealerIndex === 1 && m.recipient === 2 ? null : m.bytes),
  });
  validTranscript = outputs[0]!.transcript;
  validMessages = [
    buildRound1(
      session,
      1,
      trustees[0]!.signingKey,
      [scalarFromInt(2), scalarFromInt(3), scalarFromInt(4)],
      seededRandom('r1'),
    ),
    buildComplaint(session, 2, trustees[1]!.signingKey, [{ accused: 1, reason: 'missing' }]),
    buildJustification(session, 1, trustees[0]!.signingKey, [{ complainer: 2, share: scalarFromInt(5) }]),
    await buildShare(session, 1, trustees[0]!.signingKey, 2, scalarFromInt(5), seededRandom('enc')),
  ];
});

describe('session encoding', () => {
  const participantsArb = fc.integer({ min: 1, max: 6 }).chain((n) =>
    fc.record({
      n: fc.constant(n),
      k: fc.integer({ min: 1, max: n }),
      signing: fc.uniqueArray(bytes32, { minLength: n, maxLength: n, selector: toHex }),
      encryption: fc.uniqueArray(bytes32, { minLength: n, maxLength: n, selector: toHex }),
    }),
  );

  it('decode(encode(s)) = s, and the id is the tagged hash of the bytes', () => {
    fc.assert(
      fc.property(
        participantsArb,
        // Org ids (foundations.md §8): 1..64 characters of 0x21–0x7e.
        fc.string({
          minLength: 1,
          maxLength: 64,
          unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
        }),
        fc.nat(0xffffffff),
        fc.nat(0xffffffff),
        (p, org, epoch, attempt) => {
          const s = createDkgSession({
            org,
            epoch,
            attempt,
            threshold: p.k,
            participants: p.signing.map((signingKey, i) => ({
              index: i + 1,
              signingKey,
              encryptionKey: p.encryption[i]!,
            })),
          });
          const d = decodeDkgSession(s.bytes);
          expect(toHex(d.bytes)).toBe(toHex(s.bytes));
          expect(toHex(d.id)).toBe(toHex(s.id));
          expect(d).toMatchObject({ kind: 'dkg', org, epoch, attempt, threshold: p.k });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('resharing sessions round-trip, and any changed field changes the id', () => {
    fc.assert(
      fc.property(
        participantsArb,
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 3 }),
        (p, kOld, extra) => {
          const nOld = kOld + extra;
          const coeffs: Scalar[] = [];
          for (let i = 0; i < kOld; i++) coeffs.push(randomScalar());
          const members = [];
          for (let i = 1; i <= nOld; i++) {
            members.push({
              index: i,
              signingKey: signingKeyFromSeed(Uint8Array.of(i, ...new Uint8Array(31))).publicKey,
              verificationKey: group.baseMul(evaluatePolynomial(coeffs, i)),
            });
          }
          const params = {
            org: 'o',
            epoch: 1,
            attempt: 2,
            threshold: p.k,
            participants: p.signing.map((signingKey, i) => ({
              index: i + 1,
              signingKey,
              encryptionKey: p.encryption[i]!,
            })),
            previous: {
              threshold: kOld,
              members,
              groupKey: group.baseMul(coeffs[0]!),
              transcriptHash: new Uint8Array(32).fill(9),
            },
          };
          const s = createReshareSession(params);
          const d = decodeDkgSession(s.bytes);
          expect(toHex(d.bytes)).toBe(toHex(s.bytes));
          expect(d.kind).toBe('reshare');
          expect(d.previous!.members.map((m) => toHex(m.verificationKey))).toEqual(
            members.map((m) => toHex(m.verificationKey)),
          );
          const other = createReshareSession({ ...params, attempt: 3 });
          expect(toHex(other.id)).not.toBe(toHex(s.id));
          const otherHash = createReshareSession({
            ...params,
            previous: { ...params.previous, transcriptHash: new Uint8Array(32).fill(8) },
          });
          expect(toHex(otherHash.id)).not.toBe(toHex(s.id));
        },
      ),
      { numRuns: 30 },
    );
  });
});

describe('message encoding', () => {
  it('round 1: decode(build(...)) returns the commitments to the polynomial, and the proof verifies', () => {
    fc.assert(
      fc.property(
        fc.array(scalar, { minLength: 3, maxLength: 3 }),
        fc.integer({ min: 1, max: 5 }),
        (coeffs, dealer) => {
          const bytes = buildRound1(
            session,
            dealer,
            trustees[dealer - 1]!.signingKey,
            coeffs,
            seededRandom('p'),
          );
          const m = decodeDkgMessage(bytes);
          if (m.type !== 'round1') throw new Error('type');
          expect(m.sender).toBe(dealer);
          expect(m.commitments.map(toHex)).toEqual(coeffs.map((a) => toHex(group.baseMul(a))));
          expect(toHex(m.bytes)).toBe(toHex(bytes));
          checkRound1(session, m);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('complaint and justification: decode(build(...)) gives the sorted entries back', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 255 }), { minLength: 1, maxLength: 20 }),
        fc.array(fc.constantFrom(...reasons), { minLength: 20, maxLength: 20 }),
        fc.array(scalar, { minLength: 20, maxLength: 20 }),
        (indices, rs, shares) => {
          const accusations = indices.map((accused, i) => ({ accused, reason: rs[i]! }));
          const c = decodeDkgMessage(buildComplaint(session, 3, trustees[2]!.signingKey, accusations));
          if (c.type !== 'complaint') throw new Error('type');
          expect(c.accusations).toEqual([...accusations].sort((a, b) => a.accused - b.accused));
          checkAuthentic(session, c);
          const revealed = indices.map((complainer, i) => ({ complainer, share: shares[i]! }));
          const j = decodeDkgMessage(buildJustification(session, 4, trustees[3]!.signingKey, revealed));
          if (j.type !== 'justification') throw new Error('type');
          expect(j.shares.map((s) => [s.complainer, toHex(s.share)])).toEqual(
            [...revealed]
              .sort((a, b) => a.complainer - b.complainer)
              .map((s) => [s.complainer, toHex(s.share)]),
          );
          checkAuthentic(session, j);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('share: HPKE open(seal(s)) = s for the recipient, and fails for another context', async () => {
    await fc.assert(
      fc.asyncProperty(
        scalar,
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 5 }),
        async (s, dealer, to) => {
          const bytes = await buildShare(
            session,
            dealer,
            trustees[dealer - 1]!.signingKey,
            to,
            s,
            seededRandom(toHex(s)),
          );
          const m = decodeDkgMessage(bytes);
          if (m.type !== 'share') throw new Error('type');
          checkAuthentic(session, m);
          const key = trustees[to - 1]!.encryption.secretKey;
          const info = shareInfo(session.id, dealer, to);
          const plain = await openShare(key, m.enc, info, shareAad(m), m.ciphertext);
          expect(toHex(plain)).toBe(toHex(s));
          const wrongInfo = shareInfo(session.id, dealer, (to % 5) + 1);
          await expect(openShare(key, m.enc, wrongInfo, shareAad(m), m.ciphertext)).rejects.toMatchObject({
            code: 'DKG_BAD_SHARE',
          });
          const otherKey = trustees[to % 5]!.encryption.secretKey;
          await expect(openShare(otherKey, m.enc, info, shareAad(m), m.ciphertext)).rejects.toMatchObject({
            code: 'DKG_BAD_SHARE',
          });
        },
      ),
      { numRuns: 15 },
    );
  });

  it('HPKE with RFC 9180 DeriveKeyPair: the same ikm gives the same keys and the same ciphertext', async () => {
    const a = await deriveDkgEncryptionKey(new Uint8Array(32).fill(1));
    const b = await deriveDkgEncryptionKey(new Uint8Array(32).fill(1));
    expect(toHex(a.publicKey)).toBe(toHex(b.publicKey));
    const info = new Uint8Array(3);
    const s1 = await sealShare(a.publicKey, info, info, new Uint8Array(32), seededRandom('same'));
    const s2 = await sealShare(a.publicKey, info, info, new Uint8Array(32), seededRandom('same'));
    expect(toHex(s1.ciphertext)).toBe(toHex(s2.ciphertext));
    expect(toHex(s1.enc)).toBe(toHex(s2.enc));
  });

  it('every single-bit change of a signed message is rejected with one of our errors', () => {
    for (const bytes of validMessages) {
      for (let bit = 0; bit < bytes.length * 8; bit++) {
        const f = bytes.slice();
        f[bit >> 3]! ^= 1 << (bit & 7);
        let rejected = false;
        try {
          checkAuthentic(session, decodeDkgMessage(f));
        } catch (e) {
          if (!isOvertError(e)) throw e;
          rejected = true;
        }
        expect(rejected).toBe(true);
      }
    }
  });
});

describe('fuzz: decoders and receive functions only ever throw our errors', () => {
  const mutate = (base: Uint8Array) =>
    fc.oneof(
      fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 1, max: 255 })).map(([at, x]) => {
        const b = base.slice();
        b[at]! ^= x;
        return b;
      }),
      fc.nat(base.length).map((n) => base.slice(0, n)),
      fc.uint8Array({ minLength: 1, maxLength: 40 }).map((extra) => concatBytes(base, extra)),
      fc
        .tuple(fc.nat(base.length), fc.uint8Array({ maxLength: 40 }))
        .map(([at, ins]) => concatBytes(base.slice(0, at), ins, base.slice(at))),
    );

  it('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        onlyOurErrors(() => decodeDkgMessage(b));
        onlyOurErrors(() => decodeDkgSession(b));
        onlyOurErrors(() => verifyTranscript(b));
        // Structured prefixes get past the version and type bytes.
        for (const type of [1, 2, 3, 4])
          onlyOurErrors(() => decodeDkgMessage(concatBytes(Uint8Array.of(1, type), b)));
        onlyOurErrors(() => decodeDkgSession(concatBytes(Uint8Array.of(1, 1 + (b[0]! & 1)), b)));
      }),
      { numRuns: 800 },
    );
  });

  it('mutations of valid messages, sessions and transcripts', () => {
    for (const base of validMessages) {
      fc.assert(
        fc.property(mutate(base), (b) => {
          onlyOurErrors(() => checkAuthentic(session, decodeDkgMessage(b)));
        }),
        { numRuns: 200 },
      );
    }
    fc.assert(
      fc.property(mutate(session.bytes), (b) => onlyOurErrors(() => decodeDkgSession(b))),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(mutate(validTranscript), (b) => onlyOurErrors(() => verifyTranscript(b))),
      { numRuns: 100 },
    );
  });

  it("a participant's receive functions, in every phase", async () => {
    const small = await makeTrustees(3, 'fuzz-participant');
    const s = createDkgSession({
      org: 'o',
      epoch: 1,
      attempt: 0,
      threshold: 2,
      participants: small.map((t) => ({
        index: t.index,
        signingKey: t.signingKey.publicKey,
        encryptionKey: t.encryption.publicKey,
      })),
    });
    const ps: DkgParticipant[] = dkgParticipants(s, small, 'fuzz-participant');
    const inputs = fc.sample(
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        ...validMessages.map(mutate),
        mutate(ps[1]!.round1Message!),
      ),
      { numRuns: 150, seed: 1 },
    );
    const p = ps[0]!;
    for (const b of inputs) onlyOurErrors(() => p.receiveRound1(b));
    p.receiveRound1(ps[1]!.round1Message!);
    p.receiveRound1(ps[2]!.round1Message!);
    const shares = await ps[1]!.endRound1();
    await p.endRound1();
    const shareTo1 = shares.find((x) => x.recipient === 1)!.bytes;
    const shareInputs = fc.sample(mutate(shareTo1), { numRuns: 60, seed: 2 });
    for (const b of [...inputs.slice(0, 40), ...shareInputs])
      await onlyOurErrorsAsync(() => p.receiveShare(b));
    p.endShares();
    for (const b of inputs) onlyOurErrors(() => p.receiveComplaint(b));
    p.endComplaints();
    for (const b of inputs) onlyOurErrors(() => p.receiveJustification(b));
    // Whatever it was fed, it still finishes (or refuses) with our own error.
    onlyOurErrors(() => p.finish());
    expect(equalBytes(p.session.id, s.id)).toBe(true);
  });
});
