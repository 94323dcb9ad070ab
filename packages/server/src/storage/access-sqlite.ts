/**
 * SQLite implementation of {@link AccessStorage} on the relay's own database (migration 7 of sqlite.ts). Every
 * write runs in the driver's BEGIN IMMEDIATE transaction.
 */
import type Database from 'better-sqlite3';
import { RelayError } from '../errors.js';
import {
  ACCESS_STATUSES,
  type AccessEntryRecord,
  type AccessRequestRecord,
  type AccessStatus,
  type AccessStorage,
  type EnvelopeCursor,
  type EnvelopeHeadRecord,
  type ExecutionRecord,
  type ExtensionProposalRecord,
  type OrderBatchRecord,
  type ReleaseRecord,
  type SealedPart,
  type SelectedEnvelope,
  type ShredRecord,
  type TrusteeMail,
  type UnsealRecord,
} from './access.js';
import { capsuleColumn } from './rows.js';
import { plainBytes } from './storage.js';

export const SQLITE_ORDER_MIGRATION = `
  CREATE INDEX envelopes_by_received ON envelopes (org_id, received_at, message_id);
  CREATE TABLE access_order_batches (
    request_id BLOB NOT NULL REFERENCES access_requests (request_id),
    batch INTEGER NOT NULL CHECK (batch >= 0),
    log_index INTEGER NOT NULL UNIQUE,
    signed BLOB NOT NULL,
    envelope_count INTEGER NOT NULL CHECK (envelope_count >= 1),
    executed_at INTEGER NOT NULL,
    scanned_until INTEGER NOT NULL,
    PRIMARY KEY (request_id, batch)
  ) WITHOUT ROWID;
  CREATE UNIQUE INDEX access_selection_by_message ON access_selection (request_id, message_id);
`;

export const SQLITE_ACCESS_MIGRATION = `
  CREATE TABLE trustee_mail (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    from_index INTEGER NOT NULL CHECK (from_index BETWEEN 1 AND 255),
    to_index INTEGER NOT NULL CHECK (to_index BETWEEN 0 AND 255),
    body BLOB NOT NULL,
    received_at INTEGER NOT NULL
  );
  CREATE INDEX trustee_mail_by_to ON trustee_mail (to_index, seq);
  CREATE TABLE access_requests (
    request_id BLOB PRIMARY KEY CHECK (length(request_id) = 16),
    request_hash BLOB NOT NULL,
    requester_id TEXT NOT NULL,
    signed BLOB NOT NULL,
    log_index INTEGER NOT NULL UNIQUE,
    policy_serial INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'executed', 'denied', 'over-limit')),
    received_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE access_sealed (
    request_id BLOB NOT NULL REFERENCES access_requests (request_id),
    trustee_index INTEGER NOT NULL CHECK (trustee_index BETWEEN 1 AND 255),
    sealed BLOB NOT NULL,
    PRIMARY KEY (request_id, trustee_index)
  ) WITHOUT ROWID;
  CREATE TABLE access_entries (
    log_index INTEGER PRIMARY KEY CHECK (log_index >= 0),
    request_id BLOB NOT NULL,
    type INTEGER NOT NULL,
    body BLOB NOT NULL
  );
  CREATE INDEX access_entries_by_request ON access_entries (request_id, log_index);
  CREATE TABLE access_executions (
    request_id BLOB PRIMARY KEY REFERENCES access_requests (request_id),
    log_index INTEGER NOT NULL,
    signed BLOB NOT NULL,
    envelope_count INTEGER NOT NULL CHECK (envelope_count >= 0),
    executed_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE access_selection (
    request_id BLOB NOT NULL REFERENCES access_executions (request_id),
    position INTEGER NOT NULL CHECK (position >= 0),
    label BLOB NOT NULL,
    message_id BLOB NOT NULL,
    PRIMARY KEY (request_id, position)
  ) WITHOUT ROWID;
  CREATE TABLE access_releases (
    request_id BLOB NOT NULL REFERENCES access_executions (request_id),
    trustee_index INTEGER NOT NULL CHECK (trustee_index BETWEEN 1 AND 255),
    batch INTEGER NOT NULL CHECK (batch >= 0),
    signed BLOB NOT NULL,
    bundle BLOB NOT NULL,
    bundle_hash BLOB NOT NULL,
    log_index INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (request_id, trustee_index, batch)
  ) WITHOUT ROWID;
  CREATE INDEX envelopes_by_send_time ON envelopes (org_id, send_time, message_id);
`;

