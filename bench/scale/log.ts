/**
 * Log-size curve, one point: `npx tsx bench/scale/log.ts --entries N [--repeats R] [--batch B]` prints one JSON
 * line (bench/scale/point.ts). A real log service (Sequencer, SQLite WAL, synchronous=FULL, group commit) is
 * filled to N entries (not timed); then, R times each: inclusion proofs generated from the stored tiles at size
 * N (warm tile cache, as a serving log is) and verified with the pure verifier, with the proof's size in bytes;
 * then B more durable appends from 2,048 concurrent appenders (appends/s at that size: the cost per append must
 * stay flat as N grows; wall clock, since a durable commit waits for the disk — proofs and the baseline are on
 * the process's CPU clock, point.ts). Baseline: node:crypto SHA-256 of 64 bytes in the same process (each entry costs a
 * leaf hash and, amortised, an interior hash: the physical limit).
 */
import { hash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { leafHash, verifyInclusion } from '../../packages/log/src/merkle.js';
import { generateSignerKey } from '../../packages/log/src/note.js';
import { openSqliteStorage, Sequencer } from '../../packages/log/src/service/index.js';
import { arg, mb, peakRssMb, printPoint, rate } from './point.js';

const N = arg('--entries', 1000);
const REPEATS = arg('--repeats', 3);
const BATCH = arg('--batch', 10_000);
const MIN_MS = arg('--min-ms', 300);
const CONCURRENCY = 2048;
const ORIGIN = 'bench.example/log';
const dir = mkdtempSync(join(tmpdir(), 'overt-bench-scale-log-'));
const storage = openSqliteStorage({ path: join(dir, 'log.db') });
const seq = await Sequencer.start({
  storage,
  origin: ORIGIN,
  key: generateSignerKey(ORIGIN),
  maxQueue: 1 << 20,
});
const entry = (i: number) => new TextEncoder().encode(`entry ${i}`);

try {
  const fillT0 = performance.now();
  for (let i = 0; i < N; i += 10_000)
    await Promise.all(Array.from({ length: Math.min(10_000, N - i) }, (_, j) => seq.append(entry(i + j))));
  const fillS = (performance.now() - fillT0) / 1000;
  const rest = mb(process.memoryUsage.rss());
  const block = new Uint8Array(64).fill(7);
  const sha: number[] = [];
  const appends: number[] = [];
  const proofs: number[] = [];
  const verifies: number[] = [];
  let proofBytes = 0;
  const payload = randomBytes(100);
  // Proofs first, at size N exactly; then the appends (which grow the log by R × B).
  const size = seq.checkpoint.size;
  const root = seq.checkpoint.root;
  const idx = Array.from({ length: 1024 }, () => Math.floor(Math.random() * N));
  for (const i of idx.slice(0, 256)) await seq.inclusionProof(i, size);
  for (let r = 0; r < REPEATS; r++) {
    sha.push(await rate(() => hash('sha256', block, 'buffer'), Math.min(MIN_MS, 200)));
    let k = 0;
    const sample: { i: number; proof: Uint8Array[] }[] = [];
    proofs.push(
      await rate(async () => {
        const i = idx[k++ % idx.length]!;
        const { proof } = await seq.inclusionProof(i, size);
        if (sample.length < 256) sample.push({ i, proof });
      }, MIN_MS),
    );
    proofBytes = Math.max(...sample.map((s) => s.proof.length)) * 32;
    const leaves = sample.map((s) => leafHash(entry(s.i)));
    let v = 0;
    verifies.push(
      await rate(() => {
        const s = sample[v % sample.length]!;
        verifyInclusion(s.i, size, leaves[v % sample.length]!, s.proof, root);
        v++;
      }, MIN_MS),
    );
  }
  for (let r = 0; r < REPEATS; r++) {
    let done = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (done < BATCH) {
          done++;
          await seq.append(payload);
        }
      }),
    );
    appends.push(done / ((performance.now() - t0) / 1000));
  }
  const base = 'node:crypto SHA-256 of 64 B';
  printPoint({
    x: N,
    series: {
      'durable appends': {
        samples: appends,
        unit: 'appends/s',
        higher_is_better: true,
        baseline: base,
        note: `${BATCH} appends after the log held N entries, 2,048 concurrent appenders`,
      },
      'inclusion proof generation': {
        samples: proofs,
        unit: 'ops/s',
        higher_is_better: true,
        baseline: base,
      },
      'inclusion proof verification': {
        samples: verifies,
        unit: 'ops/s',
        higher_is_better: true,
        baseline: base,
      },
      'inclusion proof size': {
        samples: [proofBytes],
        unit: 'bytes',
        higher_is_better: false,
        baseline: null,
      },
    },
    baselines: { [base]: { samples: sha, unit: 'ops/s' } },
    rss_rest_mb: rest,
    rss_peak_mb: peakRssMb(),
    extra: { fill_s: Math.round(fillS * 10) / 10, fill_appends_per_s: Math.round(N / fillS) },
  });
} finally {
  await seq.close();
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
}
