/**
 * Key transparency in the client (docs/spec/client.md §8; DESIGN A6 "ghost device"): the authentication
 * service, the epoch-key check and log monitoring, all against the org's transparency log as {@link DirectoryLog}
 * verifies it, never against what the relay's directory says.
 *
 * - Authentication service (KT-3, KT-4): a member's credential (user id, device id, identity key) is accepted only
 *   if the log entry at the index the directory gives is an admin-signed device-added statement of this org
 *   naming exactly that user, device id and key, included in a verified checkpoint, and no removal of that device
 *   key has been read from the log. A relay that lists a device it made up, or points at another entry, is caught.
 * - Epoch keys (KT-5, KT-8, KT-9; DESIGN A14): before sealing to (or opening with) an epoch key, the epoch-key
 *   statement at the index the relay names must be on the verified log, for this org and epoch, with exactly this
 *   key (KT-5); it must verify under the access policy in force at its position — at least k trustee signatures,
 *   the policy named, verification keys interpolating to the group key (KT-8) — and no other key may be on the log
 *   for that epoch (KT-9). An entry that fails KT-8 and a second key for an epoch raise alerts (`epoch-key-invalid`,
 *   `epoch-key-conflict`); each new policy after the first this client read raises a `policy-changed` notice that
 *   says what changed (KT-10), because an admin who logs a policy naming trustees it controls could mint later
 *   epochs' keys: the user must see that.
 * - Monitoring (KT-6, KT-7): every device statement about this client's own user is compared with the devices the
 *   user knows (this device, plus those approved through {@link KeyTransparency.approveDevice}); a device the
 *   user did not approve raises an `unknown-device` alert, the removal of a known device that was not announced
 *   with {@link KeyTransparency.forgetDevice} a `device-removed` alert. Alerts are stored before the checkpoint that
 *   contains their entry is saved, so a crash can repeat an alert but never lose one.
 * - Freshness (KT-FRESH-1; DESIGN A16): every decision above is made only on a view of the log whose witness
 *   quorum cosigned it at most `maxLogAgeSeconds` ago ({@link KeyTransparency.ensureFresh}); an older view is
 *   refreshed first, and if the relay serves nothing fresher the decision is refused with KT_LOG_STALE — a relay
 *   that keeps showing this client an old (consistent) checkpoint cannot hide a ghost device or a removal from it
 *   for longer than that.
 *
 *     kt/known/<deviceId>    a device of this user the user knows: its identity key, or empty for "any key"
 *     kt/prior/<deviceId>    a device of this user enrolled before this one: its identity key (no alert)
 *     kt/self-enrolled       present once this device's own enrolment was read (entries before it are known)
 *     kt/forget/<deviceId>   a removal the user announced (no alert for it)
 *     kt/alert/<logIndex>    an alert or notice not yet delivered (JSON)
 */
import {
  type DirectoryStatement,
  decodeElement,
  type Element,
  equalBytes,
  fromHex,
  isDeviceId,
  type Policy,
  toHex,
  utf8Decode,
  utf8Encode,
} from '@overt/core';
import { DEFAULT_MAX_AGE_SECONDS } from '@overt/log';
import { ClientError, isClientError } from '../errors.js';
import type { TrustAnchors } from '../log/anchors.js';
import { DirectoryLog, type DirectoryLogEvent } from '../log/directory-log.js';
import type { MemberCredential } from '../mls/credential.js';
import type { KeyValueStore } from '../store/store.js';
import type { RelayTransport } from '../transport/relay-transport.js';
import { findOverdueSeals, sealAlertJson, watchSealEntry } from './seals.js';
import { watchShredEntry } from './shreds.js';

/** What monitoring reports about the user's own devices. */
export interface KtAlert {
  readonly kind: 'alert';
  /** `unknown-device`: a device the user did not approve was enrolled for them (A6). `device-removed`: a known
   * device of theirs was removed without their announcing it. */
  readonly alert: 'unknown-device' | 'device-removed';
  readonly userId: string;
  readonly deviceId: string;
  readonly identityKey: Uint8Array;
  /** The log entry of the statement. */
  readonly logIndex: number;
  readonly check: 'KT-6' | 'KT-7';
}

