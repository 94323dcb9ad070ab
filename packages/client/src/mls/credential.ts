/**
 * Overt's MLS credential: what a group member's leaf says about who it is (RFC 9420 §5.3).
 *
 * Each device is one MLS member. Its leaf carries an MLS BasicCredential (§5.3.1) whose opaque `identity` is the
 * canonical encoding of (user id, device id, the device's Ed25519 identity key), and its `signature_key` is that
 * same identity key: the MLS signature key IS the device identity key. Why one key and not an identity key that
 * certifies a separate MLS key: the transparency log lists exactly the key that signs every leaf, key package,
 * commit, GroupInfo and application message, so the key-transparency check is a byte comparison with nothing to
 * delegate, expire or revoke separately. The cost is that the identity key signs MLS structures too; RFC 9420's
 * SignWithLabel prefixes every MLS signature with "MLS 1.0 <label>" (§5.1.2), and Overt's other uses of the key
 * must keep signing inputs that cannot parse as an MLS SignContent (docs/spec/mls.md, "Key reuse").
 *
 * Identifiers have the formats of the envelope header (docs/spec/envelope.md §2.1), so that a recipient compares
 * the header's sender and recipients with the MLS roster byte for byte: a user id is 1..128 printable ASCII
 * characters (0x21–0x7e), a device id 1..64 opaque bytes.
 *
 * Encoding (docs/spec/mls.md, "Credential"):
 *   u8 version = 1 ‖ u8 len ‖ user_id ‖ u8 len ‖ device_id ‖ identity_key[32]
 */
import {
  DEVICE_ID_MAX,
  equalBytes,
  isOvertError,
  Reader,
  SIGNING_PUBLIC_KEY_BYTES,
  type SigningKeyPair,
  toHex,
  USER_ID_MAX,
  Writer,
} from '@overt/core';
import type { Credential } from 'ts-mls';
import { ClientError } from '../errors.js';

export const CREDENTIAL_VERSION = 1;
/** The id limits every part of the protocol shares (core ids.ts, foundations.md §8). */
export const MAX_USER_ID_BYTES = USER_ID_MAX;
export const MAX_DEVICE_ID_BYTES = DEVICE_ID_MAX;

/** Who a leaf is: the user, the device, and the device's Ed25519 identity key (on the transparency log). */
export interface MemberCredential {
  /** 1..128 characters, each 0x21–0x7e. */
  readonly userId: string;
  /** 1..64 opaque bytes. */
  readonly deviceId: Uint8Array;
  /** Ed25519 public key, 32 bytes; also the leaf's MLS signature key. */
  readonly identityKey: Uint8Array;
}

/** A device's own identity: its credential plus the Ed25519 key pair whose public half is `identityKey`. */
export interface MlsIdentity extends MemberCredential {
  readonly signingKey: SigningKeyPair;
}

/** A member of a conversation at one epoch: its credential and its leaf index in the ratchet tree. */
export interface Member extends MemberCredential {
  readonly leafIndex: number;
}

