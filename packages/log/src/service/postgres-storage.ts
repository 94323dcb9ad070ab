/**
 * PostgreSQL driver of {@link LogStorage} (pg 8): for deployments beyond one machine, configured by
 * `DATABASE_URL`.
 *
 * Durability: every session runs with `synchronous_commit = on` (PostgreSQL's default, set explicitly so that
 * a server-wide `off` cannot silently weaken the promise): COMMIT returns only after the WAL record is flushed
 * to disk, so a resolved append is durable.
 *
 * Every write is one transaction. The compare-and-set on the tree size (STORE-1) reads the single
 * `tree_state` row `FOR UPDATE`, so two sequencers on one database serialise there and the second one's batch
 * is refused. Batches are inserted with one `unnest` statement per table, not one statement per entry.
 *
 * All tables live in one schema (option `schema`, default `public`), set as the connection's search_path; tests
 * give each run its own random schema so parallel runs never share rows.
 *
 * A COMMIT whose connection breaks leaves the outcome unknown: the batch may or may not be stored. The method
 * then rejects, and the caller must reread the tree state before writing again (the sequencer does).
 */
import pg from 'pg';
import { LogError } from '../errors.js';
import { pgTransaction } from './pg-transaction.js';
import {
  type AppendBatch,
  type AppendedRange,
  type CheckpointSlot,
  checkAppendBatch,
  checkCheckpointSuccession,
  checkStoredCheckpoint,
  decodeCompactRange,
  encodeCompactRange,
  type LogStorage,
  type StoredCheckpoint,
  type TreeState,
} from './storage.js';

/** Versioned migrations; each runs in one transaction with its `schema_migrations` row. Never edit one. */
const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'log tables',
    sql: `
      CREATE TABLE log_meta (
        id smallint PRIMARY KEY CHECK (id = 0),
        origin text NOT NULL
      );
      CREATE TABLE tree_state (
        id smallint PRIMARY KEY CHECK (id = 0),
        size bigint NOT NULL CHECK (size >= 0),
        compact_range bytea NOT NULL
      );
      INSERT INTO tree_state (id, size, compact_range) VALUES (0, 0, '\\x');
      CREATE TABLE entries (
        idx bigint PRIMARY KEY CHECK (idx >= 0),
        data bytea NOT NULL
      );
      CREATE TABLE tiles (
        level smallint NOT NULL,
        idx bigint NOT NULL,
        hashes bytea NOT NULL,
        PRIMARY KEY (level, idx)
      );
      CREATE TABLE checkpoints (
        slot text PRIMARY KEY CHECK (slot IN ('signed', 'published')),
        size bigint NOT NULL,
        root bytea NOT NULL,
        note bytea NOT NULL
      );
    `,
  },
];

/** The latest schema version this driver knows. */
export const POSTGRES_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Schema names are interpolated into SQL and connection options, so only plain identifiers are allowed. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export interface PostgresStorageOptions {
  /** A libpq connection URI, e.g. the `DATABASE_URL` environment variable. */
  readonly connectionString: string;
  /** The schema holding the log's tables (created if absent); lowercase identifier; default `public`. */
  readonly schema?: string;
  /** Pool size (default 4): one writer plus readers for the tile server. */
  readonly maxConnections?: number;
  /** The `application_name` of the connections, as shown in pg_stat_activity (default `overt-log`). */
  readonly applicationName?: string;
}

function bytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function storageError(what: string, cause: unknown): LogError {
  return new LogError('STORE_FAILED', `postgres: ${what} failed`, { cause });
}

/** The PostgreSQL storage of one log. Open with {@link openPostgresStorage}. */
export class PostgresLogStorage implements LogStorage {
  private constructor(private readonly pool: pg.Pool) {}

