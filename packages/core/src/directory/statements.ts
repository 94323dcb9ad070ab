/**
 * The org-admin's signed directory statements (docs/spec/directory.md): a device key added to or removed from a
 * user, and an epoch's escrow public key. The admin's tool builds and signs them; the relay checks them and
 * appends their exact bytes to the transparency log; every client checks them again before it trusts a device
 * key or seals to an epoch key. A log entry naming a device key is therefore evidence that the org-admin enrolled
 * it: a relay operator without the admin key cannot add a ghost device (DESIGN A6), and a relay that serves a
 * device or epoch key with no such entry is caught by the client.
 *
 *     statement := content ‖ signature[64]
 *     signature := Ed25519(admin, u16 len(tag) ‖ tag ‖ content)        (the framing of workflow/signed.ts)
 *
 *     device content    := vec8(org_id) ‖ vec8(user_id) ‖ vec8(device_id) ‖ identity_key[32] ‖ u64 time_ms
 *       tag = "overt/directory/v1/device-added" | "overt/directory/v1/device-removed"
 *     epoch-key content := vec8(org_id) ‖ u32 epoch ‖ u8 k ‖ u8 n ‖ group_key[32] ‖ n × verification_key[32] ‖
 *                          transcript_hash[32] ‖ u64 time_ms
 *       tag = "overt/directory/v1/epoch-key"
 *
 *     log entry := u8 type ‖ statement      type: epoch_key = 2, device_added = 3, device_removed = 4
 *
 * Browser-safe and pure. Every decoder takes attacker bytes and fails only with DIRECTORY_* errors (DIR-1..DIR-3).
 */
import { concatBytes, utf8Encode } from '../bytes.js';
import { Reader, Writer } from '../codec.js';
import { isOvertError, OvertError } from '../errors.js';
import { decodeElement } from '../group.js';
import { isDeviceId, isOrgId, isUserId } from '../ids.js';
import { SIGNATURE_BYTES, type SigningKeyPair, sign, verifySignature } from '../sign.js';

export const TAG_DEVICE_ADDED = 'overt/directory/v1/device-added';
export const TAG_DEVICE_REMOVED = 'overt/directory/v1/device-removed';
export const TAG_EPOCH_KEY = 'overt/directory/v1/epoch-key';

/**
 * The log entry types of directory statements. They are the codes of the log's registry (@overt/log entry.ts
 * ENTRY_TYPES); core cannot import the log, so they are repeated here and a test checks they agree.
 */
export const DIRECTORY_ENTRY_TYPES = { epoch_key: 2, device_added: 3, device_removed: 4 } as const;

// Org, user and device ids: the limits and alphabets shared by every part of the protocol (ids.ts,
// foundations.md §8; the relay's alphabets of relay.md §2.2).
export { isDeviceId, isOrgId, isUserId } from '../ids.js';

export type DeviceStatementKind = 'added' | 'removed';

export interface DeviceStatement {
  readonly kind: DeviceStatementKind;
  readonly orgId: string;
  readonly userId: string;
  readonly deviceId: string;
  /** The device's Ed25519 identity key (also its MLS signature key). */
  readonly identityKey: Uint8Array;
  /** Milliseconds since the Unix epoch, as the admin's tool stated it. */
  readonly time: number;
}

export interface EpochKeyStatement {
  readonly orgId: string;
  readonly epoch: number;
  readonly threshold: number;
  readonly groupKey: Uint8Array;
  readonly verificationKeys: readonly Uint8Array[];
  readonly transcriptHash: Uint8Array;
  readonly time: number;
}

/** A verified directory log entry. */
export type DirectoryStatement =
  | { readonly type: 'device'; readonly statement: DeviceStatement }
  | { readonly type: 'epoch-key'; readonly statement: EpochKeyStatement };

function signingInput(tag: string, content: Uint8Array): Uint8Array {
  return concatBytes(new Writer(64).vec16(utf8Encode(tag)).finish(), content);
}

function deviceInvalid(message: string, cause?: unknown): never {
  throw new OvertError('DIRECTORY_STATEMENT_INVALID', message, { check: 'DIR-1', cause });
}

function epochInvalid(message: string, cause?: unknown): never {
  throw new OvertError('DIRECTORY_EPOCH_KEY_INVALID', message, { check: 'DIR-2', cause });
}

function deviceTag(kind: DeviceStatementKind): string {
  return kind === 'added' ? TAG_DEVICE_ADDED : TAG_DEVICE_REMOVED;
}

/** Printable ASCII bytes as a string; `fail` for anything else (ids are never UTF-8 beyond ASCII). */
function ascii(b: Uint8Array, fail: (m: string) => never): string {
  let s = '';
  for (const c of b) {
    if (c < 0x21 || c > 0x7e) fail('identifier is not printable ASCII');
    s += String.fromCharCode(c);
  }
  return s;
}

