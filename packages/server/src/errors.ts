/**
 * Errors of @overt/server (docs/spec/relay.md §7).
 *
 * Every refusal the relay makes — on a request body, a signature, a delivery-service rule, a storage conflict —
 * is a {@link RelayError} whose `code` is one of the closed {@link RelayErrorCode} union. The HTTP layer maps the
 * code to a status with {@link statusOf} and to an RFC 9457 `application/problem+json` body, so no handler
 * chooses a status by hand. A failure that can only come from a bug in the relay is a {@link RelayInternalError}.
 * Messages never contain keys, signatures, message contents or user/device identifiers: they name the field and
 * the rule, not the value.
 */

/** Boundary of the HTTP/WebSocket API (RLY-). */
export type BoundaryErrorCode =
  | 'RELAY_MALFORMED_JSON'
  | 'RELAY_INVALID_BODY'
  | 'RELAY_INVALID_PARAMS'
  | 'RELAY_BODY_TOO_LARGE'
  | 'RELAY_UNSUPPORTED_MEDIA_TYPE'
  | 'RELAY_NOT_FOUND'
  | 'RELAY_RATE_LIMITED'
  | 'RELAY_BUSY'
  | 'RELAY_URL_TOO_LONG'
  | 'RELAY_HEADERS_TOO_LARGE'
  | 'RELAY_LOG_UNAVAILABLE'
  | 'RELAY_CONFIG'
  | 'RELAY_FANOUT_MALFORMED'
  | 'RELAY_INTERNAL';

/** Device and admin authentication (AUTH-). */
export type AuthErrorCode =
  | 'AUTH_MISSING'
  | 'AUTH_MALFORMED'
  | 'AUTH_UNKNOWN_DEVICE'
  | 'AUTH_DEVICE_REMOVED'
  | 'AUTH_STALE'
  | 'AUTH_REPLAY'
  | 'AUTH_BAD_SIGNATURE'
  | 'AUTH_FORBIDDEN';

/** The directory: users, devices, the org-admin and its signed statements. */
export type DirectoryErrorCode =
  | 'DIR_USER_EXISTS'
  | 'DIR_USER_UNKNOWN'
  | 'DIR_DEVICE_EXISTS'
  | 'DIR_DEVICE_UNKNOWN'
  | 'DIR_DEVICE_REMOVED'
  | 'DIR_KEY_IN_USE'
  | 'DIR_STATEMENT_INVALID'
  | 'DIR_ADMIN_MISMATCH';

/** The MLS delivery service (DS-). */
export type DeliveryErrorCode =
  | 'DS_MLS_MALFORMED'
  | 'DS_WIRE_FORMAT'
  | 'DS_GROUP_MISMATCH'
  | 'DS_GROUP_EXISTS'
  | 'DS_GROUP_UNKNOWN'
  | 'DS_NOT_MEMBER'
  | 'DS_EPOCH_MISMATCH'
  | 'DS_COMMIT_CONFLICT'
  | 'DS_MEMBERSHIP'
  | 'DS_KEY_PACKAGE_OWNER'
  | 'DS_KEY_PACKAGE_LIMIT'
  | 'DS_KEY_PACKAGE_EXHAUSTED'
  /** A last-resort upload without the last_resort extension, or a one-time upload with it (DS-12). */
  | 'DS_KEY_PACKAGE_KIND'
  /** One device claims the same devices' key packages too often (DS-11): refused before anything is claimed. */
  | 'DS_CLAIM_LIMITED'
  | 'DS_ACK_RANGE';

