/**
 * The relay's resource bounds (docs/spec/relay.md §2.4): how much memory and disk one device, one connection and
 * the whole node may hold at once, so that an abusive device is refused or slowed while the others keep sending.
 * Each bound has a check ID; relay.md §2.4 lists them with their defaults and the reason for each.
 *
 * - RLY-23 — a WebSocket connection's send frames in flight (read and not yet answered): at the bound the relay
 *   stops reading the socket (TCP back-pressure) until answers go out. Nothing is refused.
 * - RLY-24 — upload admission: messages and uploads held by the ingest pipeline (checking, waiting for the
 *   capsule-check workers or for their transaction), per device and in all, and the capsule-check worker queue.
 *   Beyond, RELAY_BUSY (503, Retry-After) before anything is stored.
 * - RLY-25 — the request target's length (414 RELAY_URL_TOO_LONG; header overflow 431 RELAY_HEADERS_TOO_LARGE).
 * - RLY-26 — pushes buffered for a socket that reads slowly: the push waits until the socket drained.
 * - STORE-R-9 — blob bytes a device holds in storage (507 BLOB_QUOTA).
 */
import { RelayError } from './errors.js';

export interface ResourceLimits {
  /** RLY-23: send frames one WebSocket may have in flight before the relay stops reading it. */
  readonly socketFrames: number;
  /** RLY-23: bytes of those frames. */
  readonly socketBytes: number;
  /** RLY-24: messages and uploads one device may have in the ingest pipeline, over all its connections. */
  readonly deviceUploads: number;
  /** RLY-24: their bytes. */
  readonly deviceUploadBytes: number;
  /** RLY-24: messages and uploads in the ingest pipeline of this node, all devices together. */
  readonly totalUploads: number;
  /** RLY-24: their bytes. */
  readonly totalUploadBytes: number;
  /** RLY-24: capsule checks queued for or running in the worker threads. */
  readonly capsuleQueue: number;
  /** RLY-26: bytes a socket may have buffered unsent before the push waits for it to drain. */
  readonly pushBufferBytes: number;
  /** RLY-25: longest request target (path and query), bytes. */
  readonly urlBytes: number;
  /** STORE-R-9: blob bytes per device, incomplete and stored blobs together (each charged ≥ 64 KiB). */
  readonly blobQuotaBytes: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_RESOURCE_LIMITS: ResourceLimits = {
  socketFrames: 128,
  socketBytes: 16 * MiB,
  deviceUploads: 256,
  deviceUploadBytes: 32 * MiB,
  totalUploads: 4096,
  totalUploadBytes: 256 * MiB,
  capsuleQueue: 4096,
  pushBufferBytes: 8 * MiB,
  urlBytes: 8 * 1024,
  blobQuotaBytes: 1024 * MiB,
};

/** The defaults with `overrides` applied; RELAY_CONFIG when a bound is not a positive safe integer. */
export function resourceLimits(overrides: Partial<ResourceLimits> = {}): ResourceLimits {
  const out = { ...DEFAULT_RESOURCE_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(out))
    if (!Number.isSafeInteger(value) || value < 1)
      throw new RelayError('RELAY_CONFIG', `resource limit ${name} must be a positive integer`);
  return out;
}

/** RLY-24's refusal: nothing was stored, the same request may succeed after `Retry-After`. */
export function busy(what: string): RelayError {
  return new RelayError('RELAY_BUSY', `the relay is busy: ${what}; retry later`, {
    check: 'RLY-24',
    retryAfter: 1,
  });
}
