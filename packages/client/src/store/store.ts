/**
 * The device's state store (docs/spec/client.md §3): a small key–value interface over bytes, so the SDK runs
 * on any backend — memory (here), a file (Node; lives with the CLI, not in this browser-safe package), IndexedDB
 * (the web app). Every backend implements the same four-method contract and runs the same contract tests.
 *
 * Contract: keys are printable ASCII strings; `put` replaces atomically (a reader sees the old or the new value,
 * never a mix); `get` of an absent key is `undefined`; `list(prefix)` returns every key starting with `prefix`,
 * sorted by code unit. Values are copied in and out, so a caller cannot alter stored bytes by mutating a buffer.
 */
export interface KeyValueStore {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, value: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
  list(prefix: string): Promise<string[]>;
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
}
