// Property tests over random sessions and random adversaries (docs/spec/dkg.md §6, §9): for any (k, n), any set
// of at most k − 1 corrupt dealers, and any mix of dropped shares, wrong shares, unanswered complaints, wrong
// justifications and false complaints, the honest participants agree on one transcript; it verifies; and either
// the honest shares are a consistent (k, n) sharing of a key whose QUAL excludes every dealer that lost a complaint,
// or the session ends with DKG_TOO_FEW_QUALIFIED for all of them.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkSharing,
  dkgParticipants,
  dkgSessionFor,
  makeTrustees,
  seededRandom,
} from '../../test/gen-dkg-vectors.js';
import { toHex } from '../bytes.js';
import { OvertError } from '../errors.js';
import { group, scalarFromInt } from '../group.js';
import { runDkgLocally } from './local.js';
import { buildComplaint, buildJustification, buildShare } from './messages.js';
import type { DkgOutput } from './participant.js';
import { verifyTranscript } from './transcript.js';

type Behaviour =
  | 'drop-share'
  | 'wrong-share'
  | 'wrong-share-answered'
  | 'silent-justification'
  | 'false-complaint';

const scenario = fc
  .integer({ min: 3, max: 5 })
  .chain((n) => fc.record({ n: fc.constant(n), k: fc.integer({ min: 2, max: n }) }))
  .chain(({ n, k }) =>
    fc.record({
      n: fc.constant(n),
      k: fc.constant(k),
      corrupt: fc.uniqueArray(fc.integer({ min: 1, max: n }), { minLength: 1, maxLength: k - 1 }),
      behaviours: fc.array(
        fc.constantFrom<Behaviour>(
          'drop-share',
          'wrong-share',
          'wrong-share-answered',
          'silent-justification',
          'false-complaint',
        ),
        { minLength: n, maxLength: n },
      ),
      victims: fc.array(fc.integer({ min: 1, max: n }), { minLength: n, maxLength: n }),
      seed: fc.nat(),
    }),
  );

describe('random adversaries', () => {
  it('honest participants always agree, and the result is a consistent sharing or DKG_TOO_FEW_QUALIFIED', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ n, k, corrupt, behaviours, victims, seed }) => {
        const trustees = await makeTrustees(n, `adversary-${n}`);
        const session = dkgSessionFor(trustees, k, seed);
        const participants = dkgParticipants(session, trustees, `adversary-${seed}`);
        const bad = new Set(corrupt);
        const rng = seededRandom(`adversary-${seed}/cheat`);
        const behaviourOf = (i: number) => (bad.has(i) ? behaviours[i - 1]! : undefined);
        // A victim that is the cheater itself would be no attack; pick the next index instead.
        const victimOf = (i: number) => (victims[i - 1] === i ? (i % n) + 1 : victims[i - 1]!);
        const run = await runDkgLocally(participants, {
          intercept: async (m) => {
            const i = m.from.dealerIndex!;
            const b = behaviourOf(i);
            if (!b || m.phase === 'round1' || m.phase === 'complaint') return m.bytes;
            if (m.phase === 'share' && m.recipient === victimOf(i)) {
              if (b === 'drop-share') return null;
              if (b === 'wrong-share' || b === 'wrong-share-answered')
                return buildShare(
                  session,
                  i,
                  trustees[i - 1]!.signingKey,
                  m.recipient,
                  scalarFromInt(1),
                  rng,
                );
            }
            if (m.phase === 'justification') {
              if (b === 'silent-justification' || b === 'drop-share') return null;
              if (b === 'wrong-share') {
                return buildJustification(session, i, trustees[i - 1]!.signingKey, [
                  { complainer: victimOf(i), share: scalarFromInt(1) },
                ]);
              }
            }
            return m.bytes;
          },
          inject: (phase) =>
            phase === 'complaint'
              ? corrupt
                  .filter((i) => behaviourOf(i) === 'false-complaint')
                  .map((i) =>
                    buildComplaint(session, i, trustees[i - 1]!.signingKey, [
                      { accused: victimOf(i), reason: 'invalid-share' },
                    ]),
                  )
              : [],
        });
        const honest = run.outputs.filter((_, idx) => !bad.has(idx + 1));
        const failures = honest.filter((o) => o instanceof OvertError);
        if (failures.length > 0) {
          // Everyone honest fails alike, and only for the reason the rules allow.
          expect(failures.length).toBe(honest.length);
          for (const f of failures) expect(f).toMatchObject({ code: 'DKG_TOO_FEW_QUALIFIED' });
          return;
        }
        const outs = honest as DkgOutput[];
        const first = outs[0]!;
        for (const o of outs) expect(toHex(o.transcript)).toBe(toHex(first.transcript));
        const v = verifyTranscript(first.transcript);
        expect(v.qualified).toEqual(first.qualified);
        expect(toHex(v.publicKey.groupKey)).toBe(toHex(first.publicKey.groupKey));
        // Honest dealers always qualify; cheaters that lost a complaint never do.
        for (let i = 1; i <= n; i++) if (!bad.has(i)) expect(first.qualified).toContain(i);
        for (const i of corrupt) {
          const b = behaviourOf(i)!;
          if (b === 'drop-share' || b === 'wrong-share') expect(first.qualified).not.toContain(i);
          if (b === 'wrong-share-answered' || b === 'false-complaint') expect(first.qualified).toContain(i);
        }
        const shares = outs.map((o) => o.keyShare!);
        if (shares.length >= k) checkSharing(first.publicKey, shares);
        for (const x of shares) {
          expect(toHex(group.baseMul(x.secret))).toBe(toHex(first.publicKey.verificationKeys[x.index - 1]!));
        }
      }),
      { numRuns: 12, seed: 20240601 },
    );
  });
});
