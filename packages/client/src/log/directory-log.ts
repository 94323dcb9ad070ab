/**
 * The client's view of the org's transparency log (docs/spec/client.md §8.2): a log reader over HTTP that only
 * believes what a verified checkpoint commits to, and an index of the directory statements it has read.
 *
 * It is @overt/log's {@link Monitor} (fetch only, browser-safe) with its state in the client's key–value store:
 * each checkpoint is verified (origin, log signature, witness quorum) and proven consistent with the latest one
 * accepted before (so the relay cannot show this client a log that forks from what it saw earlier); then the new
 * entries are downloaded from the entry bundles and the tree is recomputed from them, so every entry indexed here
 * is included in a verified checkpoint. Directory entries (device added/removed, epoch key) whose statement
 * verifies under the pinned admin key and names this org are indexed by log index:
 *
 *     kt/monitor                      the latest accepted checkpoint and the tree's frontier (JSON)
 *     kt/dir/<index>                  the entry bytes (u8 type ‖ statement) of a verified directory statement
 *     kt/removed/<userId>/<deviceId>/<identity key hex>  the index of that device key's first removal
 *
 * Entries are indexed before the checkpoint is saved, so a crash repeats indexing (idempotent), never skips it.
 */
import {
  type DeviceStatement,
  type DirectoryStatement,
  type EpochKeyStatement,
  fromBase64,
  isDirectoryEntry,
  isOvertError,
  toBase64,
  toHex,
  utf8Decode,
  utf8Encode,
  verifyDirectoryEntry,
} from '@overt/core';
import {
  isLogError,
  type FetchLike as LogFetchLike,
  type LogPolicy,
  Monitor,
  type MonitorResult,
  type MonitorSnapshot,
  type MonitorStore,
} from '@overt/log';
import { ClientError } from '../errors.js';
import type { KeyValueStore } from '../store/store.js';
import { logPolicyOf, type TrustAnchors } from './anchors.js';

const MONITOR_KEY = 'kt/monitor';
const entryKey = (index: number): string => `kt/dir/${index}`;
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
  /**
   * Told of every verified directory statement of this org as it is read, in log order, before the checkpoint
   * that includes it is saved (so after a crash it is told again).
   */
  readonly onStatement?: (index: number, statement: DirectoryStatement) => void | Promise<void>;
  /**
   * Told of every other entry (u8 type ‖ body, not a directory statement) the same way, after the tree that
   * includes it verified: the workflow entries, e.g. shred statements (client.md §4.7).
   */
  readonly onEntry?: (index: number, entry: Uint8Array) => void | Promise<void>;
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
  private verifiedSize: number | undefined;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: DirectoryLogOptions) {
    this.policy = logPolicyOf(options.anchors);
    const fetchFn: LogFetchLike = options.fetch ?? ((url) => fetch(url));
    this.monitor = new Monitor({
      policy: this.policy,
      url: options.anchors.log.url,
      fetch: fetchFn,
      store: new KvMonitorStore(options.store),
      onEntry: (index, entry) => this.index(index, entry),
    });
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
      return verifyDirectoryEntry(this.adminKey, bytes);
    } catch (cause) {
      throw storeMalformed('stored directory entry', cause);
    }
  }

  /** The verified device-added statement at `index`, if that entry is one. */
  async deviceAddedAt(index: number): Promise<DeviceStatement | undefined> {
    const s = await this.statementAt(index);
    return s?.type === 'device' && s.statement.kind === 'added' ? s.statement : undefined;
  }

  /** The verified epoch-key statement at `index`, if that entry is one. */
  async epochKeyAt(index: number): Promise<EpochKeyStatement | undefined> {
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
    if (!isDirectoryEntry(entry)) {
      await this.options.onEntry?.(index, entry);
      return;
    }
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
}
