/**
 * PostgreSQL implementation of {@link AccessStorage} on the relay's own schema (migration 7 of postgres.ts).
 * Uniqueness (one request per id, one execution per request, one release per (request, trustee, batch)) is the
 * primary keys' job: `INSERT … ON CONFLICT DO NOTHING` decides between concurrent writers.
 */
import type pg from 'pg';
import { RelayError } from '../errors.js';
import type {
  AccessEntryRecord,
  AccessRequestRecord,
  AccessStatus,
  AccessStorage,
  EnvelopeCursor,
  EnvelopeHeadRecord,
  ExecutionRecord,
  ExtensionProposalRecord,
  OrderBatchRecord,
  ReleaseRecord,
  SealedPart,
  SelectedEnvelope,
  ShredRecord,
  TrusteeMail,
  UnsealRecord,
} from './access.js';
import { accessStatus } from './access-sqlite.js';
import { capsuleColumn } from './rows.js';
import { plainBytes } from './storage.js';

export const POSTGRES_ORDER_MIGRATION = `
  CREATE INDEX envelopes_by_received ON envelopes (org_id, received_at, message_id);
  CREATE TABLE access_order_batches (
    request_id bytea NOT NULL REFERENCES access_requests (request_id),
    batch bigint NOT NULL CHECK (batch >= 0),
    log_index bigint NOT NULL UNIQUE,
    signed bytea NOT NULL,
    envelope_count bigint NOT NULL CHECK (envelope_count >= 1),
    executed_at bigint NOT NULL,
    scanned_until bigint NOT NULL,
    PRIMARY KEY (request_id, batch)
  );
  CREATE UNIQUE INDEX access_selection_by_message ON access_selection (request_id, message_id);
`;

export const POSTGRES_ACCESS_MIGRATION = `
  CREATE TABLE trustee_mail (
    seq bigserial PRIMARY KEY,
    from_index smallint NOT NULL CHECK (from_index BETWEEN 1 AND 255),
    to_index smallint NOT NULL CHECK (to_index BETWEEN 0 AND 255),
    body bytea NOT NULL,
    received_at bigint NOT NULL
  );
  CREATE INDEX trustee_mail_by_to ON trustee_mail (to_index, seq);
  CREATE TABLE access_requests (
    request_id bytea PRIMARY KEY CHECK (length(request_id) = 16),
    request_hash bytea NOT NULL,
    requester_id text NOT NULL,
    signed bytea NOT NULL,
    log_index bigint NOT NULL UNIQUE,
    policy_serial bigint NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'executed', 'denied', 'over-limit')),
    received_at bigint NOT NULL
  );
  CREATE TABLE access_sealed (
    request_id bytea NOT NULL REFERENCES access_requests (request_id),
    trustee_index smallint NOT NULL CHECK (trustee_index BETWEEN 1 AND 255),
    sealed bytea NOT NULL,
    PRIMARY KEY (request_id, trustee_index)
  );
  CREATE TABLE access_entries (
    log_index bigint PRIMARY KEY CHECK (log_index >= 0),
    request_id bytea NOT NULL,
    type smallint NOT NULL,
    body bytea NOT NULL
  );
  CREATE INDEX access_entries_by_request ON access_entries (request_id, log_index);
  CREATE TABLE access_executions (
    request_id bytea PRIMARY KEY REFERENCES access_requests (request_id),
    log_index bigint NOT NULL,
    signed bytea NOT NULL,
    envelope_count bigint NOT NULL CHECK (envelope_count >= 0),
    executed_at bigint NOT NULL
  );
  CREATE TABLE access_selection (
    request_id bytea NOT NULL REFERENCES access_executions (request_id),
    position bigint NOT NULL CHECK (position >= 0),
    label bytea NOT NULL,
    message_id bytea NOT NULL,
    PRIMARY KEY (request_id, position)
  );
  CREATE TABLE access_releases (
    request_id bytea NOT NULL REFERENCES access_executions (request_id),
    trustee_index smallint NOT NULL CHECK (trustee_index BETWEEN 1 AND 255),
    batch bigint NOT NULL CHECK (batch >= 0),
    signed bytea NOT NULL,
    bundle bytea NOT NULL,
    bundle_hash bytea NOT NULL,
    log_index bigint NOT NULL,
    received_at bigint NOT NULL,
    PRIMARY KEY (request_id, trustee_index, batch)
  );
  CREATE INDEX envelopes_by_send_time ON envelopes (org_id, send_time, message_id);
`;

