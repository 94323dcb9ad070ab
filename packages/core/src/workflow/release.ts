/**
 * Release entries (DESIGN §4 step 6, docs/spec/workflow.md §9.3): a trustee that has checked the release rule
 * logs that it returned partial decryptions for an executed request: how many, and the hash of the HPKE-sealed
 * bundle it sent to the requester, so the requester (and a court) can later show which bundle came from whom.
 */
import { equalBytes } from '../bytes.js';
import { Reader, Writer } from '../codec.js';
import {
  decodeAs,
  isFixedBytes,
  isIdString,
  isMillis,
  isUint,
  ORG_ID_MAX,
  readIdString,
  writeAscii,
} from '../envelope/fields.js';
import { OvertError } from '../errors.js';
import { sha256 } from '../hash.js';
import type { SigningKeyPair } from '../sign.js';
import { MAX_PARTICIPANTS } from '../threshold.js';
import { openTrusteeSigned } from './entries.js';
import type { VerifiedExecution } from './execution.js';
import type { VerifiedPolicy } from './policy.js';
import { REQUEST_ID_BYTES } from './request.js';
import { signBody } from './signed.js';

export const RELEASE_VERSION = 1;
export const TAG_RELEASE_SIGNATURE = 'overt/workflow/v1/release';

export interface Release {
  readonly version: number;
  readonly orgId: string;
  readonly requestId: Uint8Array;
  /** VerifiedExecution.hash of the execution entry the shares are for. */
  readonly executionHash: Uint8Array;
  readonly trusteeIndex: number;
  /** Number of decryption shares in the bundle (one per envelope released). */
  readonly shareCount: number;
  /** SHA-256 of the HPKE-sealed share bundle, as sent to the requester. */
  readonly bundleHash: Uint8Array;
  readonly releasedAt: number;
}

declare const verifiedRelease: unique symbol;

export interface VerifiedRelease {
  readonly [verifiedRelease]: true;
  readonly release: Release;
  readonly signed: Uint8Array;
}

function invalid(what: string, check = 'WF-L1'): never {
  throw new OvertError('RELEASE_INVALID', `release ${what} is invalid`, { check });
}

export function validateRelease(x: Release): void {
  if (x.version !== RELEASE_VERSION) invalid('version');
  if (!isIdString(x.orgId, ORG_ID_MAX)) invalid('orgId');
  if (!isFixedBytes(x.requestId, REQUEST_ID_BYTES)) invalid('requestId');
  if (!isFixedBytes(x.executionHash, 32)) invalid('executionHash');
  if (!isUint(x.trusteeIndex, MAX_PARTICIPANTS) || x.trusteeIndex < 1) invalid('trusteeIndex');
  if (!isUint(x.shareCount, 0xffffffff)) invalid('shareCount');
  if (!isFixedBytes(x.bundleHash, 32)) invalid('bundleHash');
  if (!isMillis(x.releasedAt)) invalid('releasedAt');
}

export function encodeRelease(x: Release): Uint8Array {
  validateRelease(x);
  const w = new Writer(160);
  w.u8(x.version);
  writeAscii(w, x.orgId);
  w.bytes(x.requestId).bytes(x.executionHash).u8(x.trusteeIndex).u32(x.shareCount);
  w.bytes(x.bundleHash).u64(x.releasedAt);
  return w.finish();
}

export function decodeRelease(bytes: Uint8Array): Release {
  return decodeAs('RELEASE_INVALID', 'WF-L1', 'release', () => {
    const r = new Reader(bytes);
    const version = r.u8('version');
    if (version !== RELEASE_VERSION) invalid('version');
    const x: Release = {
      version,
      orgId: readIdString(r, 'orgId', ORG_ID_MAX, () => invalid('orgId')),
      requestId: r.bytes(REQUEST_ID_BYTES, 'requestId'),
      executionHash: r.bytes(32, 'executionHash'),
      trusteeIndex: r.u8('trusteeIndex'),
      shareCount: r.u32('shareCount'),
      bundleHash: r.bytes(32, 'bundleHash'),
      releasedAt: r.u64('releasedAt'),
    };
    r.finish('release');
    validateRelease(x);
    return x;
  });
}

/** The release a trustee signs after sealing `bundle` (the HPKE ciphertext) to the requester. */
export function releaseFor(
  execution: VerifiedExecution,
  trusteeIndex: number,
  shareCount: number,
  bundle: Uint8Array,
  releasedAt: number,
): Release {
  return {
    version: RELEASE_VERSION,
    orgId: execution.execution.orgId,
    requestId: execution.execution.requestId,
    executionHash: execution.hash,
    trusteeIndex,
    shareCount,
    bundleHash: sha256(bundle),
    releasedAt,
  };
}

export function signRelease(x: Release, trusteeKey: SigningKeyPair): Uint8Array {
  return signBody(TAG_RELEASE_SIGNATURE, trusteeKey, encodeRelease(x));
}

/**
 * Verifies a signed release against the verified execution it is for. Throws RELEASE_INVALID when malformed
 * (WF-L1), from a trustee the policy does not list (WF-L2), about another request or execution (WF-L4), from a
 * trustee whose approval is not among those the execution relied on (WF-L5, release rule 2), or with more
 * shares than the execution selected envelopes (WF-L6); SIGNATURE_INVALID on a bad signature (WF-L3).
 */
export function verifyRelease(
  signed: Uint8Array,
  policy: VerifiedPolicy,
  execution: VerifiedExecution,
): VerifiedRelease {
  const x = openTrusteeSigned(signed, policy, {
    tag: TAG_RELEASE_SIGNATURE,
    code: 'RELEASE_INVALID',
    checks: ['WF-L1', 'WF-L2', 'WF-L3'],
    what: 'release',
    decode: decodeRelease,
  });
  if (
    x.orgId !== execution.execution.orgId ||
    !equalBytes(x.requestId, execution.execution.requestId) ||
    !equalBytes(x.executionHash, execution.hash)
  )
    invalid('execution binding', 'WF-L4');
  if (!execution.approvers.includes(x.trusteeIndex)) invalid('trustee (did not approve)', 'WF-L5');
  if (x.shareCount > execution.execution.envelopeCount) invalid('shareCount (above the execution)', 'WF-L6');
  return { release: x, signed: signed.slice() } as VerifiedRelease;
}
