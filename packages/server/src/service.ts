/**
 * The relay's operations, independent of HTTP (docs/spec/relay.md §4, §6): the directory (users, devices, the
 * org-admin's statements and their log entries), the MLS delivery service (key packages, groups, commits,
 * Welcomes, messages, mailboxes) and the envelope and blob store with the ingest checks. Every method takes an
 * already authenticated principal and already validated input; every refusal is a {@link RelayError}.
 */
import {
  type DecodedEpochKeyStatement,
  decodeEnvelopeHead,
  decodeEpochKeyStatement,
  decodeHeader,
  EnvelopeIngester,
  encodeCapsule,
  envelopeHeadLength,
  equalBytes,
  type IngestedEnvelope,
  isOvertError,
  sha256,
  toBase64Url,
  utf8Encode,
  type VerifiedPolicy,
} from '@overt/core';
import { isLogError } from '@overt/log';
import { calendarMonthEpoch } from './epochs.js';
import { isRelayError, RelayError } from './errors.js';
import type { MailboxHub } from './hub.js';
import { IngestRules } from './ingest/rules.js';
import { DEFAULT_RESOURCE_LIMITS } from './limits.js';
import type { LogPort } from './log-port.js';
import {
  readGroupMessage,
  readKeyPackage,
  readOvertCredential,
  readWelcomeRecipients,
} from './mls-framing.js';
import { type BucketConfig, TokenBuckets } from './rate-limit.js';
import {
  type DeviceStatementKind,
  deviceEntry,
  epochKeyEntry,
  policyEntry,
  verifyDeviceStatement,
  verifyEpochKeyStatement,
  verifyPolicyStatement,
} from './statements.js';
import {
  type BlobRecord,
  blobChunkCount,
  type CommitOutcome,
  type DeviceRecord,
  type EnvelopeRecord,
  type EpochKeyRecord,
  type GroupRecord,
  type MailboxItem,
  type PolicyRecord,
  type RelayStorage,
  type StoredCommit,
} from './storage/storage.js';

export interface RelayServiceOptions {
  readonly storage: RelayStorage;
  readonly log: LogPort;
  readonly hub: MailboxHub;
  readonly orgId: string;
  readonly now: () => number;
  /** Largest accepted |now − sendTime| of an envelope (ENV-17), default 5 minutes. */
  readonly envelopeSkewMs?: number;
  /** The relay's payload limit for envelopes (default 64 MiB). */
  readonly maxPayloadBytes?: number;
  /** The envelope ingest rules shared with the WebSocket send path (relay.ts passes one instance to both). */
  readonly rules?: IngestRules;
  /** Blob bytes per device (STORE-R-9, relay.md §2.4); default DEFAULT_RESOURCE_LIMITS.blobQuotaBytes. */
  readonly blobQuotaBytes?: number;
  /** Key-package claims per (claiming device, claimed device) (DS-11), default {@link DEFAULT_CLAIM_LIMIT}. */
  readonly claimLimit?: BucketConfig;
}

/**
 * Key-package claims one device may make of one device's packages (DS-11): a burst of 4, then one every 15 s.
 * A device publishes 10 one-time packages at a time (the CLI tops up below 5), so one claimer is refused long
 * before it empties them; honest adders claim once per conversation they add the device to.
 */
export const DEFAULT_CLAIM_LIMIT: BucketConfig = { capacity: 4, refillPerSecond: 1 / 15 };

/** A claimed key package as the claim endpoints answer it. */
export interface ClaimedPackage {
  readonly deviceId: string;
  readonly keyPackage: Uint8Array;
  /** The device's last-resort package (RFC 9420 §16.8): it had no one-time package left. */
  readonly lastResort: boolean;
}

/** One item of a catch-up page (relay.md §6.9), with the envelope its message announced when the device may read it. */
export interface CatchUpItem {
  readonly item: MailboxItem;
  readonly envelope: EnvelopeRecord | undefined;
  /** The blob of a blob-backed envelope (its geometry; the chunks are fetched separately). */
  readonly blob: BlobRecord | undefined;
}

/**
 * Whether a failed append certainly did not reach the log (the sequencer refused it before queueing, or was
 * closed or halted). Any other failure (STORE_FAILED, a timeout) leaves the outcome unknown (log service spec).
 */
function certainlyNotAppended(e: unknown): boolean {
  const cause = e instanceof RelayError ? e.cause : e;
  return (
    isLogError(cause) &&
    (cause.code === 'SEQ_CLOSED' ||
      cause.code === 'SEQ_HALTED' ||
      cause.code === 'SEQ_QUEUE_FULL' ||
      cause.code === 'SEQ_ENTRY_TOO_LARGE')
  );
}

