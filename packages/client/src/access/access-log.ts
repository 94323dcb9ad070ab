/**
 * The access workflow as a verified log shows it (docs/spec/after-release.md §5, workflow.md §9): one pass over the
 * entries of a log view, in log order, that keeps the org's policy in force along the log and verifies every
 * access entry (types 5–12) under the policy in force at its own position, bound to what the log verified before it.
 * What comes out — each request with its decisions, execution, releases, refusals, extension chain and unseal, and
 * the shreds — is the shared input of the public statistics (stats.ts), the overdue-seal check (`overt log verify`,
 * `overt log stats`, OVD-1) and the affected users' notices (notices.ts). Pure and browser-safe: no I/O, no clock.
 *
 * Rules, each a plain consequence of the verifiers in core:
 * - policy (type 1): in force from its position on when it verifies under the org key (and names the org, when
 *   one is given) and its serial is greater than the policy in force (directory.md §2, client.md §8.2);
 * - request (5): `verifyRequest` under the policy in force (its `policy_hash` must be that policy's, ACC-R1);
 * - decision (6): `verifyDecision` under the policy in force, about a request verified before it;
 * - execution (7): `verifyExecution` under the relay's key and the policy in force over every decision logged
 *   between the request and it (`decisionsOnLog`); a request's execution is its first that verifies (access.md §8);
 * - release (8): `verifyRelease` under the policy in force and the execution it names;
 * - refusal (12): `verifyRefusal` under the policy in force, bound to a request entry logged before it (a REL-1
 *   refusal may name a request that did not verify: counted, attributed to no requester);
 * - extension (9): `verifyExtension` under the policy in force, the next link of the request's chain;
 * - unseal (10): `verifyUnseal` under the policy in force and the relay's key; one per request (the first);
 * - shred (11): `verifyShred` under the policy in force; epoch `e` is shredded once `n − k + 1` distinct trustees
 *   of the policy in force at a shred of `e` have shredded it (workflow.md §9.6, as the client prunes, HIS-5).
 *
 * An entry byte-identical to an earlier one is a **repeat** (a retried append) and counts once. Every other access
 * entry that is not taken by these rules is **invalid**: it vouches for nothing and is otherwise ignored.
 */
import {
  compareBytes,
  decisionsOnLog,
  decodeDecision,
  decodeExecution,
  decodeExtension,
  decodeRefusal,
  decodeRelease,
  decodeRequest,
  decodeSigned,
  decodeUnseal,
  isOvertError,
  MAX_ENTRY_SIGNED_BODY,
  MAX_REQUEST_BYTES,
  POLICY_ENTRY_TYPE,
  requestHash,
  sha256,
  toHex,
  type VerifiedDecision,
  type VerifiedExecution,
  type VerifiedExtension,
  type VerifiedPolicy,
  type VerifiedRefusal,
  type VerifiedRelease,
  type VerifiedRequest,
  type VerifiedShred,
  type VerifiedUnseal,
  verifyDecision,
  verifyExecution,
  verifyExtension,
  verifyPolicyEntry,
  verifyRefusal,
  verifyRelease,
  verifyRequest,
  verifyShred,
  verifyUnseal,
} from '@overt/core';
import { merkleTreeHash } from '@overt/log';
import { ClientError } from '../errors.js';
import type { LogView } from './requester.js';

/** The log entry types of the access workflow (log.md §7, workflow.md §9). */
export const ACCESS_LOG_TYPES = {
  request: 5,
  decision: 6,
  execution: 7,
  release: 8,
  extension: 9,
  unseal: 10,
  shred: 11,
  refusal: 12,
} as const;

/** What a reader of the access log must be given besides the log view: keys that are not on the log. */
export interface AccessAnchors {
  /** The pinned org (admin) key: it signs every policy. */
  readonly orgKey: Uint8Array;
  /** The relay's execution key (`accessKey` in `/.well-known/overt`): executions and the relay's unseals. */
  readonly relayKey: Uint8Array;
  /** When given, only policies naming this org count. */
  readonly orgId?: string;
}

/** A verified object at a log index. */
export interface AtIndex<T> {
  readonly index: number;
  readonly value: T;
}

/** One request and everything the log verified about it, in log order. */
export interface AccessCaseRecord {
  readonly index: number;
  readonly request: VerifiedRequest;
  /** The policy in force at the request's position (the one it names). */
  readonly policy: VerifiedPolicy;
  readonly decisions: AtIndex<VerifiedDecision>[];
  execution?: AtIndex<VerifiedExecution>;
  readonly releases: AtIndex<VerifiedRelease>[];
  readonly refusals: AtIndex<VerifiedRefusal>[];
  /** The verified extension chain: number 1, 2, … */
  readonly extensions: AtIndex<VerifiedExtension>[];
  unseal?: AtIndex<VerifiedUnseal>;
}

