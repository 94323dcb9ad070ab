/**
 * `overt relay serve` (docs/spec/start.md §4.4): the relay of a real deployment, on its own machine, from the data
 * directory `overt init` wrote. The log's sequencer runs in this process (the relay is the log's only writer) and
 * asks the witnesses of `relay.json` for cosignatures, with the quorum of the policy; storage is SQLite under the
 * data directory, or PostgreSQL when a database URL is given (the relay's tables in schema S, the log's in S_log).
 * At its first start it logs `policy.signed` (§4.4.3). It serves `/.well-known/overt` and `/healthz` (SVC-2).
 * The trustees, witnesses and users are other processes on other machines.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { equalBytes, verifyPolicy } from '@overt/core';
import { DEFAULT_HEARTBEAT_MS, parseVerifierKey } from '@overt/log';
import {
  createLogHandler,
  type LogStorage,
  type LogWitness,
  openPostgresStorage,
  openSqliteStorage,
  Sequencer,
} from '@overt/log/service';
import {
  calendarMonthEpoch,
  createRelay,
  type PolicyRecord,
  RelayService,
  type RequestLogSink,
} from '@overt/server';
import { submitToWitness } from '@overt/witness';
import { StandaloneError } from './errors.js';
import { readDeployment } from './init.js';
import { lockDataDir } from './lock.js';
import { loadRelayKeys } from './relay-keys.js';
import { stopRelay } from './relay-stop.js';
import { loadState } from './system.js';
import { defaultWebRoot } from './web-root.js';
import { buildWellKnown, type WellKnownDocument } from './well-known.js';

export const DEFAULT_DB_SCHEMA = 'overt';

export interface RelayNodeOptions {
  readonly dataDir: string;
  /** The built web app served at `/` (web.md §4); default packages/web/dist (web-root.ts). */
  readonly webRoot?: string;
  readonly host?: string;
  readonly port: number;
  /** PostgreSQL (`postgres://…`): the relay's and the log's storage; absent: SQLite under dataDir. */
  readonly databaseUrl?: string;
  /** The PostgreSQL schema of the relay's tables (default `overt`); the log's are in `<schema>_log`. */
  readonly schema?: string;
  /** The PostgreSQL schema of the log's tables (default `<schema>_log`). */
  readonly logSchema?: string;
  readonly heartbeatMs?: number;
  readonly requestLog?: RequestLogSink;
  /** Events without secrets (policy logged, witnessed), for the service's structured log. */
  readonly onEvent?: (event: { readonly event: string; readonly [k: string]: unknown }) => void;
  readonly now?: () => number;
}

export interface RelayHealth {
  readonly ok: boolean;
  readonly service: 'relay';
  readonly org: string;
  /** The relay's store answered a query. */
  readonly store: boolean;
  /** The log key is loaded and the sequencer runs (its latest checkpoint size). */
  readonly log: { readonly size: number };
  /** A policy is on the log (its serial), or null. */
  readonly policy: number | null;
  /** The published checkpoint carries the policy's witness quorum. */
  readonly witnessed: boolean;
  /** Whether the current and the next epoch have a key on the log (made by the trustees). */
  readonly epochKeys: { readonly current: boolean; readonly next: boolean };
}

export interface RunningRelayNode {
  readonly url: string;
  readonly dataDir: string;
  readonly wellKnown: WellKnownDocument;
  readonly policy: { readonly status: 'published' | 'reused'; readonly record: PolicyRecord };
  readonly staleLockFrom: number | undefined;
  health(): Promise<RelayHealth>;
  close(): Promise<void>;
}

function policyError(message: string): StandaloneError {
  return new StandaloneError('INIT_POLICY', message, { check: 'INIT-3' });
}

/** START-11 for the relay's port (the same words as `overt up`). */
function portInUse(host: string, port: number, cause: unknown): StandaloneError {
  return new StandaloneError(
    'START_PORT',
    `port ${port} on ${host} (the relay) is already in use; choose another with --port N (0 picks a free one)`,
    { check: 'START-11', cause },
  );
}

/**
 * Starts the relay node; on any failure stops what already runs and rethrows. Throws StandaloneError (INIT-2 for a
 * directory `overt init` did not make, INIT-3, START-10, START-11) and the relay's, the log's and the witness
 * package's own errors.
 */
