/**
 * The body of one access worker thread (access-workers.ts): the per-envelope cryptography of an access
 * release, off the caller's event loop. A trustee pool's workers hold the trustee's key share, received once in
 * the init message and zeroed on close; a requester pool's workers hold no secret beyond the content keys of the
 * batch in hand.
 *
 * - release (trustee, DESIGN §5 rule 5): decode each head, check the sender signature under the given device key
 *   (ENV-22), verify the capsules for their labels in one batch (verifyCapsulesBatch, CAP-6), create a decryption
 *   share for each (createShare).
 * - recover (requester, DESIGN §4 step 7): verify the capsules, verify every trustee's shares in one batch
 *   (verifySharesBatch, A9: a bad share names its trustee), combine k per envelope (combineShares), and
 *   optionally open the envelope with the recovered K (openRecoveredEnvelope).
 */
import { parentPort } from 'node:worker_threads';
import {
  type Capsule,
  type CapsuleBatchItem,
  combineShares,
  createShare,
  type DecryptionShare,
  decodeCapsule,
  decodeElement,
  decodeEnvelope,
  decodeEnvelopeHead,
  decodeScalar,
  decodeShare,
  type EnvelopeHead,
  encodeShare,
  group,
  isOvertError,
  isSenderSignatureValid,
  type KeyShare,
  openRecoveredEnvelope,
  randomScalar,
  SHARE_BYTES,
  type ShareBatchItem,
  type ThresholdPublicKey,
  type UnverifiedEnvelope,
  type VerifiedCapsule,
  type VerifiedShare,
  verifyCapsulesBatch,
  verifySharesBatch,
} from '@overt/core';
import {
  type CalibrateMessage,
  countOf,
  type FromWorker,
  type ItemFailure,
  itemOf,
  pack,
  type RecoverMessage,
  type ReleaseMessage,
  type StageMs,
  type ToWorker,
} from './access-protocol.js';
import { nodeCryptoBackend } from './node-crypto-backend.js';

const LABEL = 32;
const KEY = 32;
const SENDER_KEY = 32;

let publicKey: ThresholdPublicKey | undefined;
let keyShare: { index: number; secret: Uint8Array } | undefined;

function failureOf(position: number, e: unknown, trustee?: number): ItemFailure {
  const base = isOvertError(e)
    ? { code: e.code, ...(e.check ? { check: e.check } : {}) }
    : { code: 'INTERNAL' };
  return { position, ...base, ...(trustee === undefined ? {} : { trustee }) };
}

function clock(ms: StageMs, stage: string, since: number): number {
  const t = performance.now();
  ms[stage] = (ms[stage] ?? 0) + (t - since);
  return t;
}

function release(m: ReleaseMessage): FromWorker {
  if (publicKey === undefined || keyShare === undefined)
    return { type: 'error', id: m.id, code: 'ACCESS_POOL_NO_KEY' };
  const ms: StageMs = {};
  const n = countOf(m.heads);
  const labels = new Uint8Array(n * LABEL);
  const shares = new Uint8Array(n * SHARE_BYTES);
  const failures: ItemFailure[] = [];
  let t = performance.now();
  const heads: (EnvelopeHead | undefined)[] = [];
  const capsules: (Capsule | undefined)[] = [];
  for (let i = 0; i < n; i++) {
    try {
      const head = decodeEnvelopeHead(itemOf(m.heads, i));
      labels.set(head.label, i * LABEL);
      heads.push(head);
      capsules.push(decodeCapsule(head.capsule));
    } catch (e) {
      failures.push(failureOf(i, e));
      heads.push(undefined);
      capsules.push(undefined);
    }
  }
  t = clock(ms, 'decode', t);
  if (m.senderKeys !== undefined) {
    for (let i = 0; i < n; i++) {
      const head = heads[i];
      if (head === undefined) continue;
      if (!isSenderSignatureValid(head, m.senderKeys.subarray(i * SENDER_KEY, (i + 1) * SENDER_KEY))) {
        failures.push({ position: i, code: 'ENVELOPE_SIGNATURE', check: 'ENV-22' });
        capsules[i] = undefined;
      }
    }
    t = clock(ms, 'signature', t);
  }
  const positions: number[] = [];
  const items: CapsuleBatchItem[] = [];
  for (let i = 0; i < n; i++) {
    const capsule = capsules[i];
    if (capsule === undefined) continue;
    positions.push(i);
    items.push({ epochKey: publicKey.groupKey, capsule, label: heads[i]!.label });
  }
  const checked = verifyCapsulesBatch(items);
  for (const f of checked.failures) failures.push(failureOf(positions[f.position]!, f.error));
  t = clock(ms, 'capsule_verify', t);
  const share: KeyShare = keyShare as KeyShare;
  checked.verified.forEach((capsule, j) => {
    if (capsule === undefined) return;
    const i = positions[j]!;
    try {
      shares.set(encodeShare(createShare(share, capsule)), i * SHARE_BYTES);
    } catch (e) {
      failures.push(failureOf(i, e));
    }
  });
  clock(ms, 'share_create', t);
  failures.sort((a, b) => a.position - b.position);
  return { type: 'release', id: m.id, labels, shares, failures, ms };
}

