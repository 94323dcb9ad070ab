/**
 * The trustee's vault (docs/spec/access.md §6): `vault.sqlite` (better-sqlite3, WAL) and `identity.json` in the
 * trustee's data directory (mode 0700).
 *
 * Secret rows (the signing seed, the HPKE secret key, every epoch share with its DKG transcript) are sealed with
 * XChaCha20-Poly1305 under the vault key, with the row's name as associated data (client `sealRecord`: version ‖
 * 24-byte nonce ‖ ciphertext ‖ tag), so a row moved to another name does not open. The vault key is either
 * Argon2id(passphrase) with a salt and parameters stored in the clear in the `meta` table, or a raw 32-byte key.
 * A sealed check row tells a wrong key (TRU-1) from a tampered row (TRU-3).
 *
 * Plain rows hold state that is not secret (ceremony attempts, the monitor's checkpoint, alerts), and the
 * `shredded` table (after-release.md §6): one row per epoch whose share this trustee erased, with the signed shred
 * statement and, once the relay took it, its log index.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openRecord, sealRecord } from '@overt/client';
import {
  ARGON2ID_SALT_BYTES,
  type Argon2idParams,
  argon2id,
  decodeScalar,
  deriveDkgEncryptionKey,
  equalBytes,
  fromBase64,
  fromHex,
  group,
  isOvertError,
  type KeyShare,
  Reader,
  randomBytes,
  type Scalar,
  type SigningKeyPair,
  signingKeyFromSeed,
  toBase64,
  toHex,
  utf8Encode,
  verifyTranscript,
  Writer,
  x25519PublicKey,
} from '@overt/core';
import Database from 'better-sqlite3';
import { TrusteeError } from './errors.js';
import type { EpochShare, ShareVault } from './vault-api.js';

export const VAULT_FILE = 'vault.sqlite';
export const IDENTITY_FILE = 'identity.json';
/** Prefix of every sealed row's associated data: the label is `overt/trustee/v1/vault:<row name>`. */
export const VAULT_LABEL_PREFIX = 'overt/trustee/v1/vault:';
const CHECK_ROW = 'vault/check';
const CHECK_PLAINTEXT = 'overt/trustee/v1/vault-check';
const SIGNING_ROW = 'identity/signing-seed';
const HPKE_ROW = 'identity/hpke-secret';
const SHARE_RECORD_VERSION = 1;

/** Argon2id for new vaults: t = 3 passes over 64 MiB (one lane). */
export const DEFAULT_VAULT_ARGON2: Argon2idParams = { t: 3, m: 65_536 };

/** Where the vault key comes from (access.md §6). */
export type VaultKeySource =
  | { readonly kind: 'passphrase'; readonly passphrase: Uint8Array }
  | { readonly kind: 'raw'; readonly key: Uint8Array };

/**
 * The vault key source from the environment: OVERT_TRUSTEE_VAULT_KEY (64 hex digits) or OVERT_TRUSTEE_PASSPHRASE,
 * or a passphrase file (its first line). TRUSTEE_VAULT_KEY (TRU-2) when none or a malformed one is given.
 */
export function vaultKeySource(
  env: NodeJS.ProcessEnv = process.env,
  passphraseFile?: string,
): VaultKeySource {
  const hex = env.OVERT_TRUSTEE_VAULT_KEY;
  if (hex !== undefined && hex !== '') {
    let key: Uint8Array;
    try {
      key = fromHex(hex.trim());
    } catch {
      throw keyError('OVERT_TRUSTEE_VAULT_KEY is not hex', 'TRU-2');
    }
    if (key.length !== 32)
      throw keyError('OVERT_TRUSTEE_VAULT_KEY must be 32 bytes (64 hex digits)', 'TRU-2');
    return { kind: 'raw', key };
  }
  let passphrase: string | undefined;
  if (passphraseFile !== undefined) {
    passphrase = readFileSync(passphraseFile, 'utf8').split(/\r?\n/)[0];
  } else passphrase = env.OVERT_TRUSTEE_PASSPHRASE;
  if (passphrase === undefined || passphrase === '')
    throw keyError(
      'no vault key: set OVERT_TRUSTEE_VAULT_KEY or OVERT_TRUSTEE_PASSPHRASE, or pass --passphrase-file',
      'TRU-2',
    );
  return { kind: 'passphrase', passphrase: utf8Encode(passphrase) };
}

