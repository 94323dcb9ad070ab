/**
 * The relay's HTTP + WebSocket surface on Fastify (docs/spec/relay.md §2): routes, body parsing and limits,
 * signed-request authentication, rate limits, RFC 9457 problem responses, and the mailbox push socket.
 *
 * The order of work on every request is fixed, cheapest refusal first: per-address token bucket (RLY-5) →
 * body size limit (RLY-3) and media type (RLY-4) → strict JSON (RLY-1) → signature (AUTH-1..8) → per-principal
 * token bucket (RLY-5) → schema (RLY-2) → the operation. Each refusal is a RelayError rendered by one error
 * handler, so a status always comes from the code table in errors.ts.
 *
 * Resource bounds (relay.md §2.4, limits.ts): the request target's length (RLY-25, checked after the address
 * bucket); uploads admitted to the ingest pipeline per device and in all (RLY-24, 503 RELAY_BUSY); per WebSocket,
 * the frames read and not yet answered (RLY-23: at the bound the socket is no longer read) and the pushes buffered
 * unsent (RLY-26: the push waits for the socket to drain).
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import websocket from '@fastify/websocket';
import { encodeEnvelopeHead, MAX_REPORT_BYTES, toBase64, toBase64Url } from '@overt/core';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerFactory,
} from 'fastify';
import type { WebSocket } from 'ws';
import type { z } from 'zod';
import { isAccessTarget, registerAccessRoutes } from '../access/routes.js';
import type { AccessCaller, AccessService } from '../access/service.js';
import { type Principal, readPresentedAuth, verifyPresentedAuth } from '../auth.js';
import { isRelayError, RelayError } from '../errors.js';
import type { ReportDesk } from '../franking.js';
import type { MailboxHub } from '../hub.js';
import { frameRequestId, MAX_SEND_FRAME, parseSendFrame } from '../ingest/frames.js';
import { type Admission, type CheckedMessage, type IngestPipeline, sentJson } from '../ingest/pipeline.js';
import { DEFAULT_RESOURCE_LIMITS, type ResourceLimits } from '../limits.js';
import { type BucketConfig, TokenBuckets } from '../rate-limit.js';
import type { RequestLogSink } from '../request-log.js';
import type { ClaimedPackage, RelayService } from '../service.js';
import {
  type AbuseReportSummary,
  blobChunkCount,
  type Delivery,
  type DeviceRecord,
  type EnvelopeRecord,
  type EpochKeyRecord,
  type GroupRecord,
  MAX_BLOB_CHUNK,
  type MailboxItem,
} from '../storage/storage.js';
import {
  bodies,
  DEFAULT_CATCH_UP_BYTES,
  MAX_CATCH_UP_ITEMS,
  params,
  parseBody,
  parseJson,
  parseParams,
  queries,
} from './schemas.js';
import type { StaticSite } from './static.js';

export interface RateLimits {
  /** Per authenticated device (and the admin). */
  readonly principal: BucketConfig;
  /** Per client address, before authentication. */
  readonly address: BucketConfig;
}

export const DEFAULT_RATE_LIMITS: RateLimits = {
  principal: { capacity: 120, refillPerSecond: 20 },
  address: { capacity: 600, refillPerSecond: 100 },
};

/** JSON bodies and whole inline envelopes (RLY-3). */
export const DEFAULT_BODY_LIMIT = 2 * 1024 * 1024;

export interface AppOptions {
  /** The web app's static files (static.ts), answered for GET outside the relay's own prefixes. */
  readonly web?: StaticSite;
  readonly service: RelayService;
  readonly hub: MailboxHub;
  /** The WebSocket send path (relay.md §6.8). */
  readonly ingest: IngestPipeline;
  /** Franking stamps and abuse reports (relay.md §10). */
  readonly reports: ReportDesk;
  readonly now: () => number;
  readonly freshnessMs: number;
  readonly rateLimits: RateLimits;
  readonly bodyLimit: number;
  /** How long a WebSocket may stay unauthenticated (default 10 s). */
  readonly wsAuthTimeoutMs?: number;
  /** A custom HTTP server (relay.ts uses it to route /log/ to the log's handler first). */
  readonly serverFactory?: FastifyServerFactory;
  /** Resource bounds (relay.md §2.4); default DEFAULT_RESOURCE_LIMITS. */
  readonly limits?: ResourceLimits;
  /** The per-address buckets (RLY-5), when the caller also applies them to routes outside the app (/log/). */
  readonly addressBuckets?: TokenBuckets;
  /** Counters of the WebSocket flow bounds, updated by every socket (for operators and tests). */
  readonly socketStats?: SocketStats;
  /** One record per answered request: method, route pattern, status, duration, refusal code (request-log.ts). */
  readonly requestLog?: RequestLogSink;
  /** The accountable-access endpoints (access.md §4); absent, they are not served. */
  readonly access?: AccessService;
}

/** What the WebSocket flow bounds did (RLY-23, RLY-26), summed over every socket since the relay started. */
export interface SocketStats {
  /** Times a socket stopped being read because it held its bound of frames or bytes in flight (RLY-23). */
  pauses: number;
  /** The most frames and bytes one socket had in flight at once. */
  peakFrames: number;
  peakBytes: number;
  /** Times a push waited for a slow socket to drain (RLY-26), and the most bytes one socket had buffered. */
  pushWaits: number;
  peakBuffered: number;
}

export function newSocketStats(): SocketStats {
  return { pauses: 0, peakFrames: 0, peakBytes: 0, pushWaits: 0, peakBuffered: 0 };
}

