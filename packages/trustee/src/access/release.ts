/**
 * The release rule (docs/spec/access.md §5; DESIGN §5): for an execution it finds on its own view of the log, a
 * trustee checks, in order,
 *
 *   REL-1  the request verifies under the policy in force at its log position (requester, signature, limits);
 *   REL-2  it approved the request itself, ≥ k trustees approved over every logged decision, and the execution
 *          verifies (relay key, binding, the approvals it cites);
 *   REL-3  the request, the approvals the execution relies on and the execution are below a checkpoint it
 *          verified: log signature, the policy's witness quorum, consistent with every checkpoint before (the
 *          tracker, ACC-T2), and fresh (requireFresh, A16);
 *   REL-4  every envelope header is in scope, the served labels are the execution's (count and root, WF-E6),
 *          the count within the limits (SCOPE-5);
 *   REL-5  every capsule verifies for its label, the sender signature verifies under the sending device's logged
 *          key, no capsule's u was seen before under another label, and the trustee holds its share of the
 *          envelope's epoch (not shredded, after-release.md §6);
 *
 * and only then computes one decryption share per envelope. REL-1..3 fail the whole request (one refusal, no
 * label); REL-4 and REL-5 fail one envelope (one refusal naming its label) and the rest is released, in batches of
 * RELEASE_BATCH positions. Each batch's sealed bundle, signed release, refusals and seen u values are recorded in
 * access.sqlite in one transaction before anything is sent; after a crash the recorded bytes are re-sent as
 * they are, so a batch is never sealed (and sent) twice.
 */
import {
  approvingTrustees,
  type BundleShare,
  batchCount,
  batchRange,
  type Capsule,
  checkApprovalQuorum,
  checkEnvelopeCount,
  checkExecutionLabels,
  checkRenewal,
  compareBytes,
  decisionHash,
  decisionsOnLog,
  decodeCapsule,
  decodeDecision,
  decodeEnvelopeHead,
  type EnvelopeHead,
  equalBytes,
  inOrderScope,
  inScope,
  isOvertError,
  isSenderSignatureValid,
  ORDER_BATCH_MAX,
  type RandomSource,
  type RefusalReason,
  randomBytes,
  releaseFor,
  requesterEncryptionKey,
  requestHash,
  scopeOf,
  sealShareBundle,
  signRefusal,
  signRelease,
  toHex,
  utf8Decode,
  type VerifiedExecution,
  type VerifiedPolicy,
  type VerifiedRequest,
  verifyDecision,
  verifyExecution,
  verifyRequest,
} from '@overt/core';
import {
  makeVerifierKey,
  requireFresh,
  SIGNATURE_TYPE_COSIGNATURE,
  type VerifierKey,
  verifyCheckpoint,
} from '@overt/log';
import { isTrusteeError } from '../errors.js';
import type { EpochShare, ShareVault } from '../vault-api.js';
import { AccessError } from './errors.js';
import { type AccessRelay, ENVELOPE_PAGE, type ServedEnvelope } from './relay.js';
import {
  inProcessReleaseCrypto,
  type ReleaseCrypto,
  type ReleaseItem,
  type ReleaseItemResult,
} from './release-crypto.js';
import { type AccessTracker, type IndexedEntry, type LoggedRelease, signedBody } from './state.js';
import type { AccessStore } from './store.js';

/** The clause numbers of the refusal's `reason` byte (workflow.md §9.7). */
const REASON_NUMBER: Record<RefusalReason, number> = {
  'REL-1': 1,
  'REL-2': 2,
  'REL-3': 3,
  'REL-4': 4,
  'REL-5': 5,
};

