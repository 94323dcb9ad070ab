// Overt's log entry framing: u8 type ‖ body, the registry of types, the 65,535-byte limit, round trips and fuzz.
import { DECISION_ENTRY_TYPE, MAP_ROOT_ENTRY_TYPE } from '@overt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeEntry,
  ENTRY_TYPES,
  encodeEntry,
  entryTypeName,
  isEntryType,
  MAX_ENTRY_SIZE,
} from './entry.js';
import { LogError } from './errors.js';
import { decodeEntryBundle, encodeEntryBundle, MAX_BUNDLE_ENTRY_SIZE } from './tiles.js';

function code(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    if (!(e instanceof LogError)) throw e;
    return e.code;
  }
}

describe('entry registry', () => {
  it('has the thirteen registered types with permanent codes', () => {
    expect(ENTRY_TYPES).toEqual({
      policy: 1,
      epoch_key: 2,
      device_added: 3,
      device_removed: 4,
      request: 5,
      decision: 6,
      execution: 7,
      release: 8,
      extension: 9,
      unseal: 10,
      shred: 11,
      refusal: 12,
      map_root: 13,
    });
    expect(entryTypeName(5)).toBe('request');
    expect(isEntryType(0)).toBe(false);
    expect(isEntryType(14)).toBe(false);
  });

  it('agrees with the decision type core repeats (core cannot import the log)', () => {
    expect(DECISION_ENTRY_TYPE).toBe(ENTRY_TYPES.decision);
    expect(MAP_ROOT_ENTRY_TYPE).toBe(ENTRY_TYPES.map_root);
  });
});

describe('entry framing', () => {
  it('encodes as the type byte then the body', () => {
    expect(encodeEntry({ type: ENTRY_TYPES.request, body: new Uint8Array([9, 8]) })).toEqual(
      new Uint8Array([5, 9, 8]),
    );
  });

  it('fits the largest entry in a bundle and refuses one byte more', () => {
    const biggest = { type: ENTRY_TYPES.policy, body: new Uint8Array(MAX_ENTRY_SIZE - 1) };
    const bytes = encodeEntry(biggest);
    expect(bytes.length).toBe(MAX_BUNDLE_ENTRY_SIZE);
    expect(decodeEntry(decodeEntryBundle(encodeEntryBundle([bytes]), 1)[0]!)).toEqual(biggest);
    expect(code(() => encodeEntry({ type: 1, body: new Uint8Array(MAX_ENTRY_SIZE) }))).toBe(
      'ENTRY_TOO_LARGE',
    );
    expect(code(() => decodeEntry(new Uint8Array(MAX_ENTRY_SIZE + 1).fill(1)))).toBe('ENTRY_TOO_LARGE');
  });

  it('rejects empty input and unregistered types', () => {
    expect(code(() => decodeEntry(new Uint8Array(0)))).toBe('ENTRY_MALFORMED');
    expect(code(() => decodeEntry(new Uint8Array([0, 1])))).toBe('ENTRY_TYPE');
    expect(code(() => decodeEntry(new Uint8Array([14])))).toBe('ENTRY_TYPE');
    // biome-ignore lint/suspicious/noExplicitAny: testing a caller that bypasses the type
    expect(code(() => encodeEntry({ type: 99 as any, body: new Uint8Array(0) }))).toBe('ENTRY_TYPE');
  });

  it('round-trips every registered type; random bytes yield only our errors', () => {
    const types = Object.values(ENTRY_TYPES);
    fc.assert(
      fc.property(fc.constantFrom(...types), fc.uint8Array({ maxLength: 500 }), (type, body) => {
        expect(decodeEntry(encodeEntry({ type, body }))).toEqual({ type, body });
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 50 }), (b) => {
        try {
          const e = decodeEntry(b);
          expect(encodeEntry(e)).toEqual(b);
        } catch (e) {
          expect(e).toBeInstanceOf(LogError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
