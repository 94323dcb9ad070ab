/**
 * The trustee stand-in of the all-in-one start (docs/spec/start.md §4): three local trustee identities that run
 * core's distributed key generation (docs/spec/dkg.md) among themselves and keep each epoch's share in an
 * encrypted share file in their own data directory.
 *
 * Honest limit: on one machine, under one user account, the three trustees are not independent — whoever can
 * read ./data can read all three secret files and so all three shares. This is a stand-in until the trustee
 * daemons run as separate services (on separate machines, for separate people); it exercises the real DKG, the
 * real share encryption at rest and the real epoch-key statements, nothing more.
 *
 * Per trustee directory (mode 0700):
 *   secret.key          32 random bytes, mode 0600, made on first start; refused if group or others can read it
 *   epoch-<e>.share     version ‖ nonce ‖ AES-256-GCM(share file key, nonce, plaintext, aad)
 * Everything the trustee needs is derived from secret.key with HKDF-SHA256 (RFC 5869), one info string each.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes as nodeRandomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  concatBytes,
  type DkgEncryptionKeyPair,
  type DkgOutput,
  type DkgParticipantInfo,
  deriveDkgEncryptionKey,
  isOvertError,
  Reader,
  type SigningKeyPair,
  signingKeyFromSeed,
  utf8Encode,
  Writer,
} from '@overt/core';
import { StandaloneError } from './errors.js';

export const TRUSTEE_SECRET_FILE = 'secret.key';
export const TRUSTEE_SECRET_BYTES = 32;

/** HKDF info strings (docs/spec/start.md §4.1). */
export const INFO_SIGNING = 'overt/standalone/v1/trustee-signing';
export const INFO_ENCRYPTION = 'overt/standalone/v1/trustee-encryption';
export const INFO_SHARE_KEY = 'overt/standalone/v1/share-key';
/** Prefix of a share file's associated data. */
export const TAG_SHARE_AAD = 'overt/standalone/v1/share';

export const SHARE_FILE_VERSION = 1;
const NONCE_BYTES = 12;
const GCM_TAG_BYTES = 16;

/** What a trustee keeps for one epoch: its share (secret) and the session's public transcript. */
export interface ShareRecord {
  readonly epoch: number;
  readonly index: number;
  /** The share x_i (canonical scalar). Secret. */
  readonly secret: Uint8Array;
  /** The DKG transcript (public; docs/spec/dkg.md §7.1), from which the public key is recomputed. */
  readonly transcript: Uint8Array;
}

function hkdf(secret: Uint8Array, info: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, new Uint8Array(0), utf8Encode(info), 32));
}

function shareFileError(message: string, check: string, cause?: unknown): StandaloneError {
  return new StandaloneError('START_SHARE_FILE', message, { check, cause });
}

function aad(epoch: number, index: number): Uint8Array {
  return new Writer(64).vec16(utf8Encode(TAG_SHARE_AAD)).u32(epoch).u8(index).finish();
}

/**
 * Encrypts a share record under `key` (32 bytes):
 * u8 version(1) ‖ nonce[12] ‖ AES-256-GCM(key, nonce, u32 epoch ‖ u8 index ‖ secret[32] ‖ vec32(transcript),
 * aad = vec16("overt/standalone/v1/share") ‖ u32 epoch ‖ u8 index) ‖ tag[16].
 */
export function encodeShareFile(
  key: Uint8Array,
  r: ShareRecord,
  nonce: Uint8Array = nodeRandomBytes(12),
): Uint8Array {
  const plaintext = new Writer(64 + r.transcript.length)
    .u32(r.epoch)
    .u8(r.index)
    .bytes(r.secret)
    .vec32(r.transcript)
    .finish();
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES });
  cipher.setAAD(aad(r.epoch, r.index));
  const body = concatBytes(cipher.update(plaintext), cipher.final(), cipher.getAuthTag());
  plaintext.fill(0);
  return concatBytes(Uint8Array.of(SHARE_FILE_VERSION), nonce, body);
}

/**
 * Decrypts and decodes a share file of `epoch` and trustee `index`. Throws START_SHARE_FILE: START-3 when the
 * bytes are malformed, fail authentication (wrong key, tampering, another epoch's or trustee's file) or decode to
 * another epoch or index.
 */