function isTime(t: number): boolean {
  return Number.isSafeInteger(t) && t >= 0;
}

function deviceContent(s: DeviceStatement): Uint8Array {
  return new Writer(200)
    .vec8(utf8Encode(s.orgId))
    .vec8(utf8Encode(s.userId))
    .vec8(utf8Encode(s.deviceId))
    .bytes(s.identityKey)
    .u64(s.time)
    .finish();
}

/** Builds and signs a device statement (the admin tool's side). DIRECTORY_STATEMENT_INVALID for bad fields. */
export function signDeviceStatement(admin: SigningKeyPair, s: DeviceStatement): Uint8Array {
  if (
    (s.kind !== 'added' && s.kind !== 'removed') ||
    !isOrgId(s.orgId) ||
    !isUserId(s.userId) ||
    !isDeviceId(s.deviceId) ||
    !(s.identityKey instanceof Uint8Array) ||
    s.identityKey.length !== 32 ||
    !isTime(s.time)
  )
    deviceInvalid('statement fields are out of range');
  const content = deviceContent(s);
  return concatBytes(content, sign(admin, signingInput(deviceTag(s.kind), content)));
}

/** Splits a statement into content and signature. */
function split(
  bytes: Uint8Array,
  fail: (m: string) => never,
): { content: Uint8Array; signature: Uint8Array } {
  if (!(bytes instanceof Uint8Array) || bytes.length < SIGNATURE_BYTES) fail('statement too short');
  return {
    content: bytes.subarray(0, bytes.length - SIGNATURE_BYTES),
    signature: bytes.subarray(bytes.length - SIGNATURE_BYTES),
  };
}

/**
 * Decodes a device statement of `kind` WITHOUT checking its signature (for display and indexing; trust only
 * {@link verifyDeviceStatement}). DIRECTORY_STATEMENT_INVALID (DIR-1) when it does not decode canonically or has
 * out-of-range ids.
 */
export function decodeDeviceStatement(kind: DeviceStatementKind, bytes: Uint8Array): DeviceStatement {
  const { content } = split(bytes, deviceInvalid);
  let s: DeviceStatement;
  try {
    const r = new Reader(content);
    const orgId = ascii(r.vec8('org id'), deviceInvalid);
    const userId = ascii(r.vec8('user id'), deviceInvalid);
    const deviceId = ascii(r.vec8('device id'), deviceInvalid);
    const identityKey = r.bytes(32, 'identity key').slice();
    const time = r.u64('time');
    r.finish('device statement');
    s = { kind, orgId, userId, deviceId, identityKey, time };
  } catch (e) {
    if (isOvertError(e, 'DIRECTORY_STATEMENT_INVALID')) throw e;
    if (isOvertError(e)) deviceInvalid('statement does not decode', e);
    throw e;
  }
  if (!isOrgId(s.orgId) || !isUserId(s.userId) || !isDeviceId(s.deviceId))
    deviceInvalid('statement ids are invalid');
  return s;
}

/**
 * Decodes and verifies a device statement of `kind` under the admin key. DIRECTORY_STATEMENT_INVALID (DIR-1)
 * when it does not decode canonically, has out-of-range ids, or its signature does not verify.
 */
export function verifyDeviceStatement(
  adminKey: Uint8Array,
  kind: DeviceStatementKind,
  bytes: Uint8Array,
): DeviceStatement {
  const s = decodeDeviceStatement(kind, bytes);
  const { content, signature } = split(bytes, deviceInvalid);
  if (!verifySignature(adminKey, signingInput(deviceTag(kind), content), signature))
    deviceInvalid('statement signature does not verify');
  return s;
}

function epochKeyContent(s: EpochKeyStatement): Uint8Array {
  const w = new Writer(128 + 32 * s.verificationKeys.length)
    .vec8(utf8Encode(s.orgId))
    .u32(s.epoch)
    .u8(s.threshold)
    .u8(s.verificationKeys.length)
    .bytes(s.groupKey);
  for (const vk of s.verificationKeys) w.bytes(vk);
  return w.bytes(s.transcriptHash).u64(s.time).finish();
}

/**
 * Builds and signs an epoch-key statement (the admin tool's side, after the trustees' DKG).
 * DIRECTORY_EPOCH_KEY_INVALID for fields out of range.
 */