function keyError(message: string, check: string, cause?: unknown): TrusteeError {
  return new TrusteeError('TRUSTEE_VAULT_KEY', message, { check, cause });
}

function corrupt(message: string, cause?: unknown): TrusteeError {
  return new TrusteeError('TRUSTEE_VAULT_CORRUPT', message, { check: 'TRU-3', cause });
}

/** The public identity file (access.md §6). */
export interface TrusteeIdentity {
  readonly version: 1;
  readonly index: number;
  /** Ed25519 public key, base64. */
  readonly signingKey: string;
  /** X25519 public key (HPKE), base64. */
  readonly hpkeKey: string;
}

/** Reads and checks identity.json (TRU-5: TRUSTEE_STATE on malformed content). */
export function readIdentity(dataDir: string): TrusteeIdentity {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(join(dataDir, IDENTITY_FILE), 'utf8'));
  } catch (e) {
    throw new TrusteeError('TRUSTEE_STATE', 'identity.json is missing or not JSON', {
      check: 'TRU-5',
      cause: e,
    });
  }
  const o = parsed as Partial<TrusteeIdentity>;
  const ok =
    typeof o === 'object' &&
    o !== null &&
    o.version === 1 &&
    Number.isInteger(o.index) &&
    (o.index as number) >= 1 &&
    (o.index as number) <= 255 &&
    typeof o.signingKey === 'string' &&
    typeof o.hpkeKey === 'string';
  if (!ok) throw new TrusteeError('TRUSTEE_STATE', 'identity.json is malformed', { check: 'TRU-5' });
  try {
    if (fromBase64(o.signingKey!).length !== 32 || fromBase64(o.hpkeKey!).length !== 32)
      throw new Error('length');
  } catch (e) {
    throw new TrusteeError('TRUSTEE_STATE', 'identity.json keys are malformed', { check: 'TRU-5', cause: e });
  }
  return o as TrusteeIdentity;
}

/** One stored share: the DKG receiver share and the transcript it came from. */
interface ShareRecord {
  readonly epoch: number;
  readonly index: number;
  readonly secret: Uint8Array;
  readonly transcript: Uint8Array;
}

function encodeShare(r: ShareRecord): Uint8Array {
  return new Writer(48 + r.transcript.length)
    .u8(SHARE_RECORD_VERSION)
    .u32(r.epoch)
    .u8(r.index)
    .bytes(r.secret)
    .vec32(r.transcript)
    .finish();
}

function decodeShare(bytes: Uint8Array): ShareRecord {
  try {
    const r = new Reader(bytes);
    if (r.u8('version') !== SHARE_RECORD_VERSION) throw corrupt('share row has an unknown version');
    const rec = {
      epoch: r.u32('epoch'),
      index: r.u8('index'),
      secret: r.bytes(32, 'share').slice(),
      transcript: r.vec32('transcript').slice(),
    };
    r.finish('share row');
    return rec;
  } catch (e) {
    if (e instanceof TrusteeError) throw e;
    if (isOvertError(e)) throw corrupt('share row does not decode', e);
    throw e;
  }
}

/** Options of {@link TrusteeVault.open}. */
export interface VaultOpenOptions {
  readonly dataDir: string;
  readonly key: VaultKeySource;
  /** The trustee's index; required on first open (it goes into identity.json), checked after. */
  readonly index?: number;
  /** Argon2id parameters for a new passphrase vault (default {@link DEFAULT_VAULT_ARGON2}). */
  readonly argon2?: Argon2idParams;
}

interface KdfRow {
  readonly name: 'argon2id' | 'raw';
  readonly t?: number;
  readonly m?: number;
  readonly salt?: string;
}

export interface Alert {
  readonly id: number;
  readonly kind: string;
  readonly detail: string;
  readonly at: number;
}

