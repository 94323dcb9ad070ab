/**
 * The relay's side of accountable access (docs/spec/access.md §4): it files requests, logs the trustees'
 * decisions, releases and refusals, executes an approved request (§4.1: selects the in-scope envelopes, signs and
 * logs an execution with its execution key), serves the executed envelopes and the sealed share bundles, and
 * carries the trustees' mailbox. It never holds a share and never asks a trustee for one; every object it logs is
 * verified with core's verifiers first, and release rule 2 is evaluated over the access entries it logged itself
 * (storage `access_entries`), never over a list a caller sent.
 *
 * Every method takes an authenticated principal (the HTTP layer checked the signature and the signer kind) and
 * validated input; refusals are RelayErrors with the ACC- check IDs of access.md §4.
 */
import {
  approvingTrustees,
  batchCount,
  batchExecutionFor,
  batchRange,
  checkApprovalQuorum,
  checkRenewal,
  compareBytes,
  DECISION_ENTRY_TYPE,
  decisionsOnLog,
  decodeDecision,
  decodeExtension,
  decodeExtensionStatement,
  decodeHeader,
  decodeRefusal,
  decodeRelease,
  decodeRequest,
  decodeSigned,
  decodeUnseal,
  denyingTrustees,
  EXTENSION_VERSION,
  type Extension,
  type ExtensionStatement,
  encodeExtension,
  encodeExtensionStatement,
  envelopeLabel,
  equalBytes,
  executionFor,
  executionHash,
  findTrustee,
  inOrderScope,
  inScope,
  isOvertError,
  type LoggedDecisions,
  MAX_ENTRY_SIGNED_BODY,
  ORDER_BATCH_MAX,
  type OvertError,
  openConfidential,
  PUBLISHER_RELAY,
  RELAY_PART_INDEX,
  type SigningKeyPair,
  scopeOf,
  sha256,
  signExecution,
  signUnseal,
  TAG_EXTENSION_SIGNATURE,
  unsealFor,
  type VerifiedDecision,
  type VerifiedExecution,
  type VerifiedExtension,
  type VerifiedRequest,
  verifyBody,
  verifyDecision,
  verifyExecution,
  verifyExtension,
  verifyRefusal,
  verifyRelease,
  verifyRequest,
  verifyUnseal,
} from '@overt/core';
import { ENTRY_TYPES } from '@overt/log';
import { type PolicyInForce, policyInForce } from '../auth.js';
import { RelayError, type RelayErrorCode } from '../errors.js';
import type { LogPort } from '../log-port.js';
import { logUnavailable, type RelayService } from '../service.js';
import { verifyEpochKeyStatement, verifyPolicyStatement } from '../statements.js';
import type {
  AccessEntryRecord,
  AccessRequestRecord,
  AccessStatus,
  ExecutionRecord,
  ExtensionProposalRecord,
  OrderBatchRecord,
  ReleaseRecord,
  SealedPart,
  SelectedEnvelope,
  UnsealRecord,
} from '../storage/access.js';
import type { DeviceRecord, EnvelopeRecord, EpochKeyRecord, RelayStorage } from '../storage/storage.js';
import { ShredService } from './shreds.js';

/** A trustee mailbox message's largest body (access.md §4). */
export const MAX_MAIL_BYTES = 256 * 1024;
/** Envelope heads scanned per storage read during a selection (§4.1). */
const SCAN_PAGE = 1024;
/**
 * A batch of a standing order re-scans envelopes received this long before the previous batch's scan ended, so
 * an envelope whose write committed after a scan had passed its receive time is not missed (after-release.md §8.3);
 * envelopes already selected are skipped.
 */
const ORDER_LOOKBACK_MS = 2_000;
/** The first batch of an order scans envelopes received from the order's start less the accepted clock skew. */
const ORDER_FIRST_SCAN_SKEW_MS = 5 * 60_000;

/** Whether a signed request body is a standing order (request body version 2), without verifying it. */
export function isOrderRecord(signed: Uint8Array): boolean {
  try {
    return decodeSigned(signed, MAX_ENTRY_SIGNED_BODY, 'REQUEST_INVALID', 'WF-R1').body[0] === 2;
  } catch (e) {
    if (isOvertError(e)) return false;
    throw e;
  }
}

/** Entry types of the access workflow (log entry.ts registry). */
const T = {
  request: ENTRY_TYPES.request,
  decision: ENTRY_TYPES.decision,
  execution: ENTRY_TYPES.execution,
  release: ENTRY_TYPES.release,
  refusal: ENTRY_TYPES.refusal,
  extension: ENTRY_TYPES.extension,
  unseal: ENTRY_TYPES.unseal,
} as const;
if (T.decision !== DECISION_ENTRY_TYPE)
  throw new Error('decision entry type disagrees with the log registry');

export type TrusteeCaller = {
  readonly kind: 'trustee';
  readonly index: number;
  readonly inForce: PolicyInForce;
};
export type RequesterCaller = {
  readonly kind: 'requester';
  readonly requesterId: string;
  readonly inForce: PolicyInForce;
};
export type AccessCaller = TrusteeCaller | RequesterCaller;

export interface AccessServiceOptions {
  readonly storage: RelayStorage;
  readonly log: LogPort;
  readonly orgId: string;
  readonly now: () => number;
  /** The directory service: epoch-key statements posted by trustees go through its checks (AUTH-11). */
  readonly relay: RelayService;
  /** The relay's execution key (Ed25519): it signs executions. Without it the relay does not execute. */
  readonly accessKey?: SigningKeyPair;
  /**
   * The relay's X25519 unseal key (after-release.md §1): parts sealed to it at filing let the relay publish the
   * unseal at the seal date. Without it the relay takes no relay part and publishes no unseal.
   */
  readonly unsealKey?: UnsealKey;
}

