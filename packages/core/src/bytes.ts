/**
 * Byte helpers shared by every module: concatenation, constant-time comparison, and strict hex, base64 and
 * UTF-8 codecs. Uint8Array only (never the Node-specific buffer class), so the core runs unchanged in browsers.
 *
 * The decoders are strict because they read attacker-controlled text (notes, JSON bodies): base64 must be
 * canonical (RFC 4648 §3.5: padding present, unused bits zero), hex must be lowercase or uppercase pairs.
 */
import { OvertError } from './errors.js';

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Compares two byte strings in time that depends only on their lengths. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Lexicographic order of byte strings (shorter prefix first), for canonical sorting. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

export function utf8Encode(s: string): Uint8Array {
  return textEncoder.encode(s);
}

/** Decodes UTF-8, rejecting invalid sequences with CODEC_UTF8. */
export function utf8Decode(b: Uint8Array): string {
  try {
    return textDecoder.decode(b);
  } catch (cause) {
    throw new OvertError('CODEC_UTF8', 'invalid UTF-8', { cause });
  }
}

const HEX = '0123456789abcdef';

export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i]! >> 4]! + HEX[b[i]! & 15]!;
  return s;
}

function hexNibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Decodes hex; rejects odd length and non-hex characters with CODEC_HEX. */
export function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0) throw new OvertError('CODEC_HEX', 'hex string has odd length');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = hexNibble(s.charCodeAt(2 * i));
    const lo = hexNibble(s.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) throw new OvertError('CODEC_HEX', 'invalid hex character');
    out[i] = (hi << 4) | lo;
  }
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function makeReverse(alphabet: string): Int16Array {
  const r = new Int16Array(128).fill(-1);
  for (let i = 0; i < alphabet.length; i++) r[alphabet.charCodeAt(i)] = i;
  return r;
}
const B64_REV = makeReverse(B64);
const B64URL_REV = makeReverse(B64URL);

function encode64(b: Uint8Array, alphabet: string, pad: boolean): string {
  let s = '';
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!;
    s += alphabet[n >> 18]! + alphabet[(n >> 12) & 63]! + alphabet[(n >> 6) & 63]! + alphabet[n & 63]!;
  }
  const rest = b.length - i;
  if (rest === 1) {
    const n = b[i]! << 16;
    s += alphabet[n >> 18]! + alphabet[(n >> 12) & 63]! + (pad ? '==' : '');
  } else if (rest === 2) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8);
    s += alphabet[n >> 18]! + alphabet[(n >> 12) & 63]! + alphabet[(n >> 6) & 63]! + (pad ? '=' : '');
  }
  return s;
}

function decode64(s: string, rev: Int16Array, pad: boolean): Uint8Array {
  let body = s;
  if (pad) {
    if (s.length % 4 !== 0) throw new OvertError('CODEC_BASE64', 'base64 length is not a multiple of 4');
    if (s.endsWith('==')) body = s.slice(0, -2);
    else if (s.endsWith('=')) body = s.slice(0, -1);
  }
  if (body.length % 4 === 1) throw new OvertError('CODEC_BASE64', 'base64 has an impossible length');
  const out = new Uint8Array(Math.floor((body.length * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    const v = c < 128 ? rev[c]! : -1;
    if (v < 0) throw new OvertError('CODEC_BASE64', 'invalid base64 character');
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  // RFC 4648 §3.5: the unused low bits of the last character must be zero, else two strings decode alike.
  if ((acc & ((1 << bits) - 1)) !== 0) throw new OvertError('CODEC_BASE64', 'non-canonical base64');
  return out;
}

/** Standard base64 with padding (RFC 4648 §4), as used by C2SP notes and our JSON. */
export function toBase64(b: Uint8Array): string {
  return encode64(b, B64, true);
}

/** Strict standard base64: padding required, canonical trailing bits; else CODEC_BASE64. */
export function fromBase64(s: string): Uint8Array {
  return decode64(s, B64_REV, true);
}

/** base64url without padding (RFC 4648 §5), for identifiers in URLs. */
export function toBase64Url(b: Uint8Array): string {
  return encode64(b, B64URL, false);
}

export function fromBase64Url(s: string): Uint8Array {
  return decode64(s, B64URL_REV, false);
}

/** Cryptographically secure random bytes from the platform (WebCrypto, present in browsers and Node ≥ 19). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  // getRandomValues fills at most 65,536 bytes per call.
  for (let i = 0; i < n; i += 65536)
    globalThis.crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}

/** A source of random bytes; passed in so that tests and vectors can be deterministic. */
export type RandomSource = (n: number) => Uint8Array;
