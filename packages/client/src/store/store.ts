/**
 * The device's state store (docs/spec/client.md §3): a small key–value interface over bytes, so the SDK runs
 * on any backend — memory (here), a file (Node; lives with the CLI, not in this browser-safe package), IndexedDB
 * (the web app). Every backend implements the same four-method contract and runs the same contract tests.
 *
 * Contract: keys are printable ASCII strings; `put` replaces atomically (a reader sees the old or the new value,
 * never a mix); `get` of an absent key is `undefined`; `list(prefix)` returns every key starting with `prefix`,
 * sorted by code unit. Values are copied in and out, so a caller cannot alter stored bytes by mutating a buffer.
 * `batch` applies several puts and deletes all or none: after a crash at any point the store holds either every
 * write of the batch or none of them (client.md §3.2; the receive path relies on it, §4.3).
 */
export interface KeyValueStore {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, value: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
  list(prefix: string): Promise<string[]>;
  /** Applies `ops` in order, atomically (all or none, also across a crash). */
  batch(ops: readonly StoreOp[]): Promise<void>;
}

/** One write of a batch: `value` set puts it, `value` undefined deletes the key. */
export interface StoreOp {
  readonly key: string;
  readonly value: Uint8Array | undefined;
}

/** An in-memory store: for tests, and for short-lived sessions whose state may be lost. */
export class MemoryStore implements KeyValueStore {
  private readonly map = new Map<string, Uint8Array>();

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.map.get(key)?.slice();
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    this.map.set(key, value.slice());
  }

  async delete(key: string): Promise<void> {
    this.map.delete(key);
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.map.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  async batch(ops: readonly StoreOp[]): Promise<void> {
    // One synchronous pass: no other operation can see a part of it.
    for (const op of ops) {
      if (op.value === undefined) this.map.delete(op.key);
      else this.map.set(op.key, op.value.slice());
    }
  }
}

/**
 * Writes staged for one atomic batch (client.md §4.3): reads see the staged writes over the store below, writes
 * only collect; `commit()` applies them with one `batch`. Code that writes through a `KeyValueStore` (the history
 * and franking helpers) takes one of these, so everything one mailbox item changes lands together or not at all.
 */
export class StoreTransaction implements KeyValueStore {
  private readonly staged = new Map<string, Uint8Array | undefined>();

  constructor(private readonly below: KeyValueStore) {}

  async get(key: string): Promise<Uint8Array | undefined> {
    if (this.staged.has(key)) return this.staged.get(key)?.slice();
    return this.below.get(key);
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    // Delete then set: the Map keeps insertion order, so ops replay in the order they were last written.
    this.staged.delete(key);
    this.staged.set(key, value.slice());
  }

  async delete(key: string): Promise<void> {
    this.staged.delete(key);
    this.staged.set(key, undefined);
  }

  async list(prefix: string): Promise<string[]> {
    const keys = new Set(await this.below.list(prefix));
    for (const [k, v] of this.staged) {
      if (!k.startsWith(prefix)) continue;
      if (v === undefined) keys.delete(k);
      else keys.add(k);
    }
    return [...keys].sort();
  }

  async batch(ops: readonly StoreOp[]): Promise<void> {
    for (const op of ops) {
      if (op.value === undefined) await this.delete(op.key);
      else await this.put(op.key, op.value);
    }
  }

  /** The staged writes, in order. */
  ops(): StoreOp[] {
    return [...this.staged].map(([key, value]) => ({ key, value }));
  }

  /** Applies every staged write in one atomic batch of the store below. */
  async commit(): Promise<void> {
    if (this.staged.size > 0) await this.below.batch(this.ops());
    this.staged.clear();
  }
}
