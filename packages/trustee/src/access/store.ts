/**
 * access.sqlite: the access half's own database in the trustee's data directory (docs/spec/access.md §5, §6).
 * Nothing secret is stored here — shares stay in the vault; what is here is public or sealed to the requester:
 * the log entries of the view, the latest checkpoint, the sealed bundles and signed releases (recorded before
 * they are sent, so a crash re-sends the same bytes), signed refusals and decisions, the seen-u table (REL-5).
 * Alerts go to the vault's alerts table (ShareVault.addAlert), the daemon's only one. WAL, synchronous = FULL: a recorded batch survives a power cut.
 */
import Database from 'better-sqlite3';

export interface RecordedBatch {
  readonly requestId: Uint8Array;
  readonly batch: number;
  readonly sealed: Uint8Array;
  readonly release: Uint8Array;
  readonly shareCount: number;
  readonly posted: boolean;
}

export interface RecordedRefusal {
  readonly requestId: Uint8Array;
  /** 1..5: the release-rule clause. */
  readonly reason: number;
  /** Empty for a request-level refusal (REL-1..3). */
  readonly label: Uint8Array;
  readonly signed: Uint8Array;
  readonly posted: boolean;
}

export interface RecordedDecision {
  readonly requestId: Uint8Array;
  readonly verdict: 'approve' | 'deny';
  readonly signed: Uint8Array;
  readonly posted: boolean;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, entry BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
  request_id BLOB NOT NULL, batch INTEGER NOT NULL, sealed BLOB NOT NULL, release BLOB NOT NULL,
  share_count INTEGER NOT NULL, posted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (request_id, batch));
CREATE TABLE IF NOT EXISTS refusals (
  request_id BLOB NOT NULL, reason INTEGER NOT NULL, label BLOB NOT NULL, signed BLOB NOT NULL,
  posted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (request_id, reason, label));
