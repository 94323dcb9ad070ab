/**
 * A monitor: follows one tiled log (C2SP tlog-tiles) by URL and checks that it only ever grows.
 *
 * Pure: the HTTP transport (anything shaped like `fetch`) and the persistent state are passed in.
 *
 * For every checkpoint it sees — fetched from the log, or handed over by a gossip peer — it:
 *  1. verifies it (origin, log signature, witness quorum: {@link verifyCheckpoint}) [MON-1];
 *  2. checks it against the latest checkpoint it accepted before, using a consistency proof built from the
 *     tiles of the larger tree (RFC 6962 §2.1.2, RFC 9162 §2.1.4.2); since every accepted checkpoint was proven
 *     consistent with the one before, and "is a prefix of" is transitive, this checks it against every checkpoint
 *     the monitor has ever accepted [MON-2];
 *  3. when it is newer, downloads the new entries' bundles, recomputes the tree from the stored frontier plus the
 *     new leaves, and requires the checkpoint's root [MON-3];
 *  4. persists the new checkpoint and frontier, then hands each new entry to `onEntry`.
 * A checkpoint of the same size and root whose witness quorum cosigned it more recently (a heartbeat, log.md §4.1)
 * replaces the stored note, so the view's age (freshness.ts) follows the newest cosignatures seen.
 * It reports the first problem as a typed {@link MonitorResult}; a split view comes with self-verifying evidence.
 */
import { equalBytes } from '@overt/core';
import {
  formatCheckpoint,
  type LogPolicy,
  type SignedCheckpoint,
  type VerifiedCheckpoint,
  verifyCheckpoint,
  verifyCheckpointSignature,
} from './checkpoint.js';
import { checkWitnessQuorum } from './cosignature.js';
import { LogError } from './errors.js';
import { DEFAULT_MAX_FUTURE_SECONDS, quorumTimestamp } from './freshness.js';
import type { GossipPeer, SplitViewEvidence } from './gossip.js';
import {
  CompactRange,
  consistencyProof,
  EMPTY_ROOT,
  leafHash,
  rootNodes,
  treeRoot,
  verifyConsistency,
} from './merkle.js';
import {
  changedEntryBundles,
  decodeEntryBundle,
  type EntryBundleId,
  entryBundlePath,
  TILE_WIDTH,
  TileHashReader,
} from './tiles.js';

/** The part of a `fetch` Response a monitor uses. */
export interface FetchResponseLike {
  readonly status: number;
  arrayBuffer(): Promise<ArrayBuffer>;
}
/** Anything shaped like the platform's `fetch(url)`: pass `fetch` itself in a browser or Node. */
export type FetchLike = (url: string) => Promise<FetchResponseLike>;

/** What a monitor persists per log: its latest accepted checkpoint and the tree's frontier at that size. */
export interface MonitorSnapshot {
  /** The signed note of the latest checkpoint accepted. */
  readonly checkpoint: string;
  /** {@link CompactRange.hashes} of the tree at that checkpoint's size. */
  readonly frontier: readonly Uint8Array[];
}

/** Persistent monitor state, keyed by log origin. `save` must be atomic (all or nothing). */
export interface MonitorStore {
  load(origin: string): Promise<MonitorSnapshot | undefined>;
  save(origin: string, snapshot: MonitorSnapshot): Promise<void>;
}

/** A {@link MonitorStore} in memory (for clients that keep state elsewhere, and for tests). */
export class MemoryMonitorStore implements MonitorStore {
  private readonly map = new Map<string, MonitorSnapshot>();
  async load(origin: string): Promise<MonitorSnapshot | undefined> {
    return this.map.get(origin);
  }
  async save(origin: string, snapshot: MonitorSnapshot): Promise<void> {
    this.map.set(origin, {
      checkpoint: snapshot.checkpoint,
      frontier: snapshot.frontier.map((h) => h.slice()),
    });
  }
}

export interface MonitorConfig {
  readonly policy: LogPolicy;
  /** The log's URL prefix (tlog-tiles §Parameters), e.g. "https://log.example.org/overt". */
  readonly url: string;
  readonly fetch: FetchLike;
  readonly store: MonitorStore;
  /** Download and hash every new entry (default true). Without it, only tiles are checked. */
  readonly entries?: boolean;
  /** Called for each new entry, in order, after the tree they form has been checked. */
  readonly onEntry?: (index: number, entry: Uint8Array) => void | Promise<void>;
  /**
   * POSIX seconds now, to refuse cosignatures from the future (with `maxFutureSeconds`). Alone, it only keeps
   * timestamps beyond the default skew from making a same-size checkpoint look fresher.
   */
  readonly now?: () => number;
  readonly maxFutureSeconds?: number;
}

