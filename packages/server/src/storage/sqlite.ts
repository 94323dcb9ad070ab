/**
 * SQLite driver of {@link RelayStorage} (better-sqlite3 12): the embedded default, one file under the data
 * directory (docs/spec/relay.md §5).
 *
 * WAL journal with `synchronous = FULL`: in WAL mode the default NORMAL skips the fsync of the WAL at commit, so
 * a power loss could undo an accepted commit or an acknowledged envelope after the client was told it is stored.
 * `foreign_keys = ON` so that the schema's references hold. Every write is one `BEGIN IMMEDIATE` transaction,
 * which takes the write lock before its first read: the read-check-write of a commit (DS-3/DS-4), a key-package
 * claim (DS-6) or a mailbox sequence number is atomic even against another process on the same file.
 * better-sqlite3 is synchronous: each method does its work before returning its (settled) promise.
 */
import Database from 'better-sqlite3';
import { RelayError } from '../errors.js';
import {
  ACCESS_MIGRATION_NAME,
  type AccessStorage,
  ORDER_MIGRATION_NAME,
  SHRED_MIGRATION_NAME,
  UNSEAL_MIGRATION_NAME,
} from './access.js';
import {
  SQLITE_ACCESS_MIGRATION,
  SQLITE_ORDER_MIGRATION,
  SQLITE_SHRED_MIGRATION,
  SQLITE_UNSEAL_MIGRATION,
  SqliteAccessStorage,
} from './access-sqlite.js';
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
  type UserRecord,
} from './storage.js';

/** Versioned migrations, each applied in one transaction with its `schema_migrations` row. Never edit one. */
const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'relay tables',
    sql: `
      CREATE TABLE org_admin (
        id INTEGER PRIMARY KEY CHECK (id = 0),
        public_key BLOB NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE users (
        user_id TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE devices (
        device_id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users (user_id),
        identity_key BLOB NOT NULL UNIQUE,
        status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'removed')),
        enrol_log_index INTEGER,
        removal_log_index INTEGER,
        created_at INTEGER NOT NULL,
        removed_at INTEGER,
        mailbox_seq INTEGER NOT NULL DEFAULT 0
      ) WITHOUT ROWID;
      CREATE INDEX devices_by_user ON devices (user_id);
      CREATE TABLE auth_nonces (
        signer TEXT NOT NULL,
        nonce BLOB NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (signer, nonce)
      ) WITHOUT ROWID;
      CREATE INDEX auth_nonces_by_expiry ON auth_nonces (expires_at);
      CREATE TABLE key_packages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        device_id TEXT NOT NULL REFERENCES devices (device_id),
        ref BLOB NOT NULL UNIQUE,
        data BLOB NOT NULL,
        published_at INTEGER NOT NULL,
        claimed_at INTEGER
      );
      CREATE INDEX key_packages_unclaimed ON key_packages (device_id, id) WHERE claimed_at IS NULL;
      CREATE TABLE groups (
        group_id BLOB PRIMARY KEY,
        epoch INTEGER NOT NULL CHECK (epoch >= 0),
        created_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE group_members (
        group_id BLOB NOT NULL REFERENCES groups (group_id),
        device_id TEXT NOT NULL REFERENCES devices (device_id),
        PRIMARY KEY (group_id, device_id)
      ) WITHOUT ROWID;
      CREATE TABLE commits (
        group_id BLOB NOT NULL REFERENCES groups (group_id),
        epoch INTEGER NOT NULL CHECK (epoch >= 0),
        sender_device_id TEXT NOT NULL,
        data BLOB NOT NULL,
        accepted_at INTEGER NOT NULL,
        PRIMARY KEY (group_id, epoch)
      ) WITHOUT ROWID;
      CREATE TABLE mailbox (
        device_id TEXT NOT NULL REFERENCES devices (device_id),
        seq INTEGER NOT NULL CHECK (seq > 0),
        kind TEXT NOT NULL CHECK (kind IN ('commit', 'welcome', 'message')),
        group_id BLOB NOT NULL,
        epoch INTEGER NOT NULL,
        sender_device_id TEXT NOT NULL,
        data BLOB NOT NULL,
        received_at INTEGER NOT NULL,
        PRIMARY KEY (device_id, seq)
      ) WITHOUT ROWID;
      CREATE TABLE blobs (
        blob_id TEXT PRIMARY KEY,
        owner_device_id TEXT NOT NULL,
        size INTEGER NOT NULL CHECK (size > 0),
        chunk_size INTEGER NOT NULL CHECK (chunk_size > 0),
        sha256 BLOB NOT NULL,
        complete INTEGER NOT NULL DEFAULT 0 CHECK (complete IN (0, 1)),
        created_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE blob_chunks (
        blob_id TEXT NOT NULL REFERENCES blobs (blob_id) ON DELETE CASCADE,
        idx INTEGER NOT NULL CHECK (idx >= 0),
        data BLOB NOT NULL,
        PRIMARY KEY (blob_id, idx)
      ) WITHOUT ROWID;
      CREATE TABLE envelopes (
        message_id BLOB PRIMARY KEY,
        org_id TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        conversation_id BLOB NOT NULL,
        sender_user_id TEXT NOT NULL,
        sender_device_id TEXT NOT NULL,
        send_time INTEGER NOT NULL,
        header BLOB NOT NULL,
        capsule BLOB NOT NULL,
        ciphertext BLOB,
        blob_id TEXT UNIQUE REFERENCES blobs (blob_id),
        received_at INTEGER NOT NULL,
        CHECK ((ciphertext IS NULL) <> (blob_id IS NULL))
      ) WITHOUT ROWID;
      CREATE INDEX envelopes_by_epoch ON envelopes (org_id, epoch);
      CREATE TABLE epoch_keys (
        epoch INTEGER PRIMARY KEY CHECK (epoch >= 0),
        threshold INTEGER NOT NULL,
        group_key BLOB NOT NULL,
        verification_keys BLOB NOT NULL,
        transcript_hash BLOB NOT NULL,
        statement BLOB NOT NULL,
        log_index INTEGER NOT NULL,
        published_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'mailbox envelope link',
    // The envelope a message was sent with on the WebSocket path, pushed with its mailbox item (§6.8).
    sql: 'ALTER TABLE mailbox ADD COLUMN envelope_id BLOB',
  },
  {
    version: 3,
    name: 'abuse reports',
    // Verified franking reports (relay.md §10). No reference to envelopes: a report outlives retention.
    sql: `
      CREATE TABLE abuse_reports (
        report_id INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id BLOB NOT NULL,
        reporter_user_id TEXT NOT NULL,
        reporter_device_id TEXT NOT NULL,
        sender_user_id TEXT NOT NULL,
        sender_device_id TEXT NOT NULL,
        conversation_id BLOB NOT NULL,
        send_time INTEGER NOT NULL,
        stamp_time INTEGER NOT NULL,
        reason TEXT,
        report BLOB NOT NULL,
        received_at INTEGER NOT NULL,
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
        serial INTEGER PRIMARY KEY CHECK (serial >= 0),
        policy BLOB NOT NULL,
        log_index INTEGER NOT NULL,
        published_at INTEGER NOT NULL
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
      ALTER TABLE key_packages ADD COLUMN last_resort INTEGER NOT NULL DEFAULT 0 CHECK (last_resort IN (0, 1, 2));
      CREATE UNIQUE INDEX key_packages_last_resort ON key_packages (device_id) WHERE last_resort = 1;
      ALTER TABLE mailbox ADD COLUMN linked_envelope_id BLOB;
    `,
  },
  {
    version: 7,
    name: ACCESS_MIGRATION_NAME,
    // The accountable-access workflow (access.md §4, relay.md §5): trustee mailbox, requests, sealed parts,
    // logged access entries, executions and their selection, releases with bundles; envelopes by send time.
    sql: SQLITE_ACCESS_MIGRATION,
  },
  {
    version: 8,
    name: UNSEAL_MIGRATION_NAME,
    // After release (after-release.md §1, §2): the relay's unseal parts, unseals, extension proposals.
    sql: SQLITE_UNSEAL_MIGRATION,
  },
  {
    version: 9,
    name: SHRED_MIGRATION_NAME,
    // Crypto-shredding (after-release.md §6): the logged shred statements, one per (epoch, trustee).
    sql: SQLITE_SHRED_MIGRATION,
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
        epoch INTEGER NOT NULL CHECK (epoch >= 0),
        log_index INTEGER NOT NULL,
        threshold INTEGER NOT NULL,
        group_key BLOB NOT NULL,
        verification_keys BLOB NOT NULL,
        transcript_hash BLOB NOT NULL,
        statement BLOB NOT NULL,
        published_at INTEGER NOT NULL,
        mail_seq INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (epoch, log_index)
      ) WITHOUT ROWID;
      INSERT INTO epoch_key_history (epoch, log_index, threshold, group_key, verification_keys, transcript_hash,
        statement, published_at)
        SELECT epoch, log_index, threshold, group_key, verification_keys, transcript_hash, statement, published_at
        FROM epoch_keys;
    `,
  },
  // 11..14 are reserved for standing orders (after-release.md §8); the runner allows gaps.
  { version: 11, name: ORDER_MIGRATION_NAME, sql: SQLITE_ORDER_MIGRATION },
];

