/**
 * Warrant scope (DESIGN §5 release rule 4, docs/spec/workflow.md §5): an envelope is in a request's scope
 * when its label-bound header says it belongs to the organisation, was sent inside the time window, has a
 * subject as its sender or among its recipients, and (if the request names conversations) is in one of them.
 * Decided from the header alone, which every recipient has checked against MLS and which the capsule binds
 * through the label, so no trust in the relay is needed (A3, A4).
 */
import { equalBytes } from '../bytes.js';
import type { HeaderFields } from '../envelope/header.js';
import { OvertError } from '../errors.js';
import type { TimeWindow, VerifiedRequest } from './request.js';

export interface Scope {
  readonly orgId: string;
  readonly subjects: readonly string[];
  readonly window: TimeWindow;
  /** Empty means every conversation. */
  readonly conversations: readonly Uint8Array[];
}

export type OutOfScopeReason = 'org' | 'window' | 'subject' | 'conversation' | 'recorded';

export type ScopeDecision =
  | { readonly inScope: true }
  | { readonly inScope: false; readonly reason: OutOfScopeReason; readonly check: string };

/** The scope a verified request asks for. */
export function scopeOf(request: VerifiedRequest): Scope {
  const q = request.request;
  return { orgId: q.orgId, subjects: q.subjects, window: q.window, conversations: q.conversations };
}

/**
 * Decides whether a header is inside a scope, and if not, which rule it fails first:
 * SCOPE-1 org, SCOPE-2 window (from ≤ sendTime < until), SCOPE-3 subject (sender or a recipient is a
 * subject), SCOPE-4 conversation (listed, when the scope lists any).
 */
export function inScope(header: HeaderFields, scope: Scope): ScopeDecision {
  if (header.orgId !== scope.orgId) return { inScope: false, reason: 'org', check: 'SCOPE-1' };
  if (header.sendTime < scope.window.from || header.sendTime >= scope.window.until)
    return { inScope: false, reason: 'window', check: 'SCOPE-2' };
  // No reliance on sorted inputs: a scope or header built by hand is judged the same as a decoded one.
  const subjects = new Set(scope.subjects);
  if (!subjects.has(header.senderUserId) && !header.recipients.some((r) => subjects.has(r)))
    return { inScope: false, reason: 'subject', check: 'SCOPE-3' };
  if (
    scope.conversations.length > 0 &&
    !scope.conversations.some((c) => equalBytes(c, header.conversationId))
  )
    return { inScope: false, reason: 'conversation', check: 'SCOPE-4' };
  return { inScope: true };
}

/** Throws SCOPE_OUTSIDE with the failing rule's check ID unless the header is in scope. */
export function checkInScope(header: HeaderFields, scope: Scope): void {
  const d = inScope(header, scope);
  if (!d.inScope)
    throw new OvertError('SCOPE_OUTSIDE', `envelope is outside the scope (${d.reason})`, { check: d.check });
}

/** Release rule 4, second half: the execution may not select more envelopes than the request allows. */
export function checkEnvelopeCount(request: VerifiedRequest, count: number): void {
  if (!Number.isInteger(count) || count < 0 || count > request.request.maxEnvelopes)
    throw new OvertError('REQUEST_LIMIT', 'more envelopes than the request allows', { check: 'SCOPE-5' });
}

/**
 * ORD-S1 (after-release.md §8.3): an envelope of a standing order's batch is in scope when it is in the order's
 * scope and a subject that is its sender or one of its recipients is in `recorded`, the recorded group of the
 * policy in force at the batch's log position. A user taken out of the group has nothing released from then on.
 */
export function inOrderScope(header: HeaderFields, scope: Scope, recorded: readonly string[]): ScopeDecision {
  const d = inScope(header, scope);
  if (!d.inScope) return d;
  const live = new Set(scope.subjects.filter((s) => recorded.includes(s)));
  if (!live.has(header.senderUserId) && !header.recipients.some((r) => live.has(r)))
    return { inScope: false, reason: 'recorded', check: 'ORD-S1' };
  return { inScope: true };
}
