/**
 * Benchmark of the log service (docs/spec/log-service.md): `npx tsx bench/log/run.ts [--quick]` prints JSON.
 *
 * Figures, each with a baseline measured in the same run:
 *   - sha256_64B: SHA-256 of 64 bytes through node:crypto — the physical limit (every entry costs a leaf hash
 *     and, amortised, one interior hash; tiles and proofs are hashes too);
 *   - durable appends/s on SQLite and PostgreSQL with group commit, many concurrent appenders (closed loop);
 *   - latency at a fixed offered rate (open loop, 20,000/s by default, measured from the scheduled send time so
 *     that a stall counts against us): p50/p99/max from append to durable index (transaction A committed) and
 *     to a durable signed checkpoint (transaction B committed, the append resolves);
 *   - inclusion proofs generated/s from stored tiles, and verified/s with the pure verifier.
 * Anchors from elsewhere (not measured here): Tessera (Go) ~10k appends/s on NVMe POSIX with up to 7 cores and
 * ~3k/s on a cloud database; Trillian on MySQL 400–500/s.
 */
import { hash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { leafHash, verifyInclusion } from '../../packages/log/src/merkle.js';
import { generateSignerKey } from '../../packages/log/src/note.js';
import {
  type LogStorage,
  openPostgresStorage,
  openSqliteStorage,
  Sequencer,
  type SequencerEvent,
} from '../../packages/log/src/service/index.js';
import { measure, type Result } from '../core/harness.js';

const quick = process.argv.includes('--quick');
const ORIGIN = 'bench.example/log';
const key = generateSignerKey(ORIGIN);
const dir = mkdtempSync(join(tmpdir(), 'overt-bench-log-'));

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

/** Collects step times so that each entry's durable and signed moments can be looked up by index. */
class StepClock {
  durable: { size: number; t: number }[] = [];
  signed: { size: number; t: number }[] = [];
  batches = 0;
  onStep = (e: SequencerEvent): void => {
    if (e.step === 'entries-durable') {
      this.durable.push({ size: e.size, t: performance.now() });
      this.batches++;
    }
    if (e.step === 'checkpoint-durable') this.signed.push({ size: e.size, t: performance.now() });
  };
  /** The time of the first event whose size covers `index`. */
  static at(events: readonly { size: number; t: number }[], index: number): number {
    let lo = 0;
    let hi = events.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (events[mid]!.size > index) hi = mid;
      else lo = mid + 1;
    }
    return events[lo]!.t;
  }
}

async function withSequencer<T>(
  storage: LogStorage,
  clock: StepClock,
  fn: (seq: Sequencer) => Promise<T>,
): Promise<T> {
  const seq = await Sequencer.start({
    storage,
    origin: ORIGIN,
    key,
    onStep: clock.onStep,
    maxQueue: 1 << 20,
  });
  try {
    return await fn(seq);
  } finally {
    await seq.close();
  }
}

/** Closed loop: `concurrency` appenders, each appending again as soon as its previous append resolved. */
async function throughput(
  name: string,
  open: () => Promise<LogStorage>,
  seconds: number,
  concurrency: number,
) {
  const storage = await open();
  const clock = new StepClock();
  const result = await withSequencer(storage, clock, async (seq) => {
    const entry = randomBytes(100);
    let done = 0;
    const until = performance.now() + seconds * 1000;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < until) {
          await seq.append(entry);
          done++;
        }
      }),
    );
    const elapsed = (performance.now() - t0) / 1000;
    return { done, elapsed, size: seq.checkpoint.size };
  });
  await storage.close();
  return {
    name,
    appends_per_s: round(result.done / result.elapsed, 0),
    concurrency,
    seconds: round(result.elapsed, 2),
    appends: result.done,
    batches: clock.batches,
    mean_batch: round(result.done / Math.max(1, clock.batches), 1),
    entry_bytes: 100,
  };
}

/** Open loop at `rate` appends/s for `seconds`; latency measured from each append's scheduled time. */
async function latency(name: string, open: () => Promise<LogStorage>, rate: number, seconds: number) {
  const storage = await open();
  const clock = new StepClock();
  const out = await withSequencer(storage, clock, async (seq) => {
    const base = seq.checkpoint.size;
    const total = Math.round(rate * seconds);
    const scheduled = new Float64Array(total);
    const indices = new Float64Array(total);
    const entry = randomBytes(100);
    const pending: Promise<void>[] = [];
    const t0 = performance.now();
    let sent = 0;
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
        for (; sent < due; sent++) {
          const i = sent;
          scheduled[i] = t0 + (i / rate) * 1000;
          pending.push(
            seq.append(entry).then((r) => {
              indices[i] = r.index;
            }),
          );
        }
        if (sent < total) setTimeout(tick, 1);
        else resolve();
      };
      tick();
    });
    await Promise.all(pending);
    const toDurable: number[] = [];
    const toSigned: number[] = [];
    for (let i = 0; i < total; i++) {
      toDurable.push(StepClock.at(clock.durable, indices[i]!) - scheduled[i]!);
      toSigned.push(StepClock.at(clock.signed, indices[i]!) - scheduled[i]!);
    }
    toDurable.sort((a, b) => a - b);
    toSigned.sort((a, b) => a - b);
    return { total, base, toDurable, toSigned, achieved: total / ((performance.now() - t0) / 1000) };
  });
  await storage.close();
  const ms = (a: number[]) => ({
    p50: round(percentile(a, 50)),
    p99: round(percentile(a, 99)),
    max: round(a[a.length - 1]!),
  });
  return {
    name,
    offered_per_s: rate,
    appends: out.total,
    batches: clock.batches,
    to_durable_index_ms: ms(out.toDurable),
    to_signed_checkpoint_ms: ms(out.toSigned),
    all_signed_within_1s: out.toSigned[out.toSigned.length - 1]! < 1000,
  };
}

