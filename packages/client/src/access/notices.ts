/**
 * Notices to the people whose messages were read (docs/spec/after-release.md §4, NOT-1; DESIGN §4 flow 8): once a
 * request is unsealed, each of its subjects' clients shows who asked, under what legal basis and justification,
 * approved (or denied) by which trustees, the window, and exactly which of this user's messages were opened — or
 * that none was.
 *
 * Everything comes from the client's verified log view (access-log.ts: the request, the unseal with the opening, the
 * decisions, the execution, the releases and the refusals, each verified under the policy in force at its
 * position) except the execution's labels, which the relay serves after unseal (`GET …/labels`) and which are
 * believed only when they are exactly the execution's set (`checkExecutionLabels`, WF-E6: count and Merkle root).
 * A label is **opened** when at least k trustees released it: trustee t released the label at position p when it
 * logged more than ⌊p / 1024⌋ releases for the execution (a trustee records and logs its batches in order, access.md
 * §5) and no refusal naming that label. The user's messages are matched by label against the headers this device
 * holds (sdk/headers.ts). Pure and browser-safe: the labels come through {@link LabelSource}.
 */
import {
  checkExecutionLabels,
  compareBytes,
  inScope,
  isOvertError,
  OvertError,
  RELEASE_BATCH,
  scopeOf,
  toBase64Url,
  toHex,
} from '@overt/core';
import { ClientError } from '../errors.js';
import type { HeldHeader } from '../sdk/headers.js';
import { type AccessCaseRecord, type AccessLog, sealUntilInForce } from './access-log.js';

/** One of the user's messages an unsealed request opened. */
export interface OpenedMessage {
  /** base64url of the 16-byte message id. */
  readonly messageId: string;
  /** base64url of the conversation id. */
  readonly conversation: string;
  /** The send time (ms). */
  readonly sentAt: number;
}

/** What the user is told about an unsealed request that named them (after-release.md §4). */
export interface Notice {
  /** base64url of the 16-byte request id. */
  readonly requestId: string;
  readonly requester: { readonly id: string; readonly name: string };
  readonly legalBasis: string;
  /** Hex of the warrant or order document's hash. */
  readonly documentHash: string;
  readonly justification: string;
  readonly caseReference: string;
  readonly approvedBy: readonly { readonly index: number; readonly name: string }[];
  readonly deniedBy: readonly { readonly index: number; readonly name: string }[];
  readonly window: { readonly from: number; readonly until: number };
  /** base64url conversation ids, or "all" when the request named none. */
  readonly conversations: readonly string[] | 'all';
  readonly filedAt: number;
  /** The seal-until in force when it was unsealed. */
  readonly sealUntil: number;
  readonly unsealedAt: number;
  readonly publisher: 'relay' | { readonly trustee: number };
  /** Whether an execution of the request is on the log (without one, nothing was selected, nothing opened). */
  readonly executed: boolean;
  /** Exactly this user's messages (held by this device) whose label was opened, by send time. */
  readonly opened: readonly OpenedMessage[];
  readonly openedCount: number;
  /** This user's messages held by this device that are in the request's scope (SCOPE-1..4). */
  readonly inScopeCount: number;
  /** The log index of the unseal. */
  readonly logIndex: number;
}

/** The execution's labels in position order, as the relay serves them (unchecked: checked here). */
export type LabelSource = (requestId: Uint8Array) => Promise<readonly Uint8Array[]>;

export interface NoticeInput {
  /** The user the notices are for. */
  readonly userId: string;
  /** The access workflow of the client's verified log view. */
  readonly log: AccessLog;
  /** Maps a position of the log's entries to its log index (identity when the view is the whole log). */
  readonly indexOf?: (position: number) => number;
  /** The headers this device holds. */
  readonly held: readonly HeldHeader[];
  readonly labels: LabelSource;
  /** Only the requests this predicate keeps are built; default every one that concerns the user. */
  readonly only?: (c: AccessCaseRecord) => boolean;
}

/** The unsealed requests of the view that name `userId` as a subject, in log order of the unseal. */
export function unsealedFor(log: AccessLog, userId: string): AccessCaseRecord[] {
  return log.cases
    .filter((c) => c.unseal !== undefined && c.request.request.subjects.includes(userId))
    .sort((a, b) => a.unseal!.index - b.unseal!.index);
}

/**
 * The labels at least k trustees released (after-release.md §1), given the execution's checked labels in position
 * order.
 */
export function openedLabels(c: AccessCaseRecord, labels: readonly Uint8Array[]): Set<string> {
  const releases = new Map<number, number>();
  for (const r of c.releases) {
    const t = r.value.release.trusteeIndex;
    releases.set(t, (releases.get(t) ?? 0) + 1);
  }
  const refused = new Map<number, Set<string>>();
  for (const f of c.refusals) {
    const l = f.value.refusal.label;
    if (l === undefined) continue;
    const t = f.value.refusal.trusteeIndex;
    const set = refused.get(t) ?? new Set<string>();
    set.add(toHex(l));
    refused.set(t, set);
  }
  const k = c.policy.policy.threshold;
  const out = new Set<string>();
  labels.forEach((label, position) => {
    const batch = Math.floor(position / RELEASE_BATCH);
    const hex = toHex(label);
    let n = 0;
    for (const [t, count] of releases) if (count > batch && !refused.get(t)?.has(hex)) n++;
    if (n >= k) out.add(hex);
  });
  return out;
}

