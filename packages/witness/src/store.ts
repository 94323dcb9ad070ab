/**
 * The witness's durable state: for each log origin, the latest checkpoint it cosigned (C2SP tlog-witness:
 * "the witness is only required to keep track of the latest checkpoint it observed and verified"), plus an
 * evidence table of validly signed checkpoints it refused, which may prove log misbehaviour.
 *
 * SQLite (better-sqlite3) in WAL mode with `synchronous = FULL`: the spec requires the new checkpoint to be
 * persisted before the cosignature is returned, and a witness that forgot its last cosigned size after a power
 * cut could be talked into cosigning a rollback. The update is a compare-and-swap in one SQL statement, so two
 * requests (in one process or several processes sharing the file) can never both advance from the same state.
 */
import { mkdirSync } from 'node:fs';
import Database from 'better-sqlite3';
import { WitnessError } from './errors.js';

/** A tree head: what the witness compares against. */
export interface TreeHead {
  readonly size: number;
  readonly root: Uint8Array;
}

/** The latest cosigned checkpoint for one origin. */
export interface StoredCheckpoint extends TreeHead {
  /** The signed checkpoint note exactly as the log submitted it (with the log's signatures). */
  readonly note: Uint8Array;
  /** POSIX seconds of the witness's cosignature over it. */
  readonly cosignedAt: number;
}

/** A validly signed checkpoint the witness refused (tlog-witness allows logging these as evidence). */
export interface EvidenceRecord {
  readonly id: number;
  readonly origin: string;
  readonly receivedAt: number;
  /** The check ID that refused it (e.g. `WIT-9`). */
  readonly check: string;
  /** The whole add-checkpoint request body. */
  readonly request: Uint8Array;
}

/**
 * Storage behind a witness. Contract: {@link compareAndSwap} is atomic with respect to every other call on any
 * store opened on the same data, including stores in other processes.
 */
export interface WitnessStore {
  /** The latest cosigned checkpoint for `origin`, or undefined if the witness never cosigned one. */
  latest(origin: string): StoredCheckpoint | undefined;
  /**
   * Replaces the state of `origin` with `next` if and only if it is still `expected` (undefined: never
   * cosigned). Returns false, changing nothing, when another writer got there first.
   */
  compareAndSwap(origin: string, expected: TreeHead | undefined, next: StoredCheckpoint): boolean;
  /** Keeps a refused, validly signed request; at most {@link MAX_EVIDENCE_PER_ORIGIN} per origin are kept. */
  recordEvidence(origin: string, check: string, request: Uint8Array, receivedAt: number): void;
  /** Evidence kept for `origin` (all origins if omitted), oldest first. */
  evidence(origin?: string): EvidenceRecord[];
  close(): void;
}

/** Only the log's key can produce evidence, but a misbehaving log must not be able to fill the disk. */
export const MAX_EVIDENCE_PER_ORIGIN = 1000;

