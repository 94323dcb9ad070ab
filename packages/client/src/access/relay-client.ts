/**
 * The HTTP client of the relay's accountable-access endpoints (docs/spec/access.md §4), for the trustee daemon and
 * the requester's tools. Browser-safe: the platform's `fetch` and @overt/core only. Every request is signed as
 * relay.md §3 says, by the caller's key of the policy in force (`trustee:<index>` or `requester:<id>`); every
 * answer is parsed strictly (unknown or missing fields, wrong types, bad base64 are RELAY_RESPONSE_MALFORMED).
 *
 * Errors are {@link ClientError}s: a problem+json answer is RELAY_REFUSED with the relay's `code` (e.g.
 * `ACCESS_RELEASE_CONFLICT`) in `relayCode`, its check ID in `check` and the HTTP status in `status`; a network
 * failure is RELAY_UNAVAILABLE. Nothing is retried here: the trustee daemon and the requester decide (every POST
 * is idempotent for the same bytes, so re-sending after RELAY_UNAVAILABLE is safe).
 *
 * The relay is not trusted: everything it serves is re-checked by the caller against the log (release rules).
 */
import {
  fromBase64,
  fromBase64Url,
  isOvertError,
  type SigningKeyPair,
  toBase64,
  toBase64Url,
  utf8Decode,
  utf8Encode,
} from '@overt/core';
import { ClientError } from '../errors.js';
import { type FetchLike, sendPlain, sendSigned } from '../transport/relay-transport.js';
import type { RequestSigner } from '../transport/signing.js';

/** The fetch the access client uses: the platform's `fetch` fits, as does `httpFetch` (@overt/client/node). */
export type AccessFetch = FetchLike;

/** Who calls: a trustee of the policy in force (by index) or a requester (by id), with its signing key. */
export type AccessSigner =
  | { readonly kind: 'trustee'; readonly index: number; readonly key: SigningKeyPair }
  | { readonly kind: 'requester'; readonly id: string; readonly key: SigningKeyPair };

export interface AccessRelayClientOptions {
  /** The relay's base URL, e.g. `http://127.0.0.1:8420` (no trailing slash). */
  readonly url: string;
  readonly signer: AccessSigner;
  /** Default: the global fetch. */
  readonly fetch?: AccessFetch;
  /** The signing clock (ms since the Unix epoch); default Date.now. */
  readonly now?: () => number;
}

export type AccessRequestStatus = 'pending' | 'executed' | 'denied' | 'over-limit';

export interface TrusteeMailMessage {
  readonly seq: number;
  readonly from: number;
  /** The addressee, 0 for every trustee. */
  readonly to: number;
  readonly body: Uint8Array;
}

/** A page: `next` is the cursor to pass as `after` (or `from`) for the following page, null at the end. */
export interface Page<T> {
  readonly items: readonly T[];
  readonly next: number | null;
}

export interface EpochKeyAnswer {
  readonly epoch: number;
  readonly threshold: number;
  readonly groupKey: Uint8Array;
  readonly verificationKeys: readonly Uint8Array[];
  readonly transcriptHash: Uint8Array;
  readonly statement: Uint8Array;
  readonly logIndex: number;
  readonly publishedAt: number;
  /** False when the same statement was published before (idempotent repeat, 200). */
  readonly created: boolean;
}

export interface RequestSummary {
  readonly requestId: Uint8Array;
  readonly index: number;
  readonly status: AccessRequestStatus;
}

/** What the relay recorded about one request (a convenience: callers re-derive everything from the log). */
export interface RequestView {
  readonly request: Uint8Array;
  readonly index: number;
  readonly status: AccessRequestStatus;
  readonly decisions: readonly { readonly decision: Uint8Array; readonly index: number }[];
  readonly execution?: { readonly execution: Uint8Array; readonly index: number };
  /** A standing order's batch executions (after-release.md §8.3), by number; absent for a request. */
  readonly batches?: readonly OrderBatch[];
  readonly releases: readonly {
    readonly trustee: number;
    readonly batch: number;
    readonly release: Uint8Array;
    readonly index: number;
  }[];
  readonly refusals: readonly { readonly refusal: Uint8Array; readonly index: number }[];
}

