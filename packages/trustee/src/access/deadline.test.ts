// The trustee's after-release half (docs/spec/after-release.md §1–§3) over its own verified view: the deadline
// watcher publishes the unseal after seal-until in force + grace when the view has none (TRU-U1) — recorded
// before it is posted, re-posted until the relay takes it, left alone once the relay says another is logged —
// and raises `seal-overdue` once per request (OVD-1); logged extensions move the date, forged ones do not; the
// extension review checks a proposal against the view before signing it, and a denial signs nothing.

import {
  encodeExtension,
  encodeExtensionStatement,
  extensionStatementFor,
  policyEntry,
  sealConfidential,
  signExtensionStatement,
  signUnseal,
  TAG_EXTENSION_SIGNATURE,
  toBase64Url,
  unsealFor,
  verifyBody,
  verifyRequest,
  verifyUnseal,
} from '@overt/core';
import { describe, expect, it } from 'vitest';
import {
  DAY,
  logKeys,
  makeOrg,
  ORIGIN,
  opening,
  orgKey,
  relayKey,
  requestEntry,
  SEND_TIME,
  signedRequest,
  TestRelay,
  trusteeKeys,
  View,
  vaultOf,
} from '../../test/access-fixtures.js';
import { Deadlines, SEAL_OVERDUE_ALERT } from './deadline.js';
import { AccessTracker } from './state.js';
import { AccessStore } from './store.js';

const GRACE = 60_000;
const SEAL = SEND_TIME + 100 * DAY;

async function setup(o: { sealFor?: number } = {}) {
  const org = await makeOrg();
  const view = new View();
  view.append(policyEntry(org.policy.signed));
  const signed = signedRequest(org);
  const req = verifyRequest(signed, org.policy);
  view.append(requestEntry(signed));
  const store = new AccessStore(':memory:');
  const tracker = new AccessTracker(store, { orgKey: orgKey.publicKey, log: { origin: ORIGIN, logKeys } });
  const feed = () => {
    for (let i = tracker.nextIndex; i < view.entries.length; i++) tracker.onEntry(i, view.entries[i]!);
  };
  feed();
  const relay = new TestRelay(
    org,
    () => req,
    () => new Uint8Array(0),
    () => view.entries,
  );
  const to = o.sealFor ?? 1;
  relay.sealed.set(
    Buffer.from(req.request.requestId).toString('hex'),
    await sealConfidential(org.hpke[to - 1]!.publicKey, to, req, opening()),
  );
  const vault = vaultOf(org, 1);
  const clock = { now: SEAL };
  const deadlines = new Deadlines({
    vault,
    tracker,
    store,
    relay,
    relayKey: relayKey.publicKey,
    clock: () => clock.now,
    unsealGraceMs: GRACE,
  });
  const overdue = () => vault.alerts().filter((a) => a.kind === SEAL_OVERDUE_ALERT);
  return { org, view, req, store, tracker, relay, vault, clock, deadlines, feed, overdue };
}