export function logUnavailable(cause: unknown): RelayError {
  return new RelayError('RELAY_LOG_UNAVAILABLE', 'the transparency log did not accept the entry', {
    check: 'AUTH-10',
    cause,
    retryAfter: 1,
  });
}

function mustBeMember(group: GroupRecord | undefined, deviceId: string): GroupRecord {
  if (group === undefined) throw new RelayError('DS_GROUP_UNKNOWN', 'no such group');
  if (!group.members.includes(deviceId))
    throw new RelayError('DS_NOT_MEMBER', 'the device is not a member of the group', { check: 'DS-5' });
  return group;
}

/** Maps core's envelope ingest errors to the relay's codes and check IDs (docs/spec/relay.md §6.7). */
export function ingestError(e: unknown): unknown {
  if (!isOvertError(e)) return e;
  const byCheck: Record<string, [RelayError['code'], string]> = {
    'ENV-5': ['ENV_CONTEXT', 'RLY-15'],
    'ENV-6': ['ENV_EPOCH', 'RLY-11'],
    'ENV-8': ['ENV_SENDER', 'RLY-10'],
    'ENV-9': ['ENV_CONTEXT', 'RLY-15'],
    'ENV-17': ['ENV_TIME', 'RLY-12'],
    'ENV-18': ['ENV_CAPSULE', 'RLY-13'],
    'ENV-20': ['ENV_SIGNATURE', 'RLY-20'],
  };
  const [code, check] = byCheck[e.check ?? ''] ?? ['ENV_MALFORMED', 'RLY-14'];
  return new RelayError(code, `envelope refused (${e.code}${e.check ? ` ${e.check}` : ''})`, {
    check,
    cause: e,
  });
}

export class RelayService {
  readonly storage: RelayStorage;
  private readonly log: LogPort;
  private readonly hub: MailboxHub;
  readonly orgId: string;
  private readonly now: () => number;
  private readonly rules: IngestRules;
  private readonly blobQuotaBytes: number;
  private readonly claimBuckets: TokenBuckets;

  constructor(o: RelayServiceOptions) {
    this.storage = o.storage;
    this.log = o.log;
    this.hub = o.hub;
    this.orgId = o.orgId;
    this.now = o.now;
    this.rules =
      o.rules ??
      new IngestRules({
        storage: o.storage,
        orgId: o.orgId,
        now: o.now,
        envelopeSkewMs: o.envelopeSkewMs ?? 5 * 60_000,
        maxPayloadBytes: o.maxPayloadBytes ?? 64 * 1024 * 1024,
      });
    this.blobQuotaBytes = o.blobQuotaBytes ?? DEFAULT_RESOURCE_LIMITS.blobQuotaBytes;
    this.claimBuckets = new TokenBuckets(o.claimLimit ?? DEFAULT_CLAIM_LIMIT, o.now);
  }

  private async adminKey(): Promise<Uint8Array> {
    const k = await this.storage.getOrgAdmin();
    if (k === undefined) throw new RelayError('DIR_ADMIN_MISMATCH', 'no org-admin key is bound');
    return k;
  }

  // ── Directory (§4) ────────────────────────────────────────────────────────────────────────────────────────

  createUser(userId: string) {
    return this.storage.createUser(userId, this.now());
  }

  private async appendToLog(entry: Uint8Array): Promise<number> {
    try {
      const { index } = await this.log.append(entry);
      return index;
    } catch (e) {
      throw logUnavailable(e);
    }
  }

  /**
   * Enrols a device from the admin's device-added statement (AUTH-9, AUTH-10): the statement is checked, the
   * device recorded as pending, the statement appended to the log, and the device activated with the index.
   * A pending device cannot authenticate, so the directory never serves a device the log does not show. If the
   * append certainly failed the pending record is deleted; if its outcome is unknown the record stays pending
   * and the admin's retry with the same statement resumes it (the log may then hold the statement twice).
   */
  async enrolDevice(statementBytes: Uint8Array): Promise<DeviceRecord> {
    const s = verifyDeviceStatement(await this.adminKey(), 'added', statementBytes);
    if (s.orgId !== this.orgId)
      throw new RelayError('DIR_STATEMENT_INVALID', 'statement names another organisation', {
        check: 'AUTH-9',
      });
    const started = await this.storage.beginEnrolment({
      deviceId: s.deviceId,
      userId: s.userId,
      identityKey: s.identityKey,
      now: this.now(),
    });
    let index: number;
    try {
      index = await this.appendToLog(deviceEntry('added', statementBytes));
    } catch (e) {
      if (started === 'new' && certainlyNotAppended(e)) await this.storage.abandonEnrolment(s.deviceId);
      throw e;
    }
    return this.storage.completeEnrolment(s.deviceId, index);
  }

