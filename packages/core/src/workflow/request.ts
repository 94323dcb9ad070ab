/**
 * Access requests (DESIGN §3–§4, docs/spec/workflow.md §3). A request has a public part, which goes on the
 * log and is signed by the requester, and a confidential part (the justification), which only the trustees
 * see until the seal runs out. The public part carries a salted commitment to the confidential part, so the
 * opening published at unseal time can be checked against what the trustees approved.
 *
 * Stages: signed bytes → {@link verifyRequest} (signature by an authorised requester, the policy it names,
 * every limit) → {@link VerifiedRequest}. Decisions and scopes are only made from a VerifiedRequest.
 */
import { compareBytes, equalBytes, type RandomSource, randomBytes, utf8Encode } from '../bytes.js';
import { Reader, Writer } from '../codec.js';
import {
  CONVERSATION_ID_MAX,
  decodeAs,
  isFixedBytes,
  isIdString,
  isMillis,
  isOpaqueId,
  isSortedUniqueStrings,
  isUint,
  ORG_ID_MAX,
  readIdString,
  USER_ID_MAX,
  writeAscii,
} from '../envelope/fields.js';
import { OvertError } from '../errors.js';
import { taggedHash } from '../hash.js';
import type { SigningKeyPair } from '../sign.js';
import { findRequester, type VerifiedPolicy } from './policy.js';
import { decodeSigned, requireSignature, signBody } from './signed.js';

export const REQUEST_VERSION = 1;
/** Request body version 2: a standing order (after-release.md §8.2). */
export const ORDER_VERSION = 2;
export const ORDER_KIND_STANDING = 1;
/** An order's batch is one share-bundle batch (access.md §3): at most this many envelopes. */
export const ORDER_BATCH_MAX = 1024;
export const REQUEST_ID_BYTES = 16;
export const TAG_REQUEST_SIGNATURE = 'overt/workflow/v1/request';
export const TAG_REQUEST_HASH = 'overt/workflow/v1/request-hash';
export const TAG_REQUEST_CONFIDENTIAL = 'overt/workflow/v1/request-confidential';
export const LEGAL_BASIS_MAX = 1024;
export const MAX_SUBJECTS = 0xffff;
export const MAX_CONVERSATIONS = 1024;
/**
 * The justification's limit is set by the unseal entry, which must carry the whole opening in one log entry of
 * at most 64 KiB (unseal.ts UNSEAL_JUSTIFICATION_MAX, docs/spec/workflow.md §9): a longer justification could be
 * committed to but never opened on the log.
 */
export const JUSTIFICATION_MAX = 65_048;
export const CASE_REFERENCE_MAX = 255;
export const SALT_BYTES = 32;
export const MAX_REQUEST_BYTES = 1 << 24;

/** A half-open time window [from, until) in milliseconds since the Unix epoch. */
export interface TimeWindow {
  readonly from: number;
  readonly until: number;
}

/** The public part of a request: what the log shows. */
export interface Request {
  readonly version: number;
  readonly orgId: string;
  readonly requestId: Uint8Array;
  /** The hash of the verified policy the request is filed under. */
  readonly policyHash: Uint8Array;
  readonly requesterId: string;
  readonly createdAt: number;
  /** The legal basis in words (UTF-8), e.g. the statute and the court. */
  readonly legalBasis: string;
  /** SHA-256 (or other 32-byte hash) of the warrant or order document. */
  readonly documentHash: Uint8Array;
  /** User ids whose messages are sought: sorted, unique. */
  readonly subjects: readonly string[];
  readonly window: TimeWindow;
  /** Conversation ids the request is limited to, sorted by bytes, unique; empty means any conversation. */
  readonly conversations: readonly Uint8Array[];
  readonly maxEnvelopes: number;
  /** Until when the affected users are not told. */
  readonly sealUntil: number;
  /** taggedHash("overt/workflow/v1/request-confidential", salt, confidential encoding). */
  readonly confidentialCommitment: Uint8Array;
  /** Version 2 only: the request is a standing order (after-release.md §8.2). */
  readonly order?: OrderFields;
}

/** What a version 2 body adds: the kind (1, standing order) and the order it renews, if any. */
export interface OrderFields {
  readonly previous?: { readonly requestId: Uint8Array; readonly hash: Uint8Array };
}

export function isOrder(q: Request): boolean {
  return q.version === ORDER_VERSION;
}

/** The confidential part: for the trustees' eyes until unseal. */
export interface RequestConfidential {
  readonly justification: string;
  readonly caseReference: string;
}

