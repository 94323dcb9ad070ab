/**
 * Benchmark of the key-transparency map (docs/spec/directory.md §7; issue #16):
 * `npx tsx bench/kt-map/run.ts [--quick] [--max N]` prints JSON.
 *
 * For maps of 10^3 .. `--max` labels (default 10^6; 10^7 needs ~3 GB and minutes), each in the same run:
 *   - build: inserting N labels and committing epoch 0 (CPU ms, RSS);
 *   - publish: one epoch of 1,000 changes (500 updates, 500 new labels): commitments (HMAC) + tree update + root,
 *     median of 3 epochs. New labels' VRF proofs are computed at enrolment, not at publication, and are measured
 *     on their own (`vrf`);
 *   - lookup: a contact's lookup proof for a member (VRF proof, prefix proof, opening, a two-device value): mean
 *     bytes over 20 members and its verification time (VRF verify + commitment + root);
 *   - monitoring: an owner's step per epoch at one change per second for epochs of 60 s, 600 s and 3600 s
 *     (C = 60, 600, 3600 changes per epoch), measured over 4 epochs at the largest size, and the day's bytes
 *     (steps × epochs per day + one log inclusion proof for the last entry);
 *   - auditor: verifying an epoch of 1,000 changes = the 1,000 admin signatures + replaying them into the tree.
 * Baselines measured in the same run: SHA-256 of 65 bytes (node:crypto and @noble/hashes), one Ed25519 verification
 * (libsodium, core's verifySignature) — and today's whole-log approach at the same sizes: a new client downloads
 * and checks every directory entry (bytes = N × the entry size of a real device statement; time = N × (Ed25519
 * verify + leaf hash), from the per-entry costs measured here), and an owner reads every new entry (86,400 a day
 * at one change per second).
 */
import { hash, randomBytes, randomFillSync } from 'node:crypto';
import { loadavg } from 'node:os';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import {
  deriveMapOpening,
  deviceEntry,
  encodeMapRootEntry,
  encodeMapValue,
  type MapRootEntry,
  mapCommitment,
  mapLabel,
  monitorStateFromLookup,
  PrefixTree,
  signDeviceStatement,
  signingKeyFromSeed,
  verifyLookup,
  verifyMonitorProof,
  verifySignature,
  vrfProve,
  vrfPublicKey,
  vrfVerify,
} from '../../packages/core/src/index.js';
import { measure, now, report } from '../core/harness.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const maxArg = args.indexOf('--max');
const MAX = maxArg >= 0 ? Number(args[maxArg + 1]) : quick ? 1e5 : 1e6;
const minMs = quick ? 100 : 300;

const nodeSha = (d: Uint8Array) => new Uint8Array(hash('sha256', d, 'buffer'));
const rnd = (n: number) => new Uint8Array(randomBytes(n));

// ---- baselines
const b65 = rnd(65);
const shaNode = measure('sha256 65 B (node:crypto)', () => nodeSha(b65), { minMs });
const shaNoble = measure('sha256 65 B (@noble/hashes)', () => nobleSha256(b65), { minMs, baseline: shaNode });
const admin = signingKeyFromSeed(new Uint8Array(32).fill(0xad));
const statement = signDeviceStatement(admin, {
  kind: 'added',
  orgId: 'example.org',
  userId: 'user-000123@example.org',
  deviceId: 'phone',
  identityKey: new Uint8Array(32).fill(7),
  time: 1_767_225_600_000,
});
const entryBytes = deviceEntry('added', statement).length;
const content = statement.subarray(0, statement.length - 64);
const sig = statement.subarray(statement.length - 64);
const tag = new TextEncoder().encode('overt/directory/v1/device-added');
const tagged = new Uint8Array(2 + tag.length + content.length);
tagged[1] = tag.length;
tagged.set(tag, 2);
tagged.set(content, 2 + tag.length);
const edVerify = measure('ed25519 verify (libsodium)', () => verifySignature(admin.publicKey, tagged, sig), {
  minMs,
});
const edOk = verifySignature(admin.publicKey, tagged, sig);

// ---- VRF
const vrfSk = new Uint8Array(32).fill(0x5e);
const vrfPk = vrfPublicKey(vrfSk);
const alpha0 = mapLabel('user-000123@example.org');
const pi0 = vrfProve(vrfSk, alpha0);
const vrfProveR = measure('vrf prove (ECVRF-EDWARDS25519-SHA512-TAI, noble)', () => vrfProve(vrfSk, alpha0), {
  minMs,
  baseline: edVerify,
});
const vrfVerifyR = measure('vrf verify', () => vrfVerify(vrfPk, alpha0, pi0), { minMs, baseline: edVerify });

// ---- the map at each size
const commitSecret = new Uint8Array(32).fill(0xc0);
const twoDevices = encodeMapValue({
  statementIndex: 123_456,
  devices: [
    { deviceId: 'laptop', identityKey: new Uint8Array(32).fill(1), addedIndex: 100_000 },
    { deviceId: 'phone', identityKey: new Uint8Array(32).fill(2), addedIndex: 123_456 },
  ],
});

