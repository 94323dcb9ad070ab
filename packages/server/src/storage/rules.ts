/**
 * The delivery-service rules that every storage driver applies inside its transaction (docs/spec/relay.md §6):
 * written once here and called by each driver with the rows it read under its lock, so that the SQLite and
 * PostgreSQL drivers cannot disagree on which commit or message is acceptable.
 */
import { RelayError } from '../errors.js';
import type { CommitSubmission, DeviceStatus, EnvelopeRecord, GroupMessage } from './storage.js';
import { sortedUnique } from './storage.js';

/** The group as read inside the transaction. */
export interface GroupState {
  readonly epoch: number;
  readonly members: readonly string[];
}

export interface CommitPlan {
  readonly newEpoch: number;
  /** Members after the commit, sorted. */
  readonly members: readonly string[];
  /** Mailboxes that receive the commit, sorted. */
  readonly notified: readonly string[];
  /** Mailboxes that receive the Welcome, sorted. */
  readonly welcomed: readonly string[];
}

function membership(message: string): never {
  throw new RelayError('DS_MEMBERSHIP', message, { check: 'DS-7' });
}

/**
 * Decides a commit. `commitExists` says whether (group, submission.epoch) already has an accepted commit;
 * `status` gives the directory status of the old members and the added devices.
 */
export function planCommit(
  group: GroupState,
  submission: CommitSubmission,
  commitExists: boolean,
  status: ReadonlyMap<string, DeviceStatus>,
): CommitPlan {
  if (!group.members.includes(submission.senderDeviceId))
    throw new RelayError('DS_NOT_MEMBER', 'the sender is not a member of the group', { check: 'DS-5' });
  // DS-4 before DS-3: the loser of a race for epoch e sees "conflict", which tells it to process the winner's
  // commit and retry, rather than a generic mismatch.
  if (commitExists)
    throw new RelayError('DS_COMMIT_CONFLICT', 'a commit for this epoch was already accepted', {
      check: 'DS-4',
    });
  if (submission.epoch !== group.epoch)
    throw new RelayError('DS_EPOCH_MISMATCH', 'the commit is not for the group current epoch', {
      check: 'DS-3',
    });
  const adds = sortedUnique(submission.adds);
  const removes = sortedUnique(submission.removes);
  if (adds.length !== submission.adds.length || removes.length !== submission.removes.length)
    membership('duplicate device in adds or removes');
  const members = new Set(group.members);
  for (const d of adds) {
    if (members.has(d)) membership('an added device is already a member');
    if (status.get(d) !== 'active') membership('an added device is not an active device');
  }
  for (const d of removes) {
    if (!members.has(d)) membership('a removed device is not a member');
    // RFC 9420 §12.2: a member cannot remove itself by commit; it asks another member to.
    if (d === submission.senderDeviceId) membership('the committer cannot remove itself');
  }
  if (adds.length > 0 !== (submission.welcome !== null))
    membership('a Welcome is required exactly when devices are added');
  const notified = group.members.filter((d) => d !== submission.senderDeviceId && status.get(d) === 'active');
  for (const d of removes) members.delete(d);
  for (const d of adds) members.add(d);
  return { newEpoch: group.epoch + 1, members: sortedUnique([...members]), notified, welcomed: adds };
}

/** Decides a group message (DS-3, DS-5); resolves the recipients, sorted. */
export function planMessage(
  group: GroupState,
  message: GroupMessage,
  status: ReadonlyMap<string, DeviceStatus>,
): string[] {
  if (!group.members.includes(message.senderDeviceId))
    throw new RelayError('DS_NOT_MEMBER', 'the sender is not a member of the group', { check: 'DS-5' });
  if (message.epoch !== group.epoch)
    throw new RelayError('DS_EPOCH_MISMATCH', 'the message is not for the group current epoch', {
      check: 'DS-3',
    });
  return group.members.filter((d) => d !== message.senderDeviceId && status.get(d) === 'active');
}

/** The one stored-envelope equality used for idempotent PUT. */
/**
 * STORE-R-5, for an envelope whose message id is taken by `stored`: 'duplicate' when it is the stored envelope
 * byte for byte (a retried upload), ENV_EXISTS otherwise. `sameBlob`: the blob must be the same one too.
 */
export function resubmittedEnvelope(
  stored: EnvelopeRecord,
  e: EnvelopeRecord,
  sameBlob: boolean,
): 'duplicate' {
  if (
    sameBytes(stored.header, e.header) &&
    sameBytes(stored.capsule, e.capsule) &&
    sameBytes(stored.signature, e.signature) &&
    sameBytes(stored.ciphertext, e.ciphertext) &&
    (!sameBlob || stored.blobId === e.blobId)
  )
    return 'duplicate';
  throw new RelayError('ENV_EXISTS', 'another envelope has this message id', { check: 'STORE-R-5' });
}

export function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