/** True for a valid user id: 1..128 characters, each 0x21–0x7e (so one string has one byte encoding). */
export function isUserId(s: string): boolean {
  if (s.length < 1 || s.length > MAX_USER_ID_BYTES) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

function isDeviceId(b: Uint8Array): boolean {
  return b.length >= 1 && b.length <= MAX_DEVICE_ID_BYTES;
}

function checkIds(userId: string, deviceId: Uint8Array): void {
  if (!isUserId(userId)) throw new ClientError('MLS_USAGE', 'user id must be 1..128 characters of 0x21-0x7e');
  if (!(deviceId instanceof Uint8Array) || !isDeviceId(deviceId))
    throw new ClientError('MLS_USAGE', 'device id must be 1..64 bytes');
}

/**
 * Builds a device identity. Throws MLS_USAGE if an id is out of range or the key pair is not an Ed25519 key pair
 * from @overt/core.
 */
export function createMlsIdentity(
  userId: string,
  deviceId: Uint8Array,
  signingKey: SigningKeyPair,
): MlsIdentity {
  checkIds(userId, deviceId);
  if (
    signingKey.publicKey.length !== SIGNING_PUBLIC_KEY_BYTES ||
    signingKey.secretKey.length !== 64 ||
    !equalBytes(signingKey.secretKey.subarray(32), signingKey.publicKey)
  ) {
    throw new ClientError('MLS_USAGE', 'signing key is not an Ed25519 key pair');
  }
  return { userId, deviceId: deviceId.slice(), identityKey: signingKey.publicKey, signingKey };
}

function asciiBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** The canonical credential bytes (the BasicCredential identity). Throws MLS_USAGE on out-of-range fields. */
export function encodeMemberCredential(c: MemberCredential): Uint8Array {
  checkIds(c.userId, c.deviceId);
  if (c.identityKey.length !== SIGNING_PUBLIC_KEY_BYTES)
    throw new ClientError('MLS_USAGE', 'identity key must be 32 bytes');
  // Capacity is exact: the Writer never grows.
  return new Writer(3 + c.userId.length + c.deviceId.length + SIGNING_PUBLIC_KEY_BYTES)
    .u8(CREDENTIAL_VERSION)
    .vec8(asciiBytes(c.userId))
    .vec8(c.deviceId)
    .bytes(c.identityKey)
    .finish();
}

function malformed(message: string, cause?: unknown): ClientError {
  return new ClientError('MLS_CREDENTIAL_MALFORMED', message, { check: 'MLS-1', cause });
}

/** Decodes credential bytes. Throws MLS_CREDENTIAL_MALFORMED (check MLS-1) on anything but the exact encoding. */
export function decodeMemberCredential(bytes: Uint8Array): MemberCredential {
  try {
    const r = new Reader(bytes);
    if (r.u8('credential version') !== CREDENTIAL_VERSION) throw malformed('unknown credential version');
    const user = r.vec8('user id', MAX_USER_ID_BYTES);
    const deviceId = r.vec8('device id', MAX_DEVICE_ID_BYTES);
    const identityKey = r.bytes(SIGNING_PUBLIC_KEY_BYTES, 'identity key');
    r.finish('credential');
    const userId = String.fromCharCode(...user);
    if (!isUserId(userId)) throw malformed('user id is not 1..128 characters of 0x21-0x7e');
    if (!isDeviceId(deviceId)) throw malformed('device id is empty');
    return { userId, deviceId, identityKey };
  } catch (e) {
    if (isOvertError(e)) throw malformed('credential does not decode', e);
    throw e;
  }
}

/** The MLS BasicCredential carrying `c`. */
export function toMlsCredential(c: MemberCredential): Credential {
  return { credentialType: 'basic', identity: encodeMemberCredential(c) };
}

/**
 * Reads the Overt credential of a leaf and binds it to the leaf's signature key. Throws MLS_CREDENTIAL_MALFORMED
 * (MLS-1) if it is not a basic credential with a valid encoding, MLS_CREDENTIAL_KEY_MISMATCH (MLS-2) if the
 * identity key is not the signature key.
 */
export function memberCredentialOf(credential: Credential, signaturePublicKey: Uint8Array): MemberCredential {
  if (credential.credentialType !== 'basic') throw malformed('credential is not a basic credential');
  const c = decodeMemberCredential(credential.identity);
  if (!equalBytes(c.identityKey, signaturePublicKey))
    throw new ClientError('MLS_CREDENTIAL_KEY_MISMATCH', 'identity key differs from the leaf signature key', {
      check: 'MLS-2',
    });
  return c;
}

/** True when two credentials name the same user, device and identity key. */
export function sameCredential(a: MemberCredential, b: MemberCredential): boolean {
  return (
    a.userId === b.userId && equalBytes(a.deviceId, b.deviceId) && equalBytes(a.identityKey, b.identityKey)
  );
}

/** A string naming the device (user id and device id), unique per device: user ids contain no space. */
export function deviceKey(d: { readonly userId: string; readonly deviceId: Uint8Array }): string {
  return `${d.userId} ${toHex(d.deviceId)}`;
}
