// group.ts: libsodium and @noble/curves agree on every Group operation for random inputs; hash-to-group
// (RFC 9380 expand_message_xmd with SHA-512 + RFC 9496 §4.3.4) agrees with noble's own hasher; the decoders for
// attacker-controlled scalars and elements reject everything non-canonical with our codes.
import { expand_message_xmd } from '@noble/curves/abstract/hash-to-curve.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex, utf8Encode } from './bytes.js';
import { isOvertError, OvertError } from './errors.js';
import {
  decodeElement,
  decodeScalar,
  type Element,
  group,
  hashToElement,
  hashToElementNoble,
  hashToScalar,
  isIdentity,
  isZeroScalar,
  noble,
  ORDER,
  randomNonZeroScalar,
  randomScalar,
  type Scalar,
  scalarFromBigint,
  scalarFromInt,
  scalarToBigint,
  sodium,
} from './group.js';
import { sha512, taggedHash64 } from './hash.js';

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const scalar = bytes(64).map((b) => sodium.scalarReduce64(b));
/** Random elements, with the identity and the generator mixed in. */
const element = fc.oneof(
  { weight: 8, arbitrary: bytes(64).map((b) => sodium.fromUniformBytes(b)) },
  { weight: 1, arbitrary: fc.constant(sodium.identity) },
  { weight: 1, arbitrary: fc.constant(sodium.generator) },
);
const scalarOrZero = fc.oneof(
  { weight: 9, arbitrary: scalar },
  { weight: 1, arbitrary: fc.constant(new Uint8Array(32) as Scalar) },
);

function same(f: (g: typeof sodium) => Uint8Array): void {
  expect(toHex(f(sodium))).toBe(toHex(f(noble)));
}

