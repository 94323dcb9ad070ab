// codec.ts: the TLS-presentation-style canonical encoding — every Writer/Reader pair round-trips, every
// malformed input fails with a CODEC_* error, and nothing else ever escapes a decoder (fuzz).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from './bytes.js';
import { decodeAll, Reader, Writer } from './codec.js';
import { isOvertError } from './errors.js';

type Field =
  | { t: 'u8' | 'u16' | 'u32' | 'u64'; v: number }
  | { t: 'vec8' | 'vec16' | 'vec32'; v: Uint8Array }
  | { t: 'str8' | 'str16'; v: string }
  | { t: 'bytes'; v: Uint8Array };

const field: fc.Arbitrary<Field> = fc.oneof(
  fc.integer({ min: 0, max: 0xff }).map((v) => ({ t: 'u8' as const, v })),
  fc.integer({ min: 0, max: 0xffff }).map((v) => ({ t: 'u16' as const, v })),
  fc.integer({ min: 0, max: 0xffffffff }).map((v) => ({ t: 'u32' as const, v })),
  fc.maxSafeNat().map((v) => ({ t: 'u64' as const, v })),
  fc.uint8Array({ maxLength: 40 }).map((v) => ({ t: 'vec8' as const, v })),
  fc.uint8Array({ maxLength: 300 }).map((v) => ({ t: 'vec16' as const, v })),
  fc.uint8Array({ maxLength: 40 }).map((v) => ({ t: 'vec32' as const, v })),
  fc.string({ maxLength: 20 }).map((v) => ({ t: 'str8' as const, v })),
  fc.string({ maxLength: 20 }).map((v) => ({ t: 'str16' as const, v })),
  fc.uint8Array({ maxLength: 8 }).map((v) => ({ t: 'bytes' as const, v })),
);

function write(w: Writer, f: Field): void {
  switch (f.t) {
    case 'bytes':
      w.bytes(f.v);
      break;
    case 'u8':
    case 'u16':
    case 'u32':
    case 'u64':
      w[f.t](f.v);
      break;
    case 'vec8':
    case 'vec16':
    case 'vec32':
      w[f.t](f.v);
      break;
    case 'str8':
    case 'str16':
      w[f.t](f.v);
      break;
  }
}

function read(r: Reader, f: Field): unknown {
  return f.t === 'bytes' ? r.bytes(f.v.length) : r[f.t]();
}

