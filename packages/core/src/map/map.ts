/**
 * The key-transparency map (docs/spec/directory.md §7): user id → current device set, in a prefix tree keyed by
 * the VRF of the user id, its root published at each map epoch as a log entry of type 13 chained to the previous
 * epoch's. This file holds the formats (map value, map root entry, lookup and monitoring proofs), their verifiers
 * (what a client runs: {@link verifyLookup}, {@link verifyMonitorProof}) and the operator's {@link MapBuilder}.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { compareBytes, concatBytes, equalBytes, fromHex } from '../bytes.js';
import { Reader, Writer } from '../codec.js';
import { InternalError, isOvertError, OvertError } from '../errors.js';
import { isDeviceId, isOrgId, isUserId } from '../ids.js';
import { isValidVrfPublicKey, VRF_PROOF_LENGTH, vrfProve, vrfPublicKey, vrfVerify } from '../vrf/ecvrf.js';
import { MAP_ROOT_ENTRY_TYPE } from './constants.js';
import {
  asMalformed,
  foldPrefixPath,
  MAP_MAX_DEPTH,
  PREFIX_RESULT,
  type PrefixProof,
  PrefixTree,
  type PrefixTreeOptions,
  prefixLeafHash,
  prefixProofRoot,
  readPrefixProof,
} from './prefix-tree.js';

/** KT §17.1 `Kc`: the HMAC key of commitments (the same for both KT cipher suites). */
export const KT_COMMITMENT_KEY = fromHex('d821f8790d97709796b4d7903357c3f5');
/** KT §17.1 `Nc`: bytes of a commitment opening. */
export const MAP_OPENING_LENGTH = 16;
const Z = new Uint8Array(32);

function fail(
  code: 'MAP_VALUE_INVALID' | 'MAP_ENTRY_INVALID' | 'MAP_MONITOR_INVALID' | 'MAP_PROOF_INVALID',
  check: string,
  m: string,
): never {
  throw new OvertError(code, m, { check });
}

/** Runs a decoder, turning codec errors into `code`. */
function decoding<T>(
  code: 'MAP_VALUE_INVALID' | 'MAP_ENTRY_INVALID' | 'MAP_MONITOR_INVALID',
  check: string,
  f: () => T,
): T {
  try {
    return f();
  } catch (e) {
    if (isOvertError(e) && e.code.startsWith('CODEC_'))
      throw new OvertError(code, e.message, { check, cause: e });
    throw e;
  }
}

function ascii(b: Uint8Array): string {
  let s = '';
  for (const c of b) s += String.fromCharCode(c);
  return s;
}

function asciiBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Labels, indices, commitments (§7.2, §7.3).

/** The VRF input of a user id: `u8(len) ‖ ASCII` (KT `VrfInput` without the version). */
export function mapLabel(userId: string): Uint8Array {
  if (!isUserId(userId)) throw new InternalError('map label must be a valid user id');
  return concatBytes(Uint8Array.of(userId.length), asciiBytes(userId));
}

/** `HMAC-SHA256(Kc, opening ‖ u8 len(label) ‖ label ‖ u32 version ‖ u32 len(value) ‖ value)` (KT §11.6). */
export function mapCommitment(
  opening: Uint8Array,
  userId: string,
  version: number,
  value: Uint8Array,
): Uint8Array {
  if (opening.length !== MAP_OPENING_LENGTH) throw new InternalError('opening must be 16 bytes');
  const w = new Writer(64 + value.length);
  w.bytes(opening);
  w.bytes(mapLabel(userId));
  w.u32(version);
  w.vec32(value);
  return hmac(sha256, KT_COMMITMENT_KEY, w.finish());
}

/** The operator's derived opening (§7.3): `HMAC-SHA256(secret, label ‖ u32 version)[0:16]`. */
export function deriveMapOpening(commitSecret: Uint8Array, userId: string, version: number): Uint8Array {
  const w = new Writer(40);
  w.bytes(mapLabel(userId));
  w.u32(version);
  return hmac(sha256, commitSecret, w.finish()).slice(0, MAP_OPENING_LENGTH);
}

