/**
 * The client's transport to the relay (docs/spec/client.md §2): every endpoint of docs/spec/relay.md §2.2 as a
 * typed method over the platform's `fetch`, each request signed (relay.md §3), each response checked for the
 * shape the spec gives it. The relay is not trusted for content: everything it returns is re-checked by MLS and
 * the envelope layer; the shape checks here only turn a broken or hostile response into our own error.
 *
 * A problem+json answer (RFC 9457) becomes `ClientError('RELAY_REFUSED')` carrying the relay's `code`, `check`
 * and HTTP status; a network failure becomes RELAY_UNAVAILABLE; an ill-shaped body RELAY_RESPONSE_MALFORMED.
 *
 * Retries (client.md §2.1): a request the relay pushed back (429 rate limited, 503 busy) is sent again after an
 * exponential backoff with full jitter, at least the `Retry-After` the relay names, within a total time bound;
 * so is an idempotent request (GET, PUT, the mailbox ack) that failed in transit or with another 5xx. A
 * non-idempotent POST whose outcome is unknown (network error, other 5xx) is not repeated: the caller settles it.
 */
import {
  concatBytes,
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
import { type RequestSigner, signRelayRequest } from './signing.js';

/** What the transport passes to its `fetch`: the platform's `fetch` takes it as a `RequestInit`. */
export interface FetchInit {
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body?: Uint8Array<ArrayBuffer>;
}

/** What the transport reads of a `fetch` response: the platform's `Response` is one. */
export interface FetchResponse {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  arrayBuffer(): Promise<ArrayBuffer>;
}

/**
 * The `fetch` the transport uses (the global one by default; inject for tests or other runtimes, e.g.
 * `httpFetch` of `@overt/client/node`, which starts faster on Node).
 */
export type FetchLike = (url: string, init: FetchInit) => Promise<FetchResponse>;

export interface TransportOptions {
  /** The relay's base URL, e.g. `https://relay.example.org` (no trailing slash). */
  readonly url: string;
  readonly key: SigningKeyPair;
  readonly signer: RequestSigner;
  readonly fetch?: FetchLike;
  /** Clock in ms (default Date.now), for the signed timestamp. */
  readonly now?: () => number;
  /** How requests are retried (default {@link DEFAULT_RETRY}; {@link NO_RETRY} sends each once). */
  readonly retry?: RetryPolicy;
}

/** Bounds of the transport's retries (client.md §2.1). */
export interface RetryPolicy {
  /** No retry is started once this much time (ms) has passed since the first attempt, nor one that would wait past it. */
  readonly maxTotalMs: number;
  /** The first backoff ceiling (ms); it doubles with every retry. */
  readonly baseDelayMs: number;
  /** The largest backoff ceiling (ms), and the largest `Retry-After` honoured. */
  readonly maxDelayMs: number;
}

/** 30 s in all; backoff ceilings 200 ms, 400 ms, … up to 5 s (the relay's burst refills in seconds, relay.md §5). */
export const DEFAULT_RETRY: RetryPolicy = { maxTotalMs: 30_000, baseDelayMs: 200, maxDelayMs: 5_000 };
/** Every request is sent once. */
export const NO_RETRY: RetryPolicy = { maxTotalMs: 0, baseDelayMs: 0, maxDelayMs: 0 };

/** The relay's `Retry-After` in ms (delta-seconds or an HTTP date), or undefined. */
export function retryAfterMs(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^[0-9]{1,9}$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Whether a failed attempt may be sent again (see the module comment). */
function retryable(e: ClientError, method: string, target: string): boolean {
  if (e.code === 'RELAY_REFUSED' && (e.status === 429 || e.status === 503)) return true;
  const idempotent = method !== 'POST' || target === '/v1/mailbox/ack';
  if (!idempotent) return false;
  return e.code === 'RELAY_UNAVAILABLE' || (e.code === 'RELAY_REFUSED' && (e.status ?? 0) >= 500);
}

/** A device as the directory lists it (relay.md §2.2 "Device"). */
export interface DirectoryDevice {
  readonly deviceId: string;
  readonly userId: string;
  readonly identityKey: Uint8Array;
  readonly status: 'active' | 'removed';
  readonly enrolLogIndex: number | null;
}

/** A published epoch key (relay.md §2.2 "EpochKey"), as served; the statement is on the log. */
export interface EpochKeyInfo {
  readonly epoch: number;
  readonly groupKey: Uint8Array;
  readonly logIndex: number;
}

/** A mailbox item (relay.md §6.6). */
export interface MailboxItem {
  readonly seq: number;
  readonly kind: 'commit' | 'welcome' | 'message';
  readonly groupId: Uint8Array;
  readonly epoch: number;
  readonly sender: string;
  readonly data: Uint8Array;
  /**
   * The envelope of a message sent on the relay's WebSocket path (relay.md §6.8), inline so that opening it
   * needs no GET: head ‖ ciphertext, its message id, and the relay's franking stamp when it serves one.
   */
  readonly inline?: {
    readonly messageId: Uint8Array;
    readonly envelope: Uint8Array;
    readonly stamp?: Uint8Array;
  };
}

/** An envelope as served (relay.md §2.2 "Envelope"): the head, and the ciphertext inline or as blob chunks. */
export interface ServedEnvelope {
  readonly messageId: Uint8Array;
  readonly epoch: number;
  readonly head: Uint8Array;
  readonly ciphertext: Uint8Array | undefined;
  readonly blob: { readonly size: number; readonly chunkSize: number; readonly chunks: number } | undefined;
  /** The relay's franking stamp (relay.md §10.1), when it serves one; checked by the caller (FRK-5). */
  readonly stamp: Uint8Array | undefined;
}

/**
 * A catch-up item (relay.md §6.9): a mailbox item with the envelope its message announced, when the relay linked
 * one and this device may read it (RLY-9). An inline envelope is also given as `inline`, the form the receive path
 * takes from a pushed item; a blob-backed one comes head-only with its blob's geometry (fetch the chunks).
 */
export interface CatchUpItem extends MailboxItem {
  readonly envelope?: ServedEnvelope;
}

/** One catch-up page: items in seq order, and whether more wait beyond the last one. */
export interface CatchUpPage {
  readonly items: CatchUpItem[];
  readonly more: boolean;
}

/** The relay's answer to a filed abuse report (relay.md §10.2). */
export interface FiledReport {
  readonly reportId: number;
  readonly result: 'stored' | 'duplicate';
  readonly messageId: Uint8Array;
  readonly senderUserId: string;
  readonly stampTime: number;
}

/** A stored report as the org-admin lists it (relay.md §10.2 "ReportSummary"). */
export interface ReportSummary {
  readonly reportId: number;
  readonly messageId: Uint8Array;
  readonly reporterUserId: string;
  readonly reporterDeviceId: string;
  readonly senderUserId: string;
  readonly senderDeviceId: string;
  readonly conversationId: Uint8Array;
  readonly sendTime: number;
  readonly stampTime: number;
  readonly reason: string | null;
  readonly receivedAt: number;
}

/** One report read by the org-admin: the summary, the reported plaintext, and the report bytes as filed. */
export interface ReportDetail extends ReportSummary {
  readonly contentType: string;
  readonly plaintext: Uint8Array;
  readonly report: Uint8Array;
}

// biome-ignore lint/suspicious/noExplicitAny: JSON from the network is checked field by field below
type Json = any;

function malformed(what: string, cause?: unknown): never {
  throw new ClientError('RELAY_RESPONSE_MALFORMED', `relay response: ${what}`, { cause });
}

function int(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) malformed(`${what} is not a count`);
  return v;
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') malformed(`${what} is not a string`);
  return v;
}

function b64(v: unknown, what: string): Uint8Array {
  try {
    return fromBase64(str(v, what));
  } catch (e) {
    if (isOvertError(e)) malformed(`${what} is not base64`, e);
    throw e;
  }
}

function b64u(v: unknown, what: string): Uint8Array {
  try {
    return fromBase64Url(str(v, what));
  } catch (e) {
    if (isOvertError(e)) malformed(`${what} is not base64url`, e);
    throw e;
  }
}

function arr(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) malformed(`${what} is not an array`);
  return v;
}