/** The outcome of looking at one checkpoint. */
export type MonitorResult =
  /** Consistent with everything seen; `advanced` when it is newer than the previous latest. */
  | {
      readonly kind: 'ok';
      readonly checkpoint: VerifiedCheckpoint;
      readonly previousSize: number;
      readonly advanced: boolean;
      readonly newEntries: number;
    }
  /** Not a valid checkpoint for this policy (malformed, wrong origin, bad signature, too few witnesses). */
  | { readonly kind: 'invalid_checkpoint'; readonly error: LogError }
  /** The log could not be read (network, missing or malformed tiles or bundles): nothing was concluded. */
  | { readonly kind: 'unavailable'; readonly error: LogError }
  /** A7: two log-signed checkpoints that cannot both be honest. */
  | { readonly kind: 'split_view'; readonly evidence: SplitViewEvidence; readonly error: LogError }
  /** The entries the log serves do not form the tree it signed. */
  | { readonly kind: 'entries_mismatch'; readonly checkpoint: VerifiedCheckpoint; readonly error: LogError };

/** Entry bundles fetched at once while catching up. */
const FETCH_CONCURRENCY = 16;

/** A network failure, as opposed to the log answering that it does not have a resource. */
function transportError(cause: unknown): LogError {
  return new LogError('MONITOR_TRANSPORT', 'the log could not be reached', { check: 'MON-4', cause });
}

function asLogError(e: unknown): LogError {
  if (e instanceof LogError) return e;
  throw e;
}

interface State {
  readonly checkpoint: SignedCheckpoint | undefined;
  readonly size: number;
  readonly root: Uint8Array;
  readonly frontier: CompactRange;
}

export class Monitor implements GossipPeer {
  private readonly prefix: string;

  constructor(private readonly config: MonitorConfig) {
    this.prefix = config.url.replace(/\/+$/, '');
  }

  get origin(): string {
    return this.config.policy.origin;
  }

  /** GETs a resource below the prefix. Non-2xx is TILE_UNAVAILABLE (the log lacks it); a throw is MONITOR_TRANSPORT. */
  private async get(path: string): Promise<Uint8Array> {
    let res: FetchResponseLike;
    let body: ArrayBuffer;
    try {
      res = await this.config.fetch(`${this.prefix}/${path}`);
      body = await res.arrayBuffer();
    } catch (cause) {
      throw transportError(cause);
    }
    if (res.status < 200 || res.status > 299) {
      throw new LogError('TILE_UNAVAILABLE', `the log answered ${res.status}`, { check: 'TILE-4' });
    }
    return new Uint8Array(body);
  }

  private reader(size: number): TileHashReader {
    return new TileHashReader(size, (path) => this.get(path));
  }

  private async state(): Promise<State> {
    const snap = await this.config.store.load(this.origin);
    if (!snap) return { checkpoint: undefined, size: 0, root: EMPTY_ROOT, frontier: CompactRange.empty() };
    try {
      const cp = verifyCheckpointSignature(snap.checkpoint, this.origin, this.config.policy.logKeys);
      const frontier = CompactRange.fromHashes(cp.size, snap.frontier);
      if (!equalBytes(frontier.root(), cp.rootHash))
        throw new LogError('MONITOR_STATE', 'frontier does not match', { check: 'MON-6' });
      return { checkpoint: cp, size: cp.size, root: cp.rootHash, frontier };
    } catch (cause) {
      throw new LogError('MONITOR_STATE', 'the stored monitor state is corrupt', { check: 'MON-6', cause });
    }
  }

  /** The latest checkpoint this monitor accepted, if any. */
  async latest(): Promise<SignedCheckpoint | undefined> {
    return (await this.state()).checkpoint;
  }

  /**
   * The latest accepted checkpoint with its witness cosignatures verified under the policy (for its age:
   * freshness.ts), if any. MONITOR_STATE (MON-6) when the stored note no longer verifies under the policy.
   */
  async latestVerified(): Promise<VerifiedCheckpoint | undefined> {
    const cp = await this.latest();
    if (cp === undefined) return undefined;
    try {
      return verifyCheckpoint(cp, this.config.policy);
    } catch (cause) {
      throw new LogError('MONITOR_STATE', 'the stored checkpoint does not verify', { check: 'MON-6', cause });
    }
  }