/** Migration 9 (after-release.md §6): one logged shred statement per (epoch, trustee). */
export const SQLITE_SHRED_MIGRATION = `
  CREATE TABLE access_shreds (
    epoch INTEGER NOT NULL CHECK (epoch BETWEEN 0 AND 4294967295),
    trustee_index INTEGER NOT NULL CHECK (trustee_index BETWEEN 1 AND 255),
    signed BLOB NOT NULL,
    log_index INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (epoch, trustee_index)
  ) WITHOUT ROWID;
`;

interface ShredRow {
  epoch: number;
  trustee_index: number;
  signed: Uint8Array;
  log_index: number;
  received_at: number;
}

function shredFrom(r: ShredRow): ShredRecord {
  return {
    epoch: r.epoch,
    trusteeIndex: r.trustee_index,
    signed: plainBytes(r.signed),
    logIndex: r.log_index,
    receivedAt: r.received_at,
  };
}

/**
 * Migration 8 (after-release.md §1, §2): the part sealed to the relay's unseal key, logged unseals (one per
 * request), extension proposals and the trustees' signatures on them.
 */
export const SQLITE_UNSEAL_MIGRATION = `
  CREATE TABLE access_relay_parts (
    request_id BLOB PRIMARY KEY REFERENCES access_requests (request_id),
    sealed BLOB NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE access_unseals (
    request_id BLOB PRIMARY KEY REFERENCES access_requests (request_id),
    log_index INTEGER NOT NULL UNIQUE,
    signed BLOB NOT NULL,
    publisher INTEGER NOT NULL CHECK (publisher BETWEEN 0 AND 255),
    received_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE access_extensions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id BLOB NOT NULL REFERENCES access_requests (request_id),
    number INTEGER NOT NULL CHECK (number BETWEEN 1 AND 255),
    statement BLOB NOT NULL,
    reason TEXT NOT NULL,
    proposed_at INTEGER NOT NULL,
    log_index INTEGER,
    UNIQUE (request_id, number)
  );
  CREATE TABLE access_extension_signatures (
    request_id BLOB NOT NULL,
    number INTEGER NOT NULL,
    trustee_index INTEGER NOT NULL CHECK (trustee_index BETWEEN 1 AND 255),
    signature BLOB NOT NULL,
    PRIMARY KEY (request_id, number, trustee_index),
    FOREIGN KEY (request_id, number) REFERENCES access_extensions (request_id, number)
  ) WITHOUT ROWID;
`;

type Tx = <T>(what: string, fn: () => T) => T;

interface RequestRow {
  request_id: Uint8Array;
  request_hash: Uint8Array;
  requester_id: string;
  signed: Uint8Array;
  log_index: number;
  policy_serial: number;
  status: string;
  received_at: number;
}

export function accessStatus(s: string, driver: string): AccessStatus {
  const status = ACCESS_STATUSES.find((x) => x === s);
  if (status === undefined)
    throw new RelayError('STORE_R_CORRUPT', `${driver}: access request status`, { check: 'STORE-R-3' });
  return status;
}

function requestFrom(r: RequestRow): AccessRequestRecord {
  return {
    requestId: plainBytes(r.request_id),
    requestHash: plainBytes(r.request_hash),
    requesterId: r.requester_id,
    signed: plainBytes(r.signed),
    logIndex: r.log_index,
    policySerial: r.policy_serial,
    status: accessStatus(r.status, 'sqlite'),
    receivedAt: r.received_at,
  };
}

interface ReleaseRow {
  request_id: Uint8Array;
  trustee_index: number;
  batch: number;
  signed: Uint8Array;
  bundle: Uint8Array;
  bundle_hash: Uint8Array;
  log_index: number;
  received_at: number;
}

function releaseFrom(r: ReleaseRow): ReleaseRecord {
  return {
    requestId: plainBytes(r.request_id),
    trusteeIndex: r.trustee_index,
    batch: r.batch,
    signed: plainBytes(r.signed),
    bundle: plainBytes(r.bundle),
    bundleHash: plainBytes(r.bundle_hash),
    logIndex: r.log_index,
    receivedAt: r.received_at,
  };
}

