/**
 * A pool of worker threads for the per-envelope cryptography of an access release (docs/spec/access.md §3, §5),
 * shared by the trustee daemon (release rule 5 and share creation) and the requester's tools (share
 * verification, combination, opening). A job is one release batch (≤ RELEASE_BATCH = 1024 envelopes); the pool
 * splits it over its workers, so one batch keeps every core busy, and answers in input order.
 *
 * Only flat byte buffers cross to the workers (access-protocol.ts), transferred, not cloned item by item. A
 * trustee pool sends the key share to each worker once, in the init message (the copy is transferred, so the
 * pool keeps none); every worker zeroes it on {@link AccessWorkerPool.close}. The caller keeps its own KeyShare
 * and zeroes it itself.
 *
 * Under tsx or vitest the pool runs from the TypeScript sources; the workers then load the same sources
 * through tsx's loader (tsconfig.run.json next to this file resolves @overt/core to its sources), as the relay's
 * capsule-check pool does (server src/ingest/capsule-pool.ts).
 */

import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { KeyShare, ThresholdPublicKey } from '@overt/core';
import { ClientError, ClientInternalError } from '../errors.js';
import {
  type CalibrateResult,
  concatPacked,
  countOf,
  type FromWorker,
  type ItemFailure,
  type PackedBytes,
  type RecoverResult,
  type ReleaseResult,
  type StageMs,
  slicePacked,
  type ToWorker,
} from './access-protocol.js';

export { countOf, type ItemFailure, itemOf, type PackedBytes, pack } from './access-protocol.js';

/** A release batch holds at most this many envelopes (access.md §3). */
export const ACCESS_JOB_MAX = 1024;
const SHARE_BYTES = 161;

export interface AccessPoolOptions {
  /** The epoch's key set (the capsules' epoch key and every trustee's Y_i). */
  readonly publicKey: ThresholdPublicKey;
  /** A trustee pool: this trustee's key share (copied to each worker once; the caller's copy is untouched). */
  readonly keyShare?: KeyShare;
  /** Worker threads (default: the machine's available parallelism, at least 1). */
  readonly size?: number;
}

export interface ReleaseJob {
  /** The envelopes' heads (u32 len ‖ header ‖ capsule ‖ signature; whole envelopes work too), ≤ 1024. */
  readonly heads: PackedBytes;
  /** n × 32 bytes: the sending device's Ed25519 key per envelope (from the log); omitted: signatures unchecked. */
  readonly senderKeys?: Uint8Array;
}

export interface ReleaseOutput {
  /** n × 32: each envelope's label, computed from its header (compare with the execution's labels). */
  readonly labels: Uint8Array;
  /** n × 161: this trustee's encoded decryption share per envelope; all zeros where the envelope failed. */
  readonly shares: Uint8Array;
  /** Envelopes that got no share: the decode, signature (ENV-22) or capsule (CAP-*) error, by position. */
  readonly failures: readonly ItemFailure[];
  /** Worker milliseconds per stage, summed over the workers (decode, signature, capsule_verify, share_create). */
  readonly ms: StageMs;
}

export interface RecoverJob {
  /** Whole envelopes when `open` is set; heads are enough otherwise. ≤ 1024. */
  readonly envelopes: PackedBytes;
  /** One buffer per trustee: n × 161 bytes, its share per envelope, a row starting with 0 where it has none. */
  readonly shares: readonly Uint8Array[];
  /** Decrypt each envelope with its recovered K (openRecoveredEnvelope) and return the payloads. */
  readonly open?: boolean;
  /** Return the recovered content keys (secret) too. Default false. */
  readonly returnKeys?: boolean;
}

export interface RecoverOutput {
  /** n bytes: 1 where K was recovered (and the envelope opened, when asked). */
  readonly ok: Uint8Array;
  /** n × 32 content keys, only with returnKeys. */
  readonly keys?: Uint8Array;
  /** The payloads, with open (empty where ok is 0). */
  readonly payloads?: PackedBytes;
  /** Envelopes that failed, and shares that failed (with `trustee` set: A9 names the trustee). */
  readonly failures: readonly ItemFailure[];
  /** Worker milliseconds per stage (decode, capsule_verify, share_verify, combine, open). */
  readonly ms: StageMs;
}

interface Slot {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  readonly waiting: Map<number, { resolve: (r: FromWorker) => void; reject: (e: unknown) => void }>;
  load: number;
  exited: boolean;
}

