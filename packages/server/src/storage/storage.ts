/**
 * The relay's storage interface (docs/spec/relay.md §5): what the directory, the MLS delivery service, the
 * mailboxes and the envelope store need from a database, and nothing more.
 *
 * One interface, two native drivers (sqlite.ts — the embedded default — and postgres.ts), one contract test
 * suite (relay-storage.test.ts) run against both. Each method's doc comment is its contract. Shared guarantees:
 * - Each method is one transaction: when it rejects, nothing it would have written is stored (no half state).
 * - Refusals are {@link RelayError}s with the codes named in the contract; a database failure is
 *   STORE_R_FAILED; a row that cannot be what this code wrote is STORE_R_CORRUPT.
 * - Byte values come back as plain Uint8Array (never Buffer), equal to what was written.
 * - Times are milliseconds since the Unix epoch, passed in by the caller (the storage reads no clock).
 */

import type { RelayError } from '../errors.js';
import type { AccessStorage } from './access.js';

/** A device's directory state. `pending` exists only between the two halves of an enrolment (§4.2). */
export type DeviceStatus = 'pending' | 'active' | 'removed';

export interface UserRecord {
  readonly userId: string;
  readonly createdAt: number;
}

export interface DeviceRecord {
  readonly deviceId: string;
  readonly userId: string;
  /** The device's Ed25519 identity public key (32 bytes); also its MLS signature key. */
  readonly identityKey: Uint8Array;
  readonly status: DeviceStatus;
  /** Index of the device-added entry on the transparency log; null while pending. */
  readonly enrolLogIndex: number | null;
  /** Index of the device-removed entry; null unless removed and logged. */
  readonly removalLogIndex: number | null;
  readonly createdAt: number;
  readonly removedAt: number | null;
}

export interface NewDevice {
  readonly deviceId: string;
  readonly userId: string;
  readonly identityKey: Uint8Array;
  readonly now: number;
}

/** A published MLS key package and its KeyPackageRef (RFC 9420 §5.2). */
export interface StoredKeyPackage {
  readonly ref: Uint8Array;
  readonly data: Uint8Array;
}

/** A claimed key package: a one-time one, or the device's last-resort one (RFC 9420 §16.8), which stays. */
export interface ClaimedKeyPackage extends StoredKeyPackage {
  readonly lastResort: boolean;
}

export interface GroupRecord {
  /** The MLS group id (opaque, 1..64 bytes). */
  readonly groupId: Uint8Array;
  /** The epoch whose commit the relay will accept next. */
  readonly epoch: number;
  /** Member device ids, sorted. */
  readonly members: readonly string[];
  readonly createdAt: number;
}

export interface CommitSubmission {
  readonly groupId: Uint8Array;
  /** The epoch the commit was made in (read from its MLS framing); must be the group's current epoch. */
  readonly epoch: number;
  readonly senderDeviceId: string;
  /** The MLSMessage carrying the commit, opaque here. */
  readonly commit: Uint8Array;
  /** Devices the commit adds (they receive the Welcome). */
  readonly adds: readonly string[];
  /** Devices the commit removes (they still receive the commit, so they learn of it). */
  readonly removes: readonly string[];
  /** The MLSMessage(Welcome) for the added devices; required iff `adds` is non-empty. */
  readonly welcome: Uint8Array | null;
  readonly now: number;
}

export interface CommitOutcome {
  /** The group's epoch after the commit (`epoch + 1`). */
  readonly epoch: number;
  /** Devices whose mailbox received the commit: the old members, minus the sender, active only. */
  readonly notified: readonly string[];
  /** Devices whose mailbox received the Welcome. */
  readonly welcomed: readonly string[];
}

export interface StoredCommit {
  readonly epoch: number;
  readonly senderDeviceId: string;
  readonly commit: Uint8Array;
  readonly acceptedAt: number;
}

export interface GroupMessage {
  readonly groupId: Uint8Array;
  readonly epoch: number;
  readonly senderDeviceId: string;
  /** An MLSMessage (PrivateMessage or PublicMessage, application or proposal content), opaque here. */
  readonly message: Uint8Array;
  readonly now: number;
  /**
   * The envelope the message announces (relay.md §6.9, CU-1), linked to its mailbox items so that a catch-up
   * read serves it with them (not the push or {@link RelayStorage.fetchDeliveries}, which serve only envelopes
   * sent with their message on the socket); checked by the caller. Absent or null: no link.
   */
  readonly envelopeId?: Uint8Array | null;
}

