/**
 * The trustees' own key ceremonies (docs/spec/access.md §7): core's DKG (dkg.md), or a resharing when the policy's
 * trustee set or threshold changed, driven phase by phase by each trustee daemon over an untrusted mailbox.
 *
 * One engine per trustee. {@link CeremonyEngine.tick} is the driver's step: it activates shares whose epoch key
 * reached the log, and then either proposes a session (the lowest-index trustee of the policy in force, for a wanted
 * epoch the log lacks) or takes part in a session another trustee proposed, checked against the policy on the log.
 *
 * A session succeeds only when every trustee of the new sharing reports the same transcript hash with its
 * signature over the epoch-key content (CER-6): the proposer then assembles the statement and publishes it, and
 * each trustee activates its pending share when the statement is on the log (CER-9). Anything else (a timeout, a
 * trustee that crashed and aborts, disagreement) fails the session; the proposer retries with the next attempt
 * number, so no trustee ever takes part twice in one session id (CER-3), and the share a trustee holds for an
 * epoch is always the one whose transcript hash is on the log.
 */
import {
  assembleEpochKeyStatement,
  createDkgSession,
  createReshareSession,
  type DecodedEpochKeyStatement,
  type DkgOutput,
  DkgParticipant,
  type DkgSession,
  decodeDkgSession,
  decodeElement,
  encodeEpochKeyContent,
  equalBytes,
  fromHex,
  isOvertError,
  previousFromPublicKey,
  signEpochKeyContent,
  toHex,
  type VerifiedPolicy,
  verifySignature,
} from '@overt/core';
import { TrusteeError } from '../errors.js';
import type { TrusteeVault } from '../vault.js';
import {
  buildMail,
  type CeremonyMail,
  decodeMail,
  decodeProposal,
  decodeResult,
  encodeProposal,
  encodeResult,
  type MailKind,
  mailInvalid,
  type Proposal,
  verifyMail,
} from './mail.js';

/** One message of the relay's trustee mailbox (access.md §4). */
export interface MailboxMessage {
  readonly seq: number;
  /** The sender as the relay authenticated it (`trustee:<index>`); checked against the mail's signature too. */
  readonly from: number;
  /** 0 = every trustee. */
  readonly to: number;
  readonly body: Uint8Array;
}

/** The mailbox as the ceremony uses it: the relay (relay-transport.ts) or an in-process one for tests. */
export interface CeremonyTransport {
  send(to: number, body: Uint8Array): Promise<void>;
  read(after: number): Promise<{ readonly messages: readonly MailboxMessage[]; readonly next: number }>;
}

/** An epoch-key statement on the log with the policy it verified under. */
export interface LoggedEpochKey {
  readonly statement: DecodedEpochKeyStatement;
  readonly policy: VerifiedPolicy;
}

/** What the ceremony needs to know of the log (the daemon's monitor; an in-memory log in tests). */
export interface CeremonyLog {
  /** The policy in force, seen on the log with the witness quorum and fresh; undefined otherwise (TRU-6). */
  policy(): VerifiedPolicy | undefined;
  /** The statement in force of `epoch` on the log: its first key, or the latest resharing of it (same Y). */
  epochKey(epoch: number): LoggedEpochKey | undefined;
  /** Submits a statement (POST /v1/trustee/epoch-keys). It counts once it is on the log. */
  publish(statement: Uint8Array): Promise<void>;
}

/** Test hooks: play a misbehaving trustee. Not for production use. */
export interface CeremonyHooks {
  /** Sees each outgoing mail's kind and DKG payload; returns the payload to send instead, or null to drop it. */
  readonly outgoing?: (kind: MailKind, to: number, payload: Uint8Array) => Uint8Array | null;
  /** Called when a phase starts (e.g. to crash a trustee mid-ceremony). */
  readonly onPhase?: (phase: MailKind, sessionId: Uint8Array) => void | Promise<void>;
}