/** One shredded epoch (after-release.md §6): when, the signed shred statement, and its log index once posted. */
export interface ShreddedEpoch {
  readonly epoch: number;
  readonly at: number;
  /** The signed shred statement (workflow.md §9.6), signed once, when the share was deleted. */
  readonly statement: Uint8Array;
  /** The statement's log index, once the relay took it; null until then. */
  readonly logIndex: number | null;
}

function shredded(epoch: number): TrusteeError {
  return new TrusteeError('TRUSTEE_SHARE_SHREDDED', `the share of epoch ${epoch} was shredded`, {
    check: 'TRU-S1',
  });
}

export class TrusteeVault implements ShareVault {
  readonly index: number;
  readonly dataDir: string;
  readonly identity: TrusteeIdentity;
  private readonly db: Database.Database;
  private readonly key: Uint8Array;
  private readonly signing: SigningKeyPair;
  private readonly hpke: { readonly publicKey: Uint8Array; readonly secretKey: Uint8Array };
  private readonly shareCache = new Map<number, EpochShare>();

  private constructor(
    dataDir: string,
    db: Database.Database,
    key: Uint8Array,
    identity: TrusteeIdentity,
    signing: SigningKeyPair,
    hpke: { publicKey: Uint8Array; secretKey: Uint8Array },
  ) {
    this.dataDir = dataDir;
    this.db = db;
    this.key = key;
    this.identity = identity;
    this.index = identity.index;
    this.signing = signing;
    this.hpke = hpke;
  }

