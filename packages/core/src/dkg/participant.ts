/**
 * One participant's state machine for a DKG or a resharing session (docs/spec/dkg.md §5). Pure: it consumes and
 * produces encoded messages; the caller moves them (relay, log) and decides when a phase's deadline has passed.
 *
 * Phases, each closed by an explicit `end*` call made when every expected message arrived or the deadline
 * passed (the synchrony assumption, docs/spec/dkg.md §9):
 *
 *   round1 ──endRound1──► shares ──endShares──► complaints ──endComplaints──► justifications ──finish──► finished
 *
 * A message is accepted only in its phase (DKG-6), once per sender (DKG-5), when it belongs to this session
 * (DKG-3), is signed by its sender's registered key (DKG-4) and passes its semantic checks. A rejected message
 * throws and leaves the state unchanged, with one deliberate exception: an authentic share that fails to decrypt
 * or fails the Feldman check is recorded (it becomes a complaint) before DKG_BAD_SHARE is thrown.
 */
import sodiumLib from 'libsodium-wrappers-sumo';
import { equalBytes, type RandomSource, randomBytes } from '../bytes.js';
import { InternalError, isOvertError, OvertError } from '../errors.js';
import { decodeScalar, group, randomNonZeroScalar, type Scalar, zeroScalar } from '../group.js';
import type { SigningKeyPair } from '../sign.js';
import { evaluatePolynomial, type KeyShare, type ThresholdPublicKey } from '../threshold.js';
import { openShare, shareInfo } from './hpke.js';
import {
  buildComplaint,
  buildJustification,
  buildRound1,
  buildShare,
  checkAuthentic,
  checkComplaint,
  checkComplaintContent,
  checkJustification,
  checkJustificationContent,
  checkRound1,
  checkRound1Content,
  type DkgAccusation,
  type DkgComplaintMessage,
  type DkgComplaintReason,
  type DkgJustificationMessage,
  type DkgRound1Message,
  decodeDkgMessageOfType,
  shareAad,
} from './messages.js';
import {
  complainersByDealer,
  type DkgDisqualification,
  resolveDkg,
  shareMatchesCommitments,
} from './qualify.js';
import { type DkgSession, sessionDealers } from './session.js';
import { encodeTranscript, transcriptHash } from './transcript.js';

await sodiumLib.ready;

export type DkgPhase = 'round1' | 'shares' | 'complaints' | 'justifications' | 'finished';

/** A participant of the new sharing: receives a share. */
export interface DkgReceiverKeys {
  readonly index: number;
  readonly signingKey: SigningKeyPair;
  /** Raw X25519 secret key matching the participant's encryption key in the session. */
  readonly encryptionSecretKey: Uint8Array;
}

/** A resharing dealer: a member of the previous sharing with its old share. */
export interface DkgDealerKeys {
  readonly share: KeyShare;
  readonly signingKey: SigningKeyPair;
}

/** A share message to send point to point to participant `recipient` (never to the log). */
export interface DkgOutgoingShare {
  readonly recipient: number;
  readonly bytes: Uint8Array;
}

/** What a finished session gives one participant. */
export interface DkgOutput {
  readonly session: DkgSession;
  /** This participant's new share; null for a resharing dealer that is not in the new set. Secret. */
  readonly keyShare: KeyShare | null;
  readonly publicKey: ThresholdPublicKey;
  readonly qualified: readonly number[];
  readonly disqualified: readonly DkgDisqualification[];
  /** The canonical transcript (docs/spec/dkg.md §7.1). */
  readonly transcript: Uint8Array;
  /** taggedHash("overt/dkg/v1/transcript", transcript): what goes on the log. */
  readonly transcriptHash: Uint8Array;
}

type ReceivedShare =
  | { readonly ok: true; readonly share: Scalar }
  | { readonly ok: false; readonly reason: DkgComplaintReason };

interface DealerRole {
  readonly index: number;
  readonly signingKey: SigningKeyPair;
  /** f(0..k−1); zeroed when the session ends. Secret. */
  readonly coefficients: Scalar[];
  readonly round1: Uint8Array;
}