function workerUrl(): URL {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new URL('./access-worker.js', self);
  const tsconfig = fileURLToPath(new URL('./tsconfig.run.json', self));
  const api = pathToFileURL(createRequire(self).resolve('tsx/esm/api')).href.replace(/\.cjs$/, '.mjs');
  const code =
    `import { register } from ${JSON.stringify(api)};\n` +
    `register({ tsconfig: ${JSON.stringify(tsconfig)} });\n` +
    `await import(${JSON.stringify(new URL('./access-worker.ts', self).href)});\n`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}

/** Errors of the pool: misuse is SDK_USAGE; a worker that dies or fails unexpectedly is an internal error. */
function poolError(code: string): Error {
  switch (code) {
    case 'closed':
      return new ClientError('SDK_USAGE', 'the access worker pool is closed');
    case 'batch too large':
      return new ClientError('SDK_USAGE', `a job holds at most ${ACCESS_JOB_MAX} envelopes`);
    case 'ACCESS_POOL_NO_KEY':
      return new ClientError('SDK_USAGE', 'release needs a trustee pool (started with a key share)');
    default:
      return new ClientInternalError(`access worker: ${code}`);
  }
}

function addMs(into: StageMs, from: StageMs): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

function shift(failures: readonly ItemFailure[], by: number): ItemFailure[] {
  return failures.map((f) => ({ ...f, position: f.position + by }));
}

export class AccessWorkerPool {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private closed = false;

  private constructor(options: AccessPoolOptions) {
    const size = Math.max(1, options.size ?? availableParallelism());
    const url = workerUrl();
    for (let i = 0; i < size; i++) this.slots.push(this.spawn(url, options));
  }

  /** Starts the workers and waits until each has loaded and received the keys. */
  static async start(options: AccessPoolOptions): Promise<AccessWorkerPool> {
    const pool = new AccessWorkerPool(options);
    try {
      await Promise.all(pool.slots.map((s) => s.ready));
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  private spawn(url: URL, options: AccessPoolOptions): Slot {
    const worker = new Worker(url);
    const waiting: Slot['waiting'] = new Map();
    let readyResolve!: () => void;
    let readyReject!: (e: unknown) => void;
    const ready = new Promise<void>((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    const slot: Slot = { worker, ready, waiting, load: 0, exited: false };
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'ready') return readyResolve();
      if (m.type === 'error' && m.id === 0) return readyReject(poolError(m.code));
      const w = waiting.get(m.id);
      if (w === undefined) return;
      waiting.delete(m.id);
      if (m.type === 'error') w.reject(poolError(m.code));
      else w.resolve(m);
    });
    const fail = (e: unknown) => {
      readyReject(e);
      for (const w of waiting.values()) w.reject(e);
      waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      slot.exited = true;
      if (!this.closed) fail(poolError(`worker exited (${code})`));
    });
    const { publicKey, keyShare } = options;
    const secret = keyShare ? keyShare.secret.slice() : undefined;
    const init: ToWorker = {
      type: 'init',
      publicKey: {
        threshold: publicKey.threshold,
        groupKey: publicKey.groupKey.slice(),
        verificationKeys: publicKey.verificationKeys.map((k) => k.slice()),
      },
      ...(keyShare && secret ? { keyShare: { index: keyShare.index, secret } } : {}),
    };
    worker.postMessage(init, secret ? [secret.buffer as ArrayBuffer] : []);
    return slot;
  }

  private post(slot: Slot, m: ToWorker & { id: number }, transfer: ArrayBuffer[]): Promise<FromWorker> {
    return new Promise((resolve, reject) => {
      slot.waiting.set(m.id, { resolve, reject });
      slot.worker.postMessage(m, transfer);
    });
  }

  /** Splits [0, n) into one contiguous part per worker (fewer for small jobs). */
  private parts(n: number): [number, number][] {
    const per = Math.max(1, Math.ceil(n / this.slots.length));
    const out: [number, number][] = [];
    for (let at = 0; at < n; at += per) out.push([at, Math.min(n, at + per)]);
    return out;
  }

  private async run<R extends FromWorker>(
    parts: [number, number][],
    message: (
      from: number,
      to: number,
      id: number,
    ) => { m: ToWorker & { id: number }; transfer: ArrayBuffer[] },
  ): Promise<R[]> {
    if (this.closed) throw poolError('closed');
    const order = [...this.slots].sort((a, b) => a.load - b.load);
    return Promise.all(
      parts.map(async ([from, to], j) => {
        const slot = order[j % order.length]!;
        const { m, transfer } = message(from, to, this.nextId++);
        slot.load += to - from;
        try {
          return (await this.post(slot, m, transfer)) as R;
        } finally {
          slot.load -= to - from;
        }
      }),
    );
  }