  /**
   * The quorum-th newest cosignature timestamp on a note of this log (freshness.ts), or −1 when it has none that
   * count. Cosignatures that do not verify, or that are dated beyond the skew of `now`, do not count.
   */
  private quorumTime(cp: SignedCheckpoint): number {
    const policy = this.config.policy.witnesses;
    let stamps: number[];
    try {
      stamps = checkWitnessQuorum(cp.note, { witnesses: policy.witnesses, quorum: 0 }).map(
        (c) => c.timestamp,
      );
    } catch {
      return -1;
    }
    const now = this.config.now?.() ?? Number.MAX_SAFE_INTEGER;
    const skew = this.config.maxFutureSeconds ?? DEFAULT_MAX_FUTURE_SECONDS;
    return quorumTimestamp(stamps, Math.max(1, policy.quorum), now, skew) ?? -1;
  }

  async heldCheckpoints(): Promise<string[]> {
    const cp = await this.latest();
    return cp ? [formatCheckpoint(cp)] : [];
  }

  /** Fetches `<prefix>/checkpoint` and processes it. */
  async update(): Promise<MonitorResult> {
    let note: Uint8Array;
    try {
      note = await this.get('checkpoint');
    } catch (e) {
      return { kind: 'unavailable', error: asLogError(e) };
    }
    return this.observe(note, 'log');
  }

  /**
   * Processes a checkpoint from the log or from a gossip peer. For a peer's checkpoint newer than ours, a log
   * that does not serve the tiles to prove the two consistent (it must: tlog-tiles §Partial Tiles) is reported as
   * an (unproven) split view; network failures are always `unavailable`.
   */
  async observe(signed: string | Uint8Array, source: 'log' | 'peer' = 'log'): Promise<MonitorResult> {
    let cp: VerifiedCheckpoint;
    try {
      const now = this.config.now?.();
      cp = verifyCheckpoint(signed, this.config.policy, {
        ...(now === undefined ? {} : { now }),
        ...(this.config.maxFutureSeconds === undefined
          ? {}
          : { maxFutureSeconds: this.config.maxFutureSeconds }),
      });
    } catch (e) {
      return { kind: 'invalid_checkpoint', error: asLogError(e) };
    }
    const st = await this.state();
    const ok = (advanced: boolean, newEntries: number): MonitorResult => ({
      kind: 'ok',
      checkpoint: cp,
      previousSize: st.size,
      advanced,
      newEntries,
    });

    // Same size: the roots must agree (the two notes are then the evidence). A more recently cosigned note of
    // the same tree (a heartbeat) replaces the stored one: the view is as fresh as its newest quorum.
    if (cp.size === st.size) {
      if (equalBytes(cp.rootHash, st.root)) {
        if (!st.checkpoint || this.quorumTime(cp) > this.quorumTime(st.checkpoint))
          await this.save(cp, st.frontier);
        return ok(false, 0);
      }
      return splitView(
        { smaller: formatCheckpoint(st.checkpoint!), larger: formatCheckpoint(cp) },
        'same tree size, different roots',
      );
    }

    // Older than ours: our latest tree's tiles must contain it.
    if (cp.size < st.size) {
      let proof: { root: Uint8Array; hashes: Uint8Array[] };
      try {
        proof = await this.proveFromTiles(cp.size, st.size, st.root);
      } catch (e) {
        return { kind: 'unavailable', error: asLogError(e) };
      }
      if (!equalBytes(proof.root, cp.rootHash)) {
        return splitView(
          { smaller: formatCheckpoint(cp), larger: formatCheckpoint(st.checkpoint!), proof },
          'an older checkpoint is not a prefix of the latest one',
        );
      }
      return ok(false, 0);
    }

    // Newer: prove it extends ours from its own tiles, then recompute it from the entries.
    let proof: { root: Uint8Array; hashes: Uint8Array[] };
    try {
      proof = await this.proveFromTiles(st.size, cp.size, cp.rootHash);
    } catch (e) {
      const err = asLogError(e);
      if (source === 'peer' && st.checkpoint && err.code !== 'MONITOR_TRANSPORT') {
        return splitView(
          { smaller: formatCheckpoint(st.checkpoint), larger: formatCheckpoint(cp) },
          'the log does not serve a valid consistency proof to this checkpoint',
          err,
        );
      }
      return { kind: 'unavailable', error: err };
    }
    if (st.checkpoint && !equalBytes(proof.root, st.root)) {
      return splitView(
        { smaller: formatCheckpoint(st.checkpoint), larger: formatCheckpoint(cp), proof },
        'the new checkpoint does not extend the latest one',
      );
    }

    const frontier = st.frontier.clone();
    let entries: Uint8Array[] = [];
    try {
      if (this.config.entries === false) {
        const reader = this.reader(cp.size);
        const hashes = await reader.readHashes(rootNodes(cp.size));
        const restored = CompactRange.fromHashes(cp.size, hashes);
        if (!equalBytes(restored.root(), cp.rootHash))
          throw new LogError('TILE_MALFORMED', 'tiles do not match', { check: 'TILE-2' });
        await this.save(cp, restored);
        return ok(true, cp.size - st.size);
      }
      entries = await this.fetchEntries(st.size, cp.size);
    } catch (e) {
      return { kind: 'unavailable', error: asLogError(e) };
    }
    for (const e of entries) frontier.append(leafHash(e));
    if (!equalBytes(frontier.root(), cp.rootHash)) {
      return {
        kind: 'entries_mismatch',
        checkpoint: cp,
        error: new LogError('MONITOR_ENTRIES_MISMATCH', 'the served entries do not hash to the signed root', {
          check: 'MON-3',
        }),
      };
    }
    // Entries are handed over before the state advances: if a handler fails, the next update sees them again.
    if (this.config.onEntry) {
      for (const [i, e] of entries.entries()) await this.config.onEntry(st.size + i, e);
    }
    await this.save(cp, frontier);
    return ok(true, entries.length);
  }

