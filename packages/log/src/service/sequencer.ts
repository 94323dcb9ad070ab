/**
 * The log's sequencer: assigns indices, integrates entries into the tree, and signs checkpoints, with group
 * commit — many appends share one transaction, one fsync and one signature.
 *
 * One batch, step by step (docs/spec/log-service.md, "Sequencer"; each step named as in {@link SequencerStep}):
 *   1. batch-start         take up to `maxBatch` queued appends; they get indices size … size + n − 1.
 *   2. (memory)            leaf hashes, compact range, tiles (integrate.ts); nothing is adopted yet.
 *   3. entries-durable     transaction A: entries + tiles + tree state, compare-and-set on the size (STORE-1).
 *   4. checkpoint-signed   sign the checkpoint of the new size, computed from the durable tree only.
 *   5. checkpoint-durable  transaction B: the signed checkpoint (and, without witnesses, the published one).
 *   6. appends-resolved    every append of the batch resolves with its index and that checkpoint.
 * Then, off the append path, witnessing: the newest signed checkpoint goes to every witness concurrently
 * (witness-round-start), and is published with the cosignatures collected (checkpoint-published).
 *
 * Heartbeat (docs/spec/log-service.md "Heartbeat"; DESIGN A16): every `heartbeatMs`, even when nothing was
 * appended, the current signed checkpoint goes to the witnesses again (tlog-witness allows old size = size with
 * an empty proof) and is republished with their fresh cosignatures, whose timestamps tell every verifier how old
 * its view is. A heartbeat signs nothing and appends nothing: the checkpoint text, the log's signature (Ed25519 is
 * deterministic) and the tree stay exactly as they were; only the cosignature lines change. A witness that does
 * not answer keeps its previous cosignature of the same checkpoint in the published note.
 *
 * Crash safety: nothing is acknowledged before step 6, so a crash before it loses only unacknowledged appends.
 * Step 4 signs only a tree that step 3 made durable, and entries never change once durable, so the root of a
 * given size is fixed before any signature over it exists: a restart that re-signs a size signs the same root
 * (Ed25519 is deterministic, so even the same bytes). A crash between 3 and 5 leaves a durable tree larger than
 * the signed checkpoint; {@link Sequencer.start} signs it before accepting appends.
 */

import { equalBytes, utf8Decode, utf8Encode } from '@overt/core';
import { parseCheckpoint, signCheckpoint } from '../checkpoint.js';
import { checkWitnessQuorum, makeWitnessPolicy, type WitnessPolicy } from '../cosignature.js';
import { isLogError, LogError } from '../errors.js';
import { DEFAULT_HEARTBEAT_MS } from '../freshness.js';
import { consistencyProof, inclusionProof, treeRoot } from '../merkle.js';
import { addSignatures, formatNote, type NoteSignature, parseNote, type SignerKey } from '../note.js';
import { leafHashFast, TreeEdge } from './integrate.js';
import { concatHashes, type LogStorage, MAX_ENTRY_SIZE, type StoredCheckpoint } from './storage.js';
import { StoredTileReader } from './tile-reader.js';
import { type LogCheckpoint, type LogWitness, WitnessPool } from './witnessing.js';

/** The points between the steps of a batch (and of witnessing) where an observer is told, and where a crash test kills. */
export type SequencerStep =
  | 'batch-start'
  | 'entries-durable'
  | 'checkpoint-signed'
  | 'checkpoint-durable'
  | 'appends-resolved'
  | 'witness-round-start'
  | 'checkpoint-published';

export interface SequencerEvent {
  readonly step: SequencerStep;
  /** The tree size the step concerns. */
  readonly size: number;
  /** For checkpoint-signed and checkpoint-published: the note just produced. */
  readonly note?: string;
}