  /**
   * Removes a device from the admin's device-removed statement, which must name the device's user and key. The
   * device is cut off first (it can no longer authenticate, its mailbox and key packages are gone, its sockets
   * close), then the removal is logged; a failed append leaves it removed, and a retry logs it.
   */
  async removeDevice(deviceId: string, statementBytes: Uint8Array): Promise<DeviceRecord> {
    const kind: DeviceStatementKind = 'removed';
    const s = verifyDeviceStatement(await this.adminKey(), kind, statementBytes);
    const device = await this.storage.getDevice(deviceId);
    if (device === undefined || device.status === 'pending')
      throw new RelayError('DIR_DEVICE_UNKNOWN', 'no such device', { check: 'STORE-R-4' });
    if (
      s.orgId !== this.orgId ||
      s.deviceId !== deviceId ||
      s.userId !== device.userId ||
      !equalBytes(s.identityKey, device.identityKey)
    )
      throw new RelayError('DIR_STATEMENT_INVALID', 'statement does not name this device', {
        check: 'AUTH-9',
      });
    await this.storage.beginRemoval(deviceId, this.now());
    this.hub.removed(deviceId);
    const index = await this.appendToLog(deviceEntry(kind, statementBytes));
    return this.storage.completeRemoval(deviceId, index);
  }

  async listUserDevices(userId: string): Promise<DeviceRecord[]> {
    if ((await this.storage.getUser(userId)) === undefined)
      throw new RelayError('DIR_USER_UNKNOWN', 'no such user');
    return (await this.storage.listUserDevices(userId)).filter((d) => d.status !== 'pending');
  }

  /**
   * Publishes the organisation's signed policy (AUTH-12, relay.md §4.3): it must verify under the org-admin key,
   * name this org, and carry a serial greater than the policy in force (STORE-R-8); then it is logged (type 1) and
   * becomes the policy in force, the one every later epoch key is verified under.
   */
  async publishPolicy(signed: Uint8Array): Promise<PolicyRecord> {
    const p = verifyPolicyStatement(await this.adminKey(), signed);
    if (p.policy.orgId !== this.orgId)
      throw new RelayError('POLICY_INVALID', 'policy names another organisation', { check: 'AUTH-12' });
    const current = await this.storage.currentPolicy();
    if (current !== undefined && p.policy.serial <= current.serial)
      throw new RelayError('POLICY_STALE', 'policy serial is not greater than the policy in force', {
        check: 'STORE-R-8',
      });
    const logIndex = await this.appendToLog(policyEntry(signed));
    const record: PolicyRecord = { serial: p.policy.serial, signed, logIndex, publishedAt: this.now() };
    await this.storage.putPolicy(record);
    return record;
  }

  /** The policy in force on this relay's log, verified under the admin key, or undefined before the first. */
  async currentPolicy(): Promise<{ record: PolicyRecord; policy: VerifiedPolicy } | undefined> {
    const record = await this.storage.currentPolicy();
    if (record === undefined) return undefined;
    return { record, policy: verifyPolicyStatement(await this.adminKey(), record.signed) };
  }