export type MailboxKind = 'commit' | 'welcome' | 'message';

export interface MailboxItem {
  /** Per-device sequence number: strictly increasing, never reused, assigned in commit order. */
  readonly seq: number;
  readonly kind: MailboxKind;
  readonly groupId: Uint8Array;
  /** For a commit or message: the epoch it was sent in; for a Welcome: the epoch it joins. */
  readonly epoch: number;
  readonly senderDeviceId: string;
  readonly data: Uint8Array;
  readonly receivedAt: number;
}

export interface EnvelopeRecord {
  /** 16 bytes, unique. */
  readonly messageId: Uint8Array;
  readonly orgId: string;
  readonly epoch: number;
  readonly conversationId: Uint8Array;
  readonly senderUserId: string;
  readonly senderDeviceId: string;
  readonly sendTime: number;
  /** The canonical header bytes (docs/spec/envelope.md §2). */
  readonly header: Uint8Array;
  /** The access capsule bytes. */
  readonly capsule: Uint8Array;
  /**
   * The sender's signature over (L, capsule), 64 bytes (envelope.md §3.1). Stored with the capsule: the
   * `capsule` column holds capsule ‖ signature, the head's bytes after the header (relay.md §5).
   */
  readonly signature: Uint8Array;
  /** The ciphertext when stored inline; null when it lives in {@link blobId}. */
  readonly ciphertext: Uint8Array | null;
  /** A completed blob holding the ciphertext, or null. Exactly one of ciphertext and blobId is non-null. */
  readonly blobId: string | null;
  readonly receivedAt: number;
}

/**
 * One message of the WebSocket send path (relay.md §6.8): an inline envelope and the MLS application message that
 * announces it, stored together by {@link RelayStorage.storeMessages}.
 */
export interface EnvelopedMessage {
  /** An inline envelope (ciphertext non-null, blobId null) whose sender is `message.senderDeviceId`. */
  readonly envelope: EnvelopeRecord;
  readonly message: GroupMessage;
}

/** What {@link RelayStorage.storeMessages} did with one message. */
export type EnvelopedOutcome =
  | { readonly result: 'stored'; readonly recipients: readonly string[] }
  /** The identical envelope was already stored (a retried send): nothing was written, nothing fanned out. */
  | { readonly result: 'duplicate' }
  | { readonly result: 'refused'; readonly error: RelayError };

/** A mailbox item with the inline envelope its message announced, when it was stored with it and still is. */
export interface Delivery {
  readonly item: MailboxItem;
  readonly envelope: EnvelopeRecord | undefined;
}

/** A page of a catch-up read (relay.md §6.9): mailbox items with their linked envelopes, and whether more wait. */
export interface CatchUpPage {
  /** Linked envelopes come with `ciphertext` only when it is inline; blob-backed ones carry their `blobId`. */
  readonly deliveries: readonly Delivery[];
  /** Items with a higher seq remain after this page. */
  readonly more: boolean;
}

export interface NewBlob {
  readonly blobId: string;
  readonly ownerDeviceId: string;
  /** Total size in bytes (≥ 1, ≤ {@link MAX_BLOB_BYTES}). */
  readonly size: number;
  /** Every chunk but the last has exactly this size; the last has the rest. */
  readonly chunkSize: number;
  /**
   * SHA-256 of the whole blob, checked before it is completed; null when the owner declares it at completion
   * (the streaming form, relay.md §6.7). Drivers store null as empty bytes, so no migration was needed.
   */
  readonly sha256: Uint8Array | null;
  readonly now: number;
}

export interface BlobRecord extends NewBlob {
  readonly complete: boolean;
  /** Number of chunks stored so far. */
  readonly chunksStored: number;
}

export interface EpochKeyRecord {
  readonly epoch: number;
  readonly threshold: number;
  /** Y_e, the epoch's group public key (32 bytes, ristretto255). */
  readonly groupKey: Uint8Array;
  /** Y_{i,e} for trustees 1..n, in index order. */
  readonly verificationKeys: readonly Uint8Array[];
  /** The DKG transcript hash (32 bytes). */
  readonly transcriptHash: Uint8Array;
  /** The epoch-key statement as appended to the log. */
  readonly statement: Uint8Array;
  readonly logIndex: number;
  readonly publishedAt: number;
}

