/**
 * After release on the trustee's side (docs/spec/after-release.md §1, §2, §3): the seal state of each request
 * from the trustee's own verified view, the deadline watcher that publishes the unseal when the relay does not
 * (TRU-U1), the `seal-overdue` alert (OVD-1), and the review and signing of extension proposals (§2).
 *
 * Everything is judged on the trustee's view: a request verified under the policy in force at its position, its
 * chain of extensions verified link by link (verifyExtension under the policy at each extension's position), and
 * its unseals verified (verifyUnseal, the relay's execution key for publisher 0). The relay's lists are only
 * hints: a proposal is checked against the view before it is signed.
 *
 * Nothing secret is logged or put in an error: the opening is published only inside a signed unseal, after the
 * seal date.
 */
import {
  decodeExtensionStatement,
  decodeRequest,
  type ExtensionStatement,
  equalBytes,
  isOvertError,
  openConfidential,
  type RequestOpening,
  signExtensionStatement,
  signUnseal,
  toBase64Url,
  toHex,
  unsealFor,
  type VerifiedExtension,
  type VerifiedRequest,
  verifyExtension,
  verifyRequest,
  verifyUnseal,
} from '@overt/core';
import type { ShareVault } from '../vault-api.js';
import { AccessError } from './errors.js';
import type { AccessRelay } from './relay.js';
import { type AccessTracker, type LoggedRequest, signedBody } from './state.js';
import type { AccessStore } from './store.js';

/** How long after the seal date a trustee waits for the relay before publishing the unseal itself. */
export const DEFAULT_UNSEAL_GRACE_MS = 60_000;
/** The alert raised once per request whose seal is past its date + grace with no unseal on the view (OVD-1). */
export const SEAL_OVERDUE_ALERT = 'seal-overdue';
const REASON_MAX_CHARS = 1024;

/** A request's seal as the trustee's view shows it. */
export interface SealView {
  readonly request: VerifiedRequest;
  /** The seal-until in force: the request's, replaced by each verified link of its extension chain. */
  readonly sealUntil: number;
  /** The number of logged extensions in the chain. */
  readonly links: number;
  /** The last verified extension of the chain (the `previous` of the next one). */
  readonly last: VerifiedExtension | undefined;
  /** Whether a verified unseal of the request is on the view. */
  readonly unsealed: boolean;
}

function attempt<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (isOvertError(e)) return undefined;
    throw e;
  }
}

/**
 * The seal state of a request on the view; undefined when the request does not verify under the policy in force
 * at its position (such a request is never unsealed or extended by this trustee).
 */
export function sealView(
  tracker: AccessTracker,
  q: LoggedRequest,
  relayKey: Uint8Array,
): SealView | undefined {
  const policy = tracker.policyAt(q.index)?.policy;
  if (policy === undefined) return undefined;
  const request = attempt(() => verifyRequest(q.signed, policy));
  if (request === undefined) return undefined;
  let sealUntil = request.request.sealUntil;
  let last: VerifiedExtension | undefined;
  let links = 0;
  for (const x of tracker.extensionsOf(q.requestId)) {
    const at = tracker.policyAt(x.index)?.policy;
    if (at === undefined) continue;
    const v = attempt(() => verifyExtension(x.entry.subarray(1), at, request, last));
    if (v === undefined) continue;
    last = v;
    links++;
    sealUntil = v.extension.statement.newSealUntil;
  }
  const unsealed = tracker.unsealsOf(q.requestId).some((u) => {
    const at = tracker.policyAt(u.index)?.policy;
    return (
      at !== undefined &&
      attempt(() => verifyUnseal(u.entry.subarray(1), at, request, relayKey)) !== undefined
    );
  });
  return { request, sealUntil, links, last, unsealed };
}

/** The request's own seal-until from its body (not verified: only a pre-filter before sealView). */
function ownSealUntil(q: LoggedRequest): number | undefined {
  const body = signedBody(q.signed);
  return body === undefined ? undefined : attempt(() => decodeRequest(body).sealUntil);
}

export interface DeadlineOptions {
  readonly vault: ShareVault;
  readonly tracker: AccessTracker;
  readonly store: AccessStore;
  readonly relay: AccessRelay;
  /** The relay's execution key: unseals published by the relay (publisher 0) verify under it. */
  readonly relayKey: Uint8Array;
  readonly clock?: () => number;
  /** Default {@link DEFAULT_UNSEAL_GRACE_MS}. */
  readonly unsealGraceMs?: number;
}

/** What one pass of the watcher did, per request (hex id): for the daemon's log lines and the tests. */
export type DeadlineOutcome =
  | { readonly status: 'unsealed'; readonly index: number }
  | { readonly status: 'exists' }
  | { readonly status: 'unreadable' }
  | { readonly status: 'error'; readonly message: string };

