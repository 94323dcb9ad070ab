/**
 * The attacks of issue #10 on accountable access (DESIGN §5–§6, docs/spec/access.md), end to end against the real
 * processes of `npm start` — startSystem: the relay with its log, two witness daemons and three trustee daemons as
 * child processes, data under a temporary directory. People are enrolled and talk through the `overt` CLI; the
 * requester is the stand-in whose key `npm start` writes to data/requester/secret.key. Each attack is made the way
 * its attacker would make it — the relay operator through its own database and its own keys, a trustee through its
 * own vault (data/trustees/vault-keys, trustees.ts's honest limit) — and each is blocked or detected with the check
 * ID asserted. One system for the whole file (start-up takes 15–25 s); stopped in afterAll.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessRelayClient, buildRequest, ClientError, fileRequest } from '@overt/client';
import {
  type BundleShare,
  combineShares,
  concatBytes,
  createShare,
  decisionFor,
  decisionsOnLog,
  decodeCapsule,
  decodeEnvelopeHead,
  fromBase64,
  fromBase64Url,
  isOvertError,
  openRecoveredEnvelope,
  type Request,
  releaseFor,
  sealShareBundle,
  signDecision,
  signRelease,
  signRequest,
  toBase64Url,
  type VerifiedCapsule,
  type VerifiedExecution,
  type VerifiedPolicy,
  type VerifiedRequest,
  verifyCapsule,
  verifyDecision,
  verifyExecution,
  verifyRequest,
  verifyShare,
} from '@overt/core';
import { calendarMonthEpoch, type RunningSystem, requesterKeysFromSecret, startSystem } from '@overt/server';
import { TrusteeVault } from '@overt/trustee';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pidAlive } from '../../../test/children.js';
import { unmask } from '../../core/src/capsule/capsule.js';
import { runInProcess } from '../test/run-cli.js';

const HOUR = 3_600_000;
const REQUESTER_ID = 'local-requester';

let tmp: string;
let sys: RunningSystem;
let policy: VerifiedPolicy;
let requester: Awaited<ReturnType<typeof requesterKeysFromSecret>>;
let epoch: number;
const vaults: TrusteeVault[] = [];
/** Conversation ids (base64url) made in the set-up. */
const conv: { ab: string; ac: string } = { ab: '', ac: '' };
let sentAt = 0;

const dataDir = () => join(tmp, 'data');
const anchorsFile = () => join(tmp, 'org.json');
const keyFile = () => join(dataDir(), 'requester', 'secret.key');
const base = () => ['--relay', sys.url, '--requester-key', keyFile(), '--org-anchors', anchorsFile()];