function isUniqueViolation(e: unknown): boolean {
  return (e as { code?: string }).code?.startsWith('SQLITE_CONSTRAINT') === true;
}

export class SqliteAccessStorage implements AccessStorage {
  constructor(
    private readonly db: Database.Database,
    private readonly tx: Tx,
    private readonly read: Tx,
  ) {}

  async putMail(from: number, to: number, body: Uint8Array, now: number): Promise<number> {
    return this.tx('put trustee mail', () => {
      const r = this.db
        .prepare('INSERT INTO trustee_mail (from_index, to_index, body, received_at) VALUES (?, ?, ?, ?)')
        .run(from, to, body, now);
      return Number(r.lastInsertRowid);
    });
  }

  async readMail(trustee: number, afterSeq: number, limit: number): Promise<TrusteeMail[]> {
    return this.read('read trustee mail', () =>
      this.db
        .prepare<
          [number, number, number],
          { seq: number; from_index: number; to_index: number; body: Uint8Array; received_at: number }
        >(
          'SELECT seq, from_index, to_index, body, received_at FROM trustee_mail ' +
            'WHERE seq > ? AND to_index IN (0, ?) ORDER BY seq LIMIT ?',
        )
        .all(afterSeq, trustee, limit)
        .map((r) => ({
          seq: r.seq,
          from: r.from_index,
          to: r.to_index,
          body: plainBytes(r.body),
          receivedAt: r.received_at,
        })),
    );
  }

  async putRequest(
    q: AccessRequestRecord,
    sealed: readonly SealedPart[],
    relayPart?: Uint8Array,
  ): Promise<void> {
    this.tx('put access request', () => {
      const exists = this.db
        .prepare<[Uint8Array], { n: number }>('SELECT 1 AS n FROM access_requests WHERE request_id = ?')
        .get(q.requestId);
      if (exists !== undefined)
        throw new RelayError('ACCESS_REQUEST_EXISTS', 'the request id is taken', { check: 'ACC-R4' });
      this.db
        .prepare(
          'INSERT INTO access_requests (request_id, request_hash, requester_id, signed, log_index, ' +
            'policy_serial, status, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(
          q.requestId,
          q.requestHash,
          q.requesterId,
          q.signed,
          q.logIndex,
          q.policySerial,
          q.status,
          q.receivedAt,
        );
      const ins = this.db.prepare(
        'INSERT INTO access_sealed (request_id, trustee_index, sealed) VALUES (?, ?, ?)',
      );
      for (const s of sealed) ins.run(q.requestId, s.trustee, s.sealed);
      if (relayPart !== undefined)
        this.db
          .prepare('INSERT INTO access_relay_parts (request_id, sealed) VALUES (?, ?)')
          .run(q.requestId, relayPart);
      this.insertEntry({ logIndex: q.logIndex, requestId: q.requestId, type: 5, body: q.signed });
    });
  }

  async getRequest(requestId: Uint8Array): Promise<AccessRequestRecord | undefined> {
    return this.read('read access request', () => {
      const r = this.db
        .prepare<[Uint8Array], RequestRow>('SELECT * FROM access_requests WHERE request_id = ?')
        .get(requestId);
      return r === undefined ? undefined : requestFrom(r);
    });
  }

  async listRequests(
    afterIndex: number,
    limit: number,
    requesterId?: string,
  ): Promise<AccessRequestRecord[]> {
    return this.read('list access requests', () => {
      const rows =
        requesterId === undefined
          ? this.db
              .prepare<[number, number], RequestRow>(
                'SELECT * FROM access_requests WHERE log_index > ? ORDER BY log_index LIMIT ?',
              )
              .all(afterIndex, limit)
          : this.db
              .prepare<[number, string, number], RequestRow>(
                'SELECT * FROM access_requests WHERE log_index > ? AND requester_id = ? ORDER BY log_index LIMIT ?',
              )
              .all(afterIndex, requesterId, limit);
      return rows.map(requestFrom);
    });
  }