/** The organisation's signed access policy as appended to the log (workflow.md §2, relay.md §4.3). */
export interface PolicyRecord {
  readonly serial: number;
  /** The signed policy (u32 len ‖ body ‖ signature), the log entry's body. */
  readonly signed: Uint8Array;
  readonly logIndex: number;
  readonly publishedAt: number;
}

/** The relay's storage. Drivers: {@link SqliteRelayStorage}, {@link PostgresRelayStorage}. */
export interface RelayStorage {
  /** The accountable-access workflow's tables (access.md §4; storage/access.ts), in the same database. */
  readonly access: AccessStorage;

  /**
   * Binds the org-admin's Ed25519 public key on first start and checks it on every later start (STORE-R-1,
   * DIR_ADMIN_MISMATCH): a relay's directory can never be silently taken over by another admin key. Idempotent.
   */
  claimOrgAdmin(publicKey: Uint8Array, now: number): Promise<void>;

  /** The org-admin's key, or undefined before {@link claimOrgAdmin}. */
  getOrgAdmin(): Promise<Uint8Array | undefined>;

  /**
   * Records that `signer` used `nonce` in a request whose signature is acceptable until `expiresAt`. Resolves
   * true the first time, false if that (signer, nonce) is already recorded and not expired (AUTH-6). Also
   * forgets expired nonces from time to time. Two concurrent calls with the same pair: exactly one gets true.
   */
  useNonce(signer: string, nonce: Uint8Array, expiresAt: number, now: number): Promise<boolean>;

  /** Creates a user. DIR_USER_EXISTS if the id is taken. */
  createUser(userId: string, now: number): Promise<UserRecord>;

  getUser(userId: string): Promise<UserRecord | undefined>;

  /**
   * First half of an enrolment (§4.2): records the device as `pending`. Resolves 'new', or 'resumed' when a
   * pending device with exactly these fields exists (a retry after a failed log append). Refuses:
   * DIR_USER_UNKNOWN, DIR_DEVICE_EXISTS (id taken by any other record, active or removed: ids are never reused),
   * DIR_KEY_IN_USE (the identity key belongs to another device).
   */
  beginEnrolment(device: NewDevice): Promise<'new' | 'resumed'>;

  /** Second half: marks the pending device `active` with its log index. DIR_DEVICE_UNKNOWN if not pending. */
  completeEnrolment(deviceId: string, logIndex: number): Promise<DeviceRecord>;

  /** Deletes a pending device whose log append failed. No effect on any other state. */
  abandonEnrolment(deviceId: string): Promise<void>;

  /**
   * First half of a removal: marks the device `removed` (so it can no longer authenticate) and deletes its key
   * packages and mailbox. Resolves the record; resumable when the removal is not yet logged. Refuses:
   * DIR_DEVICE_UNKNOWN (absent or pending), DIR_DEVICE_REMOVED (removal already logged).
   */
  beginRemoval(deviceId: string, now: number): Promise<DeviceRecord>;

  /** Records the log index of a removal begun with {@link beginRemoval}. DIR_DEVICE_UNKNOWN otherwise. */
  completeRemoval(deviceId: string, logIndex: number): Promise<DeviceRecord>;

  getDevice(deviceId: string): Promise<DeviceRecord | undefined>;

  /** The user's devices in any status, ordered by device id. */
  listUserDevices(userId: string): Promise<DeviceRecord[]>;

  /**
   * Stores one-time key packages for an active device and, with `lastResort`, makes that package the device's
   * last-resort key package (RFC 9420 §16.8, DS-12), replacing its previous one, in one transaction. Resolves the
   * number of one-time packages now available (unclaimed; the last-resort one is not counted). Refuses the whole
   * call with DS_KEY_PACKAGE_LIMIT when it would exceed {@link MAX_KEY_PACKAGES_PER_DEVICE} unclaimed one-time
   * packages, and with DS_KEY_PACKAGE_OWNER when a ref is already stored (a key package is published once;
   * publishing the current last-resort package again is a no-op). A replaced last-resort package that was claimed
   * stays recorded (DS-8 maps its ref to the device) but is never handed out again; one never claimed is deleted.
   */
  addKeyPackages(
    deviceId: string,
    packages: readonly StoredKeyPackage[],
    now: number,
    lastResort?: StoredKeyPackage,
  ): Promise<number>;

