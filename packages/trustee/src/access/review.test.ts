// The trustee's review and operator routes (docs/spec/access.md §2, §6): requests on the view with their
// confidential part opened by the trustee's real HPKE key, decisions signed and posted, strict parsing of the
// operator's bodies (ACC-0), and the service that runs the release rule for the requests this trustee approved.
import {
  decisionsOnLog,
  policyEntry,
  sealConfidential,
  toBase64Url,
  verifyDecision,
  verifyRequest,
} from '@overt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decision,
  decisionEntry,
  deviceAdded,
  devices,
  epochEntry,
  execute,
  executionEntry,
  logKeys,
  makeOrg,
  ORIGIN,
  opening,
  orgKey,
  relayKey,
  requestEntry,
  seal,
  signedRequest,
  TestRelay,
  View,
  vaultOf,
} from '../../test/access-fixtures.js';
import { isAccessError } from './errors.js';
import { Review } from './review.js';
import { accessRoutes, handleAccessRoute, parseDecisionBody, parseRequestId } from './routes.js';
import { AccessService } from './service.js';
import { AccessTracker } from './state.js';
import { AccessStore } from './store.js';

async function setup(o: { sealFor?: number; requestSigner?: Parameters<typeof signedRequest>[2] } = {}) {
  const org = await makeOrg();
  const view = new View();
  view.append(policyEntry(org.policy.signed), epochEntry(org), deviceAdded(devices.alice));
  const signedReq = signedRequest(org, {}, o.requestSigner);
  const req = verifyRequest(signedRequest(org), org.policy);
  view.append(requestEntry(signedReq));
  const store = new AccessStore(':memory:');
  const tracker = new AccessTracker(store, { orgKey: orgKey.publicKey, log: { origin: ORIGIN, logKeys } });
  for (const [i, e] of view.entries.entries()) tracker.onEntry(i, e);
  let exec: Uint8Array = new Uint8Array(0);
  const relay = new TestRelay(
    org,
    () => req,
    () => exec,
    () => view.entries,
  );
  const to = o.sealFor ?? 1;
  relay.sealed.set(
    Buffer.from(req.request.requestId).toString('hex'),
    await sealConfidential(org.hpke[to - 1]!.publicKey, to, req, opening()),
  );
  const review = new Review({
    vault: vaultOf(org, 1),
    tracker,
    store,
    relay,
    clock: () => 1_768_000_000_000,
  });
  return { org, view, req, store, tracker, relay, review, setExec: (e: Uint8Array) => (exec = e) };
}

