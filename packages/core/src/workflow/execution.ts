/**
 * Execution entries (DESIGN §4 step 5, docs/spec/workflow.md §9.2): after k approvals the relay selects the
 * envelopes in scope and commits, on the log, to how many there are and to exactly which ones, by an RFC 6962
 * Merkle root over their sorted labels. Trustees check the entry (release rule 3) and the envelopes they are
 * asked to decrypt against the root (release rule 4) before any share leaves them.
 */
import { compareBytes, equalBytes, toHex } from '../bytes.js';
import { LABEL_BYTES } from '../capsule/params.js';
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
import { sha256, taggedHash } from '../hash.js';
import type { SigningKeyPair } from '../sign.js';
import { MAX_PARTICIPANTS } from '../threshold.js';
import { denyingTrustees, isLoggedFor, type LoggedDecisions, type VerifiedDecision } from './decision.js';
import { MAX_ENTRY_SIGNED_BODY } from './entries.js';
import type { VerifiedPolicy } from './policy.js';
import { REQUEST_ID_BYTES, type VerifiedRequest } from './request.js';
import { decodeSigned, requireSignature, signBody } from './signed.js';

export const EXECUTION_VERSION = 1;
/** Execution body version 2: one batch of a standing order (after-release.md §8.3). */
export const BATCH_EXECUTION_VERSION = 2;
export const TAG_EXECUTION_SIGNATURE = 'overt/workflow/v1/execution';
export const TAG_EXECUTION_HASH = 'overt/workflow/v1/execution-hash';
export const TAG_DECISION_HASH = 'overt/workflow/v1/decision-hash';
export const MAX_EXECUTION_DECISIONS = MAX_PARTICIPANTS;

export interface Execution {
  readonly version: number;
  readonly orgId: string;
  readonly requestId: Uint8Array;
  /** VerifiedRequest.hash of the request executed. */
  readonly requestHash: Uint8Array;
  /** decisionHash of each approval relied on: sorted by bytes, unique, 1..255. */
  readonly decisionHashes: readonly Uint8Array[];
  readonly envelopeCount: number;
  /** executionRoot(labels) of the selected envelopes. */
  readonly merkleRoot: Uint8Array;
  readonly executedAt: number;
  /** Version 2 only: the order's batch number (0, 1, …); its positions are [batch·1024, batch·1024 + count). */
  readonly batch?: number;
}

declare const verifiedExecution: unique symbol;

/** An execution whose relay signature, request binding, approval quorum and limits have been checked. */
export interface VerifiedExecution {
  readonly [verifiedExecution]: true;
  readonly execution: Execution;
  /** taggedHash("overt/workflow/v1/execution-hash", body): what release entries bind. */
  readonly hash: Uint8Array;
  /** The trustees whose listed approvals made the quorum (release rule 2). */
  readonly approvers: readonly number[];
  readonly signed: Uint8Array;
}

function invalid(what: string, check = 'WF-E1'): never {
  throw new OvertError('EXECUTION_INVALID', `execution ${what} is invalid`, { check });
}

function isSortedUniqueBytes(list: readonly Uint8Array[]): boolean {
  for (let i = 1; i < list.length; i++) if (compareBytes(list[i - 1]!, list[i]!) >= 0) return false;
  return true;
}

export function validateExecution(e: Execution): void {
  if (e.version !== EXECUTION_VERSION && e.version !== BATCH_EXECUTION_VERSION) invalid('version');
  if ((e.version === BATCH_EXECUTION_VERSION) !== (e.batch !== undefined)) invalid('batch', 'WF-B1');
  if (e.batch !== undefined && !isUint(e.batch, 0xffffffff)) invalid('batch', 'WF-B1');
  if (!isIdString(e.orgId, ORG_ID_MAX)) invalid('orgId');
  if (!isFixedBytes(e.requestId, REQUEST_ID_BYTES)) invalid('requestId');
  if (!isFixedBytes(e.requestHash, 32)) invalid('requestHash');
  const n = e.decisionHashes.length;
  if (n < 1 || n > MAX_EXECUTION_DECISIONS) invalid('decision count');
  for (const h of e.decisionHashes) if (!isFixedBytes(h, 32)) invalid('decision hash');
  if (!isSortedUniqueBytes(e.decisionHashes)) invalid('decision hashes (order)');
  if (!isUint(e.envelopeCount, 0xffffffff)) invalid('envelopeCount');
  if (!isFixedBytes(e.merkleRoot, 32)) invalid('merkleRoot');
  if (!isMillis(e.executedAt)) invalid('executedAt');
}

