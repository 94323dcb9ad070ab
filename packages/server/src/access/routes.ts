/**
 * The HTTP endpoints of accountable access (docs/spec/access.md §4), registered on the relay's app with its
 * processing order (address bucket, body limits, strict JSON, signature, signer kind, principal bucket, schema,
 * operation). Every body, path and query is read by a strict schema: unknown fields, wrong types, bad base64 or
 * oversize values are ACCESS_BAD_REQUEST (ACC-0), never a crash.
 */
import { Readable } from 'node:stream';
import { encodeEnvelopeHead, toBase64, toBase64Url } from '@overt/core';
import { z } from 'zod';
import { RelayError } from '../errors.js';
import { base64, base64url, deviceId } from '../http/schemas.js';
import type { AccessRequestRecord } from '../storage/access.js';
import type { EpochKeyRecord, RelayStorage } from '../storage/storage.js';
import {
  type AccessCaller,
  type AccessService,
  MAX_MAIL_BYTES,
  type RequesterCaller,
  type TrusteeCaller,
} from './service.js';
import { registerShredRoutes } from './shred-routes.js';

/** The largest signed request a log entry holds (65,535 − 1). */
const MAX_REQUEST_ENTRY = 0xffff - 1;
/** The largest sealed confidential part (access.md §2): enc ‖ HPKE(opening of the longest justification). */
export const MAX_SEALED_PART = 32 + 16 + 1 + 32 + 2 + 65_048 + 1 + 255;
/** The largest sealed share bundle (access.md §3): 1024 shares of (u32 ‖ label ‖ 161-byte share). */
export const MAX_SEALED_BUNDLE = 32 + 16 + 1 + 16 + 32 + 1 + 4 + 4 + 1024 * (4 + 32 + 161);
/** A POST of a request with a sealed part for each of up to 255 trustees. */
export const MAX_REQUEST_BODY = 24 * 1024 * 1024;
/** Largest page of executed envelopes (§4) and of requests or mail. */
export const MAX_ENVELOPE_PAGE = 4096;
const MAX_LIST_PAGE = 1000;
/** A page of envelopes stops once its heads exceed this many bytes (at least one envelope per page). */
const ENVELOPE_PAGE_BYTES = 4 * 1024 * 1024;

const decimal = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,15})$/)
  .transform(Number)
  .refine((n) => Number.isSafeInteger(n), 'out of range');
/** Canonical base64 of 1..max bytes, the byte bound exact (base64's string bound alone allows up to 2 more). */
const b64 = (max: number) => base64(max).refine((b) => b.length <= max, 'too long');
const trusteeIndex = z.number().int().min(1).max(255);
const requestId = base64url(16, 16);
/** The longest reason of an extension proposal, in characters (after-release.md §2). */
export const MAX_EXTENSION_REASON = 1024;
/** Largest page of labels on the public read (after-release.md §1). */
export const MAX_LABEL_PAGE = 4096;

const bodies = {
  request: z.strictObject({
    request: b64(MAX_REQUEST_ENTRY),
    sealed: z
      .array(z.strictObject({ trustee: trusteeIndex, sealed: b64(MAX_SEALED_PART) }))
      .min(1)
      .max(255),
    /** The part sealed to the relay's unseal key (after-release.md §1). */
    relaySealed: b64(MAX_SEALED_PART).optional(),
  }),
  decision: z.strictObject({ decision: b64(8 * 1024) }),
  release: z.strictObject({
    release: b64(1024),
    bundle: b64(MAX_SEALED_BUNDLE),
    batch: z.number().int().min(0).max(0xffffffff),
  }),
  refusal: z.strictObject({ refusal: b64(1024) }),
  mail: z.strictObject({ to: z.number().int().min(0).max(255), body: b64(MAX_MAIL_BYTES) }),
  statement: z.strictObject({ statement: b64(32 * 1024) }),
  // After release (after-release.md §1, §2).
  unseal: z.strictObject({ unseal: b64(0xffff - 1) }),
  extension: z.strictObject({
    requestId,
    newSealUntil: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    reason: z.string().max(MAX_EXTENSION_REASON),
  }),
  extensionSignature: z.strictObject({
    requestId,
    number: z.number().int().min(1).max(255),
    trustee: trusteeIndex,
    signature: b64(64).refine((b) => b.length === 64, 'not 64 bytes'),
  }),
} as const;

