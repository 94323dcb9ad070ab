/**
 * How old is a verifier's view of a log? (docs/spec/log.md §4.1; DESIGN A16.)
 *
 * A relay that cannot fork the log (A7: witnesses cosign only consistent extensions) can still freeze one party
 * on an old, validly cosigned checkpoint — a consistent prefix — and so hide every entry appended since. The
 * defence: the log re-checkpoints on a heartbeat and the witnesses cosign each one with their current time
 * (c2sp.org/tlog-cosignature: every cosignature carries a timestamp), so an honest view is never older than a
 * few seconds, and a verifier refuses to act on a view whose witness timestamps are older than a set age.
 *
 * The age of a checkpoint is judged from the **quorum-th newest** valid cosignature timestamp: a view is only as
 * fresh as the quorum of witnesses vouches for, so one witness whose clock runs ahead (or that the relay
 * controls) cannot make an old view look fresh on its own. A timestamp more than `maxFutureSeconds` ahead of the
 * verifier's clock is not valid for freshness and is ignored.
 *
 * Pure and browser-safe: the caller passes its clock. The client's key-transparency gate and the trustees'
 * release rule (DESIGN §5.3) use the same function.
 */
import type { VerifiedCheckpoint } from './checkpoint.js';
import { LogError } from './errors.js';

/** Default tolerance for a witness clock ahead of the verifier's (seconds). */
export const DEFAULT_MAX_FUTURE_SECONDS = 60;

/**
 * Default maximum age of a view (seconds) for clients and `overt log verify`: minutes, not hours — a relay can delay
 * what a party sees by at most this much.
 */
export const DEFAULT_MAX_AGE_SECONDS = 300;

/**
 * Default interval of the log's heartbeat (ms; log-service.md "Heartbeat"): a healthy log's newest cosigned
 * checkpoint is at most about this old, 30 times less than {@link DEFAULT_MAX_AGE_SECONDS}.
 */
export const DEFAULT_HEARTBEAT_MS = 10_000;

export interface FreshnessOptions {
  /** The oldest the quorum-th newest cosignature may be, in seconds (a non-negative integer). */
  readonly maxAgeSeconds: number;
  /** Cosignatures dated more than this far after `now` are ignored (default {@link DEFAULT_MAX_FUTURE_SECONDS}). */
  readonly maxFutureSeconds?: number;
}

/** What {@link checkpointFreshness} found. */
export interface Freshness {
  /** True when the quorum-th newest valid timestamp is at most `maxAgeSeconds` before `now`. */
  readonly fresh: boolean;
  /** The quorum-th newest valid cosignature timestamp (POSIX seconds), undefined when fewer than quorum are valid. */
  readonly timestamp: number | undefined;
  /** `now − timestamp`, at least 0 (a timestamp within the skew counts as age 0); undefined with `timestamp`. */
  readonly ageSeconds: number | undefined;
  /** How many cosignatures were ignored for being dated too far in the future. */
  readonly future: number;
}

function nonNegative(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new LogError('COSIG_POLICY', `${name} must be a non-negative integer`, { check: 'FRESH-2' });
}

/**
 * The quorum-th newest of `timestamps` after dropping those more than `maxFutureSeconds` after `now`, or
 * undefined when fewer than `quorum` remain. FRESH-2 (COSIG_POLICY) for a quorum below 1 or a bad clock or skew:
 * without witnesses nothing vouches for a checkpoint's time.
 */
export function quorumTimestamp(
  timestamps: readonly number[],
  quorum: number,
  now: number,
  maxFutureSeconds: number = DEFAULT_MAX_FUTURE_SECONDS,
): number | undefined {
  if (!Number.isSafeInteger(quorum) || quorum < 1)
    throw new LogError('COSIG_POLICY', 'freshness needs a witness quorum of at least 1', {
      check: 'FRESH-2',
    });
  nonNegative('now', now);
  nonNegative('maxFutureSeconds', maxFutureSeconds);
  const valid = timestamps.filter((t) => t <= now + maxFutureSeconds).sort((a, b) => b - a);
  return valid.length >= quorum ? valid[quorum - 1] : undefined;
}

/**
 * Is the verified checkpoint fresh at `now` (POSIX seconds) under `quorum`? Only the cosignatures that verified
 * under the verifier's policy count ({@link VerifiedCheckpoint.cosignatures}, one per witness). Never throws for
 * the checkpoint's contents; FRESH-2 (COSIG_POLICY) for a quorum below 1 or malformed options.
 */
export function checkpointFreshness(
  cp: VerifiedCheckpoint,
  quorum: number,
  now: number,
  options: FreshnessOptions,
): Freshness {
  nonNegative('maxAgeSeconds', options.maxAgeSeconds);
  const skew = options.maxFutureSeconds ?? DEFAULT_MAX_FUTURE_SECONDS;
  const stamps = cp.cosignatures.map((c) => c.timestamp);
  const timestamp = quorumTimestamp(stamps, quorum, now, skew);
  const future = stamps.filter((t) => t > now + skew).length;
  if (timestamp === undefined) return { fresh: false, timestamp, ageSeconds: undefined, future };
  const ageSeconds = Math.max(0, now - timestamp);
  return { fresh: ageSeconds <= options.maxAgeSeconds, timestamp, ageSeconds, future };
}

/**
 * {@link checkpointFreshness}, throwing CHECKPOINT_STALE (FRESH-1) unless the checkpoint is fresh. The message
 * says whether the quorum's timestamps are too old or too few are valid (e.g. dated in the future).
 */
export function requireFresh(
  cp: VerifiedCheckpoint,
  quorum: number,
  now: number,
  options: FreshnessOptions,
): Freshness {
  const f = checkpointFreshness(cp, quorum, now, options);
  if (f.fresh) return f;
  throw new LogError(
    'CHECKPOINT_STALE',
    f.timestamp === undefined
      ? `fewer than ${quorum} witness cosignatures carry a valid timestamp (${f.future} dated in the future)`
      : `the witness quorum last cosigned ${f.ageSeconds} s ago, more than the ${options.maxAgeSeconds} s allowed`,
    { check: 'FRESH-1' },
  );
}
