// Standing orders at the trustee (docs/spec/after-release.md §8.3): the release rule on a batch execution of an order
// (execution body version 2), with ORD-S1 judged under the recorded group of the policy in force at the batch's log
// position — over real core objects, a real tiled log with cosigning witnesses, and the in-memory relay of the
// access fixtures. A user taken out of the group by a policy logged before the batch has nothing released.
import {
  batchExecutionFor,
  decodeRefusal,
  policyEntry,
  signExecution,
  signPolicy,
  verifyDecision,
  verifyPolicy,
  verifyRequest,
} from '@overt/core';
import { describe, expect, it } from 'vitest';
import {
  DAY,
  decision,
  decisionEntry,
  deviceAdded,
  devices,
  epochEntry,
  executionEntry,
  logKeys,
  makeOrg,
  ORIGIN,
  orgKey,
  relayKey,
  requestEntry,
  SEND_TIME,
  seal,
  signedRequest,
  TestRelay,
  View,
  vaultOf,
  witnessSigners,
} from '../../test/access-fixtures.js';
import { ReleaseRule, watchReleases } from './release.js';
import { AccessTracker } from './state.js';
import { AccessStore } from './store.js';

async function orderScenario(leaveBeforeBatch: boolean) {
  const org = await makeOrg({ version: 2, recorded: ['alice@example.org'], maxOrderMs: 92 * DAY });
  const view = new View(witnessSigners);
  view.append(
    policyEntry(org.policy.signed),
    epochEntry(org),
    deviceAdded(devices.alice),
    deviceAdded(devices.bob),
  );
  const sealed = [await seal(org), await seal(org)];
  const createdAt = SEND_TIME - 6 * DAY;
  const signedOrder = signedRequest(org, {
    version: 2,
    order: {},
    createdAt,
    sealUntil: createdAt,
    window: { from: SEND_TIME - 5 * DAY, until: SEND_TIME + 80 * DAY },
  });
  const order = verifyRequest(signedOrder, org.policy);
  view.append(requestEntry(signedOrder));
  const decisions = [decision(order, 1), decision(order, 2)];
  view.append(...decisions.map(decisionEntry));
  if (leaveBeforeBatch) {
    // alice leaves the group: the same policy, next serial, recorded group empty.
    const next = { ...org.policy.policy, serial: 2, issuedAt: SEND_TIME, recorded: [] };
    view.append(policyEntry(verifyPolicy(signPolicy(next, orgKey), orgKey.publicKey).signed));
  }
  const approvals = decisions.map((d) => verifyDecision(d, org.policy, order));
  const signedBatch = signExecution(
    batchExecutionFor(
      order,
      approvals,
      sealed.map((s) => s.label),
      SEND_TIME + 12 * DAY,
      0,
    ),
    relayKey,
  );
  view.append(executionEntry(signedBatch));
  const store = new AccessStore(':memory:');
  const vault = vaultOf(org, 1);
  const tracker = new AccessTracker(store, {
    orgKey: orgKey.publicKey,
    log: { origin: ORIGIN, logKeys },
    onRelease: watchReleases(store, vault),
  });
  for (const [i, e] of view.entries.entries()) tracker.onEntry(i, e);
  tracker.onCheckpoint(view.checkpoint);
  const relay = new TestRelay(
    org,
    () => order,
    () => signedBatch,
    () => view.entries,
  );
  relay.serve(sealed.map((s) => ({ label: s.label, head: s.head })));
  const rule = new ReleaseRule({
    vault,
    tracker,
    store,
    relay,
    relayKey: relayKey.publicKey,
    log: { origin: ORIGIN, logKeys },
    maxAgeSeconds: 300,
    clock: () => (view.now + 5) * 1000,
  });
  return { rule, relay, order, sealed };
}

describe('the release rule on a standing order (after-release.md §8.3)', () => {
  it('releases a batch of a recorded user: one release for batch 0, a share per envelope', async () => {
    const s = await orderScenario(false);
    const out = await s.rule.run(s.order.request.requestId);
    expect(out).toMatchObject({ status: 'released', batches: 1, shares: 2 });
    expect(s.relay.releasePosts.map((r) => r.batch)).toEqual([0]);
    expect(s.relay.refusals).toEqual([]);
    // A second run releases nothing twice.
    expect(await s.rule.run(s.order.request.requestId)).toMatchObject({ status: 'released', shares: 2 });
    expect(s.relay.releasePosts).toHaveLength(1);
  });

  it('ORD-S1: after a policy that takes the user out of the group, every envelope of the batch is refused under REL-4 by label', async () => {
    const s = await orderScenario(true);
    const out = await s.rule.run(s.order.request.requestId);
    expect(out).toMatchObject({ status: 'released', batches: 1, shares: 0, refused: { 'REL-4': 2 } });
    const refused = s.relay.refusals.map((r) => decodeRefusal(r.subarray(4, r.length - 64)));
    expect(refused.map((r) => r.reason)).toEqual(['REL-4', 'REL-4']);
    expect(new Set(refused.map((r) => Buffer.from(r.label!).toString('hex')))).toEqual(
      new Set(s.sealed.map((x) => Buffer.from(x.label).toString('hex'))),
    );
  });
});
