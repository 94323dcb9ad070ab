/**
 * Key packages (RFC 9420 §10): the one-time, pre-published offers that let a device be added to a group while
 * offline. A device uploads many; the relay hands each out once; the adder validates it (MLS-13, MLS-1..3) and
 * the device later finds the private half by the KeyPackageRef named in the Welcome (§12.4.3.1).
 *
 * Our key packages are signed by the device identity key (credential.ts), advertise exactly what Overt speaks
 * (suite 1, basic credentials, the history-setting extension) and live {@link KEY_PACKAGE_LIFETIME_SECONDS}, back-dated by an
 * hour for clock skew. The private half is serialised with {@link encodeKeyPackageBundle} for the device's
 * encrypted store; it never contains the identity key.
 */
import { equalBytes, isOvertError, Reader, Writer, x25519PublicKey } from '@overt/core';
import { type Capabilities, generateKeyPackageWithKey, type KeyPackage } from 'ts-mls';
import { makeKeyPackageRef, verifyKeyPackage } from 'ts-mls/keyPackage.js';
import { verifyLeafNodeSignatureKeyPackage } from 'ts-mls/leafNode.js';
import { ClientError } from '../errors.js';
import { CIPHERSUITE_NAME, mlsCiphersuite } from './ciphersuite.js';
import {
  type MemberCredential,
  type MlsIdentity,
  memberCredentialOf,
  sameCredential,
  toMlsCredential,
} from './credential.js';
import { decodeMlsStrict, encodeMls } from './engine.js';
import { HISTORY_EXTENSION_TYPE } from './history.js';

/** How long a fresh key package is valid (RFC 9420 §7.2 lifetime). */
export const KEY_PACKAGE_LIFETIME_SECONDS = 90 * 24 * 3600;
/** How far back a fresh key package's notBefore is set, so that members with a slow clock accept it. */
export const KEY_PACKAGE_BACKDATE_SECONDS = 3600;
/** The longest total lifetime accepted from others (RFC 9420 §7.2: applications MUST define a maximum). */
export const MAX_KEY_PACKAGE_LIFETIME_SECONDS =
  KEY_PACKAGE_LIFETIME_SECONDS + 2 * KEY_PACKAGE_BACKDATE_SECONDS;

/** What every Overt leaf advertises: only what the group will ever use (no GREASE; one extension, history.ts). */
export function overtCapabilities(): Capabilities {
  return {
    versions: ['mls10'],
    ciphersuites: [CIPHERSUITE_NAME],
    // The history setting's GroupContext extension (history.ts): RFC 9420 §11.1 lets a group carry it only if
    // every leaf lists it.
    extensions: [HISTORY_EXTENSION_TYPE],
    proposals: [],
    credentials: ['basic'],
  };
}

/**
 * The last_resort KeyPackage extension (RFC 9420 §16.8; IANA "MLS Extension Types" 0x000A, empty data): the
 * package may be used more than once, so the relay hands it out when the one-time packages are gone (relay.md
 * DS-12) and the device keeps its private keys after joining with it.
 */
export const LAST_RESORT_EXTENSION_TYPE = 0x000a;

/** A key package and its private keys. `keyPackage` (an MLSMessage) is what the device publishes. */
export interface KeyPackageBundle {
  readonly keyPackage: Uint8Array;
  /** KeyPackageRef (RFC 9420 §5.2): how a Welcome names this key package. */
  readonly ref: Uint8Array;
  readonly initPrivateKey: Uint8Array;
  readonly encryptionPrivateKey: Uint8Array;
  /** A last-resort package (its KeyPackage carries the last_resort extension): kept after a join. */
  readonly lastResort: boolean;
  /** The end of its lifetime (RFC 9420 §7.2), seconds since 1970. */
  readonly notAfter: bigint;
}

export interface KeyPackageOptions {
  /** Clock in milliseconds since 1970 (default Date.now). */
  now?: () => number;
  /** Mark it last-resort (RFC 9420 §16.8) instead of one-time. */
  lastResort?: boolean;
}

function isLastResort(kp: KeyPackage): boolean {
  return kp.extensions.some((e) => e.extensionType === LAST_RESORT_EXTENSION_TYPE);
}