export interface ReleaseOptions {
  readonly vault: ShareVault;
  readonly tracker: AccessTracker;
  readonly store: AccessStore;
  readonly relay: AccessRelay;
  /** The relay's execution key (`accessKey` of /.well-known/overt), pinned in the trustee's configuration. */
  readonly relayKey: Uint8Array;
  /** The log's origin and key(s): REL-3 re-verifies the checkpoint with the policy's witnesses. */
  readonly log: { readonly origin: string; readonly logKeys: readonly VerifierKey[] };
  /** The oldest a view may be (seconds; A16). */
  readonly maxAgeSeconds: number;
  /** Milliseconds since the epoch (default Date.now). */
  readonly clock?: () => number;
  readonly rng?: RandomSource;
  /**
   * The per-envelope cryptography of rule 5 and the shares: a PooledReleaseCrypto (worker threads, owned and
   * closed by the caller) in the daemon; default: on this thread ({@link inProcessReleaseCrypto}).
   */
  readonly crypto?: ReleaseCrypto;
}

/** What one run of the rule did for a request. */
export type ReleaseOutcome =
  /** Nothing to do yet: no execution on the view. */
  | { readonly status: 'waiting' }
  /** A request-level clause failed: one refusal (recorded once, posted). REL-3 and REL-4 (labels) are retried. */
  | { readonly status: 'refused'; readonly clause: RefusalReason; readonly check: string }
  | {
      readonly status: 'released';
      readonly batches: number;
      readonly shares: number;
      /** Per-envelope refusals over all batches, by clause. */
      readonly refused: { readonly 'REL-4': number; readonly 'REL-5': number };
    };

/** A request-level failure, carried to the place that signs the refusal. */
class Refuse extends Error {
  constructor(
    readonly clause: RefusalReason,
    readonly check: string,
    readonly final: boolean,
  ) {
    super(`${clause} (${check})`);
  }
}

function checkOf(e: unknown, fallback: string): string {
  if (e !== null && typeof e === 'object' && 'check' in e && typeof e.check === 'string') return e.check;
  return fallback;
}

/** Everything REL-1..3 established: what the batches are computed from. */
interface Cleared {
  readonly policy: VerifiedPolicy;
  readonly request: VerifiedRequest;
  readonly execution: VerifiedExecution;
  readonly size: number;
  /** A standing order's batch: the recorded group of the policy at the batch's log position (ORD-S1). */
  readonly recorded?: readonly string[];
}

export class ReleaseRule {
  private readonly clock: () => number;
  private readonly rng: RandomSource;
  private readonly crypto: ReleaseCrypto;

  constructor(private readonly o: ReleaseOptions) {
    this.clock = o.clock ?? Date.now;
    this.rng = o.rng ?? randomBytes;
    this.crypto = o.crypto ?? inProcessReleaseCrypto(this.rng);
  }

  /**
   * Runs the release rule for the request `requestId` on the tracker's view: refuses (and posts the refusal) or
   * releases every batch not yet released, re-sending recorded batches that were not yet acknowledged. Throws
   * ACCESS_NOT_FOUND for a request not on the view; relay errors propagate (the recorded bytes are re-sent on the
   * next run).
   */
  async run(requestId: Uint8Array): Promise<ReleaseOutcome> {
    const logged = this.o.tracker.request(requestId);
    if (logged === undefined)
      throw new AccessError('ACCESS_NOT_FOUND', 'the request is not on the view of the log', {
        check: 'ACC-T3',
      });
    const executions = this.o.tracker.executionsOf(requestId);
    if (executions.length === 0) return { status: 'waiting' };
    if (isOrderBody(logged.signed)) return this.runOrder(logged.index, logged.signed, executions);
    let cleared: Cleared;
    try {
      cleared = this.clear(logged.index, logged.signed, executions);
    } catch (e) {
      if (!(e instanceof Refuse)) throw e;
      await this.refuseRequest(logged.index, logged.signed, e);
      return { status: 'refused', clause: e.clause, check: e.check };
    }
    return this.releaseAll(cleared, logged.index, logged.signed);
  }

  // ---- standing orders (after-release.md §8.3): every batch execution on its own ----