/** The opening of the commitment: published at unseal time. Secret until then. */
export interface RequestOpening {
  readonly salt: Uint8Array;
  readonly confidential: RequestConfidential;
}

declare const verifiedRequest: unique symbol;

/** A request whose signature, requester and limits have been checked against a verified policy. */
export interface VerifiedRequest {
  readonly [verifiedRequest]: true;
  readonly request: Request;
  /** taggedHash("overt/workflow/v1/request-hash", body): the content hash decisions bind (A8). */
  readonly hash: Uint8Array;
  readonly signed: Uint8Array;
}

function invalid(what: string): never {
  throw new OvertError('REQUEST_INVALID', `request ${what} is invalid`, { check: 'WF-R1' });
}

function orderInvalid(what: string): never {
  throw new OvertError('REQUEST_INVALID', `order ${what} is invalid`, { check: 'WF-O1' });
}

function utf8Length(s: unknown): number {
  return typeof s === 'string' ? utf8Encode(s).length : -1;
}

function isSortedUniqueBytes(list: readonly Uint8Array[]): boolean {
  for (let i = 1; i < list.length; i++) if (compareBytes(list[i - 1]!, list[i]!) >= 0) return false;
  return true;
}

/** Structural rules on the public part (WF-R1); limits are checked against the policy in verifyRequest. */
export function validateRequest(q: Request): void {
  if (q.version !== REQUEST_VERSION && q.version !== ORDER_VERSION) invalid('version');
  if (q.version === REQUEST_VERSION && q.order !== undefined) invalid('order (version 1)');
  if (q.version === ORDER_VERSION) {
    if (q.order === undefined) orderInvalid('fields');
    const prev = q.order.previous;
    if (
      prev !== undefined &&
      (!isFixedBytes(prev.requestId, REQUEST_ID_BYTES) || !isFixedBytes(prev.hash, 32))
    )
      orderInvalid('previous');
    if (q.sealUntil !== q.createdAt)
      throw new OvertError('REQUEST_INVALID', 'an order is never sealed', { check: 'WF-O4' });
  }
  if (!isIdString(q.orgId, ORG_ID_MAX)) invalid('orgId');
  if (!isFixedBytes(q.requestId, REQUEST_ID_BYTES)) invalid('requestId');
  if (!isFixedBytes(q.policyHash, 32)) invalid('policyHash');
  if (!isIdString(q.requesterId, USER_ID_MAX)) invalid('requesterId');
  if (!isMillis(q.createdAt)) invalid('createdAt');
  const lb = utf8Length(q.legalBasis);
  if (lb < 1 || lb > LEGAL_BASIS_MAX) invalid('legalBasis');
  if (!isFixedBytes(q.documentHash, 32)) invalid('documentHash');
  if (q.subjects.length < 1 || q.subjects.length > MAX_SUBJECTS) invalid('subjects');
  for (const s of q.subjects) if (!isIdString(s, USER_ID_MAX)) invalid('subjects');
  if (!isSortedUniqueStrings(q.subjects)) invalid('subjects (order)');
  if (!isMillis(q.window.from) || !isMillis(q.window.until) || q.window.from >= q.window.until)
    invalid('window');
  if (q.conversations.length > MAX_CONVERSATIONS) invalid('conversations');
  for (const c of q.conversations) if (!isOpaqueId(c, CONVERSATION_ID_MAX)) invalid('conversations');
  if (!isSortedUniqueBytes(q.conversations)) invalid('conversations (order)');
  if (!isUint(q.maxEnvelopes, 0xffffffff) || q.maxEnvelopes < 1) invalid('maxEnvelopes');
  if (!isMillis(q.sealUntil) || q.sealUntil < q.createdAt) invalid('sealUntil');
  if (!isFixedBytes(q.confidentialCommitment, 32)) invalid('confidentialCommitment');
}

export function encodeRequest(q: Request): Uint8Array {
  validateRequest(q);
  const w = new Writer(512);
  w.u8(q.version);
  writeAscii(w, q.orgId);
  w.bytes(q.requestId).bytes(q.policyHash);
  writeAscii(w, q.requesterId);
  w.u64(q.createdAt).str16(q.legalBasis).bytes(q.documentHash);
  w.u16(q.subjects.length);
  for (const s of q.subjects) writeAscii(w, s);
  w.u64(q.window.from).u64(q.window.until);
  w.u16(q.conversations.length);
  for (const c of q.conversations) w.vec8(c);
  w.u32(q.maxEnvelopes).u64(q.sealUntil).bytes(q.confidentialCommitment);
  if (q.version === ORDER_VERSION) {
    w.u8(ORDER_KIND_STANDING);
    const prev = q.order?.previous;
    if (prev === undefined) w.u8(0);
    else w.u8(1).bytes(prev.requestId).bytes(prev.hash);
  }
  return w.finish();
}

