/**
 * The client's view of the org's transparency log (docs/spec/client.md §8.2): a log reader over HTTP that only
 * believes what a verified checkpoint commits to, and an index of the directory statements it has read.
 *
 * It is @overt/log's {@link Monitor} (fetch only, browser-safe) with its state in the client's key–value store:
 * each checkpoint is verified (origin, log signature, witness quorum) and proven consistent with the latest one
 * accepted before (so the relay cannot show this client a log that forks from what it saw earlier); then the new
 * entries are downloaded from the entry bundles and the tree is recomputed from them, so every entry indexed here
 * is included in a verified checkpoint. Entries are indexed in log order:
 *
 * - a policy entry (type 1) signed by the pinned admin (org) key, naming this org, with a serial greater than the
 *   policy in force, becomes the policy in force for every entry after it (directory.md §2); each one after the
 *   first is reported as a policy change (KT-10);
 * - a device statement verifying under the pinned admin key and naming this org is indexed;
 * - an epoch-key statement is indexed only if it verifies under the policy in force at its position: at least k
 *   trustee signatures, the policy named, verification keys interpolating to the group key (core DIR-4..DIR-6,
 *   KT-8). One that does not is recorded as untrusted and reported. A later verified statement for an epoch that
 *   already has one is a **resharing** when it has the same group key and verified under a newer policy than the
 *   epoch's statement in force (dkg.md §8): it becomes the statement in force. Any other second statement with
 *   different content marks the epoch as conflicted and is reported (KT-9). Neither an untrusted key nor a
 *   conflicted epoch is ever a choice: the client refuses to seal to such an epoch.
 *
 *     kt/monitor                      the latest accepted checkpoint and the tree's frontier (JSON)
 *     kt/dir/<index>                  the entry bytes (u8 type ‖ statement) of a verified directory statement
 *     kt/dir-policy/<index>           for an epoch key: the log index of the policy it verified under
 *     kt/policy/<index>               the entry bytes of a policy that came into force there
 *     kt/policy-latest                the index of the policy in force
 *     kt/epoch/<epoch>                the index of the epoch's (first) verified key
 *     kt/epoch-latest/<epoch>         the index of the epoch's statement in force (the first, or its latest resharing)
 *     kt/epoch-conflict/<epoch>       the index of a second, different key for the epoch
 *     kt/epoch-bad/<index>            an epoch-key entry that failed verification (JSON: epoch, core check)
 *     kt/removed/<userId>/<deviceId>/<identity key hex>  the index of that device key's first removal
 *
 * Entries are indexed before the checkpoint is saved, so a crash repeats indexing (idempotent), never skips it.
 * A checkpoint of the same tree that the witness quorum cosigned more recently (the log's heartbeat) replaces the
 * stored one, so {@link DirectoryLog.freshness} tells how old the view is (§8.6, A16).
 */
import {
  type DecodedEpochKeyStatement,
  type DeviceStatement,
  DIRECTORY_ENTRY_TYPES,
  type DirectoryStatement,
  decodeEpochKeyStatement,
  equalBytes,
  fromBase64,
  isDirectoryEntry,
  isOvertError,
  isPolicyEntry,
  toBase64,
  toHex,
  utf8Decode,
  utf8Encode,
  type VerifiedPolicy,
  verifyDirectoryEntry,
  verifyPolicyEntry,
} from '@overt/core';
import {
  checkpointFreshness,
  type Freshness,
  isLogError,
  type FetchLike as LogFetchLike,
  type LogPolicy,
  Monitor,
  type MonitorResult,
  type MonitorSnapshot,
  type MonitorStore,
  type VerifiedCheckpoint,
} from '@overt/log';
import { ClientError } from '../errors.js';
import type { KeyValueStore } from '../store/store.js';
import { logPolicyOf, type TrustAnchors } from './anchors.js';

const MONITOR_KEY = 'kt/monitor';
const entryKey = (index: number): string => `kt/dir/${index}`;
const entryPolicyKey = (index: number): string => `kt/dir-policy/${index}`;
const policyKey = (index: number): string => `kt/policy/${index}`;
const POLICY_LATEST_KEY = 'kt/policy-latest';
const epochKey = (epoch: number): string => `kt/epoch/${epoch}`;
const latestKey = (epoch: number): string => `kt/epoch-latest/${epoch}`;
const conflictKey = (epoch: number): string => `kt/epoch-conflict/${epoch}`;
const badKey = (index: number): string => `kt/epoch-bad/${index}`;
const removedKey = (userId: string, deviceId: string, identityKey: Uint8Array): string =>
  `kt/removed/${userId}/${deviceId}/${toHex(identityKey)}`;