/** One batch execution of a standing order, as the relay lists it (after-release.md §8.3). */
export interface OrderBatch {
  readonly batch: number;
  readonly execution: Uint8Array;
  readonly index: number;
  readonly envelopeCount: number;
}

function orderBatches(v: Json | undefined): { batches?: OrderBatch[] } {
  if (v === undefined) return {};
  return {
    batches: arr(v, 'batches').map((b, i) => {
      const x = obj(b, `batches[${i}]`, ['batch', 'execution', 'index', 'envelopeCount']);
      return {
        batch: int(x.batch, 'batch'),
        execution: b64(x.execution, 'execution'),
        index: int(x.index, 'index'),
        envelopeCount: int(x.envelopeCount, 'envelopeCount'),
      };
    }),
  };
}

export interface ExecutedEnvelope {
  readonly position: number;
  readonly label: Uint8Array;
  readonly messageId: Uint8Array;
  /** u32 len ‖ header ‖ capsule ‖ sender signature (envelope.md §3; core decodeEnvelopeHead). */
  readonly head: Uint8Array;
}

/** The answer to a POST: its log index, and whether it was new (201) or an idempotent repeat (200). */
export interface Logged {
  readonly index: number;
  readonly created: boolean;
}

/** A requester's extension proposal as the relay stores it (after-release.md §2). */
export interface ExtensionProposal {
  readonly seq: number;
  readonly requestId: Uint8Array;
  readonly number: number;
  /** The encoded statement the trustees sign (decode with core's decodeExtensionStatement; check it yourself). */
  readonly statement: Uint8Array;
  readonly reason: string;
  /** The trustees that signed so far, in increasing order. */
  readonly signers: readonly number[];
  /** The log index of the assembled extension, null until logged. */
  readonly index: number | null;
}

/** Everything logged about an unsealed request, as the relay serves it publicly (after-release.md §1). */
export interface PublicRequestView {
  readonly request: { readonly request: Uint8Array; readonly index: number };
  readonly unseal: { readonly unseal: Uint8Array; readonly index: number };
  readonly decisions: readonly { readonly decision: Uint8Array; readonly index: number }[];
  readonly execution?: { readonly execution: Uint8Array; readonly index: number };
  readonly releases: readonly { readonly release: Uint8Array; readonly index: number }[];
  readonly refusals: readonly { readonly refusal: Uint8Array; readonly index: number }[];
  readonly extensions: readonly { readonly extension: Uint8Array; readonly index: number }[];
}

type Json = unknown;

function malformed(what: string, cause?: unknown): never {
  throw new ClientError('RELAY_RESPONSE_MALFORMED', `relay response: ${what}`, { cause });
}

/** An object with exactly the `required` keys and possibly some of `optional`. */
function obj(
  v: Json,
  what: string,
  required: readonly string[],
  optional: readonly string[] = [],
): Record<string, Json> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) malformed(`${what} is not an object`);
  const o = v as Record<string, Json>;
  for (const k of required) if (!(k in o)) malformed(`${what}.${k} is missing`);
  for (const k of Object.keys(o))
    if (!required.includes(k) && !optional.includes(k)) malformed(`${what}.${k} is not expected`);
  return o;
}

function int(v: Json, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) malformed(`${what} is not a count`);
  return v;
}

function intOrNull(v: Json, what: string): number | null {
  return v === null ? null : int(v, what);
}

function bytes(v: Json, what: string, decode: (s: string) => Uint8Array, length?: number): Uint8Array {
  if (typeof v !== 'string') malformed(`${what} is not a string`);
  let b: Uint8Array;
  try {
    b = decode(v);
  } catch (e) {
    if (isOvertError(e)) malformed(`${what} is not canonical base64`, e);
    throw e;
  }
  if (length !== undefined && b.length !== length) malformed(`${what} has the wrong length`);
  return b;
}

const b64 = (v: Json, what: string, length?: number) => bytes(v, what, fromBase64, length);
const b64u = (v: Json, what: string, length?: number) => bytes(v, what, fromBase64Url, length);