function device(d: Json): DirectoryDevice {
  if (d === null || typeof d !== 'object') malformed('device is not an object');
  const status = d.status;
  if (status !== 'active' && status !== 'removed') malformed('device status');
  return {
    deviceId: str(d.deviceId, 'deviceId'),
    userId: str(d.userId, 'userId'),
    identityKey: b64(d.identityKey, 'identityKey'),
    status,
    enrolLogIndex: d.enrolLogIndex === null ? null : int(d.enrolLogIndex, 'enrolLogIndex'),
  };
}

function reportSummary(r: Json): ReportSummary {
  if (r === null || typeof r !== 'object') malformed('report is not an object');
  return {
    reportId: int(r.reportId, 'reportId'),
    messageId: b64u(r.messageId, 'messageId'),
    reporterUserId: str(r.reporterUserId, 'reporterUserId'),
    reporterDeviceId: str(r.reporterDeviceId, 'reporterDeviceId'),
    senderUserId: str(r.senderUserId, 'senderUserId'),
    senderDeviceId: str(r.senderDeviceId, 'senderDeviceId'),
    conversationId: b64u(r.conversationId, 'conversationId'),
    sendTime: int(r.sendTime, 'sendTime'),
    stampTime: int(r.stampTime, 'stampTime'),
    reason: r.reason === null ? null : str(r.reason, 'reason'),
    receivedAt: int(r.receivedAt, 'receivedAt'),
  };
}

