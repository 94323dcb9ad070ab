// C2SP tlog-witness, "add-checkpoint": framing of the request body (old size line, proof lines, blank line,
// checkpoint note). Round trips, every framing rule, and random or mutated bytes yield only our own errors.
import { toBase64, utf8Encode } from '@overt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WitnessError } from './errors.js';
import {
  encodeAddCheckpointRequest,
  MAX_PROOF_LINES,
  MAX_REQUEST_BYTES,
  parseAddCheckpointRequest,
  parseSize,
} from './request.js';

const NOTE = utf8Encode(
  'example.com/log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— example.com/log abcd\n',
);
const HASH = new Uint8Array(32).fill(7);

function expectCode(f: () => unknown, code: string, check: string): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(WitnessError);
    expect((e as WitnessError).code).toBe(code);
    expect((e as WitnessError).check).toBe(check);
    return;
  }
  throw new Error('expected a WitnessError');
}

function body(text: string): Uint8Array {
  return utf8Encode(text);
}

describe('tlog-witness add-checkpoint request framing', () => {
  it('round-trips any old size, proof of up to 63 hashes, and note bytes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: MAX_PROOF_LINES }),
        fc.uint8Array({ maxLength: 300 }),
        (old, proof, note) => {
          const parsed = parseAddCheckpointRequest(encodeAddCheckpointRequest(old, proof, note));
          expect(parsed.oldSize).toBe(old);
          expect(parsed.proof).toEqual(proof);
          expect(parsed.note).toEqual(note);
        },
      ),
    );
  });

  it('parses the example of the spec (old size, four proof lines, a blank line, the checkpoint)', () => {
    const text = [
      'old 20852014',
      'PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=',
      'jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=',
      '5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=',
      '/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=',
      '',
      'example.com/behind-the-sofa',
      '20852163',
      'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=',
      '',
      '— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=',
      '',
    ].join('\n');
    const r = parseAddCheckpointRequest(body(text));
    expect(r.oldSize).toBe(20852014);
    expect(r.proof.map((h) => toBase64(h))[3]).toBe('/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=');
    expect(new TextDecoder().decode(r.note).startsWith('example.com/behind-the-sofa\n20852163\n')).toBe(true);
  });

  it('keeps blank lines inside the note (only the first blank line of the body ends the proof)', () => {
    const r = parseAddCheckpointRequest(encodeAddCheckpointRequest(0, [], NOTE));
    expect(r.note).toEqual(NOTE);
  });

  it('WIT-2: rejects a malformed old size line', () => {
    for (const first of [
      'old 01',
      'old -1',
      'old 1 ',
      'old  1',
      'Old 1',
      'old',
      'old 1\r',
      'old 0x10',
      'new 1',
    ]) {
      expectCode(() => parseAddCheckpointRequest(body(`${first}\n\n`)), 'WITNESS_MALFORMED', 'WIT-2');
    }
    expectCode(
      () => parseAddCheckpointRequest(body('old 9007199254740992\n\n')),
      'WITNESS_MALFORMED',
      'WIT-2',
    );
  });

  it('WIT-2: rejects a body without the blank line before the checkpoint', () => {
    expectCode(
      () => parseAddCheckpointRequest(body('old 0\nexample.com/log\n')),
      'WITNESS_MALFORMED',
      'WIT-2',
    );
    expectCode(() => parseAddCheckpointRequest(new Uint8Array()), 'WITNESS_MALFORMED', 'WIT-2');
  });

  it('WIT-2: rejects more than 63 proof lines, and proof lines that are not canonical 32-byte base64', () => {
    const many = encodeAddCheckpointRequest(
      5,
      Array.from({ length: MAX_PROOF_LINES + 1 }, () => HASH),
      NOTE,
    );
    expectCode(() => parseAddCheckpointRequest(many), 'WITNESS_MALFORMED', 'WIT-2');
    const b64 = toBase64(HASH);
    for (const line of [
      b64.slice(0, -1),
      `${b64}=`,
      toBase64(new Uint8Array(31)),
      toBase64(new Uint8Array(33)),
      ` ${b64}`,
    ]) {
      expectCode(() => parseAddCheckpointRequest(body(`old 1\n${line}\n\n`)), 'WITNESS_MALFORMED', 'WIT-2');
    }
    // Non-canonical trailing bits: the same hash must have exactly one encoding.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const last = alphabet.indexOf(b64.at(-2)!);
    const nonCanonical = `${b64.slice(0, -2)}${alphabet[last ^ 1]}=`;
    expectCode(
      () => parseAddCheckpointRequest(body(`old 1\n${nonCanonical}\n\n`)),
      'WITNESS_MALFORMED',
      'WIT-2',
    );
  });

  it('WIT-1: rejects a body over the size limit before parsing it', () => {
    const big = new Uint8Array(MAX_REQUEST_BYTES + 1).fill(0x41);
    expectCode(() => parseAddCheckpointRequest(big), 'WITNESS_TOO_LARGE', 'WIT-1');
  });

  it('parseSize accepts exactly the canonical decimals up to 2^53 − 1', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (n) => {
        expect(parseSize(String(n))).toBe(n);
        expect(parseSize(`0${n}`)).toBeUndefined();
      }),
    );
    for (const bad of ['', '-0', '+1', '1e3', '9007199254740992', ' 1', '1.0'])
      expect(parseSize(bad)).toBeUndefined();
  });

  it('fuzz: random and mutated bodies give a parse or a WitnessError, nothing else', () => {
    const valid = encodeAddCheckpointRequest(3, [HASH, HASH], NOTE);
    const mutated = fc
      .array(fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 8,
      })
      .map((edits) => {
        const b = valid.slice();
        for (const [i, v] of edits) b[i] = v;
        return b;
      });
    const truncated = fc.nat({ max: valid.length }).map((n) => valid.slice(0, n));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }), mutated, truncated), (b) => {
        try {
          parseAddCheckpointRequest(b);
        } catch (e) {
          expect(e).toBeInstanceOf(WitnessError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
