/**
 * Request validation at the boundary (docs/spec/relay.md §2, RLY-1/RLY-2): every JSON body and every path or
 * query parameter is checked by a strict zod schema before a handler sees it. Unknown fields are refused (a
 * client that sends a field we ignore would believe it had an effect), binary fields are canonical base64 (core
 * bytes.ts), and every length is bounded. Failures become RELAY_INVALID_BODY / RELAY_INVALID_PARAMS whose detail
 * names the offending paths and rules, never the values.
 */
import { fromBase64, fromBase64Url, isOvertError, utf8Decode } from '@overt/core';
import { z } from 'zod';
import { isDeviceId, isUserId } from '../auth.js';
import { RelayError } from '../errors.js';
import { MAX_REPORT_REASON } from '../franking.js';
import { MAX_GROUP_ID_BYTES, MAX_KEY_PACKAGE_BYTES } from '../mls-framing.js';
import { MAX_BLOB_BYTES, MAX_BLOB_CHUNK, MIN_BLOB_CHUNK } from '../storage/storage.js';

/** Canonical padded base64 decoding to 1..max bytes (or exactly `exact`). */
export function base64(max: number, exact?: number) {
  return z
    .string()
    .max(Math.ceil(max / 3) * 4)
    .transform((s, ctx) => {
      try {
        const b = fromBase64(s);
        if (b.length === 0 || (exact !== undefined && b.length !== exact)) {
          ctx.addIssue({ code: 'custom', message: 'wrong length' });
          return z.NEVER;
        }
        return b;
      } catch (e) {
        if (!isOvertError(e)) throw e;
        ctx.addIssue({ code: 'custom', message: 'not canonical base64' });
        return z.NEVER;
      }
    });
}

/** Unpadded base64url (RFC 4648 §5) decoding, for ids in paths. */
export function base64url(max: number, exact?: number) {
  return z
    .string()
    .max(Math.ceil((max * 4) / 3))
    .transform((s, ctx) => {
      try {
        const b = fromBase64Url(s);
        if (b.length === 0 || (exact !== undefined && b.length !== exact)) {
          ctx.addIssue({ code: 'custom', message: 'wrong length' });
          return z.NEVER;
        }
        return b;
      } catch (e) {
        if (!isOvertError(e)) throw e;
        ctx.addIssue({ code: 'custom', message: 'not canonical base64url' });
        return z.NEVER;
      }
    });
}

export const deviceId = z.string().refine(isDeviceId, 'invalid device id');
export const userId = z.string().refine(isUserId, 'invalid user id');
const seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** A decimal query parameter. */
const decimal = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,15})$/)
  .transform(Number)
  .refine((n) => Number.isSafeInteger(n), 'out of range');

/** Catch-up pages (relay.md §6.9): at most this many items, and a byte budget within these bounds. */
export const MAX_CATCH_UP_ITEMS = 1000;
export const MIN_CATCH_UP_BYTES = 64 * 1024;
export const MAX_CATCH_UP_BYTES = 8 * 1024 * 1024;
export const DEFAULT_CATCH_UP_BYTES = 4 * 1024 * 1024;

/** Statements are small: ids, a key, a time, a signature; an epoch key lists up to 255 verification keys. */
const MAX_STATEMENT_BYTES = 32 * 1024;

export const bodies = {
  createUser: z.strictObject({ userId }),
  statement: z.strictObject({ statement: base64(MAX_STATEMENT_BYTES) }),
  retention: z.strictObject({ epoch: z.number().int().min(0).max(0xffffffff) }),
  publishKeyPackages: z
    .strictObject({
      keyPackages: z.array(base64(MAX_KEY_PACKAGE_BYTES)).max(100),
      /** The device's last-resort key package (relay.md DS-12), replacing its previous one. */
      lastResort: base64(MAX_KEY_PACKAGE_BYTES).optional(),
    })
    .refine((b) => b.keyPackages.length > 0 || b.lastResort !== undefined, 'no key package'),
  createGroup: z.strictObject({ groupId: base64url(MAX_GROUP_ID_BYTES) }),
  commit: z.strictObject({
    commit: base64(1 << 20),
    welcome: base64(1 << 20).optional(),
    removes: z.array(deviceId).max(1000).optional(),
  }),
  /** `messageId`: the envelope the message announces, linked to its mailbox items (relay.md §6.9, CU-1). */
  message: z.strictObject({ message: base64(1 << 20), messageId: base64url(16, 16).optional() }),
  ack: z.strictObject({ upTo: seq }),
  createBlob: z.strictObject({
    size: z.number().int().min(1).max(MAX_BLOB_BYTES),
    chunkSize: z.number().int().min(MIN_BLOB_CHUNK).max(MAX_BLOB_CHUNK),
    /** Absent: the digest is declared at completion instead (the streaming form). */
    sha256: base64(32, 32).optional(),
  }),
  completeBlob: z.strictObject({ sha256: base64(32, 32) }),
} as const;