function item(i: Json): MailboxItem {
  if (i === null || typeof i !== 'object') malformed('item is not an object');
  if (i.kind !== 'commit' && i.kind !== 'welcome' && i.kind !== 'message') malformed('item kind');
  return {
    seq: int(i.seq, 'seq'),
    kind: i.kind,
    groupId: b64u(i.groupId, 'groupId'),
    epoch: int(i.epoch, 'epoch'),
    sender: str(i.sender, 'sender'),
    data: b64(i.data, 'data'),
    ...(i.envelope !== undefined
      ? {
          inline: {
            messageId: b64u(i.messageId, 'messageId'),
            envelope: b64(i.envelope, 'envelope'),
            ...(i.stamp !== undefined ? { stamp: b64(i.stamp, 'stamp') } : {}),
          },
        }
      : {}),
  };
}

function servedEnvelope(r: Json): ServedEnvelope {
  if (r === null || typeof r !== 'object') malformed('envelope is not an object');
  let blob: ServedEnvelope['blob'];
  if (r.blob !== undefined && r.blob !== null) {
    blob = {
      size: int(r.blob.size, 'blob size'),
      chunkSize: int(r.blob.chunkSize, 'blob chunkSize'),
      chunks: int(r.blob.chunks, 'blob chunks'),
    };
  }
  return {
    messageId: b64u(r.messageId, 'messageId'),
    epoch: int(r.epoch, 'epoch'),
    head: b64(r.head, 'head'),
    ciphertext: r.ciphertext === undefined || r.ciphertext === null ? undefined : b64(r.ciphertext, 'ct'),
    blob,
    stamp: r.stamp === undefined ? undefined : b64(r.stamp, 'stamp'),
  };
}

function catchUpItem(i: Json): CatchUpItem {
  if (i === null || typeof i !== 'object') malformed('item is not an object');
  const { envelope: served, ...rest } = i;
  const base = item(rest);
  if (served === undefined) return base;
  const envelope = servedEnvelope(served);
  if (envelope.ciphertext === undefined && envelope.blob === undefined) malformed('envelope has no body');
  const ct = envelope.ciphertext;
  return {
    ...base,
    envelope,
    ...(ct !== undefined
      ? {
          inline: {
            messageId: envelope.messageId,
            envelope: concatBytes(envelope.head, ct),
            ...(envelope.stamp !== undefined ? { stamp: envelope.stamp } : {}),
          },
        }
      : {}),
  };
}

/** A claimed key package: whose, its bytes, and whether it is that device's last-resort one (relay.md DS-12). */
export interface ClaimedKeyPackage {
  readonly deviceId: string;
  readonly keyPackage: Uint8Array;
  readonly lastResort: boolean;
}

function claimed(k: Json): ClaimedKeyPackage {
  return {
    deviceId: str(k?.deviceId, 'deviceId'),
    keyPackage: b64(k?.keyPackage, 'keyPackage'),
    lastResort: k?.lastResort === true,
  };
}