  /**
   * A standing order: REL-1..REL-3 for the order and each batch execution on the view, then REL-4 (with ORD-S1:
   * the recorded group of the policy in force at the batch's position) and REL-5 for the batch's envelopes, one
   * share-bundle batch per batch execution, numbered as the execution. An order is never finished here: new
   * batches keep coming until its end.
   */
  private async runOrder(
    requestIndex: number,
    signed: Uint8Array,
    executions: readonly IndexedEntry[],
  ): Promise<ReleaseOutcome> {
    const { store, tracker } = this.o;
    let batches = 0;
    let mismatch = false;
    for (const x of executions) {
      let c: Cleared;
      try {
        c = this.clear(requestIndex, signed, [x]);
      } catch (e) {
        if (!(e instanceof Refuse)) throw e;
        // REL-3 (not yet below a verified checkpoint) is retried; anything else refuses the order as a whole.
        if (!e.final) continue;
        await this.refuseRequest(requestIndex, signed, e);
        return { status: 'refused', clause: e.clause, check: e.check };
      }
      const b = c.execution.execution.batch!;
      batches++;
      if (store.batch(c.request.request.requestId, b) !== undefined) continue;
      const count = c.execution.execution.envelopeCount;
      const served = await this.fetchEnvelopes(c.request.request.requestId, count, b * ORDER_BATCH_MAX);
      if (served === undefined || !this.labelsMatch(c.execution, served)) {
        mismatch = true;
        continue;
      }
      const recorded = tracker.policyAt(x.index)?.policy.policy.recorded ?? [];
      await this.sealBatch({ ...c, recorded }, b, served);
    }
    const requestId = tracker.allRequests().find((q) => q.index === requestIndex)!.requestId;
    await this.flushRefusals(requestId);
    const shares = await this.postBatches(requestId);
    if (mismatch) {
      await this.refuseRequest(requestIndex, signed, new Refuse('REL-4', 'WF-E6', false));
      return { status: 'refused', clause: 'REL-4', check: 'WF-E6' };
    }
    const refusals = store.refusals(requestId);
    return {
      status: 'released',
      batches,
      shares,
      refused: {
        'REL-4': refusals.filter((r) => r.reason === 4 && r.label.length > 0).length,
        'REL-5': refusals.filter((r) => r.reason === 5).length,
      },
    };
  }

  // ---- REL-1 .. REL-3: the request as a whole ----