const SCHEMA_VERSION = '1';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS checkpoints (
  origin TEXT PRIMARY KEY,
  size INTEGER NOT NULL CHECK (size >= 0),
  root BLOB NOT NULL CHECK (length(root) = 32),
  note BLOB NOT NULL,
  cosigned_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS evidence (
  id INTEGER PRIMARY KEY,
  origin TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  check_id TEXT NOT NULL,
  request BLOB NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS evidence_origin ON evidence (origin, id);
`;

interface CheckpointRow {
  size: number;
  root: Uint8Array;
  note: Uint8Array;
  cosigned_at: number;
}

interface EvidenceRow {
  id: number;
  origin: string;
  received_at: number;
  check_id: string;
  request: Uint8Array;
}

/** better-sqlite3 hands BLOBs back as Buffers; the rest of Overt deals in plain Uint8Arrays only. */
function plain(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** The SQLite implementation of {@link WitnessStore}. `path` is a file, or `:memory:` for a throwaway store. */
export class SqliteWitnessStore implements WitnessStore {
  readonly #db: Database.Database;
  readonly #latest: Database.Statement<[string], CheckpointRow>;
  readonly #insert: Database.Statement<[string, number, Uint8Array, Uint8Array, number]>;
  readonly #update: Database.Statement<[number, Uint8Array, Uint8Array, number, string, number, Uint8Array]>;
  readonly #countEvidence: Database.Statement<[string], { n: number }>;
  readonly #addEvidence: Database.Statement<[string, number, string, Uint8Array]>;
  readonly #evidenceFor: Database.Statement<[string], EvidenceRow>;
  readonly #evidenceAll: Database.Statement<[], EvidenceRow>;

  /** @throws WitnessError WITNESS_CONFIG if the database cannot be opened or has an unknown schema version. */
  constructor(path: string) {
    try {
      this.#db = new Database(path);
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = FULL');
      this.#db.pragma('busy_timeout = 5000');
      this.#db.exec(SCHEMA);
      this.#db
        .prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING')
        .run('schema_version', SCHEMA_VERSION);
      const version = this.#db
        .prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?')
        .get('schema_version');
      if (version?.value !== SCHEMA_VERSION)
        throw new WitnessError('WITNESS_CONFIG', 'witness database has an unsupported schema version');
    } catch (e) {
      if (e instanceof WitnessError) throw e;
      throw new WitnessError('WITNESS_CONFIG', 'cannot open the witness database', { cause: e });
    }
    this.#latest = this.#db.prepare('SELECT size, root, note, cosigned_at FROM checkpoints WHERE origin = ?');
    this.#insert = this.#db.prepare(
      `INSERT INTO checkpoints (origin, size, root, note, cosigned_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (origin) DO NOTHING`,
    );
    this.#update = this.#db.prepare(
      `UPDATE checkpoints SET size = ?, root = ?, note = ?, cosigned_at = ?
       WHERE origin = ? AND size = ? AND root = ?`,
    );
    this.#countEvidence = this.#db.prepare('SELECT count(*) AS n FROM evidence WHERE origin = ?');
    this.#addEvidence = this.#db.prepare(
      'INSERT INTO evidence (origin, received_at, check_id, request) VALUES (?, ?, ?, ?)',
    );
    this.#evidenceFor = this.#db.prepare(
      'SELECT id, origin, received_at, check_id, request FROM evidence WHERE origin = ? ORDER BY id',
    );
    this.#evidenceAll = this.#db.prepare(
      'SELECT id, origin, received_at, check_id, request FROM evidence ORDER BY id',
    );
  }

  /** Opens (creating if needed) `witness.db` inside `dataDir`. */
  static openDir(dataDir: string): SqliteWitnessStore {
    try {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new WitnessError('WITNESS_CONFIG', 'cannot create the witness data directory', { cause: e });
    }
    return new SqliteWitnessStore(`${dataDir}/witness.db`);
  }

  latest(origin: string): StoredCheckpoint | undefined {
    const row = this.#latest.get(origin);
    if (row === undefined) return undefined;
    return { size: row.size, root: plain(row.root), note: plain(row.note), cosignedAt: row.cosigned_at };
  }

  compareAndSwap(origin: string, expected: TreeHead | undefined, next: StoredCheckpoint): boolean {
    // One statement each way: SQLite executes it under its write lock, so the comparison and the write are a
    // single atomic step (tlog-witness, "add-checkpoint": the race that would roll back K leaves).
    const info =
      expected === undefined
        ? this.#insert.run(origin, next.size, next.root, next.note, next.cosignedAt)
        : this.#update.run(
            next.size,
            next.root,
            next.note,
            next.cosignedAt,
            origin,
            expected.size,
            expected.root,
          );
    return info.changes === 1;
  }

  recordEvidence(origin: string, check: string, request: Uint8Array, receivedAt: number): void {
    this.#db
      .transaction(() => {
        if ((this.#countEvidence.get(origin)?.n ?? 0) >= MAX_EVIDENCE_PER_ORIGIN) return;
        this.#addEvidence.run(origin, receivedAt, check, request);
      })
      .immediate();
  }

  evidence(origin?: string): EvidenceRecord[] {
    const rows = origin === undefined ? this.#evidenceAll.all() : this.#evidenceFor.all(origin);
    return rows.map((r) => ({
      id: r.id,
      origin: r.origin,
      receivedAt: r.received_at,
      check: r.check_id,
      request: plain(r.request),
    }));
  }

  close(): void {
    this.#db.close();
  }
}