describe('libsodium and @noble/curves agree', () => {
  it('on the constants and the group being the same one', () => {
    expect(toHex(sodium.generator)).toBe(toHex(noble.generator));
    expect(toHex(sodium.identity)).toBe(toHex(noble.identity));
    expect(group).toBe(sodium);
  });

  it('baseMul and mul, including the zero scalar and the identity', () => {
    fc.assert(
      fc.property(scalarOrZero, element, (s, p) => {
        same((g) => g.baseMul(s));
        same((g) => g.mul(s, p));
      }),
      { numRuns: 60 },
    );
  });

  it('add and sub', () => {
    fc.assert(
      fc.property(element, element, (p, q) => {
        same((g) => g.add(p, q));
        same((g) => g.sub(p, q));
        expect(isIdentity(sodium.sub(p, p))).toBe(true);
        expect(toHex(sodium.add(p, sodium.identity))).toBe(toHex(p));
      }),
      { numRuns: 100 },
    );
  });

  it('the group law: (a + b)·P = a·P + b·P and a·(b·G) = (ab)·G', () => {
    fc.assert(
      fc.property(scalar, scalar, element, (a, b, p) => {
        expect(toHex(sodium.mul(sodium.scalarAdd(a, b), p))).toBe(
          toHex(sodium.add(sodium.mul(a, p), sodium.mul(b, p))),
        );
        expect(toHex(sodium.mul(a, sodium.baseMul(b)))).toBe(toHex(sodium.baseMul(sodium.scalarMul(a, b))));
      }),
      { numRuns: 30 },
    );
  });

  it('fromUniformBytes', () => {
    fc.assert(
      fc.property(bytes(64), (b) => same((g) => g.fromUniformBytes(b))),
      { numRuns: 100 },
    );
  });

  it('isValidElement on random bytes, valid encodings and their one-bit mutations', () => {
    fc.assert(
      fc.property(bytes(32), element, fc.nat(255), (raw, p, bit) => {
        expect(sodium.isValidElement(raw)).toBe(noble.isValidElement(raw));
        expect(sodium.isValidElement(p)).toBe(true);
        expect(noble.isValidElement(p)).toBe(true);
        const m = p.slice();
        m[bit >> 3]! ^= 1 << (bit & 7);
        expect(sodium.isValidElement(m)).toBe(noble.isValidElement(m));
      }),
      { numRuns: 300 },
    );
    for (const n of [0, 31, 33, 64]) {
      expect(sodium.isValidElement(new Uint8Array(n))).toBe(false);
      expect(noble.isValidElement(new Uint8Array(n))).toBe(false);
    }
  });

  it('scalar arithmetic: add, sub, mul, neg, inv and reduce64', () => {
    fc.assert(
      fc.property(scalarOrZero, scalarOrZero, bytes(64), (a, b, wide) => {
        same((g) => g.scalarAdd(a, b));
        same((g) => g.scalarSub(a, b));
        same((g) => g.scalarMul(a, b));
        same((g) => g.scalarNeg(a));
        same((g) => g.scalarReduce64(wide));
        expect(scalarToBigint(sodium.scalarReduce64(wide))).toBe(
          BigInt(`0x${toHex(wide.slice().reverse())}`) % ORDER,
        );
        if (!isZeroScalar(a)) {
          same((g) => g.scalarInv(a));
          expect(toHex(sodium.scalarMul(a, sodium.scalarInv(a)))).toBe(toHex(scalarFromInt(1)));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('scalarInv(0) throws GROUP_ZERO_SCALAR on both', () => {
    for (const g of [sodium, noble]) {
      expect(() => g.scalarInv(new Uint8Array(32) as Scalar)).toThrow(
        expect.objectContaining({ code: 'GROUP_ZERO_SCALAR' }),
      );
    }
  });

  it('mul by the order minus one is negation; large scalars are fully reduced results', () => {
    const minusOne = scalarFromBigint(-1n);
    expect(scalarToBigint(minusOne)).toBe(ORDER - 1n);
    fc.assert(
      fc.property(element, (p) => {
        same((g) => g.mul(minusOne, p));
        expect(isIdentity(sodium.add(sodium.mul(minusOne, p), p))).toBe(true);
      }),
      { numRuns: 20 },
    );
  });
});

describe('hash to group (RFC 9380, suite ristretto255_XMD:SHA-512_R255MAP_RO_)', () => {
  it('expand_message_xmd with SHA-512 reproduces RFC 9380 Appendix K.3', () => {
    const dst = utf8Encode('QUUX-V01-CS02-with-expander-SHA512-256');
    expect(toHex(expand_message_xmd(utf8Encode(''), dst, 32, sha512))).toBe(
      '6b9a7312411d92f921c6f68ca0b6380730a1a4d982c507211a90964c394179ba',
    );
    expect(toHex(expand_message_xmd(utf8Encode('abc'), dst, 32, sha512))).toBe(
      '0da749f12fbe5483eb066a5f595055679b976e93abe9be6f0f6318bce7aca8dc',
    );
  });

  it('hashToElement (libsodium map) equals @noble/curves hashToCurve for random messages and DSTs', () => {
    const dst = fc.string({
      unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ-_:0123456789'.split('')),
      minLength: 1,
      maxLength: 300,
    });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), dst, (msg, d) => {
        expect(toHex(hashToElement(msg, d))).toBe(toHex(hashToElementNoble(msg, d)));
      }),
      { numRuns: 100 },
    );
  });

  it('separates domains: another DST or message gives another element', () => {
    const m = utf8Encode('m');
    const a = hashToElement(m, 'OVERT-V01-A');
    expect(toHex(a)).not.toBe(toHex(hashToElement(m, 'OVERT-V01-B')));
    expect(toHex(a)).not.toBe(toHex(hashToElement(utf8Encode('n'), 'OVERT-V01-A')));
    expect(decodeElement(a)).toEqual(a);
  });

  it('hashToScalar is taggedHash64 reduced mod ℓ, and tags separate', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (x, y) => {
        const s = hashToScalar('overt/v1/test/a', x, y);
        expect(scalarToBigint(s)).toBe(
          BigInt(`0x${toHex(taggedHash64('overt/v1/test/a', x, y).reverse())}`) % ORDER,
        );
        expect(toHex(s)).not.toBe(toHex(hashToScalar('overt/v1/test/b', x, y)));
        expect(decodeScalar(s)).toEqual(s);
      }),
      { numRuns: 50 },
    );
  });
});

