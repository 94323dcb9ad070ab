/**
 * The log's storage interface: what the sequencer and the tile server need from a database, and nothing more.
 *
 * One interface, several native drivers (sqlite-storage.ts, postgres-storage.ts), one contract test suite
 * (log-service-storage.test.ts) run against all of them. Each method's doc comment is its contract: what it
 * guarantees when it resolves, what it refuses, and what callers must not do. The design follows Tessera's
 * storage split: the sequencer computes every hash in memory (compact range, tiles) and hands the storage
 * finished rows; the storage only makes them durable atomically and refuses writes that would fork the tree.
 *
 * Guarantees shared by every driver (docs/spec/log-service.md, "Storage"):
 * - A resolved write is durable: it survives a crash of the process (kill -9) and of the machine (power loss),
 *   as far as the database honours fsync.
 * - Each write method is one transaction: after a crash either all of it is stored or none of it.
 * - Entries are immutable. The tree only grows, one batch at a time, from exactly the stored size (STORE-1).
 */
import { equalBytes } from '@overt/core';
import { LogError } from '../errors.js';
import { HASH_SIZE } from '../merkle.js';
import { MAX_BUNDLE_ENTRY_SIZE, TILE_WIDTH } from '../tiles.js';

/** C2SP tlog-tiles entry bundles prefix each entry with a big-endian uint16 length: 65,535 bytes at most. */
export const MAX_ENTRY_SIZE = MAX_BUNDLE_ENTRY_SIZE;

/** The state of the Merkle tree as the sequencer left it after its last durable batch. */
export interface TreeState {
  /** Number of entries in the tree. */
  readonly size: number;
  /**
   * The compact range [0, size): the roots of the perfect subtrees that make up the tree, largest (leftmost)
   * first, one per set bit of `size` (RFC 6962 §2.1; transparency-dev/merkle "compact ranges"). Folding them
   * from the right gives the root hash, and appending to them needs no other stored hash.
   */
  readonly compactRange: readonly Uint8Array[];
}

/** A hash tile to store, full or partial (C2SP tlog-tiles, "Merkle Tree"). */
export interface TileWrite {
  /** The tile level (0 holds leaf hashes; level l + 1 holds the roots of full level-l tiles). */
  readonly level: number;
  /** The tile index within its level. */
  readonly index: number;
  /** The concatenated hashes, 1 to 256 of them (32 to 8,192 bytes). */
  readonly hashes: Uint8Array;
}

/** One batch of the sequencer, written in one transaction by {@link LogStorage.appendBatch}. */
export interface AppendBatch {
  /** The tree size the batch extends; the first entry gets this index. */
  readonly expectedSize: number;
  /** The entries, in index order; at least one; each at most {@link MAX_ENTRY_SIZE} bytes. */
  readonly entries: readonly Uint8Array[];
  /** Every hash tile the batch created or widened, each in its new (wider) form. */
  readonly tiles: readonly TileWrite[];
  /** The tree state after the batch: `size === expectedSize + entries.length`. */
  readonly state: TreeState;
}

/** Where a batch landed: its entries have indices `first` … `first + count - 1`. */
export interface AppendedRange {
  readonly first: number;
  readonly count: number;
}

/** A signed checkpoint as stored: the complete C2SP signed note, and its size and root for the storage's checks. */
export interface StoredCheckpoint {
  /** The checkpoint's tree size. */
  readonly size: number;
  /** The checkpoint's root hash (32 bytes). */
  readonly root: Uint8Array;
  /**
   * The signed note as served (C2SP signed-note): checkpoint body, blank line, the log's signature line, then
   * any witness cosignature lines (C2SP tlog-cosignature).
   */
  readonly note: Uint8Array;
}

/**
 * The two checkpoint slots. `signed` is the newest checkpoint the log signed (the sequencer's record: appends
 * resolve only once it is durable). `published` is the checkpoint served at `<prefix>/checkpoint`: the newest
 * one whose witness round finished, with the cosignatures that round collected.
 */
export type CheckpointSlot = 'signed' | 'published';

/** The storage of one log. Drivers: {@link SqliteLogStorage}, {@link PostgresLogStorage}. */
export interface LogStorage {
  /**
   * Binds this storage to the log's origin on first use and checks it on every later start, so that a database
   * can never carry two logs' entries under one tree (STORE-4, STORE_ORIGIN). Idempotent. The sequencer
   * calls it before anything else; readers need not.
   */
  claimOrigin(origin: string): Promise<void>;

  /**
   * The tree state after the last durable batch; size 0 with an empty compact range for a new log.
   * Throws STORE_CORRUPT (STORE-2) when the stored compact range does not have one hash per set bit of the
   * size.
   */
  readTreeState(): Promise<TreeState>;

  /**
   * Appends a batch atomically: the entries at indices `expectedSize …`, the tiles (inserted or replaced), and
   * the new tree state, all in one transaction, durable when the promise resolves. Returns the indices.
   *
   * Refuses the whole batch with STORE_CONFLICT (STORE-1) unless the stored size is exactly
   * `batch.expectedSize` (compare-and-set): two sequencers on one database, or a sequencer whose view is stale,
   * can never both extend the tree, so the tree cannot fork. Refuses with STORE_INVALID (STORE-5) a batch
   * whose shape is wrong (no entries, sizes that do not add up, an oversized entry, a malformed tile).
   *
   * Callers must not assume anything was written when it rejects, and must not retry a rejected batch blindly:
   * reread the tree state first.
   */
  appendBatch(batch: AppendBatch): Promise<AppendedRange>;