export interface SequencerOptions {
  readonly storage: LogStorage;
  /** The log's checkpoint origin line (c2sp.org/tlog-checkpoint), e.g. `example.com/log`. */
  readonly origin: string;
  /** The log's Ed25519 (type 0x01) note signing key; its name should be the origin. */
  readonly key: SignerKey;
  /** Back-pressure: at most this many appends wait in the queue (default 65,536). */
  readonly maxQueue?: number;
  /** Back-pressure: at most this many entry bytes wait in the queue (default 64 MiB). */
  readonly maxQueueBytes?: number;
  /** At most this many entries per batch (default 8,192). */
  readonly maxBatch?: number;
  /** At most this many entry bytes per batch (default 8 MiB; a batch always takes at least one entry). */
  readonly maxBatchBytes?: number;
  /** Witnesses asked to cosign each new checkpoint (default none). */
  readonly witnesses?: readonly LogWitness[];
  /** How many distinct witness cosignatures make a checkpoint "witnessed" (default: all witnesses). */
  readonly witnessQuorum?: number;
  /** How long one witness request may take (default 5,000 ms). */
  readonly witnessTimeoutMs?: number;
  /** How long to wait before asking again when a round fell short of the quorum (default 1,000 ms). */
  readonly witnessRetryMs?: number;
  /**
   * Heartbeat: every this many ms the current checkpoint is witnessed again, even when nothing was appended, so
   * that its cosignatures carry a fresh timestamp (default {@link DEFAULT_HEARTBEAT_MS}; 0 turns it off). Only with
   * witnesses. Clients refuse views older than a few minutes (docs/spec/client.md §8.6), so keep it well below.
   */
  readonly heartbeatMs?: number;
  /** Told at each step, synchronously; for metrics and for the crash test's fault injection. Must not throw. */
  readonly onStep?: (event: SequencerEvent) => void;
}

/** What an append resolves with: its index, and a durable signed checkpoint whose tree contains it. */
export interface AppendResult {
  readonly index: number;
  readonly checkpoint: LogCheckpoint;
}

/** A published checkpoint: the signed note with the witness cosignatures collected for it. */
export interface PublishedCheckpoint extends LogCheckpoint {
  /** How many distinct configured witnesses cosigned it (cosignatures verified). */
  readonly cosignatures: number;
}

export interface InclusionProof {
  readonly index: number;
  readonly size: number;
  readonly proof: Uint8Array[];
}

function positive(name: string, n: number): number {
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new LogError('SERVICE_CONFIG', `sequencer option ${name} must be a positive integer`);
  return n;
}

interface Pending {
  readonly entry: Uint8Array;
  resolve(r: AppendResult): void;
  reject(e: unknown): void;
}

interface Waiter {
  readonly size: number;
  resolve(cp: PublishedCheckpoint): void;
  reject(e: unknown): void;
}

/** The log's single writer. Create with {@link Sequencer.start}; one per log storage. */
export class Sequencer {
  private readonly storage: LogStorage;
  private readonly origin: string;
  private readonly key: SignerKey;
  private readonly maxQueue: number;
  private readonly maxQueueBytes: number;
  private readonly maxBatch: number;
  private readonly maxBatchBytes: number;
  private readonly quorum: number;
  private readonly retryMs: number;
  private readonly heartbeatMs: number;
  private readonly onStep: (event: SequencerEvent) => void;
  private readonly pool: WitnessPool | undefined;
  /** Hash reader over the durable tiles (the in-memory edge first): proofs for any size up to the signed one. */
  readonly reader: StoredTileReader;

  private queue: Pending[] = [];
  private queueBytes = 0;
  private edge: TreeEdge = TreeEdge.empty();
  private signed: LogCheckpoint | undefined;
  private published: PublishedCheckpoint | undefined;
  private waiters: Waiter[] = [];
  private running: Promise<void> | undefined;
  private witnessing: Promise<void> | undefined;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  /** A heartbeat fell due: the next witnessing round runs even if the published checkpoint is current. */
  private heartbeatDue = false;
  private needsReload = false;
  private closed = false;
  private halted: LogError | undefined;
  private readonly stop = new AbortController();

  private constructor(options: SequencerOptions) {
    this.storage = options.storage;
    this.origin = options.origin;
    this.key = options.key;
    this.maxQueue = positive('maxQueue', options.maxQueue ?? 65_536);
    this.maxQueueBytes = positive('maxQueueBytes', options.maxQueueBytes ?? 64 * 1024 * 1024);
    this.maxBatch = positive('maxBatch', options.maxBatch ?? 8192);
    this.maxBatchBytes = positive('maxBatchBytes', options.maxBatchBytes ?? 8 * 1024 * 1024);
    this.retryMs = positive('witnessRetryMs', options.witnessRetryMs ?? 1000);
    const timeoutMs = positive('witnessTimeoutMs', options.witnessTimeoutMs ?? 5000);
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    if (this.heartbeatMs !== 0) positive('heartbeatMs', this.heartbeatMs);
    this.onStep = options.onStep ?? (() => {});
    const witnesses = options.witnesses ?? [];
    // Validates the witness keys (type 0x04, no duplicates) and the quorum (COSIG-4).
    this.quorum = makeWitnessPolicy(
      witnesses.map((w) => w.key),
      options.witnessQuorum ?? witnesses.length,
    ).quorum;
    this.reader = new StoredTileReader({
      readTile: async (level, index) => {
        const partial = this.edge.partialTile(level, index);
        if (partial !== undefined) return concatHashes(partial);
        return this.storage.readTile(level, index);
      },
    });
    this.pool = witnesses.length > 0 ? new WitnessPool(witnesses, this.reader, timeoutMs) : undefined;
  }