/** Generates a fresh key package signed by the device identity key: one-time, or last-resort. */
export async function generateKeyPackage(
  identity: MlsIdentity,
  options: KeyPackageOptions = {},
): Promise<KeyPackageBundle> {
  const cs = await mlsCiphersuite();
  const nowS = Math.floor((options.now ?? Date.now)() / 1000);
  const { publicPackage, privatePackage } = await generateKeyPackageWithKey(
    toMlsCredential(identity),
    overtCapabilities(),
    {
      notBefore: BigInt(nowS - KEY_PACKAGE_BACKDATE_SECONDS),
      notAfter: BigInt(nowS + KEY_PACKAGE_LIFETIME_SECONDS),
    },
    options.lastResort === true
      ? [{ extensionType: LAST_RESORT_EXTENSION_TYPE, extensionData: new Uint8Array(0) }]
      : [],
    { signKey: identity.signingKey.secretKey, publicKey: identity.identityKey },
    cs,
  );
  return {
    keyPackage: encodeMls({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: publicPackage }),
    ref: await makeKeyPackageRef(publicPackage, cs.hash),
    initPrivateKey: privatePackage.initPrivateKey,
    encryptionPrivateKey: privatePackage.hpkePrivateKey,
    lastResort: options.lastResort === true,
    notAfter: publicPackage.leafNode.lifetime.notAfter,
  };
}

/** A key package that passed {@link checkKeyPackage}. */
export interface CheckedKeyPackage {
  readonly keyPackage: KeyPackage;
  readonly member: MemberCredential;
  readonly ref: Uint8Array;
  /** Lifetime bounds, seconds since 1970. */
  readonly notBefore: bigint;
  readonly notAfter: bigint;
}

function invalid(message: string, cause?: unknown): ClientError {
  return new ClientError('MLS_KEY_PACKAGE_INVALID', message, { check: 'MLS-13', cause });
}

/**
 * Validates a key package someone else published (RFC 9420 §10.1) against Overt's rules, before it is offered
 * to the authentication service. Throws MLS_MALFORMED / MLS_WIRE_FORMAT if the bytes are not one canonical
 * MLSMessage(KeyPackage); MLS_KEY_PACKAGE_INVALID (MLS-13) for a wrong version or suite, missing capabilities,
 * a lifetime that does not cover `nowMs` or exceeds {@link MAX_KEY_PACKAGE_LIFETIME_SECONDS}, init key equal to
 * the encryption key, or a bad signature; MLS-1/MLS-2 errors for the credential.
 */
export async function checkKeyPackage(bytes: Uint8Array, nowMs: number): Promise<CheckedKeyPackage> {
  const msg = decodeMlsStrict(bytes);
  if (msg.wireformat !== 'mls_key_package')
    throw new ClientError('MLS_WIRE_FORMAT', 'expected a key package', { check: 'MLS-16' });
  const kp = msg.keyPackage;
  if (kp.version !== 'mls10' || kp.cipherSuite !== CIPHERSUITE_NAME)
    throw invalid('wrong version or ciphersuite');
  const leaf = kp.leafNode;
  if (leaf.leafNodeSource !== 'key_package') throw invalid('leaf node is not from a key package');
  const caps = leaf.capabilities;
  if (
    !caps.versions.includes('mls10') ||
    !caps.ciphersuites.includes(CIPHERSUITE_NAME) ||
    !caps.credentials.includes('basic')
  ) {
    throw invalid('capabilities do not cover the Overt ciphersuite and credential');
  }
  const member = memberCredentialOf(leaf.credential, leaf.signaturePublicKey);
  const nowS = BigInt(Math.floor(nowMs / 1000));
  const { notBefore, notAfter } = leaf.lifetime;
  if (notBefore > nowS || notAfter < nowS) throw invalid('lifetime does not cover the current time');
  if (notAfter - notBefore > BigInt(MAX_KEY_PACKAGE_LIFETIME_SECONDS)) throw invalid('lifetime too long');
  // §10.1: the init key and the leaf's encryption key must differ, else one key would serve two purposes.
  if (equalBytes(kp.initKey, leaf.hpkePublicKey)) throw invalid('init key equals encryption key');
  const cs = await mlsCiphersuite();
  if (
    !(await verifyKeyPackage(kp, cs.signature)) ||
    !(await verifyLeafNodeSignatureKeyPackage(leaf, cs.signature))
  )
    throw invalid('signature does not verify');
  return { keyPackage: kp, member, ref: await makeKeyPackageRef(kp, cs.hash), notBefore, notAfter };
}

