/**
 * The relay's envelope ingest rules (docs/spec/relay.md §6.7; DESIGN A15): one function that both upload paths
 * run — `PUT /v1/envelopes/:id` (service.ts) and the WebSocket send frame (pipeline.ts) — so an envelope refused
 * on one path is refused on the other with the same check ID. On the decoded header, cheapest first:
 *
 *  1. RLY-12 the send time is fresh (before any date is computed from it);
 *  2. RLY-11 the header's epoch is the calendar month of the send time;
 *  3. RLY-17 that epoch's key is published;
 *  4. RLY-15 the org is this relay's;
 *  5. RLY-10 the sender is the authenticated device;
 *  6. RLY-14 the payload is within the relay's limit;
 *  7. RLY-19 the conversation is a group this relay serves (a made-up conversation is refused);
 *  8. DS-3 (send frame only) the group is at the MLS message's epoch;
 *  9. DS-5 the sending device is a member of the group at its current epoch;
 * 10. RLY-15 the recipients are exactly the members' users, sorted.
 *
 * What passes yields the context of core's ingest check (envelope.md §6.3), which the caller runs next: the
 * sender signature under the authenticated device's key (ENV-20 → RLY-20), the capsule's validity (ENV-18 →
 * RLY-13) and the ciphertext digest (ENV-12 → RLY-14), with core's own header checks again.
 *
 * Rosters are cached per (group, epoch): a roster never changes within an epoch (a commit starts a new one).
 * Published epoch keys never change either.
 */
import { decodeElement, equalBytes, type Header, type IngestContext, utf8Encode } from '@overt/core';
import { calendarMonthEpoch } from '../epochs.js';
import { RelayError } from '../errors.js';
import type { DeviceRecord, RelayStorage } from '../storage/storage.js';

export interface IngestRulesOptions {
  readonly storage: RelayStorage;
  readonly orgId: string;
  readonly now: () => number;
  /** Largest accepted |now − sendTime| (RLY-12). */
  readonly envelopeSkewMs: number;
  /** The relay's payload limit (RLY-14). */
  readonly maxPayloadBytes: number;
}

/** What the rules established about one envelope: everything core's ingest check needs besides the bytes. */
export interface RuledEnvelope {
  /** The relay's clock when the rules ran. */
  readonly now: number;
  /** The header's epoch: the calendar month of its send time. */
  readonly epoch: number;
  /** Y_e of that epoch (32 bytes, published). */
  readonly epochKey: Uint8Array;
  /** The conversation's members' users, sorted: the header's recipients equal these. */
  readonly members: readonly string[];
}

interface Roster {
  readonly epoch: number;
  readonly devices: readonly string[];
  /** The members' users, sorted and de-duplicated. */
  readonly users: readonly string[];
}

const ROSTER_CACHE_MAX = 10_000;

function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

function context(what: string): RelayError {
  return new RelayError('ENV_CONTEXT', `envelope refused: ${what}`, { check: 'RLY-15' });
}

export class IngestRules {
  private readonly rosters = new Map<string, Roster>();
  private readonly epochKeys = new Map<number, Uint8Array>();

  constructor(private readonly o: IngestRulesOptions) {}

  get envelopeSkewMs(): number {
    return this.o.envelopeSkewMs;
  }

  get maxPayloadBytes(): number {
    return this.o.maxPayloadBytes;
  }