export function encodeExecution(e: Execution): Uint8Array {
  validateExecution(e);
  const w = new Writer(256);
  w.u8(e.version);
  writeAscii(w, e.orgId);
  w.bytes(e.requestId).bytes(e.requestHash).u8(e.decisionHashes.length);
  for (const h of e.decisionHashes) w.bytes(h);
  w.u32(e.envelopeCount).bytes(e.merkleRoot).u64(e.executedAt);
  if (e.batch !== undefined) w.u32(e.batch);
  return w.finish();
}

export function decodeExecution(bytes: Uint8Array): Execution {
  return decodeAs('EXECUTION_INVALID', 'WF-E1', 'execution', () => {
    const r = new Reader(bytes);
    const version = r.u8('version');
    if (version !== EXECUTION_VERSION && version !== BATCH_EXECUTION_VERSION) invalid('version');
    const orgId = readIdString(r, 'orgId', ORG_ID_MAX, () => invalid('orgId'));
    const requestId = r.bytes(REQUEST_ID_BYTES, 'requestId');
    const requestHash = r.bytes(32, 'requestHash');
    const n = r.u8('decision count');
    const decisionHashes: Uint8Array[] = [];
    for (let i = 0; i < n; i++) decisionHashes.push(r.bytes(32, 'decision hash'));
    const e: Execution = {
      version,
      orgId,
      requestId,
      requestHash,
      decisionHashes,
      envelopeCount: r.u32('envelopeCount'),
      merkleRoot: r.bytes(32, 'merkleRoot'),
      executedAt: r.u64('executedAt'),
      ...(version === BATCH_EXECUTION_VERSION ? { batch: r.u32('batch') } : {}),
    };
    r.finish('execution');
    validateExecution(e);
    return e;
  });
}

/** taggedHash("overt/workflow/v1/decision-hash", decision body): how an execution names an approval. */
export function decisionHash(decision: VerifiedDecision): Uint8Array {
  const s = decodeSigned(decision.signed, MAX_ENTRY_SIGNED_BODY, 'DECISION_INVALID', 'WF-D1');
  return taggedHash(TAG_DECISION_HASH, s.body);
}

export function executionHash(body: Uint8Array): Uint8Array {
  return taggedHash(TAG_EXECUTION_HASH, body);
}

// RFC 6962 §2.1 Merkle Tree Hash, written here because core must not depend on @overt/log (which sits above
// it); the two hash rules are the same, so a log-side verifier can check inclusion of one label.
const LEAF = Uint8Array.of(0x00);
const NODE = Uint8Array.of(0x01);

function mth(leaves: readonly Uint8Array[], from: number, to: number): Uint8Array {
  const n = to - from;
  if (n === 0) return sha256(new Uint8Array(0));
  if (n === 1) {
    const leaf = leaves[from]!;
    const b = new Uint8Array(1 + leaf.length);
    b.set(LEAF, 0);
    b.set(leaf, 1);
    return sha256(b);
  }
  let k = 1;
  while (k * 2 < n) k *= 2;
  const node = new Uint8Array(65);
  node.set(NODE, 0);
  node.set(mth(leaves, from, from + k), 1);
  node.set(mth(leaves, from + k, to), 33);
  return sha256(node);
}

/** MTH(D[n]) of RFC 6962 §2.1 over `leaves` in the order given (the empty tree hashes to SHA-256("")). */
export function rfc6962Root(leaves: readonly Uint8Array[]): Uint8Array {
  return mth(leaves, 0, leaves.length);
}

/**
 * The Merkle root over a set of envelope labels: the labels sorted by bytes, each an RFC 6962 leaf
 * (SHA-256(0x00 ‖ L)), combined by SHA-256(0x01 ‖ left ‖ right). Labels rather than message ids because a label
 * hashes the whole header that trustees judge scope from and that the capsule is bound to; sorting makes the
 * root independent of the relay's selection order. Throws EXECUTION_INVALID (WF-E6) on a label of the wrong
 * size or a label listed twice.
 */
export function executionRoot(labels: readonly Uint8Array[]): Uint8Array {
  for (const l of labels) if (!isFixedBytes(l, LABEL_BYTES)) invalid('label', 'WF-E6');
  const sorted = [...labels].sort(compareBytes);
  if (!isSortedUniqueBytes(sorted)) invalid('labels (duplicate)', 'WF-E6');
  return mth(sorted, 0, sorted.length);
}

/** The execution the relay signs for a verified request, the approvals it relies on and the selected labels. */
export function executionFor(
  request: VerifiedRequest,
  approvals: readonly VerifiedDecision[],
  labels: readonly Uint8Array[],
  executedAt: number,
): Execution {
  return {
    version: EXECUTION_VERSION,
    orgId: request.request.orgId,
    requestId: request.request.requestId,
    requestHash: request.hash,
    decisionHashes: approvals.map(decisionHash).sort(compareBytes),
    envelopeCount: labels.length,
    merkleRoot: executionRoot(labels),
    executedAt,
  };
}

