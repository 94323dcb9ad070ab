/**
 * The story of `overt demo` (docs/spec/demo.md §2–§4): alice, bob and carol chat; the requester files a warrant for
 * alice over one day; trustee 3 denies it and trustees 1 and 2 approve it; the relay executes it on the witnessed
 * log; the requester opens exactly the envelopes in scope and writes a verified evidence bundle; the seal runs out
 * and the relay unseals it; alice's own client shows her the notice; the public statistics count it.
 *
 * Every party acts with its own keys through the functions the CLI commands use (profiles and OvertClient as
 * `send`/`notices`, requester.ts and request-commands.ts as `request …`, the trustee daemons' operator APIs as
 * `trustee …`), and every number is measured and checked (DEMO-1..DEMO-9): a failed check throws
 * {@link DemoCheckFailed}, which ends the story.
 */
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AccessPublicClient,
  type AccessTotals,
  buildRequest,
  computeAccessStats,
  heldHeaders,
  isClientError,
  type LogView,
} from '@overt/client';
import {
  decodeSigned,
  decodeUnseal,
  equalBytes,
  type Header,
  inScope,
  scopeOf,
  sha256,
  toBase64Url,
  toHex,
  utf8Encode,
  type VerifiedRequest,
} from '@overt/core';
import { makeWitnessPolicy, parseCheckpoint, parseVerifierKey, verifyCheckpoint } from '@overt/log';
import { conversationTo } from '../chat-commands.js';
import type { CommandContext, Io } from '../command.js';
import { demoProfile, SecretSource } from '../passphrase.js';
import { type OpenProfile, openProfile } from '../profile.js';
import { download, newDirectory, openCase, writeEvidence } from '../request-commands.js';
import {
  accessClient,
  checkStatus,
  lastIndexOf,
  logView,
  type Org,
  policyInForce,
  readRequesterKeyFile,
  requesterIdOf,
} from '../requester.js';
import { ApiProblem, trusteeApiAt, trusteeDecide, trusteeRequests } from '../trustee-commands.js';

const DAY = 86_400_000;
const UNSEAL_ENTRY = 10;
/** How long the story waits for each thing the live system does on its own (daemons poll, witnesses cosign). */
const WAIT_REVIEW_MS = 60_000;
const WAIT_RELEASES_MS = 120_000;
const WAIT_UNSEAL_AFTER_SEAL_MS = 120_000;

/** A check of docs/spec/demo.md §4 that failed: the story ends here. */
export class DemoCheckFailed extends Error {
  constructor(
    readonly check: string,
    message: string,
  ) {
    super(message);
    this.name = 'DemoCheckFailed';
  }
}

function check(ok: boolean, id: string, message: string): asserts ok {
  if (!ok) throw new DemoCheckFailed(id, message);
}

/** What the story measured so far (demo.md §5's `story`); filled in as it goes, so a failure keeps the rest. */
export interface StoryResult {
  requestId: string | null;
  messagesSent: number;
  inScope: number;
  opened: number;
  outOfScopeOpened: number;
  evidenceVerified: boolean;
  evidenceDir: string | null;
  notified: string[];
  /** The size of the last checkpoint the story verified. */
  logSize: number;
  /** The check of the step under way (demo.md §4): an error that is no check's failure is reported under it. */
  stage: string;
}

export interface StoryOptions {
  readonly relay: string;
  /** The `overt up --demo-users` data directory. */
  readonly dataDir: string;
  readonly org: Org;
  readonly sealSeconds: number;
  /** Where to write the evidence bundle (new or empty); default a new directory under the OS temp dir. */
  readonly evidenceDir?: string;
  readonly io: Io;
  /** One numbered step done: its line and an optional second line. */
  readonly step: (n: number, line: string, detail?: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `f` every `everyMs` until it returns a value, or fails `id` with `what` after `ms`. */
async function eventually<T>(
  id: string,
  what: string,
  ms: number,
  f: () => Promise<T | undefined>,
  everyMs = 500,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end)
      throw new DemoCheckFailed(id, `timed out after ${Math.round(ms / 1000)} s: ${what}`);
    await sleep(everyMs);
  }
}

