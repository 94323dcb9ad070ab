/**
 * Errors of @overt/core.
 *
 * Every failure on attacker-controlled input surfaces as an {@link OvertError} whose `code` is one of a closed
 * union, so callers (and the HTTP layer, which maps codes to status) can branch on it. A failure that can only
 * come from a bug in this library is an {@link InternalError} instead. Messages never contain keys, shares,
 * plaintext or user identifiers: they name the field and the rule, not the value.
 *
 * The codes are grouped by the module that raises them; each module owns its own union below.
 */

/** Decoding of our canonical binary and text encodings (codec.ts, bytes.ts). */
export type CodecErrorCode =
  | 'CODEC_TRUNCATED'
  | 'CODEC_TRAILING_BYTES'
  | 'CODEC_LENGTH'
  | 'CODEC_RANGE'
  | 'CODEC_VERSION'
  | 'CODEC_UTF8'
  | 'CODEC_BASE64'
  | 'CODEC_HEX'
  | 'CODEC_ENUM';

/** ristretto255 group elements and scalars (group.ts). */
export type GroupErrorCode =
  | 'GROUP_BAD_ELEMENT'
  | 'GROUP_BAD_SCALAR'
  | 'GROUP_IDENTITY'
  | 'GROUP_ZERO_SCALAR';

/** TDH2 access capsules, decryption shares and their combination (capsule/). */
export type CapsuleErrorCode =
  | 'CAPSULE_INVALID'
  | 'CAPSULE_MISMATCH'
  | 'SHARE_INVALID'
  | 'SHARE_INDEX'
  | 'SHARE_DUPLICATE'
  | 'SHARE_TOO_FEW'
  | 'SHARE_WRONG_CAPSULE'
  | 'SHARE_WRONG_KEY_SET';

/** Distributed key generation and resharing (dkg/). */
export type DkgErrorCode =
  | 'DKG_PARAMS'
  | 'DKG_BAD_PROOF'
  | 'DKG_BAD_SHARE'
  | 'DKG_BAD_COMPLAINT'
  | 'DKG_DISQUALIFIED'
  | 'DKG_TOO_FEW_QUALIFIED'
  | 'DKG_TRANSCRIPT'
  | 'DKG_STATE'
  | 'DKG_SESSION'
  | 'DKG_SIGNATURE'
  | 'DKG_BAD_COMMITMENT';

/** Envelopes, the committing AEAD and chunked streams (envelope/, aead/). */
export type EnvelopeErrorCode =
  | 'ENVELOPE_MALFORMED'
  | 'ENVELOPE_VERSION'
  | 'ENVELOPE_DECRYPT'
  | 'ENVELOPE_COMMITMENT'
  | 'ENVELOPE_DIGEST'
  | 'ENVELOPE_CONTEXT'
  | 'ENVELOPE_CAPSULE'
  | 'ENVELOPE_SIGNATURE'
  | 'ENVELOPE_TOO_LARGE'
  | 'STREAM_TRUNCATED'
  | 'STREAM_ORDER';

/** Message franking and abuse reports (franking/). */
export type FrankingErrorCode = 'FRANKING_INVALID' | 'FRANKING_STAMP';

/** Policy, requests, decisions and scope (workflow/). */
export type WorkflowErrorCode =
  | 'POLICY_INVALID'
  | 'REQUEST_INVALID'
  | 'REQUEST_LIMIT'
  | 'DECISION_INVALID'
  | 'COMMITMENT_MISMATCH'
  | 'SIGNATURE_INVALID'
  | 'SCOPE_OUTSIDE'
  | 'EXECUTION_INVALID'
  | 'RELEASE_INVALID'
  | 'EXTENSION_INVALID'
  | 'UNSEAL_INVALID'
  | 'SHRED_INVALID'
  | 'REFUSAL_INVALID'
  | 'CONFIDENTIAL_INVALID'
  | 'SHARE_BUNDLE_INVALID';

/** The org-admin's directory statements: devices and epoch keys (directory/, docs/spec/directory.md). */
export type DirectoryErrorCode =
  | 'DIRECTORY_STATEMENT_INVALID'
  | 'DIRECTORY_EPOCH_KEY_INVALID'
  | 'DIRECTORY_ENTRY_INVALID';

/** The VRF (vrf/) and the key-transparency map (map/, docs/spec/directory.md §7). */
export type MapErrorCode =
  | 'VRF_KEY_INVALID'
  | 'VRF_PROOF_INVALID'
  | 'MAP_PROOF_MALFORMED'
  | 'MAP_PROOF_INVALID'
  | 'MAP_ENTRY_INVALID'
  | 'MAP_VALUE_INVALID'
  | 'MAP_MONITOR_INVALID'
  | 'MAP_UPDATE_INVALID';

export type ErrorCode =
  | CodecErrorCode
  | GroupErrorCode
  | CapsuleErrorCode
  | DkgErrorCode
  | EnvelopeErrorCode
  | FrankingErrorCode
  | WorkflowErrorCode
  | DirectoryErrorCode
  | MapErrorCode;

export interface OvertErrorOptions {
  /** The check ID from docs/SPEC.md that failed (e.g. `CAP-2`), where the failure protects a guarantee. */
  check?: string;
  /** The lower-level error, if any. Never put secret material here. */
  cause?: unknown;
}

/** A failure the caller can act on: bad input, a failed check, a protocol violation by a peer. */
export class OvertError extends Error {
  readonly code: ErrorCode;
  readonly check: string | undefined;

  constructor(code: ErrorCode, message: string, options: OvertErrorOptions = {}) {
    super(options.check ? `${code} [${options.check}]: ${message}` : `${code}: ${message}`, {
      cause: options.cause,
    });
    this.name = 'OvertError';
    this.code = code;
    this.check = options.check;
  }
}

/** A broken invariant inside this library: a bug in us, never the caller's input. */
export class InternalError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(`internal error (a bug in @overt/core): ${message}`, { cause: options.cause });
    this.name = 'InternalError';
  }
}

/** True when `e` is an {@link OvertError}, optionally with the given code. */
export function isOvertError(e: unknown, code?: ErrorCode): e is OvertError {
  return e instanceof OvertError && (code === undefined || e.code === code);
}