/** An X25519 key pair (32-byte secret and public keys). */
export interface UnsealKey {
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** Everything logged about an unsealed request (after-release.md §1, the public read). */
export interface PublicView extends RequestView {
  readonly unseal: UnsealRecord;
  readonly extensions: readonly AccessEntryRecord[];
}

/**
 * The seal-until in force (workflow.md §9.8) over the relay's recorded entries of one request: the request's own,
 * replaced by each link of the chain of logged extensions (number 1, 2, … with old_seal_until the current value).
 */
export function sealInForce(
  sealUntil: number,
  entries: readonly AccessEntryRecord[],
): { sealUntil: number; links: number } {
  const statements: ExtensionStatement[] = [];
  for (const e of entries)
    if (e.type === T.extension) {
      try {
        statements.push(decodeExtension(e.body).statement);
      } catch (err) {
        if (!isOvertError(err)) throw err;
      }
    }
  let links = 0;
  for (;;) {
    const next = statements.find((x) => x.number === links + 1 && x.oldSealUntil === sealUntil);
    if (next === undefined) return { sealUntil, links };
    sealUntil = next.newSealUntil;
    links++;
  }
}

/** Everything logged about one request, as the relay recorded it. */
export interface RequestView {
  readonly request: AccessRequestRecord;
  readonly decisions: readonly AccessEntryRecord[];
  readonly execution: ExecutionRecord | undefined;
  /** A standing order's batch executions (after-release.md §8.3), by number; empty for a request. */
  readonly batches: readonly OrderBatchRecord[];
  readonly releases: readonly ReleaseRecord[];
  readonly refusals: readonly AccessEntryRecord[];
}

/** One executed envelope as served (§4): its position, label, message id and head. */
export interface ServedEnvelope extends SelectedEnvelope {
  readonly envelope: EnvelopeRecord;
}

/** Core's verification failures as the relay's code under an ACC- check, with core's check in the detail. */
function asAccess<T>(code: RelayErrorCode, check: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (isOvertError(e)) {
      const o = e as OvertError;
      throw new RelayError(code, `refused by ${o.check ?? o.code}`, { check, cause: e });
    }
    throw e;
  }
}

function forbidden(check: string, what: string): RelayError {
  return new RelayError('AUTH_FORBIDDEN', what, { check });
}

function entryBytes(e: AccessEntryRecord): Uint8Array {
  const out = new Uint8Array(1 + e.body.length);
  out[0] = e.type;
  out.set(e.body, 1);
  return out;
}

export class AccessService {
  readonly storage: RelayStorage;
  private readonly log: LogPort;
  readonly orgId: string;
  private readonly now: () => number;
  private readonly relay: RelayService;
  readonly accessKey: SigningKeyPair | undefined;
  /** Crypto-shredding (after-release.md §6): logged shred statements and the deletion of shredded epochs. */
  readonly shreds: ShredService;
  readonly unsealKey: UnsealKey | undefined;
  /** Access writes run one at a time on this node: check, append, store; and at most one execution. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(o: AccessServiceOptions) {
    this.storage = o.storage;
    this.log = o.log;
    this.orgId = o.orgId;
    this.now = o.now;
    this.relay = o.relay;
    this.accessKey = o.accessKey;
    this.shreds = new ShredService(o);
    this.unsealKey = o.unsealKey;
  }

  private exclusive<R>(f: () => Promise<R>): Promise<R> {
    const run = this.queue.then(f, f);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async append(type: number, body: Uint8Array): Promise<number> {
    const entry = new Uint8Array(1 + body.length);
    entry[0] = type;
    entry.set(body, 1);
    try {
      return (await this.log.append(entry)).index;
    } catch (e) {
      throw logUnavailable(e);
    }
  }

  // ── Trustee mailbox and epoch keys (§4, §7) ─────────────────────────────────────────────────────────────

  /** Stores a message from trustee `from` to trustee `to` (0 = every trustee of the policy in force). */
  async sendMail(caller: TrusteeCaller, to: number, body: Uint8Array): Promise<number> {
    if (to !== 0 && !caller.inForce.policy.policy.trustees.some((t) => t.index === to))
      throw new RelayError('ACCESS_BAD_REQUEST', 'the addressee is not a trustee of the policy in force', {
        check: 'ACC-M1',
      });
    return this.storage.access.putMail(caller.index, to, body, this.now());
  }

  readMail(caller: TrusteeCaller, after: number, limit: number) {
    return this.storage.access.readMail(caller.index, after, limit);
  }

  /**
   * An epoch-key statement posted by a trustee: checked exactly as the admin path (AUTH-11, under the policy in
   * force) and logged; the same statement again answers the stored key (`created` false).
   */
  async publishEpochKey(statement: Uint8Array): Promise<{ record: EpochKeyRecord; created: boolean }> {
    return this.exclusive(async () => {
      const inForce = await policyInForce(this.storage);
      if (inForce !== undefined) {
        const s = verifyEpochKeyStatement(inForce.policy, statement);
        const stored = await this.storage.getEpochKey(s.epoch);
        if (stored !== undefined && equalBytes(stored.statement, statement))
          return { record: stored, created: false };
      }
      return { record: await this.relay.publishEpochKey(statement), created: true };
    });
  }

  // ── Requests (§4) ──────────────────────────────────────────────────────────────────────────────────────

  /**
   * Files a request: verified under the policy in force (ACC-R1), signed by the calling requester (ACC-R2), one
   * sealed part per trustee of the policy (ACC-R3), a request id not used before (ACC-R4; the same bytes again
   * answer the stored request, `created` false). Appends `u8 5 ‖ signed request` and stores the sealed parts.
   */
  async fileRequest(
    caller: RequesterCaller,
    signed: Uint8Array,
    sealed: readonly SealedPart[],
    relaySealed?: Uint8Array,
  ): Promise<{ record: AccessRequestRecord; created: boolean }> {
    // A relay that cannot execute takes no request: it could never be acted on (ACC-X1).
    if (this.accessKey === undefined)
      throw new RelayError('ACCESS_DISABLED', 'the relay has no execution key', { check: 'ACC-X1' });
    const policy = caller.inForce.policy;
    const vreq = asAccess('ACCESS_REQUEST_INVALID', 'ACC-R1', () => verifyRequest(signed, policy));
    if (vreq.request.requesterId !== caller.requesterId)
      throw forbidden('ACC-R2', 'the request names another requester');
    const trustees = policy.policy.trustees.map((t) => t.index);
    const given = sealed.map((s) => s.trustee).sort((a, b) => a - b);
    if (given.length !== trustees.length || given.some((t, i) => t !== trustees[i]))
      throw new RelayError('ACCESS_SEALED_INVALID', 'one sealed part per trustee of the policy is needed', {
        check: 'ACC-R3',
      });
    if (relaySealed !== undefined) {
      // The relay's part (after-release.md §1) must open now: otherwise the relay could not unseal at the date.
      const key = this.unsealKey;
      if (key === undefined)
        throw new RelayError('ACCESS_SEALED_INVALID', 'the relay has no unseal key', { check: 'ACC-R3' });
      try {
        await openConfidential(key.secretKey, RELAY_PART_INDEX, vreq, relaySealed);
      } catch (e) {
        if (!isOvertError(e)) throw e;
        throw new RelayError('ACCESS_SEALED_INVALID', 'the relay part does not open', {
          check: 'ACC-R3',
          cause: e,
        });
      }
    }
    return this.exclusive(async () => {
      const stored = await this.storage.access.getRequest(vreq.request.requestId);
      if (stored !== undefined) {
        if (equalBytes(stored.signed, signed)) return { record: stored, created: false };
        throw new RelayError('ACCESS_REQUEST_EXISTS', 'the request id is taken', { check: 'ACC-R4' });
      }
      // ORD-R1, WF-O5: a renewal names a logged order it chains to (after-release.md §8.2).
      const previous = vreq.request.order?.previous;
      if (previous !== undefined) {
        const p = await this.storage.access.getRequest(previous.requestId);
        let pv: VerifiedRequest | undefined;
        if (p !== undefined) {
          const pPolicy = await this.policyOf(caller.inForce, p);
          pv = asAccess('ACCESS_ORDER_INVALID', 'ORD-R1', () => verifyRequest(p.signed, pPolicy.policy));
        }
        asAccess('ACCESS_ORDER_INVALID', 'ORD-R1', () => checkRenewal(vreq, pv));
      }
      const logIndex = await this.append(T.request, signed);
      const record: AccessRequestRecord = {
        requestId: vreq.request.requestId,
        requestHash: vreq.hash,
        requesterId: vreq.request.requesterId,
        signed,
        logIndex,
        policySerial: caller.inForce.record.serial,
        status: 'pending',
        receivedAt: this.now(),
      };
      await this.storage.access.putRequest(record, sealed, relaySealed);
      return { record, created: true };
    });
  }