async function recover(m: RecoverMessage): Promise<FromWorker> {
  if (publicKey === undefined) return { type: 'error', id: m.id, code: 'ACCESS_POOL_NO_KEY' };
  const pk = publicKey;
  const ms: StageMs = {};
  const n = countOf(m.envelopes);
  const failures: ItemFailure[] = [];
  const ok = new Uint8Array(n);
  const keys = new Uint8Array(n * KEY);
  let t = performance.now();
  const envs: (EnvelopeHead | UnverifiedEnvelope | undefined)[] = [];
  const positions: number[] = [];
  const items: CapsuleBatchItem[] = [];
  for (let i = 0; i < n; i++) {
    try {
      const bytes = itemOf(m.envelopes, i);
      const env = m.open ? decodeEnvelope(bytes) : decodeEnvelopeHead(bytes);
      envs.push(env);
      positions.push(i);
      items.push({ epochKey: pk.groupKey, capsule: decodeCapsule(env.capsule), label: env.label });
    } catch (e) {
      envs.push(undefined);
      failures.push(failureOf(i, e));
    }
  }
  t = clock(ms, 'decode', t);
  const capsules: (VerifiedCapsule | undefined)[] = new Array(n).fill(undefined);
  const checkedCapsules = verifyCapsulesBatch(items);
  for (const f of checkedCapsules.failures) failures.push(failureOf(positions[f.position]!, f.error));
  checkedCapsules.verified.forEach((c, j) => {
    capsules[positions[j]!] = c;
  });
  t = clock(ms, 'capsule_verify', t);
  const shareItems: ShareBatchItem[] = [];
  const shareOf: number[] = [];
  for (const rows of m.shares) {
    for (let i = 0; i < n; i++) {
      const capsule = capsules[i];
      const row = rows.subarray(i * SHARE_BYTES, (i + 1) * SHARE_BYTES);
      if (capsule === undefined || row.length !== SHARE_BYTES || row[0] === 0) continue;
      let share: DecryptionShare;
      try {
        share = decodeShare(row);
      } catch (e) {
        failures.push(failureOf(i, e, row[0]));
        continue;
      }
      shareItems.push({ capsule, publicKey: pk, share });
      shareOf.push(i);
    }
  }
  t = clock(ms, 'decode', t);
  const checkedShares = verifySharesBatch(shareItems);
  const byEnvelope: VerifiedShare[][] = Array.from({ length: n }, () => []);
  for (const f of checkedShares.failures)
    failures.push(failureOf(shareOf[f.position]!, f.error, shareItems[f.position]!.share.index));
  checkedShares.verified.forEach((s, j) => {
    if (s !== undefined) byEnvelope[shareOf[j]!]!.push(s);
  });
  t = clock(ms, 'share_verify', t);
  const recovered: (Uint8Array | undefined)[] = new Array(n).fill(undefined);
  for (let i = 0; i < n; i++) {
    const capsule = capsules[i];
    if (capsule === undefined) continue;
    try {
      const k = combineShares(capsule, byEnvelope[i]!, pk);
      recovered[i] = k;
      ok[i] = 1;
    } catch (e) {
      failures.push(failureOf(i, e));
    }
  }
  t = clock(ms, 'combine', t);
  let payloads: Uint8Array[] | undefined;
  if (m.open) {
    payloads = [];
    for (let i = 0; i < n; i++) {
      const k = recovered[i];
      let payload: Uint8Array = new Uint8Array(0);
      if (k !== undefined) {
        try {
          payload = (
            await openRecoveredEnvelope(envs[i] as UnverifiedEnvelope, capsules[i]!, k, {
              backend: nodeCryptoBackend,
            })
          ).payload;
        } catch (e) {
          ok[i] = 0;
          failures.push(failureOf(i, e));
        }
      }
      payloads.push(payload);
    }
    clock(ms, 'open', t);
  }
  for (let i = 0; i < n; i++) {
    const k = recovered[i];
    if (k === undefined) continue;
    if (m.returnKeys && ok[i] === 1) keys.set(k, i * KEY);
    k.fill(0);
  }
  failures.sort((a, b) => a.position - b.position);
  return {
    type: 'recover',
    id: m.id,
    ok,
    ...(m.returnKeys ? { keys } : {}),
    ...(payloads ? { payloads: pack(payloads) } : {}),
    failures,
    ms,
  };
}

