/**
 * The directory statements (docs/spec/directory.md): a device key added to or removed from a user (signed by the
 * org-admin), and an epoch's escrow public key (signed by at least k trustees of the access policy in force). The
 * relay checks them and appends their exact bytes to the transparency log; every client checks them again before
 * it trusts a device key or seals to an epoch key. A log entry naming a device key is evidence that the org-admin
 * enrolled it (DESIGN A6); an epoch key is evidence that k trustees ran its DKG: the admin's key alone cannot mint
 * one (DESIGN A14).
 *
 *     device statement  := content ‖ signature[64]
 *     signature         := Ed25519(admin, u16 len(tag) ‖ tag ‖ content)   (the framing of workflow/signed.ts)
 *     device content    := vec8(org_id) ‖ vec8(user_id) ‖ vec8(device_id) ‖ identity_key[32] ‖ u64 time_ms
 *       tag = "overt/directory/v1/device-added" | "overt/directory/v1/device-removed"
 *
 *     epoch-key statement := content ‖ u8 count ‖ count × (u8 trustee_index ‖ signature[64])
 *     epoch-key content   := vec8(org_id) ‖ u32 epoch ‖ policy_hash[32] ‖ u8 k ‖ u8 n ‖ group_key[32] ‖
 *                            n × verification_key[32] ‖ transcript_hash[32] ‖ session_id[32] ‖ u64 time_ms
 *     signature           := Ed25519(trustee_i, u16 len(tag) ‖ tag ‖ content), tag = "overt/directory/v2/epoch-key"
 *
 *     log entry := u8 type ‖ statement      type: epoch_key = 2, device_added = 3, device_removed = 4
 *     policy entry := u8 1 ‖ signed policy (workflow/policy.ts), signed by the org (admin) key
 *
 * Browser-safe and pure. Every decoder takes attacker bytes and fails only with DIRECTORY_* errors (DIR-1..DIR-6),
 * except a policy entry's body, which fails with the policy's own POLICY_INVALID / SIGNATURE_INVALID (WF-P1/P2).
 */
import { concatBytes, equalBytes, utf8Encode } from '../bytes.js';
import { Reader, Writer } from '../codec.js';
import { isOvertError, OvertError } from '../errors.js';
import { decodeElement, type Element, elementEquals, group } from '../group.js';
import { isDeviceId, isOrgId, isUserId } from '../ids.js';
import { SIGNATURE_BYTES, type SigningKeyPair, sign, verifySignature } from '../sign.js';
import { lagrangeAtZero } from '../threshold.js';
import { type VerifiedPolicy, verifyPolicy } from '../workflow/policy.js';

export const TAG_DEVICE_ADDED = 'overt/directory/v1/device-added';
export const TAG_DEVICE_REMOVED = 'overt/directory/v1/device-removed';
/** v2: trustee-signed, bound to a policy (v1 statements were admin-signed and never verify as v2). */
export const TAG_EPOCH_KEY = 'overt/directory/v2/epoch-key';

/**
 * The log entry types of directory statements. They are the codes of the log's registry (@overt/log entry.ts
 * ENTRY_TYPES); core cannot import the log, so they are repeated here and a test checks they agree.
 */
export const DIRECTORY_ENTRY_TYPES = { epoch_key: 2, device_added: 3, device_removed: 4 } as const;
/** The log entry type of the organisation's signed policy (log entry.ts ENTRY_TYPES.policy). */
export const POLICY_ENTRY_TYPE = 1;

// Org, user and device ids: the limits and alphabets shared by every part of the protocol (ids.ts,
// foundations.md §8; the relay's alphabets of relay.md §2.2).
export { isDeviceId, isOrgId, isUserId } from '../ids.js';

export type DeviceStatementKind = 'added' | 'removed';

export interface DeviceStatement {
  readonly kind: DeviceStatementKind;
  readonly orgId: string;
  readonly userId: string;
  readonly deviceId: string;
  /** The device's Ed25519 identity key (also its MLS signature key). */
  readonly identityKey: Uint8Array;
  /** Milliseconds since the Unix epoch, as the admin's tool stated it. */
  readonly time: number;
}

