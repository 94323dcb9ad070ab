// The release rule (docs/spec/access.md §5), clause by clause, over real core objects: a signed policy, a request,
// trustee decisions, the relay's execution, envelopes sealed by core's sealer and signed by their device, a real
// tiled log with cosigning witnesses. Each clause's failures are checked to produce exactly the refusals the spec
// names, and the rest to be released as shares that verify and combine.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Capsule,
  combineShares,
  decisionsOnLog,
  decodeCapsule,
  decodeEnvelopeHead,
  decodeRefusal,
  type Element,
  encodeCapsule,
  encodeEnvelopeHead,
  encodeHeader,
  envelopeLabel,
  group,
  type HeaderFields,
  openShareBundle,
  policyEntry,
  RELEASE_BATCH,
  type Request,
  randomScalar,
  SECOND_GENERATOR,
  type SealedEnvelope,
  sha256,
  signingKeyFromSeed,
  signSender,
  utf8Encode,
  type Verdict,
  verifyCapsule,
  verifyExecution,
  verifyRelease,
  verifyRequest,
  verifyShare,
} from '@overt/core';
import { afterEach, describe, expect, it } from 'vitest';
import { capsuleChallenge, capsuleMask } from '../../../core/src/capsule/capsule.js';
import {
  DAY,
  decision,
  decisionEntry,
  deviceAdded,
  deviceRemoved,
  devices,
  epochEntry,
  execute,
  executionEntry,
  logKeys,
  makeOrg,
  ORIGIN,
  type Org,
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
import { TrusteeError } from '../errors.js';
import { ReleaseRule, watchReleases } from './release.js';
import { PooledReleaseCrypto, type ReleaseCrypto } from './release-crypto.js';
import { AccessTracker } from './state.js';
import { AccessStore } from './store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Options {
  /** Request fields; the request is verified under `verifyUnder` (default: the logged policy) to build decisions. */
  request?: Partial<Request>;
  requestSigner?: ReturnType<typeof signingKeyFromSeed>;
  verifyUnder?: (org: Org) => Parameters<typeof verifyRequest>[1];
  decisions?: [number, Verdict][];
  /** Envelopes to seal in scope (alice, window, group-42), default 3. */
  inScope?: number;
  /** Further heads the relay selects (out of scope, forged …). */
  extra?: (org: Org) => Promise<{ label: Uint8Array; head: Uint8Array }[]>;
  trustee?: number;
  /** Record the checkpoint before the execution was appended (REL-3). */
  checkpointBeforeExecution?: boolean;
  /** Only these witnesses cosign (REL-3). */
  witnesses?: number;
  /** Seconds between the checkpoint's cosignatures and the trustee's clock (REL-3 freshness). */
  age?: number;
  /** Entries appended between the devices and the request (device removals …). */
  moreEntries?: (org: Org) => Uint8Array[];
  storePath?: string;
  /** The rule's per-envelope cryptography (default: on the test's thread). */
  crypto?: ReleaseCrypto;
  /** The trustee shredded the epoch's share: its vault says TRUSTEE_SHARE_SHREDDED (TRU-S1). */
  shredded?: boolean;
}

