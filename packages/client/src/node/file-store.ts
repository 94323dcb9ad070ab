/**
 * The SDK's file-backed KeyValueStore for Node (docs/spec/client.md §3; the CLI keeps its profiles in it,
 * docs/spec/cli.md §3; IndexedDB is the browser's, later): one file per key under a private directory, every value
 * encrypted at rest as a sealed record (store/sealed.ts, client.md §3.1) under the profile key, with the store key
 * as its label, so a record copied or renamed to another key does not open (REST-2).
 *
 *     DIR/s-<base64url(UTF-8 key)>   sealed record of the value, label "overt/profile/v1/store/<key>"
 *
 * `put` writes a temporary file (mode 0600) and renames it over the old one, so a crash or a concurrent reader
 * sees the old or the new value, never a mix. Names stay readable (they carry conversation and message ids, no
 * key or content): `list` works without opening every record.
 *
 * `batch` is a redo journal (client.md §3.2): every write of the batch is sealed into one journal record, written
 * to a temporary file and renamed to `DIR/j-batch` — that rename is the commit point —, then applied record by
 * record (each a `put`/`delete` as above), then the journal is deleted. A crash before the rename leaves no
 * journal (the batch did not happen); after it, `recover()` — run by `open` and by whoever takes the profile lock
 * (cli.md §3.3) — applies the journal again (every step is idempotent) and deletes it.
 *
 *     journal := u32 n ‖ n × (u8 op (1 put, 2 delete) ‖ vec16(UTF-8 key) ‖ [op = 1: vec32(value)])
 *     DIR/j-batch   sealed record of the journal, label "overt/profile/v1/store-batch"
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  fromBase64Url,
  isOvertError,
  Reader,
  randomBytes,
  toBase64Url,
  toHex,
  utf8Decode,
  utf8Encode,
  Writer,
} from '@overt/core';
import { ClientError } from '../errors.js';
import {
  BATCH_JOURNAL_LABEL,
  openRecord,
  PROFILE_KEY_BYTES,
  sealRecord,
  storeRecordLabel,
} from '../store/sealed.js';
import type { KeyValueStore, StoreOp } from '../store/store.js';

/** Files of the unencrypted format written before encryption at rest (one value per `k-<base64url key>`). */
const LEGACY_PREFIX = 'k-';
const SEALED_PREFIX = 's-';
/** The pending batch journal (see the module comment). */
const JOURNAL_FILE = 'j-batch';
const OP_PUT = 1;
const OP_DELETE = 2;

function encodeJournal(ops: readonly StoreOp[]): Uint8Array {
  const w = new Writer().u32(ops.length);
  for (const op of ops) {
    w.u8(op.value === undefined ? OP_DELETE : OP_PUT).vec16(utf8Encode(op.key));
    if (op.value !== undefined) w.vec32(op.value);
  }
  return w.finish();
}

/** Throws SDK_STORE_MALFORMED (CLI-7) for bytes that are not one journal. */
function decodeJournal(bytes: Uint8Array): StoreOp[] {
  try {
    const r = new Reader(bytes);
    const n = r.u32('ops');
    const ops: StoreOp[] = [];
    for (let i = 0; i < n; i++) {
      const kind = r.u8('op');
      if (kind !== OP_PUT && kind !== OP_DELETE)
        throw new ClientError('SDK_STORE_MALFORMED', 'unknown batch journal op', { check: 'CLI-7' });
      const key = utf8Decode(r.vec16('key'));
      ops.push({ key, value: kind === OP_PUT ? r.vec32('value') : undefined });
    }
    r.finish('batch journal');
    return ops;
  } catch (cause) {
    if (cause instanceof ClientError) throw cause;
    if (isOvertError(cause))
      throw new ClientError('SDK_STORE_MALFORMED', 'batch journal does not decode', {
        check: 'CLI-7',
        cause,
      });
    throw cause;
  }
}

export interface FileStoreOptions {
  /** The profile key (32 bytes) every record is sealed under; the caller unwraps it (sealed.ts). */
  readonly key: Uint8Array;
  /**
   * Finish a pending batch at open (default true). False when another process may be writing the store right
   * now: the caller runs `recover()` once it holds the store's lock (store-lock.ts).
   */
  readonly recover?: boolean;
}

function nameOf(file: string, prefix: string): string | undefined {
  if (!file.startsWith(prefix)) return undefined;
  try {
    return utf8Decode(fromBase64Url(file.slice(prefix.length)));
  } catch {
    // A stray file that is not one of ours: not a key.
    return undefined;
  }
}