/** A shred with the policy in force at its position. */
export interface ShredRecord {
  readonly index: number;
  readonly shred: VerifiedShred;
  readonly policy: VerifiedPolicy;
}

/** The access workflow of a log view. */
export interface AccessLog {
  /** Requests in log order. */
  readonly cases: readonly AccessCaseRecord[];
  /** Refusals that verify but name a request entry that did not itself verify (REL-1). */
  readonly unboundRefusals: readonly AtIndex<VerifiedRefusal>[];
  readonly shreds: readonly ShredRecord[];
  /** Epochs shredded by n − k + 1 distinct trustees of the policy in force at one of their shreds. */
  readonly shreddedEpochs: ReadonlySet<number>;
  /** Access entries (types 5–12) not taken: they do not verify, or name nothing verified before them. */
  readonly invalid: number;
  /** Access entries byte-identical to an earlier entry. */
  readonly repeats: number;
  /** The policy in force at the end of the view. */
  readonly policy: VerifiedPolicy | undefined;
}

/** Runs `f` on attacker-controlled bytes: our own OvertError means "does not verify" (undefined). */
function attempt<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (isOvertError(e)) return undefined;
    throw e;
  }
}

function body(entry: Uint8Array): Uint8Array {
  return entry.subarray(1);
}

/** The signed object's body, or undefined when the framing is malformed. */
function signedBody(entry: Uint8Array): Uint8Array | undefined {
  return attempt(() => decodeSigned(body(entry), MAX_ENTRY_SIGNED_BODY, 'REQUEST_INVALID', 'WF-R1').body);
}

/**
 * The seal-until in force of a request (workflow.md §9.8): its own, replaced by each link of its verified
 * extension chain.
 */
export function sealUntilInForce(c: AccessCaseRecord): number {
  const last = c.extensions[c.extensions.length - 1];
  return last === undefined ? c.request.request.sealUntil : last.value.extension.statement.newSealUntil;
}

/**
 * Checks that a log view holds exactly its checkpoint's entries (their RFC 6962 tree hash is the checkpoint's
 * root). ClientError ACCESS_INVALID (`check`) otherwise.
 */
export function checkLogView(view: LogView, check: string): void {
  if (view.entries.length !== view.checkpoint.size)
    throw new ClientError('ACCESS_INVALID', 'the log view does not hold every entry of its checkpoint', {
      check,
    });
  const root = merkleTreeHash(view.entries as Uint8Array[]);
  if (compareBytes(root, view.checkpoint.rootHash) !== 0)
    throw new ClientError('ACCESS_INVALID', "the log view's entries do not hash to its checkpoint's root", {
      check,
    });
}

/**
 * Reads the access workflow of `entries` (a verified view's entries 0 … size − 1, in order) under the module rules.
 * Deterministic: the same entries and anchors give the same result. Never throws on malformed entries.
 */
