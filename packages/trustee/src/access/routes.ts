/**
 * The operator API's access routes (docs/spec/access.md §6), as plain handlers the daemon mounts behind its
 * localhost listener and bearer-token check:
 *
 *   GET  /v1/requests[?all=1]                  → 200 {requests: ReviewItem[]}   (pending; all=1: every request)
 *   GET  /v1/requests/:requestId               → 200 {request: ReviewItem}
 *   POST /v1/requests/:requestId/decision      {verdict: "approve"|"deny", reason?: string}
 *                                              → 200 {requestId, verdict, index}
 *   GET  /v1/extensions                        → 200 {extensions: ExtensionItem[]}   (open proposals, checked)
 *   POST /v1/extensions/:requestId/decision    {approve: boolean, number, reason?}
 *                                              → 200 {requestId, number, verdict, signers?, index?}
 *
 * `handleAccessRoute(method, path, body)` answers `{status, body}` for these paths and undefined for any other,
 * so the daemon can try it before its own routes. Bodies are parsed strictly: unknown fields, wrong types or a
 * bad request id are ACCESS_BAD_REQUEST (ACC-0, 400). Errors are problem+json bodies with our code and check;
 * unexpected errors answer 500 with no detail (nothing secret reaches a response or a log line).
 */
import { fromBase64Url } from '@overt/core';
import type { Deadlines } from './deadline.js';
import { AccessError, isAccessError } from './errors.js';
import type { Review } from './review.js';

export interface RouteResult {
  readonly status: number;
  readonly body: unknown;
}

const STATUS: Record<AccessError['code'], number> = {
  ACCESS_BAD_REQUEST: 400,
  ACCESS_NOT_FOUND: 404,
  ACCESS_CONFLICT: 409,
  ACCESS_STATE: 500,
};

function problem(status: number, code: string, title: string, check?: string): RouteResult {
  return {
    status,
    body: { type: 'about:blank', title, status, code, ...(check === undefined ? {} : { check }) },
  };
}

function bad(message: string): never {
  throw new AccessError('ACCESS_BAD_REQUEST', message, { check: 'ACC-0' });
}

/** base64url (unpadded) of 16 bytes, else ACC-0. */
export function parseRequestId(s: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]{22}$/.test(s)) bad('request id must be base64url of 16 bytes');
  let id: Uint8Array;
  try {
    id = fromBase64Url(s);
  } catch {
    bad('request id must be base64url of 16 bytes');
  }
  if (id!.length !== 16) bad('request id must be base64url of 16 bytes');
  return id!;
}

/** The decision body: exactly {verdict, reason?}. */
export function parseDecisionBody(body: unknown): { verdict: 'approve' | 'deny'; reason: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) bad('body must be a JSON object');
  const o = body as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (k !== 'verdict' && k !== 'reason') bad(`unknown field ${JSON.stringify(k).slice(0, 40)}`);
  if (o.verdict !== 'approve' && o.verdict !== 'deny') bad('verdict must be "approve" or "deny"');
  if (o.reason !== undefined && typeof o.reason !== 'string') bad('reason must be a string');
  return { verdict: o.verdict, reason: (o.reason as string | undefined) ?? '' };
}

/** The extension decision body: exactly {approve, number, reason?} (after-release.md §2). */
export function parseExtensionBody(body: unknown): { approve: boolean; number: number; reason: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) bad('body must be a JSON object');
  const o = body as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (k !== 'approve' && k !== 'number' && k !== 'reason')
      bad(`unknown field ${JSON.stringify(k).slice(0, 40)}`);
  if (typeof o.approve !== 'boolean') bad('approve must be true or false');
  if (typeof o.number !== 'number' || !Number.isInteger(o.number) || o.number < 1 || o.number > 255)
    bad('number must be an integer from 1 to 255');
  if (o.reason !== undefined && (typeof o.reason !== 'string' || o.reason.length > 1024))
    bad('reason must be a string of at most 1024 characters');
  return { approve: o.approve, number: o.number, reason: (o.reason as string | undefined) ?? '' };
}

export interface AccessRoutes {
  listRequests(query: URLSearchParams): Promise<RouteResult>;
  getRequest(requestId: string): Promise<RouteResult>;
  decide(requestId: string, body: unknown): Promise<RouteResult>;
  listExtensions(): Promise<RouteResult>;
  decideExtension(requestId: string, body: unknown): Promise<RouteResult>;
}

