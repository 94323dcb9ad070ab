/**
 * Integration of a batch into the tree: leaf hashes, the compact range, and the C2SP tlog-tiles hash tiles that
 * the batch creates or widens — all computed in memory from the previous state, without reading any stored hash
 * ("no rereading"). The sequencer hands the result to {@link LogStorage.appendBatch}, which writes it in one
 * transaction, and only then adopts the new state ({@link Integration.next}).
 *
 * Tiles (c2sp.org/tlog-tiles, "Merkle Tree"): the level-l tile n holds the hashes of the complete subtrees at
 * Merkle height 8·l with indices n·256 … n·256 + 255. Those subtrees are exactly the nodes of height 8·l that the
 * compact range creates when it merges, in index order, so the right-edge ("partial") tile of each level grows
 * by appending them, and is complete when it holds 256.
 */
import { hash } from 'node:crypto';
import { CompactRange, HASH_SIZE, type TreeNode } from '../merkle.js';
import { TILE_HEIGHT, TILE_WIDTH } from '../tiles.js';
import { concatHashes, type TileWrite, type TreeState } from './storage.js';

const LEAF_PREFIX = new Uint8Array([0x00]);

/**
 * RFC 6962 §2.1 leaf hash SHA-256(0x00 ‖ entry), through node:crypto (about twice the rate of the portable
 * implementation in merkle.ts, and the sequencer hashes every entry once). Equal to merkle.ts `leafHash`.
 */
export function leafHashFast(entry: Uint8Array): Uint8Array {
  const buf = new Uint8Array(entry.length + 1);
  buf.set(LEAF_PREFIX, 0);
  buf.set(entry, 1);
  const out = hash('sha256', buf, 'buffer');
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * The in-memory state the sequencer integrates into: the compact range and, per tile level, the hashes of the
 * right-edge partial tile (0 to 255 of them). Immutable once built; {@link integrate} returns a new one.
 */
export class TreeEdge {
  private constructor(
    readonly range: CompactRange,
    /** edge[l] = hashes of the partial tile at level l, in order. */
    readonly edge: readonly (readonly Uint8Array[])[],
  ) {}

  static empty(): TreeEdge {
    return new TreeEdge(CompactRange.empty(), []);
  }

  /**
   * Restores the edge from storage: the compact range from the tree state and each level's partial tile from
   * {@link readTile}. Throws STORE_CORRUPT (STORE-2) when a partial tile is missing or narrower than the size
   * implies.
   */
  static async restore(
    state: TreeState,
    readTile: (level: number, index: number) => Promise<Uint8Array | undefined>,
    corrupt: (why: string) => Error,
  ): Promise<TreeEdge> {
    let range: CompactRange;
    try {
      range = CompactRange.fromHashes(state.size, state.compactRange);
    } catch (cause) {
      throw corrupt(`compact range does not fit the size (${String(cause)})`);
    }
    const edge: Uint8Array[][] = [];
    for (let level = 0, span = 1; span <= state.size; level++, span *= TILE_WIDTH) {
      const count = Math.floor(state.size / span); // hashes at this level
      const width = count % TILE_WIDTH;
      const hashes: Uint8Array[] = [];
      if (width > 0) {
        const tile = await readTile(level, Math.floor(count / TILE_WIDTH));
        if (tile === undefined || tile.length < width * HASH_SIZE)
          throw corrupt('partial tile missing or too narrow');
        for (let i = 0; i < width; i++) hashes.push(tile.slice(i * HASH_SIZE, (i + 1) * HASH_SIZE));
      }
      edge.push(hashes);
    }
    return new TreeEdge(range, edge);
  }

  get size(): number {
    return this.range.size;
  }

  /** The hashes of the partial tile (level, index) if it is this edge's partial tile, else undefined. */
  partialTile(level: number, index: number): readonly Uint8Array[] | undefined {
    const hashes = this.edge[level];
    if (hashes === undefined || hashes.length === 0) return undefined;
    const count = Math.floor(this.size / TILE_WIDTH ** level);
    return Math.floor(count / TILE_WIDTH) === index ? hashes : undefined;
  }

  /** Integrates leaf hashes; returns the new edge and the tile writes. Leaves this edge unchanged. */
  integrate(leafHashes: readonly Uint8Array[]): Integration {
    const range = this.range.clone();
    const edge = this.edge.map((l) => [...l]);
    const firstTouched: number[] = []; // per level: first tile index touched by this batch
    const full: TileWrite[] = [];
    const onNode = (node: TreeNode): void => {
      if (node.level % TILE_HEIGHT !== 0) return;
      const level = node.level / TILE_HEIGHT;
      while (edge.length <= level) edge.push([]);
      const hashes = edge[level]!;
      const tileIndex = Math.floor(node.index / TILE_WIDTH);
      if (firstTouched[level] === undefined) firstTouched[level] = tileIndex;
      hashes.push(node.hash);
      if (hashes.length === TILE_WIDTH) {
        full.push({ level, index: tileIndex, hashes: concatHashes(hashes) });
        hashes.length = 0;
      }
    };
    for (const leaf of leafHashes) for (const node of range.append(leaf)) onNode(node);
    const tiles = [...full];
    for (let level = 0; level < edge.length; level++) {
      const hashes = edge[level]!;
      if (hashes.length === 0 || firstTouched[level] === undefined) continue;
      const count = Math.floor(range.size / TILE_WIDTH ** level);
      tiles.push({ level, index: Math.floor(count / TILE_WIDTH), hashes: concatHashes(hashes) });
    }
    return { next: new TreeEdge(range, edge), tiles };
  }
}

/** The result of integrating one batch. */
export interface Integration {
  /** The edge after the batch; adopt it only once the batch is durable. */
  readonly next: TreeEdge;
  /** Every tile the batch completed (256 hashes) or widened (its new partial form). */
  readonly tiles: readonly TileWrite[];
}