/** One batch of a standing order (after-release.md §8.3): an execution of body version 2 with its number. */
export function batchExecutionFor(
  order: VerifiedRequest,
  approvals: readonly VerifiedDecision[],
  labels: readonly Uint8Array[],
  executedAt: number,
  batch: number,
): Execution {
  return { ...executionFor(order, approvals, labels, executedAt), version: BATCH_EXECUTION_VERSION, batch };
}

/** Signs an execution with the relay's key. */
export function signExecution(e: Execution, relayKey: SigningKeyPair): Uint8Array {
  return signBody(TAG_EXECUTION_SIGNATURE, relayKey, encodeExecution(e));
}

/**
 * Verifies a signed execution (release rules 2 and 4). Throws EXECUTION_INVALID when malformed (WF-E1), about
 * another organisation or request, by id or content hash (WF-E2, A8), or relying on a decision not among the
 * logged decisions about the request, on a denial, or on fewer than k distinct approving trustees — a trustee
 * with a logged denial of the request does not count (WF-E4); SIGNATURE_INVALID when the relay's signature fails
 * (WF-E3); REQUEST_LIMIT when the count exceeds the request's or the policy's maximum (WF-E5, A11).
 */
export function verifyExecution(
  signed: Uint8Array,
  relayPublicKey: Uint8Array,
  policy: VerifiedPolicy,
  request: VerifiedRequest,
  logged: LoggedDecisions,
): VerifiedExecution {
  const s = decodeSigned(signed, MAX_ENTRY_SIGNED_BODY, 'EXECUTION_INVALID', 'WF-E1');
  const e = decodeExecution(s.body);
  const q = request.request;
  if (
    e.orgId !== policy.policy.orgId ||
    q.orgId !== policy.policy.orgId ||
    !equalBytes(e.requestId, q.requestId) ||
    !equalBytes(e.requestHash, request.hash)
  )
    invalid('request binding', 'WF-E2');
  // WF-B1: a batch execution for an order, an ordinary one for a request; never one for the other.
  if ((e.version === BATCH_EXECUTION_VERSION) !== (q.order !== undefined))
    invalid('version (batch execution and order go together)', 'WF-B1');
  requireSignature(TAG_EXECUTION_SIGNATURE, relayPublicKey, s, 'execution', 'WF-E3');
  if (!isLoggedFor(logged, request)) invalid('decisions (logged for another request)', 'WF-E4');
  const byHash = new Map<string, VerifiedDecision>();
  for (const d of logged.decisions) byHash.set(toHex(decisionHash(d)), d);
  const relied = new Set<number>();
  for (const h of e.decisionHashes) {
    const d = byHash.get(toHex(h));
    if (d === undefined) invalid('decision reference (unknown decision)', 'WF-E4');
    if (d.decision.verdict !== 'approve' || !equalBytes(d.decision.requestHash, request.hash))
      invalid('decision reference (not an approval of this request)', 'WF-E4');
    relied.add(d.decision.trusteeIndex);
  }
  // Release rule 2 over every logged decision: an approval cited by the relay does not count when the same trustee
  // also denied the request.
  const deny = denyingTrustees(logged);
  const approvers = [...relied].filter((i) => !deny.has(i)).sort((a, b) => a - b);
  if (approvers.length < policy.policy.threshold) invalid('approvals (fewer than k)', 'WF-E4');
  if (e.batch !== undefined && e.envelopeCount < 1)
    throw new OvertError('REQUEST_LIMIT', 'an empty batch is not logged', { check: 'WF-B2' });
  if (e.envelopeCount > q.maxEnvelopes || e.envelopeCount > policy.policy.limits.maxEnvelopes)
    throw new OvertError('REQUEST_LIMIT', 'execution selects more envelopes than allowed', {
      check: 'WF-E5',
    });
  return {
    execution: e,
    hash: executionHash(s.body),
    approvers,
    signed: signed.slice(),
  } as unknown as VerifiedExecution;
}

/**
 * Release rule 4 (the set): throws EXECUTION_INVALID (WF-E6) unless `labels` are exactly the envelopes the
 * execution committed to, same count and same Merkle root.
 */
export function checkExecutionLabels(execution: VerifiedExecution, labels: readonly Uint8Array[]): void {
  const root = executionRoot(labels);
  if (
    labels.length !== execution.execution.envelopeCount ||
    !equalBytes(root, execution.execution.merkleRoot)
  )
    invalid('envelope set (labels do not match the root)', 'WF-E6');
}