/** What monitoring reports about the org's epoch keys (KT-8, KT-9; DESIGN A14). */
export interface KtEpochKeyAlert {
  readonly kind: 'alert';
  /** `epoch-key-invalid`: an epoch-key entry that does not verify under the policy in force (KT-8).
   * `epoch-key-conflict`: a second, different key for an epoch that already has one (KT-9). */
  readonly alert: 'epoch-key-invalid' | 'epoch-key-conflict';
  /** The epoch the entry names (undefined when it does not even decode). */
  readonly epoch: number | undefined;
  /** KT-8: core's failed check (DIR-2, DIR-4, DIR-5, DIR-6); KT-9: the log index of the epoch's first key. */
  readonly reason: string;
  readonly logIndex: number;
  readonly check: 'KT-8' | 'KT-9';
}

/** A new access policy on the log (KT-10): who may now do what, without any secret. */
export interface KtPolicyNotice {
  readonly kind: 'notice';
  readonly notice: 'policy-changed';
  readonly serial: number;
  readonly previousSerial: number;
  /** What changed, one short line each (trustees, threshold, witnesses, requesters, limits, epochs, retention). */
  readonly changes: readonly string[];
  readonly logIndex: number;
  readonly check: 'KT-10';
}

/**
 * A request whose seal-until in force has passed with neither an unseal nor an extension on the log (OVD-1,
 * after-release.md §3; DESIGN A10): raised once per request by every client.
 */
export interface KtSealAlert {
  readonly kind: 'alert';
  readonly alert: 'seal-overdue';
  /** The 16-byte request id. */
  readonly requestId: Uint8Array;
  /** The seal-until in force (ms): the request's, or its last verified extension's. */
  readonly sealUntil: number;
  /** The log index of the request. */
  readonly logIndex: number;
  readonly check: 'OVD-1';
}

/** Everything monitoring reports, oldest log entry first. */
export type KtEvent = KtAlert | KtEpochKeyAlert | KtPolicyNotice | KtSealAlert;

/** What changed from one policy to the next, one line each, naming no secret (KT-10). */
export function describePolicyChange(before: Policy, after: Policy): string[] {
  const out: string[] = [];
  const hex = (b: Uint8Array) => toHex(b);
  for (const t of before.trustees) {
    const n = after.trustees.find((x) => x.index === t.index);
    if (n === undefined) out.push(`trustee ${t.index} (${t.name}) removed`);
    else {
      if (hex(n.signingKey) !== hex(t.signingKey))
        out.push(`trustee ${t.index} (${n.name}) signing key replaced`);
      if (hex(n.encryptionKey) !== hex(t.encryptionKey))
        out.push(`trustee ${t.index} (${n.name}) encryption key replaced`);
      if (n.name !== t.name) out.push(`trustee ${t.index} renamed ${t.name} → ${n.name}`);
    }
  }
  for (const n of after.trustees)
    if (!before.trustees.some((t) => t.index === n.index)) out.push(`trustee ${n.index} (${n.name}) added`);
  if (before.threshold !== after.threshold) out.push(`threshold ${before.threshold} → ${after.threshold}`);
  for (const w of before.witnesses) {
    const n = after.witnesses.find((x) => x.name === w.name);
    if (n === undefined) out.push(`witness ${w.name} removed`);
    else if (hex(n.signingKey) !== hex(w.signingKey)) out.push(`witness ${w.name} key replaced`);
  }
  for (const n of after.witnesses)
    if (!before.witnesses.some((w) => w.name === n.name)) out.push(`witness ${n.name} added`);
  if (before.witnessQuorum !== after.witnessQuorum)
    out.push(`witness quorum ${before.witnessQuorum} → ${after.witnessQuorum}`);
  for (const r of before.requesters) {
    const n = after.requesters.find((x) => x.id === r.id);
    if (n === undefined) out.push(`requester ${r.id} removed`);
    else if (hex(n.signingKey) !== hex(r.signingKey) || hex(n.encryptionKey) !== hex(r.encryptionKey))
      out.push(`requester ${r.id} keys replaced`);
  }
  for (const n of after.requesters)
    if (!before.requesters.some((r) => r.id === n.id)) out.push(`requester ${n.id} (${n.name}) added`);
  for (const k of Object.keys(before.limits) as (keyof Policy['limits'])[])
    if (before.limits[k] !== after.limits[k]) out.push(`limit ${k} ${before.limits[k]} → ${after.limits[k]}`);
  const epochs = (p: Policy) =>
    p.epochLength.kind === 'fixed' ? `${p.epochLength.ms} ms` : 'calendar month';
  if (epochs(before) !== epochs(after)) out.push(`epoch length ${epochs(before)} → ${epochs(after)}`);
  if (before.retentionMs !== after.retentionMs)
    out.push(`retention ${before.retentionMs} ms → ${after.retentionMs} ms`);
  if (out.length === 0) out.push('reissued with no other change');
  return out;
}

