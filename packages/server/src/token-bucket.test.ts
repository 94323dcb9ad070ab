// docs/spec/relay.md §2.4 (RLY-5): the token bucket's arithmetic, on a fake clock.
import { describe, expect, it } from 'vitest';
import { isRelayError } from './errors.js';
import { TokenBuckets } from './rate-limit.js';

function refused(f: () => void): number | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    if (!isRelayError(e, 'RELAY_RATE_LIMITED')) throw e;
    expect(e.check).toBe('RLY-5');
    return e.retryAfter;
  }
}

describe('token buckets', () => {
  it('allows a burst of `capacity`, then one per 1/rate seconds, with an exact Retry-After', () => {
    let now = 0;
    const b = new TokenBuckets({ capacity: 3, refillPerSecond: 0.5 }, () => now);
    for (let i = 0; i < 3; i++) expect(refused(() => b.take('k'))).toBeUndefined();
    expect(refused(() => b.take('k'))).toBe(2);
    now += 1000;
    expect(refused(() => b.take('k'))).toBe(1);
    now += 1000;
    expect(refused(() => b.take('k'))).toBeUndefined();
    expect(refused(() => b.take('k'))).toBe(2);
    expect(refused(() => b.take('other'))).toBeUndefined();
  });

  it('takeEach takes one token from every bucket or from none (DS-11 claims of several devices)', () => {
    let now = 0;
    const b = new TokenBuckets({ capacity: 2, refillPerSecond: 0.25 }, () => now);
    b.takeEach(['x', 'y']);
    b.take('y');
    // y is empty: the pair is refused, and x keeps its token.
    expect(refused(() => b.takeEach(['x', 'y']))).toBe(4);
    expect(refused(() => b.take('x'))).toBeUndefined();
    expect(refused(() => b.take('x'))).toBe(4);
    now += 4000;
    expect(refused(() => b.takeEach(['x', 'y']))).toBeUndefined();
    expect(refused(() => b.takeEach([]))).toBeUndefined();
  });

  it('never exceeds capacity after a long idle time, and forgets idle full buckets', () => {
    let now = 0;
    const b = new TokenBuckets({ capacity: 2, refillPerSecond: 1 }, () => now);
    b.take('a');
    b.take('b');
    now += 1_000_000;
    b.take('c');
    expect(b.size).toBe(1);
    b.take('a');
    b.take('a');
    expect(refused(() => b.take('a'))).toBe(1);
  });

  it('refuses a nonsensical configuration', () => {
    expect(() => new TokenBuckets({ capacity: 0, refillPerSecond: 1 })).toThrowError(/RELAY_CONFIG/);
    expect(() => new TokenBuckets({ capacity: 1, refillPerSecond: 0 })).toThrowError(/RELAY_CONFIG/);
  });
});
