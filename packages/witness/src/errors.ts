/**
 * Errors of @overt/witness.
 *
 * Every way an add-checkpoint request can be refused is a {@link WitnessError} with a stable `code`, the check ID
 * of docs/spec/witness.md that failed, and the HTTP status C2SP tlog-witness prescribes for it. The HTTP layer
 * maps the error to a response from these fields alone, so the status a client sees can never drift from the
 * check that failed. Messages name the rule, never the submitted bytes or any key material.
 */

export type WitnessErrorCode =
  /** The request body is not `old N\n`, proof lines, a blank line and a parseable checkpoint note. (400) */
  | 'WITNESS_MALFORMED'
  /** The request body is larger than the witness accepts. (413) */
  | 'WITNESS_TOO_LARGE'
  /** The checkpoint's origin is not a log this witness is configured for. (404) */
  | 'WITNESS_UNKNOWN_LOG'
  /** No signature from a key trusted for the origin verifies, or one from a trusted key fails. (403) */
  | 'WITNESS_BAD_SIGNATURE'
  /** `old` is larger than the checkpoint's size. (400) */
  | 'WITNESS_OLD_TOO_LARGE'
  /** `old` is not the size of the latest cosigned checkpoint (also raised when a concurrent request won). (409) */
  | 'WITNESS_CONFLICT'
  /** Same size as the latest cosigned checkpoint but a different root hash: the log forked. (409) */
  | 'WITNESS_ROOT_MISMATCH'
  /** The consistency proof does not prove the checkpoint extends the latest cosigned one. (422) */
  | 'WITNESS_BAD_PROOF'
  /** The witness's own configuration or data directory is unusable (operator error, never a request's). */
  | 'WITNESS_CONFIG'
  /** A witness answered a client with something the protocol does not allow. */
  | 'WITNESS_RESPONSE';

/** The HTTP status each refusal maps to (C2SP tlog-witness, "add-checkpoint"). */
export const WITNESS_STATUS: Readonly<Record<WitnessErrorCode, number>> = {
  WITNESS_MALFORMED: 400,
  WITNESS_TOO_LARGE: 413,
  WITNESS_UNKNOWN_LOG: 404,
  WITNESS_BAD_SIGNATURE: 403,
  WITNESS_OLD_TOO_LARGE: 400,
  WITNESS_CONFLICT: 409,
  WITNESS_ROOT_MISMATCH: 409,
  WITNESS_BAD_PROOF: 422,
  WITNESS_CONFIG: 500,
  WITNESS_RESPONSE: 502,
};

export interface WitnessErrorOptions {
  check?: string;
  cause?: unknown;
  /** For WITNESS_CONFLICT and WITNESS_ROOT_MISMATCH: the size of the latest cosigned checkpoint. */
  knownSize?: number;
}

export class WitnessError extends Error {
  readonly code: WitnessErrorCode;
  readonly check: string | undefined;
  readonly status: number;
  readonly knownSize: number | undefined;

  constructor(code: WitnessErrorCode, message: string, options: WitnessErrorOptions = {}) {
    super(options.check ? `${code} [${options.check}]: ${message}` : `${code}: ${message}`, {
      cause: options.cause,
    });
    this.name = 'WitnessError';
    this.code = code;
    this.check = options.check;
    this.status = WITNESS_STATUS[code];
    this.knownSize = options.knownSize;
  }
}

/** True when `e` is a {@link WitnessError}, optionally with the given code. */
export function isWitnessError(e: unknown, code?: WitnessErrorCode): e is WitnessError {
  return e instanceof WitnessError && (code === undefined || e.code === code);
}
