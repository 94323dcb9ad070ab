/**
 * The four DKG messages (docs/spec/dkg.md §4): their canonical encoding, decoding from attacker-controlled bytes,
 * Ed25519 signatures, the Schnorr proof of knowledge of a dealer's constant term (FROST KeyGen round 1,
 * Komlo–Goldberg 2020 Fig. 1) and the checks that do not depend on a participant's private state.
 *
 * Every message is `version ‖ type ‖ session_id ‖ sender ‖ body ‖ signature`, signed by its sender over
 * taggedHash("overt/dkg/v1/message", everything before the signature), so that every broadcast message — and
 * hence every complaint and every disqualification — is attributable (GJKR 1999 needs this to resolve complaints
 * publicly). Decoding checks structure only (canonical elements and scalars, sorted lists); signatures, the
 * session and the semantics are checked against a session by the `check*` functions.
 */
import { concatBytes, equalBytes, type RandomSource, randomBytes } from '../bytes.js';
import { decodeAll, type Reader, Writer } from '../codec.js';
import { OvertError } from '../errors.js';
import {
  decodeElement,
  decodeScalar,
  type Element,
  group,
  hashToScalar,
  hedgedNonce,
  type Scalar,
} from '../group.js';
import { taggedHash } from '../hash.js';
import { type SigningKeyPair, sign, verifySignature } from '../sign.js';
import { MAX_PARTICIPANTS } from '../threshold.js';
import { DKG_HPKE_CIPHERTEXT_BYTES, DKG_HPKE_ENC_BYTES, sealShare, shareInfo } from './hpke.js';
import { DKG_SESSION_ID_BYTES, DKG_VERSION, type DkgSession, sessionDealers } from './session.js';

export const DKG_TAG_MESSAGE = 'overt/dkg/v1/message';
export const DKG_TAG_POK = 'overt/dkg/v1/pok';
export const DKG_TAG_POK_NONCE = 'overt/dkg/v1/pok-nonce';
const SIGNATURE_BYTES = 64;
/** version ‖ type ‖ session_id ‖ sender. */
const HEADER_BYTES = 1 + 1 + DKG_SESSION_ID_BYTES + 1;

export const DKG_MESSAGE_TYPE = { round1: 1, share: 2, complaint: 3, justification: 4 } as const;
export type DkgMessageType = keyof typeof DKG_MESSAGE_TYPE;

/** Why a recipient complains against a dealer (informational: any complaint must be answered). */
export const DKG_COMPLAINT_REASON = { 'invalid-share': 1, undecryptable: 2, missing: 3 } as const;
export type DkgComplaintReason = keyof typeof DKG_COMPLAINT_REASON;

interface MessageBase {
  readonly sessionId: Uint8Array;
  /** The dealer's index for round1/share/justification; the complaining participant's for complaint. */
  readonly sender: number;
  readonly signature: Uint8Array;
  /** The whole encoding, signature included. */
  readonly bytes: Uint8Array;
}

/** Schnorr proof of knowledge of a_0 for C_0 = a_0·G: R = r·G, z = r + c·a_0 (docs/spec/dkg.md §4.1). */
export interface DkgProof {
  readonly R: Element;
  readonly z: Scalar;
}

/** Round 1, broadcast: Feldman commitments C_0..C_{k−1} to the dealer's polynomial and the proof for C_0. */
export interface DkgRound1Message extends MessageBase {
  readonly type: 'round1';
  readonly commitments: readonly Element[];
  readonly proof: DkgProof;
}

/** Round 2, to one recipient: f_i(recipient) HPKE-sealed to the recipient's encryption key. */
export interface DkgShareMessage extends MessageBase {
  readonly type: 'share';
  readonly recipient: number;
  readonly enc: Uint8Array;
  readonly ciphertext: Uint8Array;
}

export interface DkgAccusation {
  readonly accused: number;
  readonly reason: DkgComplaintReason;
}

