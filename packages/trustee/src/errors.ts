/**
 * The trustee daemon's error (docs/spec/access.md §6–§7): a stable code and a check ID. Messages never carry a
 * key, a share, a passphrase or a vault row's contents.
 */

export type TrusteeErrorCode =
  /** The vault key is missing, malformed, or not the key this vault was made with (TRU-1, TRU-2). */
  | 'TRUSTEE_VAULT_KEY'
  /** A sealed vault row does not open or does not decode (TRU-3): tampering, another row's bytes. */
  | 'TRUSTEE_VAULT_CORRUPT'
  /** The data directory or a file in it is unsafe or inconsistent (TRU-4, TRU-5). */
  | 'TRUSTEE_STATE'
  /** A ceremony message, proposal or result was refused (CER-*). */
  | 'CEREMONY_INVALID'
  /** A ceremony could not complete (CER-*): too few trustees, a timeout, disagreement. */
  | 'CEREMONY_FAILED'
  /** The trustee has no policy seen on the log with the witness quorum, or the view is stale (TRU-6). */
  | 'TRUSTEE_NO_POLICY'
  /** Bad operator API request (TRU-7). */
  | 'TRUSTEE_API'
  /** The share of an epoch was shredded (after-release.md §6, TRU-S1): it is gone, and no ceremony restores it. */
  | 'TRUSTEE_SHARE_SHREDDED';

export class TrusteeError extends Error {
  readonly code: TrusteeErrorCode;
  readonly check: string | undefined;

  constructor(code: TrusteeErrorCode, message: string, options: { check?: string; cause?: unknown } = {}) {
    super(options.check ? `${code} [${options.check}]: ${message}` : `${code}: ${message}`, {
      cause: options.cause,
    });
    this.name = 'TrusteeError';
    this.code = code;
    this.check = options.check;
  }
}

export function isTrusteeError(e: unknown, code?: TrusteeErrorCode): e is TrusteeError {
  return e instanceof TrusteeError && (code === undefined || e.code === code);
}