function cpuMs(f: () => void): number {
  const t = now();
  f();
  return now() - t;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

interface Member {
  userId: string;
  index: Uint8Array;
  pi: Uint8Array;
  version: number;
}

function lookupBytes(tree: PrefixTree, m: Member, epoch: number): Uint8Array {
  const p = tree.prove(m.index, epoch);
  const opening = deriveMapOpening(commitSecret, m.userId, m.version);
  const tail = new Uint8Array(4 + 16 + 4 + twoDevices.length);
  new DataView(tail.buffer).setUint32(0, m.version);
  tail.set(opening, 4);
  new DataView(tail.buffer).setUint32(20, twoDevices.length);
  tail.set(twoDevices, 24);
  const out = new Uint8Array(80 + p.length + tail.length);
  out.set(m.pi);
  out.set(p, 80);
  out.set(tail, 80 + p.length);
  return out;
}

const sizes: number[] = [];
for (let n = 1e3; n <= MAX; n *= 10) sizes.push(n);
const curve: Record<string, unknown>[] = [];
let largest: { tree: PrefixTree; members: Member[]; n: number } | undefined;

// 20 real members (VRF-derived indices, real commitments); the rest random indices.
const members: Member[] = [];
for (let i = 0; i < 20; i++) {
  const userId = `member-${i}@example.org`;
  const pi = vrfProve(vrfSk, mapLabel(userId));
  members.push({ userId, pi, index: vrfVerify(vrfPk, mapLabel(userId), pi).slice(0, 32), version: 0 });
}

for (const n of sizes) {
  const tree = new PrefixTree({ sha256: nodeSha });
  const rssBefore = process.memoryUsage().rss;
  const buildMs = cpuMs(() => {
    const pool = rnd(64 * 4096);
    for (let i = 0; i < n - members.length; i++) {
      const o = (i % 4096) * 64;
      if (i % 4096 === 0) randomFillSync(pool);
      tree.set(pool.subarray(o, o + 32), pool.subarray(o + 32, o + 64));
    }
    for (const m of members)
      tree.set(m.index, mapCommitment(deriveMapOpening(commitSecret, m.userId, 0), m.userId, 0, twoDevices));
    tree.commit();
  });
  const rssMb = (process.memoryUsage().rss - rssBefore) / 2 ** 20;

  // Publish: 3 epochs of 1,000 changes (500 updates of random existing labels we track, 500 new labels).
  const publishMs: number[] = [];
  for (let e = 0; e < 3; e++) {
    const news = Array.from({ length: 500 }, () => rnd(32));
    const updated = Array.from({ length: 500 }, () => rnd(32));
    for (const u of updated) tree.set(u, rnd(32)); // make them exist first (not timed)
    tree.commit();
    publishMs.push(
      cpuMs(() => {
        for (let i = 0; i < 500; i++) {
          const uid = `u${i}@example.org`;
          tree.set(updated[i]!, mapCommitment(deriveMapOpening(commitSecret, uid, 1), uid, 1, twoDevices));
          tree.set(news[i]!, mapCommitment(deriveMapOpening(commitSecret, uid, 0), uid, 0, twoDevices));
        }
        tree.commit();
      }),
    );
  }
  const epoch = tree.epochs - 1;
  const entry: MapRootEntry = {
    orgId: 'example.org',
    vrfPublicKey: vrfPk,
    epoch: 0,
    timeMs: 0,
    coveredSize: 0,
    prefixRoot: tree.root(epoch),
    prevEntryHash: new Uint8Array(32),
  };
  const proofs = members.map((m) => lookupBytes(tree, m, epoch));
  for (const [i, p] of proofs.entries()) verifyLookup(entry, members[i]!.userId, p); // they verify
  const bytes = proofs.reduce((s, p) => s + p.length, 0) / proofs.length;
  let k = 0;
  const verify = measure(
    `lookup verify at ${n}`,
    () => {
      const i = k++ % proofs.length;
      verifyLookup(entry, members[i]!.userId, proofs[i]!);
    },
    { minMs, baseline: edVerify },
  );
  const depths = members.map((m) => tree.proof(m.index, epoch).depth);
  const wholeLogMs = (n * (edVerify.us_per_op + shaNode.us_per_op)) / 1000;
  curve.push({
    entries: n,
    build_cpu_ms: Math.round(buildMs),
    build_rss_mb: Math.round(rssMb),
    nodes: tree.size.nodes,
    publish_1000_changes_cpu_ms: Math.round(median(publishMs) * 10) / 10,
    lookup_proof_bytes_mean: Math.round(bytes),
    lookup_depth_mean: Math.round((depths.reduce((a, b) => a + b, 0) / depths.length) * 10) / 10,
    lookup_verify_ms: Math.round((verify.us_per_op / 1000) * 100) / 100,
    lookup_verify_in_ed25519_verifies: verify.baseline?.cost_in_baseline_ops,
    auditor_epoch_cpu_ms: Math.round((median(publishMs) + (1000 * edVerify.us_per_op) / 1000) * 10) / 10,
    whole_log_new_client_bytes: n * entryBytes,
    whole_log_new_client_cpu_ms_model: Math.round(wholeLogMs),
  });
  console.error(`kt-map: ${n} done`);
  if (n === sizes[sizes.length - 1]) largest = { tree, members, n };
}

// ---- monitoring at the largest size: steps of 4 epochs at C = 60, 600, 3600 changes per epoch.
const monitoring: Record<string, unknown>[] = [];
if (largest) {
  const { tree, members: ms } = largest;
  const owner = ms[0]!;
  for (const [interval, C] of [
    [60, 60],
    [600, 600],
    [3600, 3600],
  ] as const) {
    const from = tree.epochs - 1;
    const epochsMeasured = quick ? 2 : 4;
    for (let e = 0; e < epochsMeasured; e++) {
      for (let i = 0; i < C; i++) tree.set(rnd(32), rnd(32));
      tree.commit();
    }
    // Build the monitoring proof the way MapBuilder.monitor does (the owner's leaf unchanged).
    let prev = tree.proof(owner.index, from);
    let stepBytes = 0;
    for (let e = from + 1; e < tree.epochs; e++) {
      const p = tree.proof(owner.index, e);
      let sent = 0;
      for (let k = 0; k < p.depth; k++) if (k >= prev.depth || !eq(prev.siblings[k]!, p.siblings[k]!)) sent++;
      stepBytes += 8 + 8 + 1 + 2 + Math.ceil(p.depth / 8) + 32 * sent;
      prev = p;
    }
    const perStep = stepBytes / epochsMeasured;
    const epochsPerDay = 86_400 / interval;
    const logInclusion = 32 * Math.ceil(Math.log2(largest.n * 2 + 86_400));
    monitoring.push({
      epoch_interval_s: interval,
      changes_per_epoch: C,
      step_bytes_mean: Math.round(perStep),
      owner_bytes_per_day: Math.round(perStep * epochsPerDay + logInclusion),
      whole_log_owner_bytes_per_day: 86_400 * entryBytes,
      whole_log_owner_cpu_ms_per_day_model: Math.round(
        (86_400 * (edVerify.us_per_op + shaNode.us_per_op)) / 1000,
      ),
    });
  }
  // One real monitoring verification across 4 epochs (the verifier's time per step).
  const start = tree.epochs - 5;
  const entryAt = (e: number, prevHash: Uint8Array): MapRootEntry => ({
    orgId: 'example.org',
    vrfPublicKey: vrfPk,
    epoch: e,
    timeMs: e,
    coveredSize: e,
    prefixRoot: tree.root(e),
    prevEntryHash: prevHash,
  });
  const e0 = encodeMapRootEntry(entryAt(start, new Uint8Array(32)));
  const look = verifyLookup(
    entryAt(start, new Uint8Array(32)),
    owner.userId,
    lookupBytes(tree, owner, start),
  );
  const state = monitorStateFromLookup(e0, owner.userId, look);
  // Encode 4 steps.
  const parts: number[] = [0, 0, 0, 4];
  let prev = tree.proof(owner.index, start);
  for (let e = start + 1; e <= start + 4; e++) {
    const p = tree.proof(owner.index, e);
    const u64 = (v: number) => [0, 0, 0, 0, 0, 0, 0, v];
    parts.push(...u64(e), ...u64(e), 0, p.depth >> 8, p.depth & 255);
    const mask = new Uint8Array(Math.ceil(p.depth / 8));
    const sent: Uint8Array[] = [];
    for (let k = 0; k < p.depth; k++) {
      if (k >= prev.depth || !eq(prev.siblings[k]!, p.siblings[k]!)) {
        mask[k >> 3]! |= 1 << (7 - (k & 7));
        sent.push(p.siblings[k]!);
      }
    }
    parts.push(...mask);
    for (const s of sent) parts.push(...s);
    prev = p;
  }
  const proof = new Uint8Array(parts);
  const verified = verifyMonitorProof(state, proof);
  const monVerify = measure('monitoring verify, 4 epochs', () => verifyMonitorProof(state, proof), {
    minMs,
    baseline: edVerify,
  });
  monitoring.push({
    verify_4_steps_ms: Math.round((monVerify.us_per_op / 1000) * 100) / 100,
    rebuilt_root_matches: eq(verified.state.entry.prefixRoot, tree.root(start + 4)),
  });
}

function eq(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

report('kt-map', [shaNode, shaNoble, edVerify, vrfProveR, vrfVerifyR], {
  load_average: loadavg(),
  ed25519_ok: edOk,
  directory_entry_bytes: entryBytes,
  targets: {
    lookup_proof_bytes_at_1e7: '< 2048',
    lookup_verify_ms_at_1e7: '< 5',
    owner_bytes_per_day_at_1_change_per_s: '< 51200',
    publish_1000_changes_ms: '< 1000',
  },
  curve,
  monitoring,
});