  private clear(requestIndex: number, signed: Uint8Array, executions: readonly IndexedEntry[]): Cleared {
    const { tracker, vault } = this.o;
    const policyAt = tracker.policyAt(requestIndex);
    if (policyAt === undefined) throw new Refuse('REL-1', 'WF-R2', true);
    const policy = policyAt.policy;
    // REL-1: the request under the policy in force at its position.
    let request: VerifiedRequest;
    try {
      request = verifyRequest(signed, policy);
    } catch (e) {
      if (!isOvertError(e)) throw e;
      throw new Refuse('REL-1', checkOf(e, 'WF-R1'), true);
    }
    // REL-1 for a renewal (WF-O5): the order it renews is on the view, verifies and chains to it.
    const previous = request.request.order?.previous;
    if (previous !== undefined) {
      const p = tracker
        .allRequests()
        .find((q) => q.index < requestIndex && equalBytes(q.requestId, previous.requestId));
      let pv: VerifiedRequest | undefined;
      try {
        const pp = p === undefined ? undefined : tracker.policyAt(p.index);
        if (p !== undefined && pp !== undefined) pv = verifyRequest(p.signed, pp.policy);
        checkRenewal(request, pv);
      } catch (e) {
        if (!isOvertError(e)) throw e;
        throw new Refuse('REL-1', checkOf(e, 'WF-O5'), true);
      }
    }
    // REL-2: over every decision on the view; the trustee's own approval; an execution that verifies.
    const logged = decisionsOnLog(
      policy,
      request,
      tracker.decisionEntries().map((d) => d.entry),
    );
    if (!approvingTrustees(logged).includes(vault.index)) throw new Refuse('REL-2', 'REL-2', true);
    try {
      checkApprovalQuorum(policy, request, logged);
    } catch (e) {
      if (!isOvertError(e)) throw e;
      throw new Refuse('REL-2', checkOf(e, 'WF-D5'), true);
    }
    let execution: VerifiedExecution | undefined;
    let executionIndex = -1;
    let failure: Refuse | undefined;
    for (const x of executions) {
      try {
        execution = verifyExecution(x.entry.subarray(1), this.o.relayKey, policy, request, logged);
        executionIndex = x.index;
        break;
      } catch (e) {
        if (!isOvertError(e)) throw e;
        // Too many envelopes is release rule 4's count (SCOPE-5, WF-E5); anything else rule 2's.
        failure ??=
          e.code === 'REQUEST_LIMIT'
            ? new Refuse('REL-4', checkOf(e, 'WF-E5'), true)
            : new Refuse('REL-2', checkOf(e, 'WF-E4'), true);
      }
    }
    if (execution === undefined) throw failure ?? new Refuse('REL-2', 'WF-E4', true);
    if (!execution.approvers.includes(vault.index)) throw new Refuse('REL-2', 'WF-L5', true);
    try {
      checkEnvelopeCount(request, execution.execution.envelopeCount);
    } catch (e) {
      if (!isOvertError(e)) throw e;
      throw new Refuse('REL-4', 'SCOPE-5', true);
    }
    // REL-3: everything relied on is below a checkpoint verified with the policy's witnesses, and fresh.
    const size = this.checkView(policy);
    const cited = new Set(execution.execution.decisionHashes.map((h) => toHex(h)));
    const positions = [requestIndex, executionIndex];
    for (const d of tracker.decisionEntries()) {
      // Decisions about other requests are most of a long log: compare the id before checking a signature.
      const body = signedBody(d.entry.subarray(1));
      let hash: string;
      try {
        if (body === undefined || !equalBytes(decodeDecision(body).requestId, request.request.requestId))
          continue;
        hash = toHex(decisionHash(verifyDecision(d.entry.subarray(1), policy, request)));
      } catch (e) {
        if (isOvertError(e)) continue;
        throw e;
      }
      if (cited.has(hash)) positions.push(d.index);
    }
    if (positions.some((i) => i >= size)) throw new Refuse('REL-3', 'REL-3', false);
    return { policy, request, execution, size };
  }

  /** REL-3 on the checkpoint alone: returns its size. */
  private checkView(policy: VerifiedPolicy): number {
    const cp = this.o.tracker.checkpoint();
    if (cp === undefined) throw new Refuse('REL-3', 'REL-3', false);
    const p = policy.policy;
    const now = Math.floor(this.clock() / 1000);
    try {
      const witnesses = {
        witnesses: p.witnesses.map((w) => makeVerifierKey(w.name, SIGNATURE_TYPE_COSIGNATURE, w.signingKey)),
        quorum: p.witnessQuorum,
      };
      const verified = verifyCheckpoint(cp.text, { ...this.o.log, witnesses });
      requireFresh(verified, p.witnessQuorum, now, { maxAgeSeconds: this.o.maxAgeSeconds });
      return verified.size;
    } catch (e) {
      if (e instanceof Refuse) throw e;
      throw new Refuse('REL-3', checkOf(e, 'REL-3'), false);
    }
  }

  // ---- refusals ----