export interface KeyTransparencyOptions {
  readonly anchors: TrustAnchors;
  readonly orgId: string;
  readonly userId: string;
  readonly deviceId: string;
  readonly identityKey: Uint8Array;
  readonly store: KeyValueStore;
  readonly transport: RelayTransport;
  /** `fetch` for the log's tiles (default: the platform's). */
  readonly fetch?: (url: string) => Promise<{ status: number; arrayBuffer(): Promise<ArrayBuffer> }>;
  /** The clock, ms since the epoch (default `Date.now`). */
  readonly now?: () => number;
  /** The oldest view of the log a decision may rest on, in seconds (default 300; client.md §8.6). */
  readonly maxLogAgeSeconds?: number;
}

const knownKey = (deviceId: string): string => `kt/known/${deviceId}`;
/** A device of this user enrolled before this one (no alert for it; not added to conversations, client.md §4.1). */
const priorKey = (deviceId: string): string => `kt/prior/${deviceId}`;
/** Set once the log entry enrolling this device (this key) has been read (client.md §8.4). */
const SELF_SEEN_KEY = 'kt/self-enrolled';
const forgetKey = (deviceId: string): string => `kt/forget/${deviceId}`;
const alertKey = (index: number): string => `kt/alert/${String(index).padStart(16, '0')}`;

function notOnLog(message: string): ClientError {
  return new ClientError('KT_DEVICE_NOT_ON_LOG', message, { check: 'KT-3' });
}

function storeMalformed(what: string, cause?: unknown): ClientError {
  return new ClientError('SDK_STORE_MALFORMED', `${what} does not decode`, { check: 'CLI-7', cause });
}

export class KeyTransparency {
  readonly log: DirectoryLog;
  /** The oldest view a decision may rest on, in seconds. */
  readonly maxLogAgeSeconds: number;