/** Migration 8 (after-release.md §1, §2): as SQLITE_UNSEAL_MIGRATION. */
export const POSTGRES_UNSEAL_MIGRATION = `
  CREATE TABLE access_relay_parts (
    request_id bytea PRIMARY KEY REFERENCES access_requests (request_id),
    sealed bytea NOT NULL
  );
  CREATE TABLE access_unseals (
    request_id bytea PRIMARY KEY REFERENCES access_requests (request_id),
    log_index bigint NOT NULL UNIQUE,
    signed bytea NOT NULL,
    publisher smallint NOT NULL CHECK (publisher BETWEEN 0 AND 255),
    received_at bigint NOT NULL
  );
  CREATE TABLE access_extensions (
    seq bigserial PRIMARY KEY,
    request_id bytea NOT NULL REFERENCES access_requests (request_id),
    number smallint NOT NULL CHECK (number BETWEEN 1 AND 255),
    statement bytea NOT NULL,
    reason text NOT NULL,
    proposed_at bigint NOT NULL,
    log_index bigint,
    UNIQUE (request_id, number)
  );
  CREATE TABLE access_extension_signatures (
    request_id bytea NOT NULL,
    number smallint NOT NULL,
    trustee_index smallint NOT NULL CHECK (trustee_index BETWEEN 1 AND 255),
    signature bytea NOT NULL,
    PRIMARY KEY (request_id, number, trustee_index),
    FOREIGN KEY (request_id, number) REFERENCES access_extensions (request_id, number)
  );
`;

type Q = pg.PoolClient | pg.Pool;
type Tx = <T>(what: string, fn: (c: pg.PoolClient) => Promise<T>) => Promise<T>;
type Read = <T>(what: string, fn: (c: Q) => Promise<T>) => Promise<T>;

function num(v: string | number | null): number {
  const n = Number(v);
  if (v === null || !Number.isSafeInteger(n))
    throw new RelayError('STORE_R_CORRUPT', 'postgres: integer column out of range', { check: 'STORE-R-3' });
  return n;
}

async function rows<R extends pg.QueryResultRow>(c: Q, sql: string, params: unknown[] = []): Promise<R[]> {
  return (await c.query<R>(sql, params)).rows;
}

interface RequestRow {
  request_id: Uint8Array;
  request_hash: Uint8Array;
  requester_id: string;
  signed: Uint8Array;
  log_index: string;
  policy_serial: string;
  status: string;
  received_at: string;
}

function requestFrom(r: RequestRow): AccessRequestRecord {
  return {
    requestId: plainBytes(r.request_id),
    requestHash: plainBytes(r.request_hash),
    requesterId: r.requester_id,
    signed: plainBytes(r.signed),
    logIndex: num(r.log_index),
    policySerial: num(r.policy_serial),
    status: accessStatus(r.status, 'postgres'),
    receivedAt: num(r.received_at),
  };
}

/** Migration 9 (after-release.md §6): one logged shred statement per (epoch, trustee). */
export const POSTGRES_SHRED_MIGRATION = `
  CREATE TABLE access_shreds (
    epoch bigint NOT NULL CHECK (epoch BETWEEN 0 AND 4294967295),
    trustee_index smallint NOT NULL CHECK (trustee_index BETWEEN 1 AND 255),
    signed bytea NOT NULL,
    log_index bigint NOT NULL,
    received_at bigint NOT NULL,
    PRIMARY KEY (epoch, trustee_index)
  );
`;

interface ShredRow {
  epoch: string;
  trustee_index: number;
  signed: Uint8Array;
  log_index: string;
  received_at: string;
}

function shredFrom(r: ShredRow): ShredRecord {
  return {
    epoch: num(r.epoch),
    trusteeIndex: r.trustee_index,
    signed: plainBytes(r.signed),
    logIndex: num(r.log_index),
    receivedAt: num(r.received_at),
  };
}