export interface ExtensionItem {
  readonly requestId: string;
  readonly number: number;
  readonly reason: string;
  readonly oldSealUntil: number;
  readonly newSealUntil: number;
  readonly issuedAt: number;
  readonly signers: readonly number[];
  readonly index: number | null;
  /** Whether the statement agrees with this trustee's view (request, chain, limits, deadline). */
  readonly valid: boolean;
  /** Why not, when not valid (a check ID). */
  readonly invalid?: string;
  readonly decision?: 'approve' | 'deny';
}

/**
 * The deadline watcher and the extension review. `tick()` runs every monitor poll (the daemon's access loop).
 */
export class Deadlines {
  private readonly clock: () => number;
  readonly graceMs: number;
  /** Requests seen unsealed on the view (an unseal entry never leaves the log): not verified again. */
  private readonly done = new Set<string>();

  constructor(private readonly o: DeadlineOptions) {
    this.clock = o.clock ?? Date.now;
    this.graceMs = o.unsealGraceMs ?? DEFAULT_UNSEAL_GRACE_MS;
  }

  /**
   * One pass over every request on the view (TRU-U1, OVD-1): a request with no verified unseal, past seal-until in
   * force + grace, whose sealed part this trustee can open, gets an unseal signed by this trustee — recorded in
   * access.sqlite before it is posted (signed once), re-posted each pass until the relay takes it, and left alone
   * once the relay says another one is logged. One still without an unseal on the view past that point raises
   * `seal-overdue`, once per request.
   */
  async tick(): Promise<Map<string, DeadlineOutcome>> {
    const out = new Map<string, DeadlineOutcome>();
    const now = this.clock();
    for (const q of this.o.tracker.allRequests()) {
      const key = toHex(q.requestId);
      if (this.done.has(key)) continue;
      // Cheap first: extensions only push the date later, so a request's own date not past + grace is not due.
      const own = ownSealUntil(q);
      if (own !== undefined && now <= own + this.graceMs) continue;
      const s = sealView(this.o.tracker, q, this.o.relayKey);
      if (s?.unsealed) this.done.add(key);
      if (s === undefined || s.unsealed || now <= s.sealUntil + this.graceMs) continue;
      let outcome: DeadlineOutcome;
      try {
        outcome = await this.publish(s, now);
      } catch (e) {
        outcome = { status: 'error', message: e instanceof Error ? e.message : 'error' };
      }
      out.set(key, outcome);
      // The relay took ours (the view shows it at the next poll) or says one is logged: not overdue yet, unless a
      // whole further grace period passes with the view still showing none (a relay that lies about it).
      const waiting =
        (outcome.status === 'unsealed' || outcome.status === 'exists') &&
        now <= s.sealUntil + 2 * this.graceMs;
      if (!waiting)
        this.o.vault.addAlert(
          SEAL_OVERDUE_ALERT,
          `request ${toBase64Url(q.requestId)} sealed until ${new Date(s.sealUntil).toISOString()} has no unseal on the log`,
          now,
          `${SEAL_OVERDUE_ALERT}/${key}`,
        );
    }
    return out;
  }

  private async publish(s: SealView, now: number): Promise<DeadlineOutcome> {
    const { store, relay, vault } = this.o;
    const id = s.request.request.requestId;
    let recorded = store.unseal(id);
    if (recorded?.state === 'exists') return { status: 'exists' };
    if (recorded === undefined) {
      // A relay failure propagates (an error outcome, retried next pass); a part that does not open does not.
      const sealed = await relay.sealedPart(id);
      let opening: RequestOpening;
      try {
        opening = await openConfidential(vault.hpkeKeyPair().secretKey, vault.index, s.request, sealed);
      } catch (e) {
        if (isOvertError(e)) return { status: 'unreadable' };
        throw e;
      }
      const signed = signUnseal(unsealFor(s.request, opening, vault.index, now), vault.signingKey());
      store.putUnseal(id, signed);
      recorded = store.unseal(id)!;
    }
    try {
      const r = await relay.submitUnseal(recorded.signed);
      store.setUnsealState(id, 'posted');
      return { status: 'unsealed', index: r.index };
    } catch (e) {
      if ((e as { relayCode?: string }).relayCode === 'ACCESS_UNSEAL_EXISTS') {
        store.setUnsealState(id, 'exists');
        return { status: 'exists' };
      }
      throw e;
    }
  }

  // ── Extensions (after-release.md §2) ──

