/**
 * The trustee's view of the access workflow on the log (docs/spec/access.md §5, §6): an AccessTracker is fed
 * every entry of its verified log view in order, and each checkpoint it verified, and keeps what the release rule
 * and the review need — the policy in force at each position, epoch keys, device keys with the entry that added
 * (and removed) them, requests, decisions, executions, releases and refusals.
 *
 * Entries are kept raw (u8 type ‖ body) in access.sqlite and replayed at start-up, so the indexes below are a
 * pure function of the log prefix: a restarted trustee rebuilds exactly the view it had. Entries that do not
 * verify are kept out of the indexes (a forged device statement names no device), except requests, which are
 * kept raw so that release rule 1 can refuse them by hash.
 *
 * The caller (the daemon's monitor) guarantees that the entries it feeds are the leaves of the checkpoints it
 * feeds (tiles checked against the root). The tracker checks the log signature of each checkpoint and its
 * consistency with the previous one (ACC-T2); the witness quorum and freshness are judged against the policy at
 * release time (REL-3).
 */
import {
  decodeDecision,
  decodeElement,
  decodeExecution,
  decodeExtension,
  decodeRefusal,
  decodeRelease,
  decodeRequest,
  decodeUnseal,
  type Element,
  equalBytes,
  toHex,
  type VerifiedPolicy,
  verifyDirectoryEntry,
  verifyPolicyEntry,
} from '@overt/core';
import {
  type Checkpoint,
  checkCheckpointsConsistent,
  formatNote,
  parseCheckpoint,
  type VerifiedCheckpoint,
  type VerifierKey,
  verifyCheckpointSignature,
} from '@overt/log';
import { AccessError } from './errors.js';
import type { AccessStore } from './store.js';

export const ENTRY = {
  policy: 1,
  epochKey: 2,
  deviceAdded: 3,
  deviceRemoved: 4,
  request: 5,
  decision: 6,
  execution: 7,
  release: 8,
  extension: 9,
  unseal: 10,
  refusal: 12,
} as const;

const KEPT: ReadonlySet<number> = new Set(Object.values(ENTRY));

/** An entry at its log position. `entry` is the whole encoded entry (u8 type ‖ body). */
export interface IndexedEntry {
  readonly index: number;
  readonly entry: Uint8Array;
}

export interface PolicyAt {
  readonly index: number;
  readonly policy: VerifiedPolicy;
}

export interface EpochKeyAt {
  readonly index: number;
  readonly epoch: number;
  readonly groupKey: Element;
  /** The statement's DKG transcript hash: which sharing of the group key it is (a resharing has another). */
  readonly transcriptHash: Uint8Array;
}

export interface DeviceKeyAt {
  readonly key: Uint8Array;
  /** Index of the device_added entry. */
  readonly addedIndex: number;
  /** Index and statement time of the device_removed entry, if any. */
  readonly removed?: { readonly index: number; readonly time: number };
}

export interface LoggedRequest {
  readonly index: number;
  /** The signed request (entry body), not yet verified: release rule 1 verifies it. */
  readonly signed: Uint8Array;
  readonly requestId: Uint8Array;
  readonly requesterId: string;
}

/** A release entry on the log (its trustee and the hash of the signed release). */
export interface LoggedRelease {
  readonly index: number;
  readonly signed: Uint8Array;
  readonly trusteeIndex: number;
  readonly requestId: Uint8Array;
}

export interface TrackerConfig {
  /** The organisation's (admin) key: signs policies and device statements. */
  readonly orgKey: Uint8Array;
  /** The log's origin line and key(s). */
  readonly log: { readonly origin: string; readonly logKeys: readonly VerifierKey[] };
  /** Called for every release entry on the log (the release rule checks whether it made it). */
  readonly onRelease?: (release: LoggedRelease) => void;
}

const hex = toHex;
const deviceKeyOf = (userId: string, deviceId: string) => `${userId}\n${deviceId}`;

