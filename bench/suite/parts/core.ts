/**
 * Parts wrapping bench/core/*.ts: TDH2 capsules and shares against raw libsodium ristretto255 multiplications
 * (the physical limit), envelopes against the same and against raw node:crypto AES-256-GCM, and the DKG in
 * units of the variable-point multiplication measured just before it.
 */
import { FigureSet } from '../figures.js';
import { commandOf, type Part, runScript } from '../part.js';
import { addHarness, byName, type HarnessResult } from './from-harness.js';

interface HarnessDoc {
  results: HarnessResult[];
}

const quickArgs = (quick: boolean) => (quick ? ['--quick'] : []);

export const coreCapsule: Part = {
  name: 'core/capsule',
  description: 'TDH2 capsule seal, recipient check, validity, share + proof, share verify, combine, batches',
  async run(ctx) {
    const doc = (await runScript('bench/core/capsule.ts', quickArgs(ctx.quick))) as HarnessDoc;
    const set = new FigureSet(this.name, commandOf(this.name));
    const r = doc.results;
    const base = byName(r, 'libsodium ristretto255 base-point multiply');
    const variable = byName(r, 'libsodium ristretto255 variable-point multiply');
    addHarness(set, base, { baseline: null, note: 'physical limit: a raw libsodium multiplication' });
    addHarness(set, variable, { baseline: null, note: 'physical limit: a raw libsodium multiplication' });
    for (const x of r.slice(2, 4)) addHarness(set, x, { baseline: base });
    for (const x of r.slice(4)) {
      if (x.name.startsWith('libsodium variable-point multiply (per point)')) break;
      addHarness(set, x, { baseline: variable });
    }
    // The MSM comparison and the batch verifications, each against its own interleaved first entry.
    const msmBase = byName(r, 'libsodium variable-point multiply (per point)');
    for (const x of r.filter((y) => y.name.startsWith('@noble/curves')))
      addHarness(set, x, { baseline: msmBase });
    for (const x of r.filter((y) => / items: /.test(y.name) && y.baseline !== undefined))
      addHarness(set, x, { baseline: byName(r, x.baseline!.name) });
    return { figures: set.figures, raw: doc };
  },
};

export const coreEnvelope: Part = {
  name: 'core/envelope',
  description: '1 KiB envelope seal / open / relay ingest, sender signatures, AEAD and file throughput',
  async run(ctx) {
    const doc = (await runScript('bench/core/envelope.ts', quickArgs(ctx.quick))) as HarnessDoc;
    const set = new FigureSet(this.name, commandOf(this.name));
    const r = doc.results;
    const varMul = byName(r, 'ristretto255 variable-point multiply (libsodium, interleaved baseline)');
    addHarness(set, varMul, { baseline: null, note: 'physical limit, interleaved with the 1 KiB figures' });
    for (const name of [
      'capsule seal alone (sealCapsule)',
      'envelope seal, 1 KiB, with capsule',
      'sender signature alone (Ed25519 sign, libsodium)',
      'sender signature check alone (Ed25519 verify, libsodium)',
      'capsule recompute alone (verifyCapsuleOpening)',
      'envelope recipient check + open, 1 KiB (capsule recomputed)',
      'envelope relay ingest, 1 KiB (capsule proof verified)',
    ])
      addHarness(set, byName(r, name), { baseline: varMul });
    const gcm64 = byName(r, 'node:crypto AES-256-GCM, 64 KiB (baseline)');
    addHarness(set, gcm64, { baseline: null, mb: true, note: 'physical limit: raw node:crypto AES-GCM' });
    for (const x of r.filter((y) => y.baseline?.name === gcm64.name))
      addHarness(set, x, { baseline: gcm64, mb: true });
    const gcm1k = byName(r, 'node:crypto AES-256-GCM, 1 KiB (baseline)');
    for (const x of r.filter((y) => y.baseline?.name === gcm1k.name))
      addHarness(set, x, { baseline: gcm1k, mb: true });
    return { figures: set.figures, raw: doc };
  },
};

interface DkgResult extends HarnessResult {
  ms_per_op?: number;
  actual_over_model?: number;
  model_ms?: number;
  k?: number;
  n?: number;
}

export const coreDkg: Part = {
  name: 'core/dkg',
  description: 'DKG and resharing sessions (all participants in one process), verifyTranscript',
  async run(ctx) {
    const doc = (await runScript('bench/core/dkg.ts', quickArgs(ctx.quick))) as { results: DkgResult[] };
    const set = new FigureSet(this.name, commandOf(this.name));
    const r = doc.results;
    const base = byName(r, 'ristretto255 base-point multiply (libsodium)');
    addHarness(set, base, { baseline: null, note: 'physical limit: a raw libsodium multiplication' });
    for (const x of r.slice(1, 6)) addHarness(set, x, { baseline: base });
    // Every session is timed in ms against the time of one variable-point multiplication measured just before
    // it: the ratio is its cost in multiplications.
    for (const x of r.filter((y) => y.name.startsWith('full DKG') || y.name.startsWith('resharing'))) {
      const justBefore = x.baseline!;
      const varPerS =
        x.ops_per_s / (x as unknown as { baseline: { speed_ratio: number } }).baseline.speed_ratio;
      set.ms(
        x.name,
        (x.samples_ops_per_s ?? [x.ops_per_s]).map((s) => 1000 / s),
        { name: `${justBefore.name} (time of one)`, value: 1000 / varPerS, unit: 'ms' },
        {
          note:
            x.actual_over_model === undefined
              ? undefined
              : `${x.actual_over_model}× the time its primitives alone need (${x.model_ms} ms: multiplications, Ed25519, HPKE)`,
        },
      );
    }
    const vt = byName(r, 'verifyTranscript, (4, 7)');
    const vtBase = vt.baseline as unknown as { name: string; speed_ratio: number };
    set.rate(vt.name, vt.samples_ops_per_s ?? [vt.ops_per_s], {
      name: vtBase.name,
      value: vt.ops_per_s / vtBase.speed_ratio,
      unit: 'ops/s',
    });
    return { figures: set.figures, raw: doc };
  },
};