/** Complaint, broadcast by a recipient: the dealers whose share to it was missing, undecryptable or invalid. */
export interface DkgComplaintMessage extends MessageBase {
  readonly type: 'complaint';
  readonly accusations: readonly DkgAccusation[];
}

export interface DkgRevealedShare {
  readonly complainer: number;
  readonly share: Scalar;
}

/** Justification, broadcast by an accused dealer: the disputed shares, revealed publicly. */
export interface DkgJustificationMessage extends MessageBase {
  readonly type: 'justification';
  readonly shares: readonly DkgRevealedShare[];
}

export type DkgMessage = DkgRound1Message | DkgShareMessage | DkgComplaintMessage | DkgJustificationMessage;

// ── encoding ────────────────────────────────────────────────────────────────────────────────────────────────

/** `bodyBytes` sizes the writer exactly, so it never has to grow. */
function header(type: DkgMessageType, sessionId: Uint8Array, sender: number, bodyBytes: number): Writer {
  return new Writer(HEADER_BYTES + bodyBytes)
    .u8(DKG_VERSION)
    .u8(DKG_MESSAGE_TYPE[type])
    .bytes(sessionId)
    .u8(sender);
}

function signInput(unsigned: Uint8Array): Uint8Array {
  return taggedHash(DKG_TAG_MESSAGE, unsigned);
}

function finishSigned(w: Writer, key: SigningKeyPair): Uint8Array {
  const unsigned = w.finish();
  return concatBytes(unsigned, sign(key, signInput(unsigned)));
}

/** Fiat–Shamir challenge c = H("overt/dkg/v1/pok", session_id, u8 dealer, C_0, R) reduced mod ℓ. */
function pokChallenge(sessionId: Uint8Array, dealer: number, c0: Element, R: Element): Scalar {
  return hashToScalar(DKG_TAG_POK, sessionId, Uint8Array.of(dealer), c0, R);
}

/**
 * The proof-of-knowledge nonce r = HS("overt/dkg/v1/pok-nonce", a_0, session_id, u8 dealer, ρ), ρ = 32 bytes from
 * `rng` (docs/spec/dkg.md §4.1), hedged as capsule decryption shares are. In a resharing a_0 is the dealer's
 * long-lived share x_i: a plain random r that repeated across two sessions (a broken or replayed rng) would give
 * z_1 − z_2 = (c_1 − c_2)·x_i and reveal it. Derived from a_0 and everything else the challenge binds, r repeats
 * only when the challenge does too, and then the whole proof is the same.
 */
export function pokNonce(
  sessionId: Uint8Array,
  dealer: number,
  constant: Scalar,
  rng: RandomSource = randomBytes,
): Scalar {
  return hedgedNonce(DKG_TAG_POK_NONCE, constant, [sessionId, Uint8Array.of(dealer)], rng);
}

/**
 * Builds and signs a dealer's round-1 message for the polynomial `coefficients` (constant term first): commits
 * to every coefficient and proves knowledge of the constant term, bound to the session and the dealer's index.
 * Takes 32 bytes from `rng` for the hedged proof nonce ({@link pokNonce}).
 */
export function buildRound1(
  session: DkgSession,
  dealer: number,
  key: SigningKeyPair,
  coefficients: readonly Scalar[],
  rng: RandomSource = randomBytes,
): Uint8Array {
  const commitments = coefficients.map((a) => group.baseMul(a));
  const r = pokNonce(session.id, dealer, coefficients[0]!, rng);
  const R = group.baseMul(r);
  const c = pokChallenge(session.id, dealer, commitments[0]!, R);
  const z = group.scalarAdd(r, group.scalarMul(c, coefficients[0]!));
  const w = header('round1', session.id, dealer, 1 + 32 * commitments.length + 64).u8(commitments.length);
  for (const C of commitments) w.bytes(C);
  w.bytes(R).bytes(z);
  return finishSigned(w, key);
}