/** The body of a signed object (u32 len ‖ body ‖ signature), or undefined when the framing is wrong. */
export function signedBody(signed: Uint8Array): Uint8Array | undefined {
  if (signed.length < 4 + 64) return undefined;
  const n = new DataView(signed.buffer, signed.byteOffset, 4).getUint32(0);
  if (4 + n + 64 !== signed.length) return undefined;
  return signed.subarray(4, 4 + n);
}

function tryDecode<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

export class AccessTracker {
  private readonly policies: PolicyAt[] = [];
  /** Each epoch's statements in log order: its first key, then each resharing of it (same Y, a newer policy). */
  private readonly epochKeys = new Map<number, EpochKeyAt[]>();
  private readonly devices = new Map<string, DeviceKeyAt[]>();
  private readonly requests = new Map<string, LoggedRequest>();
  private readonly requestOrder: LoggedRequest[] = [];
  /** Decision entries (u8 6 ‖ body) in log order: decisionsOnLog filters them per request. */
  private readonly decisions: IndexedEntry[] = [];
  private readonly executions = new Map<string, IndexedEntry[]>();
  private readonly releases = new Map<string, LoggedRelease[]>();
  private readonly refusals = new Map<string, IndexedEntry[]>();
  /** Extension (9) and unseal (10) entries by request id, raw: verified where used (deadline.ts). */
  private readonly extensions = new Map<string, IndexedEntry[]>();
  private readonly unseals = new Map<string, IndexedEntry[]>();
  private next = 0;
  private checkpointText: string | undefined;

  constructor(
    private readonly store: AccessStore,
    private readonly config: TrackerConfig,
  ) {
    for (const row of store.entries()) this.apply(row.index, row.entry, false);
    this.next = store.nextIndex();
    this.checkpointText = store.checkpoint();
  }

  /** The next log index the tracker expects. */
  get nextIndex(): number {
    return this.next;
  }

  /**
   * Feeds the entry at `index` of the verified view. Entries must come in order, each once; an index below
   * {@link nextIndex} is a replay and is ignored (idempotent), one above it is ACCESS_STATE (ACC-T1): a gap
   * would let the view miss a denial.
   */
  onEntry(index: number, entry: Uint8Array): void {
    if (index < this.next) return;
    if (index !== this.next)
      throw new AccessError('ACCESS_STATE', `entry ${index} fed before entry ${this.next}`, {
        check: 'ACC-T1',
      });
    const kept = entry.length > 0 && KEPT.has(entry[0]!);
    this.store.transaction(() => {
      if (kept) this.store.putEntry(index, entry);
      this.store.setNextIndex(index + 1);
    });
    this.next = index + 1;
    if (kept) this.apply(index, entry, true);
  }

  /**
   * Records a checkpoint the monitor verified (log signature checked again here) and that extends the previous
   * one: `proof` is the consistency proof from the previously recorded checkpoint (ACC-T2; CHECKPOINT_* errors of
   * the log package otherwise). A checkpoint smaller than the previous one is ignored.
   */
  onCheckpoint(text: string, proof: readonly Uint8Array[] = []): void {
    const cp = verifyCheckpointSignature(text, this.config.log.origin, this.config.log.logKeys);
    const previous = this.checkpointText === undefined ? undefined : parseCheckpoint(this.checkpointText);
    if (previous !== undefined) {
      if (cp.size < previous.size) return;
      checkCheckpointsConsistent(previous, cp, proof);
    }
    this.store.setCheckpoint(text);
    this.checkpointText = text;
  }

  /**
   * Records a checkpoint the daemon's log monitor verified: the Monitor (@overt/log) checks the log signature, the
   * witness quorum it was configured with and consistency with every checkpoint before it reports one,
   * so no proof is needed here. REL-3 re-checks the quorum against the access policy's own witnesses.
   */
  onMonitoredCheckpoint(cp: VerifiedCheckpoint): void {
    const previous = this.checkpointText === undefined ? undefined : parseCheckpoint(this.checkpointText);
    if (previous !== undefined && cp.size < previous.size) return;
    // cp.text is the checkpoint body; keep the whole signed note so REL-3 can verify its signatures again.
    const note = formatNote(cp.note);
    this.store.setCheckpoint(note);
    this.checkpointText = note;
  }