describe('review (access.md §2, §6)', () => {
  it('lists a pending request with its confidential part opened by the trustee’s HPKE key', async () => {
    const s = await setup();
    const items = await s.review.list();
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      requestId: toBase64Url(s.req.request.requestId),
      status: 'pending',
      valid: true,
      requesterId: 'internal-investigations',
      confidential: { justification: 'Suspected disclosure of client data.', caseReference: 'II-42' },
      request: { subjects: ['alice@example.org'], legalBasis: 'Employment contract §12' },
    });
    expect(items[0]!.unreadable).toBeUndefined();
  });

  it('lists a part sealed to another trustee as unreadable (ACC-1); approving it is refused (ACC-V1), denying is not', async () => {
    const s = await setup({ sealFor: 2 });
    const [item] = await s.review.list();
    expect(item).toMatchObject({ unreadable: 'ACC-1', valid: true });
    expect(item!.confidential).toBeUndefined();
    await expect(s.review.decide(s.req.request.requestId, 'approve')).rejects.toMatchObject({
      code: 'ACCESS_CONFLICT',
      check: 'ACC-V1',
    });
    const d = await s.review.decide(s.req.request.requestId, 'deny', 'cannot read the justification');
    expect(d.verdict).toBe('deny');
    expect(verifyDecision(s.relay.decisions[0]!, s.org.policy, s.req).decision.verdict).toBe('deny');
  });

  it('signs, records and posts one decision; the same verdict re-posts the same bytes, another is refused (ACC-V3)', async () => {
    const s = await setup();
    const a = await s.review.decide(s.req.request.requestId, 'approve', 'proportionate');
    expect(a).toMatchObject({ verdict: 'approve', requestId: toBase64Url(s.req.request.requestId) });
    const v = verifyDecision(s.relay.decisions[0]!, s.org.policy, s.req);
    expect(v.decision).toMatchObject({ trusteeIndex: 1, verdict: 'approve', reason: 'proportionate' });
    await s.review.decide(s.req.request.requestId, 'approve');
    expect(Buffer.from(s.relay.decisions[1]!).equals(Buffer.from(s.relay.decisions[0]!))).toBe(true);
    await expect(s.review.decide(s.req.request.requestId, 'deny')).rejects.toMatchObject({ check: 'ACC-V3' });
    expect((await s.review.list())[0]!.decision).toBe('approve');
  });

  it('lists a request that does not verify under the policy as invalid and refuses to decide it (ACC-V2)', async () => {
    const s = await setup({ requestSigner: devices.mallory.key });
    const [item] = await s.review.list();
    expect(item).toMatchObject({ valid: false, invalid: 'WF-R4' });
    await expect(s.review.decide(s.req.request.requestId, 'deny')).rejects.toMatchObject({ check: 'ACC-V2' });
  });

  it('refuses an unknown request (ACC-T3) and a reason over 1024 bytes (ACC-0)', async () => {
    const s = await setup();
    await expect(s.review.decide(new Uint8Array(16), 'approve')).rejects.toMatchObject({
      code: 'ACCESS_NOT_FOUND',
      check: 'ACC-T3',
    });
    await expect(s.review.decide(s.req.request.requestId, 'deny', 'x'.repeat(1025))).rejects.toMatchObject({
      check: 'ACC-0',
    });
  });
});

describe('operator routes (access.md §6)', () => {
  it('dispatches GET /v1/requests, GET /v1/requests/:id and POST …/decision, and answers problem+json errors', async () => {
    const s = await setup();
    const routes = accessRoutes(s.review);
    const id = toBase64Url(s.req.request.requestId);
    const list = await handleAccessRoute(routes, 'GET', '/v1/requests');
    expect(list?.status).toBe(200);
    expect((list!.body as { requests: unknown[] }).requests).toHaveLength(1);
    expect((await handleAccessRoute(routes, 'GET', `/v1/requests/${id}`))?.status).toBe(200);
    const ok = await handleAccessRoute(routes, 'POST', `/v1/requests/${id}/decision`, { verdict: 'approve' });
    expect(ok).toMatchObject({ status: 200, body: { verdict: 'approve' } });
    expect(
      await handleAccessRoute(routes, 'POST', `/v1/requests/${id}/decision`, { verdict: 'deny' }),
    ).toMatchObject({
      status: 409,
      body: { code: 'ACCESS_CONFLICT', check: 'ACC-V3' },
    });
    expect(
      await handleAccessRoute(routes, 'POST', `/v1/requests/${id}/decision`, {
        verdict: 'approve',
        extra: 1,
      }),
    ).toMatchObject({ status: 400, body: { code: 'ACCESS_BAD_REQUEST', check: 'ACC-0' } });
    expect(await handleAccessRoute(routes, 'GET', '/v1/requests/not-an-id')).toMatchObject({ status: 400 });
    expect(
      await handleAccessRoute(routes, 'GET', `/v1/requests/${toBase64Url(new Uint8Array(16))}`),
    ).toMatchObject({
      status: 404,
      body: { check: 'ACC-T3' },
    });
    expect(await handleAccessRoute(routes, 'DELETE', '/v1/requests')).toMatchObject({ status: 405 });
    expect(await handleAccessRoute(routes, 'GET', '/v1/status')).toBeUndefined();
  });

  it('the body and id parsers accept exactly their forms and throw only ACC-0 otherwise (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        try {
          const d = parseDecisionBody(v);
          expect(['approve', 'deny']).toContain(d.verdict);
        } catch (e) {
          expect(isAccessError(e, 'ACCESS_BAD_REQUEST') && e.check === 'ACC-0').toBe(true);
        }
      }),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (v) => {
        try {
          expect(parseRequestId(v)).toHaveLength(16);
        } catch (e) {
          expect(isAccessError(e, 'ACCESS_BAD_REQUEST') && e.check === 'ACC-0').toBe(true);
        }
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
        expect(Buffer.from(parseRequestId(toBase64Url(b))).equals(Buffer.from(b))).toBe(true);
      }),
    );
  });
});

