/**
 * Canonical binary encoding, in the style of the TLS presentation language (RFC 8446 §3) that MLS also uses:
 * big-endian fixed-width integers and byte vectors with a fixed-width length prefix. Every structure has exactly
 * one encoding, so hashing an encoding is hashing the value.
 *
 * {@link Reader} is the only way our decoders read attacker-controlled bytes: every read is bounds-checked and
 * fails with a CODEC_* {@link OvertError}; {@link Reader.finish} rejects trailing bytes.
 */
import { utf8Decode, utf8Encode } from './bytes.js';
import { OvertError } from './errors.js';

export class Writer {
  private buf: Uint8Array;
  private view: DataView;
  private len = 0;

  constructor(initialCapacity = 256) {
    this.buf = new Uint8Array(initialCapacity);
    this.view = new DataView(this.buf.buffer);
  }

  /**
   * Makes room for n bytes and returns their offset. It may replace `buf` and `view`, so callers must call it
   * before reading either: in `this.buf[this.reserve(1)] = v` the old buffer is evaluated first and the write
   * is lost when the buffer grows.
   */
  private reserve(n: number): number {
    const need = this.len + n;
    if (need > this.buf.length) {
      // At least 1: doubling a zero capacity (new Writer(0)) would never reach `need`.
      let cap = Math.max(1, this.buf.length * 2);
      while (cap < need) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.len;
    this.len = need;
    return at;
  }

  u8(v: number): this {
    checkUint(v, 0xff);
    const at = this.reserve(1);
    this.buf[at] = v;
    return this;
  }

  u16(v: number): this {
    checkUint(v, 0xffff);
    const at = this.reserve(2);
    this.view.setUint16(at, v);
    return this;
  }

  u32(v: number): this {
    checkUint(v, 0xffffffff);
    const at = this.reserve(4);
    this.view.setUint32(at, v);
    return this;
  }

  /** A 64-bit unsigned integer; numbers above 2^53 − 1 are not representable here and are refused. */
  u64(v: number): this {
    checkUint(v, Number.MAX_SAFE_INTEGER);
    const at = this.reserve(8);
    this.view.setUint32(at, Math.floor(v / 2 ** 32));
    this.view.setUint32(at + 4, v >>> 0);
    return this;
  }

  /** Raw bytes with no length prefix (fixed-size fields). */
  bytes(b: Uint8Array): this {
    const at = this.reserve(b.length);
    this.buf.set(b, at);
    return this;
  }

  /** opaque<0..2^8-1>: a one-byte length, then the bytes. */
  vec8(b: Uint8Array): this {
    return this.u8(b.length).bytes(b);
  }

  /** opaque<0..2^16-1>: a two-byte length, then the bytes. */
  vec16(b: Uint8Array): this {
    return this.u16(b.length).bytes(b);
  }

  /** opaque<0..2^32-1>: a four-byte length, then the bytes. */
  vec32(b: Uint8Array): this {
    return this.u32(b.length).bytes(b);
  }

  /** A UTF-8 string as vec16. */
  str16(s: string): this {
    return this.vec16(utf8Encode(s));
  }

  /** A UTF-8 string as vec8. */
  str8(s: string): this {
    return this.vec8(utf8Encode(s));
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function checkUint(v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new OvertError('CODEC_RANGE', `integer out of range 0..${max}`);
  }
}

export class Reader {
  private readonly view: DataView;
  private offset = 0;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  get position(): number {
    return this.offset;
  }

  private take(n: number, what: string): number {
    if (n > this.remaining) throw new OvertError('CODEC_TRUNCATED', `input ends inside ${what}`);
    const at = this.offset;
    this.offset += n;
    return at;
  }

  u8(what = 'u8'): number {
    return this.buf[this.take(1, what)]!;
  }

  u16(what = 'u16'): number {
    return this.view.getUint16(this.take(2, what));
  }

  u32(what = 'u32'): number {
    return this.view.getUint32(this.take(4, what));
  }

  u64(what = 'u64'): number {
    const at = this.take(8, what);
    const hi = this.view.getUint32(at);
    const lo = this.view.getUint32(at + 4);
    if (hi > 0x1fffff) throw new OvertError('CODEC_RANGE', `${what} exceeds 2^53 - 1`);
    return hi * 2 ** 32 + lo;
  }

  /** Exactly n bytes (a copy, so later mutation of the input cannot change a decoded value). */
  bytes(n: number, what = 'bytes'): Uint8Array {
    const at = this.take(n, what);
    return this.buf.slice(at, at + n);
  }

  vec8(what = 'vec8', max = 0xff): Uint8Array {
    return this.vec(this.u8(what), what, max);
  }

  vec16(what = 'vec16', max = 0xffff): Uint8Array {
    return this.vec(this.u16(what), what, max);
  }

  vec32(what = 'vec32', max = 0xffffffff): Uint8Array {
    return this.vec(this.u32(what), what, max);
  }

  private vec(n: number, what: string, max: number): Uint8Array {
    if (n > max) throw new OvertError('CODEC_LENGTH', `${what} longer than ${max} bytes`);
    return this.bytes(n, what);
  }

  str16(what = 'str16', max = 0xffff): string {
    return utf8Decode(this.vec16(what, max));
  }

  str8(what = 'str8', max = 0xff): string {
    return utf8Decode(this.vec8(what, max));
  }

  /** Asserts the input was consumed exactly. */
  finish(what = 'structure'): void {
    if (this.remaining !== 0) throw new OvertError('CODEC_TRAILING_BYTES', `trailing bytes after ${what}`);
  }
}

/**
 * Runs `read` over the whole of `bytes` and rejects trailing bytes. Any non-Overt exception thrown by `read`
 * on malformed input is a bug in the decoder, so it is not caught here: tests must surface it.
 */
export function decodeAll<T>(bytes: Uint8Array, what: string, read: (r: Reader) => T): T {
  const r = new Reader(bytes);
  const v = read(r);
  r.finish(what);
  return v;
}
