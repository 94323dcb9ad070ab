/**
 * One point of a scaling curve, measured in a process of its own so that its peak RSS belongs to that point
 * alone (bench/suite/parts/scale.ts starts one process per point). A point script measures its series (each a
 * list of samples, one per repeat after a warm-up) and its same-run baselines, then calls {@link printPoint}.
 */

export interface PointSeries {
  /** Samples, one per repeat. */
  samples: number[];
  unit: string;
  higher_is_better: boolean;
  /** The name of a baseline in the same point (or null). */
  baseline: string | null;
  target?: number | null;
  note?: string;
}

export interface Point {
  x: number;
  series: Record<string, PointSeries>;
  baselines: Record<string, { samples: number[]; unit: string }>;
  /** Resident set size when the fixtures were ready, before the measured work (MB). */
  rss_rest_mb: number;
  /** Peak resident set size of the process (MB): fixtures and the measured work. */
  rss_peak_mb: number;
  extra?: Record<string, unknown>;
}

export const mb = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;

/** Peak RSS of this process so far, MB (getrusage's ru_maxrss). */
export function peakRssMb(): number {
  return Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;
}

export function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

/** This process's CPU time in ms (user + system, every thread): the clock bench/core/harness.ts uses too. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Repeats `fn` until `minMs` have passed on `clock` (at least once); returns calls per second. The default is
 * the process's CPU clock, so time spent descheduled by other processes on a shared machine does not count;
 * 'wall' where waiting is part of the cost (a durable commit waits for the disk).
 */
export async function rate(fn: () => unknown, minMs: number, clock: 'cpu' | 'wall' = 'cpu'): Promise<number> {
  const now = clock === 'cpu' ? cpuMs : () => performance.now();
  let n = 0;
  const t0 = now();
  let elapsed = 0;
  do {
    await fn();
    n++;
    elapsed = now() - t0;
  } while (elapsed < minMs);
  return (n / elapsed) * 1000;
}

export function printPoint(p: Point): void {
  console.log(JSON.stringify(p));
}
