/**
 * Errors of @overt/client.
 *
 * Every failure on attacker-controlled input (a peer's MLS message, a key package from the directory, state bytes
 * read back from storage) surfaces as a {@link ClientError} whose `code` belongs to a closed union, so the
 * application can branch on it. A failure that can only come from a bug in this package is a
 * {@link ClientInternalError}. Messages never contain keys, plaintext or user identifiers: they name the rule that
 * failed, not the value.
 *
 * Codes are grouped by the module that raises them; each module owns its own union below.
 */

/** The MLS layer (src/mls/). docs/spec/mls.md maps each code to its check IDs. */
export type MlsErrorCode =
  /** Bytes do not decode as the expected MLS structure (RFC 9420 §6), or carry trailing bytes. */
  | 'MLS_MALFORMED'
  /** An MLS message of a wire format this operation does not take (e.g. a PublicMessage, a GroupInfo). */
  | 'MLS_WIRE_FORMAT'
  /** The message names another group. */
  | 'MLS_WRONG_GROUP'
  /** The message's epoch is not one this member holds keys for (future, evicted, or stale for a handshake). */
  | 'MLS_EPOCH'
  /** The message's key was already used or discarded: a replay, or a message older than the retention window. */
  | 'MLS_REPLAY'
  /** The message was sent by this very member (an echo from the relay); members cannot decrypt their own. */
  | 'MLS_OWN_MESSAGE'
  /** Decryption failed (sender data or content AEAD). */
  | 'MLS_DECRYPT'
  /** A signature, membership tag or confirmation tag does not verify. */
  | 'MLS_VERIFY'
  /** The sender is not an acceptable member (external sender, blank leaf, removed since the message's epoch). */
  | 'MLS_SENDER'
  /** A commit that requires an UpdatePath (RFC 9420 §12.4.2) has none. */
  | 'MLS_COMMIT_MISSING_PATH'
  /** A proposal type Overt does not allow (only add, remove and update are). */
  | 'MLS_PROPOSAL_UNSUPPORTED'
  /** A credential is not a well-formed Overt credential. */
  | 'MLS_CREDENTIAL_MALFORMED'
  /** The credential's identity key differs from the leaf's signature key. */
  | 'MLS_CREDENTIAL_KEY_MISMATCH'
  /** The authentication service (key-transparency hook) rejected a member. */
  | 'MLS_CREDENTIAL_REJECTED'
  /** A member's credential changed in an Update or commit path. */
  | 'MLS_CREDENTIAL_CHANGED'
  /** Two leaves claim the same (user id, device id). */
  | 'MLS_DUPLICATE_DEVICE'
  /** A key package is unusable: wrong ciphersuite or version, lifetime, signature, capabilities. */
  | 'MLS_KEY_PACKAGE_INVALID'
  /** A Welcome addresses none of the key packages offered. */
  | 'MLS_WELCOME_NOT_FOR_US'
  /** The group is configured in a way Overt does not allow (ciphersuite, group context extensions). */
  | 'MLS_GROUP_POLICY'
  /** Any other RFC 9420 validation failure reported by the MLS engine. */
  | 'MLS_INVALID'
  /** This device is no longer a member (removed, or left). */
  | 'MLS_NOT_MEMBER'
  /** The operation needs no pending commit, or a pending commit that does not exist. */
  | 'MLS_PENDING_COMMIT'
  /** Proposals are pending: commit them before sending application messages (RFC 9420 §12.1). */
  | 'MLS_PROPOSALS_PENDING'
  /** Application payload bytes are not a valid Overt key-transport payload. */
  | 'MLS_PAYLOAD_MALFORMED'
  /** Serialised conversation state or key-package secrets do not decode, or do not belong to this identity. */
  | 'MLS_STATE_MALFORMED'
  /** The caller passed an argument that cannot be used (wrong length, unknown member, …). */
  | 'MLS_USAGE';

/** The SDK layer (src/transport/, src/store/, src/sdk/). docs/spec/client.md maps each code to its check IDs. */
export type SdkErrorCode =
  /** The relay answered with an RFC 9457 problem; `relayCode` on the error carries the relay's own code. */
  | 'RELAY_REFUSED'
  /** The relay could not be reached, or the connection broke. */
  | 'RELAY_UNAVAILABLE'
  /** A relay response does not have the shape docs/spec/relay.md §2.2 gives it. */
  | 'RELAY_RESPONSE_MALFORMED'
  /** Bytes read back from the state store do not decode, or a sealed record does not authenticate (REST-2). */
  | 'SDK_STORE_MALFORMED'
  /** The passphrase or key does not unlock the profile key (REST-1, client.md §3.1). */
  | 'SDK_STORE_LOCKED'
  /** Another running process holds the store's lock and did not release it in time (client.md §4.8). */
  | 'SDK_STORE_BUSY'
  /** No conversation with this id is known to this device. */
  | 'SDK_UNKNOWN_CONVERSATION'
  /** The directory does not vouch for a device (absent, removed, or another key): key transparency (A6). */
  | 'SDK_DEVICE_UNVERIFIED'
  /** No report is kept for this message (not received here, not stamped, or too large; FRK-6). */
  | 'SDK_NOT_REPORTABLE'
  /**
   * An envelope's times do not hold together: its epoch is not the calendar month of its send time (CLI-8), or a
   * live message's send time is too far from the relay's stamp time (CLI-9).
   */
  | 'SDK_ENVELOPE_TIME'
  /** A named user has a device with no key package on the relay, or no active device: nothing was added (KP-1). */
  | 'SDK_MEMBER_UNREACHABLE'
  /** A file message's plaintext is not one FileContent encoding (client.md §4.8, CLI-11). */
  | 'SDK_CONTENT_MALFORMED'
  /** The caller passed an argument that cannot be used. */
  | 'SDK_USAGE';