/** Seals f_dealer(recipient) to the recipient and signs the result. */
export async function buildShare(
  session: DkgSession,
  dealer: number,
  key: SigningKeyPair,
  recipient: number,
  share: Scalar,
  rng: RandomSource = randomBytes,
): Promise<Uint8Array> {
  const target = session.participants[recipient - 1];
  if (!target) throw new OvertError('DKG_PARAMS', 'no such recipient in the session', { check: 'DKG-1' });
  const prefix = header('share', session.id, dealer, 1).u8(recipient).finish();
  const sealed = await sealShare(
    target.encryptionKey,
    shareInfo(session.id, dealer, recipient),
    prefix,
    share,
    rng,
  );
  const w = new Writer(prefix.length + sealed.enc.length + sealed.ciphertext.length)
    .bytes(prefix)
    .bytes(sealed.enc)
    .bytes(sealed.ciphertext);
  return finishSigned(w, key);
}

/** The AAD of a share's HPKE encryption: the message prefix version ‖ type ‖ session_id ‖ sender ‖ recipient. */
export function shareAad(msg: DkgShareMessage): Uint8Array {
  return msg.bytes.slice(0, HEADER_BYTES + 1);
}

/** Builds and signs a complaint; `accusations` are sorted by accused index here. */
export function buildComplaint(
  session: DkgSession,
  complainer: number,
  key: SigningKeyPair,
  accusations: readonly DkgAccusation[],
): Uint8Array {
  const sorted = [...accusations].sort((a, b) => a.accused - b.accused);
  const w = header('complaint', session.id, complainer, 1 + 2 * sorted.length).u8(sorted.length);
  for (const a of sorted) w.u8(a.accused).u8(DKG_COMPLAINT_REASON[a.reason]);
  return finishSigned(w, key);
}

/** Builds and signs a justification; `shares` are sorted by complainer index here. */
export function buildJustification(
  session: DkgSession,
  dealer: number,
  key: SigningKeyPair,
  shares: readonly DkgRevealedShare[],
): Uint8Array {
  const sorted = [...shares].sort((a, b) => a.complainer - b.complainer);
  const w = header('justification', session.id, dealer, 1 + 33 * sorted.length).u8(sorted.length);
  for (const s of sorted) w.u8(s.complainer).bytes(s.share);
  return finishSigned(w, key);
}

// ── decoding ────────────────────────────────────────────────────────────────────────────────────────────────

function readIndex(r: Reader, what: string): number {
  const i = r.u8(what);
  if (i < 1 || i > MAX_PARTICIPANTS) throw new OvertError('CODEC_RANGE', `${what} must be in 1..255`);
  return i;
}

function readCount(r: Reader, what: string): number {
  const n = r.u8(what);
  if (n < 1) throw new OvertError('CODEC_LENGTH', `${what} must be at least 1`);
  return n;
}

function checkIncreasing(values: readonly number[], what: string): void {
  for (let i = 1; i < values.length; i++) {
    if (values[i]! <= values[i - 1]!)
      throw new OvertError('CODEC_RANGE', `${what} must be strictly increasing`);
  }
}

const REASONS = Object.entries(DKG_COMPLAINT_REASON) as [DkgComplaintReason, number][];