  private async refuseRequest(requestIndex: number, signed: Uint8Array, r: Refuse): Promise<void> {
    const { store, tracker, vault } = this.o;
    const body = signedBody(signed);
    const policy = tracker.policyAt(requestIndex)?.policy ?? tracker.currentPolicy()?.policy;
    const logged = tracker.allRequests().find((q) => q.index === requestIndex);
    if (body === undefined || policy === undefined || logged === undefined) return;
    const requestId = logged.requestId;
    const reason = REASON_NUMBER[r.clause];
    if (store.refusal(requestId, reason) === undefined) {
      const refusal = signRefusal(
        {
          version: 1,
          orgId: policy.policy.orgId,
          requestId,
          requestHash: requestHash(body),
          trusteeIndex: vault.index,
          reason: r.clause,
          refusedAt: this.clock(),
        },
        vault.signingKey(),
      );
      store.transaction(() => {
        store.putRefusal({ requestId, reason, label: new Uint8Array(0), signed: refusal });
        if (r.final) store.setFinished(requestId, r.clause);
      });
    }
    await this.flushRefusals(requestId);
  }

  /** Posts every recorded batch release the relay has not taken yet; returns the shares of all of them. */
  private async postBatches(requestId: Uint8Array): Promise<number> {
    let shares = 0;
    for (const rec of this.o.store.batches(requestId)) {
      shares += rec.shareCount;
      if (rec.posted) continue;
      await this.o.relay.submitRelease(rec.release, rec.sealed, rec.batch);
      this.o.store.markBatchPosted(requestId, rec.batch);
    }
    return shares;
  }

  private async flushRefusals(requestId: Uint8Array): Promise<void> {
    for (const r of this.o.store.refusals(requestId)) {
      if (r.posted) continue;
      await this.o.relay.submitRefusal(r.signed);
      this.o.store.markRefusalPosted(requestId, r.reason, r.label);
    }
  }

  // ---- REL-4, REL-5 and the shares, batch by batch ----

  private async releaseAll(c: Cleared, requestIndex: number, signed: Uint8Array): Promise<ReleaseOutcome> {
    const { store } = this.o;
    const requestId = c.request.request.requestId;
    const count = c.execution.execution.envelopeCount;
    const batches = batchCount(count);
    let served: ServedEnvelope[] | undefined;
    let mismatch = false;
    for (let b = 0; b < batches && !mismatch; b++) {
      if (store.batch(requestId, b) !== undefined) continue;
      served ??= await this.fetchEnvelopes(requestId, count);
      if (served === undefined || !this.labelsMatch(c.execution, served)) {
        mismatch = true;
        break;
      }
      const range = batchRange(b, count);
      await this.sealBatch(c, b, served.slice(range.start, range.end));
    }
    await this.flushRefusals(requestId);
    // Batches recorded before (this run or an interrupted one) are sent even when this run stops at REL-4.
    const shares = await this.postBatches(requestId);
    if (mismatch) {
      await this.refuseRequest(requestIndex, signed, new Refuse('REL-4', 'WF-E6', false));
      return { status: 'refused', clause: 'REL-4', check: 'WF-E6' };
    }
    if (store.batches(requestId).length === batches) store.setFinished(requestId, 'released');
    const refusals = store.refusals(requestId);
    return {
      status: 'released',
      batches,
      shares,
      refused: {
        'REL-4': refusals.filter((r) => r.reason === 4 && r.label.length > 0).length,
        'REL-5': refusals.filter((r) => r.reason === 5).length,
      },
    };
  }

  /** Every envelope the relay serves for the execution, or undefined when the pages are not positions 0..n−1. */
  private async fetchEnvelopes(
    requestId: Uint8Array,
    count: number,
    start = 0,
  ): Promise<ServedEnvelope[] | undefined> {
    const out: ServedEnvelope[] = [];
    let from = start;
    for (;;) {
      const page = await this.o.relay.envelopes(requestId, from, Math.min(ENVELOPE_PAGE, count - out.length));
      for (const e of page.items) {
        if (out.length >= count) break;
        if (e.position !== start + out.length) return undefined;
        out.push(e);
      }
      if (page.next === null || out.length >= count) break;
      if (page.next !== start + out.length) return undefined;
      from = page.next;
    }
    return out.length === count ? out : undefined;
  }

