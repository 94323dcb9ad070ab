/**
 * Messages between {@link AccessWorkerPool} (access-workers.ts) and its worker threads (access-worker.ts).
 * Everything crosses the thread boundary as flat byte buffers (transferred, not cloned item by item): a list of
 * variable-length byte strings is one buffer plus n + 1 offsets.
 */

/** n byte strings packed: item i is data[offsets[i] .. offsets[i + 1]). */
export interface PackedBytes {
  readonly data: Uint8Array;
  readonly offsets: Uint32Array;
}

/** The public side of the epoch's sharing, as bytes (core ThresholdPublicKey). */
export interface WirePublicKey {
  readonly threshold: number;
  readonly groupKey: Uint8Array;
  readonly verificationKeys: readonly Uint8Array[];
}

export interface InitMessage {
  readonly type: 'init';
  readonly publicKey: WirePublicKey;
  /** The trustee's key share (index, secret), only in a trustee pool; the secret buffer is transferred. */
  readonly keyShare?: { readonly index: number; readonly secret: Uint8Array };
}

export interface ReleaseMessage {
  readonly type: 'release';
  readonly id: number;
  /** Envelope heads (u32 len ‖ header ‖ capsule ‖ signature, or whole envelopes). */
  readonly heads: PackedBytes;
  /** n × 32 bytes: the Ed25519 key of each envelope's sending device; absent: signatures not checked. */
  readonly senderKeys?: Uint8Array;
}

export interface RecoverMessage {
  readonly type: 'recover';
  readonly id: number;
  /** Whole envelopes when `open`, else heads are enough. */
  readonly envelopes: PackedBytes;
  /** Per trustee, n × 161 bytes: an encoded share per envelope, or a row starting with byte 0 when absent. */
  readonly shares: readonly Uint8Array[];
  readonly open: boolean;
  readonly returnKeys: boolean;
}

export interface CloseMessage {
  readonly type: 'close';
}

/** Times raw scalar multiplications in the worker (the bound of a benchmark, with every worker busy at once). */
export interface CalibrateMessage {
  readonly type: 'calibrate';
  readonly id: number;
  /** Milliseconds for each of the two loops (base-point, then variable-point). */
  readonly ms: number;
}

export interface CalibrateResult {
  readonly type: 'calibrate';
  readonly id: number;
  readonly basePerS: number;
  readonly variablePerS: number;
}

export type ToWorker = InitMessage | ReleaseMessage | RecoverMessage | CalibrateMessage | CloseMessage;

/** Why one envelope (or one trustee's share of it) failed: our error code and check ID, never a secret. */
export interface ItemFailure {
  /** Position of the envelope in the job (0-based). */
  readonly position: number;
  readonly code: string;
  readonly check?: string;
  /** Set when the failure is one trustee's share (requester side): that trustee's index. */
  readonly trustee?: number;
}

/** Milliseconds a worker spent in each stage of a job (thread CPU is not available; wall clock inside the worker). */
export type StageMs = Record<string, number>;

export interface ReleaseResult {
  readonly type: 'release';
  readonly id: number;
  /** n × 32: each envelope's label L (computed from its header). */
  readonly labels: Uint8Array;
  /** n × 161: the encoded share, or zeros where the envelope failed. */
  readonly shares: Uint8Array;
  readonly failures: readonly ItemFailure[];
  readonly ms: StageMs;
}

export interface RecoverResult {
  readonly type: 'recover';
  readonly id: number;
  /** n bytes: 1 where K was recovered (and, when opening, the envelope opened), else 0. */
  readonly ok: Uint8Array;
  /** n × 32 content keys when asked for (secret), zeros where not recovered. */
  readonly keys?: Uint8Array;
  /** The opened payloads when `open` (empty where not ok). */
  readonly payloads?: PackedBytes;
  readonly failures: readonly ItemFailure[];
  readonly ms: StageMs;
}

export interface ErrorResult {
  readonly type: 'error';
  readonly id: number;
  readonly code: string;
}

export type FromWorker =
  | ReleaseResult
  | RecoverResult
  | CalibrateResult
  | ErrorResult
  | { readonly type: 'ready' };

export function itemOf(p: PackedBytes, i: number): Uint8Array {
  return p.data.subarray(p.offsets[i]!, p.offsets[i + 1]!);
}

export function countOf(p: PackedBytes): number {
  return p.offsets.length - 1;
}

/** Packs byte strings into one buffer. */
export function pack(items: readonly Uint8Array[]): PackedBytes {
  const offsets = new Uint32Array(items.length + 1);
  let total = 0;
  for (let i = 0; i < items.length; i++) {
    total += items[i]!.length;
    offsets[i + 1] = total;
  }
  const data = new Uint8Array(total);
  for (let i = 0; i < items.length; i++) data.set(items[i]!, offsets[i]!);
  return { data, offsets };
}

/** Items [from, to) of a packed list, as a new packed list (own buffers, so they can be transferred). */
export function slicePacked(p: PackedBytes, from: number, to: number): PackedBytes {
  const start = p.offsets[from]!;
  const data = p.data.slice(start, p.offsets[to]!);
  const offsets = new Uint32Array(to - from + 1);
  for (let i = from; i <= to; i++) offsets[i - from] = p.offsets[i]! - start;
  return { data, offsets };
}

/** Concatenates packed lists in order. */
export function concatPacked(parts: readonly PackedBytes[]): PackedBytes {
  const n = parts.reduce((a, p) => a + countOf(p), 0);
  const total = parts.reduce((a, p) => a + p.data.length, 0);
  const data = new Uint8Array(total);
  const offsets = new Uint32Array(n + 1);
  let at = 0;
  let k = 0;
  for (const p of parts) {
    data.set(p.data, at);
    for (let i = 1; i < p.offsets.length; i++) offsets[++k] = at + p.offsets[i]!;
    at += p.data.length;
  }
  return { data, offsets };
}
