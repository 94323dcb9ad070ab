/**
 * The attacks of issue #10 on accountable access (DESIGN §5–§6, docs/spec/access.md), end to end against the real
 * processes of `npm start` — startSystem: the relay with its log, two witness daemons and three trustee daemons as
 * child processes, data under a temporary directory. People are enrolled and talk through the `overt` CLI; the
 * requester is the stand-in whose key `npm start` writes to data/requester/secret.key. Each attack is made the way
 * its attacker would make it — the relay operator through its own database and its own keys, a trustee through its
 * own vault (data/trustees/vault-keys, trustees.ts's honest limit) — and each is blocked or detected with the check
 * ID asserted. One system for the whole file (startSystem took 25–33 s here, the set-up 28–38 s); stopped in
 * afterAll. The tests run in order and build on each other: A2 uses A9's execution, A4 and A1a use A3's messages,
 * and A1b, which stops both witnesses, comes last.
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
  decodeHeader,
  decodeRefusal,
  decodeRelease,
  decodeSigned,
  encodeHeader,
  envelopeLabel,
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
  type ThresholdPublicKey,
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
import { calendarMonthEpoch } from '@overt/server';
import { TrusteeVault } from '@overt/trustee';
import { type RunningSystem, requesterKeysFromSecret, startSystem } from '@overt/up';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pidAlive } from '../../../test/children.js';
import { unmask } from '../../core/src/capsule/capsule.js';
import { runInProcess } from '../test/run-cli.js';
import { forgeUnloggedExecution, rebindDecision } from './demo/attacks/access.js';
import { AttackWorld, until } from './demo/attacks/world.js';

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

/** A signed decision re-bound to `other` (demo/attacks/access.ts: the demo's A8 does the same). */
const rebind = (signed: Uint8Array, other: VerifiedRequest) =>
  rebindDecision(signed, other.request.requestId, other.hash);

/** Trustee i approves with its own key, the way its daemon would sign (the daemon's own decision path aside). */
async function approve(i: number, request: VerifiedRequest) {
  return trusteeClient(i).submitDecision(
    signDecision(decisionFor(request, i, 'approve', Date.now()), vaults[i - 1]!.signingKey()),
  );
}

/** Trustees whose daemon this file stopped (they act, if at all, with their own tools). */
const stopped = new Set<number>();

/** The parties' keys of the started system, as the demo's attacks reach them (demo/attacks/world.ts). */
let world: AttackWorld;
/** A call to trustee i's operator API with its bearer token (data/trustees/trustee-i/api.url, api.token). */
const operator = (i: number, method: 'GET' | 'POST', path: string, body?: unknown) =>
  world.operator(i, method, path, body);
/** Trustee i's operator approves the request through its daemon, once the daemon sees it on its log view. */
const approveByOperator = (i: number, requestId: Uint8Array) =>
  world.approveByOperator(i, toBase64Url(requestId));

/** The refusals logged for a request, decoded: trustee, reason and label (base64url). */
async function refusalsOf(requestId: Uint8Array) {
  const view = await requesterClient().getRequest(requestId);
  return view.refusals.map((r) => {
    const x = decodeRefusal(decodeSigned(r.refusal, 1 << 16, 'REFUSAL_INVALID', 'WF-F1').body);
    return { trustee: x.trusteeIndex, reason: x.reason, label: x.label ? toBase64Url(x.label) : undefined };
  });
}

/** The relay's database, opened by its operator while the relay runs. */
const relayDb = () => world.relayDb();

/** The stored envelopes of a conversation (base64url id), oldest first: message id and header. */
function storedEnvelopes(
  conversation: string,
): { messageId: Uint8Array; header: Uint8Array; sendTime: number }[] {
  const db = relayDb();
  try {
    return (
      db
        .prepare(
          'SELECT message_id, header, send_time FROM envelopes WHERE conversation_id = ? ORDER BY send_time, message_id',
        )
        .all(fromBase64Url(conversation)) as { message_id: Buffer; header: Buffer; send_time: number }[]
    ).map((r) => ({
      messageId: new Uint8Array(r.message_id),
      header: new Uint8Array(r.header),
      sendTime: r.send_time,
    }));
  } finally {
    db.close();
  }
}

/** What an executed request looks like to whoever checks it: the verified execution and its served envelopes. */
interface Executed {
  readonly id: string;
  readonly request: VerifiedRequest;
  readonly execution: VerifiedExecution;
  /** The capsule verified for its label; undefined when it does not verify (a re-labelled envelope, A4). */
  readonly envelopes: { position: number; label: Uint8Array; head: Uint8Array; capsule?: VerifiedCapsule }[];
}