interface ReceiverRole {
  readonly index: number;
  readonly signingKey: SigningKeyPair;
  readonly encryptionSecretKey: Uint8Array;
}

function isCanonical(s: Uint8Array): boolean {
  try {
    decodeScalar(s);
    return true;
  } catch {
    return false;
  }
}

function stateError(message: string, check: string): OvertError {
  return new OvertError('DKG_STATE', message, { check });
}

function keyMismatch(what: string): OvertError {
  return new OvertError('DKG_PARAMS', `${what} does not match the session`, { check: 'DKG-20' });
}

export class DkgParticipant {
  readonly session: DkgSession;
  private readonly rng: RandomSource;
  private readonly dealer: DealerRole | undefined;
  private readonly receiver: ReceiverRole | undefined;
  private currentPhase: DkgPhase = 'round1';
  /** Set while an asynchronous step runs, so that no other step interleaves with it. */
  private busy = false;
  /** Shares being decrypted; the share phase cannot end while any is. */
  private pending = 0;
  private readonly round1 = new Map<number, DkgRound1Message>();
  private readonly shareMessages = new Map<number, Uint8Array>();
  private readonly shares = new Map<number, ReceivedShare>();
  private readonly complaints = new Map<number, DkgComplaintMessage>();
  private readonly justifications = new Map<number, DkgJustificationMessage>();

  private constructor(
    session: DkgSession,
    dealer: { index: number; signingKey: SigningKeyPair; constant: Scalar | undefined } | undefined,
    receiver: DkgReceiverKeys | undefined,
    rng: RandomSource,
  ) {
    this.session = session;
    this.rng = rng;
    if (receiver) {
      const info = session.participants[receiver.index - 1];
      if (!info) throw keyMismatch('receiver index');
      if (!equalBytes(info.signingKey, receiver.signingKey.publicKey)) throw keyMismatch('signing key');
      if (
        receiver.encryptionSecretKey.length !== 32 ||
        !equalBytes(info.encryptionKey, sodiumLib.crypto_scalarmult_base(receiver.encryptionSecretKey))
      ) {
        throw keyMismatch('encryption secret key');
      }
      this.receiver = {
        index: receiver.index,
        signingKey: receiver.signingKey,
        encryptionSecretKey: receiver.encryptionSecretKey.slice(),
      };
    }
    if (dealer) {
      const info = sessionDealers(session)[dealer.index - 1];
      if (!info) throw keyMismatch('dealer index');
      if (!equalBytes(info.signingKey, dealer.signingKey.publicKey)) throw keyMismatch('dealer signing key');
      // A copy: erasing the polynomial at the end must not zero the caller's old share behind its back.
      const coefficients = [(dealer.constant?.slice() as Scalar | undefined) ?? randomNonZeroScalar(rng)];
      for (let l = 1; l < session.threshold; l++) coefficients.push(randomNonZeroScalar(rng));
      const round1 = buildRound1(session, dealer.index, dealer.signingKey, coefficients, rng);
      this.dealer = { index: dealer.index, signingKey: dealer.signingKey, coefficients, round1 };
      const msg = decodeDkgMessageOfType(round1, 'round1');
      checkRound1(session, msg);
      this.round1.set(dealer.index, msg);
    }
  }

  /**
   * A participant of a DKG session: dealer and receiver with the same index and keys. Throws DKG_PARAMS
   * (DKG-20) when the keys are not the session's for that index. Draws its polynomial from `rng`.
   */
  static forDkg(session: DkgSession, keys: DkgReceiverKeys, rng: RandomSource = randomBytes): DkgParticipant {
    if (session.kind !== 'dkg') throw new OvertError('DKG_PARAMS', 'not a DKG session', { check: 'DKG-20' });
    return new DkgParticipant(
      session,
      { index: keys.index, signingKey: keys.signingKey, constant: undefined },
      keys,
      rng,
    );
  }

