/**
 * The trustee's view of the log (docs/spec/access.md §6): a log Monitor (@overt/log) over the relay's /log/ tiles,
 * with the log key and witness keys the trustee was configured with, and its state in the vault database.
 *
 * From the verified entries, in order, it keeps the **policy in force** (a policy entry verified under the org
 * key with a greater serial, directory.md §2) and each epoch's epoch-key statement (verified under the policy in
 * force at its position). The trustee acts under a policy only while its latest checkpoint carries the policy's
 * witness quorum and is fresh (`requireFresh`, A16): otherwise {@link LogFollower.policy} is undefined (TRU-6).
 *
 * An epoch's statement is its first key, replaced by a resharing of it (the same group key under a newer policy,
 * dkg.md §8); a statement with another group key for an epoch that has one is never taken (`epoch-key-conflict`).
 *
 * Alerts (persisted in the vault, GET /v1/alerts): `epoch-key-unsigned` (an epoch-key statement of a policy
 * naming this trustee that it did not sign), `policy-dropped` (a policy that no longer names this trustee's key),
 * `share-erased` (a resharing gave this trustee no share of the epoch: its old one was deleted),
 * `split-view`, `stale-log`, `witness-mismatch` (the policy's witnesses are not the ones the trustee verifies
 * checkpoints with).
 *
 * Subscribers ({@link LogFollower.onEntry}) see every verified entry in log order after it was processed, from the
 * monitor's position on (a subscriber that needs older entries keeps its own state).
 */
import {
  assembleEpochKeyStatement,
  DIRECTORY_ENTRY_TYPES,
  equalBytes,
  fromBase64,
  isOvertError,
  POLICY_ENTRY_TYPE,
  toBase64,
  type VerifiedPolicy,
  verifyEpochKeyStatement,
  verifyPolicyEntry,
} from '@overt/core';
import {
  type FetchLike,
  type LogPolicy,
  Monitor,
  type MonitorSnapshot,
  type MonitorStore,
  parseCheckpoint,
  parseVerifierKey,
  requireFresh,
  type VerifiedCheckpoint,
} from '@overt/log';
import type { LoggedEpochKey } from './ceremony/engine.js';
import type { TrusteeVault } from './vault.js';

/** What the trustee trusts: the log's key and the witnesses (from /.well-known/overt or the start), the org key. */
export interface TrustAnchors {
  readonly origin: string;
  readonly logVkey: string;
  readonly witnessVkeys: readonly string[];
  readonly witnessQuorum: number;
  /** The org (admin) key that signs policies, base64. */
  readonly adminKey: string;
  /**
   * The relay's execution key (`accessKey` of /.well-known/overt, access.md §4.1), base64: every logged execution
   * is verified under it (release rule 1). Without it the daemon runs no access half.
   */
  readonly accessKey?: string;
}

export type EntryListener = (index: number, entry: Uint8Array) => void | Promise<void>;

const SNAPSHOT_STATE = 'monitor/snapshot';
const VIEW_STATE = 'monitor/view';
/** How old the witness quorum's newest cosignature may be before the view is stale (seconds). */
export const DEFAULT_MAX_AGE_SECONDS = 300;

class VaultMonitorStore implements MonitorStore {
  constructor(private readonly vault: TrusteeVault) {}
  async load(origin: string): Promise<MonitorSnapshot | undefined> {
    const raw = this.vault.getState(`${SNAPSHOT_STATE}/${origin}`);
    if (raw === undefined) return undefined;
    const o = JSON.parse(raw) as { checkpoint: string; frontier: string[] };
    return { checkpoint: o.checkpoint, frontier: o.frontier.map((h) => fromBase64(h)) };
  }
  async save(origin: string, s: MonitorSnapshot): Promise<void> {
    this.vault.setState(
      `${SNAPSHOT_STATE}/${origin}`,
      JSON.stringify({ checkpoint: s.checkpoint, frontier: s.frontier.map((h) => toBase64(h)) }),
    );
  }
}

/** How many log entries the follower stored in `vault` has processed for `origin` (its checkpoint's size). */
export function followerPosition(vault: TrusteeVault, origin: string): number {
  const raw = vault.getState(`${SNAPSHOT_STATE}/${origin}`);
  if (raw === undefined) return 0;
  return parseCheckpoint((JSON.parse(raw) as { checkpoint: string }).checkpoint).size;
}

/**
 * Forgets the follower's position, so that its next update reads the log from entry 0 again (for a subscriber
 * whose own state was lost or is new). The policy view is kept; replayed entries change nothing in it. The next
 * checkpoint is verified from scratch (signature, witness quorum, every entry), not against the forgotten one.
 */
export function rewindFollower(vault: TrusteeVault, origin: string): void {
  vault.deleteState(`${SNAPSHOT_STATE}/${origin}`);
}

