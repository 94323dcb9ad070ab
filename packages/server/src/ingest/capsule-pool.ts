/**
 * A pool of worker threads running core's envelope ingest check (relay.md §6.8): the ~0.3 ms of scalar
 * multiplication per capsule (DESIGN §9) stays off the event loop, and the checks of many messages run on every
 * core at once. Requests submitted in one event-loop turn are batched (one postMessage per worker per turn, so
 * the structured-clone and wake-up cost is shared), spread over the least loaded workers.
 *
 * The queue is bounded (RLY-24, relay.md §2.4): at most `maxQueued` checks wait for or run in the workers; one
 * more is refused at once with RELAY_BUSY, so a flood of messages can never grow the queue (and the envelopes it
 * holds) without limit. The relay's upload admission (pipeline.ts) keeps the queue below this bound normally; the
 * pool enforces it itself so that no caller can bypass it.
 *
 * Under tsx or vitest the relay runs from its TypeScript sources; the workers then load the same sources
 * through tsx's loader (the paths of ingest/tsconfig.run.json resolve @overt/* to the sibling sources).
 */
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { busy } from '../limits.js';
import type { CheckBatch, CheckBatchResult, CheckRequest, CheckResult } from './check-protocol.js';

export interface CapsulePoolOptions {
  /** Number of worker threads (default 2). */
  readonly size?: number;
  /** Largest batch handed to one worker at once (default 64). */
  readonly maxBatch?: number;
  /** Most checks queued or running at once (default 4096); beyond, RELAY_BUSY (RLY-24). */
  readonly maxQueued?: number;
}

interface Pending {
  readonly req: CheckRequest;
  readonly resolve: (r: CheckResult) => void;
  readonly reject: (e: unknown) => void;
}

interface Slot {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  /** Batches posted and not yet answered, by id. */
  readonly inFlight: Map<number, readonly Pending[]>;
  load: number;
}

/** Statistics of the pool since it started (the benchmark reports what the checks cost). */
export interface CapsulePoolStats {
  readonly checked: number;
  readonly batches: number;
  /** Sum over workers of the time they were busy checking, ms. */
  readonly busyMs: number;
  /** Checks queued or running now, the most there ever were at once, and the checks refused as over the bound. */
  readonly pending: number;
  readonly peakPending: number;
  readonly refused: number;
}

function workerUrl(): URL {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new URL('./capsule-worker.js', self);
  const tsconfig = fileURLToPath(new URL('./tsconfig.run.json', self));
  // tsx's ESM API, resolved from here (a data: URL has no base to resolve a bare specifier against).
  const api = pathToFileURL(createRequire(self).resolve('tsx/esm/api')).href.replace(/\.cjs$/, '.mjs');
  const code =
    `import { register } from ${JSON.stringify(api)};\n` +
    `register({ tsconfig: ${JSON.stringify(tsconfig)} });\n` +
    `await import(${JSON.stringify(new URL('./capsule-worker.ts', self).href)});\n`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}

export class CapsuleCheckPool {
  private readonly slots: Slot[] = [];
  private readonly maxBatch: number;
  private readonly maxQueued: number;
  private queue: Pending[] = [];
  private scheduled = false;
  private nextId = 1;
  private closed = false;
  private stats = { checked: 0, batches: 0, busyMs: 0, peakPending: 0, refused: 0 };

  constructor(options: CapsulePoolOptions = {}) {
    this.maxBatch = options.maxBatch ?? 64;
    this.maxQueued = options.maxQueued ?? 4096;
    const url = workerUrl();
    for (let i = 0; i < (options.size ?? 2); i++) this.slots.push(this.spawn(url));
  }

  private spawn(url: URL): Slot {
    const worker = new Worker(url);
    const inFlight = new Map<number, readonly Pending[]>();
    let readyResolve!: () => void;
    const ready = new Promise<void>((r) => {
      readyResolve = r;
    });
    const slot: Slot = { worker, ready, inFlight, load: 0 };
    worker.on('message', (m: CheckBatchResult | { ready: true }) => {
      if ('ready' in m) return readyResolve();
      const batch = inFlight.get(m.id);
      if (batch === undefined) return;
      inFlight.delete(m.id);
      slot.load -= batch.length;
      this.stats.checked += batch.length;
      this.stats.batches += 1;
      this.stats.busyMs += m.busyMs;
      for (const [i, p] of batch.entries()) p.resolve(m.results[i] ?? { ok: false, code: 'INTERNAL' });
    });
    // A worker that dies fails what it held; the relay answers those messages RELAY_INTERNAL.
    const fail = (e: unknown) => {
      readyResolve();
      for (const batch of inFlight.values()) for (const p of batch) p.reject(e);
      inFlight.clear();
      slot.load = 0;
    };
    worker.on('error', fail);
    // ... and is replaced, so later checks never wait on a dead thread.
    worker.on('exit', (code) => {
      if (this.closed) return;
      fail(new Error(`capsule worker exited (${code})`));
      const at = this.slots.indexOf(slot);
      if (at >= 0) this.slots[at] = this.spawn(url);
    });
    return slot;
  }

  /** Checks queued or in the workers now. */
  private get pending(): number {
    let n = this.queue.length;
    for (const s of this.slots) n += s.load;
    return n;
  }

  /**
   * Checks one envelope; resolves core's verdict. Rejects RELAY_BUSY (RLY-24) at once when `maxQueued` checks
   * are queued or running; otherwise only if the pool is closed or a worker died.
   */
  check(req: CheckRequest): Promise<CheckResult> {
    if (this.closed) return Promise.reject(new Error('capsule pool closed'));
    const pending = this.pending;
    if (pending >= this.maxQueued) {
      this.stats.refused++;
      return Promise.reject(busy('the capsule-check queue is full'));
    }
    this.stats.peakPending = Math.max(this.stats.peakPending, pending + 1);
    return new Promise((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.dispatch());
      }
    });
  }

  /** Hands the queued requests to the workers: the least loaded first, at most maxBatch each. */
  private dispatch(): void {
    this.scheduled = false;
    const queue = this.queue;
    this.queue = [];
    const alive = this.slots;
    const per = Math.min(this.maxBatch, Math.max(1, Math.ceil(queue.length / alive.length)));
    for (let i = 0; i < queue.length; i += per) {
      const batch = queue.slice(i, i + per);
      const slot = alive.reduce((a, b) => (b.load < a.load ? b : a));
      const id = this.nextId++;
      slot.inFlight.set(id, batch);
      slot.load += batch.length;
      const message: CheckBatch = { id, items: batch.map((p) => p.req) };
      slot.worker.postMessage(message);
    }
  }

  getStats(): CapsulePoolStats {
    return { ...this.stats, pending: this.pending };
  }

  /** Waits until every worker has loaded (startup cost kept out of a benchmark's window). */
  async ready(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.ready));
  }

  /** Terminates the workers; pending checks are rejected. Leaves no handle open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new Error('capsule pool closed');
    for (const p of this.queue) p.reject(err);
    this.queue = [];
    for (const s of this.slots) for (const batch of s.inFlight.values()) for (const p of batch) p.reject(err);
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