export type CeremonyEvent =
  | {
      readonly type: 'proposed';
      readonly epoch: number;
      readonly attempt: number;
      readonly kind: 'dkg' | 'reshare';
    }
  | { readonly type: 'joined'; readonly epoch: number; readonly attempt: number }
  | { readonly type: 'refused'; readonly check: string; readonly message: string }
  | {
      readonly type: 'rejected';
      readonly from: number;
      readonly kind: MailKind | 'unknown';
      readonly check: string;
    }
  | {
      readonly type: 'finished';
      readonly epoch: number;
      readonly attempt: number;
      readonly transcriptHash: Uint8Array;
      readonly qualified: readonly number[];
    }
  | { readonly type: 'published'; readonly epoch: number }
  | {
      readonly type: 'failed';
      readonly epoch: number;
      readonly attempt: number;
      readonly check: string;
      readonly message: string;
    }
  | { readonly type: 'activated'; readonly epoch: number };

export interface CeremonyOptions {
  readonly vault: TrusteeVault;
  readonly transport: CeremonyTransport;
  readonly log: CeremonyLog;
  /** The epochs that must have keys (the current and the next calendar month). */
  readonly epochs: () => readonly number[];
  readonly now?: () => number;
  /** Each phase's deadline (default 15 s; the proposer's value is the one used). */
  readonly phaseMs?: number;
  readonly pollMs?: number;
  readonly hooks?: CeremonyHooks;
  readonly onEvent?: (e: CeremonyEvent) => void;
}

/** The largest clock difference a proposal's time may show (CER-2). */
export const PROPOSAL_MAX_SKEW_MS = 10 * 60_000;
const ATTEMPT_STATE = (epoch: number) => `ceremony/attempt/${epoch}`;
const SESSION_STATE = (sid: Uint8Array) => `ceremony/session/${toHex(sid)}`;
const CURSOR_STATE = 'ceremony/mail-after';

function failed(message: string, check: string, cause?: unknown): TrusteeError {
  return new TrusteeError('CEREMONY_FAILED', message, { check, cause });
}

/** The lowest trustee index of the policy: the ceremony's proposer (CER-2). */
export function proposerOf(policy: VerifiedPolicy): number {
  return Math.min(...policy.policy.trustees.map((t) => t.index));
}

/** What a wanted epoch needs under `policy`: nothing, a DKG or a resharing of the logged key. */
export function planFor(
  policy: VerifiedPolicy,
  logged: LoggedEpochKey | undefined,
): { kind: 'none' } | { kind: 'dkg' } | { kind: 'reshare'; from: LoggedEpochKey } {
  if (logged === undefined) return { kind: 'dkg' };
  if (equalBytes(logged.policy.hash, policy.hash)) return { kind: 'none' };
  const a = logged.policy.policy;
  const b = policy.policy;
  const same =
    a.threshold === b.threshold &&
    a.trustees.length === b.trustees.length &&
    a.trustees.every(
      (t, i) =>
        t.index === b.trustees[i]!.index &&
        equalBytes(t.signingKey, b.trustees[i]!.signingKey) &&
        equalBytes(t.encryptionKey, b.trustees[i]!.encryptionKey),
    );
  return same ? { kind: 'none' } : { kind: 'reshare', from: logged };
}

function participantsOf(policy: VerifiedPolicy) {
  return policy.policy.trustees.map((t) => ({
    index: t.index,
    signingKey: t.signingKey,
    encryptionKey: t.encryptionKey,
  }));
}

/** The session the proposer builds for `epoch` (CER-2 re-derives it on every trustee). */
export function expectedSession(
  policy: VerifiedPolicy,
  epoch: number,
  attempt: number,
  plan: { kind: 'dkg' } | { kind: 'reshare'; from: LoggedEpochKey },
): DkgSession {
  const params = {
    org: policy.policy.orgId,
    epoch,
    attempt,
    threshold: policy.policy.threshold,
    participants: participantsOf(policy),
  };
  if (plan.kind === 'dkg') return createDkgSession(params);
  const s = plan.from.statement;
  const previous = previousFromPublicKey(
    {
      threshold: s.threshold,
      groupKey: decodeElement(s.groupKey, 'group key'),
      verificationKeys: s.verificationKeys.map((v) => decodeElement(v, 'verification key')),
    },
    plan.from.policy.policy.trustees.map((t) => t.signingKey),
    s.transcriptHash,
  );
  return createReshareSession({ ...params, previous });
}