  async getSealed(requestId: Uint8Array, trustee: number): Promise<Uint8Array | undefined> {
    return this.read('read sealed part', () => {
      const r = this.db
        .prepare<[Uint8Array, number], { sealed: Uint8Array }>(
          'SELECT sealed FROM access_sealed WHERE request_id = ? AND trustee_index = ?',
        )
        .get(requestId, trustee);
      return r === undefined ? undefined : plainBytes(r.sealed);
    });
  }

  async setRequestStatus(requestId: Uint8Array, status: AccessStatus): Promise<void> {
    this.tx('set access status', () => {
      this.db.prepare('UPDATE access_requests SET status = ? WHERE request_id = ?').run(status, requestId);
    });
  }

  private insertEntry(e: AccessEntryRecord): void {
    try {
      this.db
        .prepare('INSERT INTO access_entries (log_index, request_id, type, body) VALUES (?, ?, ?, ?)')
        .run(e.logIndex, e.requestId, e.type, e.body);
    } catch (cause) {
      if (isUniqueViolation(cause))
        throw new RelayError('STORE_R_INVALID', 'sqlite: the log index is recorded already', {
          check: 'STORE-R-3',
          cause,
        });
      throw cause;
    }
  }

  async putEntry(entry: AccessEntryRecord): Promise<void> {
    this.tx('put access entry', () => this.insertEntry(entry));
  }

  async listEntries(requestId: Uint8Array): Promise<AccessEntryRecord[]> {
    return this.read('list access entries', () =>
      this.db
        .prepare<[Uint8Array], { log_index: number; request_id: Uint8Array; type: number; body: Uint8Array }>(
          'SELECT * FROM access_entries WHERE request_id = ? ORDER BY log_index',
        )
        .all(requestId)
        .map((r) => ({
          logIndex: r.log_index,
          requestId: plainBytes(r.request_id),
          type: r.type,
          body: plainBytes(r.body),
        })),
    );
  }

  async putExecution(x: ExecutionRecord, selection: readonly SelectedEnvelope[]): Promise<void> {
    this.tx('put execution', () => {
      const exists = this.db
        .prepare<[Uint8Array], { n: number }>('SELECT 1 AS n FROM access_executions WHERE request_id = ?')
        .get(x.requestId);
      if (exists !== undefined)
        throw new RelayError('ACCESS_REQUEST_EXISTS', 'the request is executed already', { check: 'ACC-X1' });
      this.db
        .prepare(
          'INSERT INTO access_executions (request_id, log_index, signed, envelope_count, executed_at) ' +
            'VALUES (?, ?, ?, ?, ?)',
        )
        .run(x.requestId, x.logIndex, x.signed, x.envelopeCount, x.executedAt);
      const ins = this.db.prepare(
        'INSERT INTO access_selection (request_id, position, label, message_id) VALUES (?, ?, ?, ?)',
      );
      for (const s of selection) ins.run(x.requestId, s.position, s.label, s.messageId);
      this.insertEntry({ logIndex: x.logIndex, requestId: x.requestId, type: 7, body: x.signed });
      this.db.prepare("UPDATE access_requests SET status = 'executed' WHERE request_id = ?").run(x.requestId);
    });
  }

  async getExecution(requestId: Uint8Array): Promise<ExecutionRecord | undefined> {
    return this.read('read execution', () => {
      const r = this.db
        .prepare<
          [Uint8Array],
          { log_index: number; signed: Uint8Array; envelope_count: number; executed_at: number }
        >('SELECT log_index, signed, envelope_count, executed_at FROM access_executions WHERE request_id = ?')
        .get(requestId);
      return r === undefined
        ? undefined
        : {
            requestId: requestId.slice(),
            logIndex: r.log_index,
            signed: plainBytes(r.signed),
            envelopeCount: r.envelope_count,
            executedAt: r.executed_at,
          };
    });
  }

  async listSelection(requestId: Uint8Array, from: number, limit: number): Promise<SelectedEnvelope[]> {
    return this.read('list selection', () =>
      this.db
        .prepare<
          [Uint8Array, number, number],
          { position: number; label: Uint8Array; message_id: Uint8Array }
        >(
          'SELECT position, label, message_id FROM access_selection WHERE request_id = ? AND position >= ? ' +
            'ORDER BY position LIMIT ?',
        )
        .all(requestId, from, limit)
        .map((r) => ({
          position: r.position,
          label: plainBytes(r.label),
          messageId: plainBytes(r.message_id),
        })),
    );
  }

