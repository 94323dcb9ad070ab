/**
 * A complete tiled log in memory: it sequences entries, keeps every complete subtree hash, writes the
 * tlog-tiles resources (hash tiles, entry bundles, keeping each partial tile of every checkpointed size as the
 * spec requires), signs checkpoints and has them cosigned by witness keys. Pure, for browsers, demos and tests
 * of clients and monitors; the production log with storage drivers is `@overt/log/service`.
 */
import { signCheckpoint } from './checkpoint.js';
import { cosign } from './cosignature.js';
import { LogError } from './errors.js';
import { CompactRange, type HashReader, leafHash, type NodeId } from './merkle.js';
import type { FetchLike, FetchResponseLike } from './monitor.js';
import { addSignatures, formatNote, parseNote, type SignerKey } from './note.js';
import {
  changedEntryBundles,
  changedTiles,
  encodeEntryBundle,
  encodeHashTile,
  entryBundlePath,
  tileNodes,
  tilePath,
} from './tiles.js';

export class MemoryTiledLog {
  private readonly entries: Uint8Array[] = [];
  private readonly nodes = new Map<string, Uint8Array>();
  private readonly range = CompactRange.empty();
  /** Served resources by path below the prefix ("checkpoint", "tile/0/000.p/3", …). */
  readonly files = new Map<string, Uint8Array>();
  private note = '';

  constructor(
    readonly origin: string,
    private readonly logKey: SignerKey,
    private readonly witnesses: readonly SignerKey[] = [],
    private readonly clock: () => number = () => Math.floor(Date.now() / 1000),
  ) {
    this.publish();
  }

  get size(): number {
    return this.range.size;
  }

  /** The current signed (and cosigned) checkpoint. */
  get checkpoint(): string {
    return this.note;
  }

  /** Appends entries as one batch and publishes a new checkpoint. */
  append(...batch: readonly Uint8Array[]): string {
    const oldSize = this.range.size;
    for (const e of batch) {
      this.entries.push(e.slice());
      for (const n of this.range.append(leafHash(e))) this.nodes.set(`${n.level}/${n.index}`, n.hash);
    }
    for (const t of changedTiles(oldSize, this.range.size)) {
      const hashes = tileNodes(t).map((n) => this.nodes.get(`${n.level}/${n.index}`)!);
      this.files.set(tilePath(t), encodeHashTile(hashes));
    }
    for (const b of changedEntryBundles(oldSize, this.range.size)) {
      const start = b.index * 256;
      this.files.set(entryBundlePath(b), encodeEntryBundle(this.entries.slice(start, start + b.width)));
    }
    return this.publish();
  }

  private publish(): string {
    const signed = signCheckpoint(
      { origin: this.origin, size: this.range.size, rootHash: this.range.root(), extensions: [] },
      this.logKey,
    );
    const note = parseNote(signed);
    const now = this.clock();
    this.note = formatNote(
      addSignatures(
        note,
        this.witnesses.map((w) => cosign(note.text, w, now)),
      ),
    );
    this.files.set('checkpoint', new TextEncoder().encode(this.note));
    return this.note;
  }

  /** A deep copy: what a log operator needs to show two parties two different histories. */
  fork(): MemoryTiledLog {
    const copy = new MemoryTiledLog(this.origin, this.logKey, this.witnesses, this.clock);
    copy.append(...this.entries);
    return copy;
  }

  /** Reads stored node hashes (for building proofs and receipts directly). */
  get reader(): HashReader {
    return {
      readHashes: (ids: readonly NodeId[]) =>
        ids.map((id) => {
          const h = this.nodes.get(`${id.level}/${id.index}`);
          if (!h) throw new LogError('MERKLE_READER', 'node not stored');
          return h;
        }),
    };
  }

  /** A fetch-like view of the log under `prefix`: 200 with the resource, 404 without. */
  fetcher(prefix: string): FetchLike {
    const base = prefix.replace(/\/+$/, '');
    return async (url: string): Promise<FetchResponseLike> => {
      const path = url.startsWith(`${base}/`) ? url.slice(base.length + 1) : undefined;
      const body = path === undefined ? undefined : this.files.get(path);
      return {
        status: body ? 200 : 404,
        arrayBuffer: async () => (body ? body.slice().buffer : new ArrayBuffer(0)),
      };
    };
  }
}
