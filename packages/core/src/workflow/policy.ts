/**
 * The organisation's access policy (DESIGN §3, docs/spec/workflow.md §2): trustees with their keys and
 * indices, the threshold k, the witnesses and their quorum, the authorised requesters, the per-request
 * limits (A11), the epoch length and the retention period. Signed by the organisation and published on the
 * log; every trustee checks requests against the policy it verified, never against one handed to it unsigned.
 */
import { toHex } from '../bytes.js';
import { Reader, Writer } from '../codec.js';
import {
  decodeAs,
  isFixedBytes,
  isIdString,
  isMillis,
  isPrintable,
  isSortedUniqueStrings,
  isUint,
  ORG_ID_MAX,
  readIdString,
  readPrintable,
  USER_ID_MAX,
  writeAscii,
} from '../envelope/fields.js';
import { OvertError } from '../errors.js';
import { taggedHash } from '../hash.js';
import { SIGNING_PUBLIC_KEY_BYTES, type SigningKeyPair } from '../sign.js';
import { MAX_PARTICIPANTS } from '../threshold.js';
import { decodeSigned, requireSignature, signBody } from './signed.js';

export const POLICY_VERSION = 1;
/** Policy body version 2 appends the recorded group and the longest order (after-release.md §8.1). */
export const POLICY_VERSION_RECORDED = 2;
export const MAX_RECORDED = 4096;
export const TAG_POLICY_SIGNATURE = 'overt/workflow/v1/policy';
export const TAG_POLICY_HASH = 'overt/workflow/v1/policy-hash';
export const MAX_WITNESSES = 32;
export const MAX_REQUESTERS = 256;
export const NAME_MAX = 64;
export const WITNESS_NAME_MAX = 128;
/** An HPKE public key (RFC 9180 §7.1: X25519 32 bytes … P-521 133 bytes). */
export const ENCRYPTION_KEY_MIN = 32;
export const ENCRYPTION_KEY_MAX = 133;
export const MAX_POLICY_BYTES = 1 << 20;

export interface TrusteeEntry {
  /** The trustee's share index in the epoch key generation (1..255). */
  readonly index: number;
  readonly name: string;
  readonly signingKey: Uint8Array;
  /** HPKE public key to which requests are encrypted for this trustee. */
  readonly encryptionKey: Uint8Array;
}

export interface WitnessEntry {
  /** The witness's C2SP key name. */
  readonly name: string;
  readonly signingKey: Uint8Array;
}

export interface RequesterEntry {
  readonly id: string;
  readonly name: string;
  readonly signingKey: Uint8Array;
  /** HPKE public key to which released shares are sealed. */
  readonly encryptionKey: Uint8Array;
}

/** Per-request limits every trustee enforces (release rule 1, A11). */
export interface PolicyLimits {
  readonly maxSubjects: number;
  readonly maxWindowMs: number;
  readonly maxEnvelopes: number;
  /** Longest allowed seal, from the request's creation to its seal-until date. */
  readonly maxSealMs: number;
  readonly maxExtensions: number;
}

/** Epochs are calendar months in UTC (the default) or a fixed number of milliseconds. */
export type EpochLength =
  | { readonly kind: 'calendar-month' }
  | { readonly kind: 'fixed'; readonly ms: number };

export interface Policy {
  readonly version: number;
  readonly orgId: string;
  /** Increases with every new policy of the organisation. */
  readonly serial: number;
  readonly issuedAt: number;
  /** Sorted by index, indices unique. */
  readonly trustees: readonly TrusteeEntry[];
  readonly threshold: number;
  readonly witnesses: readonly WitnessEntry[];
  readonly witnessQuorum: number;
  /** Sorted by id, ids unique. */
  readonly requesters: readonly RequesterEntry[];
  readonly limits: PolicyLimits;
  readonly epochLength: EpochLength;
  /** How long after an epoch ends its shares are kept before they are shredded. */
  readonly retentionMs: number;
  /**
   * Version 2 only (after-release.md §8.1): the users whose messages are recorded under standing orders, sorted
   * by bytes, unique. Absent (or empty) in a version 1 policy.
   */
  readonly recorded?: readonly string[];
  /** Version 2 only: the longest window of one standing order (ms); 0 or absent: no orders. */
  readonly maxOrderMs?: number;
}