/** A request body as received: its exact bytes (signed) and, for JSON, the parsed value. */
interface Body {
  readonly bytes: Uint8Array;
  readonly json: unknown;
  readonly kind: 'json' | 'binary';
}

/** `access`: a trustee or a requester of the policy in force (access.md §1). */
type AuthMode = 'none' | 'device' | 'admin' | 'trustee' | 'requester' | 'access';
/** `json?`: a JSON body or none at all (an endpoint whose body fields are all optional). */
type BodyMode = 'none' | 'json' | 'json?' | 'binary';

interface Ctx {
  readonly req: FastifyRequest;
  readonly reply: FastifyReply;
  readonly principal: Principal | undefined;
  /** The authenticated device (routes with auth 'device'). */
  readonly device: DeviceRecord;
  readonly body: Body | undefined;
}

const EMPTY = new Uint8Array(0);

function problemBody(e: RelayError) {
  return {
    type: 'about:blank',
    title: e.code,
    status: e.status,
    detail: e.message,
    code: e.code,
    ...(e.check !== undefined ? { check: e.check } : {}),
  };
}
/** The refusal each problem answer carried, for the request log (code and check ID only). */
const refusals = new WeakMap<FastifyReply, RelayError>();

function problem(reply: FastifyReply, e: RelayError): FastifyReply {
  refusals.set(reply, e);
  if (e.retryAfter !== undefined) reply.header('Retry-After', String(e.retryAfter));
  return reply.status(e.status).type('application/problem+json').send(problemBody(e));
}

/**
 * On the access endpoints (access.md §4) a malformed body, path or query is ACCESS_BAD_REQUEST (ACC-0), whichever
 * boundary step found it (strict JSON, the body's presence, the router's parameters).
 */
function accessBoundary(url: string | undefined, e: RelayError): RelayError {
  if (
    isAccessTarget(url) &&
    (e.code === 'RELAY_MALFORMED_JSON' ||
      e.code === 'RELAY_INVALID_BODY' ||
      e.code === 'RELAY_INVALID_PARAMS')
  )
    return new RelayError('ACCESS_BAD_REQUEST', e.message.replace(/^[A-Z_]+ \[[A-Z0-9-]+\]: /, ''), {
      check: 'ACC-0',
      cause: e,
    });
  return e;
}

/** The same RFC 9457 answer on a bare node:http response (routes served before Fastify, e.g. /log/). */
export function writeProblem(res: ServerResponse, e: RelayError): void {
  const body = JSON.stringify(problemBody(e));
  res.writeHead(e.status, {
    'Content-Type': 'application/problem+json',
    'Content-Length': String(Buffer.byteLength(body)),
    ...(e.retryAfter !== undefined ? { 'Retry-After': String(e.retryAfter) } : {}),
  });
  res.end(body);
}

/**
 * Node's HTTP parser refuses a request before Fastify sees it when the request line and headers exceed its
 * limit (16 KiB) — an oversized URL among them. RLY-25: answered as problem+json too, then the connection closes.
 */
function clientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  if (socket.writable) {
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      socket.write('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    } else {
      const e =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? new RelayError('RELAY_HEADERS_TOO_LARGE', 'the request line and headers exceed the limit', {
              check: 'RLY-25',
            })
          : new RelayError('RELAY_INVALID_PARAMS', 'malformed HTTP request', { check: 'RLY-2' });
      const body = JSON.stringify(problemBody(e));
      socket.write(
        `HTTP/1.1 ${e.status} ${e.code}\r\nConnection: close\r\nContent-Type: application/problem+json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    }
  }
  socket.destroy();
}

/** Maps Fastify's own errors (body parsing, limits) to our codes. */
function fromFastifyError(e: { code?: string; statusCode?: number }): RelayError | undefined {
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new RelayError('RELAY_BODY_TOO_LARGE', 'the body exceeds the limit', { check: 'RLY-3' });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new RelayError('RELAY_UNSUPPORTED_MEDIA_TYPE', 'unsupported content type', { check: 'RLY-4' });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new RelayError('RELAY_MALFORMED_JSON', 'the body is empty', { check: 'RLY-1' });
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new RelayError('RELAY_INVALID_BODY', 'content length does not match the body', {
        check: 'RLY-3',
      });
  }
  if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500)
    return new RelayError('RELAY_INVALID_PARAMS', 'the request is malformed', { check: 'RLY-2' });
  return undefined;
}

/** RLY-25: the request target (path and query, as sent) is at most `urlBytes` long. */
export function checkTarget(url: string | undefined, limits: ResourceLimits): void {
  if (url !== undefined && Buffer.byteLength(url) > limits.urlBytes)
    throw new RelayError('RELAY_URL_TOO_LONG', 'the request target exceeds the limit', { check: 'RLY-25' });
}

function deviceJson(d: DeviceRecord) {
  return {
    deviceId: d.deviceId,
    userId: d.userId,
    identityKey: toBase64(d.identityKey),
    status: d.status,
    enrolLogIndex: d.enrolLogIndex,
    removalLogIndex: d.removalLogIndex,
    createdAt: d.createdAt,
    removedAt: d.removedAt,
  };
}

function groupJson(g: GroupRecord) {
  return { groupId: toBase64Url(g.groupId), epoch: g.epoch, members: g.members };
}

/**
 * A pushed mailbox item (relay.md §6.6, §6.8): with `envelope` (head ‖ ciphertext, base64, as GET
 * /v1/envelopes returns it) when the message was sent on the WebSocket with an inline envelope that is still
 * stored, so the recipient needs no GET per message. RLY-9 holds by construction: the envelope's recipients
 * were checked to be the group's users (RLY-15) and the item went to a member's mailbox. `stampOf` gives the
 * envelope's franking stamp, as the GET serves it (relay.md §10.1), when the relay has a franking key.
 */
export function deliveryJson(d: Delivery, stampOf: (e: EnvelopeRecord) => Uint8Array | undefined) {
  const e = d.envelope;
  if (e === undefined || e.ciphertext === null) return mailboxItemJson(d.item);
  const stamp = stampOf(e);
  return {
    ...mailboxItemJson(d.item),
    // Buffer's native base64: this runs once per pushed message on the hot path.
    envelope: Buffer.concat([encodeEnvelopeHead(e.header, e.capsule, e.signature), e.ciphertext]).toString(
      'base64',
    ),
    messageId: toBase64Url(e.messageId),
    ...(stamp !== undefined ? { stamp: toBase64(stamp) } : {}),
  };
}

export function mailboxItemJson(i: MailboxItem) {
  return {
    seq: i.seq,
    kind: i.kind,
    groupId: toBase64Url(i.groupId),
    epoch: i.epoch,
    sender: i.senderDeviceId,
    data: Buffer.from(i.data.buffer, i.data.byteOffset, i.data.byteLength).toString('base64'),
    receivedAt: i.receivedAt,
  };
}

/** A claimed key package (relay.md §2.2): `lastResort` when it is the device's last-resort one (DS-12). */
function claimedJson(c: ClaimedPackage) {
  return { deviceId: c.deviceId, keyPackage: toBase64(c.keyPackage), lastResort: c.lastResort };
}

function epochKeyJson(k: EpochKeyRecord) {
  return {
    epoch: k.epoch,
    threshold: k.threshold,
    groupKey: toBase64(k.groupKey),
    verificationKeys: k.verificationKeys.map(toBase64),
    transcriptHash: toBase64(k.transcriptHash),
    statement: toBase64(k.statement),
    logIndex: k.logIndex,
    publishedAt: k.publishedAt,
  };
}

function envelopeJson(e: EnvelopeRecord, blob: { size: number; chunkSize: number } | undefined) {
  return {
    messageId: toBase64Url(e.messageId),
    orgId: e.orgId,
    epoch: e.epoch,
    conversationId: toBase64Url(e.conversationId),
    senderUserId: e.senderUserId,
    senderDeviceId: e.senderDeviceId,
    sendTime: e.sendTime,
    receivedAt: e.receivedAt,
    head: toBase64(encodeEnvelopeHead(e.header, e.capsule, e.signature)),
    ...(e.ciphertext !== null ? { ciphertext: toBase64(e.ciphertext) } : {}),
    ...(blob !== undefined
      ? {
          blob: {
            size: blob.size,
            chunkSize: blob.chunkSize,
            chunks: blobChunkCount(blob.size, blob.chunkSize),
          },
        }
      : {}),
  };
}

/** A stored report without its bytes (relay.md §10.2 "ReportSummary"). */
function reportSummaryJson(r: AbuseReportSummary) {
  return {
    reportId: r.reportId,
    messageId: toBase64Url(r.messageId),
    reporterUserId: r.reporterUserId,
    reporterDeviceId: r.reporterDeviceId,
    senderUserId: r.senderUserId,
    senderDeviceId: r.senderDeviceId,
    conversationId: toBase64Url(r.conversationId),
    sendTime: r.sendTime,
    stampTime: r.stampTime,
    reason: r.reason,
    receivedAt: r.receivedAt,
  };
}

/** Builds the Fastify app (not listening). */
export async function buildApp(o: AppOptions): Promise<FastifyInstance> {
  const { service } = o;
  const limits = o.limits ?? DEFAULT_RESOURCE_LIMITS;
  const principalBuckets = new TokenBuckets(o.rateLimits.principal, o.now);
  const addressBuckets = o.addressBuckets ?? new TokenBuckets(o.rateLimits.address, o.now);
  const app = Fastify({
    bodyLimit: o.bodyLimit,
    logger: false,
    return503OnClosing: true,
    // Path parameters are bounded by the schemas (RLY-2) and the whole target by RLY-25, not by the router's
    // default of 100 characters (a valid user id has up to 128).
    routerOptions: { maxParamLength: limits.urlBytes },
    clientErrorHandler: clientError,
    // Errors of the router itself, before any hook: problem+json with our codes as well.
    frameworkErrors: (error, _req, reply) => {
      const e =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? new RelayError('RELAY_URL_TOO_LONG', 'the request target exceeds the limit', { check: 'RLY-25' })
          : new RelayError('RELAY_INVALID_PARAMS', 'the request target is malformed', { check: 'RLY-2' });
      problem(reply, e);
    },
    ...(o.serverFactory !== undefined ? { serverFactory: o.serverFactory } : {}),
  });

  // Our own parsers only: the exact bytes are kept for the signature; JSON is parsed strictly (RLY-1).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, raw: Buffer, done) => {
    const bytes = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    try {
      done(null, { bytes, json: parseJson(bytes), kind: 'json' } satisfies Body);
    } catch (e) {
      done(e as Error, undefined);
    }
  });
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, raw: Buffer, done) => {
    done(null, {
      bytes: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength),
      json: undefined,
      kind: 'binary',
    });
  });

  app.setErrorHandler((error, req, reply) => {
    if (isRelayError(error)) return problem(reply, accessBoundary(req.url, error));
    const mapped = fromFastifyError(error as { code?: string; statusCode?: number });
    if (mapped !== undefined) return problem(reply, accessBoundary(req.url, mapped));
    // Our bug or a database failure: the client learns only the code.
    console.error('relay: internal error', error);
    return problem(reply, new RelayError('RELAY_INTERNAL', 'internal error'));
  });
  const web = o.web;
  const webServed = new WeakSet<object>();
  app.setNotFoundHandler(async (req, reply) => {
    if (web !== undefined && (req.method === 'GET' || req.method === 'HEAD')) {
      const a = await web.answer(req.url);
      if (a !== undefined) {
        webServed.add(reply);
        return reply.code(a.status).headers(a.headers).send(a.body);
      }
    }
    return problem(reply, new RelayError('RELAY_NOT_FOUND', 'no such endpoint', { check: 'RLY-6' }));
  });

  app.addHook('onRequest', async (req) => {
    addressBuckets.take(`addr:${req.ip}`);
    checkTarget(req.url, limits);
  });

  // One structured line per request (start.md §1.1): the route pattern, never the URL, which carries ids.
  const requestLog = o.requestLog;
  if (requestLog !== undefined)
    app.addHook('onResponse', async (req, reply) => {
      const refused = refusals.get(reply);
      try {
        requestLog({
          method: req.method,
          // The web app's files (static.ts) are one route: `/*` (web), never their paths.
          route: req.routeOptions.url ?? (webServed.has(reply) ? '/* (web)' : '(unmatched)'),
          status: reply.statusCode,
          ms: reply.elapsedTime,
          ...(refused !== undefined ? { code: refused.code } : {}),
          ...(refused?.check !== undefined ? { check: refused.check } : {}),
        });
      } catch {
        // A failing log sink must not fail requests.
      }
    });

  // Send frames carry inline envelopes (§6.8): ws closes the socket (1009) above this; frames between
  // MAX_SEND_FRAME and it get a typed RLY-3 answer instead.
  await app.register(websocket, { options: { maxPayload: MAX_SEND_FRAME + 64 * 1024 } });

  async function authenticate(req: FastifyRequest, bytes: Uint8Array): Promise<Principal> {
    const auth = readPresentedAuth((name) => req.headers[name]);
    const principal = await verifyPresentedAuth(auth, req.method, req.url, bytes, {
      storage: service.storage,
      now: o.now(),
      freshnessMs: o.freshnessMs,
    });
    principalBuckets.take(auth.signerText);
    return principal;
  }

  function route(
    method: 'GET' | 'POST' | 'PUT',
    url: string,
    opts: { auth: AuthMode; body: BodyMode; bodyLimit?: number },
    handler: (ctx: Ctx) => Promise<unknown>,
  ): void {
    app.route({
      method,
      url,
      ...(opts.bodyLimit !== undefined ? { bodyLimit: opts.bodyLimit } : {}),
      handler: async (req, reply) => {
        const body = req.body as Body | undefined;
        if (opts.body === 'none' && body !== undefined && body.bytes.length > 0)
          throw new RelayError('RELAY_INVALID_BODY', 'this endpoint takes no body', { check: 'RLY-2' });
        if (opts.body === 'json?' && body !== undefined && body.kind !== 'json')
          throw new RelayError('RELAY_UNSUPPORTED_MEDIA_TYPE', 'this endpoint takes JSON or no body', {
            check: 'RLY-4',
          });
        if (
          (opts.body === 'json' || opts.body === 'binary') &&
          (body === undefined || body.kind !== opts.body)
        )
          throw new RelayError(
            'RELAY_UNSUPPORTED_MEDIA_TYPE',
            `this endpoint takes application/${opts.body === 'json' ? 'json' : 'octet-stream'}`,
            { check: 'RLY-4' },
          );
        let principal: Principal | undefined;
        if (opts.auth !== 'none') {
          principal = await authenticate(req, body?.bytes ?? EMPTY);
          const allowed =
            opts.auth === 'access'
              ? principal.kind === 'trustee' || principal.kind === 'requester'
              : principal.kind === opts.auth;
          if (!allowed)
            throw new RelayError('AUTH_FORBIDDEN', `this endpoint is not for a signer of this kind`, {
              check: 'AUTH-8',
            });
        }
        const device =
          principal?.kind === 'device' ? principal.device : (undefined as unknown as DeviceRecord);
        const result = await handler({ req, reply, principal, device, body });
        if (reply.sent) return reply;
        return result;
      },
    });
  }

  const json = <S extends z.ZodType>(ctx: Ctx, schema: S) => parseBody(schema, ctx.body?.json);
  const p = <S extends z.ZodType>(ctx: Ctx, schema: S) => parseParams(schema, ctx.req.params);
  const q = <S extends z.ZodType>(ctx: Ctx, schema: S) => parseParams(schema, ctx.req.query ?? {});

  route('GET', '/v1/health', { auth: 'none', body: 'none' }, async (ctx) => {
    q(ctx, queries.none);
    return { status: 'ok' };
  });

  // ── Admin (§2.2) ──
  route('POST', '/v1/admin/users', { auth: 'admin', body: 'json' }, async (ctx) => {
    const { userId } = json(ctx, bodies.createUser);
    const u = await service.createUser(userId);
    ctx.reply.status(201);
    return u;
  });
  route('POST', '/v1/admin/devices', { auth: 'admin', body: 'json' }, async (ctx) => {
    const { statement } = json(ctx, bodies.statement);
    const d = await service.enrolDevice(statement);
    ctx.reply.status(201);
    return deviceJson(d);
  });
  route('POST', '/v1/admin/devices/:deviceId/removal', { auth: 'admin', body: 'json' }, async (ctx) => {
    const { deviceId } = p(ctx, params.device);
    const { statement } = json(ctx, bodies.statement);
    return deviceJson(await service.removeDevice(deviceId, statement));
  });
  route('POST', '/v1/admin/epoch-keys', { auth: 'admin', body: 'json' }, async (ctx) => {
    const { statement } = json(ctx, bodies.statement);
    const k = await service.publishEpochKey(statement);
    ctx.reply.status(201);
    return epochKeyJson(k);
  });
  route('POST', '/v1/admin/policies', { auth: 'admin', body: 'json' }, async (ctx) => {
    const { statement } = json(ctx, bodies.statement);
    const r = await service.publishPolicy(statement);
    ctx.reply.status(201);
    return { serial: r.serial, logIndex: r.logIndex, publishedAt: r.publishedAt };
  });
  route('POST', '/v1/admin/retention', { auth: 'admin', body: 'json' }, async (ctx) => {
    const { epoch } = json(ctx, bodies.retention);
    return { epoch, deleted: await service.deleteEpoch(epoch) };
  });

  // ── Directory, read by devices (§2.3) ──
  route('GET', '/v1/devices/self', { auth: 'device', body: 'none' }, async (ctx) => ({
    ...deviceJson(ctx.device),
    keyPackages: await service.storage.countKeyPackages(ctx.device.deviceId),
    lastResortKeyPackage: await service.storage.hasLastResortKeyPackage(ctx.device.deviceId),
  }));
  route('GET', '/v1/users/:userId/devices', { auth: 'device', body: 'none' }, async (ctx) => {
    const { userId } = p(ctx, params.user);
    return { devices: (await service.listUserDevices(userId)).map(deviceJson) };
  });
  route('GET', '/v1/epoch-keys/current', { auth: 'device', body: 'none' }, async () =>
    epochKeyJson(await service.epochKey('current')),
  );
  route('GET', '/v1/epoch-keys/:epoch', { auth: 'device', body: 'none' }, async (ctx) =>
    epochKeyJson(await service.epochKey(p(ctx, params.epoch).epoch)),
  );

  // ── Delivery service (§6) ──
  route('POST', '/v1/key-packages', { auth: 'device', body: 'json' }, async (ctx) => {
    const { keyPackages, lastResort } = json(ctx, bodies.publishKeyPackages);
    const available = await service.publishKeyPackages(ctx.device, keyPackages, lastResort);
    ctx.reply.status(201);
    return { available };
  });
  route('POST', '/v1/users/:userId/key-packages/claim', { auth: 'device', body: 'none' }, async (ctx) => {
    const { userId } = p(ctx, params.user);
    const r = await service.claimKeyPackages(ctx.device, userId);
    return { keyPackages: r.claimed.map(claimedJson), exhausted: r.exhausted };
  });
  route(
    'POST',
    '/v1/users/:userId/devices/:deviceId/key-packages/claim',
    { auth: 'device', body: 'none' },
    async (ctx) => {
      const { userId, deviceId } = p(ctx, params.userDevice);
      q(ctx, queries.none);
      return claimedJson(await service.claimDeviceKeyPackage(ctx.device, userId, deviceId));
    },
  );
  route('POST', '/v1/groups', { auth: 'device', body: 'json' }, async (ctx) => {
    const { groupId } = json(ctx, bodies.createGroup);
    const g = await service.createGroup(ctx.device, groupId);
    ctx.reply.status(201);
    return groupJson(g);
  });
  route('GET', '/v1/groups/:groupId', { auth: 'device', body: 'none' }, async (ctx) =>
    groupJson(await service.getGroup(ctx.device, p(ctx, params.group).groupId)),
  );
  route('POST', '/v1/groups/:groupId/commits', { auth: 'device', body: 'json' }, async (ctx) => {
    const { groupId } = p(ctx, params.group);
    const b = json(ctx, bodies.commit);
    const out = await service.submitCommit(ctx.device, groupId, b.commit, b.welcome, b.removes ?? []);
    ctx.reply.status(201);
    return out;
  });
  route('GET', '/v1/groups/:groupId/commits', { auth: 'device', body: 'none' }, async (ctx) => {
    const { groupId } = p(ctx, params.group);
    const { from, limit } = q(ctx, queries.commits);
    const list = await service.listCommits(ctx.device, groupId, from ?? 0, Math.min(limit ?? 100, 100));
    return {
      commits: list.map((c) => ({
        epoch: c.epoch,
        sender: c.senderDeviceId,
        commit: toBase64(c.commit),
        acceptedAt: c.acceptedAt,
      })),
    };
  });
  route('POST', '/v1/groups/:groupId/messages', { auth: 'device', body: 'json' }, async (ctx) => {
    const { groupId } = p(ctx, params.group);
    const { message, messageId } = json(ctx, bodies.message);
    const recipients = await service.postMessage(ctx.device, groupId, message, messageId);
    ctx.reply.status(201);
    return { recipients };
  });
  route('GET', '/v1/mailbox', { auth: 'device', body: 'none' }, async (ctx) => {
    const { after, limit } = q(ctx, queries.mailbox);
    // With the inline envelope of messages sent on the WebSocket (§6.8), as the push carries them.
    const items = await service.storage.fetchDeliveries(
      ctx.device.deviceId,
      after ?? 0,
      Math.min(limit ?? 100, 100),
    );
    return { items: items.map((d) => deliveryJson(d, (e) => o.reports.stampOf(e))) };
  });
  // Catch-up reads (§6.9): many items per request, each with its envelope and stamp, bounded in bytes.
  route('GET', '/v1/mailbox/catch-up', { auth: 'device', body: 'none' }, async (ctx) => {
    const { after, limit, maxBytes } = q(ctx, queries.catchUp);
    const page = await service.catchUp(
      ctx.device,
      after ?? 0,
      limit ?? MAX_CATCH_UP_ITEMS,
      maxBytes ?? DEFAULT_CATCH_UP_BYTES,
    );
    return {
      items: page.items.map((i) => {
        if (i.envelope === undefined) return mailboxItemJson(i.item);
        const stamp = o.reports.stampOf(i.envelope);
        return {
          ...mailboxItemJson(i.item),
          envelope: {
            ...envelopeJson(i.envelope, i.blob),
            ...(stamp !== undefined ? { stamp: toBase64(stamp) } : {}),
          },
        };
      }),
      more: page.more,
    };
  });
  route('POST', '/v1/mailbox/ack', { auth: 'device', body: 'json' }, async (ctx) => {
    const { upTo } = json(ctx, bodies.ack);
    return { upTo, removed: await service.ackMailbox(ctx.device, upTo) };
  });

  // ── Envelopes and blobs (§6.7) ──
  route('PUT', '/v1/envelopes/:messageId', { auth: 'device', body: 'binary' }, async (ctx) => {
    const { messageId } = p(ctx, params.envelope);
    const { blob } = q(ctx, queries.putEnvelope);
    // RLY-24: the upload holds a place in the ingest pipeline's bounds while it is checked and stored.
    const admission = o.ingest.admit(ctx.device.deviceId, ctx.body!.bytes.length);
    try {
      const r = await service.putEnvelope(ctx.device, messageId, ctx.body!.bytes, blob);
      ctx.reply.status(r === 'stored' ? 201 : 200);
      return { messageId: toBase64Url(messageId), result: r };
    } finally {
      admission.release();
    }
  });
  route('GET', '/v1/envelopes/:messageId', { auth: 'device', body: 'none' }, async (ctx) => {
    const e = await service.getEnvelope(ctx.device, p(ctx, params.envelope).messageId);
    const blob = e.blobId !== null ? await service.storage.getBlob(e.blobId) : undefined;
    // The franking stamp (relay.md §10.1), computed now: deterministic, so the same bytes on every fetch.
    const stamp = o.reports.stampOf(e);
    return { ...envelopeJson(e, blob), ...(stamp !== undefined ? { stamp: toBase64(stamp) } : {}) };
  });
  route('GET', '/v1/envelopes/:messageId/chunks/:index', { auth: 'device', body: 'none' }, async (ctx) => {
    const { messageId, index } = p(ctx, params.envelopeChunk);
    const chunk = await service.readEnvelopeChunk(ctx.device, messageId, index);
    return ctx.reply
      .type('application/octet-stream')
      .send(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  });
  route('POST', '/v1/blobs', { auth: 'device', body: 'json' }, async (ctx) => {
    const b = json(ctx, bodies.createBlob);
    const blobId = await service.createBlob(ctx.device, b.size, b.chunkSize, b.sha256);
    ctx.reply.status(201);
    return { blobId, chunks: blobChunkCount(b.size, b.chunkSize) };
  });
  route(
    'PUT',
    '/v1/blobs/:blobId/chunks/:index',
    { auth: 'device', body: 'binary', bodyLimit: MAX_BLOB_CHUNK },
    async (ctx) => {
      const { blobId, index } = p(ctx, params.blobChunk);
      const admission = o.ingest.admit(ctx.device.deviceId, ctx.body!.bytes.length);
      try {
        await service.putBlobChunk(ctx.device, blobId, index, ctx.body!.bytes);
      } finally {
        admission.release();
      }
      return ctx.reply.status(204).send();
    },
  );
  route('POST', '/v1/blobs/:blobId/complete', { auth: 'device', body: 'json?' }, async (ctx) => {
    const { blobId } = p(ctx, params.blob);
    // No body: the digest was declared at creation. `{sha256}`: declared now (the streaming form, §6.7).
    const declared = ctx.body === undefined ? undefined : json(ctx, bodies.completeBlob).sha256;
    await service.completeBlob(ctx.device, blobId, declared);
    return { blobId, complete: true };
  });

  // ── Abuse reports (§10) ──
  // Exactly the largest report core verifies (franking.md §4), whatever the general body limit: every message up
  // to MAX_REPORT_PLAINTEXT can be reported, and nothing larger is buffered.
  const report = { auth: 'device', body: 'binary', bodyLimit: MAX_REPORT_BYTES } as const;
  route('POST', '/v1/reports', report, async (ctx) => {
    const { reason } = q(ctx, queries.fileReport);
    const r = await o.reports.file(ctx.device, ctx.body!.bytes, reason);
    ctx.reply.status(r.result === 'stored' ? 201 : 200);
    return {
      reportId: r.reportId,
      result: r.result,
      messageId: toBase64Url(r.verified.header.messageId),
      senderUserId: r.verified.header.senderUserId,
      stampTime: r.verified.stampTime,
    };
  });
  route('GET', '/v1/admin/reports', { auth: 'admin', body: 'none' }, async (ctx) => {
    const { after, limit } = q(ctx, queries.reports);
    const list = await o.reports.list(after ?? 0, Math.min(limit ?? 100, 100));
    return { reports: list.map(reportSummaryJson) };
  });
  route('GET', '/v1/admin/reports/:reportId', { auth: 'admin', body: 'none' }, async (ctx) => {
    q(ctx, queries.none);
    const { record, verified } = await o.reports.get(p(ctx, params.report).reportId);
    return {
      ...reportSummaryJson(record),
      contentType: verified.header.contentType,
      plaintext: toBase64(verified.plaintext),
      report: toBase64(record.report),
    };
  });

  // ── Accountable access (access.md §4) ──
  if (o.access !== undefined)
    registerAccessRoutes(
      (method, url, opts, handler) =>
        route(method, url, opts, (ctx) =>
          handler({
            req: ctx.req,
            reply: ctx.reply,
            caller: ctx.principal as AccessCaller,
            json: ctx.body?.json,
          }),
        ),
      o.access,
    );

  // ── Mailbox push (§6.6) ──
  const socketStats = o.socketStats ?? newSocketStats();
  app.get('/v1/ws', { websocket: true }, (socket, req) => {
    mailboxSocket(socket, req, o, principalBuckets, limits, socketStats);
  });

  return app;
}

/** The byte length of a frame as ws hands it over (a Buffer, or fragments). */
function frameBytes(data: unknown): number {
  if (Buffer.isBuffer(data)) return data.length;
  if (Array.isArray(data)) return data.reduce((n: number, b: Buffer) => n + b.length, 0);
  if (data instanceof ArrayBuffer) return data.byteLength;
  return 0;
}

/**
 * One WebSocket connection: authenticate by the first frame, then push mailbox items, take acks and send frames.
 *
 * Flow (relay.md §2.4): every frame read counts as in flight until it is handled — a send frame until its
 * answer is sent. With `socketFrames` frames or `socketBytes` bytes in flight the relay stops reading the socket
 * (RLY-23) and resumes once answers went out: the client's own TCP window is the buffer, so a flood costs the
 * relay at most the bound plus what one socket read had already delivered. Pushes wait while more than
 * `pushBufferBytes` are buffered unsent for a slow reader (RLY-26).
 */
function mailboxSocket(
  socket: WebSocket,
  req: FastifyRequest,
  o: AppOptions,
  buckets: TokenBuckets,
  limits: ResourceLimits,
  stats: SocketStats,
): void {
  const { service, hub } = o;
  let device: DeviceRecord | undefined;
  let lastSent = 0;
  let pumping = false;
  let again = false;
  let unsubscribe: (() => void) | undefined;
  let busy: Promise<void> = Promise.resolve();

  // RLY-23: frames read and not yet handled, and their bytes.
  let inFlight = 0;
  let inFlightBytes = 0;
  /** Counts a frame in; the returned function counts it out (once) and resumes reading below the bound. */
  const hold = (bytes: number): (() => void) => {
    inFlight++;
    inFlightBytes += bytes;
    stats.peakFrames = Math.max(stats.peakFrames, inFlight);
    stats.peakBytes = Math.max(stats.peakBytes, inFlightBytes);
    if ((inFlight >= limits.socketFrames || inFlightBytes >= limits.socketBytes) && !socket.isPaused) {
      socket.pause();
      stats.pauses++;
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      inFlight--;
      inFlightBytes -= bytes;
      if (socket.isPaused && inFlight < limits.socketFrames && inFlightBytes < limits.socketBytes)
        socket.resume();
    };
  };

  const send = (msg: unknown) => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(msg));
  };
  const errorFrame = (err: RelayError, id?: number) => ({
    type: 'error',
    ...(id !== undefined ? { id } : {}),
    code: err.code,
    detail: err.message,
    ...(err.check ? { check: err.check } : {}),
    // RELAY_BUSY and RELAY_RATE_LIMITED: the seconds after which the same frame may be sent again.
    ...(err.retryAfter !== undefined ? { retryAfter: err.retryAfter } : {}),
  });
  const fail = (e: unknown, close: number | undefined) => {
    const err = isRelayError(e) ? e : new RelayError('RELAY_INTERNAL', 'internal error');
    if (!isRelayError(e)) console.error('relay: internal error on a mailbox socket', e);
    send(errorFrame(err));
    if (close !== undefined) socket.close(close, err.code);
  };
  const timer = setTimeout(() => {
    if (device === undefined)
      fail(new RelayError('AUTH_MISSING', 'no authentication frame', { check: 'AUTH-1' }), 4401);
  }, o.wsAuthTimeoutMs ?? 10_000);

  /** Sends text; resolves once ws handed it to the OS (or the socket closed). */
  const write = (text: string): Promise<void> =>
    new Promise((resolve) => {
      if (socket.readyState !== socket.OPEN) return resolve();
      socket.send(text, () => resolve());
    });
  /**
   * Pushes one page of items, in frames of about 1 MiB of JSON (each at least one item), and waits for the
   * socket to drain while more than `pushBufferBytes` are buffered (RLY-26). `lastSent` follows each frame, so
   * the client may acknowledge what it received while the rest waits.
   */
  const pushPage = async (items: readonly Delivery[]): Promise<void> => {
    const stampOf = (e: EnvelopeRecord) => o.reports.stampOf(e);
    let parts: string[] = [];
    let size = 0;
    let last = lastSent;
    const flush = async () => {
      if (parts.length === 0) return;
      const written = write(`{"type":"items","items":[${parts.join(',')}]}`);
      lastSent = last;
      parts = [];
      size = 0;
      stats.peakBuffered = Math.max(stats.peakBuffered, socket.bufferedAmount);
      if (socket.bufferedAmount > limits.pushBufferBytes) {
        stats.pushWaits++;
        await written;
      }
    };
    for (const d of items) {
      const part = JSON.stringify(deliveryJson(d, stampOf));
      if (size > 0 && size + part.length > PUSH_FRAME_BYTES) await flush();
      parts.push(part);
      size += part.length;
      last = d.item.seq;
    }
    await flush();
  };

  const pump = async (): Promise<void> => {
    if (device === undefined) return;
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    try {
      do {
        again = false;
        for (;;) {
          const items = await service.storage.fetchDeliveries(device.deviceId, lastSent, 100);
          if (items.length === 0 || socket.readyState !== socket.OPEN) break;
          await pushPage(items);
          // A short page is the end of the mailbox; an item committed meanwhile has set `again`.
          if (items.length < 100) break;
        }
      } while (again);
    } catch (e) {
      fail(e, 1011);
    } finally {
      pumping = false;
    }
  };

  // Send frames (§6.8): checked concurrently, stored and answered in the order they arrived on this socket.
  let order: Promise<void> = Promise.resolve();
  const onSendFrame = (data: Uint8Array, finish: () => void) => {
    const sender = device!;
    const id = frameRequestId(data);
    let admission: Admission | undefined;
    const answer = (msg: unknown) => {
      send(msg);
      admission?.release();
      finish();
    };
    const refuse = (e: unknown) => {
      const err = isRelayError(e) ? e : new RelayError('RELAY_INTERNAL', 'internal error');
      if (!isRelayError(e)) console.error('relay: internal error on a send frame', e);
      answer(errorFrame(err, id));
    };
    let checked: Promise<CheckedMessage>;
    let requestId: number;
    try {
      const frame = parseSendFrame(data);
      requestId = frame.requestId;
      buckets.take(`device:${sender.deviceId}`);
      // RLY-24: a place in the pipeline's bounds for this device and the node, or RELAY_BUSY now.
      admission = o.ingest.admit(sender.deviceId, data.length);
      checked = o.ingest.check(sender, frame);
    } catch (e) {
      order = order.then(() => refuse(e));
      return;
    }
    // Settled now so a refusal is never an unhandled rejection while earlier frames are still in line.
    const settled = checked.then(
      (c) => ({ c }),
      (e: unknown) => ({ e }),
    );
    order = order.then(async () => {
      const r = await settled;
      if ('e' in r) return refuse(r.e);
      o.ingest.store(r.c).then((out) => answer(sentJson(requestId, out)), refuse);
    });
  };

  const onFrame = async (data: unknown, isBinary: boolean, finish: () => void): Promise<void> => {
    if (isBinary && device !== undefined) {
      const b = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
      return onSendFrame(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), finish);
    }
    try {
      await onControlFrame(data);
    } finally {
      finish();
    }
  };

  const onControlFrame = async (data: unknown): Promise<void> => {
    let msg: Record<string, unknown>;
    try {
      const text = Buffer.isBuffer(data) ? data.toString('utf8') : String(data);
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        throw new Error('not an object');
      msg = parsed as Record<string, unknown>;
    } catch (cause) {
      return fail(
        new RelayError('RELAY_MALFORMED_JSON', 'frame is not a JSON object', { check: 'RLY-1', cause }),
        4400,
      );
    }
    if (device === undefined) {
      if (msg.type !== 'auth')
        return fail(
          new RelayError('AUTH_MISSING', 'the first frame must authenticate', { check: 'AUTH-1' }),
          4401,
        );
      try {
        const auth = readPresentedAuth((name) => msg[name.slice('overt-'.length)]);
        const principal = await verifyPresentedAuth(auth, 'GET', req.url, new Uint8Array(0), {
          storage: service.storage,
          now: o.now(),
          freshnessMs: o.freshnessMs,
        });
        if (principal.kind !== 'device')
          throw new RelayError('AUTH_FORBIDDEN', 'the mailbox is for devices', { check: 'AUTH-8' });
        buckets.take(auth.signerText);
        device = principal.device;
      } catch (e) {
        return fail(e, 4401);
      }
      clearTimeout(timer);
      unsubscribe = hub.subscribe(device.deviceId, {
        wake: () => void pump(),
        removed: () =>
          fail(new RelayError('AUTH_DEVICE_REMOVED', 'the device was removed', { check: 'AUTH-4' }), 4403),
      });
      send({ type: 'ready' });
      // Not awaited: a push waiting for a slow reader (RLY-26) must not hold the frames behind it.
      void pump();
      return;
    }
    if (msg.type === 'ack') {
      const upTo = msg.upTo;
      try {
        buckets.take(`device:${device.deviceId}`);
        if (
          typeof upTo !== 'number' ||
          !Number.isSafeInteger(upTo) ||
          upTo < 0 ||
          Object.keys(msg).length !== 2
        )
          throw new RelayError('RELAY_INVALID_BODY', 'ack needs exactly an integer upTo', { check: 'RLY-2' });
        // DS-9: only what this connection delivered can be acknowledged on it.
        if (upTo > lastSent)
          throw new RelayError('DS_ACK_RANGE', 'acknowledgement beyond the last delivered item', {
            check: 'DS-9',
          });
        const removed = await service.ackMailbox(device, upTo);
        send({ type: 'acked', upTo, removed });
      } catch (e) {
        fail(e, undefined);
      }
      return;
    }
    fail(new RelayError('RELAY_INVALID_BODY', 'unknown frame type', { check: 'RLY-2' }), undefined);
  };

  // Frames are handled one at a time, in order, so an ack never overtakes the auth frame.
  socket.on('message', (data, isBinary) => {
    const finish = hold(frameBytes(data));
    busy = busy
      .then(() => onFrame(data, isBinary, finish))
      .catch((e) => {
        finish();
        fail(e, 1011);
      });
  });
  socket.on('close', () => {
    clearTimeout(timer);
    unsubscribe?.();
  });
}

/** Pushed items are sent in frames of about this much JSON (RLY-26); one item may exceed it. */
const PUSH_FRAME_BYTES = 1024 * 1024;