/** Envelopes, blobs and epoch keys (RLY- ingest). */
export type EnvelopeErrorCode =
  | 'ENV_MALFORMED'
  | 'ENV_ID_MISMATCH'
  | 'ENV_SENDER'
  | 'ENV_EPOCH'
  | 'ENV_TIME'
  | 'ENV_CAPSULE'
  | 'ENV_SIGNATURE'
  | 'ENV_EXISTS'
  | 'ENV_NOT_FOUND'
  | 'ENV_CONTEXT'
  | 'ENV_FORBIDDEN'
  | 'BLOB_UNKNOWN'
  | 'BLOB_STATE'
  | 'BLOB_DIGEST'
  | 'BLOB_QUOTA'
  | 'EPOCH_KEY_INVALID'
  | 'EPOCH_KEY_EXISTS'
  | 'EPOCH_KEY_UNKNOWN'
  | 'EPOCH_KEY_NOT_PUBLISHED'
  | 'EPOCH_KEY_NO_POLICY'
  | 'POLICY_INVALID'
  | 'POLICY_STALE';

/** Abuse reports (franking, relay.md §10: FRK-1…FRK-4, RPT-). */
export type ReportErrorCode =
  | 'REPORT_DISABLED'
  | 'REPORT_MALFORMED'
  | 'REPORT_NOT_RECIPIENT'
  | 'REPORT_OPENING'
  | 'REPORT_STAMP'
  | 'REPORT_ENVELOPE_UNKNOWN'
  | 'REPORT_UNKNOWN';

/** The accountable-access workflow (docs/spec/access.md §4: ACC-). */
export type AccessErrorCode =
  /** A malformed access body, path or query: unknown fields, wrong types, bad base64, oversize (ACC-0). */
  | 'ACCESS_BAD_REQUEST'
  /** The request does not verify under the policy in force (ACC-R1). */
  | 'ACCESS_REQUEST_INVALID'
  | 'ACCESS_ORDER_INVALID'
  /** Not exactly one sealed part per trustee of the policy (ACC-R3). */
  | 'ACCESS_SEALED_INVALID'
  /** The request id was used before with other bytes (ACC-R4). */
  | 'ACCESS_REQUEST_EXISTS'
  | 'ACCESS_REQUEST_UNKNOWN'
  /** The decision does not verify under the policy in force and the logged request (ACC-D1). */
  | 'ACCESS_DECISION_INVALID'
  /** The request has no execution (yet): no envelopes to serve, nothing to release. */
  | 'ACCESS_NOT_EXECUTED'
  | 'ACCESS_ENVELOPE_UNKNOWN'
  /** The release does not verify under the policy and the logged execution (ACC-L1). */
  | 'ACCESS_RELEASE_INVALID'
  /** SHA-256(bundle) is not the release's bundle_hash (ACC-L3). */
  | 'ACCESS_BUNDLE_MISMATCH'
  /** Another release for the same (request, trustee, batch) is stored (ACC-L4). */
  | 'ACCESS_RELEASE_CONFLICT'
  | 'ACCESS_RELEASE_UNKNOWN'
  /** The refusal does not verify under the policy in force (ACC-F1). */
  | 'ACCESS_REFUSAL_INVALID'
  /** The shred statement does not verify under the policy in force (ACC-S1, after-release.md §6). */
  | 'ACCESS_SHRED_INVALID'
  /** Another shred statement of the same (epoch, trustee) is stored (ACC-S2). */
  | 'ACCESS_SHRED_EXISTS'
  /** The relay has no execution key configured: it cannot execute, so it takes no request (ACC-X1). */
  | 'ACCESS_DISABLED'
  // After release (after-release.md §1, §2).
  /** The unseal does not verify under the policy in force and the logged request (ACC-U1). */
  | 'ACCESS_UNSEAL_INVALID'
  /** Another unseal of the request is logged (ACC-U3). */
  | 'ACCESS_UNSEAL_EXISTS'
  /** No unseal of the request is logged: nothing public to read yet. */
  | 'ACCESS_NOT_UNSEALED'
  /** The request is unsealed already: its seal can no longer be extended (ACC-E1). */
  | 'ACCESS_UNSEALED'
  /** The seal-until being extended has passed (ACC-E1, ACC-E4). */
  | 'ACCESS_SEAL_EXPIRED'
  /** A proposal for the same extension number is stored (ACC-E1). */
  | 'ACCESS_EXTENSION_EXISTS'
  /** No such extension proposal. */
  | 'ACCESS_EXTENSION_UNKNOWN'
  /** The extension is beyond the policy's limits or does not push the seal back (ACC-E1). */
  | 'ACCESS_EXTENSION_LIMIT'
  /** A trustee's extension signature does not verify over the stored statement (ACC-E2). */
  | 'ACCESS_EXTENSION_INVALID';