declare const verifiedPolicy: unique symbol;

/** A policy whose organisation signature has been checked. Only {@link verifyPolicy} makes one. */
export interface VerifiedPolicy {
  readonly [verifiedPolicy]: true;
  readonly policy: Policy;
  /** taggedHash("overt/workflow/v1/policy-hash", body): what requests refer to. */
  readonly hash: Uint8Array;
  readonly signed: Uint8Array;
}

function invalid(what: string): never {
  throw new OvertError('POLICY_INVALID', `policy ${what} is invalid`, { check: 'WF-P1' });
}

function distinctKeys(keys: readonly Uint8Array[]): boolean {
  return new Set(keys.map(toHex)).size === keys.length;
}

function isEncryptionKey(b: unknown): b is Uint8Array {
  return b instanceof Uint8Array && b.length >= ENCRYPTION_KEY_MIN && b.length <= ENCRYPTION_KEY_MAX;
}

/** Every structural rule on a policy (WF-P1); throws POLICY_INVALID. */
export function validatePolicy(p: Policy): void {
  if (p.version !== POLICY_VERSION && p.version !== POLICY_VERSION_RECORDED) invalid('version');
  if (p.version === POLICY_VERSION) {
    if ((p.recorded?.length ?? 0) !== 0 || (p.maxOrderMs ?? 0) !== 0) invalid('recorded group (version 1)');
  } else {
    const rec = p.recorded ?? [];
    if (rec.length > MAX_RECORDED) invalid('recorded count');
    for (const u of rec) if (!isIdString(u, USER_ID_MAX)) invalid('recorded user');
    if (!isSortedUniqueStrings(rec)) invalid('recorded order');
    const m = p.maxOrderMs ?? 0;
    if (!isMillis(m) || (rec.length > 0 && m < 1)) invalid('maxOrderMs');
  }
  if (!isIdString(p.orgId, ORG_ID_MAX)) invalid('orgId');
  if (!isUint(p.serial, 0xffffffff)) invalid('serial');
  if (!isMillis(p.issuedAt)) invalid('issuedAt');
  const n = p.trustees.length;
  if (n < 1 || n > MAX_PARTICIPANTS) invalid('trustee count');
  for (let i = 0; i < n; i++) {
    const t = p.trustees[i]!;
    if (!isUint(t.index, MAX_PARTICIPANTS) || t.index < 1) invalid('trustee index');
    if (i > 0 && t.index <= p.trustees[i - 1]!.index) invalid('trustee order');
    if (!isPrintable(t.name, NAME_MAX)) invalid('trustee name');
    if (!isFixedBytes(t.signingKey, SIGNING_PUBLIC_KEY_BYTES)) invalid('trustee signing key');
    if (!isEncryptionKey(t.encryptionKey)) invalid('trustee encryption key');
  }
  if (!isUint(p.threshold, n) || p.threshold < 1) invalid('threshold');
  const w = p.witnesses.length;
  if (w < 1 || w > MAX_WITNESSES) invalid('witness count');
  for (const x of p.witnesses) {
    if (!isIdString(x.name, WITNESS_NAME_MAX)) invalid('witness name');
    if (!isFixedBytes(x.signingKey, SIGNING_PUBLIC_KEY_BYTES)) invalid('witness key');
  }
  if (!isSortedUniqueStrings(p.witnesses.map((x) => x.name))) invalid('witness order');
  if (!isUint(p.witnessQuorum, w) || p.witnessQuorum < 1) invalid('witness quorum');
  const r = p.requesters.length;
  if (r < 1 || r > MAX_REQUESTERS) invalid('requester count');
  for (const x of p.requesters) {
    if (!isIdString(x.id, USER_ID_MAX)) invalid('requester id');
    if (!isPrintable(x.name, NAME_MAX)) invalid('requester name');
    if (!isFixedBytes(x.signingKey, SIGNING_PUBLIC_KEY_BYTES)) invalid('requester signing key');
    if (!isEncryptionKey(x.encryptionKey)) invalid('requester encryption key');
  }
  if (!isSortedUniqueStrings(p.requesters.map((x) => x.id))) invalid('requester order');
  // One key, one role: a trustee key that is also a requester key would let one party file and approve.
  const keys = [
    ...p.trustees.map((t) => t.signingKey),
    ...p.witnesses.map((x) => x.signingKey),
    ...p.requesters.map((x) => x.signingKey),
  ];
  if (!distinctKeys(keys)) invalid('signing keys (not distinct)');
  const l = p.limits;
  if (!isUint(l.maxSubjects, 0xffff) || l.maxSubjects < 1) invalid('maxSubjects');
  if (!isMillis(l.maxWindowMs) || l.maxWindowMs < 1) invalid('maxWindowMs');
  if (!isUint(l.maxEnvelopes, 0xffffffff) || l.maxEnvelopes < 1) invalid('maxEnvelopes');
  if (!isMillis(l.maxSealMs)) invalid('maxSealMs');
  if (!isUint(l.maxExtensions, 0xff)) invalid('maxExtensions');
  const e = p.epochLength;
  if (e.kind === 'fixed') {
    if (!isMillis(e.ms) || e.ms < 1) invalid('epoch length');
  } else if ((e as { kind: string }).kind !== 'calendar-month') invalid('epoch length');
  if (!isMillis(p.retentionMs)) invalid('retentionMs');
}

