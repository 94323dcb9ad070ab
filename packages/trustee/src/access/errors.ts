/**
 * Errors of the trustee's access half (docs/spec/access.md §5, §6). One class with a stable `code` and the check
 * ID that failed; messages never carry a key, share, plaintext or user id.
 */
export type AccessErrorCode =
  | 'ACCESS_STATE' // the tracker was fed entries or checkpoints out of order (ACC-T1)
  | 'ACCESS_NOT_FOUND' // no such request on the trustee's view of the log
  | 'ACCESS_BAD_REQUEST' // an operator API body that does not parse (ACC-0)
  | 'ACCESS_CONFLICT'; // a decision the trustee must not make (ACC-V1..V3)

export class AccessError extends Error {
  readonly code: AccessErrorCode;
  readonly check: string | undefined;
  constructor(code: AccessErrorCode, message: string, options: { check?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AccessError';
    this.code = code;
    this.check = options.check;
  }
}

export function isAccessError(e: unknown, code?: AccessErrorCode): e is AccessError {
  return e instanceof AccessError && (code === undefined || e.code === code);
}