export const SQLITE_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

interface PendingNonce {
  readonly signer: string;
  readonly nonce: Uint8Array;
  readonly expiresAt: number;
  readonly now: number;
  resolve(fresh: boolean): void;
  reject(e: unknown): void;
}

/** Forget expired nonces once every this many recorded nonces. */
const NONCE_PRUNE_EVERY = 256;

export interface SqliteRelayStorageOptions {
  /** Database file (created if absent), or ':memory:'. */
  readonly path: string;
}

function failed(what: string, cause: unknown): RelayError {
  return new RelayError('STORE_R_FAILED', `sqlite: ${what} failed`, { cause });
}

function corrupt(what: string): RelayError {
  return new RelayError('STORE_R_CORRUPT', `sqlite: ${what}`, { check: 'STORE-R-3' });
}

interface DeviceRow {
  device_id: string;
  user_id: string;
  identity_key: Uint8Array;
  status: string;
  enrol_log_index: number | null;
  removal_log_index: number | null;
  created_at: number;
  removed_at: number | null;
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
    enrolLogIndex: r.enrol_log_index,
    removalLogIndex: r.removal_log_index,
    createdAt: r.created_at,
    removedAt: r.removed_at,
  };
}

interface EnvelopeRow {
  message_id: Uint8Array;
  org_id: string;
  epoch: number;
  conversation_id: Uint8Array;
  sender_user_id: string;
  sender_device_id: string;
  send_time: number;
  header: Uint8Array;
  capsule: Uint8Array;
  ciphertext: Uint8Array | null;
  blob_id: string | null;
  received_at: number;
}

function envelopeFrom(r: EnvelopeRow): EnvelopeRecord {
  return {
    messageId: plainBytes(r.message_id),
    orgId: r.org_id,
    epoch: r.epoch,
    conversationId: plainBytes(r.conversation_id),
    senderUserId: r.sender_user_id,
    senderDeviceId: r.sender_device_id,
    sendTime: r.send_time,
    header: plainBytes(r.header),
    ...capsuleColumn(r.capsule, 'sqlite'),
    ciphertext: r.ciphertext === null ? null : plainBytes(r.ciphertext),
    blobId: r.blob_id,
    receivedAt: r.received_at,
  };
}

interface PolicyRow {
  serial: number;
  policy: Uint8Array;
  log_index: number;
  published_at: number;
}

interface EpochKeyRow {
  epoch: number;
  threshold: number;
  group_key: Uint8Array;
  verification_keys: Uint8Array;
  transcript_hash: Uint8Array;
  statement: Uint8Array;
  log_index: number;
  published_at: number;
}

function epochKeyFrom(r: EpochKeyRow): EpochKeyRecord {
  const vk = plainBytes(r.verification_keys);
  if (vk.length % 32 !== 0) throw corrupt('verification keys length');
  const verificationKeys: Uint8Array[] = [];
  for (let i = 0; i < vk.length; i += 32) verificationKeys.push(vk.slice(i, i + 32));
  return {
    epoch: r.epoch,
    threshold: r.threshold,
    groupKey: plainBytes(r.group_key),
    verificationKeys,
    transcriptHash: plainBytes(r.transcript_hash),
    statement: plainBytes(r.statement),
    logIndex: r.log_index,
    publishedAt: r.published_at,
  };
}

/** A mailbox row joined with its linked envelope's columns (all null when there is none). */
type DeliveryRow = MailboxRow<number> & { [K in keyof EnvelopeRow]: EnvelopeRow[K] | null };

