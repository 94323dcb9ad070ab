/**
 * Key transparency in the client (docs/spec/client.md §8; DESIGN A6 "ghost device"): the authentication
 * service, the epoch-key check and log monitoring, all against the org's transparency log as {@link DirectoryLog}
 * verifies it, never against what the relay's directory says.
 *
 * - Authentication service (KT-3, KT-4): a member's credential (user id, device id, identity key) is accepted only
 *   if the log entry at the index the directory gives is an admin-signed device-added statement of this org
 *   naming exactly that user, device id and key, included in a verified checkpoint, and no removal of that device
 *   key has been read from the log. A relay that lists a device it made up, or points at another entry, is caught.
 * - Epoch keys (KT-5): before sealing to (or opening with) an epoch key, the admin-signed epoch-key statement at
 *   the index the relay names must be on the verified log, for this org and epoch, with exactly this key.
 * - Monitoring (KT-6, KT-7): every device statement about this client's own user is compared with the devices the
 *   user knows (this device, plus those approved through {@link KeyTransparency.approveDevice}); a device the
 *   user did not approve raises an `unknown-device` alert, the removal of a known device that was not announced
 *   with {@link KeyTransparency.forgetDevice} a `device-removed` alert. Alerts are stored before the checkpoint that
 *   contains their entry is saved, so a crash can repeat an alert but never lose one.
 *
 *     kt/known/<deviceId>    a device of this user the user knows: its identity key, or empty for "any key"
 *     kt/forget/<deviceId>   a removal the user announced (no alert for it)
 *     kt/alert/<logIndex>    an alert not yet delivered (JSON)
 */
import {
  type DirectoryStatement,
  decodeElement,
  type Element,
  equalBytes,
  fromHex,
  isDeviceId,
  toHex,
  utf8Decode,
  utf8Encode,
} from '@overt/core';
import { ClientError } from '../errors.js';
import type { TrustAnchors } from '../log/anchors.js';
import { DirectoryLog } from '../log/directory-log.js';
import type { MemberCredential } from '../mls/credential.js';
import type { KeyValueStore } from '../store/store.js';
import type { RelayTransport } from '../transport/relay-transport.js';

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
}

const knownKey = (deviceId: string): string => `kt/known/${deviceId}`;
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

  constructor(private readonly options: KeyTransparencyOptions) {
    this.log = new DirectoryLog({
      anchors: options.anchors,
      orgId: options.orgId,
      store: options.store,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      onStatement: (index, s) => this.watch(index, s),
    });
  }

  /** Records this device as known (once per store). */
  async init(): Promise<void> {
    const k = knownKey(this.options.deviceId);
    if ((await this.options.store.get(k)) === undefined)
      await this.options.store.put(k, this.options.identityKey);
  }

  /**
   * The authentication service's decision for one member (KT-3, KT-4). Throws KT_DEVICE_NOT_ON_LOG,
   * KT_DEVICE_REMOVED, KT_LOG_INVALID (the log itself fails verification) or KT_LOG_UNAVAILABLE / RELAY_* (could
   * not ask: transient).
   */
  async authenticate(m: MemberCredential): Promise<void> {
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
   * directory lists no enrolment), KT_DEVICE_NOT_ON_LOG (KT-3), or the log's and relay's errors.
   */
  async deviceKey(userId: string, deviceId: Uint8Array): Promise<Uint8Array> {
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
   * The epoch key the relay serves for `epoch`, accepted only with its admin-signed statement on the verified log
   * (KT-5). Throws KT_EPOCH_KEY_NOT_ON_LOG, RELAY_RESPONSE_MALFORMED, or the log's and relay's errors.
   */
  async epochKey(epoch: number): Promise<Element> {
    const info = await this.options.transport.epochKey(epoch);
    if (info.epoch !== epoch)
      throw new ClientError('RELAY_RESPONSE_MALFORMED', 'relay served another epoch key');
    const refuse = (message: string): never => {
      throw new ClientError('KT_EPOCH_KEY_NOT_ON_LOG', message, { check: 'KT-5' });
    };
    if (!(await this.log.covers(info.logIndex))) refuse('the epoch key is not in a verified checkpoint');
    const s = await this.log.epochKeyAt(info.logIndex);
    if (s === undefined) refuse('the log entry is not an admin-signed epoch key');
    if (s!.orgId !== this.options.orgId || s!.epoch !== epoch || !equalBytes(s!.groupKey, info.groupKey))
      refuse('the logged epoch key differs from the served one');
    return decodeElement(s!.groupKey, 'epoch key');
  }

  /** Reads the log up to its latest verified checkpoint and returns the alerts not delivered yet. */
  async monitor(): Promise<KtAlert[]> {
    await this.log.update();
    return this.takeAlerts();
  }

  /** The stored alerts, oldest first, removed from the store as they are returned. */
  async takeAlerts(): Promise<KtAlert[]> {
    const out: KtAlert[] = [];
    for (const k of (await this.options.store.list('kt/alert/')).sort()) {
      const bytes = await this.options.store.get(k);
      if (bytes === undefined) continue;
      out.push(decodeAlert(bytes));
      await this.options.store.delete(k);
    }
    return out;
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

  /** The log's hook for each verified directory statement (KT-6, KT-7). */
  private async watch(index: number, s: DirectoryStatement): Promise<void> {
    if (s.type !== 'device' || s.statement.userId !== this.options.userId) return;
    const { deviceId, identityKey } = s.statement;
    const known = await this.options.store.get(knownKey(deviceId));
    const isKnown = known !== undefined && (known.length === 0 || equalBytes(known, identityKey));
    let alert: KtAlert['alert'] | undefined;
    if (s.statement.kind === 'added' && !isKnown) alert = 'unknown-device';
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

function encodeAlert(a: KtAlert): Uint8Array {
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

function decodeAlert(bytes: Uint8Array): KtAlert {
  try {
    const j = JSON.parse(utf8Decode(bytes));
    const alert = j.alert === 'unknown-device' || j.alert === 'device-removed' ? j.alert : undefined;
    if (alert === undefined || typeof j.userId !== 'string' || !isDeviceId(j.deviceId))
      throw new Error('shape');
    if (!Number.isSafeInteger(j.index) || j.index < 0) throw new Error('index');
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
