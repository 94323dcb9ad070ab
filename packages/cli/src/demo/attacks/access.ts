/**
 * The attacks on accountable access (DESIGN §6 A1–A4, A8–A11, A13; docs/spec/demo-attacks.md), made against the
 * live system the way packages/cli/src/overt-access-attacks.test.ts makes them against a test system: the relay
 * operator through its own database and keys, a trustee through its own vault, the requester through its signing
 * key. Everything they need is made here: two throwaway people (dave talks to erin), their messages, and the
 * demo's own requests — nothing depends on the demo's story.
 *
 * What is changed in the live relay's database is put back afterwards (A1's forged execution rows, A3's trigger,
 * A4's edited header); A13 shreds on copies of two vaults, never the live ones.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileRequest, type RequestView } from '@overt/client';
import {
  combineShares,
  createShare,
  decodeCapsule,
  decodeEnvelopeHead,
  decodeHeader,
  decodeRefusal,
  decodeSigned,
  encodeHeader,
  envelopeLabel,
  executionFor,
  type Request,
  randomBytes,
  signExecution,
  signRequest,
  toBase64Url,
  toHex,
  type VerifiedCapsule,
  type VerifiedDecision,
  type VerifiedRequest,
  verifyCapsule,
  verifyDecision,
  verifyShare,
} from '@overt/core';
import { SIGNATURE_TYPE_ED25519 } from '@overt/log';
import { TrusteeVault } from '@overt/trustee';
import { loadOrCreateKeyFile } from '@overt/witness';
import Database from 'better-sqlite3';
import { checkStatus, logView } from '../../requester.js';
import type { AttackResult } from '../attack-types.js';
import { type AttackWorld, eventsOf, HOUR, type Person, refused, shown, sleep, until } from './world.js';

type Outcome = Omit<AttackResult, 'id'>;

/** A message stored by the relay: its id, header and send time. */
interface Stored {
  readonly messageId: Uint8Array;
  readonly header: Uint8Array;
  readonly sendTime: number;
}

/** A served envelope of an executed request, with its capsule verified for its label (when it verifies). */
interface Served {
  readonly position: number;
  readonly label: Uint8Array;
  readonly head: Uint8Array;
  readonly epoch: number;
  readonly capsule?: VerifiedCapsule;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** The scene the access attacks share, made once: dave's conversation with erin and its messages. */
export class AccessScene {
  private made: Promise<void> | undefined;
  private executedOnce:
    | Promise<{ a3: Outcome; a4: Outcome; served: Served[]; requestId: Uint8Array }>
    | undefined;
  dave!: Person;
  erin!: Person;
  conversation!: Uint8Array;
  /** Before m1 was sent; the cut between m1, m2 (in the window) and m3, m4 (after it). */
  sentAt = 0;
  cut = 0;
  /** m1, m2 before the cut, m3, m4 after it. */
  stored: Stored[] = [];

  constructor(readonly w: AttackWorld) {}

  ready(): Promise<void> {
    this.made ??= this.make();
    return this.made;
  }

  private async make(): Promise<void> {
    this.dave = await this.w.person('dave');
    this.erin = await this.w.person('erin');
    const { conversationId } = await this.dave.client.createConversation([this.erin.userId]);
    this.conversation = conversationId;
    await this.erin.client.sync();
    this.sentAt = Date.now();
    await this.dave.client.sendText(conversationId, 'the invoices are in the blue folder');
    await this.dave.client.sendText(conversationId, 'call me after the audit');
    await sleep(5);
    this.cut = Date.now();
    await sleep(5);
    await this.dave.client.sendText(conversationId, 'lunch tomorrow?');
    await this.dave.client.sendText(conversationId, 'and bring the charger');
    await this.erin.client.sync();
    this.stored = this.storedEnvelopes();
    if (this.stored.length !== 4) throw new Error(`expected 4 stored envelopes, found ${this.stored.length}`);
  }