interface Received {
  readonly mail: CeremonyMail;
  readonly from: number;
}

export class CeremonyEngine {
  private readonly o: CeremonyOptions;
  private readonly now: () => number;
  private readonly phaseMs: number;
  private readonly pollMs: number;
  private queue: Received[] = [];
  private after: number;
  private stopped = false;
  private nextProposalAt = 0;
  private recovered = false;
  private running = 0;

  constructor(o: CeremonyOptions) {
    this.o = o;
    this.now = o.now ?? Date.now;
    this.phaseMs = o.phaseMs ?? 15_000;
    this.pollMs = o.pollMs ?? 100;
    this.after = Number(o.vault.getState(CURSOR_STATE) ?? '0');
  }

  stop(): void {
    this.stopped = true;
  }

  /** Whether a session is in progress (the daemon then polls the log and the mailbox at its fast rate). */
  get active(): boolean {
    return this.running > 0;
  }

  private event(e: CeremonyEvent): void {
    this.o.onEvent?.(e);
  }

  private get me(): number {
    return this.o.vault.index;
  }

  /** Reads new mailbox messages; keeps those that verify under the policy's trustee keys (CER-1). */
  private async pump(policy: VerifiedPolicy): Promise<void> {
    for (;;) {
      const { messages, next } = await this.o.transport.read(this.after);
      for (const m of messages) {
        try {
          const mail = decodeMail(m.body);
          if (mail.sender !== m.from) throw mailInvalid('mail sender is not the authenticated sender');
          if (mail.sender === this.me) continue;
          const trustee = policy.policy.trustees.find((t) => t.index === mail.sender);
          if (!trustee) throw mailInvalid('mail from a trustee not in the policy');
          verifyMail(mail, trustee.signingKey);
          this.queue.push({ mail, from: m.from });
        } catch (e) {
          if (!(e instanceof TrusteeError)) throw e;
          this.event({ type: 'rejected', from: m.from, kind: 'unknown', check: e.check ?? 'CER-1' });
        }
      }
      if (this.queue.length > 10_000) this.queue = this.queue.slice(-10_000);
      const advanced = next > this.after;
      this.after = Math.max(this.after, next);
      this.o.vault.setState(CURSOR_STATE, String(this.after));
      if (!advanced || messages.length === 0) return;
    }
  }

  private take(pred: (r: Received) => boolean): Received[] {
    const out: Received[] = [];
    const keep: Received[] = [];
    for (const r of this.queue) (pred(r) ? out : keep).push(r);
    this.queue = keep;
    return out;
  }

  private async send(kind: MailKind, to: number, sessionId: Uint8Array, payload: Uint8Array): Promise<void> {
    const out = this.o.hooks?.outgoing ? this.o.hooks.outgoing(kind, to, payload) : payload;
    if (out === null) return;
    await this.o.transport.send(to, buildMail(kind, this.me, sessionId, out, this.o.vault.signingKey()));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
  }

