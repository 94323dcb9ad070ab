/**
 * C2SP tlog-tiles (c2sp.org/tlog-tiles): the static-resource form of a log. Hash tiles `tile/<L>/<N>[.p/<W>]`
 * hold up to 256 consecutive Merkle tree hashes of tree level 8·L; entry bundles `tile/entries/<N>[.p/<W>]`
 * hold up to 256 entries, each with a big-endian uint16 length prefix. <N> is written in three-digit groups, all
 * but the last prefixed with "x" (1234067 → x001/x234/067); <W> (1..255) marks a partial tile.
 *
 * API STABLE: the log service (tile server and sequencer), the witness daemon and the client build on these.
 *
 * This module names tiles, parses and formats their paths strictly (a malformed path is TILE_PATH, which the
 * server answers with 400/404), encodes and decodes tiles and bundles, says which tiles a tree of a given size
 * has and which tiles a proof needs, and provides {@link TileHashReader}: a {@link HashReader} over fetched
 * tiles, so a browser can build and check proofs from static files. Tiles are not authenticated by themselves:
 * whatever is computed from them must be checked against a verified checkpoint's root.
 */
import { LogError } from './errors.js';
import {
  CompactRange,
  consistencyProofNodes,
  HASH_SIZE,
  type HashReader,
  inclusionProofNodes,
  type NodeId,
  nodeHash,
} from './merkle.js';

/** Hashes per full tile (tlog-tiles §Merkle Tree). */
export const TILE_WIDTH = 256;
/** Tree levels spanned by one tile level: 256 = 2^8. */
export const TILE_HEIGHT = 8;
/** tlog-tiles: <L> is between 0 and 63. */
export const MAX_TILE_LEVEL = 63;
/** An entry in a bundle has a uint16 length. */
export const MAX_BUNDLE_ENTRY_SIZE = 0xffff;

/** A hash tile: `width` hashes (1..256; 256 = full) at tree level 8·level, starting at hash index 256·index. */
export interface TileId {
  readonly level: number;
  readonly index: number;
  readonly width: number;
}

/** An entry bundle: `width` entries (1..256) starting at entry 256·index. */
export interface EntryBundleId {
  readonly index: number;
  readonly width: number;
}

export type ParsedTilePath =
  | ({ readonly kind: 'hash' } & TileId)
  | ({ readonly kind: 'entries' } & EntryBundleId);

function pathError(message: string): LogError {
  return new LogError('TILE_PATH', message, { check: 'TILE-1' });
}

function checkIndex(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw pathError(`${what} must be an integer in 0..2^53-1`);
}

function checkWidth(w: number): void {
  if (!Number.isInteger(w) || w < 1 || w > TILE_WIDTH) throw pathError('tile width must be 1..256');
}

/** <N> as zero-padded three-digit groups, all but the last prefixed with "x" (no leading all-zero groups). */
export function formatTileIndex(n: number): string {
  checkIndex(n, 'tile index');
  let s = String(n % 1000).padStart(3, '0');
  for (let rest = Math.floor(n / 1000); rest > 0; rest = Math.floor(rest / 1000)) {
    s = `x${String(rest % 1000).padStart(3, '0')}/${s}`;
  }
  return s;
}

function widthSuffix(width: number): string {
  checkWidth(width);
  return width === TILE_WIDTH ? '' : `.p/${width}`;
}

/** `tile/<L>/<N>[.p/<W>]` (relative to the log's prefix). */
export function tilePath(t: TileId): string {
  if (!Number.isInteger(t.level) || t.level < 0 || t.level > MAX_TILE_LEVEL)
    throw pathError('tile level must be 0..63');
  return `tile/${t.level}/${formatTileIndex(t.index)}${widthSuffix(t.width)}`;
}

/** `tile/entries/<N>[.p/<W>]`. */
export function entryBundlePath(b: EntryBundleId): string {
  return `tile/entries/${formatTileIndex(b.index)}${widthSuffix(b.width)}`;
}

const GROUP_LAST = /^[0-9]{3}$/;
const GROUP_X = /^x[0-9]{3}$/;
const LEVEL = /^(0|[1-9][0-9]?)$/;
const WIDTH = /^[1-9][0-9]{0,2}$/;

/**
 * Parses a tile or entry-bundle path (no prefix, no leading slash) and accepts only the canonical spelling:
 * level 0..63 without leading zeros, index groups as specified with no leading "x000" group, width 1..255
 * without leading zeros. Anything else is TILE_PATH.
 */
