/**
 * Secrets at rest (docs/spec/client.md §3.1): the device's stored state is encrypted under a random 32-byte
 * **profile key**, and the profile key is kept only wrapped under a key-encryption key (KEK) derived from the
 * user's passphrase with Argon2id (RFC 9106), or supplied raw by automation. Changing the passphrase rewraps the
 * one profile key; no record is rewritten.
 *
 *     sealed record = u8 version (1) ‖ nonce[24] ‖ XChaCha20-Poly1305(key, nonce, value, aad = UTF-8(label))
 *
 * The label names what the record is — `overt/profile/v1/store/<store key>` for a store entry — so a record
 * moved to another name, or into another role, does not open (REST-2). XChaCha20-Poly1305 is @noble/ciphers'
 * (audited); its 24-byte nonces are drawn at random for every write, which is safe for any number of records
 * under one key. Browser-safe: the web app's store can use the same format.
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import {
  ARGON2ID_MAX_KIB,
  ARGON2ID_MAX_PASSES,
  ARGON2ID_MIN_KIB,
  ARGON2ID_SALT_BYTES,
  type Argon2idParams,
  argon2id,
  fromBase64,
  isOvertError,
  type RandomSource,
  randomBytes,
  toBase64,
  utf8Encode,
} from '@overt/core';
import { ClientError } from '../errors.js';

export const PROFILE_KEY_BYTES = 32;
export const SEALED_RECORD_VERSION = 1;
export const SEALED_NONCE_BYTES = 24;
export const SEALED_TAG_BYTES = 16;
/** Bytes a sealed record adds to its value. */
export const SEALED_OVERHEAD = 1 + SEALED_NONCE_BYTES + SEALED_TAG_BYTES;

const LABEL_PREFIX = 'overt/profile/v1/';
/** The label of the store entry named `name` (client.md §3 keys). */
export function storeRecordLabel(name: string): string {
  return `${LABEL_PREFIX}store/${name}`;
}
/** The label of the file store's batch journal (client.md §3.2): one pending multi-record write. */
export const BATCH_JOURNAL_LABEL = `${LABEL_PREFIX}store-batch`;
/** The label of the device's identity seed (the CLI's `device.key`). */
export const DEVICE_KEY_LABEL = `${LABEL_PREFIX}device.key`;
/** The label of the profile key wrapped under the KEK (`wrapped` in the key file). */
export const PROFILE_KEY_LABEL = `${LABEL_PREFIX}profile-key`;

function recordInvalid(): ClientError {
  // No name in the message: store keys carry conversation and message ids.
  return new ClientError('SDK_STORE_MALFORMED', 'a stored record does not authenticate under its name', {
    check: 'REST-2',
  });
}

function requireKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== PROFILE_KEY_BYTES)
    throw new ClientError('SDK_USAGE', `a profile key is ${PROFILE_KEY_BYTES} bytes`);
}

/** Seals `value` under `key` for the name `label` (a fresh random nonce each time). */
export function sealRecord(
  key: Uint8Array,
  label: string,
  value: Uint8Array,
  random: RandomSource = randomBytes,
): Uint8Array {
  requireKey(key);
  const nonce = random(SEALED_NONCE_BYTES);
  const ct = xchacha20poly1305(key, nonce, utf8Encode(label)).encrypt(value);
  const out = new Uint8Array(1 + SEALED_NONCE_BYTES + ct.length);
  out[0] = SEALED_RECORD_VERSION;
  out.set(nonce, 1);
  out.set(ct, 1 + SEALED_NONCE_BYTES);
  return out;
}

/**
 * Opens a record sealed by {@link sealRecord} under `key` for `label`. A record that is truncated, of another
 * version, altered in any bit, sealed under another key or for another name throws SDK_STORE_MALFORMED (REST-2).
 */
export function openRecord(key: Uint8Array, label: string, record: Uint8Array): Uint8Array {
  requireKey(key);
  if (record.length < SEALED_OVERHEAD || record[0] !== SEALED_RECORD_VERSION) throw recordInvalid();
  try {
    return xchacha20poly1305(key, record.subarray(1, 1 + SEALED_NONCE_BYTES), utf8Encode(label)).decrypt(
      record.subarray(1 + SEALED_NONCE_BYTES),
    );
  } catch {
    throw recordInvalid();
  }
}

