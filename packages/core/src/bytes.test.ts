// bytes.ts: hex and base64 (RFC 4648 §4, §5) round trips, strict rejection of every non-canonical text form,
// constant-time equality, ordering and strict UTF-8 — property tests plus fuzzing of every decoder.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compareBytes,
  concatBytes,
  equalBytes,
  fromBase64,
  fromBase64Url,
  fromHex,
  randomBytes,
  toBase64,
  toBase64Url,
  toHex,
  utf8Decode,
  utf8Encode,
} from './bytes.js';
import { isOvertError } from './errors.js';

/** Runs fn; passes if it returns or throws an OvertError with `code`; anything else fails the test. */
function onlyCode(code: string, fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!isOvertError(e)) throw e;
    expect(e.code).toBe(code);
  }
}

describe('hex', () => {
  it('round-trips and is lowercase', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        const h = toHex(b);
        expect(h).toMatch(/^[0-9a-f]*$/);
        expect(fromHex(h)).toEqual(b);
        expect(fromHex(h.toUpperCase())).toEqual(b);
      }),
    );
  });

  it('rejects odd lengths and non-hex characters with CODEC_HEX', () => {
    for (const bad of ['0', 'abc', 'zz', '0g', ' 00', '00 ', '+1', '０１', '0x00']) {
      expect(() => fromHex(bad)).toThrow(expect.objectContaining({ code: 'CODEC_HEX' }));
    }
  });

  it('fuzz: any string decodes or fails with CODEC_HEX only', () => {
    fc.assert(fc.property(fc.string({ maxLength: 20 }), (s) => onlyCode('CODEC_HEX', () => fromHex(s))));
  });
});

describe('base64 (RFC 4648)', () => {
  it('reproduces the RFC 4648 §10 test vectors', () => {
    const v: [string, string][] = [
      ['', ''],
      ['f', 'Zg=='],
      ['fo', 'Zm8='],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg=='],
      ['fooba', 'Zm9vYmE='],
      ['foobar', 'Zm9vYmFy'],
    ];
    for (const [plain, b64] of v) {
      expect(toBase64(utf8Encode(plain))).toBe(b64);
      expect(utf8Decode(fromBase64(b64))).toBe(plain);
      expect(toBase64Url(utf8Encode(plain))).toBe(b64.replace(/=+$/, ''));
    }
  });

  it('round-trips both alphabets and agrees with the platform encoder', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        const s = toBase64(b);
        expect(s).toBe(btoa(String.fromCharCode(...b)));
        expect(fromBase64(s)).toEqual(b);
        const u = toBase64Url(b);
        expect(u).toBe(s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''));
        expect(fromBase64Url(u)).toEqual(b);
      }),
    );
  });

  it('rejects non-canonical and malformed text with CODEC_BASE64', () => {
    const bad = [
      'Zg', // padding missing
      'Zg=', // padding short
      'Zh==', // unused bits set (RFC 4648 §3.5)
      'Zm9=', // unused bits set
      'Zm8', // padding missing
      'Z===', // impossible length
      '====',
      'Zg==Zg==', // padding inside
      'Zm9v\n', // whitespace
      'Zm-v', // url alphabet in standard base64
      'Zm9vYg==='.slice(0, 7),
      'é===',
    ];
    for (const s of bad)
      expect(() => fromBase64(s)).toThrow(expect.objectContaining({ code: 'CODEC_BASE64' }));
    for (const s of ['Zg==', 'Zh', 'Z', 'Zm+v', 'Zm/v', 'A']) {
      expect(() => fromBase64Url(s)).toThrow(expect.objectContaining({ code: 'CODEC_BASE64' }));
    }
  });

  it('fuzz: any string either decodes to bytes that re-encode to it, or fails with CODEC_BASE64', () => {
    const alphabet = fc.constantFrom(
      ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n'.split(''),
    );
    fc.assert(
      fc.property(fc.string({ unit: alphabet, maxLength: 24 }), (s) => {
        try {
          expect(toBase64(fromBase64(s))).toBe(s);
        } catch (e) {
          if (!isOvertError(e, 'CODEC_BASE64')) throw e;
        }
        try {
          expect(toBase64Url(fromBase64Url(s))).toBe(s);
        } catch (e) {
          if (!isOvertError(e, 'CODEC_BASE64')) throw e;
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('UTF-8', () => {
  it('round-trips every string of scalar values', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        expect(utf8Decode(utf8Encode(s))).toBe(s);
      }),
    );
  });

  it('rejects invalid sequences with CODEC_UTF8 and keeps a BOM', () => {
    for (const bad of [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80]]) {
      expect(() => utf8Decode(Uint8Array.from(bad))).toThrow(expect.objectContaining({ code: 'CODEC_UTF8' }));
    }
    expect(utf8Decode(Uint8Array.from([0xef, 0xbb, 0xbf, 0x41]))).toBe('\ufeffA');
  });

  it('fuzz: random bytes decode or fail with CODEC_UTF8 only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 16 }), (b) => onlyCode('CODEC_UTF8', () => utf8Decode(b))),
    );
  });
});

describe('byte helpers', () => {
  it('concatBytes, equalBytes and compareBytes behave as on arrays', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 20 }), fc.uint8Array({ maxLength: 20 }), (a, b) => {
        expect([...concatBytes(a, b)]).toEqual([...a, ...b]);
        expect(equalBytes(a, b)).toBe(toHex(a) === toHex(b));
        expect(equalBytes(a, a.slice())).toBe(true);
        const expected = toHex(a) < toHex(b) ? -1 : toHex(a) > toHex(b) ? 1 : 0;
        expect(Math.sign(compareBytes(a, b))).toBe(expected);
      }),
    );
    expect(concatBytes()).toEqual(new Uint8Array(0));
    expect(compareBytes(Uint8Array.of(1), Uint8Array.of(1, 0))).toBeLessThan(0);
  });

  it('randomBytes fills buffers larger than one getRandomValues call', () => {
    const r = randomBytes(70000);
    expect(r.length).toBe(70000);
    // The tail past 65,536 bytes is filled too (all-zero has probability 2^-35584).
    expect(r.subarray(65536).some((x) => x !== 0)).toBe(true);
    expect(randomBytes(0).length).toBe(0);
  });
});