  /**
   * Opens the vault, creating the data directory (0700), the database, the identity keys and identity.json on
   * first use. TRUSTEE_VAULT_KEY (TRU-1) when the key is not this vault's; TRUSTEE_VAULT_CORRUPT (TRU-3) when a
   * sealed row was altered; TRUSTEE_STATE (TRU-4) for a data directory others can read, (TRU-5) an identity that
   * does not match the vault.
   */
  static async open(o: VaultOpenOptions): Promise<TrusteeVault> {
    mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
    if ((statSync(o.dataDir).mode & 0o077) !== 0)
      throw new TrusteeError('TRUSTEE_STATE', `${o.dataDir} is accessible to others; make it mode 0700`, {
        check: 'TRU-4',
      });
    const db = new Database(join(o.dataDir, VAULT_FILE));
    try {
      chmodSync(join(o.dataDir, VAULT_FILE), 0o600);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      // Deleted rows are overwritten with zeros in the database file (a shredded share must not linger in free pages).
      db.pragma('secure_delete = ON');
      db.exec(`
        CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, sealed BLOB NOT NULL);
        CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS alerts (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,
          detail TEXT NOT NULL, at INTEGER NOT NULL, dedup TEXT UNIQUE);
        CREATE TABLE IF NOT EXISTS shredded (epoch INTEGER PRIMARY KEY, at INTEGER NOT NULL,
          statement BLOB NOT NULL, log_index INTEGER);
      `);
      const key = deriveKey(db, o.key, o.argon2 ?? DEFAULT_VAULT_ARGON2);
      const vault = await TrusteeVault.init(o, db, key);
      return vault;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  private static async init(
    o: VaultOpenOptions,
    db: Database.Database,
    key: Uint8Array,
  ): Promise<TrusteeVault> {
    const getSecret = (name: string) =>
      (db.prepare('SELECT sealed FROM secrets WHERE name = ?').get(name) as { sealed: Buffer } | undefined)
        ?.sealed;
    const open = (name: string, sealed: Uint8Array) => {
      try {
        return openRecord(key, VAULT_LABEL_PREFIX + name, new Uint8Array(sealed));
      } catch (e) {
        throw corrupt(`vault row ${name} does not open`, e);
      }
    };
    // The key check: a wrong key fails here, before any secret row is touched (TRU-1).
    const check = getSecret(CHECK_ROW);
    if (check === undefined) {
      db.prepare('INSERT INTO secrets (name, sealed) VALUES (?, ?)').run(
        CHECK_ROW,
        sealRecord(key, VAULT_LABEL_PREFIX + CHECK_ROW, utf8Encode(CHECK_PLAINTEXT)),
      );
    } else {
      let plain: Uint8Array;
      try {
        plain = openRecord(key, VAULT_LABEL_PREFIX + CHECK_ROW, new Uint8Array(check));
      } catch (e) {
        throw keyError('the vault key is not the key of this vault', 'TRU-1', e);
      }
      if (!equalBytes(plain, utf8Encode(CHECK_PLAINTEXT)))
        throw keyError('the vault key check failed', 'TRU-1');
    }
    let seed = getSecret(SIGNING_ROW);
    let hpkeSecret = getSecret(HPKE_ROW);
    if (seed === undefined || hpkeSecret === undefined) {
      if (seed !== undefined || hpkeSecret !== undefined) throw corrupt('the vault holds half an identity');
      if (o.index === undefined || !Number.isInteger(o.index) || o.index < 1 || o.index > 255)
        throw new TrusteeError('TRUSTEE_STATE', 'a new trustee needs its index (1..255)', { check: 'TRU-5' });
      const newSeed = randomBytes(32);
      const kp = await deriveDkgEncryptionKey(randomBytes(32));
      db.transaction(() => {
        db.prepare('INSERT INTO secrets (name, sealed) VALUES (?, ?)').run(
          SIGNING_ROW,
          sealRecord(key, VAULT_LABEL_PREFIX + SIGNING_ROW, newSeed),
        );
        db.prepare('INSERT INTO secrets (name, sealed) VALUES (?, ?)').run(
          HPKE_ROW,
          sealRecord(key, VAULT_LABEL_PREFIX + HPKE_ROW, kp.secretKey),
        );
        db.prepare('INSERT INTO meta (name, value) VALUES (?, ?)').run('index', String(o.index));
      })();
      newSeed.fill(0);
      kp.secretKey.fill(0);
      // Read back what was written, so a new vault takes the same path as an existing one.
      seed = getSecret(SIGNING_ROW)!;
      hpkeSecret = getSecret(HPKE_ROW)!;
    }
    const seedBytes = open(SIGNING_ROW, seed);
    const hpkeBytes = open(HPKE_ROW, hpkeSecret);
    if (seedBytes.length !== 32 || hpkeBytes.length !== 32)
      throw corrupt('an identity row has the wrong length');
    const signing = signingKeyFromSeed(seedBytes);
    seedBytes.fill(0);
    const hpke = { publicKey: x25519PublicKey(hpkeBytes), secretKey: hpkeBytes };
    const storedIndex = Number(
      (db.prepare("SELECT value FROM meta WHERE name = 'index'").get() as { value: string }).value,
    );
    if (o.index !== undefined && o.index !== storedIndex)
      throw new TrusteeError('TRUSTEE_STATE', `this vault is trustee ${storedIndex}, not ${o.index}`, {
        check: 'TRU-5',
      });
    const identity: TrusteeIdentity = {
      version: 1,
      index: storedIndex,
      signingKey: toBase64(signing.publicKey),
      hpkeKey: toBase64(hpke.publicKey),
    };
    const idPath = join(o.dataDir, IDENTITY_FILE);
    if (existsSync(idPath)) {
      const onDisk = readIdentity(o.dataDir);
      if (
        onDisk.index !== identity.index ||
        onDisk.signingKey !== identity.signingKey ||
        onDisk.hpkeKey !== identity.hpkeKey
      )
        throw new TrusteeError('TRUSTEE_STATE', 'identity.json does not match the vault', { check: 'TRU-5' });
    } else {
      writeFileSync(idPath, `${JSON.stringify(identity, null, 2)}\n`, { mode: 0o644 });
    }
    return new TrusteeVault(o.dataDir, db, key, identity, signing, hpke);
  }

  signingKey(): SigningKeyPair {
    return this.signing;
  }

  hpkeKeyPair(): { readonly publicKey: Uint8Array; readonly secretKey: Uint8Array } {
    return this.hpke;
  }

  private sealedRow(name: string): Uint8Array | undefined {
    const row = this.db.prepare('SELECT sealed FROM secrets WHERE name = ?').get(name) as
      | { sealed: Buffer }
      | undefined;
    if (row === undefined) return undefined;
    try {
      return openRecord(this.key, VAULT_LABEL_PREFIX + name, new Uint8Array(row.sealed));
    } catch (e) {
      throw corrupt(`vault row ${name} does not open`, e);
    }
  }

  private putRow(name: string, plaintext: Uint8Array, replace: boolean): void {
    const sealed = sealRecord(this.key, VAULT_LABEL_PREFIX + name, plaintext);
    this.db
      .prepare(`INSERT ${replace ? 'OR REPLACE ' : ''}INTO secrets (name, sealed) VALUES (?, ?)`)
      .run(name, sealed);
  }

  private static shareRow(epoch: number): string {
    return `epoch/${epoch}/share`;
  }

  private static pendingRow(epoch: number, transcriptHash: Uint8Array): string {
    return `epoch/${epoch}/pending/${toHex(transcriptHash)}`;
  }

  private static toEpochShare(rec: ShareRecord, expectedEpoch: number): EpochShare {
    let verified: ReturnType<typeof verifyTranscript>;
    try {
      verified = verifyTranscript(rec.transcript);
    } catch (e) {
      if (isOvertError(e)) throw corrupt('a stored transcript does not verify', e);
      throw e;
    }
    if (rec.epoch !== expectedEpoch || verified.session.epoch !== expectedEpoch)
      throw corrupt('a share row is of another epoch');
    const vk = verified.publicKey.verificationKeys[rec.index - 1];
    let secret: Scalar | undefined;
    try {
      secret = decodeScalar(rec.secret, 'share');
    } catch (e) {
      if (!isOvertError(e)) throw e;
    }
    if (secret === undefined || vk === undefined || !equalBytes(group.baseMul(secret), vk))
      throw corrupt('a stored share does not match its verification key');
    const share: KeyShare = { index: rec.index, secret };
    return {
      epoch: rec.epoch,
      share,
      publicKey: verified.publicKey,
      transcriptHash: verified.transcriptHash,
    };
  }

  /**
   * The active share of `epoch` (the one whose transcript hash is on the log), or undefined when this trustee never
   * held one. TRUSTEE_SHARE_SHREDDED (TRU-S1) when it was shredded.
   */
  async share(epoch: number): Promise<EpochShare | undefined> {
    if (this.shreddedEpoch(epoch) !== undefined) throw shredded(epoch);
    const cached = this.shareCache.get(epoch);
    if (cached) return cached;
    const plain = this.sealedRow(TrusteeVault.shareRow(epoch));
    if (plain === undefined) return undefined;
    try {
      const out = TrusteeVault.toEpochShare(decodeShare(plain), epoch);
      this.shareCache.set(epoch, out);
      return out;
    } finally {
      plain.fill(0);
    }
  }

  /**
   * Stores the output of a finished ceremony as pending: it becomes the epoch's share only when its transcript
   * hash is on the log ({@link activateShare}). A ceremony rerun leaves another pending row; activation keeps one.
   * TRUSTEE_SHARE_SHREDDED (TRU-S1) for a shredded epoch: nothing brings its share back.
   */
  putPendingShare(epoch: number, share: KeyShare, transcript: Uint8Array, transcriptHash: Uint8Array): void {
    if (this.shreddedEpoch(epoch) !== undefined) throw shredded(epoch);
    const plain = encodeShare({ epoch, index: share.index, secret: share.secret, transcript });
    try {
      this.putRow(TrusteeVault.pendingRow(epoch, transcriptHash), plain, true);
    } finally {
      plain.fill(0);
    }
  }

  /** Whether a pending share of `epoch` with this transcript hash exists. */
  hasPendingShare(epoch: number, transcriptHash: Uint8Array): boolean {
    return (
      this.db
        .prepare('SELECT 1 FROM secrets WHERE name = ?')
        .get(TrusteeVault.pendingRow(epoch, transcriptHash)) !== undefined
    );
  }

  /**
   * Makes the pending share with `transcriptHash` the share of `epoch` (replacing an older one: a resharing) and
   * deletes every other pending share of the epoch, in one transaction. Returns false when no such pending share
   * exists (the active share, if any, is then kept). Never two shares for an epoch (CER-9).
   */
  activateShare(epoch: number, transcriptHash: Uint8Array): boolean {
    const pending = TrusteeVault.pendingRow(epoch, transcriptHash);
    const row = this.db.prepare('SELECT sealed FROM secrets WHERE name = ?').get(pending) as
      | { sealed: Buffer }
      | undefined;
    if (row === undefined) return false;
    if (this.shreddedEpoch(epoch) !== undefined) throw shredded(epoch);
    const plain = this.sealedRow(pending)!;
    try {
      TrusteeVault.toEpochShare(decodeShare(plain), epoch);
      this.db.transaction(() => {
        this.putRow(TrusteeVault.shareRow(epoch), plain, true);
        this.db.prepare('DELETE FROM secrets WHERE name LIKE ?').run(`epoch/${epoch}/pending/%`);
      })();
    } finally {
      plain.fill(0);
    }
    this.shareCache.delete(epoch);
    return true;
  }

  /** Deletes every pending share of `epoch` (a failed ceremony's output). */
  dropPendingShares(epoch: number): void {
    this.db.prepare('DELETE FROM secrets WHERE name LIKE ?').run(`epoch/${epoch}/pending/%`);
  }

  /** Epochs with an active share. */
  shareEpochs(): number[] {
    const rows = this.db.prepare("SELECT name FROM secrets WHERE name LIKE 'epoch/%/share'").all() as {
      name: string;
    }[];
    return rows.map((r) => Number(r.name.split('/')[1])).sort((a, b) => a - b);
  }

  /** Deletes the share of `epoch` (erasure after a resharing dropped this trustee; shredding is {@link shred}). */
  deleteShare(epoch: number): void {
    this.db.prepare('DELETE FROM secrets WHERE name = ?').run(TrusteeVault.shareRow(epoch));
    this.shareCache.delete(epoch);
  }

  /**
   * Crypto-shredding (after-release.md §6, TRU-S1): deletes the share of `epoch` and every pending share of it, and
   * records the epoch as shredded with the shred statement `sign(at)` returns, in one transaction; then checkpoints
   * and truncates the WAL, so that (with `secure_delete`) no page of the vault's files holds the sealed share. Resolves the
   * record; an epoch shredded before resolves its first record unchanged (a statement is signed once).
   * TRUSTEE_API when this trustee holds no share of `epoch`.
   */
  shred(epoch: number, at: number, sign: (at: number) => Uint8Array): ShreddedEpoch {
    const before = this.shreddedEpoch(epoch);
    if (before !== undefined) return before;
    const name = TrusteeVault.shareRow(epoch);
    if (this.db.prepare('SELECT 1 FROM secrets WHERE name = ?').get(name) === undefined)
      throw new TrusteeError('TRUSTEE_API', `this trustee holds no share of epoch ${epoch}`, {
        check: 'TRU-S1',
      });
    const statement = sign(at);
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM secrets WHERE name = ?').run(name);
      this.db.prepare('DELETE FROM secrets WHERE name LIKE ?').run(`epoch/${epoch}/pending/%`);
      this.db
        .prepare('INSERT INTO shredded (epoch, at, statement, log_index) VALUES (?, ?, ?, NULL)')
        .run(epoch, at, statement);
    })();
    this.shareCache.delete(epoch);
    // The WAL still holds page images with the sealed share: copy the zeroed pages into the database and empty it.
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    return { epoch, at, statement: statement.slice(), logIndex: null };
  }