  /**
   * Publishes an epoch key (AUTH-9, AUTH-11): the statement must verify under the policy in force on this relay's
   * log — at least k of its trustees signed it, it names that policy, and its verification keys interpolate to
   * its group key (core DIR-4..DIR-6). Then it is logged and stored with its index.
   *
   * A new epoch must be greater than every published one (STORE-R-2). An epoch that has a key takes a **resharing**
   * of it (STORE-R-2, relay.md §4.1): the same group key Y as the key in force for the epoch, under the policy in
   * force when the key in force is under another policy. Policies are logged in increasing serial and every stored
   * statement verified under the policy in force when it was logged, so "another policy" is an older one: the
   * resharing's policy has the greater serial. Anything else for an existing epoch (another Y, or the same policy
   * again) is EPOCH_KEY_EXISTS. The resharing replaces the key epoch-key reads serve; the history keeps both.
   */
  async publishEpochKey(statementBytes: Uint8Array): Promise<EpochKeyRecord> {
    const inForce = await this.currentPolicy();
    if (inForce === undefined)
      throw new RelayError('EPOCH_KEY_NO_POLICY', 'no access policy is in force: publish one first', {
        check: 'AUTH-11',
      });
    const s = verifyEpochKeyStatement(inForce.policy, statementBytes);
    if (s.orgId !== this.orgId)
      throw new RelayError('EPOCH_KEY_INVALID', 'statement names another organisation', { check: 'AUTH-9' });
    const existing = await this.storage.getEpochKey(s.epoch);
    if (existing !== undefined) {
      const previous = decodeEpochKeyStatement(existing.statement);
      const reshare =
        equalBytes(previous.groupKey, s.groupKey) && !equalBytes(previous.policyHash, inForce.policy.hash);
      if (!reshare)
        throw new RelayError(
          'EPOCH_KEY_EXISTS',
          equalBytes(previous.groupKey, s.groupKey)
            ? 'this epoch already has its key under the policy in force'
            : 'this epoch has another key',
          { check: 'STORE-R-2' },
        );
      const logIndex = await this.appendToLog(epochKeyEntry(statementBytes));
      const record = this.epochKeyRecord(s, statementBytes, logIndex);
      await this.storage.replaceEpochKey(record, existing.logIndex);
      return record;
    }
    // Keys are published in increasing order, each once (STORE-R-2), and may be published ahead of their month:
    // the latest published epoch orders publication; the current one follows the clock (RLY-17).
    const latest = await this.storage.currentEpochKey();
    if (latest !== undefined && s.epoch <= latest.epoch)
      throw new RelayError('EPOCH_KEY_INVALID', 'epoch is not new', { check: 'STORE-R-2' });
    const logIndex = await this.appendToLog(epochKeyEntry(statementBytes));
    const record = this.epochKeyRecord(s, statementBytes, logIndex);
    await this.storage.putEpochKey(record);
    return record;
  }

  private epochKeyRecord(
    s: DecodedEpochKeyStatement,
    statement: Uint8Array,
    logIndex: number,
  ): EpochKeyRecord {
    return {
      epoch: s.epoch,
      threshold: s.threshold,
      groupKey: s.groupKey,
      verificationKeys: s.verificationKeys,
      transcriptHash: s.transcriptHash,
      statement,
      logIndex,
      publishedAt: this.now(),
    };
  }

  /**
   * An epoch key by number, or `'current'`: the key of the epoch whose window contains the relay's clock
   * (relay.md §6.7). Keys published ahead of time are served by number only, so clients never seal to next
   * month's key this month.
   */
  async epochKey(epoch: number | 'current'): Promise<EpochKeyRecord> {
    if (epoch === 'current') return this.publishedKeyOf(calendarMonthEpoch(this.now()));
    const k = await this.storage.getEpochKey(epoch);
    if (k === undefined) throw new RelayError('EPOCH_KEY_UNKNOWN', 'no such epoch key');
    return k;
  }

  /** The published key of the epoch that is current (RLY-17): its absence is the relay's, not the client's. */
  private async publishedKeyOf(epoch: number): Promise<EpochKeyRecord> {
    const k = await this.storage.getEpochKey(epoch);
    if (k === undefined)
      throw new RelayError('EPOCH_KEY_NOT_PUBLISHED', 'no key is published for the current epoch', {
        check: 'RLY-17',
      });
    return k;
  }

  // ── Delivery service (§6) ───────────────────────────────────────────────────────────────────────────────

  /**
   * Stores key packages published by `device` (DS-6): each must be an MLSMessage(KeyPackage) whose leaf
   * signature key is the device's identity key and whose Overt credential names the device and its user.
   * `lastResort` becomes the device's last-resort package (DS-12): it must carry the last_resort extension
   * (RFC 9420 §16.8), and the one-time packages must not (DS_KEY_PACKAGE_KIND).
   */
  async publishKeyPackages(
    device: DeviceRecord,
    packages: readonly Uint8Array[],
    lastResort?: Uint8Array,
  ): Promise<number> {
    const read = (data: Uint8Array, wantLastResort: boolean) => {
      const kp = readKeyPackage(data);
      const owner =
        kp.credentialIdentity === undefined ? undefined : readOvertCredential(kp.credentialIdentity);
      if (
        !equalBytes(kp.signatureKey, device.identityKey) ||
        owner === undefined ||
        owner.userId !== device.userId ||
        !equalBytes(owner.deviceId, utf8Encode(device.deviceId)) ||
        !equalBytes(owner.identityKey, device.identityKey)
      )
        throw new RelayError('DS_KEY_PACKAGE_OWNER', 'the key package is not this device', { check: 'DS-6' });
      if (kp.lastResort !== wantLastResort)
        throw new RelayError(
          'DS_KEY_PACKAGE_KIND',
          wantLastResort
            ? 'a last-resort key package must carry the last_resort extension'
            : 'a one-time key package must not carry the last_resort extension',
          { check: 'DS-12' },
        );
      return { ref: kp.ref, data };
    };
    const stored = packages.map((data) => read(data, false));
    return this.storage.addKeyPackages(
      device.deviceId,
      stored,
      this.now(),
      lastResort === undefined ? undefined : read(lastResort, true),
    );
  }