/** A context for the library functions that take one (they read options and the io only). */
function contextOf(io: Io, values: Record<string, string> = {}): CommandContext {
  return { values, positionals: [], json: true, io };
}

interface User {
  readonly name: string;
  readonly p: OpenProfile;
}

/** One message of the story (demo.md §2) as its sender sent it. */
interface Sent {
  readonly n: number;
  readonly sender: User;
  readonly conversation: Uint8Array;
  readonly recipients: readonly User[];
  readonly messageId: Uint8Array;
  readonly payload: Uint8Array;
}

const ISO = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const short = (id: string) => `${id.slice(0, 8)}…`;

/** The totals the statistics' check compares (demo.md §3 step 10). */
function totalsOf(view: LogView, org: Org): AccessTotals {
  return computeAccessStats(
    view,
    { orgKey: org.anchors.adminKey, relayKey: org.accessKey, orgId: org.orgId },
    Date.now(),
  ).totals;
}

/**
 * Step 1 (DEMO-1): the checkpoint at the well-known log URL, verified here with @overt/log under exactly the
 * well-known vkey, witness keys and quorum (what any C2SP verifier is given), and the whole log re-hashed to it.
 */
async function verifiedLog(org: Org): Promise<{ view: LogView; cosigners: string[] }> {
  const log = org.anchors.log;
  let text: string;
  try {
    const res = await fetch(`${log.url}checkpoint`);
    check(res.ok, 'DEMO-1', `GET ${log.url}checkpoint answered HTTP ${res.status}`);
    text = await res.text();
  } catch (e) {
    if (e instanceof DemoCheckFailed) throw e;
    throw new DemoCheckFailed('DEMO-1', `cannot read ${log.url}checkpoint`);
  }
  let cosigners: string[];
  try {
    const cp = verifyCheckpoint(parseCheckpoint(text), {
      origin: log.origin,
      logKeys: [parseVerifierKey(log.vkey)],
      witnesses: makeWitnessPolicy(log.witnessVkeys.map(parseVerifierKey), log.witnessQuorum),
    });
    cosigners = cp.cosignatures.map((c) => c.key.name);
  } catch (e) {
    throw new DemoCheckFailed(
      'DEMO-1',
      `the log's checkpoint does not verify under the well-known keys (${(e as Error).message})`,
    );
  }
  const view = await logView(org);
  return { view, cosigners };
}

/** Sends one message and waits for nothing else; the relay's acknowledgement is the count (DEMO-2). */
async function send(
  n: number,
  sender: User,
  conversation: Uint8Array,
  recipients: readonly User[],
  content: { text: string } | { file: Uint8Array; type: string; name: string },
): Promise<Sent> {
  await sender.p.client.receive();
  const sent =
    'text' in content
      ? await sender.p.client.sendText(conversation, content.text)
      : await sender.p.client.sendFile(conversation, content.file, content.type, { name: content.name });
  const payload = 'text' in content ? utf8Encode(content.text) : content.file;
  return { n, sender, conversation, recipients, messageId: sent.messageId, payload };
}

/** Every message reached each of its recipients' clients, verified, with the bytes sent (DEMO-2). */
async function checkDelivered(sent: readonly Sent[], users: readonly User[]): Promise<void> {
  for (const u of users) {
    await u.p.client.receive();
    // Left unread: `overt read --as NAME` shows them afterwards.
    const got = new Map<string, Uint8Array>();
    for (const { event } of await u.p.client.unread())
      if (event.kind === 'message') got.set(toBase64Url(event.messageId), event.payload);
    for (const m of sent.filter((s) => s.recipients.includes(u))) {
      const payload = got.get(toBase64Url(m.messageId));
      check(payload !== undefined, 'DEMO-2', `message ${m.n} did not reach ${u.name}'s client`);
      check(equalBytes(payload, m.payload), 'DEMO-2', `message ${m.n} reached ${u.name} with other bytes`);
    }
  }
}

interface Labelled {
  /** Hex of the label (envelope.md §2.3): the tagged hash of the header. */
  readonly label: string;
  readonly header: Header;
  readonly sent: Sent;
}