export function readAccessLog(entries: readonly Uint8Array[], anchors: AccessAnchors): AccessLog {
  let policy: VerifiedPolicy | undefined;
  const cases: AccessCaseRecord[] = [];
  const byHash = new Map<string, AccessCaseRecord>();
  /** Every request entry body (verified or not) by its hash, with its request id: what a refusal may name. */
  const requestEntries = new Map<string, Uint8Array>();
  const executions = new Map<string, AccessCaseRecord>();
  const unboundRefusals: AtIndex<VerifiedRefusal>[] = [];
  const shreds: ShredRecord[] = [];
  const shreddedBy = new Map<number, Set<number>>();
  const shreddedEpochs = new Set<number>();
  const seen = new Set<string>();
  let invalid = 0;
  let repeats = 0;

  entries.forEach((entry, index) => {
    const type = entry[0];
    if (type === POLICY_ENTRY_TYPE) {
      const p = attempt(() => verifyPolicyEntry(anchors.orgKey, entry));
      if (p === undefined) return;
      if (anchors.orgId !== undefined && p.policy.orgId !== anchors.orgId) return;
      if (policy !== undefined && p.policy.serial <= policy.policy.serial) return;
      policy = p;
      return;
    }
    if (type === undefined || type < ACCESS_LOG_TYPES.request || type > ACCESS_LOG_TYPES.refusal) return;
    const digest = toHex(sha256(entry));
    if (seen.has(digest)) {
      repeats++;
      return;
    }
    seen.add(digest);
    const taken = policy !== undefined && take(type, entry, index, policy);
    if (!taken) invalid++;
  });

  function caseOf(hash: Uint8Array): AccessCaseRecord | undefined {
    return byHash.get(toHex(hash));
  }

  function take(type: number, entry: Uint8Array, index: number, p: VerifiedPolicy): boolean {
    switch (type) {
      case ACCESS_LOG_TYPES.request: {
        const sb = attempt(
          () => decodeSigned(body(entry), MAX_REQUEST_BYTES, 'REQUEST_INVALID', 'WF-R1').body,
        );
        const q = sb && attempt(() => decodeRequest(sb));
        if (sb !== undefined && q !== undefined) requestEntries.set(toHex(requestHash(sb)), q.requestId);
        const request = attempt(() => verifyRequest(body(entry), p));
        if (request === undefined || byHash.has(toHex(request.hash))) return false;
        const c: AccessCaseRecord = {
          index,
          request,
          policy: p,
          decisions: [],
          releases: [],
          refusals: [],
          extensions: [],
        };
        cases.push(c);
        byHash.set(toHex(request.hash), c);
        return true;
      }
      case ACCESS_LOG_TYPES.decision: {
        const sb = signedBody(entry);
        const d = sb && attempt(() => decodeDecision(sb));
        const c = d && caseOf(d.requestHash);
        const v = c && attempt(() => verifyDecision(body(entry), p, c.request));
        if (c === undefined || v === undefined) return false;
        c.decisions.push({ index, value: v });
        return true;
      }
      case ACCESS_LOG_TYPES.execution: {
        const sb = signedBody(entry);
        const x = sb && attempt(() => decodeExecution(sb));
        const c = x && caseOf(x.requestHash);
        if (c === undefined || c.execution !== undefined) return false;
        const v = attempt(() => {
          const logged = decisionsOnLog(p, c.request, entries.slice(c.index + 1, index));
          return verifyExecution(body(entry), anchors.relayKey, p, c.request, logged);
        });
        if (v === undefined) return false;
        c.execution = { index, value: v };
        executions.set(toHex(v.hash), c);
        return true;
      }
      case ACCESS_LOG_TYPES.release: {
        const sb = signedBody(entry);
        const r = sb && attempt(() => decodeRelease(sb));
        const c = r && executions.get(toHex(r.executionHash));
        const ex = c?.execution?.value;
        const v = ex && attempt(() => verifyRelease(body(entry), p, ex));
        if (c === undefined || v === undefined) return false;
        c.releases.push({ index, value: v });
        return true;
      }
      case ACCESS_LOG_TYPES.refusal: {
        const sb = signedBody(entry);
        const f = sb && attempt(() => decodeRefusal(sb));
        const named = f && requestEntries.get(toHex(f.requestHash));
        if (f === undefined || named === undefined || compareBytes(named, f.requestId) !== 0) return false;
        const c = caseOf(f.requestHash);
        const v = attempt(() =>
          verifyRefusal(body(entry), p, { requestId: f.requestId, hash: f.requestHash }),
        );
        if (v === undefined) return false;
        if (c !== undefined) c.refusals.push({ index, value: v });
        else unboundRefusals.push({ index, value: v });
        return true;
      }
      case ACCESS_LOG_TYPES.extension: {
        const x = attempt(() => decodeExtension(body(entry)));
        const c = x && caseOf(x.statement.requestHash);
        if (c === undefined) return false;
        const previous = c.extensions[c.extensions.length - 1]?.value;
        const v = attempt(() => verifyExtension(body(entry), p, c.request, previous));
        if (v === undefined) return false;
        c.extensions.push({ index, value: v });
        return true;
      }
      case ACCESS_LOG_TYPES.unseal: {
        const sb = signedBody(entry);
        const u = sb && attempt(() => decodeUnseal(sb));
        const c = u && caseOf(u.requestHash);
        if (c === undefined || c.unseal !== undefined) return false;
        const v = attempt(() => verifyUnseal(body(entry), p, c.request, anchors.relayKey));
        if (v === undefined) return false;
        c.unseal = { index, value: v };
        return true;
      }
      case ACCESS_LOG_TYPES.shred: {
        const v = attempt(() => verifyShred(body(entry), p));
        if (v === undefined) return false;
        const { epoch, trusteeIndex } = v.shred;
        shreds.push({ index, shred: v, policy: p });
        const by = shreddedBy.get(epoch) ?? new Set<number>();
        by.add(trusteeIndex);
        shreddedBy.set(epoch, by);
        const trustees = p.policy.trustees.map((t) => t.index);
        const n = trustees.filter((t) => by.has(t)).length;
        if (n >= trustees.length - p.policy.threshold + 1) shreddedEpochs.add(epoch);
        return true;
      }
      default:
        return false;
    }
  }

  return { cases, unboundRefusals, shreds, shreddedEpochs, invalid, repeats, policy };
}