async function cli(args: string[]): Promise<Record<string, unknown>> {
  const r = await runInProcess([...args, '--json']);
  if (r.code !== 0) throw new Error(`overt ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

const requesterClient = () =>
  new AccessRelayClient({
    url: sys.url,
    signer: { kind: 'requester', id: REQUESTER_ID, key: requester.signingKey },
  });
/** A trustee's relay client under its own key, taken from its vault: what a trustee that misbehaves holds. */
const trusteeClient = (i: number) =>
  new AccessRelayClient({
    url: sys.url,
    signer: { kind: 'trustee', index: i, key: vaults[i - 1]!.signingKey() },
  });

/** The thrown error (a test fails when nothing is thrown). */
async function refusal(p: Promise<unknown>): Promise<ClientError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ClientError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

/** A request built and signed by the requester, in scope of `subjects` for the last two hours. */
async function newRequest(o: {
  subjects?: string[];
  conversations?: Uint8Array[];
  window?: { from: number; until: number };
  maxEnvelopes?: number;
}) {
  const now = Date.now();
  return buildRequest({
    policy,
    requesterId: REQUESTER_ID,
    signingKey: requester.signingKey,
    legalBasis: 'Court order 10/2026',
    documentHash: new Uint8Array(32).fill(0xab),
    subjects: o.subjects ?? ['bob'],
    window: o.window ?? { from: sentAt - HOUR, until: now + HOUR },
    ...(o.conversations ? { conversations: o.conversations } : {}),
    maxEnvelopes: o.maxEnvelopes ?? 100,
    sealUntil: now + 24 * HOUR,
    createdAt: now,
    confidential: { justification: 'suspected fraud', caseReference: 'case 10' },
  });
}

/**
 * A signed decision re-bound to `other`: request id and request hash replaced in place, the signature kept (signed
 * form: u32 body length ‖ u8 version ‖ vec8 org ‖ request_id[16] ‖ request_hash[32] ‖ … ‖ signature).
 */
function rebind(signed: Uint8Array, other: VerifiedRequest): Uint8Array {
  const out = signed.slice();
  const at = 4 + 1 + 1 + out[5]!;
  out.set(other.request.requestId, at);
  out.set(other.hash, at + 16);
  return out;
}

/** Trustee i approves with its own key, the way its daemon would sign (the daemon's own decision path aside). */
async function approve(i: number, request: VerifiedRequest) {
  return trusteeClient(i).submitDecision(
    signDecision(decisionFor(request, i, 'approve', Date.now()), vaults[i - 1]!.signingKey()),
  );
}

/** What an executed request looks like to whoever checks it: the verified execution and its served envelopes. */
interface Executed {
  readonly id: string;
  readonly request: VerifiedRequest;
  readonly execution: VerifiedExecution;
  readonly envelopes: { position: number; label: Uint8Array; head: Uint8Array; capsule: VerifiedCapsule }[];
}

/** Files a request, has trustees `by` approve it, and checks the relay's execution as a trustee would. */
async function executed(
  built: Awaited<ReturnType<typeof newRequest>>,
  by: [number, number],
): Promise<Executed> {
  await fileRequest(requesterClient(), built);
  await approve(by[0], built.verified);
  const answer = await approve(by[1], built.verified);
  expect(answer.execution).toBeDefined();
  const requestId = built.verified.request.requestId;
  const view = await trusteeClient(by[0]).getRequest(requestId);
  const execution = verifyExecution(
    view.execution!.execution,
    fromBase64(sys.wellKnown.accessKey),
    policy,
    built.verified,
    decisionsOnLog(
      policy,
      built.verified,
      view.decisions.map((d) => Uint8Array.of(6, ...d.decision)),
    ),
  );
  const page = await trusteeClient(by[0]).envelopes(requestId, 0, 100);
  const keySet = (await vaults[0]!.share(epoch))!.publicKey;
  return {
    id: toBase64Url(requestId),
    request: built.verified,
    execution,
    envelopes: page.items.map((e) => {
      const head = decodeEnvelopeHead(e.head);
      return {
        position: e.position,
        label: head.label,
        head: e.head,
        capsule: verifyCapsule(keySet.groupKey, decodeCapsule(head.capsule), head.label),
      };
    }),
  };
}

/** Trustee t's shares of every executed envelope, made with the share in its vault. */
async function sharesOf(t: number, x: Executed): Promise<BundleShare[]> {
  const share = (await vaults[t - 1]!.share(epoch))!.share;
  return x.envelopes.map((e) => ({
    position: e.position,
    label: e.label,
    share: createShare(share, e.capsule),
  }));
}

/** Trustee t seals `shares` to the requester, signs the release with its own key and posts it (batch 0). */
async function release(t: number, x: Executed, shares: BundleShare[]) {
  const bundle = await sealShareBundle(requester.encryption.publicKey, {
    requestId: x.request.request.requestId,
    executionHash: x.execution.hash,
    trusteeIndex: t,
    batch: 0,
    shares,
  });
  return trusteeClient(t).submitRelease(
    signRelease(releaseFor(x.execution, t, shares.length, bundle, Date.now()), vaults[t - 1]!.signingKey()),
    bundle,
    0,
  );
}

let cases = 0;
/** `overt request collect --json` into a fresh directory: exit code and what it printed. */
async function collectCli(id: string): Promise<{ code: number; out: Record<string, unknown> }> {
  const r = await runInProcess([
    'request',
    'collect',
    id,
    ...base(),
    '--out',
    join(tmp, `case-${++cases}`),
    '--json',
  ]);
  return { code: r.code ?? -1, out: JSON.parse(r.stdout) as Record<string, unknown> };
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'overt-access-attacks-'));
  const t0 = Date.now();
  sys = await startSystem({ dataDir: dataDir(), port: 0 });
  console.log(`startSystem: ${Date.now() - t0} ms`);
  writeFileSync(anchorsFile(), JSON.stringify(sys.wellKnown));
  policy = sys.policy.policy;
  requester = await requesterKeysFromSecret(new Uint8Array(readFileSync(keyFile())));
  epoch = calendarMonthEpoch(Date.now());
  for (const t of sys.trustees)
    vaults.push(
      await TrusteeVault.open({
        dataDir: t.dataDir,
        key: {
          kind: 'raw',
          key: new Uint8Array(
            readFileSync(join(dataDir(), 'trustees', 'vault-keys', `trustee-${t.index}.key`)),
          ),
        },
      }),
    );
  // Three people; alice talks to bob in one conversation and to carol in another.
  for (const user of ['alice', 'bob', 'carol']) {
    const profile = join(tmp, user);
    const init = await cli([
      'device',
      'init',
      '--relay',
      sys.url,
      '--user',
      user,
      '--device',
      `${user}-laptop`,
      '--profile',
      profile,
    ]);
    await cli([
      'admin',
      'enrol',
      '--relay',
      sys.url,
      '--admin-key',
      sys.adminKeyPath,
      '--user',
      user,
      '--device',
      `${user}-laptop`,
      '--device-key',
      init.deviceKey as string,
    ]);
  }
  const p = (u: string) => join(tmp, u);
  // The first run after enrolment publishes the device's key packages.
  for (const user of ['alice', 'bob', 'carol']) await cli(['chat', 'list', '--profile', p(user)]);
  conv.ab = (await cli(['chat', 'new', '--profile', p('alice'), '--with', 'bob'])).conversation as string;
  conv.ac = (await cli(['chat', 'new', '--profile', p('alice'), '--with', 'carol'])).conversation as string;
  sentAt = Date.now();
  await cli(['send', '--profile', p('alice'), '--to', conv.ab, 'meet at nine']);
  await cli(['send', '--profile', p('alice'), '--to', conv.ab, 'bring the numbers']);
  await cli(['read', '--profile', p('bob')]);
  await cli(['send', '--profile', p('bob'), '--to', conv.ab, 'see you there']);
  await cli(['send', '--profile', p('alice'), '--to', conv.ac, 'lunch on friday?']);
  console.log(`set-up: ${Date.now() - t0} ms`);
}, 180_000);

afterAll(async () => {
  for (const v of vaults) v.close();
  await sys?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}, 60_000);

describe('attacks on accountable access, end to end (issue #10)', () => {
  it('A11: a population-scale request is refused at filing by the relay (ACC-R1, WF-R5) and by the requester library; an execution over the limit is never made (over-limit)', async () => {
    const limits = policy.policy.limits;
    const now = Date.now();
    // The requester's own library refuses to build it (WF-R5) …
    const tooMany = Array.from({ length: limits.maxSubjects + 1 }, (_, i) => `user${i}`);
    await expect(newRequest({ subjects: tooMany })).rejects.toSatisfy(
      (e: unknown) => isOvertError(e) && (e as { check?: string }).check === 'WF-R5',
    );
    // … so the attacker signs the request by hand and posts it: each population-scale variant is refused by the
    // relay (ACC-R1, the cause WF-R5) and nothing is logged.
    const valid = await newRequest({});
    const q0 = valid.verified.request;
    const variants: Partial<Request>[] = [
      { subjects: [...tooMany].sort() },
      { window: { from: now - limits.maxWindowMs - HOUR, until: now } },
      { maxEnvelopes: limits.maxEnvelopes + 1 },
    ];
    for (const v of variants) {
      const q: Request = { ...q0, ...v, requestId: crypto.getRandomValues(new Uint8Array(16)) };
      const signed = signRequest(q, requester.signingKey);
      expect(() => verifyRequest(signed, policy)).toThrow(/./);
      const e = await refusal(requesterClient().fileRequest(signed, valid.sealed));
      expect(e.status).toBe(400);
      expect(e.relayCode).toBe('ACCESS_REQUEST_INVALID');
      expect(e.check).toBe('ACC-R1');
    }
    // A request inside the limits whose own envelope limit (1) is smaller than what is in scope (bob: 3 messages
    // he is in): two approvals, and the relay makes no execution (status over-limit).
    const small = await newRequest({ maxEnvelopes: 1 });
    await fileRequest(requesterClient(), small);
    await approve(1, small.verified);
    const second = await approve(2, small.verified);
    expect(second.execution).toBeUndefined();
    const view = await requesterClient().getRequest(small.verified.request.requestId);
    expect(view.status).toBe('over-limit');
    expect(view.execution).toBeUndefined();
    expect(view.decisions).toHaveLength(2);
  }, 60_000);

  it('A8: an approval replayed onto another request is refused by the relay (ACC-D1) and counts for nothing (WF-D4); a second request with the same id and wider scope is refused (ACC-R4)', async () => {
    const first = await newRequest({});
    await fileRequest(requesterClient(), first);
    const approval = signDecision(
      decisionFor(first.verified, 1, 'approve', Date.now()),
      vaults[0]!.signingKey(),
    );
    await trusteeClient(1).submitDecision(approval);
    const other = await newRequest({ subjects: ['alice', 'bob', 'carol'] });
    await fileRequest(requesterClient(), other);
    // The approval re-bound to the other request: its request id and hash replaced, the signature kept.
    const replayed = rebind(approval, other.verified);
    const e = await refusal(trusteeClient(1).submitDecision(replayed));
    expect([e.status, e.relayCode, e.check]).toEqual([400, 'ACCESS_DECISION_INVALID', 'ACC-D1']);
    // Counted against the other request it is nothing: the first request's approval is refused (WF-D4) and the
    // other request has no approval at all on the log.
    expect(() => verifyDecision(approval, policy, other.verified)).toThrow(
      expect.objectContaining({ check: 'WF-D4' }),
    );
    const otherView = await requesterClient().getRequest(other.verified.request.requestId);
    expect(otherView.decisions).toEqual([]);
    expect(otherView.status).toBe('pending');
    const logged = decisionsOnLog(
      policy,
      other.verified,
      [...(await requesterClient().getRequest(first.verified.request.requestId)).decisions].map((d) =>
        Uint8Array.of(6, ...d.decision),
      ),
    );
    expect(logged.decisions).toHaveLength(0);
    // A second request under the first one's id with a wider scope (every user): refused at filing (ACC-R4), so the
    // approval of the first can never be counted for it.
    const wider = await newRequest({ subjects: ['alice', 'bob', 'carol'] });
    const q: Request = { ...wider.verified.request, requestId: first.verified.request.requestId };
    const widerSigned = signRequest(q, requester.signingKey);
    const widerVerified = verifyRequest(widerSigned, policy);
    const e2 = await refusal(requesterClient().fileRequest(widerSigned, wider.sealed));
    expect([e2.status, e2.relayCode, e2.check]).toEqual([409, 'ACCESS_REQUEST_EXISTS', 'ACC-R4']);
    // Same id, other content: the approval's request hash binds it to the first request's bytes (WF-D4).
    expect(() => verifyDecision(approval, policy, widerVerified)).toThrow(
      expect.objectContaining({ check: 'WF-D4' }),
    );
  }, 60_000);

  let a9: Executed | undefined;

  it("A9: a trustee returns bad shares with valid-looking proofs, sealed and logged properly: collect fails naming that trustee (ACC-A9); the good trustee's shares are fine", async () => {
    // Trustee 2 replaces its daemon with its own tool (its daemon stopped, so only the bad release is made).
    const t2 = sys.trustees[1]!;
    process.kill(t2.pid, 'SIGTERM');
    for (let i = 0; i < 100 && pidAlive(t2.pid); i++) await new Promise((r) => setTimeout(r, 100));
    expect(pidAlive(t2.pid)).toBe(false);
    const x = await executed(await newRequest({ conversations: [fromBase64Url(conv.ab)] }), [1, 2]);
    a9 = x;
    expect(x.envelopes).toHaveLength(3);
    const good = await sharesOf(1, x);
    // For each position, trustee 2's real share (with its real proof) of the next position's capsule.
    const real = await sharesOf(2, x);
    const bad = real.map((s, i) => ({ ...s, share: real[(i + 1) % real.length]!.share }));
    await release(1, x, good);
    await release(2, x, bad);
    const { code, out } = await collectCli(x.id);
    expect(code).toBe(1);
    expect(out).toMatchObject({ ok: false, envelopes: 3, opened: 0, failed: 3, badTrustees: [2] });
    for (const v of out.verdicts as Record<string, unknown>[]) {
      expect(v).toMatchObject({ ok: false, check: 'ACC-A9' });
      expect((v.badShares as { trustee: number }[]).map((b) => b.trustee)).toEqual([2]);
    }
    // The good trustee's shares verify against the epoch's key set.
    const keySet = (await vaults[0]!.share(epoch))!.publicKey;
    for (const [i, s] of good.entries())
      expect(verifyShare(keySet, x.envelopes[i]!.capsule, s.share).index).toBe(1);
  }, 90_000);

  it("A2: k − 1 trustees pool what they have: one trustee's shares (all of them) do not combine (SHR-6), and its vault share does not open a capsule", async () => {
    const x = a9 ?? (await executed(await newRequest({ conversations: [fromBase64Url(conv.ab)] }), [1, 3]));
    const keySet = (await vaults[0]!.share(epoch))!.publicKey;
    const share1 = (await vaults[0]!.share(epoch))!.share;
    for (const e of x.envelopes) {
      const s = verifyShare(keySet, e.capsule, createShare(share1, e.capsule));
      expect(() => combineShares(e.capsule, [s], keySet)).toThrow(
        expect.objectContaining({ check: 'SHR-6' }),
      );
      // The vault share used as if it were the key: x_1·u, and the same with trustee 1's Lagrange weight for a
      // pair it does not have, both unmasked as K; neither opens the envelope (AEAD-2, the key commitment).
      const ciphertext = await requesterClient().ciphertext(x.request.request.requestId, e.position);
      for (const z of [s.value]) {
        const k = unmask(e.capsule, z);
        await expect(openRecoveredEnvelope(concatBytes(e.head, ciphertext), e.capsule, k)).rejects.toSatisfy(
          (err: unknown) => isOvertError(err) && (err as { check?: string }).check === 'AEAD-2',
        );
      }
    }
  }, 60_000);
});
