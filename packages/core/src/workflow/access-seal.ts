/**
 * The two HPKE-sealed payloads of the access workflow (docs/spec/access.md §2–§3):
 *
 * - the request's confidential part (its opening, workflow.md §3.2), sealed by the requester once to each
 *   trustee of the policy and bound to the request hash;
 * - a trustee's share bundle: its decryption shares for one batch of an execution's envelopes, sealed to the
 *   requester and bound to (request, execution, trustee, batch). Its SHA-256 is the release entry's
 *   `bundle_hash` (workflow.md §9.3), so what the requester received is tied to what the log shows.
 *
 * Both use the HPKE suite of dkg.md §4.2 (dkg/hpke.ts). The ephemeral key comes from the caller's RandomSource,
 * so the vectors are reproducible. Every failure to open is one typed error; nothing here names a secret.
 */
import { concatBytes, equalBytes, type RandomSource, randomBytes, utf8Encode } from '../bytes.js';
import { LABEL_BYTES, SHARE_BYTES } from '../capsule/params.js';
import { type DecryptionShare, decodeShare, encodeShare } from '../capsule/share.js';
import { Reader, Writer } from '../codec.js';
import { DKG_HPKE_ENC_BYTES, openShare, sealShare } from '../dkg/hpke.js';
import { isFixedBytes, isUint } from '../envelope/fields.js';
import { OvertError } from '../errors.js';
import { sha256 } from '../hash.js';
import { MAX_PARTICIPANTS } from '../threshold.js';
import type { VerifiedExecution } from './execution.js';
import { findRequester, findTrustee, type VerifiedPolicy } from './policy.js';
import type { VerifiedRelease } from './release.js';
import {
  checkOpening,
  decodeOpening,
  encodeOpening,
  REQUEST_ID_BYTES,
  type RequestOpening,
  type VerifiedRequest,
} from './request.js';

export const INFO_CONFIDENTIAL = 'overt/access/v1/confidential';
export const INFO_SHARE_BUNDLE = 'overt/access/v1/share-bundle';
export const SHARE_BUNDLE_VERSION = 1;
/** Positions per release batch (access.md §3). */
export const RELEASE_BATCH = 1024;
/** A sealed payload is at least enc (32) ‖ AES-128-GCM tag (16). */
const SEALED_MIN = DKG_HPKE_ENC_BYTES + 16;
/** One bundle entry: u32 position ‖ label ‖ share. */
const ENTRY_BYTES = 4 + LABEL_BYTES + SHARE_BYTES;
/** The bundle header: version ‖ request id ‖ execution hash ‖ trustee ‖ batch ‖ count. */
const BUNDLE_HEADER_BYTES = 1 + REQUEST_ID_BYTES + 32 + 1 + 4 + 4;
/** The largest bundle plaintext: a full batch. */
export const MAX_SHARE_BUNDLE_BYTES = BUNDLE_HEADER_BYTES + RELEASE_BATCH * ENTRY_BYTES;

/** The positions `[start, end)` batch `b` covers in an execution of `count` envelopes; empty past the end. */
export function batchRange(b: number, count: number): { start: number; end: number } {
  if (!isUint(b, 0xffffffff) || !isUint(count, 0xffffffff))
    throw new OvertError('SHARE_BUNDLE_INVALID', 'batch or count out of range', { check: 'ACC-2' });
  const start = Math.min(b * RELEASE_BATCH, count);
  return { start, end: Math.min(start + RELEASE_BATCH, count) };
}

/**
 * The positions `[start, end)` of an execution: `[0, count)` for a request's; `[b·1024, b·1024 + count)` for
 * batch b of a standing order (after-release.md §8.3).
 */
export function executionRange(e: { readonly envelopeCount: number; readonly batch?: number }): {
  start: number;
  end: number;
} {
  const start = e.batch === undefined ? 0 : e.batch * RELEASE_BATCH;
  return { start, end: start + e.envelopeCount };
}

/**
 * The positions share-bundle batch `b` covers in an execution: {@link batchRange} for a request's; for an order's
 * batch execution, all of its positions when `b` is its number and none otherwise.
 */
export function batchRangeOf(
  e: { readonly envelopeCount: number; readonly batch?: number },
  b: number,
): { start: number; end: number } {
  if (e.batch === undefined) return batchRange(b, e.envelopeCount);
  if (!isUint(b, 0xffffffff))
    throw new OvertError('SHARE_BUNDLE_INVALID', 'batch out of range', { check: 'ACC-2' });
  return b === e.batch ? executionRange(e) : { start: 0, end: 0 };
}

/** The number of batches an execution of `count` envelopes has: ⌈count / 1024⌉. */
export function batchCount(count: number): number {
  return Math.ceil(count / RELEASE_BATCH);
}

