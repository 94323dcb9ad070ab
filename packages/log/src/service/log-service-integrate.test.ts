// docs/spec/log-service.md §2.1 step 2: integrating batches into the compact range and the C2SP tlog-tiles
// hash tiles gives the same tiles and root as the pure tile builder, however the entries are split into
// batches and wherever the edge is restored from storage in between; proofs read from the stored tiles verify.
import { equalBytes } from '@overt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inclusionProof, leafHash, merkleTreeHash, rootOfLeafHashes, verifyInclusion } from '../merkle.js';
import { tilesFromLeafHashes } from '../tiles.js';
import { leafHashFast, TreeEdge } from './integrate.js';
import { StoredTileReader } from './tile-reader.js';

function entry(i: number): Uint8Array {
  return new TextEncoder().encode(`entry ${i}`);
}

describe('batch integration', () => {
  it('leafHashFast equals the RFC 6962 leaf hash of merkle.ts (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (e) => equalBytes(leafHashFast(e), leafHash(e))),
    );
  });

  it('any split into batches, with restores in between, yields the pure builder tiles and root (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 120 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
        async (batches, restoreAfter) => {
          const stored = new Map<string, Uint8Array>();
          const readTile = async (l: number, i: number) => stored.get(`${l}/${i}`);
          let edge = TreeEdge.empty();
          const leaves: Uint8Array[] = [];
          for (const [b, count] of batches.entries()) {
            const hashes = Array.from({ length: count }, (_, k) => leafHashFast(entry(leaves.length + k)));
            const { next, tiles } = edge.integrate(hashes);
            // Only tiles that changed are written, each once, never narrower than before.
            for (const t of tiles) {
              const key = `${t.level}/${t.index}`;
              const before = stored.get(key);
              if (before !== undefined) {
                expect(t.hashes.length).toBeGreaterThan(before.length);
                expect(equalBytes(t.hashes.subarray(0, before.length), before)).toBe(true);
              }
              stored.set(key, t.hashes);
            }
            leaves.push(...hashes);
            edge = next;
            expect(edge.size).toBe(leaves.length);
            if (restoreAfter[b]) {
              edge = await TreeEdge.restore(
                { size: edge.size, compactRange: edge.range.hashes },
                readTile,
                (why) => new Error(why),
              );
            }
          }
          expect(equalBytes(edge.range.root(), rootOfLeafHashes(leaves))).toBe(true);
          const expected = tilesFromLeafHashes(leaves);
          expect(stored.size).toBe(expected.length);
          for (const { tile, data } of expected)
            expect(equalBytes(stored.get(`${tile.level}/${tile.index}`)!, data)).toBe(true);
          // Proofs generated from the stored tiles verify against the root.
          const reader = new StoredTileReader({ readTile });
          const root = merkleTreeHash(leaves.map((_, i) => entry(i)));
          for (const i of [0, Math.floor(leaves.length / 2), leaves.length - 1]) {
            verifyInclusion(
              i,
              leaves.length,
              leaves[i]!,
              await inclusionProof(i, leaves.length, reader),
              root,
            );
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('restore refuses a missing or too narrow edge tile (STORE-2)', async () => {
    const edge = TreeEdge.empty().integrate(
      Array.from({ length: 300 }, (_, i) => leafHashFast(entry(i))),
    ).next;
    const state = { size: edge.size, compactRange: edge.range.hashes };
    const corrupt = (why: string) => new Error(`corrupt: ${why}`);
    await expect(TreeEdge.restore(state, async () => undefined, corrupt)).rejects.toThrow(/corrupt/);
    await expect(TreeEdge.restore(state, async () => new Uint8Array(32), corrupt)).rejects.toThrow(/corrupt/);
    await expect(
      TreeEdge.restore(
        { size: 300, compactRange: state.compactRange.slice(1) },
        async () => undefined,
        corrupt,
      ),
    ).rejects.toThrow(/corrupt/);
  });

  it('the tile reader refuses nodes beyond the stored tiles with TILE_UNAVAILABLE', async () => {
    const reader = new StoredTileReader({ readTile: async () => undefined });
    await expect(reader.readHashes([{ level: 0, index: 0 }])).rejects.toThrow(/TILE_UNAVAILABLE/);
  });
});