/** Files a request, has trustees `by` approve it, and checks the relay's execution as a trustee would. */
async function executed(
  built: Awaited<ReturnType<typeof newRequest>>,
  by: [number, number],
): Promise<Executed> {
  await fileRequest(requesterClient(), built);
  const requestId = built.verified.request.requestId;
  for (const t of by) {
    if (stopped.has(t)) await approve(t, built.verified);
    else await approveByOperator(t, requestId);
  }
  expect((await requesterClient().getRequest(requestId)).execution).toBeDefined();
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
        ...capsuleOf(keySet.groupKey, head),
      };
    }),
  };
}

function capsuleOf(groupKey: ThresholdPublicKey['groupKey'], head: ReturnType<typeof decodeEnvelopeHead>) {
  try {
    return { capsule: verifyCapsule(groupKey, decodeCapsule(head.capsule), head.label) };
  } catch (e) {
    if (isOvertError(e)) return {};
    throw e;
  }
}

/** Trustee t's shares of every executed envelope, made with the share in its vault. */
async function sharesOf(t: number, x: Executed): Promise<BundleShare[]> {
  const share = (await vaults[t - 1]!.share(epoch))!.share;
  return x.envelopes.map((e) => ({
    position: e.position,
    label: e.label,
    share: createShare(share, e.capsule!),
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
  world = await AttackWorld.open({ relayUrl: sys.url, dataDir: dataDir() });
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
  await world?.close();
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
    stopped.add(2);
    const x = await executed(await newRequest({ conversations: [fromBase64Url(conv.ab)] }), [1, 2]);
    a9 = x;
    expect(x.envelopes).toHaveLength(3);
    const good = await sharesOf(1, x);
    // For each position, trustee 2's real share (with its real proof) of the next position's capsule.
    const real = await sharesOf(2, x);
    const bad = real.map((s, i) => ({ ...s, share: real[(i + 1) % real.length]!.share }));
    // Trustee 1's daemon releases by itself (the release rule); trustee 2 releases its bad bundle by hand.
    await release(2, x, bad);
    await until('both releases', async () =>
      (await requesterClient().getRequest(x.request.request.requestId)).releases.length === 2
        ? true
        : undefined,
    );
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
      expect(verifyShare(keySet, x.envelopes[i]!.capsule!, s.share).index).toBe(1);
  }, 90_000);

  it("A2: k − 1 trustees pool what they have: one trustee's shares (all of them) do not combine (SHR-6), and its vault share does not open a capsule", async () => {
    const x = a9 ?? (await executed(await newRequest({ conversations: [fromBase64Url(conv.ab)] }), [1, 3]));
    const keySet = (await vaults[0]!.share(epoch))!.publicKey;
    const share1 = (await vaults[0]!.share(epoch))!.share;
    for (const e of x.envelopes) {
      const capsule = e.capsule;
      if (capsule === undefined) throw new Error('A2 needs capsules that verify');
      const s = verifyShare(keySet, capsule, createShare(share1, capsule));
      expect(() => combineShares(capsule, [s], keySet)).toThrow(expect.objectContaining({ check: 'SHR-6' }));
      // The vault share used as if it were the key: x_1·u unmasked as K does not open the envelope (AEAD-2, the
      // key commitment).
      const ciphertext = await requesterClient().ciphertext(x.request.request.requestId, e.position);
      const k = unmask(capsule, s.value);
      await expect(openRecoveredEnvelope(concatBytes(e.head, ciphertext), capsule, k)).rejects.toSatisfy(
        (err: unknown) => isOvertError(err) && (err as { check?: string }).check === 'AEAD-2',
      );
    }
  }, 60_000);
  /** The moment between the in-window and the late messages of A3/A4 (set in A3). */
  let cut = 0;

  it("A3: the relay's selection includes envelopes outside the window, of no subject and of another conversation: each is refused by label (REL-4, one logged refusal per label) and the rest are released", async () => {
    const p = (u: string) => join(tmp, u);
    await cli(['send', '--profile', p('bob'), '--to', conv.ab, 'fourth in scope']);
    const bc = (await cli(['chat', 'new', '--profile', p('bob'), '--with', 'carol'])).conversation as string;
    await cli(['send', '--profile', p('bob'), '--to', bc, 'another conversation']);
    await cli(['send', '--profile', p('alice'), '--to', conv.ac, 'no subject here']);
    cut = Date.now();
    await new Promise((r) => setTimeout(r, 5));
    await cli(['send', '--profile', p('alice'), '--to', conv.ab, 'late one']);
    await cli(['send', '--profile', p('alice'), '--to', conv.ab, 'late two']);
    const late = storedEnvelopes(conv.ab).filter((e) => e.sendTime >= cut)[0]!;
    const other = storedEnvelopes(bc)[0]!;
    const noSubject = storedEnvelopes(conv.ac).at(-1)!;
    // Bob's conversation with alice, before the cut: four envelopes in scope.
    const built = await newRequest({
      conversations: [fromBase64Url(conv.ab)],
      window: { from: sentAt - HOUR, until: cut },
    });
    const requestId = built.verified.request.requestId;
    // The relay operator's database: as the relay stores its selection, positions 0..2 are pointed at the
    // out-of-scope envelopes (a trigger, so the trustees never see an honest selection first).
    const db = relayDb();
    try {
      const swap = [late, other, noSubject].map(
        (e, position) => `WHEN ${position} THEN X'${Buffer.from(e.messageId).toString('hex')}'`,
      );
      db.exec(`CREATE TRIGGER attack_a3 AFTER INSERT ON access_selection
        WHEN NEW.request_id = X'${Buffer.from(requestId).toString('hex')}' AND NEW.position < 3
        BEGIN UPDATE access_selection SET message_id = CASE NEW.position ${swap.join(' ')} END
          WHERE request_id = NEW.request_id AND position = NEW.position; END`);
    } finally {
      db.close();
    }
    const x = await executed(built, [1, 3]);
    expect(x.execution.execution.envelopeCount).toBe(4);
    const refused = await until('three refusals and two releases', async () => {
      const view = await requesterClient().getRequest(requestId);
      const r = await refusalsOf(requestId);
      return r.length >= 6 && view.releases.length === 2 ? r : undefined;
    });
    // The served labels of positions 0..2 are the execution's; the heads behind them are the other envelopes.
    const servedLabels = (await requesterClient().envelopes(requestId, 0, 10)).items.map((e) =>
      toBase64Url(e.label),
    );
    for (const t of [1, 3])
      expect(
        refused
          .filter((r) => r.trustee === t)
          .map((r) => [r.reason, r.label])
          .sort(),
      ).toEqual(
        servedLabels
          .slice(0, 3)
          .map((l) => ['REL-4', l])
          .sort(),
      );
    const view = await requesterClient().getRequest(requestId);
    expect(view.releases.map((r) => r.trustee).sort()).toEqual([1, 3]);
    // Each release carries one share: position 3, the only envelope in scope the relay served honestly.
    for (const r of view.releases) {
      const body = decodeSigned(r.release, 1 << 16, 'RELEASE_INVALID', 'WF-L1').body;
      expect(decodeRelease(body).shareCount).toBe(1);
    }
  }, 120_000);

  it('A4: the relay re-labels an envelope into scope (its stored header changed): its capsule does not verify for the new label, refused by label (REL-5), nothing released for it', async () => {
    // "late two", sent after the cut, is out of the window; the operator moves its stored send time (header and
    // column) inside it, so the relay selects it under a new label.
    const target = storedEnvelopes(conv.ab).filter((e) => e.sendTime >= cut)[1]!;
    const header = decodeHeader(target.header);
    const moved = encodeHeader({ ...header, sendTime: cut - 1 });
    const db = relayDb();
    try {
      db.prepare('UPDATE envelopes SET header = ?, send_time = ? WHERE message_id = ?').run(
        moved,
        cut - 1,
        target.messageId,
      );
    } finally {
      db.close();
    }
    const newLabel = toBase64Url(envelopeLabel(moved));
    const built = await newRequest({
      conversations: [fromBase64Url(conv.ab)],
      window: { from: sentAt - HOUR, until: cut },
    });
    const requestId = built.verified.request.requestId;
    const x = await executed(built, [1, 3]);
    expect(x.execution.execution.envelopeCount).toBe(5);
    expect(x.envelopes.map((e) => toBase64Url(e.label))).toContain(newLabel);
    const refused = await until('the refusals and releases', async () => {
      const view = await requesterClient().getRequest(requestId);
      const r = await refusalsOf(requestId);
      return r.length >= 2 && view.releases.length === 2 ? r : undefined;
    });
    expect(refused.map((r) => [r.trustee, r.reason, r.label]).sort()).toEqual([
      [1, 'REL-5', newLabel],
      [3, 'REL-5', newLabel],
    ]);
    const view = await requesterClient().getRequest(requestId);
    for (const r of view.releases)
      expect(
        decodeRelease(decodeSigned(r.release, 1 << 16, 'RELEASE_INVALID', 'WF-L1').body).shareCount,
      ).toBe(4);
  }, 120_000);

  it("A1a: the relay operator writes an execution into its own database without logging it: no trustee releases anything, the requester's collect refuses it (REQ-2)", async () => {
    const built = await newRequest({
      conversations: [fromBase64Url(conv.ab)],
      window: { from: sentAt - HOUR, until: cut },
    });
    const requestId = built.verified.request.requestId;
    await fileRequest(requesterClient(), built);
    // One approval (k − 1): the relay may not execute. Its operator does it anyway, covertly: an execution signed
    // with the relay's own execution key (data/relay/access.key), written into relay.sqlite as the relay would
    // store it, and never appended to the log.
    await approveByOperator(1, requestId);
    const view = await requesterClient().getRequest(requestId);
    expect(view.status).toBe('pending');
    const approval = verifyDecision(view.decisions[0]!.decision, policy, built.verified);
    // It gives the execution the index of an entry that is on the log (the approval's), as a relay would.
    const selected = storedEnvelopes(conv.ab).filter((e) => e.sendTime < cut);
    forgeUnloggedExecution(world, built.verified, approval, view.decisions[0]!.index, selected);
    // The relay now serves it as executed …
    const served = await requesterClient().getRequest(requestId);
    expect(served.status).toBe('executed');
    expect(served.execution).toBeDefined();
    expect((await requesterClient().envelopes(requestId, 0, 10)).items).toHaveLength(selected.length);
    // … but the trustees follow the log, not the relay's word: over many polls (200 ms each) nothing is released
    // or refused, and the approving trustee still lists the request as pending.
    await new Promise((r) => setTimeout(r, 6_000));
    const after = await requesterClient().getRequest(requestId);
    expect(after.releases).toEqual([]);
    expect(after.refusals).toEqual([]);
    const item = (await operator(1, 'GET', `/v1/requests/${toBase64Url(requestId)}`)).body.request as Record<
      string,
      unknown
    >;
    expect(item.status).toBe('pending');
    // The requester does not take the relay's word either: the log holds other bytes at the index the relay gives
    // its execution (the CLI's REQ-2, before collect's own ACC-Q4: no execution of the request on the log).
    const { code, out } = await collectCli(toBase64Url(requestId));
    expect(code).not.toBe(0);
    expect(out.error, JSON.stringify(out)).toMatchObject({ code: 'ACCESS_INVALID', check: 'REQ-2' });
  }, 60_000);

  it('A1b: an execution on the log that the witnesses never cosigned (both witnesses stopped): no trustee releases (REL-3: beyond its witnessed checkpoint)', async () => {
    const built = await newRequest({
      conversations: [fromBase64Url(conv.ab)],
      window: { from: sentAt - HOUR, until: cut },
    });
    const requestId = built.verified.request.requestId;
    await fileRequest(requesterClient(), built);
    await approveByOperator(1, requestId);
    const id = toBase64Url(requestId);
    await until('trustee 3 to see the request', async () =>
      (await operator(3, 'GET', `/v1/requests/${id}`)).status === 200 ? true : undefined,
    );
    // The operator stops both witnesses, then gets the relay to append the execution (trustee 3's approval).
    for (const w of sys.witnesses) process.kill(w.pid, 'SIGTERM');
    for (const w of sys.witnesses)
      for (let i = 0; i < 100 && pidAlive(w.pid); i++) await new Promise((r) => setTimeout(r, 100));
    for (const w of sys.witnesses) expect(pidAlive(w.pid)).toBe(false);
    const approved = await operator(3, 'POST', `/v1/requests/${id}/decision`, { verdict: 'approve' });
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    const executedView = await until('the execution on the relay', async () => {
      const v = await requesterClient().getRequest(requestId);
      return v.execution !== undefined ? v : undefined;
    });
    await new Promise((r) => setTimeout(r, 6_000));
    const after = await requesterClient().getRequest(requestId);
    expect(after.releases).toEqual([]);
    // Each trustee's verified view stops below the execution: the checkpoint that holds it lacks the quorum.
    for (const t of [1, 3]) {
      const status = (await operator(t, 'GET', '/v1/status')).body;
      expect((status.checkpoint as { size: number }).size).toBeLessThanOrEqual(executedView.execution!.index);
    }
    // Nothing to refuse either: a trustee never sees an entry beyond its verified checkpoint.
    expect(await refusalsOf(requestId)).toEqual([]);
    // The requester cannot verify it either: its log view needs the witness quorum.
    const { code, out } = await collectCli(id);
    expect(code).not.toBe(0);
    expect(out.error).toMatchObject({ check: 'KT-2' });
    expect(String((out.error as Record<string, unknown>).message)).toContain('COSIG-5');
  }, 90_000);
});