function named(c: AccessCaseRecord, index: number): { index: number; name: string } {
  return { index, name: c.policy.policy.trustees.find((t) => t.index === index)?.name ?? `trustee ${index}` };
}

/**
 * Builds the notice of one unsealed request for `userId`. Throws ClientError ACCESS_INVALID (NOT-1) when the
 * served labels are not exactly the execution's (WF-E6).
 */
export async function buildNotice(c: AccessCaseRecord, input: Omit<NoticeInput, 'only'>): Promise<Notice> {
  const unseal = c.unseal;
  if (unseal === undefined) throw new ClientError('SDK_USAGE', 'the request is not unsealed');
  const q = c.request.request;
  const u = unseal.value.unseal;
  const requester = c.policy.policy.requesters.find((r) => r.id === q.requesterId);
  const verdicts = (v: 'approve' | 'deny') =>
    [
      ...new Set(
        c.decisions.filter((d) => d.value.decision.verdict === v).map((d) => d.value.decision.trusteeIndex),
      ),
    ]
      .sort((a, b) => a - b)
      .map((i) => named(c, i));
  let opened = new Set<string>();
  const execution = c.execution?.value;
  if (execution !== undefined) {
    const labels = await input.labels(q.requestId);
    try {
      // In position order the labels strictly increase (workflow.md §9.2: the leaves are sorted).
      for (let i = 1; i < labels.length; i++)
        if (compareBytes(labels[i - 1]!, labels[i]!) >= 0)
          throw new OvertError('EXECUTION_INVALID', 'labels out of order', { check: 'WF-E6' });
      checkExecutionLabels(execution, labels);
    } catch (cause) {
      if (!isOvertError(cause)) throw cause;
      throw new ClientError('ACCESS_INVALID', 'the served labels are not the execution’s', {
        check: 'NOT-1',
        cause,
      });
    }
    opened = openedLabels(c, labels);
  }
  const scope = scopeOf(c.request);
  const mine = input.held.filter(
    (h) => h.header.senderUserId === input.userId || h.header.recipients.includes(input.userId),
  );
  const inScopeCount = mine.filter((h) => inScope(h.header, scope).inScope).length;
  const openedMessages = mine
    .filter((h) => opened.has(toHex(h.label)))
    .map((h) => ({
      messageId: toBase64Url(h.header.messageId),
      conversation: toBase64Url(h.header.conversationId),
      sentAt: h.header.sendTime,
    }))
    .sort(
      (a, b) => a.sentAt - b.sentAt || (a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0),
    );
  const indexOf = input.indexOf ?? ((p: number) => p);
  return {
    requestId: toBase64Url(q.requestId),
    requester: { id: q.requesterId, name: requester?.name ?? q.requesterId },
    legalBasis: q.legalBasis,
    documentHash: toHex(q.documentHash),
    justification: u.opening.confidential.justification,
    caseReference: u.opening.confidential.caseReference,
    approvedBy: verdicts('approve'),
    deniedBy: verdicts('deny'),
    window: { from: q.window.from, until: q.window.until },
    conversations: q.conversations.length === 0 ? 'all' : q.conversations.map(toBase64Url),
    filedAt: q.createdAt,
    sealUntil: sealUntilInForce(c),
    unsealedAt: u.unsealedAt,
    publisher: u.publisher === 0 ? 'relay' : { trustee: u.publisher },
    executed: execution !== undefined,
    opened: openedMessages,
    openedCount: openedMessages.length,
    inScopeCount,
    logIndex: indexOf(unseal.index),
  };
}

/** The notices of every unsealed request that names the user (in log order of the unseal). */
export async function buildNotices(input: NoticeInput): Promise<Notice[]> {
  const out: Notice[] = [];
  for (const c of unsealedFor(input.log, input.userId))
    if (input.only === undefined || input.only(c)) out.push(await buildNotice(c, input));
  return out;
}

/** Reads every page of an unsealed request's labels through `page` (the relay's `GET …/labels`). */
export async function readAllLabels(
  page: (
    from: number,
  ) => Promise<{ items: readonly { position: number; label: Uint8Array }[]; next: number | null }>,
): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  let from: number | null = 0;
  while (from !== null) {
    const p = await page(from);
    for (const item of p.items) {
      if (item.position !== out.length)
        throw new ClientError('ACCESS_INVALID', 'the served labels are not in position order', {
          check: 'NOT-1',
        });
      out.push(item.label);
    }
    if (p.items.length === 0 || (p.next !== null && p.next <= from)) break;
    from = p.next;
  }
  return out;
}