function arr(v: Json, what: string): Json[] {
  if (!Array.isArray(v)) malformed(`${what} is not a list`);
  return v;
}

const STATUSES: readonly AccessRequestStatus[] = ['pending', 'executed', 'denied', 'over-limit'];

function status(v: Json, what: string): AccessRequestStatus {
  const s = STATUSES.find((x) => x === v);
  if (s === undefined) malformed(`${what} is not a status`);
  return s;
}

function requestPath(requestId: Uint8Array): string {
  if (requestId.length !== 16) throw new ClientError('SDK_USAGE', 'a request id is 16 bytes');
  return `/v1/access/requests/${toBase64Url(requestId)}`;
}

function query(params: Record<string, number | undefined>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v < 0)
      throw new ClientError('SDK_USAGE', `${k} must be a non-negative integer`);
    parts.push(`${k}=${v}`);
  }
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
}

interface Answer {
  readonly status: number;
  readonly json: Json;
  readonly bytes: Uint8Array;
}

function jsonAnswer(status: number, type: string, raw: Uint8Array): Answer {
  if (!type.startsWith('application/json')) malformed('not application/json');
  try {
    return { status, json: JSON.parse(utf8Decode(raw)) as Json, bytes: raw };
  } catch (cause) {
    return malformed('body is not JSON', cause);
  }
}

function entryList<K extends string>(
  v: Json,
  what: string,
  key: K,
): ({ [P in K]: Uint8Array } & { index: number })[] {
  return arr(v, what).map((e, i) => {
    const x = obj(e, `${what}[${i}]`, [key, 'index']);
    return { [key]: b64(x[key], key), index: int(x.index, 'index') } as { [P in K]: Uint8Array } & {
      index: number;
    };
  });
}

/**
 * The relay's public reads after unseal (after-release.md §1): no signature, no key. The relay is not trusted:
 * the caller checks every entry against its own verified log view and the labels against the execution.
 */
export class AccessPublicClient {
  private readonly fetchFn: AccessFetch;

  constructor(readonly options: { readonly url: string; readonly fetch?: AccessFetch }) {
    this.fetchFn = options.fetch ?? ((url, init) => fetch(url, init));
  }

  private async get(target: string): Promise<Answer> {
    const r = await sendPlain(this.fetchFn, {
      url: this.options.url,
      method: 'GET',
      target,
      headers: {},
      body: undefined,
    });
    return jsonAnswer(r.status, r.type, r.payload);
  }

  /** Requests with a logged unseal, in log order of the unseal; `after` is an unseal's log index. */
  async listUnsealed(
    after?: number,
    limit?: number,
  ): Promise<Page<{ readonly requestId: Uint8Array; readonly index: number }>> {
    const a = await this.get(`/v1/access/unsealed${query({ after, limit })}`);
    const o = obj(a.json, 'answer', ['unsealed', 'next']);
    return {
      items: arr(o.unsealed, 'unsealed').map((u, i) => {
        const x = obj(u, `unsealed[${i}]`, ['requestId', 'index']);
        return { requestId: b64u(x.requestId, 'requestId', 16), index: int(x.index, 'index') };
      }),
      next: intOrNull(o.next, 'next'),
    };
  }

  /** Every logged entry of an unsealed request (RELAY_REFUSED ACCESS_NOT_UNSEALED before its unseal). */
  async publicRequest(requestId: Uint8Array): Promise<PublicRequestView> {
    const a = await this.get(`${requestPath(requestId)}/public`);
    const o = obj(
      a.json,
      'answer',
      ['request', 'unseal', 'decisions', 'releases', 'refusals', 'extensions'],
      ['execution'],
    );
    const request = obj(o.request, 'request', ['request', 'index']);
    const unseal = obj(o.unseal, 'unseal', ['unseal', 'index']);
    const execution =
      o.execution === undefined ? undefined : obj(o.execution, 'execution', ['execution', 'index']);
    return {
      request: { request: b64(request.request, 'request'), index: int(request.index, 'index') },
      unseal: { unseal: b64(unseal.unseal, 'unseal'), index: int(unseal.index, 'index') },
      decisions: entryList(o.decisions, 'decisions', 'decision'),
      ...(execution !== undefined
        ? {
            execution: {
              execution: b64(execution.execution, 'execution'),
              index: int(execution.index, 'index'),
            },
          }
        : {}),
      releases: entryList(o.releases, 'releases', 'release'),
      refusals: entryList(o.refusals, 'refusals', 'refusal'),
      extensions: entryList(o.extensions, 'extensions', 'extension'),
    };
  }