  /** The shred record of `epoch`, or undefined when it was not shredded. */
  shreddedEpoch(epoch: number): ShreddedEpoch | undefined {
    const row = this.db
      .prepare('SELECT epoch, at, statement, log_index FROM shredded WHERE epoch = ?')
      .get(epoch) as ShredRow | undefined;
    return row === undefined ? undefined : shredRecord(row);
  }

  /** Every shredded epoch, ascending. */
  shreddedEpochs(): ShreddedEpoch[] {
    return (
      this.db
        .prepare('SELECT epoch, at, statement, log_index FROM shredded ORDER BY epoch')
        .all() as ShredRow[]
    ).map(shredRecord);
  }

  /** Records the log index of `epoch`'s shred statement once the relay took it. */
  markShredLogged(epoch: number, logIndex: number): void {
    this.db.prepare('UPDATE shredded SET log_index = ? WHERE epoch = ?').run(logIndex, epoch);
  }

  /** A plain (not secret) state value. */
  getState(name: string): string | undefined {
    return (
      this.db.prepare('SELECT value FROM state WHERE name = ?').get(name) as { value: string } | undefined
    )?.value;
  }

  setState(name: string, value: string): void {
    this.db.prepare('INSERT OR REPLACE INTO state (name, value) VALUES (?, ?)').run(name, value);
  }