describe('Writer / Reader', () => {
  it('round-trip any sequence of fields, with exactly the bytes consumed', () => {
    fc.assert(
      fc.property(fc.array(field, { maxLength: 12 }), fc.integer({ min: 0, max: 64 }), (fields, cap) => {
        const w = new Writer(cap);
        for (const f of fields) write(w, f);
        const bytes = w.finish();
        const back = decodeAll(bytes, 'fields', (r) => fields.map((f) => read(r, f)));
        expect(back).toEqual(fields.map((f) => f.v));
      }),
    );
  });

  it('encode big-endian with the documented prefixes', () => {
    const w = new Writer()
      .u8(1)
      .u16(0x0203)
      .u32(0x04050607)
      .u64(2 ** 53 - 1)
      .vec8(Uint8Array.of(9))
      .vec16(Uint8Array.of(10))
      .vec32(Uint8Array.of(11))
      .str8('A');
    expect(toHex(w.finish())).toBe(
      '01' + '0203' + '04050607' + '001fffffffffffff' + '0109' + '00010a' + '000000010b' + '0141',
    );
  });

  it('a Writer with zero initial capacity grows (regression: it looped forever)', () => {
    expect(toHex(new Writer(0).u8(1).u32(2).finish())).toBe('0100000002');
  });

  it('writes that grow the buffer land in the grown buffer (regression: lost bytes and RangeError)', () => {
    for (let pad = 250; pad <= 257; pad++) {
      const w = new Writer().bytes(new Uint8Array(pad)).u8(0xee).u16(0xabcd).u32(0x01020304);
      expect(toHex(w.finish().subarray(pad))).toBe('eeabcd01020304');
    }
    const big = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    expect(new Writer().u8(7).bytes(big).finish()).toEqual(Uint8Array.from([7, ...big]));
    expect(new Writer(1).vec16(big).finish().subarray(2)).toEqual(big);
  });

  it('refuses out-of-range integers and over-long vectors with CODEC_RANGE', () => {
    const cases: (() => unknown)[] = [
      () => new Writer().u8(256),
      () => new Writer().u8(-1),
      () => new Writer().u16(1.5),
      () => new Writer().u32(2 ** 32),
      () => new Writer().u64(2 ** 53),
      () => new Writer().u64(Number.NaN),
      () => new Writer().vec8(new Uint8Array(256)),
      () => new Writer().vec16(new Uint8Array(65536)),
    ];
    for (const c of cases) expect(c).toThrow(expect.objectContaining({ code: 'CODEC_RANGE' }));
  });

  it('rejects truncation, trailing bytes, over-long vectors, u64 above 2^53 − 1 and bad UTF-8', () => {
    const expectCode = (code: string, fn: () => unknown) =>
      expect(fn).toThrow(expect.objectContaining({ code }));
    expectCode('CODEC_TRUNCATED', () => new Reader(fromHex('00')).u16());
    expectCode('CODEC_TRUNCATED', () => new Reader(fromHex('0003aabb')).vec16());
    expectCode('CODEC_TRUNCATED', () => new Reader(new Uint8Array(0)).u8());
    expectCode('CODEC_TRAILING_BYTES', () => decodeAll(fromHex('0100'), 'x', (r) => r.u8()));
    expectCode('CODEC_LENGTH', () => new Reader(fromHex('03aabbcc')).vec8('v', 2));
    expectCode('CODEC_RANGE', () => new Reader(fromHex('0020000000000000')).u64());
    expect(new Reader(fromHex('001fffffffffffff')).u64()).toBe(2 ** 53 - 1);
    expectCode('CODEC_UTF8', () => new Reader(fromHex('01ff')).str8());
    expectCode('CODEC_UTF8', () => new Reader(fromHex('0001c0')).str16());
  });

  it('reads through a subarray view at its own offset, and returns copies', () => {
    const backing = fromHex('ff0102ff');
    const r = new Reader(backing.subarray(1, 3));
    const b = r.bytes(2);
    expect(toHex(b)).toBe('0102');
    backing[1] = 0;
    expect(toHex(b)).toBe('0102');
    expect(r.remaining).toBe(0);
    expect(r.position).toBe(2);
  });
});

describe('fuzz: decoders raise only CODEC_* errors', () => {
  it('random bytes read as random field layouts', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.array(field, { maxLength: 6 }), (bytes, layout) => {
        try {
          decodeAll(bytes, 'fuzz', (r) => layout.map((f) => read(r, f)));
        } catch (e) {
          if (!isOvertError(e) || !e.code.startsWith('CODEC_')) throw e;
        }
      }),
      { numRuns: 500 },
    );
  });

  it('valid encodings with one byte changed or cut', () => {
    fc.assert(
      fc.property(
        fc.array(field, { minLength: 1, maxLength: 6 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.boolean(),
        (fields, at, x, cut) => {
          const w = new Writer();
          for (const f of fields) write(w, f);
          const bytes = w.finish();
          if (bytes.length === 0) return;
          const i = at % bytes.length;
          const bad = cut ? bytes.subarray(0, i) : bytes.slice();
          if (!cut) bad[i]! ^= x;
          try {
            decodeAll(bad, 'fuzz', (r) => fields.map((f) => read(r, f)));
          } catch (e) {
            if (!isOvertError(e) || !e.code.startsWith('CODEC_')) throw e;
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