  /**
   * Opens the log: binds the storage to the origin (STORE-4), restores the tree edge, checks the stored signed
   * checkpoint against the stored tree (SEQ-3), signs the durable tree if it is ahead of the signed checkpoint
   * (recovery after a crash between transactions A and B; a new log signs its empty tree), and resumes
   * witnessing. Throws STORE_CORRUPT when the storage contradicts itself: it never signs on top of that.
   */
  static async start(options: SequencerOptions): Promise<Sequencer> {
    const s = new Sequencer(options);
    await s.storage.claimOrigin(s.origin);
    await s.reload();
    const stored = await s.storage.readCheckpoint('published');
    if (stored !== undefined)
      s.published = { ...s.toLogCheckpoint(stored), cosignatures: s.countCosignatures(stored) };
    if (s.signed === undefined || s.signed.size < s.edge.size) await s.signAndStore();
    else if (s.pool === undefined && (s.published === undefined || s.published.size < s.signed.size)) {
      // Without witnesses the signed checkpoint is the published one (e.g. after witnesses were unconfigured).
      const cp = s.signed;
      await s.storage.writeCheckpoints({
        published: { size: cp.size, root: cp.root, note: utf8Encode(cp.note) },
      });
      s.setPublished({ ...cp, cosignatures: 0 });
    }
    s.kickWitnessing();
    s.startHeartbeat();
    return s;
  }

  /** The newest durable signed checkpoint. */
  get checkpoint(): LogCheckpoint {
    return this.signed!;
  }

  /** The newest published checkpoint (what `<prefix>/checkpoint` serves). */
  get publishedCheckpoint(): PublishedCheckpoint | undefined {
    return this.published;
  }

  /** Entries waiting for a batch. */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * Queues one entry. Resolves once the entry, the tiles over it and a signed checkpoint containing it are all
   * durable, with its index and that checkpoint.
   *
   * Throws (synchronously rejected promise) SEQ_ENTRY_TOO_LARGE (SEQ-2) for more than 65,535 bytes (the entry
   * bundle's uint16 length prefix, c2sp.org/tlog-tiles), SEQ_QUEUE_FULL (SEQ-1) when the queue is full (retry
   * later: HTTP maps it to 503 with Retry-After), SEQ_CLOSED after {@link close}, SEQ_HALTED after a fatal
   * storage conflict. A rejection with STORE_FAILED means the outcome is unknown: the entry may have been
   * logged without acknowledgement (an acknowledged entry is never lost; an unacknowledged one may exist).
   */
  append(entry: Uint8Array): Promise<AppendResult> {
    if (this.halted !== undefined) return Promise.reject(this.haltedError());
    if (this.closed) return Promise.reject(new LogError('SEQ_CLOSED', 'the sequencer is closed'));
    if (!(entry instanceof Uint8Array) || entry.length > MAX_ENTRY_SIZE)
      return Promise.reject(
        new LogError('SEQ_ENTRY_TOO_LARGE', `an entry is at most ${MAX_ENTRY_SIZE} bytes`, {
          check: 'SEQ-2',
        }),
      );
    if (this.queue.length >= this.maxQueue || this.queueBytes + entry.length > this.maxQueueBytes)
      return Promise.reject(
        new LogError('SEQ_QUEUE_FULL', 'the append queue is full; retry later', { check: 'SEQ-1' }),
      );
    return new Promise<AppendResult>((resolve, reject) => {
      // A copy: the caller may reuse its buffer; the bytes hashed must be the bytes stored.
      this.queue.push({ entry: entry.slice(), resolve, reject });
      this.queueBytes += entry.length;
      this.kick();
    });
  }

  /** RFC 6962 §2.1.1 inclusion proof of `index` in the tree of `size` (default: the signed checkpoint's). */
  async inclusionProof(index: number, size = this.checkpoint.size): Promise<InclusionProof> {
    this.checkProvable(size);
    return { index, size, proof: await inclusionProof(index, size, this.reader) };
  }

