// C2SP tlog-tiles: the reference tiled log (transparency-dev/tessera testdata) reproduced byte for byte, tile
// paths (format, strict parse, round trip, fuzz), which tiles exist at a size, bundles, and proofs read from tiles.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sharedVectors } from '../../../test/shared-vectors.js';
import { parseCheckpoint } from './checkpoint.js';
import { LogError } from './errors.js';
import { MemoryTiledLog } from './memory-log.js';
import {
  consistencyProof,
  inclusionProof,
  leafHash,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
} from './merkle.js';
import { parseSignerKey } from './note.js';
import {
  changedTiles,
  decodeEntryBundle,
  decodeHashTile,
  encodeEntryBundle,
  entryBundlePath,
  formatTileIndex,
  parseTilePath,
  TileHashReader,
  tilePath,
  tilesForConsistencyProof,
  tilesForInclusionProof,
  tilesForSize,
  tilesFromLeafHashes,
} from './tiles.js';

// The public vectors live in shared/ beside the repository ($OVERT_VECTORS overrides); skipped loudly if absent.
const tessera = sharedVectors('tessera-log', 'checkpoint.15');
const TESSERA = tessera.dir;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

function code(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    if (!(e instanceof LogError)) throw e;
    return e.code;
  }
}

tessera.describe('the reference tiled log (tessera testdata/log)', () => {
  const key = parseSignerKey(
    'PRIVATE+KEY+example.com/log/testdata+33d7b496+AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg',
  );
  const words = 'one two three four five six seven eit nain ten ileven twelf threeten fourten fivten'.split(
    ' ',
  );

  it('appending the 15 entries one at a time reproduces every checkpoint, tile and bundle', () => {
    const log = new MemoryTiledLog('example.com/log/testdata', key);
    const checkpoints = [log.checkpoint];
    for (const w of words) checkpoints.push(log.append(new TextEncoder().encode(w)));
    const vectorFiles = files(TESSERA).map((p) => relative(TESSERA, p));
    let compared = 0;
    for (const f of vectorFiles) {
      const want = new Uint8Array(readFileSync(join(TESSERA, f)));
      const m = /^checkpoint\.(\d+)$/.exec(f);
      const got = m ? new TextEncoder().encode(checkpoints[Number(m[1])]) : log.files.get(f);
      expect(got, f).toEqual(want);
      compared++;
    }
    expect(compared).toBe(47); // 16 checkpoint.N + checkpoint + 15 hash tiles + 15 bundles
    // Nothing we serve is missing from the reference either.
    for (const f of log.files.keys()) expect(vectorFiles).toContain(f);
    expect(parseCheckpoint(log.checkpoint).size).toBe(15);
  });

  it('builds the same tiles from leaf hashes in one go', () => {
    const leaves = words.map((w) => leafHash(new TextEncoder().encode(w)));
    const [only] = tilesFromLeafHashes(leaves);
    expect(tilePath(only!.tile)).toBe('tile/0/000.p/15');
    expect(only!.data).toEqual(new Uint8Array(readFileSync(join(TESSERA, 'tile/0/000.p/15'))));
    const bundle = new Uint8Array(readFileSync(join(TESSERA, 'tile/entries/000.p/15')));
    expect(decodeEntryBundle(bundle, 15).map((e) => new TextDecoder().decode(e))).toEqual(words);
  });
});

