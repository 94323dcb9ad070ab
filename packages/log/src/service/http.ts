/**
 * The log's HTTP interface on node:http (no framework: four routes need no router library, and node:http keeps
 * the relay free to mount the handler under its own prefix).
 *
 * Read side, c2sp.org/tlog-tiles (GET and HEAD):
 *   <prefix>checkpoint                  the published checkpoint, text/plain; charset=utf-8, short max-age
 *   <prefix>tile/<L>/<N>[.p/<W>]        hash tiles, application/octet-stream
 *   <prefix>tile/entries/<N>[.p/<W>]    entry bundles, application/octet-stream (gzip when accepted)
 * Full tiles and bundles are immutable (one year, `immutable`); partial ones and the checkpoint change or go
 * away, so they get a short max-age. An absent tile is 404, a malformed path 400 (TILE_PATH).
 *
 * Write side (POST, for the relay and the CLI):
 *   <prefix>add                          body = one entry (at most 65,535 bytes); answers 200 with a C2SP
 *                                        tlog-proof receipt of the entry under the signed checkpoint that
 *                                        acknowledged it; `?wait=witnessed` waits for the witness quorum first.
 * Errors are `application/problem+json` (RFC 9457) carrying our `code` and `check`; back-pressure
 * (SEQ_QUEUE_FULL) is 503 with Retry-After.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { utf8Encode } from '@overt/core';
import { isLogError, LogError, type LogErrorCode } from '../errors.js';
import { HASH_SIZE } from '../merkle.js';
import { parseSignerKey, type SignerKey } from '../note.js';
import { createReceipt } from '../proof.js';
import { encodeEntryBundle, parseTilePath, TILE_WIDTH } from '../tiles.js';
import { openPostgresStorage } from './postgres-storage.js';
import { Sequencer, type SequencerOptions } from './sequencer.js';
import { openSqliteStorage } from './sqlite-storage.js';
import { type LogStorage, MAX_ENTRY_SIZE } from './storage.js';

/** Cache-Control of full tiles and full entry bundles: they never change (tlog-tiles: "immutable"). */
export const IMMUTABLE_CACHE = 'public, max-age=31536000, immutable';

export interface LogHandlerOptions {
  /** Where tiles, entries and the published checkpoint are read from. */
  readonly storage: LogStorage;
  /** The log's sequencer; without one the handler serves reads only (POST add answers 405). */
  readonly sequencer?: Sequencer;
  /** URL path prefix, starting and ending with '/' (default '/'; the all-in-one server uses '/log/'). */
  readonly prefix?: string;
  /** When set, POST add requires `Authorization: Bearer <token>` (401 otherwise). */
  readonly appendToken?: string;
  /** Body limit for POST add, at most 65,535 (default 65,535). */
  readonly maxBodyBytes?: number;
  /** max-age in seconds of the checkpoint and of partial tiles and bundles (default 2). */
  readonly shortMaxAge?: number;
  /** How long `?wait=witnessed` waits for the quorum before answering 504 (default 30,000 ms). */
  readonly witnessedTimeoutMs?: number;
}

/**
 * Handles one request if its path lies under the prefix and resolves true; resolves false, without touching the
 * response, for any other path, so a caller can route it elsewhere. Never rejects.
 */
export type LogRequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

/** The HTTP status of each error code the handler can answer with. */
function statusOf(code: LogErrorCode): number {
  switch (code) {
    case 'TILE_PATH':
    case 'HTTP_BAD_REQUEST':
      return 400;
    case 'HTTP_UNAUTHORIZED':
      return 401;
    case 'HTTP_NOT_FOUND':
      return 404;
    case 'HTTP_METHOD':
      return 405;
    case 'HTTP_TOO_LARGE':
    case 'SEQ_ENTRY_TOO_LARGE':
      return 413;
    case 'SEQ_QUEUE_FULL':
    case 'SEQ_CLOSED':
    case 'SEQ_HALTED':
    case 'STORE_FAILED':
      return 503;
    case 'SEQ_TIMEOUT':
      return 504;
    default:
      return 500;
  }
}

const TITLES: Partial<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Content Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

function sendProblem(res: ServerResponse, e: unknown, extraHeaders: Record<string, string> = {}): void {
  // Only our own errors are described; anything else is a bug and gets a generic 500 without details.
  const err = isLogError(e) ? e : undefined;
  const status = err === undefined ? 500 : statusOf(err.code);
  const body: Record<string, unknown> = {
    type: `urn:overt:problem:${err?.code ?? 'INTERNAL'}`,
    title: TITLES[status] ?? 'Error',
    status,
    code: err?.code ?? 'INTERNAL',
  };
  if (err?.check !== undefined) body.check = err.check;
  if (err !== undefined && status !== 500) body.detail = err.message;
  const headers: Record<string, string> = {
    'Content-Type': 'application/problem+json',
    'Cache-Control': 'no-store',
    ...extraHeaders,
  };
  if (err?.code === 'SEQ_QUEUE_FULL' || err?.code === 'STORE_FAILED') headers['Retry-After'] = '1';
  send(res, status, headers, utf8Encode(JSON.stringify(body)));
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: Uint8Array): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { ...headers, 'Content-Length': String(body.length) });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function notFound(what: string): LogError {
  return new LogError('HTTP_NOT_FOUND', `${what} not found`);
}