describe('the deadline watcher (TRU-U1, OVD-1)', () => {
  it('publishes after seal-until + grace, recorded before posting, re-posted until taken; once on the view, done', async () => {
    const s = await setup();
    s.clock.now = SEAL + GRACE;
    expect((await s.deadlines.tick()).size).toBe(0);
    expect(s.relay.unseals).toHaveLength(0);
    s.clock.now = SEAL + GRACE + 1;
    // The relay is down: the unseal is recorded (signed once) and the pass reports an error; the seal is overdue.
    const post = s.relay.submitUnseal.bind(s.relay);
    s.relay.submitUnseal = async () => {
      throw new Error('relay unreachable');
    };
    const [first] = [...(await s.deadlines.tick()).values()];
    expect(first).toMatchObject({ status: 'error' });
    const recorded = s.store.unseal(s.req.request.requestId);
    expect(recorded?.state).toBe('recorded');
    expect(s.overdue()).toHaveLength(1);
    expect(s.overdue()[0]!.detail).toContain(toBase64Url(s.req.request.requestId));
    // Back up: the same bytes are posted; they verify as trustee 1's unseal of the request.
    s.relay.submitUnseal = post;
    s.clock.now += 5_000;
    const [second] = [...(await s.deadlines.tick()).values()];
    expect(second).toMatchObject({ status: 'unsealed' });
    expect(s.relay.unseals).toHaveLength(1);
    expect(Buffer.from(s.relay.unseals[0]!).equals(Buffer.from(recorded!.signed))).toBe(true);
    const u = verifyUnseal(s.relay.unseals[0]!, s.org.policy, s.req, relayKey.publicKey);
    expect(u.unseal).toMatchObject({ publisher: 1, unsealedAt: SEAL + GRACE + 1 });
    expect(u.unseal.opening.confidential).toEqual(opening().confidential);
    expect(s.store.unseal(s.req.request.requestId)?.state).toBe('posted');
    // On the view: nothing more is done, and the alert stays one.
    s.view.append(Uint8Array.of(10, ...s.relay.unseals[0]!));
    s.feed();
    expect((await s.deadlines.tick()).size).toBe(0);
    expect(s.relay.unseals).toHaveLength(1);
    expect(s.overdue()).toHaveLength(1);
  });

  it("the relay's own unseal on the view ends it; a forged unseal does not (OVD-1 still raised)", async () => {
    const s = await setup();
    s.view.append(
      Uint8Array.of(10, ...signUnseal(unsealFor(s.req, opening(), 0, SEAL + 10), trusteeKeys[1]!)),
    );
    s.feed();
    s.clock.now = SEAL + GRACE + 1;
    s.relay.unsealExists = true;
    const out = [...(await s.deadlines.tick()).values()];
    expect(out).toEqual([{ status: 'exists' }]);
    expect(s.store.unseal(s.req.request.requestId)?.state).toBe('exists');
    // Within a further grace the relay's word is taken; past it, with still none on the view, the seal is overdue.
    expect(s.overdue()).toHaveLength(0);
    s.clock.now = SEAL + 2 * GRACE + 1;
    await s.deadlines.tick();
    expect(s.relay.unseals).toHaveLength(0);
    expect(s.overdue()).toHaveLength(1);
    s.view.append(Uint8Array.of(10, ...signUnseal(unsealFor(s.req, opening(), 0, SEAL + 10), relayKey)));
    s.feed();
    expect((await s.deadlines.tick()).size).toBe(0);
    expect(s.overdue()).toHaveLength(1);
  });

  it('a part this trustee cannot open: nothing published, the seal flagged overdue once', async () => {
    const s = await setup({ sealFor: 2 });
    s.clock.now = SEAL + GRACE + 1;
    expect([...(await s.deadlines.tick()).values()]).toEqual([{ status: 'unreadable' }]);
    s.clock.now += 10_000;
    await s.deadlines.tick();
    expect(s.relay.unseals).toHaveLength(0);
    expect(s.store.unseal(s.req.request.requestId)).toBeUndefined();
    expect(s.overdue()).toHaveLength(1);
  });

  it('a logged extension signed by k trustees moves the date; one signed by fewer is ignored', async () => {
    const s = await setup();
    const st = extensionStatementFor(s.req, undefined, SEAL + 10 * DAY, SEAL - DAY);
    const sig = (i: number) => signExtensionStatement(st, i, trusteeKeys[i - 1]!);
    s.view.append(Uint8Array.of(9, ...encodeExtension({ statement: st, signatures: [sig(1)] })));
    s.feed();
    s.clock.now = SEAL + GRACE + 1;
    s.relay.unsealExists = true;
    expect((await s.deadlines.tick()).size).toBe(1);
    const t = await setup();
    t.view.append(Uint8Array.of(9, ...encodeExtension({ statement: st, signatures: [sig(1), sig(3)] })));
    t.feed();
    t.clock.now = SEAL + GRACE + 1;
    expect((await t.deadlines.tick()).size).toBe(0);
    t.clock.now = SEAL + 10 * DAY + GRACE + 1;
    expect((await t.deadlines.tick()).size).toBe(1);
  });
});