interface ReleaseRow {
  request_id: Uint8Array;
  trustee_index: number;
  batch: string;
  signed: Uint8Array;
  bundle: Uint8Array;
  bundle_hash: Uint8Array;
  log_index: string;
  received_at: string;
}

function releaseFrom(r: ReleaseRow): ReleaseRecord {
  return {
    requestId: plainBytes(r.request_id),
    trusteeIndex: r.trustee_index,
    batch: num(r.batch),
    signed: plainBytes(r.signed),
    bundle: plainBytes(r.bundle),
    bundleHash: plainBytes(r.bundle_hash),
    logIndex: num(r.log_index),
    receivedAt: num(r.received_at),
  };
}

/** Rows per INSERT of a selection (PostgreSQL takes at most 65,535 parameters). */
const SELECTION_CHUNK = 4096;

export class PostgresAccessStorage implements AccessStorage {
  constructor(
    private readonly tx: Tx,
    private readonly read: Read,
  ) {}

  async putMail(from: number, to: number, body: Uint8Array, now: number): Promise<number> {
    return this.tx('put trustee mail', async (c) => {
      const r = await rows<{ seq: string }>(
        c,
        'INSERT INTO trustee_mail (from_index, to_index, body, received_at) VALUES ($1, $2, $3, $4) RETURNING seq',
        [from, to, body, now],
      );
      return num(r[0]!.seq);
    });
  }

  async readMail(trustee: number, afterSeq: number, limit: number): Promise<TrusteeMail[]> {
    return this.read('read trustee mail', async (c) =>
      (
        await rows<{
          seq: string;
          from_index: number;
          to_index: number;
          body: Uint8Array;
          received_at: string;
        }>(
          c,
          'SELECT seq, from_index, to_index, body, received_at FROM trustee_mail ' +
            'WHERE seq > $1 AND to_index IN (0, $2) ORDER BY seq LIMIT $3',
          [afterSeq, trustee, limit],
        )
      ).map((r) => ({
        seq: num(r.seq),
        from: r.from_index,
        to: r.to_index,
        body: plainBytes(r.body),
        receivedAt: num(r.received_at),
      })),
    );
  }

  private async insertEntry(c: pg.PoolClient, e: AccessEntryRecord): Promise<void> {
    const r = await c.query(
      'INSERT INTO access_entries (log_index, request_id, type, body) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
      [e.logIndex, e.requestId, e.type, e.body],
    );
    if (r.rowCount !== 1)
      throw new RelayError('STORE_R_INVALID', 'postgres: the log index is recorded already', {
        check: 'STORE-R-3',
      });
  }

  async putRequest(
    q: AccessRequestRecord,
    sealed: readonly SealedPart[],
    relayPart?: Uint8Array,
  ): Promise<void> {
    await this.tx('put access request', async (c) => {
      const r = await c.query(
        'INSERT INTO access_requests (request_id, request_hash, requester_id, signed, log_index, policy_serial, ' +
          'status, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (request_id) DO NOTHING',
        [
          q.requestId,
          q.requestHash,
          q.requesterId,
          q.signed,
          q.logIndex,
          q.policySerial,
          q.status,
          q.receivedAt,
        ],
      );
      if (r.rowCount !== 1)
        throw new RelayError('ACCESS_REQUEST_EXISTS', 'the request id is taken', { check: 'ACC-R4' });
      for (const s of sealed)
        await c.query('INSERT INTO access_sealed (request_id, trustee_index, sealed) VALUES ($1, $2, $3)', [
          q.requestId,
          s.trustee,
          s.sealed,
        ]);
      if (relayPart !== undefined)
        await c.query('INSERT INTO access_relay_parts (request_id, sealed) VALUES ($1, $2)', [
          q.requestId,
          relayPart,
        ]);
      await this.insertEntry(c, { logIndex: q.logIndex, requestId: q.requestId, type: 5, body: q.signed });
    });
  }

  async getRequest(requestId: Uint8Array): Promise<AccessRequestRecord | undefined> {
    return this.read('read access request', async (c) => {
      const r = (
        await rows<RequestRow>(c, 'SELECT * FROM access_requests WHERE request_id = $1', [requestId])
      )[0];
      return r === undefined ? undefined : requestFrom(r);
    });
  }