function u8(n: number): Uint8Array {
  return Uint8Array.of(n);
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

function splitSealed(sealed: Uint8Array): { enc: Uint8Array; ciphertext: Uint8Array } | undefined {
  if (!(sealed instanceof Uint8Array) || sealed.length < SEALED_MIN) return undefined;
  return { enc: sealed.subarray(0, DKG_HPKE_ENC_BYTES), ciphertext: sealed.subarray(DKG_HPKE_ENC_BYTES) };
}

// §2 The confidential part.

function confidentialInvalid(what: string, cause?: unknown): OvertError {
  return new OvertError('CONFIDENTIAL_INVALID', `sealed confidential part ${what}`, {
    check: 'ACC-1',
    cause,
  });
}

/** The index the relay's part is sealed under (after-release.md §1): trustees are 1..255. */
export const RELAY_PART_INDEX = 0;

/** A trustee index 1..255, or RELAY_PART_INDEX for the part sealed to the relay's unseal key. */
function checkTrusteeIndex(i: number): void {
  if (!isUint(i, MAX_PARTICIPANTS))
    throw new OvertError('CONFIDENTIAL_INVALID', 'trustee index out of range', { check: 'ACC-1' });
}

/**
 * sealed_i = enc ‖ HPKE(trustee i's key, info = "overt/access/v1/confidential" ‖ u8 i, aad = request hash,
 * opening). Throws DKG_PARAMS (DKG-1) when the key is not a usable X25519 key.
 */
export async function sealConfidential(
  trusteeKey: Uint8Array,
  trusteeIndex: number,
  request: VerifiedRequest,
  opening: RequestOpening,
  rng: RandomSource = randomBytes,
): Promise<Uint8Array> {
  checkTrusteeIndex(trusteeIndex);
  checkOpening(request.request, opening);
  const info = concatBytes(utf8Encode(INFO_CONFIDENTIAL), u8(trusteeIndex));
  const { enc, ciphertext } = await sealShare(trusteeKey, info, request.hash, encodeOpening(opening), rng);
  return concatBytes(enc, ciphertext);
}

/** One sealed part per trustee of `policy`, in the policy's trustee order (the body of POST /v1/access/requests). */
export async function sealConfidentialToAll(
  policy: VerifiedPolicy,
  request: VerifiedRequest,
  opening: RequestOpening,
  rng: RandomSource = randomBytes,
): Promise<{ trustee: number; sealed: Uint8Array }[]> {
  const out: { trustee: number; sealed: Uint8Array }[] = [];
  for (const t of policy.policy.trustees)
    out.push({
      trustee: t.index,
      sealed: await sealConfidential(t.encryptionKey, t.index, request, opening, rng),
    });
  return out;
}

/**
 * Trustee i opens its sealed part and checks the opening against the request's commitment (workflow.md §3.2).
 * Any failure — short input, wrong key, another request or trustee, a changed byte, a malformed opening, an
 * opening that does not match the commitment — is CONFIDENTIAL_INVALID (ACC-1).
 */
export async function openConfidential(
  secretKey: Uint8Array,
  trusteeIndex: number,
  request: VerifiedRequest,
  sealed: Uint8Array,
): Promise<RequestOpening> {
  checkTrusteeIndex(trusteeIndex);
  const parts = splitSealed(sealed);
  if (parts === undefined) throw confidentialInvalid('is too short');
  const info = concatBytes(utf8Encode(INFO_CONFIDENTIAL), u8(trusteeIndex));
  let plain: Uint8Array;
  try {
    plain = await openShare(secretKey, parts.enc, info, request.hash, parts.ciphertext);
  } catch (cause) {
    throw confidentialInvalid('does not decrypt', cause);
  }
  let opening: RequestOpening;
  try {
    opening = decodeOpening(plain);
    checkOpening(request.request, opening);
  } catch (cause) {
    throw confidentialInvalid('does not open the request commitment', cause);
  }
  return opening;
}

// §3 Share bundles.

export interface BundleShare {
  /** The envelope's position: its index among the execution's labels sorted by bytes. */
  readonly position: number;
  readonly label: Uint8Array;
  readonly share: DecryptionShare;
}

export interface ShareBundle {
  readonly requestId: Uint8Array;
  readonly executionHash: Uint8Array;
  readonly trusteeIndex: number;
  readonly batch: number;
  /** Positions strictly increasing, all inside the batch; each share's index is `trusteeIndex`. */
  readonly shares: readonly BundleShare[];
}

function bundleInvalid(what: string, cause?: unknown): OvertError {
  return new OvertError('SHARE_BUNDLE_INVALID', `share bundle ${what}`, { check: 'ACC-2', cause });
}

/** The rules every bundle obeys, encoded or decoded (ACC-2). */
function validateBundle(b: ShareBundle): void {
  if (!isFixedBytes(b.requestId, REQUEST_ID_BYTES)) throw bundleInvalid('request id is invalid');
  if (!isFixedBytes(b.executionHash, 32)) throw bundleInvalid('execution hash is invalid');
  if (!isUint(b.trusteeIndex, MAX_PARTICIPANTS) || b.trusteeIndex < 1)
    throw bundleInvalid('trustee index is invalid');
  if (!isUint(b.batch, Math.floor(0xffffffff / RELEASE_BATCH))) throw bundleInvalid('batch is invalid');
  if (!Array.isArray(b.shares) || b.shares.length > RELEASE_BATCH)
    throw bundleInvalid('share count is invalid');
  const lo = b.batch * RELEASE_BATCH;
  let previous = -1;
  for (const s of b.shares) {
    if (!isUint(s.position, 0xffffffff) || s.position < lo || s.position >= lo + RELEASE_BATCH)
      throw bundleInvalid('position is outside the batch');
    if (s.position <= previous) throw bundleInvalid('positions are not strictly increasing');
    previous = s.position;
    if (!isFixedBytes(s.label, LABEL_BYTES)) throw bundleInvalid('label is invalid');
    if (s.share.index !== b.trusteeIndex) throw bundleInvalid('share index is not the trustee');
  }
}

/** bundle plaintext (access.md §3). Throws SHARE_BUNDLE_INVALID (ACC-2) on a bundle that breaks its rules. */
export function encodeShareBundle(b: ShareBundle): Uint8Array {
  validateBundle(b);
  const w = new Writer(BUNDLE_HEADER_BYTES + b.shares.length * ENTRY_BYTES);
  w.u8(SHARE_BUNDLE_VERSION).bytes(b.requestId).bytes(b.executionHash).u8(b.trusteeIndex);
  w.u32(b.batch).u32(b.shares.length);
  for (const s of b.shares) w.u32(s.position).bytes(s.label).bytes(encodeShare(s.share));
  return w.finish();
}

/** Strict decoder of a bundle plaintext: any malformed input is SHARE_BUNDLE_INVALID (ACC-2). */
export function decodeShareBundle(bytes: Uint8Array): ShareBundle {
  if (!(bytes instanceof Uint8Array) || bytes.length > MAX_SHARE_BUNDLE_BYTES)
    throw bundleInvalid('is too long');
  try {
    const r = new Reader(bytes);
    if (r.u8('version') !== SHARE_BUNDLE_VERSION) throw bundleInvalid('version is unknown');
    const requestId = r.bytes(REQUEST_ID_BYTES, 'request id');
    const executionHash = r.bytes(32, 'execution hash');
    const trusteeIndex = r.u8('trustee index');
    const batch = r.u32('batch');
    const count = r.u32('share count');
    if (count > RELEASE_BATCH || count * ENTRY_BYTES !== r.remaining)
      throw bundleInvalid('share count is invalid');
    const shares: BundleShare[] = [];
    for (let i = 0; i < count; i++) {
      const position = r.u32('position');
      const label = r.bytes(LABEL_BYTES, 'label');
      shares.push({ position, label, share: decodeShare(r.bytes(SHARE_BYTES, 'share')) });
    }
    r.finish('share bundle');
    const b: ShareBundle = { requestId, executionHash, trusteeIndex, batch, shares };
    validateBundle(b);
    return b;
  } catch (cause) {
    if (cause instanceof OvertError && cause.code === 'SHARE_BUNDLE_INVALID') throw cause;
    if (cause instanceof OvertError) throw bundleInvalid('is malformed', cause);
    throw cause;
  }
}

function bundleContext(
  requestId: Uint8Array,
  executionHash: Uint8Array,
  trusteeIndex: number,
  batch: number,
): { info: Uint8Array; aad: Uint8Array } {
  return {
    info: concatBytes(utf8Encode(INFO_SHARE_BUNDLE), u8(trusteeIndex)),
    aad: concatBytes(requestId, executionHash, u8(trusteeIndex), u32(batch)),
  };
}

/**
 * sealed bundle = enc ‖ HPKE(requester's key, info = "overt/access/v1/share-bundle" ‖ u8 trustee,
 * aad = request_id ‖ execution_hash ‖ u8 trustee ‖ u32 batch, bundle plaintext). Its SHA-256 is the release's
 * bundle_hash. Throws SHARE_BUNDLE_INVALID (ACC-2) on a bad bundle, DKG_PARAMS (DKG-1) on an unusable key.
 */
export async function sealShareBundle(
  requesterKey: Uint8Array,
  bundle: ShareBundle,
  rng: RandomSource = randomBytes,
): Promise<Uint8Array> {
  const plain = encodeShareBundle(bundle);
  const { info, aad } = bundleContext(
    bundle.requestId,
    bundle.executionHash,
    bundle.trusteeIndex,
    bundle.batch,
  );
  const { enc, ciphertext } = await sealShare(requesterKey, info, aad, plain, rng);
  return concatBytes(enc, ciphertext);
}

/** The requester's HPKE public key in `policy` for the request executed, or SHARE_BUNDLE_INVALID. */
export function requesterEncryptionKey(policy: VerifiedPolicy, requesterId: string): Uint8Array {
  const r = findRequester(policy.policy, requesterId);
  if (r === undefined) throw bundleInvalid('is for a requester the policy does not list');
  return r.encryptionKey;
}

/**
 * The requester opens trustee `release.trusteeIndex`'s sealed bundle for batch `batch` of `execution`, in this
 * order: SHA-256(sealed) = the release's bundle_hash; the release is for this execution and its trustee is in
 * the policy; it decrypts under the binding (request, execution, trustee, batch); it decodes strictly; its
 * fields repeat the binding; its share count is the release's; every position lies inside
 * batchRange(batch, envelope_count). Any failure is SHARE_BUNDLE_INVALID (ACC-2). The shares' proofs and labels
 * are not checked here: verify each share against its capsule (verifyShare / verifySharesBatch) and each label
 * against the execution's served labels.
 */
export async function openShareBundle(
  secretKey: Uint8Array,
  policy: VerifiedPolicy,
  execution: VerifiedExecution,
  release: VerifiedRelease,
  batch: number,
  sealed: Uint8Array,
): Promise<ShareBundle> {
  const x = release.release;
  const e = execution.execution;
  if (!(sealed instanceof Uint8Array) || !equalBytes(sha256(sealed), x.bundleHash))
    throw bundleInvalid('does not match the release bundle hash');
  if (!equalBytes(x.executionHash, execution.hash) || !equalBytes(x.requestId, e.requestId))
    throw bundleInvalid('release is for another execution');
  if (findTrustee(policy.policy, x.trusteeIndex) === undefined)
    throw bundleInvalid('is from a trustee the policy does not list');
  const range = batchRangeOf(e, batch);
  if (range.start === range.end) throw bundleInvalid('batch is past the execution');
  const b = await decryptShareBundle(secretKey, e.requestId, execution.hash, x.trusteeIndex, batch, sealed);
  checkShareBundle(execution, release, batch, b);
  return b;
}

/**
 * The decryption step of {@link openShareBundle} alone: HPKE-opens a sealed bundle under the context (request id,
 * execution hash, trustee, batch) it was sealed for and decodes it (SHARE_BUNDLE_INVALID, ACC-2, when it does
 * not). It checks nothing against a release or an execution: callers use {@link openShareBundle}; this exists
 * for benchmarks and tools that time or inspect the decryption itself.
 */
export async function decryptShareBundle(
  secretKey: Uint8Array,
  requestId: Uint8Array,
  executionHash: Uint8Array,
  trusteeIndex: number,
  batch: number,
  sealed: Uint8Array,
): Promise<ShareBundle> {
  const parts = splitSealed(sealed);
  if (parts === undefined) throw bundleInvalid('is too short');
  const { info, aad } = bundleContext(requestId, executionHash, trusteeIndex, batch);
  let plain: Uint8Array;
  try {
    plain = await openShare(secretKey, parts.enc, info, aad, parts.ciphertext);
  } catch (cause) {
    throw bundleInvalid('does not decrypt', cause);
  }
  return decodeShareBundle(plain);
}

/**
 * The checks of {@link openShareBundle} after decryption, for a bundle plaintext held without the requester's key
 * (an evidence bundle, evidence.md): the release names this execution and request; the bundle's request id,
 * execution hash, trustee index and batch are the release's and `batch`; its share count is the release's
 * `share_count`; every position is below the execution's envelope count. SHARE_BUNDLE_INVALID (ACC-2) otherwise.
 */
export function checkShareBundle(
  execution: VerifiedExecution,
  release: VerifiedRelease,
  batch: number,
  b: ShareBundle,
): void {
  const x = release.release;
  const e = execution.execution;
  if (!equalBytes(x.executionHash, execution.hash) || !equalBytes(x.requestId, e.requestId))
    throw bundleInvalid('release is for another execution');
  const range = batchRangeOf(e, batch);
  if (
    !equalBytes(b.requestId, e.requestId) ||
    !equalBytes(b.executionHash, execution.hash) ||
    b.trusteeIndex !== x.trusteeIndex ||
    b.batch !== batch
  )
    throw bundleInvalid('binding fields differ from the release');
  if (b.shares.length !== x.shareCount) throw bundleInvalid('share count differs from the release');
  for (const s of b.shares)
    if (s.position < range.start || s.position >= range.end)
      throw bundleInvalid('position is past the execution');
}