  /** The stored request, readable by its requester and by every trustee (ACC-A1). */
  async requestFor(caller: AccessCaller, requestId: Uint8Array): Promise<AccessRequestRecord> {
    const r = await this.storage.access.getRequest(requestId);
    if (r === undefined) throw new RelayError('ACCESS_REQUEST_UNKNOWN', 'no such request');
    if (caller.kind === 'requester' && caller.requesterId !== r.requesterId)
      throw forbidden('ACC-A1', "another requester's request");
    return r;
  }

  listRequests(caller: AccessCaller, after: number, limit: number): Promise<AccessRequestRecord[]> {
    return this.storage.access.listRequests(
      after,
      limit,
      caller.kind === 'requester' ? caller.requesterId : undefined,
    );
  }

  async view(caller: AccessCaller, requestId: Uint8Array): Promise<RequestView> {
    const request = await this.requestFor(caller, requestId);
    const entries = await this.storage.access.listEntries(requestId);
    return {
      request,
      decisions: entries.filter((e) => e.type === T.decision),
      execution: await this.storage.access.getExecution(requestId),
      batches: isOrderRecord(request.signed) ? await this.storage.access.listOrderBatches(requestId) : [],
      releases: await this.storage.access.listReleases(requestId),
      refusals: entries.filter((e) => e.type === T.refusal),
    };
  }

  /** The calling trustee's own sealed part (§2). */
  async sealedPart(caller: TrusteeCaller, requestId: Uint8Array): Promise<Uint8Array> {
    await this.requestFor(caller, requestId);
    const s = await this.storage.access.getSealed(requestId, caller.index);
    if (s === undefined) throw new RelayError('ACCESS_REQUEST_UNKNOWN', 'no sealed part for this trustee');
    return s;
  }

  /**
   * The policy a logged request is judged under: the policy in force, except for a standing order filed under an
   * earlier serial, which is judged under the policy it was filed under (after-release.md §8: the group may change
   * while the order is in force; ORD-S1 then uses the policy in force at each batch).
   */
  private async policyOf(inForce: PolicyInForce, r: AccessRequestRecord): Promise<PolicyInForce> {
    if (r.policySerial === inForce.record.serial || !isOrderRecord(r.signed)) return inForce;
    const signed = await this.storage.access.policyBySerial(r.policySerial);
    const admin = await this.storage.getOrgAdmin();
    if (signed === undefined || admin === undefined) return inForce;
    return {
      record: { ...inForce.record, serial: r.policySerial, signed },
      policy: verifyPolicyStatement(admin, signed),
    };
  }

  /** The logged request, verified again under the policy in force (ACC-R1): what decisions bind. */
  private verified(inForce: PolicyInForce, r: AccessRequestRecord): VerifiedRequest {
    return asAccess('ACCESS_REQUEST_INVALID', 'ACC-R1', () => verifyRequest(r.signed, inForce.policy));
  }

  /** Every decision about the request on the relay's record of its log entries (release rule 2's input). */
  private async logged(inForce: PolicyInForce, vreq: VerifiedRequest): Promise<LoggedDecisions> {
    const entries = await this.storage.access.listEntries(vreq.request.requestId);
    return decisionsOnLog(inForce.policy, vreq, entries.map(entryBytes));
  }

  // ── Decisions and execution (§4, §4.1) ─────────────────────────────────────────────────────────────────

  /**
   * Logs a trustee's decision: it verifies under the policy in force and the logged request (ACC-D1) and is
   * signed by the calling trustee (ACC-D2); a byte-identical repeat answers its index (`created` false). Then,
   * with k approvals over every logged decision and no execution yet, the relay executes (§4.1).
   */
  async submitDecision(
    caller: TrusteeCaller,
    signed: Uint8Array,
  ): Promise<{ index: number; created: boolean; execution?: { index: number } }> {
    return this.exclusive(async () => {
      // The request id comes from the decision itself; verifyDecision checks the rest below.
      const requestId = asAccess(
        'ACCESS_DECISION_INVALID',
        'ACC-D1',
        () =>
          decodeDecision(decodeSigned(signed, MAX_ENTRY_SIGNED_BODY, 'DECISION_INVALID', 'WF-D1').body)
            .requestId,
      );
      const request = await this.storage.access.getRequest(requestId);
      if (request === undefined)
        throw new RelayError('ACCESS_DECISION_INVALID', 'the decision names no logged request', {
          check: 'ACC-D1',
        });
      const inForce = await this.policyOf(caller.inForce, request);
      const vreq = this.verified(inForce, request);
      const d: VerifiedDecision = asAccess('ACCESS_DECISION_INVALID', 'ACC-D1', () =>
        verifyDecision(signed, inForce.policy, vreq),
      );
      if (d.decision.trusteeIndex !== caller.index)
        throw forbidden('ACC-D2', 'the decision is signed for another trustee');
      const entries = await this.storage.access.listEntries(requestId);
      const repeat = entries.find((e) => e.type === T.decision && equalBytes(e.body, signed));
      let index: number;
      let created = false;
      if (repeat !== undefined) index = repeat.logIndex;
      else {
        index = await this.append(T.decision, signed);
        await this.storage.access.putEntry({ logIndex: index, requestId, type: T.decision, body: signed });
        created = true;
      }
      const execution = await this.maybeExecute(inForce, request, vreq);
      return { index, created, ...(execution !== undefined ? { execution: { index: execution } } : {}) };
    });
  }