function methodNotAllowed(res: ServerResponse, allow: string): void {
  sendProblem(res, new LogError('HTTP_METHOD', `use ${allow}`), { Allow: allow });
}

/** Reads a body of at most `limit` bytes; HTTP_TOO_LARGE as soon as it is known to be larger. */
function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && !(Number(declared) <= limit))
    return Promise.reject(
      new LogError('HTTP_TOO_LARGE', `the body must be at most ${limit} bytes`, { check: 'SEQ-2' }),
    );
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Uint8Array) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(new LogError('HTTP_TOO_LARGE', `the body must be at most ${limit} bytes`, { check: 'SEQ-2' }));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (failed) return;
      const out = new Uint8Array(size);
      let at = 0;
      for (const c of chunks) {
        out.set(c, at);
        at += c.length;
      }
      resolve(out);
    });
    req.on('error', (e) => {
      if (!failed)
        reject(new LogError('HTTP_BAD_REQUEST', 'the request body could not be read', { cause: e }));
      failed = true;
    });
  });
}

/** Compares two strings in time that depends only on their lengths. */
function sameToken(a: string, b: string): boolean {
  const x = utf8Encode(a);
  const y = utf8Encode(b);
  if (x.length !== y.length) return false;
  let d = 0;
  for (let i = 0; i < x.length; i++) d |= x[i]! ^ y[i]!;
  return d === 0;
}

/** Creates the log's request handler (see the module comment for the routes). */
export function createLogHandler(options: LogHandlerOptions): LogRequestHandler {
  const prefix = options.prefix ?? '/';
  if (!prefix.startsWith('/') || !prefix.endsWith('/'))
    throw new LogError('SERVICE_CONFIG', 'the prefix must start and end with "/"');
  const maxBody = Math.min(options.maxBodyBytes ?? MAX_ENTRY_SIZE, MAX_ENTRY_SIZE);
  const shortCache = `public, max-age=${options.shortMaxAge ?? 2}`;
  const { storage, sequencer } = options;
  const witnessedTimeoutMs = options.witnessedTimeoutMs ?? 30_000;

  async function checkpoint(res: ServerResponse): Promise<void> {
    const note =
      sequencer?.publishedCheckpoint !== undefined
        ? utf8Encode(sequencer.publishedCheckpoint.note)
        : (await storage.readCheckpoint('published'))?.note;
    if (note === undefined) throw notFound('checkpoint');
    send(res, 200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': shortCache }, note);
  }

  async function tile(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const t = parseTilePath(path);
    const cache = t.width === TILE_WIDTH ? IMMUTABLE_CACHE : shortCache;
    if (t.kind === 'hash') {
      const stored = await storage.readTile(t.level, t.index);
      // Tiles only grow and a narrower form is a prefix of a wider one, so `.p/W` is the first W hashes.
      if (stored === undefined || stored.length < t.width * HASH_SIZE) throw notFound('tile');
      const body = stored.subarray(0, t.width * HASH_SIZE);
      send(res, 200, { 'Content-Type': 'application/octet-stream', 'Cache-Control': cache }, body);
      return;
    }
    const entries = await storage.readEntries(t.index * TILE_WIDTH, t.width);
    if (entries.length < t.width) throw notFound('entry bundle');
    const bundle = encodeEntryBundle(entries);
    const headers: Record<string, string> = {
      'Content-Type': 'application/octet-stream',
      'Cache-Control': cache,
      Vary: 'Accept-Encoding',
    };
    // tlog-tiles §Log entries: bundles SHOULD be compressed at the HTTP layer.
    if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
      headers['Content-Encoding'] = 'gzip';
      send(res, 200, headers, gzipSync(bundle));
    } else send(res, 200, headers, bundle);
  }

  async function add(req: IncomingMessage, res: ServerResponse, query: string): Promise<void> {
    if (sequencer === undefined) return methodNotAllowed(res, 'GET, HEAD');
    if (options.appendToken !== undefined) {
      const auth = String(req.headers.authorization ?? '');
      if (!auth.startsWith('Bearer ') || !sameToken(auth.slice(7), options.appendToken))
        throw new LogError('HTTP_UNAUTHORIZED', 'a valid bearer token is required to append');
    }
    const entry = await readBody(req, maxBody);
    const { index, checkpoint: signed } = await sequencer.append(entry);
    const params = new URLSearchParams(query);
    const cp =
      params.get('wait') === 'witnessed'
        ? await sequencer.awaitWitnessed(index + 1, witnessedTimeoutMs)
        : signed;
    const receipt = await createReceipt(index, cp.note, sequencer.reader);
    send(
      res,
      200,
      { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' },
      utf8Encode(receipt),
    );
  }

  return async (req, res) => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const pathname = q < 0 ? url : url.slice(0, q);
    if (!pathname.startsWith(prefix)) return false;
    const path = pathname.slice(prefix.length);
    const method = req.method ?? 'GET';
    try {
      if (path === 'add') {
        if (method !== 'POST') methodNotAllowed(res, 'POST');
        else await add(req, res, q < 0 ? '' : url.slice(q + 1));
      } else if (path === 'checkpoint' || path.startsWith('tile/')) {
        if (method !== 'GET' && method !== 'HEAD') methodNotAllowed(res, 'GET, HEAD');
        else if (path === 'checkpoint') await checkpoint(res);
        else await tile(req, res, path);
      } else throw notFound('resource');
    } catch (e) {
      if (isLogError(e, 'HTTP_TOO_LARGE')) {
        // The rest of the body is not read: close the connection after answering rather than drain it.
        res.setHeader('Connection', 'close');
        sendProblem(res, e);
        req.resume();
      } else sendProblem(res, e);
    }
    return true;
  };
}

