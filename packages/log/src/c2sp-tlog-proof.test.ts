// C2SP tlog-proof: offline receipts created from a log, verified with no network against a policy (log key,
// witness quorum), rejected when anything is changed; strict parsing, round trips and fuzz.
import { toBase64 } from '@overt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeWitnessPolicy } from './cosignature.js';
import { LogError } from './errors.js';
import { MemoryTiledLog } from './memory-log.js';
import { EMPTY_ROOT, leafHash } from './merkle.js';
import {
  SIGNATURE_TYPE_COSIGNATURE,
  SIGNATURE_TYPE_ED25519,
  signerKeyFromSeed,
  verifierKeyOf,
} from './note.js';
import { createReceipt, formatReceipt, parseReceipt, TLOG_PROOF_HEADER, verifyReceipt } from './proof.js';

const ORIGIN = 'log.example/overt';
const logKey = signerKeyFromSeed(ORIGIN, SIGNATURE_TYPE_ED25519, new Uint8Array(32).fill(5));
const witnesses = [1, 2].map((i) =>
  signerKeyFromSeed(`w${i}.example`, SIGNATURE_TYPE_COSIGNATURE, new Uint8Array(32).fill(60 + i)),
);
const policy = {
  origin: ORIGIN,
  logKeys: [verifierKeyOf(logKey)],
  witnesses: makeWitnessPolicy(witnesses.map(verifierKeyOf), 2),
};
const log = new MemoryTiledLog(ORIGIN, logKey, witnesses, () => 1700000000);
const entries = Array.from({ length: 21 }, (_, i) => new TextEncoder().encode(`entry number ${i}`));
log.append(...entries);

function code(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    if (!(e instanceof LogError)) throw e;
    return e.code;
  }
}

describe('tlog-proof receipts', () => {
  it('creates, parses and verifies a receipt for every entry, offline', async () => {
    for (const [i, e] of entries.entries()) {
      const receipt = await createReceipt(i, log.checkpoint, log.reader);
      expect(receipt.startsWith(`${TLOG_PROOF_HEADER}\nindex ${i}\n`)).toBe(true);
      expect(receipt.endsWith(log.checkpoint)).toBe(true);
      const v = verifyReceipt(receipt, { entry: e }, policy);
      expect(v.index).toBe(i);
      expect(v.checkpoint.cosignatures).toHaveLength(2);
      expect(verifyReceipt(receipt, { leafHash: leafHash(e) }, policy).leafHash).toEqual(leafHash(e));
    }
  });

  it('carries opaque extra data through unchanged', async () => {
    const extra = new TextEncoder().encode('context');
    const receipt = await createReceipt(3, log.checkpoint, log.reader, extra);
    expect(receipt.split('\n')[1]).toBe(`extra ${toBase64(extra)}`);
    expect(verifyReceipt(receipt, { entry: entries[3]! }, policy).extra).toEqual(extra);
    expect(formatReceipt(parseReceipt(receipt))).toBe(receipt);
  });

  it('rejects another entry, another index, a changed hash, a missing witness', async () => {
    const receipt = await createReceipt(4, log.checkpoint, log.reader);
    expect(code(() => verifyReceipt(receipt, { entry: entries[5]! }, policy))).toBe('PROOF_INVALID');
    expect(
      code(() => verifyReceipt(receipt.replace('index 4', 'index 5'), { entry: entries[4]! }, policy)),
    ).toBe('PROOF_INVALID');
    const lines = receipt.split('\n');
    lines[2] = toBase64(EMPTY_ROOT);
    expect(code(() => verifyReceipt(lines.join('\n'), { entry: entries[4]! }, policy))).toBe('PROOF_INVALID');
    const strict = { ...policy, witnesses: makeWitnessPolicy([...witnesses.map(verifierKeyOf)], 2) };
    const oneWitness = receipt.split('\n').slice(0, -2).join('\n').concat('\n');
    expect(code(() => verifyReceipt(oneWitness, { entry: entries[4]! }, strict))).toBe('COSIG_QUORUM');
  });

  it.each([
    ['wrong header', (r: string) => r.replace(TLOG_PROOF_HEADER, 'c2sp.org/tlog-proof@v2')],
    ['leading zero index', (r: string) => r.replace('index 4', 'index 04')],
    ['no index', (r: string) => r.replace('index 4\n', '')],
    ['short hash', (r: string) => r.replace(/\n([A-Za-z0-9+/]{43}=)\n/, '\nAAAA\n')],
    ['empty extra', (r: string) => r.replace('\nindex', '\nextra \nindex')],
    ['no blank line', (r: string) => r.split('\n\n').join('\n')],
  ])('rejects a receipt with %s', async (_, mutate) => {
    const receipt = await createReceipt(4, log.checkpoint, log.reader);
    const c = code(() => parseReceipt(mutate(receipt)));
    expect(c === 'PROOF_MALFORMED' || c === 'CHECKPOINT_MALFORMED' || c === 'NOTE_MALFORMED').toBe(true);
  });

  it('fuzz: mutated and random receipts yield only LogError', async () => {
    const seed = new TextEncoder().encode(
      await createReceipt(7, log.checkpoint, log.reader, new Uint8Array([1, 2])),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.uint8Array({ maxLength: 300 }),
        (edits, random) => {
          const b = seed.slice();
          for (const [at, v] of edits) b[at % b.length] = v;
          for (const input of [b, random]) {
            try {
              verifyReceipt(input, { entry: entries[7]! }, policy);
            } catch (e) {
              expect(e).toBeInstanceOf(LogError);
            }
          }
        },
      ),
      { numRuns: 1500 },
    );
  });
});