const params = {
  request: z.strictObject({ requestId }),
  position: z.strictObject({ requestId, position: decimal }),
  release: z.strictObject({
    requestId,
    trustee: decimal.refine((n) => n >= 1 && n <= 255, 'out of range'),
    batch: decimal,
  }),
  device: z.strictObject({ deviceId }),
} as const;

const queries = {
  none: z.strictObject({}),
  page: z.strictObject({
    after: decimal.optional(),
    limit: decimal.refine((n) => n >= 1 && n <= MAX_LIST_PAGE, 'out of range').optional(),
  }),
  envelopes: z.strictObject({
    from: decimal.optional(),
    limit: decimal.refine((n) => n >= 1 && n <= MAX_ENVELOPE_PAGE, 'out of range').optional(),
  }),
  labels: z.strictObject({
    from: decimal.optional(),
    limit: decimal.refine((n) => n >= 1 && n <= MAX_LABEL_PAGE, 'out of range').optional(),
  }),
} as const;

/** Strict parse of access input: ACCESS_BAD_REQUEST (ACC-0) naming the paths and rules, never the values. */
export function accessInput<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const what = r.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.code}`)
      .join('; ');
    throw new RelayError('ACCESS_BAD_REQUEST', `invalid access input: ${what}`, { check: 'ACC-0' });
  }
  return r.data;
}

/** Whether a request target belongs to the access endpoints (their boundary refusals are ACC-0). */
export function isAccessTarget(url: string | undefined): boolean {
  return url !== undefined && (url.startsWith('/v1/access/') || url.startsWith('/v1/trustee/'));
}

/** The route context the access handlers need (a subset of the app's). */
export interface AccessCtx {
  readonly req: { readonly params: unknown; readonly query: unknown };
  readonly reply: {
    status(code: number): unknown;
    type(t: string): { send(payload: unknown): unknown };
    header(name: string, value: string): unknown;
  };
  readonly caller: AccessCaller;
  readonly json: unknown;
}

/** `none`: public (after-release.md §1's reads after unseal); the caller is then undefined. */
export type AccessAuth = 'trustee' | 'requester' | 'access' | 'none';
export type AccessRoute = (
  method: 'GET' | 'POST',
  url: string,
  opts: { auth: AccessAuth; body: 'none' | 'json'; bodyLimit?: number },
  handler: (ctx: AccessCtx) => Promise<unknown>,
) => void;

export function epochKeyJson(k: EpochKeyRecord) {
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

function requestSummary(r: AccessRequestRecord) {
  return { requestId: toBase64Url(r.requestId), index: r.logIndex, status: r.status };
}

/** A blob-backed ciphertext as a stream of its chunks, read one at a time. */
function blobStream(storage: RelayStorage, blobId: string, chunks: number): Readable {
  async function* read() {
    for (let i = 0; i < chunks; i++) {
      const c = await storage.readBlobChunk(blobId, i);
      if (c === undefined) throw new RelayError('ACCESS_ENVELOPE_UNKNOWN', 'the blob is incomplete');
      yield Buffer.from(c.buffer, c.byteOffset, c.byteLength);
    }
  }
  return Readable.from(read());
}

export function registerAccessRoutes(route: AccessRoute, access: AccessService): void {
  const trustee = (ctx: AccessCtx) => ctx.caller as TrusteeCaller;
  const requester = (ctx: AccessCtx) => ctx.caller as RequesterCaller;
  const p = <S extends z.ZodType>(ctx: AccessCtx, s: S) => accessInput(s, ctx.req.params);
  const q = <S extends z.ZodType>(ctx: AccessCtx, s: S) => accessInput(s, ctx.req.query ?? {});
  const b = <S extends z.ZodType>(ctx: AccessCtx, s: S) => accessInput(s, ctx.json);

  // ── Requests ──
  route(
    'POST',
    '/v1/access/requests',
    { auth: 'requester', body: 'json', bodyLimit: MAX_REQUEST_BODY },
    async (ctx) => {
      q(ctx, queries.none);
      const body = b(ctx, bodies.request);
      const r = await access.fileRequest(requester(ctx), body.request, body.sealed, body.relaySealed);
      ctx.reply.status(r.created ? 201 : 200);
      return { requestId: toBase64Url(r.record.requestId), index: r.record.logIndex };
    },
  );
  route('GET', '/v1/access/requests', { auth: 'access', body: 'none' }, async (ctx) => {
    const { after, limit } = q(ctx, queries.page);
    const n = limit ?? 100;
    const list = await access.listRequests(ctx.caller, after ?? -1, n);
    const last = list[list.length - 1];
    return { requests: list.map(requestSummary), next: list.length === n && last ? last.logIndex : null };
  });
  route('GET', '/v1/access/requests/:requestId', { auth: 'access', body: 'none' }, async (ctx) => {
    q(ctx, queries.none);
    const v = await access.view(ctx.caller, p(ctx, params.request).requestId);
    return {
      request: toBase64(v.request.signed),
      index: v.request.logIndex,
      status: v.request.status,
      decisions: v.decisions.map((d) => ({ decision: toBase64(d.body), index: d.logIndex })),
      ...(v.execution !== undefined
        ? { execution: { execution: toBase64(v.execution.signed), index: v.execution.logIndex } }
        : {}),
      // A standing order's batch executions (after-release.md §8.3); absent for a request.
      ...(v.batches.length > 0
        ? {
            batches: v.batches.map((b) => ({
              batch: b.batch,
              execution: toBase64(b.signed),
              index: b.logIndex,
              envelopeCount: b.envelopeCount,
            })),
          }
        : {}),
      releases: v.releases.map((r) => ({
        trustee: r.trusteeIndex,
        batch: r.batch,
        release: toBase64(r.signed),
        index: r.logIndex,
      })),
      refusals: v.refusals.map((r) => ({ refusal: toBase64(r.body), index: r.logIndex })),
    };
  });
  route('GET', '/v1/access/requests/:requestId/sealed', { auth: 'trustee', body: 'none' }, async (ctx) => {
    q(ctx, queries.none);
    return { sealed: toBase64(await access.sealedPart(trustee(ctx), p(ctx, params.request).requestId)) };
  });

  // ── Decisions ──
  route('POST', '/v1/access/decisions', { auth: 'trustee', body: 'json' }, async (ctx) => {
    q(ctx, queries.none);
    const { decision } = b(ctx, bodies.decision);
    const r = await access.submitDecision(trustee(ctx), decision);
    ctx.reply.status(r.created ? 201 : 200);
    return { index: r.index, ...(r.execution !== undefined ? { execution: r.execution } : {}) };
  });

  // ── Executed envelopes ──
  route('GET', '/v1/access/requests/:requestId/envelopes', { auth: 'access', body: 'none' }, async (ctx) => {
    const { requestId } = p(ctx, params.request);
    const { from, limit } = q(ctx, queries.envelopes);
    const page = await access.envelopes(ctx.caller, requestId, from ?? 0, limit ?? 256);
    const out: unknown[] = [];
    let bytes = 0;
    let next = page.next;
    for (const e of page.envelopes) {
      const head = encodeEnvelopeHead(e.envelope.header, e.envelope.capsule, e.envelope.signature);
      if (out.length > 0 && bytes + head.length > ENVELOPE_PAGE_BYTES) {
        next = e.position;
        break;
      }
      bytes += head.length;
      out.push({
        position: e.position,
        label: toBase64(e.label),
        messageId: toBase64Url(e.messageId),
        head: toBase64(head),
      });
    }
    return { envelopes: out, next };
  });
  route(
    'GET',
    '/v1/access/requests/:requestId/envelopes/:position/ciphertext',
    { auth: 'requester', body: 'none' },
    async (ctx) => {
      q(ctx, queries.none);
      const { requestId, position } = p(ctx, params.position);
      const e = await access.executedEnvelope(requester(ctx), requestId, position);
      if (e.ciphertext !== null)
        return ctx.reply
          .type('application/octet-stream')
          .send(Buffer.from(e.ciphertext.buffer, e.ciphertext.byteOffset, e.ciphertext.byteLength));
      const blob = await access.storage.getBlob(e.blobId!);
      if (blob === undefined || !blob.complete)
        throw new RelayError('ACCESS_ENVELOPE_UNKNOWN', 'the envelope ciphertext is gone');
      ctx.reply.header('content-length', String(blob.size));
      return ctx.reply
        .type('application/octet-stream')
        .send(blobStream(access.storage, blob.blobId, Math.ceil(blob.size / blob.chunkSize)));
    },
  );
  route('GET', '/v1/access/devices/:deviceId', { auth: 'access', body: 'none' }, async (ctx) => {
    q(ctx, queries.none);
    const d = await access.device(p(ctx, params.device).deviceId);
    return {
      index: d.enrolLogIndex,
      ...(d.removalLogIndex !== null ? { removedIndex: d.removalLogIndex } : {}),
    };
  });

  // ── Releases and refusals ──
  route('POST', '/v1/access/releases', { auth: 'trustee', body: 'json' }, async (ctx) => {
    q(ctx, queries.none);
    const body = b(ctx, bodies.release);
    const r = await access.submitRelease(trustee(ctx), body.release, body.bundle, body.batch);
    ctx.reply.status(r.created ? 201 : 200);
    return { index: r.index };
  });
  route(
    'GET',
    '/v1/access/requests/:requestId/releases/:trustee/:batch',
    { auth: 'requester', body: 'none' },
    async (ctx) => {
      q(ctx, queries.none);
      const x = p(ctx, params.release);
      const bundle = await access.bundle(requester(ctx), x.requestId, x.trustee, x.batch);
      return ctx.reply
        .type('application/octet-stream')
        .send(Buffer.from(bundle.buffer, bundle.byteOffset, bundle.byteLength));
    },
  );
  route('POST', '/v1/access/refusals', { auth: 'trustee', body: 'json' }, async (ctx) => {
    q(ctx, queries.none);
    const { refusal } = b(ctx, bodies.refusal);
    const r = await access.submitRefusal(trustee(ctx), refusal);
    ctx.reply.status(r.created ? 201 : 200);
    return { index: r.index };
  });

  // ── Trustee mailbox and epoch keys ──
  route('POST', '/v1/trustee/mail', { auth: 'trustee', body: 'json' }, async (ctx) => {
    q(ctx, queries.none);
    const { to, body } = b(ctx, bodies.mail);
    const seq = await access.sendMail(trustee(ctx), to, body);
    ctx.reply.status(201);
    return { seq };
  });
  route('GET', '/v1/trustee/mail', { auth: 'trustee', body: 'none' }, async (ctx) => {
    const { after, limit } = q(ctx, queries.page);
    const n = limit ?? 100;
    const list = await access.readMail(trustee(ctx), after ?? 0, n);
    const last = list[list.length - 1];
    return {
      messages: list.map((m) => ({ seq: m.seq, from: m.from, to: m.to, body: toBase64(m.body) })),
      next: list.length === n && last ? last.seq : null,
    };
  });
  route('POST', '/v1/trustee/epoch-keys', { auth: 'trustee', body: 'json' }, async (ctx) => {
    q(ctx, queries.none);
    const { statement } = b(ctx, bodies.statement);
    const r = await access.publishEpochKey(statement);
    ctx.reply.status(r.created ? 201 : 200);
    return epochKeyJson(r.record);
  });

  // ── Shred statements (after-release.md §6) ──
  registerShredRoutes(route, access.shreds);
  // ── After release: unseals and the public read (after-release.md §1) ──
  route('POST', '/v1/access/unseals', { auth: 'trustee', body: 'json' }, async (ctx) => {
    q(ctx, queries.none);
    const { unseal } = b(ctx, bodies.unseal);
    const r = await access.submitUnseal(trustee(ctx), unseal);
    ctx.reply.status(r.created ? 201 : 200);
    return { index: r.index };
  });
  route('GET', '/v1/access/unsealed', { auth: 'none', body: 'none' }, async (ctx) => {
    const { after, limit } = q(ctx, queries.page);
    const n = limit ?? 100;
    const list = await access.listUnsealed(after ?? -1, n);
    const last = list[list.length - 1];
    return {
      unsealed: list.map((u) => ({ requestId: toBase64Url(u.requestId), index: u.logIndex })),
      next: list.length === n && last ? last.logIndex : null,
    };
  });
  route('GET', '/v1/access/requests/:requestId/public', { auth: 'none', body: 'none' }, async (ctx) => {
    q(ctx, queries.none);
    const v = await access.publicView(p(ctx, params.request).requestId);
    return {
      request: { request: toBase64(v.request.signed), index: v.request.logIndex },
      unseal: { unseal: toBase64(v.unseal.signed), index: v.unseal.logIndex },
      decisions: v.decisions.map((d) => ({ decision: toBase64(d.body), index: d.logIndex })),
      ...(v.execution !== undefined
        ? { execution: { execution: toBase64(v.execution.signed), index: v.execution.logIndex } }
        : {}),
      releases: v.releases.map((r) => ({ release: toBase64(r.signed), index: r.logIndex })),
      refusals: v.refusals.map((r) => ({ refusal: toBase64(r.body), index: r.logIndex })),
      extensions: v.extensions.map((x) => ({ extension: toBase64(x.body), index: x.logIndex })),
    };
  });
  route('GET', '/v1/access/requests/:requestId/labels', { auth: 'none', body: 'none' }, async (ctx) => {
    const { requestId } = p(ctx, params.request);
    const { from, limit } = q(ctx, queries.labels);
    const page = await access.publicLabels(requestId, from ?? 0, limit ?? 1024);
    return {
      labels: page.labels.map((l) => ({ position: l.position, label: toBase64(l.label) })),
      next: page.next,
    };
  });

  // ── After release: extensions (after-release.md §2) ──
  route('POST', '/v1/access/extensions', { auth: 'requester', body: 'json' }, async (ctx) => {
    q(ctx, queries.none);
    const body = b(ctx, bodies.extension);
    const r = await access.proposeExtension(requester(ctx), body.requestId, body.newSealUntil, body.reason);
    ctx.reply.status(201);
    return { requestId: toBase64Url(r.requestId), number: r.number, statement: toBase64(r.statement) };
  });
  route('GET', '/v1/access/extensions', { auth: 'access', body: 'none' }, async (ctx) => {
    const { after, limit } = q(ctx, queries.page);
    const n = limit ?? 100;
    const list = await access.listExtensions(ctx.caller, after ?? 0, n);
    const last = list[list.length - 1];
    return {
      extensions: list.map((x) => ({
        seq: x.seq,
        requestId: toBase64Url(x.requestId),
        number: x.number,
        statement: toBase64(x.statement),
        reason: x.reason,
        signers: x.signatures.map((g) => g.trustee),
        index: x.logIndex,
      })),
      next: list.length === n && last ? last.seq : null,
    };
  });
  route('POST', '/v1/access/extensions/signatures', { auth: 'trustee', body: 'json' }, async (ctx) => {
    q(ctx, queries.none);
    const body = b(ctx, bodies.extensionSignature);
    const r = await access.signExtension(
      trustee(ctx),
      body.requestId,
      body.number,
      body.trustee,
      body.signature,
    );
    ctx.reply.status(r.created ? 201 : 200);
    return { signers: r.signers, ...(r.index !== null ? { index: r.index } : {}) };
  });
}