// ---- standalone server ----

export interface LogServerOptions extends LogHandlerOptions {
  /** Interface to listen on (default 127.0.0.1). */
  readonly host?: string;
  /** TCP port (default 0: any free port). */
  readonly port?: number;
}

export interface RunningLogServer {
  /** The base URL including the prefix, e.g. `http://127.0.0.1:8080/log/`. */
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  /** Stops listening and closes idle connections. */
  close(): Promise<void>;
}

/** The log's `/healthz` answer: the storage answered a read of its tree state (SVC-2). */
async function health(storage: LogStorage): Promise<{ ok: boolean; service: 'log'; size: number | null }> {
  try {
    return { ok: true, service: 'log', size: (await storage.readTreeState()).size };
  } catch {
    return { ok: false, service: 'log', size: null };
  }
}

/** Listens with the log handler; any path outside the prefix is 404, except GET /healthz. */
export async function startLogServer(options: LogServerOptions): Promise<RunningLogServer> {
  const handle = createLogHandler(options);
  const server = createServer((req, res) => {
    // GET /healthz (start.md §4.4.5, SVC-2): ready when the storage answers; outside the log's prefix.
    if ((req.url ?? '').split('?')[0] === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      void health(options.storage).then((h) => {
        res.writeHead(h.ok ? 200 : 503, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
        res.end(JSON.stringify(h));
      });
      return;
    }
    void handle(req, res).then((handled) => {
      if (!handled) sendProblem(res, notFound('resource'));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host ?? '127.0.0.1';
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${hostPart}:${port}${options.prefix ?? '/'}`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

export interface ServeLogOptions
  extends Omit<SequencerOptions, 'storage' | 'key'>,
    Omit<LogServerOptions, 'storage' | 'sequencer'> {
  /** A PostgreSQL URL (`postgres://` or `postgresql://`), or a SQLite database file path. */
  readonly database: string;
  /** PostgreSQL schema (default `public`). */
  readonly schema?: string;
  /** The log's signer key, parsed or as `PRIVATE+KEY+<origin>+<id>+<base64>`. */
  readonly key: SignerKey | string;
}

export interface ServedLog extends RunningLogServer {
  readonly sequencer: Sequencer;
  readonly storage: LogStorage;
}

/**
 * Everything `overt log serve` needs in one call: opens the storage (PostgreSQL for a postgres URL, SQLite
 * otherwise), starts the sequencer, and serves the log. `close()` stops the server, drains the sequencer and
 * closes the storage, in that order.
 */
export async function serveLog(options: ServeLogOptions): Promise<ServedLog> {
  const key = typeof options.key === 'string' ? parseSignerKey(options.key) : options.key;
  const storage: LogStorage = /^postgres(ql)?:\/\//.test(options.database)
    ? await openPostgresStorage(
        options.schema === undefined
          ? { connectionString: options.database }
          : { connectionString: options.database, schema: options.schema },
      )
    : openSqliteStorage({ path: options.database });
  let sequencer: Sequencer;
  try {
    sequencer = await Sequencer.start({ ...options, storage, key });
  } catch (e) {
    await storage.close();
    throw e;
  }
  const server = await startLogServer({ ...options, storage, sequencer });
  return {
    ...server,
    sequencer,
    storage,
    close: async () => {
      await server.close();
      await sequencer.close();
      await storage.close();
    },
  };
}