/** The entries the view is derived from, persisted so a restart need not re-read the log. */
interface ViewState {
  policy?: string;
  epochKeys: { epoch: number; statement: string; policy: string }[];
}

export class LogFollower {
  private readonly monitor: Monitor;
  private readonly anchors: TrustAnchors;
  private readonly adminKey: Uint8Array;
  private readonly vault: TrusteeVault;
  private readonly now: () => number;
  private readonly maxAgeSeconds: number;
  private inForce: VerifiedPolicy | undefined;
  private readonly epochKeys = new Map<number, LoggedEpochKey>();
  private readonly listeners = new Set<EntryListener>();
  private latest: VerifiedCheckpoint | undefined;
  private broken: string | undefined;

  constructor(o: {
    vault: TrusteeVault;
    logUrl: string;
    anchors: TrustAnchors;
    fetch?: FetchLike;
    now?: () => number;
    maxAgeSeconds?: number;
  }) {
    this.vault = o.vault;
    this.anchors = o.anchors;
    this.adminKey = fromBase64(o.anchors.adminKey);
    this.now = o.now ?? Date.now;
    this.maxAgeSeconds = o.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS;
    const policy: LogPolicy = {
      origin: o.anchors.origin,
      logKeys: [parseVerifierKey(o.anchors.logVkey)],
      witnesses: { witnesses: o.anchors.witnessVkeys.map(parseVerifierKey), quorum: o.anchors.witnessQuorum },
    };
    this.monitor = new Monitor({
      policy,
      url: o.logUrl,
      fetch: o.fetch ?? (fetch as unknown as FetchLike),
      store: new VaultMonitorStore(o.vault),
      now: () => Math.floor(this.now() / 1000),
      onEntry: (index, entry) => this.entry(index, entry),
    });
    this.restore();
  }

