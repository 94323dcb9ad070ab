/**
 * The org-admin's signed directory statements, which the relay appends to the transparency log verbatim as
 * entries of type device_added (3), device_removed (4) and epoch_key (2) (log entry.ts; docs/spec/relay.md §4).
 *
 * The statement is built and signed by the admin's tool, not by the relay: the relay checks it and appends its
 * exact bytes, so a log entry naming a device key is evidence that the org-admin enrolled it. A relay operator
 * without the admin key cannot add a ghost device to the log (DESIGN A6), and a relay that serves a device key
 * with no such entry is caught by every client that checks the log.
 *
 *     statement := content ‖ signature[64]
 *     signature := Ed25519(admin, u16 len(tag) ‖ tag ‖ content)        (the framing of core workflow/signed.ts)
 *
 *     device content   := vec8(org_id) ‖ vec8(user_id) ‖ vec8(device_id) ‖ identity_key[32] ‖ u64 time_ms
 *       tag = "overt/directory/v1/device-added" | "overt/directory/v1/device-removed"
 *     epoch-key content := vec8(org_id) ‖ u32 epoch ‖ u8 k ‖ u8 n ‖ group_key[32] ‖ n × verification_key[32] ‖
 *                          transcript_hash[32] ‖ u64 time_ms
 *       tag = "overt/directory/v1/epoch-key"
 *
 * The log entry is u8 type ‖ statement.
 */
import {
  concatBytes,
  decodeElement,
  isOvertError,
  Reader,
  SIGNATURE_BYTES,
  type SigningKeyPair,
  sign,
  utf8Encode,
  verifySignature,
  Writer,
} from '@overt/core';
import { ENTRY_TYPES, encodeEntry } from '@overt/log';
import { isDeviceId, isUserId } from './auth.js';
import { RelayError } from './errors.js';

export const TAG_DEVICE_ADDED = 'overt/directory/v1/device-added';
export const TAG_DEVICE_REMOVED = 'overt/directory/v1/device-removed';
export const TAG_EPOCH_KEY = 'overt/directory/v1/epoch-key';

export type DeviceStatementKind = 'added' | 'removed';