  /** A page of an unsealed request's execution labels in position order (limit 1..4096). */
  async publicLabels(
    requestId: Uint8Array,
    from?: number,
    limit?: number,
  ): Promise<Page<{ readonly position: number; readonly label: Uint8Array }>> {
    const a = await this.get(`${requestPath(requestId)}/labels${query({ from, limit })}`);
    const o = obj(a.json, 'answer', ['labels', 'next']);
    return {
      items: arr(o.labels, 'labels').map((l, i) => {
        const x = obj(l, `labels[${i}]`, ['position', 'label']);
        return { position: int(x.position, 'position'), label: b64(x.label, 'label', 32) };
      }),
      next: intOrNull(o.next, 'next'),
    };
  }
}

export class AccessRelayClient {
  private readonly fetchFn: AccessFetch;
  private readonly now: () => number;
  private readonly signer: RequestSigner;

  constructor(readonly options: AccessRelayClientOptions) {
    this.fetchFn = options.fetch ?? ((url, init) => fetch(url, init));
    this.now = options.now ?? Date.now;
    const s = options.signer;
    this.signer =
      s.kind === 'trustee' ? { kind: 'trustee', index: s.index } : { kind: 'requester', requesterId: s.id };
  }

  /** Signs and sends one request; resolves the status and the body (parsed as JSON unless `binary`). */
  private async call(method: 'GET' | 'POST', target: string, body?: Json, binary = false): Promise<Answer> {
    const payload = body === undefined ? new Uint8Array(0) : utf8Encode(JSON.stringify(body));
    const {
      status,
      type,
      payload: raw,
    } = await sendSigned(this.fetchFn, {
      url: this.options.url,
      key: this.options.signer.key,
      signer: this.signer,
      method,
      target,
      headers: body !== undefined ? { 'content-type': 'application/json' } : {},
      body: body !== undefined ? payload : undefined,
      now: this.now(),
    });
    if (binary) {
      if (!type.startsWith('application/octet-stream')) malformed('not application/octet-stream');
      return { status, json: undefined, bytes: raw };
    }
    return jsonAnswer(status, type, raw);
  }

  private logged(a: Answer, extra: readonly string[] = []): Logged & { o: Record<string, Json> } {
    const o = obj(a.json, 'answer', ['index'], extra);
    return { index: int(o.index, 'index'), created: a.status === 201, o };
  }

  // ── Trustee mailbox and epoch keys (trustee) ──

  /** Sends `body` to trustee `to` (0 = every trustee); resolves its seq. Bodies up to 256 KiB. */
  async sendMail(to: number, body: Uint8Array): Promise<number> {
    const a = await this.call('POST', '/v1/trustee/mail', { to, body: toBase64(body) });
    return int(obj(a.json, 'answer', ['seq']).seq, 'seq');
  }

  /** Messages to this trustee or to every trustee with seq > `after`, in order. */
  async readMail(after?: number, limit?: number): Promise<Page<TrusteeMailMessage>> {
    const a = await this.call('GET', `/v1/trustee/mail${query({ after, limit })}`);
    const o = obj(a.json, 'answer', ['messages', 'next']);
    return {
      items: arr(o.messages, 'messages').map((m, i) => {
        const x = obj(m, `messages[${i}]`, ['seq', 'from', 'to', 'body']);
        return {
          seq: int(x.seq, 'seq'),
          from: int(x.from, 'from'),
          to: int(x.to, 'to'),
          body: b64(x.body, 'body'),
        };
      }),
      next: intOrNull(o.next, 'next'),
    };
  }