export interface EpochKeyStatement {
  readonly orgId: string;
  readonly epoch: number;
  /** The hash of the access policy the statement claims under (workflow.md §2, `policyHash`). */
  readonly policyHash: Uint8Array;
  /** k: the policy's threshold. */
  readonly threshold: number;
  /** Y = x·G. */
  readonly groupKey: Uint8Array;
  /** Y_i = x_i·G for the DKG participants 1..n (the policy's trustees, by index). */
  readonly verificationKeys: readonly Uint8Array[];
  /** The DKG transcript hash (dkg.md §7). */
  readonly transcriptHash: Uint8Array;
  /** The DKG session id (dkg.md §2). */
  readonly sessionId: Uint8Array;
  readonly time: number;
}

/** One trustee's signature over an epoch-key statement's content. */
export interface TrusteeSignature {
  /** The trustee's index in the policy (1..255). */
  readonly index: number;
  readonly signature: Uint8Array;
}

/** An epoch-key statement as decoded: its fields, the signed content bytes and the signatures. */
export interface DecodedEpochKeyStatement extends EpochKeyStatement {
  readonly content: Uint8Array;
  readonly signatures: readonly TrusteeSignature[];
}

/** A verified directory log entry. */
export type DirectoryStatement =
  | { readonly type: 'device'; readonly statement: DeviceStatement }
  | { readonly type: 'epoch-key'; readonly statement: DecodedEpochKeyStatement };

function signingInput(tag: string, content: Uint8Array): Uint8Array {
  return concatBytes(new Writer(64).vec16(utf8Encode(tag)).finish(), content);
}

function deviceInvalid(message: string, cause?: unknown): never {
  throw new OvertError('DIRECTORY_STATEMENT_INVALID', message, { check: 'DIR-1', cause });
}

function epochInvalid(message: string, cause?: unknown): never {
  throw new OvertError('DIRECTORY_EPOCH_KEY_INVALID', message, { check: 'DIR-2', cause });
}

function epochPolicy(message: string): never {
  throw new OvertError('DIRECTORY_EPOCH_KEY_INVALID', message, { check: 'DIR-4' });
}

function epochSignatures(message: string): never {
  throw new OvertError('DIRECTORY_EPOCH_KEY_INVALID', message, { check: 'DIR-5' });
}

function epochInterpolation(message: string, cause?: unknown): never {
  throw new OvertError('DIRECTORY_EPOCH_KEY_INVALID', message, { check: 'DIR-6', cause });
}

function deviceTag(kind: DeviceStatementKind): string {
  return kind === 'added' ? TAG_DEVICE_ADDED : TAG_DEVICE_REMOVED;
}

/** Printable ASCII bytes as a string; `fail` for anything else (ids are never UTF-8 beyond ASCII). */
function ascii(b: Uint8Array, fail: (m: string) => never): string {
  let s = '';
  for (const c of b) {
    if (c < 0x21 || c > 0x7e) fail('identifier is not printable ASCII');
    s += String.fromCharCode(c);
  }
  return s;
}

function isTime(t: number): boolean {
  return Number.isSafeInteger(t) && t >= 0;
}

function deviceContent(s: DeviceStatement): Uint8Array {
  return new Writer(200)
    .vec8(utf8Encode(s.orgId))
    .vec8(utf8Encode(s.userId))
    .vec8(utf8Encode(s.deviceId))
    .bytes(s.identityKey)
    .u64(s.time)
    .finish();
}

/** Builds and signs a device statement (the admin tool's side). DIRECTORY_STATEMENT_INVALID for bad fields. */
export function signDeviceStatement(admin: SigningKeyPair, s: DeviceStatement): Uint8Array {
  if (
    (s.kind !== 'added' && s.kind !== 'removed') ||
    !isOrgId(s.orgId) ||
    !isUserId(s.userId) ||
    !isDeviceId(s.deviceId) ||
    !(s.identityKey instanceof Uint8Array) ||
    s.identityKey.length !== 32 ||
    !isTime(s.time)
  )
    deviceInvalid('statement fields are out of range');
  const content = deviceContent(s);
  return concatBytes(content, sign(admin, signingInput(deviceTag(s.kind), content)));
}