  /**
   * DS-11: one token per claimed device from the bucket of (claiming device, claimed device), taken for all of a
   * claim's devices at once and before anything is claimed, so a device that claims the same packages over and
   * over is refused before it drains them, while adding many different devices is not held back.
   */
  private takeClaimTokens(caller: DeviceRecord, deviceIds: readonly string[]): void {
    try {
      this.claimBuckets.takeEach(deviceIds.map((d) => `${caller.deviceId}\u0000${d}`));
    } catch (e) {
      if (!isRelayError(e, 'RELAY_RATE_LIMITED')) throw e;
      throw new RelayError('DS_CLAIM_LIMITED', 'too many claims of these key packages', {
        check: 'DS-11',
        ...(e.retryAfter !== undefined ? { retryAfter: e.retryAfter } : {}),
      });
    }
  }

  /**
   * Claims one key package of every active device of `userId` except the caller (DS-6): a one-time package, or
   * with none left the device's last-resort package (DS-12). Devices with neither are listed as exhausted, so
   * the answer says which devices cannot be added. DS_CLAIM_LIMITED (DS-11) before anything is claimed.
   */
  async claimKeyPackages(
    caller: DeviceRecord,
    userId: string,
  ): Promise<{ claimed: ClaimedPackage[]; exhausted: string[] }> {
    const devices = (await this.listUserDevices(userId)).filter(
      (d) => d.status === 'active' && d.deviceId !== caller.deviceId,
    );
    this.takeClaimTokens(
      caller,
      devices.map((d) => d.deviceId),
    );
    const claimed: ClaimedPackage[] = [];
    const exhausted: string[] = [];
    for (const d of devices) {
      const kp = await this.storage.claimKeyPackage(d.deviceId, this.now());
      if (kp === undefined) exhausted.push(d.deviceId);
      else claimed.push({ deviceId: d.deviceId, keyPackage: kp.data, lastResort: kp.lastResort });
    }
    return { claimed, exhausted };
  }

  /**
   * Claims one key package of the named device of `userId` (DS-6), for adding one new device to the
   * conversations its user is already in without using up a package of each of the user's other devices. The
   * device must be an active device of that user other than the caller; with neither a one-time nor a
   * last-resort package left the claim is refused with DS_KEY_PACKAGE_EXHAUSTED rather than answered empty, so a
   * caller cannot mistake it for success. DS_CLAIM_LIMITED (DS-11) before anything is claimed.
   */
  async claimDeviceKeyPackage(
    caller: DeviceRecord,
    userId: string,
    deviceId: string,
  ): Promise<ClaimedPackage> {
    if ((await this.storage.getUser(userId)) === undefined)
      throw new RelayError('DIR_USER_UNKNOWN', 'no such user');
    const d = await this.storage.getDevice(deviceId);
    if (d === undefined || d.userId !== userId || d.status === 'pending')
      throw new RelayError('DIR_DEVICE_UNKNOWN', 'no such device of this user', { check: 'DS-6' });
    if (d.status === 'removed')
      throw new RelayError('DIR_DEVICE_REMOVED', 'the device was removed', { check: 'DS-6' });
    if (d.deviceId === caller.deviceId)
      throw new RelayError('DS_KEY_PACKAGE_OWNER', 'a device does not claim its own key packages', {
        check: 'DS-6',
      });
    this.takeClaimTokens(caller, [d.deviceId]);
    const kp = await this.storage.claimKeyPackage(d.deviceId, this.now());
    if (kp === undefined)
      throw new RelayError('DS_KEY_PACKAGE_EXHAUSTED', 'the device has no key package left', {
        check: 'DS-6',
      });
    return { deviceId, keyPackage: kp.data, lastResort: kp.lastResort };
  }

  createGroup(device: DeviceRecord, groupId: Uint8Array): Promise<GroupRecord> {
    return this.storage.createGroup(groupId, device.deviceId, this.now());
  }

  async getGroup(device: DeviceRecord, groupId: Uint8Array): Promise<GroupRecord> {
    return mustBeMember(await this.storage.getGroup(groupId), device.deviceId);
  }

