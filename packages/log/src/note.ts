/**
 * C2SP signed-note (c2sp.org/signed-note): notes, their signature lines, verifier keys (vkeys) and signer keys.
 *
 * API STABLE: the log service, the witness daemon and the CLI build on these signatures.
 *
 * A note is text ending in a newline, a blank line, then 1..16 lines "— <key name> base64(key ID ‖ signature)".
 * The text is separated from the signatures by the LAST blank line (the text itself may contain blank lines;
 * splitting at the first one, as some implementations do, verifies the wrong bytes). Parsing is separate from
 * verifying: {@link parseNote} checks the shape only, {@link verifyNote} applies the spec's key rules
 * (unknown keys ignored; a known key's bad signature rejects the whole note; no verified signature rejects it).
 *
 * Keys: `<name>+<hex key ID>+<base64(type ‖ public key)>` (vkey) and
 * `PRIVATE+KEY+<name>+<hex key ID>+<base64(type ‖ seed)>` (signer key, Go's golang.org/x/mod/sumdb/note format).
 * Supported types: 0x01 (Ed25519 note signatures) and 0x04 (tlog-cosignature Ed25519 cosignatures).
 */

import { sha256 } from '@noble/hashes/sha2.js';
import {
  fromBase64,
  generateSigningKey,
  type SigningKeyPair,
  sign,
  signingKeyFromSeed,
  signingSeed,
  toBase64,
  utf8Decode,
  utf8Encode,
  verifySignature,
} from '@overt/core';
import { LogError } from './errors.js';

/** signed-note §Signature types: 0x01, Ed25519 over the note text. */
export const SIGNATURE_TYPE_ED25519 = 0x01;
/** signed-note §Signature types: 0x04, timestamped Ed25519 witness cosignatures (c2sp.org/tlog-cosignature). */
export const SIGNATURE_TYPE_COSIGNATURE = 0x04;
/** The spec's floor for what verifiers must accept, and our ceiling: more signature lines are rejected. */
export const MAX_NOTE_SIGNATURES = 16;

const SIG_PREFIX = '\u2014 '; // em dash U+2014, space
const SUPPORTED_TYPES: ReadonlySet<number> = new Set([SIGNATURE_TYPE_ED25519, SIGNATURE_TYPE_COSIGNATURE]);
const ED25519_KEY_BYTES = 32;

// Unicode White_Space (what the reference's unicode.IsSpace tests) or '+'.
const BAD_NAME_CHAR = /[\p{White_Space}+]/u;
// ASCII control characters other than newline (signed-note §Format).
function hasControlChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) return true;
  }
  return false;
}
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function malformed(message: string, check = 'NOTE-1', cause?: unknown): LogError {
  return new LogError('NOTE_MALFORMED', message, { check, cause });
}

/** signed-note §Format: key names are non-empty and contain no Unicode space and no '+'. */
export function isValidKeyName(name: string): boolean {
  return (
    typeof name === 'string' &&
    name.length > 0 &&
    !BAD_NAME_CHAR.test(name) &&
    !hasControlChar(name) &&
    !LONE_SURROGATE.test(name)
  );
}

function checkName(name: string): void {
  if (!isValidKeyName(name)) {
    throw new LogError('NOTE_NAME', 'key name is empty or contains a space, a plus or a control character', {
      check: 'NOTE-3',
    });
  }
}

/** signed-note §Signatures: key ID = SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4], as a big-endian uint32. */
export function computeKeyId(name: string, type: number, publicKey: Uint8Array): number {
  const h = sha256
    .create()
    .update(utf8Encode(name))
    .update(new Uint8Array([0x0a, type]))
    .update(publicKey)
    .digest();
  return ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0;
}

function keyIdHex(id: number): string {
  return id.toString(16).padStart(8, '0');
}

function keyIdBytes(id: number): Uint8Array {
  return new Uint8Array([(id >>> 24) & 0xff, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff]);
}

// ---- keys ----

/** A public key that verifies note signatures: (name, key ID) identifies it in signature lines. */
export interface VerifierKey {
  readonly name: string;
  readonly keyId: number;
  readonly type: number;
  readonly publicKey: Uint8Array;
}

/** A private key that signs notes. `keyPair` holds the Ed25519 secret: never log it. */
export interface SignerKey extends VerifierKey {
  readonly keyPair: SigningKeyPair;
}

function checkType(type: number): void {
  if (!SUPPORTED_TYPES.has(type)) {
    throw new LogError('NOTE_KEY_TYPE', 'unsupported signature type', { check: 'NOTE-5' });
  }
}