  /**
   * §4.1: with k approvals over every logged decision and no execution, selects the in-scope signed envelopes,
   * and — within both limits — signs, logs and stores the execution. Updates the status otherwise (`denied`
   * once k approvals can no longer be reached, `over-limit`). Returns the execution's log index when one exists.
   */
  private async maybeExecute(
    inForce: PolicyInForce,
    request: AccessRequestRecord,
    vreq: VerifiedRequest,
  ): Promise<number | undefined> {
    const existing = await this.storage.access.getExecution(request.requestId);
    if (existing !== undefined) return existing.logIndex;
    const policy = inForce.policy;
    const logged = await this.logged(inForce, vreq);
    const deny = denyingTrustees(logged);
    if (policy.policy.trustees.length - deny.size < policy.policy.threshold) {
      await this.setStatus(request, 'denied');
      return undefined;
    }
    // A standing order is executed in batches by runOrders (after-release.md §8.3), not once here.
    if (vreq.request.order !== undefined) return undefined;
    try {
      checkApprovalQuorum(policy, vreq, logged);
    } catch (e) {
      if (isOvertError(e)) return undefined;
      throw e;
    }
    // Without an execution key nothing is executed (fileRequest refuses new requests on such a relay).
    if (request.status === 'over-limit' || this.accessKey === undefined) return undefined;
    const limit = Math.min(vreq.request.maxEnvelopes, policy.policy.limits.maxEnvelopes);
    const selected = await this.select(vreq, limit);
    if (selected === undefined) {
      await this.setStatus(request, 'over-limit');
      return undefined;
    }
    const approving = new Set(approvingTrustees(logged));
    const approvals: VerifiedDecision[] = [];
    const seen = new Set<number>();
    for (const d of logged.decisions) {
      const i = d.decision.trusteeIndex;
      if (d.decision.verdict === 'approve' && approving.has(i) && !seen.has(i)) {
        seen.add(i);
        approvals.push(d);
      }
    }
    const executedAt = this.now();
    const execution = executionFor(
      vreq,
      approvals,
      selected.map((s) => s.label),
      executedAt,
    );
    const signed = signExecution(execution, this.accessKey);
    const logIndex = await this.append(T.execution, signed);
    await this.storage.access.putExecution(
      { requestId: request.requestId, logIndex, signed, envelopeCount: selected.length, executedAt },
      selected,
    );
    return logIndex;
  }

  private async setStatus(request: AccessRequestRecord, status: AccessStatus): Promise<void> {
    if (request.status !== status) await this.storage.access.setRequestStatus(request.requestId, status);
  }

  /**
   * The selection (§4.1): every stored envelope whose header decodes (format 2, so it carries a sender
   * signature) and is in the request's scope, labels sorted by bytes and numbered from 0. Undefined when more
   * than `limit` are in scope.
   */
  private async select(vreq: VerifiedRequest, limit: number): Promise<SelectedEnvelope[] | undefined> {
    const scope = scopeOf(vreq);
    const found: { label: Uint8Array; messageId: Uint8Array }[] = [];
    let cursor: { sendTime: number; messageId: Uint8Array } | undefined;
    for (;;) {
      const page = await this.storage.access.scanEnvelopeHeads(
        scope.orgId,
        scope.window.from,
        scope.window.until,
        cursor,
        SCAN_PAGE,
      );
      for (const e of page) {
        let header: ReturnType<typeof decodeHeader>;
        try {
          header = decodeHeader(e.header);
        } catch (err) {
          if (isOvertError(err)) continue;
          throw err;
        }
        if (e.signature.length !== 64 || !inScope(header, scope).inScope) continue;
        found.push({ label: envelopeLabel(e.header), messageId: e.messageId });
        if (found.length > limit) return undefined;
      }
      if (page.length < SCAN_PAGE) break;
      const last = page[page.length - 1]!;
      cursor = { sendTime: last.sendTime, messageId: last.messageId };
    }
    found.sort((a, b) => compareBytes(a.label, b.label));
    return found.map((f, position) => ({ position, label: f.label, messageId: f.messageId }));
  }

  /** The execution of the request, or ACCESS_NOT_EXECUTED. */
  async executionOf(caller: AccessCaller, requestId: Uint8Array): Promise<ExecutionRecord> {
    await this.requestFor(caller, requestId);
    const x = await this.storage.access.getExecution(requestId);
    if (x === undefined) throw new RelayError('ACCESS_NOT_EXECUTED', 'the request has no execution');
    return x;
  }

  /** A page of the executed envelopes from `from` on, each with its stored head. */
  async envelopes(
    caller: AccessCaller,
    requestId: Uint8Array,
    from: number,
    limit: number,
  ): Promise<{ envelopes: ServedEnvelope[]; next: number | null }> {
    const x = await this.executionOf(caller, requestId);
    const list = await this.storage.access.listSelection(requestId, from, limit);
    const envelopes: ServedEnvelope[] = [];
    for (const s of list) {
      const envelope = await this.storage.getEnvelope(s.messageId);
      // Retention may have deleted it since: it is then left out (the trustees refuse a missing label, REL-4).
      if (envelope !== undefined) envelopes.push({ ...s, envelope });
    }
    const last = list[list.length - 1];
    const request = await this.storage.access.getRequest(requestId);
    // An order's positions are batch·1024 + i over all its batches (after-release.md §8.3): a full page goes on.
    const order = request !== undefined && isOrderRecord(request.signed);
    const next =
      last === undefined
        ? null
        : order
          ? list.length === limit
            ? last.position + 1
            : null
          : last.position + 1 < x.envelopeCount
            ? last.position + 1
            : null;
    return { envelopes, next };
  }

  /** The stored envelope at `position` of the execution (its ciphertext is served by the route). */
  async executedEnvelope(
    caller: RequesterCaller,
    requestId: Uint8Array,
    position: number,
  ): Promise<EnvelopeRecord> {
    await this.executionOf(caller, requestId);
    const s = await this.storage.access.getSelected(requestId, position);
    const e = s === undefined ? undefined : await this.storage.getEnvelope(s.messageId);
    if (e === undefined) throw new RelayError('ACCESS_ENVELOPE_UNKNOWN', 'no such executed envelope');
    return e;
  }