  deleteState(name: string): void {
    this.db.prepare('DELETE FROM state WHERE name = ?').run(name);
  }

  /** Plain state rows whose name starts with `prefix`. */
  statesWithPrefix(prefix: string): { name: string; value: string }[] {
    return this.db
      .prepare('SELECT name, value FROM state WHERE substr(name, 1, length(?)) = ? ORDER BY name')
      .all(prefix, prefix) as { name: string; value: string }[];
  }

  /** Records an alert once per `dedup` key (when given). Returns true when it is new. */
  addAlert(kind: string, detail: string, at: number, dedup?: string): boolean {
    const r = this.db
      .prepare('INSERT OR IGNORE INTO alerts (kind, detail, at, dedup) VALUES (?, ?, ?, ?)')
      .run(kind, detail, at, dedup ?? null);
    return r.changes > 0;
  }

  alerts(): Alert[] {
    return this.db.prepare('SELECT id, kind, detail, at FROM alerts ORDER BY id').all() as Alert[];
  }

  close(): void {
    this.key.fill(0);
    this.db.close();
  }
}

interface ShredRow {
  readonly epoch: number;
  readonly at: number;
  readonly statement: Buffer;
  readonly log_index: number | null;
}

function shredRecord(r: ShredRow): ShreddedEpoch {
  return { epoch: r.epoch, at: r.at, statement: new Uint8Array(r.statement), logIndex: r.log_index };
}

