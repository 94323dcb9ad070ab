/**
 * What a message's plaintext holds (docs/spec/client.md §4.8): text as it is, and files as a FileContent — the
 * file's real content type and the sender's file name inside the encrypted payload, so the relay, which reads the
 * envelope header, learns neither (it sees the one content type {@link FILE_CONTENT_TYPE} for every file).
 * Envelopes of other content types (text, and files sent before FileContent existed) decode as they are, with no
 * name: old messages keep opening.
 *
 * FileContent, version 1 (client.md §4.8; vectors in test/vectors/file-content.json):
 *   u8 version = 1 ‖ u8 type_len ‖ content_type[type_len] ‖ u16 name_len ‖ name[name_len] ‖ data[rest]
 *
 * The name is the sender's word, so it is sanitised on receipt ({@link sanitizeFileName}) before anyone uses it
 * as a path component: no separators, no control or bidi characters, no leading dots (so never `.` or `..`), no
 * runs of dots, bounded length, and a fallback when nothing is left.
 */
import { isOvertError, Reader, toHex, utf8Decode, utf8Encode, Writer } from '@overt/core';
import { ClientError } from '../errors.js';

/** The envelope content type of every file message that carries a FileContent (the relay sees only this). */
export const FILE_CONTENT_TYPE = 'application/vnd.overt.file; v=1';
export const FILE_CONTENT_VERSION = 1;
/** Largest encoded name the format carries, bytes of UTF-8. */
export const FILE_NAME_MAX_BYTES = 1024;
/** Largest sanitised name, bytes of UTF-8 (fits every common file system's 255-byte limit with room to rename). */
export const SAFE_NAME_MAX_BYTES = 200;
/** The default content type of a file. */
export const DEFAULT_FILE_TYPE = 'application/octet-stream';

/** A file as it travels inside the envelope. `name` is raw (unsanitised) UTF-8 text, possibly empty. */
export interface FileContent {
  readonly contentType: string;
  readonly name: string;
  readonly data: Uint8Array;
}

/** The same rule as the envelope header's content type (envelope.md §2 field 11): 1..127 bytes of 0x20–0x7e. */
function validType(t: string): boolean {
  return /^[\x20-\x7e]{1,127}$/.test(t);
}

/** Encodes a FileContent. SDK_USAGE for a content type or name the format cannot carry. */
export function encodeFileContent(f: FileContent): Uint8Array {
  if (!validType(f.contentType))
    throw new ClientError('SDK_USAGE', 'a file content type is 1..127 printable ASCII characters');
  const name = utf8Encode(f.name);
  if (name.length > FILE_NAME_MAX_BYTES)
    throw new ClientError('SDK_USAGE', `a file name is at most ${FILE_NAME_MAX_BYTES} bytes of UTF-8`);
  const type = utf8Encode(f.contentType);
  return new Writer(1 + 1 + type.length + 2 + name.length + f.data.length)
    .u8(FILE_CONTENT_VERSION)
    .vec8(type)
    .vec16(name)
    .bytes(f.data)
    .finish();
}

function malformed(message: string, cause?: unknown): ClientError {
  return new ClientError('SDK_CONTENT_MALFORMED', message, { check: 'CLI-11', cause });
}

/**
 * Decodes a FileContent. SDK_CONTENT_MALFORMED (CLI-11) unless `bytes` is one version-1 encoding with a valid
 * content type and a UTF-8 name of at most {@link FILE_NAME_MAX_BYTES} bytes (the data is the rest, any length).
 */
export function decodeFileContent(bytes: Uint8Array): FileContent {
  try {
    const r = new Reader(bytes);
    if (r.u8('file content version') !== FILE_CONTENT_VERSION)
      throw malformed('unknown file content version');
    const contentType = String.fromCharCode(...r.vec8('file content type', 127));
    if (!validType(contentType))
      throw malformed('file content type is not 1..127 printable ASCII characters');
    const name = utf8Decode(r.vec16('file name', FILE_NAME_MAX_BYTES));
    const data = r.bytes(r.remaining, 'file data');
    return { contentType, name, data };
  } catch (e) {
    if (e instanceof ClientError) throw e;
    if (isOvertError(e)) throw malformed('file content does not decode', e);
    throw e;
  }
}

/** Code points replaced by `_`: C0/C1 controls, DEL, bidi and invisible format characters, path and shell-hostile. */
const UNSAFE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb/\\:*?"<>|]/gu;
const RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])$/i;
/** An extension kept through truncation: a last `.` followed by 1..16 bytes. */
const EXTENSION = /\.[^.]{1,16}$/u;

function cutTo(s: string, maxBytes: number): string {
  let out = '';
  let n = 0;
  for (const cp of s) {
    const len = utf8Encode(cp).length;
    if (n + len > maxBytes) break;
    out += cp;
    n += len;
  }
  return out;
}

/**
 * A received file name made safe to use as one path component (client.md §4.8, steps in order): NFC; every
 * unsafe code point → `_`; runs of dots → one dot; cut to {@link SAFE_NAME_MAX_BYTES} bytes keeping a short
 * extension; leading and trailing spaces and dots removed; a Windows device name gets a `_` prefix; empty →
 * `fallback`. Never returns a name with a separator, a control character, `.` or `..`.
 */
export function sanitizeFileName(raw: string, fallback: string): string {
  let s = raw
    .normalize('NFC')
    .replace(UNSAFE, '_')
    .replace(/\.{2,}/g, '.');
  if (utf8Encode(s).length > SAFE_NAME_MAX_BYTES) {
    const ext = EXTENSION.exec(s)?.[0] ?? '';
    const extBytes = utf8Encode(ext).length;
    s = cutTo(s.slice(0, s.length - ext.length), SAFE_NAME_MAX_BYTES - extBytes) + ext;
  }
  s = s.replace(/^[ .]+|[ .]+$/g, '');
  const stem = s.replace(/\..*$/, '');
  if (RESERVED.test(stem)) s = `_${s}`;
  return s === '' ? fallback : s;
}

/** The fallback name of a received file with none: `file-` and the first 8 bytes of its message id in hex. */
export function fallbackFileName(messageId: Uint8Array): string {
  return `file-${toHex(messageId.subarray(0, 8))}`;
}

/** What a recipient shows for one opened envelope: text or a file's bytes, its content type and (files) name. */
export interface MessageContent {
  readonly contentType: string;
  readonly payload: Uint8Array;
  /** The sanitised file name; set for every FileContent (the fallback when the sender gave none). */
  readonly fileName?: string;
}

/**
 * The content of an opened envelope: a FileContent is decoded (CLI-11) and its name sanitised; anything else
 * (text, older files) is returned as the header labels it.
 */
export function decodeMessageContent(
  headerContentType: string,
  plaintext: Uint8Array,
  messageId: Uint8Array,
): MessageContent {
  if (headerContentType !== FILE_CONTENT_TYPE) return { contentType: headerContentType, payload: plaintext };
  const f = decodeFileContent(plaintext);
  return {
    contentType: f.contentType,
    payload: f.data,
    fileName: sanitizeFileName(f.name, fallbackFileName(messageId)),
  };
}