describe('decodeScalar', () => {
  const le = (n: bigint) => scalarFromBigint(0n).map((_, i) => Number((n >> BigInt(8 * i)) & 0xffn));

  it('accepts 0 and ℓ − 1, rejects ℓ, ℓ + 1, 2^255 and 2^256 − 1', () => {
    expect(scalarToBigint(decodeScalar(le(0n)))).toBe(0n);
    expect(scalarToBigint(decodeScalar(le(ORDER - 1n)))).toBe(ORDER - 1n);
    for (const n of [ORDER, ORDER + 1n, 2n ** 255n, 2n ** 256n - 1n]) {
      expect(() => decodeScalar(le(n))).toThrow(expect.objectContaining({ code: 'GROUP_BAD_SCALAR' }));
    }
  });

  it('rejects wrong lengths', () => {
    for (const n of [0, 31, 33, 64]) {
      expect(() => decodeScalar(new Uint8Array(n))).toThrow(
        expect.objectContaining({ code: 'GROUP_BAD_SCALAR' }),
      );
    }
  });

  it('accepts exactly the canonical encodings (property), and returns a copy', () => {
    fc.assert(
      fc.property(bytes(32), (b) => {
        const canonical = scalarToBigint(b as Scalar) < ORDER;
        try {
          const s = decodeScalar(b);
          expect(canonical).toBe(true);
          expect(toHex(s)).toBe(toHex(b));
          expect(s).not.toBe(b);
        } catch (e) {
          expect(isOvertError(e, 'GROUP_BAD_SCALAR')).toBe(true);
          expect(canonical).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('decodeElement', () => {
  it('accepts exactly what both back-ends call valid, never the identity by default (fuzz)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          bytes(32),
          element,
          element.map((p) => p.subarray(1)),
          fc.uint8Array({ maxLength: 40 }),
        ),
        (b) => {
          try {
            const e = decodeElement(b);
            expect(noble.isValidElement(b)).toBe(true);
            expect(isIdentity(e)).toBe(false);
            expect(e).not.toBe(b);
          } catch (e) {
            expect(e).toBeInstanceOf(OvertError);
            const code = (e as OvertError).code;
            expect(['GROUP_BAD_ELEMENT', 'GROUP_IDENTITY']).toContain(code);
            if (code === 'GROUP_IDENTITY') expect(toHex(b)).toBe(toHex(sodium.identity));
            else expect(b.length === 32 && noble.isValidElement(b)).toBe(false);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses the identity with GROUP_IDENTITY unless allowed', () => {
    expect(() => decodeElement(new Uint8Array(32))).toThrow(
      expect.objectContaining({ code: 'GROUP_IDENTITY' }),
    );
    expect(isIdentity(decodeElement(new Uint8Array(32), 'x', true))).toBe(true);
  });

  it('rejects the high bit set on an otherwise valid encoding', () => {
    const g = sodium.generator.slice();
    g[31]! |= 0x80;
    expect(() => decodeElement(g)).toThrow(expect.objectContaining({ code: 'GROUP_BAD_ELEMENT' }));
  });
});

describe('scalar helpers and randomness', () => {
  it('scalarFromInt takes non-negative safe integers only', () => {
    expect(scalarToBigint(scalarFromInt(255))).toBe(255n);
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) {
      expect(() => scalarFromInt(bad)).toThrow(expect.objectContaining({ code: 'GROUP_BAD_SCALAR' }));
    }
  });

  it('scalarFromBigint reduces any integer, negative ones included', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 300n), max: 2n ** 300n }), (n) => {
        const v = scalarToBigint(scalarFromBigint(n));
        expect(v >= 0n && v < ORDER).toBe(true);
        expect((((n - v) % ORDER) + ORDER) % ORDER).toBe(0n);
      }),
    );
  });

  it('randomScalar uses the given source; randomNonZeroScalar skips zero', () => {
    const fixed = (n: number) => new Uint8Array(n).fill(1);
    expect(toHex(randomScalar(fixed))).toBe(toHex(sodium.scalarReduce64(new Uint8Array(64).fill(1))));
    let calls = 0;
    const zeroFirst = (n: number) => (calls++ === 0 ? new Uint8Array(n) : new Uint8Array(n).fill(2));
    const s = randomNonZeroScalar(zeroFirst);
    expect(isZeroScalar(s)).toBe(false);
    expect(calls).toBe(2);
    expect(toHex(s)).toBe(toHex(sodium.scalarReduce64(new Uint8Array(64).fill(2))));
  });

  it('decoded values are independent of the bytes they came from', () => {
    const b = fromHex(toHex(sodium.generator));
    const e: Element = decodeElement(b);
    b.fill(0);
    expect(toHex(e)).toBe(toHex(sodium.generator));
  });
});