// ---------------------------------------------------------------------------------------------------------------
// Map values (§7.3, MAP-6).

export interface MapDevice {
  readonly deviceId: string;
  readonly identityKey: Uint8Array;
  /** Log index of the device's `device_added` entry. */
  readonly addedIndex: number;
}

export interface MapValue {
  /** Log index of the directory entry that produced this version. */
  readonly statementIndex: number;
  /** Sorted by device id bytes, strictly increasing. */
  readonly devices: readonly MapDevice[];
}

function isIndex(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/** Encodes a map value; devices are sorted here. Throws InternalError for an invalid value (a bug in the caller). */
export function encodeMapValue(v: MapValue): Uint8Array {
  const devices = [...v.devices].sort((a, b) => compareBytes(asciiBytes(a.deviceId), asciiBytes(b.deviceId)));
  if (!isIndex(v.statementIndex) || devices.length > 0xffff) throw new InternalError('invalid map value');
  const w = new Writer(16 + devices.length * 80);
  w.u8(1);
  w.u64(v.statementIndex);
  w.u16(devices.length);
  let prev = '';
  for (const d of devices) {
    if (
      !isDeviceId(d.deviceId) ||
      d.identityKey.length !== 32 ||
      !isIndex(d.addedIndex) ||
      d.deviceId === prev
    ) {
      throw new InternalError('invalid map device');
    }
    prev = d.deviceId;
    w.vec8(asciiBytes(d.deviceId));
    w.bytes(d.identityKey);
    w.u64(d.addedIndex);
  }
  return w.finish();
}

/** Decodes a map value canonically. Throws MAP_VALUE_INVALID (MAP-6). */
export function decodeMapValue(bytes: Uint8Array): MapValue {
  const bad = (m: string): never => fail('MAP_VALUE_INVALID', 'MAP-6', m);
  return decoding('MAP_VALUE_INVALID', 'MAP-6', () => {
    const r = new Reader(bytes);
    if (r.u8('map value version') !== 1) bad('unknown map value version');
    const statementIndex = r.u64('statement index');
    const n = r.u16('device count');
    const devices: MapDevice[] = [];
    let prev: Uint8Array | undefined;
    for (let i = 0; i < n; i++) {
      const id = r.vec8('device id', 64);
      const deviceId = ascii(id);
      if (!isDeviceId(deviceId)) bad('device id is not in its alphabet');
      if (prev !== undefined && compareBytes(prev, id) >= 0) bad('devices are not strictly sorted');
      prev = id;
      devices.push({ deviceId, identityKey: r.bytes(32, 'identity key'), addedIndex: r.u64('added index') });
    }
    r.finish('map value');
    return { statementIndex, devices };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Map root entries (§7.5, MAP-5, MAP-7, MAP-9).

export interface MapRootEntry {
  readonly orgId: string;
  readonly vrfPublicKey: Uint8Array;
  readonly epoch: number;
  readonly timeMs: number;
  readonly coveredSize: number;
  readonly prefixRoot: Uint8Array;
  readonly prevEntryHash: Uint8Array;
}

/** The whole log entry `u8(13) ‖ body`. */
export function encodeMapRootEntry(e: MapRootEntry): Uint8Array {
  if (!isOrgId(e.orgId) || ![e.epoch, e.timeMs, e.coveredSize].every(isIndex)) {
    throw new InternalError('invalid map root entry');
  }
  const w = new Writer(256);
  w.u8(MAP_ROOT_ENTRY_TYPE);
  w.u8(1);
  w.vec8(asciiBytes(e.orgId));
  w.bytes(e.vrfPublicKey);
  w.u64(e.epoch);
  w.u64(e.timeMs);
  w.u64(e.coveredSize);
  w.bytes(e.prefixRoot);
  w.bytes(e.prevEntryHash);
  return w.finish();
}

/** Decodes a map root log entry (with its type byte). Throws MAP_ENTRY_INVALID (MAP-5). */
export function decodeMapRootEntry(entry: Uint8Array): MapRootEntry {
  const bad = (m: string): never => fail('MAP_ENTRY_INVALID', 'MAP-5', m);
  if (!(entry instanceof Uint8Array)) bad('map root entry must be bytes');
  return decoding('MAP_ENTRY_INVALID', 'MAP-5', () => {
    const r = new Reader(entry);
    if (r.u8('entry type') !== MAP_ROOT_ENTRY_TYPE) bad('not a map root entry');
    if (r.u8('map root version') !== 1) bad('unknown map root entry version');
    const orgId = ascii(r.vec8('org id'));
    if (!isOrgId(orgId)) bad('org id is invalid');
    const vrfPublicKey = r.bytes(32, 'VRF public key');
    if (!isValidVrfPublicKey(vrfPublicKey)) bad('VRF public key is invalid');
    const e: MapRootEntry = {
      orgId,
      vrfPublicKey,
      epoch: r.u64('epoch'),
      timeMs: r.u64('time'),
      coveredSize: r.u64('covered size'),
      prefixRoot: r.bytes(32, 'prefix root'),
      prevEntryHash: r.bytes(32, 'previous entry hash'),
    };
    r.finish('map root entry');
    if (e.epoch === 0 && !equalBytes(e.prevEntryHash, Z)) bad('epoch 0 names a previous entry');
    return e;
  });
}

/** The RFC 6962 leaf hash of an encoded entry, `SHA-256(0x00 ‖ entry)`: what the next epoch's entry names. */
export function mapEntryHash(entry: Uint8Array): Uint8Array {
  return sha256(concatBytes(Uint8Array.of(0), entry));
}

/**
 * Checks that `next` is the next link after `prev` (whose encoded entry hashes to `prevHash`): epoch + 1, the
 * previous hash, the same org and VRF key, time and covered size non-decreasing. Throws MAP_MONITOR_INVALID
 * (MAP-7, MAP-9).
 */
export function checkMapChain(prev: MapRootEntry, prevHash: Uint8Array, next: MapRootEntry): void {
  if (next.epoch !== prev.epoch + 1) fail('MAP_MONITOR_INVALID', 'MAP-7', 'map epochs are not consecutive');
  if (!equalBytes(next.prevEntryHash, prevHash)) fail('MAP_MONITOR_INVALID', 'MAP-7', 'map chain is broken');
  if (next.orgId !== prev.orgId) fail('MAP_MONITOR_INVALID', 'MAP-7', 'map chain changes org');
  if (!equalBytes(next.vrfPublicKey, prev.vrfPublicKey))
    fail('MAP_MONITOR_INVALID', 'MAP-9', 'map VRF key changed');
  if (next.timeMs < prev.timeMs || next.coveredSize < prev.coveredSize) {
    fail('MAP_MONITOR_INVALID', 'MAP-7', 'map time or covered size went back');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Lookup (§7.6).

export type LookupResult =
  | { readonly present: false; readonly index: Uint8Array }
  | {
      readonly present: true;
      readonly index: Uint8Array;
      readonly version: number;
      readonly value: MapValue;
      readonly valueBytes: Uint8Array;
      readonly opening: Uint8Array;
      readonly commitment: Uint8Array;
      readonly proof: PrefixProof;
    };

/**
 * Verifies a lookup proof for `userId` against a map root entry the caller has verified in a checkpoint (§7.6:
 * MAP-1, MAP-2, MAP-3, MAP-4, MAP-6). Throws VRF_PROOF_INVALID, MAP_PROOF_MALFORMED, MAP_PROOF_INVALID or
 * MAP_VALUE_INVALID.
 */
export function verifyLookup(entry: MapRootEntry, userId: string, proof: Uint8Array): LookupResult {
  if (!(proof instanceof Uint8Array))
    throw new OvertError('MAP_PROOF_MALFORMED', 'lookup proof must be bytes', { check: 'MAP-2' });
  const r = new Reader(proof);
  const pi = asMalformed('lookup proof', () => r.bytes(VRF_PROOF_LENGTH, 'VRF proof'));
  const p = readPrefixProof(r);
  let tail: { version: number; opening: Uint8Array; valueBytes: Uint8Array } | undefined;
  if (p.result === PREFIX_RESULT.inclusion) {
    tail = asMalformed('lookup proof', () => ({
      version: r.u32('version'),
      opening: r.bytes(MAP_OPENING_LENGTH, 'opening'),
      valueBytes: r.vec32('value', 0xffff),
    }));
  }
  asMalformed('lookup proof', () => r.finish('lookup proof'));
  const index = vrfVerify(entry.vrfPublicKey, mapLabel(userId), pi).slice(0, 32);
  if (tail === undefined) {
    if (!equalBytes(prefixProofRoot(p, index), entry.prefixRoot)) {
      fail('MAP_PROOF_INVALID', 'MAP-3', 'absence proof does not reach the map root');
    }
    return { present: false, index };
  }
  const commitment = mapCommitment(tail.opening, userId, tail.version, tail.valueBytes);
  if (!equalBytes(prefixProofRoot(p, index, commitment), entry.prefixRoot)) {
    fail('MAP_PROOF_INVALID', 'MAP-4', 'lookup does not open the committed leaf under the map root');
  }
  const value = decodeMapValue(tail.valueBytes);
  return {
    present: true,
    index,
    version: tail.version,
    value,
    valueBytes: tail.valueBytes,
    opening: tail.opening,
    commitment,
    proof: p,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Owner monitoring (§7.7).

/** What an owner retains between monitoring rounds. */
export interface MonitorState {
  readonly entry: MapRootEntry;
  readonly entryHash: Uint8Array;
  readonly userId: string;
  readonly index: Uint8Array;
  readonly version: number;
  readonly commitment: Uint8Array;
  readonly depth: number;
  readonly siblings: readonly Uint8Array[];
}

/** The owner's state after a verified lookup of its own label (present) at a verified map root entry. */
export function monitorStateFromLookup(
  entryBytes: Uint8Array,
  userId: string,
  lookup: LookupResult,
): MonitorState {
  if (!lookup.present) throw new InternalError('an owner monitors a label that is present');
  return {
    entry: decodeMapRootEntry(entryBytes),
    entryHash: mapEntryHash(entryBytes),
    userId,
    index: lookup.index,
    version: lookup.version,
    commitment: lookup.commitment,
    depth: lookup.proof.depth,
    siblings: lookup.proof.siblings,
  };
}

export interface MonitorChange {
  readonly epoch: number;
  readonly version: number;
  readonly value: MapValue;
}

/**
 * Verifies a monitoring proof from `state` (§7.7; MAP-2, MAP-6, MAP-7, MAP-8, MAP-9). Returns the new state (its
 * `entry` is the last epoch's rebuilt map root entry: the caller proves `encodeMapRootEntry(state.entry)` included
 * in a verified checkpoint before keeping it) and every version change seen, for the owner to compare with the
 * devices it enrolled. Throws MAP_PROOF_MALFORMED, MAP_MONITOR_INVALID or MAP_VALUE_INVALID.
 */
export function verifyMonitorProof(
  state: MonitorState,
  proof: Uint8Array,
): { state: MonitorState; changes: MonitorChange[] } {
  const bad = (m: string, check = 'MAP-8'): never => fail('MAP_MONITOR_INVALID', check, m);
  if (!(proof instanceof Uint8Array)) bad('monitoring proof must be bytes');
  const r = new Reader(proof);
  const count = asMalformed('monitoring proof', () => r.u32('step count'));
  const changes: MonitorChange[] = [];
  let s = state;
  for (let i = 0; i < count; i++) {
    const step = asMalformed('monitoring step', () => {
      const timeMs = r.u64('time');
      const coveredSize = r.u64('covered size');
      const changed = r.u8('changed');
      if (changed > 1) bad('changed flag is not 0 or 1');
      let update: { version: number; opening: Uint8Array; valueBytes: Uint8Array } | undefined;
      if (changed === 1) {
        update = {
          version: r.u32('version'),
          opening: r.bytes(MAP_OPENING_LENGTH, 'opening'),
          valueBytes: r.vec32('value', 0xffff),
        };
      }
      const depth = r.u16('depth');
      if (depth > MAP_MAX_DEPTH || depth < s.depth) bad('leaf depth shrank or is out of range');
      const mask = r.bytes(Math.ceil(depth / 8), 'mask');
      const siblings: Uint8Array[] = [];
      for (let k = 0; k < depth; k++) {
        const sent = (mask[k >> 3]! >> (7 - (k & 7))) & 1;
        if (sent === 1) siblings.push(r.bytes(32, 'sibling'));
        else if (k < s.depth) siblings.push(s.siblings[k]!);
        else bad('a sibling below the retained depth is missing');
      }
      if (depth % 8 !== 0 && (mask[mask.length - 1]! & ((1 << (8 - (depth % 8))) - 1)) !== 0)
        bad('mask bits past the depth are set');
      return { timeMs, coveredSize, update, depth, siblings };
    });
    let version = s.version;
    let commitment = s.commitment;
    if (step.update !== undefined) {
      if (step.update.version !== s.version + 1) bad('a change is not the next version');
      const value = decodeMapValue(step.update.valueBytes);
      version = step.update.version;
      commitment = mapCommitment(step.update.opening, s.userId, version, step.update.valueBytes);
      changes.push({ epoch: s.entry.epoch + 1, version, value });
    }
    const prefixRoot = foldPrefixPath(
      s.index,
      prefixLeafHash(s.index, commitment),
      step.depth,
      step.siblings,
    );
    const entry: MapRootEntry = {
      orgId: s.entry.orgId,
      vrfPublicKey: s.entry.vrfPublicKey,
      epoch: s.entry.epoch + 1,
      timeMs: step.timeMs,
      coveredSize: step.coveredSize,
      prefixRoot,
      prevEntryHash: s.entryHash,
    };
    checkMapChain(s.entry, s.entryHash, entry);
    s = {
      ...s,
      entry,
      entryHash: mapEntryHash(encodeMapRootEntry(entry)),
      version,
      commitment,
      depth: step.depth,
      siblings: step.siblings,
    };
  }
  asMalformed('monitoring proof', () => r.finish('monitoring proof'));
  return { state: s, changes };
}

// ---------------------------------------------------------------------------------------------------------------
// The operator's builder.

interface LabelVersion {
  readonly epoch: number;
  readonly version: number;
  readonly opening: Uint8Array;
  readonly value: Uint8Array;
}

interface LabelRecord {
  readonly vrfProof: Uint8Array;
  readonly index: Uint8Array;
  readonly versions: LabelVersion[];
}

export interface MapBuilderOptions extends PrefixTreeOptions {
  readonly orgId: string;
  /** The VRF secret key (32 bytes). */
  readonly vrfSecretKey: Uint8Array;
  /** The secret openings are derived from (§7.3). */
  readonly commitSecret: Uint8Array;
}

/**
 * The map operator (the relay): applies each epoch's directory changes as one batch, publishes the epoch's map root
 * entry, and answers lookups and owners' monitoring at any published epoch. In memory; rebuilt from the log.
 */
export class MapBuilder {
  readonly tree: PrefixTree;
  private readonly labels = new Map<string, LabelRecord>();
  private readonly entries: Uint8Array[] = [];
  private readonly decoded: MapRootEntry[] = [];
  readonly vrfPublicKey: Uint8Array;

  constructor(private readonly options: MapBuilderOptions) {
    if (!isOrgId(options.orgId)) throw new InternalError('invalid org id');
    this.tree = new PrefixTree(options.sha256 ? { sha256: options.sha256 } : {});
    this.vrfPublicKey = vrfPublicKey(options.vrfSecretKey);
  }

  /** Published epochs. */
  get epochs(): number {
    return this.entries.length;
  }

  /** The encoded map root entry of `epoch` (default: the last). */
  entry(epoch = this.entries.length - 1): Uint8Array {
    const e = this.entries[epoch];
    if (e === undefined) throw new InternalError(`no map epoch ${epoch}`);
    return e;
  }

  private record(userId: string): LabelRecord {
    let rec = this.labels.get(userId);
    if (rec === undefined) {
      const vrfProof = vrfProve(this.options.vrfSecretKey, mapLabel(userId));
      rec = {
        vrfProof,
        index: vrfVerify(this.vrfPublicKey, mapLabel(userId), vrfProof).slice(0, 32),
        versions: [],
      };
      this.labels.set(userId, rec);
    }
    return rec;
  }

  /**
   * Publishes the next epoch: each changed user's final value for the epoch becomes its next version (§7.3 batch
   * update). Returns the encoded map root entry, to append to the log. Throws MAP_UPDATE_INVALID when a user
   * appears twice in one batch or covered size / time go back.
   */
  publish(
    changes: readonly { userId: string; value: MapValue }[],
    timeMs: number,
    coveredSize: number,
  ): Uint8Array {
    const epoch = this.entries.length;
    const prev = this.decoded[epoch - 1];
    if (prev !== undefined && (timeMs < prev.timeMs || coveredSize < prev.coveredSize)) {
      throw new OvertError('MAP_UPDATE_INVALID', 'map time or covered size went back');
    }
    const seen = new Set<string>();
    for (const { userId, value } of changes) {
      if (seen.has(userId)) throw new OvertError('MAP_UPDATE_INVALID', 'a user changes twice in one epoch');
      seen.add(userId);
      const rec = this.record(userId);
      const version = rec.versions.length === 0 ? 0 : rec.versions[rec.versions.length - 1]!.version + 1;
      const opening = deriveMapOpening(this.options.commitSecret, userId, version);
      const bytes = encodeMapValue(value);
      rec.versions.push({ epoch, version, opening, value: bytes });
      this.tree.set(rec.index, mapCommitment(opening, userId, version, bytes));
    }
    if (this.tree.epochs !== epoch) throw new InternalError('map and tree epochs disagree');
    const prefixRoot = this.tree.commit();
    const e: MapRootEntry = {
      orgId: this.options.orgId,
      vrfPublicKey: this.vrfPublicKey,
      epoch,
      timeMs,
      coveredSize,
      prefixRoot,
      prevEntryHash: epoch === 0 ? Z : mapEntryHash(this.entries[epoch - 1]!),
    };
    const bytes = encodeMapRootEntry(e);
    this.entries.push(bytes);
    this.decoded.push(e);
    return bytes;
  }

  private versionAt(rec: LabelRecord, epoch: number): LabelVersion | undefined {
    let found: LabelVersion | undefined;
    for (const v of rec.versions) if (v.epoch <= epoch) found = v;
    return found;
  }

  /** The lookup proof of `userId` at `epoch` (§7.6). A user never seen gets a VRF proof too (absence). */
  lookup(userId: string, epoch = this.entries.length - 1): Uint8Array {
    if (epoch < 0 || epoch >= this.entries.length) throw new InternalError(`no map epoch ${epoch}`);
    const rec = this.labels.get(userId) ?? this.probe(userId);
    const p = this.tree.prove(rec.index, epoch);
    const v = this.versionAt(rec, epoch);
    if (v === undefined) return concatBytes(rec.vrfProof, p);
    const w = new Writer(32 + v.value.length);
    w.u32(v.version);
    w.bytes(v.opening);
    w.vec32(v.value);
    return concatBytes(rec.vrfProof, p, w.finish());
  }

  /** A label's VRF proof and index (its proof is verified once, so an index never comes from a bad proof). */
  private probe(userId: string): LabelRecord {
    const vrfProof = vrfProve(this.options.vrfSecretKey, mapLabel(userId));
    return {
      vrfProof,
      index: vrfVerify(this.vrfPublicKey, mapLabel(userId), vrfProof).slice(0, 32),
      versions: [],
    };
  }

  /** The owner's monitoring proof from epoch `from` (which it has verified) to `to` (§7.7). */
  monitor(userId: string, from: number, to = this.entries.length - 1): Uint8Array {
    const rec = this.labels.get(userId);
    if (rec === undefined || this.versionAt(rec, from) === undefined)
      throw new InternalError('monitoring a label absent at the start');
    if (!(from < to) || to >= this.entries.length) throw new InternalError('bad monitoring range');
    const w = new Writer(1024);
    w.u32(to - from);
    let prev = this.tree.proof(rec.index, from);
    for (let e = from + 1; e <= to; e++) {
      const d = this.decoded[e]!;
      w.u64(d.timeMs);
      w.u64(d.coveredSize);
      const v = this.versionAt(rec, e)!;
      if (v.epoch === e) {
        w.u8(1);
        w.u32(v.version);
        w.bytes(v.opening);
        w.vec32(v.value);
      } else w.u8(0);
      const p = this.tree.proof(rec.index, e);
      w.u16(p.depth);
      const mask = new Uint8Array(Math.ceil(p.depth / 8));
      const sent: Uint8Array[] = [];
      for (let k = 0; k < p.depth; k++) {
        if (k >= prev.depth || !equalBytes(prev.siblings[k]!, p.siblings[k]!)) {
          mask[k >> 3]! |= 1 << (7 - (k & 7));
          sent.push(p.siblings[k]!);
        }
      }
      w.bytes(mask);
      for (const s of sent) w.bytes(s);
      prev = p;
    }
    return w.finish();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// From directory statements to map values (§7.3 "batch update"; the relay's publishing and MAP-10's replay).

/**
 * The user's map value after a verified device statement at log index `logIndex` (§7.3): an addition puts the
 * device (replacing an earlier key under the same device id); a removal drops the device if it holds exactly that
 * key. Returns undefined when the statement changes nothing (a removal of a device or key the user does not have),
 * so no new version is made for it.
 */
export function mapValueAfter(
  prev: MapValue | undefined,
  statement: {
    readonly kind: 'added' | 'removed';
    readonly deviceId: string;
    readonly identityKey: Uint8Array;
  },
  logIndex: number,
): MapValue | undefined {
  const devices = prev?.devices ?? [];
  if (statement.kind === 'added') {
    const kept = devices.filter((d) => d.deviceId !== statement.deviceId);
    const added = {
      deviceId: statement.deviceId,
      identityKey: statement.identityKey.slice(),
      addedIndex: logIndex,
    };
    return { statementIndex: logIndex, devices: sortDevices([...kept, added]) };
  }
  const kept = devices.filter(
    (d) => !(d.deviceId === statement.deviceId && equalBytes(d.identityKey, statement.identityKey)),
  );
  if (kept.length === devices.length) return undefined;
  return { statementIndex: logIndex, devices: kept };
}

function sortDevices(devices: MapDevice[]): MapDevice[] {
  return devices.sort((a, b) => compareBytes(asciiBytes(a.deviceId), asciiBytes(b.deviceId)));
}

/**
 * Folds one epoch's verified device statements (in log order) into the users' current values: the batch that
 * {@link MapBuilder.publish} takes, one final value per changed user. `current` is read, not modified.
 */
export function mapEpochChanges(
  current: ReadonlyMap<string, MapValue>,
  statements: readonly {
    readonly index: number;
    readonly statement: {
      readonly kind: 'added' | 'removed';
      readonly userId: string;
      readonly deviceId: string;
      readonly identityKey: Uint8Array;
    };
  }[],
): { userId: string; value: MapValue }[] {
  const changed = new Map<string, MapValue>();
  for (const { index, statement } of statements) {
    const prev = changed.get(statement.userId) ?? current.get(statement.userId);
    const next = mapValueAfter(prev, statement, index);
    if (next !== undefined) changed.set(statement.userId, next);
  }
  return [...changed].map(([userId, value]) => ({ userId, value }));
}