function storeMalformed(what: string, cause?: unknown): ClientError {
  return new ClientError('SDK_STORE_MALFORMED', `${what} does not decode`, { check: 'CLI-7', cause });
}

/** The monitor's snapshot in the client store, as one JSON value (one put: atomic). */
class KvMonitorStore implements MonitorStore {
  constructor(private readonly store: KeyValueStore) {}

  async load(): Promise<MonitorSnapshot | undefined> {
    const bytes = await this.store.get(MONITOR_KEY);
    if (bytes === undefined) return undefined;
    try {
      const j = JSON.parse(utf8Decode(bytes)) as { checkpoint?: unknown; frontier?: unknown };
      if (typeof j.checkpoint !== 'string' || !Array.isArray(j.frontier)) throw new Error('shape');
      return { checkpoint: j.checkpoint, frontier: j.frontier.map((h) => fromBase64(String(h))) };
    } catch (cause) {
      throw storeMalformed('stored log checkpoint', cause);
    }
  }

  async save(_origin: string, s: MonitorSnapshot): Promise<void> {
    const json = JSON.stringify({ checkpoint: s.checkpoint, frontier: s.frontier.map(toBase64) });
    await this.store.put(MONITOR_KEY, utf8Encode(json));
  }
}

export interface DirectoryLogOptions {
  readonly anchors: TrustAnchors;
  /** Statements of other organisations on the same log are ignored. */
  readonly orgId: string;
  readonly store: KeyValueStore;
  /** `fetch` (default: the platform's). */
  readonly fetch?: LogFetchLike;
  /** The clock, ms since the epoch (default `Date.now`): the view's age is judged against it. */
  readonly now?: () => number;
  /**
   * Told of every verified directory statement of this org as it is read, in log order, before the checkpoint
   * that includes it is saved (so after a crash it is told again).
   */
  readonly onStatement?: (index: number, statement: DirectoryStatement) => void | Promise<void>;
  /**
   * Told, like `onStatement`, of what the user must see about the org's keys: a policy change (KT-10), an
   * epoch-key entry that does not verify under the policy in force (KT-8), a second key for an epoch (KT-9).
   */
  readonly onEvent?: (event: DirectoryLogEvent) => void | Promise<void>;
  /**
   * Told of every other entry (u8 type ‖ body: neither a policy nor a directory statement) the same way, after the
   * tree that includes it verified: the workflow entries, e.g. shred statements (client.md §4.7).
   */
  readonly onEntry?: (index: number, entry: Uint8Array) => void | Promise<void>;
}

/** What {@link DirectoryLogOptions.onEvent} is told. */
export type DirectoryLogEvent =
  | {
      readonly type: 'policy-changed';
      readonly index: number;
      readonly previous: VerifiedPolicy;
      readonly policy: VerifiedPolicy;
    }
  | {
      readonly type: 'epoch-key-invalid';
      readonly index: number;
      /** The epoch the entry claims, when it decodes. */
      readonly epoch: number | undefined;
      /** Core's check that failed (DIR-2, DIR-4, DIR-5, DIR-6). */
      readonly reason: string;
    }
  | {
      readonly type: 'epoch-key-conflict';
      readonly index: number;
      readonly epoch: number;
      readonly first: number;
    };

/** Why an epoch-key entry is not trusted, as recorded. */
export interface UntrustedEpochKey {
  readonly epoch: number | undefined;
  readonly reason: string;
}

/** The result of {@link DirectoryLog.update}. */
export interface LogUpdate {
  /** The size of the latest verified checkpoint. */
  readonly size: number;
  /** Entries read in this update. */
  readonly newEntries: number;
}