CREATE TABLE IF NOT EXISTS seen_u (u BLOB PRIMARY KEY, label BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (
  request_id BLOB PRIMARY KEY, verdict TEXT NOT NULL, signed BLOB NOT NULL, posted INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS finished (request_id BLOB PRIMARY KEY, outcome TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS unseals (
  request_id BLOB PRIMARY KEY, signed BLOB NOT NULL, state TEXT NOT NULL DEFAULT 'recorded');
CREATE TABLE IF NOT EXISTS extension_decisions (
  request_id BLOB NOT NULL, number INTEGER NOT NULL, verdict TEXT NOT NULL, reason TEXT NOT NULL,
  signature BLOB, PRIMARY KEY (request_id, number));
`;

/**
 * An unseal this trustee signed (after-release.md §1, TRU-U1): `recorded` before it is posted, `posted` once
 * the relay took it, `exists` when the relay answered ACCESS_UNSEAL_EXISTS (another unseal is logged: stop).
 */
export interface RecordedUnseal {
  readonly requestId: Uint8Array;
  readonly signed: Uint8Array;
  readonly state: 'recorded' | 'posted' | 'exists';
}

/** This trustee's decision on an extension proposal (after-release.md §2); a denial signs nothing. */
export interface RecordedExtensionDecision {
  readonly requestId: Uint8Array;
  readonly number: number;
  readonly verdict: 'approve' | 'deny';
  readonly reason: string;
  readonly signature: Uint8Array | undefined;
}

const u8 = (b: Buffer | Uint8Array): Uint8Array =>
  new Uint8Array(b.buffer, b.byteOffset, b.byteLength).slice();

export class AccessStore {
  private readonly db: Database.Database;

  /** Opens (creating) the database at `path` (a file in the trustee's data directory, or ':memory:'). */
  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
  }

  close(): void {
    this.db.close();
  }

  /** Runs `f` in one transaction (better-sqlite3 transactions are synchronous). */
  transaction<T>(f: () => T): T {
    return this.db.transaction(f)();
  }

  private meta(key: string): string | undefined {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as
      | { value: string }
      | undefined;
    return row?.value;
  }

  private setMeta(key: string, value: string): void {
    this.db
      .prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      )
      .run(key, value);
  }

  // ---- the log view ----

  nextIndex(): number {
    return Number(this.meta('next_index') ?? 0);
  }

  setNextIndex(n: number): void {
    this.setMeta('next_index', String(n));
  }

  putEntry(index: number, entry: Uint8Array): void {
    this.db.prepare('INSERT OR IGNORE INTO entries (idx, entry) VALUES (?, ?)').run(index, entry);
  }

  entries(): { index: number; entry: Uint8Array }[] {
    return (
      this.db.prepare('SELECT idx, entry FROM entries ORDER BY idx').all() as { idx: number; entry: Buffer }[]
    ).map((r) => ({ index: r.idx, entry: u8(r.entry) }));
  }

  checkpoint(): string | undefined {
    return this.meta('checkpoint');
  }

  setCheckpoint(text: string): void {
    this.setMeta('checkpoint', text);
  }

  // ---- releases (access.md §5: recorded before sending, never sealed twice) ----

  batch(requestId: Uint8Array, batch: number): RecordedBatch | undefined {
    const r = this.db
      .prepare('SELECT sealed, release, share_count, posted FROM batches WHERE request_id = ? AND batch = ?')
      .get(requestId, batch) as
      | { sealed: Buffer; release: Buffer; share_count: number; posted: number }
      | undefined;
    if (r === undefined) return undefined;
    return {
      requestId: requestId.slice(),
      batch,
      sealed: u8(r.sealed),
      release: u8(r.release),
      shareCount: r.share_count,
      posted: r.posted === 1,
    };
  }

  /** Every batch recorded for `requestId`, by batch number. */
  batches(requestId: Uint8Array): RecordedBatch[] {
    const rows = this.db
      .prepare('SELECT batch FROM batches WHERE request_id = ? ORDER BY batch')
      .all(requestId) as { batch: number }[];
    return rows.map((r) => this.batch(requestId, r.batch)!);
  }

  /** Inserts a batch; refuses (returns false) when one is already recorded for (request, batch). */
  putBatch(b: Omit<RecordedBatch, 'posted'>): boolean {
    const info = this.db
      .prepare(
        'INSERT OR IGNORE INTO batches (request_id, batch, sealed, release, share_count) VALUES (?, ?, ?, ?, ?)',
      )
      .run(b.requestId, b.batch, b.sealed, b.release, b.shareCount);
    return info.changes === 1;
  }

  markBatchPosted(requestId: Uint8Array, batch: number): void {
    this.db.prepare('UPDATE batches SET posted = 1 WHERE request_id = ? AND batch = ?').run(requestId, batch);
  }

  /** True when `signedRelease` is one this trustee recorded (release-unknown otherwise). */
  madeRelease(signedRelease: Uint8Array): boolean {
    return this.db.prepare('SELECT 1 FROM batches WHERE release = ?').get(signedRelease) !== undefined;
  }

  // ---- refusals ----

  refusal(
    requestId: Uint8Array,
    reason: number,
    label: Uint8Array = new Uint8Array(0),
  ): RecordedRefusal | undefined {
    const r = this.db
      .prepare('SELECT signed, posted FROM refusals WHERE request_id = ? AND reason = ? AND label = ?')
      .get(requestId, reason, label) as { signed: Buffer; posted: number } | undefined;
    return r === undefined
      ? undefined
      : {
          requestId: requestId.slice(),
          reason,
          label: label.slice(),
          signed: u8(r.signed),
          posted: r.posted === 1,
        };
  }

  refusals(requestId: Uint8Array): RecordedRefusal[] {
    const rows = this.db
      .prepare('SELECT reason, label, signed, posted FROM refusals WHERE request_id = ? ORDER BY rowid')
      .all(requestId) as { reason: number; label: Buffer; signed: Buffer; posted: number }[];
    return rows.map((r) => ({
      requestId: requestId.slice(),
      reason: r.reason,
      label: u8(r.label),
      signed: u8(r.signed),
      posted: r.posted === 1,
    }));
  }

  putRefusal(r: Omit<RecordedRefusal, 'posted'>): boolean {
    return (
      this.db
        .prepare('INSERT OR IGNORE INTO refusals (request_id, reason, label, signed) VALUES (?, ?, ?, ?)')
        .run(r.requestId, r.reason, r.label, r.signed).changes === 1
    );
  }

  markRefusalPosted(requestId: Uint8Array, reason: number, label: Uint8Array): void {
    this.db
      .prepare('UPDATE refusals SET posted = 1 WHERE request_id = ? AND reason = ? AND label = ?')
      .run(requestId, reason, label);
  }

  // ---- seen u (REL-5) ----

  /** The label under which this capsule `u` was seen, or undefined. */
  seenU(u: Uint8Array): Uint8Array | undefined {
    const r = this.db.prepare('SELECT label FROM seen_u WHERE u = ?').get(u) as { label: Buffer } | undefined;
    return r === undefined ? undefined : u8(r.label);
  }

  putSeenU(u: Uint8Array, label: Uint8Array): void {
    this.db.prepare('INSERT OR IGNORE INTO seen_u (u, label) VALUES (?, ?)').run(u, label);
  }

  // ---- decisions made by this trustee ----

  decision(requestId: Uint8Array): RecordedDecision | undefined {
    const r = this.db
      .prepare('SELECT verdict, signed, posted FROM decisions WHERE request_id = ?')
      .get(requestId) as { verdict: 'approve' | 'deny'; signed: Buffer; posted: number } | undefined;
    return r === undefined
      ? undefined
      : { requestId: requestId.slice(), verdict: r.verdict, signed: u8(r.signed), posted: r.posted === 1 };
  }

  putDecision(d: Omit<RecordedDecision, 'posted'>): boolean {
    return (
      this.db
        .prepare('INSERT OR IGNORE INTO decisions (request_id, verdict, signed) VALUES (?, ?, ?)')
        .run(d.requestId, d.verdict, d.signed).changes === 1
    );
  }

  markDecisionPosted(requestId: Uint8Array): void {
    this.db.prepare('UPDATE decisions SET posted = 1 WHERE request_id = ?').run(requestId);
  }

  // ---- finished requests ----

  finished(requestId: Uint8Array): string | undefined {
    const r = this.db.prepare('SELECT outcome FROM finished WHERE request_id = ?').get(requestId) as
      | { outcome: string }
      | undefined;
    return r?.outcome;
  }

  setFinished(requestId: Uint8Array, outcome: string): void {
    this.db
      .prepare('INSERT OR REPLACE INTO finished (request_id, outcome) VALUES (?, ?)')
      .run(requestId, outcome);
  }

  // ---- unseals signed by this trustee (after-release.md §1) ----

  unseal(requestId: Uint8Array): RecordedUnseal | undefined {
    const r = this.db.prepare('SELECT signed, state FROM unseals WHERE request_id = ?').get(requestId) as
      | { signed: Buffer; state: RecordedUnseal['state'] }
      | undefined;
    return r === undefined
      ? undefined
      : { requestId: requestId.slice(), signed: u8(r.signed), state: r.state };
  }

  /** Records a signed unseal before it is posted; false when one is recorded already (it is signed once). */
  putUnseal(requestId: Uint8Array, signed: Uint8Array): boolean {
    return (
      this.db
        .prepare('INSERT OR IGNORE INTO unseals (request_id, signed) VALUES (?, ?)')
        .run(requestId, signed).changes === 1
    );
  }

  setUnsealState(requestId: Uint8Array, state: RecordedUnseal['state']): void {
    this.db.prepare('UPDATE unseals SET state = ? WHERE request_id = ?').run(state, requestId);
  }

  // ---- extension decisions (after-release.md §2) ----

  extensionDecision(requestId: Uint8Array, number: number): RecordedExtensionDecision | undefined {
    const r = this.db
      .prepare(
        'SELECT verdict, reason, signature FROM extension_decisions WHERE request_id = ? AND number = ?',
      )
      .get(requestId, number) as
      | { verdict: 'approve' | 'deny'; reason: string; signature: Buffer | null }
      | undefined;
    return r === undefined
      ? undefined
      : {
          requestId: requestId.slice(),
          number,
          verdict: r.verdict,
          reason: r.reason,
          signature: r.signature === null ? undefined : u8(r.signature),
        };
  }

  /** Records a decision on (request, number); false when one is recorded already. */
  putExtensionDecision(d: RecordedExtensionDecision): boolean {
    return (
      this.db
        .prepare(
          'INSERT OR IGNORE INTO extension_decisions (request_id, number, verdict, reason, signature) ' +
            'VALUES (?, ?, ?, ?, ?)',
        )
        .run(d.requestId, d.number, d.verdict, d.reason, d.signature ?? null).changes === 1
    );
  }
}