  /** The latest recorded checkpoint (text and parsed), or undefined. */
  checkpoint(): { readonly text: string; readonly checkpoint: Checkpoint } | undefined {
    if (this.checkpointText === undefined) return undefined;
    return { text: this.checkpointText, checkpoint: parseCheckpoint(this.checkpointText) };
  }

  /** The policy in force at `index`: the latest policy entry before it. */
  policyAt(index: number): PolicyAt | undefined {
    let found: PolicyAt | undefined;
    for (const p of this.policies) {
      if (p.index >= index) break;
      found = p;
    }
    return found;
  }

  /** The latest policy on the view. */
  currentPolicy(): PolicyAt | undefined {
    return this.policies[this.policies.length - 1];
  }

  /** The epoch's first key on the view (its group key is that of every later resharing of it too). */
  epochKey(epoch: number): EpochKeyAt | undefined {
    return this.epochKeys.get(epoch)?.[0];
  }

  /**
   * The epoch's statement in force at log position `index` (the latest one logged before it), whose key set a
   * share released at `index` is checked against (access.md §7.5).
   */
  epochKeyInForceAt(epoch: number, index: number): EpochKeyAt | undefined {
    const list = this.epochKeys.get(epoch) ?? [];
    let found: EpochKeyAt | undefined;
    for (const k of list) if (k.index < index) found = k;
    return found;
  }

  /** Every device_added of (user, device), in log order, with its removal if one followed. */
  deviceKeys(userId: string, deviceId: string): readonly DeviceKeyAt[] {
    return this.devices.get(deviceKeyOf(userId, deviceId)) ?? [];
  }

  request(requestId: Uint8Array): LoggedRequest | undefined {
    return this.requests.get(hex(requestId));
  }

  /** Every request on the view, in log order. */
  allRequests(): readonly LoggedRequest[] {
    return this.requestOrder;
  }

  /** Every decision entry in log order (u8 6 ‖ body), for decisionsOnLog. */
  decisionEntries(): readonly IndexedEntry[] {
    return this.decisions;
  }

  /** Execution entries naming `requestId`, in log order (only the relay's key makes a valid one). */
  executionsOf(requestId: Uint8Array): readonly IndexedEntry[] {
    return this.executions.get(hex(requestId)) ?? [];
  }

  releasesOf(requestId: Uint8Array): readonly LoggedRelease[] {
    return this.releases.get(hex(requestId)) ?? [];
  }

  refusalsOf(requestId: Uint8Array): readonly IndexedEntry[] {
    return this.refusals.get(hex(requestId)) ?? [];
  }

  /** Extension entries naming `requestId`, in log order (not verified here: see deadline.ts sealView). */
  extensionsOf(requestId: Uint8Array): readonly IndexedEntry[] {
    return this.extensions.get(hex(requestId)) ?? [];
  }

  /** Unseal entries naming `requestId`, in log order (not verified here: see deadline.ts sealView). */
  unsealsOf(requestId: Uint8Array): readonly IndexedEntry[] {
    return this.unseals.get(hex(requestId)) ?? [];
  }

