/**
 * The trustee's review (docs/spec/access.md §2, §6): the requests on its view of the log that await a decision,
 * each with its confidential part opened with the trustee's HPKE key (openConfidential, ACC-1), and the
 * operator's decision, signed with the vault's key, recorded in access.sqlite and posted to the relay.
 *
 * A request the trustee cannot read (its sealed part does not open, or the relay does not serve it) is listed as
 * unreadable, never hidden: the trustee does not approve blind (approving one is ACC-V1), but may deny it.
 * A request that does not verify under the policy in force at its position is listed as invalid and cannot be
 * decided (ACC-V2). One decision per request (ACC-V3): the same verdict again re-posts the recorded bytes, a
 * different one is ACCESS_CONFLICT.
 *
 * The confidential details are returned to the operator only: they are not stored, logged or put in errors.
 */
import {
  decisionFor,
  isOvertError,
  openConfidential,
  REASON_MAX,
  signDecision,
  toBase64Url,
  utf8Encode,
  type Verdict,
  type VerifiedRequest,
  verifyRequest,
} from '@overt/core';
import type { ShareVault } from '../vault-api.js';
import { AccessError } from './errors.js';
import type { AccessRelay } from './relay.js';
import type { AccessTracker, LoggedRequest } from './state.js';
import type { AccessStore } from './store.js';

export type ReviewStatus = 'pending' | 'executed';

/** One request as the operator sees it (JSON-ready: ids base64url, times ms, conversations base64url). */
export interface ReviewItem {
  readonly requestId: string;
  readonly index: number;
  readonly status: ReviewStatus;
  readonly requesterId: string;
  readonly valid: boolean;
  /** Present when `valid`: the public part of the request. */
  readonly request?: {
    readonly requesterName: string;
    readonly createdAt: number;
    readonly legalBasis: string;
    readonly documentHash: string;
    readonly subjects: readonly string[];
    readonly window: { readonly from: number; readonly until: number };
    readonly conversations: readonly string[];
    readonly maxEnvelopes: number;
    readonly sealUntil: number;
  };
  /** The opened confidential part, or absent with `unreadable` set. */
  readonly confidential?: { readonly justification: string; readonly caseReference: string };
  /** Why the confidential part could not be read: a check ID (ACC-1) or `relay`. */
  readonly unreadable?: string;
  /** Why the request is invalid under the policy in force at its position (a check ID of workflow.md §3.3). */
  readonly invalid?: string;
  /** This trustee's decision, if it made one. */
  readonly decision?: Verdict;
}

export interface ReviewOptions {
  readonly vault: ShareVault;
  readonly tracker: AccessTracker;
  readonly store: AccessStore;
  readonly relay: AccessRelay;
  readonly clock?: () => number;
}

function checkOf(e: unknown): string {
  return e !== null && typeof e === 'object' && 'check' in e && typeof e.check === 'string'
    ? e.check
    : 'unknown';
}

export class Review {
  private readonly clock: () => number;

  constructor(private readonly o: ReviewOptions) {
    this.clock = o.clock ?? Date.now;
  }

  private verified(q: LoggedRequest): { request?: VerifiedRequest; invalid?: string } {
    const policy = this.o.tracker.policyAt(q.index)?.policy;
    if (policy === undefined) return { invalid: 'WF-R2' };
    try {
      return { request: verifyRequest(q.signed, policy) };
    } catch (e) {
      if (!isOvertError(e)) throw e;
      return { invalid: checkOf(e) };
    }
  }

  /**
   * The requests on the view: by default those without an execution (pending), with `all` every one. Each valid
   * request's confidential part is fetched from the relay and opened. Never throws for one bad request.
   */
  async list(options: { all?: boolean } = {}): Promise<ReviewItem[]> {
    const out: ReviewItem[] = [];
    for (const q of this.o.tracker.allRequests()) {
      const executed = this.o.tracker.executionsOf(q.requestId).length > 0;
      if (executed && options.all !== true) continue;
      out.push(await this.item(q, executed));
    }
    return out;
  }

  /** One request by id; ACCESS_NOT_FOUND when it is not on the view. */
  async get(requestId: Uint8Array): Promise<ReviewItem> {
    const q = this.o.tracker.request(requestId);
    if (q === undefined) throw notFound();
    return this.item(q, this.o.tracker.executionsOf(requestId).length > 0);
  }