  /** The relay's stored envelopes of the conversation, oldest first (read from its database, as its operator). */
  storedEnvelopes(): Stored[] {
    const db = this.w.relayDb();
    try {
      return (
        db
          .prepare(
            'SELECT message_id, header, send_time FROM envelopes WHERE conversation_id = ? ORDER BY send_time, message_id',
          )
          .all(this.conversation) as { message_id: Buffer; header: Buffer; send_time: number }[]
      ).map((r) => ({
        messageId: new Uint8Array(r.message_id),
        header: new Uint8Array(r.header),
        sendTime: r.send_time,
      }));
    } finally {
      db.close();
    }
  }

  /** A request over dave's conversation, in the window before the cut. */
  request() {
    return this.w.newRequest({
      subjects: [this.dave.userId],
      conversations: [this.conversation],
      window: { from: this.sentAt - HOUR, until: this.cut },
    });
  }

  /** The refusals logged for a request, decoded: trustee, reason and label (hex). */
  async refusalsOf(requestId: Uint8Array) {
    const view = await this.w.requesterClient().getRequest(requestId);
    return view.refusals.map((r) => {
      const x = decodeRefusal(decodeSigned(r.refusal, 1 << 16, 'REFUSAL_INVALID', 'WF-F1').body);
      return { trustee: x.trusteeIndex, reason: x.reason, label: x.label ? hex(x.label) : '' };
    });
  }

  /**
   * A3 and A4 on one request, executed by trustees 1 and 3 through their daemons: the relay operator's database
   * points m1's place in the selection at m3 (after the window: A3), and m4's stored header is moved into the window
   * so the relay selects it under a new label (A4). Both are undone once the trustees have answered.
   */
  executed() {
    this.executedOnce ??= this.execute();
    return this.executedOnce;
  }