  async listRequests(
    afterIndex: number,
    limit: number,
    requesterId?: string,
  ): Promise<AccessRequestRecord[]> {
    return this.read('list access requests', async (c) =>
      (requesterId === undefined
        ? await rows<RequestRow>(
            c,
            'SELECT * FROM access_requests WHERE log_index > $1 ORDER BY log_index LIMIT $2',
            [afterIndex, limit],
          )
        : await rows<RequestRow>(
            c,
            'SELECT * FROM access_requests WHERE log_index > $1 AND requester_id = $2 ORDER BY log_index LIMIT $3',
            [afterIndex, requesterId, limit],
          )
      ).map(requestFrom),
    );
  }

  async getSealed(requestId: Uint8Array, trustee: number): Promise<Uint8Array | undefined> {
    return this.read('read sealed part', async (c) => {
      const r = await rows<{ sealed: Uint8Array }>(
        c,
        'SELECT sealed FROM access_sealed WHERE request_id = $1 AND trustee_index = $2',
        [requestId, trustee],
      );
      return r[0] === undefined ? undefined : plainBytes(r[0].sealed);
    });
  }

  async setRequestStatus(requestId: Uint8Array, status: AccessStatus): Promise<void> {
    await this.tx('set access status', async (c) => {
      await c.query('UPDATE access_requests SET status = $1 WHERE request_id = $2', [status, requestId]);
    });
  }

  async putEntry(entry: AccessEntryRecord): Promise<void> {
    await this.tx('put access entry', (c) => this.insertEntry(c, entry));
  }

  async listEntries(requestId: Uint8Array): Promise<AccessEntryRecord[]> {
    return this.read('list access entries', async (c) =>
      (
        await rows<{ log_index: string; request_id: Uint8Array; type: number; body: Uint8Array }>(
          c,
          'SELECT * FROM access_entries WHERE request_id = $1 ORDER BY log_index',
          [requestId],
        )
      ).map((r) => ({
        logIndex: num(r.log_index),
        requestId: plainBytes(r.request_id),
        type: r.type,
        body: plainBytes(r.body),
      })),
    );
  }

  async putExecution(x: ExecutionRecord, selection: readonly SelectedEnvelope[]): Promise<void> {
    await this.tx('put execution', async (c) => {
      const r = await c.query(
        'INSERT INTO access_executions (request_id, log_index, signed, envelope_count, executed_at) ' +
          'VALUES ($1, $2, $3, $4, $5) ON CONFLICT (request_id) DO NOTHING',
        [x.requestId, x.logIndex, x.signed, x.envelopeCount, x.executedAt],
      );
      if (r.rowCount !== 1)
        throw new RelayError('ACCESS_REQUEST_EXISTS', 'the request is executed already', { check: 'ACC-X1' });
      for (let i = 0; i < selection.length; i += SELECTION_CHUNK) {
        const part = selection.slice(i, i + SELECTION_CHUNK);
        await c.query(
          'INSERT INTO access_selection (request_id, position, label, message_id) ' +
            'SELECT $1, * FROM unnest($2::bigint[], $3::bytea[], $4::bytea[])',
          [x.requestId, part.map((s) => s.position), part.map((s) => s.label), part.map((s) => s.messageId)],
        );
      }
      await this.insertEntry(c, { logIndex: x.logIndex, requestId: x.requestId, type: 7, body: x.signed });
      await c.query("UPDATE access_requests SET status = 'executed' WHERE request_id = $1", [x.requestId]);
    });
  }

  async getExecution(requestId: Uint8Array): Promise<ExecutionRecord | undefined> {
    return this.read('read execution', async (c) => {
      const r = (
        await rows<{ log_index: string; signed: Uint8Array; envelope_count: string; executed_at: string }>(
          c,
          'SELECT log_index, signed, envelope_count, executed_at FROM access_executions WHERE request_id = $1',
          [requestId],
        )
      )[0];
      return r === undefined
        ? undefined
        : {
            requestId: requestId.slice(),
            logIndex: num(r.log_index),
            signed: plainBytes(r.signed),
            envelopeCount: num(r.envelope_count),
            executedAt: num(r.executed_at),
          };
    });
  }

