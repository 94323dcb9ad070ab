// hash.ts: the tagged framing H(tag, p1, …, pn) = SHA(u16 len(tag) ‖ tag ‖ (u32 len(p) ‖ p)*) of
// docs/spec/foundations.md, rebuilt independently here, and the injectivity it exists for.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes, toHex, utf8Encode } from './bytes.js';
import { InternalError } from './errors.js';
import { sha256, sha512, taggedHash, taggedHash64 } from './hash.js';

function u16(n: number): Uint8Array {
  return Uint8Array.of(n >> 8, n & 0xff);
}
function u32(n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
}
function framed(tag: string, parts: Uint8Array[]): Uint8Array {
  const t = utf8Encode(tag);
  return concatBytes(u16(t.length), t, ...parts.flatMap((p) => [u32(p.length), p]));
}

describe('SHA-2 (FIPS 180-4)', () => {
  it('reproduces the "abc" examples', () => {
    expect(toHex(sha256(utf8Encode('abc')))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(toHex(sha512(utf8Encode('abc')))).toBe(
      'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
    );
  });
});

describe('taggedHash / taggedHash64', () => {
  it('hash exactly the documented framing', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 40 }),
        fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 5 }),
        (tag, parts) => {
          expect(toHex(taggedHash(tag, ...parts))).toBe(toHex(sha256(framed(tag, parts))));
          expect(toHex(taggedHash64(tag, ...parts))).toBe(toHex(sha512(framed(tag, parts))));
        },
      ),
    );
  });

  it('a fixed example, byte for byte', () => {
    // u16(3) ‖ "t/1" ‖ u32(2) ‖ 0102 ‖ u32(0)
    expect(toHex(framed('t/1', [Uint8Array.of(1, 2), new Uint8Array(0)]))).toBe(
      '0003742f3100000002010200000000',
    );
    expect(toHex(taggedHash('t/1', Uint8Array.of(1, 2), new Uint8Array(0)))).toBe(
      toHex(sha256(Uint8Array.from([0, 3, 0x74, 0x2f, 0x31, 0, 0, 0, 2, 1, 2, 0, 0, 0, 0]))),
    );
  });

  it('is injective in how the bytes are split between tag and parts', () => {
    const h = (tag: string, ...parts: string[]) => toHex(taggedHash(tag, ...parts.map(utf8Encode)));
    const all = [
      h('ab', 'c'),
      h('a', 'bc'),
      h('abc'),
      h('abc', ''),
      h('ab', 'c', ''),
      h('ab', '', 'c'),
      h('a', 'b', 'c'),
    ];
    expect(new Set(all).size).toBe(all.length);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.nat(), fc.nat(), (b, i, j) => {
        const a = i % (b.length + 1);
        const c = j % (b.length + 1);
        fc.pre(a !== c);
        const split = (k: number) => taggedHash('t', b.subarray(0, k), b.subarray(k));
        expect(toHex(split(a))).not.toBe(toHex(split(c)));
      }),
    );
  });

  it('refuses a tag too long for its u16 length', () => {
    expect(() => taggedHash('x'.repeat(65536))).toThrow(InternalError);
    expect(taggedHash('x'.repeat(65535)).length).toBe(32);
  });
});