  /** Connects and migrates. */
  static async open(options: PostgresStorageOptions): Promise<PostgresLogStorage> {
    const schema = options.schema ?? 'public';
    if (!SCHEMA_NAME.test(schema))
      throw new LogError('STORE_INVALID', 'schema name must be a lowercase identifier', { check: 'STORE-5' });
    const pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.maxConnections ?? 4,
      application_name: options.applicationName ?? 'overt-log',
      options: `-c search_path=${schema} -c synchronous_commit=on`,
    });
    // An idle client's connection error is reported here; the next query on the pool fails and is wrapped as
    // STORE_FAILED, so this listener only keeps the process from crashing on the event.
    pool.on('error', () => {});
    const storage = new PostgresLogStorage(pool);
    try {
      await storage.migrate(schema);
    } catch (e) {
      await pool.end().catch(() => {});
      throw e;
    }
    return storage;
  }

  private tx<T>(what: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return pgTransaction(this.pool, what, fn, {
      isOwn: (e) => e instanceof LogError,
      wrap: storageError,
    });
  }

  private async query<R extends pg.QueryResultRow>(
    what: string,
    sql: string,
    params: unknown[],
  ): Promise<R[]> {
    try {
      return (await this.pool.query<R>(sql, params)).rows;
    } catch (e) {
      throw storageError(what, e);
    }
  }

  private async migrate(schema: string): Promise<void> {
    await this.tx('migration', async (c) => {
      // One migrator at a time per schema, across processes; the lock ends with the transaction.
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`overt-log-migrate:${schema}`]);
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await c.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, ' +
          'applied_at timestamptz NOT NULL DEFAULT now())',
      );
      const { rows } = await c.query<{ version: number }>('SELECT version FROM schema_migrations');
      const applied = new Set(rows.map((r) => r.version));
      for (const m of MIGRATIONS) {
        if (applied.has(m.version)) continue;
        await c.query(m.sql);
        await c.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      }
      if (Math.max(0, ...applied) > POSTGRES_SCHEMA_VERSION)
        throw new LogError('STORE_CORRUPT', 'database schema is newer than this software', {
          check: 'STORE-2',
        });
    });
  }

  async claimOrigin(origin: string): Promise<void> {
    await this.tx('claim origin', async (c) => {
      await c.query('INSERT INTO log_meta (id, origin) VALUES (0, $1) ON CONFLICT (id) DO NOTHING', [origin]);
      const { rows } = await c.query<{ origin: string }>('SELECT origin FROM log_meta WHERE id = 0');
      if (rows[0]?.origin !== origin)
        throw new LogError('STORE_ORIGIN', 'storage belongs to another log origin', { check: 'STORE-4' });
    });
  }

  async readTreeState(): Promise<TreeState> {
    const rows = await this.query<{ size: string; compact_range: Uint8Array }>(
      'read tree state',
      'SELECT size, compact_range FROM tree_state WHERE id = 0',
      [],
    );
    const row = rows[0];
    if (row === undefined)
      throw new LogError('STORE_CORRUPT', 'tree state row missing', { check: 'STORE-2' });
    const size = Number(row.size);
    return { size, compactRange: decodeCompactRange(size, bytes(row.compact_range)) };
  }

  async appendBatch(batch: AppendBatch): Promise<AppendedRange> {
    checkAppendBatch(batch);
    await this.tx('append', async (c) => {
      const { rows } = await c.query<{ size: string }>('SELECT size FROM tree_state WHERE id = 0 FOR UPDATE');
      if (rows[0] === undefined || Number(rows[0].size) !== batch.expectedSize)
        throw new LogError('STORE_CONFLICT', 'batch does not extend the stored tree', { check: 'STORE-1' });
      const idx = batch.entries.map((_, i) => batch.expectedSize + i);
      await c.query('INSERT INTO entries (idx, data) SELECT * FROM unnest($1::bigint[], $2::bytea[])', [
        idx,
        batch.entries,
      ]);
      if (batch.tiles.length > 0)
        await c.query(
          'INSERT INTO tiles (level, idx, hashes) SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[]) ' +
            'ON CONFLICT (level, idx) DO UPDATE SET hashes = EXCLUDED.hashes',
          [
            batch.tiles.map((t) => t.level),
            batch.tiles.map((t) => t.index),
            batch.tiles.map((t) => t.hashes),
          ],
        );
      await c.query('UPDATE tree_state SET size = $1, compact_range = $2 WHERE id = 0', [
        batch.state.size,
        encodeCompactRange(batch.state.compactRange),
      ]);
    });
    return { first: batch.expectedSize, count: batch.entries.length };
  }

  async readEntries(start: number, count: number): Promise<Uint8Array[]> {
    if (count <= 0) return [];
    const rows = await this.query<{ data: Uint8Array }>(
      'read entries',
      'SELECT data FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx',
      [start, start + count],
    );
    return rows.map((r) => bytes(r.data));
  }

  async readTile(level: number, index: number): Promise<Uint8Array | undefined> {
    const rows = await this.query<{ hashes: Uint8Array }>(
      'read tile',
      'SELECT hashes FROM tiles WHERE level = $1 AND idx = $2',
      [level, index],
    );
    return rows[0] === undefined ? undefined : bytes(rows[0].hashes);
  }

  async writeCheckpoints(update: Partial<Record<CheckpointSlot, StoredCheckpoint>>): Promise<void> {
    const slots = (['signed', 'published'] as const).filter((s) => update[s] !== undefined);
    for (const s of slots) checkStoredCheckpoint(update[s]!);
    await this.tx('write checkpoint', async (c) => {
      // FOR SHARE: the tree cannot grow or shrink under the STORE-6 check until this transaction ends.
      const tree = await c.query<{ size: string }>('SELECT size FROM tree_state WHERE id = 0 FOR SHARE');
      const treeSize = Number(tree.rows[0]?.size ?? -1);
      for (const slot of slots) {
        const cp = update[slot]!;
        if (cp.size > treeSize)
          throw new LogError('STORE_CONFLICT', 'checkpoint is larger than the durable tree', {
            check: 'STORE-6',
          });
        const old = await c.query<{ size: string; root: Uint8Array }>(
          'SELECT size, root FROM checkpoints WHERE slot = $1 FOR UPDATE',
          [slot],
        );
        const prev = old.rows[0];
        if (prev !== undefined) checkCheckpointSuccession(Number(prev.size), bytes(prev.root), cp);
        await c.query(
          'INSERT INTO checkpoints (slot, size, root, note) VALUES ($1, $2, $3, $4) ' +
            'ON CONFLICT (slot) DO UPDATE SET size = EXCLUDED.size, root = EXCLUDED.root, note = EXCLUDED.note',
          [slot, cp.size, cp.root, cp.note],
        );
      }
    });
  }

  async readCheckpoint(slot: CheckpointSlot): Promise<StoredCheckpoint | undefined> {
    const rows = await this.query<{ size: string; root: Uint8Array; note: Uint8Array }>(
      'read checkpoint',
      'SELECT size, root, note FROM checkpoints WHERE slot = $1',
      [slot],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    return { size: Number(row.size), root: bytes(row.root), note: bytes(row.note) };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** Connects to PostgreSQL and migrates the log's schema. */
export function openPostgresStorage(options: PostgresStorageOptions): Promise<PostgresLogStorage> {
  return PostgresLogStorage.open(options);
}