  /**
   * One driver step: reconcile shares with the log, then propose or join at most one session. Throws
   * TRUSTEE_NO_POLICY (TRU-6) when no policy was seen on the log with the witness quorum.
   */
  async tick(): Promise<void> {
    const policy = this.o.log.policy();
    if (policy === undefined)
      throw new TrusteeError('TRUSTEE_NO_POLICY', 'no policy seen on the log with the witness quorum', {
        check: 'TRU-6',
      });
    this.reconcile();
    if (!this.recovered) {
      // Sessions this trustee was in when it stopped cannot resume (the polynomial was in memory): tell the others
      // at once (CER-7), so they need not wait for the deadline.
      this.recovered = true;
      for (const { name } of this.o.vault.statesWithPrefix('ceremony/session/')) {
        if (this.o.vault.getState(name) !== 'started') continue;
        this.o.vault.setState(name, 'failed');
        await this.send(
          'abort',
          0,
          fromHex(name.slice('ceremony/session/'.length)),
          new TextEncoder().encode('restarted'),
        );
      }
    }
    await this.pump(policy);
    // A proposal waiting in the mailbox first.
    const proposals = this.take((r) => r.mail.kind === 'propose');
    for (const p of proposals) {
      if (this.stopped) return;
      await this.join(policy, p);
    }
    if (proposerOf(policy) !== this.me || this.stopped || this.now() < this.nextProposalAt) return;
    for (const epoch of this.o.epochs()) {
      const plan = planFor(policy, this.o.log.epochKey(epoch));
      if (plan.kind === 'none') continue;
      if (plan.kind === 'dkg' && this.laterEpochLogged(epoch)) continue;
      const attempt = Number(this.o.vault.getState(ATTEMPT_STATE(epoch)) ?? '-1') + 1;
      const session = expectedSession(policy, epoch, attempt, plan);
      const proposal: Proposal = {
        session: session.bytes,
        policyHash: policy.hash,
        time: this.now(),
        phaseMs: this.phaseMs,
      };
      this.event({ type: 'proposed', epoch, attempt, kind: plan.kind });
      await this.send('propose', 0, session.id, encodeProposal(proposal));
      const ok = await this.run(policy, session, proposal, true);
      if (!ok) this.nextProposalAt = this.now() + this.phaseMs;
      return;
    }
  }

  /** The relay accepts epoch keys in increasing order only: an epoch below a logged one is past. */
  private laterEpochLogged(epoch: number): boolean {
    return this.o.epochs().some((e) => e > epoch && this.o.log.epochKey(e) !== undefined);
  }

  /** Activates pending shares whose transcript hash reached the log (CER-9); alerts are the daemon's. */
  reconcile(): void {
    for (const epoch of this.o.epochs()) {
      const logged = this.o.log.epochKey(epoch);
      if (logged === undefined) continue;
      if (this.o.vault.activateShare(epoch, logged.statement.transcriptHash))
        this.event({ type: 'activated', epoch });
    }
  }

  /** Checks a proposal against the policy on the log (CER-2, CER-3) and takes part in it. */
  private async join(policy: VerifiedPolicy, r: Received): Promise<void> {
    let session: DkgSession;
    let proposal: Proposal;
    try {
      if (r.mail.sender !== proposerOf(policy))
        throw mailInvalid('only the lowest-index trustee of the policy proposes', 'CER-2');
      proposal = decodeProposal(r.mail.payload);
      try {
        session = decodeDkgSession(proposal.session);
      } catch (e) {
        if (isOvertError(e)) throw mailInvalid('the proposed session is invalid', 'CER-2', e);
        throw e;
      }
      if (!equalBytes(session.id, r.mail.sessionId))
        throw mailInvalid('proposal names another session', 'CER-2');
      if (!equalBytes(proposal.policyHash, policy.hash))
        throw mailInvalid('proposal is not under the policy in force on the log', 'CER-2');
      if (!this.o.epochs().includes(session.epoch))
        throw mailInvalid('proposal is for an epoch not wanted', 'CER-2');
      if (Math.abs(proposal.time - this.now()) > PROPOSAL_MAX_SKEW_MS)
        throw mailInvalid('proposal time is too far from this clock', 'CER-2');
      if (proposal.phaseMs < 100 || proposal.phaseMs > 600_000)
        throw mailInvalid('proposal phase deadline out of range', 'CER-2');
      const plan = planFor(policy, this.o.log.epochKey(session.epoch));
      if (plan.kind === 'none') throw mailInvalid('the epoch already has its key under this policy', 'CER-2');
      const expected = expectedSession(policy, session.epoch, session.attempt, plan);
      if (!equalBytes(expected.bytes, session.bytes))
        throw mailInvalid("proposed session does not match the policy's trustees, threshold or key", 'CER-2');
      const last = Number(this.o.vault.getState(ATTEMPT_STATE(session.epoch)) ?? '-1');
      if (session.attempt <= last || this.o.vault.getState(SESSION_STATE(session.id)) !== undefined)
        throw mailInvalid('this trustee already took part in this attempt or a later one', 'CER-3');
    } catch (e) {
      if (!(e instanceof TrusteeError)) throw e;
      this.event({ type: 'refused', check: e.check ?? 'CER-2', message: e.message });
      // A trustee that took part before a crash tells the others at once (CER-3), so they do not wait it out.
      if (e.check === 'CER-3')
        await this.send('abort', 0, r.mail.sessionId, new TextEncoder().encode('already took part'));
      return;
    }
    this.event({ type: 'joined', epoch: session.epoch, attempt: session.attempt });
    await this.run(policy, session, proposal, false);
  }