  /**
   * From the tiles of the tree of `largeSize` (whose root must be `largeRoot`): that tree's root at `smallSize`
   * and the consistency proof authenticating it. Throws when the tiles are unavailable or do not match.
   */
  private async proveFromTiles(
    smallSize: number,
    largeSize: number,
    largeRoot: Uint8Array,
  ): Promise<{ root: Uint8Array; hashes: Uint8Array[] }> {
    if (smallSize === 0) return { root: EMPTY_ROOT, hashes: [] };
    const reader = this.reader(largeSize);
    const [root, hashes] = await Promise.all([
      treeRoot(smallSize, reader),
      consistencyProof(smallSize, largeSize, reader),
    ]);
    try {
      verifyConsistency(smallSize, largeSize, hashes, root, largeRoot);
    } catch (cause) {
      throw new LogError('TILE_MALFORMED', 'the tiles do not match the signed root', {
        check: 'TILE-2',
        cause,
      });
    }
    return { root, hashes };
  }

  /** Entries [from, to), from the bundles of the tree of size `to` (a gone partial bundle falls back to the full). */
  private async fetchEntries(from: number, to: number): Promise<Uint8Array[]> {
    const bundles = changedEntryBundles(from, to);
    const fetchOne = async (b: EntryBundleId): Promise<Uint8Array[]> => {
      try {
        return decodeEntryBundle(await this.get(entryBundlePath(b)), b.width);
      } catch (first) {
        const err = asLogError(first);
        if (b.width === TILE_WIDTH || err.code === 'MONITOR_TRANSPORT') throw err;
        try {
          const full = await this.get(entryBundlePath({ index: b.index, width: TILE_WIDTH }));
          return decodeEntryBundle(full, TILE_WIDTH).slice(0, b.width);
        } catch {
          throw err;
        }
      }
    };
    // A bounded number of requests in flight, however far behind the monitor is.
    const fetched: Uint8Array[][] = [];
    for (let i = 0; i < bundles.length; i += FETCH_CONCURRENCY) {
      fetched.push(...(await Promise.all(bundles.slice(i, i + FETCH_CONCURRENCY).map(fetchOne))));
    }
    const out: Uint8Array[] = [];
    bundles.forEach((b, i) => {
      const start = b.index * TILE_WIDTH;
      for (const [j, e] of fetched[i]!.entries()) if (start + j >= from && start + j < to) out.push(e);
    });
    if (out.length !== to - from)
      throw new LogError('BUNDLE_MALFORMED', 'bundles do not cover the new entries', { check: 'TILE-3' });
    return out;
  }

  private async save(cp: VerifiedCheckpoint, frontier: CompactRange): Promise<void> {
    await this.config.store.save(this.origin, {
      checkpoint: formatCheckpoint(cp),
      frontier: frontier.hashes,
    });
  }
}

function splitView(evidence: SplitViewEvidence, message: string, cause?: unknown): MonitorResult {
  return {
    kind: 'split_view',
    evidence,
    error: new LogError('SPLIT_VIEW', message, { check: 'MON-2', cause }),
  };
}
