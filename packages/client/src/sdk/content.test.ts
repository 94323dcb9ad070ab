// docs/spec/client.md §4.8 (FileContent, CLI-11, name sanitising) and mls.md §6 (conversation name, MLS-14): the
// committed vectors are reproduced and decode as they say, every byte string decodes to a canonical value or to
// our own error, and no sanitised name can leave the directory it is saved in.
import { readFileSync } from 'node:fs';
import { fromHex, toHex, utf8Encode } from '@overt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONTENT_VECTORS_PATH, renderContentVectors } from '../../test/gen-content-vectors.js';
import { isClientError } from '../errors.js';
import { decodeConversationName, encodeConversationName } from '../mls/payload.js';
import {
  decodeFileContent,
  decodeMessageContent,
  encodeFileContent,
  FILE_CONTENT_TYPE,
  SAFE_NAME_MAX_BYTES,
  sanitizeFileName,
} from './content.js';

const text = readFileSync(CONTENT_VECTORS_PATH, 'utf8');
const v = JSON.parse(text);

function refusedWith(f: () => unknown, code: string): void {
  try {
    f();
  } catch (e) {
    expect(isClientError(e, code as never)).toBe(true);
    return;
  }
  throw new Error('accepted');
}

describe('FileContent vectors (client.md §4.8)', () => {
  it('the generator reproduces the committed file byte for byte', () => {
    expect(renderContentVectors()).toBe(text);
  });

  it('each encoding decodes to its fields; each malformed one is refused (CLI-11); names sanitise as listed', () => {
    expect(v.headerContentType).toBe(FILE_CONTENT_TYPE);
    for (const e of v.encodings) {
      const f = decodeFileContent(fromHex(e.encodingHex));
      expect({ contentType: f.contentType, name: f.name, dataHex: toHex(f.data) }).toEqual({
        contentType: e.contentType,
        name: e.name,
        dataHex: e.dataHex,
      });
    }
    for (const m of v.malformed)
      refusedWith(() => decodeFileContent(fromHex(m.hex)), 'SDK_CONTENT_MALFORMED');
    for (const n of v.names) expect(sanitizeFileName(n.raw, v.fallback)).toBe(n.sanitized);
  });

  it('older messages (any other header type) decode as they are, with no name', () => {
    const bytes = Uint8Array.of(1, 2, 3);
    expect(decodeMessageContent('application/pdf', bytes, new Uint8Array(16))).toEqual({
      contentType: 'application/pdf',
      payload: bytes,
    });
  });
});

describe('FileContent decoding is total', () => {
  const content = fc.record({
    contentType: fc.stringMatching(/^[\x20-\x7e]{1,127}$/),
    name: fc.string({ unit: 'grapheme', maxLength: 60 }),
    data: fc.uint8Array({ maxLength: 64 }),
  });

  it('round trip: encode then decode gives the same fields', () => {
    fc.assert(
      fc.property(content, (f) => {
        expect(decodeFileContent(encodeFileContent(f))).toEqual(f);
      }),
    );
  });

  it('random and mutated bytes: canonical value or SDK_CONTENT_MALFORMED (CLI-11)', () => {
    const mutated = content.chain((f) =>
      fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat()).map(([i, b, cut]) => {
        const e = encodeFileContent(f);
        const m = e.slice(0, e.length - (cut % (e.length + 1)));
        if (m.length > 0) m[i % m.length] = b;
        return m;
      }),
    );
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 80 }), mutated), (bytes) => {
        let f: ReturnType<typeof decodeFileContent>;
        try {
          f = decodeFileContent(bytes);
        } catch (e) {
          expect(isClientError(e, 'SDK_CONTENT_MALFORMED')).toBe(true);
          expect((e as { check?: string }).check).toBe('CLI-11');
          return;
        }
        expect(encodeFileContent(f)).toEqual(bytes);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('sanitizeFileName', () => {
  it('never yields a separator, a control character, a leading dot, "..", or more than 200 bytes', () => {
    const hostile = fc.string({
      unit: fc.constantFrom('.', '/', '\\', '\u0000', '\u001b', '\u202e', ' ', 'a', 'é', '✓', ':', '\u0085'),
      maxLength: 300,
    });
    fc.assert(
      fc.property(fc.oneof(hostile, fc.string({ unit: 'binary', maxLength: 300 })), (raw) => {
        const s = sanitizeFileName(raw, 'fallback');
        expect(s.length).toBeGreaterThan(0);
        // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for control characters is the point
        expect(s).not.toMatch(/[/\\\u0000-\u001f\u007f-\u009f\u202e]/);
        expect(s).not.toMatch(/^[. ]|[. ]$|\.\./);
        expect(utf8Encode(s).length).toBeLessThanOrEqual(SAFE_NAME_MAX_BYTES);
        expect(sanitizeFileName(s, 'fallback')).toBe(s);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('conversation name payload (mls.md §6 type 3)', () => {
  it('round trip, and the limits are refused on both sides', () => {
    for (const n of ['', 'Q3 planning', 'Grüße ✓', 'x'.repeat(256)])
      expect(decodeConversationName(encodeConversationName(n))).toBe(n);
    refusedWith(() => encodeConversationName('x'.repeat(257)), 'MLS_USAGE');
    refusedWith(() => encodeConversationName('a\nb'), 'MLS_USAGE');
    // A control character on the wire: refused on receipt too.
    refusedWith(() => decodeConversationName(Uint8Array.of(3, 1, 0, 1, 7)), 'MLS_PAYLOAD_MALFORMED');
  });

  it('conversation name: random and mutated bytes: canonical value or MLS_PAYLOAD_MALFORMED (MLS-14)', () => {
    const mutated = fc
      .tuple(fc.string({ maxLength: 40 }), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat())
      .map(([n, i, b, cut]) => {
        const e = encodeConversationName(
          // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for control characters is the point
          n.replace(/[\u0000-\u001f\u007f-\u009f\u2028-\u202e\u2066-\u2069]/g, ''),
        );
        const m = e.slice(0, e.length - (cut % (e.length + 1)));
        if (m.length > 0) m[i % m.length] = b;
        return m;
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 40 }), mutated), (bytes) => {
        let n: string;
        try {
          n = decodeConversationName(bytes);
        } catch (e) {
          expect(isClientError(e, 'MLS_PAYLOAD_MALFORMED')).toBe(true);
          expect((e as { check?: string }).check).toBe('MLS-14');
          return;
        }
        expect(encodeConversationName(n)).toEqual(bytes);
      }),
      { numRuns: 2000 },
    );
  });
});