export function parseTilePath(path: string): ParsedTilePath {
  if (typeof path !== 'string' || path.length > 128) throw pathError('not a tile path');
  const segs = path.split('/');
  if (segs[0] !== 'tile' || segs.length < 3) throw pathError('not a tile path');
  const kindSeg = segs[1]!;
  let rest = segs.slice(2);
  let width = TILE_WIDTH;
  if (rest.length >= 2 && rest[rest.length - 2]!.endsWith('.p')) {
    const w = rest[rest.length - 1]!;
    if (!WIDTH.test(w) || Number(w) > TILE_WIDTH - 1) throw pathError('partial width must be 1..255');
    width = Number(w);
    rest = rest.slice(0, -1);
    rest[rest.length - 1] = rest[rest.length - 1]!.slice(0, -2);
  }
  if (rest.length === 0 || rest.length > 6) throw pathError('bad tile index');
  let index = 0;
  for (const [i, g] of rest.entries()) {
    const last = i === rest.length - 1;
    if (!(last ? GROUP_LAST : GROUP_X).test(g)) throw pathError('bad tile index group');
    if (i === 0 && !last && g === 'x000') throw pathError('tile index has a leading zero group');
    index = index * 1000 + Number(last ? g : g.slice(1));
  }
  if (!Number.isSafeInteger(index)) throw pathError('tile index is too large');
  if (kindSeg === 'entries') return { kind: 'entries', index, width };
  if (!LEVEL.test(kindSeg) || Number(kindSeg) > MAX_TILE_LEVEL) throw pathError('tile level must be 0..63');
  return { kind: 'hash', level: Number(kindSeg), index, width };
}

// ---- which tiles exist ----

/** Number of complete tree-level-8L nodes in a tree of `size` leaves: floor(size / 256^L). */
function countAtLevel(level: number, size: number): number {
  return Math.floor(size / TILE_WIDTH ** level);
}

/**
 * tlog-tiles §Partial Tiles: the width of tile (level, index) in a tree of `size` leaves — 256 when full, the
 * partial width floor(size / 256^L) mod 256 for the rightmost one, 0 when the tile does not exist at that size.
 */
export function tileWidthAt(level: number, index: number, size: number): number {
  const count = countAtLevel(level, size);
  const w = count - index * TILE_WIDTH;
  return w <= 0 ? 0 : Math.min(TILE_WIDTH, w);
}

function tilesBetween(oldSize: number, newSize: number): TileId[] {
  checkIndex(oldSize, 'tree size');
  checkIndex(newSize, 'tree size');
  if (oldSize > newSize)
    throw new LogError('MERKLE_RANGE', 'old size is larger than new size', { check: 'MERKLE-1' });
  const out: TileId[] = [];
  for (let level = 0; level <= MAX_TILE_LEVEL; level++) {
    const before = countAtLevel(level, oldSize);
    const after = countAtLevel(level, newSize);
    if (after === 0 || after === before) break;
    const first = Math.floor(before / TILE_WIDTH);
    const last = Math.ceil(after / TILE_WIDTH) - 1;
    for (let index = first; index <= last; index++) {
      out.push({ level, index, width: tileWidthAt(level, index, newSize) });
    }
  }
  return out;
}

/** Every hash tile of a tree of `size` (full and partial), level by level. */
export function tilesForSize(size: number): TileId[] {
  return tilesBetween(0, size);
}

/**
 * The hash tiles that change when the tree grows from `oldSize` to `newSize`: new full tiles and the partial
 * tiles at `newSize` (with their new widths). What a sequencer writes after integrating a batch.
 */
export function changedTiles(oldSize: number, newSize: number): TileId[] {
  return tilesBetween(oldSize, newSize);
}

/** The entry bundles that change when the tree grows from `oldSize` to `newSize`. */
export function changedEntryBundles(oldSize: number, newSize: number): EntryBundleId[] {
  return tilesBetween(oldSize, newSize)
    .filter((t) => t.level === 0)
    .map((t) => ({ index: t.index, width: t.width }));
}

/** Every entry bundle of a tree of `size`. */
export function entryBundlesForSize(size: number): EntryBundleId[] {
  return changedEntryBundles(0, size);
}

/** The stored complete subtrees a hash tile holds: tree level 8·L, indices 256·N … 256·N + W − 1. */
export function tileNodes(t: TileId): NodeId[] {
  const out: NodeId[] = [];
  for (let i = 0; i < t.width; i++)
    out.push({ level: t.level * TILE_HEIGHT, index: t.index * TILE_WIDTH + i });
  return out;
}

