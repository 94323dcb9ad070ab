/**
 * PostgreSQL driver of {@link RelayStorage} (pg 8): for relays beyond one machine, configured by `DATABASE_URL`
 * (docs/spec/relay.md §5).
 *
 * Sessions run with `synchronous_commit = on`, so COMMIT returns only once the WAL is flushed. Concurrency is
 * settled by row locks and constraints, never by the application: a commit locks its group row `FOR UPDATE`
 * (DS-3/DS-4: one commit per (group, epoch), also enforced by the primary key of `commits`); a key-package claim
 * takes one row `FOR UPDATE SKIP LOCKED` (DS-6: two claimers never get the same package); a fan-out locks the
 * recipients' device rows in device-id order before taking their next mailbox seq, so two fan-outs cannot
 * deadlock and each device's items commit in seq order (a reader never sees seq n+1 before seq n).
 *
 * All tables live in one schema (option `schema`, default `public`); tests give each run its own random schema.
 */
import { pgTransaction } from '@overt/log/service';
import pg from 'pg';
import { RelayError } from '../errors.js';
import {
  ACCESS_MIGRATION_NAME,
  type AccessStorage,
  ORDER_MIGRATION_NAME,
  SHRED_MIGRATION_NAME,
  UNSEAL_MIGRATION_NAME,
} from './access.js';
import {
  POSTGRES_ACCESS_MIGRATION,
  POSTGRES_ORDER_MIGRATION,
  POSTGRES_SHRED_MIGRATION,
  POSTGRES_UNSEAL_MIGRATION,
  PostgresAccessStorage,
} from './access-postgres.js';
import {
  ABUSE_REPORT_COLUMNS,
  type AbuseReportRow,
  abuseReportRowValues,
  capsuleColumn,
  ENVELOPE_COLUMNS,
  envelopeRowValues,
  MAILBOX_COLUMNS,
  type MailboxRow,
  mailboxItemFrom,
  REPORT_SUMMARY_COLUMNS,
  reportSummaryFrom,
} from './rows.js';
import { planCommit, planMessage, resubmittedEnvelope, sameBytes } from './rules.js';
import {
  type AbuseReportRecord,
  type AbuseReportSummary,
  type BlobRecord,
  blobCharge,
  blobChunkCount,
  blobChunkLength,
  type CatchUpPage,
  type ClaimedKeyPackage,
  type CommitOutcome,
  type CommitSubmission,
  type Delivery,
  type DeviceRecord,
  type DeviceStatus,
  type EnvelopedMessage,
  type EnvelopedOutcome,
  type EnvelopeRecord,
  type EpochKeyRecord,
  type GroupMessage,
  type GroupRecord,
  MAX_KEY_PACKAGES_PER_DEVICE,
  type MailboxItem,
  type MailboxKind,
  MIN_BLOB_CHUNK,
  type NewAbuseReport,
  type NewBlob,
  type NewDevice,
  type PolicyRecord,
  plainBytes,
  type RelayStorage,
  type StoredCommit,
  type StoredKeyPackage,
  sortedUnique,
  type UserRecord,
} from './storage.js';