export const params = {
  user: z.strictObject({ userId }),
  device: z.strictObject({ deviceId }),
  userDevice: z.strictObject({ userId, deviceId }),
  group: z.strictObject({ groupId: base64url(MAX_GROUP_ID_BYTES) }),
  envelope: z.strictObject({ messageId: base64url(16, 16) }),
  envelopeChunk: z.strictObject({ messageId: base64url(16, 16), index: decimal }),
  blobChunk: z.strictObject({ blobId: z.string().regex(/^[A-Za-z0-9_-]{22}$/), index: decimal }),
  blob: z.strictObject({ blobId: z.string().regex(/^[A-Za-z0-9_-]{22}$/) }),
  epoch: z.strictObject({ epoch: decimal }),
  report: z.strictObject({ reportId: decimal }),
} as const;

export const queries = {
  none: z.strictObject({}),
  mailbox: z.strictObject({ after: decimal.optional(), limit: decimal.optional() }),
  /** A catch-up page (relay.md §6.9): items per page and the page's byte budget, bounded. */
  catchUp: z.strictObject({
    after: decimal.optional(),
    limit: decimal.refine((n) => n >= 1 && n <= MAX_CATCH_UP_ITEMS, 'out of range').optional(),
    maxBytes: decimal
      .refine((n) => n >= MIN_CATCH_UP_BYTES && n <= MAX_CATCH_UP_BYTES, 'out of range')
      .optional(),
  }),
  commits: z.strictObject({ from: decimal.optional(), limit: decimal.optional() }),
  /** An abuse report's optional reason (relay.md §10): 1..500 characters, no control characters. */
  fileReport: z.strictObject({
    reason: z
      .string()
      .min(1)
      .max(MAX_REPORT_REASON)
      .refine(
        (t) =>
          [...t].every((ch) => {
            const c = ch.codePointAt(0)!;
            return c >= 0x20 && (c < 0x7f || c > 0x9f);
          }),
        'control character',
      )
      .optional(),
  }),
  reports: z.strictObject({ after: decimal.optional(), limit: decimal.optional() }),
  putEnvelope: z.strictObject({
    blob: z
      .string()
      .regex(/^[A-Za-z0-9_-]{22}$/)
      .optional(),
  }),
} as const;

function describe(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.code}`)
    .join('; ');
}

/** Validates a JSON body; RELAY_INVALID_BODY (RLY-2) with the paths and rules that failed. */
export function parseBody<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success)
    throw new RelayError('RELAY_INVALID_BODY', `invalid body: ${describe(r.error)}`, { check: 'RLY-2' });
  return r.data;
}

/** Validates path or query parameters; RELAY_INVALID_PARAMS (RLY-2). */
export function parseParams<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success)
    throw new RelayError('RELAY_INVALID_PARAMS', `invalid parameters: ${describe(r.error)}`, {
      check: 'RLY-2',
    });
  return r.data;
}

/**
 * Parses a JSON body strictly: UTF-8 without replacement (core utf8Decode) and JSON.parse. RELAY_MALFORMED_JSON
 * (RLY-1) otherwise.
 */
export function parseJson(raw: Uint8Array): unknown {
  try {
    return JSON.parse(utf8Decode(raw));
  } catch (cause) {
    throw new RelayError('RELAY_MALFORMED_JSON', 'the body is not valid JSON', { check: 'RLY-1', cause });
  }
}