  /** Checks a proposed statement against the view (WF-X2 chain, WF-X5 limits, WF-X6 deadline, not unsealed). */
  private check(st: ExtensionStatement): { view?: SealView; invalid?: string } {
    const q = this.o.tracker.request(st.requestId);
    if (q === undefined) return { invalid: 'ACC-T3' };
    const view = sealView(this.o.tracker, q, this.o.relayKey);
    if (view === undefined) return { invalid: 'WF-R1' };
    const policy = this.o.tracker.currentPolicy()?.policy;
    if (policy === undefined || st.orgId !== policy.policy.orgId) return { view, invalid: 'WF-X2' };
    if (view.unsealed) return { view, invalid: 'ACC-U3' };
    if (
      !equalBytes(st.requestHash, view.request.hash) ||
      st.number !== view.links + 1 ||
      st.oldSealUntil !== view.sealUntil
    )
      return { view, invalid: 'WF-X2' };
    const l = policy.policy.limits;
    if (
      st.number > l.maxExtensions ||
      st.newSealUntil - st.oldSealUntil > l.maxSealMs ||
      st.newSealUntil <= st.oldSealUntil
    )
      return { view, invalid: 'WF-X5' };
    if (st.issuedAt > st.oldSealUntil || this.clock() > st.oldSealUntil) return { view, invalid: 'WF-X6' };
    return { view };
  }

  /** The open proposals the relay lists (not yet logged), each checked against the view. */
  async listExtensions(): Promise<ExtensionItem[]> {
    const out: ExtensionItem[] = [];
    let after: number | undefined;
    for (;;) {
      const page = await this.o.relay.listExtensions(after, 1000);
      for (const p of page.items) {
        if (p.index !== null) continue;
        const st = attempt(() => decodeExtensionStatement(p.statement));
        if (st === undefined || !equalBytes(st.requestId, p.requestId) || st.number !== p.number) continue;
        const { invalid } = this.check(st);
        const mine = this.o.store.extensionDecision(st.requestId, st.number)?.verdict;
        out.push({
          requestId: toBase64Url(st.requestId),
          number: st.number,
          reason: p.reason.slice(0, REASON_MAX_CHARS),
          oldSealUntil: st.oldSealUntil,
          newSealUntil: st.newSealUntil,
          issuedAt: st.issuedAt,
          signers: p.signers,
          index: p.index,
          valid: invalid === undefined,
          ...(invalid !== undefined ? { invalid } : {}),
          ...(mine !== undefined ? { decision: mine } : {}),
        });
      }
      if (page.next === null || page.items.length === 0) return out;
      after = page.next;
    }
  }

  /**
   * This trustee's decision on proposal (request, number): approving checks the statement the relay stores
   * against the view and signs it (posted; the relay logs the extension with k signatures); a denial is recorded
   * here and signs nothing. ACCESS_NOT_FOUND when the relay lists no such open proposal; ACCESS_CONFLICT when the
   * statement disagrees with the view, or another verdict is recorded.
   */
  async decideExtension(
    requestId: Uint8Array,
    number: number,
    approve: boolean,
    reason = '',
  ): Promise<{
    requestId: string;
    number: number;
    verdict: 'approve' | 'deny';
    signers?: number;
    index?: number;
  }> {
    const verdict = approve ? 'approve' : 'deny';
    const { store, relay, vault } = this.o;
    const recorded = store.extensionDecision(requestId, number);
    if (recorded !== undefined && recorded.verdict !== verdict)
      throw new AccessError('ACCESS_CONFLICT', `this trustee already decided: ${recorded.verdict}`, {
        check: 'ACC-V3',
      });
    const base = { requestId: toBase64Url(requestId), number, verdict } as const;
    if (!approve) {
      if (recorded === undefined)
        store.putExtensionDecision({ requestId, number, verdict, reason, signature: undefined });
      return base;
    }
    let signature = recorded?.signature;
    if (signature === undefined) {
      let statement: Uint8Array | undefined;
      let after: number | undefined;
      for (;;) {
        const page = await relay.listExtensions(after, 1000);
        const p = page.items.find((x) => equalBytes(x.requestId, requestId) && x.number === number);
        if (p !== undefined) {
          statement = p.statement;
          break;
        }
        if (page.next === null || page.items.length === 0) break;
        after = page.next;
      }
      if (statement === undefined)
        throw new AccessError('ACCESS_NOT_FOUND', 'the relay lists no such extension proposal', {
          check: 'ACC-T3',
        });
      const st = attempt(() => decodeExtensionStatement(statement));
      if (st === undefined || !equalBytes(st.requestId, requestId) || st.number !== number)
        throw new AccessError('ACCESS_CONFLICT', 'the relay serves a malformed statement', {
          check: 'WF-X1',
        });
      const { invalid } = this.check(st);
      if (invalid !== undefined)
        throw new AccessError(
          'ACCESS_CONFLICT',
          `the extension disagrees with this trustee's view (${invalid})`,
          {
            check: invalid,
          },
        );
      signature = signExtensionStatement(st, vault.index, vault.signingKey()).signature;
      store.putExtensionDecision({ requestId, number, verdict, reason, signature });
    }
    const r = await relay.signExtension(requestId, number, signature);
    return { ...base, signers: r.signers, ...(r.index !== undefined ? { index: r.index } : {}) };
  }
}