export function signEpochKeyStatement(admin: SigningKeyPair, s: EpochKeyStatement): Uint8Array {
  const n = s.verificationKeys.length;
  if (
    !isOrgId(s.orgId) ||
    !Number.isSafeInteger(s.epoch) ||
    s.epoch < 0 ||
    s.epoch > 0xffffffff ||
    !Number.isSafeInteger(s.threshold) ||
    s.threshold < 1 ||
    s.threshold > n ||
    n > 0xff ||
    s.groupKey.length !== 32 ||
    s.verificationKeys.some((k) => k.length !== 32) ||
    s.transcriptHash.length !== 32 ||
    !isTime(s.time)
  )
    epochInvalid('statement fields are out of range');
  const content = epochKeyContent(s);
  return concatBytes(content, sign(admin, signingInput(TAG_EPOCH_KEY, content)));
}

/**
 * Decodes an epoch-key statement WITHOUT checking its signature: canonical encoding, 1 ≤ k ≤ n, every key a
 * canonical non-identity ristretto255 element. DIRECTORY_EPOCH_KEY_INVALID (DIR-2) otherwise.
 */
export function decodeEpochKeyStatement(bytes: Uint8Array): EpochKeyStatement {
  const { content } = split(bytes, epochInvalid);
  try {
    const r = new Reader(content);
    const orgId = ascii(r.vec8('org id'), epochInvalid);
    const epoch = r.u32('epoch');
    const threshold = r.u8('threshold');
    const n = r.u8('participants');
    const groupKey = decodeElement(r.bytes(32, 'group key'), 'group key');
    const verificationKeys: Uint8Array[] = [];
    for (let i = 0; i < n; i++)
      verificationKeys.push(decodeElement(r.bytes(32, 'verification key'), 'verification key'));
    const transcriptHash = r.bytes(32, 'transcript hash').slice();
    const time = r.u64('time');
    r.finish('epoch key statement');
    if (!isOrgId(orgId)) epochInvalid('org id is invalid');
    if (threshold < 1 || threshold > n) epochInvalid('threshold out of range');
    return { orgId, epoch, threshold, groupKey, verificationKeys, transcriptHash, time };
  } catch (e) {
    if (isOvertError(e, 'DIRECTORY_EPOCH_KEY_INVALID')) throw e;
    if (isOvertError(e)) epochInvalid('statement does not decode', e);
    throw e;
  }
}

/** Decodes and verifies an epoch-key statement under the admin key. DIRECTORY_EPOCH_KEY_INVALID (DIR-2). */
export function verifyEpochKeyStatement(adminKey: Uint8Array, bytes: Uint8Array): EpochKeyStatement {
  const s = decodeEpochKeyStatement(bytes);
  const { content, signature } = split(bytes, epochInvalid);
  if (!verifySignature(adminKey, signingInput(TAG_EPOCH_KEY, content), signature))
    epochInvalid('statement signature does not verify');
  return s;
}

/** The log entry of a device statement: u8 type ‖ statement. */
export function deviceEntry(kind: DeviceStatementKind, statement: Uint8Array): Uint8Array {
  const type = kind === 'added' ? DIRECTORY_ENTRY_TYPES.device_added : DIRECTORY_ENTRY_TYPES.device_removed;
  return concatBytes(Uint8Array.of(type), statement);
}

/** The log entry of an epoch-key statement: u8 type ‖ statement. */
export function epochKeyEntry(statement: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(DIRECTORY_ENTRY_TYPES.epoch_key), statement);
}

/** True when a log entry's type byte is a directory statement's (2, 3 or 4). */
export function isDirectoryEntry(entry: Uint8Array): boolean {
  const t = entry[0];
  return (
    t === DIRECTORY_ENTRY_TYPES.epoch_key ||
    t === DIRECTORY_ENTRY_TYPES.device_added ||
    t === DIRECTORY_ENTRY_TYPES.device_removed
  );
}

/**
 * Verifies a log entry as a directory statement under the admin key. DIRECTORY_ENTRY_INVALID (DIR-3) when its
 * type is not a directory type; DIR-1/DIR-2 errors when its statement does not decode or verify.
 */
export function verifyDirectoryEntry(adminKey: Uint8Array, entry: Uint8Array): DirectoryStatement {
  if (!(entry instanceof Uint8Array) || !isDirectoryEntry(entry))
    throw new OvertError('DIRECTORY_ENTRY_INVALID', 'log entry is not a directory statement', {
      check: 'DIR-3',
    });
  const body = entry.subarray(1);
  switch (entry[0]) {
    case DIRECTORY_ENTRY_TYPES.epoch_key:
      return { type: 'epoch-key', statement: verifyEpochKeyStatement(adminKey, body) };
    case DIRECTORY_ENTRY_TYPES.device_added:
      return { type: 'device', statement: verifyDeviceStatement(adminKey, 'added', body) };
    default:
      return { type: 'device', statement: verifyDeviceStatement(adminKey, 'removed', body) };
  }
}