function readMessage(r: Reader, bytes: Uint8Array): DkgMessage {
  const version = r.u8('message version');
  if (version !== DKG_VERSION) throw new OvertError('CODEC_VERSION', 'unsupported DKG message version');
  const typeByte = r.u8('message type');
  const sessionId = r.bytes(DKG_SESSION_ID_BYTES, 'session id');
  const sender = readIndex(r, 'sender index');
  const finishBase = () => {
    const signature = r.bytes(SIGNATURE_BYTES, 'signature');
    return { sessionId, sender, signature, bytes };
  };
  switch (typeByte) {
    case DKG_MESSAGE_TYPE.round1: {
      const count = readCount(r, 'commitment count');
      const commitments: Element[] = [];
      for (let i = 0; i < count; i++)
        commitments.push(decodeElement(r.bytes(32, 'commitment'), 'commitment'));
      const R = decodeElement(r.bytes(32, 'proof commitment'), 'proof commitment');
      const z = decodeScalar(r.bytes(32, 'proof response'), 'proof response');
      return { type: 'round1', commitments, proof: { R, z }, ...finishBase() };
    }
    case DKG_MESSAGE_TYPE.share: {
      const recipient = readIndex(r, 'recipient index');
      const enc = r.bytes(DKG_HPKE_ENC_BYTES, 'encapsulated key');
      const ciphertext = r.bytes(DKG_HPKE_CIPHERTEXT_BYTES, 'share ciphertext');
      return { type: 'share', recipient, enc, ciphertext, ...finishBase() };
    }
    case DKG_MESSAGE_TYPE.complaint: {
      const count = readCount(r, 'accusation count');
      const accusations: DkgAccusation[] = [];
      for (let i = 0; i < count; i++) {
        const accused = readIndex(r, 'accused index');
        const code = r.u8('complaint reason');
        const reason = REASONS.find(([, v]) => v === code)?.[0];
        if (!reason) throw new OvertError('CODEC_ENUM', 'unknown complaint reason');
        accusations.push({ accused, reason });
      }
      checkIncreasing(
        accusations.map((a) => a.accused),
        'accused indices',
      );
      return { type: 'complaint', accusations, ...finishBase() };
    }
    case DKG_MESSAGE_TYPE.justification: {
      const count = readCount(r, 'revealed share count');
      const shares: DkgRevealedShare[] = [];
      for (let i = 0; i < count; i++) {
        const complainer = readIndex(r, 'complainer index');
        shares.push({ complainer, share: decodeScalar(r.bytes(32, 'revealed share'), 'revealed share') });
      }
      checkIncreasing(
        shares.map((s) => s.complainer),
        'complainer indices',
      );
      return { type: 'justification', shares, ...finishBase() };
    }
    default:
      throw new OvertError('CODEC_ENUM', 'unknown DKG message type');
  }
}

/**
 * Decodes a DKG message from attacker-controlled bytes. Checks structure only; throws CODEC_* or GROUP_* on
 * malformed input. Signature, session and semantics are checked by the `check*` functions.
 */
export function decodeDkgMessage(bytes: Uint8Array): DkgMessage {
  const copy = bytes.slice();
  return decodeAll(copy, 'DKG message', (r) => readMessage(r, copy));
}

/** Decodes and requires the given message type (DKG_STATE otherwise: the message is for another phase). */
export function decodeDkgMessageOfType<T extends DkgMessageType>(
  bytes: Uint8Array,
  type: T,
): Extract<DkgMessage, { type: T }> {
  const msg = decodeDkgMessage(bytes);
  if (msg.type !== type) {
    throw new OvertError('DKG_STATE', `expected a ${type} message, got ${msg.type}`, { check: 'DKG-6' });
  }
  return msg as Extract<DkgMessage, { type: T }>;
}

// ── checks against a session ────────────────────────────────────────────────────────────────────────────────

/**
 * DKG-3 and DKG-4: the message belongs to this session and is signed by the registered key of its sender in
 * the role its type implies (dealers for round1/share/justification, new participants for complaints).
 */
export function checkAuthentic(session: DkgSession, msg: DkgMessage): void {
  if (!equalBytes(msg.sessionId, session.id)) {
    throw new OvertError('DKG_SESSION', `${msg.type} message belongs to another session`, { check: 'DKG-3' });
  }
  const members = msg.type === 'complaint' ? session.participants : sessionDealers(session);
  const member = members[msg.sender - 1];
  if (!member) {
    throw new OvertError('DKG_SIGNATURE', `${msg.type} message from an index outside the session`, {
      check: 'DKG-4',
    });
  }
  const unsigned = msg.bytes.subarray(0, msg.bytes.length - SIGNATURE_BYTES);
  if (!verifySignature(member.signingKey, signInput(unsigned), msg.signature)) {
    throw new OvertError('DKG_SIGNATURE', `${msg.type} message signature does not verify`, {
      check: 'DKG-4',
    });
  }
}