/** Where a stored node is found in the tiles of a tree of `size`: the tile, and the hashes to fold. */
export function tileForNode(node: NodeId, size: number): { tile: TileId; offset: number; count: number } {
  checkIndex(node.level, 'node level');
  checkIndex(node.index, 'node index');
  checkIndex(size, 'tree size');
  const level = Math.floor(node.level / TILE_HEIGHT);
  const span = 2 ** (node.level - level * TILE_HEIGHT);
  const first = node.index * span;
  const index = Math.floor(first / TILE_WIDTH);
  const offset = first - index * TILE_WIDTH;
  const width = tileWidthAt(level, index, size);
  if (level > MAX_TILE_LEVEL || !Number.isSafeInteger(first) || offset + span > width) {
    throw new LogError('MERKLE_RANGE', 'node is not complete in a tree of this size', { check: 'MERKLE-1' });
  }
  return { tile: { level, index, width }, offset, count: span };
}

/** The distinct tiles needed to read `nodes` in a tree of `size`. */
export function tilesForNodes(nodes: readonly NodeId[], size: number): TileId[] {
  const seen = new Map<string, TileId>();
  for (const n of nodes) {
    const { tile } = tileForNode(n, size);
    seen.set(tilePath(tile), tile);
  }
  return [...seen.values()];
}

/** The tiles an inclusion proof for `index` in a tree of `size` needs. */
export function tilesForInclusionProof(index: number, size: number): TileId[] {
  return tilesForNodes(inclusionProofNodes(index, size).flat(), size);
}

/** The tiles a consistency proof from size1 to size2 needs (all read at size2). */
export function tilesForConsistencyProof(size1: number, size2: number): TileId[] {
  return tilesForNodes(consistencyProofNodes(size1, size2).flat(), size2);
}

// ---- encodings ----

/** A hash tile is its hashes concatenated. */
export function encodeHashTile(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length < 1 || hashes.length > TILE_WIDTH) {
    throw new LogError('TILE_MALFORMED', 'a tile holds 1..256 hashes', { check: 'TILE-2' });
  }
  const out = new Uint8Array(hashes.length * HASH_SIZE);
  hashes.forEach((h, i) => {
    if (h.length !== HASH_SIZE)
      throw new LogError('TILE_MALFORMED', 'tile hashes are 32 bytes', { check: 'TILE-2' });
    out.set(h, i * HASH_SIZE);
  });
  return out;
}

/** Splits a hash tile of `width` hashes; its length must be exactly 32·width (TILE_MALFORMED otherwise). */
export function decodeHashTile(bytes: Uint8Array, width: number): Uint8Array[] {
  checkWidth(width);
  if (!(bytes instanceof Uint8Array) || bytes.length !== width * HASH_SIZE) {
    throw new LogError('TILE_MALFORMED', 'tile length does not match its width', { check: 'TILE-2' });
  }
  const out: Uint8Array[] = [];
  for (let i = 0; i < width; i++) out.push(bytes.slice(i * HASH_SIZE, (i + 1) * HASH_SIZE));
  return out;
}

/** tlog-tiles §Log entries: each entry as a big-endian uint16 length and its bytes. */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  if (entries.length < 1 || entries.length > TILE_WIDTH) {
    throw new LogError('BUNDLE_MALFORMED', 'a bundle holds 1..256 entries', { check: 'TILE-3' });
  }
  let n = 0;
  for (const e of entries) {
    if (e.length > MAX_BUNDLE_ENTRY_SIZE) {
      throw new LogError('BUNDLE_MALFORMED', 'entry longer than 65535 bytes', { check: 'TILE-3' });
    }
    n += 2 + e.length;
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const e of entries) {
    out[at] = e.length >> 8;
    out[at + 1] = e.length & 0xff;
    out.set(e, at + 2);
    at += 2 + e.length;
  }
  return out;
}

/**
 * Splits an entry bundle. With `width`, the bundle must hold exactly that many entries; every length prefix
 * must fit and no byte may trail (BUNDLE_MALFORMED).
 */
