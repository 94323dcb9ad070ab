/**
 * Crypto-shredding on the trustee (docs/spec/after-release.md §6, A13): once an epoch's retention is over — at
 * `epochEnd(e) + policy.retention_ms`, checked on every poll — or when the operator asks (`POST /v1/shreds {epoch}`,
 * `overt trustee shred`), the daemon deletes its share of the epoch and records the epoch as shredded with a signed
 * shred statement (workflow.md §9.6) in one vault transaction (TRU-S1), then posts the statement to the relay
 * (`POST /v1/trustee/shreds`) on every poll until the relay has logged it. The statement is signed once: a restart
 * posts the recorded bytes, never a second statement.
 */
import { isClientError } from '@overt/client';
import { type EpochLength, epochStartMs, shredFor, signShred, type VerifiedPolicy } from '@overt/core';
import type { ApiRouter } from './api.js';
import { TrusteeError } from './errors.js';
import type { ShreddedEpoch, TrusteeVault } from './vault.js';

/**
 * The first millisecond after epoch `epoch` (after-release.md §6): calendar-month epochs end where the next month
 * starts (directory.md §4); a fixed-length epoch e of `ms` milliseconds covers [e·ms, (e+1)·ms).
 */
export function epochEndMs(length: EpochLength, epoch: number): number {
  return length.kind === 'fixed' ? (epoch + 1) * length.ms : epochStartMs(epoch + 1);
}

/** When the retention of `epoch` is over under `policy`: epochEnd(e) + retention_ms. */
export function shredDueAt(policy: VerifiedPolicy, epoch: number): number {
  return epochEndMs(policy.policy.epochLength, epoch) + policy.policy.retentionMs;
}

/** Where the shredder posts its statements (the relay's `POST /v1/trustee/shreds`; AccessRelayClient fits). */
export interface ShredRelay {
  submitShred(shred: Uint8Array): Promise<{ readonly index: number; readonly shredded: boolean }>;
}

export interface ShredderOptions {
  readonly vault: TrusteeVault;
  readonly relay: ShredRelay;
  /** The policy in force on this trustee's verified view (undefined while unseen or stale, TRU-6). */
  readonly policy: () => VerifiedPolicy | undefined;
  readonly now: () => number;
  /** One line per problem (never a secret). */
  readonly logLine: (line: string) => void;
}

/** The JSON form of a shredded epoch (operator API and `overt trustee shred --json`). */
export function shreddedJson(s: ShreddedEpoch) {
  return { epoch: s.epoch, at: s.at, logIndex: s.logIndex };
}

export class Shredder {
  constructor(private readonly o: ShredderOptions) {}

  /**
   * Shreds `epoch` now: deletes the share and records the signed statement (TRU-S1); resolves the record and
   * whether it is new. TRUSTEE_NO_POLICY (TRU-6) without a policy in force (the statement names its org);
   * TRUSTEE_API when this trustee holds no share of the epoch.
   */
  shred(epoch: number): { record: ShreddedEpoch; created: boolean } {
    const { vault } = this.o;
    const before = vault.shreddedEpoch(epoch);
    if (before !== undefined) return { record: before, created: false };
    const policy = this.o.policy();
    if (policy === undefined)
      throw new TrusteeError('TRUSTEE_NO_POLICY', 'no fresh policy in force: cannot sign a shred statement', {
        check: 'TRU-6',
      });
    const record = vault.shred(epoch, this.o.now(), (at) =>
      signShred(shredFor(policy.policy.orgId, epoch, vault.index, at), vault.signingKey()),
    );
    this.o.logLine(`trustee ${vault.index}: shredded its share of epoch ${epoch}`);
    return { record, created: true };
  }

  /**
   * One poll: shreds every held epoch whose retention is over under the policy in force, then posts every
   * recorded statement the relay has not logged yet. A relay that is down is tried again at the next poll; a
   * refusal is raised as the alert `shred-refused` (once per epoch and code) and tried again too.
   */
  async tick(): Promise<void> {
    const { vault } = this.o;
    const policy = this.o.policy();
    if (policy !== undefined) {
      const now = this.o.now();
      for (const epoch of vault.shareEpochs()) if (now >= shredDueAt(policy, epoch)) this.shred(epoch);
    }
    for (const s of vault.shreddedEpochs()) if (s.logIndex === null) await this.post(s);
  }

  /** Posts one recorded statement; true once the relay logged it. */
  async post(s: ShreddedEpoch): Promise<boolean> {
    const { vault } = this.o;
    try {
      const r = await this.o.relay.submitShred(s.statement);
      vault.markShredLogged(s.epoch, r.index);
      return true;
    } catch (e) {
      if (!isClientError(e)) throw e;
      const ce = e;
      if (ce.code === 'RELAY_REFUSED') {
        const what = `epoch ${s.epoch}: ${ce.relayCode ?? 'refused'}`;
        if (vault.addAlert('shred-refused', what, this.o.now(), `shred-refused/${s.epoch}/${ce.relayCode}`))
          this.o.logLine(`trustee ${vault.index}: the relay refused the shred statement of ${what}`);
      }
      return false;
    }
  }
}

/** A strict `{epoch}` body: exactly one field, a u32. */
function epochOf(body: unknown): number {
  const o = body as Record<string, unknown> | undefined;
  const ok =
    typeof o === 'object' &&
    o !== null &&
    !Array.isArray(o) &&
    Object.keys(o).length === 1 &&
    Number.isInteger(o.epoch) &&
    (o.epoch as number) >= 0 &&
    (o.epoch as number) <= 0xffffffff;
  if (!ok) throw new TrusteeError('TRUSTEE_API', 'the body must be {"epoch": <u32>}', { check: 'TRU-7' });
  return o.epoch as number;
}

/**
 * The operator API of shredding: `POST /v1/shreds {epoch}` shreds now and tries the relay once (201, or 200 when
 * the epoch was shredded before) answering `{epoch, at, logIndex, created}`; `GET /v1/shreds` lists them.
 */
export function mountShredRoutes(api: ApiRouter, shredder: Shredder, vault: TrusteeVault): void {
  api.post('/v1/shreds', async (req) => {
    const { record, created } = shredder.shred(epochOf(req.body));
    const logged = record.logIndex === null && (await shredder.post(record));
    const now = logged ? (vault.shreddedEpoch(record.epoch) ?? record) : record;
    return { status: created ? 201 : 200, body: { ...shreddedJson(now), created } };
  });
  api.get('/v1/shreds', () => ({
    status: 200,
    body: { shredded: vault.shreddedEpochs().map(shreddedJson) },
  }));
}