  /** Publishes an epoch-key statement signed by ≥ k trustees (checked as AUTH-11); idempotent. */
  async publishEpochKey(statement: Uint8Array): Promise<EpochKeyAnswer> {
    const a = await this.call('POST', '/v1/trustee/epoch-keys', { statement: toBase64(statement) });
    const o = obj(a.json, 'answer', [
      'epoch',
      'threshold',
      'groupKey',
      'verificationKeys',
      'transcriptHash',
      'statement',
      'logIndex',
      'publishedAt',
    ]);
    return {
      epoch: int(o.epoch, 'epoch'),
      threshold: int(o.threshold, 'threshold'),
      groupKey: b64(o.groupKey, 'groupKey', 32),
      verificationKeys: arr(o.verificationKeys, 'verificationKeys').map((k) =>
        b64(k, 'verificationKeys', 32),
      ),
      transcriptHash: b64(o.transcriptHash, 'transcriptHash', 32),
      statement: b64(o.statement, 'statement'),
      logIndex: int(o.logIndex, 'logIndex'),
      publishedAt: int(o.publishedAt, 'publishedAt'),
      created: a.status === 201,
    };
  }

  // ── Requests ──

  /**
   * Files a signed request with one sealed part per trustee of the policy (requester), and `relaySealed`, the part
   * sealed to the relay's unseal key, when given (after-release.md §1). Idempotent.
   */
  async fileRequest(
    request: Uint8Array,
    sealed: readonly { readonly trustee: number; readonly sealed: Uint8Array }[],
    relaySealed?: Uint8Array,
  ): Promise<Logged & { requestId: Uint8Array }> {
    const a = await this.call('POST', '/v1/access/requests', {
      request: toBase64(request),
      sealed: sealed.map((s) => ({ trustee: s.trustee, sealed: toBase64(s.sealed) })),
      ...(relaySealed !== undefined ? { relaySealed: toBase64(relaySealed) } : {}),
    });
    const r = this.logged(a, ['requestId']);
    if (!('requestId' in r.o)) malformed('answer.requestId is missing');
    return { index: r.index, created: r.created, requestId: b64u(r.o.requestId, 'requestId', 16) };
  }

  /** Requests with log index > `after`, in log order (a requester sees its own only). */
  async listRequests(after?: number, limit?: number): Promise<Page<RequestSummary>> {
    const a = await this.call('GET', `/v1/access/requests${query({ after, limit })}`);
    const o = obj(a.json, 'answer', ['requests', 'next']);
    return {
      items: arr(o.requests, 'requests').map((r, i) => {
        const x = obj(r, `requests[${i}]`, ['requestId', 'index', 'status']);
        return {
          requestId: b64u(x.requestId, 'requestId', 16),
          index: int(x.index, 'index'),
          status: status(x.status, 'status'),
        };
      }),
      next: intOrNull(o.next, 'next'),
    };
  }

  async getRequest(requestId: Uint8Array): Promise<RequestView> {
    const a = await this.call('GET', requestPath(requestId));
    const o = obj(
      a.json,
      'answer',
      ['request', 'index', 'status', 'decisions', 'releases', 'refusals'],
      ['execution', 'batches'],
    );
    const execution =
      o.execution === undefined ? undefined : obj(o.execution, 'execution', ['execution', 'index']);
    return {
      request: b64(o.request, 'request'),
      index: int(o.index, 'index'),
      status: status(o.status, 'status'),
      decisions: arr(o.decisions, 'decisions').map((d, i) => {
        const x = obj(d, `decisions[${i}]`, ['decision', 'index']);
        return { decision: b64(x.decision, 'decision'), index: int(x.index, 'index') };
      }),
      ...(execution !== undefined
        ? {
            execution: {
              execution: b64(execution.execution, 'execution'),
              index: int(execution.index, 'index'),
            },
          }
        : {}),
      ...orderBatches(o.batches),
      releases: arr(o.releases, 'releases').map((r, i) => {
        const x = obj(r, `releases[${i}]`, ['trustee', 'batch', 'release', 'index']);
        return {
          trustee: int(x.trustee, 'trustee'),
          batch: int(x.batch, 'batch'),
          release: b64(x.release, 'release'),
          index: int(x.index, 'index'),
        };
      }),
      refusals: arr(o.refusals, 'refusals').map((r, i) => {
        const x = obj(r, `refusals[${i}]`, ['refusal', 'index']);
        return { refusal: b64(x.refusal, 'refusal'), index: int(x.index, 'index') };
      }),
    };
  }