export async function startRelayNode(o: RelayNodeOptions): Promise<RunningRelayNode> {
  const dataDir = resolve(o.dataDir);
  const host = o.host ?? '127.0.0.1';
  const now = o.now ?? Date.now;
  const deployment = readDeployment(dataDir); // INIT-2 before anything is locked or opened
  const lock = lockDataDir(dataDir);
  const cleanups: (() => Promise<void>)[] = [async () => lock.release()];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    cleanups.length = 0;
  };
  try {
    const state = loadState(dataDir, undefined);
    const inFile = verifyPolicy(deployment.signedPolicy, deployment.adminKey);
    if (inFile.policy.orgId !== state.org)
      throw policyError(`policy.signed names org ${inFile.policy.orgId}, this directory is ${state.org}`);
    const keys = await loadRelayKeys(dataDir, state.org, state.origin);
    const witnesses: LogWitness[] = deployment.config.witnesses.map((w) => {
      const key = parseVerifierKey(w.vkey);
      return {
        key,
        addCheckpoint: (note, oldSize, prove, signal) =>
          submitToWitness(w.url, note, oldSize, prove, { witnessKey: key, signal }),
      };
    });
    const schema = o.schema ?? DEFAULT_DB_SCHEMA;
    let storage: LogStorage;
    if (o.databaseUrl !== undefined)
      storage = await openPostgresStorage({
        connectionString: o.databaseUrl,
        schema: o.logSchema ?? `${schema}_log`,
      });
    else {
      mkdirSync(join(dataDir, 'log'), { recursive: true, mode: 0o700 });
      storage = openSqliteStorage({ path: join(dataDir, 'log', 'log.sqlite') });
    }
    cleanups.push(async () => storage.close());
    const quorum = inFile.policy.witnessQuorum;
    const sequencer = await Sequencer.start({
      storage,
      origin: state.origin,
      key: keys.logKey,
      witnesses,
      witnessQuorum: quorum,
      heartbeatMs: o.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
    });
    cleanups.push(() => sequencer.close());
    let wellKnown: WellKnownDocument | undefined;
    const relay = await createRelay({
      ...(o.databaseUrl !== undefined
        ? { databaseUrl: o.databaseUrl, schema }
        : { dataDir: join(dataDir, 'relay') }),
      host,
      port: o.port,
      orgId: state.org,
      adminPublicKey: deployment.adminKey,
      frankingKey: keys.franking.keyPair,
      accessKey: keys.accessKey.keyPair,
      unsealKey: keys.unsealKey,
      log: sequencer,
      logHandler: createLogHandler({ storage, prefix: '/log/' }),
      now,
      ...(o.requestLog !== undefined ? { requestLog: o.requestLog } : {}),
      webRoot: o.webRoot ?? defaultWebRoot(),
    });
    cleanups.push(() => stopRelay(relay));
    const health = async (): Promise<RelayHealth> => {
      let store = false;
      let policy: number | null = null;
      let current = false;
      let next = false;
      try {
        const record = await relay.storage.currentPolicy();
        policy = record?.serial ?? null;
        const e = calendarMonthEpoch(now());
        current = (await relay.storage.getEpochKey(e)) !== undefined;
        next = (await relay.storage.getEpochKey(e + 1)) !== undefined;
        store = true;
      } catch {
        store = false;
      }
      const published = sequencer.publishedCheckpoint;
      const witnessed = published !== undefined && published.cosignatures >= quorum;
      return {
        ok: store && policy !== null && wellKnown !== undefined,
        service: 'relay',
        org: state.org,
        store,
        log: { size: sequencer.checkpoint.size },
        policy,
        witnessed,
        epochKeys: { current, next },
      };
    };
    relay.app.get('/.well-known/overt', async (_req, reply) => {
      if (wellKnown === undefined) return reply.code(503).header('retry-after', '1').send();
      reply.header('cache-control', 'public, max-age=60');
      return wellKnown;
    });
    relay.app.get('/healthz', async (_req, reply) => {
      const h = await health();
      reply.header('cache-control', 'no-store');
      return reply.code(h.ok ? 200 : 503).send(h);
    });
    let url: string;
    try {
      url = await relay.start();
    } catch (e) {
      if ((e as { code?: string }).code === 'EADDRINUSE') throw portInUse(host, o.port, e);
      throw e;
    }

    // The policy: logged at the first start from policy.signed (start.md §4.4.3).
    const service = new RelayService({
      storage: relay.storage,
      log: sequencer,
      hub: relay.hub,
      orgId: state.org,
      now,
    });
    const existing = await service.currentPolicy();
    let policy: RunningRelayNode['policy'];
    if (existing === undefined || existing.record.serial < inFile.policy.serial) {
      const record = await service.publishPolicy(deployment.signedPolicy);
      policy = { status: 'published', record };
      o.onEvent?.({ event: 'policy-logged', serial: record.serial, logIndex: record.logIndex });
    } else if (
      existing.record.serial === inFile.policy.serial &&
      !equalBytes(existing.record.signed, deployment.signedPolicy)
    )
      throw policyError(
        `the relay's log holds another policy with serial ${existing.record.serial} than policy.signed; a new policy needs a greater serial`,
      );
    else policy = { status: 'reused', record: existing.record };

    wellKnown = buildWellKnown({
      org: state.org,
      adminKey: deployment.adminKey,
      origin: state.origin,
      logUrl: `${url}/log/`,
      logVkey: keys.logVkey,
      witnessVkeys: deployment.config.witnesses.map((w) => w.vkey),
      witnessQuorum: quorum,
      frankingKey: keys.franking.publicKey,
      accessKey: keys.accessKey.publicKey,
      unsealKey: keys.unsealKey.publicKey,
    });
    const doc = wellKnown;
    let closing: Promise<void> | undefined;
    return {
      url,
      dataDir,
      wellKnown: doc,
      policy,
      staleLockFrom: lock.staleFrom,
      health,
      close() {
        closing ??= cleanup();
        return closing;
      },
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
