/**
 * The requester's case cryptography on worker threads (access/case-crypto.ts's {@link CaseCrypto} over
 * {@link AccessWorkerPool.recover}): the capsules (CAP-*), every trustee's share in one batch per job (SHR-*; a
 * failing share comes back with its trustee, so ACC-A9 still names it), the combination of k good shares and the
 * opening, split over one worker per core in jobs of ≤ 1024 envelopes. The verdicts stay with openCaseEnvelopes.
 *
 * One pool per epoch key set, started on first use (a requester pool holds no secret beyond the content keys of
 * the job in hand); {@link close} stops them. Start one per command (`collect`, `evidence verify`) and close it on
 * exit.
 */
import { encodeShare, SHARE_BYTES, type ThresholdPublicKey, toHex } from '@overt/core';
import type { CaseCrypto, CaseCryptoItem, CaseCryptoResult, CaseFailure } from '../access/case-crypto.js';
import { ClientInternalError } from '../errors.js';
import { ACCESS_JOB_MAX, AccessWorkerPool, type ItemFailure, itemOf, pack } from './access-workers.js';

export class PooledCaseCrypto implements CaseCrypto {
  private readonly pools = new Map<string, Promise<AccessWorkerPool>>();
  private closed = false;

  /** `size`: worker threads per pool (default: the machine's available parallelism). */
  constructor(private readonly size?: number) {}

  private pool(keySet: ThresholdPublicKey): Promise<AccessWorkerPool> {
    const key = `${keySet.threshold}:${toHex(keySet.groupKey)}:${keySet.verificationKeys.map(toHex).join(',')}`;
    let p = this.pools.get(key);
    if (p === undefined) {
      p = AccessWorkerPool.start({
        publicKey: keySet,
        ...(this.size === undefined ? {} : { size: this.size }),
      });
      this.pools.set(key, p);
      p.catch(() => this.pools.delete(key));
    }
    return p;
  }

  async open(items: readonly CaseCryptoItem[]): Promise<CaseCryptoResult[]> {
    if (this.closed) throw new ClientInternalError('the case workers are closed');
    const out: CaseCryptoResult[] = new Array(items.length);
    // Group by key set, keeping each item's place.
    const groups = new Map<ThresholdPublicKey, number[]>();
    items.forEach((item, i) => {
      const g = groups.get(item.keySet) ?? [];
      g.push(i);
      groups.set(item.keySet, g);
    });
    for (const [keySet, indices] of groups) {
      const pool = await this.pool(keySet);
      for (let from = 0; from < indices.length; from += ACCESS_JOB_MAX) {
        const part = indices.slice(from, from + ACCESS_JOB_MAX);
        const results = await this.job(
          pool,
          part.map((i) => items[i]!),
          keySet.threshold,
        );
        part.forEach((i, j) => {
          out[i] = results[j]!;
        });
      }
    }
    return out;
  }

  private async job(
    pool: AccessWorkerPool,
    items: readonly CaseCryptoItem[],
    k: number,
  ): Promise<CaseCryptoResult[]> {
    const n = items.length;
    // One row buffer per trustee that released anything, ascending: the pool combines the first k that verify
    // in this order, as openCaseEnvelopes reports (the first k good trustees).
    const trustees = [...new Set(items.flatMap((x) => x.shares.map((s) => s.trustee)))].sort((a, b) => a - b);
    const rows = trustees.map(() => new Uint8Array(n * SHARE_BYTES));
    items.forEach((x, i) => {
      for (const s of x.shares) rows[trustees.indexOf(s.trustee)]!.set(encodeShare(s.share), i * SHARE_BYTES);
    });
    const r = await pool.recover({ envelopes: pack(items.map((x) => x.bytes)), shares: rows, open: true });
    const byPosition = new Map<number, ItemFailure[]>();
    for (const f of r.failures) {
      const list = byPosition.get(f.position) ?? [];
      list.push(f);
      byPosition.set(f.position, list);
    }
    return items.map((x, i): CaseCryptoResult => {
      const failures = byPosition.get(i) ?? [];
      for (const f of failures)
        if (f.code === 'INTERNAL') throw new ClientInternalError('access worker failed');
      const capsule = failures.find((f) => f.trustee === undefined && f.check?.startsWith('CAP-'));
      if (capsule !== undefined) return { capsule: failureOf(capsule) };
      const bad = failures
        .filter((f) => f.trustee !== undefined)
        .map((f) => ({ trustee: f.trustee!, code: f.code, check: f.check ?? 'ACC-A9' }));
      const badSet = new Set(bad.map((b) => b.trustee));
      const good = x.shares.map((s) => s.trustee).filter((t) => !badSet.has(t));
      if (good.length < k) return { bad, good };
      if (r.ok[i] === 1) return { bad, good, payload: itemOf(r.payloads!, i).slice() };
      const other = failures.find((f) => f.trustee === undefined);
      if (other === undefined)
        throw new ClientInternalError('access worker returned no result for an envelope');
      return { bad, good, openFailure: failureOf(other) };
    });
  }

  /** Stops every pool. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map(async (p) => (await p.catch(() => undefined))?.close()));
  }
}

function failureOf(f: { code: string; check?: string }): CaseFailure {
  return { code: f.code, ...(f.check ? { check: f.check } : {}) };
}