describe('the extension review (after-release.md §2)', () => {
  function propose(
    s: Awaited<ReturnType<typeof setup>>,
    newSealUntil: number,
    issuedAt = SEAL - DAY,
    number = 1,
  ) {
    const st = { ...extensionStatementFor(s.req, undefined, newSealUntil, issuedAt), number };
    s.relay.extensions = [
      {
        seq: 1,
        requestId: s.req.request.requestId,
        number,
        statement: encodeExtensionStatement(st),
        reason: 'the inquiry continues',
        signers: [],
        index: null,
      },
    ];
    return st;
  }

  it('lists an open proposal checked against the view; approving signs the stored statement', async () => {
    const s = await setup();
    s.clock.now = SEAL - DAY;
    const st = propose(s, SEAL + 30 * DAY);
    const [item] = await s.deadlines.listExtensions();
    expect(item).toMatchObject({
      requestId: toBase64Url(s.req.request.requestId),
      number: 1,
      oldSealUntil: SEAL,
      newSealUntil: SEAL + 30 * DAY,
      valid: true,
    });
    const r = await s.deadlines.decideExtension(s.req.request.requestId, 1, true);
    expect(r).toMatchObject({ verdict: 'approve', signers: 1 });
    const g = s.relay.extensionSignatures[0]!;
    expect(
      verifyBody(TAG_EXTENSION_SIGNATURE, trusteeKeys[0]!.publicKey, {
        body: encodeExtensionStatement(st),
        signature: g.signature,
      }),
    ).toBe(true);
    expect((await s.deadlines.listExtensions())[0]!.decision).toBe('approve');
    await expect(s.deadlines.decideExtension(s.req.request.requestId, 1, false)).rejects.toMatchObject({
      code: 'ACCESS_CONFLICT',
      check: 'ACC-V3',
    });
  });

  it('a denial signs nothing; a statement out of chain, over the limits or past the deadline is refused', async () => {
    const s = await setup();
    s.clock.now = SEAL - DAY;
    propose(s, SEAL + 30 * DAY);
    expect(
      await s.deadlines.decideExtension(s.req.request.requestId, 1, false, 'no new facts'),
    ).toMatchObject({
      verdict: 'deny',
    });
    expect(s.relay.extensionSignatures).toHaveLength(0);
    const cases: [(t: Awaited<ReturnType<typeof setup>>) => void, string][] = [
      [(t) => propose(t, SEAL + 30 * DAY, SEAL - DAY, 2), 'WF-X2'],
      [(t) => propose(t, SEAL + 181 * DAY), 'WF-X5'],
      [(t) => propose(t, SEAL + DAY, SEAL + 1), 'WF-X6'],
    ];
    for (const [make, check] of cases) {
      const t = await setup();
      t.clock.now = SEAL - DAY;
      make(t);
      expect((await t.deadlines.listExtensions())[0]).toMatchObject({ valid: false, invalid: check });
      const n = t.relay.extensions[0]!.number;
      await expect(t.deadlines.decideExtension(t.req.request.requestId, n, true)).rejects.toMatchObject({
        code: 'ACCESS_CONFLICT',
        check,
      });
      expect(t.relay.extensionSignatures).toHaveLength(0);
    }
    // Past the deadline on the trustee's clock.
    const late = await setup();
    propose(late, SEAL + DAY);
    late.clock.now = SEAL + 1;
    await expect(late.deadlines.decideExtension(late.req.request.requestId, 1, true)).rejects.toMatchObject({
      check: 'WF-X6',
    });
  });
});