  private apply(index: number, entry: Uint8Array, live: boolean): void {
    const type = entry[0];
    const body = entry.subarray(1);
    switch (type) {
      case ENTRY.policy: {
        const policy = tryDecode(() => verifyPolicyEntry(this.config.orgKey, entry));
        if (policy !== undefined) this.policies.push({ index, policy });
        return;
      }
      case ENTRY.epochKey: {
        const s = tryDecode(() =>
          verifyDirectoryEntry(this.config.orgKey, entry, this.policyAt(index)?.policy),
        );
        if (s?.type !== 'epoch-key') return;
        const list = this.epochKeys.get(s.statement.epoch) ?? [];
        const last = list[list.length - 1];
        // A later statement counts only as a resharing: the same group key, under a newer policy than the last.
        if (
          last !== undefined &&
          (!equalBytes(last.groupKey, s.statement.groupKey) ||
            this.policyAt(last.index) === this.policyAt(index))
        )
          return;
        const groupKey = tryDecode(() => decodeElement(s.statement.groupKey, 'epoch key'));
        if (groupKey === undefined) return;
        list.push({
          index,
          epoch: s.statement.epoch,
          groupKey,
          transcriptHash: s.statement.transcriptHash,
        });
        this.epochKeys.set(s.statement.epoch, list);
        return;
      }
      case ENTRY.deviceAdded:
      case ENTRY.deviceRemoved: {
        const s = tryDecode(() => verifyDirectoryEntry(this.config.orgKey, entry));
        if (s?.type !== 'device') return;
        const d = s.statement;
        const k = deviceKeyOf(d.userId, d.deviceId);
        const list = this.devices.get(k) ?? [];
        if (d.kind === 'added') list.push({ key: d.identityKey, addedIndex: index });
        else {
          const i = list.findIndex((x) => x.removed === undefined && equalBytes(x.key, d.identityKey));
          if (i >= 0) list[i] = { ...list[i]!, removed: { index, time: d.time } };
        }
        this.devices.set(k, list);
        return;
      }
      case ENTRY.request: {
        const b = signedBody(body);
        const q = b === undefined ? undefined : tryDecode(() => decodeRequest(b));
        if (q === undefined || this.requests.has(hex(q.requestId))) return;
        const r: LoggedRequest = { index, signed: body, requestId: q.requestId, requesterId: q.requesterId };
        this.requests.set(hex(q.requestId), r);
        this.requestOrder.push(r);
        return;
      }
      case ENTRY.decision: {
        const b = signedBody(body);
        if (b !== undefined && tryDecode(() => decodeDecision(b)) !== undefined)
          this.decisions.push({ index, entry });
        return;
      }
      case ENTRY.execution: {
        const b = signedBody(body);
        const e = b === undefined ? undefined : tryDecode(() => decodeExecution(b));
        if (e === undefined) return;
        const list = this.executions.get(hex(e.requestId)) ?? [];
        list.push({ index, entry });
        this.executions.set(hex(e.requestId), list);
        return;
      }
      case ENTRY.release: {
        const b = signedBody(body);
        const x = b === undefined ? undefined : tryDecode(() => decodeRelease(b));
        if (x === undefined) return;
        const r: LoggedRelease = {
          index,
          signed: body,
          trusteeIndex: x.trusteeIndex,
          requestId: x.requestId,
        };
        const list = this.releases.get(hex(x.requestId)) ?? [];
        list.push(r);
        this.releases.set(hex(x.requestId), list);
        if (live) this.config.onRelease?.(r);
        return;
      }
      case ENTRY.extension: {
        const x = tryDecode(() => decodeExtension(body));
        if (x === undefined) return;
        const list = this.extensions.get(hex(x.statement.requestId)) ?? [];
        list.push({ index, entry });
        this.extensions.set(hex(x.statement.requestId), list);
        return;
      }
      case ENTRY.unseal: {
        const b = signedBody(body);
        const x = b === undefined ? undefined : tryDecode(() => decodeUnseal(b));
        if (x === undefined) return;
        const list = this.unseals.get(hex(x.requestId)) ?? [];
        list.push({ index, entry });
        this.unseals.set(hex(x.requestId), list);
        return;
      }
      case ENTRY.refusal: {
        const b = signedBody(body);
        const x = b === undefined ? undefined : tryDecode(() => decodeRefusal(b));
        if (x === undefined) return;
        const list = this.refusals.get(hex(x.requestId)) ?? [];
        list.push({ index, entry });
        this.refusals.set(hex(x.requestId), list);
        return;
      }
    }
  }
}