export interface DeviceStatement {
  readonly kind: DeviceStatementKind;
  readonly orgId: string;
  readonly userId: string;
  readonly deviceId: string;
  readonly identityKey: Uint8Array;
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

function signingInput(tag: string, content: Uint8Array): Uint8Array {
  return concatBytes(new Writer(64).vec16(utf8Encode(tag)).finish(), content);
}

function invalid(message: string, cause?: unknown): never {
  throw new RelayError('DIR_STATEMENT_INVALID', message, { check: 'AUTH-9', cause });
}

function ascii(s: string): Uint8Array {
  return utf8Encode(s);
}

function deviceContent(s: DeviceStatement): Uint8Array {
  return new Writer(200)
    .vec8(ascii(s.orgId))
    .vec8(ascii(s.userId))
    .vec8(ascii(s.deviceId))
    .bytes(s.identityKey)
    .u64(s.time)
    .finish();
}

function deviceTag(kind: DeviceStatementKind): string {
  return kind === 'added' ? TAG_DEVICE_ADDED : TAG_DEVICE_REMOVED;
}

/** Builds and signs a device statement (the admin tool's side). */
export function signDeviceStatement(admin: SigningKeyPair, s: DeviceStatement): Uint8Array {
  if (!isUserId(s.userId) || !isDeviceId(s.deviceId) || s.identityKey.length !== 32)
    throw new RelayError('DIR_STATEMENT_INVALID', 'statement fields are out of range', { check: 'AUTH-9' });
  const content = deviceContent(s);
  return concatBytes(content, sign(admin, signingInput(deviceTag(s.kind), content)));
}

/**
 * Decodes and verifies a device statement of `kind` under the admin key. DIR_STATEMENT_INVALID (AUTH-9) when it
 * does not decode canonically, has out-of-range ids, or its signature does not verify.
 */
export function verifyDeviceStatement(
  adminKey: Uint8Array,
  kind: DeviceStatementKind,
  bytes: Uint8Array,
): DeviceStatement {
  if (bytes.length < SIGNATURE_BYTES) invalid('statement too short');
  const content = bytes.subarray(0, bytes.length - SIGNATURE_BYTES);
  const signature = bytes.subarray(bytes.length - SIGNATURE_BYTES);
  let s: DeviceStatement;
  try {
    const r = new Reader(content);
    const orgId = latin(r.vec8('org id'));
    const userId = latin(r.vec8('user id'));
    const deviceId = latin(r.vec8('device id'));
    const identityKey = r.bytes(32, 'identity key');
    const time = r.u64('time');
    r.finish('device statement');
    s = { kind, orgId, userId, deviceId, identityKey, time };
  } catch (e) {
    if (isOvertError(e)) invalid('statement does not decode', e);
    throw e;
  }
  if (!isUserId(s.userId) || !isDeviceId(s.deviceId) || s.orgId.length === 0)
    invalid('statement ids are invalid');
  if (!verifySignature(adminKey, signingInput(deviceTag(kind), content), signature))
    invalid('statement signature does not verify');
  return s;
}

function latin(b: Uint8Array): string {
  let s = '';
  for (const c of b) {
    if (c < 0x21 || c > 0x7e) invalid('identifier is not printable ASCII');
    s += String.fromCharCode(c);
  }
  return s;
}

function epochKeyContent(s: EpochKeyStatement): Uint8Array {
  const w = new Writer(128 + 32 * s.verificationKeys.length)
    .vec8(ascii(s.orgId))
    .u32(s.epoch)
    .u8(s.threshold)
    .u8(s.verificationKeys.length)
    .bytes(s.groupKey);
  for (const vk of s.verificationKeys) w.bytes(vk);
  return w.bytes(s.transcriptHash).u64(s.time).finish();
}

/** Builds and signs an epoch-key statement (the admin tool's side, after the trustees' DKG). */
export function signEpochKeyStatement(admin: SigningKeyPair, s: EpochKeyStatement): Uint8Array {
  const content = epochKeyContent(s);
  return concatBytes(content, sign(admin, signingInput(TAG_EPOCH_KEY, content)));
}

/**
 * Decodes and verifies an epoch-key statement: canonical encoding, 1 ≤ k ≤ n, every key a canonical
 * non-identity ristretto255 element, and the admin's signature. EPOCH_KEY_INVALID (AUTH-9) otherwise.
 */
export function verifyEpochKeyStatement(adminKey: Uint8Array, bytes: Uint8Array): EpochKeyStatement {
  const bad = (message: string, cause?: unknown): never => {
    throw new RelayError('EPOCH_KEY_INVALID', message, { check: 'AUTH-9', cause });
  };
  if (bytes.length < SIGNATURE_BYTES) bad('statement too short');
  const content = bytes.subarray(0, bytes.length - SIGNATURE_BYTES);
  const signature = bytes.subarray(bytes.length - SIGNATURE_BYTES);
  try {
    const r = new Reader(content);
    const orgBytes = r.vec8('org id');
    const epoch = r.u32('epoch');
    const threshold = r.u8('threshold');
    const n = r.u8('participants');
    const groupKey = decodeElement(r.bytes(32, 'group key'), 'group key');
    const verificationKeys: Uint8Array[] = [];
    for (let i = 0; i < n; i++)
      verificationKeys.push(decodeElement(r.bytes(32, 'verification key'), 'verification key'));
    const transcriptHash = r.bytes(32, 'transcript hash');
    const time = r.u64('time');
    r.finish('epoch key statement');
    if (threshold < 1 || threshold > n) bad('threshold out of range');
    if (!verifySignature(adminKey, signingInput(TAG_EPOCH_KEY, content), signature))
      bad('statement signature does not verify');
    let orgId = '';
    for (const c of orgBytes) orgId += String.fromCharCode(c);
    return { orgId, epoch, threshold, groupKey, verificationKeys, transcriptHash, time };
  } catch (e) {
    if (isOvertError(e)) bad('statement does not decode', e);
    throw e;
  }
}

/** The log entry for a statement: u8 type ‖ statement (log entry.ts). */
export function deviceEntry(kind: DeviceStatementKind, statement: Uint8Array): Uint8Array {
  return encodeEntry({
    type: kind === 'added' ? ENTRY_TYPES.device_added : ENTRY_TYPES.device_removed,
    body: statement,
  });
}

export function epochKeyEntry(statement: Uint8Array): Uint8Array {
  return encodeEntry({ type: ENTRY_TYPES.epoch_key, body: statement });
}