  /** This trustee's sealed confidential part of the request (access.md §2). */
  async sealedPart(requestId: Uint8Array): Promise<Uint8Array> {
    const a = await this.call('GET', `${requestPath(requestId)}/sealed`);
    return b64(obj(a.json, 'answer', ['sealed']).sealed, 'sealed');
  }

  // ── Decisions ──

  /** Logs this trustee's signed decision; `execution` when the relay executed the request on it. */
  async submitDecision(decision: Uint8Array): Promise<Logged & { execution?: { index: number } }> {
    const a = await this.call('POST', '/v1/access/decisions', { decision: toBase64(decision) });
    const r = this.logged(a, ['execution']);
    const x = r.o.execution === undefined ? undefined : obj(r.o.execution, 'execution', ['index']);
    return {
      index: r.index,
      created: r.created,
      ...(x !== undefined ? { execution: { index: int(x.index, 'execution.index') } } : {}),
    };
  }

  // ── Executed envelopes ──

  /** A page of the execution's envelopes from position `from` on (limit ≤ 4096). */
  async envelopes(requestId: Uint8Array, from?: number, limit?: number): Promise<Page<ExecutedEnvelope>> {
    const a = await this.call('GET', `${requestPath(requestId)}/envelopes${query({ from, limit })}`);
    const o = obj(a.json, 'answer', ['envelopes', 'next']);
    return {
      items: arr(o.envelopes, 'envelopes').map((e, i) => {
        const x = obj(e, `envelopes[${i}]`, ['position', 'label', 'messageId', 'head']);
        return {
          position: int(x.position, 'position'),
          label: b64(x.label, 'label', 32),
          messageId: b64u(x.messageId, 'messageId', 16),
          head: b64(x.head, 'head'),
        };
      }),
      next: intOrNull(o.next, 'next'),
    };
  }

