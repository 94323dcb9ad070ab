/**
 * Parts wrapping bench/franking/stamp.ts (the franking stamp against encoding the envelope body the GET returns
 * anyway), bench/cli/startup.ts (`overt` start-up against a bare `node -e ''`) and bench/access/run.ts (a
 * warrant end to end against its scalar-multiplication bound).
 */
import { type Baseline, baselineOf, FigureSet } from '../figures.js';
import { commandOf, type Part, runScript } from '../part.js';
import { addHarness, type HarnessResult } from './from-harness.js';

export const frankingStamp: Part = {
  name: 'franking/stamp',
  description: 'the relay franking stamp at serve time, uncached and cached, vs encoding the envelope body',
  async run(ctx) {
    const doc = (await runScript('bench/franking/stamp.ts', ctx.quick ? ['--quick'] : [])) as {
      results: HarnessResult[];
    };
    const set = new FigureSet(this.name, commandOf(this.name));
    const [base, ...rest] = doc.results;
    addHarness(set, base!, { baseline: null });
    for (const r of rest) addHarness(set, r, { baseline: base! });
    return { figures: set.figures, raw: doc };
  },
};

interface StartupDoc {
  baselineNodeStartMs: number;
  baselineNodeStartSamplesMs: number[];
  modes: Record<string, Record<string, { firstOutputMs: number; firstOutputSamplesMs: number[] }>>;
}

export const cliStartup: Part = {
  name: 'cli/startup',
  description: '`overt --help`, `send`, `read` to first output (bundle, dist, tsx) vs `node -e ""`',
  quickByDefault: false,
  async run(ctx) {
    const doc = (await runScript('bench/cli/startup.ts', ctx.quick ? ['--quick'] : [])) as StartupDoc;
    const set = new FigureSet(this.name, commandOf(this.name));
    const node: Baseline = {
      ...baselineOf("node -e '' (bare start-up)", doc.baselineNodeStartSamplesMs),
      unit: 'ms',
    };
    set.ms("node -e '' to exit", doc.baselineNodeStartSamplesMs, null);
    for (const [mode, cmds] of Object.entries(doc.modes))
      for (const [cmd, t] of Object.entries(cmds))
        set.ms(
          `overt ${cmd === 'help' ? '--help' : cmd}, ${mode}, to first output`,
          t.firstOutputSamplesMs,
          node,
          {
            target: mode === 'bundle' ? 500 : null,
          },
        );
    return { figures: set.figures, raw: doc };
  },
};

interface AccessStage {
  envelopes_per_s_cpu_clock: number;
  rss_peak_mb: number;
}
interface AccessDoc {
  envelopes: number;
  model: { bound_envelopes_per_s: Record<string, number> };
  stages: Record<string, AccessStage>;
  end_to_end: {
    envelopes_per_s_cpu_clock: number;
    through_requester: { envelopes_per_s_cpu_clock: number; bound: number };
  };
  memory: { paged_stages: { rss_peak_mb: number }; evidence_bundle_rss_peak_mb: number };
}

/** Figures of one access run; `curveX` puts them on the warrant-size curves (scale/warrant). */
export function accessFigures(set: FigureSet, doc: AccessDoc, curve?: { x: number }): void {
  const n = doc.envelopes;
  const bounds = doc.model.bound_envelopes_per_s;
  const bound = (name: string, value: number): Baseline => ({
    name: `scalar-multiplication bound, ${name}`,
    value,
    unit: 'envelopes/s',
  });
  const at = (series: string, id: string, title: string) =>
    curve ? { curve: { id, title, series, x: curve.x, x_label: 'envelopes in the warrant' } } : {};
  const rate = (name: string, series: string, value: number, b: Baseline, target: number | null = null) =>
    set.add({
      name: `${name}, ${n} envelopes, CPU clock`,
      samples: value,
      unit: 'envelopes/s',
      higher_is_better: true,
      baseline: b,
      target,
      ...at(
        series,
        'access/warrant-rate',
        'Warrant release: envelopes/s (CPU clock × cores) by warrant size',
      ),
    });
  rate(
    'end to end with the verified evidence bundle',
    'end to end',
    doc.end_to_end.envelopes_per_s_cpu_clock,
    bound('end to end', bounds.end_to_end!),
    800,
  );
  rate(
    'through the requester (no evidence bundle)',
    'through the requester',
    doc.end_to_end.through_requester.envelopes_per_s_cpu_clock,
    bound('through the requester', doc.end_to_end.through_requester.bound),
  );
  for (const [stage, key, b] of [
    ['trustee 1 release', 'trustee_1_release', 'trustee_release'],
    ['requester', 'requester', 'requester'],
    ['evidence bundle', 'evidence_bundle', 'evidence_verify'],
  ] as const)
    rate(`stage: ${stage}`, stage, doc.stages[key]!.envelopes_per_s_cpu_clock, bound(stage, bounds[b]!));
  const rss = (name: string, series: string, value: number) =>
    set.add({
      name: `${name}, ${n} envelopes`,
      samples: value,
      unit: 'MB',
      higher_is_better: false,
      baseline: null,
      ...at(series, 'access/warrant-rss', 'Warrant release: peak RSS (MB) by warrant size'),
    });
  rss('peak RSS, paged stages (trustees, requester)', 'paged stages', doc.memory.paged_stages.rss_peak_mb);
  rss('peak RSS, evidence bundle', 'evidence bundle', doc.memory.evidence_bundle_rss_peak_mb);
}

export const access: Part = {
  name: 'access',
  description:
    'a warrant released end to end (2 of 3 trustees, requester, verified evidence bundle) vs its bound',
  async run(ctx) {
    // The full warrant of 100,000 envelopes takes ≈ 45 minutes here: the suite runs 10,000 (1,100 in --quick);
    // `npx tsx bench/access/run.ts` alone runs 100,000.
    const n = ctx.quick ? 1100 : 10_000;
    const doc = (await runScript('bench/access/run.ts', [
      '--envelopes',
      String(n),
      ...(ctx.quick ? ['--quick'] : []),
    ])) as AccessDoc;
    const set = new FigureSet(this.name, commandOf(this.name));
    accessFigures(set, doc);
    return {
      figures: set.figures,
      raw: doc,
      note: `${n} envelopes; the 100,000-envelope warrant: npx tsx bench/access/run.ts`,
    };
  },
};

export const scaleWarrant: Part = {
  name: 'scale/warrant',
  description:
    'a warrant end to end by its size, 10^2 to 10^4 envelopes: envelopes/s against the bound, peak RSS',
  quickByDefault: false,
  async run(ctx) {
    // 10^5 envelopes (≈ 45 minutes here) is the access part's own full run: `npx tsx bench/access/run.ts`.
    const sizes = ctx.quick ? [100, 1100] : [100, 1000, 10_000];
    const set = new FigureSet(this.name, commandOf(this.name));
    const docs: AccessDoc[] = [];
    for (const n of sizes) {
      ctx.log(`${n} envelopes …`);
      const doc = (await runScript('bench/access/run.ts', [
        '--envelopes',
        String(n),
        '--quick',
      ])) as AccessDoc;
      docs.push(doc);
      accessFigures(set, doc, { x: n });
    }
    return { figures: set.figures, raw: { runs: docs } };
  },
};