  async listSelection(requestId: Uint8Array, from: number, limit: number): Promise<SelectedEnvelope[]> {
    return this.read('list selection', async (c) =>
      (
        await rows<{ position: string; label: Uint8Array; message_id: Uint8Array }>(
          c,
          'SELECT position, label, message_id FROM access_selection WHERE request_id = $1 AND position >= $2 ' +
            'ORDER BY position LIMIT $3',
          [requestId, from, limit],
        )
      ).map((r) => ({
        position: num(r.position),
        label: plainBytes(r.label),
        messageId: plainBytes(r.message_id),
      })),
    );
  }

  async getSelected(requestId: Uint8Array, position: number): Promise<SelectedEnvelope | undefined> {
    return (await this.listSelection(requestId, position, 1)).find((s) => s.position === position);
  }

  async putRelease(x: ReleaseRecord): Promise<void> {
    await this.tx('put release', async (c) => {
      const r = await c.query(
        'INSERT INTO access_releases (request_id, trustee_index, batch, signed, bundle, bundle_hash, log_index, ' +
          'received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING',
        [x.requestId, x.trusteeIndex, x.batch, x.signed, x.bundle, x.bundleHash, x.logIndex, x.receivedAt],
      );
      if (r.rowCount !== 1)
        throw new RelayError('ACCESS_RELEASE_CONFLICT', 'a release of this batch is stored', {
          check: 'ACC-L4',
        });
      await this.insertEntry(c, { logIndex: x.logIndex, requestId: x.requestId, type: 8, body: x.signed });
    });
  }

  async getRelease(
    requestId: Uint8Array,
    trustee: number,
    batch: number,
  ): Promise<ReleaseRecord | undefined> {
    return this.read('read release', async (c) => {
      const r = (
        await rows<ReleaseRow>(
          c,
          'SELECT * FROM access_releases WHERE request_id = $1 AND trustee_index = $2 AND batch = $3',
          [requestId, trustee, batch],
        )
      )[0];
      return r === undefined ? undefined : releaseFrom(r);
    });
  }

  async listReleases(requestId: Uint8Array): Promise<ReleaseRecord[]> {
    return this.read('list releases', async (c) =>
      (
        await rows<ReleaseRow>(
          c,
          "SELECT request_id, trustee_index, batch, signed, '\\x'::bytea AS bundle, bundle_hash, log_index, " +
            'received_at FROM access_releases WHERE request_id = $1 ORDER BY trustee_index, batch',
          [requestId],
        )
      ).map(releaseFrom),
    );
  }

  // ── Unseals and extensions (migration 8) ──

  async getRelayPart(requestId: Uint8Array): Promise<Uint8Array | undefined> {
    return this.read('read relay part', async (c) => {
      const r = (
        await rows<{ sealed: Uint8Array }>(c, 'SELECT sealed FROM access_relay_parts WHERE request_id = $1', [
          requestId,
        ])
      )[0];
      return r === undefined ? undefined : plainBytes(r.sealed);
    });
  }

  async listUnsealCandidates(afterIndex: number, limit: number): Promise<AccessRequestRecord[]> {
    return this.read('list unseal candidates', async (c) =>
      (
        await rows<RequestRow>(
          c,
          'SELECT q.* FROM access_requests q JOIN access_relay_parts p ON p.request_id = q.request_id ' +
            'WHERE q.log_index > $1 AND NOT EXISTS (SELECT 1 FROM access_unseals u WHERE u.request_id = q.request_id) ' +
            'ORDER BY q.log_index LIMIT $2',
          [afterIndex, limit],
        )
      ).map(requestFrom),
    );
  }

