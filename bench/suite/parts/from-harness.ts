/**
 * Figures from the results of bench/core/harness.ts (`measure`, `compare`) and the suites built on it: each
 * result's timed samples (`samples_ops_per_s`) give the spread, a result of the same document named as the
 * baseline gives the baseline value.
 */
import { type Baseline, type Figure, type FigureSet, round } from '../figures.js';

export interface HarnessResult {
  name: string;
  ops_per_s: number;
  samples_ops_per_s?: number[];
  bytes_per_op?: number;
  target_ops_per_s?: number;
  model_ops_per_s?: number;
  group_ops?: Record<string, number>;
  baseline?: { name: string };
}

export function byName(results: readonly HarnessResult[], name: string): HarnessResult {
  const r = results.find((x) => x.name === name);
  if (r === undefined) throw new Error(`no result named "${name}"`);
  return r;
}

export function samplesOf(r: HarnessResult, scale = 1): number[] {
  return (r.samples_ops_per_s ?? [r.ops_per_s]).map((x) => x * scale);
}

/** A harness result as a baseline: ops/s, or MB/s when `mb` (and the result has a byte size). */
export function harnessBaseline(r: HarnessResult, mb = false): Baseline {
  return mb && r.bytes_per_op
    ? { name: r.name, value: (r.ops_per_s * r.bytes_per_op) / 1e6, unit: 'MB/s' }
    : { name: r.name, value: r.ops_per_s, unit: 'ops/s' };
}

export interface FromHarness {
  /** Figure name (default: the result's name). */
  name?: string;
  baseline: HarnessResult | null;
  target?: number;
  /** Report MB/s (result and baseline must carry bytes_per_op). */
  mb?: boolean;
  note?: string;
}

/** Adds one harness result as a rate figure (ops/s or MB/s), related to `baseline`. */
export function addHarness(set: FigureSet, r: HarnessResult, o: FromHarness): Figure {
  const mb = o.mb === true && r.bytes_per_op !== undefined;
  const model =
    r.model_ops_per_s === undefined || r.group_ops === undefined
      ? undefined
      : `the group operations alone (${Object.entries(r.group_ops)
          .map(([k, v]) => `${v} ${k}`)
          .join(', ')}) allow ${round(r.model_ops_per_s, 3)}/s at this run's rates`;
  return set.add({
    name: o.name ?? r.name,
    samples: samplesOf(r, mb ? r.bytes_per_op! / 1e6 : 1),
    unit: mb ? 'MB/s' : 'ops/s',
    higher_is_better: true,
    baseline: o.baseline === null ? null : harnessBaseline(o.baseline, mb),
    target: o.target ?? r.target_ops_per_s ?? null,
    note: [o.note, model].filter(Boolean).join('; ') || undefined,
  });
}