  /** The log indices of a device's entries (its `device_added`, and `device_removed` when logged). */
  async device(deviceId: string): Promise<DeviceRecord> {
    const d = await this.storage.getDevice(deviceId);
    if (d === undefined || d.status === 'pending' || d.enrolLogIndex === null)
      throw new RelayError('DIR_DEVICE_UNKNOWN', 'no such device');
    return d;
  }

  // ── Releases and refusals (§4) ─────────────────────────────────────────────────────────────────────────

  /**
   * Logs a trustee's release of one batch and stores its bundle: verifies under the policy in force and the
   * logged execution (ACC-L1), signed by the caller (ACC-L2), the batch within the execution and its share count
   * within the batch (ACC-L5), SHA-256(bundle) = bundle_hash (ACC-L3), one release per (request, trustee, batch):
   * the same bytes again answer the stored one (`created` false), others ACCESS_RELEASE_CONFLICT (ACC-L4).
   */
  async submitRelease(
    caller: TrusteeCaller,
    signed: Uint8Array,
    bundle: Uint8Array,
    batch: number,
  ): Promise<{ index: number; created: boolean }> {
    const inForce = caller.inForce;
    return this.exclusive(async () => {
      const requestId = asAccess(
        'ACCESS_RELEASE_INVALID',
        'ACC-L1',
        () =>
          decodeRelease(decodeSigned(signed, MAX_ENTRY_SIGNED_BODY, 'RELEASE_INVALID', 'WF-L1').body)
            .requestId,
      );
      const request = await this.storage.access.getRequest(requestId);
      let x = request === undefined ? undefined : await this.storage.access.getExecution(requestId);
      if (request === undefined || x === undefined)
        throw new RelayError('ACCESS_RELEASE_INVALID', 'the release names no logged execution', {
          check: 'ACC-L1',
        });
      const order = isOrderRecord(request.signed);
      if (order) {
        // A standing order: the release names one of its batch executions by hash (after-release.md §8.3).
        const named = decodeRelease(
          decodeSigned(signed, MAX_ENTRY_SIGNED_BODY, 'RELEASE_INVALID', 'WF-L1').body,
        ).executionHash;
        const batches = await this.storage.access.listOrderBatches(requestId);
        x = batches.find((b) => equalBytes(executionHash(signedBodyOf(b.signed)), named));
        if (x === undefined)
          throw new RelayError('ACCESS_RELEASE_INVALID', 'the release names no logged batch', {
            check: 'ACC-L1',
          });
      }
      const execution = await this.verifiedExecution(await this.policyOf(inForce, request), request, x);
      const r = asAccess('ACCESS_RELEASE_INVALID', 'ACC-L1', () =>
        verifyRelease(signed, inForce.policy, execution),
      );
      if (r.release.trusteeIndex !== caller.index)
        throw forbidden('ACC-L2', 'the release is signed for another trustee');
      if (order) {
        if (batch !== execution.execution.batch || r.release.shareCount > x.envelopeCount)
          throw new RelayError('ACCESS_RELEASE_INVALID', "the batch is not the execution's", {
            check: 'ACC-L5',
          });
      } else {
        const batches = batchCount(x.envelopeCount);
        const range = batch < batches ? batchRange(batch, x.envelopeCount) : { start: 0, end: 0 };
        if (batch >= Math.max(batches, 1) || r.release.shareCount > range.end - range.start)
          throw new RelayError('ACCESS_RELEASE_INVALID', 'the batch is not one of the execution', {
            check: 'ACC-L5',
          });
      }
      if (!equalBytes(sha256(bundle), r.release.bundleHash))
        throw new RelayError('ACCESS_BUNDLE_MISMATCH', 'the bundle does not match the release', {
          check: 'ACC-L3',
        });
      const stored = await this.storage.access.getRelease(requestId, caller.index, batch);
      if (stored !== undefined) {
        if (equalBytes(stored.signed, signed) && equalBytes(stored.bundle, bundle))
          return { index: stored.logIndex, created: false };
        throw new RelayError('ACCESS_RELEASE_CONFLICT', 'another release of this batch is stored', {
          check: 'ACC-L4',
        });
      }
      const logIndex = await this.append(T.release, signed);
      await this.storage.access.putRelease({
        requestId,
        trusteeIndex: caller.index,
        batch,
        signed,
        bundle,
        bundleHash: r.release.bundleHash,
        logIndex,
        receivedAt: this.now(),
      });
      return { index: logIndex, created: true };
    });
  }

  private async verifiedExecution(
    inForce: PolicyInForce,
    request: AccessRequestRecord,
    x: ExecutionRecord | OrderBatchRecord,
  ): Promise<VerifiedExecution> {
    if (this.accessKey === undefined)
      throw new RelayError('ACCESS_DISABLED', 'the relay has no execution key', { check: 'ACC-X1' });
    const vreq = this.verified(inForce, request);
    const logged = await this.logged(inForce, vreq);
    const key = this.accessKey.publicKey;
    return asAccess('ACCESS_RELEASE_INVALID', 'ACC-L1', () =>
      verifyExecution(x.signed, key, inForce.policy, vreq, logged),
    );
  }

  /** A stored bundle, for the request's requester. */
  async bundle(
    caller: RequesterCaller,
    requestId: Uint8Array,
    trustee: number,
    batch: number,
  ): Promise<Uint8Array> {
    await this.requestFor(caller, requestId);
    const r = await this.storage.access.getRelease(requestId, trustee, batch);
    if (r === undefined) throw new RelayError('ACCESS_RELEASE_UNKNOWN', 'no such release');
    return r.bundle;
  }

