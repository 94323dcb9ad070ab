/**
 * Token-bucket rate limits (docs/spec/relay.md §2.4, RLY-5). Each key (a device, the admin, or a client address
 * for unauthenticated work) has a bucket of `capacity` tokens refilled continuously at `refillPerSecond`; a
 * request takes one token or is refused with 429 and `Retry-After`, the whole seconds until a token is back.
 *
 * Buckets live in the relay node's memory: behind a load balancer each node limits on its own, so a device gets
 * at most (nodes × rate); the limits protect a node's CPU and database, not a global quota. Idle full buckets are
 * forgotten, so memory is bounded by the number of keys active within one refill period.
 */
import { RelayError } from './errors.js';

export interface BucketConfig {
  /** Burst size: tokens in a full bucket (≥ 1). */
  readonly capacity: number;
  /** Sustained rate: tokens added per second (> 0). */
  readonly refillPerSecond: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = 0;

  constructor(
    private readonly config: BucketConfig,
    private readonly now: () => number = Date.now,
  ) {
    if (!(config.capacity >= 1) || !(config.refillPerSecond > 0))
      throw new RelayError('RELAY_CONFIG', 'token bucket needs capacity >= 1 and refillPerSecond > 0');
  }

  /** Takes one token for `key`, or throws RELAY_RATE_LIMITED (RLY-5) with the seconds until one is available. */
  take(key: string): void {
    this.takeEach([key]);
  }

  /**
   * Takes one token from each of `keys`, all or none: when any bucket has less than one, nothing is taken and
   * RELAY_RATE_LIMITED (RLY-5) says the seconds until every one of them has a token again.
   */
  takeEach(keys: readonly string[]): void {
    const now = this.now();
    this.sweep(now);
    const buckets = keys.map((key) => {
      const b = this.buckets.get(key) ?? { tokens: this.config.capacity, at: now };
      const elapsed = Math.max(0, now - b.at) / 1000;
      b.tokens = Math.min(this.config.capacity, b.tokens + elapsed * this.config.refillPerSecond);
      b.at = now;
      this.buckets.set(key, b);
      return b;
    });
    const lowest = Math.min(...buckets.map((b) => b.tokens));
    if (lowest < 1) {
      const retryAfter = Math.max(1, Math.ceil((1 - lowest) / this.config.refillPerSecond));
      throw new RelayError('RELAY_RATE_LIMITED', 'too many requests', { check: 'RLY-5', retryAfter });
    }
    for (const b of buckets) b.tokens -= 1;
  }

  /** Number of tracked keys (for tests). */
  get size(): number {
    return this.buckets.size;
  }

  /** Drops buckets that would be full by now: they carry no information. */
  private sweep(now: number): void {
    const fullAfterMs = (this.config.capacity / this.config.refillPerSecond) * 1000;
    if (now - this.lastSweep < fullAfterMs) return;
    this.lastSweep = now;
    for (const [k, b] of this.buckets) if (now - b.at >= fullAfterMs) this.buckets.delete(k);
  }
}