  async getSelected(requestId: Uint8Array, position: number): Promise<SelectedEnvelope | undefined> {
    return (await this.listSelection(requestId, position, 1)).find((s) => s.position === position);
  }

  async putRelease(x: ReleaseRecord): Promise<void> {
    this.tx('put release', () => {
      const exists = this.db
        .prepare<[Uint8Array, number, number], { n: number }>(
          'SELECT 1 AS n FROM access_releases WHERE request_id = ? AND trustee_index = ? AND batch = ?',
        )
        .get(x.requestId, x.trusteeIndex, x.batch);
      if (exists !== undefined)
        throw new RelayError('ACCESS_RELEASE_CONFLICT', 'a release of this batch is stored', {
          check: 'ACC-L4',
        });
      this.db
        .prepare(
          'INSERT INTO access_releases (request_id, trustee_index, batch, signed, bundle, bundle_hash, ' +
            'log_index, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(
          x.requestId,
          x.trusteeIndex,
          x.batch,
          x.signed,
          x.bundle,
          x.bundleHash,
          x.logIndex,
          x.receivedAt,
        );
      this.insertEntry({ logIndex: x.logIndex, requestId: x.requestId, type: 8, body: x.signed });
    });
  }

  async getRelease(
    requestId: Uint8Array,
    trustee: number,
    batch: number,
  ): Promise<ReleaseRecord | undefined> {
    return this.read('read release', () => {
      const r = this.db
        .prepare<[Uint8Array, number, number], ReleaseRow>(
          'SELECT * FROM access_releases WHERE request_id = ? AND trustee_index = ? AND batch = ?',
        )
        .get(requestId, trustee, batch);
      return r === undefined ? undefined : releaseFrom(r);
    });
  }

  async listReleases(requestId: Uint8Array): Promise<ReleaseRecord[]> {
    return this.read('list releases', () =>
      this.db
        .prepare<[Uint8Array], ReleaseRow>(
          "SELECT request_id, trustee_index, batch, signed, x'' AS bundle, bundle_hash, log_index, received_at " +
            'FROM access_releases WHERE request_id = ? ORDER BY trustee_index, batch',
        )
        .all(requestId)
        .map(releaseFrom),
    );
  }

  // ── Unseals and extensions (migration 8) ──

  async getRelayPart(requestId: Uint8Array): Promise<Uint8Array | undefined> {
    return this.read('read relay part', () => {
      const r = this.db
        .prepare<[Uint8Array], { sealed: Uint8Array }>(
          'SELECT sealed FROM access_relay_parts WHERE request_id = ?',
        )
        .get(requestId);
      return r === undefined ? undefined : plainBytes(r.sealed);
    });
  }

  async listUnsealCandidates(afterIndex: number, limit: number): Promise<AccessRequestRecord[]> {
    return this.read('list unseal candidates', () =>
      this.db
        .prepare<[number, number], RequestRow>(
          'SELECT q.* FROM access_requests q JOIN access_relay_parts p ON p.request_id = q.request_id ' +
            'WHERE q.log_index > ? AND NOT EXISTS (SELECT 1 FROM access_unseals u WHERE u.request_id = q.request_id) ' +
            'ORDER BY q.log_index LIMIT ?',
        )
        .all(afterIndex, limit)
        .map(requestFrom),
    );
  }

  async putUnseal(u: UnsealRecord): Promise<void> {
    this.tx('put unseal', () => {
      const exists = this.db
        .prepare<[Uint8Array], { n: number }>('SELECT 1 AS n FROM access_unseals WHERE request_id = ?')
        .get(u.requestId);
      if (exists !== undefined)
        throw new RelayError('ACCESS_UNSEAL_EXISTS', 'the request has an unseal', { check: 'ACC-U3' });
      this.db
        .prepare(
          'INSERT INTO access_unseals (request_id, log_index, signed, publisher, received_at) VALUES (?, ?, ?, ?, ?)',
        )
        .run(u.requestId, u.logIndex, u.signed, u.publisher, u.receivedAt);
      this.insertEntry({ logIndex: u.logIndex, requestId: u.requestId, type: 10, body: u.signed });
    });
  }