  async listCommits(
    device: DeviceRecord,
    groupId: Uint8Array,
    from: number,
    limit: number,
  ): Promise<StoredCommit[]> {
    mustBeMember(await this.storage.getGroup(groupId), device.deviceId);
    return this.storage.listCommits(groupId, from, limit);
  }

  /**
   * Accepts a commit (DS-1..DS-8): the MLS framing must be a commit of this group; its epoch is read from the
   * framing, never from the client's JSON. The devices added are exactly the owners of the claimed key packages
   * the Welcome is addressed to (DS-8), so a committer cannot route a Welcome to a device it did not add.
   */
  async submitCommit(
    device: DeviceRecord,
    groupId: Uint8Array,
    commit: Uint8Array,
    welcome: Uint8Array | undefined,
    removes: readonly string[],
  ): Promise<CommitOutcome> {
    const framing = readGroupMessage(commit);
    if (framing.contentType !== 'commit')
      throw new RelayError('DS_WIRE_FORMAT', 'expected a commit', { check: 'DS-1' });
    if (!equalBytes(framing.groupId, groupId))
      throw new RelayError('DS_GROUP_MISMATCH', 'the commit belongs to another group', { check: 'DS-2' });
    const adds: string[] = [];
    if (welcome !== undefined) {
      for (const ref of readWelcomeRecipients(welcome)) {
        const owner = await this.storage.claimedKeyPackageOwner(ref);
        if (owner === undefined)
          throw new RelayError('DS_MEMBERSHIP', 'the Welcome names a key package that was not claimed', {
            check: 'DS-8',
          });
        if (adds.includes(owner))
          throw new RelayError('DS_MEMBERSHIP', 'the Welcome names one device twice', { check: 'DS-8' });
        adds.push(owner);
      }
    }
    const outcome = await this.storage.acceptCommit({
      groupId,
      epoch: framing.epoch,
      senderDeviceId: device.deviceId,
      commit,
      adds,
      removes,
      welcome: welcome ?? null,
      now: this.now(),
    });
    this.hub.notify([...outcome.notified, ...outcome.welcomed]);
    return outcome;
  }

  /**
   * Fans an application or proposal message out to the group (DS-1, DS-2, DS-3, DS-5). With `envelopeId` the
   * message's mailbox items are linked to the envelope it announces, so catch-up reads serve it with them
   * (relay.md §6.9): CU-1 requires a stored envelope of this device in this conversation whose recipients are
   * exactly the users of the group's members, so the link never shows an envelope to a device whose user is not
   * a recipient (the roster cannot change without a new epoch, which DS-3 refuses for this message).
   */
  async postMessage(
    device: DeviceRecord,
    groupId: Uint8Array,
    message: Uint8Array,
    envelopeId?: Uint8Array,
  ): Promise<readonly string[]> {
    const framing = readGroupMessage(message);
    if (framing.contentType === 'commit')
      throw new RelayError('DS_WIRE_FORMAT', 'commits go to the commit endpoint', { check: 'DS-1' });
    if (!equalBytes(framing.groupId, groupId))
      throw new RelayError('DS_GROUP_MISMATCH', 'the message belongs to another group', { check: 'DS-2' });
    if (envelopeId !== undefined) await this.checkEnvelopeLink(device, groupId, framing.epoch, envelopeId);
    const recipients = await this.storage.postGroupMessage({
      groupId,
      epoch: framing.epoch,
      senderDeviceId: device.deviceId,
      message,
      now: this.now(),
      ...(envelopeId !== undefined ? { envelopeId } : {}),
    });
    this.hub.notify(recipients);
    return recipients;
  }

  /**
   * CU-1 (see {@link postMessage}). A message of an epoch that is no longer current is refused as DS-3 would
   * refuse it, before the roster is compared: the sender lost a race and retries under the new roster, which an
   * ENV_CONTEXT would not tell it.
   */
  private async checkEnvelopeLink(
    device: DeviceRecord,
    groupId: Uint8Array,
    epoch: number,
    envelopeId: Uint8Array,
  ) {
    const e = await this.storage.getEnvelope(envelopeId);
    if (e === undefined)
      throw new RelayError('ENV_NOT_FOUND', 'the linked envelope is not stored', { check: 'CU-1' });
    const refuse = (why: string) =>
      new RelayError('ENV_CONTEXT', `linked envelope refused: ${why}`, { check: 'CU-1' });
    if (e.senderDeviceId !== device.deviceId) throw refuse('another device sent it');
    if (!equalBytes(e.conversationId, groupId)) throw refuse('it belongs to another conversation');
    const group = mustBeMember(await this.storage.getGroup(groupId), device.deviceId);
    if (group.epoch !== epoch)
      throw new RelayError('DS_EPOCH_MISMATCH', 'the message is not of the current epoch', { check: 'DS-3' });
    const users = new Set<string>();
    for (const d of group.members) {
      const rec = await this.storage.getDevice(d);
      if (rec !== undefined) users.add(rec.userId);
    }
    const recipients = new Set(decodeHeader(e.header).recipients);
    if (recipients.size !== users.size || [...users].some((u) => !recipients.has(u)))
      throw refuse("its recipients are not the group's users");
  }

