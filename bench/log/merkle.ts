/**
 * Benchmark of the log's pure half (docs/spec/log.md): `npx tsx bench/log/merkle.ts [--quick]` prints JSON.
 *
 * Baselines measured in the same run: one RFC 6962 node hash (SHA-256 of 65 bytes, @noble/hashes) for the
 * Merkle work, one Ed25519 verification (libsodium, @overt/core) for checkpoint verification. `model_cost` is
 * how many baseline operations the algorithm needs, so `cost_in_baseline_ops / model_cost` is the overhead of
 * everything else (allocation, parsing, bookkeeping).
 */
import { sign, signingKeyFromSeed, verifySignature } from '../../packages/core/src/index.js';
import {
  addSignatures,
  CompactRange,
  consistencyProof,
  cosign,
  formatNote,
  inclusionProof,
  leafHash,
  makeWitnessPolicy,
  nodeHash,
  parseNote,
  SIGNATURE_TYPE_COSIGNATURE,
  SIGNATURE_TYPE_ED25519,
  signCheckpoint,
  signerKeyFromSeed,
  verifierKeyOf,
  verifyCheckpoint,
  verifyConsistency,
  verifyInclusion,
} from '../../packages/log/src/index.js';
import { measure, report } from '../core/harness.js';

const quick = process.argv.includes('--quick');
const minMs = quick ? 100 : 300;

const a = new Uint8Array(32).fill(1);
const b = new Uint8Array(32).fill(2);

// A tree of 2^20 + 12345 leaves (or `--leaves N`, at least 1,000), every complete subtree stored in memory.
const leavesArg = process.argv.indexOf('--leaves');
const N = leavesArg > 0 ? Math.max(1000, Number(process.argv[leavesArg + 1])) : 2 ** 20 + 12345;
const nodes = new Map<number, Uint8Array>();
const key = (level: number, index: number) => level * 2 ** 40 + index;
const range = CompactRange.empty();
const leaves: Uint8Array[] = [];
for (let i = 0; i < N; i++) {
  const l = leafHash(new Uint8Array([i & 255, (i >> 8) & 255, i >> 16]));
  leaves.push(l);
  for (const n of range.append(l)) nodes.set(key(n.level, n.index), n.hash);
}
const root = range.root();
// The baseline is measured after the tree is built, next to the measurements it is related to.
const hashBase = measure('RFC 6962 node hash (SHA-256 of 65 bytes)', () => nodeHash(a, b), { minMs });
const reader = {
  readHashes: (ids: readonly { level: number; index: number }[]) =>
    ids.map((id) => nodes.get(key(id.level, id.index))!),
};

const appendRange = CompactRange.empty();
let appended = 0;
const append = measure(
  'CompactRange.append (per leaf)',
  () => {
    appendRange.append(leaves[appended++ % N]!);
  },
  { minMs, baseline: hashBase },
);
append.model_cost = 1; // one merge per append on average

const idx = leavesArg > 0 ? Math.floor(N * 0.74) : 777777;
const incl = await inclusionProof(idx, N, reader);
const verifyIncl = measure(
  `verifyInclusion (size ${N}, ${incl.length} hashes)`,
  () => {
    verifyInclusion(idx, N, leaves[idx]!, incl, root);
  },
  { minMs, baseline: hashBase },
);
verifyIncl.model_cost = incl.length;

const m = leavesArg > 0 ? Math.floor(N * 0.477) | 1 : 500001;
const cons = await consistencyProof(m, N, reader);
const rangeM = CompactRange.empty();
rangeM.appendAll(leaves.slice(0, m));
const rootM = rangeM.root();
const verifyCons = measure(
  `verifyConsistency (${m} → ${N}, ${cons.length} hashes)`,
  () => {
    verifyConsistency(m, N, cons, rootM, root);
  },
  { minMs, baseline: hashBase },
);
verifyCons.model_cost = 2 * cons.length;

// Checkpoint with 3 witness cosignatures, quorum 3: 4 Ed25519 verifications.
const ed = signingKeyFromSeed(new Uint8Array(32).fill(3));
const msg = new Uint8Array(120);
const sig = sign(ed, msg);
const edBase = measure('Ed25519 verify (libsodium)', () => verifySignature(ed.publicKey, msg, sig), {
  minMs,
});
const logKey = signerKeyFromSeed('log.example/overt', SIGNATURE_TYPE_ED25519, new Uint8Array(32).fill(4));
const ws = [5, 6, 7].map((i) =>
  signerKeyFromSeed(`w${i}.example`, SIGNATURE_TYPE_COSIGNATURE, new Uint8Array(32).fill(i)),
);
const note = parseNote(
  signCheckpoint({ origin: 'log.example/overt', size: N, rootHash: root, extensions: [] }, logKey),
);
const signed = formatNote(
  addSignatures(
    note,
    ws.map((w) => cosign(note.text, w, 1700000000)),
  ),
);
const policy = {
  origin: 'log.example/overt',
  logKeys: [verifierKeyOf(logKey)],
  witnesses: makeWitnessPolicy(ws.map(verifierKeyOf), 3),
};
const verifyCp = measure('verifyCheckpoint (log + 3 witnesses)', () => verifyCheckpoint(signed, policy), {
  minMs,
  baseline: edBase,
});
verifyCp.model_cost = 4;
const parse = measure('parseNote (checkpoint with 4 signatures)', () => parseNote(signed), {
  minMs,
  baseline: edBase,
});

report('log', [hashBase, append, verifyIncl, verifyCons, edBase, verifyCp, parse]);