  /** Runs one session to its end; true when its epoch key was published (proposer) or produced (others). */
  private async run(policy: VerifiedPolicy, session: DkgSession, proposal: Proposal, proposer: boolean) {
    this.running++;
    try {
      return await this.runSession(policy, session, proposal, proposer);
    } finally {
      this.running--;
      // Whatever of this session is still queued (late or surplus mail) is of no use any more.
      this.queue = this.queue.filter((r) => !equalBytes(r.mail.sessionId, session.id));
    }
  }

  private async runSession(
    policy: VerifiedPolicy,
    session: DkgSession,
    proposal: Proposal,
    proposer: boolean,
  ) {
    const epoch = session.epoch;
    // Never twice in one session, never an attempt below one already taken (CER-3): recorded before any secret.
    this.o.vault.setState(ATTEMPT_STATE(epoch), String(session.attempt));
    this.o.vault.setState(SESSION_STATE(session.id), 'started');
    try {
      const output = await this.phases(policy, session, proposal);
      this.o.vault.setState(SESSION_STATE(session.id), 'finished');
      this.event({
        type: 'finished',
        epoch,
        attempt: session.attempt,
        transcriptHash: output.transcriptHash,
        qualified: output.qualified,
      });
      await this.results(policy, session, proposal, output, proposer);
      return true;
    } catch (e) {
      if (!(e instanceof TrusteeError) && !isOvertError(e)) throw e;
      this.o.vault.setState(SESSION_STATE(session.id), 'failed');
      const check = e instanceof TrusteeError ? (e.check ?? 'CER-7') : 'CER-7';
      this.event({ type: 'failed', epoch, attempt: session.attempt, check, message: e.message });
      await this.send('abort', 0, session.id, new TextEncoder().encode(check)).catch(() => undefined);
      return false;
    }
  }

  /**
   * Collects `kind` mails of the session from `expected` senders until each sent one or the deadline passes, and
   * hands each to `handle`; a refused message is reported (CER-4) and its sender counts as silent. An abort from
   * any trustee of the session ends it (CER-7).
   */
  private async collect(
    policy: VerifiedPolicy,
    session: DkgSession,
    kind: MailKind,
    expected: ReadonlySet<number>,
    deadline: number,
    handle: (m: CeremonyMail) => Promise<void> | void,
    enough?: () => boolean,
  ): Promise<void> {
    const remaining = new Set(expected);
    await this.o.hooks?.onPhase?.(kind, session.id);
    for (;;) {
      if (this.stopped) throw failed('the trustee is stopping', 'CER-7');
      await this.pump(policy);
      const aborts = this.take((r) => r.mail.kind === 'abort' && equalBytes(r.mail.sessionId, session.id));
      if (aborts.length > 0) throw failed(`trustee ${aborts[0]!.from} aborted the session`, 'CER-7');
      const got = this.take(
        (r) => r.mail.kind === kind && equalBytes(r.mail.sessionId, session.id) && remaining.has(r.from),
      );
      for (const r of got) {
        remaining.delete(r.from);
        try {
          await handle(r.mail);
        } catch (e) {
          if (!isOvertError(e) && !(e instanceof TrusteeError)) throw e;
          const check = (e as { check?: string }).check ?? 'CER-4';
          this.event({ type: 'rejected', from: r.from, kind, check });
        }
      }
      if (remaining.size === 0 || enough?.() || this.now() >= deadline) return;
      await this.sleep(this.pollMs);
    }
  }