/** Versioned migrations; each runs in one transaction with its `schema_migrations` row. Never edit one. */
const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'relay tables',
    sql: `
      CREATE TABLE org_admin (
        id smallint PRIMARY KEY CHECK (id = 0),
        public_key bytea NOT NULL,
        created_at bigint NOT NULL
      );
      CREATE TABLE users (
        user_id text PRIMARY KEY,
        created_at bigint NOT NULL
      );
      CREATE TABLE devices (
        device_id text PRIMARY KEY,
        user_id text NOT NULL REFERENCES users (user_id),
        identity_key bytea NOT NULL UNIQUE,
        status text NOT NULL CHECK (status IN ('pending', 'active', 'removed')),
        enrol_log_index bigint,
        removal_log_index bigint,
        created_at bigint NOT NULL,
        removed_at bigint,
        mailbox_seq bigint NOT NULL DEFAULT 0
      );
      CREATE INDEX devices_by_user ON devices (user_id);
      CREATE TABLE auth_nonces (
        signer text NOT NULL,
        nonce bytea NOT NULL,
        expires_at bigint NOT NULL,
        PRIMARY KEY (signer, nonce)
      );
      CREATE INDEX auth_nonces_by_expiry ON auth_nonces (expires_at);
      CREATE TABLE key_packages (
        id bigserial PRIMARY KEY,
        device_id text NOT NULL REFERENCES devices (device_id),
        ref bytea NOT NULL UNIQUE,
        data bytea NOT NULL,
        published_at bigint NOT NULL,
        claimed_at bigint
      );
      CREATE INDEX key_packages_unclaimed ON key_packages (device_id, id) WHERE claimed_at IS NULL;
      CREATE TABLE groups (
        group_id bytea PRIMARY KEY,
        epoch bigint NOT NULL CHECK (epoch >= 0),
        created_at bigint NOT NULL
      );
      CREATE TABLE group_members (
        group_id bytea NOT NULL REFERENCES groups (group_id),
        device_id text NOT NULL REFERENCES devices (device_id),
        PRIMARY KEY (group_id, device_id)
      );
      CREATE TABLE commits (
        group_id bytea NOT NULL REFERENCES groups (group_id),
        epoch bigint NOT NULL CHECK (epoch >= 0),
        sender_device_id text NOT NULL,
        data bytea NOT NULL,
        accepted_at bigint NOT NULL,
        PRIMARY KEY (group_id, epoch)
      );
      CREATE TABLE mailbox (
        device_id text NOT NULL REFERENCES devices (device_id),
        seq bigint NOT NULL CHECK (seq > 0),
        kind text NOT NULL CHECK (kind IN ('commit', 'welcome', 'message')),
        group_id bytea NOT NULL,
        epoch bigint NOT NULL,
        sender_device_id text NOT NULL,
        data bytea NOT NULL,
        received_at bigint NOT NULL,
        PRIMARY KEY (device_id, seq)
      );
      CREATE TABLE blobs (
        blob_id text PRIMARY KEY,
        owner_device_id text NOT NULL,
        size bigint NOT NULL CHECK (size > 0),
        chunk_size integer NOT NULL CHECK (chunk_size > 0),
        sha256 bytea NOT NULL,
        complete boolean NOT NULL DEFAULT false,
        created_at bigint NOT NULL
      );
      CREATE TABLE blob_chunks (
        blob_id text NOT NULL REFERENCES blobs (blob_id) ON DELETE CASCADE,
        idx integer NOT NULL CHECK (idx >= 0),
        data bytea NOT NULL,
        PRIMARY KEY (blob_id, idx)
      );
      CREATE TABLE envelopes (
        message_id bytea PRIMARY KEY,
        org_id text NOT NULL,
        epoch bigint NOT NULL,
        conversation_id bytea NOT NULL,
        sender_user_id text NOT NULL,
        sender_device_id text NOT NULL,
        send_time bigint NOT NULL,
        header bytea NOT NULL,
        capsule bytea NOT NULL,
        ciphertext bytea,
        blob_id text UNIQUE REFERENCES blobs (blob_id),
        received_at bigint NOT NULL,
        CHECK ((ciphertext IS NULL) <> (blob_id IS NULL))
      );
      CREATE INDEX envelopes_by_epoch ON envelopes (org_id, epoch);
      CREATE TABLE epoch_keys (
        epoch bigint PRIMARY KEY CHECK (epoch >= 0),
        threshold integer NOT NULL,
        group_key bytea NOT NULL,
        verification_keys bytea NOT NULL,
        transcript_hash bytea NOT NULL,
        statement bytea NOT NULL,
        log_index bigint NOT NULL,
        published_at bigint NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'mailbox envelope link',
    // The envelope a message was sent with on the WebSocket path, pushed with its mailbox item (§6.8).
    sql: 'ALTER TABLE mailbox ADD COLUMN envelope_id bytea',
  },
  {
    version: 3,
    name: 'abuse reports',
    // Verified franking reports (relay.md §10). No reference to envelopes: a report outlives retention.
    sql: `
      CREATE TABLE abuse_reports (
        report_id bigserial PRIMARY KEY,
        message_id bytea NOT NULL,
        reporter_user_id text NOT NULL,
        reporter_device_id text NOT NULL,
        sender_user_id text NOT NULL,
        sender_device_id text NOT NULL,
        conversation_id bytea NOT NULL,
        send_time bigint NOT NULL,
        stamp_time bigint NOT NULL,
        reason text,
        report bytea NOT NULL,
        received_at bigint NOT NULL,
        UNIQUE (message_id, reporter_user_id)
      );
    `,
  },
  {
    version: 4,
    name: 'policies',
    // The org's signed policies as logged (relay.md §4.3): the one with the highest serial is in force.
    sql: `
      CREATE TABLE policies (
        serial bigint PRIMARY KEY CHECK (serial >= 0),
        policy bytea NOT NULL,
        log_index bigint NOT NULL,
        published_at bigint NOT NULL
      );
    `,
  },
  {
    version: 5,
    name: 'blobs by owner',
    // The per-device blob quota (STORE-R-9) sums a device's blobs at every creation.
    sql: 'CREATE INDEX blobs_by_owner ON blobs (owner_device_id)',
  },
  {
    version: 6,
    name: 'last-resort key packages, linked envelopes',
    // linked_envelope_id: the envelope an HTTP-posted message names (relay.md §6.9, CU-1), served by catch-up
    // reads only (the push and GET /v1/mailbox serve envelope_id, the socket path's, as before).
    // RFC 9420 §16.8 (relay.md DS-12): 0 one-time, 1 the device's current last-resort package (handed out
    // without being used up), 2 a replaced last-resort package kept for DS-8 (never handed out again).
    sql: `
      ALTER TABLE key_packages ADD COLUMN last_resort smallint NOT NULL DEFAULT 0 CHECK (last_resort IN (0, 1, 2));
      CREATE UNIQUE INDEX key_packages_last_resort ON key_packages (device_id) WHERE last_resort = 1;
      ALTER TABLE mailbox ADD COLUMN linked_envelope_id bytea;
    `,
  },
  {
    version: 7,
    name: ACCESS_MIGRATION_NAME,
    // The accountable-access workflow (access.md §4, relay.md §5): trustee mailbox, requests, sealed parts,
    // logged access entries, executions and their selection, releases with bundles; envelopes by send time.
    sql: POSTGRES_ACCESS_MIGRATION,
  },
  {
    version: 8,
    name: UNSEAL_MIGRATION_NAME,
    // After release (after-release.md §1, §2): the relay's unseal parts, unseals, extension proposals.
    sql: POSTGRES_UNSEAL_MIGRATION,
  },
  {
    version: 9,
    name: SHRED_MIGRATION_NAME,
    // Crypto-shredding (after-release.md §6): the logged shred statements, one per (epoch, trustee).
    sql: POSTGRES_SHRED_MIGRATION,
  },
  {
    version: 10,
    name: 'epoch key history',
    // Every epoch-key statement the relay logged (relay.md §4.1, STORE-R-2): the epoch's first key and each
    // resharing (same group key, a newer policy). epoch_keys keeps the one in force, which reads serve.
    // mail_seq: the last trustee-mail seq when it was logged; mail up to the previous statement's is pruned
    // when a statement is logged (access.md §7.1, MAIL-1).
    sql: `
      CREATE TABLE epoch_key_history (
        epoch bigint NOT NULL CHECK (epoch >= 0),
        log_index bigint NOT NULL,
        threshold integer NOT NULL,
        group_key bytea NOT NULL,
        verification_keys bytea NOT NULL,
        transcript_hash bytea NOT NULL,
        statement bytea NOT NULL,
        published_at bigint NOT NULL,
        mail_seq bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (epoch, log_index)
      );
      INSERT INTO epoch_key_history (epoch, log_index, threshold, group_key, verification_keys, transcript_hash,
        statement, published_at)
        SELECT epoch, log_index, threshold, group_key, verification_keys, transcript_hash, statement, published_at
        FROM epoch_keys;
    `,
  },
  // 11..14 are reserved for standing orders (after-release.md §8); the runner allows gaps.
  { version: 11, name: ORDER_MIGRATION_NAME, sql: POSTGRES_ORDER_MIGRATION },
];

export const POSTGRES_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Schema names are interpolated into SQL and connection options: plain lowercase identifiers only. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const NONCE_PRUNE_EVERY = 256;

export interface PostgresRelayStorageOptions {
  /** A libpq connection URI, e.g. `DATABASE_URL`. */
  readonly connectionString: string;
  /** Schema holding the relay's tables (created if absent); default `public`. */
  readonly schema?: string;
  /** Pool size (default 8). */
  readonly maxConnections?: number;
}

function failed(what: string, cause: unknown): RelayError {
  return new RelayError('STORE_R_FAILED', `postgres: ${what} failed`, { cause });
}

function corrupt(what: string): RelayError {
  return new RelayError('STORE_R_CORRUPT', `postgres: ${what}`, { check: 'STORE-R-3' });
}

/** A report summary row: bigint columns as strings. */
type PgReportRow = AbuseReportRow<string>;

/** bigint columns arrive as decimal strings; every value this driver writes is a safe integer. */
function num(v: string | number | null): number {
  const n = Number(v);
  if (v === null || !Number.isSafeInteger(n)) throw corrupt('integer column out of range');
  return n;
}

function numOrNull(v: string | number | null): number | null {
  return v === null ? null : num(v);
}

interface DeviceRow {
  device_id: string;
  user_id: string;
  identity_key: Uint8Array;
  status: string;
  enrol_log_index: string | null;
  removal_log_index: string | null;
  created_at: string;
  removed_at: string | null;
}

const STATUSES: readonly DeviceStatus[] = ['pending', 'active', 'removed'];

function deviceFrom(r: DeviceRow): DeviceRecord {
  const status = STATUSES.find((s) => s === r.status);
  if (status === undefined) throw corrupt('device status');
  return {
    deviceId: r.device_id,
    userId: r.user_id,
    identityKey: plainBytes(r.identity_key),
    status,
    enrolLogIndex: numOrNull(r.enrol_log_index),
    removalLogIndex: numOrNull(r.removal_log_index),
    createdAt: num(r.created_at),
    removedAt: numOrNull(r.removed_at),
  };
}

interface EnvelopeRow {
  message_id: Uint8Array;
  org_id: string;
  epoch: string;
  conversation_id: Uint8Array;
  sender_user_id: string;
  sender_device_id: string;
  send_time: string;
  header: Uint8Array;
  capsule: Uint8Array;
  ciphertext: Uint8Array | null;
  blob_id: string | null;
  received_at: string;
}

/** A mailbox row joined with its linked envelope's columns (all null when there is none). */
type DeliveryRow = MailboxRow<string> & { [K in keyof EnvelopeRow]: EnvelopeRow[K] | null };

function hexKey(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

function envelopeFrom(r: EnvelopeRow): EnvelopeRecord {
  return {
    messageId: plainBytes(r.message_id),
    orgId: r.org_id,
    epoch: num(r.epoch),
    conversationId: plainBytes(r.conversation_id),
    senderUserId: r.sender_user_id,
    senderDeviceId: r.sender_device_id,
    sendTime: num(r.send_time),
    header: plainBytes(r.header),
    ...capsuleColumn(r.capsule, 'postgres'),
    ciphertext: r.ciphertext === null ? null : plainBytes(r.ciphertext),
    blobId: r.blob_id,
    receivedAt: num(r.received_at),
  };
}

interface PolicyRow {
  serial: string;
  policy: Uint8Array;
  log_index: string;
  published_at: string;
}

interface EpochKeyRow {
  epoch: string;
  threshold: number;
  group_key: Uint8Array;
  verification_keys: Uint8Array;
  transcript_hash: Uint8Array;
  statement: Uint8Array;
  log_index: string;
  published_at: string;
}

function concatKeys(keys: readonly Uint8Array[]): Uint8Array {
  const vk = new Uint8Array(keys.length * 32);
  for (const [i, key] of keys.entries()) vk.set(key, i * 32);
  return vk;
}

/**
 * Records a logged statement and prunes the trustee mailbox (MAIL-1): every message stored before the previous
 * statement was logged belongs to a finished session, since a session starts only after the proposer saw the
 * previous statement on the log and this one is logged only after every trustee it needs finished it. The caller
 * holds the epoch_keys lock, so statements are recorded one at a time.
 */
async function insertEpochKeyHistory(c: pg.PoolClient, k: EpochKeyRecord): Promise<void> {
  await c.query(
    'DELETE FROM trustee_mail WHERE seq <= (SELECT coalesce(max(mail_seq), 0) FROM epoch_key_history)',
  );
  await c.query(
    'INSERT INTO epoch_key_history (epoch, log_index, threshold, group_key, verification_keys, transcript_hash, ' +
      'statement, published_at, mail_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, ' +
      '(SELECT coalesce(max(seq), 0) FROM trustee_mail))',
    [
      k.epoch,
      k.logIndex,
      k.threshold,
      k.groupKey,
      concatKeys(k.verificationKeys),
      k.transcriptHash,
      k.statement,
      k.publishedAt,
    ],
  );
}

function epochKeyFrom(r: EpochKeyRow): EpochKeyRecord {
  const vk = plainBytes(r.verification_keys);
  if (vk.length % 32 !== 0) throw corrupt('verification keys length');
  const verificationKeys: Uint8Array[] = [];
  for (let i = 0; i < vk.length; i += 32) verificationKeys.push(vk.slice(i, i + 32));
  return {
    epoch: num(r.epoch),
    threshold: r.threshold,
    groupKey: plainBytes(r.group_key),
    verificationKeys,
    transcriptHash: plainBytes(r.transcript_hash),
    statement: plainBytes(r.statement),
    logIndex: num(r.log_index),
    publishedAt: num(r.published_at),
  };
}

type Q = pg.PoolClient | pg.Pool;

async function rows<R extends pg.QueryResultRow>(c: Q, sql: string, params: unknown[] = []): Promise<R[]> {
  return (await c.query<R>(sql, params)).rows;
}

/** The PostgreSQL storage of one relay. Open with {@link PostgresRelayStorage.open}. */
export class PostgresRelayStorage implements RelayStorage {
  private noncesSincePrune = 0;
  private closed = false;

  /** The accountable-access tables (access.md §4), in this schema. */
  readonly access: AccessStorage;

  private constructor(private readonly pool: pg.Pool) {
    this.access = new PostgresAccessStorage(
      (what, fn) => this.tx(what, fn),
      (what, fn) => this.read(what, fn),
    );
  }

  /** Connects and migrates. */
  static async open(options: PostgresRelayStorageOptions): Promise<PostgresRelayStorage> {
    const schema = options.schema ?? 'public';
    if (!SCHEMA_NAME.test(schema))
      throw new RelayError('STORE_R_INVALID', 'schema name must be a lowercase identifier', {
        check: 'STORE-R-3',
      });
    const pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.maxConnections ?? 8,
      options: `-c search_path=${schema} -c synchronous_commit=on`,
    });
    // An idle client's connection error surfaces here; the next query fails and becomes STORE_R_FAILED.
    pool.on('error', () => {});
    const storage = new PostgresRelayStorage(pool);
    try {
      await storage.migrate(schema);
    } catch (e) {
      await pool.end().catch(() => {});
      throw e;
    }
    return storage;
  }

  private tx<T>(what: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return pgTransaction(this.pool, what, fn, { isOwn: (e) => e instanceof RelayError, wrap: failed });
  }

  private async read<T>(what: string, fn: (c: Q) => Promise<T>): Promise<T> {
    try {
      return await fn(this.pool);
    } catch (e) {
      if (e instanceof RelayError) throw e;
      throw failed(what, e);
    }
  }

  private async migrate(schema: string): Promise<void> {
    await this.tx('migration', async (c) => {
      // One migrator per schema at a time, across processes; the lock ends with the transaction.
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`overt-relay-migrate:${schema}`]);
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await c.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, ' +
          'applied_at timestamptz NOT NULL DEFAULT now())',
      );
      const applied = new Set(
        (await rows<{ version: number }>(c, 'SELECT version FROM schema_migrations')).map((r) => r.version),
      );
      if (Math.max(0, ...applied) > POSTGRES_SCHEMA_VERSION)
        throw new RelayError('STORE_R_CORRUPT', 'database schema is newer than this software', {
          check: 'STORE-R-3',
        });
      for (const m of MIGRATIONS) {
        if (applied.has(m.version)) continue;
        await c.query(m.sql);
        await c.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      }
    });
  }

  async claimOrgAdmin(publicKey: Uint8Array, now: number): Promise<void> {
    await this.tx('claim admin', async (c) => {
      await c.query(
        'INSERT INTO org_admin (id, public_key, created_at) VALUES (0, $1, $2) ON CONFLICT (id) DO NOTHING',
        [publicKey, now],
      );
      const r = await rows<{ public_key: Uint8Array }>(c, 'SELECT public_key FROM org_admin WHERE id = 0');
      if (r[0] === undefined || !sameBytes(plainBytes(r[0].public_key), publicKey))
        throw new RelayError('DIR_ADMIN_MISMATCH', 'the database belongs to another org-admin key', {
          check: 'STORE-R-1',
        });
    });
  }

  async getOrgAdmin(): Promise<Uint8Array | undefined> {
    return this.read('read admin', async (c) => {
      const r = await rows<{ public_key: Uint8Array }>(c, 'SELECT public_key FROM org_admin WHERE id = 0');
      return r[0] === undefined ? undefined : plainBytes(r[0].public_key);
    });
  }

  async useNonce(signer: string, nonce: Uint8Array, expiresAt: number, now: number): Promise<boolean> {
    const prune = ++this.noncesSincePrune >= NONCE_PRUNE_EVERY;
    if (prune) this.noncesSincePrune = 0;
    return this.tx('use nonce', async (c) => {
      if (prune) await c.query('DELETE FROM auth_nonces WHERE expires_at < $1', [now]);
      // An expired row is replaced; a live one makes the upsert's WHERE false, so no row is returned. The
      // primary key serialises concurrent inserts of one pair: exactly one of them returns a row.
      const r = await rows(
        c,
        'INSERT INTO auth_nonces (signer, nonce, expires_at) VALUES ($1, $2, $3) ' +
          'ON CONFLICT (signer, nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at ' +
          'WHERE auth_nonces.expires_at < $4 RETURNING 1',
        [signer, nonce, expiresAt, now],
      );
      return r.length === 1;
    });
  }

  async createUser(userId: string, now: number): Promise<UserRecord> {
    return this.tx('create user', async (c) => {
      const r = await c.query(
        'INSERT INTO users (user_id, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING',
        [userId, now],
      );
      if (r.rowCount !== 1)
        throw new RelayError('DIR_USER_EXISTS', 'the user id is taken', { check: 'STORE-R-4' });
      return { userId, createdAt: now };
    });
  }

  async getUser(userId: string): Promise<UserRecord | undefined> {
    return this.read('read user', async (c) => {
      const r = await rows<{ created_at: string }>(c, 'SELECT created_at FROM users WHERE user_id = $1', [
        userId,
      ]);
      return r[0] === undefined ? undefined : { userId, createdAt: num(r[0].created_at) };
    });
  }

  private async deviceRow(c: Q, deviceId: string, lock = false): Promise<DeviceRow | undefined> {
    const r = await rows<DeviceRow>(
      c,
      `SELECT * FROM devices WHERE device_id = $1${lock ? ' FOR UPDATE' : ''}`,
      [deviceId],
    );
    return r[0];
  }

  async beginEnrolment(d: NewDevice): Promise<'new' | 'resumed'> {
    return this.tx('begin enrolment', async (c) => {
      // FOR SHARE: the user cannot vanish under the insert; concurrent enrolments of one id meet at the PK.
      if ((await rows(c, 'SELECT 1 FROM users WHERE user_id = $1 FOR SHARE', [d.userId])).length === 0)
        throw new RelayError('DIR_USER_UNKNOWN', 'no such user', { check: 'STORE-R-4' });
      const existing = await this.deviceRow(c, d.deviceId, true);
      if (existing !== undefined) {
        if (
          existing.status === 'pending' &&
          existing.user_id === d.userId &&
          sameBytes(plainBytes(existing.identity_key), d.identityKey)
        )
          return 'resumed';
        throw new RelayError('DIR_DEVICE_EXISTS', 'the device id is taken', { check: 'STORE-R-4' });
      }
      const r = await c.query(
        "INSERT INTO devices (device_id, user_id, identity_key, status, created_at) VALUES ($1, $2, $3, 'pending', $4) " +
          'ON CONFLICT DO NOTHING',
        [d.deviceId, d.userId, d.identityKey, d.now],
      );
      if (r.rowCount !== 1) {
        const taken = await this.deviceRow(c, d.deviceId);
        if (taken !== undefined)
          throw new RelayError('DIR_DEVICE_EXISTS', 'the device id is taken', { check: 'STORE-R-4' });
        throw new RelayError('DIR_KEY_IN_USE', 'the identity key belongs to another device', {
          check: 'STORE-R-4',
        });
      }
      return 'new';
    });
  }

  async completeEnrolment(deviceId: string, logIndex: number): Promise<DeviceRecord> {
    return this.tx('complete enrolment', async (c) => {
      const r = await rows<DeviceRow>(
        c,
        "UPDATE devices SET status = 'active', enrol_log_index = $1 WHERE device_id = $2 AND status = 'pending' RETURNING *",
        [logIndex, deviceId],
      );
      if (r[0] === undefined) throw new RelayError('DIR_DEVICE_UNKNOWN', 'no pending device with this id');
      return deviceFrom(r[0]);
    });
  }

  async abandonEnrolment(deviceId: string): Promise<void> {
    await this.tx('abandon enrolment', async (c) => {
      await c.query("DELETE FROM devices WHERE device_id = $1 AND status = 'pending'", [deviceId]);
    });
  }

  async beginRemoval(deviceId: string, now: number): Promise<DeviceRecord> {
    return this.tx('begin removal', async (c) => {
      const row = await this.deviceRow(c, deviceId, true);
      if (row === undefined || row.status === 'pending')
        throw new RelayError('DIR_DEVICE_UNKNOWN', 'no such device', { check: 'STORE-R-4' });
      if (row.status === 'removed' && row.removal_log_index !== null)
        throw new RelayError('DIR_DEVICE_REMOVED', 'the device is already removed', { check: 'STORE-R-4' });
      if (row.status === 'active')
        await c.query("UPDATE devices SET status = 'removed', removed_at = $1 WHERE device_id = $2", [
          now,
          deviceId,
        ]);
      await c.query('DELETE FROM key_packages WHERE device_id = $1 AND claimed_at IS NULL', [deviceId]);
      await c.query('UPDATE key_packages SET last_resort = 2 WHERE device_id = $1 AND last_resort = 1', [
        deviceId,
      ]);
      await c.query('DELETE FROM mailbox WHERE device_id = $1', [deviceId]);
      return deviceFrom((await this.deviceRow(c, deviceId))!);
    });
  }

  async completeRemoval(deviceId: string, logIndex: number): Promise<DeviceRecord> {
    return this.tx('complete removal', async (c) => {
      const r = await rows<DeviceRow>(
        c,
        'UPDATE devices SET removal_log_index = $1 WHERE device_id = $2 AND status = $3 AND removal_log_index IS NULL ' +
          'RETURNING *',
        [logIndex, deviceId, 'removed'],
      );
      if (r[0] === undefined)
        throw new RelayError('DIR_DEVICE_UNKNOWN', 'no removal in progress for this device');
      return deviceFrom(r[0]);
    });
  }

  async getDevice(deviceId: string): Promise<DeviceRecord | undefined> {
    return this.read('read device', async (c) => {
      const r = await this.deviceRow(c, deviceId);
      return r === undefined ? undefined : deviceFrom(r);
    });
  }

  async listUserDevices(userId: string): Promise<DeviceRecord[]> {
    return this.read('list devices', async (c) =>
      (
        await rows<DeviceRow>(c, 'SELECT * FROM devices WHERE user_id = $1 ORDER BY device_id COLLATE "C"', [
          userId,
        ])
      ).map(deviceFrom),
    );
  }

  private async unclaimedCount(c: Q, deviceId: string): Promise<number> {
    const r = await rows<{ n: string }>(
      c,
      'SELECT count(*) AS n FROM key_packages WHERE device_id = $1 AND claimed_at IS NULL AND last_resort = 0',
      [deviceId],
    );
    return num(r[0]!.n);
  }

  async addKeyPackages(
    deviceId: string,
    packages: readonly StoredKeyPackage[],
    now: number,
    lastResort?: StoredKeyPackage,
  ): Promise<number> {
    return this.tx('add key packages', async (c) => {
      // Locking the device row serialises concurrent uploads of one device, so the limit holds.
      if ((await this.deviceRow(c, deviceId, true))?.status !== 'active')
        throw new RelayError('DIR_DEVICE_UNKNOWN', 'no active device with this id');
      if ((await this.unclaimedCount(c, deviceId)) + packages.length > MAX_KEY_PACKAGES_PER_DEVICE)
        throw new RelayError('DS_KEY_PACKAGE_LIMIT', 'too many unclaimed key packages', { check: 'DS-6' });
      const published = () =>
        new RelayError('DS_KEY_PACKAGE_OWNER', 'this key package was already published', { check: 'DS-6' });
      if (packages.length > 0) {
        const r = await c.query(
          'INSERT INTO key_packages (device_id, ref, data, published_at) ' +
            'SELECT $1::text, r, d, $4::bigint FROM unnest($2::bytea[], $3::bytea[]) AS t (r, d) ON CONFLICT DO NOTHING',
          [deviceId, packages.map((p) => p.ref), packages.map((p) => p.data), now],
        );
        if (r.rowCount !== packages.length) throw published();
      }
      if (lastResort !== undefined) {
        const current = await rows<{ ref: Uint8Array }>(
          c,
          'SELECT ref FROM key_packages WHERE device_id = $1 AND last_resort = 1',
          [deviceId],
        );
        if (current[0] === undefined || !sameBytes(plainBytes(current[0].ref), lastResort.ref)) {
          // The previous one: kept for DS-8 once claimed (a Welcome may still name it), else deleted.
          await c.query(
            'DELETE FROM key_packages WHERE device_id = $1 AND last_resort = 1 AND claimed_at IS NULL',
            [deviceId],
          );
          await c.query('UPDATE key_packages SET last_resort = 2 WHERE device_id = $1 AND last_resort = 1', [
            deviceId,
          ]);
          const r = await c.query(
            'INSERT INTO key_packages (device_id, ref, data, published_at, last_resort) VALUES ($1, $2, $3, $4, 1) ' +
              'ON CONFLICT DO NOTHING',
            [deviceId, lastResort.ref, lastResort.data, now],
          );
          if (r.rowCount !== 1) throw published();
        }
      }
      return this.unclaimedCount(c, deviceId);
    });
  }

  async claimKeyPackage(deviceId: string, now: number): Promise<ClaimedKeyPackage | undefined> {
    return this.tx('claim key package', async (c) => {
      const r = await rows<{ ref: Uint8Array; data: Uint8Array }>(
        c,
        'UPDATE key_packages SET claimed_at = $1 WHERE id = (SELECT id FROM key_packages WHERE device_id = $2 ' +
          'AND claimed_at IS NULL AND last_resort = 0 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) ' +
          'AND claimed_at IS NULL RETURNING ref, data',
        [now, deviceId],
      );
      if (r[0] !== undefined)
        return { ref: plainBytes(r[0].ref), data: plainBytes(r[0].data), lastResort: false };
      // None left (or all locked by concurrent claimers): the last-resort package (RFC 9420 §16.8), recorded as
      // claimed for DS-8 but not used up.
      const last = await rows<{ ref: Uint8Array; data: Uint8Array }>(
        c,
        'UPDATE key_packages SET claimed_at = $1 WHERE device_id = $2 AND last_resort = 1 RETURNING ref, data',
        [now, deviceId],
      );
      return last[0] === undefined
        ? undefined
        : { ref: plainBytes(last[0].ref), data: plainBytes(last[0].data), lastResort: true };
    });
  }

  async hasLastResortKeyPackage(deviceId: string): Promise<boolean> {
    return this.read(
      'last-resort key package',
      async (c) =>
        (await rows(c, 'SELECT 1 FROM key_packages WHERE device_id = $1 AND last_resort = 1', [deviceId]))
          .length > 0,
    );
  }

  async claimedKeyPackageOwner(ref: Uint8Array): Promise<string | undefined> {
    return this.read('key package owner', async (c) => {
      const r = await rows<{ device_id: string }>(
        c,
        'SELECT device_id FROM key_packages WHERE ref = $1 AND claimed_at IS NOT NULL',
        [ref],
      );
      return r[0]?.device_id;
    });
  }

  async countKeyPackages(deviceId: string): Promise<number> {
    return this.read('count key packages', (c) => this.unclaimedCount(c, deviceId));
  }

  private async groupRow(c: Q, groupId: Uint8Array, lock = false): Promise<GroupRecord | undefined> {
    const g = await rows<{ epoch: string; created_at: string }>(
      c,
      `SELECT epoch, created_at FROM groups WHERE group_id = $1${lock ? ' FOR UPDATE' : ''}`,
      [groupId],
    );
    if (g[0] === undefined) return undefined;
    const members = (
      await rows<{ device_id: string }>(c, 'SELECT device_id FROM group_members WHERE group_id = $1', [
        groupId,
      ])
    ).map((r) => r.device_id);
    return {
      groupId,
      epoch: num(g[0].epoch),
      members: sortedUnique(members),
      createdAt: num(g[0].created_at),
    };
  }

  async createGroup(groupId: Uint8Array, creatorDeviceId: string, now: number): Promise<GroupRecord> {
    return this.tx('create group', async (c) => {
      if ((await this.deviceRow(c, creatorDeviceId))?.status !== 'active')
        throw new RelayError('DIR_DEVICE_UNKNOWN', 'no active device with this id');
      const r = await c.query(
        'INSERT INTO groups (group_id, epoch, created_at) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING',
        [groupId, now],
      );
      if (r.rowCount !== 1)
        throw new RelayError('DS_GROUP_EXISTS', 'the group id is taken', { check: 'DS-2' });
      await c.query('INSERT INTO group_members (group_id, device_id) VALUES ($1, $2)', [
        groupId,
        creatorDeviceId,
      ]);
      return { groupId, epoch: 0, members: [creatorDeviceId], createdAt: now };
    });
  }

  async getGroup(groupId: Uint8Array): Promise<GroupRecord | undefined> {
    return this.read('read group', (c) => this.groupRow(c, groupId));
  }

  private async statuses(c: Q, ids: readonly string[]): Promise<Map<string, DeviceStatus>> {
    const out = new Map<string, DeviceStatus>();
    for (const r of await rows<{ device_id: string; status: string }>(
      c,
      'SELECT device_id, status FROM devices WHERE device_id = ANY($1::text[])',
      [sortedUnique(ids)],
    )) {
      const s = STATUSES.find((x) => x === r.status);
      if (s !== undefined) out.set(r.device_id, s);
    }
    return out;
  }

  private async enqueue(
    c: pg.PoolClient,
    devices: readonly string[],
    kind: MailboxKind,
    groupId: Uint8Array,
    epoch: number,
    sender: string,
    data: Uint8Array,
    now: number,
    linkedEnvelopeId: Uint8Array | null = null,
  ): Promise<void> {
    if (devices.length === 0) return;
    const ids = sortedUnique(devices);
    // Lock in a fixed order (byte order of the ids) so that concurrent fan-outs cannot deadlock.
    await c.query(
      'SELECT 1 FROM devices WHERE device_id = ANY($1::text[]) ORDER BY device_id COLLATE "C" FOR UPDATE',
      [ids],
    );
    const seqs = await rows<{ device_id: string; mailbox_seq: string }>(
      c,
      'UPDATE devices SET mailbox_seq = mailbox_seq + 1 WHERE device_id = ANY($1::text[]) RETURNING device_id, mailbox_seq',
      [ids],
    );
    if (seqs.length !== ids.length) throw corrupt('a mailbox owner vanished inside a transaction');
    await c.query(
      'INSERT INTO mailbox (device_id, seq, kind, group_id, epoch, sender_device_id, data, received_at, ' +
        'linked_envelope_id) SELECT d, s, $3::text, $4::bytea, $5::bigint, $6::text, $7::bytea, $8::bigint, $9::bytea ' +
        'FROM unnest($1::text[], $2::bigint[]) AS t (d, s)',
      [
        seqs.map((s) => s.device_id),
        seqs.map((s) => s.mailbox_seq),
        kind,
        groupId,
        epoch,
        sender,
        data,
        now,
        linkedEnvelopeId,
      ],
    );
  }

  async acceptCommit(s: CommitSubmission): Promise<CommitOutcome> {
    return this.tx('accept commit', async (c) => {
      const group = await this.groupRow(c, s.groupId, true);
      if (group === undefined) throw new RelayError('DS_GROUP_UNKNOWN', 'no such group');
      const exists =
        (await rows(c, 'SELECT 1 FROM commits WHERE group_id = $1 AND epoch = $2', [s.groupId, s.epoch]))
          .length > 0;
      const plan = planCommit(group, s, exists, await this.statuses(c, [...group.members, ...s.adds]));
      try {
        await c.query(
          'INSERT INTO commits (group_id, epoch, sender_device_id, data, accepted_at) VALUES ($1, $2, $3, $4, $5)',
          [s.groupId, s.epoch, s.senderDeviceId, s.commit, s.now],
        );
      } catch (e) {
        // The primary key is the last word on "one commit per epoch" (unique_violation).
        if ((e as { code?: string }).code === '23505')
          throw new RelayError('DS_COMMIT_CONFLICT', 'a commit for this epoch was already accepted', {
            check: 'DS-4',
          });
        throw e;
      }
      const cas = await c.query('UPDATE groups SET epoch = $1 WHERE group_id = $2 AND epoch = $3', [
        plan.newEpoch,
        s.groupId,
        s.epoch,
      ]);
      if (cas.rowCount !== 1) throw corrupt('group epoch moved under a row lock');
      if (s.removes.length > 0)
        await c.query('DELETE FROM group_members WHERE group_id = $1 AND device_id = ANY($2::text[])', [
          s.groupId,
          [...s.removes],
        ]);
      if (plan.welcomed.length > 0)
        await c.query(
          'INSERT INTO group_members (group_id, device_id) SELECT $1::bytea, unnest($2::text[])',
          [s.groupId, [...plan.welcomed]],
        );
      await this.enqueue(c, plan.notified, 'commit', s.groupId, s.epoch, s.senderDeviceId, s.commit, s.now);
      if (s.welcome !== null)
        await this.enqueue(
          c,
          plan.welcomed,
          'welcome',
          s.groupId,
          plan.newEpoch,
          s.senderDeviceId,
          s.welcome,
          s.now,
        );
      return { epoch: plan.newEpoch, notified: plan.notified, welcomed: plan.welcomed };
    });
  }

  async listCommits(groupId: Uint8Array, fromEpoch: number, limit: number): Promise<StoredCommit[]> {
    return this.read('list commits', async (c) =>
      (
        await rows<{ epoch: string; sender_device_id: string; data: Uint8Array; accepted_at: string }>(
          c,
          'SELECT epoch, sender_device_id, data, accepted_at FROM commits WHERE group_id = $1 AND epoch >= $2 ' +
            'ORDER BY epoch LIMIT $3',
          [groupId, fromEpoch, limit],
        )
      ).map((r) => ({
        epoch: num(r.epoch),
        senderDeviceId: r.sender_device_id,
        commit: plainBytes(r.data),
        acceptedAt: num(r.accepted_at),
      })),
    );
  }

  async postGroupMessage(m: GroupMessage): Promise<readonly string[]> {
    return this.tx('post message', async (c) => {
      // FOR SHARE: no commit can change the epoch or roster until this message is in the mailboxes, so a
      // message is always fanned out to the roster of the epoch it was accepted in.
      const g = await rows(c, 'SELECT 1 FROM groups WHERE group_id = $1 FOR SHARE', [m.groupId]);
      if (g.length === 0) throw new RelayError('DS_GROUP_UNKNOWN', 'no such group');
      const group = (await this.groupRow(c, m.groupId))!;
      const recipients = planMessage(group, m, await this.statuses(c, group.members));
      await this.enqueue(
        c,
        recipients,
        'message',
        m.groupId,
        m.epoch,
        m.senderDeviceId,
        m.message,
        m.now,
        m.envelopeId ?? null,
      );
      return recipients;
    });
  }

  async fetchMailbox(deviceId: string, afterSeq: number, limit: number): Promise<MailboxItem[]> {
    return this.read('fetch mailbox', async (c) =>
      (
        await rows<MailboxRow<string>>(
          c,
          `SELECT ${MAILBOX_COLUMNS} FROM mailbox m WHERE m.device_id = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3`,
          [deviceId, afterSeq, limit],
        )
      ).map((r) => mailboxItemFrom(r, num, corrupt)),
    );
  }

  async fetchDeliveries(deviceId: string, afterSeq: number, limit: number): Promise<Delivery[]> {
    return this.read('fetch deliveries', async (c) =>
      (
        await rows<DeliveryRow>(
          c,
          `SELECT ${MAILBOX_COLUMNS}, e.* ` +
            'FROM mailbox m LEFT JOIN envelopes e ON e.message_id = m.envelope_id ' +
            'WHERE m.device_id = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3',
          [deviceId, afterSeq, limit],
        )
      ).map((r) => ({
        item: mailboxItemFrom(r, num, corrupt),
        envelope: r.message_id === null ? undefined : envelopeFrom(r as EnvelopeRow),
      })),
    );
  }

  async fetchCatchUp(
    deviceId: string,
    afterSeq: number,
    limit: number,
    maxBytes: number,
  ): Promise<CatchUpPage> {
    return this.read('fetch catch-up', async (c) => {
      // Sizes first (octet_length reads a TOASTed value's size without fetching it), one row beyond `limit`.
      const sized = (
        await rows<{ seq: string; rn: string; total: string }>(
          c,
          'WITH page AS (SELECT m.seq AS seq, octet_length(m.data) + coalesce(octet_length(e.header) + ' +
            'octet_length(e.capsule) + coalesce(octet_length(e.ciphertext), 0), 0) AS size FROM mailbox m ' +
            'LEFT JOIN envelopes e ON e.message_id = coalesce(m.envelope_id, m.linked_envelope_id) ' +
            'WHERE m.device_id = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3) ' +
            'SELECT seq, row_number() OVER (ORDER BY seq) AS rn, sum(size) OVER (ORDER BY seq) AS total ' +
            'FROM page ORDER BY seq',
          [deviceId, afterSeq, limit + 1],
        )
      ).map((r) => ({ seq: num(r.seq), rn: num(r.rn), total: num(r.total) }));
      const chosen = sized.filter((r) => r.rn <= limit && (r.rn === 1 || r.total <= maxBytes));
      const last = chosen[chosen.length - 1];
      if (last === undefined) return { deliveries: [], more: false };
      // Bounded above by the last chosen seq: items stored meanwhile wait for the next page.
      const deliveries = (
        await rows<DeliveryRow>(
          c,
          `SELECT ${MAILBOX_COLUMNS}, e.* ` +
            'FROM mailbox m LEFT JOIN envelopes e ON e.message_id = coalesce(m.envelope_id, m.linked_envelope_id) ' +
            'WHERE m.device_id = $1 AND m.seq > $2 AND m.seq <= $3 ORDER BY m.seq',
          [deviceId, afterSeq, last.seq],
        )
      ).map((r) => ({
        item: mailboxItemFrom(r, num, corrupt),
        envelope: r.message_id === null ? undefined : envelopeFrom(r as EnvelopeRow),
      }));
      return { deliveries, more: sized.length > chosen.length };
    });
  }

  async ackMailbox(deviceId: string, upToSeq: number): Promise<number> {
    return this.tx('ack mailbox', async (c) => {
      const r = await rows<{ mailbox_seq: string }>(
        c,
        'SELECT mailbox_seq FROM devices WHERE device_id = $1',
        [deviceId],
      );
      if (r[0] === undefined || upToSeq > num(r[0].mailbox_seq))
        throw new RelayError('DS_ACK_RANGE', 'acknowledgement beyond the last delivered item', {
          check: 'DS-9',
        });
      const d = await c.query('DELETE FROM mailbox WHERE device_id = $1 AND seq <= $2', [deviceId, upToSeq]);
      return d.rowCount ?? 0;
    });
  }

  async lastMailboxSeq(deviceId: string): Promise<number> {
    return this.read('mailbox seq', async (c) => {
      const r = await rows<{ mailbox_seq: string }>(
        c,
        'SELECT mailbox_seq FROM devices WHERE device_id = $1',
        [deviceId],
      );
      return r[0] === undefined ? 0 : num(r[0].mailbox_seq);
    });
  }

  async putEnvelope(e: EnvelopeRecord): Promise<'stored' | 'duplicate'> {
    return this.tx('put envelope', async (c) => {
      if (e.blobId !== null) {
        const b = await rows<{ owner_device_id: string; complete: boolean }>(
          c,
          'SELECT owner_device_id, complete FROM blobs WHERE blob_id = $1 FOR SHARE',
          [e.blobId],
        );
        if (b[0] === undefined || b[0].owner_device_id !== e.senderDeviceId)
          throw new RelayError('BLOB_UNKNOWN', 'no such blob of this device');
        if (!b[0].complete) throw new RelayError('BLOB_STATE', 'the blob is not complete');
      }
      const inserted = await c
        .query(
          `INSERT INTO envelopes (${ENVELOPE_COLUMNS}) ` +
            'VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (message_id) DO NOTHING',
          [...envelopeRowValues(e)],
        )
        .catch((err: { code?: string }) => {
          if (err.code === '23505')
            throw new RelayError('BLOB_STATE', 'the blob belongs to another envelope');
          throw err;
        });
      if (inserted.rowCount === 1) return 'stored';
      const existing = await rows<EnvelopeRow>(c, 'SELECT * FROM envelopes WHERE message_id = $1', [
        e.messageId,
      ]);
      return resubmittedEnvelope(envelopeFrom(existing[0]!), e, true);
    });
  }

  /**
   * One transaction for the whole batch. The batch's groups are share-locked first (in byte order, so two
   * batches cannot deadlock), which freezes their epochs and rosters; every message is planned against them
   * before its envelope is inserted, and the envelope insert is its first write, so a refusal writes nothing.
   * The fan-out of all stored messages is then one locked sequence bump and one insert (few round trips).
   */
  async storeMessages(batch: readonly EnvelopedMessage[]): Promise<EnvelopedOutcome[]> {
    if (batch.length === 0) return [];
    return this.tx('store messages', async (c) => {
      const keys = [...new Set(batch.map((b) => hexKey(b.message.groupId)))].sort();
      const groups = new Map<string, { group: GroupRecord; status: Map<string, DeviceStatus> }>();
      for (const key of keys) {
        const groupId = batch.find((b) => hexKey(b.message.groupId) === key)!.message.groupId;
        const g = await rows(c, 'SELECT 1 FROM groups WHERE group_id = $1 FOR SHARE', [groupId]);
        if (g.length === 0) continue;
        const group = (await this.groupRow(c, groupId))!;
        groups.set(key, { group, status: await this.statuses(c, group.members) });
      }
      const fanout: { recipients: readonly string[]; m: GroupMessage; envelopeId: Uint8Array }[] = [];
      const outcomes: EnvelopedOutcome[] = [];
      for (const { envelope: e, message: m } of batch) {
        try {
          if (e.ciphertext === null || e.blobId !== null || e.senderDeviceId !== m.senderDeviceId)
            throw new RelayError('ENV_MALFORMED', 'a sent message carries its own inline envelope', {
              check: 'RLY-14',
            });
          const g = groups.get(hexKey(m.groupId));
          if (g === undefined) throw new RelayError('DS_GROUP_UNKNOWN', 'no such group');
          const recipients = planMessage(g.group, m, g.status);
          if ((await this.insertEnvelope(c, e)) === 'duplicate') {
            outcomes.push({ result: 'duplicate' });
            continue;
          }
          fanout.push({ recipients, m, envelopeId: e.messageId });
          outcomes.push({ result: 'stored', recipients });
        } catch (error) {
          if (!(error instanceof RelayError)) throw error;
          outcomes.push({ result: 'refused', error });
        }
      }
      await this.enqueueMany(c, fanout);
      return outcomes;
    });
  }

  /** Inserts an inline envelope; 'duplicate' when the identical one exists, ENV_EXISTS when another does. */
  private async insertEnvelope(c: pg.PoolClient, e: EnvelopeRecord): Promise<'stored' | 'duplicate'> {
    // An inline envelope: blob_id is NULL whatever the record says.
    const inserted = await c.query(
      `INSERT INTO envelopes (${ENVELOPE_COLUMNS}) ` +
        'VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (message_id) DO NOTHING',
      [...envelopeRowValues({ ...e, blobId: null })],
    );
    if (inserted.rowCount === 1) return 'stored';
    const existing = await rows<EnvelopeRow>(c, 'SELECT * FROM envelopes WHERE message_id = $1', [
      e.messageId,
    ]);
    return resubmittedEnvelope(envelopeFrom(existing[0]!), e, false);
  }

  /**
   * The mailbox fan-out of many messages: every recipient's sequence is locked (byte order) and advanced by
   * its number of items at once, and the items are numbered in batch order and inserted in one statement.
   */
  private async enqueueMany(
    c: pg.PoolClient,
    fanout: readonly { recipients: readonly string[]; m: GroupMessage; envelopeId: Uint8Array }[],
  ): Promise<void> {
    const counts = new Map<string, number>();
    for (const f of fanout) for (const d of f.recipients) counts.set(d, (counts.get(d) ?? 0) + 1);
    if (counts.size === 0) return;
    const ids = sortedUnique([...counts.keys()]);
    await c.query(
      'SELECT 1 FROM devices WHERE device_id = ANY($1::text[]) ORDER BY device_id COLLATE "C" FOR UPDATE',
      [ids],
    );
    const bumped = await rows<{ device_id: string; mailbox_seq: string }>(
      c,
      'UPDATE devices d SET mailbox_seq = d.mailbox_seq + t.n FROM unnest($1::text[], $2::bigint[]) AS t (id, n) ' +
        'WHERE d.device_id = t.id RETURNING d.device_id, d.mailbox_seq',
      [ids, ids.map((d) => counts.get(d)!)],
    );
    if (bumped.length !== ids.length) throw corrupt('a mailbox owner vanished inside a transaction');
    // The first new seq of each device: its new last seq minus its count, plus one.
    const next = new Map(bumped.map((b) => [b.device_id, num(b.mailbox_seq) - counts.get(b.device_id)! + 1]));
    const cols = {
      d: [] as string[],
      s: [] as number[],
      g: [] as Uint8Array[],
      e: [] as number[],
      f: [] as string[],
      x: [] as Uint8Array[],
      t: [] as number[],
      v: [] as Uint8Array[],
    };
    for (const { recipients, m, envelopeId } of fanout)
      for (const d of recipients) {
        const seq = next.get(d)!;
        next.set(d, seq + 1);
        cols.d.push(d);
        cols.s.push(seq);
        cols.g.push(m.groupId);
        cols.e.push(m.epoch);
        cols.f.push(m.senderDeviceId);
        cols.x.push(m.message);
        cols.t.push(m.now);
        cols.v.push(envelopeId);
      }
    await c.query(
      'INSERT INTO mailbox (device_id, seq, kind, group_id, epoch, sender_device_id, data, received_at, envelope_id) ' +
        "SELECT d, s, 'message', g, e, f, x, t, v FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::bigint[], " +
        '$5::text[], $6::bytea[], $7::bigint[], $8::bytea[]) AS u (d, s, g, e, f, x, t, v)',
      [cols.d, cols.s, cols.g, cols.e, cols.f, cols.x, cols.t, cols.v],
    );
  }

  async getEnvelope(messageId: Uint8Array): Promise<EnvelopeRecord | undefined> {
    return this.read('get envelope', async (c) => {
      const r = await rows<EnvelopeRow>(c, 'SELECT * FROM envelopes WHERE message_id = $1', [messageId]);
      return r[0] === undefined ? undefined : envelopeFrom(r[0]);
    });
  }

  async deleteEpochEnvelopes(orgId: string, epoch: number): Promise<number> {
    return this.tx('delete epoch', async (c) => {
      const deleted = await rows<{ blob_id: string | null }>(
        c,
        'DELETE FROM envelopes WHERE org_id = $1 AND epoch = $2 RETURNING blob_id',
        [orgId, epoch],
      );
      const blobs = deleted.map((r) => r.blob_id).filter((b): b is string => b !== null);
      if (blobs.length > 0) await c.query('DELETE FROM blobs WHERE blob_id = ANY($1::text[])', [blobs]);
      return deleted.length;
    });
  }

  async deleteStaleBlobs(createdBefore: number): Promise<number> {
    return this.tx('delete stale blobs', async (c) => {
      const r = await c.query(
        'DELETE FROM blobs b WHERE b.created_at < $1 ' +
          'AND NOT EXISTS (SELECT 1 FROM envelopes e WHERE e.blob_id = b.blob_id)',
        [createdBefore],
      );
      return r.rowCount ?? 0;
    });
  }

  async createBlob(b: NewBlob, quotaBytes?: number): Promise<void> {
    await this.tx('create blob', async (c) => {
      if (quotaBytes !== undefined) {
        // One creator per device at a time (the lock ends with the transaction), so two concurrent creations
        // cannot both fit in what is left (STORE-R-9). Keyed by the device id: no row needs to exist.
        await c.query("SELECT pg_advisory_xact_lock(hashtext('overt-relay-blob-quota'), hashtext($1))", [
          b.ownerDeviceId,
        ]);
        if ((await this.usage(c, b.ownerDeviceId)) + blobCharge(b.size) > quotaBytes)
          throw new RelayError('BLOB_QUOTA', 'the device has no blob quota left for this size', {
            check: 'STORE-R-9',
          });
      }
      const r = await c.query(
        'INSERT INTO blobs (blob_id, owner_device_id, size, chunk_size, sha256, created_at) ' +
          'VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING',
        // A digest declared at completion (streaming form) is stored as empty bytes until then.
        [b.blobId, b.ownerDeviceId, b.size, b.chunkSize, b.sha256 ?? new Uint8Array(0), b.now],
      );
      if (r.rowCount !== 1) throw new RelayError('BLOB_STATE', 'the blob id is taken');
    });
  }

  private async usage(c: Q, ownerDeviceId: string): Promise<number> {
    const r = await rows<{ n: string | null }>(
      c,
      'SELECT sum(greatest(size, $1)) AS n FROM blobs WHERE owner_device_id = $2',
      [MIN_BLOB_CHUNK, ownerDeviceId],
    );
    return r[0]?.n === null || r[0] === undefined ? 0 : num(r[0].n);
  }

  async blobUsage(ownerDeviceId: string): Promise<number> {
    return this.read('blob usage', (c) => this.usage(c, ownerDeviceId));
  }

  private async blobRow(c: Q, blobId: string, lock: '' | ' FOR UPDATE' | ' FOR SHARE' = '') {
    const r = await rows<{
      owner_device_id: string;
      size: string;
      chunk_size: number;
      sha256: Uint8Array;
      complete: boolean;
      created_at: string;
    }>(
      c,
      `SELECT owner_device_id, size, chunk_size, sha256, complete, created_at FROM blobs WHERE blob_id = $1${lock}`,
      [blobId],
    );
    return r[0];
  }

  async putBlobChunk(blobId: string, ownerDeviceId: string, index: number, data: Uint8Array): Promise<void> {
    await this.tx('put blob chunk', async (c) => {
      const b = await this.blobRow(c, blobId, ' FOR SHARE');
      if (b === undefined || b.owner_device_id !== ownerDeviceId)
        throw new RelayError('BLOB_UNKNOWN', 'no such blob of this device');
      if (b.complete) throw new RelayError('BLOB_STATE', 'the blob is complete');
      if (blobChunkLength(num(b.size), b.chunk_size, index) !== data.length)
        throw new RelayError('BLOB_STATE', 'chunk index or length does not fit the blob', {
          check: 'STORE-R-6',
        });
      const r = await c.query(
        'INSERT INTO blob_chunks (blob_id, idx, data) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
        [blobId, index, data],
      );
      if (r.rowCount === 1) return;
      const existing = await rows<{ data: Uint8Array }>(
        c,
        'SELECT data FROM blob_chunks WHERE blob_id = $1 AND idx = $2',
        [blobId, index],
      );
      if (!sameBytes(plainBytes(existing[0]!.data), data))
        throw new RelayError('BLOB_STATE', 'the chunk was stored with other bytes', { check: 'STORE-R-6' });
    });
  }

  async completeBlob(blobId: string, ownerDeviceId: string, sha256?: Uint8Array): Promise<void> {
    await this.tx('complete blob', async (c) => {
      const b = await this.blobRow(c, blobId, ' FOR UPDATE');
      if (b === undefined || b.owner_device_id !== ownerDeviceId)
        throw new RelayError('BLOB_UNKNOWN', 'no such blob of this device');
      const n = await rows<{ n: string }>(c, 'SELECT count(*) AS n FROM blob_chunks WHERE blob_id = $1', [
        blobId,
      ]);
      if (num(n[0]!.n) !== blobChunkCount(num(b.size), b.chunk_size))
        throw new RelayError('BLOB_STATE', 'the blob is missing chunks', { check: 'STORE-R-6' });
      await c.query('UPDATE blobs SET complete = true, sha256 = $2 WHERE blob_id = $1', [
        blobId,
        b.sha256.length === 0 && sha256 !== undefined ? sha256 : b.sha256,
      ]);
    });
  }

  async getBlob(blobId: string): Promise<BlobRecord | undefined> {
    return this.read('get blob', async (c) => {
      const b = await this.blobRow(c, blobId);
      if (b === undefined) return undefined;
      const n = await rows<{ n: string }>(c, 'SELECT count(*) AS n FROM blob_chunks WHERE blob_id = $1', [
        blobId,
      ]);
      return {
        blobId,
        ownerDeviceId: b.owner_device_id,
        size: num(b.size),
        chunkSize: b.chunk_size,
        sha256: b.sha256.length === 0 ? null : plainBytes(b.sha256),
        now: num(b.created_at),
        complete: b.complete,
        chunksStored: num(n[0]!.n),
      };
    });
  }

  async readBlobChunk(blobId: string, index: number): Promise<Uint8Array | undefined> {
    return this.read('read blob chunk', async (c) => {
      const r = await rows<{ data: Uint8Array }>(
        c,
        'SELECT data FROM blob_chunks WHERE blob_id = $1 AND idx = $2',
        [blobId, index],
      );
      return r[0] === undefined ? undefined : plainBytes(r[0].data);
    });
  }

  async putEpochKey(k: EpochKeyRecord): Promise<void> {
    await this.tx('put epoch key', async (c) => {
      // One publisher at a time, so "greater than every stored epoch" cannot race.
      await c.query('LOCK TABLE epoch_keys IN SHARE ROW EXCLUSIVE MODE');
      const m = await rows<{ m: string | null }>(c, 'SELECT max(epoch) AS m FROM epoch_keys');
      const max = m[0]!.m === null ? null : num(m[0]!.m);
      if (max !== null && k.epoch <= max) {
        const exists = (await rows(c, 'SELECT 1 FROM epoch_keys WHERE epoch = $1', [k.epoch])).length > 0;
        throw new RelayError(
          exists ? 'EPOCH_KEY_EXISTS' : 'EPOCH_KEY_INVALID',
          exists
            ? 'this epoch key is already published'
            : 'epoch keys are published in increasing epoch order',
          { check: 'STORE-R-2' },
        );
      }
      const vk = new Uint8Array(k.verificationKeys.length * 32);
      for (const [i, key] of k.verificationKeys.entries()) vk.set(key, i * 32);
      await c.query(
        'INSERT INTO epoch_keys (epoch, threshold, group_key, verification_keys, transcript_hash, statement, ' +
          'log_index, published_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
        [k.epoch, k.threshold, k.groupKey, vk, k.transcriptHash, k.statement, k.logIndex, k.publishedAt],
      );
      await insertEpochKeyHistory(c, k);
    });
  }

  async replaceEpochKey(k: EpochKeyRecord, previousLogIndex: number): Promise<void> {
    await this.tx('replace epoch key', async (c) => {
      await c.query('LOCK TABLE epoch_keys IN SHARE ROW EXCLUSIVE MODE');
      const r = await rows<EpochKeyRow>(c, 'SELECT * FROM epoch_keys WHERE epoch = $1', [k.epoch]);
      if (r[0] === undefined)
        throw new RelayError('EPOCH_KEY_UNKNOWN', 'no key of this epoch is stored', { check: 'STORE-R-2' });
      const stored = epochKeyFrom(r[0]);
      if (
        stored.logIndex !== previousLogIndex ||
        !sameBytes(stored.groupKey, k.groupKey) ||
        k.logIndex <= stored.logIndex
      )
        throw new RelayError('EPOCH_KEY_EXISTS', 'the epoch key in force is another one', {
          check: 'STORE-R-2',
        });
      await c.query(
        'UPDATE epoch_keys SET threshold = $1, verification_keys = $2, transcript_hash = $3, statement = $4, ' +
          'log_index = $5, published_at = $6 WHERE epoch = $7',
        [
          k.threshold,
          concatKeys(k.verificationKeys),
          k.transcriptHash,
          k.statement,
          k.logIndex,
          k.publishedAt,
          k.epoch,
        ],
      );
      await insertEpochKeyHistory(c, k);
    });
  }

  async epochKeyHistory(epoch: number): Promise<EpochKeyRecord[]> {
    return this.read('epoch key history', async (c) =>
      (
        await rows<EpochKeyRow>(c, 'SELECT * FROM epoch_key_history WHERE epoch = $1 ORDER BY log_index', [
          epoch,
        ])
      ).map(epochKeyFrom),
    );
  }

  async getEpochKey(epoch: number): Promise<EpochKeyRecord | undefined> {
    return this.read('get epoch key', async (c) => {
      const r = await rows<EpochKeyRow>(c, 'SELECT * FROM epoch_keys WHERE epoch = $1', [epoch]);
      return r[0] === undefined ? undefined : epochKeyFrom(r[0]);
    });
  }

  async currentEpochKey(): Promise<EpochKeyRecord | undefined> {
    return this.read('current epoch key', async (c) => {
      const r = await rows<EpochKeyRow>(c, 'SELECT * FROM epoch_keys ORDER BY epoch DESC LIMIT 1');
      return r[0] === undefined ? undefined : epochKeyFrom(r[0]);
    });
  }

  async putPolicy(p: PolicyRecord): Promise<void> {
    await this.tx('put policy', async (c) => {
      // One publisher at a time, so "greater than every stored serial" cannot race.
      await c.query('LOCK TABLE policies IN SHARE ROW EXCLUSIVE MODE');
      const m = await rows<{ m: string | null }>(c, 'SELECT max(serial) AS m FROM policies');
      if (m[0]!.m !== null && p.serial <= num(m[0]!.m))
        throw new RelayError('POLICY_STALE', 'policies are logged in increasing serial order', {
          check: 'STORE-R-8',
        });
      await c.query(
        'INSERT INTO policies (serial, policy, log_index, published_at) VALUES ($1, $2, $3, $4)',
        [p.serial, p.signed, p.logIndex, p.publishedAt],
      );
    });
  }

  async currentPolicy(): Promise<PolicyRecord | undefined> {
    return this.read('current policy', async (c) => {
      const r = (await rows<PolicyRow>(c, 'SELECT * FROM policies ORDER BY serial DESC LIMIT 1'))[0];
      return r === undefined
        ? undefined
        : {
            serial: num(r.serial),
            signed: plainBytes(r.policy),
            logIndex: num(r.log_index),
            publishedAt: num(r.published_at),
          };
    });
  }

  async putAbuseReport(r: NewAbuseReport): Promise<{ reportId: number; result: 'stored' | 'duplicate' }> {
    return this.tx('put abuse report', async (c) => {
      // The unique constraint settles concurrent reports of one message by one user: one row, one 'stored'.
      const inserted = await rows<{ report_id: string }>(
        c,
        `INSERT INTO abuse_reports (${ABUSE_REPORT_COLUMNS}) ` +
          'VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ' +
          'ON CONFLICT (message_id, reporter_user_id) DO NOTHING RETURNING report_id',
        [...abuseReportRowValues(r)],
      );
      if (inserted[0] !== undefined)
        return { reportId: num(inserted[0].report_id), result: 'stored' as const };
      const existing = await rows<{ report_id: string }>(
        c,
        'SELECT report_id FROM abuse_reports WHERE message_id = $1 AND reporter_user_id = $2',
        [r.messageId, r.reporterUserId],
      );
      if (existing[0] === undefined) throw corrupt('a conflicting report vanished');
      return { reportId: num(existing[0].report_id), result: 'duplicate' as const };
    });
  }

  async listAbuseReports(afterId: number, limit: number): Promise<AbuseReportSummary[]> {
    return this.read('list abuse reports', async (c) =>
      (
        await rows<PgReportRow>(
          c,
          `SELECT ${REPORT_SUMMARY_COLUMNS} FROM abuse_reports WHERE report_id > $1 ORDER BY report_id LIMIT $2`,
          [afterId, limit],
        )
      ).map((r) => reportSummaryFrom(r, num)),
    );
  }

  async getAbuseReport(reportId: number): Promise<AbuseReportRecord | undefined> {
    return this.read('get abuse report', async (c) => {
      const r = await rows<PgReportRow & { report: Uint8Array }>(
        c,
        'SELECT * FROM abuse_reports WHERE report_id = $1',
        [reportId],
      );
      return r[0] === undefined
        ? undefined
        : { ...reportSummaryFrom(r[0], num), report: plainBytes(r[0].report) };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