export class FileStore implements KeyValueStore {
  readonly #key: Uint8Array;

  private constructor(
    private readonly dir: string,
    key: Uint8Array,
  ) {
    this.#key = key.slice();
  }

  /** Opens (creating, mode 0700) the store directory. SDK_USAGE unless `key` is 32 bytes. */
  static async open(dir: string, options: FileStoreOptions): Promise<FileStore> {
    if (!(options?.key instanceof Uint8Array) || options.key.length !== PROFILE_KEY_BYTES)
      throw new ClientError('SDK_USAGE', `a file store needs a ${PROFILE_KEY_BYTES}-byte profile key`);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const store = new FileStore(dir, options.key);
    if (options.recover !== false) await store.recover();
    return store;
  }

  /**
   * Finishes a batch whose journal was committed but not (wholly) applied — a crash, a kill — and deletes the
   * journal. Idempotent. Call it only while no other process writes this store (the profile lock, cli.md §3.3).
   * Throws SDK_STORE_MALFORMED (REST-2, CLI-7) for a journal that does not open or decode.
   */
  async recover(): Promise<void> {
    let sealed: Uint8Array;
    try {
      sealed = new Uint8Array(await readFile(join(this.dir, JOURNAL_FILE)));
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return;
      throw e;
    }
    await this.apply(decodeJournal(openRecord(this.#key, BATCH_JOURNAL_LABEL, sealed)));
    await rm(join(this.dir, JOURNAL_FILE), { force: true });
  }

  async batch(ops: readonly StoreOp[]): Promise<void> {
    if (ops.length === 0) return;
    const tmp = join(this.dir, `t-${toHex(randomBytes(8))}`);
    await writeFile(tmp, sealRecord(this.#key, BATCH_JOURNAL_LABEL, encodeJournal(ops)), {
      mode: 0o600,
      flag: 'wx',
    });
    // The commit point: from here on the batch happens, by this call or by recover() after a crash.
    await rename(tmp, join(this.dir, JOURNAL_FILE));
    await this.apply(ops);
    await rm(join(this.dir, JOURNAL_FILE), { force: true });
  }

  private async apply(ops: readonly StoreOp[]): Promise<void> {
    for (const op of ops) {
      if (op.value === undefined) await this.delete(op.key);
      else await this.put(op.key, op.value);
    }
  }

  private path(key: string): string {
    return join(this.dir, `${SEALED_PREFIX}${toBase64Url(utf8Encode(key))}`);
  }

  /** The value of `key`. Throws SDK_STORE_MALFORMED (REST-2) when its record does not open under its name. */
  async get(key: string): Promise<Uint8Array | undefined> {
    let record: Uint8Array;
    try {
      record = new Uint8Array(await readFile(this.path(key)));
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return undefined;
      throw e;
    }
    return openRecord(this.#key, storeRecordLabel(key), record);
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    const tmp = join(this.dir, `t-${toHex(randomBytes(8))}`);
    await writeFile(tmp, sealRecord(this.#key, storeRecordLabel(key), value), { mode: 0o600, flag: 'wx' });
    await rename(tmp, this.path(key));
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async list(prefix: string): Promise<string[]> {
    // A file's name is the base64url of its key, and base64 encodes each 3 bytes alone: the whole 3-byte groups
    // of the prefix fix the start of every matching name, so the others are passed over without decoding them.
    const bytes = utf8Encode(prefix);
    const head = SEALED_PREFIX + toBase64Url(bytes.subarray(0, bytes.length - (bytes.length % 3)));
    const keys: string[] = [];
    for (const f of await readdir(this.dir)) {
      if (!f.startsWith(head)) continue;
      const key = nameOf(f, SEALED_PREFIX);
      if (key?.startsWith(prefix)) keys.push(key);
    }
    return keys.sort();
  }

  /**
   * Migration from the unencrypted format (client.md §3.1): seals every `k-` file of the directory as the record
   * of the same key, then deletes the plaintext file. Idempotent, so a crash part-way is finished by calling it
   * again. Returns how many files it sealed. Only for a store known to be mid-migration: a `k-` file is not
   * authenticated, so in a store that was already encrypted it must be ignored, never imported.
   */
  async sealPlaintextFiles(): Promise<number> {
    let n = 0;
    for (const f of await readdir(this.dir)) {
      const key = nameOf(f, LEGACY_PREFIX);
      if (key === undefined) continue;
      await this.put(key, new Uint8Array(await readFile(join(this.dir, f))));
      await rm(join(this.dir, f), { force: true });
      n++;
    }
    return n;
  }
}
