/**
 * Identifier formats shared by envelope headers, franking and the access workflow (docs/spec/envelope.md
 * §2), and the rule that a decoder reports malformed input under its own module's error code.
 *
 * Organisation and user identifiers are printable ASCII without spaces (0x21–0x7e), so that one identifier
 * has one byte encoding (no Unicode normalisation question) and byte order equals string order. Device and
 * conversation identifiers are opaque bytes (an MLS group id is opaque<V>, RFC 9420 §8); a message id is 16
 * bytes chosen by the sender.
 */

import type { Reader, Writer } from '../codec.js';
import type { ErrorCode } from '../errors.js';
import { OvertError } from '../errors.js';

// The id limits and the id alphabet are defined once, for every part of the protocol (ids.ts, foundations.md §8).
import { isIdString } from '../ids.js';

export { CONVERSATION_ID_MAX, DEVICE_ID_MAX, isIdString, ORG_ID_MAX, USER_ID_MAX } from '../ids.js';
export const MESSAGE_ID_BYTES = 16;

/** Printable ASCII with space (0x20–0x7e), 1..max characters: content types, names. */
export function isPrintable(s: unknown, max: number): s is string {
  if (typeof s !== 'string' || s.length < 1 || s.length > max) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

export function isOpaqueId(b: unknown, max: number): b is Uint8Array {
  return b instanceof Uint8Array && b.length >= 1 && b.length <= max;
}

export function isFixedBytes(b: unknown, n: number): b is Uint8Array {
  return b instanceof Uint8Array && b.length === n;
}

/** A time in milliseconds since the Unix epoch, or a duration in ms: an integer in 0..2^53 − 1 (u64 on the wire). */
export function isMillis(t: unknown): t is number {
  return typeof t === 'number' && Number.isSafeInteger(t) && t >= 0;
}

export function isUint(v: unknown, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
}

/** Strictly increasing (hence unique) under byte order; for ASCII identifiers that is string order. */
export function isSortedUniqueStrings(ids: readonly string[]): boolean {
  for (let i = 1; i < ids.length; i++) if (!(ids[i - 1]! < ids[i]!)) return false;
  return true;
}

/** Sorted copy, for callers building a canonical list; duplicates are kept so the validator can refuse them. */
export function sortStrings(ids: readonly string[]): string[] {
  return [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Reads an identifier string written with {@link writeIdString}; throws `code` on a bad one. */
export function readIdString(r: Reader, what: string, max: number, fail: () => never): string {
  const b = r.vec8(what, max);
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  if (!isIdString(s, max)) fail();
  return s;
}

export function readPrintable(r: Reader, what: string, max: number, fail: () => never): string {
  const b = r.vec8(what, max);
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  if (!isPrintable(s, max)) fail();
  return s;
}

/** An ASCII string as vec8 (callers validate it first). */
export function writeAscii(w: Writer, s: string): void {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  w.vec8(b);
}

/**
 * Runs a decoder and reports any CODEC_* or GROUP_* failure under `code` (keeping it as the cause), so that
 * callers of a module see that module's codes only. Other errors (ours with the right code, or bugs) pass.
 */
export function decodeAs<T>(code: ErrorCode, check: string, what: string, decode: () => T): T {
  try {
    return decode();
  } catch (cause) {
    if (cause instanceof OvertError && (cause.code.startsWith('CODEC_') || cause.code.startsWith('GROUP_')))
      throw new OvertError(code, `malformed ${what}`, { check, cause });
    throw cause;
  }
}