/**
 * Checks an authentic round-1 message: k commitments (DKG-7), a valid proof of knowledge of the constant term
 * (DKG-8), and for a resharing a constant term equal to the dealer's previous verification key Y_i (DKG-9), so
 * that a dealer cannot change the secret.
 */
export function checkRound1(session: DkgSession, msg: DkgRound1Message): void {
  checkAuthentic(session, msg);
  checkRound1Content(session, msg);
}

/** {@link checkRound1} without the authenticity check, for a caller that has just made it. */
export function checkRound1Content(session: DkgSession, msg: DkgRound1Message): void {
  if (msg.commitments.length !== session.threshold) {
    throw new OvertError('DKG_BAD_COMMITMENT', 'round-1 message must commit to exactly k coefficients', {
      check: 'DKG-7',
    });
  }
  const c0 = msg.commitments[0]!;
  const c = pokChallenge(session.id, msg.sender, c0, msg.proof.R);
  // z·G = R + c·C_0 (Schnorr verification).
  const lhs = group.baseMul(msg.proof.z);
  const rhs = group.add(msg.proof.R, group.mul(c, c0));
  if (!equalBytes(lhs, rhs)) {
    throw new OvertError('DKG_BAD_PROOF', 'proof of knowledge of the constant term does not verify', {
      check: 'DKG-8',
    });
  }
  if (session.previous) {
    const yi = session.previous.members[msg.sender - 1]!.verificationKey;
    if (!equalBytes(c0, yi)) {
      throw new OvertError(
        'DKG_BAD_COMMITMENT',
        'resharing dealer constant term differs from its previous verification key',
        { check: 'DKG-9' },
      );
    }
  }
}

/**
 * Checks an authentic complaint: every accused dealer has an accepted round-1 message and, in a DKG, is not the
 * complainer itself (DKG-14). `dealers` is the set of dealers whose round 1 was accepted.
 */
export function checkComplaint(
  session: DkgSession,
  msg: DkgComplaintMessage,
  dealers: ReadonlySet<number>,
): void {
  checkAuthentic(session, msg);
  checkComplaintContent(session, msg, dealers);
}

/** {@link checkComplaint} without the authenticity check, for a caller that has just made it. */
export function checkComplaintContent(
  session: DkgSession,
  msg: DkgComplaintMessage,
  dealers: ReadonlySet<number>,
): void {
  for (const a of msg.accusations) {
    if (!dealers.has(a.accused)) {
      throw new OvertError('DKG_BAD_COMPLAINT', 'complaint against a dealer without an accepted round 1', {
        check: 'DKG-14',
      });
    }
    if (session.kind === 'dkg' && a.accused === msg.sender) {
      throw new OvertError('DKG_BAD_COMPLAINT', 'a participant cannot complain against itself', {
        check: 'DKG-14',
      });
    }
  }
}

/**
 * Checks an authentic justification: its sender is a dealer with an accepted round 1 and every revealed share
 * answers a complaint actually made against it (DKG-15). Whether the shares are correct is decided when
 * the qualified set is computed (DKG-16): a wrong share disqualifies, it does not make the message invalid.
 * `complainers` is the set of participants that complained against the sender.
 */
export function checkJustification(
  session: DkgSession,
  msg: DkgJustificationMessage,
  dealers: ReadonlySet<number>,
  complainers: ReadonlySet<number>,
): void {
  checkAuthentic(session, msg);
  checkJustificationContent(msg, dealers, complainers);
}

/** {@link checkJustification} without the authenticity check, for a caller that has just made it. */
export function checkJustificationContent(
  msg: DkgJustificationMessage,
  dealers: ReadonlySet<number>,
  complainers: ReadonlySet<number>,
): void {
  if (!dealers.has(msg.sender)) {
    throw new OvertError('DKG_DISQUALIFIED', 'justification from a dealer without an accepted round 1', {
      check: 'DKG-10',
    });
  }
  for (const s of msg.shares) {
    if (!complainers.has(s.complainer)) {
      throw new OvertError('DKG_BAD_COMPLAINT', 'justification reveals a share nobody complained about', {
        check: 'DKG-15',
      });
    }
  }
}