  /**
   * Logs a trustee's refusal: it verifies under the policy in force, bound to the logged request (ACC-F1), and
   * is signed by the caller (ACC-F2); a byte-identical repeat answers its index.
   */
  async submitRefusal(
    caller: TrusteeCaller,
    signed: Uint8Array,
  ): Promise<{ index: number; created: boolean }> {
    const inForce = caller.inForce;
    return this.exclusive(async () => {
      const requestId = asAccess(
        'ACCESS_REFUSAL_INVALID',
        'ACC-F1',
        () =>
          decodeRefusal(decodeSigned(signed, MAX_ENTRY_SIGNED_BODY, 'REFUSAL_INVALID', 'WF-F1').body)
            .requestId,
      );
      const request = await this.storage.access.getRequest(requestId);
      if (request === undefined)
        throw new RelayError('ACCESS_REFUSAL_INVALID', 'the refusal names no logged request', {
          check: 'ACC-F1',
        });
      const v = asAccess('ACCESS_REFUSAL_INVALID', 'ACC-F1', () =>
        verifyRefusal(signed, inForce.policy, { requestId, hash: request.requestHash }),
      );
      if (v.refusal.trusteeIndex !== caller.index)
        throw forbidden('ACC-F2', 'the refusal is signed for another trustee');
      const entries = await this.storage.access.listEntries(requestId);
      const repeat = entries.find((e) => e.type === T.refusal && equalBytes(e.body, signed));
      if (repeat !== undefined) return { index: repeat.logIndex, created: false };
      const index = await this.append(T.refusal, signed);
      await this.storage.access.putEntry({ logIndex: index, requestId, type: T.refusal, body: signed });
      return { index, created: true };
    });
  }

  // ── Standing orders (after-release.md §8.3) ─────────────────────────────────────────────────────────────

  /**
   * One pass of the order task: for every approved standing order in force, selects the envelopes received since
   * its last batch that are in its scope and whose in-scope subject is in the recorded group of the policy in force
   * now (ORD-S1 as the trustees will judge it at the batch's position), at most `max_envelopes`, and — when there is
   * at least one — signs, logs and stores a batch execution (ORD-R2). Resolves the batches logged.
   */
  async runOrders(): Promise<OrderBatchRecord[]> {
    const signer = this.accessKey;
    if (signer === undefined) return [];
    const logged: OrderBatchRecord[] = [];
    let after = -1;
    for (;;) {
      const page = await this.storage.access.listRequests(after, 256);
      for (const r of page) {
        if (r.status === 'denied' || !isOrderRecord(r.signed)) continue;
        const b = await this.exclusive(() => this.orderBatch(r, signer));
        if (b !== undefined) logged.push(b);
      }
      if (page.length < 256) return logged;
      after = page[page.length - 1]!.logIndex;
    }
  }

  private async orderBatch(
    r: AccessRequestRecord,
    signer: SigningKeyPair,
  ): Promise<OrderBatchRecord | undefined> {
    const now = this.now();
    const current = await policyInForce(this.storage);
    if (current === undefined) return undefined;
    const inForce = await this.policyOf(current, r);
    let vreq: VerifiedRequest;
    try {
      vreq = verifyRequest(r.signed, inForce.policy);
    } catch (e) {
      if (isOvertError(e)) return undefined;
      throw e;
    }
    const q = vreq.request;
    if (now < q.window.from) return undefined;
    const batches = await this.storage.access.listOrderBatches(q.requestId);
    const last = batches[batches.length - 1];
    // Past its end, an order is done once a batch has scanned beyond the end (late envelopes of the window).
    if (last !== undefined && last.scannedUntil >= q.window.until + ORDER_LOOKBACK_MS) return undefined;
    const decisions = await this.logged(inForce, vreq);
    try {
      checkApprovalQuorum(inForce.policy, vreq, decisions);
    } catch (e) {
      if (isOvertError(e)) return undefined;
      throw e;
    }
    const recorded = current.policy.policy.recorded ?? [];
    if (!q.subjects.some((u) => recorded.includes(u))) return undefined;
    const scope = scopeOf(vreq);
    const limit = Math.min(q.maxEnvelopes, inForce.policy.policy.limits.maxEnvelopes, ORDER_BATCH_MAX);
    const from =
      last === undefined ? q.window.from - ORDER_FIRST_SCAN_SKEW_MS : last.scannedUntil - ORDER_LOOKBACK_MS;
    const found: { label: Uint8Array; messageId: Uint8Array }[] = [];
    const taken = new Set<string>();
    let cursor: { receivedAt: number; messageId: Uint8Array } | undefined;
    let scannedUntil = last?.scannedUntil ?? from;
    scan: for (;;) {
      const page = await this.storage.access.scanEnvelopesReceived(q.orgId, from, cursor, SCAN_PAGE);
      for (const e of page) {
        // Only what was received before this pass: the next batch starts from here.
        if (e.receivedAt > now) break scan;
        cursor = { receivedAt: e.receivedAt, messageId: e.messageId };
        let header: ReturnType<typeof decodeHeader>;
        try {
          header = decodeHeader(e.header);
        } catch (err) {
          if (isOvertError(err)) continue;
          throw err;
        }
        if (e.signature.length !== 64 || !inOrderScope(header, scope, recorded).inScope) continue;
        const key = Buffer.from(e.messageId).toString('hex');
        if (taken.has(key) || (await this.storage.access.isSelected(q.requestId, e.messageId))) continue;
        if (found.length === limit) break scan;
        taken.add(key);
        found.push({ label: envelopeLabel(e.header), messageId: e.messageId });
        scannedUntil = Math.max(scannedUntil, e.receivedAt);
      }
      if (page.length < SCAN_PAGE) {
        scannedUntil = Math.max(scannedUntil, now);
        break;
      }
    }
    if (found.length === 0) return undefined;
    found.sort((a, b) => compareBytes(a.label, b.label));
    const batch = last === undefined ? 0 : last.batch + 1;
    const approving = new Set(approvingTrustees(decisions));
    const approvals: VerifiedDecision[] = [];
    const seen = new Set<number>();
    for (const d of decisions.decisions) {
      const i = d.decision.trusteeIndex;
      if (d.decision.verdict === 'approve' && approving.has(i) && !seen.has(i)) {
        seen.add(i);
        approvals.push(d);
      }
    }
    const signed = signExecution(
      batchExecutionFor(
        vreq,
        approvals,
        found.map((f) => f.label),
        now,
        batch,
      ),
      signer,
    );
    const logIndex = await this.append(T.execution, signed);
    const record: OrderBatchRecord = {
      requestId: q.requestId,
      batch,
      logIndex,
      signed,
      envelopeCount: found.length,
      executedAt: now,
      scannedUntil,
    };
    await this.storage.access.putOrderBatch(
      record,
      found.map((f, i) => ({
        position: batch * ORDER_BATCH_MAX + i,
        label: f.label,
        messageId: f.messageId,
      })),
    );
    return record;
  }

  // ── Unseals (after-release.md §1) ──────────────────────────────────────────────────────────────────────

