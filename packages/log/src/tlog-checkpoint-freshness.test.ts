// docs/spec/log.md §4.1 (DESIGN A16): a view of the log is as fresh as the quorum-th newest valid witness
// cosignature timestamp. Boundaries of the age and of the future skew, the choice of the quorum-th newest, a
// quorum of 0 refused, and properties against a brute-force reading of the rule.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { signCheckpoint, type VerifiedCheckpoint, verifyCheckpoint } from './checkpoint.js';
import { cosign, makeWitnessPolicy } from './cosignature.js';
import { LogError } from './errors.js';
import {
  checkpointFreshness,
  DEFAULT_MAX_FUTURE_SECONDS,
  quorumTimestamp,
  requireFresh,
} from './freshness.js';
import { merkleTreeHash } from './merkle.js';
import {
  addSignatures,
  formatNote,
  parseNote,
  SIGNATURE_TYPE_COSIGNATURE,
  SIGNATURE_TYPE_ED25519,
  signerKeyFromSeed,
  verifierKeyOf,
} from './note.js';

const ORIGIN = 'log.example/fresh';
const logKey = signerKeyFromSeed(ORIGIN, SIGNATURE_TYPE_ED25519, new Uint8Array(32).fill(9));
const w = [1, 2, 3].map((i) =>
  signerKeyFromSeed(`witness${i}.example`, SIGNATURE_TYPE_COSIGNATURE, new Uint8Array(32).fill(60 + i)),
);
const NOW = 1_750_000_000;

/** A checkpoint cosigned by witness i at `stamps[i]` (undefined: not cosigned by it), verified with quorum 0. */
function checkpoint(stamps: readonly (number | undefined)[]): VerifiedCheckpoint {
  const note = parseNote(
    signCheckpoint(
      {
        origin: ORIGIN,
        size: 2,
        rootHash: merkleTreeHash([new Uint8Array([1]), new Uint8Array([2])]),
        extensions: [],
      },
      logKey,
    ),
  );
  const sigs = stamps.flatMap((t, i) => (t === undefined ? [] : [cosign(note.text, w[i]!, t)]));
  return verifyCheckpoint(formatNote(addSignatures(note, sigs)), {
    origin: ORIGIN,
    logKeys: [verifierKeyOf(logKey)],
    witnesses: makeWitnessPolicy(w.map(verifierKeyOf), 0),
  });
}

function failure(f: () => unknown): { code: string; check: string | undefined } | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    if (!(e instanceof LogError)) throw e;
    return { code: e.code, check: e.check };
  }
}