/** Signed HTTP access to one relay as one principal (a device or the org-admin). */
/**
 * One signed request to the relay (relay.md §3): signs method, target and body, sends them with `fetchFn`, and
 * answers the status, content type and body of a 2xx. A network failure is RELAY_UNAVAILABLE; any other status is
 * RELAY_REFUSED with the relay's problem code and check (when the body is problem+json) and its Retry-After.
 * Shared by the device transport and the access client; neither retries here.
 */
export async function sendSigned(
  fetchFn: FetchLike,
  r: {
    readonly url: string;
    readonly key: SigningKeyPair;
    readonly signer: RequestSigner;
    readonly method: 'GET' | 'POST' | 'PUT';
    readonly target: string;
    readonly headers: Readonly<Record<string, string>>;
    readonly body: Uint8Array | undefined;
    readonly now: number;
  },
): Promise<{ readonly status: number; readonly type: string; readonly payload: Uint8Array }> {
  const bytes = r.body ?? new Uint8Array(0);
  const headers = { ...r.headers, ...signRelayRequest(r.key, r.signer, r.method, r.target, bytes, r.now) };
  return sendPlain(fetchFn, { url: r.url, method: r.method, target: r.target, headers, body: r.body });
}

/**
 * Sends one request as given (no signature: the relay's public reads) and maps a non-2xx answer to
 * RELAY_REFUSED with the problem's code and check, a network failure to RELAY_UNAVAILABLE.
 */
export async function sendPlain(
  fetchFn: FetchLike,
  r: {
    readonly url: string;
    readonly method: 'GET' | 'POST' | 'PUT';
    readonly target: string;
    readonly headers: Readonly<Record<string, string>>;
    readonly body: Uint8Array | undefined;
  },
): Promise<{ readonly status: number; readonly type: string; readonly payload: Uint8Array }> {
  const bytes = r.body ?? new Uint8Array(0);
  const headers = r.headers;
  let res: FetchResponse;
  let payload: Uint8Array;
  try {
    res = await fetchFn(`${r.url}${r.target}`, {
      method: r.method,
      headers,
      // A copy over a plain ArrayBuffer: BodyInit's types take no view of an ArrayBufferLike.
      ...(r.body !== undefined ? { body: new Uint8Array(bytes) } : {}),
    });
    payload = new Uint8Array(await res.arrayBuffer());
  } catch (cause) {
    throw new ClientError('RELAY_UNAVAILABLE', 'the relay could not be reached', { cause });
  }
  const type = res.headers.get('content-type') ?? '';
  if (res.status < 200 || res.status > 299) {
    let code: string | undefined;
    let check: string | undefined;
    if (type.includes('json')) {
      try {
        const p = JSON.parse(utf8Decode(payload));
        if (typeof p?.code === 'string') code = p.code;
        if (typeof p?.check === 'string') check = p.check;
      } catch {
        // An unparsable problem body still is a refusal; the status says enough.
      }
    }
    const after = retryAfterMs(res.headers.get('retry-after'), Date.now());
    throw new ClientError('RELAY_REFUSED', `relay refused the request (${res.status} ${code ?? ''})`, {
      ...(check !== undefined ? { check } : {}),
      ...(code !== undefined ? { relayCode: code } : {}),
      status: res.status,
      ...(after !== undefined ? { retryAfterMs: after } : {}),
    });
  }
  return { status: res.status, type, payload };
}

export class RelayTransport {
  private readonly fetchFn: FetchLike;
  private readonly now: () => number;
  private readonly retry: RetryPolicy;

  constructor(readonly options: TransportOptions) {
    this.fetchFn = options.fetch ?? ((url, init) => fetch(url, init));
    this.now = options.now ?? Date.now;
    this.retry = options.retry ?? DEFAULT_RETRY;
  }