  /**
   * The relay's unseal task, one pass (ACC-U4): every request it holds a part for, with no unseal recorded and
   * seal-until in force ≤ now, is opened with its unseal key, signed with its execution key and appended as
   * `u8 10 ‖ signed unseal`. Resolves the log indices appended. A request whose part no longer opens is skipped.
   */
  async unsealDue(): Promise<number[]> {
    const key = this.unsealKey;
    const signer = this.accessKey;
    if (key === undefined || signer === undefined) return [];
    const appended: number[] = [];
    let after = -1;
    for (;;) {
      const page = await this.storage.access.listUnsealCandidates(after, 256);
      for (const r of page) {
        const index = await this.exclusive(async () => {
          if ((await this.storage.access.getUnseal(r.requestId)) !== undefined) return undefined;
          const entries = await this.storage.access.listEntries(r.requestId);
          const now = this.now();
          // Cheap first (no signature check): not due yet is the common case at every pass.
          let sealUntil: number;
          try {
            sealUntil = decodeRequest(
              decodeSigned(r.signed, MAX_ENTRY_SIGNED_BODY, 'REQUEST_INVALID', 'WF-R1').body,
            ).sealUntil;
          } catch (e) {
            if (isOvertError(e)) return undefined;
            throw e;
          }
          if (sealInForce(sealUntil, entries).sealUntil > now) return undefined;
          const inForce = await policyInForce(this.storage);
          if (inForce === undefined) return undefined;
          let vreq: VerifiedRequest;
          try {
            vreq = verifyRequest(r.signed, inForce.policy);
          } catch (e) {
            if (isOvertError(e)) return undefined;
            throw e;
          }
          const part = await this.storage.access.getRelayPart(r.requestId);
          if (part === undefined) return undefined;
          let opening: Awaited<ReturnType<typeof openConfidential>>;
          try {
            opening = await openConfidential(key.secretKey, RELAY_PART_INDEX, vreq, part);
          } catch (e) {
            if (isOvertError(e)) return undefined;
            throw e;
          }
          const signed = signUnseal(unsealFor(vreq, opening, PUBLISHER_RELAY, now), signer);
          const logIndex = await this.append(T.unseal, signed);
          await this.storage.access.putUnseal({
            requestId: r.requestId,
            logIndex,
            signed,
            publisher: PUBLISHER_RELAY,
            receivedAt: now,
          });
          return logIndex;
        });
        if (index !== undefined) appended.push(index);
      }
      if (page.length < 256) return appended;
      after = page[page.length - 1]!.logIndex;
    }
  }

  /**
   * Logs a trustee's unseal (after-release.md §1): it verifies under the policy in force and the logged request
   * (ACC-U1) and only once seal-until in force has passed on the relay's clock (ACC-U5); its publisher is the
   * calling trustee (ACC-U2); one per request (ACC-U3: the same bytes again answer its index, `created` false).
   */
  async submitUnseal(
    caller: TrusteeCaller,
    signed: Uint8Array,
  ): Promise<{ index: number; created: boolean }> {
    const inForce = caller.inForce;
    return this.exclusive(async () => {
      const u = asAccess('ACCESS_UNSEAL_INVALID', 'ACC-U1', () =>
        decodeUnseal(decodeSigned(signed, MAX_ENTRY_SIGNED_BODY, 'UNSEAL_INVALID', 'WF-U1').body),
      );
      const request = await this.storage.access.getRequest(u.requestId);
      if (request === undefined)
        throw new RelayError('ACCESS_UNSEAL_INVALID', 'the unseal names no logged request', {
          check: 'ACC-U1',
        });
      const vreq = this.verified(inForce, request);
      const relayKey = this.accessKey?.publicKey ?? new Uint8Array(32);
      asAccess('ACCESS_UNSEAL_INVALID', 'ACC-U1', () => verifyUnseal(signed, inForce.policy, vreq, relayKey));
      if (u.publisher === PUBLISHER_RELAY || u.publisher !== caller.index)
        throw forbidden('ACC-U2', 'the unseal is published for another party');
      const stored = await this.storage.access.getUnseal(u.requestId);
      if (stored !== undefined) {
        if (equalBytes(stored.signed, signed)) return { index: stored.logIndex, created: false };
        throw new RelayError('ACCESS_UNSEAL_EXISTS', 'the request has an unseal', { check: 'ACC-U3' });
      }
      const entries = await this.storage.access.listEntries(u.requestId);
      const now = this.now();
      if (sealInForce(vreq.request.sealUntil, entries).sealUntil > now)
        throw new RelayError('ACCESS_UNSEAL_INVALID', 'the seal is still in force', { check: 'ACC-U5' });
      const logIndex = await this.append(T.unseal, signed);
      await this.storage.access.putUnseal({
        requestId: u.requestId,
        logIndex,
        signed,
        publisher: u.publisher,
        receivedAt: now,
      });
      return { index: logIndex, created: true };
    });
  }

  /** Requests with a logged unseal, in log order of the unseal (public). */
  listUnsealed(after: number, limit: number): Promise<UnsealRecord[]> {
    return this.storage.access.listUnseals(after, limit);
  }

  /** Every logged entry of an unsealed request (public); ACCESS_NOT_UNSEALED before its unseal is logged. */
  async publicView(requestId: Uint8Array): Promise<PublicView> {
    const unseal = await this.storage.access.getUnseal(requestId);
    const request = await this.storage.access.getRequest(requestId);
    if (unseal === undefined || request === undefined)
      throw new RelayError('ACCESS_NOT_UNSEALED', 'the request is not unsealed');
    const entries = await this.storage.access.listEntries(requestId);
    return {
      request,
      unseal,
      decisions: entries.filter((e) => e.type === T.decision),
      execution: await this.storage.access.getExecution(requestId),
      batches: isOrderRecord(request.signed) ? await this.storage.access.listOrderBatches(requestId) : [],
      releases: await this.storage.access.listReleases(requestId),
      refusals: entries.filter((e) => e.type === T.refusal),
      extensions: entries.filter((e) => e.type === T.extension),
    };
  }

  /** A page of an unsealed request's execution labels in position order (public). */
  async publicLabels(
    requestId: Uint8Array,
    from: number,
    limit: number,
  ): Promise<{ labels: SelectedEnvelope[]; next: number | null }> {
    if ((await this.storage.access.getUnseal(requestId)) === undefined)
      throw new RelayError('ACCESS_NOT_UNSEALED', 'the request is not unsealed');
    const x = await this.storage.access.getExecution(requestId);
    if (x === undefined) throw new RelayError('ACCESS_NOT_EXECUTED', 'the request has no execution');
    const labels = await this.storage.access.listSelection(requestId, from, limit);
    const last = labels[labels.length - 1];
    return {
      labels,
      next: last !== undefined && last.position + 1 < x.envelopeCount ? last.position + 1 : null,
    };
  }