/** Splits a statement into content and signature. */
function split(
  bytes: Uint8Array,
  fail: (m: string) => never,
): { content: Uint8Array; signature: Uint8Array } {
  if (!(bytes instanceof Uint8Array) || bytes.length < SIGNATURE_BYTES) fail('statement too short');
  return {
    content: bytes.subarray(0, bytes.length - SIGNATURE_BYTES),
    signature: bytes.subarray(bytes.length - SIGNATURE_BYTES),
  };
}

/**
 * Decodes a device statement of `kind` WITHOUT checking its signature (for display and indexing; trust only
 * {@link verifyDeviceStatement}). DIRECTORY_STATEMENT_INVALID (DIR-1) when it does not decode canonically or has
 * out-of-range ids.
 */
export function decodeDeviceStatement(kind: DeviceStatementKind, bytes: Uint8Array): DeviceStatement {
  const { content } = split(bytes, deviceInvalid);
  let s: DeviceStatement;
  try {
    const r = new Reader(content);
    const orgId = ascii(r.vec8('org id'), deviceInvalid);
    const userId = ascii(r.vec8('user id'), deviceInvalid);
    const deviceId = ascii(r.vec8('device id'), deviceInvalid);
    const identityKey = r.bytes(32, 'identity key').slice();
    const time = r.u64('time');
    r.finish('device statement');
    s = { kind, orgId, userId, deviceId, identityKey, time };
  } catch (e) {
    if (isOvertError(e, 'DIRECTORY_STATEMENT_INVALID')) throw e;
    if (isOvertError(e)) deviceInvalid('statement does not decode', e);
    throw e;
  }
  if (!isOrgId(s.orgId) || !isUserId(s.userId) || !isDeviceId(s.deviceId))
    deviceInvalid('statement ids are invalid');
  return s;
}

/**
 * Decodes and verifies a device statement of `kind` under the admin key. DIRECTORY_STATEMENT_INVALID (DIR-1)
 * when it does not decode canonically, has out-of-range ids, or its signature does not verify.
 */
export function verifyDeviceStatement(
  adminKey: Uint8Array,
  kind: DeviceStatementKind,
  bytes: Uint8Array,
): DeviceStatement {
  const s = decodeDeviceStatement(kind, bytes);
  const { content, signature } = split(bytes, deviceInvalid);
  if (!verifySignature(adminKey, signingInput(deviceTag(kind), content), signature))
    deviceInvalid('statement signature does not verify');
  return s;
}

function checkEpochKeyFields(s: EpochKeyStatement): void {
  if (!Array.isArray(s.verificationKeys)) epochInvalid('verification keys are missing');
  const n = s.verificationKeys.length;
  if (
    !isOrgId(s.orgId) ||
    !Number.isSafeInteger(s.epoch) ||
    s.epoch < 0 ||
    s.epoch > 0xffffffff ||
    !(s.policyHash instanceof Uint8Array) ||
    s.policyHash.length !== 32 ||
    !Number.isSafeInteger(s.threshold) ||
    s.threshold < 1 ||
    s.threshold > n ||
    n > 0xff ||
    !(s.groupKey instanceof Uint8Array) ||
    s.groupKey.length !== 32 ||
    s.verificationKeys.some((k) => !(k instanceof Uint8Array) || k.length !== 32) ||
    !(s.transcriptHash instanceof Uint8Array) ||
    s.transcriptHash.length !== 32 ||
    !(s.sessionId instanceof Uint8Array) ||
    s.sessionId.length !== 32 ||
    !isTime(s.time)
  )
    epochInvalid('statement fields are out of range');
}

/**
 * The content of an epoch-key statement (directory.md §1.2), which every trustee signs. DIRECTORY_EPOCH_KEY_INVALID
 * (DIR-2) for fields out of range.
 */