/** What the relay's directory needs from a key package: whose it is and its reference. Validates as above. */
export async function inspectKeyPackage(
  bytes: Uint8Array,
  nowMs: number = Date.now(),
): Promise<{ member: MemberCredential; ref: Uint8Array; notBefore: bigint; notAfter: bigint }> {
  const c = await checkKeyPackage(bytes, nowMs);
  return { member: c.member, ref: c.ref, notBefore: c.notBefore, notAfter: c.notAfter };
}

const BUNDLE_VERSION = 1;
const X25519_KEY_BYTES = 32;

/**
 * Serialises a bundle for the device's own (encrypted) storage:
 *   u8 version = 1 ‖ u32 len ‖ key_package ‖ init_private_key[32] ‖ encryption_private_key[32]
 */
export function encodeKeyPackageBundle(b: KeyPackageBundle): Uint8Array {
  if (b.initPrivateKey.length !== X25519_KEY_BYTES || b.encryptionPrivateKey.length !== X25519_KEY_BYTES)
    throw new ClientError('MLS_USAGE', 'private keys must be 32 bytes');
  return new Writer(1 + 4 + b.keyPackage.length + 2 * X25519_KEY_BYTES)
    .u8(BUNDLE_VERSION)
    .vec32(b.keyPackage)
    .bytes(b.initPrivateKey)
    .bytes(b.encryptionPrivateKey)
    .finish();
}

/**
 * Restores a bundle. Throws MLS_STATE_MALFORMED (check MLS-18) if the bytes do not decode, the key package is
 * not `identity`'s, or the private keys do not match its public keys.
 */
export async function decodeKeyPackageBundle(
  bytes: Uint8Array,
  identity: MlsIdentity,
): Promise<KeyPackageBundle> {
  const bad = (message: string, cause?: unknown) =>
    new ClientError('MLS_STATE_MALFORMED', message, { check: 'MLS-18', cause });
  let keyPackage: Uint8Array;
  let initPrivateKey: Uint8Array;
  let encryptionPrivateKey: Uint8Array;
  try {
    const r = new Reader(bytes);
    if (r.u8('bundle version') !== BUNDLE_VERSION) throw bad('unknown key package bundle version');
    keyPackage = r.vec32('key package', 1 << 20);
    initPrivateKey = r.bytes(X25519_KEY_BYTES, 'init private key');
    encryptionPrivateKey = r.bytes(X25519_KEY_BYTES, 'encryption private key');
    r.finish('key package bundle');
  } catch (e) {
    if (isOvertError(e)) throw bad('key package bundle does not decode', e);
    throw e;
  }
  let kp: KeyPackage;
  try {
    const msg = decodeMlsStrict(keyPackage);
    if (msg.wireformat !== 'mls_key_package') throw bad('bundle does not hold a key package');
    kp = msg.keyPackage;
  } catch (e) {
    if (e instanceof ClientError && e.code !== 'MLS_STATE_MALFORMED')
      throw bad('bundle key package does not decode', e);
    throw e;
  }
  let owner: MemberCredential;
  try {
    owner = memberCredentialOf(kp.leafNode.credential, kp.leafNode.signaturePublicKey);
  } catch (e) {
    throw bad('bundle key package has no Overt credential', e);
  }
  if (!sameCredential(owner, identity)) throw bad('key package belongs to another identity');
  if (
    !equalBytes(x25519PublicKey(initPrivateKey), kp.initKey) ||
    !equalBytes(x25519PublicKey(encryptionPrivateKey), kp.leafNode.hpkePublicKey)
  ) {
    throw bad('private keys do not match the key package');
  }
  const cs = await mlsCiphersuite();
  const leaf = kp.leafNode;
  return {
    keyPackage,
    ref: await makeKeyPackageRef(kp, cs.hash),
    initPrivateKey,
    encryptionPrivateKey,
    lastResort: isLastResort(kp),
    notAfter: leaf.leafNodeSource === 'key_package' ? leaf.lifetime.notAfter : 0n,
  };
}