  /**
   * Signs and sends one request, retrying as the module comment says; returns the parsed JSON body (or raw bytes
   * for `binary` responses). Throws RELAY_REFUSED (any non-2xx answer), RELAY_UNAVAILABLE, RELAY_RESPONSE_MALFORMED:
   * the last attempt's error once the retries are spent.
   */
  async request(
    method: 'GET' | 'POST' | 'PUT',
    target: string,
    body?: Json | Uint8Array,
    binaryResponse = false,
  ): Promise<Json> {
    // Wall-clock time for the bound, not the injectable signing clock (tests move that one).
    const start = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.attempt(method, target, body, binaryResponse);
      } catch (e) {
        if (!(e instanceof ClientError) || !retryable(e, method, target)) throw e;
        const ceiling = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** Math.min(attempt, 30));
        const backoff = Math.random() * ceiling;
        const asked = e.retryAfterMs === undefined ? 0 : Math.min(e.retryAfterMs, this.retry.maxDelayMs);
        const wait = Math.max(backoff, asked);
        if (Date.now() + wait - start > this.retry.maxTotalMs) throw e;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** One signed attempt of {@link request}. */
  private async attempt(
    method: 'GET' | 'POST' | 'PUT',
    target: string,
    body: Json | Uint8Array | undefined,
    binaryResponse: boolean,
  ): Promise<Json> {
    let bytes: Uint8Array = new Uint8Array(0);
    const headers: Record<string, string> = {};
    if (body instanceof Uint8Array) {
      bytes = body;
      headers['content-type'] = 'application/octet-stream';
    } else if (body !== undefined) {
      bytes = utf8Encode(JSON.stringify(body));
      headers['content-type'] = 'application/json';
    }
    const { status, payload } = await sendSigned(this.fetchFn, {
      url: this.options.url,
      key: this.options.key,
      signer: this.options.signer,
      method,
      target,
      headers,
      body: body !== undefined ? bytes : undefined,
      now: this.now(),
    });
    if (binaryResponse) return payload;
    if (status === 204) return undefined;
    try {
      return JSON.parse(utf8Decode(payload));
    } catch (cause) {
      return malformed('body is not JSON', cause);
    }
  }

  // --- admin (relay.md §2.2, auth A) ---

  async createUser(userId: string): Promise<void> {
    await this.request('POST', '/v1/admin/users', { userId });
  }

  /** Posts an admin-signed device statement (relay.md §4.1); returns the log index of its entry. */
  async enrolDevice(statement: Uint8Array): Promise<number> {
    const r = await this.request('POST', '/v1/admin/devices', { statement: toBase64(statement) });
    return int(r?.enrolLogIndex, 'enrolLogIndex');
  }

  /** Publishes a signed policy (admin; relay.md §4.3): the relay logs it when its serial is the next. */
  async publishPolicy(signed: Uint8Array): Promise<{ serial: number; logIndex: number }> {
    const r = await this.request('POST', '/v1/admin/policies', { statement: toBase64(signed) });
    return { serial: int(r?.serial, 'serial'), logIndex: int(r?.logIndex, 'logIndex') };
  }

  async removeDevice(deviceId: string, statement: Uint8Array): Promise<void> {
    await this.request('POST', `/v1/admin/devices/${encodeURIComponent(deviceId)}/removal`, {
      statement: toBase64(statement),
    });
  }

  // --- directory ---

  async userDevices(userId: string): Promise<DirectoryDevice[]> {
    const r = await this.request('GET', `/v1/users/${encodeURIComponent(userId)}/devices`);
    return arr(r?.devices, 'devices').map(device);
  }

  async epochKey(epoch?: number): Promise<EpochKeyInfo> {
    const r = await this.request('GET', `/v1/epoch-keys/${epoch === undefined ? 'current' : String(epoch)}`);
    return {
      epoch: int(r?.epoch, 'epoch'),
      groupKey: b64(r?.groupKey, 'groupKey'),
      logIndex: int(r?.logIndex, 'logIndex'),
    };
  }

  // --- MLS delivery service ---

  /**
   * Publishes one-time key packages and, with `lastResort`, the device's last-resort key package (relay.md
   * DS-12; it must carry the last_resort extension). Returns the number of one-time packages available.
   */
  async publishKeyPackages(keyPackages: readonly Uint8Array[], lastResort?: Uint8Array): Promise<number> {
    const r = await this.request('POST', '/v1/key-packages', {
      keyPackages: keyPackages.map(toBase64),
      ...(lastResort !== undefined ? { lastResort: toBase64(lastResort) } : {}),
    });
    return int(r?.available, 'available');
  }

  /** This device as the directory holds it, with its unclaimed one-time key packages and last-resort status. */
  async self(): Promise<DirectoryDevice & { keyPackages: number; lastResortKeyPackage: boolean }> {
    const r = await this.request('GET', '/v1/devices/self');
    return {
      ...device(r),
      keyPackages: int(r?.keyPackages, 'keyPackages'),
      lastResortKeyPackage: r?.lastResortKeyPackage === true,
    };
  }