async function scenario(o: Options = {}) {
  const org = await makeOrg();
  const view = new View(o.witnesses === undefined ? witnessSigners : witnessSigners.slice(0, o.witnesses));
  view.append(
    policyEntry(org.policy.signed),
    epochEntry(org),
    deviceAdded(devices.alice),
    deviceAdded(devices.bob),
    ...(o.moreEntries?.(org) ?? []),
  );
  const sealed: SealedEnvelope[] = [];
  for (let i = 0; i < (o.inScope ?? 3); i++) sealed.push(await seal(org));
  const heads = [...sealed.map((s) => ({ label: s.label, head: s.head })), ...((await o.extra?.(org)) ?? [])];
  const signedReq = signedRequest(org, o.request ?? {}, o.requestSigner);
  const req = verifyRequest(signedReq, o.verifyUnder?.(org) ?? org.policy);
  const requestIndex = view.append(requestEntry(signedReq));
  const decisions = (
    o.decisions ?? [
      [1, 'approve'],
      [2, 'approve'],
    ]
  ).map(([t, v]) => decision(req, t, v));
  view.append(...decisions.map(decisionEntry));
  const early = view.checkpoint;
  const signedExec = execute(
    org,
    req,
    decisions,
    heads.map((h) => h.label),
  );
  view.append(executionEntry(signedExec));
  const storePath = o.storePath ?? ':memory:';
  const store = new AccessStore(storePath);
  const trustee = o.trustee ?? 1;
  const held = vaultOf(org, trustee);
  const vault = o.shredded
    ? {
        ...held,
        share: async (epoch: number): Promise<never> => {
          throw new TrusteeError('TRUSTEE_SHARE_SHREDDED', `the share of epoch ${epoch} was shredded`, {
            check: 'TRU-S1',
          });
        },
      }
    : held;
  const tracker = new AccessTracker(store, {
    orgKey: orgKey(),
    log: { origin: ORIGIN, logKeys },
    onRelease: watchReleases(store, vault),
  });
  for (const [i, e] of view.entries.entries()) tracker.onEntry(i, e);
  tracker.onCheckpoint(o.checkpointBeforeExecution ? early : view.checkpoint);
  const relay = new TestRelay(
    org,
    () => req,
    () => signedExec,
    () => view.entries,
  );
  relay.serve(heads);
  const clockMs = (view.now + (o.age ?? 5)) * 1000;
  const rule = new ReleaseRule({
    vault,
    tracker,
    store,
    relay,
    relayKey: relayKey.publicKey,
    log: { origin: ORIGIN, logKeys },
    maxAgeSeconds: 300,
    clock: () => clockMs,
    ...(o.crypto ? { crypto: o.crypto } : {}),
  });
  return {
    org,
    view,
    req,
    requestIndex,
    signedExec,
    heads,
    sealed,
    store,
    tracker,
    relay,
    rule,
    trustee,
    vault,
  };
}

function orgKey(): Uint8Array {
  return signingKeyFromSeed(sha256(utf8Encode('overt/test/access/org'))).publicKey;
}

type Scenario = Awaited<ReturnType<typeof scenario>>;