  /** SDK_USAGE for a maximum age that is not a non-negative integer; KT_ANCHORS_INVALID for bad anchors. */
  constructor(private readonly options: KeyTransparencyOptions) {
    const maxAge = options.maxLogAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS;
    if (!Number.isSafeInteger(maxAge) || maxAge < 0)
      throw new ClientError('SDK_USAGE', 'maxLogAgeSeconds must be a non-negative integer');
    this.maxLogAgeSeconds = maxAge;
    this.log = new DirectoryLog({
      anchors: options.anchors,
      orgId: options.orgId,
      store: options.store,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.now ? { now: options.now } : {}),
      onStatement: (index, s) => this.watch(index, s),
      onEvent: (e) => this.record(e),
      // Shred statements: the history records of a shredded epoch are pruned (client.md §4.7, HIS-5).
      onEntry: async (index, entry) => {
        const policy = async () => (await this.log.accessPolicy())?.policy;
        await watchShredEntry({ store: options.store, policy }, index, entry);
        // Requests, extensions and unseals: overdue seals (OVD-1, after-release.md §3).
        await watchSealEntry(options.store, index, entry);
      },
    });
  }

  /**
   * The freshness gate before every key-transparency decision (KT-FRESH-1, client.md §8.6): returns at once if the
   * verified view's witness quorum cosigned it at most {@link maxLogAgeSeconds} ago; otherwise reads the log once
   * and checks again. Throws KT_LOG_STALE when the view is still too old (the relay served nothing fresher, or the
   * log could not be read: KT_LOG_UNAVAILABLE is the cause), KT_LOG_INVALID when the log fails verification.
   */
  async ensureFresh(): Promise<void> {
    if ((await this.log.freshness(this.maxLogAgeSeconds)).fresh) return;
    let unavailable: unknown;
    try {
      await this.log.update();
    } catch (e) {
      if (!isClientError(e, 'KT_LOG_UNAVAILABLE')) throw e;
      unavailable = e;
    }
    await this.requireFresh(unavailable);
  }

  /** KT_LOG_STALE unless the view is fresh now, without reading the log. */
  private async requireFresh(cause?: unknown): Promise<void> {
    const f = await this.log.freshness(this.maxLogAgeSeconds);
    if (f.fresh) return;
    const why =
      f.ageSeconds !== undefined
        ? `its witness quorum last cosigned it ${f.ageSeconds} s ago`
        : 'no checkpoint with enough validly dated witness cosignatures was served';
    throw new ClientError(
      'KT_LOG_STALE',
      `stale log view: ${why}, more than the ${this.maxLogAgeSeconds} s allowed; no key-transparency decision is made on it`,
      { check: 'KT-FRESH-1', ...(cause !== undefined ? { cause } : {}) },
    );
  }

  /** Records this device as known (once per store). */
  async init(): Promise<void> {
    const k = knownKey(this.options.deviceId);
    if ((await this.options.store.get(k)) === undefined)
      await this.options.store.put(k, this.options.identityKey);
    // A store that read the log before the pre-enrolment rule existed (watch) keeps alerting as it did.
    if (
      (await this.options.store.get(SELF_SEEN_KEY)) === undefined &&
      (await this.options.store.get('kt/monitor')) !== undefined
    )
      await this.options.store.put(SELF_SEEN_KEY, new Uint8Array(0));
  }

  /**
   * The authentication service's decision for one member (KT-3, KT-4), on a fresh view (KT-FRESH-1). Throws
   * KT_DEVICE_NOT_ON_LOG, KT_DEVICE_REMOVED, KT_LOG_INVALID (the log itself fails verification), KT_LOG_STALE, or
   * KT_LOG_UNAVAILABLE / RELAY_* (could not ask: transient).
   */
  async authenticate(m: MemberCredential): Promise<void> {
    await this.ensureFresh();
    const deviceId = utf8Decode(m.deviceId);
    const listed = (await this.options.transport.userDevices(m.userId)).find((d) => d.deviceId === deviceId);
    if (
      listed === undefined ||
      listed.userId !== m.userId ||
      listed.status !== 'active' ||
      listed.enrolLogIndex === null ||
      !equalBytes(listed.identityKey, m.identityKey)
    )
      throw new ClientError(
        'SDK_DEVICE_UNVERIFIED',
        'the directory does not list this device key as active',
        {
          check: 'CLI-5',
        },
      );
    const index = listed.enrolLogIndex;
    if (!(await this.log.covers(index))) throw notOnLog('the enrolment is not in a verified checkpoint');
    const s = await this.log.deviceAddedAt(index);
    if (s === undefined) throw notOnLog('the log entry is not an admin-signed device enrolment');
    if (
      s.orgId !== this.options.orgId ||
      s.userId !== m.userId ||
      s.deviceId !== deviceId ||
      !equalBytes(s.identityKey, m.identityKey)
    )
      throw notOnLog('the logged enrolment names another device');
    if ((await this.log.removalOf(m.userId, deviceId, m.identityKey)) !== undefined)
      throw new ClientError('KT_DEVICE_REMOVED', 'the device was removed on the log', { check: 'KT-4' });
  }

  /**
   * The identity key the verified log gives a device (KT-3), for checking the sender signature of an envelope whose
   * sender MLS does not vouch for here (a history record, client.md §4.6; A15). The directory names the log index
   * of the device's enrolment; the admin-signed device-added statement there must name exactly this user and
   * device, and its key — read from the log, not from the directory — is returned. A device removed since is still
   * answered: the envelopes it sent before stay attributable to it. Throws SDK_DEVICE_UNVERIFIED (CLI-5: the
   * directory lists no enrolment), KT_DEVICE_NOT_ON_LOG (KT-3), KT_LOG_STALE (KT-FRESH-1), or the log's and relay's
   * errors.
   */
  async deviceKey(userId: string, deviceId: Uint8Array): Promise<Uint8Array> {
    await this.ensureFresh();
    const id = utf8Decode(deviceId);
    const listed = (await this.options.transport.userDevices(userId)).find((d) => d.deviceId === id);
    if (listed === undefined || listed.userId !== userId || listed.enrolLogIndex === null)
      throw new ClientError('SDK_DEVICE_UNVERIFIED', 'the directory lists no enrolment of this device', {
        check: 'CLI-5',
      });
    const index = listed.enrolLogIndex;
    if (!(await this.log.covers(index))) throw notOnLog('the enrolment is not in a verified checkpoint');
    const s = await this.log.deviceAddedAt(index);
    if (s === undefined) throw notOnLog('the log entry is not an admin-signed device enrolment');
    if (s.orgId !== this.options.orgId || s.userId !== userId || s.deviceId !== id)
      throw notOnLog('the logged enrolment names another device');
    return s.identityKey;
  }

  /**
   * The epoch key the relay serves for `epoch`, accepted only if its statement at the index the relay names is on
   * the verified log naming this org, epoch and key (KT-5), verifies under the policy in force at its position —
   * k trustee signatures, the policy named, verification keys that interpolate to the key (KT-8) — and is the only
   * key of that epoch on the log (KT-9). The log is read to its latest checkpoint first when it can be, so a
   * second key already logged is seen. Throws KT_EPOCH_KEY_NOT_ON_LOG, KT_EPOCH_KEY_UNTRUSTED,
   * KT_EPOCH_KEY_CONFLICT, KT_LOG_STALE (KT-FRESH-1: the view is older than the maximum age),
   * RELAY_RESPONSE_MALFORMED, or the log's and relay's errors.
   */
  async epochKey(epoch: number): Promise<Element> {
    await this.ensureFresh();
    const update = async (): Promise<void> => {
      try {
        await this.log.update();
      } catch (e) {
        // Unreachable now: what was verified before still stands (KT-5 below needs the entry to be covered).
        if (!isClientError(e, 'KT_LOG_UNAVAILABLE')) throw e;
      }
    };
    // The key and the log are read at once (start-up, issue #9). The log read may then end before the relay's
    // answer was logged: `covers` reads the log once more for an entry it does not cover yet.
    const [settledInfo, settledUpdate] = await Promise.allSettled([
      this.options.transport.epochKey(epoch),
      update(),
    ]);
    if (settledInfo.status === 'rejected') throw settledInfo.reason;
    const info = settledInfo.value;
    if (info.epoch !== epoch)
      throw new ClientError('RELAY_RESPONSE_MALFORMED', 'relay served another epoch key');
    if (settledUpdate.status === 'rejected') throw settledUpdate.reason;
    const refuse = (message: string): never => {
      throw new ClientError('KT_EPOCH_KEY_NOT_ON_LOG', message, { check: 'KT-5' });
    };
    if (!(await this.log.covers(info.logIndex))) refuse('the epoch key is not in a verified checkpoint');
    const untrusted = await this.log.untrustedEpochKeyAt(info.logIndex);
    if (untrusted !== undefined)
      throw new ClientError(
        'KT_EPOCH_KEY_UNTRUSTED',
        `the logged epoch key is not signed by k trustees of the policy in force (${untrusted.reason})`,
        { check: 'KT-8' },
      );
    await this.checkEpochUsable(epoch);
    const s = await this.log.epochKeyAt(info.logIndex);
    if (s === undefined) refuse('the log entry is not an epoch key');
    if (s!.orgId !== this.options.orgId || s!.epoch !== epoch || !equalBytes(s!.groupKey, info.groupKey))
      refuse('the logged epoch key differs from the served one');
    return decodeElement(s!.groupKey, 'epoch key');
  }

  /**
   * Throws KT_EPOCH_KEY_CONFLICT (KT-9) when the log read so far holds two different keys for `epoch`: the client
   * never chooses between them and seals to neither. Cheap (one store read): checked before every use of a cached
   * key.
   */
  async checkEpochUsable(epoch: number): Promise<void> {
    if ((await this.log.epochConflict(epoch)) !== undefined)
      throw new ClientError('KT_EPOCH_KEY_CONFLICT', 'the log holds two different keys for this epoch', {
        check: 'KT-9',
      });
  }

  /**
   * Reads the log up to its latest verified checkpoint and returns the alerts and notices not delivered yet.
   * KT_LOG_STALE (KT-FRESH-1) when that checkpoint is older than the maximum age: "no alert" would then mean
   * nothing. The events read so far stay stored and are returned by the next call that succeeds.
   */
  async monitor(): Promise<KtEvent[]> {
    await this.log.update();
    await this.requireFresh();
    await this.raiseOverdueSeals();
    return this.takeAlerts();
  }

  /**
   * Stores a `seal-overdue` alert (OVD-1) for each request of the log read so far whose seal-until in force is before
   * the client's clock with no unseal, once per request: the alert and the request's mark are one atomic batch.
   * Nothing without the relay's access key in the anchors (its unseals could not be verified).
   */
  async raiseOverdueSeals(): Promise<void> {
    const { found, mark } = await findOverdueSeals({
      store: this.options.store,
      adminKey: this.options.anchors.adminKey,
      relayKey: this.options.anchors.accessKey,
      orgId: this.options.orgId,
      now: (this.options.now ?? Date.now)(),
    });
    for (const s of found)
      await this.options.store.batch([{ key: alertKey(s.logIndex), value: sealAlertJson(s) }, mark(s)]);
  }

  /**
   * The stored alerts and notices, oldest first. Notices and the other alerts are removed from the store as they
   * are returned (shown once); an `unknown-device` alert stays and is returned by every call until it is resolved:
   * the device is approved ({@link approveDevice}) or removed on the log (client.md §8: a device someone else
   * enrolled for the user must not be forgotten because one screen showed it once).
   */
  async takeAlerts(): Promise<KtEvent[]> {
    const out: KtEvent[] = [];
    for (const k of (await this.options.store.list('kt/alert/')).sort()) {
      const bytes = await this.options.store.get(k);
      if (bytes === undefined) continue;
      const a = decodeAlert(bytes);
      out.push(a);
      if (a.kind === 'alert' && a.alert === 'unknown-device') continue;
      await this.options.store.delete(k);
    }
    return out;
  }

  /** Deletes the pending unknown-device alerts for `deviceId` (with `identityKey`: only those for that key). */
  private async resolveUnknownDevice(deviceId: string, identityKey?: Uint8Array): Promise<void> {
    for (const k of await this.options.store.list('kt/alert/')) {
      const bytes = await this.options.store.get(k);
      if (bytes === undefined) continue;
      const a = decodeAlert(bytes);
      if (a.kind !== 'alert' || a.alert !== 'unknown-device' || a.deviceId !== deviceId) continue;
      if (identityKey !== undefined && !equalBytes(a.identityKey, identityKey)) continue;
      await this.options.store.delete(k);
    }
  }

  /**
   * The user approves one of their devices (e.g. a new laptop they enrolled): no alert for it from now on.
   * With `identityKey`, only that key of the device is approved. SDK_USAGE for a malformed id or key.
   */
  async approveDevice(deviceId: string, identityKey?: Uint8Array): Promise<void> {
    if (!isDeviceId(deviceId)) throw new ClientError('SDK_USAGE', 'not a device id');
    if (identityKey !== undefined && identityKey.length !== 32)
      throw new ClientError('SDK_USAGE', 'an identity key is 32 bytes');
    await this.options.store.put(knownKey(deviceId), identityKey ?? new Uint8Array(0));
    await this.options.store.delete(forgetKey(deviceId));
    await this.resolveUnknownDevice(deviceId, identityKey);
  }

  /** The user announces the removal of one of their devices: its removal raises no alert. */
  async forgetDevice(deviceId: string): Promise<void> {
    if (!isDeviceId(deviceId)) throw new ClientError('SDK_USAGE', 'not a device id');
    await this.options.store.put(forgetKey(deviceId), new Uint8Array(0));
    await this.options.store.delete(knownKey(deviceId));
  }

  /** The user's devices this client knows: this device and the approved ones. */
  async knownDevices(): Promise<{ deviceId: string; identityKey: Uint8Array | undefined }[]> {
    const out: { deviceId: string; identityKey: Uint8Array | undefined }[] = [];
    for (const k of (await this.options.store.list('kt/known/')).sort()) {
      const key = await this.options.store.get(k);
      if (key === undefined) continue;
      if (key.length !== 0 && key.length !== 32) throw storeMalformed('stored known device');
      out.push({ deviceId: k.slice('kt/known/'.length), identityKey: key.length === 0 ? undefined : key });
    }
    return out;
  }

  /** The log's hook for what the user must see about the org's keys (KT-8, KT-9, KT-10). */
  private async record(e: DirectoryLogEvent): Promise<void> {
    let event: KtEvent;
    switch (e.type) {
      case 'policy-changed':
        event = {
          kind: 'notice',
          notice: 'policy-changed',
          serial: e.policy.policy.serial,
          previousSerial: e.previous.policy.serial,
          changes: describePolicyChange(e.previous.policy, e.policy.policy),
          logIndex: e.index,
          check: 'KT-10',
        };
        break;
      case 'epoch-key-invalid':
        event = {
          kind: 'alert',
          alert: 'epoch-key-invalid',
          epoch: e.epoch,
          reason: e.reason,
          logIndex: e.index,
          check: 'KT-8',
        };
        break;
      default:
        event = {
          kind: 'alert',
          alert: 'epoch-key-conflict',
          epoch: e.epoch,
          reason: `another key of this epoch is at log index ${e.first}`,
          logIndex: e.index,
          check: 'KT-9',
        };
    }
    await this.options.store.put(alertKey(e.index), encodeAlert(event));
  }

  /** The log's hook for each verified directory statement (KT-6, KT-7). */
  private async watch(index: number, s: DirectoryStatement): Promise<void> {
    if (s.type !== 'device' || s.statement.userId !== this.options.userId) return;
    const { deviceId, identityKey } = s.statement;
    // Entries before this device's own enrolment (client.md §8.4): the user's devices of that time. They were
    // watched by those devices (which raise KT-6/KT-7 for them), so this new device takes them as known instead
    // of alerting about its own user's older devices; from its own enrolment on, the rules below apply.
    if ((await this.options.store.get(SELF_SEEN_KEY)) === undefined) {
      const own =
        s.statement.kind === 'added' &&
        deviceId === this.options.deviceId &&
        equalBytes(identityKey, this.options.identityKey);
      if (own) await this.options.store.put(SELF_SEEN_KEY, new Uint8Array(0));
      else if (s.statement.kind === 'added') await this.options.store.put(priorKey(deviceId), identityKey);
      else await this.options.store.delete(priorKey(deviceId));
      return;
    }
    const known =
      (await this.options.store.get(knownKey(deviceId))) ??
      (await this.options.store.get(priorKey(deviceId)));
    const isKnown = known !== undefined && (known.length === 0 || equalBytes(known, identityKey));
    let alert: KtAlert['alert'] | undefined;
    if (s.statement.kind === 'added' && !isKnown) alert = 'unknown-device';
    // A device removed from the log no longer reads anything: its unknown-device alert is resolved.
    if (s.statement.kind === 'removed') await this.resolveUnknownDevice(deviceId, identityKey);
    if (s.statement.kind === 'removed' && isKnown) {
      if ((await this.options.store.get(forgetKey(deviceId))) === undefined) alert = 'device-removed';
    }
    if (alert === undefined) return;
    const a: KtAlert = {
      kind: 'alert',
      alert,
      userId: s.statement.userId,
      deviceId,
      identityKey,
      logIndex: index,
      check: alert === 'unknown-device' ? 'KT-6' : 'KT-7',
    };
    await this.options.store.put(alertKey(index), encodeAlert(a));
  }
}

