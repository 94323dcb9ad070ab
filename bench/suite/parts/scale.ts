/**
 * Scaling curves: a part that runs a point script (bench/scale/*.ts) once per x, each in a process of its own,
 * and turns every point into figures on two curves — the point's series (time or throughput) and its peak RSS
 * beside the RSS it had at rest before the measured work (the memory baseline: flat memory is a ratio near 1).
 */
import type { Point } from '../../scale/point.js';
import { FigureSet } from '../figures.js';
import { commandOf, type Part, runScript } from '../part.js';

export interface ScaleSpec {
  name: string;
  description: string;
  script: string;
  /** x values, full and --quick. */
  points: { full: number[]; quick: number[] };
  /** Extra arguments of the point script for one x. */
  args(x: number, quick: boolean): string[];
  /** Curve id prefix ("message"), titles, and how an x reads in a figure name ("100 B"). */
  curve: { id: string; title: string; x_label: string; format(x: number): string };
  quickByDefault?: boolean;
}

export function scalePart(spec: ScaleSpec): Part {
  return {
    name: spec.name,
    description: spec.description,
    quickByDefault: spec.quickByDefault,
    async run(ctx) {
      const set = new FigureSet(spec.name, commandOf(spec.name));
      const points: Point[] = [];
      for (const x of ctx.quick ? spec.points.quick : spec.points.full) {
        ctx.log(`${spec.curve.x_label}: ${spec.curve.format(x)} …`);
        const p = (await runScript(spec.script, spec.args(x, ctx.quick))) as Point;
        points.push(p);
        const at = spec.curve.format(x);
        const baselines = Object.fromEntries(
          Object.entries(p.baselines).map(([name, b]) => {
            const s = [...b.samples].sort((u, v) => u - v);
            const m = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
            return [name, { name: `${name}, ${at}`, value: m, unit: b.unit }];
          }),
        );
        const unitsOf = new Set(Object.values(p.series).map((s) => s.unit));
        for (const [series, s] of Object.entries(p.series)) {
          // One curve per unit (e.g. ms and bytes of the same point are drawn apart).
          const id = unitsOf.size > 1 ? `${spec.curve.id}/${slug(s.unit)}` : spec.curve.id;
          set.add({
            name: `${series}, ${at}`,
            samples: s.samples,
            unit: s.unit,
            higher_is_better: s.higher_is_better,
            baseline: s.baseline === null ? null : baselines[s.baseline]!,
            target: s.target ?? null,
            note: s.note,
            curve: { id, title: `${spec.curve.title} (${s.unit})`, series, x, x_label: spec.curve.x_label },
          });
        }
        set.add({
          name: `peak RSS, ${at}`,
          samples: p.rss_peak_mb,
          unit: 'MB',
          higher_is_better: false,
          baseline: { name: `RSS at rest before the work, ${at}`, value: p.rss_rest_mb, unit: 'MB' },
          curve: {
            id: `${spec.curve.id}/rss`,
            title: `${spec.curve.title}: peak RSS of the process (MB)`,
            series: 'peak RSS',
            x,
            x_label: spec.curve.x_label,
          },
        });
      }
      return { figures: set.figures, raw: { points } };
    },
  };
}

function slug(unit: string): string {
  return (
    unit
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'value'
  );
}

const bytes = (x: number) => (x >= 1e6 ? `${x / 1e6} MB` : x >= 1e3 ? `${x / 1e3} kB` : `${x} B`);

export const scaleMessage = scalePart({
  name: 'scale/message',
  description: 'seal and open throughput and peak RSS by message size, 100 B to 100 MB (memory flat)',
  script: 'bench/scale/message.ts',
  points: { full: [1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8], quick: [1e2, 1e4, 1e6, 1e8] },
  args: (x, quick) => [
    '--bytes',
    String(x),
    '--repeats',
    quick ? '2' : '3',
    '--min-ms',
    quick ? '150' : '400',
  ],
  curve: {
    id: 'message',
    title: 'Envelope seal and open by message size',
    x_label: 'message bytes',
    format: bytes,
  },
});

const count = (x: number) => x.toLocaleString('en-US');

export const scaleLog = scalePart({
  name: 'scale/log',
  description:
    'log service by log size, 10^3 to 10^6 entries: durable appends/s, proof generation, size, RSS',
  script: 'bench/scale/log.ts',
  // 10^7 entries is ≈ 5 minutes of appends alone here: left out of the suite (run the point script with
  // --entries 10000000).
  points: { full: [1e3, 1e4, 1e5, 1e6], quick: [1e3, 1e4, 1e5] },
  args: (x, quick) => [
    '--entries',
    String(x),
    '--repeats',
    quick ? '2' : '3',
    '--min-ms',
    quick ? '150' : '300',
  ],
  curve: { id: 'log', title: 'Log service by log size', x_label: 'entries in the log', format: count },
  quickByDefault: false,
});

export const scaleGroup = scalePart({
  name: 'scale/group',
  description:
    'MLS through Overt by group size, 2 to 500 members: commit, join, process a commit, send, receive',
  script: 'bench/scale/group.ts',
  points: { full: [2, 5, 10, 50, 100, 500], quick: [2, 10, 100] },
  args: (x, quick) => [
    '--members',
    String(x),
    '--repeats',
    quick ? '2' : '3',
    '--min-ms',
    quick ? '100' : '300',
  ],
  curve: { id: 'group', title: 'MLS by group size', x_label: 'members (one device each)', format: count },
  quickByDefault: false,
});

export const scaleTrustees = scalePart({
  name: 'scale/trustees',
  description: 'DKG, share verification and combine by trustee count n = 3 to 15 (k a majority)',
  script: 'bench/scale/trustees.ts',
  points: { full: [3, 5, 7, 9, 11, 13, 15], quick: [3, 7, 15] },
  args: (x, quick) => ['--n', String(x), '--repeats', quick ? '2' : '3', '--min-ms', quick ? '100' : '300'],
  curve: {
    id: 'trustees',
    title: 'Trustees by count n (k = ⌊n/2⌋ + 1)',
    x_label: 'trustees n',
    format: (x) => `n = ${x}`,
  },
  quickByDefault: false,
});
