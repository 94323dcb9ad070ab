/**
 * Public statistics of exceptional access (docs/spec/after-release.md §5, STAT-1): computed from a verified log view
 * and nothing else — no relay answer, no local state — so any auditor who reads the same checkpoint gets the same
 * numbers, byte for byte (only `now` and what depends on it, `seals.due` and `seals.overdue`, differ with the
 * clock). The counting rules are those of access-log.ts: only entries that verify under the policy in force at
 * their position count; the rest are `totals.invalid`, byte-identical repeats `totals.repeats`. Browser-safe: the
 * CLI's `overt log stats` and a web dashboard run this same function.
 */
import { overdueSeals, toBase64, toBase64Url, type VerifiedExecution } from '@overt/core';
import {
  type AccessAnchors,
  type AccessCaseRecord,
  checkLogView,
  readAccessLog,
  sealUntilInForce,
} from './access-log.js';
import type { LogView } from './requester.js';

export interface AccessTotals {
  /** Requests that verify under the policy in force at their position. */
  readonly requests: number;
  /** Distinct (request, trustee) pairs with a verified approval. */
  readonly approvals: number;
  /** Distinct (request, trustee) pairs with a verified denial. */
  readonly denials: number;
  /** Requests with a verified execution. */
  readonly executions: number;
  /** Sum of the executions' envelope counts. */
  readonly envelopesSelected: number;
  /** Sum over executed requests of the envelopes released (after-release.md §5). */
  readonly envelopesReleased: number;
  /** Verified release entries (one per trustee and batch). */
  readonly releases: number;
  /** Verified refusal entries. */
  readonly refusals: number;
  /** Distinct (request, label) pairs named by a verified refusal: envelopes at least one trustee refused. */
  readonly refusedEnvelopes: number;
  /** Verified extension links. */
  readonly extensions: number;
  /** Requests with a verified unseal. */
  readonly unseals: number;
  /** Distinct (epoch, trustee) pairs with a verified shred. */
  readonly shreds: number;
  /** Access entries that count for nothing (they do not verify, or name nothing verified before them). */
  readonly invalid: number;
  /** Access entries byte-identical to an earlier one (counted once). */
  readonly repeats: number;
}

export interface RequesterStats {
  readonly requests: number;
  readonly approvals: number;
  readonly denials: number;
  readonly executions: number;
  readonly envelopesReleased: number;
  readonly refusals: number;
}

export interface MonthStats {
  readonly requests: number;
  readonly approvals: number;
  readonly denials: number;
  readonly executions: number;
  readonly envelopesReleased: number;
  readonly refusals: number;
  readonly extensions: number;
  readonly unseals: number;
}

export interface SealDue {
  /** base64url of the 16-byte request id. */
  readonly requestId: string;
  /** The seal-until in force, ms. */
  readonly sealUntil: number;
}

export interface SealOverdue extends SealDue {
  /** now − sealUntil, > 0. */
  readonly overdueMs: number;
}

export interface EpochShreds {
  readonly epoch: number;
  /** Trustee indices with a verified shred of the epoch, ascending. */
  readonly shreddedBy: readonly number[];
  /** n − k + 1 distinct trustees of the policy in force at one of the shreds have shredded it. */
  readonly shredded: boolean;
}

export interface AccessStats {
  readonly checkpoint: { readonly origin: string; readonly size: number; readonly rootHash: string };
  readonly now: number;
  readonly totals: AccessTotals;
  /** By requester id, ids in ascending order. */
  readonly byRequester: Readonly<Record<string, RequesterStats>>;
  /** By UTC month `YYYY-MM` of each entry's own time field, months in ascending order. */
  readonly byMonth: Readonly<Record<string, MonthStats>>;
  readonly seals: {
    /** Requests without an unseal. */
    readonly sealed: number;
    /** Sealed requests whose seal-until in force is not yet past (`≥ now`), soonest first. */
    readonly due: readonly SealDue[];
    /** Sealed requests whose seal-until in force is past (core's overdueSeals), in log order. */
    readonly overdue: readonly SealOverdue[];
    /** Requests with a verified unseal. */
    readonly unsealed: number;
  };
  /** Every epoch with a verified shred, ascending. */
  readonly epochs: readonly EpochShreds[];
}