async function proofs(seconds: number, sha: Result) {
  const path = join(dir, 'proofs.db');
  const storage = openSqliteStorage({ path });
  const clock = new StepClock();
  const n = quick ? 20_000 : 100_000;
  const res = await withSequencer(storage, clock, async (seq) => {
    const entries = Array.from({ length: n }, (_, i) => new TextEncoder().encode(`entry ${i}`));
    for (let i = 0; i < n; i += 10_000)
      await Promise.all(entries.slice(i, i + 10_000).map((e) => seq.append(e)));
    const size = seq.checkpoint.size;
    const root = seq.checkpoint.root;
    const idx = Array.from({ length: 4096 }, () => Math.floor(Math.random() * size));
    // Warm the tile cache the way a serving log would be warm.
    for (const i of idx.slice(0, 512)) await seq.inclusionProof(i, size);
    let made = 0;
    const t0 = performance.now();
    const until = t0 + seconds * 1000;
    const sample: { i: number; proof: Uint8Array[] }[] = [];
    while (performance.now() < until) {
      const i = idx[made % idx.length]!;
      const { proof } = await seq.inclusionProof(i, size);
      if (sample.length < idx.length) sample.push({ i, proof });
      made++;
    }
    const genRate = made / ((performance.now() - t0) / 1000);
    const leaves = sample.map((s) => leafHash(entries[s.i]!));
    let k = 0;
    const verify = measure(
      'inclusion proof verification (pure @overt/log, noble SHA-256)',
      () => {
        const s = sample[k % sample.length]!;
        verifyInclusion(s.i, size, leaves[k % sample.length]!, s.proof, root);
        k++;
      },
      { baseline: sha, minMs: quick ? 150 : 300 },
    );
    return { genRate, verify, size, proofLength: sample[0]!.proof.length };
  });
  await storage.close();
  return {
    generation: {
      name: 'inclusion proof generation (stored tiles, SQLite, warm tile cache)',
      ops_per_s: round(res.genRate, 0),
      tree_size: res.size,
      proof_hashes: res.proofLength,
      sha256_cost: round(sha.ops_per_s / res.genRate, 1),
    },
    verification: { ...res.verify, tree_size: res.size },
  };
}

async function main(): Promise<void> {
  const loadBefore = loadavg()[0]!;
  const block = new Uint8Array(64).fill(7);
  const sha = measure('sha256_64B (node:crypto)', () => hash('sha256', block, 'buffer'), {
    minMs: quick ? 150 : 300,
  });
  const seconds = quick ? 2 : 5;
  let n = 0;
  const sqlite = () => Promise.resolve<LogStorage>(openSqliteStorage({ path: join(dir, `log-${n++}.db`) }));
  const url = process.env.DATABASE_URL;
  const schemas: string[] = [];
  const postgres =
    url === undefined || url === ''
      ? undefined
      : () => {
          const schema = `overt_bench_${randomBytes(6).toString('hex')}`;
          schemas.push(schema);
          return openPostgresStorage({ connectionString: url, schema });
        };
  const results: Record<string, unknown> = {};
  try {
    results.sha256 = sha;
    const s = await throughput('durable appends/s, SQLite (WAL, synchronous=FULL)', sqlite, seconds, 2048);
    results.sqlite_throughput = { ...s, sha256_per_append: round(sha.ops_per_s / s.appends_per_s, 1) };
    results.sqlite_latency_20k = await latency(
      'latency at 20,000 appends/s offered, SQLite',
      sqlite,
      20_000,
      seconds,
    );
    if (postgres !== undefined) {
      const p = await throughput(
        'durable appends/s, PostgreSQL (synchronous_commit=on)',
        postgres,
        seconds,
        2048,
      );
      results.postgres_throughput = { ...p, sha256_per_append: round(sha.ops_per_s / p.appends_per_s, 1) };
      results.postgres_latency_5k = await latency(
        'latency at 5,000 appends/s offered, PostgreSQL',
        postgres,
        5_000,
        seconds,
      );
    } else {
      console.warn('DATABASE_URL is not set: PostgreSQL figures skipped');
      results.postgres_throughput = 'skipped: DATABASE_URL not set';
    }
    const pr = await proofs(quick ? 1 : 3, sha);
    results.inclusion_proof_generation = pr.generation;
    results.inclusion_proof_verification = pr.verification;
    results.anchors = {
      tessera_posix_nvme_7_cores: '~10,000 appends/s',
      tessera_cloud_database: '~3,000 appends/s',
      trillian_mysql: '400-500 appends/s',
      target_here: '>= 20,000 durable appends/s on SQLite, every entry in a signed checkpoint within 1 s',
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (url !== undefined && schemas.length > 0) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
      await client.end();
    }
  }
  console.log(
    JSON.stringify(
      {
        suite: 'log-service',
        runtime: `node ${process.version}`,
        date: new Date().toISOString(),
        quick,
        // Other processes on a shared machine slow every figure; the same-run SHA-256 baseline shows by how much.
        machine: { cpus: cpus().length, load_average_1min: { before: loadBefore, after: loadavg()[0] } },
        results,
      },
      null,
      2,
    ),
  );
}

await main();