async function guard(f: () => Promise<RouteResult>): Promise<RouteResult> {
  try {
    return await f();
  } catch (e) {
    if (isAccessError(e)) return problem(STATUS[e.code], e.code, e.message, e.check);
    return problem(500, 'INTERNAL', 'internal error');
  }
}

/** The routes over the review and, when given, the extension review (without it those routes are 404). */
export function accessRoutes(review: Review, deadlines?: Deadlines): AccessRoutes {
  const ext = (): Deadlines => {
    if (deadlines === undefined) throw new AccessError('ACCESS_NOT_FOUND', 'no extension review here');
    return deadlines;
  };
  return {
    listExtensions: () =>
      guard(async () => ({ status: 200, body: { extensions: await ext().listExtensions() } })),
    decideExtension: (requestId, body) =>
      guard(async () => {
        const id = parseRequestId(requestId);
        const { approve, number, reason } = parseExtensionBody(body);
        return { status: 200, body: await ext().decideExtension(id, number, approve, reason) };
      }),
    listRequests: (query) =>
      guard(async () => {
        const all = query.get('all');
        if (all !== null && all !== '1' && all !== '0') bad('all must be 0 or 1');
        return { status: 200, body: { requests: await review.list({ all: all === '1' }) } };
      }),
    getRequest: (requestId) =>
      guard(async () => ({ status: 200, body: { request: await review.get(parseRequestId(requestId)) } })),
    decide: (requestId, body) =>
      guard(async () => {
        const id = parseRequestId(requestId);
        const { verdict, reason } = parseDecisionBody(body);
        return { status: 200, body: await review.decide(id, verdict, reason) };
      }),
  };
}

/**
 * Dispatches one operator API call to the access routes: `path` is the URL's pathname and search (e.g.
 * "/v1/requests?all=1"), `body` the parsed JSON body (undefined for GET). Undefined when the path is not one of
 * these routes; a known path with another method is 405.
 */
export async function handleAccessRoute(
  routes: AccessRoutes,
  method: string,
  path: string,
  body?: unknown,
): Promise<RouteResult | undefined> {
  const url = new URL(path, 'http://localhost');
  const parts = url.pathname.split('/').filter((p) => p !== '');
  if (parts[0] === 'v1' && parts[1] === 'extensions') {
    if (parts.length === 2) return method === 'GET' ? routes.listExtensions() : notAllowed();
    if (parts.length === 4 && parts[3] === 'decision')
      return method === 'POST' ? routes.decideExtension(parts[2]!, body) : notAllowed();
    return undefined;
  }
  if (parts[0] !== 'v1' || parts[1] !== 'requests') return undefined;
  if (parts.length === 2) return method === 'GET' ? routes.listRequests(url.searchParams) : notAllowed();
  if (parts.length === 3) return method === 'GET' ? routes.getRequest(parts[2]!) : notAllowed();
  if (parts.length === 4 && parts[3] === 'decision')
    return method === 'POST' ? routes.decide(parts[2]!, body) : notAllowed();
  return undefined;
}

/** The daemon's router as the access half uses it (trustee src/api.ts ApiRouter: `:name` segments in `params`). */
export interface RouterLike {
  get(
    path: string,
    handler: (req: {
      readonly params: Readonly<Record<string, string>>;
      readonly query: URLSearchParams;
    }) => Promise<RouteResult>,
  ): void;
  post(
    path: string,
    handler: (req: {
      readonly params: Readonly<Record<string, string>>;
      readonly body: unknown;
    }) => Promise<RouteResult>,
  ): void;
}

/** Registers the access routes on the daemon's operator API (`startTrustee({routes: (r) => mountAccessRoutes(r, …)})`). */
export function mountAccessRoutes(router: RouterLike, routes: AccessRoutes): void {
  router.get('/v1/requests', (req) => routes.listRequests(req.query));
  router.get('/v1/requests/:requestId', (req) => routes.getRequest(req.params.requestId ?? ''));
  router.post('/v1/requests/:requestId/decision', (req) =>
    routes.decide(req.params.requestId ?? '', req.body),
  );
  router.get('/v1/extensions', () => routes.listExtensions());
  router.post('/v1/extensions/:requestId/decision', (req) =>
    routes.decideExtension(req.params.requestId ?? '', req.body),
  );
}

function notAllowed(): RouteResult {
  return problem(405, 'METHOD_NOT_ALLOWED', 'method not allowed');
}
