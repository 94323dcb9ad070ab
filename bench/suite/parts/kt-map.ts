/**
 * The part wrapping bench/kt-map/run.ts (issue #16, docs/spec/directory.md §7): the verifiable map's lookup proof
 * (bytes, verify time), publishing an epoch of 1,000 changes and an owner's day of monitoring, over map sizes, each
 * beside today's whole-log approach modelled from per-entry costs measured in the same run; and the VRF against one
 * libsodium Ed25519 verification.
 */
import { FigureSet } from '../figures.js';
import { commandOf, type Part, runScript } from '../part.js';
import { addHarness, type HarnessResult } from './from-harness.js';

interface KtMapDoc {
  curve: {
    entries: number;
    publish_1000_changes_cpu_ms: number;
    lookup_proof_bytes_mean: number;
    lookup_verify_ms: number;
    whole_log_new_client_bytes: number;
    whole_log_new_client_cpu_ms_model: number;
  }[];
  monitoring: {
    epoch_interval_s?: number;
    owner_bytes_per_day?: number;
    whole_log_owner_bytes_per_day?: number;
  }[];
  results: (HarnessResult & { baseline?: { name: string } })[];
}

const curve = (id: string, title: string, series: string, x: number) => ({
  id,
  title,
  series,
  x,
  x_label: 'labels in the map',
});

export const ktMap: Part = {
  name: 'kt-map',
  description:
    'the key-transparency map: lookup proof, publish, owner monitoring vs the whole log; VRF vs Ed25519',
  async run(ctx) {
    const doc = (await runScript('bench/kt-map/run.ts', ctx.quick ? ['--quick'] : [])) as KtMapDoc;
    const set = new FigureSet(this.name, commandOf(this.name));
    const byName = new Map(doc.results.map((r) => [r.name, r]));
    for (const r of doc.results) {
      const base = r.baseline !== undefined ? byName.get(r.baseline.name) : undefined;
      addHarness(set, r, { baseline: base ?? null });
    }
    const largest = doc.curve.at(-1)?.entries ?? 0;
    for (const p of doc.curve) {
      const atTargetSize = p.entries === largest;
      set.add({
        name: `lookup proof at ${p.entries} labels`,
        samples: p.lookup_proof_bytes_mean,
        unit: 'bytes',
        higher_is_better: false,
        baseline: { name: 'whole log, new client', value: p.whole_log_new_client_bytes, unit: 'bytes' },
        target: atTargetSize ? 2048 : null,
        curve: curve('kt-map-lookup-bytes', 'map lookup proof (bytes)', 'lookup proof', p.entries),
      });
      set.ms(
        `lookup verify at ${p.entries} labels`,
        p.lookup_verify_ms,
        { name: 'whole log, new client (model)', value: p.whole_log_new_client_cpu_ms_model, unit: 'ms' },
        {
          target: atTargetSize ? 5 : null,
          curve: curve('kt-map-lookup-ms', 'map lookup verify (ms)', 'lookup verify', p.entries),
        },
      );
      set.ms(`publish 1,000 changes at ${p.entries} labels`, p.publish_1000_changes_cpu_ms, null, {
        target: 1000,
        curve: curve('kt-map-publish-ms', 'map epoch of 1,000 changes (ms)', 'publish', p.entries),
      });
    }
    for (const m of doc.monitoring)
      if (m.epoch_interval_s !== undefined && m.owner_bytes_per_day !== undefined)
        set.add({
          name: `owner monitoring per day, ${m.epoch_interval_s} s epochs, 1 change/s`,
          samples: m.owner_bytes_per_day,
          unit: 'bytes',
          higher_is_better: false,
          baseline:
            m.whole_log_owner_bytes_per_day !== undefined
              ? { name: 'whole log, owner', value: m.whole_log_owner_bytes_per_day, unit: 'bytes' }
              : null,
          target: 51_200,
        });
    return { figures: set.figures, raw: doc };
  },
};
