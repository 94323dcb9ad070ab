/**
 * `createRelay(config)`: the relay as one start/stop-able server (docs/spec/relay.md §1). It opens the storage
 * (SQLite under a data directory, or PostgreSQL by URL), binds the org-admin key (STORE-R-1), builds the HTTP +
 * WebSocket app, and mounts the log's tile handler under /log/ when one is given.
 */
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { SigningKeyPair } from '@overt/core';
import type { FastifyInstance } from 'fastify';
import { AccessService, type UnsealKey } from './access/service.js';
import { DEFAULT_FRESHNESS_MS } from './auth.js';
import { RelayError } from './errors.js';
import { ReportDesk } from './franking.js';
import {
  buildApp,
  checkTarget,
  DEFAULT_BODY_LIMIT,
  DEFAULT_RATE_LIMITS,
  newSocketStats,
  type RateLimits,
  type SocketStats,
  writeProblem,
} from './http/app.js';
import { StaticSite } from './http/static.js';
import { MailboxHub } from './hub.js';
import { IngestPipeline } from './ingest/pipeline.js';
import { IngestRules } from './ingest/rules.js';
import { type ResourceLimits, resourceLimits } from './limits.js';
import type { LogPort } from './log-port.js';
import { NatsFanout, type NatsFanoutOptions } from './nats-fanout.js';
import { type BucketConfig, TokenBuckets } from './rate-limit.js';
import type { RequestLogSink } from './request-log.js';
import { RelayService } from './service.js';
import { PostgresRelayStorage } from './storage/postgres.js';
import { SqliteRelayStorage } from './storage/sqlite.js';
import type { RelayStorage } from './storage/storage.js';

/** Where the relay keeps its state: exactly one of these. */
export type RelayStorageConfig =
  | { readonly dataDir: string }
  | { readonly databaseUrl: string; readonly schema?: string }
  | { readonly storage: RelayStorage };

