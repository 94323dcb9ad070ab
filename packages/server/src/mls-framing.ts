/**
 * The few public fields of MLS messages that a delivery service reads (RFC 9420 §6, §10, §12.4.3.1), parsed from
 * the wire bytes without an MLS engine: the relay never decrypts or verifies MLS, but it must know which group
 * and epoch a handshake or application message belongs to (DS-3: one commit per epoch, in order), whose key a
 * key package carries (DS-6), and which key packages a Welcome is addressed to (DS-8).
 *
 * Read, in order:
 *   MLSMessage   := u16 version (1 = mls10) ‖ u16 wire_format ‖ body
 *   PublicMessage  body starts with FramedContent: group_id<V> ‖ u64 epoch ‖ Sender ‖ authenticated_data<V> ‖
 *                  u8 content_type ‖ …
 *   PrivateMessage body: group_id<V> ‖ u64 epoch ‖ u8 content_type ‖ …
 *   Welcome        body: u16 cipher_suite ‖ secrets<V> of (new_member<V> ‖ HPKECiphertext(kem_output<V> ‖
 *                  ciphertext<V>)) ‖ encrypted_group_info<V>
 *   KeyPackage     body: u16 version ‖ u16 cipher_suite ‖ init_key<V> ‖ LeafNode(encryption_key<V> ‖
 *                  signature_key<V> ‖ Credential(u16 type ‖ identity<V> for basic) ‖ capabilities (5 × <V>) ‖
 *                  u8 leaf_node_source (1) ‖ lifetime (2 × u64) ‖ extensions<V> ‖ signature<V>) ‖
 *                  extensions<V> (u16 type ‖ data<V>)* ‖ …
 * <V> is a QUIC-style variable-length length prefix (§2.1.2), which must be minimal.
 *
 * Everything after the fields we need is left to the members' MLS engines; the parser reads only what it
 * returns (and, for a Welcome, the whole message, whose structure is fully public).
 */
import { equalBytes, isOvertError, Reader, sha256, Writer } from '@overt/core';
import { RelayError } from './errors.js';

export const MLS_VERSION_10 = 1;

export const WIRE_FORMATS = {
  public_message: 1,
  private_message: 2,
  welcome: 3,
  group_info: 4,
  key_package: 5,
} as const;

export type ContentType = 'application' | 'proposal' | 'commit';
const CONTENT_TYPES: Record<number, ContentType> = { 1: 'application', 2: 'proposal', 3: 'commit' };

function malformed(what: string): never {
  throw new RelayError('DS_MLS_MALFORMED', `MLS message: ${what}`, { check: 'DS-1' });
}

/** A bounds-checked reader for the MLS presentation language. */
class MlsReader {
  private at = 0;
  constructor(private readonly b: Uint8Array) {}

  get done(): boolean {
    return this.at === this.b.length;
  }

  private take(n: number): number {
    if (n > this.b.length - this.at) malformed('truncated');
    const at = this.at;
    this.at += n;
    return at;
  }

  u8(): number {
    return this.b[this.take(1)]!;
  }

  u16(): number {
    const at = this.take(2);
    return (this.b[at]! << 8) | this.b[at + 1]!;
  }

  u32(): number {
    const at = this.take(4);
    return ((this.b[at]! << 24) >>> 0) + (this.b[at + 1]! << 16) + (this.b[at + 2]! << 8) + this.b[at + 3]!;
  }

  u64(): number {
    const hi = this.u32();
    const lo = this.u32();
    if (hi > 0x1fffff) malformed('epoch beyond 2^53 - 1');
    return hi * 2 ** 32 + lo;
  }

  /** RFC 9420 §2.1.2 variable-length integer; non-minimal encodings and the reserved prefix 0b11 are refused. */
  varint(): number {
    const first = this.u8();
    const prefix = first >> 6;
    if (prefix === 0) return first & 0x3f;
    if (prefix === 1) {
      const v = ((first & 0x3f) << 8) | this.u8();
      if (v < 0x40) malformed('non-minimal length');
      return v;
    }
    if (prefix === 2) {
      const v = (first & 0x3f) * 2 ** 24 + (this.u8() << 16) + (this.u8() << 8) + this.u8();
      if (v < 0x4000) malformed('non-minimal length');
      return v;
    }
    return malformed('invalid length prefix');
  }

  vec(max = Number.MAX_SAFE_INTEGER): Uint8Array {
    const n = this.varint();
    if (n > max) malformed('field too long');
    const at = this.take(n);
    return this.b.subarray(at, at + n);
  }