  /** REL-4, the set (WF-E6): the served labels, in position order, are sorted, unique and the execution's. */
  private labelsMatch(execution: VerifiedExecution, served: readonly ServedEnvelope[]): boolean {
    for (let i = 1; i < served.length; i++)
      if (compareBytes(served[i - 1]!.label, served[i]!.label) >= 0) return false;
    try {
      checkExecutionLabels(
        execution,
        served.map((e) => e.label),
      );
      return true;
    } catch (e) {
      if (isOvertError(e)) return false;
      throw e;
    }
  }

  /**
   * Judges one batch's envelopes (REL-4, REL-5), creates the shares, seals the bundle, signs the release and the
   * refusals, and records it all in one transaction. Nothing is sent here.
   */
  private async sealBatch(c: Cleared, batch: number, envelopes: readonly ServedEnvelope[]): Promise<void> {
    const { store, tracker, vault } = this.o;
    const requestId = c.request.request.requestId;
    const scope = scopeOf(c.request);
    const refused: { label: Uint8Array; clause: RefusalReason }[] = [];
    // What REL-4 and the log-side half of REL-5 cleared, by epoch: the cryptography is done per epoch below.
    const byEpoch = new Map<number, { served: ServedEnvelope; item: ReleaseItem }[]>();
    for (const served of envelopes) {
      // REL-4: the header the label hashes, and that header in scope.
      let head: EnvelopeHead;
      try {
        head = decodeEnvelopeHead(served.head);
      } catch (e) {
        if (!isOvertError(e)) throw e;
        refused.push({ label: served.label, clause: 'REL-4' });
        continue;
      }
      const judged =
        c.recorded === undefined ? inScope(head.header, scope) : inOrderScope(head.header, scope, c.recorded);
      if (!equalBytes(head.label, served.label) || !judged.inScope) {
        refused.push({ label: served.label, clause: 'REL-4' });
        continue;
      }
      // REL-5: the sending device's key on the log (its signature is checked with the capsule, below); the
      // epoch's key on the log below the checkpoint; a capsule that decodes.
      const senderKey = this.senderKey(head, c.size);
      const epochKey = tracker.epochKey(head.header.epoch);
      let capsule: Capsule | undefined;
      try {
        capsule = decodeCapsule(head.capsule);
      } catch (e) {
        if (!isOvertError(e)) throw e;
      }
      if (senderKey === undefined || epochKey === undefined || epochKey.index >= c.size || !capsule) {
        refused.push({ label: served.label, clause: 'REL-5' });
        continue;
      }
      const list = byEpoch.get(head.header.epoch) ?? [];
      list.push({ served, item: { bytes: served.head, head, capsule, senderKey } });
      byEpoch.set(head.header.epoch, list);
    }
    // REL-5: the sender signatures (ENV-22) and the capsules (batch-verified, capsule.md §8), then the seen-u rule,
    // and a share for each envelope that passes, with this trustee's share of the epoch (from the vault).
    const results = new Map<ServedEnvelope, ReleaseItemResult>();
    for (const [epoch, list] of byEpoch) {
      // A shredded epoch (after-release.md §6, TRU-S1): the share is gone, so every envelope of it is refused
      // under REL-5 and the refusal names its label, exactly as for an epoch this trustee never held.
      let share: EpochShare | undefined;
      try {
        share = await vault.share(epoch);
      } catch (e) {
        if (!isTrusteeError(e, 'TRUSTEE_SHARE_SHREDDED')) throw e;
        share = undefined;
      }
      if (share === undefined || !equalBytes(share.publicKey.groupKey, tracker.epochKey(epoch)!.groupKey)) {
        for (const { served } of list) results.set(served, { failed: 'REL-5' });
        continue;
      }
      const out = await this.crypto.release(
        share,
        list.map((x) => x.item),
      );
      list.forEach(({ served }, j) => {
        results.set(served, out[j]!);
      });
    }
    const shares: BundleShare[] = [];
    const seen: { u: Uint8Array; label: Uint8Array }[] = [];
    for (const list of byEpoch.values()) list.sort((a, b) => a.served.position - b.served.position);
    const cleared = [...byEpoch.values()].flat().sort((a, b) => a.served.position - b.served.position);
    for (const { served, item } of cleared) {
      const result = results.get(served)!;
      if (result.failed !== undefined) {
        refused.push({ label: served.label, clause: 'REL-5' });
        continue;
      }
      const u = item.capsule.u as Uint8Array;
      const before = store.seenU(u) ?? seen.find((s) => equalBytes(s.u, u))?.label;
      if (before !== undefined && !equalBytes(before, item.head.label)) {
        refused.push({ label: served.label, clause: 'REL-5' });
        continue;
      }
      shares.push({ position: served.position, label: served.label, share: result.share });
      seen.push({ u, label: item.head.label });
    }
    const requesterKey = requesterEncryptionKey(c.policy, c.request.request.requesterId);
    const sealed = await sealShareBundle(
      requesterKey,
      { requestId, executionHash: c.execution.hash, trusteeIndex: vault.index, batch, shares },
      this.rng,
    );
    const now = this.clock();
    const release = signRelease(
      releaseFor(c.execution, vault.index, shares.length, sealed, now),
      vault.signingKey(),
    );
    const refusals = refused.map((r) => ({
      reason: REASON_NUMBER[r.clause],
      label: r.label,
      signed: signRefusal(
        {
          version: 1,
          orgId: c.policy.policy.orgId,
          requestId,
          requestHash: c.request.hash,
          trusteeIndex: vault.index,
          reason: r.clause,
          label: r.label,
          refusedAt: now,
        },
        vault.signingKey(),
      ),
    }));
    store.transaction(() => {
      if (!store.putBatch({ requestId, batch, sealed, release, shareCount: shares.length })) return;
      for (const r of refusals) store.putRefusal({ requestId, ...r });
      for (const s of seen) store.putSeenU(s.u, s.label);
    });
  }