export type RelayConfig = RelayStorageConfig & {
  /** Listen address (default 127.0.0.1). */
  readonly host?: string;
  /** Listen port; 0 (the default) picks an ephemeral one. */
  readonly port?: number;
  /** The organisation's id, as in envelope headers and directory statements. */
  readonly orgId: string;
  /** The org-admin's Ed25519 public key, bound to the storage on first start. */
  readonly adminPublicKey: Uint8Array;
  /** The transparency log (the log service's Sequencer). */
  readonly log: LogPort;
  /** The log's HTTP handler (@overt/log/service createLogHandler with prefix '/log/'), served under /log/. */
  readonly logHandler?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
  /**
   * The built web app's directory (packages/web/dist), served at `/` outside the relay's own prefixes (relay.md
   * §12). A directory without index.html gives a page saying the app is not built; undefined serves nothing.
   */
  readonly webRoot?: string;
  /** Signed-request freshness window in ms (AUTH-5), default 30 s. */
  readonly freshnessMs?: number;
  /** Envelope send-time window in ms (RLY-12), default 5 minutes. */
  readonly envelopeSkewMs?: number;
  readonly rateLimits?: RateLimits;
  /**
   * One record per answered request (method, route pattern, status, duration, refusal code and check), e.g.
   * `jsonRequestLog(level)` (request-log.ts); requests to the log's tiles under /log/ are reported as `/log/*`.
   */
  readonly requestLog?: RequestLogSink;
  /** Key-package claims per (claiming device, claimed device) (relay.md DS-11), default 4 then one per 15 s. */
  readonly claimLimit?: BucketConfig;
  /** Largest JSON or inline-envelope body (default 2 MiB). */
  readonly bodyLimit?: number;
  /** The clock (ms since the Unix epoch); default Date.now. */
  readonly now?: () => number;
  /**
   * Age after which a blob no envelope references is deleted (STORE-R-7: an upload abandoned half-way, or one
   * whose envelope never came), default 24 hours; swept at start and then every `blobSweepMs` (default 1 hour).
   */
  readonly blobExpiryMs?: number;
  readonly blobSweepMs?: number;
  /**
   * The relay's Ed25519 franking key (relay.md §10): it stamps every envelope served and verifies abuse
   * reports. Without it envelopes carry no stamp and reports are refused (RPT-1). Keep it across restarts: a
   * stamp made under a lost key can no longer be reported.
   */
  readonly frankingKey?: SigningKeyPair;
  /**
   * The relay's execution key (access.md §4.1): it signs the executions of approved access requests and is
   * published as `accessKey` in /.well-known/overt. Keep it across restarts: trustees verify every execution
   * under it. Without it no access request is taken (ACCESS_DISABLED, ACC-X1): nothing could execute it.
   */
  readonly accessKey?: SigningKeyPair;
  /**
   * The relay's X25519 unseal key (after-release.md §1), published as `unsealKey` in /.well-known/overt: the part
   * of each request sealed to it lets the relay publish the request's unseal at the seal date (signed with
   * `accessKey`). Keep it across restarts. Without it the relay takes no relay part and publishes no unseal.
   */
  readonly unsealKey?: UnsealKey;
  /** How often the unseal task looks for requests past their seal date (ACC-U4), default 5,000 ms. */
  readonly unsealPollMs?: number;
  /** How often standing orders are executed in batches (after-release.md §8.3); default 1,000 ms. */
  readonly orderBatchMs?: number;
  /**
   * Cross-node fan-out over NATS JetStream (relay.md §6.6), for several relay nodes on one PostgreSQL database.
   * Without it, pushes reach only the sockets of the node that stored the item.
   */
  readonly nats?: NatsFanoutOptions;
  /** Worker threads for the capsule checks of the WebSocket send path (relay.md §6.8), default 2. */
  readonly capsuleWorkers?: number;
  /**
   * Resource bounds (relay.md §2.4: RLY-23..RLY-26, STORE-R-9), each defaulting to DEFAULT_RESOURCE_LIMITS:
   * WebSocket frames in flight, uploads in the ingest pipeline per device and in all, the capsule-check queue,
   * buffered pushes, the request target's length, and the per-device blob quota.
   */
  readonly limits?: Partial<ResourceLimits>;
  /**
   * BENCHMARK BASELINE ONLY — never in a deployment. Skips core's ingest check (capsule validity RLY-13 and
   * ciphertext digest) on the WebSocket send path, so envelopes no trustee can open would be stored and
   * delivered. Deliberately not settable from `npm start` or any command line (relay.md §6.8).
   */
  readonly unsafeSkipCapsuleChecks?: boolean;
};

export interface Relay {
  /** Starts listening; resolves the base URL, e.g. `http://127.0.0.1:41234`. */
  start(): Promise<string>;
  /** Stops listening, closes sockets, and closes the storage (when the relay opened it). */
  stop(): Promise<void>;
  /** The base URL once started. */
  readonly url: string;
  readonly storage: RelayStorage;
  readonly hub: MailboxHub;
  readonly app: FastifyInstance;
  /** The WebSocket send path (its statistics, and warm() to start the capsule workers ahead of load). */
  readonly ingest: IngestPipeline;
  /** Franking stamps and abuse reports (relay.md §10). */
  readonly reports: ReportDesk;
  /** The accountable-access workflow (access.md §4). */
  readonly access: AccessService;
  /** The resource bounds in force (relay.md §2.4). */
  readonly limits: ResourceLimits;
  /** What the WebSocket flow bounds did (RLY-23, RLY-26). */
  readonly socketStats: SocketStats;
}

async function openStorage(config: RelayStorageConfig): Promise<{ storage: RelayStorage; owned: boolean }> {
  if ('storage' in config) return { storage: config.storage, owned: false };
  if ('databaseUrl' in config)
    return {
      storage: await PostgresRelayStorage.open({
        connectionString: config.databaseUrl,
        ...(config.schema !== undefined ? { schema: config.schema } : {}),
      }),
      owned: true,
    };
  mkdirSync(config.dataDir, { recursive: true });
  return { storage: SqliteRelayStorage.open({ path: join(config.dataDir, 'relay.sqlite') }), owned: true };
}

