/**
 * Structured request logs (docs/spec/start.md §1.1): one JSON line per HTTP request the relay answers, with the
 * method, the route PATTERN (never the raw URL, whose path carries user, device, group and message ids), the
 * status, the duration in milliseconds, and for a refusal the problem's code and check ID. Nothing else: no
 * address, no signer, no header, no body (SECURITY.md "Secrets in logs and errors").
 *
 * Levels, lowest first: debug, info, warn, error, silent. An answered request is `info`, a refusal (4xx) `warn`,
 * a failure of the relay (5xx) `error`; a logger at level L writes lines of level ≥ L.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(v: unknown): v is LogLevel {
  return typeof v === 'string' && (LOG_LEVELS as readonly string[]).includes(v);
}

/** What the HTTP layer reports about one request. */
export interface RequestRecord {
  readonly method: string;
  /** The route pattern, e.g. `/v1/users/:userId/devices`; `(unmatched)` when no route matched. */
  readonly route: string;
  readonly status: number;
  readonly ms: number;
  /** The refusal's RelayError code and check ID (problem+json), when there is one. */
  readonly code?: string;
  readonly check?: string;
}

/** Receives one record per answered request (relay.ts `requestLog`). */
export type RequestLogSink = (record: RequestRecord) => void;

/** The level a request's line is written at. */
export function levelOf(status: number): LogLevel {
  return status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
}

/**
 * A sink that writes one JSON line per request of level ≥ `level` through `write` (default: stdout):
 * `{"time":ISO-8601,"level","msg":"request","method","route","status","ms"[,"code","check"]}`.
 */
export function jsonRequestLog(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stdout.write(line),
  now: () => number = Date.now,
): RequestLogSink {
  const min = LOG_LEVELS.indexOf(level);
  return (r) => {
    const lineLevel = levelOf(r.status);
    if (LOG_LEVELS.indexOf(lineLevel) < min) return;
    write(
      `${JSON.stringify({
        time: new Date(now()).toISOString(),
        level: lineLevel,
        msg: 'request',
        method: r.method,
        route: r.route,
        status: r.status,
        ms: Math.round(r.ms * 10) / 10,
        ...(r.code !== undefined ? { code: r.code } : {}),
        ...(r.check !== undefined ? { check: r.check } : {}),
      })}\n`,
    );
  };
}