export function decodeRequest(bytes: Uint8Array): Request {
  return decodeAs('REQUEST_INVALID', 'WF-R1', 'request', () => {
    const fail = (): never => invalid('encoding');
    const r = new Reader(bytes);
    const version = r.u8('version');
    if (version !== REQUEST_VERSION && version !== ORDER_VERSION) invalid('version');
    const orgId = readIdString(r, 'orgId', ORG_ID_MAX, fail);
    const requestId = r.bytes(REQUEST_ID_BYTES, 'requestId');
    const policyHash = r.bytes(32, 'policyHash');
    const requesterId = readIdString(r, 'requesterId', USER_ID_MAX, fail);
    const createdAt = r.u64('createdAt');
    const legalBasis = r.str16('legalBasis', LEGAL_BASIS_MAX);
    const documentHash = r.bytes(32, 'documentHash');
    const subjects: string[] = [];
    const ns = r.u16('subject count');
    for (let i = 0; i < ns; i++) subjects.push(readIdString(r, 'subject', USER_ID_MAX, fail));
    const window = { from: r.u64('window.from'), until: r.u64('window.until') };
    const conversations: Uint8Array[] = [];
    const nc = r.u16('conversation count');
    if (nc > MAX_CONVERSATIONS) invalid('conversations');
    for (let i = 0; i < nc; i++) conversations.push(r.vec8('conversation', CONVERSATION_ID_MAX));
    const q: Request = {
      version,
      orgId,
      requestId,
      policyHash,
      requesterId,
      createdAt,
      legalBasis,
      documentHash,
      subjects,
      window,
      conversations,
      maxEnvelopes: r.u32('maxEnvelopes'),
      sealUntil: r.u64('sealUntil'),
      confidentialCommitment: r.bytes(32, 'confidentialCommitment'),
      ...(version === ORDER_VERSION ? { order: readOrder(r) } : {}),
    };
    r.finish('request');
    validateRequest(q);
    return q;
  });
}

function readOrder(r: Reader): OrderFields {
  if (r.u8('order kind') !== ORDER_KIND_STANDING) orderInvalid('kind');
  const has = r.u8('has previous');
  if (has === 0) return {};
  if (has !== 1) orderInvalid('has previous');
  return {
    previous: { requestId: r.bytes(REQUEST_ID_BYTES, 'previous id'), hash: r.bytes(32, 'previous hash') },
  };
}

export function requestHash(body: Uint8Array): Uint8Array {
  return taggedHash(TAG_REQUEST_HASH, body);
}

export function signRequest(q: Request, requesterKey: SigningKeyPair): Uint8Array {
  return signBody(TAG_REQUEST_SIGNATURE, requesterKey, encodeRequest(q));
}

function limit(what: string): never {
  throw new OvertError('REQUEST_LIMIT', `request exceeds the policy limit on ${what}`, { check: 'WF-R5' });
}

/**
 * Release rule 1 (DESIGN §5): decodes a signed request and checks it against a verified policy.
 * Throws REQUEST_INVALID when malformed (WF-R1), for another organisation or policy (WF-R2), or from a
 * requester the policy does not authorise (WF-R3); SIGNATURE_INVALID when the requester's signature fails
 * (WF-R4); REQUEST_LIMIT when it asks for more subjects, a longer window, more envelopes or a longer seal
 * than the policy allows (WF-R5, A11).
 */
export function verifyRequest(signed: Uint8Array, policy: VerifiedPolicy): VerifiedRequest {
  const s = decodeSigned(signed, MAX_REQUEST_BYTES, 'REQUEST_INVALID', 'WF-R1');
  const q = decodeRequest(s.body);
  const p = policy.policy;
  if (q.orgId !== p.orgId || !equalBytes(q.policyHash, policy.hash))
    throw new OvertError('REQUEST_INVALID', 'request is filed under another policy', { check: 'WF-R2' });
  const requester = findRequester(p, q.requesterId);
  if (requester === undefined)
    throw new OvertError('REQUEST_INVALID', 'requester is not authorised by the policy', { check: 'WF-R3' });
  requireSignature(TAG_REQUEST_SIGNATURE, requester.signingKey, s, 'request', 'WF-R4');
  const l = p.limits;
  if (q.subjects.length > l.maxSubjects) limit('subjects');
  if (q.version === ORDER_VERSION) {
    // WF-O2, WF-O3 (after-release.md §8.2): recorded subjects only, the order's own length and batch limits.
    const group = new Set(p.recorded ?? []);
    if (!q.subjects.every((u) => group.has(u)))
      throw new OvertError('REQUEST_INVALID', 'an order names a user outside the recorded group', {
        check: 'WF-O2',
      });
    if (q.window.until - q.window.from > (p.maxOrderMs ?? 0) || q.maxEnvelopes > ORDER_BATCH_MAX)
      throw new OvertError('REQUEST_LIMIT', 'order exceeds the policy limit on its length or batch', {
        check: 'WF-O3',
      });
  } else if (q.window.until - q.window.from > l.maxWindowMs) limit('time window');
  if (q.maxEnvelopes > l.maxEnvelopes) limit('envelopes');
  if (q.sealUntil - q.createdAt > l.maxSealMs) limit('seal length');
  return { request: q, hash: requestHash(s.body), signed: signed.slice() } as VerifiedRequest;
}