  fetchMailbox(device: DeviceRecord, after: number, limit: number): Promise<MailboxItem[]> {
    return this.storage.fetchMailbox(device.deviceId, after, limit);
  }

  /**
   * A catch-up page (relay.md §6.9): pending items with seq > `after`, bounded by `limit` items and `maxBytes`,
   * each with its linked envelope when this device may read it (RLY-9: its user is among the header's
   * recipients; otherwise the item comes without it, and nothing says an envelope was withheld), and for a
   * blob-backed envelope its blob's geometry.
   */
  async catchUp(
    device: DeviceRecord,
    after: number,
    limit: number,
    maxBytes: number,
  ): Promise<{ items: CatchUpItem[]; more: boolean }> {
    const page = await this.storage.fetchCatchUp(device.deviceId, after, limit, maxBytes);
    const items: CatchUpItem[] = [];
    for (const d of page.deliveries) {
      const e = d.envelope;
      if (e === undefined || !decodeHeader(e.header).recipients.includes(device.userId)) {
        items.push({ item: d.item, envelope: undefined, blob: undefined });
        continue;
      }
      const blob = e.blobId === null ? undefined : await this.storage.getBlob(e.blobId);
      if (e.blobId !== null && blob === undefined)
        throw new RelayError('STORE_R_CORRUPT', 'an envelope blob is missing');
      items.push({ item: d.item, envelope: e, blob });
    }
    return { items, more: page.more };
  }

  ackMailbox(device: DeviceRecord, upTo: number): Promise<number> {
    return this.storage.ackMailbox(device.deviceId, upTo);
  }

  // ── Envelopes and blobs (§6.7) ─────────────────────────────────────────────────────────────────────────

  /**
   * Ingests an envelope with the relay's ingest rules — the one function the WebSocket send path runs too
   * (ingest/rules.ts: RLY-10..12, 14, 15, 17, 19, DS-5) — and core's ingest check (sender signature RLY-20,
   * capsule RLY-13, digest RLY-14), then stores it. `body` is the whole envelope, or, with `blobId`, its head only
   * (u32 len ‖ header ‖ capsule ‖ signature) while the ciphertext is the blob's content.
   */
  async putEnvelope(
    device: DeviceRecord,
    messageId: Uint8Array,
    body: Uint8Array,
    blobId: string | undefined,
  ): Promise<'stored' | 'duplicate'> {
    let ingested: IngestedEnvelope;
    let ciphertext: Uint8Array | null = null;
    try {
      const headLength = envelopeHeadLength(body);
      const headBytes = body.subarray(0, headLength);
      const head = decodeEnvelopeHead(headBytes);
      if (!equalBytes(head.header.messageId, messageId))
        throw new RelayError('ENV_ID_MISMATCH', 'the header names another message id', { check: 'RLY-16' });
      const ruled = await this.rules.check(device, head.header);
      const ingester = EnvelopeIngester.create(head, this.rules.coreContext(device, ruled));
      if (blobId === undefined) {
        ciphertext = body.slice(headLength);
        await ingester.update(ciphertext);
      } else {
        if (body.length !== headLength)
          throw new RelayError('ENV_MALFORMED', 'a blob-backed upload carries the head only', {
            check: 'RLY-14',
          });
        const blob = await this.storage.getBlob(blobId);
        if (blob === undefined || blob.ownerDeviceId !== device.deviceId)
          throw new RelayError('BLOB_UNKNOWN', 'no such blob of this device');
        if (!blob.complete) throw new RelayError('BLOB_STATE', 'the blob is not complete');
        for (let i = 0; i < blobChunkCount(blob.size, blob.chunkSize); i++) {
          const chunk = await this.storage.readBlobChunk(blobId, i);
          if (chunk === undefined) throw new RelayError('STORE_R_CORRUPT', 'a blob chunk is missing');
          await ingester.update(chunk);
        }
      }
      ingested = await ingester.finish();
    } catch (e) {
      throw ingestError(e);
    }
    const h = ingested.header;
    const record: EnvelopeRecord = {
      messageId,
      orgId: h.orgId,
      epoch: h.epoch,
      conversationId: h.conversationId,
      senderUserId: h.senderUserId,
      senderDeviceId: device.deviceId,
      sendTime: h.sendTime,
      header: ingested.headerBytes,
      capsule: encodeCapsule(ingested.capsule),
      signature: ingested.signature,
      ciphertext,
      blobId: blobId ?? null,
      receivedAt: this.now(),
    };
    return this.storage.putEnvelope(record);
  }