  /**
   * Claims one key package of the device, atomically (DS-6): the oldest unclaimed one-time package, which is
   * marked claimed and never handed out again (two concurrent claimers never receive the same one); with none
   * left, the device's last-resort package (DS-12), which is recorded as claimed but stays available. Undefined
   * when the device has neither.
   */
  claimKeyPackage(deviceId: string, now: number): Promise<ClaimedKeyPackage | undefined>;

  /** Whether the device has a last-resort key package the relay can hand out (DS-12). */
  hasLastResortKeyPackage(deviceId: string): Promise<boolean>;

  /** The device whose key package has this ref and was claimed, or undefined. */
  claimedKeyPackageOwner(ref: Uint8Array): Promise<string | undefined>;

  countKeyPackages(deviceId: string): Promise<number>;

  /**
   * Creates a group at epoch 0 whose only member is `creatorDeviceId` (an MLS group starts with its creator,
   * RFC 9420 §11). DS_GROUP_EXISTS if the id is taken.
   */
  createGroup(groupId: Uint8Array, creatorDeviceId: string, now: number): Promise<GroupRecord>;

  getGroup(groupId: Uint8Array): Promise<GroupRecord | undefined>;

  /**
   * Accepts a commit (DS-3, DS-4, DS-5, DS-7), in one transaction: stores it as THE commit of (group, epoch),
   * advances the group to epoch + 1, applies the membership changes, puts the commit into the mailbox of every
   * other active old member (removed ones included, so they learn it) and the Welcome into every added device's.
   * Refuses: DS_GROUP_UNKNOWN; DS_NOT_MEMBER (sender not a member); DS_COMMIT_CONFLICT (a commit for this epoch
   * was already accepted — the loser of a race); DS_EPOCH_MISMATCH (any other epoch than the current one);
   * DS_MEMBERSHIP (an add that is not an active non-member device, a remove that is not a member or is the
   * sender, duplicates, adds without a Welcome or a Welcome without adds). Exactly one of any number of
   * concurrent submissions for one (group, epoch) succeeds.
   */
  acceptCommit(submission: CommitSubmission): Promise<CommitOutcome>;

  /** The accepted commits of a group with epoch ≥ `fromEpoch`, in epoch order, at most `limit`. */
  listCommits(groupId: Uint8Array, fromEpoch: number, limit: number): Promise<StoredCommit[]>;

  /**
   * Fans a message out to the mailbox of every other active member. Refuses DS_GROUP_UNKNOWN, DS_NOT_MEMBER,
   * DS_EPOCH_MISMATCH (not the group's current epoch, DS-3). Resolves the recipients.
   */
  postGroupMessage(message: GroupMessage): Promise<readonly string[]>;

  /** Items of the device's mailbox with seq > `afterSeq`, in seq order, at most `limit`. */
  fetchMailbox(deviceId: string, afterSeq: number, limit: number): Promise<MailboxItem[]>;

  /**
   * {@link fetchMailbox} for the push socket: each item with the envelope it was stored with by
   * {@link storeMessages}, read in the same query (no per-item round trip), or undefined.
   */
  fetchDeliveries(deviceId: string, afterSeq: number, limit: number): Promise<Delivery[]>;

  /**
   * A catch-up page (relay.md §6.9): the device's items with seq > `afterSeq` in seq order, each with the envelope
   * stored with it by {@link storeMessages} or linked to it by {@link postGroupMessage}, when that is still stored (joined in the same query; a blob-backed envelope without its
   * ciphertext), at most `limit` items and, after the first, only while the running total of item data, envelope
   * headers, capsules and inline ciphertexts stays ≤ `maxBytes` (the first item always comes, so a page is never
   * empty while items wait). Sizes are read from the database without loading the bytes of rows left out.
   * `more` says whether items beyond the page exist. Readability (RLY-9) is the caller's check.
   */
  fetchCatchUp(deviceId: string, afterSeq: number, limit: number, maxBytes: number): Promise<CatchUpPage>;

  /**
   * Acknowledges every item with seq ≤ `upToSeq`: they are deleted and never delivered again. Resolves how many
   * were deleted. DS_ACK_RANGE if `upToSeq` exceeds the last seq ever assigned to the device (DS-9).
   */
  ackMailbox(deviceId: string, upToSeq: number): Promise<number>;

  /** The last seq assigned to the device's mailbox (0 before the first item). */
  lastMailboxSeq(deviceId: string): Promise<number>;