  private async phases(policy: VerifiedPolicy, session: DkgSession, proposal: Proposal): Promise<DkgOutput> {
    const me = this.me;
    const vault = this.o.vault;
    const receivers = new Set(session.participants.map((p) => p.index));
    // Dealers by mailbox sender (policy index) → their dealer index in the session.
    const dealerBySender = new Map<number, number>();
    for (const t of policy.policy.trustees) {
      if (!session.previous) dealerBySender.set(t.index, t.index);
      else {
        const m = session.previous.members.find((d) => equalBytes(d.signingKey, t.signingKey));
        if (m) dealerBySender.set(t.index, m.index);
      }
    }
    const receiverKeys = {
      index: me,
      signingKey: vault.signingKey(),
      encryptionSecretKey: vault.hpkeKeyPair().secretKey,
    };
    let participant: DkgParticipant;
    if (!session.previous) participant = DkgParticipant.forDkg(session, receiverKeys);
    else {
      const dealerIndex = dealerBySender.get(me);
      const old = dealerIndex === undefined ? undefined : await vault.share(session.epoch);
      const dealer =
        old &&
        equalBytes(old.transcriptHash, session.previous.transcriptHash) &&
        old.share.index === dealerIndex
          ? { share: old.share, signingKey: vault.signingKey() }
          : undefined;
      participant = DkgParticipant.forReshare(session, {
        ...(dealer ? { dealer } : {}),
        ...(receivers.has(me) ? { receiver: receiverKeys } : {}),
      });
    }
    const others = (s: Iterable<number>) => new Set([...s].filter((i) => i !== me));
    const deadline = () => this.now() + proposal.phaseMs;

    // Round 1.
    if (participant.round1Message) await this.send('round1', 0, session.id, participant.round1Message);
    await this.collect(policy, session, 'round1', others(dealerBySender.keys()), deadline(), (m) =>
      participant.receiveRound1(m.payload),
    );
    // Shares, point to point (HPKE-sealed by core).
    for (const s of await participant.endRound1()) await this.send('share', s.recipient, session.id, s.bytes);
    if (participant.receiverIndex !== undefined)
      await this.collect(policy, session, 'share', others(dealerBySender.keys()), deadline(), (m) =>
        participant.receiveShare(m.payload),
      );
    // Complaints: every receiver says whether it has one (an empty payload: none).
    const complaint = participant.endShares();
    if (participant.receiverIndex !== undefined)
      await this.send('complaint', 0, session.id, complaint ?? new Uint8Array(0));
    await this.collect(policy, session, 'complaint', others(receivers), deadline(), (m) => {
      if (m.payload.length > 0) participant.receiveComplaint(m.payload);
    });
    // Justifications: every dealer says whether it answers complaints.
    const justification = participant.endComplaints();
    if (participant.dealerIndex !== undefined)
      await this.send('justification', 0, session.id, justification ?? new Uint8Array(0));
    await this.collect(policy, session, 'justification', others(dealerBySender.keys()), deadline(), (m) => {
      if (m.payload.length > 0) participant.receiveJustification(m.payload);
    });
    try {
      return participant.finish();
    } catch (e) {
      if (isOvertError(e)) throw failed('the DKG did not finish', e.check ?? 'DKG-17', e);
      throw e;
    }
  }