  /**
   * REL-5, the sender (envelope.md ENV-22): the key of a device_added entry for (sender user, device) below the
   * checkpoint, not removed (below the checkpoint) at or before the send time, whose key is to verify the
   * signature (checked with the capsule, by {@link ReleaseCrypto}). Undefined when there is none. When the log
   * holds several such keys (the device re-added), the one that verifies is picked here.
   */
  private senderKey(head: EnvelopeHead, size: number): Uint8Array | undefined {
    const h = head.header;
    let deviceId: string;
    try {
      deviceId = utf8Decode(h.senderDeviceId);
    } catch {
      return undefined;
    }
    const keys = this.o.tracker
      .deviceKeys(h.senderUserId, deviceId)
      .filter(
        (d) =>
          d.addedIndex < size &&
          (d.removed === undefined || d.removed.index >= size || d.removed.time > h.sendTime),
      )
      .map((d) => d.key);
    if (keys.length <= 1) return keys[0];
    return keys.find((k) => isSenderSignatureValid(head, k)) ?? keys[0];
  }
}

/**
 * The tracker's `onRelease` hook: a release in this trustee's name that it did not record is the alert
 * `release-unknown` (access.md §6), raised through the vault's alerts (one table, GET /v1/alerts). Records are written before anything is sent, so a release of ours is always
 * recorded before it can reach the log.
 */
export function watchReleases(
  store: AccessStore,
  vault: Pick<ShareVault, 'index' | 'addAlert'>,
  clock: () => number = Date.now,
) {
  return (r: LoggedRelease): void => {
    if (r.trusteeIndex !== vault.index || store.madeRelease(r.signed)) return;
    vault.addAlert(
      'release-unknown',
      `request ${toHex(r.requestId)} at log index ${r.index}`,
      clock(),
      `release-unknown/${r.index}`,
    );
  };
}

/** Whether a signed request is a standing order (body version 2, after-release.md §8.2), from its first byte. */
function isOrderBody(signed: Uint8Array): boolean {
  const body = signedBody(signed);
  return body !== undefined && body[0] === 2;
}