  private unseals(where: string, args: unknown[]): UnsealRecord[] {
    return this.db
      .prepare<
        unknown[],
        {
          request_id: Uint8Array;
          log_index: number;
          signed: Uint8Array;
          publisher: number;
          received_at: number;
        }
      >(`SELECT * FROM access_unseals ${where}`)
      .all(...args)
      .map((r) => ({
        requestId: plainBytes(r.request_id),
        logIndex: r.log_index,
        signed: plainBytes(r.signed),
        publisher: r.publisher,
        receivedAt: r.received_at,
      }));
  }

  async getUnseal(requestId: Uint8Array): Promise<UnsealRecord | undefined> {
    return this.read('read unseal', () => this.unseals('WHERE request_id = ?', [requestId])[0]);
  }

  async listUnseals(afterIndex: number, limit: number): Promise<UnsealRecord[]> {
    return this.read('list unseals', () =>
      this.unseals('WHERE log_index > ? ORDER BY log_index LIMIT ?', [afterIndex, limit]),
    );
  }

  async putExtensionProposal(
    p: Omit<ExtensionProposalRecord, 'seq' | 'signatures' | 'logIndex'>,
  ): Promise<number> {
    return this.tx('put extension proposal', () => {
      const exists = this.db
        .prepare<[Uint8Array, number], { n: number }>(
          'SELECT 1 AS n FROM access_extensions WHERE request_id = ? AND number = ?',
        )
        .get(p.requestId, p.number);
      if (exists !== undefined)
        throw new RelayError('ACCESS_EXTENSION_EXISTS', 'a proposal for this extension number is stored', {
          check: 'ACC-E1',
        });
      const r = this.db
        .prepare(
          'INSERT INTO access_extensions (request_id, number, statement, reason, proposed_at) VALUES (?, ?, ?, ?, ?)',
        )
        .run(p.requestId, p.number, p.statement, p.reason, p.proposedAt);
      return Number(r.lastInsertRowid);
    });
  }

  private proposals(where: string, args: unknown[]): ExtensionProposalRecord[] {
    type Row = {
      seq: number;
      request_id: Uint8Array;
      number: number;
      statement: Uint8Array;
      reason: string;
      proposed_at: number;
      log_index: number | null;
    };
    const sigs = this.db.prepare<[Uint8Array, number], { trustee_index: number; signature: Uint8Array }>(
      'SELECT trustee_index, signature FROM access_extension_signatures WHERE request_id = ? AND number = ? ' +
        'ORDER BY trustee_index',
    );
    return this.db
      .prepare<unknown[], Row>(
        `SELECT x.* FROM access_extensions x JOIN access_requests q ON q.request_id = x.request_id ${where}`,
      )
      .all(...args)
      .map((r) => ({
        seq: r.seq,
        requestId: plainBytes(r.request_id),
        number: r.number,
        statement: plainBytes(r.statement),
        reason: r.reason,
        proposedAt: r.proposed_at,
        logIndex: r.log_index,
        signatures: sigs
          .all(r.request_id, r.number)
          .map((g) => ({ trustee: g.trustee_index, signature: plainBytes(g.signature) })),
      }));
  }

  async getExtensionProposal(
    requestId: Uint8Array,
    number: number,
  ): Promise<ExtensionProposalRecord | undefined> {
    return this.read(
      'read extension proposal',
      () => this.proposals('WHERE x.request_id = ? AND x.number = ?', [requestId, number])[0],
    );
  }

  async listExtensionProposals(
    afterSeq: number,
    limit: number,
    requesterId?: string,
  ): Promise<ExtensionProposalRecord[]> {
    return this.read('list extension proposals', () =>
      requesterId === undefined
        ? this.proposals('WHERE x.seq > ? ORDER BY x.seq LIMIT ?', [afterSeq, limit])
        : this.proposals('WHERE x.seq > ? AND q.requester_id = ? ORDER BY x.seq LIMIT ?', [
            afterSeq,
            requesterId,
            limit,
          ]),
    );
  }