/** Builds a verifier key, computing its key ID. Throws NOTE_NAME, NOTE_KEY_TYPE, NOTE_KEY_MALFORMED. */
export function makeVerifierKey(name: string, type: number, publicKey: Uint8Array): VerifierKey {
  checkName(name);
  checkType(type);
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_KEY_BYTES) {
    throw new LogError('NOTE_KEY_MALFORMED', 'Ed25519 public key must be 32 bytes', { check: 'NOTE-4' });
  }
  return { name, keyId: computeKeyId(name, type, publicKey), type, publicKey: publicKey.slice() };
}

/** Splits `<name>+<hex id>+<base64>` on its first two '+' only: the base64 part may itself contain '+'. */
function splitKey(s: string): { name: string; idHex: string; b64: string } {
  const i1 = s.indexOf('+');
  const i2 = i1 < 0 ? -1 : s.indexOf('+', i1 + 1);
  if (i1 < 0 || i2 < 0) {
    throw new LogError('NOTE_KEY_MALFORMED', 'key must have the form name+keyid+base64', { check: 'NOTE-4' });
  }
  return { name: s.slice(0, i1), idHex: s.slice(i1 + 1, i2), b64: s.slice(i2 + 1) };
}

function decodeKeyMaterial(idHex: string, b64: string): { id: number; type: number; material: Uint8Array } {
  if (!/^[0-9a-fA-F]{8}$/.test(idHex)) {
    throw new LogError('NOTE_KEY_MALFORMED', 'key ID must be 8 hex digits', { check: 'NOTE-4' });
  }
  let raw: Uint8Array;
  try {
    raw = fromBase64(b64);
  } catch (cause) {
    throw new LogError('NOTE_KEY_MALFORMED', 'key material is not canonical base64', {
      check: 'NOTE-4',
      cause,
    });
  }
  if (raw.length < 1) throw new LogError('NOTE_KEY_MALFORMED', 'key material is empty', { check: 'NOTE-4' });
  const type = raw[0]!;
  checkType(type);
  const material = raw.slice(1);
  if (material.length !== ED25519_KEY_BYTES) {
    throw new LogError('NOTE_KEY_MALFORMED', 'Ed25519 key material must be 32 bytes', { check: 'NOTE-4' });
  }
  return { id: Number.parseInt(idHex, 16) >>> 0, type, material };
}

/**
 * Parses a vkey `<name>+<hex key ID>+<base64(type ‖ public key)>`. The key ID must equal the one computed from
 * the name, type and key (NOTE_KEY_ID), so a mistyped or forged vkey cannot alias another key.
 */
export function parseVerifierKey(vkey: string): VerifierKey {
  if (typeof vkey !== 'string') {
    throw new LogError('NOTE_KEY_MALFORMED', 'vkey must be a string', { check: 'NOTE-4' });
  }
  const { name, idHex, b64 } = splitKey(vkey);
  checkName(name);
  const { id, type, material } = decodeKeyMaterial(idHex, b64);
  const key = makeVerifierKey(name, type, material);
  if (key.keyId !== id) {
    throw new LogError('NOTE_KEY_ID', 'key ID does not match the key', { check: 'NOTE-6' });
  }
  return key;
}

export function formatVerifierKey(key: VerifierKey): string {
  const raw = new Uint8Array(1 + key.publicKey.length);
  raw[0] = key.type;
  raw.set(key.publicKey, 1);
  return `${key.name}+${keyIdHex(key.keyId)}+${toBase64(raw)}`;
}

const SIGNER_PREFIX = 'PRIVATE+KEY+';

/** Builds a signer key from a 32-byte Ed25519 seed (RFC 8032 §5.1.5). */
export function signerKeyFromSeed(name: string, type: number, seed: Uint8Array): SignerKey {
  checkName(name);
  checkType(type);
  let keyPair: SigningKeyPair;
  try {
    keyPair = signingKeyFromSeed(seed);
  } catch (cause) {
    throw new LogError('NOTE_KEY_MALFORMED', 'Ed25519 seed must be 32 bytes', { check: 'NOTE-4', cause });
  }
  return { ...makeVerifierKey(name, type, keyPair.publicKey), keyPair };
}

/** A fresh signer key from the platform's random source. */
export function generateSignerKey(name: string, type: number = SIGNATURE_TYPE_ED25519): SignerKey {
  return signerKeyFromSeed(name, type, signingSeed(generateSigningKey()));
}

/**
 * Parses `PRIVATE+KEY+<name>+<hex key ID>+<base64(type ‖ seed)>`. The key ID must match the public key derived
 * from the seed. Error messages never include any part of the key.
 */