  /**
   * A participant of a resharing session: a dealer (a previous member with its old share), a receiver (a member
   * of the new set), or both. A dealer's old share must match its previous verification key (DKG-20), because
   * its polynomial's constant term is that share (DKG-9).
   */
  static forReshare(
    session: DkgSession,
    roles: { readonly dealer?: DkgDealerKeys; readonly receiver?: DkgReceiverKeys },
    rng: RandomSource = randomBytes,
  ): DkgParticipant {
    if (!session.previous) {
      throw new OvertError('DKG_PARAMS', 'not a resharing session', { check: 'DKG-20' });
    }
    if (!roles.dealer && !roles.receiver) {
      throw new OvertError('DKG_PARAMS', 'a participant needs a dealer or a receiver role', {
        check: 'DKG-20',
      });
    }
    let dealer: { index: number; signingKey: SigningKeyPair; constant: Scalar } | undefined;
    if (roles.dealer) {
      const { share, signingKey } = roles.dealer;
      const member = session.previous.members[share.index - 1];
      const valid = share.secret instanceof Uint8Array && isCanonical(share.secret);
      if (!member || !valid || !equalBytes(group.baseMul(share.secret), member.verificationKey)) {
        throw keyMismatch('previous share');
      }
      dealer = { index: share.index, signingKey, constant: share.secret };
    }
    return new DkgParticipant(session, dealer, roles.receiver, rng);
  }

  get phase(): DkgPhase {
    return this.currentPhase;
  }

  /** The index under which this participant deals (an old index in a resharing), if it deals. */
  get dealerIndex(): number | undefined {
    return this.dealer?.index;
  }

  /** The index of this participant in the new sharing, if it receives a share. */
  get receiverIndex(): number | undefined {
    return this.receiver?.index;
  }

  /** This participant's round-1 broadcast, or null if it does not deal. */
  get round1Message(): Uint8Array | null {
    return this.dealer?.round1 ?? null;
  }

  private expectPhase(phase: DkgPhase): void {
    if (this.busy) throw stateError('another step of this participant is still running', 'DKG-6');
    if (this.currentPhase !== phase) {
      throw stateError(`expected phase ${phase}, participant is in phase ${this.currentPhase}`, 'DKG-6');
    }
  }

  /**
   * DKG-5: one message per sender and phase. Returns true when `bytes` repeats the message already accepted
   * (a harmless duplicate); throws DKG_STATE when the sender sent a different one (equivocation).
   */
  private isDuplicate(existing: { bytes: Uint8Array } | Uint8Array | undefined, bytes: Uint8Array): boolean {
    if (!existing) return false;
    const prev = existing instanceof Uint8Array ? existing : existing.bytes;
    if (equalBytes(prev, bytes)) return true;
    throw stateError('sender already sent a different message in this phase', 'DKG-5');
  }

  /** Accepts a dealer's round-1 broadcast (DKG-3..8, DKG-9 for a resharing). */
  receiveRound1(bytes: Uint8Array): void {
    this.expectPhase('round1');
    const msg = decodeDkgMessageOfType(bytes, 'round1');
    checkAuthentic(this.session, msg);
    if (this.isDuplicate(this.round1.get(msg.sender), msg.bytes)) return;
    checkRound1Content(this.session, msg);
    this.round1.set(msg.sender, msg);
  }

  /**
   * Closes round 1: the accepted round-1 messages are now fixed. A dealer whose round 1 was accepted returns its
   * encrypted shares, one per other participant of the new set; its share to itself is kept internally.
   */
  async endRound1(): Promise<DkgOutgoingShare[]> {
    this.expectPhase('round1');
    const out: DkgOutgoingShare[] = [];
    const dealer = this.dealer;
    if (!dealer) {
      this.currentPhase = 'shares';
      return out;
    }
    this.busy = true;
    try {
      for (const p of this.session.participants) {
        if (p.index === this.receiver?.index) continue;
        const share = evaluatePolynomial(dealer.coefficients, p.index);
        out.push({
          recipient: p.index,
          bytes: await buildShare(this.session, dealer.index, dealer.signingKey, p.index, share, this.rng),
        });
      }
    } finally {
      this.busy = false;
    }
    if (this.receiver) {
      this.shares.set(dealer.index, {
        ok: true,
        share: evaluatePolynomial(dealer.coefficients, this.receiver.index),
      });
    }
    this.currentPhase = 'shares';
    return out;
  }

