/**
 * Trustee decisions (DESIGN §4 step 4, docs/spec/workflow.md §4): approve or deny, signed by the trustee.
 * A decision names the request by its id AND its content hash, so an approval of one request can never be
 * counted for another request, not even one that reuses the id with different contents (A8).
 */
import { equalBytes, toHex, utf8Encode } from '../bytes.js';
import { Reader, Writer } from '../codec.js';
import {
  decodeAs,
  isFixedBytes,
  isIdString,
  isMillis,
  isUint,
  ORG_ID_MAX,
  readIdString,
  writeAscii,
} from '../envelope/fields.js';
import { OvertError } from '../errors.js';
import type { SigningKeyPair } from '../sign.js';
import { MAX_PARTICIPANTS } from '../threshold.js';
import { findTrustee, type VerifiedPolicy } from './policy.js';
import { REQUEST_ID_BYTES, type VerifiedRequest } from './request.js';
import { decodeSigned, requireSignature, signBody } from './signed.js';

export const DECISION_VERSION = 1;
export const TAG_DECISION_SIGNATURE = 'overt/workflow/v1/decision';
export const REASON_MAX = 1024;
const MAX_DECISION_BYTES = 4096;

export type Verdict = 'approve' | 'deny';

export interface Decision {
  readonly version: number;
  readonly orgId: string;
  readonly requestId: Uint8Array;
  /** The request's content hash (VerifiedRequest.hash). */
  readonly requestHash: Uint8Array;
  readonly trusteeIndex: number;
  readonly verdict: Verdict;
  readonly decidedAt: number;
  /** Free text (UTF-8), typically the grounds of a denial; may be empty. */
  readonly reason: string;
}

declare const verifiedDecision: unique symbol;

/** A decision whose trustee signature and request binding have been checked. */
export interface VerifiedDecision {
  readonly [verifiedDecision]: true;
  readonly decision: Decision;
  readonly signed: Uint8Array;
}

const VERDICT_CODE: Record<Verdict, number> = { approve: 1, deny: 2 };

function invalid(what: string, check = 'WF-D1'): never {
  throw new OvertError('DECISION_INVALID', `decision ${what} is invalid`, { check });
}

export function validateDecision(d: Decision): void {
  if (d.version !== DECISION_VERSION) invalid('version');
  if (!isIdString(d.orgId, ORG_ID_MAX)) invalid('orgId');
  if (!isFixedBytes(d.requestId, REQUEST_ID_BYTES)) invalid('requestId');
  if (!isFixedBytes(d.requestHash, 32)) invalid('requestHash');
  if (!isUint(d.trusteeIndex, MAX_PARTICIPANTS) || d.trusteeIndex < 1) invalid('trusteeIndex');
  if (d.verdict !== 'approve' && d.verdict !== 'deny') invalid('verdict');
  if (!isMillis(d.decidedAt)) invalid('decidedAt');
  if (typeof d.reason !== 'string' || utf8Encode(d.reason).length > REASON_MAX) invalid('reason');
}

export function encodeDecision(d: Decision): Uint8Array {
  validateDecision(d);
  const w = new Writer(128);
  w.u8(d.version);
  writeAscii(w, d.orgId);
  w.bytes(d.requestId).bytes(d.requestHash).u8(d.trusteeIndex).u8(VERDICT_CODE[d.verdict]);
  w.u64(d.decidedAt).str16(d.reason);
  return w.finish();
}

export function decodeDecision(bytes: Uint8Array): Decision {
  return decodeAs('DECISION_INVALID', 'WF-D1', 'decision', () => {
    const r = new Reader(bytes);
    const version = r.u8('version');
    if (version !== DECISION_VERSION) invalid('version');
    const orgId = readIdString(r, 'orgId', ORG_ID_MAX, () => invalid('orgId'));
    const requestId = r.bytes(REQUEST_ID_BYTES, 'requestId');
    const requestHash = r.bytes(32, 'requestHash');
    const trusteeIndex = r.u8('trusteeIndex');
    const v = r.u8('verdict');
    const verdict: Verdict = v === 1 ? 'approve' : v === 2 ? 'deny' : invalid('verdict');
    const d: Decision = {
      version,
      orgId,
      requestId,
      requestHash,
      trusteeIndex,
      verdict,
      decidedAt: r.u64('decidedAt'),
      reason: r.str16('reason', REASON_MAX),
    };
    r.finish('decision');
    validateDecision(d);
    return d;
  });
}

/** Signs a decision with the trustee's key. */
export function signDecision(d: Decision, trusteeKey: SigningKeyPair): Uint8Array {
  return signBody(TAG_DECISION_SIGNATURE, trusteeKey, encodeDecision(d));
}

/** The decision a trustee signs about a verified request (binds id and content hash). */
export function decisionFor(
  request: VerifiedRequest,
  trusteeIndex: number,
  verdict: Verdict,
  decidedAt: number,
  reason = '',
): Decision {
  return {
    version: DECISION_VERSION,
    orgId: request.request.orgId,
    requestId: request.request.requestId,
    requestHash: request.hash,
    trusteeIndex,
    verdict,
    decidedAt,
    reason,
  };
}

/**
 * Verifies a signed decision about `request` under `policy`. Throws DECISION_INVALID when malformed (WF-D1),
 * from a trustee index the policy does not list (WF-D2), or about another request: another id or another
 * content hash (WF-D4, A8); SIGNATURE_INVALID when the trustee's signature fails (WF-D3).
 */