/** Key transparency (src/log/, the authentication service and epoch keys). docs/spec/client.md §8. */
export type KtErrorCode =
  /** The org's trust anchors (log origin and key, witnesses and quorum, admin key) are malformed. */
  | 'KT_ANCHORS_INVALID'
  /** The log served a checkpoint that fails verification, entries that do not form the signed tree, or a split view. */
  | 'KT_LOG_INVALID'
  /** The log could not be read: nothing was concluded (retried later). */
  | 'KT_LOG_UNAVAILABLE'
  /**
   * The client's view of the log is older than the maximum age and the relay served no fresher checkpoint (A16: a
   * relay may be freezing this client's view): no key-transparency decision is made until it does.
   */
  | 'KT_LOG_STALE'
  /** A member's device is not proven by an admin-signed device-added statement on the verified log. */
  | 'KT_DEVICE_NOT_ON_LOG'
  /** A member's device has an admin-signed removal on the log. */
  | 'KT_DEVICE_REMOVED'
  /** The epoch key the relay serves is not the one an admin-signed statement on the verified log gives. */
  | 'KT_EPOCH_KEY_NOT_ON_LOG'
  /** The logged epoch key is not signed by k trustees of the policy in force, or fails its checks (KT-8, A14). */
  | 'KT_EPOCH_KEY_UNTRUSTED'
  /** The log holds two different keys for the epoch: the client seals to neither (KT-9, A14). */
  | 'KT_EPOCH_KEY_CONFLICT';

/** The requester's side of accountable access and the evidence bundle (src/access/). docs/spec/access.md §8, evidence.md. */
export type AccessErrorCode =
  /** A logged object of the case (policy, request, decision, execution, release, epoch key, device) fails its check. */
  | 'ACCESS_INVALID'
  /** A trustee's decryption share does not verify against the epoch's key set (ACC-A9); the error names the trustee. */
  | 'ACCESS_BAD_SHARE'
  /** An executed envelope fails a check of its own (scope, sender signature, capsule, decryption). */
  | 'ACCESS_ENVELOPE_INVALID'
  /** An evidence bundle is malformed, incomplete, or a file in it fails its check (evidence.md, EVD-*). */
  | 'EVIDENCE_INVALID';

export type ClientErrorCode = MlsErrorCode | SdkErrorCode | KtErrorCode | AccessErrorCode;

export interface ClientErrorOptions {
  /** The check ID from docs/SPEC.md that failed (e.g. `MLS-6`), where the failure protects a guarantee. */
  check?: string;
  /** The lower-level error, if any. Never put secret material here. */
  cause?: unknown;
  /** For RELAY_REFUSED: the relay's code (docs/spec/relay.md §7) and HTTP status. */
  relayCode?: string;
  status?: number;
  /** For RELAY_REFUSED: the wait the relay asked for in `Retry-After`, ms (client.md §2.1). */
  retryAfterMs?: number;
}

/** A failure the caller can act on: bad input, a failed check, a protocol violation by a peer. */
export class ClientError extends Error {
  readonly code: ClientErrorCode;
  readonly check: string | undefined;
  readonly relayCode: string | undefined;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(code: ClientErrorCode, message: string, options: ClientErrorOptions = {}) {
    super(options.check ? `${code} [${options.check}]: ${message}` : `${code}: ${message}`, {
      cause: options.cause,
    });
    this.name = 'ClientError';
    this.code = code;
    this.check = options.check;
    this.relayCode = options.relayCode;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** A broken invariant inside this package: a bug in us, never the caller's input. */
export class ClientInternalError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(`internal error (a bug in @overt/client): ${message}`, { cause: options.cause });
    this.name = 'ClientInternalError';
  }
}

/** True when `e` is a {@link ClientError}, optionally with the given code. */
export function isClientError(e: unknown, code?: ClientErrorCode): e is ClientError {
  return e instanceof ClientError && (code === undefined || e.code === code);
}