/** Raw libsodium multiplications for `ms` each (wall clock: with every worker busy, what one thread gets). */
function calibrate(m: CalibrateMessage): FromWorker {
  const s = randomScalar();
  const p = group.baseMul(randomScalar());
  const rate = (f: () => unknown) => {
    let n = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < m.ms) {
      for (let i = 0; i < 16; i++) f();
      n += 16;
      t = performance.now();
    }
    return (n / (t - t0)) * 1000;
  };
  return {
    type: 'calibrate',
    id: m.id,
    basePerS: rate(() => group.baseMul(s)),
    variablePerS: rate(() => group.mul(s, p)),
  };
}

function transferables(r: FromWorker): ArrayBuffer[] {
  if (r.type === 'release') return [r.labels.buffer as ArrayBuffer, r.shares.buffer as ArrayBuffer];
  if (r.type === 'recover') {
    const out = [r.ok.buffer as ArrayBuffer];
    if (r.keys) out.push(r.keys.buffer as ArrayBuffer);
    if (r.payloads) out.push(r.payloads.data.buffer as ArrayBuffer, r.payloads.offsets.buffer as ArrayBuffer);
    return out;
  }
  return [];
}

const port = parentPort;
if (port === null) throw new Error('access-worker runs as a worker thread');
port.on('message', async (m: ToWorker) => {
  if (m.type === 'close') {
    keyShare?.secret.fill(0);
    keyShare = undefined;
    port.close();
    return;
  }
  if (m.type === 'init') {
    try {
      publicKey = {
        threshold: m.publicKey.threshold,
        groupKey: decodeElement(m.publicKey.groupKey, 'group key'),
        verificationKeys: m.publicKey.verificationKeys.map((k) => decodeElement(k, 'verification key')),
      };
      if (m.keyShare !== undefined) {
        // Checked like any other scalar; decodeScalar copies, so the transferred buffer is zeroed at once.
        keyShare = { index: m.keyShare.index, secret: decodeScalar(m.keyShare.secret, 'key share') };
        m.keyShare.secret.fill(0);
      }
      port.postMessage({ type: 'ready' });
    } catch (e) {
      port.postMessage({ type: 'error', id: 0, code: isOvertError(e) ? e.code : 'INTERNAL' });
    }
    return;
  }
  let r: FromWorker;
  try {
    r = m.type === 'release' ? release(m) : m.type === 'recover' ? await recover(m) : calibrate(m);
  } catch (e) {
    r = { type: 'error', id: m.id, code: isOvertError(e) ? e.code : 'INTERNAL' };
  }
  port.postMessage(r, transferables(r));
});