export function encodeEpochKeyContent(s: EpochKeyStatement): Uint8Array {
  checkEpochKeyFields(s);
  const w = new Writer(192 + 32 * s.verificationKeys.length)
    .vec8(utf8Encode(s.orgId))
    .u32(s.epoch)
    .bytes(s.policyHash)
    .u8(s.threshold)
    .u8(s.verificationKeys.length)
    .bytes(s.groupKey);
  for (const vk of s.verificationKeys) w.bytes(vk);
  return w.bytes(s.transcriptHash).bytes(s.sessionId).u64(s.time).finish();
}

/** One trustee's signature over an epoch-key statement's content, under {@link TAG_EPOCH_KEY}. */
export function signEpochKeyContent(trustee: SigningKeyPair, content: Uint8Array): Uint8Array {
  return sign(trustee, signingInput(TAG_EPOCH_KEY, content));
}

/**
 * content ‖ u8 count ‖ count × (u8 trustee_index ‖ signature[64]), signatures sorted by index. DIR-2 for no
 * signature, more than 255, a repeated or out-of-range index, or a signature that is not 64 bytes.
 */
export function assembleEpochKeyStatement(
  content: Uint8Array,
  signatures: readonly TrusteeSignature[],
): Uint8Array {
  const sorted = [...signatures].sort((a, b) => a.index - b.index);
  if (sorted.length < 1 || sorted.length > 0xff) epochInvalid('statement needs 1 to 255 signatures');
  const w = new Writer(content.length + 1 + 65 * sorted.length).bytes(content).u8(sorted.length);
  let last = 0;
  for (const s of sorted) {
    if (!Number.isInteger(s.index) || s.index <= last || s.index > 0xff)
      epochInvalid('signer indices are invalid');
    if (!(s.signature instanceof Uint8Array) || s.signature.length !== SIGNATURE_BYTES)
      epochInvalid('a signature is not 64 bytes');
    w.u8(s.index).bytes(s.signature);
    last = s.index;
  }
  return w.finish();
}

/**
 * Builds an epoch-key statement signed by each of `signers` (the trustees, after their DKG). The trustees'
 * tool side, and tests; DIRECTORY_EPOCH_KEY_INVALID (DIR-2) for fields out of range.
 */
export function signEpochKeyStatement(
  s: EpochKeyStatement,
  signers: readonly { readonly index: number; readonly key: SigningKeyPair }[],
): Uint8Array {
  const content = encodeEpochKeyContent(s);
  return assembleEpochKeyStatement(
    content,
    signers.map(({ index, key }) => ({ index, signature: signEpochKeyContent(key, content) })),
  );
}

/**
 * Decodes an epoch-key statement WITHOUT checking its signatures (directory.md §1.2): canonical encoding,
 * 1 ≤ k ≤ n, every key a canonical non-identity ristretto255 element, 1..255 signatures with strictly increasing
 * indices 1..255, no trailing byte. DIRECTORY_EPOCH_KEY_INVALID (DIR-2) otherwise.
 */
export function decodeEpochKeyStatement(bytes: Uint8Array): DecodedEpochKeyStatement {
  if (!(bytes instanceof Uint8Array)) epochInvalid('statement is not bytes');
  try {
    const r = new Reader(bytes);
    const orgId = ascii(r.vec8('org id'), epochInvalid);
    const epoch = r.u32('epoch');
    const policyHash = r.bytes(32, 'policy hash').slice();
    const threshold = r.u8('threshold');
    const n = r.u8('participants');
    const groupKey = decodeElement(r.bytes(32, 'group key'), 'group key');
    const verificationKeys: Uint8Array[] = [];
    for (let i = 0; i < n; i++)
      verificationKeys.push(decodeElement(r.bytes(32, 'verification key'), 'verification key'));
    const transcriptHash = r.bytes(32, 'transcript hash').slice();
    const sessionId = r.bytes(32, 'session id').slice();
    const time = r.u64('time');
    const content = bytes.slice(0, r.position);
    const count = r.u8('signature count');
    const signatures: TrusteeSignature[] = [];
    for (let i = 0; i < count; i++)
      signatures.push({
        index: r.u8('signer index'),
        signature: r.bytes(SIGNATURE_BYTES, 'signature').slice(),
      });
    r.finish('epoch key statement');
    if (!isOrgId(orgId)) epochInvalid('org id is invalid');
    if (threshold < 1 || threshold > n) epochInvalid('threshold out of range');
    if (count < 1) epochInvalid('statement carries no signature');
    for (let i = 0; i < count; i++) {
      const index = signatures[i]!.index;
      if (index < 1 || (i > 0 && index <= signatures[i - 1]!.index))
        epochInvalid('signer indices are not strictly increasing');
    }
    return {
      orgId,
      epoch,
      policyHash,
      threshold,
      groupKey,
      verificationKeys,
      transcriptHash,
      sessionId,
      time,
      content,
      signatures,
    };
  } catch (e) {
    if (isOvertError(e, 'DIRECTORY_EPOCH_KEY_INVALID')) throw e;
    if (isOvertError(e)) epochInvalid('statement does not decode', e);
    throw e;
  }
}

