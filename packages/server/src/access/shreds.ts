/**
 * The relay's side of crypto-shredding (docs/spec/after-release.md §6): a trustee posts its signed shred statement
 * (workflow.md §9.6) to `POST /v1/trustee/shreds`; the relay verifies it under the policy in force (ACC-S1), checks
 * that the caller is the statement's trustee and keeps one per (epoch, trustee) (ACC-S2), appends `u8 11 ‖ signed
 * shred` to the log and stores it. Once n − k + 1 distinct trustees of the policy in force have a logged shred of
 * epoch e, fewer than k shares of e remain anywhere, and the relay deletes e's envelopes and their blobs (the
 * retention deletion of relay.md, `POST /v1/admin/retention`). The deletion runs again on every later shred or
 * repeat of e, so a relay that stopped between the append and the deletion finishes it on the next post.
 */
import { equalBytes, isOvertError, type OvertError, verifyShred } from '@overt/core';
import { ENTRY_TYPES } from '@overt/log';
import type { PolicyInForce } from '../auth.js';
import { RelayError } from '../errors.js';
import type { LogPort } from '../log-port.js';
import { logUnavailable, type RelayService } from '../service.js';
import type { RelayStorage } from '../storage/storage.js';
import type { TrusteeCaller } from './service.js';

export interface ShredServiceOptions {
  readonly storage: RelayStorage;
  readonly log: LogPort;
  readonly now: () => number;
  /** The directory service: its retention deletion (`deleteEpoch`) removes a shredded epoch's envelopes. */
  readonly relay: RelayService;
}

/** What the relay answers a posted shred: its log index, and whether the epoch is now shredded (n − k + 1). */
export interface ShredAnswer {
  readonly index: number;
  readonly created: boolean;
  /** n − k + 1 distinct trustees of the policy in force have a logged shred of the epoch; its envelopes are gone. */
  readonly shredded: boolean;
}

export class ShredService {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: ShredServiceOptions) {}

  /** Shreds are handled one at a time on this node: check, append, store, count, delete. */
  private exclusive<R>(f: () => Promise<R>): Promise<R> {
    const run = this.queue.then(f, f);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Logs a trustee's shred statement. ACCESS_SHRED_INVALID (ACC-S1) when it does not verify under the policy in
   * force; AUTH_FORBIDDEN (ACC-S2) when the caller is not its trustee; ACCESS_SHRED_EXISTS (ACC-S2) when another
   * statement of the same (epoch, trustee) is logged. The same bytes again answer the logged index.
   */
  submitShred(caller: TrusteeCaller, signed: Uint8Array): Promise<ShredAnswer> {
    return this.exclusive(async () => {
      const { storage } = this.o;
      let shred: ReturnType<typeof verifyShred>['shred'];
      try {
        shred = verifyShred(signed, caller.inForce.policy).shred;
      } catch (e) {
        if (!isOvertError(e)) throw e;
        const o = e as OvertError;
        throw new RelayError('ACCESS_SHRED_INVALID', `refused by ${o.check ?? o.code}`, {
          check: 'ACC-S1',
          cause: e,
        });
      }
      if (shred.trusteeIndex !== caller.index)
        throw new RelayError('AUTH_FORBIDDEN', 'the shred statement is signed for another trustee', {
          check: 'ACC-S2',
        });
      const stored = await storage.access.getShred(shred.epoch, shred.trusteeIndex);
      let index: number;
      if (stored !== undefined) {
        if (!equalBytes(stored.signed, signed))
          throw new RelayError('ACCESS_SHRED_EXISTS', 'this trustee logged another shred of this epoch', {
            check: 'ACC-S2',
          });
        index = stored.logIndex;
      } else {
        const entry = new Uint8Array(1 + signed.length);
        entry[0] = ENTRY_TYPES.shred;
        entry.set(signed, 1);
        try {
          index = (await this.o.log.append(entry)).index;
        } catch (e) {
          throw logUnavailable(e);
        }
        await storage.access.putShred({
          epoch: shred.epoch,
          trusteeIndex: shred.trusteeIndex,
          signed,
          logIndex: index,
          receivedAt: this.o.now(),
        });
      }
      const shredded = await this.shreddedUnder(caller.inForce, shred.epoch);
      if (shredded) await this.o.relay.deleteEpoch(shred.epoch);
      return { index, created: stored === undefined, shredded };
    });
  }

  /**
   * Whether n − k + 1 distinct trustees of the policy in force have a logged shred of `epoch` that verifies under
   * it (a statement of a trustee the policy no longer lists, or of a replaced key, does not count).
   */
  private async shreddedUnder(inForce: PolicyInForce, epoch: number): Promise<boolean> {
    const policy = inForce.policy;
    const by = new Set<number>();
    for (const s of await this.o.storage.access.listShreds(epoch)) {
      try {
        by.add(verifyShred(s.signed, policy).shred.trusteeIndex);
      } catch (e) {
        if (!isOvertError(e)) throw e;
      }
    }
    return by.size >= policy.policy.trustees.length - policy.policy.threshold + 1;
  }
}
