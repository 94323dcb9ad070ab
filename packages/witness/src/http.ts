/**
 * The witness's HTTP surface (C2SP tlog-witness, "HTTP Interface"): `POST <prefix>/add-checkpoint`.
 *
 * The status of every refusal comes from the {@link WitnessError} that the witness raised, so this layer holds
 * no protocol logic: 409 carries the `text/x.tlog.size` body the spec requires, other refusals an RFC 9457
 * `application/problem+json` body naming the code and check ID (never the submitted bytes), success the
 * cosignature lines as `text/plain`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WitnessError } from './errors.js';
import { MAX_REQUEST_BYTES } from './request.js';

/** What the HTTP layer needs from a witness. */
export interface AddCheckpointHandler {
  /** Returns the cosignature lines for a raw add-checkpoint body. @throws WitnessError for every refusal. */
  addCheckpoint(body: Uint8Array): Promise<string>;
}

export interface WitnessResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

export const SIZE_CONTENT_TYPE = 'text/x.tlog.size';

/** Maps a refusal to its response (tlog-witness, "add-checkpoint"). */
export function errorResponse(e: WitnessError): WitnessResponse {
  if (e.code === 'WITNESS_CONFLICT' || e.code === 'WITNESS_ROOT_MISMATCH') {
    // "The response body MUST consist of the tree size of the latest cosigned checkpoint in decimal, followed
    // by a newline." The root-mismatch conflict carries the same body: the client learns the size it must use.
    return { status: 409, contentType: SIZE_CONTENT_TYPE, body: `${e.knownSize ?? 0}\n` };
  }
  return problem(e.status, e.code, e.message, e.check);
}

function problem(status: number, code: string, detail: string, check?: string): WitnessResponse {
  const body = { type: 'about:blank', title: code, status, detail, ...(check ? { check } : {}) };
  return { status, contentType: 'application/problem+json', body: JSON.stringify(body) };
}

/** Routes one request. `path` is the URL path with the query removed. */
export async function handleWitnessRequest(
  witness: AddCheckpointHandler,
  prefix: string,
  method: string,
  path: string,
  readBody: () => Promise<Uint8Array>,
): Promise<WitnessResponse> {
  if (path !== `${prefix}/add-checkpoint`) return problem(404, 'NOT_FOUND', 'no such endpoint');
  if (method !== 'POST') return problem(405, 'METHOD_NOT_ALLOWED', 'add-checkpoint takes POST');
  try {
    const cosignatures = await witness.addCheckpoint(await readBody());
    return { status: 200, contentType: 'text/plain; charset=utf-8', body: cosignatures };
  } catch (e) {
    if (e instanceof WitnessError && e.status < 500) return errorResponse(e);
    // Anything else is our fault (database, bug); the client learns nothing about it but the status.
    console.error('witness: internal error while handling add-checkpoint:', e);
    return problem(500, 'INTERNAL', 'internal error');
  }
}

/** Reads a request body, refusing (WIT-1, 413) as soon as it exceeds {@link MAX_REQUEST_BYTES}. */
function readLimited(req: IncomingMessage): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let total = 0;
    let done = false;
    req.on('data', (chunk: Uint8Array) => {
      if (done) return;
      total += chunk.length;
      if (total > MAX_REQUEST_BYTES) {
        done = true;
        reject(new WitnessError('WITNESS_TOO_LARGE', 'request body too large', { check: 'WIT-1' }));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      const out = new Uint8Array(total);
      let o = 0;
      for (const c of chunks) {
        out.set(c, o);
        o += c.length;
      }
      resolve(out);
    });
    req.on('error', (e) => {
      if (!done) reject(e);
      done = true;
    });
  });
}

export interface WitnessServerOptions {
  /** Listening address; 127.0.0.1 unless given. */
  readonly host?: string;
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  /** The submission prefix, e.g. `/witness`; empty by default. Must not end in `/`. */
  readonly prefix?: string;
}

export interface RunningWitnessServer {
  readonly server: Server;
  /** `http://host:port<prefix>`: what a log passes to {@link submitToWitness}. */
  readonly url: string;
  close(): Promise<void>;
}

/** Serves `witness` over HTTP/1.1 (keep-alive on, as the spec recommends). */
export async function serveWitness(
  witness: AddCheckpointHandler,
  options: WitnessServerOptions = {},
): Promise<RunningWitnessServer> {
  const prefix = options.prefix ?? '';
  if (prefix !== '' && (!prefix.startsWith('/') || prefix.endsWith('/')))
    throw new WitnessError('WITNESS_CONFIG', 'prefix must start with / and not end with /');
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    // GET /healthz (start.md §4.4.5, SVC-2): the witness answers only once its key and state are open.
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify({ ok: true, service: 'witness' }));
      return;
    }
    handleWitnessRequest(witness, prefix, req.method ?? 'GET', path, () => readLimited(req))
      .then((r) => {
        const headers: Record<string, string> = {
          'content-type': r.contentType,
          'cache-control': 'no-store',
        };
        // The rest of an oversized body is never read: close the connection instead of draining it.
        if (r.status === 413) headers.connection = 'close';
        res.writeHead(r.status, headers);
        res.end(r.body);
      })
      .catch((e: unknown) => {
        console.error('witness: failed to answer a request:', e);
        res.destroy();
      });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    server,
    url: `http://${shownHost}:${port}${prefix}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeAllConnections();
      }),
  };
}