function hexKey(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

function concat32(keys: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(keys.length * 32);
  for (const [i, k] of keys.entries()) out.set(k, i * 32);
  return out;
}

/** The SQLite storage of one relay. Open with {@link SqliteRelayStorage.open}. */
export class SqliteRelayStorage implements RelayStorage {
  private noncesSincePrune = 0;
  private closed = false;
  private nonceBatch: PendingNonce[] = [];
  private readonly statements = new Map<string, Database.Statement>();

  /** The accountable-access tables (access.md §4), on this database. */
  readonly access: AccessStorage;

  private constructor(private readonly db: Database.Database) {
    this.access = new SqliteAccessStorage(
      db,
      (what, fn) => this.tx(what, fn),
      (what, fn) => this.read(what, fn),
    );
  }

  /** Opens (creating if needed) and migrates the database. */
  static open(options: SqliteRelayStorageOptions): SqliteRelayStorage {
    let db: Database.Database;
    try {
      db = new Database(options.path);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
    } catch (e) {
      throw failed('open', e);
    }
    const storage = new SqliteRelayStorage(db);
    try {
      storage.migrate();
    } catch (e) {
      db.close();
      throw e;
    }
    return storage;
  }

  private migrate(): void {
    this.tx('migration', () => {
      this.db.exec(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, ' +
          'applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)',
      );
      const applied = new Set(
        this.db
          .prepare<[], { version: number }>('SELECT version FROM schema_migrations')
          .all()
          .map((r) => r.version),
      );
      if (Math.max(0, ...applied) > SQLITE_SCHEMA_VERSION)
        throw new RelayError('STORE_R_CORRUPT', 'database schema is newer than this software', {
          check: 'STORE-R-3',
        });
      for (const m of MIGRATIONS) {
        if (applied.has(m.version)) continue;
        this.db.exec(m.sql);
        this.db.prepare('INSERT INTO schema_migrations (version, name) VALUES (?, ?)').run(m.version, m.name);
      }
    });
  }

  /** Runs `fn` in one BEGIN IMMEDIATE transaction; RelayErrors pass, anything else becomes STORE_R_FAILED. */
  private tx<T>(what: string, fn: () => T): T {
    if (this.closed) throw failed(`${what} (closed)`, undefined);
    try {
      return this.db.transaction(fn).immediate();
    } catch (e) {
      if (e instanceof RelayError) throw e;
      throw failed(what, e);
    }
  }

  /** A prepared statement, compiled once per storage (the hot paths of §6.8 run these thousands of times). */
  private prep<P extends unknown[] = unknown[], R = unknown>(sql: string): Database.Statement<P, R> {
    let st = this.statements.get(sql);
    if (st === undefined) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st as unknown as Database.Statement<P, R>;
  }

  private read<T>(what: string, fn: () => T): T {
    if (this.closed) throw failed(`${what} (closed)`, undefined);
    try {
      return fn();
    } catch (e) {
      if (e instanceof RelayError) throw e;
      throw failed(what, e);
    }
  }

  async claimOrgAdmin(publicKey: Uint8Array, now: number): Promise<void> {
    this.tx('claim admin', () => {
      const row = this.db
        .prepare<[], { public_key: Uint8Array }>('SELECT public_key FROM org_admin WHERE id = 0')
        .get();
      if (row === undefined) {
        this.db
          .prepare('INSERT INTO org_admin (id, public_key, created_at) VALUES (0, ?, ?)')
          .run(publicKey, now);
      } else if (!sameBytes(plainBytes(row.public_key), publicKey)) {
        throw new RelayError('DIR_ADMIN_MISMATCH', 'the database belongs to another org-admin key', {
          check: 'STORE-R-1',
        });
      }
    });
  }

  async getOrgAdmin(): Promise<Uint8Array | undefined> {
    return this.read('read admin', () => {
      const row = this.db
        .prepare<[], { public_key: Uint8Array }>('SELECT public_key FROM org_admin WHERE id = 0')
        .get();
      return row === undefined ? undefined : plainBytes(row.public_key);
    });
  }

  /**
   * Nonces are recorded with group commit: every useNonce of one event-loop turn joins one transaction (one
   * fsync), as the log's sequencer does for entries. A request is answered only after its nonce is durable,
   * so a power loss cannot reopen a replay window, and concurrent requests share the fsync.
   */
  useNonce(signer: string, nonce: Uint8Array, expiresAt: number, now: number): Promise<boolean> {
    if (this.closed) return Promise.reject(failed('use nonce (closed)', undefined));
    return new Promise((resolve, reject) => {
      this.nonceBatch.push({ signer, nonce, expiresAt, now, resolve, reject });
      if (this.nonceBatch.length === 1) setImmediate(() => this.flushNonces());
    });
  }

  private flushNonces(): void {
    const batch = this.nonceBatch;
    this.nonceBatch = [];
    let results: boolean[];
    try {
      results = this.tx('use nonce', () => {
        const now = Math.max(...batch.map((b) => b.now));
        this.noncesSincePrune += batch.length;
        if (this.noncesSincePrune >= NONCE_PRUNE_EVERY) {
          this.noncesSincePrune = 0;
          this.db.prepare('DELETE FROM auth_nonces WHERE expires_at < ?').run(now);
        }
        const get = this.db.prepare<[string, Uint8Array], { expires_at: number }>(
          'SELECT expires_at FROM auth_nonces WHERE signer = ? AND nonce = ?',
        );
        const put = this.db.prepare(
          'INSERT INTO auth_nonces (signer, nonce, expires_at) VALUES (?, ?, ?) ' +
            'ON CONFLICT (signer, nonce) DO UPDATE SET expires_at = excluded.expires_at',
        );
        // In order: a nonce used twice within one batch is fresh the first time only.
        return batch.map((b) => {
          const existing = get.get(b.signer, b.nonce);
          if (existing !== undefined && existing.expires_at >= b.now) return false;
          put.run(b.signer, b.nonce, b.expiresAt);
          return true;
        });
      });
    } catch (e) {
      for (const b of batch) b.reject(e);
      return;
    }
    for (const [i, b] of batch.entries()) b.resolve(results[i]!);
  }

  async createUser(userId: string, now: number): Promise<UserRecord> {
    return this.tx('create user', () => {
      const r = this.db.prepare(
        'INSERT INTO users (user_id, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING',
      );
      if (r.run(userId, now).changes === 0)
        throw new RelayError('DIR_USER_EXISTS', 'the user id is taken', { check: 'STORE-R-4' });
      return { userId, createdAt: now };
    });
  }

  async getUser(userId: string): Promise<UserRecord | undefined> {
    return this.read('read user', () => {
      const r = this.db
        .prepare<[string], { created_at: number }>('SELECT created_at FROM users WHERE user_id = ?')
        .get(userId);
      return r === undefined ? undefined : { userId, createdAt: r.created_at };
    });
  }

  private deviceRow(deviceId: string): DeviceRow | undefined {
    return this.db.prepare<[string], DeviceRow>('SELECT * FROM devices WHERE device_id = ?').get(deviceId);
  }

  async beginEnrolment(d: NewDevice): Promise<'new' | 'resumed'> {
    return this.tx('begin enrolment', () => {
      if (this.db.prepare('SELECT 1 FROM users WHERE user_id = ?').get(d.userId) === undefined)
        throw new RelayError('DIR_USER_UNKNOWN', 'no such user', { check: 'STORE-R-4' });
      const existing = this.deviceRow(d.deviceId);
      if (existing !== undefined) {
        if (
          existing.status === 'pending' &&
          existing.user_id === d.userId &&
          sameBytes(plainBytes(existing.identity_key), d.identityKey)
        )
          return 'resumed';
        throw new RelayError('DIR_DEVICE_EXISTS', 'the device id is taken', { check: 'STORE-R-4' });
      }
      if (this.db.prepare('SELECT 1 FROM devices WHERE identity_key = ?').get(d.identityKey) !== undefined)
        throw new RelayError('DIR_KEY_IN_USE', 'the identity key belongs to another device', {
          check: 'STORE-R-4',
        });
      this.db
        .prepare(
          "INSERT INTO devices (device_id, user_id, identity_key, status, created_at) VALUES (?, ?, ?, 'pending', ?)",
        )
        .run(d.deviceId, d.userId, d.identityKey, d.now);
      return 'new';
    });
  }

  async completeEnrolment(deviceId: string, logIndex: number): Promise<DeviceRecord> {
    return this.tx('complete enrolment', () => {
      const r = this.db
        .prepare(
          "UPDATE devices SET status = 'active', enrol_log_index = ? WHERE device_id = ? AND status = 'pending'",
        )
        .run(logIndex, deviceId);
      if (r.changes === 0) throw new RelayError('DIR_DEVICE_UNKNOWN', 'no pending device with this id');
      return deviceFrom(this.deviceRow(deviceId)!);
    });
  }

  async abandonEnrolment(deviceId: string): Promise<void> {
    this.tx('abandon enrolment', () => {
      this.db.prepare("DELETE FROM devices WHERE device_id = ? AND status = 'pending'").run(deviceId);
    });
  }

  async beginRemoval(deviceId: string, now: number): Promise<DeviceRecord> {
    return this.tx('begin removal', () => {
      const row = this.deviceRow(deviceId);
      if (row === undefined || row.status === 'pending')
        throw new RelayError('DIR_DEVICE_UNKNOWN', 'no such device', { check: 'STORE-R-4' });
      if (row.status === 'removed' && row.removal_log_index !== null)
        throw new RelayError('DIR_DEVICE_REMOVED', 'the device is already removed', { check: 'STORE-R-4' });
      if (row.status === 'active')
        this.db
          .prepare("UPDATE devices SET status = 'removed', removed_at = ? WHERE device_id = ?")
          .run(now, deviceId);
      this.db.prepare('DELETE FROM key_packages WHERE device_id = ? AND claimed_at IS NULL').run(deviceId);
      this.db
        .prepare('UPDATE key_packages SET last_resort = 2 WHERE device_id = ? AND last_resort = 1')
        .run(deviceId);
      this.db.prepare('DELETE FROM mailbox WHERE device_id = ?').run(deviceId);
      return deviceFrom(this.deviceRow(deviceId)!);
    });
  }

  async completeRemoval(deviceId: string, logIndex: number): Promise<DeviceRecord> {
    return this.tx('complete removal', () => {
      const r = this.db
        .prepare(
          "UPDATE devices SET removal_log_index = ? WHERE device_id = ? AND status = 'removed' AND removal_log_index IS NULL",
        )
        .run(logIndex, deviceId);
      if (r.changes === 0)
        throw new RelayError('DIR_DEVICE_UNKNOWN', 'no removal in progress for this device');
      return deviceFrom(this.deviceRow(deviceId)!);
    });
  }

  async getDevice(deviceId: string): Promise<DeviceRecord | undefined> {
    return this.read('read device', () => {
      const r = this.deviceRow(deviceId);
      return r === undefined ? undefined : deviceFrom(r);
    });
  }

  async listUserDevices(userId: string): Promise<DeviceRecord[]> {
    return this.read('list devices', () =>
      this.db
        .prepare<[string], DeviceRow>('SELECT * FROM devices WHERE user_id = ? ORDER BY device_id')
        .all(userId)
        .map(deviceFrom),
    );
  }

  private unclaimedCount(deviceId: string): number {
    return this.db
      .prepare<[string], { n: number }>(
        'SELECT count(*) AS n FROM key_packages WHERE device_id = ? AND claimed_at IS NULL AND last_resort = 0',
      )
      .get(deviceId)!.n;
  }

  async addKeyPackages(
    deviceId: string,
    packages: readonly StoredKeyPackage[],
    now: number,
    lastResort?: StoredKeyPackage,
  ): Promise<number> {
    return this.tx('add key packages', () => {
      if (this.deviceRow(deviceId)?.status !== 'active')
        throw new RelayError('DIR_DEVICE_UNKNOWN', 'no active device with this id');
      if (this.unclaimedCount(deviceId) + packages.length > MAX_KEY_PACKAGES_PER_DEVICE)
        throw new RelayError('DS_KEY_PACKAGE_LIMIT', 'too many unclaimed key packages', { check: 'DS-6' });
      const insert = this.db.prepare(
        'INSERT INTO key_packages (device_id, ref, data, published_at, last_resort) VALUES (?, ?, ?, ?, ?) ' +
          'ON CONFLICT DO NOTHING',
      );
      const published = () =>
        new RelayError('DS_KEY_PACKAGE_OWNER', 'this key package was already published', { check: 'DS-6' });
      for (const p of packages)
        if (insert.run(deviceId, p.ref, p.data, now, 0).changes === 0) throw published();
      if (lastResort !== undefined) {
        const current = this.db
          .prepare<[string], { ref: Uint8Array; claimed_at: number | null }>(
            'SELECT ref, claimed_at FROM key_packages WHERE device_id = ? AND last_resort = 1',
          )
          .get(deviceId);
        if (current === undefined || !sameBytes(plainBytes(current.ref), lastResort.ref)) {
          // The previous one: kept for DS-8 once claimed (a Welcome may still name it), else deleted.
          this.db
            .prepare(
              'DELETE FROM key_packages WHERE device_id = ? AND last_resort = 1 AND claimed_at IS NULL',
            )
            .run(deviceId);
          this.db
            .prepare('UPDATE key_packages SET last_resort = 2 WHERE device_id = ? AND last_resort = 1')
            .run(deviceId);
          if (insert.run(deviceId, lastResort.ref, lastResort.data, now, 1).changes === 0) throw published();
        }
      }
      return this.unclaimedCount(deviceId);
    });
  }

  async claimKeyPackage(deviceId: string, now: number): Promise<ClaimedKeyPackage | undefined> {
    return this.tx('claim key package', () => {
      const oneTime = this.db
        .prepare<[number, string], { ref: Uint8Array; data: Uint8Array }>(
          'UPDATE key_packages SET claimed_at = ? WHERE id = (SELECT id FROM key_packages ' +
            'WHERE device_id = ? AND claimed_at IS NULL AND last_resort = 0 ORDER BY id LIMIT 1) RETURNING ref, data',
        )
        .get(now, deviceId);
      if (oneTime !== undefined)
        return { ref: plainBytes(oneTime.ref), data: plainBytes(oneTime.data), lastResort: false };
      // None left: the last-resort package (RFC 9420 §16.8), recorded as claimed for DS-8 but not used up.
      const last = this.db
        .prepare<[number, string], { ref: Uint8Array; data: Uint8Array }>(
          'UPDATE key_packages SET claimed_at = ? WHERE device_id = ? AND last_resort = 1 RETURNING ref, data',
        )
        .get(now, deviceId);
      return last === undefined
        ? undefined
        : { ref: plainBytes(last.ref), data: plainBytes(last.data), lastResort: true };
    });
  }

  async hasLastResortKeyPackage(deviceId: string): Promise<boolean> {
    return this.read(
      'last-resort key package',
      () =>
        this.db
          .prepare('SELECT 1 FROM key_packages WHERE device_id = ? AND last_resort = 1')
          .get(deviceId) !== undefined,
    );
  }

  async claimedKeyPackageOwner(ref: Uint8Array): Promise<string | undefined> {
    return this.read('key package owner', () => {
      const row = this.db
        .prepare<[Uint8Array], { device_id: string }>(
          'SELECT device_id FROM key_packages WHERE ref = ? AND claimed_at IS NOT NULL',
        )
        .get(ref);
      return row?.device_id;
    });
  }

  async countKeyPackages(deviceId: string): Promise<number> {
    return this.read('count key packages', () => this.unclaimedCount(deviceId));
  }

  private groupRow(groupId: Uint8Array): GroupRecord | undefined {
    const g = this.prep<[Uint8Array], { epoch: number; created_at: number }>(
      'SELECT epoch, created_at FROM groups WHERE group_id = ?',
    ).get(groupId);
    if (g === undefined) return undefined;
    const members = this.prep<[Uint8Array], { device_id: string }>(
      'SELECT device_id FROM group_members WHERE group_id = ? ORDER BY device_id',
    )
      .all(groupId)
      .map((r) => r.device_id);
    return { groupId, epoch: g.epoch, members, createdAt: g.created_at };
  }

  async createGroup(groupId: Uint8Array, creatorDeviceId: string, now: number): Promise<GroupRecord> {
    return this.tx('create group', () => {
      if (this.deviceRow(creatorDeviceId)?.status !== 'active')
        throw new RelayError('DIR_DEVICE_UNKNOWN', 'no active device with this id');
      const r = this.db
        .prepare('INSERT INTO groups (group_id, epoch, created_at) VALUES (?, 0, ?) ON CONFLICT DO NOTHING')
        .run(groupId, now);
      if (r.changes === 0)
        throw new RelayError('DS_GROUP_EXISTS', 'the group id is taken', { check: 'DS-2' });
      this.db
        .prepare('INSERT INTO group_members (group_id, device_id) VALUES (?, ?)')
        .run(groupId, creatorDeviceId);
      return { groupId, epoch: 0, members: [creatorDeviceId], createdAt: now };
    });
  }

  async getGroup(groupId: Uint8Array): Promise<GroupRecord | undefined> {
    return this.read('read group', () => this.groupRow(groupId));
  }

  private statuses(ids: readonly string[]): Map<string, DeviceStatus> {
    const out = new Map<string, DeviceStatus>();
    const q = this.prep<[string], { status: string }>('SELECT status FROM devices WHERE device_id = ?');
    for (const id of ids) {
      const r = q.get(id);
      const s = STATUSES.find((x) => x === r?.status);
      if (s !== undefined) out.set(id, s);
    }
    return out;
  }

  /** Appends one item to each device's mailbox, taking the next per-device seq (inside the caller's tx). */
  private enqueue(
    devices: readonly string[],
    kind: MailboxKind,
    groupId: Uint8Array,
    epoch: number,
    sender: string,
    data: Uint8Array,
    now: number,
    envelopeId: Uint8Array | null = null,
    linkedEnvelopeId: Uint8Array | null = null,
  ): void {
    const bump = this.prep<[string], { mailbox_seq: number }>(
      'UPDATE devices SET mailbox_seq = mailbox_seq + 1 WHERE device_id = ? RETURNING mailbox_seq',
    );
    const insert = this.prep(
      'INSERT INTO mailbox (device_id, seq, kind, group_id, epoch, sender_device_id, data, received_at, ' +
        'envelope_id, linked_envelope_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    for (const d of devices) {
      const seq = bump.get(d)!.mailbox_seq;
      insert.run(d, seq, kind, groupId, epoch, sender, data, now, envelopeId, linkedEnvelopeId);
    }
  }

  async acceptCommit(s: CommitSubmission): Promise<CommitOutcome> {
    return this.tx('accept commit', () => {
      const group = this.groupRow(s.groupId);
      if (group === undefined) throw new RelayError('DS_GROUP_UNKNOWN', 'no such group');
      const exists =
        this.db.prepare('SELECT 1 FROM commits WHERE group_id = ? AND epoch = ?').get(s.groupId, s.epoch) !==
        undefined;
      const plan = planCommit(group, s, exists, this.statuses([...group.members, ...s.adds]));
      this.db
        .prepare(
          'INSERT INTO commits (group_id, epoch, sender_device_id, data, accepted_at) VALUES (?, ?, ?, ?, ?)',
        )
        .run(s.groupId, s.epoch, s.senderDeviceId, s.commit, s.now);
      const cas = this.db
        .prepare('UPDATE groups SET epoch = ? WHERE group_id = ? AND epoch = ?')
        .run(plan.newEpoch, s.groupId, s.epoch);
      if (cas.changes !== 1) throw corrupt('group epoch moved inside a transaction');
      const del = this.db.prepare('DELETE FROM group_members WHERE group_id = ? AND device_id = ?');
      for (const d of s.removes) del.run(s.groupId, d);
      const add = this.db.prepare('INSERT INTO group_members (group_id, device_id) VALUES (?, ?)');
      for (const d of plan.welcomed) add.run(s.groupId, d);
      this.enqueue(plan.notified, 'commit', s.groupId, s.epoch, s.senderDeviceId, s.commit, s.now);
      if (s.welcome !== null)
        this.enqueue(plan.welcomed, 'welcome', s.groupId, plan.newEpoch, s.senderDeviceId, s.welcome, s.now);
      return { epoch: plan.newEpoch, notified: plan.notified, welcomed: plan.welcomed };
    });
  }

  async listCommits(groupId: Uint8Array, fromEpoch: number, limit: number): Promise<StoredCommit[]> {
    return this.read('list commits', () =>
      this.db
        .prepare<
          [Uint8Array, number, number],
          { epoch: number; sender_device_id: string; data: Uint8Array; accepted_at: number }
        >(
          'SELECT epoch, sender_device_id, data, accepted_at FROM commits WHERE group_id = ? AND epoch >= ? ' +
            'ORDER BY epoch LIMIT ?',
        )
        .all(groupId, fromEpoch, limit)
        .map((r) => ({
          epoch: r.epoch,
          senderDeviceId: r.sender_device_id,
          commit: plainBytes(r.data),
          acceptedAt: r.accepted_at,
        })),
    );
  }

  async postGroupMessage(m: GroupMessage): Promise<readonly string[]> {
    return this.tx('post message', () => {
      const group = this.groupRow(m.groupId);
      if (group === undefined) throw new RelayError('DS_GROUP_UNKNOWN', 'no such group');
      const recipients = planMessage(group, m, this.statuses(group.members));
      this.enqueue(
        recipients,
        'message',
        m.groupId,
        m.epoch,
        m.senderDeviceId,
        m.message,
        m.now,
        null,
        m.envelopeId ?? null,
      );
      return recipients;
    });
  }

  async fetchMailbox(deviceId: string, afterSeq: number, limit: number): Promise<MailboxItem[]> {
    return this.read('fetch mailbox', () =>
      this.db
        .prepare<[string, number, number], MailboxRow<number>>(
          `SELECT ${MAILBOX_COLUMNS} FROM mailbox m WHERE m.device_id = ? AND m.seq > ? ORDER BY m.seq LIMIT ?`,
        )
        .all(deviceId, afterSeq, limit)
        .map((r) => mailboxItemFrom(r, Number, corrupt)),
    );
  }

  async fetchDeliveries(deviceId: string, afterSeq: number, limit: number): Promise<Delivery[]> {
    return this.read('fetch deliveries', () =>
      this.prep<[string, number, number], DeliveryRow>(
        `SELECT ${MAILBOX_COLUMNS}, e.* ` +
          'FROM mailbox m LEFT JOIN envelopes e ON e.message_id = m.envelope_id ' +
          'WHERE m.device_id = ? AND m.seq > ? ORDER BY m.seq LIMIT ?',
      )
        .all(deviceId, afterSeq, limit)
        .map((r) => ({
          item: mailboxItemFrom(r, Number, corrupt),
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
    return this.read('fetch catch-up', () => {
      // Sizes first (length() reads a blob's size without loading it), one row beyond `limit` to learn `more`.
      const sized = this.prep<[string, number, number], { seq: number; rn: number; total: number }>(
        'WITH page AS (SELECT m.seq AS seq, length(m.data) + coalesce(length(e.header) + length(e.capsule) + ' +
          'coalesce(length(e.ciphertext), 0), 0) AS size FROM mailbox m ' +
          'LEFT JOIN envelopes e ON e.message_id = coalesce(m.envelope_id, m.linked_envelope_id) ' +
          'WHERE m.device_id = ? AND m.seq > ? ORDER BY m.seq LIMIT ?) ' +
          'SELECT seq, row_number() OVER (ORDER BY seq) AS rn, sum(size) OVER (ORDER BY seq) AS total FROM page ' +
          'ORDER BY seq',
      ).all(deviceId, afterSeq, limit + 1);
      const chosen = sized.filter((r) => r.rn <= limit && (r.rn === 1 || r.total <= maxBytes));
      const last = chosen[chosen.length - 1];
      if (last === undefined) return { deliveries: [], more: false };
      // Bounded above by the last chosen seq: items stored meanwhile wait for the next page.
      const deliveries = this.prep<[string, number, number], DeliveryRow>(
        `SELECT ${MAILBOX_COLUMNS}, e.* ` +
          'FROM mailbox m LEFT JOIN envelopes e ON e.message_id = coalesce(m.envelope_id, m.linked_envelope_id) ' +
          'WHERE m.device_id = ? AND m.seq > ? AND m.seq <= ? ORDER BY m.seq',
      )
        .all(deviceId, afterSeq, last.seq)
        .map((r) => ({
          item: mailboxItemFrom(r, Number, corrupt),
          envelope: r.message_id === null ? undefined : envelopeFrom(r as EnvelopeRow),
        }));
      return { deliveries, more: sized.length > chosen.length };
    });
  }

  async ackMailbox(deviceId: string, upToSeq: number): Promise<number> {
    return this.tx('ack mailbox', () => {
      const row = this.db
        .prepare<[string], { mailbox_seq: number }>('SELECT mailbox_seq FROM devices WHERE device_id = ?')
        .get(deviceId);
      if (row === undefined || upToSeq > row.mailbox_seq)
        throw new RelayError('DS_ACK_RANGE', 'acknowledgement beyond the last delivered item', {
          check: 'DS-9',
        });
      return this.db.prepare('DELETE FROM mailbox WHERE device_id = ? AND seq <= ?').run(deviceId, upToSeq)
        .changes;
    });
  }

  async lastMailboxSeq(deviceId: string): Promise<number> {
    return this.read('mailbox seq', () => {
      const row = this.db
        .prepare<[string], { mailbox_seq: number }>('SELECT mailbox_seq FROM devices WHERE device_id = ?')
        .get(deviceId);
      return row?.mailbox_seq ?? 0;
    });
  }

  async putEnvelope(e: EnvelopeRecord): Promise<'stored' | 'duplicate'> {
    return this.tx('put envelope', () => {
      const existing = this.db
        .prepare<[Uint8Array], EnvelopeRow>('SELECT * FROM envelopes WHERE message_id = ?')
        .get(e.messageId);
      if (existing !== undefined) return resubmittedEnvelope(envelopeFrom(existing), e, true);
      if (e.blobId !== null) {
        const blob = this.db
          .prepare<[string], { owner_device_id: string; complete: number }>(
            'SELECT owner_device_id, complete FROM blobs WHERE blob_id = ?',
          )
          .get(e.blobId);
        if (blob === undefined || blob.owner_device_id !== e.senderDeviceId)
          throw new RelayError('BLOB_UNKNOWN', 'no such blob of this device');
        if (blob.complete !== 1) throw new RelayError('BLOB_STATE', 'the blob is not complete');
        if (this.db.prepare('SELECT 1 FROM envelopes WHERE blob_id = ?').get(e.blobId) !== undefined)
          throw new RelayError('BLOB_STATE', 'the blob belongs to another envelope');
      }
      this.insertEnvelope(e);
      return 'stored';
    });
  }

  private insertEnvelope(e: EnvelopeRecord): void {
    this.prep(`INSERT INTO envelopes (${ENVELOPE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      ...envelopeRowValues(e),
    );
  }

  /**
   * One BEGIN IMMEDIATE transaction for the whole batch: every message is checked before anything of it is
   * written, so a refusal leaves no trace of that message; a database failure rolls back the whole batch.
   */
  async storeMessages(batch: readonly EnvelopedMessage[]): Promise<EnvelopedOutcome[]> {
    if (batch.length === 0) return [];
    return this.tx('store messages', () => {
      const findEnvelope = this.prep<[Uint8Array], EnvelopeRow>(
        'SELECT * FROM envelopes WHERE message_id = ?',
      );
      const groups = new Map<string, { group: GroupRecord; status: Map<string, DeviceStatus> } | null>();
      return batch.map(({ envelope: e, message: m }): EnvelopedOutcome => {
        try {
          if (e.ciphertext === null || e.blobId !== null || e.senderDeviceId !== m.senderDeviceId)
            throw new RelayError('ENV_MALFORMED', 'a sent message carries its own inline envelope', {
              check: 'RLY-14',
            });
          const existing = findEnvelope.get(e.messageId);
          if (existing !== undefined)
            return { result: resubmittedEnvelope(envelopeFrom(existing), e, false) };
          const key = hexKey(m.groupId);
          let g = groups.get(key);
          if (g === undefined) {
            const group = this.groupRow(m.groupId);
            g = group === undefined ? null : { group, status: this.statuses(group.members) };
            groups.set(key, g);
          }
          if (g === null) throw new RelayError('DS_GROUP_UNKNOWN', 'no such group');
          const recipients = planMessage(g.group, m, g.status);
          this.insertEnvelope(e);
          this.enqueue(
            recipients,
            'message',
            m.groupId,
            m.epoch,
            m.senderDeviceId,
            m.message,
            m.now,
            e.messageId,
          );
          return { result: 'stored', recipients };
        } catch (error) {
          if (error instanceof RelayError) return { result: 'refused', error };
          throw error;
        }
      });
    });
  }

  async getEnvelope(messageId: Uint8Array): Promise<EnvelopeRecord | undefined> {
    return this.read('get envelope', () => {
      const r = this.db
        .prepare<[Uint8Array], EnvelopeRow>('SELECT * FROM envelopes WHERE message_id = ?')
        .get(messageId);
      return r === undefined ? undefined : envelopeFrom(r);
    });
  }

  async deleteEpochEnvelopes(orgId: string, epoch: number): Promise<number> {
    return this.tx('delete epoch', () => {
      const blobs = this.db
        .prepare<[string, number], { blob_id: string }>(
          'SELECT blob_id FROM envelopes WHERE org_id = ? AND epoch = ? AND blob_id IS NOT NULL',
        )
        .all(orgId, epoch)
        .map((r) => r.blob_id);
      const n = this.db
        .prepare('DELETE FROM envelopes WHERE org_id = ? AND epoch = ?')
        .run(orgId, epoch).changes;
      const del = this.db.prepare('DELETE FROM blobs WHERE blob_id = ?');
      for (const b of blobs) del.run(b);
      return n;
    });
  }

  async deleteStaleBlobs(createdBefore: number): Promise<number> {
    return this.tx(
      'delete stale blobs',
      () =>
        this.db
          .prepare(
            'DELETE FROM blobs WHERE created_at < ? ' +
              'AND NOT EXISTS (SELECT 1 FROM envelopes e WHERE e.blob_id = blobs.blob_id)',
          )
          .run(createdBefore).changes,
    );
  }

  async createBlob(b: NewBlob, quotaBytes?: number): Promise<void> {
    // BEGIN IMMEDIATE: the sum and the insert hold the write lock together (STORE-R-9).
    this.tx('create blob', () => {
      if (quotaBytes !== undefined && this.usage(b.ownerDeviceId) + blobCharge(b.size) > quotaBytes)
        throw new RelayError('BLOB_QUOTA', 'the device has no blob quota left for this size', {
          check: 'STORE-R-9',
        });
      const r = this.db
        .prepare(
          'INSERT INTO blobs (blob_id, owner_device_id, size, chunk_size, sha256, created_at) VALUES (?, ?, ?, ?, ?, ?) ' +
            'ON CONFLICT DO NOTHING',
        )
        // A digest declared at completion (streaming form) is stored as empty bytes until then.
        .run(b.blobId, b.ownerDeviceId, b.size, b.chunkSize, b.sha256 ?? new Uint8Array(0), b.now);
      if (r.changes === 0) throw new RelayError('BLOB_STATE', 'the blob id is taken');
    });
  }

  private usage(ownerDeviceId: string): number {
    return (
      this.db
        .prepare<[number, string], { n: number | null }>(
          'SELECT sum(max(size, ?)) AS n FROM blobs WHERE owner_device_id = ?',
        )
        .get(MIN_BLOB_CHUNK, ownerDeviceId)!.n ?? 0
    );
  }

  async blobUsage(ownerDeviceId: string): Promise<number> {
    return this.read('blob usage', () => this.usage(ownerDeviceId));
  }

  private blobRow(blobId: string) {
    return this.db
      .prepare<
        [string],
        {
          owner_device_id: string;
          size: number;
          chunk_size: number;
          sha256: Uint8Array;
          complete: number;
          created_at: number;
        }
      >('SELECT owner_device_id, size, chunk_size, sha256, complete, created_at FROM blobs WHERE blob_id = ?')
      .get(blobId);
  }

  async putBlobChunk(blobId: string, ownerDeviceId: string, index: number, data: Uint8Array): Promise<void> {
    this.tx('put blob chunk', () => {
      const b = this.blobRow(blobId);
      if (b === undefined || b.owner_device_id !== ownerDeviceId)
        throw new RelayError('BLOB_UNKNOWN', 'no such blob of this device');
      if (b.complete === 1) throw new RelayError('BLOB_STATE', 'the blob is complete');
      if (blobChunkLength(b.size, b.chunk_size, index) !== data.length)
        throw new RelayError('BLOB_STATE', 'chunk index or length does not fit the blob', {
          check: 'STORE-R-6',
        });
      const existing = this.db
        .prepare<[string, number], { data: Uint8Array }>(
          'SELECT data FROM blob_chunks WHERE blob_id = ? AND idx = ?',
        )
        .get(blobId, index);
      if (existing !== undefined) {
        if (!sameBytes(plainBytes(existing.data), data))
          throw new RelayError('BLOB_STATE', 'the chunk was stored with other bytes', { check: 'STORE-R-6' });
        return;
      }
      this.db
        .prepare('INSERT INTO blob_chunks (blob_id, idx, data) VALUES (?, ?, ?)')
        .run(blobId, index, data);
    });
  }

  async completeBlob(blobId: string, ownerDeviceId: string, sha256?: Uint8Array): Promise<void> {
    this.tx('complete blob', () => {
      const b = this.blobRow(blobId);
      if (b === undefined || b.owner_device_id !== ownerDeviceId)
        throw new RelayError('BLOB_UNKNOWN', 'no such blob of this device');
      const n = this.db
        .prepare<[string], { n: number }>('SELECT count(*) AS n FROM blob_chunks WHERE blob_id = ?')
        .get(blobId)!.n;
      if (n !== blobChunkCount(b.size, b.chunk_size))
        throw new RelayError('BLOB_STATE', 'the blob is missing chunks', { check: 'STORE-R-6' });
      this.db
        .prepare('UPDATE blobs SET complete = 1, sha256 = ? WHERE blob_id = ?')
        .run(b.sha256.length === 0 && sha256 !== undefined ? sha256 : b.sha256, blobId);
    });
  }

  async getBlob(blobId: string): Promise<BlobRecord | undefined> {
    return this.read('get blob', () => {
      const b = this.blobRow(blobId);
      if (b === undefined) return undefined;
      const n = this.db
        .prepare<[string], { n: number }>('SELECT count(*) AS n FROM blob_chunks WHERE blob_id = ?')
        .get(blobId)!.n;
      return {
        blobId,
        ownerDeviceId: b.owner_device_id,
        size: b.size,
        chunkSize: b.chunk_size,
        sha256: b.sha256.length === 0 ? null : plainBytes(b.sha256),
        now: b.created_at,
        complete: b.complete === 1,
        chunksStored: n,
      };
    });
  }

  async readBlobChunk(blobId: string, index: number): Promise<Uint8Array | undefined> {
    return this.read('read blob chunk', () => {
      const r = this.db
        .prepare<[string, number], { data: Uint8Array }>(
          'SELECT data FROM blob_chunks WHERE blob_id = ? AND idx = ?',
        )
        .get(blobId, index);
      return r === undefined ? undefined : plainBytes(r.data);
    });
  }

  async putEpochKey(k: EpochKeyRecord): Promise<void> {
    this.tx('put epoch key', () => {
      const max = this.db
        .prepare<[], { m: number | null }>('SELECT max(epoch) AS m FROM epoch_keys')
        .get()!.m;
      if (max !== null && k.epoch === max)
        throw new RelayError('EPOCH_KEY_EXISTS', 'this epoch key is already published', {
          check: 'STORE-R-2',
        });
      if (max !== null && k.epoch < max) {
        const exists = this.db.prepare('SELECT 1 FROM epoch_keys WHERE epoch = ?').get(k.epoch) !== undefined;
        throw new RelayError(
          exists ? 'EPOCH_KEY_EXISTS' : 'EPOCH_KEY_INVALID',
          'epoch keys are published in increasing epoch order',
          { check: 'STORE-R-2' },
        );
      }
      this.db
        .prepare(
          'INSERT INTO epoch_keys (epoch, threshold, group_key, verification_keys, transcript_hash, statement, ' +
            'log_index, published_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(
          k.epoch,
          k.threshold,
          k.groupKey,
          concat32(k.verificationKeys),
          k.transcriptHash,
          k.statement,
          k.logIndex,
          k.publishedAt,
        );
      this.insertEpochKeyHistory(k);
    });
  }

  /**
   * Records a logged statement and prunes the trustee mailbox (MAIL-1): every message stored before the previous
   * statement was logged belongs to a finished session, since a session starts only after the proposer saw the
   * previous statement on the log and this one is logged only after every trustee it needs finished it.
   */
  private insertEpochKeyHistory(k: EpochKeyRecord): void {
    const prev = this.db
      .prepare<[], { m: number | null }>('SELECT max(mail_seq) AS m FROM epoch_key_history')
      .get()!.m;
    if (prev !== null) this.db.prepare('DELETE FROM trustee_mail WHERE seq <= ?').run(prev);
    this.db
      .prepare(
        'INSERT INTO epoch_key_history (epoch, log_index, threshold, group_key, verification_keys, ' +
          'transcript_hash, statement, published_at, mail_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ' +
          '(SELECT coalesce(max(seq), 0) FROM trustee_mail))',
      )
      .run(
        k.epoch,
        k.logIndex,
        k.threshold,
        k.groupKey,
        concat32(k.verificationKeys),
        k.transcriptHash,
        k.statement,
        k.publishedAt,
      );
  }

  async replaceEpochKey(k: EpochKeyRecord, previousLogIndex: number): Promise<void> {
    this.tx('replace epoch key', () => {
      const r = this.db
        .prepare<[number], EpochKeyRow>('SELECT * FROM epoch_keys WHERE epoch = ?')
        .get(k.epoch);
      if (r === undefined)
        throw new RelayError('EPOCH_KEY_UNKNOWN', 'no key of this epoch is stored', { check: 'STORE-R-2' });
      const stored = epochKeyFrom(r);
      if (
        stored.logIndex !== previousLogIndex ||
        !sameBytes(stored.groupKey, k.groupKey) ||
        k.logIndex <= stored.logIndex
      )
        throw new RelayError('EPOCH_KEY_EXISTS', 'the epoch key in force is another one', {
          check: 'STORE-R-2',
        });
      this.db
        .prepare(
          'UPDATE epoch_keys SET threshold = ?, verification_keys = ?, transcript_hash = ?, statement = ?, ' +
            'log_index = ?, published_at = ? WHERE epoch = ?',
        )
        .run(
          k.threshold,
          concat32(k.verificationKeys),
          k.transcriptHash,
          k.statement,
          k.logIndex,
          k.publishedAt,
          k.epoch,
        );
      this.insertEpochKeyHistory(k);
    });
  }

  async epochKeyHistory(epoch: number): Promise<EpochKeyRecord[]> {
    return this.read('epoch key history', () =>
      this.db
        .prepare<[number], EpochKeyRow>('SELECT * FROM epoch_key_history WHERE epoch = ? ORDER BY log_index')
        .all(epoch)
        .map(epochKeyFrom),
    );
  }

  async getEpochKey(epoch: number): Promise<EpochKeyRecord | undefined> {
    return this.read('get epoch key', () => {
      const r = this.db.prepare<[number], EpochKeyRow>('SELECT * FROM epoch_keys WHERE epoch = ?').get(epoch);
      return r === undefined ? undefined : epochKeyFrom(r);
    });
  }

  async currentEpochKey(): Promise<EpochKeyRecord | undefined> {
    return this.read('current epoch key', () => {
      const r = this.db
        .prepare<[], EpochKeyRow>('SELECT * FROM epoch_keys ORDER BY epoch DESC LIMIT 1')
        .get();
      return r === undefined ? undefined : epochKeyFrom(r);
    });
  }

  async putPolicy(p: PolicyRecord): Promise<void> {
    this.tx('put policy', () => {
      const max = this.db.prepare<[], { m: number | null }>('SELECT max(serial) AS m FROM policies').get()!.m;
      if (max !== null && p.serial <= max)
        throw new RelayError('POLICY_STALE', 'policies are logged in increasing serial order', {
          check: 'STORE-R-8',
        });
      this.db
        .prepare('INSERT INTO policies (serial, policy, log_index, published_at) VALUES (?, ?, ?, ?)')
        .run(p.serial, p.signed, p.logIndex, p.publishedAt);
    });
  }

  async currentPolicy(): Promise<PolicyRecord | undefined> {
    return this.read('current policy', () => {
      const r = this.db.prepare<[], PolicyRow>('SELECT * FROM policies ORDER BY serial DESC LIMIT 1').get();
      return r === undefined
        ? undefined
        : {
            serial: r.serial,
            signed: plainBytes(r.policy),
            logIndex: r.log_index,
            publishedAt: r.published_at,
          };
    });
  }

  async putAbuseReport(r: NewAbuseReport): Promise<{ reportId: number; result: 'stored' | 'duplicate' }> {
    return this.tx('put abuse report', () => {
      const existing = this.db
        .prepare<[Uint8Array, string], { report_id: number }>(
          'SELECT report_id FROM abuse_reports WHERE message_id = ? AND reporter_user_id = ?',
        )
        .get(r.messageId, r.reporterUserId);
      if (existing !== undefined) return { reportId: existing.report_id, result: 'duplicate' as const };
      const info = this.db
        .prepare(
          `INSERT INTO abuse_reports (${ABUSE_REPORT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(...abuseReportRowValues(r));
      return { reportId: Number(info.lastInsertRowid), result: 'stored' as const };
    });
  }

  async listAbuseReports(afterId: number, limit: number): Promise<AbuseReportSummary[]> {
    return this.read('list abuse reports', () =>
      this.db
        .prepare<[number, number], AbuseReportRow<number>>(
          `SELECT ${REPORT_SUMMARY_COLUMNS} FROM abuse_reports WHERE report_id > ? ORDER BY report_id LIMIT ?`,
        )
        .all(afterId, limit)
        .map((r) => reportSummaryFrom(r, Number)),
    );
  }

  async getAbuseReport(reportId: number): Promise<AbuseReportRecord | undefined> {
    return this.read('get abuse report', () => {
      const r = this.db
        .prepare<[number], AbuseReportRow<number> & { report: Uint8Array }>(
          'SELECT * FROM abuse_reports WHERE report_id = ?',
        )
        .get(reportId);
      return r === undefined ? undefined : { ...reportSummaryFrom(r, Number), report: plainBytes(r.report) };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.nonceBatch.length > 0) this.flushNonces();
    this.closed = true;
    this.db.close();
  }
}