  /**
   * Trustee side: for each envelope, decode its head, check the sender signature (when keys are given), verify
   * the capsule for its label (batch), and create this trustee's decryption share. Requires a trustee pool.
   */
  async release(job: ReleaseJob): Promise<ReleaseOutput> {
    const n = countOf(job.heads);
    if (n > ACCESS_JOB_MAX) throw poolError('batch too large');
    const parts = this.parts(n);
    const results = await this.run<ReleaseResult>(parts, (from, to, id) => {
      const heads = slicePacked(job.heads, from, to);
      const senderKeys = job.senderKeys?.slice(from * 32, to * 32);
      const transfer = [heads.data.buffer as ArrayBuffer, heads.offsets.buffer as ArrayBuffer];
      if (senderKeys) transfer.push(senderKeys.buffer as ArrayBuffer);
      return { m: { type: 'release', id, heads, ...(senderKeys ? { senderKeys } : {}) }, transfer };
    });
    const labels = new Uint8Array(n * 32);
    const shares = new Uint8Array(n * SHARE_BYTES);
    const failures: ItemFailure[] = [];
    const ms: StageMs = {};
    results.forEach((r, j) => {
      const from = parts[j]![0];
      labels.set(r.labels, from * 32);
      shares.set(r.shares, from * SHARE_BYTES);
      failures.push(...shift(r.failures, from));
      addMs(ms, r.ms);
    });
    return { labels, shares, failures, ms };
  }

  /**
   * Requester side: verify the capsules, verify every trustee's share (batch), combine k per envelope, and
   * optionally open each envelope with its K.
   */
  async recover(job: RecoverJob): Promise<RecoverOutput> {
    const n = countOf(job.envelopes);
    if (n > ACCESS_JOB_MAX) throw poolError('batch too large');
    const parts = this.parts(n);
    const open = job.open ?? false;
    const returnKeys = job.returnKeys ?? false;
    const results = await this.run<RecoverResult>(parts, (from, to, id) => {
      const envelopes = slicePacked(job.envelopes, from, to);
      const shares = job.shares.map((s) => s.slice(from * SHARE_BYTES, to * SHARE_BYTES));
      const transfer = [
        envelopes.data.buffer as ArrayBuffer,
        envelopes.offsets.buffer as ArrayBuffer,
        ...shares.map((s) => s.buffer as ArrayBuffer),
      ];
      return { m: { type: 'recover', id, envelopes, shares, open, returnKeys }, transfer };
    });
    const ok = new Uint8Array(n);
    const keys = returnKeys ? new Uint8Array(n * 32) : undefined;
    const failures: ItemFailure[] = [];
    const ms: StageMs = {};
    const payloads: PackedBytes[] = [];
    results.forEach((r, j) => {
      const from = parts[j]![0];
      ok.set(r.ok, from);
      if (keys && r.keys) {
        keys.set(r.keys, from * 32);
        r.keys.fill(0);
      }
      if (r.payloads) payloads.push(r.payloads);
      failures.push(...shift(r.failures, from));
      addMs(ms, r.ms);
    });
    return {
      ok,
      ...(keys ? { keys } : {}),
      ...(open ? { payloads: concatPacked(payloads) } : {}),
      failures,
      ms,
    };
  }

  /**
   * Measures raw ristretto255 multiplications on every worker at once, `ms` per kind (benchmarks: the machine's
   * multi-core rate, for the bound). Returns the sums over the workers, per second of wall clock.
   */
  async calibrate(ms = 500): Promise<{ basePerS: number; variablePerS: number }> {
    const parts = this.slots.map((_, i): [number, number] => [i, i + 1]);
    const results = await this.run<CalibrateResult>(parts, (_from, _to, id) => ({
      m: { type: 'calibrate', id, ms },
      transfer: [],
    }));
    return {
      basePerS: results.reduce((a, r) => a + r.basePerS, 0),
      variablePerS: results.reduce((a, r) => a + r.variablePerS, 0),
    };
  }

  /** Zeroes the key share in every worker and stops them; pending jobs are rejected. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = poolError('closed');
    await Promise.all(
      this.slots.map(async (s) => {
        for (const w of s.waiting.values()) w.reject(err);
        s.waiting.clear();
        if (s.exited) return;
        const exited = new Promise<void>((res) => s.worker.once('exit', () => res()));
        s.worker.postMessage({ type: 'close' } satisfies ToWorker);
        // The worker zeroes its copy of the share and closes its port; terminate only if it does not exit.
        const timer = setTimeout(() => void s.worker.terminate(), 2_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}