/** The largest time `Date` represents (±8.64e15 ms); a later stated time falls in no calendar month. */
const DATE_MAX = 8_640_000_000_000_000;

/** The UTC month `YYYY-MM` of a time in ms (workflow times are u64 ms ≤ 2^53 − 1). */
export function utcMonth(ms: number): string {
  if (ms > DATE_MAX) return 'out-of-range';
  const d = new Date(ms);
  return `${String(d.getUTCFullYear()).padStart(4, '0')}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

/**
 * The envelopes released for an execution: the k-th largest total `share_count` over the trustees' releases — the
 * envelopes at least k trustees released shares for (after-release.md §5). 0 with fewer than k releasing trustees.
 */
export function envelopesReleasedOf(c: AccessCaseRecord): number {
  const ex: VerifiedExecution | undefined = c.execution?.value;
  if (ex === undefined) return 0;
  const perTrustee = new Map<number, number>();
  for (const r of c.releases) {
    const t = r.value.release.trusteeIndex;
    perTrustee.set(t, (perTrustee.get(t) ?? 0) + r.value.release.shareCount);
  }
  const totals = [...perTrustee.values()].sort((a, b) => b - a);
  const kth = totals[c.policy.policy.threshold - 1] ?? 0;
  return Math.min(kth, ex.execution.envelopeCount);
}

function emptyRequester(): { -readonly [K in keyof RequesterStats]: number } {
  return { requests: 0, approvals: 0, denials: 0, executions: 0, envelopesReleased: 0, refusals: 0 };
}

function emptyMonth(): { -readonly [K in keyof MonthStats]: number } {
  return {
    requests: 0,
    approvals: 0,
    denials: 0,
    executions: 0,
    envelopesReleased: 0,
    refusals: 0,
    extensions: 0,
    unseals: 0,
  };
}

function sortedRecord<T>(m: Map<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of [...m.keys()].sort()) out[k] = m.get(k)!;
  return out;
}

/**
 * Computes the public statistics of a verified log view (after-release.md §5). `view` is a checkpoint verified
 * against the pinned log policy and every entry below its size; `anchors` the org key and the relay's execution key;
 * `now` the caller's clock (ms). Deterministic. Throws ClientError ACCESS_INVALID (STAT-1) when the entries are not
 * exactly the checkpoint's tree.
 */
export function computeAccessStats(view: LogView, anchors: AccessAnchors, now: number): AccessStats {
  checkLogView(view, 'STAT-1');
  const log = readAccessLog(view.entries, anchors);
  const requesters = new Map<string, ReturnType<typeof emptyRequester>>();
  const months = new Map<string, ReturnType<typeof emptyMonth>>();
  const month = (ms: number) => {
    const k = utcMonth(ms);
    const m = months.get(k) ?? emptyMonth();
    months.set(k, m);
    return m;
  };
  let approvals = 0;
  let denials = 0;
  let executions = 0;
  let envelopesSelected = 0;
  let envelopesReleased = 0;
  let releases = 0;
  let refusals = 0;
  let extensions = 0;
  let unseals = 0;
  const refusedEnvelopes = new Set<string>();

  for (const c of log.cases) {
    const q = c.request.request;
    const who = requesters.get(q.requesterId) ?? emptyRequester();
    requesters.set(q.requesterId, who);
    who.requests++;
    month(q.createdAt).requests++;
    const decided = new Set<string>();
    for (const { value: d } of c.decisions) {
      const key = `${d.decision.trusteeIndex}/${d.decision.verdict}`;
      if (decided.has(key)) continue;
      decided.add(key);
      if (d.decision.verdict === 'approve') {
        approvals++;
        who.approvals++;
        month(d.decision.decidedAt).approvals++;
      } else {
        denials++;
        who.denials++;
        month(d.decision.decidedAt).denials++;
      }
    }
    if (c.execution !== undefined) {
      const x = c.execution.value.execution;
      const released = envelopesReleasedOf(c);
      executions++;
      who.executions++;
      envelopesSelected += x.envelopeCount;
      envelopesReleased += released;
      who.envelopesReleased += released;
      const m = month(x.executedAt);
      m.executions++;
      m.envelopesReleased += released;
    }
    releases += c.releases.length;
    for (const { value: f } of c.refusals) {
      refusals++;
      who.refusals++;
      month(f.refusal.refusedAt).refusals++;
      if (f.refusal.label !== undefined)
        refusedEnvelopes.add(`${toBase64(c.request.hash)}/${toBase64(f.refusal.label)}`);
    }
    for (const { value: x } of c.extensions) {
      extensions++;
      month(x.extension.statement.issuedAt).extensions++;
    }
    if (c.unseal !== undefined) {
      unseals++;
      month(c.unseal.value.unseal.unsealedAt).unseals++;
    }
  }
  for (const { value: f } of log.unboundRefusals) {
    refusals++;
    month(f.refusal.refusedAt).refusals++;
    if (f.refusal.label !== undefined)
      refusedEnvelopes.add(`${toBase64(f.refusal.requestHash)}/${toBase64(f.refusal.label)}`);
  }

  const shreddedBy = new Map<number, Set<number>>();
  for (const s of log.shreds) {
    const by = shreddedBy.get(s.shred.shred.epoch) ?? new Set<number>();
    by.add(s.shred.shred.trusteeIndex);
    shreddedBy.set(s.shred.shred.epoch, by);
  }
  const epochs: EpochShreds[] = [...shreddedBy.keys()]
    .sort((a, b) => a - b)
    .map((epoch) => ({
      epoch,
      shreddedBy: [...shreddedBy.get(epoch)!].sort((a, b) => a - b),
      shredded: log.shreddedEpochs.has(epoch),
    }));
  const shreds = [...shreddedBy.values()].reduce((n, s) => n + s.size, 0);

  const overdue = overdueSeals(
    log.cases.map((c) => c.request),
    log.cases.flatMap((c) => c.extensions.map((x) => x.value)),
    log.cases.flatMap((c) => (c.unseal ? [c.unseal.value] : [])),
    now,
  ).map((o) => ({ requestId: toBase64Url(o.requestId), sealUntil: o.sealUntil, overdueMs: o.overdueMs }));
  const sealed = log.cases.filter((c) => c.unseal === undefined);
  const due = sealed
    .map((c) => ({ requestId: toBase64Url(c.request.request.requestId), sealUntil: sealUntilInForce(c) }))
    .filter((d) => d.sealUntil >= now)
    .sort(
      (a, b) =>
        a.sealUntil - b.sealUntil || (a.requestId < b.requestId ? -1 : a.requestId > b.requestId ? 1 : 0),
    );

  return {
    checkpoint: {
      origin: view.checkpoint.origin,
      size: view.checkpoint.size,
      rootHash: toBase64(view.checkpoint.rootHash),
    },
    now,
    totals: {
      requests: log.cases.length,
      approvals,
      denials,
      executions,
      envelopesSelected,
      envelopesReleased,
      releases,
      refusals,
      refusedEnvelopes: refusedEnvelopes.size,
      extensions,
      unseals,
      shreds,
      invalid: log.invalid,
      repeats: log.repeats,
    },
    byRequester: sortedRecord(requesters),
    byMonth: sortedRecord(months),
    seals: { sealed: sealed.length, due, overdue, unsealed: unseals },
    epochs,
  };
}