  /** Skips `n` bytes. */
  skip(n: number): void {
    this.take(n);
  }

  /** The bytes not read yet (a view). */
  rest(): Uint8Array {
    return this.b.subarray(this.at);
  }
}

function header(r: MlsReader): number {
  if (r.u16() !== MLS_VERSION_10) malformed('unknown protocol version');
  return r.u16();
}

/** A group message's public routing fields. */
export interface GroupMessageFraming {
  readonly wireFormat: 'public_message' | 'private_message';
  readonly groupId: Uint8Array;
  readonly epoch: number;
  readonly contentType: ContentType;
}

/** MLS group ids are opaque<V>; Overt bounds them like the envelope header's conversation id (64 bytes). */
export const MAX_GROUP_ID_BYTES = 64;

/**
 * Reads a PublicMessage or PrivateMessage's group id, epoch and content type. DS_MLS_MALFORMED (DS-1) when the
 * bytes do not parse that far; DS_WIRE_FORMAT (DS-1) for any other wire format.
 */
export function readGroupMessage(bytes: Uint8Array): GroupMessageFraming {
  const r = new MlsReader(bytes);
  const wf = header(r);
  if (wf !== WIRE_FORMATS.public_message && wf !== WIRE_FORMATS.private_message)
    throw new RelayError('DS_WIRE_FORMAT', 'expected a PublicMessage or PrivateMessage', { check: 'DS-1' });
  const groupId = r.vec(MAX_GROUP_ID_BYTES);
  if (groupId.length === 0) malformed('empty group id');
  const epoch = r.u64();
  if (wf === WIRE_FORMATS.public_message) {
    const senderType = r.u8();
    if (senderType === 1 || senderType === 2) r.u32();
    else if (senderType !== 3 && senderType !== 4) malformed('unknown sender type');
    r.vec();
  }
  const contentType = CONTENT_TYPES[r.u8()];
  if (contentType === undefined) malformed('unknown content type');
  return {
    wireFormat: wf === WIRE_FORMATS.public_message ? 'public_message' : 'private_message',
    groupId: groupId.slice(),
    epoch,
    contentType,
  };
}

/** What the relay reads from a key package. */
export interface KeyPackageFraming {
  /** The leaf's signature key: for Overt, the device identity key (client credential.ts). */
  readonly signatureKey: Uint8Array;
  /** The BasicCredential identity bytes (Overt credential encoding), or undefined for another type. */
  readonly credentialIdentity: Uint8Array | undefined;
  /**
   * Whether the KeyPackage's extensions include last_resort (RFC 9420 §16.8, DS-12). Read only for a basic
   * credential (the only kind Overt accepts, DS-6); false otherwise.
   */
  readonly lastResort: boolean;
  /** KeyPackageRef = RefHash("MLS 1.0 KeyPackage Reference", KeyPackage) with SHA-256 (§5.2, suite 1). */
  readonly ref: Uint8Array;
}

const KEY_PACKAGE_REF_LABEL = 'MLS 1.0 KeyPackage Reference';

function writeVarint(w: Writer, n: number): void {
  if (n < 0x40) w.u8(n);
  else if (n < 0x4000) w.u16(0x4000 | n);
  else w.u32((0x80000000 | n) >>> 0);
}

/** RFC 9420 §5.2 RefHash(label, value) = Hash(RefHashInput{label<V>, value<V>}), SHA-256 for suite 1. */
export function refHash(label: string, value: Uint8Array): Uint8Array {
  const l = new TextEncoder().encode(label);
  const w = new Writer(l.length + value.length + 8);
  writeVarint(w, l.length);
  w.bytes(l);
  writeVarint(w, value.length);
  w.bytes(value);
  return sha256(w.finish());
}

/** RFC 9420 §7.2 LeafNodeSource `key_package`. */
const LEAF_NODE_SOURCE_KEY_PACKAGE = 1;
/** The last_resort KeyPackage extension (RFC 9420 §16.8; IANA "MLS Extension Types" 0x000A). */
export const LAST_RESORT_EXTENSION_TYPE = 0x000a;

/** The largest key package the relay stores. */
export const MAX_KEY_PACKAGE_BYTES = 16 * 1024;

/**
 * Reads an MLSMessage(KeyPackage) far enough to know its signature key and credential, and computes its ref.
 * DS_MLS_MALFORMED / DS_WIRE_FORMAT (DS-1). The relay does not verify the key package's signature: the adding
 * member does (RFC 9420 §10.1); the relay only refuses to hand out a key package under another device's name.
 */