  /**
   * Claims one key package of each active device of `userId` (relay.md DS-6): a one-time one, or its last-resort
   * one (DS-12). `exhausted` lists the devices with neither. Refused with relay code DS_CLAIM_LIMITED (429,
   * DS-11) when this device claims that user's packages too often.
   */
  async claimKeyPackages(userId: string): Promise<{ keyPackages: ClaimedKeyPackage[]; exhausted: string[] }> {
    const r = await this.request('POST', `/v1/users/${encodeURIComponent(userId)}/key-packages/claim`);
    return {
      keyPackages: arr(r?.keyPackages, 'keyPackages').map(claimed),
      exhausted: arr(r?.exhausted, 'exhausted').map((d) => str(d, 'exhausted')),
    };
  }

  /**
   * Claims one key package of the named device of `userId` (relay.md DS-6), to add one new device to a
   * conversation. Refused with relay code DS_KEY_PACKAGE_EXHAUSTED when it has none left, DIR_DEVICE_UNKNOWN /
   * DIR_DEVICE_REMOVED when it is not an active device of that user.
   */
  async claimDeviceKeyPackage(userId: string, deviceId: string): Promise<Uint8Array> {
    const r = await this.request(
      'POST',
      `/v1/users/${encodeURIComponent(userId)}/devices/${encodeURIComponent(deviceId)}/key-packages/claim`,
    );
    if (str(r?.deviceId, 'deviceId') !== deviceId) malformed('the claim names another device');
    return b64(r?.keyPackage, 'keyPackage');
  }

  async createGroup(groupId: Uint8Array): Promise<void> {
    await this.request('POST', '/v1/groups', { groupId: toBase64Url(groupId) });
  }

  async postCommit(
    groupId: Uint8Array,
    commit: Uint8Array,
    welcome: Uint8Array | undefined,
    removes: readonly string[] = [],
  ): Promise<number> {
    const r = await this.request('POST', `/v1/groups/${toBase64Url(groupId)}/commits`, {
      commit: toBase64(commit),
      ...(welcome !== undefined ? { welcome: toBase64(welcome) } : {}),
      ...(removes.length > 0 ? { removes } : {}),
    });
    return int(r?.epoch, 'epoch');
  }

  /** The commit the relay accepted at `epoch` (relay DS-4: at most one), or undefined if none yet. */
  async commitAt(groupId: Uint8Array, epoch: number): Promise<Uint8Array | undefined> {
    const r = await this.request('GET', `/v1/groups/${toBase64Url(groupId)}/commits?from=${epoch}&limit=1`);
    const c = arr(r?.commits, 'commits')[0] as Json;
    if (c === undefined) return undefined;
    return int(c?.epoch, 'epoch') === epoch ? b64(c?.commit, 'commit') : undefined;
  }

  /**
   * Posts an MLS message to the group. `messageId` names the envelope it announces (already PUT by this device):
   * the relay links it to the message's mailbox items so catch-up reads serve it with them (relay.md CU-1).
   */
  async postMessage(groupId: Uint8Array, message: Uint8Array, messageId?: Uint8Array): Promise<void> {
    await this.request('POST', `/v1/groups/${toBase64Url(groupId)}/messages`, {
      message: toBase64(message),
      ...(messageId !== undefined ? { messageId: toBase64Url(messageId) } : {}),
    });
  }

  async mailbox(after: number, limit = 100): Promise<MailboxItem[]> {
    const r = await this.request('GET', `/v1/mailbox?after=${after}&limit=${limit}`);
    return arr(r?.items, 'items').map(item);
  }

  /**
   * One catch-up page (relay.md §6.9): pending items with seq > `after`, each with its envelope and franking
   * stamp when the relay linked one this device may read; at most `limit` items (1..1000, default 1000) and about
   * `maxBytes` of item and envelope bytes (64 KiB..8 MiB, default 4 MiB; the first item always comes). Read pages
   * while `more`, acknowledging as the items are safely processed. One request per page.
   */
  async catchUp(after: number, options: { limit?: number; maxBytes?: number } = {}): Promise<CatchUpPage> {
    const q = [`after=${after}`];
    if (options.limit !== undefined) q.push(`limit=${options.limit}`);
    if (options.maxBytes !== undefined) q.push(`maxBytes=${options.maxBytes}`);
    const r = await this.request('GET', `/v1/mailbox/catch-up?${q.join('&')}`);
    if (typeof r?.more !== 'boolean') malformed('more is not a boolean');
    const items = arr(r?.items, 'items').map(catchUpItem);
    for (let i = 1; i < items.length; i++)
      if (items[i]!.seq <= items[i - 1]!.seq) malformed('items are not in seq order');
    if (items.length > 0 && items[0]!.seq <= after) malformed('an item at or before the cursor');
    return { items, more: r.more };
  }