  async putUnseal(u: UnsealRecord): Promise<void> {
    await this.tx('put unseal', async (c) => {
      const r = await c.query(
        'INSERT INTO access_unseals (request_id, log_index, signed, publisher, received_at) ' +
          'VALUES ($1, $2, $3, $4, $5) ON CONFLICT (request_id) DO NOTHING',
        [u.requestId, u.logIndex, u.signed, u.publisher, u.receivedAt],
      );
      if (r.rowCount !== 1)
        throw new RelayError('ACCESS_UNSEAL_EXISTS', 'the request has an unseal', { check: 'ACC-U3' });
      await this.insertEntry(c, { logIndex: u.logIndex, requestId: u.requestId, type: 10, body: u.signed });
    });
  }

  private async unseals(c: Q, where: string, args: unknown[]): Promise<UnsealRecord[]> {
    return (
      await rows<{
        request_id: Uint8Array;
        log_index: string;
        signed: Uint8Array;
        publisher: number;
        received_at: string;
      }>(c, `SELECT * FROM access_unseals ${where}`, args)
    ).map((r) => ({
      requestId: plainBytes(r.request_id),
      logIndex: num(r.log_index),
      signed: plainBytes(r.signed),
      publisher: r.publisher,
      receivedAt: num(r.received_at),
    }));
  }

  async getUnseal(requestId: Uint8Array): Promise<UnsealRecord | undefined> {
    return this.read(
      'read unseal',
      async (c) => (await this.unseals(c, 'WHERE request_id = $1', [requestId]))[0],
    );
  }

  async listUnseals(afterIndex: number, limit: number): Promise<UnsealRecord[]> {
    return this.read('list unseals', (c) =>
      this.unseals(c, 'WHERE log_index > $1 ORDER BY log_index LIMIT $2', [afterIndex, limit]),
    );
  }

  async putExtensionProposal(
    p: Omit<ExtensionProposalRecord, 'seq' | 'signatures' | 'logIndex'>,
  ): Promise<number> {
    return this.tx('put extension proposal', async (c) => {
      const r = await rows<{ seq: string }>(
        c,
        'INSERT INTO access_extensions (request_id, number, statement, reason, proposed_at) ' +
          'VALUES ($1, $2, $3, $4, $5) ON CONFLICT (request_id, number) DO NOTHING RETURNING seq',
        [p.requestId, p.number, p.statement, p.reason, p.proposedAt],
      );
      if (r[0] === undefined)
        throw new RelayError('ACCESS_EXTENSION_EXISTS', 'a proposal for this extension number is stored', {
          check: 'ACC-E1',
        });
      return num(r[0].seq);
    });
  }

  private async proposals(c: Q, where: string, args: unknown[]): Promise<ExtensionProposalRecord[]> {
    const list = await rows<{
      seq: string;
      request_id: Uint8Array;
      number: number;
      statement: Uint8Array;
      reason: string;
      proposed_at: string;
      log_index: string | null;
    }>(
      c,
      `SELECT x.* FROM access_extensions x JOIN access_requests q ON q.request_id = x.request_id ${where}`,
      args,
    );
    const out: ExtensionProposalRecord[] = [];
    for (const r of list) {
      const sigs = await rows<{ trustee_index: number; signature: Uint8Array }>(
        c,
        'SELECT trustee_index, signature FROM access_extension_signatures WHERE request_id = $1 AND number = $2 ' +
          'ORDER BY trustee_index',
        [r.request_id, r.number],
      );
      out.push({
        seq: num(r.seq),
        requestId: plainBytes(r.request_id),
        number: r.number,
        statement: plainBytes(r.statement),
        reason: r.reason,
        proposedAt: num(r.proposed_at),
        logIndex: r.log_index === null ? null : num(r.log_index),
        signatures: sigs.map((g) => ({ trustee: g.trustee_index, signature: plainBytes(g.signature) })),
      });
    }
    return out;
  }

  async getExtensionProposal(
    requestId: Uint8Array,
    number: number,
  ): Promise<ExtensionProposalRecord | undefined> {
    return this.read(
      'read extension proposal',
      async (c) =>
        (await this.proposals(c, 'WHERE x.request_id = $1 AND x.number = $2', [requestId, number]))[0],
    );
  }