  async putExtensionSignature(
    requestId: Uint8Array,
    number: number,
    trustee: number,
    signature: Uint8Array,
  ): Promise<void> {
    this.tx('put extension signature', () => {
      this.db
        .prepare(
          'INSERT OR IGNORE INTO access_extension_signatures (request_id, number, trustee_index, signature) ' +
            'VALUES (?, ?, ?, ?)',
        )
        .run(requestId, number, trustee, signature);
    });
  }

  async markExtensionLogged(
    requestId: Uint8Array,
    number: number,
    logIndex: number,
    body: Uint8Array,
  ): Promise<void> {
    this.tx('mark extension logged', () => {
      this.db
        .prepare('UPDATE access_extensions SET log_index = ? WHERE request_id = ? AND number = ?')
        .run(logIndex, requestId, number);
      this.insertEntry({ logIndex, requestId, type: 9, body });
    });
  }

  async scanEnvelopeHeads(
    orgId: string,
    from: number,
    until: number,
    cursor: EnvelopeCursor | undefined,
    limit: number,
  ): Promise<EnvelopeHeadRecord[]> {
    return this.read('scan envelope heads', () => {
      type Row = { message_id: Uint8Array; send_time: number; header: Uint8Array; capsule: Uint8Array };
      const rows =
        cursor === undefined
          ? this.db
              .prepare<[string, number, number, number], Row>(
                'SELECT message_id, send_time, header, capsule FROM envelopes ' +
                  'WHERE org_id = ? AND send_time >= ? AND send_time < ? ORDER BY send_time, message_id LIMIT ?',
              )
              .all(orgId, from, until, limit)
          : this.db
              .prepare<[string, number, number, number, number, Uint8Array, number], Row>(
                'SELECT message_id, send_time, header, capsule FROM envelopes ' +
                  'WHERE org_id = ? AND send_time >= ? AND send_time < ? ' +
                  'AND (send_time > ? OR (send_time = ? AND message_id > ?)) ORDER BY send_time, message_id LIMIT ?',
              )
              .all(orgId, from, until, cursor.sendTime, cursor.sendTime, cursor.messageId, limit);
      return rows.map((r) => ({
        messageId: plainBytes(r.message_id),
        sendTime: r.send_time,
        header: plainBytes(r.header),
        ...capsuleColumn(r.capsule, 'sqlite'),
      }));
    });
  }

  async putShred(x: ShredRecord): Promise<void> {
    this.tx('put shred', () => {
      const r = this.db
        .prepare(
          'INSERT INTO access_shreds (epoch, trustee_index, signed, log_index, received_at) VALUES (?, ?, ?, ?, ?) ' +
            'ON CONFLICT DO NOTHING',
        )
        .run(x.epoch, x.trusteeIndex, x.signed, x.logIndex, x.receivedAt);
      if (r.changes !== 1)
        throw new RelayError('ACCESS_SHRED_EXISTS', 'a shred of this epoch by this trustee is stored', {
          check: 'ACC-S2',
        });
    });
  }

  async getShred(epoch: number, trustee: number): Promise<ShredRecord | undefined> {
    return this.read('read shred', () => {
      const r = this.db
        .prepare<[number, number], ShredRow>(
          'SELECT * FROM access_shreds WHERE epoch = ? AND trustee_index = ?',
        )
        .get(epoch, trustee);
      return r === undefined ? undefined : shredFrom(r);
    });
  }

  async listShreds(epoch: number): Promise<ShredRecord[]> {
    return this.read('list shreds', () =>
      this.db
        .prepare<[number], ShredRow>('SELECT * FROM access_shreds WHERE epoch = ? ORDER BY trustee_index')
        .all(epoch)
        .map(shredFrom),
    );
  }