export function decodeShareFile(
  key: Uint8Array,
  epoch: number,
  index: number,
  bytes: Uint8Array,
): ShareRecord {
  if (bytes.length < 1 + NONCE_BYTES + GCM_TAG_BYTES || bytes[0] !== SHARE_FILE_VERSION)
    throw shareFileError('share file is malformed', 'START-3');
  const nonce = bytes.subarray(1, 1 + NONCE_BYTES);
  const body = bytes.subarray(1 + NONCE_BYTES, bytes.length - GCM_TAG_BYTES);
  const tag = bytes.subarray(bytes.length - GCM_TAG_BYTES);
  let plaintext: Uint8Array;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES });
    decipher.setAAD(aad(epoch, index));
    decipher.setAuthTag(tag);
    plaintext = new Uint8Array(concatBytes(decipher.update(body), decipher.final()));
  } catch (e) {
    throw shareFileError('share file does not decrypt', 'START-3', e);
  }
  try {
    const r = new Reader(plaintext);
    const record: ShareRecord = {
      epoch: r.u32('epoch'),
      index: r.u8('index'),
      secret: r.bytes(32, 'share').slice(),
      transcript: r.vec32('transcript').slice(),
    };
    r.finish('share file');
    if (record.epoch !== epoch || record.index !== index)
      throw shareFileError('share file is of another epoch or trustee', 'START-3');
    return record;
  } catch (e) {
    if (isOvertError(e)) throw shareFileError('share file does not decode', 'START-3', e);
    throw e;
  } finally {
    plaintext.fill(0);
  }
}

/** Writes `data` to `path` atomically (temporary file, fsync, rename), mode 0600. */
export function writeFileAtomic(path: string, data: Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/**
 * Reads a secret file, creating it with `bytes` random bytes (mode 0600) if absent. Throws START_SHARE_FILE
 * (START-2) when it is readable by group or others, or has the wrong length.
 */
export function loadOrCreateSecretFile(
  path: string,
  bytes: number,
): { secret: Uint8Array; created: boolean } {
  let created = false;
  if (!existsSync(path)) {
    const fresh = new Uint8Array(nodeRandomBytes(bytes));
    const fd = openSync(path, 'wx', 0o600);
    try {
      writeSync(fd, fresh);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    fresh.fill(0);
    created = true;
  }
  if ((statSync(path).mode & 0o077) !== 0)
    throw new StandaloneError('START_SHARE_FILE', `${path} is readable by others; make it mode 0600`, {
      check: 'START-2',
    });
  const secret = new Uint8Array(readFileSync(path));
  if (secret.length !== bytes)
    throw new StandaloneError('START_SHARE_FILE', `${path} has the wrong length`, { check: 'START-2' });
  return { secret, created };
}

/** One local trustee: its identity (derived from its secret file) and its share files. */
export class LocalTrustee {
  readonly index: number;
  readonly dir: string;
  readonly signingKey: SigningKeyPair;
  readonly encryption: DkgEncryptionKeyPair;
  private readonly shareKey: Uint8Array;

  private constructor(
    index: number,
    dir: string,
    signingKey: SigningKeyPair,
    encryption: DkgEncryptionKeyPair,
    shareKey: Uint8Array,
  ) {
    this.index = index;
    this.dir = dir;
    this.signingKey = signingKey;
    this.encryption = encryption;
    this.shareKey = shareKey;
  }

  /** Opens (creating on first use) trustee `index`'s directory. Throws START_SHARE_FILE (START-2). */
  static async open(dir: string, index: number): Promise<LocalTrustee> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const { secret } = loadOrCreateSecretFile(join(dir, TRUSTEE_SECRET_FILE), TRUSTEE_SECRET_BYTES);
    try {
      const signingKey = signingKeyFromSeed(hkdf(secret, INFO_SIGNING));
      const encryption = await deriveDkgEncryptionKey(hkdf(secret, INFO_ENCRYPTION));
      return new LocalTrustee(index, dir, signingKey, encryption, hkdf(secret, INFO_SHARE_KEY));
    } finally {
      secret.fill(0);
    }
  }

  /** The trustee as a DKG session lists it. */
  info(): DkgParticipantInfo {
    return {
      index: this.index,
      signingKey: this.signingKey.publicKey,
      encryptionKey: this.encryption.publicKey,
    };
  }

  sharePath(epoch: number): string {
    return join(this.dir, `epoch-${epoch}.share`);
  }

  /** The stored share of `epoch`, or undefined when there is none. Throws START_SHARE_FILE (START-3). */
  readShare(epoch: number): ShareRecord | undefined {
    const path = this.sharePath(epoch);
    if (!existsSync(path)) return undefined;
    return decodeShareFile(this.shareKey, epoch, this.index, new Uint8Array(readFileSync(path)));
  }

  /** Stores this trustee's output of a finished DKG. */
  writeShare(output: DkgOutput): void {
    const share = output.keyShare;
    if (share === null || share.index !== this.index)
      throw new StandaloneError('START_STATE', 'the DKG gave this trustee no share', { check: 'START-4' });
    writeFileAtomic(
      this.sharePath(output.session.epoch),
      encodeShareFile(this.shareKey, {
        epoch: output.session.epoch,
        index: this.index,
        secret: share.secret,
        transcript: output.transcript,
      }),
    );
  }
}
