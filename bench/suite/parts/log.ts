/**
 * Parts wrapping bench/log/*.ts: the pure Merkle half against one RFC 6962 node hash and one Ed25519 verify,
 * and the log service (durable appends, latency at an offered rate, inclusion proofs) against node:crypto
 * SHA-256 of 64 bytes — the physical limit, every entry costs hashes. The service benchmark is a whole run per
 * repeat (3, or 1 in --quick): its spread is over those runs.
 */
import { type Baseline, baselineOf, FigureSet, median } from '../figures.js';
import { commandOf, type Part, repeatScript, runScript } from '../part.js';
import { addHarness, byName, type HarnessResult } from './from-harness.js';

export const logMerkle: Part = {
  name: 'log/merkle',
  description: 'CompactRange append, inclusion / consistency verification, checkpoint verification',
  async run(ctx) {
    // --quick: a tree of 2^16 + 123 leaves instead of 2^20 + 12345 (building it is most of the time).
    const args = ctx.quick ? ['--quick', '--leaves', String(2 ** 16 + 123)] : [];
    const doc = (await runScript('bench/log/merkle.ts', args)) as { results: HarnessResult[] };
    const set = new FigureSet(this.name, commandOf(this.name));
    const r = doc.results;
    const hash = byName(r, 'RFC 6962 node hash (SHA-256 of 65 bytes)');
    const ed = byName(r, 'Ed25519 verify (libsodium)');
    addHarness(set, hash, { baseline: null, note: 'physical limit: one SHA-256 (@noble/hashes)' });
    addHarness(set, ed, { baseline: null, note: 'physical limit: one Ed25519 verification (libsodium)' });
    for (const x of r)
      if (x !== hash && x !== ed && x.baseline) addHarness(set, x, { baseline: byName(r, x.baseline.name) });
    return { figures: set.figures, raw: doc };
  },
};

interface LogServiceDoc {
  results: {
    sha256: HarnessResult;
    sqlite_throughput: { appends_per_s: number };
    sqlite_latency_20k: {
      to_durable_index_ms: { p50: number; p99: number };
      to_signed_checkpoint_ms: { p50: number; p99: number };
    };
    postgres_throughput: { appends_per_s: number } | string;
    postgres_latency_5k?: { to_signed_checkpoint_ms: { p50: number; p99: number } };
    inclusion_proof_generation: { ops_per_s: number; tree_size: number };
    inclusion_proof_verification: HarnessResult;
  };
}

export const logService: Part = {
  name: 'log/service',
  description:
    'durable appends/s (SQLite; PostgreSQL with DATABASE_URL), latency at 20,000/s offered, proofs',
  async run(ctx) {
    const runs = (
      await repeatScript('bench/log/run.ts', ctx.quick ? ['--quick'] : [], ctx.quick ? 1 : 3)
    ).map((d) => (d as LogServiceDoc).results);
    const set = new FigureSet(this.name, commandOf(this.name));
    const col = <T>(f: (x: LogServiceDoc['results']) => T) => runs.map(f);
    const sha: Baseline = baselineOf(
      'node:crypto SHA-256 of 64 B',
      col((x) => x.sha256.ops_per_s),
    );
    set.rate(
      'node:crypto SHA-256 of 64 B',
      col((x) => x.sha256.ops_per_s),
      null,
      {
        note: 'physical limit: every entry costs a leaf hash and, amortised, an interior hash',
      },
    );
    set.add({
      name: 'durable appends/s, SQLite (group commit, 2,048 appenders)',
      samples: col((x) => x.sqlite_throughput.appends_per_s),
      unit: 'appends/s',
      higher_is_better: true,
      baseline: sha,
      target: 100_000,
      note: "anchor: Tessera's ~10,000/s on 7 cores",
    });
    for (const [what, key] of [
      ['to durable index', 'to_durable_index_ms'],
      ['to signed checkpoint', 'to_signed_checkpoint_ms'],
    ] as const)
      for (const p of ['p50', 'p99'] as const)
        set.ms(
          `latency at 20,000 appends/s offered, SQLite, ${what}, ${p}`,
          col((x) => x.sqlite_latency_20k[key][p]),
          null,
        );
    const pgRuns = runs.filter((x) => typeof x.postgres_throughput !== 'string');
    if (pgRuns.length > 0) {
      set.add({
        name: 'durable appends/s, PostgreSQL (synchronous_commit=on)',
        samples: pgRuns.map((x) => (x.postgres_throughput as { appends_per_s: number }).appends_per_s),
        unit: 'appends/s',
        higher_is_better: true,
        baseline: sha,
        note: "anchor: Tessera's ~3,000/s on a cloud database",
      });
      for (const p of ['p50', 'p99'] as const)
        set.ms(
          `latency at 5,000 appends/s offered, PostgreSQL, to signed checkpoint, ${p}`,
          pgRuns.map((x) => x.postgres_latency_5k!.to_signed_checkpoint_ms[p]),
          null,
        );
    }
    const size = median(col((x) => x.inclusion_proof_generation.tree_size));
    set.rate(
      `inclusion proof generation (stored tiles, SQLite, warm cache, tree of ${size})`,
      col((x) => x.inclusion_proof_generation.ops_per_s),
      sha,
      { target: 50_000 },
    );
    set.rate(
      `inclusion proof verification (pure verifier, tree of ${size})`,
      col((x) => x.inclusion_proof_verification.ops_per_s),
      sha,
    );
    return {
      figures: set.figures,
      raw: runs.length === 1 ? runs[0] : { runs },
      note: pgRuns.length > 0 ? undefined : 'PostgreSQL skipped: DATABASE_URL not set',
    };
  },
};