  /**
   * Stores an envelope. Resolves 'stored', or 'duplicate' when an identical record (same id, header, capsule,
   * ciphertext or blob) exists — a PUT retried. ENV_EXISTS when the id holds a different envelope.
   * BLOB_UNKNOWN / BLOB_STATE when `blobId` does not name a complete blob of the sender device.
   */
  putEnvelope(envelope: EnvelopeRecord): Promise<'stored' | 'duplicate'>;

  getEnvelope(messageId: Uint8Array): Promise<EnvelopeRecord | undefined>;

  /**
   * Group commit of the WebSocket send path (relay.md §6.8): stores many messages in ONE transaction (one
   * fsync), each as its envelope plus its fan-out (the {@link postGroupMessage} rules, DS-3, DS-5, with the
   * mailbox items linked to the envelope for {@link fetchDeliveries}). Outcomes are in input order. A refused
   * message (DS_GROUP_UNKNOWN, DS_NOT_MEMBER, DS_EPOCH_MISMATCH, ENV_EXISTS) writes nothing and does not affect
   * the others; an envelope identical to a stored one is 'duplicate' and fans nothing out again, so a resent
   * frame is idempotent. Only a database failure rejects, and then nothing of the batch is stored: each message
   * is stored whole or not at all.
   */
  storeMessages(batch: readonly EnvelopedMessage[]): Promise<EnvelopedOutcome[]>;

  /**
   * Retention (DESIGN §4 flow 9): deletes every envelope of `epoch` in `orgId`, and the blobs they reference,
   * in one transaction. Resolves the number of envelopes deleted.
   */
  deleteEpochEnvelopes(orgId: string, epoch: number): Promise<number>;

  /**
   * Expiry of abandoned uploads (STORE-R-7): deletes, with their chunks, the blobs created before `createdBefore`
   * that no envelope references: incomplete ones, and complete ones whose envelope never came. Resolves how many.
   */
  deleteStaleBlobs(createdBefore: number): Promise<number>;

  /**
   * Starts a chunked blob. BLOB_STATE if the id is taken. With `quotaBytes` (STORE-R-9), BLOB_QUOTA when the
   * owner's blobs would then be charged more than that: every blob the owner holds counts, incomplete or complete,
   * referenced by an envelope or not, at {@link blobCharge} of its declared size (an incomplete blob reserves its
   * whole size, so its chunks can never outgrow the quota). The sum and the insert are one transaction, serialised
   * per owner, so concurrent creations of one device never overshoot. A refused creation writes nothing.
   */
  createBlob(blob: NewBlob, quotaBytes?: number): Promise<void>;

  /** The bytes charged to a device's blobs (STORE-R-9): the sum of {@link blobCharge} over the blobs it holds. */
  blobUsage(ownerDeviceId: string): Promise<number>;

  /**
   * Stores chunk `index` of an incomplete blob of `ownerDeviceId`. The chunk must have its exact expected
   * length. Rewriting a chunk with identical bytes is a no-op; with other bytes, BLOB_STATE. BLOB_UNKNOWN when
   * there is no such blob of that owner.
   */
  putBlobChunk(blobId: string, ownerDeviceId: string, index: number, data: Uint8Array): Promise<void>;

  /**
   * Marks a blob complete. BLOB_STATE unless every chunk is stored. The caller checks the digest first; a blob
   * created without one records `sha256` (the digest declared at completion).
   */
  completeBlob(blobId: string, ownerDeviceId: string, sha256?: Uint8Array): Promise<void>;

  getBlob(blobId: string): Promise<BlobRecord | undefined>;

  readBlobChunk(blobId: string, index: number): Promise<Uint8Array | undefined>;

  /**
   * Stores a published epoch key. EPOCH_KEY_EXISTS if the epoch is stored; EPOCH_KEY_INVALID unless the
   * epoch is greater than every stored epoch (epoch keys are published in order, STORE-R-2).
   */
  putEpochKey(key: EpochKeyRecord): Promise<void>;

  /**
   * Replaces the key in force of an epoch that has one by a resharing of it (relay.md §4.1, STORE-R-2): the
   * caller verified the statement under the policy in force, newer than the stored statement's. EPOCH_KEY_UNKNOWN
   * when the epoch has no key; EPOCH_KEY_EXISTS unless the stored key is the one logged at `previousLogIndex`,
   * has the same group key, and `key.logIndex` is greater (so two racing resharings cannot both land). The
   * replaced statement stays in the epoch's history.
   */
  replaceEpochKey(key: EpochKeyRecord, previousLogIndex: number): Promise<void>;