  async ack(upTo: number): Promise<void> {
    await this.request('POST', '/v1/mailbox/ack', { upTo });
  }

  // --- envelopes and blobs (relay.md §6.7) ---

  async putEnvelope(messageId: Uint8Array, bytes: Uint8Array, blobId?: string): Promise<void> {
    const q = blobId === undefined ? '' : `?blob=${blobId}`;
    await this.request('PUT', `/v1/envelopes/${toBase64Url(messageId)}${q}`, bytes);
  }

  async getEnvelope(messageId: Uint8Array): Promise<ServedEnvelope> {
    return servedEnvelope(await this.request('GET', `/v1/envelopes/${toBase64Url(messageId)}`));
  }

  async getEnvelopeChunk(messageId: Uint8Array, index: number): Promise<Uint8Array> {
    return this.request('GET', `/v1/envelopes/${toBase64Url(messageId)}/chunks/${index}`, undefined, true);
  }

  /**
   * Starts a chunked blob (relay.md §6.7). With `sha256` the digest is declared up front; without it, it is
   * declared by {@link completeBlob} (the streaming form: upload chunks as they are sealed).
   */
  async createBlob(
    size: number,
    chunkSize: number,
    sha256?: Uint8Array,
  ): Promise<{ blobId: string; chunks: number }> {
    const r = await this.request('POST', '/v1/blobs', {
      size,
      chunkSize,
      ...(sha256 !== undefined ? { sha256: toBase64(sha256) } : {}),
    });
    return { blobId: str(r?.blobId, 'blobId'), chunks: int(r?.chunks, 'chunks') };
  }

  async putBlobChunk(blobId: string, index: number, bytes: Uint8Array): Promise<void> {
    await this.request('PUT', `/v1/blobs/${blobId}/chunks/${index}`, bytes);
  }

  /** Completes a blob; `sha256` declares its digest when {@link createBlob} did not. */
  async completeBlob(blobId: string, sha256?: Uint8Array): Promise<void> {
    await this.request(
      'POST',
      `/v1/blobs/${blobId}/complete`,
      sha256 !== undefined ? { sha256: toBase64(sha256) } : undefined,
    );
  }

  // --- abuse reports (relay.md §10) ---

  /** Files an encoded report (core encodeReport) as this device; `reason` is 1..500 characters. */
  async fileReport(report: Uint8Array, reason?: string): Promise<FiledReport> {
    const q = reason === undefined ? '' : `?reason=${encodeURIComponent(reason)}`;
    const r = await this.request('POST', `/v1/reports${q}`, report);
    if (r?.result !== 'stored' && r?.result !== 'duplicate') malformed('report result');
    return {
      reportId: int(r.reportId, 'reportId'),
      result: r.result,
      messageId: b64u(r.messageId, 'messageId'),
      senderUserId: str(r.senderUserId, 'senderUserId'),
      stampTime: int(r.stampTime, 'stampTime'),
    };
  }

  /** The org-admin lists reports with id > `after` (at most 100). */
  async listReports(after = 0, limit = 100): Promise<ReportSummary[]> {
    const r = await this.request('GET', `/v1/admin/reports?after=${after}&limit=${limit}`);
    return arr(r?.reports, 'reports').map(reportSummary);
  }

  /** The org-admin reads one report, verified again by the relay. */
  async getReport(reportId: number): Promise<ReportDetail> {
    const r = await this.request('GET', `/v1/admin/reports/${reportId}`);
    return {
      ...reportSummary(r),
      contentType: str(r?.contentType, 'contentType'),
      plaintext: r?.plaintext === '' ? new Uint8Array(0) : b64(r?.plaintext, 'plaintext'),
      report: b64(r?.report, 'report'),
    };
  }
}