const EPOCH_CALENDAR_MONTH = 1;
const EPOCH_FIXED = 2;

export function encodePolicy(p: Policy): Uint8Array {
  validatePolicy(p);
  const w = new Writer(1024);
  w.u8(p.version);
  writeAscii(w, p.orgId);
  w.u32(p.serial).u64(p.issuedAt);
  w.u8(p.trustees.length);
  for (const t of p.trustees) {
    w.u8(t.index);
    writeAscii(w, t.name);
    w.bytes(t.signingKey).vec8(t.encryptionKey);
  }
  w.u8(p.threshold);
  w.u8(p.witnesses.length);
  for (const x of p.witnesses) {
    writeAscii(w, x.name);
    w.bytes(x.signingKey);
  }
  w.u8(p.witnessQuorum);
  w.u16(p.requesters.length);
  for (const x of p.requesters) {
    writeAscii(w, x.id);
    writeAscii(w, x.name);
    w.bytes(x.signingKey).vec8(x.encryptionKey);
  }
  const l = p.limits;
  w.u16(l.maxSubjects).u64(l.maxWindowMs).u32(l.maxEnvelopes).u64(l.maxSealMs).u8(l.maxExtensions);
  if (p.epochLength.kind === 'fixed') w.u8(EPOCH_FIXED).u64(p.epochLength.ms);
  else w.u8(EPOCH_CALENDAR_MONTH).u64(0);
  w.u64(p.retentionMs);
  if (p.version === POLICY_VERSION_RECORDED) {
    const rec = p.recorded ?? [];
    w.u16(rec.length);
    for (const u of rec) writeAscii(w, u);
    w.u64(p.maxOrderMs ?? 0);
  }
  return w.finish();
}

