/**
 * The relay's storage of the accountable-access workflow (docs/spec/access.md §4, relay.md §5): the trustee
 * mailbox, filed requests with their sealed parts, the access entries the relay appended to the log (requests,
 * decisions, executions, releases, refusals — kept so that release rule 2 is evaluated over the logged entries,
 * never over a caller's list), executions with their selection (position → message id), releases with their
 * sealed bundles.
 *
 * Same guarantees as {@link RelayStorage}: each method is one transaction, refusals are RelayErrors, bytes come
 * back as plain Uint8Array, times are passed in. Both drivers implement it on the relay's own database
 * (access-sqlite.ts, access-postgres.ts; migrations 7 and 8).
 */

/** A request's state as the relay derives it from the log (access.md §4). */
export type AccessStatus = 'pending' | 'executed' | 'denied' | 'over-limit';
export const ACCESS_STATUSES: readonly AccessStatus[] = ['pending', 'executed', 'denied', 'over-limit'];

/** One message of the trustee mailbox (access.md §4, §7). */
export interface TrusteeMail {
  /** Increases with every message stored (gaps possible). */
  readonly seq: number;
  /** The sending trustee (1..255). */
  readonly from: number;
  /** The addressed trustee (1..255), or 0 for every trustee. */
  readonly to: number;
  readonly body: Uint8Array;
  readonly receivedAt: number;
}

/** A filed request: the signed request as logged (entry type 5). */
export interface AccessRequestRecord {
  readonly requestId: Uint8Array;
  /** request_hash (workflow.md §1) of the logged request. */
  readonly requestHash: Uint8Array;
  readonly requesterId: string;
  /** The signed request (u32 len ‖ body ‖ signature): the entry's body. */
  readonly signed: Uint8Array;
  readonly logIndex: number;
  /** The serial of the policy it was verified under. */
  readonly policySerial: number;
  readonly status: AccessStatus;
  readonly receivedAt: number;
}

/** One sealed confidential part (access.md §2), for one trustee. */
export interface SealedPart {
  readonly trustee: number;
  readonly sealed: Uint8Array;
}

/** An access entry the relay appended to the log: `u8 type ‖ body` at `logIndex`, about one request. */
export interface AccessEntryRecord {
  readonly logIndex: number;
  readonly requestId: Uint8Array;
  /** The log entry type: 5 request, 6 decision, 7 execution, 8 release, 9 extension, 10 unseal, 12 refusal. */
  readonly type: number;
  /** The entry's body (the signed object). */
  readonly body: Uint8Array;
}

export interface ExecutionRecord {
  readonly requestId: Uint8Array;
  readonly logIndex: number;
  /** The signed execution (entry type 7's body). */
  readonly signed: Uint8Array;
  readonly envelopeCount: number;
  readonly executedAt: number;
}

/** One executed envelope: its position in the label order (access.md §3), label and message id. */
export interface SelectedEnvelope {
  readonly position: number;
  readonly label: Uint8Array;
  readonly messageId: Uint8Array;
}

export interface ReleaseRecord {
  readonly requestId: Uint8Array;
  readonly trusteeIndex: number;
  readonly batch: number;
  /** The signed release (entry type 8's body). */
  readonly signed: Uint8Array;
  /** The sealed share bundle (access.md §3). */
  readonly bundle: Uint8Array;
  readonly bundleHash: Uint8Array;
  readonly logIndex: number;
  readonly receivedAt: number;
}

/** The part of a stored envelope the relay's selection reads (access.md §4.1). */
export interface EnvelopeHeadRecord {
  readonly messageId: Uint8Array;
  readonly sendTime: number;
  readonly header: Uint8Array;
  readonly capsule: Uint8Array;
  readonly signature: Uint8Array;
}

/** Where a scan of envelope heads resumes: after this (send time, message id). */
export interface EnvelopeCursor {
  readonly sendTime: number;
  readonly messageId: Uint8Array;
}

/** A logged unseal (entry type 10) of one request (after-release.md §1). */
export interface UnsealRecord {
  readonly requestId: Uint8Array;
  readonly logIndex: number;
  /** The signed unseal: the entry's body. */
  readonly signed: Uint8Array;
  /** 0 the relay, else the publishing trustee's index. */
  readonly publisher: number;
  readonly receivedAt: number;
}

