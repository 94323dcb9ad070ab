/**
 * Overt's log entry framing: every entry on Overt's transparency log is
 *
 *     u8 entry type ‖ body
 *
 * where the body's schema belongs to the type (defined by @overt/core's workflow module). This module owns only
 * the framing, the size limit and the registry of types; it knows nothing of bodies. The encoding is canonical:
 * one value, one byte string. The whole encoded entry is what is stored in entry bundles (tlog-tiles) and what
 * RFC 6962 hashes as the leaf (leaf hash = SHA-256(0x00 ‖ encoded entry)).
 */
import { LogError } from './errors.js';

/**
 * The registry of entry types. Codes are permanent: a code is never reused for another meaning, new types get new
 * codes, and a verifier rejects a code it does not know (ENTRY_TYPE) rather than guess.
 */
export const ENTRY_TYPES = {
  /** The organisation's signed policy: trustees, threshold, witnesses and quorum, requesters, limits. */
  policy: 1,
  /** An epoch's escrow public key from the trustees' DKG: group key, verification keys, transcript hash. */
  epoch_key: 2,
  /** A device key added to a user (key transparency). */
  device_added: 3,
  /** A device key removed. */
  device_removed: 4,
  /** A requester's access request: the public part and a commitment to the confidential part. */
  request: 5,
  /** A trustee's signed approve/deny decision on a request. */
  decision: 6,
  /** The relay's execution of an approved request: envelope count and Merkle root over envelope ids. */
  execution: 7,
  /** A trustee's release of partial decryptions for an executed request. */
  release: 8,
  /** k trustee signatures extending a request's seal. */
  extension: 9,
  /** The opening of a request's commitment at its seal date. */
  unseal: 10,
  /** A trustee's signed statement that it destroyed an epoch's share. */
  shred: 11,
  /** A trustee's refusal to release, with its reason. */
  refusal: 12,
  /** A map epoch's root: the key-transparency prefix tree's root, chained to the previous epoch (directory.md §7.5). */
  map_root: 13,
} as const;

export type EntryTypeName = keyof typeof ENTRY_TYPES;
export type EntryType = (typeof ENTRY_TYPES)[EntryTypeName];

const NAMES = new Map<number, EntryTypeName>(
  (Object.entries(ENTRY_TYPES) as [EntryTypeName, EntryType][]).map(([name, code]) => [code, name]),
);

/**
 * The largest encoded entry: 65,535 bytes (64 KiB − 1). tlog-tiles entry bundles prefix each entry with a
 * uint16 length, so nothing longer can be served; the limit is checked when encoding and when decoding.
 */
export const MAX_ENTRY_SIZE = 0xffff;

/** One log entry: its registered type and its body bytes. */
export interface LogEntry {
  readonly type: EntryType;
  readonly body: Uint8Array;
}

export function isEntryType(code: number): code is EntryType {
  return NAMES.has(code);
}

/** The registry name of a type code (e.g. 5 → "request"); ENTRY_TYPE for an unregistered code. */
export function entryTypeName(code: number): EntryTypeName {
  const name = NAMES.get(code);
  if (name === undefined) throw new LogError('ENTRY_TYPE', 'unregistered entry type', { check: 'TILE-6' });
  return name;
}

/** u8 type ‖ body. Throws ENTRY_TYPE for an unregistered type, ENTRY_TOO_LARGE past {@link MAX_ENTRY_SIZE}. */
export function encodeEntry(entry: LogEntry): Uint8Array {
  entryTypeName(entry.type);
  if (!(entry.body instanceof Uint8Array)) {
    throw new LogError('ENTRY_MALFORMED', 'entry body must be bytes', { check: 'TILE-5' });
  }
  if (1 + entry.body.length > MAX_ENTRY_SIZE) {
    throw new LogError('ENTRY_TOO_LARGE', `entry is longer than ${MAX_ENTRY_SIZE} bytes`, {
      check: 'TILE-7',
    });
  }
  const out = new Uint8Array(1 + entry.body.length);
  out[0] = entry.type;
  out.set(entry.body, 1);
  return out;
}

/** Parses an encoded entry (attacker bytes: from a bundle, a receipt or a peer). The body is a copy. */
export function decodeEntry(bytes: Uint8Array): LogEntry {
  if (!(bytes instanceof Uint8Array) || bytes.length < 1) {
    throw new LogError('ENTRY_MALFORMED', 'entry is empty', { check: 'TILE-5' });
  }
  if (bytes.length > MAX_ENTRY_SIZE) {
    throw new LogError('ENTRY_TOO_LARGE', `entry is longer than ${MAX_ENTRY_SIZE} bytes`, {
      check: 'TILE-7',
    });
  }
  const type = bytes[0]!;
  if (!isEntryType(type)) throw new LogError('ENTRY_TYPE', 'unregistered entry type', { check: 'TILE-6' });
  return { type, body: bytes.slice(1) };
}