/** Decodes a policy body from untrusted bytes; POLICY_INVALID (WF-P1) on anything but one canonical policy. */
export function decodePolicy(bytes: Uint8Array): Policy {
  return decodeAs('POLICY_INVALID', 'WF-P1', 'policy', () => {
    const fail = (): never => invalid('encoding');
    const r = new Reader(bytes);
    const version = r.u8('version');
    if (version !== POLICY_VERSION && version !== POLICY_VERSION_RECORDED) invalid('version');
    const orgId = readIdString(r, 'orgId', ORG_ID_MAX, fail);
    const serial = r.u32('serial');
    const issuedAt = r.u64('issuedAt');
    const trustees: TrusteeEntry[] = [];
    const n = r.u8('trustee count');
    for (let i = 0; i < n; i++) {
      trustees.push({
        index: r.u8('trustee index'),
        name: readPrintable(r, 'trustee name', NAME_MAX, fail),
        signingKey: r.bytes(SIGNING_PUBLIC_KEY_BYTES, 'trustee signing key'),
        encryptionKey: r.vec8('trustee encryption key', ENCRYPTION_KEY_MAX),
      });
    }
    const threshold = r.u8('threshold');
    const witnesses: WitnessEntry[] = [];
    const w = r.u8('witness count');
    for (let i = 0; i < w; i++) {
      witnesses.push({
        name: readIdString(r, 'witness name', WITNESS_NAME_MAX, fail),
        signingKey: r.bytes(SIGNING_PUBLIC_KEY_BYTES, 'witness key'),
      });
    }
    const witnessQuorum = r.u8('witness quorum');
    const requesters: RequesterEntry[] = [];
    const rc = r.u16('requester count');
    if (rc > MAX_REQUESTERS) invalid('requester count');
    for (let i = 0; i < rc; i++) {
      requesters.push({
        id: readIdString(r, 'requester id', USER_ID_MAX, fail),
        name: readPrintable(r, 'requester name', NAME_MAX, fail),
        signingKey: r.bytes(SIGNING_PUBLIC_KEY_BYTES, 'requester signing key'),
        encryptionKey: r.vec8('requester encryption key', ENCRYPTION_KEY_MAX),
      });
    }
    const limits: PolicyLimits = {
      maxSubjects: r.u16('maxSubjects'),
      maxWindowMs: r.u64('maxWindowMs'),
      maxEnvelopes: r.u32('maxEnvelopes'),
      maxSealMs: r.u64('maxSealMs'),
      maxExtensions: r.u8('maxExtensions'),
    };
    const kind = r.u8('epoch kind');
    const ms = r.u64('epoch ms');
    let epochLength: EpochLength;
    if (kind === EPOCH_CALENDAR_MONTH && ms === 0) epochLength = { kind: 'calendar-month' };
    else if (kind === EPOCH_FIXED) epochLength = { kind: 'fixed', ms };
    else return invalid('epoch length');
    const retentionMs = r.u64('retentionMs');
    const recorded: string[] = [];
    let maxOrderMs = 0;
    if (version === POLICY_VERSION_RECORDED) {
      const nr = r.u16('recorded count');
      if (nr > MAX_RECORDED) invalid('recorded count');
      for (let i = 0; i < nr; i++) recorded.push(readIdString(r, 'recorded user', USER_ID_MAX, fail));
      maxOrderMs = r.u64('maxOrderMs');
    }
    r.finish('policy');
    const p: Policy = {
      version,
      orgId,
      serial,
      issuedAt,
      trustees,
      threshold,
      witnesses,
      witnessQuorum,
      requesters,
      limits,
      epochLength,
      retentionMs,
      ...(version === POLICY_VERSION_RECORDED ? { recorded, maxOrderMs } : {}),
    };
    validatePolicy(p);
    return p;
  });
}

export function policyHash(body: Uint8Array): Uint8Array {
  return taggedHash(TAG_POLICY_HASH, body);
}

/** Encodes and signs a policy with the organisation's key: the signed object published on the log. */
export function signPolicy(p: Policy, orgKey: SigningKeyPair): Uint8Array {
  return signBody(TAG_POLICY_SIGNATURE, orgKey, encodePolicy(p));
}

/**
 * Verifies a signed policy against the organisation's pinned public key. Throws POLICY_INVALID (WF-P1) on a
 * malformed policy and SIGNATURE_INVALID (WF-P2) on a bad signature.
 */
export function verifyPolicy(signed: Uint8Array, orgPublicKey: Uint8Array): VerifiedPolicy {
  const s = decodeSigned(signed, MAX_POLICY_BYTES, 'POLICY_INVALID', 'WF-P1');
  const policy = decodePolicy(s.body);
  requireSignature(TAG_POLICY_SIGNATURE, orgPublicKey, s, 'policy', 'WF-P2');
  return { policy, hash: policyHash(s.body), signed: signed.slice() } as VerifiedPolicy;
}

export function findTrustee(p: Policy, index: number): TrusteeEntry | undefined {
  return p.trustees.find((t) => t.index === index);
}

export function findRequester(p: Policy, id: string): RequesterEntry | undefined {
  return p.requesters.find((x) => x.id === id);
}

/** The recorded group of a policy (after-release.md §8.1): empty for a version 1 policy. */
export function recordedGroup(p: Policy): readonly string[] {
  return p.recorded ?? [];
}

export function isRecorded(p: Policy, userId: string): boolean {
  return recordedGroup(p).includes(userId);
}
