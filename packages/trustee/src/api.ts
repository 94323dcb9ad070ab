/**
 * The trustee's local operator API (docs/spec/access.md §6): plain node:http on 127.0.0.1, every request with
 * `Authorization: Bearer <api.token>` (the token file is mode 0600 in the data directory, made on first start).
 * Answers are JSON; errors are problem+json with our `code` and `check` (TRU-7).
 *
 * Routes are registered on an {@link ApiRouter}: the daemon adds `GET /v1/status` and `GET /v1/alerts`; the
 * access half (request review, decisions) adds its own through `startTrustee({routes})`. A path segment written
 * `:name` matches one segment and is passed in `params`.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { TrusteeError } from './errors.js';

export const API_TOKEN_FILE = 'api.token';
const MAX_BODY = 64 * 1024;

export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** The parsed JSON body (undefined when there is none). */
  readonly body: unknown;
}

export interface ApiResponse {
  readonly status: number;
  readonly body?: unknown;
}

export type ApiHandler = (req: ApiRequest) => ApiResponse | Promise<ApiResponse>;

export interface ApiRouter {
  get(path: string, handler: ApiHandler): void;
  post(path: string, handler: ApiHandler): void;
}

/** Reads api.token, creating it (32 random bytes, hex, mode 0600) on first use. TRU-4 when others can read it. */
export function loadOrCreateApiToken(dataDir: string): string {
  const path = join(dataDir, API_TOKEN_FILE);
  if (!existsSync(path))
    writeFileSync(path, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  if ((statSync(path).mode & 0o077) !== 0)
    throw new TrusteeError('TRUSTEE_STATE', `${path} is readable by others; make it mode 0600`, {
      check: 'TRU-4',
    });
  return readFileSync(path, 'utf8').trim();
}

interface Route {
  readonly method: string;
  readonly parts: readonly string[];
  readonly handler: ApiHandler;
}

function problem(res: ServerResponse, status: number, code: string, detail: string): void {
  res.writeHead(status, { 'content-type': 'application/problem+json' });
  res.end(JSON.stringify({ type: 'about:blank', status, code, check: 'TRU-7', detail }));
}

export class OperatorApi implements ApiRouter {
  private readonly routes: Route[] = [];
  private server: Server | undefined;

  constructor(private readonly token: string) {}

  get(path: string, handler: ApiHandler): void {
    this.routes.push({ method: 'GET', parts: path.split('/').filter(Boolean), handler });
  }

  post(path: string, handler: ApiHandler): void {
    this.routes.push({ method: 'POST', parts: path.split('/').filter(Boolean), handler });
  }

  private authorized(req: IncomingMessage): boolean {
    const h = req.headers.authorization ?? '';
    const m = /^Bearer ([0-9a-f]{64})$/.exec(h);
    if (!m) return false;
    const a = Buffer.from(m[1]!);
    const b = Buffer.from(this.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /**
   * Answers `GET /healthz` without the bearer token (start.md §4.4.5, SVC-2): whether the daemon is ready, and
   * nothing an unauthenticated caller should not know (no keys, no requests).
   */
  health: (() => { ok: boolean; [k: string]: unknown }) | undefined;

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if ((req.url ?? '').split('?')[0] === '/healthz' && req.method === 'GET') {
      const h = this.health?.() ?? { ok: true };
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify({ ...h, service: 'trustee' }));
      return;
    }
    if (!this.authorized(req))
      return problem(res, 401, 'TRUSTEE_API_UNAUTHORIZED', 'a valid bearer token is needed');
    const url = new URL(req.url ?? '/', 'http://localhost');
    const segs = url.pathname.split('/').filter(Boolean);
    let found: { route: Route; params: Record<string, string> } | undefined;
    let pathMatched = false;
    for (const route of this.routes) {
      if (route.parts.length !== segs.length) continue;
      const params: Record<string, string> = {};
      const ok = route.parts.every((p, i) => {
        if (p.startsWith(':')) {
          params[p.slice(1)] = decodeURIComponent(segs[i]!);
          return true;
        }
        return p === segs[i];
      });
      if (!ok) continue;
      pathMatched = true;
      if (route.method === req.method) {
        found = { route, params };
        break;
      }
    }
    if (!found)
      return problem(res, pathMatched ? 405 : 404, 'TRUSTEE_API_NOT_FOUND', 'no such operator API route');
    let body: unknown;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > MAX_BODY) return problem(res, 413, 'TRUSTEE_API_BAD_REQUEST', 'body too large');
      chunks.push(c);
    }
    if (size > 0) {
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return problem(res, 400, 'TRUSTEE_API_BAD_REQUEST', 'body is not JSON');
      }
    }
    let out: ApiResponse;
    try {
      out = await found.route.handler({
        method: req.method ?? 'GET',
        path: url.pathname,
        params: found.params,
        query: url.searchParams,
        body,
      });
    } catch (e) {
      if (e instanceof TrusteeError) return problem(res, 400, e.code, e.message);
      return problem(res, 500, 'TRUSTEE_API_INTERNAL', 'internal error');
    }
    res.writeHead(out.status, { 'content-type': 'application/json' });
    res.end(out.body === undefined ? '' : JSON.stringify(out.body));
  }

  /** Listens on host:port (0 = a free port); resolves to the base URL. */
  listen(host: string, port: number): Promise<string> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch(() => {
        if (!res.headersSent) problem(res, 500, 'TRUSTEE_API_INTERNAL', 'internal error');
        else res.destroy();
      });
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        const a = server.address();
        const p = typeof a === 'object' && a ? a.port : port;
        resolve(`http://${host.includes(':') ? `[${host}]` : host}:${p}`);
      });
    });
  }

  close(): Promise<void> {
    const s = this.server;
    if (!s) return Promise.resolve();
    s.closeAllConnections();
    return new Promise((r) => s.close(() => r()));
  }
}