  /** RFC 6962 §2.1.2 consistency proof between two sizes up to the signed checkpoint's. */
  async consistencyProof(size1: number, size2 = this.checkpoint.size): Promise<Uint8Array[]> {
    this.checkProvable(size2);
    return consistencyProof(size1, size2, this.reader);
  }

  private checkProvable(size: number): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.checkpoint.size)
      throw new LogError('MERKLE_RANGE', 'proofs are only given for trees up to the signed checkpoint', {
        check: 'MERKLE-1',
      });
  }

  /**
   * Resolves with the first published checkpoint of at least `size` entries that carries the witness quorum.
   * Rejects with SEQ_TIMEOUT after `timeoutMs` (default: wait indefinitely) and SEQ_CLOSED on {@link close}.
   */
  awaitWitnessed(size: number, timeoutMs?: number): Promise<PublishedCheckpoint> {
    const p = this.published;
    if (p !== undefined && p.size >= size && p.cosignatures >= this.quorum) return Promise.resolve(p);
    if (this.closed || this.halted !== undefined)
      return Promise.reject(
        this.halted !== undefined ? this.haltedError() : new LogError('SEQ_CLOSED', 'closed'),
      );
    return new Promise<PublishedCheckpoint>((resolve, reject) => {
      const waiter: Waiter = { size, resolve, reject };
      this.waiters.push(waiter);
      if (timeoutMs !== undefined) {
        const timer = setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new LogError('SEQ_TIMEOUT', 'no checkpoint with the witness quorum in time'));
        }, timeoutMs);
        timer.unref();
        const done = (): void => clearTimeout(timer);
        waiter.resolve = (cp) => {
          done();
          resolve(cp);
        };
        waiter.reject = (e) => {
          done();
          reject(e);
        };
      }
    });
  }

  /**
   * Stops accepting appends, finishes every queued one (they resolve or reject as usual), ends witnessing, and
   * rejects pending {@link awaitWitnessed} calls with SEQ_CLOSED. Does not close the storage.
   */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    while (this.running !== undefined) await this.running;
    this.stop.abort();
    while (this.witnessing !== undefined) await this.witnessing;
    for (const w of this.waiters.splice(0)) w.reject(new LogError('SEQ_CLOSED', 'the sequencer is closed'));
  }

  // ---- the batch loop ----

  private kick(): void {
    if (this.running !== undefined) return;
    this.running = this.run().finally(() => {
      this.running = undefined;
      if (this.queue.length > 0 && this.halted === undefined) this.kick();
    });
  }

  private async run(): Promise<void> {
    while (this.queue.length > 0 && this.halted === undefined) {
      // Let every append already in flight in this turn of the event loop join the batch.
      await new Promise<void>((r) => setImmediate(r));
      await this.processBatch(this.takeBatch());
    }
  }

  private takeBatch(): Pending[] {
    let n = 0;
    let bytes = 0;
    while (n < this.queue.length && n < this.maxBatch) {
      const len = this.queue[n]!.entry.length;
      if (n > 0 && bytes + len > this.maxBatchBytes) break;
      bytes += len;
      n++;
    }
    const batch = this.queue.splice(0, n);
    this.queueBytes -= bytes;
    return batch;
  }

  private async processBatch(batch: Pending[]): Promise<void> {
    try {
      if (this.needsReload) {
        await this.reload();
        this.needsReload = false;
      }
      const before = this.edge;
      this.step('batch-start', before.size);
      const entries = batch.map((p) => p.entry);
      const { next, tiles } = before.integrate(entries.map(leafHashFast));
      // Transaction A. Only after it resolves is the new edge adopted (and visible to proofs).
      const { first } = await this.storage.appendBatch({
        expectedSize: before.size,
        entries,
        tiles,
        state: { size: next.size, compactRange: next.range.hashes },
      });
      this.edge = next;
      this.step('entries-durable', next.size);
      const checkpoint = await this.signAndStore();
      for (let i = 0; i < batch.length; i++) batch[i]!.resolve({ index: first + i, checkpoint });
      this.step('appends-resolved', checkpoint.size);
      this.kickWitnessing();
    } catch (e) {
      this.failBatch(batch, e);
    }
  }

  private failBatch(batch: Pending[], e: unknown): void {
    if (isLogError(e, 'STORE_CONFLICT') || isLogError(e, 'STORE_CORRUPT') || isLogError(e, 'STORE_ORIGIN')) {
      // SEQ-5: another writer extended the tree, or the storage contradicts itself. Continuing from this
      // sequencer's view could only fork the log, so it stops for good.
      this.halted = new LogError(
        'SEQ_HALTED',
        'the sequencer stopped: the storage was changed by another writer',
        {
          check: 'SEQ-5',
          cause: e,
        },
      );
      for (const p of batch) p.reject(this.haltedError());
      for (const p of this.queue.splice(0)) p.reject(this.haltedError());
      this.queueBytes = 0;
      for (const w of this.waiters.splice(0)) w.reject(this.haltedError());
      return;
    }
    // The outcome of the failed transaction is unknown (a lost COMMIT acknowledgement): reread the durable
    // state before the next batch instead of trusting memory.
    this.needsReload = true;
    const err = isLogError(e)
      ? e
      : new LogError('STORE_FAILED', 'the batch could not be stored', { cause: e });
    for (const p of batch) p.reject(err);
  }

  private haltedError(): LogError {
    return this.halted!;
  }

  private step(step: SequencerStep, size: number, note?: string): void {
    this.onStep(note === undefined ? { step, size } : { step, size, note });
  }

  /**
   * Rereads the durable state: tree edge and signed checkpoint, then checks them against each other (SEQ-3),
   * and signs the durable tree if it is ahead of the signed checkpoint.
   */
  private async reload(): Promise<void> {
    const state = await this.storage.readTreeState();
    this.edge = await TreeEdge.restore(
      state,
      (l, i) => this.storage.readTile(l, i),
      (why) => new LogError('STORE_CORRUPT', `stored tree is inconsistent: ${why}`, { check: 'STORE-2' }),
    );
    const stored = await this.storage.readCheckpoint('signed');
    if (stored !== undefined) {
      // SEQ-3: the signed checkpoint must be one this log signed, over the stored tree's root at its size.
      const corrupt = (why: string) =>
        new LogError('STORE_CORRUPT', `stored signed checkpoint ${why}`, { check: 'SEQ-3' });
      if (stored.size > this.edge.size) throw corrupt('is larger than the stored tree');
      const cp = this.toLogCheckpoint(stored);
      const root =
        stored.size === this.edge.size ? this.edge.range.root() : await treeRoot(stored.size, this.reader);
      if (!equalBytes(root, cp.root)) throw corrupt('does not match the stored tree');
      this.signed = cp;
    }
    if (this.signed !== undefined && this.signed.size < this.edge.size) await this.signAndStore();
  }

  /** Parses a stored checkpoint and checks it is this log's (origin, size, root as recorded). */
  private toLogCheckpoint(stored: StoredCheckpoint): LogCheckpoint {
    const note = utf8Decode(stored.note);
    let cp: ReturnType<typeof parseCheckpoint>;
    try {
      cp = parseCheckpoint(note);
    } catch (cause) {
      throw new LogError('STORE_CORRUPT', 'stored checkpoint does not parse', { check: 'SEQ-3', cause });
    }
    if (cp.origin !== this.origin || cp.size !== stored.size || !equalBytes(cp.rootHash, stored.root))
      throw new LogError('STORE_CORRUPT', 'stored checkpoint does not match its record', { check: 'SEQ-3' });
    return { size: stored.size, root: stored.root, note };
  }

  /** Signs the durable tree (steps 4 and 5) unless the signed checkpoint already covers it. */
  private async signAndStore(): Promise<LogCheckpoint> {
    const size = this.edge.size;
    if (this.signed !== undefined && this.signed.size === size) return this.signed;
    const root = this.edge.range.root();
    const note = signCheckpoint({ origin: this.origin, size, rootHash: root, extensions: [] }, this.key);
    this.step('checkpoint-signed', size, note);
    const cp: LogCheckpoint = { size, root, note };
    const stored: StoredCheckpoint = { size, root, note: utf8Encode(note) };
    // Transaction B. Without witnesses the signed checkpoint is also the published one.
    await this.storage.writeCheckpoints(
      this.pool === undefined ? { signed: stored, published: stored } : { signed: stored },
    );
    this.signed = cp;
    if (this.pool === undefined) this.setPublished({ ...cp, cosignatures: 0 });
    this.step('checkpoint-durable', size);
    return cp;
  }

  // ---- witnessing ----

  private countCosignatures(stored: StoredCheckpoint): number {
    if (this.pool === undefined) return 0;
    try {
      const policy = makeWitnessPolicy(
        this.pool.witnesses.map((w) => w.key),
        0,
      );
      return checkWitnessQuorum(parseNote(stored.note), policy).length;
    } catch {
      // A published note whose cosignatures no longer verify (e.g. a witness key rotated): count none, so the
      // next round replaces it.
      return 0;
    }
  }

  private setPublished(cp: PublishedCheckpoint): void {
    this.published = cp;
    if (cp.cosignatures < this.quorum) return;
    const ready = this.waiters.filter((w) => w.size <= cp.size);
    this.waiters = this.waiters.filter((w) => w.size > cp.size);
    for (const w of ready) w.resolve(cp);
  }

  private startHeartbeat(): void {
    if (this.pool === undefined || this.heartbeatMs === 0) return;
    this.heartbeat = setInterval(() => {
      if (this.halted !== undefined) return;
      this.heartbeatDue = true;
      this.kickWitnessing();
    }, this.heartbeatMs);
    // The timer alone never keeps the process alive; close() clears it.
    this.heartbeat.unref();
  }

  private kickWitnessing(): void {
    if (this.pool === undefined || this.witnessing !== undefined || this.stop.signal.aborted) return;
    this.witnessing = this.witnessLoop().finally(() => {
      this.witnessing = undefined;
    });
  }

  /**
   * Runs rounds while there is a newer signed checkpoint than the published one, the quorum is unmet, or a
   * heartbeat is due.
   */
  private async witnessLoop(): Promise<void> {
    const pool = this.pool!;
    while (!this.stop.signal.aborted && this.halted === undefined) {
      const cp = this.signed!;
      const pub = this.published;
      const behind = pub === undefined || pub.size < cp.size;
      const short = pub !== undefined && pub.size === cp.size && pub.cosignatures < this.quorum;
      if (!behind && !short && !this.heartbeatDue) return;
      if (!behind && !this.heartbeatDue) await this.sleep(this.retryMs);
      if (this.stop.signal.aborted) return;
      this.heartbeatDue = false;
      this.step('witness-round-start', cp.size);
      const text = parseCheckpoint(cp.note).text;
      const fresh = await pool.round(cp, text, this.stop.signal);
      // Closing aborts the round: do not publish what an interrupted round collected.
      if (this.stop.signal.aborted) return;
      // The same checkpoint again (a heartbeat, or a retry for the quorum): the signed text is the same, so a
      // witness that did not answer this time keeps its earlier cosignature, and the note never gets worse.
      const same = pub !== undefined && pub.size === cp.size && equalBytes(pub.root, cp.root);
      if (same && fresh.length === 0) continue;
      const sigs = same ? this.mergeCosignatures(pub.note, fresh) : fresh;
      const note = sigs.length === 0 ? cp.note : formatNote(addSignatures(parseNote(cp.note), sigs));
      const published: PublishedCheckpoint = {
        size: cp.size,
        root: cp.root,
        note,
        cosignatures: sigs.length,
      };
      try {
        await this.storage.writeCheckpoints({
          published: { size: cp.size, root: cp.root, note: utf8Encode(note) },
        });
      } catch {
        // Storage unavailable: keep serving the previous published checkpoint and try again next round.
        await this.sleep(this.retryMs);
        continue;
      }
      this.setPublished(published);
      this.step('checkpoint-published', cp.size, note);
    }
  }

  /**
   * For each configured witness, in configuration order, its cosignature from `fresh` or else its verified one
   * from the published `note` of the same checkpoint.
   */
  private mergeCosignatures(note: string, fresh: readonly NoteSignature[]): NoteSignature[] {
    const witnesses = this.pool!.witnesses;
    let earlier: NoteSignature[] = [];
    try {
      const policy: WitnessPolicy = { witnesses: witnesses.map((w) => w.key), quorum: 0 };
      earlier = checkWitnessQuorum(parseNote(note), policy).map((c) => c.signature);
    } catch {
      // A published note whose cosignatures no longer verify (a witness key rotated): keep none of them.
    }
    const by = (sigs: readonly NoteSignature[], w: (typeof witnesses)[number]) =>
      sigs.find((s) => s.name === w.key.name && s.keyId === w.key.keyId);
    return witnesses.flatMap((w) => {
      const s = by(fresh, w) ?? by(earlier, w);
      return s === undefined ? [] : [s];
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const signal = this.stop.signal;
      function done(): void {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