export function parseSignerKey(skey: string): SignerKey {
  if (typeof skey !== 'string' || !skey.startsWith(SIGNER_PREFIX)) {
    throw new LogError('NOTE_KEY_MALFORMED', 'signer key must start with PRIVATE+KEY+', { check: 'NOTE-4' });
  }
  const { name, idHex, b64 } = splitKey(skey.slice(SIGNER_PREFIX.length));
  checkName(name);
  const { id, type, material } = decodeKeyMaterial(idHex, b64);
  const key = signerKeyFromSeed(name, type, material);
  material.fill(0);
  if (key.keyId !== id) {
    throw new LogError('NOTE_KEY_ID', 'key ID does not match the key', { check: 'NOTE-6' });
  }
  return key;
}

export function formatSignerKey(key: SignerKey): string {
  const seed = signingSeed(key.keyPair);
  const raw = new Uint8Array(1 + seed.length);
  raw[0] = key.type;
  raw.set(seed, 1);
  seed.fill(0);
  const out = `${SIGNER_PREFIX}${key.name}+${keyIdHex(key.keyId)}+${toBase64(raw)}`;
  raw.fill(0);
  return out;
}

/** The public half of a signer key. */
export function verifierKeyOf(key: SignerKey): VerifierKey {
  return { name: key.name, keyId: key.keyId, type: key.type, publicKey: key.publicKey.slice() };
}

// ---- notes ----

/** One signature line: the key ID is split off the signature bytes. */
export interface NoteSignature {
  readonly name: string;
  readonly keyId: number;
  readonly signature: Uint8Array;
}

/** A parsed, UNVERIFIED note. Its text must be ignored until {@link verifyNote} succeeds. */
export interface Note {
  /** The signed text, including its final newline, excluding the separating blank line. */
  readonly text: string;
  readonly signatures: readonly NoteSignature[];
}

/** Checks one signature algorithm: given the note text and the signature bytes after the key ID. */
export interface NoteVerifier {
  readonly key: VerifierKey;
  verify(text: Uint8Array, signature: Uint8Array): boolean;
}

/** Produces signature bytes (after the key ID) over note text. */
export interface NoteSigner {
  readonly name: string;
  readonly keyId: number;
  sign(text: Uint8Array): Uint8Array;
}

function checkNoteChars(s: string): void {
  if (LONE_SURROGATE.test(s)) throw malformed('note is not valid UTF-8');
  if (hasControlChar(s)) throw malformed('note contains an ASCII control character other than newline');
}

function decodeNoteInput(msg: string | Uint8Array): string {
  if (typeof msg === 'string') return msg;
  if (!(msg instanceof Uint8Array)) throw malformed('note must be a string or bytes');
  try {
    return utf8Decode(msg);
  } catch (cause) {
    throw malformed('note is not valid UTF-8', 'NOTE-1', cause);
  }
}

/** Parses one signature line (without its newline). */
export function parseSignatureLine(line: string): NoteSignature {
  if (!line.startsWith(SIG_PREFIX))
    throw malformed('signature line must start with an em dash and a space', 'NOTE-2');
  const rest = line.slice(SIG_PREFIX.length);
  const space = rest.indexOf(' ');
  if (space < 0) throw malformed('signature line has no signature', 'NOTE-2');
  const name = rest.slice(0, space);
  checkName(name);
  checkNoteChars(rest);
  let raw: Uint8Array;
  try {
    raw = fromBase64(rest.slice(space + 1));
  } catch (cause) {
    throw malformed('signature is not canonical base64', 'NOTE-2', cause);
  }
  if (raw.length < 5) throw malformed('signature is shorter than a key ID and one byte', 'NOTE-2');
  const keyId = ((raw[0]! << 24) | (raw[1]! << 16) | (raw[2]! << 8) | raw[3]!) >>> 0;
  return { name, keyId, signature: raw.slice(4) };
}

/**
 * Parses a signed note's shape (signed-note §Format) without verifying anything: valid UTF-8, no control
 * characters but newline, text and signatures split at the last blank line, 1..16 well-formed signature lines.
 * Throws NOTE_MALFORMED, NOTE_NAME or NOTE_TOO_MANY_SIGNATURES.
 */
export function parseNote(msg: string | Uint8Array): Note {
  const s = decodeNoteInput(msg);
  checkNoteChars(s);
  const split = s.lastIndexOf('\n\n');
  if (split < 0) throw malformed('note has no blank line before its signatures');
  const text = s.slice(0, split + 1);
  const block = s.slice(split + 2);
  if (block.length === 0 || !block.endsWith('\n')) {
    throw malformed('signature block must be non-empty and end with a newline', 'NOTE-2');
  }
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) {
    throw new LogError('NOTE_TOO_MANY_SIGNATURES', `note has more than ${MAX_NOTE_SIGNATURES} signatures`, {
      check: 'NOTE-2',
    });
  }
  return { text, signatures: lines.map(parseSignatureLine) };
}