/**
 * DIR-6: the verification keys Y_1..Y_n and the group key Y lie on one polynomial of degree k − 1 in the
 * exponent, i.e. every k of the Y_i interpolate to Y at zero. Checked without any field arithmetic of ours:
 * with T = {1..k−1}, for each j in k..n the set T ∪ {j} must interpolate to Y (core's {@link lagrangeAtZero} and
 * group operations). Sufficient: the k points (0, Y) and T fix the polynomial f, and T ∪ {j} interpolating to Y
 * means the polynomial through T ∪ {j} also passes through (0, Y), so it is f and Y_j = f(j)·G. Indices are the
 * DKG's, 1..n (dkg.md §2). DIRECTORY_EPOCH_KEY_INVALID (DIR-6) otherwise.
 */
export function checkEpochKeyInterpolation(s: EpochKeyStatement): void {
  const k = s.threshold;
  const n = s.verificationKeys.length;
  let keys: Element[];
  let y: Element;
  try {
    y = decodeElement(s.groupKey, 'group key');
    keys = s.verificationKeys.map((v) => decodeElement(v, 'verification key'));
  } catch (e) {
    if (isOvertError(e)) epochInterpolation('keys are not group elements', e);
    throw e;
  }
  if (k < 1 || k > n) epochInterpolation('threshold out of range');
  const base = Array.from({ length: k - 1 }, (_, i) => i + 1);
  for (let j = k; j <= n; j++) {
    const set = [...base, j];
    let acc: Element | undefined;
    for (const i of set) {
      const term = group.mul(lagrangeAtZero(set, i), keys[i - 1]!);
      acc = acc === undefined ? term : group.add(acc, term);
    }
    if (!elementEquals(acc!, y))
      epochInterpolation('the verification keys do not interpolate to the group key');
  }
}

/**
 * Verifies an epoch-key statement under the access policy in force (directory.md §1.3), in this order:
 *   1. it decodes (DIR-2);
 *   2. it names the policy: org and policy hash are the policy's, k is the policy's threshold, n its trustee
 *      count, and the policy's trustee indices are exactly 1..n, the DKG's participant indices (DIR-4);
 *   3. every signature is by a distinct trustee of the policy and verifies under its signing key over the
 *      content, and there are at least k of them (DIR-5): the admin's key alone can never make one;
 *   4. the verification keys interpolate to the group key (DIR-6).
 * DIRECTORY_EPOCH_KEY_INVALID with the failing check's ID otherwise.
 */
export function verifyEpochKeyStatement(policy: VerifiedPolicy, bytes: Uint8Array): DecodedEpochKeyStatement {
  const s = decodeEpochKeyStatement(bytes);
  const p = policy.policy;
  if (s.orgId !== p.orgId) epochPolicy('statement names another organisation than its policy');
  if (!equalBytes(s.policyHash, policy.hash)) epochPolicy('statement names another policy');
  if (s.threshold !== p.threshold) epochPolicy("threshold is not the policy's");
  if (s.verificationKeys.length !== p.trustees.length)
    epochPolicy("key count is not the policy's trustee count");
  if (p.trustees.some((t, i) => t.index !== i + 1))
    epochPolicy("the policy's trustee indices are not 1..n, so they cannot be the DKG's");
  for (const sig of s.signatures) {
    const t = p.trustees.find((x) => x.index === sig.index);
    if (t === undefined) epochSignatures('a signer is not a trustee of the policy');
    if (!verifySignature(t!.signingKey, signingInput(TAG_EPOCH_KEY, s.content), sig.signature))
      epochSignatures('a trustee signature does not verify');
  }
  if (s.signatures.length < p.threshold) epochSignatures('fewer than k trustees signed');
  checkEpochKeyInterpolation(s);
  return s;
}