export class DirectoryLog {
  private readonly monitor: Monitor;
  private readonly policy: LogPolicy;
  private readonly now: () => number;
  private verifiedSize: number | undefined;
  /** The latest accepted checkpoint with its cosignatures, once read (null: read it again). */
  private view: VerifiedCheckpoint | undefined | null = null;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: DirectoryLogOptions) {
    this.policy = logPolicyOf(options.anchors);
    this.now = options.now ?? Date.now;
    const fetchFn: LogFetchLike = options.fetch ?? ((url) => fetch(url));
    this.monitor = new Monitor({
      policy: this.policy,
      url: options.anchors.log.url,
      fetch: fetchFn,
      store: new KvMonitorStore(options.store),
      onEntry: (index, entry) => this.index(index, entry),
      // Only to compare two notes of the same tree: a cosignature dated beyond the skew is not fresher.
      now: () => this.seconds(),
    });
  }

  private seconds(): number {
    return Math.floor(this.now() / 1000);
  }

  /**
   * How fresh the latest verified checkpoint is now (log.md §4.1: its quorum-th newest witness timestamp against
   * `maxAgeSeconds`); not fresh before the first checkpoint. SDK_STORE_MALFORMED if the stored one does not verify.
   */
  async freshness(maxAgeSeconds: number): Promise<Freshness> {
    if (this.view === null) {
      this.view = await this.monitor.latestVerified().catch((cause) => {
        throw storeMalformed('stored log checkpoint', cause);
      });
    }
    if (this.view === undefined)
      return { fresh: false, timestamp: undefined, ageSeconds: undefined, future: 0 };
    return checkpointFreshness(this.view, this.policy.witnesses.quorum, this.seconds(), { maxAgeSeconds });
  }

  get adminKey(): Uint8Array {
    return this.options.anchors.adminKey;
  }

  /** The size of the latest checkpoint this client verified (0 before the first). */
  async size(): Promise<number> {
    if (this.verifiedSize === undefined) {
      const cp = await this.monitor.latest().catch((cause) => {
        throw storeMalformed('stored log checkpoint', cause);
      });
      this.verifiedSize = cp?.size ?? 0;
    }
    return this.verifiedSize;
  }

  /**
   * Fetches the log's checkpoint and reads every entry since the last verified one. Throws KT_LOG_INVALID (KT-2)
   * when the checkpoint does not verify, is inconsistent with one seen before (split view, A7), or the served
   * entries do not form its tree; KT_LOG_UNAVAILABLE when the log cannot be read (nothing changes then).
   */
  update(): Promise<LogUpdate> {
    const run = this.tail.then(
      () => this.updateLocked(),
      () => this.updateLocked(),
    );
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async updateLocked(): Promise<LogUpdate> {
    let r: MonitorResult;
    try {
      r = await this.monitor.update();
    } catch (cause) {
      // The monitor's own state check (MON-6): what the store holds is not a checkpoint of this log.
      if (isLogError(cause, 'MONITOR_STATE')) throw storeMalformed('stored log checkpoint', cause);
      throw cause;
    }
    switch (r.kind) {
      case 'ok':
        this.view = null;
        this.verifiedSize = Math.max(r.checkpoint.size, r.previousSize);
        return { size: this.verifiedSize, newEntries: r.newEntries };
      case 'unavailable':
        throw new ClientError('KT_LOG_UNAVAILABLE', 'the transparency log could not be read', {
          cause: r.error,
        });
      case 'invalid_checkpoint':
        throw new ClientError('KT_LOG_INVALID', 'the log checkpoint does not verify', {
          check: 'KT-2',
          cause: r.error,
        });
      case 'split_view':
        throw new ClientError('KT_LOG_INVALID', 'the log is inconsistent with a checkpoint seen before', {
          check: 'KT-2',
          cause: r.error,
        });
      default:
        throw new ClientError('KT_LOG_INVALID', 'the served entries do not form the signed tree', {
          check: 'KT-2',
          cause: r.error,
        });
    }
  }

  /** Makes sure the verified checkpoint covers `index`, updating once if it does not yet. */
  async covers(index: number): Promise<boolean> {
    if (index < (await this.size())) return true;
    await this.update();
    return index < (await this.size());
  }

  /** The verified directory statement at `index`, if that entry is one (undefined for any other entry). */
  async statementAt(index: number): Promise<DirectoryStatement | undefined> {
    const bytes = await this.options.store.get(entryKey(index));
    if (bytes === undefined) return undefined;
    try {
      let policy: VerifiedPolicy | undefined;
      if (bytes[0] === DIRECTORY_ENTRY_TYPES.epoch_key) {
        const at = await this.readIndex(entryPolicyKey(index));
        policy = at === undefined ? undefined : await this.policyAt(at);
      }
      return verifyDirectoryEntry(this.adminKey, bytes, policy);
    } catch (cause) {
      if (cause instanceof ClientError) throw cause;
      throw storeMalformed('stored directory entry', cause);
    }
  }

  /** The policy that came into force at log index `index` (stored when it was read). */
  private async policyAt(index: number): Promise<VerifiedPolicy | undefined> {
    const bytes = await this.options.store.get(policyKey(index));
    if (bytes === undefined) return undefined;
    try {
      return verifyPolicyEntry(this.adminKey, bytes);
    } catch (cause) {
      throw storeMalformed('stored policy entry', cause);
    }
  }

  /** The policy in force at the end of the log read so far, with the index where it was logged. */
  async accessPolicy(): Promise<{ index: number; policy: VerifiedPolicy } | undefined> {
    const index = await this.readIndex(POLICY_LATEST_KEY);
    if (index === undefined) return undefined;
    const policy = await this.policyAt(index);
    return policy === undefined ? undefined : { index, policy };
  }

  /** The index of the verified key of `epoch` read so far (the first one), if any. */
  epochKeyIndex(epoch: number): Promise<number | undefined> {
    return this.readIndex(epochKey(epoch));
  }

  /**
   * The index of the epoch's statement in force read so far: its first key or the latest resharing of it (same
   * group key, a newer policy). A store written before resharings were indexed has only the first key.
   */
  async epochKeyInForceIndex(epoch: number): Promise<number | undefined> {
    return (await this.readIndex(latestKey(epoch))) ?? (await this.readIndex(epochKey(epoch)));
  }

  /** The index of a second, different verified key of `epoch` (KT-9), if one was read. */
  epochConflict(epoch: number): Promise<number | undefined> {
    return this.readIndex(conflictKey(epoch));
  }

  /** Why the epoch-key entry at `index` failed verification (KT-8), if it did. */
  async untrustedEpochKeyAt(index: number): Promise<UntrustedEpochKey | undefined> {
    const bytes = await this.options.store.get(badKey(index));
    if (bytes === undefined) return undefined;
    try {
      const j = JSON.parse(utf8Decode(bytes)) as { epoch?: unknown; reason?: unknown };
      if (typeof j.reason !== 'string' || (j.epoch !== null && !Number.isSafeInteger(j.epoch)))
        throw new Error('shape');
      return { epoch: j.epoch === null ? undefined : (j.epoch as number), reason: j.reason };
    } catch (cause) {
      throw storeMalformed('stored untrusted epoch key', cause);
    }
  }

  private async readIndex(key: string): Promise<number | undefined> {
    const bytes = await this.options.store.get(key);
    if (bytes === undefined) return undefined;
    const text = utf8Decode(bytes);
    if (!/^(0|[1-9][0-9]{0,15})$/.test(text)) throw storeMalformed('stored log index');
    return Number(text);
  }

  private putIndex(key: string, index: number): Promise<void> {
    return this.options.store.put(key, utf8Encode(String(index)));
  }

  /** The verified device-added statement at `index`, if that entry is one. */
  async deviceAddedAt(index: number): Promise<DeviceStatement | undefined> {
    const s = await this.statementAt(index);
    return s?.type === 'device' && s.statement.kind === 'added' ? s.statement : undefined;
  }

  /** The verified epoch-key statement at `index`, if that entry is one. */
  async epochKeyAt(index: number): Promise<DecodedEpochKeyStatement | undefined> {
    const s = await this.statementAt(index);
    return s?.type === 'epoch-key' ? s.statement : undefined;
  }

  /** The log index of the first removal of (user, device, identity key) read so far, if any. */
  async removalOf(userId: string, deviceId: string, identityKey: Uint8Array): Promise<number | undefined> {
    const bytes = await this.options.store.get(removedKey(userId, deviceId, identityKey));
    if (bytes === undefined) return undefined;
    const text = utf8Decode(bytes);
    if (!/^(0|[1-9][0-9]{0,15})$/.test(text)) throw storeMalformed('stored removal index');
    return Number(text);
  }

  /** The monitor's hook: index one entry (already proven part of the checkpoint's tree). */
  private async index(index: number, entry: Uint8Array): Promise<void> {
    if (isPolicyEntry(entry)) return this.indexPolicy(index, entry);
    if (!isDirectoryEntry(entry)) {
      await this.options.onEntry?.(index, entry);
      return;
    }
    if (entry[0] === DIRECTORY_ENTRY_TYPES.epoch_key) return this.indexEpochKey(index, entry);
    let s: DirectoryStatement;
    try {
      s = verifyDirectoryEntry(this.adminKey, entry);
    } catch (e) {
      // Not signed by the pinned admin key (or malformed): it vouches for nothing, so it is not indexed.
      if (isOvertError(e)) return;
      throw e;
    }
    if (s.statement.orgId !== this.options.orgId) return;
    await this.options.store.put(entryKey(index), entry);
    if (s.type === 'device' && s.statement.kind === 'removed') {
      const k = removedKey(s.statement.userId, s.statement.deviceId, s.statement.identityKey);
      if ((await this.options.store.get(k)) === undefined)
        await this.options.store.put(k, utf8Encode(String(index)));
    }
    await this.options.onStatement?.(index, s);
  }

  /**
   * A policy entry: in force from here on if the pinned admin (org) key signed it, it names this org and its
   * serial is greater than the policy in force; anything else vouches for nothing and is not indexed. Every
   * policy after the first this client read is a policy change the user is told of (KT-10).
   */
  private async indexPolicy(index: number, entry: Uint8Array): Promise<void> {
    let policy: VerifiedPolicy;
    try {
      policy = verifyPolicyEntry(this.adminKey, entry);
    } catch (e) {
      if (isOvertError(e)) return;
      throw e;
    }
    if (policy.policy.orgId !== this.options.orgId) return;
    const previous = await this.accessPolicy();
    if (previous !== undefined && policy.policy.serial <= previous.policy.policy.serial) return;
    await this.options.store.put(policyKey(index), entry);
    await this.putIndex(POLICY_LATEST_KEY, index);
    if (previous !== undefined)
      await this.options.onEvent?.({ type: 'policy-changed', index, previous: previous.policy, policy });
  }

  /**
   * An epoch-key entry, verified under the policy in force at its position (KT-8). A failure is recorded and
   * reported, never skipped in silence. A later verified statement for the same epoch with the same group key,
   * verified under a newer policy than the epoch's statement in force (its policy came into force at a later
   * index, so it has a greater serial), is a resharing and becomes the statement in force (KT-9). Any other
   * statement with other content for the epoch marks it conflicted (KT-9). The same statement logged twice (a
   * retried append) is neither.
   */
  private async indexEpochKey(index: number, entry: Uint8Array): Promise<void> {
    const inForce = await this.accessPolicy();
    let s: DirectoryStatement;
    try {
      s = verifyDirectoryEntry(this.adminKey, entry, inForce?.policy);
    } catch (e) {
      if (!isOvertError(e)) throw e;
      let decoded: DecodedEpochKeyStatement | undefined;
      try {
        decoded = decodeEpochKeyStatement(entry.subarray(1));
      } catch (d) {
        if (!isOvertError(d)) throw d;
      }
      // Another organisation's statement on a shared log is none of this client's business.
      if (decoded !== undefined && decoded.orgId !== this.options.orgId) return;
      const reason = e.check ?? e.code;
      const epoch = decoded?.epoch;
      await this.options.store.put(
        badKey(index),
        utf8Encode(JSON.stringify({ epoch: epoch ?? null, reason })),
      );
      await this.options.onEvent?.({ type: 'epoch-key-invalid', index, epoch, reason });
      return;
    }
    if (s.type !== 'epoch-key' || s.statement.orgId !== this.options.orgId) return;
    await this.options.store.put(entryKey(index), entry);
    await this.putIndex(entryPolicyKey(index), inForce!.index);
    const epoch = s.statement.epoch;
    const first = await this.readIndex(epochKey(epoch));
    if (first === undefined) {
      await this.putIndex(epochKey(epoch), index);
      await this.putIndex(latestKey(epoch), index);
    } else if (first !== index) {
      const current = (await this.readIndex(latestKey(epoch))) ?? first;
      const earlier = current === index ? s.statement : await this.epochKeyAt(current);
      const earlierPolicy = await this.readIndex(entryPolicyKey(current));
      const repeat = earlier !== undefined && equalBytes(earlier.content, s.statement.content);
      const reshare =
        earlier !== undefined &&
        !repeat &&
        equalBytes(earlier.groupKey, s.statement.groupKey) &&
        earlierPolicy !== undefined &&
        inForce!.index > earlierPolicy;
      if (reshare) await this.putIndex(latestKey(epoch), index);
      else if (!repeat) {
        if ((await this.readIndex(conflictKey(epoch))) === undefined)
          await this.putIndex(conflictKey(epoch), index);
        await this.options.onEvent?.({ type: 'epoch-key-conflict', index, epoch, first });
      }
    }
    await this.options.onStatement?.(index, s);
  }
}