  /** Subscribes to every verified entry in log order; returns the unsubscribe function. */
  onEntry(listener: EntryListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The latest checkpoint the monitor verified (log signature, witness quorum, consistent with all before). */
  latestCheckpoint(): VerifiedCheckpoint | undefined {
    return this.latest;
  }

  /** The policy in force, or undefined when none was seen, the view is stale, or the log misbehaved (TRU-6). */
  policy(): VerifiedPolicy | undefined {
    if (this.broken !== undefined || this.inForce === undefined || this.latest === undefined)
      return undefined;
    try {
      requireFresh(this.latest, this.inForce.policy.witnessQuorum, Math.floor(this.now() / 1000), {
        maxAgeSeconds: this.maxAgeSeconds,
      });
    } catch {
      return undefined;
    }
    return this.inForce;
  }

  /** Why the view cannot be used, if it cannot: 'split-view', 'stale-log', 'no-policy', 'witness-mismatch'. */
  problem(): string | undefined {
    if (this.broken !== undefined) return this.broken;
    if (this.inForce === undefined) return 'no-policy';
    if (this.policy() === undefined) return 'stale-log';
    return undefined;
  }

  epochKey(epoch: number): LoggedEpochKey | undefined {
    return this.epochKeys.get(epoch);
  }

  /** Fetches the log's checkpoint and new entries. Alerts on a split view or a stale log. */
  async update(): Promise<void> {
    const r = await this.monitor.update();
    if (r.kind === 'ok') {
      this.latest = r.checkpoint;
      if (this.inForce !== undefined && this.policy() === undefined && this.broken === undefined)
        this.alert('stale-log', 'the witness quorum has not cosigned a recent checkpoint', 'stale-log');
      return;
    }
    if (r.kind === 'split_view') {
      this.broken = 'split-view';
      this.alert('split-view', r.error.message, `split-view/${r.evidence.larger.length}`);
    } else if (r.kind === 'entries_mismatch') {
      this.broken = 'split-view';
      this.alert('split-view', r.error.message, 'entries-mismatch');
    }
    // invalid_checkpoint / unavailable: nothing concluded; the view ages and goes stale.
  }

  private alert(kind: string, detail: string, dedup?: string): void {
    this.vault.addAlert(kind, detail, this.now(), dedup);
  }

  private restore(): void {
    const raw = this.vault.getState(VIEW_STATE);
    if (raw === undefined) return;
    const v = JSON.parse(raw) as ViewState;
    if (v.policy !== undefined) this.inForce = verifyPolicyEntry(this.adminKey, fromBase64(v.policy));
    const policies = new Map<string, VerifiedPolicy>();
    for (const k of v.epochKeys) {
      let p = policies.get(k.policy);
      if (!p) {
        p = verifyPolicyEntry(this.adminKey, fromBase64(k.policy));
        policies.set(k.policy, p);
      }
      this.epochKeys.set(k.epoch, {
        statement: verifyEpochKeyStatement(p, fromBase64(k.statement)),
        policy: p,
      });
    }
    this.checkWitnesses();
  }

  private save(): void {
    const v: ViewState = {
      ...(this.inForce ? { policy: toBase64(Uint8Array.of(POLICY_ENTRY_TYPE, ...this.inForce.signed)) } : {}),
      epochKeys: [...this.epochKeys].map(([epoch, k]) => ({
        epoch,
        statement: toBase64(assembleEpochKeyStatement(k.statement.content, k.statement.signatures)),
        policy: toBase64(Uint8Array.of(POLICY_ENTRY_TYPE, ...k.policy.signed)),
      })),
    };
    this.vault.setState(VIEW_STATE, JSON.stringify(v));
  }

  /** The policy's witnesses must be those the trustee verifies checkpoints with (else: witness-mismatch). */
  private checkWitnesses(): void {
    if (!this.inForce) return;
    const mine = this.anchors.witnessVkeys.map((v) => parseVerifierKey(v).publicKey);
    const theirs = this.inForce.policy.witnesses.map((w) => w.signingKey);
    const same =
      mine.length === theirs.length &&
      theirs.every((t) => mine.some((m) => equalBytes(m, t))) &&
      this.inForce.policy.witnessQuorum <= this.anchors.witnessQuorum;
    if (!same) {
      this.broken = 'witness-mismatch';
      this.alert(
        'witness-mismatch',
        "the policy's witnesses are not those this trustee verifies checkpoints with",
        `witness-mismatch/${this.inForce.policy.serial}`,
      );
    } else if (this.broken === 'witness-mismatch') this.broken = undefined;
  }

  /**
   * After a resharing of `epoch` reached the view (dkg.md §8): the share of the old sharing is erased, unless this
   * trustee holds the new sharing's share as pending (CER-9 then replaces it). A trustee the new policy dropped
   * holds no such share, nor does one that missed the session; both erase theirs, and say so (`share-erased`).
   */
  private async eraseStaleShare(epoch: number, transcriptHash: Uint8Array, index: number): Promise<void> {
    const held = await this.vault.share(epoch);
    if (held === undefined || equalBytes(held.transcriptHash, transcriptHash)) return;
    if (this.vault.hasPendingShare(epoch, transcriptHash)) return;
    this.vault.deleteShare(epoch);
    this.alert(
      'share-erased',
      `the resharing of epoch ${epoch} (entry ${index}) gives this trustee no share: its old share is erased`,
      `share-erased/${epoch}/${index}`,
    );
  }

  private async entry(index: number, entry: Uint8Array): Promise<void> {
    const me = this.vault.signingKey().publicKey;
    if (entry[0] === POLICY_ENTRY_TYPE) {
      try {
        const p = verifyPolicyEntry(this.adminKey, entry);
        if (this.inForce === undefined || p.policy.serial > this.inForce.policy.serial) {
          const wasIn = this.inForce?.policy.trustees.some((t) => equalBytes(t.signingKey, me)) ?? false;
          this.inForce = p;
          const isIn = p.policy.trustees.some((t) => equalBytes(t.signingKey, me));
          if (wasIn && !isIn)
            this.alert(
              'policy-dropped',
              `the policy of serial ${p.policy.serial} (entry ${index}) drops this trustee`,
            );
          this.checkWitnesses();
          this.save();
        }
      } catch (e) {
        if (!isOvertError(e)) throw e;
      }
    } else if (entry[0] === DIRECTORY_ENTRY_TYPES.epoch_key && this.inForce !== undefined) {
      try {
        const s = verifyEpochKeyStatement(this.inForce, entry.subarray(1));
        const existing = this.epochKeys.get(s.epoch);
        if (existing === undefined) {
          this.epochKeys.set(s.epoch, { statement: s, policy: this.inForce });
          this.save();
        } else if (!equalBytes(existing.policy.hash, this.inForce.hash)) {
          // A resharing (dkg.md §8): the same group key under a newer policy. Another key is never taken.
          if (!equalBytes(existing.statement.groupKey, s.groupKey))
            this.alert(
              'epoch-key-conflict',
              `the epoch-key statement of epoch ${s.epoch} (entry ${index}) names another group key`,
              `epoch-key-conflict/${index}`,
            );
          else {
            this.epochKeys.set(s.epoch, { statement: s, policy: this.inForce });
            this.save();
            await this.eraseStaleShare(s.epoch, s.transcriptHash, index);
          }
        }
        const mine = this.inForce.policy.trustees.find((t) => equalBytes(t.signingKey, me));
        if (mine && !s.signatures.some((x) => x.index === mine.index))
          this.alert(
            'epoch-key-unsigned',
            `the epoch-key statement of epoch ${s.epoch} (entry ${index}) was not signed by this trustee`,
            `epoch-key-unsigned/${index}`,
          );
      } catch (e) {
        if (!isOvertError(e)) throw e;
      }
    }
    for (const l of this.listeners) await l(index, entry);
  }
}