/** The refusals the trustee posted: clause number and label (hex, '' for none). */
function posted(s: Scenario): { reason: string; label: string }[] {
  return s.relay.refusals.map((r) => {
    const x = decodeRefusal(r.subarray(4, r.length - 64));
    return { reason: x.reason, label: x.label === undefined ? '' : Buffer.from(x.label).toString('hex') };
  });
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Opens every posted bundle as the requester and checks each share against its capsule; returns the labels. */
async function releasedLabels(s: Scenario): Promise<string[]> {
  const exec = verifyExecution(
    s.signedExec,
    relayKey.publicKey,
    s.org.policy,
    s.req,
    decisionsOnLog(s.org.policy, s.req, s.view.entries),
  );
  const out: string[] = [];
  for (const { release, bundle, batch } of s.relay.releases.values()) {
    const v = verifyRelease(release, s.org.policy, exec);
    const opened = await openShareBundle(s.org.requesterHpke.secretKey, s.org.policy, exec, v, batch, bundle);
    for (const sh of opened.shares) {
      const head = s.heads.find((h) => hex(h.label) === hex(sh.label))!;
      const capsule = verifyCapsule(
        s.org.epochKey,
        decodeCapsule(decodeEnvelopeHead(head.head).capsule),
        sh.label,
      );
      verifyShare(s.org.publicKey, capsule, sh.share);
      out.push(hex(sh.label));
    }
  }
  return out.sort();
}

/** A head with `f` applied to its header fields, re-signed by `signer` over its (new label, capsule). */
function rewrite(
  head: Uint8Array,
  f: (h: HeaderFields) => Partial<HeaderFields>,
  signer = devices.alice.key,
  capsule?: Uint8Array,
): { label: Uint8Array; head: Uint8Array } {
  const d = decodeEnvelopeHead(head);
  const headerBytes = encodeHeader({ ...d.header, ...f(d.header) });
  const label = envelopeLabel(headerBytes);
  const c = capsule ?? d.capsule;
  return { label, head: encodeEnvelopeHead(headerBytes, c, signSender(signer, label, c)) };
}

/** A valid TDH2 capsule for `label` with a chosen r: what a sender who reuses r under two labels makes. */
function capsuleWithR(epochKey: Element, label: Uint8Array, r: ReturnType<typeof randomScalar>): Uint8Array {
  const s = randomScalar();
  const u = group.baseMul(r);
  const z = group.mul(r, epochKey);
  const mask = capsuleMask(epochKey, u, z);
  const maskedKey = mask.map((b, i) => b ^ (i + 1));
  const partial: Capsule = {
    maskedKey,
    u,
    uBar: group.mul(r, SECOND_GENERATOR),
    w: group.baseMul(s),
    wBar: group.mul(s, SECOND_GENERATOR),
    f: s,
  };
  const e = capsuleChallenge(epochKey, label, partial);
  return encodeCapsule({ ...partial, f: group.scalarAdd(s, group.scalarMul(e, r)) });
}

describe('release rule (access.md §5)', () => {
  it('releases one share per in-scope envelope, sealed to the requester, that verifies and combines', async () => {
    const s = await scenario({ inScope: 4 });
    const out = await s.rule.run(s.req.request.requestId);
    expect(out).toEqual({ status: 'released', batches: 1, shares: 4, refused: { 'REL-4': 0, 'REL-5': 0 } });
    expect(s.relay.refusals).toEqual([]);
    expect(await releasedLabels(s)).toEqual(s.heads.map((h) => hex(h.label)).sort());
    // Trustee 2 releases as well; two shares recover the content key of every envelope.
    const s2rule = new ReleaseRule({
      vault: vaultOf(s.org, 2),
      tracker: s.tracker,
      store: new AccessStore(':memory:'),
      relay: s.relay,
      relayKey: relayKey.publicKey,
      log: { origin: ORIGIN, logKeys },
      maxAgeSeconds: 300,
      clock: () => (s.view.now + 5) * 1000,
    });
    expect((await s2rule.run(s.req.request.requestId)).status).toBe('released');
    expect(s.relay.releases.size).toBe(2);
    const exec = verifyExecution(
      s.signedExec,
      relayKey.publicKey,
      s.org.policy,
      s.req,
      decisionsOnLog(s.org.policy, s.req, s.view.entries),
    );
    const bundles = [];
    for (const { release, bundle, batch } of s.relay.releases.values())
      bundles.push(
        await openShareBundle(
          s.org.requesterHpke.secretKey,
          s.org.policy,
          exec,
          verifyRelease(release, s.org.policy, exec),
          batch,
          bundle,
        ),
      );
    for (const sealed of s.sealed) {
      const capsule = verifyCapsule(s.org.epochKey, decodeCapsule(sealed.capsule), sealed.label);
      const shares = bundles.map((b) => b.shares.find((x) => hex(x.label) === hex(sealed.label))!.share);
      const verified = shares.map((sh) => verifyShare(s.org.publicKey, capsule, sh));
      expect(hex(combineShares(capsule, verified, s.org.publicKey))).toBe(hex(sealed.contentKey));
    }
  });

  it('refuses a request from a requester the policy does not authorise (REL-1, WF-R4)', async () => {
    const stranger = signingKeyFromSeed(new Uint8Array(32).fill(0x99));
    const s = await scenario({
      requestSigner: stranger,
      // A relay that did not check: the request "verifies" only under a policy naming the stranger's key.
      verifyUnder: (org) => ({
        ...org.policy,
        policy: {
          ...org.policy.policy,
          requesters: org.policy.policy.requesters.map((r) => ({ ...r, signingKey: stranger.publicKey })),
        },
      }),
    });
    expect(await s.rule.run(s.req.request.requestId)).toEqual({
      status: 'refused',
      clause: 'REL-1',
      check: 'WF-R4',
    });
    expect(posted(s)).toEqual([{ reason: 'REL-1', label: '' }]);
    expect(s.relay.releases.size).toBe(0);
    // Final: a second run posts nothing new.
    await s.rule.run(s.req.request.requestId);
    expect(s.relay.refusals.length).toBe(1);
  });

  it('refuses a request over the policy limits (REL-1, WF-R5)', async () => {
    const s = await scenario({
      request: { subjects: ['a@example.org', 'alice@example.org', 'b@example.org', 'c@example.org'] },
      verifyUnder: (org) => ({
        ...org.policy,
        policy: { ...org.policy.policy, limits: { ...org.policy.policy.limits, maxSubjects: 10 } },
      }),
    });
    expect(await s.rule.run(s.req.request.requestId)).toEqual({
      status: 'refused',
      clause: 'REL-1',
      check: 'WF-R5',
    });
    expect(posted(s)).toEqual([{ reason: 'REL-1', label: '' }]);
  });

  it('refuses when its own approval is missing (REL-2)', async () => {
    const s = await scenario({
      decisions: [
        [2, 'approve'],
        [3, 'approve'],
      ],
    });
    expect(await s.rule.run(s.req.request.requestId)).toMatchObject({ status: 'refused', clause: 'REL-2' });
    expect(posted(s)).toEqual([{ reason: 'REL-2', label: '' }]);
    expect(s.relay.releases.size).toBe(0);
  });

  it('refuses with k − 1 approvals (REL-2, WF-D5)', async () => {
    const s = await scenario({ decisions: [[1, 'approve']] });
    expect(await s.rule.run(s.req.request.requestId)).toEqual({
      status: 'refused',
      clause: 'REL-2',
      check: 'WF-D5',
    });
    expect(posted(s)).toEqual([{ reason: 'REL-2', label: '' }]);
  });

  it('a denial on the log cancels an approval, even one the execution cites (REL-2)', async () => {
    const s = await scenario({
      decisions: [
        [1, 'approve'],
        [2, 'approve'],
        [2, 'deny'],
      ],
    });
    expect(await s.rule.run(s.req.request.requestId)).toEqual({
      status: 'refused',
      clause: 'REL-2',
      check: 'WF-D5',
    });
    expect(s.relay.releases.size).toBe(0);
  });

  it('refuses an execution beyond its verified checkpoint (REL-3), and releases once a checkpoint covers it', async () => {
    const s = await scenario({ checkpointBeforeExecution: true });
    expect(await s.rule.run(s.req.request.requestId)).toEqual({
      status: 'refused',
      clause: 'REL-3',
      check: 'REL-3',
    });
    expect(posted(s)).toEqual([{ reason: 'REL-3', label: '' }]);
    expect(s.relay.releases.size).toBe(0);
    // Not final: the newer checkpoint (with its consistency proof … here the same tree grown) clears REL-3.
    const fresh = new AccessStore(':memory:');
    const t2 = new AccessTracker(fresh, { orgKey: orgKey(), log: { origin: ORIGIN, logKeys } });
    for (const [i, e] of s.view.entries.entries()) t2.onEntry(i, e);
    t2.onCheckpoint(s.view.checkpoint);
    const rule = new ReleaseRule({
      vault: vaultOf(s.org, 1),
      tracker: t2,
      store: s.store,
      relay: s.relay,
      relayKey: relayKey.publicKey,
      log: { origin: ORIGIN, logKeys },
      maxAgeSeconds: 300,
      clock: () => (s.view.now + 5) * 1000,
    });
    expect((await rule.run(s.req.request.requestId)).status).toBe('released');
    expect(s.relay.refusals.length).toBe(1);
  });

  it('refuses a checkpoint without the policy witness quorum (REL-3, COSIG-5)', async () => {
    const s = await scenario({ witnesses: 1 });
    expect(await s.rule.run(s.req.request.requestId)).toEqual({
      status: 'refused',
      clause: 'REL-3',
      check: 'COSIG-5',
    });
    expect(posted(s)).toEqual([{ reason: 'REL-3', label: '' }]);
  });

  it('refuses a stale view (REL-3, FRESH-1, A16)', async () => {
    const s = await scenario({ age: 301 });
    expect(await s.rule.run(s.req.request.requestId)).toEqual({
      status: 'refused',
      clause: 'REL-3',
      check: 'FRESH-1',
    });
    const ok = await scenario({ age: 300 });
    expect((await ok.rule.run(ok.req.request.requestId)).status).toBe('released');
  });

  it('refuses out-of-window, non-subject and other-conversation envelopes one by one and releases the rest (REL-4)', async () => {
    const outside: { label: Uint8Array; head: Uint8Array }[] = [];
    const s = await scenario({
      request: { conversations: [utf8Encode('group-42')] },
      extra: async (org) => {
        const late = await seal(org, { sendTime: SEND_TIME + 5 * DAY });
        const bobOnly = await seal(
          org,
          {
            senderUserId: 'bob@example.org',
            senderDeviceId: utf8Encode('bob-phone'),
            recipients: ['bob@example.org'],
          },
          devices.bob.key,
        );
        const otherConv = await seal(org, { conversationId: utf8Encode('group-7') });
        outside.push(...[late, bobOnly, otherConv].map((e) => ({ label: e.label, head: e.head })));
        return outside;
      },
    });
    expect(await s.rule.run(s.req.request.requestId)).toEqual({
      status: 'released',
      batches: 1,
      shares: 3,
      refused: { 'REL-4': 3, 'REL-5': 0 },
    });
    expect(posted(s).sort((a, b) => a.label.localeCompare(b.label))).toEqual(
      outside
        .map((e) => ({ reason: 'REL-4', label: hex(e.label) }))
        .sort((a, b) => a.label.localeCompare(b.label)),
    );
    expect(await releasedLabels(s)).toEqual(s.sealed.map((e) => hex(e.label)).sort());
  });

  it('refuses the whole request when the served labels are not the execution’s (REL-4, WF-E6), and releases once they are', async () => {
    const s = await scenario({ inScope: 3 });
    const all = s.relay.served;
    s.relay.served = all.slice(0, 2);
    expect(await s.rule.run(s.req.request.requestId)).toEqual({
      status: 'refused',
      clause: 'REL-4',
      check: 'WF-E6',
    });
    expect(posted(s)).toEqual([{ reason: 'REL-4', label: '' }]);
    s.relay.served = [all[1]!, all[0]!, all[2]!].map((e, position) => ({ ...e, position }));
    expect((await s.rule.run(s.req.request.requestId)).status).toBe('refused');
    s.relay.served = all;
    expect(await s.rule.run(s.req.request.requestId)).toMatchObject({ status: 'released', shares: 3 });
    expect(s.relay.refusals.length).toBe(1);
  });

  it('refuses an execution over the request’s envelope limit as a whole (REL-4, WF-E5, SCOPE-5)', async () => {
    const s = await scenario({ inScope: 3, request: { maxEnvelopes: 2 } });
    expect(await s.rule.run(s.req.request.requestId)).toEqual({
      status: 'refused',
      clause: 'REL-4',
      check: 'WF-E5',
    });
    expect(posted(s)).toEqual([{ reason: 'REL-4', label: '' }]);
    expect(s.relay.releases.size).toBe(0);
  });

  it('releases more than one batch: positions split at RELEASE_BATCH, one release per batch', async () => {
    const s = await scenario({ inScope: RELEASE_BATCH + 3, request: { maxEnvelopes: 2000 } });
    const started = performance.now();
    const out = await s.rule.run(s.req.request.requestId);
    const ms = performance.now() - started;
    expect(out).toEqual({
      status: 'released',
      batches: 2,
      shares: RELEASE_BATCH + 3,
      refused: { 'REL-4': 0, 'REL-5': 0 },
    });
    expect([...s.relay.releases.values()].map((r) => r.batch).sort()).toEqual([0, 1]);
    expect((await releasedLabels(s)).length).toBe(RELEASE_BATCH + 3);
    console.log(`release rule over ${RELEASE_BATCH + 3} envelopes (2 batches): ${ms.toFixed(0)} ms`);
  }, 120_000);

  it('a re-labelled envelope (A4: header changed into scope, so the label changed) fails its capsule (REL-5, CAP-6)', async () => {
    let relabelled: { label: Uint8Array; head: Uint8Array } | undefined;
    const s = await scenario({
      extra: async (org) => {
        // Sent by bob to bob only (out of scope); the header is rewritten to name alice and re-signed.
        const e = await seal(
          org,
          {
            senderUserId: 'bob@example.org',
            senderDeviceId: utf8Encode('bob-phone'),
            recipients: ['bob@example.org'],
          },
          devices.bob.key,
        );
        relabelled = rewrite(
          e.head,
          () => ({ recipients: ['alice@example.org', 'bob@example.org'] }),
          devices.bob.key,
        );
        return [relabelled];
      },
    });
    const out = await s.rule.run(s.req.request.requestId);
    expect(out).toMatchObject({ status: 'released', shares: 3, refused: { 'REL-4': 0, 'REL-5': 1 } });
    expect(posted(s)).toEqual([{ reason: 'REL-5', label: hex(relabelled!.label) }]);
  });

  it('refuses a bad capsule, a bad sender signature and an unknown device, each by label (REL-5)', async () => {
    const bad: { label: Uint8Array; head: Uint8Array }[] = [];
    const tablet = signingKeyFromSeed(new Uint8Array(32).fill(0x55));
    const s = await scenario({
      extra: async (org) => {
        const a = await seal(org);
        const c = decodeEnvelopeHead(a.head).capsule.slice();
        c[100]! ^= 1;
        bad.push(rewrite(a.head, () => ({}), devices.alice.key, c)); // bad capsule, valid signature
        const b = await seal(org);
        bad.push(rewrite(b.head, () => ({}), devices.mallory.key)); // signed by another device's key
        const t = await seal(org, { senderDeviceId: utf8Encode('alice-tablet') }, tablet);
        bad.push({ label: t.label, head: t.head }); // a device the log never added
        return bad;
      },
    });
    const out = await s.rule.run(s.req.request.requestId);
    expect(out).toMatchObject({ status: 'released', shares: 3, refused: { 'REL-4': 0, 'REL-5': 3 } });
    expect(
      posted(s)
        .map((p) => p.label)
        .sort(),
    ).toEqual(bad.map((b) => hex(b.label)).sort());
    expect(posted(s).every((p) => p.reason === 'REL-5')).toBe(true);
    expect(await releasedLabels(s)).toEqual(s.sealed.map((e) => hex(e.label)).sort());
  });

  it('refuses every envelope of a shredded epoch by label (REL-5, TRU-S1), and releases no share', async () => {
    const s = await scenario({ inScope: 3, shredded: true });
    const out = await s.rule.run(s.req.request.requestId);
    expect(out).toMatchObject({ status: 'released', shares: 0, refused: { 'REL-4': 0, 'REL-5': 3 } });
    expect(posted(s).map((p) => p.reason)).toEqual(['REL-5', 'REL-5', 'REL-5']);
    expect(
      posted(s)
        .map((p) => p.label)
        .sort(),
    ).toEqual(s.heads.map((h) => hex(h.label)).sort());
    expect(await releasedLabels(s)).toEqual([]);
  });

  it('refuses a signature by a device removed before the send time (REL-5)', async () => {
    const s = await scenario({ moreEntries: () => [deviceRemoved(devices.alice, SEND_TIME - DAY)] });
    const out = await s.rule.run(s.req.request.requestId);
    expect(out).toMatchObject({ status: 'released', shares: 0, refused: { 'REL-5': 3 } });
  });

  it('refuses a capsule whose u it saw before under another label (REL-5)', async () => {
    const pair: { label: Uint8Array; head: Uint8Array }[] = [];
    const s = await scenario({
      extra: async (org) => {
        const r = randomScalar();
        for (let i = 0; i < 2; i++) {
          const e = await seal(org);
          const c = capsuleWithR(org.epochKey, e.label, r);
          pair.push(rewrite(e.head, () => ({}), devices.alice.key, c));
        }
        return pair;
      },
    });
    const out = await s.rule.run(s.req.request.requestId);
    expect(out).toMatchObject({ status: 'released', shares: 4, refused: { 'REL-5': 1 } });
    const second = [...pair].sort((a, b) => Buffer.compare(Buffer.from(a.label), Buffer.from(b.label)))[1]!;
    expect(posted(s)).toEqual([{ reason: 'REL-5', label: hex(second.label) }]);
    expect(s.store.seenU(decodeCapsule(decodeEnvelopeHead(second.head).capsule).u)).toBeDefined();
  });

  it('resumes after a crash between recording and posting: re-sends the identical bytes, never seals twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'overt-access-'));
    dirs.push(dir);
    const path = join(dir, 'access.sqlite');
    const s = await scenario({ storePath: path, inScope: 3 });
    s.relay.failReleases = 1;
    await expect(s.rule.run(s.req.request.requestId)).rejects.toThrow('relay unreachable');
    const recorded = s.store.batches(s.req.request.requestId);
    expect(recorded.length).toBe(1);
    expect(recorded[0]!.posted).toBe(false);
    s.store.close();
    // Restart: a new store on the same file, a tracker replaying its entries, a new rule.
    const store = new AccessStore(path);
    const tracker = new AccessTracker(store, { orgKey: orgKey(), log: { origin: ORIGIN, logKeys } });
    expect(tracker.nextIndex).toBe(s.view.entries.length);
    const rule = new ReleaseRule({
      vault: vaultOf(s.org, 1),
      tracker,
      store,
      relay: s.relay,
      relayKey: relayKey.publicKey,
      log: { origin: ORIGIN, logKeys },
      maxAgeSeconds: 300,
      clock: () => (s.view.now + 5) * 1000,
    });
    expect((await rule.run(s.req.request.requestId)).status).toBe('released');
    expect(s.relay.releasePosts.length).toBe(1);
    expect(hex(s.relay.releasePosts[0]!.release)).toBe(hex(recorded[0]!.release));
    expect(hex(s.relay.releasePosts[0]!.bundle)).toBe(hex(recorded[0]!.sealed));
    // A third run sends nothing: the batch is recorded as posted.
    await rule.run(s.req.request.requestId);
    expect(s.relay.releasePosts.length).toBe(1);
    expect(store.batches(s.req.request.requestId)).toEqual([{ ...recorded[0]!, posted: true }]);
    store.close();
  });

  it('alerts release-unknown for a release in its name that it did not make', async () => {
    const s = await scenario();
    await s.rule.run(s.req.request.requestId);
    const mine = s.relay.releasePosts[0]!.release;
    // Its own release appears on the log: no alert.
    s.view.append(Uint8Array.of(8, ...mine));
    s.tracker.onEntry(s.view.entries.length - 1, s.view.entries.at(-1)!);
    expect(s.vault.alerts()).toEqual([]);
    // A release in its name with other bytes (someone else holds its key, or the relay replays): alert.
    const other = s.relay.releasePosts[0]!.release.slice();
    other[other.length - 70]! ^= 1;
    s.view.append(Uint8Array.of(8, ...other));
    s.tracker.onEntry(s.view.entries.length - 1, s.view.entries.at(-1)!);
    expect(s.vault.alerts().map((a) => a.kind)).toEqual(['release-unknown']);
  });
});