export function verifyDecision(
  signed: Uint8Array,
  policy: VerifiedPolicy,
  request: VerifiedRequest,
): VerifiedDecision {
  const s = decodeSigned(signed, MAX_DECISION_BYTES, 'DECISION_INVALID', 'WF-D1');
  const d = decodeDecision(s.body);
  const trustee = findTrustee(policy.policy, d.trusteeIndex);
  if (d.orgId !== policy.policy.orgId || trustee === undefined) invalid('trustee', 'WF-D2');
  requireSignature(TAG_DECISION_SIGNATURE, trustee.signingKey, s, 'decision', 'WF-D3');
  if (!equalBytes(d.requestId, request.request.requestId) || !equalBytes(d.requestHash, request.hash))
    invalid('request binding', 'WF-D4');
  return { decision: d, signed: signed.slice() } as VerifiedDecision;
}

/**
 * The log entry type of a decision: the code of the log's registry (docs/spec/log.md, @overt/log ENTRY_TYPES);
 * core cannot import the log, so it is repeated here and a log test checks they agree.
 */
export const DECISION_ENTRY_TYPE = 6;

declare const loggedDecisions: unique symbol;

/**
 * Every decision about one request that a log view holds: what release rule 2 is evaluated over
 * (docs/spec/workflow.md §4). Only {@link decisionsOnLog} makes one, and it reads the log's entries itself, so a
 * caller cannot choose which decisions count — in particular it cannot leave out a trustee's denial.
 */
export interface LoggedDecisions {
  readonly [loggedDecisions]: true;
  /** The request's content hash: these are its decisions and no other request's. */
  readonly requestHash: Uint8Array;
  /** How many log entries were read (the size of the view, when the caller passed all of it). */
  readonly entriesRead: number;
  /** Each distinct verified decision about the request, in log order (a byte-identical repeat once). */
  readonly decisions: readonly VerifiedDecision[];
}

/**
 * Collects the decisions about `request` from a log view (release rule 2, docs/spec/workflow.md §4). `entries` are
 * the encoded log entries (`u8 type ‖ body`, docs/spec/log.md) of the caller's verified view up to the
 * checkpoint it checked for release rule 3 — all of them, in log order; core picks the decision entries (type 6)
 * and keeps those that verify ({@link verifyDecision}) as decisions about this request, by id and content hash.
 * Any other entry is skipped: another type, another request, or a decision that does not verify (malformed, an
 * unknown trustee, a bad signature) and so cannot be attributed to anyone. Never throws on entry contents.
 */
export function decisionsOnLog(
  policy: VerifiedPolicy,
  request: VerifiedRequest,
  entries: Iterable<Uint8Array>,
): LoggedDecisions {
  const decisions: VerifiedDecision[] = [];
  const seen = new Set<string>();
  let entriesRead = 0;
  for (const entry of entries) {
    entriesRead++;
    if (!(entry instanceof Uint8Array) || entry[0] !== DECISION_ENTRY_TYPE) continue;
    let d: VerifiedDecision;
    try {
      // Decisions about other requests are the bulk of a long log: skip them before checking a signature.
      const body = decodeDecision(
        decodeSigned(entry.subarray(1), MAX_DECISION_BYTES, 'DECISION_INVALID', 'WF-D1').body,
      );
      if (
        !equalBytes(body.requestId, request.request.requestId) ||
        !equalBytes(body.requestHash, request.hash)
      )
        continue;
      d = verifyDecision(entry.subarray(1), policy, request);
    } catch (e) {
      if (e instanceof OvertError) continue;
      throw e;
    }
    const key = toHex(d.signed);
    if (seen.has(key)) continue;
    seen.add(key);
    decisions.push(d);
  }
  return { requestHash: request.hash.slice(), entriesRead, decisions } as unknown as LoggedDecisions;
}

/**
 * Whether `logged` holds the decisions about `request` (checked at run time too, so that a caller passing a
 * hand-made list instead gets our error).
 */
export function isLoggedFor(logged: LoggedDecisions, request: VerifiedRequest): boolean {
  return (
    typeof logged === 'object' &&
    logged !== null &&
    logged.requestHash instanceof Uint8Array &&
    Array.isArray(logged.decisions) &&
    equalBytes(logged.requestHash, request.hash)
  );
}

/** The trustees with a logged denial of the request. */
export function denyingTrustees(logged: LoggedDecisions): Set<number> {
  const deny = new Set<number>();
  for (const { decision } of logged.decisions)
    if (decision.verdict === 'deny') deny.add(decision.trusteeIndex);
  return deny;
}

/**
 * The trustee indices that approved (release rule 2), counted over every logged decision about the request. A
 * trustee that signed both an approval and a denial is not counted: its position is unclear, so it does not help
 * reach the quorum. Independent of the order of the log and of repeated entries.
 */
export function approvingTrustees(logged: LoggedDecisions): number[] {
  const deny = denyingTrustees(logged);
  const approve = new Set<number>();
  for (const { decision } of logged.decisions)
    if (decision.verdict === 'approve' && !deny.has(decision.trusteeIndex))
      approve.add(decision.trusteeIndex);
  return [...approve].sort((a, b) => a - b);
}

/**
 * Release rule 2: throws DECISION_INVALID (WF-D5) unless at least k distinct trustees approved, counted over every
 * decision the log holds about the request ({@link decisionsOnLog}); WF-D4 when `logged` was collected for
 * another request. Returns the approving trustees, sorted.
 */
export function checkApprovalQuorum(
  policy: VerifiedPolicy,
  request: VerifiedRequest,
  logged: LoggedDecisions,
): number[] {
  if (!isLoggedFor(logged, request)) invalid('request binding', 'WF-D4');
  const approving = approvingTrustees(logged);
  if (approving.length < policy.policy.threshold)
    throw new OvertError('DECISION_INVALID', 'fewer approvals than the policy threshold', { check: 'WF-D5' });
  return approving;
}