  /**
   * Runs rules 1–10 on a decoded header uploaded by `device`. `mlsEpoch` is the epoch of the MLS message a send
   * frame carries with the envelope (DS-3); an HTTP upload has none and is checked against the group's current
   * epoch. Throws the RelayError of the first rule that fails.
   */
  async check(device: DeviceRecord, header: Header, mlsEpoch?: number): Promise<RuledEnvelope> {
    const now = this.o.now();
    if (Math.abs(now - header.sendTime) > this.o.envelopeSkewMs)
      throw new RelayError('ENV_TIME', 'envelope refused: the send time is not fresh', { check: 'RLY-12' });
    if (header.epoch !== calendarMonthEpoch(header.sendTime))
      throw new RelayError('ENV_EPOCH', 'envelope refused: the epoch is not the one of the send time', {
        check: 'RLY-11',
      });
    const epochKey = await this.epochKey(header.epoch);
    if (header.orgId !== this.o.orgId) throw context('another organisation');
    if (
      header.senderUserId !== device.userId ||
      !equalBytes(header.senderDeviceId, utf8Encode(device.deviceId))
    )
      throw new RelayError('ENV_SENDER', 'envelope refused: the sender is not the authenticated device', {
        check: 'RLY-10',
      });
    if (header.payloadLength > this.o.maxPayloadBytes)
      throw new RelayError('ENV_MALFORMED', 'envelope refused: payload exceeds the relay limit', {
        check: 'RLY-14',
      });
    const roster = await this.roster(header.conversationId, mlsEpoch);
    if (!roster.devices.includes(device.deviceId))
      throw new RelayError('DS_NOT_MEMBER', 'the device is not a member of the conversation', {
        check: 'DS-5',
      });
    const r = header.recipients;
    if (roster.users.length !== r.length || roster.users.some((u, i) => u !== r[i]))
      throw context('the recipients are not the conversation members');
    return { now, epoch: header.epoch, epochKey, members: roster.users };
  }

  /** Core's ingest context for an envelope that passed {@link check}, sent by `device`. */
  coreContext(device: DeviceRecord, ruled: RuledEnvelope): IngestContext {
    return {
      orgId: this.o.orgId,
      epoch: ruled.epoch,
      epochKey: decodeElement(ruled.epochKey, 'epoch key'),
      senderUserId: device.userId,
      senderDeviceId: utf8Encode(device.deviceId),
      senderKey: device.identityKey,
      now: ruled.now,
      maxClockSkewMs: this.o.envelopeSkewMs,
      maxPayloadBytes: this.o.maxPayloadBytes,
      members: ruled.members,
    };
  }

  /** The published key of an epoch (RLY-17); published keys never change, so they are cached. */
  private async epochKey(epoch: number): Promise<Uint8Array> {
    const cached = this.epochKeys.get(epoch);
    if (cached !== undefined) return cached;
    const k = await this.o.storage.getEpochKey(epoch);
    if (k === undefined)
      throw new RelayError('EPOCH_KEY_NOT_PUBLISHED', 'no key is published for the current epoch', {
        check: 'RLY-17',
      });
    this.epochKeys.set(epoch, k.groupKey);
    return k.groupKey;
  }

  /**
   * The roster of the conversation at `epoch`, or at the group's current epoch when none is given. RLY-19 when the
   * relay serves no such group; DS-3 when the group is at another epoch than the given one.
   */
  private async roster(groupId: Uint8Array, epoch: number | undefined): Promise<Roster> {
    if (epoch !== undefined) {
      const cached = this.rosters.get(`${hex(groupId)}/${epoch}`);
      if (cached !== undefined) return cached;
    }
    const group = await this.o.storage.getGroup(groupId);
    if (group === undefined)
      throw new RelayError('DS_GROUP_UNKNOWN', 'envelope refused: no such conversation', { check: 'RLY-19' });
    if (epoch !== undefined && group.epoch !== epoch)
      throw new RelayError('DS_EPOCH_MISMATCH', 'the message is not for the group current epoch', {
        check: 'DS-3',
      });
    const key = `${hex(groupId)}/${group.epoch}`;
    const cached = this.rosters.get(key);
    if (cached !== undefined) return cached;
    const users = new Set<string>();
    for (const d of group.members) {
      const rec = await this.o.storage.getDevice(d);
      if (rec !== undefined) users.add(rec.userId);
    }
    const roster: Roster = { epoch: group.epoch, devices: group.members, users: [...users].sort() };
    if (this.rosters.size >= ROSTER_CACHE_MAX) this.rosters.clear();
    this.rosters.set(key, roster);
    return roster;
  }
}