/** A requester's extension proposal (after-release.md §2) with the trustee signatures gathered so far. */
export interface ExtensionProposalRecord {
  /** Increases with every proposal stored. */
  readonly seq: number;
  readonly requestId: Uint8Array;
  readonly number: number;
  /** The encoded extension statement (workflow.md §9.4) the trustees sign. */
  readonly statement: Uint8Array;
  readonly reason: string;
  readonly proposedAt: number;
  /** Trustee index → Ed25519 signature over the statement, in increasing index order. */
  readonly signatures: readonly { readonly trustee: number; readonly signature: Uint8Array }[];
  /** The log index of the assembled extension once appended, else null. */
  readonly logIndex: number | null;
}

export interface AccessStorage {
  /** Stores a mailbox message from trustee `from` to trustee `to` (0 = all); resolves its seq. */
  putMail(from: number, to: number, body: Uint8Array, now: number): Promise<number>;

  /** Messages addressed to `trustee` or to 0 with seq > `afterSeq`, in seq order, at most `limit`. */
  readMail(trustee: number, afterSeq: number, limit: number): Promise<TrusteeMail[]>;

  /**
   * Stores a logged request, its sealed parts and its entry (type 5) in one transaction. ACCESS_REQUEST_EXISTS
   * (ACC-R4) when the request id is stored already.
   */
  putRequest(
    request: AccessRequestRecord,
    sealed: readonly SealedPart[],
    relayPart?: Uint8Array,
  ): Promise<void>;

  getRequest(requestId: Uint8Array): Promise<AccessRequestRecord | undefined>;

  /**
   * Requests with log index > `afterIndex`, in log order, at most `limit`; with `requesterId` only that
   * requester's.
   */
  listRequests(afterIndex: number, limit: number, requesterId?: string): Promise<AccessRequestRecord[]>;

  getSealed(requestId: Uint8Array, trustee: number): Promise<Uint8Array | undefined>;

  setRequestStatus(requestId: Uint8Array, status: AccessStatus): Promise<void>;

  /** Records a logged decision (6) or refusal (12) entry. Its log index must be new. */
  putEntry(entry: AccessEntryRecord): Promise<void>;

  /** Every recorded entry about `requestId`, in log order. */
  listEntries(requestId: Uint8Array): Promise<AccessEntryRecord[]>;

  /**
   * Stores the execution, its entry (type 7), its selection and the status `executed`, in one transaction.
   * ACCESS_REQUEST_EXISTS when the request has an execution already (one per request).
   */
  putExecution(execution: ExecutionRecord, selection: readonly SelectedEnvelope[]): Promise<void>;

  getExecution(requestId: Uint8Array): Promise<ExecutionRecord | undefined>;

  /** The selection from position `from` on, ascending, at most `limit`. */
  listSelection(requestId: Uint8Array, from: number, limit: number): Promise<SelectedEnvelope[]>;

  getSelected(requestId: Uint8Array, position: number): Promise<SelectedEnvelope | undefined>;

  /**
   * Stores a logged release, its bundle and its entry (type 8). ACCESS_RELEASE_CONFLICT (ACC-L4) when a release
   * for the same (request, trustee, batch) is stored.
   */
  putRelease(release: ReleaseRecord): Promise<void>;

  getRelease(requestId: Uint8Array, trustee: number, batch: number): Promise<ReleaseRecord | undefined>;

  /** Releases of the request, by (trustee, batch), without their bundles (empty bytes). */
  listReleases(requestId: Uint8Array): Promise<ReleaseRecord[]>;

  // ── Unseals and extensions (after-release.md §1, §2; migration 8) ──

  /** The part of the request sealed to the relay's unseal key, when one was filed. */
  getRelayPart(requestId: Uint8Array): Promise<Uint8Array | undefined>;

  /**
   * Requests with a relay part and no unseal recorded, log index > `afterIndex`, in log order, at most `limit`:
   * the relay's unseal task's candidates.
   */
  listUnsealCandidates(afterIndex: number, limit: number): Promise<AccessRequestRecord[]>;

  /**
   * Stores a logged unseal and its entry (type 10). ACCESS_UNSEAL_EXISTS (ACC-U3) when the request has one.
   */
  putUnseal(unseal: UnsealRecord): Promise<void>;

  getUnseal(requestId: Uint8Array): Promise<UnsealRecord | undefined>;

  /** Unseals with log index > `afterIndex`, in log order, at most `limit`. */
  listUnseals(afterIndex: number, limit: number): Promise<UnsealRecord[]>;

  /**
   * Stores a proposal; resolves its seq. ACCESS_EXTENSION_EXISTS when one for (request, number) is stored.
   */
  putExtensionProposal(p: Omit<ExtensionProposalRecord, 'seq' | 'signatures' | 'logIndex'>): Promise<number>;

  getExtensionProposal(requestId: Uint8Array, number: number): Promise<ExtensionProposalRecord | undefined>;

