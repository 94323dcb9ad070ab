// STREAM (Hoang–Reyhanitabar–Rogaway–Vizár 2015 §7) over AES-256-GCM: nonce layout, round trips, and the
// attacks STREAM exists to stop: truncation, reordering, duplication, splicing from another stream,
// extension after the final chunk.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex } from '../bytes.js';
import { isOvertError } from '../errors.js';
import { nobleBackend, webCryptoBackend } from './backend.js';
import { deriveMessageKeys } from './keys.js';
import {
  MAX_STREAM_CHUNKS,
  openStreamSync,
  StreamOpener,
  StreamSealer,
  sealStreamSync,
  streamNonce,
} from './stream.js';

const AD = new Uint8Array(32).fill(0x5a);
const keysA = deriveMessageKeys(new Uint8Array(32).fill(1));
const keysB = deriveMessageKeys(new Uint8Array(32).fill(2));

async function sealAll(chunks: Uint8Array[], keys = keysA, ad = AD): Promise<Uint8Array[]> {
  const s = await StreamSealer.create(keys, ad);
  const out: Uint8Array[] = [];
  for (let i = 0; i < chunks.length; i++) out.push(await s.seal(chunks[i]!, i === chunks.length - 1));
  return out;
}

/** Opens `cts`, the last one marked final; returns the error code and check, or 'ok'. */
async function openAll(cts: Uint8Array[], keys = keysA, ad = AD): Promise<string> {
  const o = await StreamOpener.create(keys, ad);
  try {
    for (let i = 0; i < cts.length; i++) await o.open(cts[i]!, i === cts.length - 1);
    return o.complete ? 'ok' : 'incomplete';
  } catch (e) {
    if (isOvertError(e)) return `${e.code} ${e.check}`;
    throw e;
  }
}

const chunks = [1, 2, 3, 4].map((i) => new Uint8Array(40).fill(i));

describe('STREAM nonces', () => {
  it('lays out prefix ‖ u32 big-endian counter ‖ last flag', () => {
    const p = Uint8Array.from([1, 2, 3, 4, 5, 6, 7]);
    expect(toHex(streamNonce(p, 0, false))).toBe('010203040506070000000000');
    expect(toHex(streamNonce(p, 0x01020304, true))).toBe('010203040506070102030401');
    expect(() => streamNonce(p, MAX_STREAM_CHUNKS, false)).toThrow(/ENVELOPE_TOO_LARGE \[AEAD-6\]/);
    expect(() => streamNonce(p.subarray(1), 0, false)).toThrow(/AEAD-1/);
  });
});

describe('STREAM round trip', () => {
  it.each([webCryptoBackend, nobleBackend])('opens what it sealed ($name)', async (backend) => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 100 }), { minLength: 1, maxLength: 6 }),
        async (pts) => {
          const s = await StreamSealer.create(keysA, AD, backend);
          const cts: Uint8Array[] = [];
          for (let i = 0; i < pts.length; i++) cts.push(await s.seal(pts[i]!, i === pts.length - 1));
          const o = await StreamOpener.create(keysA, AD, backend);
          for (let i = 0; i < cts.length; i++)
            expect(toHex(await o.open(cts[i]!, i === cts.length - 1))).toBe(toHex(pts[i]!));
          expect(o.complete).toBe(true);
        },
      ),
      { numRuns: 30 },
    );
  });

  it('binds the associated data', async () => {
    const cts = await sealAll(chunks);
    expect(await openAll(cts, keysA, new Uint8Array(32))).toBe('STREAM_ORDER AEAD-3');
  });
});