/** Creates a relay: storage open and migrated, admin key bound, app built; call start() to listen. */
export async function createRelay(config: RelayConfig): Promise<Relay> {
  if (config.adminPublicKey.length !== 32)
    throw new RelayError('RELAY_CONFIG', 'the org-admin public key must be 32 bytes');
  const now = config.now ?? Date.now;
  const limits = resourceLimits(config.limits);
  const { storage, owned } = await openStorage(config);
  let app: FastifyInstance;
  let hub: MailboxHub;
  let access: AccessService;
  const reports = new ReportDesk(storage, config.frankingKey, now);
  try {
    hub = new MailboxHub(config.nats !== undefined ? await NatsFanout.connect(config.nats) : undefined, {
      isRemoved: async (deviceId) => (await storage.getDevice(deviceId))?.status === 'removed',
    });
  } catch (e) {
    if (owned) await storage.close();
    throw e;
  }
  const envelopeSkewMs = config.envelopeSkewMs ?? 5 * 60_000;
  const maxPayloadBytes = 64 * 1024 * 1024;
  // One set of ingest rules for the HTTP upload and the WebSocket send frame (relay.md §6.7; A15).
  const rules = new IngestRules({ storage, orgId: config.orgId, now, envelopeSkewMs, maxPayloadBytes });
  const ingest = new IngestPipeline({
    storage,
    hub,
    orgId: config.orgId,
    now,
    envelopeSkewMs,
    maxPayloadBytes,
    rules,
    ...(config.capsuleWorkers !== undefined ? { capsuleWorkers: config.capsuleWorkers } : {}),
    ...(config.unsafeSkipCapsuleChecks === true ? { unsafeSkipCapsuleChecks: true } : {}),
    limits,
  });
  const socketStats = newSocketStats();
  const rateLimits = config.rateLimits ?? DEFAULT_RATE_LIMITS;
  // One per-address bucket for the app's routes and for the log's tiles served beside them (RLY-5).
  const addressBuckets = new TokenBuckets(rateLimits.address, now);
  try {
    await storage.claimOrgAdmin(config.adminPublicKey, now());
    const service = new RelayService({
      storage,
      log: config.log,
      hub,
      orgId: config.orgId,
      now,
      envelopeSkewMs,
      maxPayloadBytes,
      rules,
      blobQuotaBytes: limits.blobQuotaBytes,
      ...(config.claimLimit !== undefined ? { claimLimit: config.claimLimit } : {}),
    });
    access = new AccessService({
      storage,
      log: config.log,
      orgId: config.orgId,
      now,
      relay: service,
      ...(config.accessKey !== undefined ? { accessKey: config.accessKey } : {}),
      ...(config.unsealKey !== undefined ? { unsealKey: config.unsealKey } : {}),
    });
    const logHandler = config.logHandler;
    app = await buildApp({
      access,
      reports,
      service,
      hub,
      ingest,
      now,
      freshnessMs: config.freshnessMs ?? DEFAULT_FRESHNESS_MS,
      rateLimits,
      bodyLimit: config.bodyLimit ?? DEFAULT_BODY_LIMIT,
      limits,
      addressBuckets,
      socketStats,
      ...(config.webRoot !== undefined ? { web: new StaticSite(config.webRoot) } : {}),
      ...(config.requestLog !== undefined ? { requestLog: config.requestLog } : {}),
      ...(logHandler !== undefined
        ? {
            serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void): Server =>
              createServer((req, res) => {
                if (req.url?.startsWith('/log/')) {
                  // Served here, outside Fastify: logged as `/log/*` (tile paths carry no ids), unless the log
                  // handler passes the request on, which Fastify then logs.
                  const started = performance.now();
                  const logTile = () => {
                    try {
                      config.requestLog?.({
                        method: req.method ?? '',
                        route: '/log/*',
                        status: res.statusCode,
                        ms: performance.now() - started,
                      });
                    } catch {
                      // A failing log sink must not fail requests.
                    }
                  };
                  // The log's tiles are the relay's routes too: the same per-address bucket (RLY-5) and
                  // target bound (RLY-25) as every other route, before the log's handler reads anything.
                  try {
                    addressBuckets.take(`addr:${req.socket.remoteAddress ?? ''}`);
                    checkTarget(req.url, limits);
                  } catch (e) {
                    writeProblem(res, e as RelayError);
                    logTile();
                    return;
                  }
                  logHandler(req, res).then(
                    (handled) => {
                      if (!handled) handler(req, res);
                      else if (res.writableFinished) logTile();
                      else res.once('finish', logTile);
                    },
                    () => handler(req, res),
                  );
                  return;
                }
                handler(req, res);
              }),
          }
        : {}),
    });
  } catch (e) {
    await hub.close();
    if (owned) await storage.close();
    throw e;
  }
  let sweeper: { stop(): Promise<void> } | undefined;
  let unsealer: { stop(): Promise<void> } | undefined;
  let orders: { stop(): Promise<void> } | undefined;
  let url = '';
  return {
    get url() {
      return url;
    },
    storage,
    hub,
    app,
    ingest,
    reports,
    access,
    limits,
    socketStats,
    async start() {
      await hub.start();
      sweeper = startBlobSweeper(storage, now, config.blobExpiryMs ?? DAY_MS, config.blobSweepMs ?? HOUR_MS);
      if (config.unsealKey !== undefined && config.accessKey !== undefined)
        unsealer = startUnsealTask(access, config.unsealPollMs ?? 5_000);
      if (config.accessKey !== undefined)
        orders = startPeriodic(() => access.runOrders(), config.orderBatchMs ?? 1_000, 'an order batch pass');
      await app.listen({ host: config.host ?? '127.0.0.1', port: config.port ?? 0 });
      const addr = app.server.address() as AddressInfo;
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      url = `http://${host}:${addr.port}`;
      return url;
    },
    async stop() {
      await orders?.stop();
      await unsealer?.stop();
      await sweeper?.stop();
      await app.close();
      await hub.close();
      await ingest.close();
      if (owned) await storage.close();
    },
  };
}

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