  /** Proposals with seq > `afterSeq`, in seq order, at most `limit`; with `requesterId` only that requester's. */
  listExtensionProposals(
    afterSeq: number,
    limit: number,
    requesterId?: string,
  ): Promise<ExtensionProposalRecord[]>;

  /** Stores trustee `trustee`'s signature on the proposal (a second one from the same trustee is ignored). */
  putExtensionSignature(
    requestId: Uint8Array,
    number: number,
    trustee: number,
    signature: Uint8Array,
  ): Promise<void>;

  /** Records the assembled extension as logged: the proposal's log index and its entry (type 9). */
  markExtensionLogged(
    requestId: Uint8Array,
    number: number,
    logIndex: number,
    body: Uint8Array,
  ): Promise<void>;

  /**
   * Stored envelopes of `orgId` with `from ≤ send_time < until`, ordered by (send time, message id), after
   * `cursor`, at most `limit` (index envelopes_by_send_time).
   */
  scanEnvelopeHeads(
    orgId: string,
    from: number,
    until: number,
    cursor: EnvelopeCursor | undefined,
    limit: number,
  ): Promise<EnvelopeHeadRecord[]>;

  /**
   * Stores a logged shred statement (after-release.md §6, migration 9). ACCESS_SHRED_EXISTS (ACC-S2) when one of
   * the same (epoch, trustee) is stored.
   */
  putShred(shred: ShredRecord): Promise<void>;

  getShred(epoch: number, trustee: number): Promise<ShredRecord | undefined>;

  /** The logged shreds of `epoch`, by trustee index. */
  listShreds(epoch: number): Promise<ShredRecord[]>;

  // Standing orders (after-release.md §8, migration 11).

  /**
   * Stores one logged batch execution of an order with its selection (positions batch·1024 + i) and its entry
   * (type 7). The first batch also stands as the order's row of access_executions (the anchor the selection and
   * the releases refer to) and marks the order `executed`. ACCESS_REQUEST_EXISTS (ORD-R2) when the batch number
   * is taken.
   */
  putOrderBatch(batch: OrderBatchRecord, selection: readonly SelectedEnvelope[]): Promise<void>;

  /** The order's logged batches, by number. */
  listOrderBatches(requestId: Uint8Array): Promise<OrderBatchRecord[]>;

  /** Whether the message is already in the order's selection (a batch never takes an envelope twice). */
  isSelected(requestId: Uint8Array, messageId: Uint8Array): Promise<boolean>;

  /**
   * Stored envelopes of `orgId` received at or after `from` (relay clock), ordered by (received_at, message id),
   * after `cursor`, at most `limit` (index envelopes_by_received, migration 11).
   */
  scanEnvelopesReceived(
    orgId: string,
    from: number,
    cursor: { readonly receivedAt: number; readonly messageId: Uint8Array } | undefined,
    limit: number,
  ): Promise<(EnvelopeHeadRecord & { readonly receivedAt: number })[]>;

  /** The signed policy of `serial` as logged (relay.md §4.3), or undefined. */
  policyBySerial(serial: number): Promise<Uint8Array | undefined>;
}

/** One logged batch execution of a standing order (after-release.md §8.3). */
export interface OrderBatchRecord {
  readonly requestId: Uint8Array;
  readonly batch: number;
  readonly logIndex: number;
  /** The signed batch execution (entry type 7's body, execution version 2). */
  readonly signed: Uint8Array;
  readonly envelopeCount: number;
  readonly executedAt: number;
  /** The relay-clock acceptance time up to which envelopes were scanned for this batch. */
  readonly scannedUntil: number;
}

/** Migration 11: standing orders' batch executions and the received-time index (after-release.md §8.3). */
export const ORDER_MIGRATION_NAME = 'standing orders';

/** A trustee's logged shred statement (entry type 11, after-release.md §6). */
export interface ShredRecord {
  readonly epoch: number;
  readonly trusteeIndex: number;
  /** The signed shred statement (the entry's body). */
  readonly signed: Uint8Array;
  readonly logIndex: number;
  readonly receivedAt: number;
}

/** Migration 9: the logged shred statements, one per (epoch, trustee). */
export const SHRED_MIGRATION_NAME = 'shred statements';

/** The SQL of migration 7, shared in shape by both drivers (types differ). */
export const ACCESS_MIGRATION_NAME = 'access workflow';
/** Migration 8: the relay's unseal parts, unseals and extension proposals (after-release.md §1, §2). */
export const UNSEAL_MIGRATION_NAME = 'unseal and extensions';
