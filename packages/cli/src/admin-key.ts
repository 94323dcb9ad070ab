/**
 * The org admin's key at rest (docs/spec/start.md §4.4.2): `overt init` generates it and seals it under a
 * passphrase, exactly as a device profile's key is kept (client.md §3.1): a random 32-byte key wrapped under
 * Argon2id of the passphrase (`ProfileKeyFile`), and the admin's signer key (C2SP signed-note format) sealed under
 * that key for the label `overt/admin-key/v1`.
 *
 *   {"format": "overt/admin-key@v1", "key": <ProfileKeyFile>, "sealed": base64(u8 1 ‖ nonce ‖ XChaCha20-Poly1305)}
 *
 * The admin commands (`admin enrol`, `admin reports`) open either this file or a plain signer-key file (what
 * `overt up` writes). The file is attacker-controlled input: every field is checked, and a file that does not open
 * is one line (exit 3), never the parser's message. No passphrase or key reaches a message.
 */
import {
  createProfileKey,
  openRecord,
  type ProfileSecret,
  parseProfileKeyFile,
  SEALED_OVERHEAD,
  sealRecord,
  unlockProfileKey,
} from '@overt/client';
import { fromBase64, toBase64, utf8Decode, utf8Encode } from '@overt/core';
import { parseSignerKey, type SignerKey } from '@overt/log';

export const ADMIN_KEY_FORMAT = 'overt/admin-key@v1';
export const ADMIN_KEY_LABEL = 'overt/admin-key/v1';
/** A signer key line is about 100 characters; anything near this bound is not one. */
const MAX_SEALED_BYTES = 1024 + SEALED_OVERHEAD;

/** The sealed admin key file's text for `key` under `secret` (a fresh salt and nonce each time). */
export function sealAdminKey(key: string, secret: ProfileSecret): string {
  const { key: wrapKey, file } = createProfileKey(secret);
  try {
    const sealed = sealRecord(wrapKey, ADMIN_KEY_LABEL, utf8Encode(key));
    return `${JSON.stringify({ format: ADMIN_KEY_FORMAT, key: file, sealed: toBase64(sealed) }, null, 2)}\n`;
  } finally {
    wrapKey.fill(0);
  }
}

/**
 * Whether `text` is a sealed admin key file (JSON naming this format), rather than a plain signer key. Any other
 * JSON (a device profile, a policy) is neither: the caller says it is not an admin key without asking for a
 * passphrase.
 */
export function isSealedAdminKey(text: string): boolean {
  if (!text.trimStart().startsWith('{')) return false;
  try {
    const o = JSON.parse(text) as unknown;
    return typeof o === 'object' && o !== null && (o as { format?: unknown }).format === ADMIN_KEY_FORMAT;
  } catch {
    return false;
  }
}

/** Why a sealed admin key file could not be opened: `malformed` (not one) or `locked` (wrong passphrase). */
export class AdminKeyError extends Error {
  constructor(
    readonly reason: 'malformed' | 'locked',
    message: string,
  ) {
    super(message);
    this.name = 'AdminKeyError';
  }
}

/** Opens a sealed admin key file. @throws AdminKeyError. */
export function openAdminKey(text: string, secret: ProfileSecret): SignerKey {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new AdminKeyError('malformed', 'not JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new AdminKeyError('malformed', 'shape');
  const keys = Object.keys(o).sort().join(',');
  if (keys !== 'format,key,sealed' || o.format !== ADMIN_KEY_FORMAT || typeof o.sealed !== 'string')
    throw new AdminKeyError('malformed', 'shape');
  let file: ReturnType<typeof parseProfileKeyFile>;
  let sealed: Uint8Array;
  try {
    file = parseProfileKeyFile(o.key);
    sealed = fromBase64(o.sealed);
  } catch {
    throw new AdminKeyError('malformed', 'fields');
  }
  if (sealed.length <= SEALED_OVERHEAD || sealed.length > MAX_SEALED_BYTES)
    throw new AdminKeyError('malformed', 'sealed length');
  let wrapKey: Uint8Array;
  try {
    wrapKey = unlockProfileKey(file, secret);
  } catch {
    throw new AdminKeyError('locked', 'the passphrase does not open it');
  }
  let plain: Uint8Array;
  try {
    plain = openRecord(wrapKey, ADMIN_KEY_LABEL, sealed);
  } catch {
    throw new AdminKeyError('malformed', 'the sealed key does not open');
  } finally {
    wrapKey.fill(0);
  }
  try {
    return parseSignerKey(utf8Decode(plain).trim());
  } catch {
    throw new AdminKeyError('malformed', 'not a signer key');
  } finally {
    plain.fill(0);
  }
}