  /**
   * The entries with indices `start … start + count - 1` that exist, in index order (fewer than `count` when the
   * range runs past the tree size). The bytes are exactly those appended.
   */
  readEntries(start: number, count: number): Promise<Uint8Array[]>;

  /**
   * The stored hashes of tile (level, index): 256 hashes for a full tile, or the widest partial form written so
   * far; undefined when no such tile exists. A partial tile of width w is the first w hashes of any wider form
   * (tiles only grow), so callers serve `.p/w` as a prefix.
   */
  readTile(level: number, index: number): Promise<Uint8Array | undefined>;

  /**
   * Stores checkpoints into one or both slots in one transaction, durable when it resolves.
   *
   * For each slot given it refuses, with STORE_CONFLICT, a checkpoint older than the slot's (size below the
   * stored one), or one of the stored size with a different root (STORE-3: one size, one root, ever), and a
   * checkpoint larger than the tree (STORE-6: never a checkpoint over entries that are not durable). A
   * checkpoint of the same size and root replaces the stored note (so cosignatures can be added).
   */
  writeCheckpoints(update: Partial<Record<CheckpointSlot, StoredCheckpoint>>): Promise<void>;

  /** The checkpoint in `slot`, or undefined before the first one was stored. */
  readCheckpoint(slot: CheckpointSlot): Promise<StoredCheckpoint | undefined>;

  /** Releases the database handle or pool. Further calls fail. */
  close(): Promise<void>;
}

/** The number of set bits of a tree size: the length of its compact range. */
export function compactRangeLength(size: number): number {
  let n = 0;
  let s = size;
  while (s > 0) {
    n += s % 2;
    s = Math.floor(s / 2);
  }
  return n;
}

/** Concatenates 32-byte hashes (a tile's contents, a compact range). */
export function concatHashes(hashes: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(hashes.length * HASH_SIZE);
  for (let i = 0; i < hashes.length; i++) out.set(hashes[i]!, i * HASH_SIZE);
  return out;
}

/** Concatenates a compact range for storage (its length is implied by the tree size). */
export function encodeCompactRange(range: readonly Uint8Array[]): Uint8Array {
  return concatHashes(range);
}

/** Splits a stored compact range, checking it has one hash per set bit of `size` (STORE-2). */
export function decodeCompactRange(size: number, bytes: Uint8Array): Uint8Array[] {
  const n = compactRangeLength(size);
  if (bytes.length !== n * HASH_SIZE)
    throw new LogError('STORE_CORRUPT', 'stored compact range does not match the tree size', {
      check: 'STORE-2',
    });
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) out.push(bytes.slice(i * HASH_SIZE, (i + 1) * HASH_SIZE));
  return out;
}

/** Checks the shape of a batch before any driver writes it (STORE-5). */
export function checkAppendBatch(batch: AppendBatch): void {
  const bad = (why: string): never => {
    throw new LogError('STORE_INVALID', `append batch refused: ${why}`, { check: 'STORE-5' });
  };
  if (!Number.isSafeInteger(batch.expectedSize) || batch.expectedSize < 0) bad('expected size');
  if (batch.entries.length === 0) bad('no entries');
  for (const e of batch.entries) if (e.length > MAX_ENTRY_SIZE) bad('entry too large');
  if (batch.state.size !== batch.expectedSize + batch.entries.length) bad('new size does not add up');
  if (!Number.isSafeInteger(batch.state.size)) bad('new size');
  const range = batch.state.compactRange;
  if (range.length !== compactRangeLength(batch.state.size)) bad('compact range length');
  for (const h of range) if (h.length !== HASH_SIZE) bad('compact range hash length');
  const seen = new Set<string>();
  for (const t of batch.tiles) {
    if (!Number.isInteger(t.level) || t.level < 0 || t.level > 63) bad('tile level');
    if (!Number.isSafeInteger(t.index) || t.index < 0) bad('tile index');
    const w = t.hashes.length / HASH_SIZE;
    if (!Number.isInteger(w) || w < 1 || w > TILE_WIDTH) bad('tile width');
    const key = `${t.level}/${t.index}`;
    if (seen.has(key)) bad('tile written twice');
    seen.add(key);
  }
}

/** Checks a checkpoint's shape before storing it (STORE-5). */
export function checkStoredCheckpoint(cp: StoredCheckpoint): void {
  if (!Number.isSafeInteger(cp.size) || cp.size < 0 || cp.root.length !== HASH_SIZE || cp.note.length === 0)
    throw new LogError('STORE_INVALID', 'checkpoint refused: malformed size, root or note', {
      check: 'STORE-5',
    });
}

/** STORE-3: a slot's checkpoint never shrinks, and one size never gets a second root. */
export function checkCheckpointSuccession(oldSize: number, oldRoot: Uint8Array, cp: StoredCheckpoint): void {
  if (cp.size < oldSize)
    throw new LogError('STORE_CONFLICT', 'checkpoint is older than the stored one', { check: 'STORE-3' });
  if (cp.size === oldSize && !equalBytes(oldRoot, cp.root))
    throw new LogError('STORE_CONFLICT', 'a checkpoint of this size with another root is stored', {
      check: 'STORE-3',
    });
}