/**
 * Deletes abandoned blobs now and every `everyMs` (STORE-R-7). A sweep that fails is retried at the next tick
 * (storage keeps everything meanwhile); the timer does not keep the process alive; stop() waits for a running
 * sweep so the storage is not closed under it.
 */
function startBlobSweeper(
  storage: RelayStorage,
  now: () => number,
  expiryMs: number,
  everyMs: number,
): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const sweep = () => {
    running = running.then(() =>
      storage.deleteStaleBlobs(now() - expiryMs).catch(() => {
        // Transient (e.g. the database briefly unreachable): the next tick tries again. Nothing secret to log.
        console.warn('relay: the sweep of abandoned blobs failed; it will be retried');
      }),
    );
  };
  sweep();
  const timer = setInterval(sweep, everyMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

/**
 * The relay's unseal task (after-release.md §1, ACC-U4): one pass now and every `everyMs`. A pass that fails
 * (e.g. the log unreachable) is retried at the next tick; nothing is half-written (append, then record). The
 * timer does not keep the process alive; stop() waits for a running pass.
 */
function startUnsealTask(access: AccessService, everyMs: number): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  let busy = false;
  const pass = () => {
    if (busy) return;
    busy = true;
    running = access
      .unsealDue()
      .catch(() => {
        console.warn('relay: an unseal pass failed; it will be retried');
      })
      .finally(() => {
        busy = false;
      });
  };
  pass();
  const timer = setInterval(pass, everyMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

/**
 * A periodic task (the standing-order batches, after-release.md §8.3): one pass now and every `everyMs`, never
 * two at once; a failed pass is retried at the next tick. The timer does not keep the process alive.
 */
function startPeriodic(
  task: () => Promise<unknown>,
  everyMs: number,
  what: string,
): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  let busy = false;
  const pass = () => {
    if (busy) return;
    busy = true;
    running = task()
      .catch(() => {
        console.warn(`relay: ${what} failed; it will be retried`);
      })
      .finally(() => {
        busy = false;
      });
  };
  pass();
  const timer = setInterval(pass, everyMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