/** The labels of the story's messages, from the headers their senders' clients hold (client.md §4.9). */
async function labelsOf(sent: readonly Sent[]): Promise<Map<string, Labelled>> {
  const out = new Map<string, Labelled>();
  for (const s of sent) {
    const held = await heldHeaders(s.sender.p.store);
    const h = held.find((x) => equalBytes(x.header.messageId, s.messageId));
    check(h !== undefined, 'DEMO-4', `${s.sender.name}'s client holds no header of message ${s.n}`);
    out.set(toBase64Url(s.messageId), { label: toHex(h.label), header: h.header, sent: s });
  }
  return out;
}

/** Runs the story; resolves with what it measured, or throws DemoCheckFailed with `result` filled so far. */
export async function runStory(o: StoryOptions, result: StoryResult): Promise<void> {
  const { org, io, step } = o;

  // ── 1. The log ──
  result.stage = 'DEMO-1';
  const first = await verifiedLog(org);
  const before = totalsOf(first.view, org);
  result.logSize = first.view.checkpoint.size;
  step(
    1,
    `The log at ${org.anchors.log.url}: ${first.view.checkpoint.size} entries, checkpoint signed by the log and cosigned by ${first.cosigners.length} of ${org.anchors.log.witnessVkeys.length} witnesses (quorum ${org.anchors.log.witnessQuorum}), verified here.`,
  );

  // ── 2. Chat ──
  result.stage = 'DEMO-2';
  const open = async (name: string): Promise<User> => {
    const { dir, passphraseFile } = demoProfile(o.dataDir, name);
    const p = await openProfile(dir, new SecretSource(contextOf(io, { 'passphrase-file': passphraseFile })));
    return { name, p };
  };
  const alice = await open('alice');
  const bob = await open('bob');
  const carol = await open('carol');
  const users = [alice, bob, carol];
  for (const u of users) await u.p.client.receive();

  const sent: Sent[] = [];
  const ab = await conversationTo(alice.p, 'bob');
  sent.push(await send(1, alice, ab, [bob], { text: 'Are we still on for Friday?' }));
  result.messagesSent = sent.length;
  // The warrant's window starts after message 1 (its send time is the sender's clock, this one's).
  await sleep(5);
  const from = Date.now();
  await sleep(5);
  const group = await alice.p.client.createConversation(['bob', 'carol'], { name: 'Q4 plans' });
  check(group.missing.length === 0, 'DEMO-2', `${group.missing.join(', ')} could not be added to the group`);
  const q4 = group.conversationId;
  const csv = utf8Encode(`quarter,revenue\nQ4,${1000 + (randomBytes(1)[0] ?? 0)}\n`);
  const steps: [
    User,
    Uint8Array,
    User[],
    { text: string } | { file: Uint8Array; type: string; name: string },
  ][] = [
    [alice, q4, [bob, carol], { text: 'The Q4 numbers are in.' }],
    [bob, q4, [alice, carol], { text: 'Send them over.' }],
    [carol, q4, [alice, bob], { file: csv, type: 'text/csv', name: 'q4-figures.csv' }],
    [alice, ab, [bob], { text: 'Call me when you have read them.' }],
  ];
  for (const [sender, conv, to, content] of steps) {
    sent.push(await send(sent.length + 1, sender, conv, to, content));
    result.messagesSent = sent.length;
  }
  await bob.p.client.receive();
  const bc = await conversationTo(bob.p, 'carol');
  sent.push(await send(6, bob, bc, [carol], { text: 'Lunch tomorrow?' }));
  result.messagesSent = sent.length;
  await checkDelivered(sent, users);
  step(
    2,
    `alice, bob and carol chat: ${sent.length} messages sent and received — a group "Q4 plans", one to one, and a file.`,
    'One alice→bob message is sent before the warrant’s window opens; bob→carol never involves alice.',
  );

  // ── 3. The warrant ──
  result.stage = 'DEMO-3';
  const keys = await readRequesterKeyFile(join(o.dataDir, 'requester', 'secret.key'));
  const policyView = await logView(org);
  const policy = policyInForce(policyView, org);
  const requesterId = requesterIdOf(policy, keys);
  const now = Date.now();
  const sealUntil = now + o.sealSeconds * 1000;
  const legalBasis = 'Demo order 1/2026';
  const built = await buildRequest({
    policy,
    requesterId,
    signingKey: keys.signingKey,
    legalBasis,
    documentHash: sha256(utf8Encode(legalBasis)),
    subjects: ['alice'],
    window: { from, until: from + DAY },
    maxEnvelopes: policy.policy.limits.maxEnvelopes,
    sealUntil,
    createdAt: now,
    confidential: { justification: 'overt demo: suspected leak of the Q4 figures', caseReference: 'DEMO-1' },
    ...(org.unsealKey !== undefined ? { relayUnsealKey: org.unsealKey } : {}),
  });
  keys.encryption.secretKey.fill(0);
  const requester = accessClient(o.relay, requesterId, keys);
  const filed = await requester.fileRequest(built.signed, built.sealed, built.relaySealed);
  const requestId = filed.requestId;
  const id = toBase64Url(requestId);
  result.requestId = id;
  step(
    3,
    `The requester files a warrant for alice over one day (${ISO(from)} + 24 h): request ${short(id)} at log index ${filed.index}, sealed until ${ISO(sealUntil)}.`,
  );

  // ── 4. The trustees ──
  result.stage = 'DEMO-3';
  const trusteeDir = (i: number) => join(o.dataDir, 'trustees', `trustee-${i}`);
  for (const i of [3, 1, 2]) {
    const api = trusteeApiAt(trusteeDir(i));
    await eventually('DEMO-3', `trustee ${i} to list request ${id}`, WAIT_REVIEW_MS, async () =>
      (await trusteeRequests(api)).some((x) => x.requestId === id) ? true : undefined,
    );
    try {
      await trusteeDecide(
        api,
        id,
        i === 3 ? 'deny' : 'approve',
        i === 3 ? 'not proportionate for a leak inquiry' : 'order checked',
      );
    } catch (e) {
      if (e instanceof ApiProblem)
        throw new DemoCheckFailed('DEMO-3', `trustee ${i}'s decision was refused (${e.code})`);
      throw e;
    }
  }
  const executed = await eventually(
    'DEMO-3',
    `the execution of request ${id} on the verified log`,
    WAIT_RELEASES_MS,
    async () => {
      const answer = await requester.getRequest(requestId);
      const view = await logView(org, lastIndexOf(answer), 5_000);
      if (lastIndexOf(answer) >= view.checkpoint.size) return undefined;
      const s = checkStatus(view, org, requestId, answer);
      return s.execution !== undefined ? { s, view } : undefined;
    },
    1000,
  );
  const verdicts = executed.s.decisions
    .map((d) => `${d.decision.decision.trusteeIndex}:${d.decision.decision.verdict}`)
    .sort();
  check(
    verdicts.join(',') === '1:approve,2:approve,3:deny',
    'DEMO-3',
    `the log shows the decisions ${verdicts.join(', ')}, not trustee 3's denial and trustees 1 and 2's approvals`,
  );
  step(
    4,
    `Trustee 3 denies it; trustees 1 and 2 approve: ${policy.policy.threshold} of ${policy.policy.trustees.length}, the threshold. All three decisions are on the log.`,
  );

  // ── 5. Execution, scope, witnesses ──
  result.stage = 'DEMO-4';
  const request: VerifiedRequest = executed.s.request;
  const labels = await labelsOf(sent);
  const scope = scopeOf(request);
  const inScopeIds = new Set(
    sent
      .filter((s) => inScope(labels.get(toBase64Url(s.messageId))!.header, scope).inScope)
      .map((s) => toBase64Url(s.messageId)),
  );
  result.inScope = inScopeIds.size;
  check(
    inScopeIds.size === 4,
    'DEMO-4',
    `${inScopeIds.size} of the story's messages are in scope by inScope, not 4 (demo.md §2)`,
  );
  const execution = executed.s.execution!;
  const count = execution.execution.execution.envelopeCount;
  const selected = new Map<string, string>();
  for (let at: number | null = 0; at !== null; ) {
    const page = await requester.envelopes(requestId, at, 1024);
    for (const e of page.items) selected.set(toBase64Url(e.messageId), toHex(e.label));
    if (page.items.length === 0) break;
    at = page.next;
  }
  const expected = [...inScopeIds].map((m) => labels.get(m)!.label).sort();
  check(
    selected.size === count && [...selected.values()].sort().join() === expected.join(),
    'DEMO-4',
    `the relay selected ${count} envelopes, not exactly the ${expected.length} labels in scope`,
  );
  const cosigned = executed.view.checkpoint.cosignatures.map((c) => c.key.name);
  step(
    5,
    `The relay executes it: ${count} envelopes selected, exactly the ${inScopeIds.size} in scope (execution at log index ${execution.index}).`,
    `Checkpoint of ${executed.view.checkpoint.size} entries cosigned by ${cosigned.join(' and ')}.`,
  );

  // ── 6. Releases and opening ──
  result.stage = 'DEMO-5';
  const released = await eventually(
    'DEMO-5',
    'trustees 1 and 2 to log their releases',
    WAIT_RELEASES_MS,
    async () => {
      const answer = await requester.getRequest(requestId);
      if (answer.releases.length < 2) return undefined;
      const view = await logView(org, lastIndexOf(answer), 5_000);
      if (lastIndexOf(answer) >= view.checkpoint.size) return undefined;
      return checkStatus(view, org, requestId, answer);
    },
    1000,
  );
  const releasers = [...new Set(released.releases.map((r) => r.release.release.trusteeIndex))].sort();
  check(
    releasers.join() === '1,2',
    'DEMO-5',
    `releases were logged by trustees ${releasers.join(', ')}, not exactly 1 and 2`,
  );
  const ctx = contextOf(io);
  const { downloaded } = await download(ctx, o.relay, org, requestId, keys);
  const collectKeys = await readRequesterKeyFile(join(o.dataDir, 'requester', 'secret.key'));
  const collected = await openCase(org, downloaded, collectKeys.encryption.secretKey);
  const openedIds: string[] = [];
  for (const v of collected.verdicts) {
    if (!v.ok) continue;
    const mid = toBase64Url(v.messageId);
    openedIds.push(mid);
    const s = labels.get(mid)?.sent;
    if (s !== undefined && inScopeIds.has(mid))
      check(equalBytes(v.content.payload, s.payload), 'DEMO-5', `message ${s.n} opened to other bytes`);
  }
  result.opened = openedIds.length;
  result.outOfScopeOpened = openedIds.filter((m) => !inScopeIds.has(m)).length;
  check(result.outOfScopeOpened === 0, 'DEMO-5', `${result.outOfScopeOpened} envelopes out of scope opened`);
  check(
    result.opened === inScopeIds.size,
    'DEMO-5',
    `${result.opened} of the ${inScopeIds.size} envelopes in scope opened`,
  );
  let beyond = 'handed out';
  try {
    await requester.ciphertext(requestId, count);
  } catch (e) {
    if (!isClientError(e) || e.relayCode !== 'ACCESS_ENVELOPE_UNKNOWN') throw e;
    beyond = e.relayCode;
  }
  check(
    beyond === 'ACCESS_ENVELOPE_UNKNOWN',
    'DEMO-5',
    'the relay handed out an envelope past the selection',
  );
  const outside = sent.length - inScopeIds.size;
  step(
    6,
    `Trustees 1 and 2 release their shares (trustee 3 none); every share verifies; the requester opens ${result.opened} of ${inScopeIds.size} in scope, each as sent.`,
    `The ${outside} messages out of scope stay closed: not selected, no share, and the envelope past the selection is refused (${beyond}).`,
  );

  // ── 7. Evidence ──
  result.stage = 'DEMO-6';
  const evidence = newDirectory('evidence', o.evidenceDir ?? join(tmpdir(), `overt-demo-evidence-${id}`));
  result.evidenceDir = evidence;
  const bundleKeys = await readRequesterKeyFile(join(o.dataDir, 'requester', 'secret.key'));
  const { files, report } = await writeEvidence(org, downloaded, bundleKeys, evidence);
  result.evidenceVerified = report.ok;
  check(
    report.ok,
    'DEMO-6',
    `the evidence bundle does not verify (${report.failures.map((f) => f.check).join(', ')})`,
  );
  step(7, `Evidence bundle written and verified offline: ${evidence} (${files.size} files).`);

  // ── 8. The seal runs out ──
  result.stage = 'DEMO-7';
  const publicReader = new AccessPublicClient({ url: o.relay });
  const wait = sealUntil - Date.now();
  if (wait > 0) await sleep(wait);
  const unseal = await eventually(
    'DEMO-7',
    `the unseal of request ${id}`,
    WAIT_UNSEAL_AFTER_SEAL_MS,
    async () => {
      try {
        return (await publicReader.publicRequest(requestId)).unseal;
      } catch (e) {
        if (isClientError(e) && e.relayCode === 'ACCESS_NOT_UNSEALED') return undefined;
        throw e;
      }
    },
    1000,
  );
  const sealView = await logView(org, unseal.index);
  const entry = sealView.entries[unseal.index];
  check(
    entry !== undefined &&
      entry[0] === UNSEAL_ENTRY &&
      equalBytes(entry.subarray(1), unseal.unseal) &&
      equalBytes(
        decodeUnseal(decodeSigned(unseal.unseal, 0xffff, 'UNSEAL_INVALID', 'WF-U1').body).requestId,
        requestId,
      ),
    'DEMO-7',
    `log index ${unseal.index} of the verified log is not the unseal of request ${id}`,
  );
  step(
    8,
    `The seal runs out at ${ISO(sealUntil)}; the relay unseals the request: justification and case reference public at log index ${unseal.index}.`,
  );

  // ── 9. The notice ──
  result.stage = 'DEMO-8';
  const notified: string[] = [];
  let aliceOpened: string[] = [];
  for (const u of users) {
    await u.p.client.receive();
    // Not marked seen: `overt notices --as alice` shows it afterwards as NEW.
    const n = (await u.p.client.notices()).find((k) => k.notice.requestId === id);
    if (n === undefined) continue;
    notified.push(u.name);
    if (u === alice) aliceOpened = n.notice.opened.map((m) => m.messageId).sort();
  }
  result.notified = notified;
  check(
    notified.join() === 'alice',
    'DEMO-8',
    `the notice is shown to ${notified.length === 0 ? 'nobody' : notified.join(', ')}, not to alice alone`,
  );
  check(
    aliceOpened.join() === [...inScopeIds].sort().join(),
    'DEMO-8',
    `alice's notice lists ${aliceOpened.length} opened messages, not the ${inScopeIds.size} in scope`,
  );
  step(
    9,
    `alice's client shows her the notice: who asked, why, approved by trustees 1 and 2, denied by 3, and exactly her ${aliceOpened.length} messages opened.`,
    'bob and carol, who are not named in the warrant, get no notice.',
  );

  // ── 10. Statistics ──
  result.stage = 'DEMO-9';
  const last = await verifiedLog(org);
  result.logSize = last.view.checkpoint.size;
  const after = totalsOf(last.view, org);
  const d = (k: keyof AccessTotals) => after[k] - before[k];
  const wanted: [keyof AccessTotals, number][] = [
    ['requests', 1],
    ['approvals', 2],
    ['denials', 1],
    ['executions', 1],
    ['envelopesReleased', inScopeIds.size],
  ];
  for (const [k, n] of wanted)
    check(d(k) === n, 'DEMO-9', `the statistics count ${d(k)} more ${k}, not ${n}`);
  check(d('unseals') >= 1, 'DEMO-9', 'the statistics count no new unseal');
  step(
    10,
    `The public statistics, computed from the verified log (${last.view.checkpoint.size} entries), count it: +1 request, +2 approvals, +1 denial, +1 execution, +${d('envelopesReleased')} envelopes released, +${d('unseals')} unseal.`,
  );
}
