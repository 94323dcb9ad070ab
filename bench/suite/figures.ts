/**
 * The common shape of every figure in bench/results.json (schema: bench/results.schema.json), and the helpers the
 * parts under bench/suite/parts/ use to build figures from the JSON their wrapped benchmark prints.
 *
 * A figure is a median over repeats taken after a warm-up, reported with its spread and with the ratio to a
 * baseline measured in the same run (never across machines): `ratio = value / baseline.value`, in the units of
 * the two (for a rate, how many of these per baseline operation; for a time, the cost in baseline times).
 */

export interface Spread {
  min: number;
  median: number;
  max: number;
}

export interface Baseline {
  name: string;
  value: number;
  unit: string;
}

/** A point on a scaling curve: curves are drawn by bench/suite/plot.ts, one SVG per `id`, one line per series. */
export interface CurvePoint {
  id: string;
  title: string;
  series: string;
  x: number;
  x_label: string;
}

export interface Figure {
  /** Unique in a results file: "<part>: <what>". */
  name: string;
  part: string;
  value: number;
  unit: string;
  higher_is_better: boolean;
  baseline: Baseline | null;
  /** value / baseline.value, or null without a baseline. */
  ratio: number | null;
  /** The target in the same unit, or null. */
  target: number | null;
  meets_target: boolean | null;
  spread: Spread;
  /** How many measurements the median is taken over (1: a single measurement, no spread). */
  repeats: number;
  /** The command that reproduces this figure alone. */
  command: string;
  curve?: CurvePoint;
  note?: string;
}

/** A measurement before it is named and related: the samples (one per repeat), or one value. */
export type Samples = number | readonly number[];

/** `x` to `digits` significant digits (ratios keep their relative precision however small they are). */
export function round(x: number, digits = 6): number {
  if (!Number.isFinite(x) || x === 0) return x;
  return Number(x.toPrecision(digits));
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function spreadOf(samples: Samples): Spread {
  const xs = typeof samples === 'number' ? [samples] : samples;
  if (xs.length === 0) throw new Error('no samples');
  return { min: round(Math.min(...xs)), median: round(median(xs)), max: round(Math.max(...xs)) };
}

export interface FigureInput {
  name: string;
  samples: Samples;
  unit: string;
  higher_is_better: boolean;
  baseline?: Baseline | null;
  target?: number | null;
  curve?: CurvePoint;
  note?: string;
}

/** Builds figures of one part, each with the part's reproduce command. */
export class FigureSet {
  readonly figures: Figure[] = [];
  constructor(
    readonly part: string,
    readonly command: string,
  ) {}

  add(input: FigureInput): Figure {
    const spread = spreadOf(input.samples);
    const baseline = input.baseline ?? null;
    const target = input.target ?? null;
    const value = spread.median;
    const f: Figure = {
      name: `${this.part}: ${input.name}`,
      part: this.part,
      value,
      unit: input.unit,
      higher_is_better: input.higher_is_better,
      baseline: baseline === null ? null : { ...baseline, value: round(baseline.value) },
      ratio: baseline === null || baseline.value === 0 ? null : round(value / baseline.value),
      target,
      meets_target: target === null ? null : input.higher_is_better ? value >= target : value <= target,
      spread,
      repeats: typeof input.samples === 'number' ? 1 : input.samples.length,
      command: this.command,
      ...(input.curve ? { curve: input.curve } : {}),
      ...(input.note ? { note: input.note } : {}),
    };
    this.figures.push(f);
    return f;
  }

  /** A rate in ops/s (higher is better). */
  rate(name: string, samples: Samples, baseline: Baseline | null, extra: Partial<FigureInput> = {}): Figure {
    return this.add({ name, samples, unit: 'ops/s', higher_is_better: true, baseline, ...extra });
  }

  /** A time in ms (lower is better). */
  ms(name: string, samples: Samples, baseline: Baseline | null, extra: Partial<FigureInput> = {}): Figure {
    return this.add({ name, samples, unit: 'ms', higher_is_better: false, baseline, ...extra });
  }
}

/** A baseline from a rate: its name, its median, ops/s. */
export function baselineOf(name: string, samples: Samples, unit = 'ops/s'): Baseline {
  return { name, value: spreadOf(samples).median, unit };
}