// The same clauses with the cryptography of rule 5 on worker threads (the daemon's PooledReleaseCrypto over
// @overt/client/node's AccessWorkerPool): the same refusals, by label, and the same shares.
describe('release rule on worker threads (PooledReleaseCrypto)', () => {
  const pools: PooledReleaseCrypto[] = [];
  afterEach(async () => {
    for (const p of pools.splice(0)) await p.close();
  });
  const crypto = () => {
    const p = new PooledReleaseCrypto(2);
    pools.push(p);
    return p;
  };

  it('releases one share per in-scope envelope that verifies, and refuses a bad capsule, a bad sender signature and an unknown device by label (REL-5)', async () => {
    const bad: { label: Uint8Array; head: Uint8Array }[] = [];
    const tablet = signingKeyFromSeed(new Uint8Array(32).fill(0x56));
    const s = await scenario({
      crypto: crypto(),
      inScope: 5,
      extra: async (org) => {
        const a = await seal(org);
        const c = decodeEnvelopeHead(a.head).capsule.slice();
        c[100]! ^= 1;
        bad.push(rewrite(a.head, () => ({}), devices.alice.key, c));
        const b = await seal(org);
        bad.push(rewrite(b.head, () => ({}), devices.mallory.key));
        const t = await seal(org, { senderDeviceId: utf8Encode('alice-tablet') }, tablet);
        bad.push({ label: t.label, head: t.head });
        return bad;
      },
    });
    const out = await s.rule.run(s.req.request.requestId);
    expect(out).toMatchObject({ status: 'released', shares: 5, refused: { 'REL-4': 0, 'REL-5': 3 } });
    expect(
      posted(s)
        .map((p) => p.label)
        .sort(),
    ).toEqual(bad.map((b) => hex(b.label)).sort());
    expect(posted(s).every((p) => p.reason === 'REL-5')).toBe(true);
    expect(await releasedLabels(s)).toEqual(s.sealed.map((e) => hex(e.label)).sort());
  });

  it('refuses a capsule whose u it saw before under another label (REL-5), the seen-u rule in the rule', async () => {
    const pair: { label: Uint8Array; head: Uint8Array }[] = [];
    const s = await scenario({
      crypto: crypto(),
      extra: async (org) => {
        const r = randomScalar();
        for (let i = 0; i < 2; i++) {
          const e = await seal(org);
          pair.push(rewrite(e.head, () => ({}), devices.alice.key, capsuleWithR(org.epochKey, e.label, r)));
        }
        return pair;
      },
    });
    const out = await s.rule.run(s.req.request.requestId);
    expect(out).toMatchObject({ status: 'released', shares: 4, refused: { 'REL-5': 1 } });
    const second = [...pair].sort((a, b) => Buffer.compare(Buffer.from(a.label), Buffer.from(b.label)))[1]!;
    expect(posted(s)).toEqual([{ reason: 'REL-5', label: hex(second.label) }]);
  });

  it('refuses a signature by a device removed before the send time (REL-5)', async () => {
    const s = await scenario({
      crypto: crypto(),
      moreEntries: () => [deviceRemoved(devices.alice, SEND_TIME - DAY)],
    });
    const out = await s.rule.run(s.req.request.requestId);
    expect(out).toMatchObject({ status: 'released', shares: 0, refused: { 'REL-5': 3 } });
  });
});
