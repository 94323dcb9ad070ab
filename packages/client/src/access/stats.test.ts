// Public statistics (docs/spec/after-release.md §5, STAT-1) over a scripted history on a real tiled log
// (test/access-history.ts): every number below is worked out by hand from the script, and the entries that must not
// count (wrong keys, broken chains, second executions and unseals, a request under a superseded policy) are
// counted as invalid only.
import { concatBytes, toBase64, toBase64Url } from '@overt/core';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { orgKey } from '../../../core/test/workflow-fixtures.js';
import { relayKey } from '../../test/access-case.js';
import {
  buildScriptedHistory,
  DAY,
  DEC,
  JAN,
  logViewOf,
  NOW,
  type ScriptedHistory,
} from '../../test/access-history.js';
import { ClientError } from '../errors.js';
import { readAccessLog } from './access-log.js';
import { computeAccessStats, utcMonth } from './stats.js';

const anchors = { orgKey: orgKey.publicKey, relayKey: relayKey.publicKey };
let h: ScriptedHistory;
beforeAll(() => {
  h = buildScriptedHistory();
});

describe('computeAccessStats (after-release.md §5, STAT-1)', () => {
  it('counts every number of the scripted history, by hand', () => {
    const view = logViewOf(h.log);
    const s = computeAccessStats(view, anchors, NOW);
    expect(s.checkpoint).toEqual({
      origin: view.checkpoint.origin,
      size: h.log.size,
      rootHash: toBase64(view.checkpoint.rootHash),
    });
    expect(s.now).toBe(NOW);
    expect(s.totals).toEqual({
      requests: 4, // A, B, C, G (D bad signature, E unknown policy, F under the superseded policy)
      approvals: 4, // A: 1, 2; C: 1, 3 (the repeat and the wrong-key approval do not count)
      denials: 3, // A: 3; B: 1, 2
      executions: 2, // A (its second execution does not count), C (B's, citing denials, does not verify)
      envelopesSelected: 8, // 5 + 3
      envelopesReleased: 7, // A: 2nd largest of {5, 4} = 4; C: {3, 3} = 3
      releases: 4, // A: 1, 2; C: 1, 3 (trustee 3 on A, and any release for A's second execution, do not count)
      refusals: 4, // A: trustee 2 twice; B: REL-2; D's REL-1 (a request entry that did not verify)
      refusedEnvelopes: 1, // A's label 2, refused twice
      extensions: 1, // A's first link (B's by one trustee and A's off-chain "second" do not count)
      unseals: 1, // C by the relay (B's wrong opening and C's second unseal do not count)
      shreds: 3, // epoch 11: trustees 1, 2; epoch 12: trustee 3 (a repeat pair and a wrong key do not count)
      invalid: 16,
      repeats: 2, // request A, trustee 2's approval of A
    });
    expect(s.byRequester).toEqual({
      'internal-investigations': {
        requests: 2,
        approvals: 4,
        denials: 1,
        executions: 2,
        envelopesReleased: 7,
        refusals: 2,
      },
      'police-unit-7': {
        requests: 2,
        approvals: 0,
        denials: 2,
        executions: 0,
        envelopesReleased: 0,
        refusals: 1,
      },
    });
    expect(Object.keys(s.byMonth)).toEqual(['2026-12', '2027-01']);
    expect(s.byMonth['2026-12']).toEqual({
      requests: 2,
      approvals: 2,
      denials: 3,
      executions: 1,
      envelopesReleased: 4,
      refusals: 4,
      extensions: 1,
      unseals: 0,
    });
    expect(s.byMonth['2027-01']).toEqual({
      requests: 2,
      approvals: 2,
      denials: 0,
      executions: 1,
      envelopesReleased: 3,
      refusals: 0,
      extensions: 0,
      unseals: 1,
    });
    const id = (r: keyof ScriptedHistory['requests']) => toBase64Url(h.requests[r].request.requestId);
    expect(s.seals).toEqual({
      sealed: 3,
      due: [
        { requestId: id('A'), sealUntil: Date.UTC(2027, 2, 1) }, // Dec 31 + the 60-day extension
        { requestId: id('G'), sealUntil: JAN + 105 * DAY },
      ],
      overdue: [{ requestId: id('B'), sealUntil: DEC + 11 * DAY, overdueMs: NOW - (DEC + 11 * DAY) }],
      unsealed: 1,
    });
    expect(s.epochs).toEqual([
      { epoch: 11, shreddedBy: [1, 2], shredded: true },
      { epoch: 12, shreddedBy: [3], shredded: false },
    ]);
  });

  it('is deterministic: the same checkpoint gives byte-identical JSON; the clock moves only now, due and overdue', () => {
    const a = JSON.stringify(computeAccessStats(logViewOf(h.log), anchors, NOW));
    const b = JSON.stringify(computeAccessStats(logViewOf(h.log), anchors, NOW));
    expect(a).toBe(b);
    // Before B's seal ran out, nothing is overdue; after A's extended seal, A is overdue too.
    const early = computeAccessStats(logViewOf(h.log), anchors, DEC + 11 * DAY);
    expect(early.seals.overdue).toEqual([]);
    expect(early.seals.due.map((d) => d.sealUntil)).toEqual([
      DEC + 11 * DAY,
      Date.UTC(2027, 2, 1),
      JAN + 105 * DAY,
    ]);
    const late = computeAccessStats(logViewOf(h.log), anchors, Date.UTC(2027, 2, 2));
    expect(late.seals.overdue.map((o) => o.requestId)).toEqual(
      ['A', 'B'].map((r) => toBase64Url(h.requests[r as 'A' | 'B'].request.requestId)),
    );
    const strip = (j: string) => {
      const o = JSON.parse(j);
      o.now = 0;
      o.seals.due = [];
      o.seals.overdue = [];
      return JSON.stringify(o);
    };
    expect(strip(JSON.stringify(early))).toBe(strip(a));
    expect(strip(JSON.stringify(late))).toBe(strip(a));
  });

  it('counts nothing with another org key or relay key: policies and executions do not verify', () => {
    const view = logViewOf(h.log);
    const noOrg = computeAccessStats(view, { ...anchors, orgKey: relayKey.publicKey }, NOW);
    expect(noOrg.totals.requests).toBe(0);
    const access = view.entries.filter((e) => e[0]! >= 5 && e[0]! <= 12).length;
    expect(noOrg.totals.repeats).toBe(2);
    expect(noOrg.totals.invalid).toBe(access - 2);
    expect(noOrg.seals).toEqual({ sealed: 0, due: [], overdue: [], unsealed: 0 });
    const noRelay = computeAccessStats(view, { ...anchors, relayKey: orgKey.publicKey }, NOW);
    // The relay's unseal of C no longer verifies; trustee 1's, logged after it, is then C's unseal.
    expect(noRelay.totals).toMatchObject({ requests: 4, executions: 0, releases: 0, unseals: 1 });
    expect(noRelay.byMonth['2027-01']!.unseals).toBe(1);
  });

  it('refuses a view whose entries are not its checkpoint’s tree (STAT-1)', () => {
    const view = logViewOf(h.log);
    const changed = view.entries.map((e, i) => (i === 3 ? concatBytes(e, Uint8Array.of(0)) : e));
    for (const entries of [changed, view.entries.slice(1)]) {
      let err: unknown;
      try {
        computeAccessStats({ checkpoint: view.checkpoint, entries }, anchors, NOW);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ClientError);
      expect((err as ClientError).check).toBe('STAT-1');
    }
  });

  it('names UTC months, and a time beyond the calendar gets no month', () => {
    expect(utcMonth(Date.UTC(2026, 11, 31, 23, 59, 59, 999))).toBe('2026-12');
    expect(utcMonth(Date.UTC(2027, 0, 1))).toBe('2027-01');
    expect(utcMonth(0)).toBe('1970-01');
    expect(utcMonth(2 ** 53 - 1)).toBe('out-of-range');
  });

  it('fuzz: mutated, truncated and random access entries count as invalid, never crash the reader', () => {
    const entries = logViewOf(h.log).entries;
    fc.assert(
      fc.property(
        fc.nat({ max: entries.length - 1 }),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.integer({ min: 5, max: 12 }),
        (at, pos, bit, random, type) => {
          const e = entries[at]!;
          const flipped = e.slice();
          flipped[pos % e.length]! ^= 1 << bit;
          const mutated = [
            flipped,
            e.subarray(0, pos % e.length),
            Uint8Array.of(type, ...random),
            Uint8Array.of(type, ...e.subarray(1, 1 + (pos % e.length))),
          ];
          const log = readAccessLog([...entries.slice(0, at + 1), ...mutated], anchors);
          // The original history still counts the same up to `at`; nothing the mutations add is taken twice.
          expect(log.cases.length).toBeLessThanOrEqual(5);
        },
      ),
      { numRuns: 300 },
    );
  });
});