  private async execute() {
    await this.ready();
    const w = this.w;
    const [m1, , m3, m4] = this.stored as [Stored, Stored, Stored, Stored];
    const built = await this.request();
    const requestId = built.verified.request.requestId;
    const moved = encodeHeader({ ...decodeHeader(m4.header), sendTime: this.cut - 1 });
    const m1Label = hex(envelopeLabel(m1.header));
    const newLabel = hex(envelopeLabel(moved));
    const db = w.relayDb();
    try {
      db.exec(`CREATE TRIGGER overt_demo_a3 AFTER INSERT ON access_selection
        WHEN NEW.request_id = X'${hex(requestId)}' AND NEW.message_id = X'${hex(m1.messageId)}'
        BEGIN UPDATE access_selection SET message_id = X'${hex(m3.messageId)}'
          WHERE request_id = NEW.request_id AND position = NEW.position; END`);
      db.prepare('UPDATE envelopes SET header = ?, send_time = ? WHERE message_id = ?').run(
        moved,
        this.cut - 1,
        m4.messageId,
      );
    } finally {
      db.close();
    }
    let refusals: Awaited<ReturnType<AccessScene['refusalsOf']>>;
    let releases: number;
    let served: Served[];
    try {
      await fileRequest(w.requesterClient(), built);
      const id = toBase64Url(requestId);
      await w.approveByOperator(1, id);
      await w.approveByOperator(3, id);
      ({ refusals, releases } = await until(
        'the trustees to answer the execution',
        async () => {
          const view = await w.requesterClient().getRequest(requestId);
          const r = await this.refusalsOf(requestId);
          return r.length >= 4 && view.releases.length >= 2
            ? { refusals: r, releases: view.releases.length }
            : undefined;
        },
        60_000,
      ));
      const page = await (await w.trusteeClient(1)).envelopes(requestId, 0, 100);
      const keySet = (await (await w.vaults())[0]!.share(decodeHeader(m1.header).epoch))!.publicKey;
      served = page.items.map((e) => {
        const head = decodeEnvelopeHead(e.head);
        let capsule: VerifiedCapsule | undefined;
        try {
          capsule = verifyCapsule(keySet.groupKey, decodeCapsule(head.capsule), head.label);
        } catch {
          capsule = undefined;
        }
        return {
          position: e.position,
          label: head.label,
          head: e.head,
          epoch: head.header.epoch,
          ...(capsule ? { capsule } : {}),
        };
      });
    } finally {
      // The operator covers its tracks: the trigger dropped, m4's header and send time put back.
      const undo = w.relayDb();
      try {
        undo.exec('DROP TRIGGER IF EXISTS overt_demo_a3');
        undo
          .prepare('UPDATE envelopes SET header = ?, send_time = ? WHERE message_id = ?')
          .run(m4.header, m4.sendTime, m4.messageId);
      } finally {
        undo.close();
      }
    }
    const by = (reason: string, label: string) =>
      [1, 3].filter((t) => refusals.some((r) => r.trustee === t && r.reason === reason && r.label === label));
    const a3By = by('REL-4', m1Label);
    const a4By = by('REL-5', newLabel);
    const a3: Outcome = {
      outcome: a3By.length === 2 ? 'blocked' : 'not-stopped',
      attempt:
        "the relay operator's database swaps an envelope from after the request's window into the relay's selection of an approved request",
      seen:
        a3By.length === 2
          ? `trustees 1 and 3 each refused that envelope by its label [REL-4] (refusals on the log); ${releases} releases cover only the envelopes in scope`
          : `trustees that refused it under REL-4: ${a3By.join(', ') || 'none'}`,
    };
    const a4: Outcome = {
      outcome: a4By.length === 2 ? 'blocked' : 'not-stopped',
      attempt:
        "the relay operator edits a stored envelope's header (its send time moved into the window) so the relay selects it under a new label",
      seen:
        a4By.length === 2
          ? 'trustees 1 and 3 each refused the re-labelled envelope: its capsule does not verify for the new label [REL-5]; nothing released for it'
          : `trustees that refused it under REL-5: ${a4By.join(', ') || 'none'}`,
    };
    return { a3, a4, served, requestId };
  }
}

/**
 * What a relay operator does to execute covertly: an execution of `request` over `envelopes`, citing `approval`,
 * signed with the relay's own execution key (relay/access.key), written into relay.sqlite as the relay would store
 * it — with the log index of an entry that is on the log (the approval's) — and never appended to the log.
 */
export function forgeUnloggedExecution(
  w: AttackWorld,
  request: VerifiedRequest,
  approval: VerifiedDecision,
  approvalIndex: number,
  envelopes: readonly { readonly messageId: Uint8Array; readonly header: Uint8Array }[],
): void {
  const org = w.org.orgId;
  const relayKey = loadOrCreateKeyFile(
    w.path('relay', 'access.key'),
    SIGNATURE_TYPE_ED25519,
    `${org}/access`,
    () => `${org}/access`,
  ).key.keyPair;
  const selected = envelopes
    .map((e) => ({ messageId: e.messageId, label: envelopeLabel(e.header) }))
    .sort((a, b) => Buffer.compare(Buffer.from(a.label), Buffer.from(b.label)));
  const signed = signExecution(
    executionFor(
      request,
      [approval],
      selected.map((e) => e.label),
      Date.now(),
    ),
    relayKey,
  );
  const requestId = request.request.requestId;
  const db = w.relayDb();
  try {
    db.transaction(() => {
      db.prepare(
        'INSERT INTO access_executions (request_id, log_index, signed, envelope_count, executed_at) VALUES (?, ?, ?, ?, ?)',
      ).run(requestId, approvalIndex, signed, selected.length, Date.now());
      const row = db.prepare(
        'INSERT INTO access_selection (request_id, position, label, message_id) VALUES (?, ?, ?, ?)',
      );
      for (const [position, e] of selected.entries()) row.run(requestId, position, e.label, e.messageId);
      db.prepare("UPDATE access_requests SET status = 'executed' WHERE request_id = ?").run(requestId);
    })();
  } finally {
    db.close();
  }
}

/** Removes a forged execution again: the request is pending, as it is on the log. */
export function undoForgedExecution(w: AttackWorld, requestId: Uint8Array): void {
  const db = w.relayDb();
  try {
    db.transaction(() => {
      db.prepare('DELETE FROM access_selection WHERE request_id = ?').run(requestId);
      db.prepare('DELETE FROM access_executions WHERE request_id = ?').run(requestId);
      db.prepare("UPDATE access_requests SET status = 'pending' WHERE request_id = ?").run(requestId);
    })();
  } finally {
    db.close();
  }
}

/** A1: the relay operator makes an execution covertly — written into its own database, never logged. */
export async function a1(s: AccessScene): Promise<Outcome> {
  await s.ready();
  const w = s.w;
  const built = await s.request();
  const requestId = built.verified.request.requestId;
  await fileRequest(w.requesterClient(), built);
  const id = toBase64Url(requestId);
  // One approval (k − 1): the relay may not execute. Its operator does it anyway, with its own execution key.
  await w.approveByOperator(1, id);
  const view = await w.requesterClient().getRequest(requestId);
  const approval = verifyDecision(view.decisions[0]!.decision, w.policy, built.verified);
  forgeUnloggedExecution(
    w,
    built.verified,
    approval,
    view.decisions[0]!.index,
    s.stored.filter((e) => e.sendTime < s.cut),
  );
  let served: RequestView;
  let refusal: Awaited<ReturnType<typeof refused>>;
  let pending: unknown;
  try {
    // The relay now serves it as executed; the requester checks what it serves against the verified log.
    served = await w.requesterClient().getRequest(requestId);
    const log = await logView(w.org);
    refusal = await refused(() => checkStatus(log, w.org, requestId, served));
    // Trustees follow the log, not the relay's word: the approving trustee still lists the request as pending.
    await sleep(2_000);
    pending = ((await w.operator(1, 'GET', `/v1/requests/${id}`)).body.request as { status?: unknown })
      ?.status;
  } finally {
    undoForgedExecution(w, requestId);
  }
  const after = await w.requesterClient().getRequest(requestId);
  const ok =
    served.status === 'executed' &&
    refusal?.check === 'REQ-2' &&
    pending === 'pending' &&
    after.releases.length === 0;
  return {
    outcome: ok ? 'blocked' : 'not-stopped',
    attempt:
      "the relay operator writes an execution (signed with the relay's own key, one approval of two) into its database without logging it, and serves it",
    seen: ok
      ? `the requester refuses it: ${shown(refusal!)} (not on the verified log); trustee 1 still lists the request as pending and no trustee released a share`
      : `served ${served.status}; requester ${refusal ? shown(refusal) : 'accepted it'}; trustee 1: ${String(pending)}; releases ${after.releases.length}`,
  };
}

/** A2: k − 1 trustees pool what they hold: trustee 1's vault share alone, on a capsule of an executed envelope. */
export async function a2(s: AccessScene): Promise<Outcome> {
  const { served } = await s.executed();
  const vaults = await s.w.vaults();
  const ok = served.find((e) => e.capsule !== undefined);
  if (ok === undefined) throw new Error('no served capsule verifies');
  const held = (await vaults[0]!.share(ok.epoch))!;
  const share = verifyShare(held.publicKey, ok.capsule!, createShare(held.share, ok.capsule!));
  const r = await refused(() => combineShares(ok.capsule!, [share], held.publicKey));
  const k = s.w.policy.policy.threshold;
  return {
    outcome: r?.check === 'SHR-6' ? 'blocked' : 'not-stopped',
    attempt: `${k - 1} of ${k} trustees (trustee 1, with its vault) try to recover an envelope key from the share it holds`,
    seen: r ? `combining fewer than k shares is refused: ${shown(r)}` : 'the share combined',
  };
}

export async function a3(s: AccessScene): Promise<Outcome> {
  return (await s.executed()).a3;
}

export async function a4(s: AccessScene): Promise<Outcome> {
  return (await s.executed()).a4;
}

/**
 * A signed decision re-bound to another request: request id and request hash replaced in place, the signature kept
 * (signed form: u32 body length ‖ u8 version ‖ vec8 org ‖ request_id[16] ‖ request_hash[32] ‖ … ‖ signature).
 */
export function rebindDecision(signed: Uint8Array, requestId: Uint8Array, hash: Uint8Array): Uint8Array {
  const out = signed.slice();
  const at = 4 + 1 + 1 + out[5]!;
  out.set(requestId, at);
  out.set(hash, at + 16);
  return out;
}

/** A8: trustee 1's approval of one request replayed onto another. */
export async function a8(s: AccessScene): Promise<Outcome> {
  await s.ready();
  const w = s.w;
  const first = await s.request();
  await fileRequest(w.requesterClient(), first);
  await w.approveByOperator(1, toBase64Url(first.verified.request.requestId));
  const approval = (await w.requesterClient().getRequest(first.verified.request.requestId)).decisions[0]!
    .decision;
  const other = await w.newRequest({
    subjects: [s.dave.userId, s.erin.userId],
    window: { from: s.sentAt - HOUR, until: Date.now() + HOUR },
  });
  await fileRequest(w.requesterClient(), other);
  const replayed = rebindDecision(approval, other.verified.request.requestId, other.verified.hash);
  const r = await refused((await w.trusteeClient(1)).submitDecision(replayed));
  const view = await w.requesterClient().getRequest(other.verified.request.requestId);
  const ok = r?.check === 'ACC-D1' && view.decisions.length === 0;
  return {
    outcome: ok ? 'blocked' : 'not-stopped',
    attempt: "trustee 1's logged approval of one request is replayed onto another, wider request",
    seen: r
      ? `the relay refuses it: ${shown(r)} (the signature binds request id and hash); the other request has ${view.decisions.length} approvals`
      : 'the relay accepted it',
  };
}

/** A9: trustee 2 makes shares that look right (valid proofs, for another envelope's capsule). */
export async function a9(s: AccessScene): Promise<Outcome> {
  const { served } = await s.executed();
  const good = served.filter((e) => e.capsule !== undefined);
  if (good.length < 2) throw new Error('A9 needs two served capsules that verify');
  const vaults = await s.w.vaults();
  const held = (await vaults[1]!.share(good[0]!.epoch))!;
  // For the first envelope, trustee 2's real share (with its real DLEQ proof) of the second envelope's capsule.
  const bad = createShare(held.share, good[1]!.capsule!);
  const r = await refused(() => verifyShare(held.publicKey, good[0]!.capsule!, bad));
  return {
    outcome: r !== undefined ? 'blocked' : 'not-stopped',
    attempt:
      "trustee 2 hands the requester a share with a valid-looking proof made for another envelope's capsule",
    seen: r
      ? `the requester's share check fails and names trustee 2: ${shown(r)} (ACC-A9, the DLEQ proof does not hold for this capsule)`
      : 'the bad share verified',
  };
}

/**
 * A10: the organisation keeps a seal past its date — a request filed without the relay's part (so the relay never
 * publishes the unseal) and a seal date three seconds away. Every reader of the log flags it once the date passes;
 * the trustees publish the unseal themselves after their grace (TRU-U1), so the live system is left with no
 * overdue seal.
 */
export async function a10(s: AccessScene): Promise<Outcome> {
  await s.ready();
  const w = s.w;
  const sealUntil = Date.now() + 3_000;
  const built = await w.newRequest({
    subjects: [s.dave.userId],
    window: { from: s.sentAt - HOUR, until: Date.now() + HOUR },
    sealUntil,
  });
  const requestId = built.verified.request.requestId;
  await fileRequest(w.requesterClient(), built);
  await w.witnessed((await w.requesterClient().getRequest(requestId)).index);
  await sleep(Math.max(0, sealUntil - Date.now() + 300));
  // Any client that reads the log flags it: erin's, reopened fresh so it reads the whole log.
  const reader = await w.openClient(s.erin.userId, s.erin.deviceId, s.erin.key, { monitorLog: true });
  const idHex = toHex(requestId);
  const alert = await until('the overdue seal alert', async () => {
    const events = eventsOf(await reader.monitorLog(), 'alert');
    return events.find(
      (e) => e.alert === 'seal-overdue' && toHex((e as { requestId: Uint8Array }).requestId) === idHex,
    );
  });
  const check = (alert as { check?: string }).check;
  return {
    outcome: check === 'OVD-1' ? 'detected' : 'not-stopped',
    attempt:
      "the organisation lets a seal run past its date: a request filed without the relay's part, so the relay never lifts it",
    seen: `every reader of the log flags it: alert seal-overdue [${check}] (the deadline is on the log); the trustees publish the unseal after their grace (TRU-U1)`,
  };
}

/** A11: a population-scale request, signed by hand past the requester library's own refusal. */
export async function a11(s: AccessScene): Promise<Outcome> {
  await s.ready();
  const w = s.w;
  const limits = w.policy.policy.limits;
  const everyone = Array.from(
    { length: limits.maxSubjects + 1 },
    (_, i) => `user${String(i).padStart(4, '0')}`,
  );
  const lib = await refused(
    w.newRequest({ subjects: everyone, window: { from: Date.now() - HOUR, until: Date.now() } }),
  );
  const valid = await s.request();
  const q: Request = { ...valid.verified.request, subjects: everyone, requestId: randomBytes(16) };
  const r = await refused(
    w.requesterClient().fileRequest(signRequest(q, w.requester.signingKey), valid.sealed),
  );
  return {
    outcome: r?.check === 'ACC-R1' ? 'blocked' : 'not-stopped',
    attempt: `the requester files a request over ${everyone.length} subjects (the policy allows ${limits.maxSubjects})`,
    seen: r
      ? `the relay refuses it at filing: ${shown(r)}${lib ? `; the requester library refused to build it: ${shown(lib)}` : ''}; each trustee checks the same limits`
      : 'the relay accepted it',
  };
}

/**
 * A13: the trustees shred an epoch; then anyone holding their vaults tries to open an envelope of it. Done on
 * copies of trustees 1 and 2's vaults (the live vaults keep their shares: the live epoch must stay usable).
 */
export async function a13(s: AccessScene): Promise<Outcome> {
  const { served } = await s.executed();
  const target = served.find((e) => e.capsule !== undefined);
  if (target === undefined) throw new Error('no served capsule verifies');
  const w = s.w;
  const tmp = mkdtempSync(join(tmpdir(), 'overt-demo-a13-'));
  const copies: TrusteeVault[] = [];
  try {
    for (const i of [1, 2]) {
      const from = w.path('trustees', `trustee-${i}`);
      const to = join(tmp, `trustee-${i}`);
      mkdirSync(to, { mode: 0o700 });
      copyFileSync(join(from, 'identity.json'), join(to, 'identity.json'));
      const live = new Database(join(from, 'vault.sqlite'), { readonly: true });
      try {
        await live.backup(join(to, 'vault.sqlite'));
      } finally {
        live.close();
      }
      const vault = await TrusteeVault.open({
        dataDir: to,
        key: {
          kind: 'raw',
          key: new Uint8Array(readFileSync(w.path('trustees', 'vault-keys', `trustee-${i}.key`))),
        },
      });
      copies.push(vault);
      vault.shred(target.epoch, Date.now(), () => randomBytes(64));
    }
    const refusals = [];
    for (const v of copies) refusals.push(await refused(v.share(target.epoch)));
    const third = (await (await w.vaults())[2]!.share(target.epoch))!;
    const one = verifyShare(third.publicKey, target.capsule!, createShare(third.share, target.capsule!));
    const alone = await refused(() => combineShares(target.capsule!, [one], third.publicKey));
    const ok = refusals.every((r) => r?.check === 'TRU-S1') && alone?.check === 'SHR-6';
    return {
      outcome: ok ? 'blocked' : 'not-stopped',
      attempt: `trustees 1 and 2 shred epoch ${target.epoch} (on copies of their vaults), then anyone tries to open an envelope of it`,
      seen: ok
        ? `both vaults refuse: ${shown(refusals[0]!)}; trustee 3's one share cannot open it alone: ${shown(alone!)}`
        : `vaults: ${refusals.map((r) => (r ? shown(r) : 'gave a share')).join(', ')}; alone: ${alone ? shown(alone) : 'combined'}`,
    };
  } finally {
    for (const v of copies) v.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}