describe('access service (the daemon hook)', () => {
  it('runs the release rule only for executed requests this trustee approved, once', async () => {
    const org = await makeOrg();
    const view = new View();
    view.append(policyEntry(org.policy.signed), epochEntry(org), deviceAdded(devices.alice));
    const signedReq = signedRequest(org);
    const req = verifyRequest(signedReq, org.policy);
    view.append(requestEntry(signedReq));
    const sealed = [await seal(org), await seal(org)];
    let exec: Uint8Array = new Uint8Array(0);
    const relay = new TestRelay(
      org,
      () => req,
      () => exec,
      () => view.entries,
    );
    relay.serve(sealed.map((e) => ({ label: e.label, head: e.head })));
    relay.sealed.set(
      Buffer.from(req.request.requestId).toString('hex'),
      await sealConfidential(org.hpke[0]!.publicKey, 1, req, opening()),
    );
    const service = (index: number) =>
      AccessService.open({
        dataDir: ':memory:',
        vault: vaultOf(org, index),
        relay,
        orgKey: orgKey.publicKey,
        relayKey: relayKey.publicKey,
        log: { origin: ORIGIN, logKeys },
        maxAgeSeconds: 300,
        clock: () => (view.now + 5) * 1000,
      });
    const one = service(1);
    const three = service(3);
    const id = toBase64Url(req.request.requestId);
    for (const s of [one, three]) for (const [i, e] of view.entries.entries()) s.onEntry(i, e);
    expect(
      (await handleAccessRoute(one.routes, 'POST', `/v1/requests/${id}/decision`, { verdict: 'approve' }))
        ?.status,
    ).toBe(200);
    const decisions = [relay.decisions[0]!, decision(req, 2)];
    view.append(...decisions.map(decisionEntry));
    exec = execute(
      org,
      req,
      decisions,
      sealed.map((e) => e.label),
    );
    view.append(executionEntry(exec));
    const { verifyCheckpoint } = await import('@overt/log');
    const { makeVerifierKey, SIGNATURE_TYPE_COSIGNATURE } = await import('@overt/log');
    const cp = verifyCheckpoint(view.checkpoint, {
      origin: ORIGIN,
      logKeys,
      witnesses: {
        witnesses: org.policy.policy.witnesses.map((w) =>
          makeVerifierKey(w.name, SIGNATURE_TYPE_COSIGNATURE, w.signingKey),
        ),
        quorum: 2,
      },
    });
    for (const s of [one, three]) {
      for (const [i, e] of view.entries.entries()) s.onEntry(i, e);
      s.onCheckpoint(cp);
    }
    const first = await one.tick();
    expect([...first.values()]).toEqual([
      { status: 'released', batches: 1, shares: 2, refused: { 'REL-4': 0, 'REL-5': 0 } },
    ]);
    expect((await one.tick()).size).toBe(0); // finished
    expect((await three.tick()).size).toBe(0); // trustee 3 did not approve: no run, no refusal
    expect(relay.refusals).toEqual([]);
    expect(relay.releases.size).toBe(1);
    expect(decisionsOnLog(org.policy, req, view.entries).decisions).toHaveLength(2);
    one.close();
    three.close();
  });
});