  /**
   * Accepts a share addressed to this participant. Throws DKG_DISQUALIFIED (DKG-10) when the dealer has no
   * accepted round 1, DKG_STATE (DKG-11) when the share is for someone else; records the share and throws
   * DKG_BAD_SHARE when it does not decrypt to a scalar (DKG-12) or fails the Feldman check (DKG-13).
   */
  async receiveShare(bytes: Uint8Array): Promise<void> {
    this.expectPhase('shares');
    const receiver = this.receiver;
    if (!receiver) throw stateError('this participant receives no shares', 'DKG-11');
    const msg = decodeDkgMessageOfType(bytes, 'share');
    checkAuthentic(this.session, msg);
    if (msg.recipient !== receiver.index)
      throw stateError('share is addressed to another participant', 'DKG-11');
    const round1 = this.round1.get(msg.sender);
    if (!round1) {
      throw new OvertError('DKG_DISQUALIFIED', 'share from a dealer without an accepted round 1', {
        check: 'DKG-10',
      });
    }
    if (this.isDuplicate(this.shareMessages.get(msg.sender), msg.bytes)) return;
    // Decryption is asynchronous; several shares may be opened at once, but the phase cannot end meanwhile.
    this.pending++;
    let opened: { share: Scalar } | { failure: OvertError };
    try {
      const plaintext = await openShare(
        receiver.encryptionSecretKey,
        msg.enc,
        shareInfo(this.session.id, msg.sender, receiver.index),
        shareAad(msg),
        msg.ciphertext,
      );
      opened = { share: decodeScalar(plaintext, 'share') };
    } catch (e) {
      if (!isOvertError(e)) throw e;
      opened = {
        failure:
          e.code === 'DKG_BAD_SHARE'
            ? e
            : new OvertError('DKG_BAD_SHARE', 'decrypted share is not a canonical scalar', {
                check: 'DKG-12',
                cause: e,
              }),
      };
    } finally {
      this.pending--;
    }
    // Another call may have recorded this dealer's share while this one was decrypting.
    if (this.isDuplicate(this.shareMessages.get(msg.sender), msg.bytes)) return;
    this.shareMessages.set(msg.sender, msg.bytes);
    if ('failure' in opened) {
      this.shares.set(msg.sender, { ok: false, reason: 'undecryptable' });
      throw opened.failure;
    }
    if (!shareMatchesCommitments(opened.share, round1.commitments, receiver.index)) {
      this.shares.set(msg.sender, { ok: false, reason: 'invalid-share' });
      throw new OvertError('DKG_BAD_SHARE', 'share fails the Feldman check against the dealer commitments', {
        check: 'DKG-13',
      });
    }
    this.shares.set(msg.sender, { ok: true, share: opened.share });
  }

  /**
   * Closes the share phase. Returns this participant's complaint broadcast against every dealer with an
   * accepted round 1 whose share is missing, undecryptable or invalid; null when there is none.
   */
  endShares(): Uint8Array | null {
    this.expectPhase('shares');
    if (this.pending > 0) throw stateError('shares are still being decrypted', 'DKG-6');
    let bytes: Uint8Array | null = null;
    const receiver = this.receiver;
    if (receiver) {
      const accusations: DkgAccusation[] = [];
      for (const dealer of this.round1.keys()) {
        const got = this.shares.get(dealer);
        if (!got) accusations.push({ accused: dealer, reason: 'missing' });
        else if (!got.ok) accusations.push({ accused: dealer, reason: got.reason });
      }
      if (accusations.length > 0) {
        bytes = buildComplaint(this.session, receiver.index, receiver.signingKey, accusations);
        const msg = decodeDkgMessageOfType(bytes, 'complaint');
        checkComplaint(this.session, msg, new Set(this.round1.keys()));
        this.complaints.set(receiver.index, msg);
      }
    }
    this.currentPhase = 'complaints';
    return bytes;
  }

