/**
 * The per-envelope cryptography of release rule 5 and the shares (docs/spec/access.md §5; DESIGN §5 rule 5), for
 * one batch of one epoch's envelopes: the sender signature under the device key the rule picked from the log
 * (ENV-22), the capsule for its label under the epoch key (CAP-*, batch-verified), and for those that pass, this
 * trustee's decryption share. The rule ({@link ReleaseRule}) keeps every decision: which key, which epoch, the
 * seen-u rule, and which clause a failure is; this only computes.
 *
 * Two implementations, the same checks: {@link inProcessReleaseCrypto} on the caller's thread (tests, or where a
 * pool is not wanted), and {@link PooledReleaseCrypto} on @overt/client/node's AccessWorkerPool, one worker per
 * core, one pool per epoch started on first use with the vault's share of that epoch (the share is copied to the
 * workers once and zeroed there on close) and closed with the daemon.
 */

import { ACCESS_JOB_MAX, AccessWorkerPool, pack } from '@overt/client/node';
import {
  type Capsule,
  createShare,
  type DecryptionShare,
  decodeShare,
  type EnvelopeHead,
  isOvertError,
  isSenderSignatureValid,
  type RandomSource,
  randomBytes,
  SHARE_BYTES,
  toHex,
  verifyCapsulesBatch,
} from '@overt/core';
import type { EpochShare } from '../vault-api.js';

/** One envelope the rule has cleared so far (REL-4, the sender key found), to be checked and shared. */
export interface ReleaseItem {
  /** The head as served (u32 len ‖ header ‖ capsule ‖ signature). */
  readonly bytes: Uint8Array;
  readonly head: EnvelopeHead;
  readonly capsule: Capsule;
  /** The sending device's logged key the signature must verify under. */
  readonly senderKey: Uint8Array;
}

/** The share, or the check ID of the first check that failed (ENV-22, CAP-*): the rule refuses it (REL-5). */
export type ReleaseItemResult =
  | { readonly share: DecryptionShare; readonly failed?: undefined }
  | { readonly failed: string };

export interface ReleaseCrypto {
  /**
   * Checks and shares `items` (≤ 1024, all of `share.epoch`; the caller has checked that the vault's key set is
   * the logged epoch key). Results in input order.
   */
  release(share: EpochShare, items: readonly ReleaseItem[]): Promise<ReleaseItemResult[]>;
  /** Stops any workers (zeroing the key shares they hold). Idempotent. */
  close(): Promise<void>;
}

/** On the caller's thread: isSenderSignatureValid, verifyCapsulesBatch, createShare. */
export function inProcessReleaseCrypto(rng: RandomSource = randomBytes): ReleaseCrypto {
  return {
    async release(share, items) {
      const out: (ReleaseItemResult | undefined)[] = items.map((i) =>
        isSenderSignatureValid(i.head, i.senderKey) ? undefined : { failed: 'ENV-22' },
      );
      const at: number[] = [];
      for (let j = 0; j < items.length; j++) if (out[j] === undefined) at.push(j);
      const checked = verifyCapsulesBatch(
        at.map((j) => ({
          epochKey: share.publicKey.groupKey,
          capsule: items[j]!.capsule,
          label: items[j]!.head.label,
        })),
        { rng },
      );
      for (const f of checked.failures) out[at[f.position]!] = { failed: f.error.check ?? 'CAP-6' };
      checked.verified.forEach((capsule, m) => {
        if (capsule === undefined) return;
        out[at[m]!] = { share: createShare(share.share, capsule, rng) };
      });
      return out.map((r) => r ?? { failed: 'CAP-6' });
    },
    async close() {},
  };
}

/**
 * On worker threads (AccessWorkerPool.release): the same three steps, the batch split over the workers. One pool
 * per (epoch, key set), started on first use; {@link close} stops them all.
 */
export class PooledReleaseCrypto implements ReleaseCrypto {
  private readonly pools = new Map<string, Promise<AccessWorkerPool>>();
  private closed = false;

  /** `size`: worker threads per pool (default: the machine's available parallelism). */
  constructor(private readonly size?: number) {}

  private pool(share: EpochShare): Promise<AccessWorkerPool> {
    const key = `${share.epoch}:${toHex(share.publicKey.groupKey)}`;
    let p = this.pools.get(key);
    if (p === undefined) {
      p = AccessWorkerPool.start({
        publicKey: share.publicKey,
        keyShare: share.share,
        ...(this.size === undefined ? {} : { size: this.size }),
      });
      this.pools.set(key, p);
      // A pool that fails to start is forgotten, so the next batch tries again.
      p.catch(() => this.pools.delete(key));
    }
    return p;
  }

  async release(share: EpochShare, items: readonly ReleaseItem[]): Promise<ReleaseItemResult[]> {
    if (this.closed) throw new Error('the release workers are closed');
    const pool = await this.pool(share);
    const out: ReleaseItemResult[] = [];
    for (let from = 0; from < items.length; from += ACCESS_JOB_MAX) {
      const part = items.slice(from, from + ACCESS_JOB_MAX);
      const senderKeys = new Uint8Array(part.length * 32);
      part.forEach((i, j) => {
        senderKeys.set(i.senderKey.subarray(0, 32), j * 32);
      });
      const r = await pool.release({ heads: pack(part.map((i) => i.bytes)), senderKeys });
      const failed = new Map<number, string>();
      for (const f of r.failures) if (!failed.has(f.position)) failed.set(f.position, f.check ?? f.code);
      for (let j = 0; j < part.length; j++) {
        const check = failed.get(j);
        if (check !== undefined) {
          out.push({ failed: check });
          continue;
        }
        try {
          out.push({ share: decodeShare(r.shares.subarray(j * SHARE_BYTES, (j + 1) * SHARE_BYTES)) });
        } catch (e) {
          if (!isOvertError(e)) throw e;
          out.push({ failed: e.check ?? e.code });
        }
      }
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map(async (p) => (await p.catch(() => undefined))?.close()));
  }
}