describe('STREAM attacks', () => {
  it('truncation: the stream cut after a non-final chunk is STREAM_TRUNCATED (AEAD-4)', async () => {
    const cts = await sealAll(chunks);
    expect(await openAll(cts.slice(0, 3))).toBe('STREAM_TRUNCATED AEAD-4');
    expect(await openAll(cts.slice(0, 1))).toBe('STREAM_TRUNCATED AEAD-4');
  });

  it('reordering two chunks is STREAM_ORDER (AEAD-3)', async () => {
    const cts = await sealAll(chunks);
    expect(await openAll([cts[1]!, cts[0]!, cts[2]!, cts[3]!])).toBe('STREAM_ORDER AEAD-3');
    expect(await openAll([cts[0]!, cts[2]!, cts[1]!, cts[3]!])).toBe('STREAM_ORDER AEAD-3');
  });

  it('a duplicated chunk is STREAM_ORDER (AEAD-3)', async () => {
    const cts = await sealAll(chunks);
    expect(await openAll([cts[0]!, cts[0]!, cts[1]!, cts[2]!, cts[3]!])).toBe('STREAM_ORDER AEAD-3');
    expect(await openAll([cts[0]!, cts[1]!, cts[2]!, cts[2]!, cts[3]!])).toBe('STREAM_ORDER AEAD-3');
  });

  it('a chunk spliced in from another stream (other key, same associated data) is STREAM_ORDER', async () => {
    const a = await sealAll(chunks, keysA);
    const b = await sealAll(chunks, keysB);
    expect(await openAll([a[0]!, b[1]!, a[2]!, a[3]!])).toBe('STREAM_ORDER AEAD-3');
    expect(await openAll([a[0]!, a[1]!, a[2]!, b[3]!])).toBe('STREAM_ORDER AEAD-3');
  });

  it('dropping a middle chunk is STREAM_ORDER; dropping the final one is STREAM_TRUNCATED', async () => {
    const cts = await sealAll(chunks);
    expect(await openAll([cts[0]!, cts[2]!, cts[3]!])).toBe('STREAM_ORDER AEAD-3');
    expect(await openAll([cts[0]!, cts[1]!, cts[2]!])).toBe('STREAM_TRUNCATED AEAD-4');
  });

  it('nothing is accepted after the final chunk or after a failure (AEAD-5)', async () => {
    const cts = await sealAll(chunks);
    const o = await StreamOpener.create(keysA, AD);
    for (let i = 0; i < 4; i++) await o.open(cts[i]!, i === 3);
    await expect(o.open(cts[3]!, true)).rejects.toThrow(/STREAM_ORDER \[AEAD-5\]/);
    const f = await StreamOpener.create(keysA, AD);
    await expect(f.open(cts[1]!, false)).rejects.toThrow(/AEAD-3/);
    await expect(f.open(cts[1]!, false)).rejects.toThrow(/AEAD-5/);
    const s = await StreamSealer.create(keysA, AD);
    await s.seal(new Uint8Array(1), true);
    await expect(s.seal(new Uint8Array(1), false)).rejects.toThrow(/STREAM_ORDER \[AEAD-5\]/);
  });

  it('a failure is judged before later chunks even when they are submitted without waiting', async () => {
    const cts = await sealAll(chunks);
    const o = await StreamOpener.create(keysA, AD);
    const bad = cts[1]!.slice();
    bad[0]! ^= 1;
    const results = await Promise.allSettled([
      o.open(cts[0]!, false),
      o.open(bad, false),
      o.open(cts[2]!, false),
      o.open(cts[3]!, true),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'rejected']);
    expect(o.complete).toBe(false);
  });
});

describe('synchronous whole-stream functions', () => {
  function openSync(cts: Uint8Array[], keys = keysA, ad = AD): string {
    try {
      openStreamSync(keys, ad, cts);
      return 'ok';
    } catch (e) {
      if (isOvertError(e)) return `${e.code} ${e.check}`;
      throw e;
    }
  }

  it('seal the same bytes as StreamSealer and open them', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 100 }), { minLength: 1, maxLength: 6 }),
        async (pts) => {
          const sync = sealStreamSync(keysA, AD, pts);
          expect(sync.map(toHex)).toEqual((await sealAll(pts)).map(toHex));
          expect(openStreamSync(keysA, AD, sync).map(toHex)).toEqual(pts.map(toHex));
        },
      ),
      { numRuns: 30 },
    );
  });

  it('refuse truncation, reordering, duplication, splicing and other associated data as StreamOpener does', async () => {
    const a = await sealAll(chunks, keysA);
    const b = await sealAll(chunks, keysB);
    const attacks: Uint8Array[][] = [
      a,
      a.slice(0, 3),
      a.slice(0, 1),
      [a[1]!, a[0]!, a[2]!, a[3]!],
      [a[0]!, a[0]!, a[1]!, a[2]!, a[3]!],
      [a[0]!, b[1]!, a[2]!, a[3]!],
      [a[0]!, a[1]!, a[2]!, b[3]!],
      [a[0]!, a[2]!, a[3]!],
      [a[0]!, a[1]!, a[2]!.subarray(0, 15), a[3]!],
    ];
    const expected = ['ok', 'STREAM_TRUNCATED AEAD-4', 'STREAM_TRUNCATED AEAD-4', 'STREAM_ORDER AEAD-3'];
    for (const [i, cts] of attacks.entries()) {
      const sync = openSync(cts);
      expect(sync, `attack ${i}`).toBe(await openAll(cts));
      if (i < expected.length) expect(sync).toBe(expected[i]);
    }
    expect(openSync(a, keysA, new Uint8Array(32))).toBe(await openAll(a, keysA, new Uint8Array(32)));
    expect(openSync(a, keysA, new Uint8Array(32))).toBe('STREAM_ORDER AEAD-3');
  });
});
