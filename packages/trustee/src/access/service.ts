/**
 * The access half as one object the daemon owns (docs/spec/access.md §5, §6): access.sqlite in the data
 * directory, the tracker fed by the daemon's log monitor, the review behind the operator API, the release
 * rule run for every executed request this trustee approved, and the deadline watcher with the extension review
 * (after-release.md §1–§3).
 *
 * Wiring (daemon): `const access = AccessService.open({...})`; `follower.onEntry((i, e) => access.onEntry(i, e))`;
 * after each monitor poll `access.onCheckpoint(follower.latestCheckpoint())` then `await access.tick()`; mount
 * `access.routes` with mountAccessRoutes; alerts go through `vault.addAlert` (GET /v1/alerts); `await access.close()`
 * at exit. packages/trustee/src/daemon.ts does all this. With `releaseWorkers` the release rule's per-envelope
 * cryptography runs on worker threads (one pool per epoch, started on first use with the vault's share, closed —
 * and the share zeroed in the workers — by close()).
 */
import { join } from 'node:path';
import { decodeDecision, equalBytes, type RandomSource, toHex } from '@overt/core';
import type { VerifiedCheckpoint, VerifierKey } from '@overt/log';
import type { ShareVault } from '../vault-api.js';
import { type DeadlineOutcome, Deadlines } from './deadline.js';
import type { AccessRelay } from './relay.js';
import { type ReleaseOutcome, ReleaseRule, watchReleases } from './release.js';
import { PooledReleaseCrypto } from './release-crypto.js';
import { Review } from './review.js';
import { type AccessRoutes, accessRoutes } from './routes.js';
import { AccessTracker, signedBody } from './state.js';
import { AccessStore } from './store.js';

export const ACCESS_DB = 'access.sqlite';

export interface AccessServiceOptions {
  /** The trustee's data directory (access.sqlite goes there), or ':memory:' for tests. */
  readonly dataDir: string;
  readonly vault: ShareVault;
  readonly relay: AccessRelay;
  /** The organisation (admin) key. */
  readonly orgKey: Uint8Array;
  /** The relay's execution key (`accessKey`). */
  readonly relayKey: Uint8Array;
  readonly log: { readonly origin: string; readonly logKeys: readonly VerifierKey[] };
  readonly maxAgeSeconds: number;
  readonly clock?: () => number;
  readonly rng?: RandomSource;
  /** Worker threads for the release rule's cryptography (PooledReleaseCrypto); 0 or absent: on this thread. */
  readonly releaseWorkers?: number;
  /** How long after a seal date this trustee waits for the relay's unseal before publishing its own (§1). */
  readonly unsealGraceMs?: number;
}

export class AccessService {
  readonly store: AccessStore;
  readonly tracker: AccessTracker;
  readonly rule: ReleaseRule;
  readonly review: Review;
  /** The deadline watcher and the extension review (after-release.md §1–§3). */
  readonly deadlines: Deadlines;
  readonly routes: AccessRoutes;
  private readonly crypto: PooledReleaseCrypto | undefined;

  private constructor(private readonly o: AccessServiceOptions) {
    this.store = new AccessStore(o.dataDir === ':memory:' ? ':memory:' : join(o.dataDir, ACCESS_DB));
    this.tracker = new AccessTracker(this.store, {
      orgKey: o.orgKey,
      log: o.log,
      onRelease: watchReleases(this.store, o.vault, o.clock),
    });
    this.crypto =
      o.releaseWorkers !== undefined && o.releaseWorkers > 0
        ? new PooledReleaseCrypto(o.releaseWorkers)
        : undefined;
    this.rule = new ReleaseRule({
      ...o,
      tracker: this.tracker,
      store: this.store,
      ...(this.crypto ? { crypto: this.crypto } : {}),
    });
    this.review = new Review({ ...o, tracker: this.tracker, store: this.store });
    this.deadlines = new Deadlines({ ...o, tracker: this.tracker, store: this.store });
    this.routes = accessRoutes(this.review, this.deadlines);
  }

  static open(o: AccessServiceOptions): AccessService {
    return new AccessService(o);
  }

  onEntry(index: number, entry: Uint8Array): void {
    this.tracker.onEntry(index, entry);
  }

  onCheckpoint(cp: VerifiedCheckpoint | undefined): void {
    if (cp !== undefined) this.tracker.onMonitoredCheckpoint(cp);
  }

  /** Whether this trustee approved the request: on the log, or recorded here. */
  approved(requestId: Uint8Array): boolean {
    if (this.store.decision(requestId)?.verdict === 'approve') return true;
    return this.tracker.decisionEntries().some((d) => {
      const body = signedBody(d.entry.subarray(1));
      if (body === undefined) return false;
      try {
        const x = decodeDecision(body);
        return (
          x.trusteeIndex === this.o.vault.index &&
          x.verdict === 'approve' &&
          equalBytes(x.requestId, requestId)
        );
      } catch {
        return false;
      }
    });
  }

  /**
   * Runs the release rule for every executed request this trustee approved and has not finished. One failing
   * request (the relay down) does not stop the others; its error is returned in its place.
   */
  async tick(): Promise<
    Map<string, ReleaseOutcome | DeadlineOutcome | { status: 'error'; message: string }>
  > {
    const out = new Map<string, ReleaseOutcome | DeadlineOutcome | { status: 'error'; message: string }>();
    for (const q of this.tracker.allRequests()) {
      if (this.tracker.executionsOf(q.requestId).length === 0) continue;
      if (this.store.finished(q.requestId) !== undefined || !this.approved(q.requestId)) continue;
      try {
        out.set(toHex(q.requestId), await this.rule.run(q.requestId));
      } catch (e) {
        out.set(toHex(q.requestId), { status: 'error', message: e instanceof Error ? e.message : 'error' });
      }
    }
    // The deadline watcher (TRU-U1, OVD-1): its outcomes under `unseal <id>`.
    for (const [id, outcome] of await this.deadlines.tick()) out.set(`unseal ${id}`, outcome);
    return out;
  }

  /** Closes access.sqlite and stops the release workers, if any. */
  async close(): Promise<void> {
    this.store.close();
    await this.crypto?.close();
  }
}