// --- the key file: the profile key wrapped under a passphrase (Argon2id) or a raw key ---

export const PROFILE_KEY_FORMAT = 'overt/profile-key@v1';

/**
 * Argon2id parameters for new profiles: t = 2 passes over 64 MiB, one lane (libsodium's "interactive" level;
 * RFC 9106 §7.4 asks for as much memory as the use allows). Measured on the team's 2-core machine: ~0.2 s in a
 * fresh process, so every command still unlocks in well under half a second.
 */
export const PROFILE_ARGON2ID: Argon2idParams = { t: 2, m: 65536 };

/** How a profile is unlocked: a person's passphrase (Argon2id), or a 32-byte key for automation (no KDF). */
export type ProfileSecret =
  | { readonly kind: 'passphrase'; readonly passphrase: string }
  | { readonly kind: 'raw'; readonly key: Uint8Array };

export type ProfileKdf =
  | {
      readonly name: 'argon2id';
      /** RFC 9106 passes. */
      readonly t: number;
      /** RFC 9106 memory in KiB. */
      readonly m: number;
      /** Lanes: always 1 (libsodium's crypto_pwhash). */
      readonly p: 1;
      /** 16 random bytes, base64, fresh for each wrapping. */
      readonly salt: string;
    }
  | { readonly name: 'raw' };

/** The JSON key file (the CLI's `profile-key.json`). Holds no secret that opens without the passphrase. */
export interface ProfileKeyFile {
  readonly format: typeof PROFILE_KEY_FORMAT;
  readonly kdf: ProfileKdf;
  /** base64 of the sealed record of the profile key under the KEK, label {@link PROFILE_KEY_LABEL}. */
  readonly wrapped: string;
}

/** The bytes Argon2id takes: the passphrase in Unicode NFC, as UTF-8, so the same words typed on another
 * keyboard or system give the same key. */
export function passphraseBytes(passphrase: string): Uint8Array {
  return utf8Encode(passphrase.normalize('NFC'));
}

function kek(kdf: ProfileKdf, secret: ProfileSecret): Uint8Array {
  if (kdf.name === 'raw') {
    if (secret.kind !== 'raw')
      throw new ClientError('SDK_STORE_LOCKED', 'this profile is locked with a raw key, not a passphrase', {
        check: 'REST-1',
      });
    return secret.key.slice();
  }
  if (secret.kind !== 'passphrase')
    throw new ClientError('SDK_STORE_LOCKED', 'this profile is locked with a passphrase, not a raw key', {
      check: 'REST-1',
    });
  return argon2id(passphraseBytes(secret.passphrase), fromBase64(kdf.salt), { t: kdf.t, m: kdf.m });
}

function checkSecret(secret: ProfileSecret): void {
  if (secret.kind === 'raw') requireKey(secret.key);
  else if (typeof secret.passphrase !== 'string' || secret.passphrase === '')
    throw new ClientError('SDK_USAGE', 'a passphrase must not be empty');
}

/**
 * Wraps `key` (a profile key) for `secret`: a fresh salt and nonce each time. This is how a passphrase is changed:
 * the same profile key, wrapped anew. `params` defaults to {@link PROFILE_ARGON2ID}.
 */
export function wrapProfileKey(
  key: Uint8Array,
  secret: ProfileSecret,
  options: { params?: Argon2idParams; random?: RandomSource } = {},
): ProfileKeyFile {
  requireKey(key);
  checkSecret(secret);
  const random = options.random ?? randomBytes;
  const params = options.params ?? PROFILE_ARGON2ID;
  const kdf: ProfileKdf =
    secret.kind === 'raw'
      ? { name: 'raw' }
      : { name: 'argon2id', t: params.t, m: params.m, p: 1, salt: toBase64(random(ARGON2ID_SALT_BYTES)) };
  const k = kek(kdf, secret);
  try {
    return {
      format: PROFILE_KEY_FORMAT,
      kdf,
      wrapped: toBase64(sealRecord(k, PROFILE_KEY_LABEL, key, random)),
    };
  } finally {
    k.fill(0);
  }
}