function encodeAlert(a: KtEvent): Uint8Array {
  if (a.kind === 'alert' && a.alert === 'seal-overdue')
    return sealAlertJson({ ...a, requestHash: new Uint8Array(0) });
  if (a.kind === 'notice')
    return utf8Encode(
      JSON.stringify({
        notice: a.notice,
        serial: a.serial,
        previous: a.previousSerial,
        changes: a.changes,
        index: a.logIndex,
      }),
    );
  if (!('userId' in a))
    return utf8Encode(
      JSON.stringify({ alert: a.alert, epoch: a.epoch ?? null, reason: a.reason, index: a.logIndex }),
    );
  return utf8Encode(
    JSON.stringify({
      alert: a.alert,
      userId: a.userId,
      deviceId: a.deviceId,
      key: toHex(a.identityKey),
      index: a.logIndex,
    }),
  );
}

function decodeAlert(bytes: Uint8Array): KtEvent {
  try {
    const j = JSON.parse(utf8Decode(bytes));
    if (!Number.isSafeInteger(j.index) || j.index < 0) throw new Error('index');
    if (j.notice === 'policy-changed') {
      if (
        !Number.isSafeInteger(j.serial) ||
        !Number.isSafeInteger(j.previous) ||
        !Array.isArray(j.changes) ||
        j.changes.some((c: unknown) => typeof c !== 'string')
      )
        throw new Error('notice');
      return {
        kind: 'notice',
        notice: 'policy-changed',
        serial: j.serial,
        previousSerial: j.previous,
        changes: j.changes,
        logIndex: j.index,
        check: 'KT-10',
      };
    }
    if (j.alert === 'seal-overdue') {
      const requestId = fromHex(String(j.requestId));
      if (requestId.length !== 16 || !Number.isSafeInteger(j.sealUntil)) throw new Error('seal alert');
      return {
        kind: 'alert',
        alert: 'seal-overdue',
        requestId,
        sealUntil: j.sealUntil,
        logIndex: j.index,
        check: 'OVD-1',
      };
    }
    if (j.alert === 'epoch-key-invalid' || j.alert === 'epoch-key-conflict') {
      if (typeof j.reason !== 'string' || (j.epoch !== null && !Number.isSafeInteger(j.epoch)))
        throw new Error('epoch alert');
      return {
        kind: 'alert',
        alert: j.alert,
        epoch: j.epoch === null ? undefined : j.epoch,
        reason: j.reason,
        logIndex: j.index,
        check: j.alert === 'epoch-key-invalid' ? 'KT-8' : 'KT-9',
      };
    }
    const alert = j.alert === 'unknown-device' || j.alert === 'device-removed' ? j.alert : undefined;
    if (alert === undefined || typeof j.userId !== 'string' || !isDeviceId(j.deviceId))
      throw new Error('shape');
    const identityKey = fromHex(String(j.key));
    if (identityKey.length !== 32) throw new Error('key');
    return {
      kind: 'alert',
      alert,
      userId: j.userId,
      deviceId: j.deviceId,
      identityKey,
      logIndex: j.index,
      check: alert === 'unknown-device' ? 'KT-6' : 'KT-7',
    };
  } catch (cause) {
    throw storeMalformed('stored alert', cause);
  }
}