function deriveKey(db: Database.Database, source: VaultKeySource, params: Argon2idParams): Uint8Array {
  const row = db.prepare("SELECT value FROM meta WHERE name = 'kdf'").get() as { value: string } | undefined;
  let kdf: KdfRow;
  if (row === undefined) {
    kdf =
      source.kind === 'raw'
        ? { name: 'raw' }
        : { name: 'argon2id', t: params.t, m: params.m, salt: toBase64(randomBytes(ARGON2ID_SALT_BYTES)) };
    db.prepare("INSERT INTO meta (name, value) VALUES ('kdf', ?)").run(JSON.stringify(kdf));
  } else {
    try {
      kdf = JSON.parse(row.value) as KdfRow;
    } catch (e) {
      throw corrupt('the vault key parameters are malformed', e);
    }
  }
  if (kdf.name === 'raw') {
    if (source.kind !== 'raw')
      throw keyError(
        'this vault was made with a raw key (OVERT_TRUSTEE_VAULT_KEY), not a passphrase',
        'TRU-1',
      );
    if (source.key.length !== 32) throw keyError('a raw vault key is 32 bytes', 'TRU-2');
    return source.key.slice();
  }
  if (kdf.name !== 'argon2id' || typeof kdf.salt !== 'string')
    throw corrupt('the vault key parameters are malformed');
  if (source.kind !== 'passphrase')
    throw keyError('this vault was made with a passphrase, not a raw key', 'TRU-1');
  try {
    return argon2id(source.passphrase, fromBase64(kdf.salt), { t: kdf.t ?? 0, m: kdf.m ?? 0 });
  } catch (e) {
    if (isOvertError(e)) throw corrupt('the vault key parameters are out of range', e);
    throw e;
  }
}