/** The log entry of a device statement: u8 type ‖ statement. */
export function deviceEntry(kind: DeviceStatementKind, statement: Uint8Array): Uint8Array {
  const type = kind === 'added' ? DIRECTORY_ENTRY_TYPES.device_added : DIRECTORY_ENTRY_TYPES.device_removed;
  return concatBytes(Uint8Array.of(type), statement);
}

/** The log entry of an epoch-key statement: u8 type ‖ statement. */
export function epochKeyEntry(statement: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(DIRECTORY_ENTRY_TYPES.epoch_key), statement);
}

/** True when a log entry's type byte is a directory statement's (2, 3 or 4). */
export function isDirectoryEntry(entry: Uint8Array): boolean {
  const t = entry[0];
  return (
    t === DIRECTORY_ENTRY_TYPES.epoch_key ||
    t === DIRECTORY_ENTRY_TYPES.device_added ||
    t === DIRECTORY_ENTRY_TYPES.device_removed
  );
}

/**
 * Verifies a log entry as a directory statement: device statements under the admin key, epoch-key statements
 * under `policy`, the access policy in force at the entry's log position (the latest policy entry before it).
 * DIRECTORY_ENTRY_INVALID (DIR-3) when its type is not a directory type; DIR-1/DIR-2 errors when its statement
 * does not decode or verify; DIRECTORY_EPOCH_KEY_INVALID (DIR-4) for an epoch key with no policy in force.
 */
export function verifyDirectoryEntry(
  adminKey: Uint8Array,
  entry: Uint8Array,
  policy?: VerifiedPolicy,
): DirectoryStatement {
  if (!(entry instanceof Uint8Array) || !isDirectoryEntry(entry))
    throw new OvertError('DIRECTORY_ENTRY_INVALID', 'log entry is not a directory statement', {
      check: 'DIR-3',
    });
  const body = entry.subarray(1);
  switch (entry[0]) {
    case DIRECTORY_ENTRY_TYPES.epoch_key:
      if (policy === undefined) {
        decodeEpochKeyStatement(body);
        epochPolicy('no access policy is in force before this epoch key');
      }
      return { type: 'epoch-key', statement: verifyEpochKeyStatement(policy!, body) };
    case DIRECTORY_ENTRY_TYPES.device_added:
      return { type: 'device', statement: verifyDeviceStatement(adminKey, 'added', body) };
    default:
      return { type: 'device', statement: verifyDeviceStatement(adminKey, 'removed', body) };
  }
}

/** The log entry of a signed policy: u8 1 ‖ signed policy (workflow.md §2). */
export function policyEntry(signedPolicy: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(POLICY_ENTRY_TYPE), signedPolicy);
}

/** True when a log entry's type byte is a policy's (1). */
export function isPolicyEntry(entry: Uint8Array): boolean {
  return entry instanceof Uint8Array && entry[0] === POLICY_ENTRY_TYPE;
}

/**
 * Verifies a policy log entry under the organisation's (admin) key. DIRECTORY_ENTRY_INVALID (DIR-3) for another
 * entry type; the policy's own POLICY_INVALID (WF-P1) / SIGNATURE_INVALID (WF-P2) when its body does not verify.
 */
export function verifyPolicyEntry(orgKey: Uint8Array, entry: Uint8Array): VerifiedPolicy {
  if (!isPolicyEntry(entry))
    throw new OvertError('DIRECTORY_ENTRY_INVALID', 'log entry is not a policy', { check: 'DIR-3' });
  return verifyPolicy(entry.subarray(1), orgKey);
}