  async putOrderBatch(x: OrderBatchRecord, selection: readonly SelectedEnvelope[]): Promise<void> {
    this.tx('put order batch', () => {
      const taken = this.db
        .prepare<[Uint8Array, number], { n: number }>(
          'SELECT 1 AS n FROM access_order_batches WHERE request_id = ? AND batch = ?',
        )
        .get(x.requestId, x.batch);
      if (taken !== undefined)
        throw new RelayError('ACCESS_REQUEST_EXISTS', 'the batch is logged already', { check: 'ORD-R2' });
      const anchor = this.db
        .prepare<[Uint8Array], { n: number }>('SELECT 1 AS n FROM access_executions WHERE request_id = ?')
        .get(x.requestId);
      if (anchor === undefined) {
        this.db
          .prepare(
            'INSERT INTO access_executions (request_id, log_index, signed, envelope_count, executed_at) ' +
              'VALUES (?, ?, ?, ?, ?)',
          )
          .run(x.requestId, x.logIndex, x.signed, x.envelopeCount, x.executedAt);
        this.db
          .prepare("UPDATE access_requests SET status = 'executed' WHERE request_id = ?")
          .run(x.requestId);
      }
      this.db
        .prepare(
          'INSERT INTO access_order_batches (request_id, batch, log_index, signed, envelope_count, executed_at, ' +
            'scanned_until) VALUES (?, ?, ?, ?, ?, ?, ?)',
        )
        .run(x.requestId, x.batch, x.logIndex, x.signed, x.envelopeCount, x.executedAt, x.scannedUntil);
      const ins = this.db.prepare(
        'INSERT INTO access_selection (request_id, position, label, message_id) VALUES (?, ?, ?, ?)',
      );
      for (const s of selection) ins.run(x.requestId, s.position, s.label, s.messageId);
      this.insertEntry({ logIndex: x.logIndex, requestId: x.requestId, type: 7, body: x.signed });
    });
  }

  async listOrderBatches(requestId: Uint8Array): Promise<OrderBatchRecord[]> {
    return this.read('list order batches', () =>
      this.db
        .prepare<
          [Uint8Array],
          {
            batch: number;
            log_index: number;
            signed: Uint8Array;
            envelope_count: number;
            executed_at: number;
            scanned_until: number;
          }
        >('SELECT * FROM access_order_batches WHERE request_id = ? ORDER BY batch')
        .all(requestId)
        .map((r) => ({
          requestId: requestId.slice(),
          batch: r.batch,
          logIndex: r.log_index,
          signed: plainBytes(r.signed),
          envelopeCount: r.envelope_count,
          executedAt: r.executed_at,
          scannedUntil: r.scanned_until,
        })),
    );
  }

  async isSelected(requestId: Uint8Array, messageId: Uint8Array): Promise<boolean> {
    return this.read(
      'read selection',
      () =>
        this.db
          .prepare<[Uint8Array, Uint8Array], { n: number }>(
            'SELECT 1 AS n FROM access_selection WHERE request_id = ? AND message_id = ?',
          )
          .get(requestId, messageId) !== undefined,
    );
  }

  async scanEnvelopesReceived(
    orgId: string,
    from: number,
    cursor: { readonly receivedAt: number; readonly messageId: Uint8Array } | undefined,
    limit: number,
  ): Promise<(EnvelopeHeadRecord & { readonly receivedAt: number })[]> {
    return this.read('scan envelopes received', () => {
      type Row = {
        message_id: Uint8Array;
        send_time: number;
        header: Uint8Array;
        capsule: Uint8Array;
        received_at: number;
      };
      const cols = 'SELECT message_id, send_time, header, capsule, received_at FROM envelopes ';
      const rows =
        cursor === undefined
          ? this.db
              .prepare<[string, number, number], Row>(
                `${cols}WHERE org_id = ? AND received_at >= ? ORDER BY received_at, message_id LIMIT ?`,
              )
              .all(orgId, from, limit)
          : this.db
              .prepare<[string, number, number, number, Uint8Array, number], Row>(
                `${cols}WHERE org_id = ? AND received_at >= ? ` +
                  'AND (received_at > ? OR (received_at = ? AND message_id > ?)) ORDER BY received_at, message_id LIMIT ?',
              )
              .all(orgId, from, cursor.receivedAt, cursor.receivedAt, cursor.messageId, limit);
      return rows.map((r) => ({
        messageId: plainBytes(r.message_id),
        sendTime: r.send_time,
        header: plainBytes(r.header),
        receivedAt: r.received_at,
        ...capsuleColumn(r.capsule, 'sqlite'),
      }));
    });
  }

  async policyBySerial(serial: number): Promise<Uint8Array | undefined> {
    return this.read('read policy', () => {
      const r = this.db
        .prepare<[number], { policy: Uint8Array }>('SELECT policy FROM policies WHERE serial = ?')
        .get(serial);
      return r === undefined ? undefined : plainBytes(r.policy);
    });
  }
}