export function readKeyPackage(bytes: Uint8Array): KeyPackageFraming {
  if (bytes.length > MAX_KEY_PACKAGE_BYTES) malformed('key package too large');
  const r = new MlsReader(bytes);
  if (header(r) !== WIRE_FORMATS.key_package)
    throw new RelayError('DS_WIRE_FORMAT', 'expected a KeyPackage', { check: 'DS-1' });
  const kpBytes = r.rest();
  if (r.u16() !== MLS_VERSION_10) malformed('unknown key package version');
  r.u16(); // cipher suite: checked by the members' engines
  r.vec(); // init_key
  r.vec(); // leaf encryption_key
  const signatureKey = r.vec().slice();
  const credentialType = r.u16();
  const credentialIdentity = credentialType === 1 ? r.vec().slice() : undefined;
  let lastResort = false;
  if (credentialIdentity !== undefined) {
    // The rest of the LeafNode (RFC 9420 §7.2), then the KeyPackage's own extensions (§10), where a last-resort
    // package carries the last_resort extension (§16.8; type 0x000A, empty data).
    for (let i = 0; i < 5; i++) r.vec(); // capabilities: versions, ciphersuites, extensions, proposals, credentials
    if (r.u8() !== LEAF_NODE_SOURCE_KEY_PACKAGE) malformed('the leaf node is not from a key package');
    r.skip(16); // lifetime: u64 not_before ‖ u64 not_after
    r.vec(); // leaf node extensions
    r.vec(); // leaf node signature
    const extensions = new MlsReader(r.vec());
    while (!extensions.done) {
      if (extensions.u16() === LAST_RESORT_EXTENSION_TYPE) lastResort = true;
      extensions.vec();
    }
    r.vec(); // the KeyPackage signature: a package cut short anywhere is malformed
  }
  return { signatureKey, credentialIdentity, lastResort, ref: refHash(KEY_PACKAGE_REF_LABEL, kpBytes) };
}

/**
 * Reads the KeyPackageRefs a Welcome is addressed to (RFC 9420 §12.4.3.1, `secrets[i].new_member`). The whole
 * Welcome must parse with no trailing bytes. DS_MLS_MALFORMED / DS_WIRE_FORMAT (DS-1).
 */
export function readWelcomeRecipients(bytes: Uint8Array): Uint8Array[] {
  const r = new MlsReader(bytes);
  if (header(r) !== WIRE_FORMATS.welcome)
    throw new RelayError('DS_WIRE_FORMAT', 'expected a Welcome', { check: 'DS-1' });
  r.u16(); // cipher suite
  const secrets = new MlsReader(r.vec());
  const refs: Uint8Array[] = [];
  while (!secrets.done) {
    refs.push(secrets.vec(255).slice());
    secrets.vec(); // kem_output
    secrets.vec(); // ciphertext
  }
  r.vec(); // encrypted_group_info
  if (!r.done) malformed('trailing bytes');
  if (refs.length === 0) malformed('Welcome without recipients');
  for (let i = 0; i < refs.length; i++)
    for (let j = i + 1; j < refs.length; j++)
      if (equalBytes(refs[i]!, refs[j]!)) malformed('duplicate recipient');
  return refs;
}

/** An Overt member credential (client credential.ts): who a leaf says it is. */
export interface OvertCredential {
  readonly userId: string;
  /** Opaque bytes; for a device enrolled at this relay, the ASCII bytes of its device id. */
  readonly deviceId: Uint8Array;
  readonly identityKey: Uint8Array;
}

/**
 * Decodes the Overt credential carried as a BasicCredential identity:
 * u8 version = 1 ‖ u8 len ‖ user_id (1..128) ‖ u8 len ‖ device_id (1..64) ‖ identity_key[32]. Undefined when it is
 * not exactly that.
 */
export function readOvertCredential(identity: Uint8Array): OvertCredential | undefined {
  try {
    const r = new Reader(identity);
    if (r.u8('credential version') !== 1) return undefined;
    const user = r.vec8('user id', 128);
    const deviceId = r.vec8('device id', 64);
    const identityKey = r.bytes(32, 'identity key');
    r.finish('credential');
    if (user.length === 0 || deviceId.length === 0) return undefined;
    let userId = '';
    for (const c of user) {
      if (c < 0x21 || c > 0x7e) return undefined;
      userId += String.fromCharCode(c);
    }
    return { userId, deviceId, identityKey };
  } catch (e) {
    if (isOvertError(e)) return undefined;
    throw e;
  }
}