export function formatSignatureLine(sig: NoteSignature): string {
  const raw = new Uint8Array(4 + sig.signature.length);
  raw.set(keyIdBytes(sig.keyId), 0);
  raw.set(sig.signature, 4);
  return `${SIG_PREFIX}${sig.name} ${toBase64(raw)}\n`;
}

/** Serialises a note: text, blank line, one line per signature. */
export function formatNote(note: Note): string {
  checkText(note.text);
  if (note.signatures.length === 0 || note.signatures.length > MAX_NOTE_SIGNATURES) {
    throw new LogError('NOTE_TOO_MANY_SIGNATURES', `a note carries 1..${MAX_NOTE_SIGNATURES} signatures`, {
      check: 'NOTE-2',
    });
  }
  return `${note.text}\n${note.signatures.map(formatSignatureLine).join('')}`;
}

function checkText(text: string): void {
  if (typeof text !== 'string' || !text.endsWith('\n')) throw malformed('note text must end with a newline');
  checkNoteChars(text);
}

/** Ed25519 (type 0x01): RFC 8032 over the note text. */
export function ed25519Verifier(key: VerifierKey): NoteVerifier {
  if (key.type !== SIGNATURE_TYPE_ED25519) {
    throw new LogError('NOTE_KEY_TYPE', 'not an Ed25519 (type 0x01) key', { check: 'NOTE-5' });
  }
  return { key, verify: (text, signature) => verifySignature(key.publicKey, text, signature) };
}

export function ed25519Signer(key: SignerKey): NoteSigner {
  if (key.type !== SIGNATURE_TYPE_ED25519) {
    throw new LogError('NOTE_KEY_TYPE', 'not an Ed25519 (type 0x01) key', { check: 'NOTE-5' });
  }
  return { name: key.name, keyId: key.keyId, sign: (text) => sign(key.keyPair, text) };
}

/** A note signature that verified, with the key that verified it. */
export interface VerifiedSignature extends NoteSignature {
  readonly key: VerifierKey;
}

export interface VerifiedNote {
  readonly text: string;
  /** One entry per known key that signed (repeats of a key's signature are counted once). */
  readonly verified: readonly VerifiedSignature[];
  /** Signatures from keys not among the verifiers (ignored, kept for re-serialisation). */
  readonly unverified: readonly NoteSignature[];
}

/**
 * signed-note §Signatures: a signature whose (name, key ID) matches a known key MUST verify, else the whole note
 * is rejected (NOTE_BAD_SIGNATURE); signatures from unknown keys are ignored, even if they share a name or an ID
 * with a known key (but not both); a note with no verified signature is rejected (NOTE_UNVERIFIED).
 */
export function verifyNote(note: Note, verifiers: readonly NoteVerifier[]): VerifiedNote {
  const textBytes = utf8Encode(note.text);
  const verified: VerifiedSignature[] = [];
  const unverified: NoteSignature[] = [];
  for (const sig of note.signatures) {
    const v = verifiers.find((x) => x.key.name === sig.name && x.key.keyId === sig.keyId);
    if (!v) {
      unverified.push(sig);
      continue;
    }
    if (!v.verify(textBytes, sig.signature)) {
      throw new LogError('NOTE_BAD_SIGNATURE', 'a signature from a known key does not verify', {
        check: 'NOTE-7',
      });
    }
    if (!verified.some((x) => x.name === sig.name && x.keyId === sig.keyId))
      verified.push({ ...sig, key: v.key });
  }
  if (verified.length === 0) {
    throw new LogError('NOTE_UNVERIFIED', 'no signature from a known key', { check: 'NOTE-8' });
  }
  return { text: note.text, verified, unverified };
}

/** Parses and verifies in one step. */
export function openNote(msg: string | Uint8Array, verifiers: readonly NoteVerifier[]): VerifiedNote {
  return verifyNote(parseNote(msg), verifiers);
}

/** Signs `text` (which must end with a newline and obey the note character rules) with every signer. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  checkText(text);
  const bytes = utf8Encode(text);
  const signatures = signers.map((s) => ({ name: s.name, keyId: s.keyId, signature: s.sign(bytes) }));
  return formatNote({ text, signatures });
}

/** Adds signature lines to a note, keeping the ones it has. */
export function addSignatures(note: Note, signatures: readonly NoteSignature[]): Note {
  return { text: note.text, signatures: [...note.signatures, ...signatures] };
}