  /** An envelope, to a device whose user is among its header's recipients (RLY-9). */
  async getEnvelope(device: DeviceRecord, messageId: Uint8Array): Promise<EnvelopeRecord> {
    const e = await this.storage.getEnvelope(messageId);
    if (e === undefined) throw new RelayError('ENV_NOT_FOUND', 'no such envelope');
    if (!decodeHeader(e.header).recipients.includes(device.userId))
      throw new RelayError('ENV_FORBIDDEN', 'the device is not a recipient of the envelope', {
        check: 'RLY-9',
      });
    return e;
  }

  async readEnvelopeChunk(device: DeviceRecord, messageId: Uint8Array, index: number): Promise<Uint8Array> {
    const e = await this.getEnvelope(device, messageId);
    if (e.blobId === null) throw new RelayError('BLOB_UNKNOWN', 'the envelope has no blob');
    const chunk = await this.storage.readBlobChunk(e.blobId, index);
    if (chunk === undefined) throw new RelayError('BLOB_UNKNOWN', 'no such chunk');
    return chunk;
  }

  deleteEpoch(epoch: number): Promise<number> {
    return this.storage.deleteEpochEnvelopes(this.orgId, epoch);
  }

  /**
   * Starts a chunked blob. `digest` is the SHA-256 of the whole blob when the owner knows it up front; without it
   * (the streaming form) the owner declares it at completion, so it can upload chunks as it seals them. The blob
   * reserves its size in the device's quota at once (BLOB_QUOTA, STORE-R-9).
   */
  async createBlob(
    device: DeviceRecord,
    size: number,
    chunkSize: number,
    digest: Uint8Array | undefined,
  ): Promise<string> {
    const blobId = toBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(16)));
    await this.storage.createBlob(
      {
        blobId,
        ownerDeviceId: device.deviceId,
        size,
        chunkSize,
        sha256: digest ?? null,
        now: this.now(),
      },
      this.blobQuotaBytes,
    );
    return blobId;
  }

  putBlobChunk(device: DeviceRecord, blobId: string, index: number, data: Uint8Array): Promise<void> {
    return this.storage.putBlobChunk(blobId, device.deviceId, index, data);
  }

  /**
   * Completes a blob once every chunk is stored and the whole matches its SHA-256 (STORE-R-6): the one declared
   * at creation, or the one given now (both may be given; they must then agree). With neither there is nothing to
   * check against, and the blob stays incomplete.
   */
  async completeBlob(device: DeviceRecord, blobId: string, declared?: Uint8Array): Promise<void> {
    const blob = await this.storage.getBlob(blobId);
    if (blob === undefined || blob.ownerDeviceId !== device.deviceId)
      throw new RelayError('BLOB_UNKNOWN', 'no such blob of this device');
    if (blob.sha256 !== null && declared !== undefined && !equalBytes(blob.sha256, declared))
      throw new RelayError('BLOB_DIGEST', 'the digest differs from the one declared at creation', {
        check: 'STORE-R-6',
      });
    const expected = blob.sha256 ?? declared;
    if (expected === undefined)
      throw new RelayError('BLOB_DIGEST', 'no digest was declared for the blob', { check: 'STORE-R-6' });
    const count = blobChunkCount(blob.size, blob.chunkSize);
    if (blob.chunksStored !== count)
      throw new RelayError('BLOB_STATE', 'the blob is missing chunks', { check: 'STORE-R-6' });
    const digest = sha256.create();
    for (let i = 0; i < count; i++) {
      const c = await this.storage.readBlobChunk(blobId, i);
      if (c === undefined)
        throw new RelayError('BLOB_STATE', 'the blob is missing chunks', { check: 'STORE-R-6' });
      digest.update(c);
    }
    if (!equalBytes(digest.digest(), expected))
      throw new RelayError('BLOB_DIGEST', 'the blob does not match its SHA-256', { check: 'STORE-R-6' });
    await this.storage.completeBlob(blobId, device.deviceId, expected);
  }
}