  /** The ciphertext of the executed envelope at `position` (requester). */
  async ciphertext(requestId: Uint8Array, position: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(position) || position < 0) throw new ClientError('SDK_USAGE', 'bad position');
    return (
      await this.call('GET', `${requestPath(requestId)}/envelopes/${position}/ciphertext`, undefined, true)
    ).bytes;
  }

  /** The log index of a device's `device_added` entry, and of its removal when logged. */
  async device(deviceId: string): Promise<{ index: number; removedIndex?: number }> {
    const a = await this.call('GET', `/v1/access/devices/${encodeURIComponent(deviceId)}`);
    const o = obj(a.json, 'answer', ['index'], ['removedIndex']);
    return {
      index: int(o.index, 'index'),
      ...(o.removedIndex !== undefined ? { removedIndex: int(o.removedIndex, 'removedIndex') } : {}),
    };
  }

  // ── Releases and refusals ──

  /** Logs this trustee's release of `batch` and stores its sealed bundle. Same bytes again: `created` false. */
  async submitRelease(release: Uint8Array, bundle: Uint8Array, batch: number): Promise<Logged> {
    const a = await this.call('POST', '/v1/access/releases', {
      release: toBase64(release),
      bundle: toBase64(bundle),
      batch,
    });
    const r = this.logged(a);
    return { index: r.index, created: r.created };
  }

  /** The sealed share bundle of (trustee, batch) (requester). */
  async releaseBundle(requestId: Uint8Array, trustee: number, batch: number): Promise<Uint8Array> {
    return (await this.call('GET', `${requestPath(requestId)}/releases/${trustee}/${batch}`, undefined, true))
      .bytes;
  }

  /** Logs this trustee's signed refusal. */
  async submitRefusal(refusal: Uint8Array): Promise<Logged> {
    const a = await this.call('POST', '/v1/access/refusals', { refusal: toBase64(refusal) });
    const r = this.logged(a);
    return { index: r.index, created: r.created };
  }

  // ── Shred statements (trustee; after-release.md §6) ──

  /**
   * Logs this trustee's signed shred statement (`POST /v1/trustee/shreds`). `shredded`: n − k + 1 trustees of the
   * policy in force have now logged a shred of the epoch (the relay deleted its envelopes). Same bytes again:
   * `created` false; other bytes for the same epoch: RELAY_REFUSED with `ACCESS_SHRED_EXISTS`.
   */
  async submitShred(shred: Uint8Array): Promise<Logged & { readonly shredded: boolean }> {
    const a = await this.call('POST', '/v1/trustee/shreds', { shred: toBase64(shred) });
    const r = this.logged(a, ['shredded']);
    if (typeof r.o.shredded !== 'boolean') malformed('shredded is not a boolean');
    return { index: r.index, created: r.created, shredded: r.o.shredded };
  }

  // ── After release (after-release.md §1, §2) ──

  /** The public reads (no signature), on the same relay. */
  get public(): AccessPublicClient {
    return new AccessPublicClient({ url: this.options.url, fetch: this.fetchFn });
  }

  /** Logs this trustee's signed unseal (after-release.md §1). The same bytes again: `created` false. */
  async submitUnseal(unseal: Uint8Array): Promise<Logged> {
    const a = await this.call('POST', '/v1/access/unseals', { unseal: toBase64(unseal) });
    const r = this.logged(a);
    return { index: r.index, created: r.created };
  }

  /** Proposes pushing the request's seal back to `newSealUntil` (requester); resolves the statement to sign. */
  async proposeExtension(
    requestId: Uint8Array,
    newSealUntil: number,
    reason: string,
  ): Promise<{ requestId: Uint8Array; number: number; statement: Uint8Array }> {
    if (requestId.length !== 16) throw new ClientError('SDK_USAGE', 'a request id is 16 bytes');
    const a = await this.call('POST', '/v1/access/extensions', {
      requestId: toBase64Url(requestId),
      newSealUntil,
      reason,
    });
    const o = obj(a.json, 'answer', ['requestId', 'number', 'statement']);
    return {
      requestId: b64u(o.requestId, 'requestId', 16),
      number: int(o.number, 'number'),
      statement: b64(o.statement, 'statement'),
    };
  }

  /** Extension proposals with seq > `after` (a requester sees its own; a trustee every one). */
  async listExtensions(after?: number, limit?: number): Promise<Page<ExtensionProposal>> {
    const a = await this.call('GET', `/v1/access/extensions${query({ after, limit })}`);
    const o = obj(a.json, 'answer', ['extensions', 'next']);
    return {
      items: arr(o.extensions, 'extensions').map((e, i) => {
        const x = obj(e, `extensions[${i}]`, [
          'seq',
          'requestId',
          'number',
          'statement',
          'reason',
          'signers',
          'index',
        ]);
        if (typeof x.reason !== 'string') malformed('reason is not a string');
        return {
          seq: int(x.seq, 'seq'),
          requestId: b64u(x.requestId, 'requestId', 16),
          number: int(x.number, 'number'),
          statement: b64(x.statement, 'statement'),
          reason: x.reason,
          signers: arr(x.signers, 'signers').map((n) => int(n, 'signers')),
          index: intOrNull(x.index, 'index'),
        };
      }),
      next: intOrNull(o.next, 'next'),
    };
  }

  /**
   * This trustee's signature on proposal (request, number); `index` once ≥ k signatures made the relay log the
   * extension.
   */
  async signExtension(
    requestId: Uint8Array,
    number: number,
    signature: Uint8Array,
  ): Promise<{ signers: number; index?: number; created: boolean }> {
    const s = this.options.signer;
    if (s.kind !== 'trustee') throw new ClientError('SDK_USAGE', 'only a trustee signs extensions');
    if (requestId.length !== 16) throw new ClientError('SDK_USAGE', 'a request id is 16 bytes');
    const a = await this.call('POST', '/v1/access/extensions/signatures', {
      requestId: toBase64Url(requestId),
      number,
      trustee: s.index,
      signature: toBase64(signature),
    });
    const o = obj(a.json, 'answer', ['signers'], ['index']);
    return {
      signers: int(o.signers, 'signers'),
      ...(o.index !== undefined ? { index: int(o.index, 'index') } : {}),
      created: a.status === 201,
    };
  }
}