describe('tile paths', () => {
  it('formats indices in x-prefixed three-digit groups', () => {
    expect(formatTileIndex(0)).toBe('000');
    expect(formatTileIndex(67)).toBe('067');
    expect(formatTileIndex(1000)).toBe('x001/000');
    expect(formatTileIndex(1234067)).toBe('x001/x234/067');
    expect(tilePath({ level: 2, index: 1234067, width: 256 })).toBe('tile/2/x001/x234/067');
    expect(tilePath({ level: 0, index: 5, width: 17 })).toBe('tile/0/005.p/17');
    expect(entryBundlePath({ index: 1234067, width: 3 })).toBe('tile/entries/x001/x234/067.p/3');
  });

  it('parses canonical paths', () => {
    expect(parseTilePath('tile/0/x001/x234/067')).toEqual({
      kind: 'hash',
      level: 0,
      index: 1234067,
      width: 256,
    });
    expect(parseTilePath('tile/63/000.p/255')).toEqual({ kind: 'hash', level: 63, index: 0, width: 255 });
    expect(parseTilePath('tile/entries/x001/000.p/1')).toEqual({ kind: 'entries', index: 1000, width: 1 });
  });

  it.each([
    'tile/0/0',
    'tile/0/0000',
    'tile/00/000',
    'tile/64/000',
    'tile/-1/000',
    'tile/0/x000/001',
    'tile/0/001/002',
    'tile/0/x001',
    'tile/0/000.p/0',
    'tile/0/000.p/256',
    'tile/0/000.p/012',
    'tile/0/000.p/',
    'tile/0/000/',
    'tile//000',
    '/tile/0/000',
    'tile/0/000.p',
    'tile/entries/000.p/1/2',
    'tile/entries',
    'tiles/0/000',
    'tile/0/x999/x999/x999/x999/x999/999',
    'tile/0/00a',
  ])('rejects %s', (p) => {
    expect(code(() => parseTilePath(p))).toBe('TILE_PATH');
  });

  it('round-trips any tile id, and fuzz input yields only TILE_PATH', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 63 }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 1, max: 256 }),
        (level, index, width) => {
          expect(parseTilePath(tilePath({ level, index, width }))).toEqual({
            kind: 'hash',
            level,
            index,
            width,
          });
          expect(parseTilePath(entryBundlePath({ index, width }))).toEqual({ kind: 'entries', index, width });
        },
      ),
    );
    const alphabet = fc.constantFrom(...'tile/entrx0123456789.p'.split(''));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: alphabet, maxLength: 40 })), (s) => {
        try {
          const p = parseTilePath(s);
          expect(p.kind === 'hash' ? tilePath(p) : entryBundlePath(p)).toBe(s);
        } catch (e) {
          expect(e).toBeInstanceOf(LogError);
          expect((e as LogError).code).toBe('TILE_PATH');
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('tiles of a tree', () => {
  it('matches the spec example: a tree of 70,000 leaves', () => {
    const tiles = tilesForSize(70000);
    const summary = (level: number) => tiles.filter((t) => t.level === level).map((t) => t.width);
    const l0 = summary(0);
    expect(l0.filter((w) => w === 256)).toHaveLength(273);
    expect(l0.at(-1)).toBe(112);
    expect(summary(1)).toEqual([256, 17]);
    expect(summary(2)).toEqual([1]);
    expect(tilesForSize(256).map(tilePath)).toEqual(['tile/0/000', 'tile/1/000.p/1']);
  });

  it('lists the tiles that change when a tree grows', () => {
    expect(changedTiles(250, 260).map(tilePath)).toEqual(['tile/0/000', 'tile/0/001.p/4', 'tile/1/000.p/1']);
    expect(changedTiles(260, 260)).toEqual([]);
  });

  it('rejects malformed tiles and bundles', () => {
    expect(code(() => decodeHashTile(new Uint8Array(33), 1))).toBe('TILE_MALFORMED');
    expect(code(() => decodeEntryBundle(new Uint8Array([0, 5, 1]), undefined))).toBe('BUNDLE_MALFORMED');
    expect(code(() => decodeEntryBundle(new Uint8Array([0]), undefined))).toBe('BUNDLE_MALFORMED');
    expect(code(() => decodeEntryBundle(encodeEntryBundle([new Uint8Array(1)]), 2))).toBe('BUNDLE_MALFORMED');
    expect(code(() => decodeEntryBundle(new Uint8Array(0)))).toBe('BUNDLE_MALFORMED');
    expect(code(() => encodeEntryBundle([new Uint8Array(65536)]))).toBe('BUNDLE_MALFORMED');
  });

  it('round-trips bundles; random bundle bytes yield only BUNDLE_MALFORMED', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 256 }),
        (entries) => {
          expect(decodeEntryBundle(encodeEntryBundle(entries), entries.length)).toEqual(entries);
        },
      ),
      { numRuns: 100 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.option(fc.integer({ min: 1, max: 256 })), (b, w) => {
        try {
          decodeEntryBundle(b, w ?? undefined);
        } catch (e) {
          expect((e as LogError).code).toBe('BUNDLE_MALFORMED');
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('proofs from tiles (TileHashReader)', () => {
  const key = parseSignerKey(
    'PRIVATE+KEY+example.com/log/testdata+33d7b496+AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg',
  );
  const log = new MemoryTiledLog('example.com/log/testdata', key);
  const entries: Uint8Array[] = [];
  const roots: Uint8Array[] = [parseCheckpoint(log.checkpoint).rootHash];
  // Batches of uneven sizes, so that partial tiles at every level appear and get superseded.
  for (const batch of [1, 200, 55, 300, 1, 65000, 50]) {
    const b = Array.from({ length: batch }, (_, i) =>
      new TextEncoder().encode(`entry ${entries.length + i}`),
    );
    entries.push(...b);
    log.append(...b);
    roots[entries.length] = parseCheckpoint(log.checkpoint).rootHash;
  }
  const sizes = Object.keys(roots).map(Number);
  const fetchTile = async (path: string) => {
    const f = log.files.get(path);
    if (!f) throw new Error('404');
    return f;
  };

  it('reads roots, inclusion and consistency proofs at every checkpointed size', async () => {
    for (const n of sizes.filter((s) => s > 0)) {
      const reader = new TileHashReader(n, fetchTile);
      expect(await treeRoot(n, reader)).toEqual(roots[n]);
      for (const i of [0, n >> 1, n - 1]) {
        const proof = await inclusionProof(i, n, reader);
        verifyInclusion(i, n, leafHash(entries[i]!), proof, roots[n]!);
        expect(tilesForInclusionProof(i, n).length > 0).toBe(n > 1);
      }
      for (const m of sizes.filter((s) => s > 0 && s <= n)) {
        verifyConsistency(m, n, await consistencyProof(m, n, reader), roots[m]!, roots[n]!);
        tilesForConsistencyProof(m, n);
      }
    }
  });

  it('falls back to the full tile when a partial one is gone, and reports missing tiles', async () => {
    const n = 256 + 201;
    const without = async (path: string) => {
      if (path === 'tile/0/001.p/201') throw new Error('gone');
      return fetchTile(path);
    };
    expect(await treeRoot(n - 1, new TileHashReader(n - 1, without))).toBeDefined();
    await expect(treeRoot(10, new TileHashReader(10, async () => new Uint8Array(5)))).rejects.toMatchObject({
      code: 'TILE_MALFORMED',
    });
    await expect(
      treeRoot(10, new TileHashReader(10, async () => Promise.reject(new Error('x')))),
    ).rejects.toMatchObject({
      code: 'TILE_UNAVAILABLE',
    });
  });
});