/** Storage drivers (STORE-R-). */
export type StorageErrorCode = 'STORE_R_FAILED' | 'STORE_R_CORRUPT' | 'STORE_R_INVALID';

export type RelayErrorCode =
  | BoundaryErrorCode
  | AuthErrorCode
  | DirectoryErrorCode
  | DeliveryErrorCode
  | EnvelopeErrorCode
  | ReportErrorCode
  | AccessErrorCode
  | StorageErrorCode;

/** The HTTP status of each code (docs/spec/relay.md §7). One table, so a code always has one status. */
const STATUS: Record<RelayErrorCode, number> = {
  RELAY_MALFORMED_JSON: 400,
  RELAY_INVALID_BODY: 400,
  RELAY_INVALID_PARAMS: 400,
  RELAY_BODY_TOO_LARGE: 413,
  RELAY_UNSUPPORTED_MEDIA_TYPE: 415,
  RELAY_NOT_FOUND: 404,
  RELAY_RATE_LIMITED: 429,
  /** Upload admission (RLY-24): the ingest pipeline holds its bound for this device or in all. */
  RELAY_BUSY: 503,
  RELAY_URL_TOO_LONG: 414,
  RELAY_HEADERS_TOO_LARGE: 431,
  RELAY_LOG_UNAVAILABLE: 503,
  RELAY_CONFIG: 500,
  /** A cross-node fan-out message that does not parse (FAN-1): never served, the message is dropped. */
  RELAY_FANOUT_MALFORMED: 502,
  RELAY_INTERNAL: 500,
  AUTH_MISSING: 401,
  AUTH_MALFORMED: 401,
  AUTH_UNKNOWN_DEVICE: 401,
  AUTH_DEVICE_REMOVED: 401,
  AUTH_STALE: 401,
  AUTH_REPLAY: 401,
  AUTH_BAD_SIGNATURE: 401,
  AUTH_FORBIDDEN: 403,
  DIR_USER_EXISTS: 409,
  DIR_USER_UNKNOWN: 404,
  DIR_DEVICE_EXISTS: 409,
  DIR_DEVICE_UNKNOWN: 404,
  DIR_DEVICE_REMOVED: 409,
  DIR_KEY_IN_USE: 409,
  DIR_STATEMENT_INVALID: 400,
  DIR_ADMIN_MISMATCH: 500,
  DS_MLS_MALFORMED: 400,
  DS_WIRE_FORMAT: 400,
  DS_GROUP_MISMATCH: 400,
  DS_GROUP_EXISTS: 409,
  DS_GROUP_UNKNOWN: 404,
  DS_NOT_MEMBER: 403,
  DS_EPOCH_MISMATCH: 409,
  DS_COMMIT_CONFLICT: 409,
  DS_MEMBERSHIP: 400,
  DS_KEY_PACKAGE_OWNER: 400,
  DS_KEY_PACKAGE_LIMIT: 409,
  DS_KEY_PACKAGE_EXHAUSTED: 409,
  DS_KEY_PACKAGE_KIND: 400,
  DS_CLAIM_LIMITED: 429,
  DS_ACK_RANGE: 400,
  ENV_MALFORMED: 400,
  ENV_ID_MISMATCH: 400,
  ENV_SENDER: 403,
  ENV_EPOCH: 409,
  ENV_TIME: 400,
  ENV_CAPSULE: 400,
  ENV_SIGNATURE: 403,
  ENV_EXISTS: 409,
  ENV_NOT_FOUND: 404,
  ENV_CONTEXT: 400,
  ENV_FORBIDDEN: 403,
  BLOB_UNKNOWN: 404,
  BLOB_STATE: 409,
  BLOB_DIGEST: 400,
  /** The device's blob quota (STORE-R-9): RFC 4918's Insufficient Storage, not the request's size (413). */
  BLOB_QUOTA: 507,
  EPOCH_KEY_INVALID: 400,
  EPOCH_KEY_EXISTS: 409,
  EPOCH_KEY_UNKNOWN: 404,
  EPOCH_KEY_NOT_PUBLISHED: 503,
  EPOCH_KEY_NO_POLICY: 409,
  POLICY_INVALID: 400,
  POLICY_STALE: 409,
  REPORT_DISABLED: 404,
  REPORT_MALFORMED: 400,
  REPORT_NOT_RECIPIENT: 403,
  REPORT_OPENING: 400,
  REPORT_STAMP: 400,
  REPORT_ENVELOPE_UNKNOWN: 404,
  REPORT_UNKNOWN: 404,
  ACCESS_BAD_REQUEST: 400,
  ACCESS_REQUEST_INVALID: 400,
  ACCESS_ORDER_INVALID: 400,
  ACCESS_SEALED_INVALID: 400,
  ACCESS_REQUEST_EXISTS: 409,
  ACCESS_REQUEST_UNKNOWN: 404,
  ACCESS_DECISION_INVALID: 400,
  ACCESS_NOT_EXECUTED: 409,
  ACCESS_ENVELOPE_UNKNOWN: 404,
  ACCESS_RELEASE_INVALID: 400,
  ACCESS_BUNDLE_MISMATCH: 400,
  ACCESS_RELEASE_CONFLICT: 409,
  ACCESS_RELEASE_UNKNOWN: 404,
  ACCESS_REFUSAL_INVALID: 400,
  ACCESS_SHRED_INVALID: 400,
  ACCESS_SHRED_EXISTS: 409,
  ACCESS_DISABLED: 503,
  ACCESS_UNSEAL_INVALID: 400,
  ACCESS_UNSEAL_EXISTS: 409,
  ACCESS_NOT_UNSEALED: 404,
  ACCESS_UNSEALED: 409,
  ACCESS_SEAL_EXPIRED: 409,
  ACCESS_EXTENSION_EXISTS: 409,
  ACCESS_EXTENSION_UNKNOWN: 404,
  ACCESS_EXTENSION_LIMIT: 400,
  ACCESS_EXTENSION_INVALID: 400,
  STORE_R_FAILED: 503,
  STORE_R_CORRUPT: 500,
  STORE_R_INVALID: 400,
};

