/**
 * Reads the hash of any complete subtree from stored hash tiles, for proof generation (merkle.ts
 * {@link HashReader}).
 *
 * A node at Merkle height h = 8·l + r (0 ≤ r < 8) and index k is the root of the 2^r consecutive hashes
 * k·2^r … (k+1)·2^r − 1 of the level-l tiles (c2sp.org/tlog-tiles: "a tile represents the entire subtree of height
 * 8 with its hashes as the leaves"); those hashes always sit in one tile because 2^r divides 256. The hashes
 * between tile levels are recomputed, so each full tile is expanded once into all its 511 nodes and kept in a
 * small LRU cache; a partial tile is cached the same way and reread only when a node lies beyond its width.
 */
import { hash } from 'node:crypto';
import { LogError } from '../errors.js';
import { HASH_SIZE, type HashReader, type NodeId } from '../merkle.js';
import { TILE_HEIGHT, TILE_WIDTH } from '../tiles.js';

/** RFC 6962 §2.1 interior node hash SHA-256(0x01 ‖ left ‖ right), through node:crypto. */
export function nodeHashFast(left: Uint8Array, right: Uint8Array): Uint8Array {
  const buf = new Uint8Array(1 + 2 * HASH_SIZE);
  buf[0] = 0x01;
  buf.set(left, 1);
  buf.set(right, 1 + HASH_SIZE);
  const out = hash('sha256', buf, 'buffer');
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Every complete node inside one tile: levels[r][j] is the root of hashes j·2^r … (j+1)·2^r − 1. */
type ExpandedTile = Uint8Array[][];

function expand(tile: Uint8Array): ExpandedTile {
  const width = tile.length / HASH_SIZE;
  const base: Uint8Array[] = [];
  for (let i = 0; i < width; i++) base.push(tile.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
  const levels: ExpandedTile = [base];
  for (let r = 1; r <= TILE_HEIGHT; r++) {
    const below = levels[r - 1]!;
    const here: Uint8Array[] = [];
    for (let j = 0; j + 1 < below.length; j += 2) here.push(nodeHashFast(below[j]!, below[j + 1]!));
    levels.push(here);
  }
  return levels;
}

/** Where to find tiles: the storage, and optionally a fresher in-memory source for the right-edge tiles. */
export interface TileSource {
  readTile(level: number, index: number): Promise<Uint8Array | undefined>;
}

/** A {@link HashReader} over hash tiles with an LRU cache of expanded full tiles. */
export class StoredTileReader implements HashReader {
  private readonly cache = new Map<string, ExpandedTile>();

  constructor(
    private readonly source: TileSource,
    private readonly cacheSize = 1024,
  ) {}

  /**
   * The expanded tile (level, index), wide enough to hold node `need` = [r, j] if the stored tile is. Tiles only
   * grow and a wider form starts with the narrower one, so a cached partial expansion stays valid for every node
   * it holds; it is refreshed from the source only when a node lies beyond it.
   */
  private async tile(level: number, index: number, r: number, j: number): Promise<Uint8Array | undefined> {
    const key = `${level}/${index}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      const h = hit[r]?.[j];
      if (h !== undefined) return h;
    }
    const bytes = await this.source.readTile(level, index);
    if (bytes === undefined) return undefined;
    const expanded = expand(bytes);
    this.cache.set(key, expanded);
    if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
    return expanded[r]?.[j];
  }

  /**
   * One hash per node, in order. Throws TILE_UNAVAILABLE when a node is not covered by the stored tiles (it is
   * not complete in the stored tree): callers ask only for nodes of trees no larger than the durable one.
   */
  async readHashes(nodes: readonly NodeId[]): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for (const n of nodes) {
      const level = Math.floor(n.level / TILE_HEIGHT);
      const r = n.level % TILE_HEIGHT;
      const first = n.index * 2 ** r; // index of the node's first hash at height 8·level
      const h = await this.tile(level, Math.floor(first / TILE_WIDTH), r, (first % TILE_WIDTH) / 2 ** r);
      if (h === undefined)
        throw new LogError('TILE_UNAVAILABLE', 'a node needed for the proof is not in the stored tiles');
      out.push(h);
    }
    return out;
  }
}