describe('checkpoint freshness (FRESH-1, FRESH-2)', () => {
  it('fresh at exactly the maximum age, stale one second later', () => {
    const cp = checkpoint([NOW - 300, NOW - 300, NOW - 300]);
    expect(checkpointFreshness(cp, 2, NOW, { maxAgeSeconds: 300 })).toEqual({
      fresh: true,
      timestamp: NOW - 300,
      ageSeconds: 300,
      future: 0,
    });
    expect(checkpointFreshness(cp, 2, NOW + 1, { maxAgeSeconds: 300 }).fresh).toBe(false);
    expect(failure(() => requireFresh(cp, 2, NOW + 1, { maxAgeSeconds: 300 }))).toEqual({
      code: 'CHECKPOINT_STALE',
      check: 'FRESH-1',
    });
    expect(requireFresh(cp, 2, NOW, { maxAgeSeconds: 300 }).ageSeconds).toBe(300);
  });

  it('the quorum-th newest timestamp counts: one fresh witness cannot vouch for an old view alone', () => {
    const cp = checkpoint([NOW, NOW - 1000, NOW - 400]);
    expect(checkpointFreshness(cp, 1, NOW, { maxAgeSeconds: 300 })).toMatchObject({
      fresh: true,
      timestamp: NOW,
    });
    expect(checkpointFreshness(cp, 2, NOW, { maxAgeSeconds: 300 })).toMatchObject({
      fresh: false,
      timestamp: NOW - 400,
      ageSeconds: 400,
    });
    expect(checkpointFreshness(cp, 3, NOW, { maxAgeSeconds: 1000 })).toMatchObject({
      fresh: true,
      timestamp: NOW - 1000,
    });
  });

  it('fewer valid cosignatures than the quorum is never fresh', () => {
    const cp = checkpoint([NOW, undefined, undefined]);
    expect(checkpointFreshness(cp, 2, NOW, { maxAgeSeconds: 300 })).toEqual({
      fresh: false,
      timestamp: undefined,
      ageSeconds: undefined,
      future: 0,
    });
    expect(failure(() => requireFresh(cp, 2, NOW, { maxAgeSeconds: 300 }))?.code).toBe('CHECKPOINT_STALE');
  });

  it('a timestamp up to the skew ahead counts (age 0); one second further it is ignored', () => {
    const skew = DEFAULT_MAX_FUTURE_SECONDS;
    expect(checkpointFreshness(checkpoint([NOW + skew, NOW]), 2, NOW, { maxAgeSeconds: 0 })).toMatchObject({
      fresh: true,
      timestamp: NOW,
      future: 0,
    });
    // The future one does not count, so witness 2 alone cannot make the quorum of 2.
    const ahead = checkpoint([NOW + skew + 1, NOW]);
    expect(checkpointFreshness(ahead, 2, NOW, { maxAgeSeconds: 300 })).toEqual({
      fresh: false,
      timestamp: undefined,
      ageSeconds: undefined,
      future: 1,
    });
    // Nor can it stand in for an old one: the quorum-th newest valid timestamp is the old one.
    expect(
      checkpointFreshness(checkpoint([NOW + 3600, NOW - 10, NOW - 900]), 2, NOW, { maxAgeSeconds: 300 }),
    ).toMatchObject({ fresh: false, timestamp: NOW - 900, future: 1 });
    expect(
      checkpointFreshness(checkpoint([NOW + 10, NOW]), 2, NOW, { maxAgeSeconds: 0, maxFutureSeconds: 5 }),
    ).toMatchObject({ fresh: false, future: 1 });
  });

  it('a quorum of 0 (or malformed options) is refused: without witnesses nothing vouches for the time', () => {
    const cp = checkpoint([NOW, NOW, NOW]);
    for (const f of [
      () => checkpointFreshness(cp, 0, NOW, { maxAgeSeconds: 300 }),
      () => checkpointFreshness(cp, 1.5, NOW, { maxAgeSeconds: 300 }),
      () => checkpointFreshness(cp, 1, NOW, { maxAgeSeconds: -1 }),
      () => checkpointFreshness(cp, 1, Number.NaN, { maxAgeSeconds: 300 }),
      () => checkpointFreshness(cp, 1, NOW, { maxAgeSeconds: 300, maxFutureSeconds: -1 }),
      () => quorumTimestamp([NOW], 0, NOW),
    ])
      expect(failure(f)).toEqual({ code: 'COSIG_POLICY', check: 'FRESH-2' });
  });

  it('property: the quorum timestamp is the quorum-th largest of the timestamps not beyond the skew', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 2 * NOW }), { maxLength: 8 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 0, max: 2 * NOW }),
        fc.integer({ min: 0, max: 600 }),
        (stamps, quorum, now, skew) => {
          const valid = stamps.filter((t) => t - now <= skew);
          const got = quorumTimestamp(stamps, quorum, now, skew);
          if (valid.length < quorum) return got === undefined;
          // Exactly quorum−1 valid timestamps are strictly larger, or ties make up the difference.
          return (
            got !== undefined &&
            valid.filter((t) => t > got).length < quorum &&
            valid.filter((t) => t >= got).length >= quorum
          );
        },
      ),
    );
  });

  it('property: fresh stays fresh with a larger maximum age; stale stays stale later unless a future stamp comes into range', () => {
    fc.assert(
      fc.property(
        fc.tuple(
          fc.option(fc.integer({ min: NOW - 2000, max: NOW + 200 }), { nil: undefined }),
          fc.option(fc.integer({ min: NOW - 2000, max: NOW + 200 }), { nil: undefined }),
          fc.option(fc.integer({ min: NOW - 2000, max: NOW + 200 }), { nil: undefined }),
        ),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 0, max: 100 }),
        (stamps, quorum, maxAge, later) => {
          const cp = checkpoint(stamps);
          const f = checkpointFreshness(cp, quorum, NOW, { maxAgeSeconds: maxAge });
          if (f.fresh && !checkpointFreshness(cp, quorum, NOW, { maxAgeSeconds: maxAge + 1 }).fresh)
            return false;
          // Later, with no timestamp ahead of now to come into range, a stale view only gets older.
          if (!f.fresh && stamps.every((t) => t === undefined || t <= NOW))
            return !checkpointFreshness(cp, quorum, NOW + later, { maxAgeSeconds: maxAge }).fresh;
          return true;
        },
      ),
      { numRuns: 200 },
    );
  });
});