  /** Accepts a complaint broadcast (DKG-3..6, DKG-14). */
  receiveComplaint(bytes: Uint8Array): void {
    this.expectPhase('complaints');
    const msg = decodeDkgMessageOfType(bytes, 'complaint');
    checkAuthentic(this.session, msg);
    if (this.isDuplicate(this.complaints.get(msg.sender), msg.bytes)) return;
    checkComplaintContent(this.session, msg, new Set(this.round1.keys()));
    this.complaints.set(msg.sender, msg);
  }

  /**
   * Closes the complaint phase. A dealer against which complaints stand returns its justification: the
   * disputed shares, revealed publicly (GJKR 1999 §3 step 1(c)); null otherwise.
   */
  endComplaints(): Uint8Array | null {
    this.expectPhase('complaints');
    let bytes: Uint8Array | null = null;
    const dealer = this.dealer;
    const complainers = dealer ? complainersByDealer(this.complaints).get(dealer.index) : undefined;
    if (dealer && complainers && complainers.size > 0) {
      const shares = [...complainers].map((j) => ({
        complainer: j,
        share: evaluatePolynomial(dealer.coefficients, j),
      }));
      bytes = buildJustification(this.session, dealer.index, dealer.signingKey, shares);
      const msg = decodeDkgMessageOfType(bytes, 'justification');
      checkJustification(this.session, msg, new Set(this.round1.keys()), complainers);
      this.justifications.set(dealer.index, msg);
    }
    this.currentPhase = 'justifications';
    return bytes;
  }

  /** Accepts a justification broadcast (DKG-3..6, DKG-10, DKG-15). */
  receiveJustification(bytes: Uint8Array): void {
    this.expectPhase('justifications');
    const msg = decodeDkgMessageOfType(bytes, 'justification');
    checkAuthentic(this.session, msg);
    if (this.isDuplicate(this.justifications.get(msg.sender), msg.bytes)) return;
    const complainers = complainersByDealer(this.complaints).get(msg.sender) ?? new Set<number>();
    checkJustificationContent(msg, new Set(this.round1.keys()), complainers);
    this.justifications.set(msg.sender, msg);
  }

  /**
   * Ends the session: resolves complaints (DKG-16), computes QUAL, the public key, this participant's share
   * and the transcript. Throws DKG_TOO_FEW_QUALIFIED (DKG-17). The session is over either way: the polynomial
   * is erased (best effort, see docs/spec/dkg.md §8) and every further call throws DKG_STATE.
   */
  finish(): DkgOutput {
    this.expectPhase('justifications');
    this.currentPhase = 'finished';
    try {
      const resolution = resolveDkg(this.session, {
        round1: this.round1,
        complaints: this.complaints,
        justifications: this.justifications,
      });
      let keyShare: KeyShare | null = null;
      if (this.receiver) {
        const j = this.receiver.index;
        let secret = zeroScalar;
        for (const i of resolution.qualified) {
          const got = this.shares.get(i);
          const s = got?.ok ? got.share : resolution.revealed.get(i)?.get(j);
          if (!s) throw new InternalError('a qualified dealer left this participant without a share');
          secret = group.scalarAdd(secret, group.scalarMul(resolution.weights.get(i)!, s));
        }
        if (!equalBytes(group.baseMul(secret), resolution.publicKey.verificationKeys[j - 1]!)) {
          throw new InternalError('combined share does not match its verification key');
        }
        keyShare = { index: j, secret };
      }
      const transcript = encodeTranscript({
        session: this.session,
        round1: [...this.round1.values()],
        complaints: [...this.complaints.values()],
        justifications: [...this.justifications.values()],
        qualified: resolution.qualified,
        publicKey: resolution.publicKey,
      });
      return {
        session: this.session,
        keyShare,
        publicKey: resolution.publicKey,
        qualified: resolution.qualified,
        disqualified: resolution.disqualified,
        transcript,
        transcriptHash: transcriptHash(transcript),
      };
    } finally {
      this.erase();
    }
  }

  /** Best-effort erasure of the polynomial and received shares (JavaScript cannot guarantee it). */
  private erase(): void {
    for (const c of this.dealer?.coefficients ?? []) c.fill(0);
    for (const s of this.shares.values()) if (s.ok) s.share.fill(0);
    this.shares.clear();
  }
}
