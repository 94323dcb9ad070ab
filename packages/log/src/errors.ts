/**
 * Errors of @overt/log.
 *
 * API STABLE: other packages (the log service, the witness daemon, the CLI) branch on these codes.
 *
 * Every failure on attacker-controlled input (notes, checkpoints, proofs, tiles, tile paths, receipts, entries,
 * anything fetched from a log or a peer) surfaces as a {@link LogError} whose `code` is one of the closed
 * {@link LogErrorCode} union, so callers — and the HTTP layer, which maps codes to status — can branch on it.
 * A failure that can only come from a bug in this package is a {@link LogInternalError} instead. Messages never
 * contain keys, signatures of secret material or user identifiers: they name the field and the rule.
 *
 * All codes of the package live in the one union below, grouped by the module that raises them
 * (the service half under src/service adds its own group at the end).
 */

export type LogErrorCode =
  // merkle.ts — RFC 6962 / RFC 9162 trees and proofs
  | 'MERKLE_RANGE'
  | 'MERKLE_HASH_SIZE'
  | 'MERKLE_PROOF_SIZE'
  | 'MERKLE_ROOT_MISMATCH'
  | 'MERKLE_SUBTREE'
  | 'MERKLE_READER'
  // note.ts — C2SP signed-note and its keys
  | 'NOTE_MALFORMED'
  | 'NOTE_TOO_MANY_SIGNATURES'
  | 'NOTE_NAME'
  | 'NOTE_KEY_MALFORMED'
  | 'NOTE_KEY_ID'
  | 'NOTE_KEY_TYPE'
  | 'NOTE_BAD_SIGNATURE'
  | 'NOTE_UNVERIFIED'
  // checkpoint.ts — C2SP tlog-checkpoint
  | 'CHECKPOINT_MALFORMED'
  | 'CHECKPOINT_ORIGIN'
  | 'CHECKPOINT_INCONSISTENT'
  // freshness.ts — how old a view of the log is (A16)
  | 'CHECKPOINT_STALE'
  // cosignature.ts — C2SP tlog-cosignature and witness policies
  | 'COSIG_MALFORMED'
  | 'COSIG_BAD_SIGNATURE'
  | 'COSIG_TIMESTAMP'
  | 'COSIG_POLICY'
  | 'COSIG_QUORUM'
  // tiles.ts — C2SP tlog-tiles
  | 'TILE_PATH'
  | 'TILE_MALFORMED'
  | 'TILE_UNAVAILABLE'
  | 'BUNDLE_MALFORMED'
  // proof.ts — C2SP tlog-proof receipts
  | 'PROOF_MALFORMED'
  | 'PROOF_INVALID'
  // entry.ts — Overt's entry framing
  | 'ENTRY_MALFORMED'
  | 'ENTRY_TOO_LARGE'
  | 'ENTRY_TYPE'
  // monitor.ts / gossip.ts
  | 'MONITOR_TRANSPORT'
  | 'MONITOR_STATE'
  | 'MONITOR_ENTRIES_MISMATCH'
  | 'SPLIT_VIEW'
  | 'EVIDENCE_INVALID'
  // service/ — storage drivers, sequencer, HTTP (docs/spec/log-service.md)
  | 'STORE_CONFLICT'
  | 'STORE_CORRUPT'
  | 'STORE_INVALID'
  | 'STORE_ORIGIN'
  | 'STORE_FAILED'
  | 'SEQ_QUEUE_FULL'
  | 'SEQ_ENTRY_TOO_LARGE'
  | 'SEQ_CLOSED'
  | 'SEQ_HALTED'
  | 'SEQ_TIMEOUT'
  | 'HTTP_NOT_FOUND'
  | 'HTTP_METHOD'
  | 'HTTP_TOO_LARGE'
  | 'HTTP_UNAUTHORIZED'
  | 'HTTP_BAD_REQUEST'
  | 'SERVICE_CONFIG';
// (src/service codes are appended to the union above by the service module.)

export interface LogErrorOptions {
  /** The check ID from docs/spec/log.md that failed (e.g. `NOTE-3`), where the failure protects a guarantee. */
  check?: string;
  /** The lower-level error, if any. Never put secret material here. */
  cause?: unknown;
}

/** A failure the caller can act on: malformed input, a failed verification, a misbehaving log or peer. */
export class LogError extends Error {
  readonly code: LogErrorCode;
  readonly check: string | undefined;

  constructor(code: LogErrorCode, message: string, options: LogErrorOptions = {}) {
    super(options.check ? `${code} [${options.check}]: ${message}` : `${code}: ${message}`, {
      cause: options.cause,
    });
    this.name = 'LogError';
    this.code = code;
    this.check = options.check;
  }
}

/** A broken invariant inside this package: a bug in us, never the caller's input. */
export class LogInternalError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(`internal error (a bug in @overt/log): ${message}`, { cause: options.cause });
    this.name = 'LogInternalError';
  }
}

/** True when `e` is a {@link LogError}, optionally with the given code. */
export function isLogError(e: unknown, code?: LogErrorCode): e is LogError {
  return e instanceof LogError && (code === undefined || e.code === code);
}
