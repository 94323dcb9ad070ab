/**
 * A tiny benchmark harness shared by bench/core/*.ts: measure a function's throughput in operations per second,
 * relate it to a baseline measured in the same run (ratios survive a noisy, shared machine where absolute
 * numbers do not), and print one JSON document per suite on stdout.
 *
 *   const base = measure('ristretto255 base-point multiply', () => group.baseMul(s));
 *   const seal = measure('capsule seal', () => sealCapsule(...), { baseline: base });
 *   report('capsule', [base, seal]);
 *
 * To compare alternatives on a busy machine use {@link compare}, which interleaves their samples so that a
 * burst of load from another process hits all of them alike.
 *
 * Timing uses this process's CPU time (`process.cpuUsage()`, user + system) where it exists, so time spent
 * descheduled while other processes run on a shared machine does not count; elsewhere (browsers) it falls back
 * to `performance.now()`. Each measurement warms up, then runs `samples` timed samples of at least `minMs` each
 * and reports the median sample, which is robust against a single disturbed sample.
 */

export interface MeasureOptions {
  /** Minimum duration of one timed sample in milliseconds (default 300). */
  minMs?: number;
  /** Number of timed samples; the median is reported (default 3). */
  samples?: number;
  /** How many operations one call of `fn` performs (e.g. a batch of 64 verifications); default 1. */
  opsPerCall?: number;
  /** A result measured earlier in the same run to which this one is related. */
  baseline?: Result;
}

export interface Result {
  name: string;
  /** Operations per second (calls per second × opsPerCall), median of the samples. */
  ops_per_s: number;
  /** Mean time of one operation in microseconds (1e6 / ops_per_s). */
  us_per_op: number;
  /** Calls of `fn` timed across all samples. */
  calls: number;
  ops_per_call: number;
  /** Every timed sample's rate (ops/s), in the order measured: the spread around the median (bench/suite). */
  samples_ops_per_s?: number[];
  /** Present when a baseline was given. */
  baseline?: {
    name: string;
    /** ops_per_s / baseline.ops_per_s: how many of these per baseline operation. */
    speed_ratio: number;
    /** baseline.ops_per_s / ops_per_s: the cost of one operation counted in baseline operations. */
    cost_in_baseline_ops: number;
  };
  /** Free-form extra figures a suite wants to attach (targets, sizes). */
  [extra: string]: unknown;
}

const cpu = typeof process !== 'undefined' && typeof process.cpuUsage === 'function';

/**
 * Milliseconds of this process's CPU time (or of wall-clock time where CPU time is not available): the clock
 * {@link measure} uses. Suites that time asynchronous work themselves should read this clock too, so that all
 * their figures and baselines are on the same clock.
 */
export function now(): number {
  if (cpu) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  }
  return performance.now();
}

/** Which clock {@link measure} uses: 'cpu' (process CPU time) or 'wall'. */
export const CLOCK: 'cpu' | 'wall' = cpu ? 'cpu' : 'wall';

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Times `fn` and returns its throughput. `fn` must do the work synchronously. */
export function measure(name: string, fn: () => unknown, options: MeasureOptions = {}): Result {
  const minMs = options.minMs ?? 300;
  const samples = options.samples ?? 3;
  const opsPerCall = options.opsPerCall ?? 1;
  // Warm-up: let the JIT compile the path and find a batch size that takes roughly a millisecond, so the
  // clock is read rarely compared with the work.
  let batch = 1;
  const warmUntil = now() + Math.min(100, minMs / 2);
  for (;;) {
    const t0 = now();
    for (let i = 0; i < batch; i++) fn();
    const dt = now() - t0;
    if (now() >= warmUntil) break;
    if (dt < 1) batch *= 2;
  }
  const rates: number[] = [];
  let calls = 0;
  for (let s = 0; s < samples; s++) {
    let n = 0;
    const t0 = now();
    let elapsed = 0;
    do {
      for (let i = 0; i < batch; i++) fn();
      n += batch;
      elapsed = now() - t0;
    } while (elapsed < minMs);
    calls += n;
    rates.push(((n * opsPerCall) / elapsed) * 1000);
  }
  rates.sort((a, b) => a - b);
  const opsPerS = rates[Math.floor(rates.length / 2)]!;
  const result: Result = {
    name,
    ops_per_s: round(opsPerS, 1),
    us_per_op: round(1e6 / opsPerS, 2),
    calls,
    ops_per_call: opsPerCall,
    samples_ops_per_s: rates.map((r) => round(r, 1)),
  };
  return options.baseline ? withBaseline(result, options.baseline) : result;
}

export interface CompareEntry {
  name: string;
  fn: () => unknown;
  /** How many operations one call performs (default 1). */
  opsPerCall?: number;
}

/**
 * Measures several alternatives with their samples interleaved (round-robin), so load from other processes
 * affects them alike. Every result carries a `baseline` relating it to the first entry (or to `options.baseline`
 * when given).
 */
export function compare(
  entries: readonly CompareEntry[],
  options: Omit<MeasureOptions, 'opsPerCall'> = {},
): Result[] {
  const samples = options.samples ?? 5;
  const rounds = entries.map((e) => ({ entry: e, results: [] as Result[] }));
  for (let s = 0; s < samples; s++) {
    for (const r of rounds) {
      r.results.push(
        measure(r.entry.name, r.entry.fn, {
          minMs: options.minMs,
          samples: 1,
          opsPerCall: r.entry.opsPerCall,
        }),
      );
    }
  }
  const merged = rounds.map(({ results }): Result => {
    const sorted = [...results].sort((a, b) => a.ops_per_s - b.ops_per_s);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    return {
      ...median,
      calls: results.reduce((n, r) => n + r.calls, 0),
      samples_ops_per_s: results.map((r) => r.ops_per_s),
    };
  });
  const base = options.baseline ?? merged[0]!;
  return merged.map((r) => withBaseline(r, base));
}

function withBaseline(r: Result, baseline: Result): Result {
  if (r === baseline) return r;
  return {
    ...r,
    baseline: {
      name: baseline.name,
      speed_ratio: round(r.ops_per_s / baseline.ops_per_s, 4),
      cost_in_baseline_ops: round(baseline.ops_per_s / r.ops_per_s, 3),
    },
  };
}

/** Prints one suite's results as a JSON document on stdout (and returns it, for callers that post-process). */
export function report(
  suite: string,
  results: readonly Result[],
  extra: Record<string, unknown> = {},
): string {
  const doc = {
    suite,
    runtime: typeof process !== 'undefined' ? `node ${process.version}` : 'unknown',
    clock: CLOCK,
    date: new Date().toISOString(),
    ...extra,
    results,
  };
  const text = JSON.stringify(doc, null, 2);
  console.log(text);
  return text;
}