  /**
   * Signs the epoch-key content, exchanges results with every trustee of the new sharing (CER-6), and, on the
   * proposer, publishes the statement with every signature. The share is stored as pending before the result is
   * sent, and activated once the statement is on the log (CER-9).
   */
  private async results(
    policy: VerifiedPolicy,
    session: DkgSession,
    proposal: Proposal,
    output: DkgOutput,
    proposer: boolean,
  ): Promise<void> {
    const me = this.me;
    const content = encodeEpochKeyContent({
      orgId: session.org,
      epoch: session.epoch,
      policyHash: proposal.policyHash,
      threshold: output.publicKey.threshold,
      groupKey: output.publicKey.groupKey,
      verificationKeys: output.publicKey.verificationKeys,
      transcriptHash: output.transcriptHash,
      sessionId: session.id,
      time: proposal.time,
    });
    if (output.keyShare)
      this.o.vault.putPendingShare(session.epoch, output.keyShare, output.transcript, output.transcriptHash);
    const signatures = new Map<number, Uint8Array>();
    const receivers = new Set(session.participants.map((p) => p.index));
    if (receivers.has(me)) {
      const sig = signEpochKeyContent(this.o.vault.signingKey(), content);
      signatures.set(me, sig);
      await this.send('result', 0, session.id, encodeResult(output.transcriptHash, sig));
    }
    // Who must confirm (CER-6): in a DKG every qualified dealer (a trustee left out of QUAL, or silent, cannot hold
    // the rest back); in a resharing every member of the new set. A confirmation with another transcript hash from
    // a trustee that need not confirm is refused and ignored; from one that must, it fails the session.
    const required = new Set(session.previous ? receivers : output.qualified.filter((i) => receivers.has(i)));
    let disagreement: string | undefined;
    await this.collect(
      policy,
      session,
      'result',
      new Set([...receivers].filter((i) => i !== me)),
      this.now() + proposal.phaseMs,
      (m) => {
        const r = decodeResult(m.payload);
        const key = policy.policy.trustees.find((t) => t.index === m.sender)!.signingKey;
        if (!equalBytes(r.transcriptHash, output.transcriptHash)) {
          if (required.has(m.sender)) disagreement = `trustee ${m.sender} computed another transcript`;
          throw mailInvalid(`trustee ${m.sender} computed another transcript`, 'CER-6');
        }
        if (!verifySignature(key, epochKeySigningInput(content), r.signature))
          throw mailInvalid('a result signature does not verify over the epoch-key content', 'CER-6');
        signatures.set(m.sender, r.signature);
      },
      () => [...required].every((i) => signatures.has(i)) || disagreement !== undefined,
    );
    if (disagreement !== undefined) throw failed(disagreement, 'CER-6');
    const missing = [...required].filter((i) => !signatures.has(i));
    if (missing.length > 0 || signatures.size < session.threshold)
      throw failed(`trustees ${missing.join(', ')} did not confirm the result`, 'CER-6');
    if (proposer) {
      const statement = assembleEpochKeyStatement(
        content,
        [...signatures].map(([index, signature]) => ({ index, signature })),
      );
      try {
        await this.o.log.publish(statement);
      } catch (e) {
        throw failed('the relay refused the epoch-key statement', 'CER-8', e);
      }
      // Everyone checks the statement on the log; the proposer waits for it, so it never proposes the epoch again
      // before its own view shows the key (CER-8).
      const until = this.now() + 4 * proposal.phaseMs;
      for (;;) {
        const logged = this.o.log.epochKey(session.epoch);
        if (logged && equalBytes(logged.statement.transcriptHash, output.transcriptHash)) break;
        if (logged && equalBytes(logged.policy.hash, policy.hash))
          throw failed('another epoch key of this epoch is on the log', 'CER-8');
        if (this.now() >= until || this.stopped)
          throw failed('the published epoch key did not appear on the log in time', 'CER-8');
        await this.sleep(this.pollMs);
      }
      this.event({ type: 'published', epoch: session.epoch });
      this.reconcile();
    }
  }
}

/** The bytes an epoch-key signature covers (directory.md §1.2). */
function epochKeySigningInput(content: Uint8Array): Uint8Array {
  const tag = new TextEncoder().encode('overt/directory/v2/epoch-key');
  const out = new Uint8Array(2 + tag.length + content.length);
  new DataView(out.buffer).setUint16(0, tag.length);
  out.set(tag, 2);
  out.set(content, 2 + tag.length);
  return out;
}