export interface RelayErrorOptions {
  /** The check ID of docs/spec/relay.md that failed (e.g. `DS-3`). */
  check?: string;
  /** The lower-level error. Never secret material. */
  cause?: unknown;
  /** Seconds after which a retry may succeed (429, 503): sent as `Retry-After`. */
  retryAfter?: number;
}

/** A refusal the client can act on. */
export class RelayError extends Error {
  readonly code: RelayErrorCode;
  readonly check: string | undefined;
  readonly retryAfter: number | undefined;

  constructor(code: RelayErrorCode, message: string, options: RelayErrorOptions = {}) {
    super(options.check ? `${code} [${options.check}]: ${message}` : `${code}: ${message}`, {
      cause: options.cause,
    });
    this.name = 'RelayError';
    this.code = code;
    this.check = options.check;
    this.retryAfter = options.retryAfter;
  }

  /** The HTTP status this error is served with. */
  get status(): number {
    return statusOf(this.code);
  }
}

/** A broken invariant inside the relay: a bug in us, never the caller's input. */
export class RelayInternalError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(`internal error (a bug in @overt/server): ${message}`, { cause: options.cause });
    this.name = 'RelayInternalError';
  }
}

export function statusOf(code: RelayErrorCode): number {
  return STATUS[code];
}

/** Every code, for tests and docs. */
export const RELAY_ERROR_CODES = Object.keys(STATUS) as RelayErrorCode[];

export function isRelayError(e: unknown, code?: RelayErrorCode): e is RelayError {
  return e instanceof RelayError && (code === undefined || e.code === code);
}