// Confidential part and its commitment.

function writeConfidential(w: Writer, c: RequestConfidential): void {
  const j = utf8Length(c.justification);
  const cr = utf8Length(c.caseReference);
  if (j < 1 || j > JUSTIFICATION_MAX || cr < 0 || cr > CASE_REFERENCE_MAX) invalid('confidential part');
  w.str16(c.justification).str8(c.caseReference);
}

function readConfidential(r: Reader): RequestConfidential {
  const justification = r.str16('justification', JUSTIFICATION_MAX);
  if (justification.length === 0) invalid('justification');
  return { justification, caseReference: r.str8('caseReference', CASE_REFERENCE_MAX) };
}

/** c = taggedHash("overt/workflow/v1/request-confidential", salt, confidential encoding). */
export function confidentialCommitment(opening: RequestOpening): Uint8Array {
  if (!isFixedBytes(opening.salt, SALT_BYTES)) invalid('salt');
  const w = new Writer(256);
  writeConfidential(w, opening.confidential);
  return taggedHash(TAG_REQUEST_CONFIDENTIAL, opening.salt, w.finish());
}

/** Draws a fresh 32-byte salt and commits to the confidential part. Keep the opening secret until unseal. */
export function commitConfidential(
  confidential: RequestConfidential,
  rng: RandomSource = randomBytes,
): { commitment: Uint8Array; opening: RequestOpening } {
  const opening = { salt: rng(SALT_BYTES), confidential };
  return { commitment: confidentialCommitment(opening), opening };
}

/** Throws COMMITMENT_MISMATCH (WF-R6) unless the opening is the one the request committed to. */
export function checkOpening(request: Request, opening: RequestOpening): void {
  if (!equalBytes(confidentialCommitment(opening), request.confidentialCommitment))
    throw new OvertError('COMMITMENT_MISMATCH', 'opening does not match the request commitment', {
      check: 'WF-R6',
    });
}

/** opening := u8 version ‖ salt (32) ‖ vec16 justification ‖ vec8 caseReference. */
export function encodeOpening(o: RequestOpening): Uint8Array {
  if (!isFixedBytes(o.salt, SALT_BYTES)) invalid('salt');
  const w = new Writer(256).u8(REQUEST_VERSION).bytes(o.salt);
  writeConfidential(w, o.confidential);
  return w.finish();
}

export function decodeOpening(bytes: Uint8Array): RequestOpening {
  return decodeAs('REQUEST_INVALID', 'WF-R1', 'request opening', () => {
    const r = new Reader(bytes);
    if (r.u8('version') !== REQUEST_VERSION) invalid('opening version');
    const salt = r.bytes(SALT_BYTES, 'salt');
    const confidential = readConfidential(r);
    r.finish('request opening');
    return { salt, confidential };
  });
}

/**
 * WF-O5 (after-release.md §8.2): a renewal names a verified order of the same requester, logged before it, and
 * starts exactly when that order ends. `previous` is the verified order the caller found on its view of the log
 * under the id the renewal names (undefined when there is none). Throws REQUEST_INVALID (WF-O5).
 */
export function checkRenewal(order: VerifiedRequest, previous: VerifiedRequest | undefined): void {
  const q = order.request;
  const named = q.order?.previous;
  if (named === undefined) return;
  const fail = (): never => {
    throw new OvertError('REQUEST_INVALID', 'the order it renews is not on the log or does not chain', {
      check: 'WF-O5',
    });
  };
  if (previous === undefined) fail();
  const p = previous!.request;
  if (
    !isOrder(p) ||
    !equalBytes(p.requestId, named.requestId) ||
    !equalBytes(previous!.hash, named.hash) ||
    p.requesterId !== q.requesterId ||
    p.window.until !== q.window.from
  )
    fail();
}