export function decodeEntryBundle(bytes: Uint8Array, width?: number): Uint8Array[] {
  if (width !== undefined) checkWidth(width);
  if (!(bytes instanceof Uint8Array))
    throw new LogError('BUNDLE_MALFORMED', 'bundle must be bytes', { check: 'TILE-3' });
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (out.length === TILE_WIDTH) break;
    if (at + 2 > bytes.length)
      throw new LogError('BUNDLE_MALFORMED', 'bundle ends inside a length', { check: 'TILE-3' });
    const len = (bytes[at]! << 8) | bytes[at + 1]!;
    if (at + 2 + len > bytes.length) {
      throw new LogError('BUNDLE_MALFORMED', 'bundle ends inside an entry', { check: 'TILE-3' });
    }
    out.push(bytes.slice(at + 2, at + 2 + len));
    at += 2 + len;
  }
  if (at !== bytes.length)
    throw new LogError('BUNDLE_MALFORMED', 'bundle has more than 256 entries', { check: 'TILE-3' });
  if (out.length === 0 || (width !== undefined && out.length !== width)) {
    throw new LogError('BUNDLE_MALFORMED', 'bundle does not hold the expected number of entries', {
      check: 'TILE-3',
    });
  }
  return out;
}

/** Folds 2^k hashes of one tile level into the hash of the complete subtree above them. */
function foldComplete(hashes: readonly Uint8Array[]): Uint8Array {
  let level = hashes.slice();
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(nodeHash(level[i]!, level[i + 1]!));
    level = next;
  }
  return level[0]!;
}

/**
 * Every hash tile of the tree whose leaf hashes are given, with its contents: what a log serves at that size.
 * (The service builds tiles incrementally from stored nodes with {@link changedTiles} and {@link tileNodes}.)
 */
export function tilesFromLeafHashes(leafHashes: readonly Uint8Array[]): { tile: TileId; data: Uint8Array }[] {
  const byLevel: Uint8Array[][] = [];
  const range = CompactRange.empty();
  for (const leaf of leafHashes) {
    for (const n of range.append(leaf)) {
      if (n.level % TILE_HEIGHT !== 0) continue;
      const l = n.level / TILE_HEIGHT;
      if (!byLevel[l]) byLevel[l] = [];
      byLevel[l][n.index] = n.hash;
    }
  }
  return tilesForSize(leafHashes.length).map((tile) => {
    const start = tile.index * TILE_WIDTH;
    return { tile, data: encodeHashTile(byLevel[tile.level]!.slice(start, start + tile.width)) };
  });
}

/** Fetches a resource by its path relative to the log's prefix (e.g. "tile/0/000.p/3"); throws if unavailable. */
export type TileFetcher = (path: string) => Promise<Uint8Array>;

/**
 * A {@link HashReader} backed by the tiles of a tree of `size` leaves, fetched on demand (in parallel, each at
 * most once). Per tlog-tiles §Partial Tiles, a partial tile that is no longer served is replaced by the full
 * tile's prefix. `size` must come from a verified checkpoint; the hashes are only as good as the proof or root
 * check they are then used in.
 */
export class TileHashReader implements HashReader {
  private readonly cache = new Map<string, Promise<Uint8Array[]>>();

  constructor(
    readonly size: number,
    private readonly fetchTile: TileFetcher,
  ) {
    checkIndex(size, 'tree size');
  }

  /** The decoded hashes of one tile (cached). */
  tile(t: TileId): Promise<Uint8Array[]> {
    const path = tilePath(t);
    let p = this.cache.get(path);
    if (!p) {
      p = this.load(t, path);
      this.cache.set(path, p);
      p.catch(() => this.cache.delete(path));
    }
    return p;
  }

  private async load(t: TileId, path: string): Promise<Uint8Array[]> {
    try {
      return decodeHashTile(await this.fetchTile(path), t.width);
    } catch (first) {
      if (t.width === TILE_WIDTH) throw unavailable(first);
      try {
        const full = await this.fetchTile(tilePath({ ...t, width: TILE_WIDTH }));
        return decodeHashTile(full, TILE_WIDTH).slice(0, t.width);
      } catch {
        throw unavailable(first);
      }
    }
  }

  async readHashes(nodes: readonly NodeId[]): Promise<Uint8Array[]> {
    const places = nodes.map((n) => tileForNode(n, this.size));
    const tiles = await Promise.all(places.map((p) => this.tile(p.tile)));
    return places.map((p, i) => foldComplete(tiles[i]!.slice(p.offset, p.offset + p.count)));
  }
}

function unavailable(cause: unknown): LogError {
  if (cause instanceof LogError && cause.code === 'TILE_MALFORMED') return cause;
  return new LogError('TILE_UNAVAILABLE', 'a tile could not be fetched', { check: 'TILE-4', cause });
}