  /** The epoch's key in force: its first key, or the latest resharing of it. */
  getEpochKey(epoch: number): Promise<EpochKeyRecord | undefined>;

  /** Every statement stored for `epoch` in log order: its first key, then each resharing. Empty if none. */
  epochKeyHistory(epoch: number): Promise<EpochKeyRecord[]>;

  /**
   * The epoch key with the highest epoch (the latest published, possibly ahead of time). It orders publication
   * (STORE-R-2); it is not the current epoch, which follows the clock (relay.md §6.7, RLY-17).
   */
  currentEpochKey(): Promise<EpochKeyRecord | undefined>;

  /**
   * Stores a logged policy. POLICY_STALE (STORE-R-8) unless its serial is greater than every stored one: the
   * policy in force is the one with the highest serial, and policies are logged in increasing serial order.
   */
  putPolicy(policy: PolicyRecord): Promise<void>;

  /** The policy in force: the stored one with the highest serial, or undefined before the first. */
  currentPolicy(): Promise<PolicyRecord | undefined>;

  /**
   * Stores a verified abuse report (relay.md §10). One report per (message, reporter user): a second one resolves
   * the first's id with 'duplicate' and writes nothing. Report ids increase.
   */
  putAbuseReport(report: NewAbuseReport): Promise<{ reportId: number; result: 'stored' | 'duplicate' }>;

  /** Reports with id > `afterId`, in id order, at most `limit`, without their report bytes. */
  listAbuseReports(afterId: number, limit: number): Promise<AbuseReportSummary[]>;

  getAbuseReport(reportId: number): Promise<AbuseReportRecord | undefined>;

  /** Releases the database. Further calls fail. */
  close(): Promise<void>;
}

/**
 * An abuse report the relay verified (franking.md §4, relay.md §10). It is kept apart from the envelopes table
 * and outlives retention: the organisation holds the reported plaintext as evidence.
 */
export interface NewAbuseReport {
  readonly messageId: Uint8Array;
  readonly reporterUserId: string;
  readonly reporterDeviceId: string;
  readonly senderUserId: string;
  readonly senderDeviceId: string;
  readonly conversationId: Uint8Array;
  readonly sendTime: number;
  /** The stamp's time: when the relay accepted the envelope. */
  readonly stampTime: number;
  /** The reporter's free text, or null. */
  readonly reason: string | null;
  /** The report exactly as filed (core encodeReport): header, fk, stamp, plaintext. Secret: never logged. */
  readonly report: Uint8Array;
  readonly receivedAt: number;
}

export interface AbuseReportRecord extends NewAbuseReport {
  readonly reportId: number;
}

export type AbuseReportSummary = Omit<AbuseReportRecord, 'report'>;

/** At most this many unclaimed one-time key packages per device (the last-resort one is not counted). */
export const MAX_KEY_PACKAGES_PER_DEVICE = 200;
/** Blobs carry large ciphertexts: 64 MiB at most (the brief asks for at least 10 MB). */
export const MAX_BLOB_BYTES = 64 * 1024 * 1024;
/** Chunk sizes between 64 KiB and 1 MiB: one chunk per request body. */
export const MIN_BLOB_CHUNK = 64 * 1024;
export const MAX_BLOB_CHUNK = 1024 * 1024;

/**
 * What a blob of `size` bytes counts against its owner's quota (STORE-R-9): its size, but at least one minimum
 * chunk, so the quota also bounds how many blob rows a device can create.
 */
export function blobCharge(size: number): number {
  return Math.max(size, MIN_BLOB_CHUNK);
}

/** Number of chunks of a blob. */
export function blobChunkCount(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize);
}

/** The exact length of chunk `index`, or -1 when there is no such chunk. */
export function blobChunkLength(size: number, chunkSize: number, index: number): number {
  const count = blobChunkCount(size, chunkSize);
  if (!Number.isSafeInteger(index) || index < 0 || index >= count) return -1;
  return index < count - 1 ? chunkSize : size - chunkSize * (count - 1);
}

/** Sorted, de-duplicated copy (device ids are ASCII, so code-unit order is byte order). */
export function sortedUnique(ids: readonly string[]): string[] {
  return [...new Set(ids)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A plain Uint8Array view of a driver's Buffer, for callers in pure code. */
export function plainBytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