/** A new random profile key and its key file for `secret`. */
export function createProfileKey(
  secret: ProfileSecret,
  options: { params?: Argon2idParams; random?: RandomSource } = {},
): { key: Uint8Array; file: ProfileKeyFile } {
  const key = (options.random ?? randomBytes)(PROFILE_KEY_BYTES);
  return { key, file: wrapProfileKey(key, secret, options) };
}

function malformed(what: string, cause?: unknown): never {
  throw new ClientError('SDK_STORE_MALFORMED', `the profile key file's ${what} is malformed`, {
    check: 'REST-1',
    cause,
  });
}

function exactKeys(o: Record<string, unknown>, keys: readonly string[], what: string): void {
  const have = Object.keys(o).sort();
  const want = [...keys].sort();
  if (have.length !== want.length || have.some((k, i) => k !== want[i])) malformed(what);
}

function bytesField(v: unknown, length: number, what: string): void {
  if (typeof v !== 'string') malformed(what);
  let b: Uint8Array;
  try {
    b = fromBase64(v);
  } catch (e) {
    malformed(what, e);
  }
  if (b.length !== length) malformed(what);
}

/**
 * Checks a parsed key file (JSON from disk: attacker-controlled) field by field: the format, a known KDF with
 * parameters inside Argon2id's accepted bounds, a 16-byte salt and a wrapped key of exactly one sealed 32-byte
 * key. Throws SDK_STORE_MALFORMED (REST-1).
 */
export function parseProfileKeyFile(json: unknown): ProfileKeyFile {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) malformed('shape');
  const o = json as Record<string, unknown>;
  exactKeys(o, ['format', 'kdf', 'wrapped'], 'shape');
  if (o.format !== PROFILE_KEY_FORMAT) malformed('format');
  const kdf = o.kdf as Record<string, unknown>;
  if (typeof kdf !== 'object' || kdf === null || Array.isArray(kdf)) malformed('kdf');
  if (kdf.name === 'raw') exactKeys(kdf, ['name'], 'kdf');
  else if (kdf.name === 'argon2id') {
    exactKeys(kdf, ['name', 't', 'm', 'p', 'salt'], 'kdf');
    if (kdf.p !== 1) malformed('kdf lanes');
    // The bounds are core's, the same that protect the KDF call: a file cannot ask for unbounded work.
    const t = kdf.t as number;
    const m = kdf.m as number;
    if (!Number.isSafeInteger(t) || t < 1 || t > ARGON2ID_MAX_PASSES) malformed('kdf parameters');
    if (!Number.isSafeInteger(m) || m < ARGON2ID_MIN_KIB || m > ARGON2ID_MAX_KIB) malformed('kdf parameters');
    bytesField(kdf.salt, ARGON2ID_SALT_BYTES, 'salt');
  } else malformed('kdf');
  bytesField(o.wrapped, SEALED_OVERHEAD + PROFILE_KEY_BYTES, 'wrapped key');
  return o as unknown as ProfileKeyFile;
}

/**
 * The profile key in `file`, unwrapped with `secret`. Throws SDK_STORE_LOCKED (REST-1) when the secret does not
 * unlock it (a wrong passphrase or key, a secret of the other kind, or a key file altered since it was written).
 */
export function unlockProfileKey(file: ProfileKeyFile, secret: ProfileSecret): Uint8Array {
  checkSecret(secret);
  const k = kek(file.kdf, secret);
  try {
    return openRecord(k, PROFILE_KEY_LABEL, fromBase64(file.wrapped));
  } catch (e) {
    if (isOvertError(e) || e instanceof ClientError)
      throw new ClientError('SDK_STORE_LOCKED', 'the passphrase or key does not unlock this profile', {
        check: 'REST-1',
      });
    throw e;
  } finally {
    k.fill(0);
  }
}