  private async item(q: LoggedRequest, executed: boolean): Promise<ReviewItem> {
    const base = {
      requestId: toBase64Url(q.requestId),
      index: q.index,
      status: (executed ? 'executed' : 'pending') as ReviewStatus,
      requesterId: q.requesterId,
    };
    const mine = this.o.store.decision(q.requestId)?.verdict;
    const withDecision = mine === undefined ? {} : { decision: mine };
    const { request, invalid } = this.verified(q);
    if (request === undefined)
      return { ...base, valid: false, invalid: invalid ?? 'unknown', ...withDecision };
    const r = request.request;
    const policy = this.o.tracker.policyAt(q.index)!.policy;
    const requester = policy.policy.requesters.find((x) => x.id === r.requesterId);
    const item = {
      ...base,
      valid: true,
      request: {
        requesterName: requester?.name ?? r.requesterId,
        createdAt: r.createdAt,
        legalBasis: r.legalBasis,
        documentHash: toBase64Url(r.documentHash),
        subjects: r.subjects,
        window: { from: r.window.from, until: r.window.until },
        conversations: r.conversations.map((c) => toBase64Url(c)),
        maxEnvelopes: r.maxEnvelopes,
        sealUntil: r.sealUntil,
      },
      ...withDecision,
    };
    const opened = await this.open(request);
    return 'unreadable' in opened
      ? { ...item, unreadable: opened.unreadable }
      : { ...item, confidential: opened };
  }

  private async open(
    request: VerifiedRequest,
  ): Promise<{ justification: string; caseReference: string } | { unreadable: string }> {
    let sealed: Uint8Array;
    try {
      sealed = await this.o.relay.sealedPart(request.request.requestId);
    } catch {
      return { unreadable: 'relay' };
    }
    try {
      const opening = await openConfidential(
        this.o.vault.hpkeKeyPair().secretKey,
        this.o.vault.index,
        request,
        sealed,
      );
      return { ...opening.confidential };
    } catch (e) {
      if (!isOvertError(e)) throw e;
      return { unreadable: checkOf(e) };
    }
  }

  /**
   * Signs this trustee's decision on a request of the view, records it, and posts it (POST /v1/access/decisions).
   * ACCESS_NOT_FOUND (ACC-T3) for a request not on the view; ACCESS_BAD_REQUEST (ACC-0) for a bad verdict or a
   * reason over 1024 bytes; ACCESS_CONFLICT for an invalid request (ACC-V2), an approval of a request it cannot
   * read (ACC-V1), or a verdict other than the one already recorded (ACC-V3). Relay errors propagate: the recorded
   * decision is re-posted by the next call with the same verdict.
   */
  async decide(
    requestId: Uint8Array,
    verdict: Verdict,
    reason = '',
  ): Promise<{ readonly requestId: string; readonly verdict: Verdict; readonly index: number }> {
    if (verdict !== 'approve' && verdict !== 'deny')
      throw new AccessError('ACCESS_BAD_REQUEST', 'verdict must be approve or deny', { check: 'ACC-0' });
    if (typeof reason !== 'string' || utf8Encode(reason).length > REASON_MAX)
      throw new AccessError('ACCESS_BAD_REQUEST', `reason must be a string of at most ${REASON_MAX} bytes`, {
        check: 'ACC-0',
      });
    const q = this.o.tracker.request(requestId);
    if (q === undefined) throw notFound();
    const { store, vault, relay } = this.o;
    let recorded = store.decision(requestId);
    if (recorded !== undefined && recorded.verdict !== verdict)
      throw new AccessError('ACCESS_CONFLICT', `this trustee already decided: ${recorded.verdict}`, {
        check: 'ACC-V3',
      });
    if (recorded === undefined) {
      const { request, invalid } = this.verified(q);
      if (request === undefined)
        throw new AccessError(
          'ACCESS_CONFLICT',
          `the request is invalid (${invalid}) and cannot be decided`,
          {
            check: 'ACC-V2',
          },
        );
      if (verdict === 'approve') {
        const opened = await this.open(request);
        if ('unreadable' in opened)
          throw new AccessError(
            'ACCESS_CONFLICT',
            'the confidential part cannot be read: approving it would be blind',
            {
              check: 'ACC-V1',
            },
          );
      }
      const signed = signDecision(
        decisionFor(request, vault.index, verdict, this.clock(), reason),
        vault.signingKey(),
      );
      store.putDecision({ requestId, verdict, signed });
      recorded = store.decision(requestId)!;
    }
    const answer = await relay.submitDecision(recorded.signed);
    store.markDecisionPosted(requestId);
    return { requestId: toBase64Url(requestId), verdict, index: answer.index };
  }
}

function notFound(): AccessError {
  return new AccessError('ACCESS_NOT_FOUND', 'no such request on the view of the log', { check: 'ACC-T3' });
}
