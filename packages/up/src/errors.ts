/**
 * The all-in-one start's error (docs/spec/start.md): a {@link StandaloneError} with a stable code. Messages never
 * carry keys, shares or secret-file contents.
 */

export type StandaloneErrorCode =
  /** Bad options, or a data directory that belongs to another organisation or log (START-1). */
  | 'START_CONFIG'
  /** A trustee's secret or share file is missing, over-exposed, malformed or fails to decrypt (START-2, START-3). */
  | 'START_SHARE_FILE'
  /** Stored state disagrees with itself, e.g. a published epoch key no trustee holds shares of (START-4). */
  | 'START_STATE'
  /** A child process (a witness) failed to start or died (START-5). */
  | 'START_CHILD'
  /** The data directory is in use by another running start (START-10). */
  | 'START_LOCKED'
  /** A port the system needs is taken (START-11): the message names it and the option that moves it. */
  | 'START_PORT'
  /**
   * `overt init` / `overt relay serve` (start.md §4.4): a directory already initialised, or one `relay serve` cannot
   * run from (no or malformed init files) (INIT-1, INIT-2).
   */
  | 'INIT_CONFIG'
  /** The relay's logged policy and `policy.signed` disagree (INIT-3). */
  | 'INIT_POLICY';

export class StandaloneError extends Error {
  readonly code: StandaloneErrorCode;
  readonly check: string | undefined;

  constructor(code: StandaloneErrorCode, message: string, options: { check?: string; cause?: unknown } = {}) {
    super(options.check ? `${code} [${options.check}]: ${message}` : `${code}: ${message}`, {
      cause: options.cause,
    });
    this.name = 'StandaloneError';
    this.code = code;
    this.check = options.check;
  }
}

export function isStandaloneError(e: unknown, code?: StandaloneErrorCode): e is StandaloneError {
  return e instanceof StandaloneError && (code === undefined || e.code === code);
}