  // ── Extensions (after-release.md §2) ───────────────────────────────────────────────────────────────────

  /**
   * A requester proposes to push its request's seal back (ACC-E1): the relay fixes the statement (number = logged
   * links + 1, old = seal-until in force, issued_at = its clock) and stores it for the trustees to sign. Nothing
   * is logged yet.
   */
  async proposeExtension(
    caller: RequesterCaller,
    requestId: Uint8Array,
    newSealUntil: number,
    reason: string,
  ): Promise<ExtensionProposalRecord> {
    return this.exclusive(async () => {
      const request = await this.requestFor(caller, requestId);
      if ((await this.storage.access.getUnseal(requestId)) !== undefined)
        throw new RelayError('ACCESS_UNSEALED', 'the request is unsealed', { check: 'ACC-E1' });
      const vreq = this.verified(caller.inForce, request);
      const entries = await this.storage.access.listEntries(requestId);
      const force = sealInForce(vreq.request.sealUntil, entries);
      const issuedAt = this.now();
      if (issuedAt > force.sealUntil)
        throw new RelayError('ACCESS_SEAL_EXPIRED', 'the seal date has passed', { check: 'ACC-E1' });
      const limits = caller.inForce.policy.policy.limits;
      if (
        newSealUntil <= force.sealUntil ||
        force.links + 1 > limits.maxExtensions ||
        newSealUntil - force.sealUntil > limits.maxSealMs
      )
        throw new RelayError('ACCESS_EXTENSION_LIMIT', 'the extension is beyond the policy limits', {
          check: 'ACC-E1',
        });
      const statement: ExtensionStatement = {
        version: EXTENSION_VERSION,
        orgId: vreq.request.orgId,
        requestId: vreq.request.requestId,
        requestHash: vreq.hash,
        number: force.links + 1,
        oldSealUntil: force.sealUntil,
        newSealUntil,
        issuedAt,
      };
      const encoded = asAccess('ACCESS_EXTENSION_LIMIT', 'ACC-E1', () => encodeExtensionStatement(statement));
      const p = { requestId, number: statement.number, statement: encoded, reason, proposedAt: issuedAt };
      const seq = await this.storage.access.putExtensionProposal(p);
      return { ...p, seq, signatures: [], logIndex: null };
    });
  }

  listExtensions(caller: AccessCaller, after: number, limit: number): Promise<ExtensionProposalRecord[]> {
    return this.storage.access.listExtensionProposals(
      after,
      limit,
      caller.kind === 'requester' ? caller.requesterId : undefined,
    );
  }

  /**
   * A trustee's signature on a stored proposal (ACC-E2: verified under its key of the policy in force, stored
   * once). With ≥ k signatures and the deadline not past (ACC-E4) the relay assembles the extension, checks it
   * with verifyExtension and appends `u8 9 ‖ extension` (ACC-E3).
   */
  async signExtension(
    caller: TrusteeCaller,
    requestId: Uint8Array,
    number: number,
    trustee: number,
    signature: Uint8Array,
  ): Promise<{ signers: number; index: number | null; created: boolean }> {
    if (trustee !== caller.index) throw forbidden('ACC-E2', 'the signature is for another trustee');
    const policy = caller.inForce.policy;
    return this.exclusive(async () => {
      const p = await this.storage.access.getExtensionProposal(requestId, number);
      if (p === undefined) throw new RelayError('ACCESS_EXTENSION_UNKNOWN', 'no such extension proposal');
      const key = findTrustee(policy.policy, trustee)?.signingKey;
      if (
        key === undefined ||
        signature.length !== 64 ||
        !verifyBody(TAG_EXTENSION_SIGNATURE, key, { body: p.statement, signature })
      )
        throw new RelayError('ACCESS_EXTENSION_INVALID', 'the signature does not verify', {
          check: 'ACC-E2',
        });
      if (p.logIndex !== null) return { signers: p.signatures.length, index: p.logIndex, created: false };
      const statement = decodeExtensionStatement(p.statement);
      if (this.now() > statement.oldSealUntil)
        throw new RelayError('ACCESS_SEAL_EXPIRED', 'the seal date has passed', { check: 'ACC-E4' });
      const repeat = p.signatures.some((g) => g.trustee === trustee);
      if (!repeat) await this.storage.access.putExtensionSignature(requestId, number, trustee, signature);
      const signatures = repeat ? [...p.signatures] : [...p.signatures, { trustee, signature }];
      signatures.sort((a, b) => a.trustee - b.trustee);
      if (signatures.length < policy.policy.threshold)
        return { signers: signatures.length, index: null, created: !repeat };
      const request = await this.storage.access.getRequest(requestId);
      if (request === undefined) throw new RelayError('ACCESS_REQUEST_UNKNOWN', 'no such request');
      const vreq = this.verified(caller.inForce, request);
      if ((await this.storage.access.getUnseal(requestId)) !== undefined)
        throw new RelayError('ACCESS_UNSEALED', 'the request is unsealed', { check: 'ACC-E3' });
      const entries = await this.storage.access.listEntries(requestId);
      let previous: VerifiedExtension | undefined;
      for (const e of entries)
        if (e.type === T.extension)
          previous = asAccess('ACCESS_EXTENSION_INVALID', 'ACC-E3', () =>
            verifyExtension(e.body, policy, vreq, previous),
          );
      const x: Extension = {
        statement,
        signatures: signatures.map((g) => ({ trusteeIndex: g.trustee, signature: g.signature })),
      };
      const encoded = asAccess('ACCESS_EXTENSION_INVALID', 'ACC-E3', () => encodeExtension(x));
      asAccess('ACCESS_EXTENSION_INVALID', 'ACC-E3', () => verifyExtension(encoded, policy, vreq, previous));
      const logIndex = await this.append(T.extension, encoded);
      await this.storage.access.markExtensionLogged(requestId, number, logIndex, encoded);
      return { signers: signatures.length, index: logIndex, created: true };
    });
  }
}

/** The body of a signed object (u32 len ‖ body ‖ signature), for hashing a stored execution. */
function signedBodyOf(signed: Uint8Array): Uint8Array {
  return decodeSigned(signed, MAX_ENTRY_SIGNED_BODY, 'EXECUTION_INVALID', 'WF-E1').body;
}