  async listExtensionProposals(
    afterSeq: number,
    limit: number,
    requesterId?: string,
  ): Promise<ExtensionProposalRecord[]> {
    return this.read('list extension proposals', (c) =>
      requesterId === undefined
        ? this.proposals(c, 'WHERE x.seq > $1 ORDER BY x.seq LIMIT $2', [afterSeq, limit])
        : this.proposals(c, 'WHERE x.seq > $1 AND q.requester_id = $2 ORDER BY x.seq LIMIT $3', [
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
    await this.tx('put extension signature', async (c) => {
      await c.query(
        'INSERT INTO access_extension_signatures (request_id, number, trustee_index, signature) ' +
          'VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
        [requestId, number, trustee, signature],
      );
    });
  }

  async markExtensionLogged(
    requestId: Uint8Array,
    number: number,
    logIndex: number,
    body: Uint8Array,
  ): Promise<void> {
    await this.tx('mark extension logged', async (c) => {
      await c.query('UPDATE access_extensions SET log_index = $1 WHERE request_id = $2 AND number = $3', [
        logIndex,
        requestId,
        number,
      ]);
      await this.insertEntry(c, { logIndex, requestId, type: 9, body });
    });
  }

  async scanEnvelopeHeads(
    orgId: string,
    from: number,
    until: number,
    cursor: EnvelopeCursor | undefined,
    limit: number,
  ): Promise<EnvelopeHeadRecord[]> {
    return this.read('scan envelope heads', async (c) => {
      type Row = { message_id: Uint8Array; send_time: string; header: Uint8Array; capsule: Uint8Array };
      const list =
        cursor === undefined
          ? await rows<Row>(
              c,
              'SELECT message_id, send_time, header, capsule FROM envelopes ' +
                'WHERE org_id = $1 AND send_time >= $2 AND send_time < $3 ORDER BY send_time, message_id LIMIT $4',
              [orgId, from, until, limit],
            )
          : await rows<Row>(
              c,
              'SELECT message_id, send_time, header, capsule FROM envelopes ' +
                'WHERE org_id = $1 AND send_time >= $2 AND send_time < $3 AND (send_time, message_id) > ($4, $5) ' +
                'ORDER BY send_time, message_id LIMIT $6',
              [orgId, from, until, cursor.sendTime, cursor.messageId, limit],
            );
      return list.map((r) => ({
        messageId: plainBytes(r.message_id),
        sendTime: num(r.send_time),
        header: plainBytes(r.header),
        ...capsuleColumn(r.capsule, 'postgres'),
      }));
    });
  }

  async putShred(x: ShredRecord): Promise<void> {
    await this.tx('put shred', async (c) => {
      const r = await c.query(
        'INSERT INTO access_shreds (epoch, trustee_index, signed, log_index, received_at) ' +
          'VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING',
        [x.epoch, x.trusteeIndex, x.signed, x.logIndex, x.receivedAt],
      );
      if (r.rowCount !== 1)
        throw new RelayError('ACCESS_SHRED_EXISTS', 'a shred of this epoch by this trustee is stored', {
          check: 'ACC-S2',
        });
    });
  }

  async getShred(epoch: number, trustee: number): Promise<ShredRecord | undefined> {
    return this.read('read shred', async (c) => {
      const r = (
        await rows<ShredRow>(c, 'SELECT * FROM access_shreds WHERE epoch = $1 AND trustee_index = $2', [
          epoch,
          trustee,
        ])
      )[0];
      return r === undefined ? undefined : shredFrom(r);
    });
  }

  async listShreds(epoch: number): Promise<ShredRecord[]> {
    return this.read('list shreds', async (c) =>
      (
        await rows<ShredRow>(c, 'SELECT * FROM access_shreds WHERE epoch = $1 ORDER BY trustee_index', [
          epoch,
        ])
      ).map(shredFrom),
    );
  }

  async putOrderBatch(x: OrderBatchRecord, selection: readonly SelectedEnvelope[]): Promise<void> {
    await this.tx('put order batch', async (c) => {
      const r = await c.query(
        'INSERT INTO access_order_batches (request_id, batch, log_index, signed, envelope_count, executed_at, ' +
          'scanned_until) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (request_id, batch) DO NOTHING',
        [x.requestId, x.batch, x.logIndex, x.signed, x.envelopeCount, x.executedAt, x.scannedUntil],
      );
      if (r.rowCount !== 1)
        throw new RelayError('ACCESS_REQUEST_EXISTS', 'the batch is logged already', { check: 'ORD-R2' });
      const anchor = await c.query(
        'INSERT INTO access_executions (request_id, log_index, signed, envelope_count, executed_at) ' +
          'VALUES ($1, $2, $3, $4, $5) ON CONFLICT (request_id) DO NOTHING',
        [x.requestId, x.logIndex, x.signed, x.envelopeCount, x.executedAt],
      );
      if (anchor.rowCount === 1)
        await c.query("UPDATE access_requests SET status = 'executed' WHERE request_id = $1", [x.requestId]);
      for (let i = 0; i < selection.length; i += SELECTION_CHUNK) {
        const part = selection.slice(i, i + SELECTION_CHUNK);
        await c.query(
          'INSERT INTO access_selection (request_id, position, label, message_id) ' +
            'SELECT $1, * FROM unnest($2::bigint[], $3::bytea[], $4::bytea[])',
          [x.requestId, part.map((s) => s.position), part.map((s) => s.label), part.map((s) => s.messageId)],
        );
      }
      await this.insertEntry(c, { logIndex: x.logIndex, requestId: x.requestId, type: 7, body: x.signed });
    });
  }

  async listOrderBatches(requestId: Uint8Array): Promise<OrderBatchRecord[]> {
    return this.read('list order batches', async (c) =>
      (
        await rows<{
          batch: string;
          log_index: string;
          signed: Uint8Array;
          envelope_count: string;
          executed_at: string;
          scanned_until: string;
        }>(c, 'SELECT * FROM access_order_batches WHERE request_id = $1 ORDER BY batch', [requestId])
      ).map((r) => ({
        requestId: requestId.slice(),
        batch: num(r.batch),
        logIndex: num(r.log_index),
        signed: plainBytes(r.signed),
        envelopeCount: num(r.envelope_count),
        executedAt: num(r.executed_at),
        scannedUntil: num(r.scanned_until),
      })),
    );
  }

  async isSelected(requestId: Uint8Array, messageId: Uint8Array): Promise<boolean> {
    return this.read(
      'read selection',
      async (c) =>
        (
          await rows(c, 'SELECT 1 FROM access_selection WHERE request_id = $1 AND message_id = $2', [
            requestId,
            messageId,
          ])
        ).length > 0,
    );
  }

  async scanEnvelopesReceived(
    orgId: string,
    from: number,
    cursor: { readonly receivedAt: number; readonly messageId: Uint8Array } | undefined,
    limit: number,
  ): Promise<(EnvelopeHeadRecord & { readonly receivedAt: number })[]> {
    return this.read('scan envelopes received', async (c) => {
      type Row = {
        message_id: Uint8Array;
        send_time: string;
        header: Uint8Array;
        capsule: Uint8Array;
        received_at: string;
      };
      const cols = 'SELECT message_id, send_time, header, capsule, received_at FROM envelopes ';
      const list =
        cursor === undefined
          ? await rows<Row>(
              c,
              `${cols}WHERE org_id = $1 AND received_at >= $2 ORDER BY received_at, message_id LIMIT $3`,
              [orgId, from, limit],
            )
          : await rows<Row>(
              c,
              `${cols}WHERE org_id = $1 AND received_at >= $2 AND (received_at, message_id) > ($3, $4) ` +
                'ORDER BY received_at, message_id LIMIT $5',
              [orgId, from, cursor.receivedAt, cursor.messageId, limit],
            );
      return list.map((r) => ({
        messageId: plainBytes(r.message_id),
        sendTime: num(r.send_time),
        header: plainBytes(r.header),
        receivedAt: num(r.received_at),
        ...capsuleColumn(r.capsule, 'postgres'),
      }));
    });
  }

  async policyBySerial(serial: number): Promise<Uint8Array | undefined> {
    return this.read('read policy', async (c) => {
      const r = (
        await rows<{ policy: Uint8Array }>(c, 'SELECT policy FROM policies WHERE serial = $1', [serial])
      )[0];
      return r === undefined ? undefined : plainBytes(r.policy);
    });
  }
}
