/**
 * Refusals (DESIGN §5, docs/spec/workflow.md §9.7): when a release-rule step fails a trustee releases nothing
 * and logs a signed refusal naming the step (REL-1..REL-5), the request and, for per-envelope steps, the label
 * of the envelope that failed, so a refused release is as visible as a granted one.
 */
import { equalBytes } from '../bytes.js';
import { LABEL_BYTES } from '../capsule/params.js';
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
import type { SigningKeyPair } from '../sign.js';
import { MAX_PARTICIPANTS } from '../threshold.js';
import { openTrusteeSigned } from './entries.js';
import type { VerifiedPolicy } from './policy.js';
import { REQUEST_ID_BYTES } from './request.js';
import { signBody } from './signed.js';

export const REFUSAL_VERSION = 1;
export const TAG_REFUSAL_SIGNATURE = 'overt/workflow/v1/refusal';

/** The release-rule step that failed (DESIGN §5); the wire code is the step number. */
export type RefusalReason = 'REL-1' | 'REL-2' | 'REL-3' | 'REL-4' | 'REL-5';
const REASONS: readonly RefusalReason[] = ['REL-1', 'REL-2', 'REL-3', 'REL-4', 'REL-5'];

export interface Refusal {
  readonly version: number;
  readonly orgId: string;
  readonly requestId: Uint8Array;
  /** Hash of the request body as received (request.ts requestHash), even if it did not verify (REL-1). */
  readonly requestHash: Uint8Array;
  readonly trusteeIndex: number;
  readonly reason: RefusalReason;
  /** The label of the envelope that failed, for REL-4 and REL-5; otherwise absent. */
  readonly label?: Uint8Array;
  readonly refusedAt: number;
}

declare const verifiedRefusal: unique symbol;

export interface VerifiedRefusal {
  readonly [verifiedRefusal]: true;
  readonly refusal: Refusal;
  readonly signed: Uint8Array;
}

function invalid(what: string, check = 'WF-F1'): never {
  throw new OvertError('REFUSAL_INVALID', `refusal ${what} is invalid`, { check });
}

export function validateRefusal(x: Refusal): void {
  if (x.version !== REFUSAL_VERSION) invalid('version');
  if (!isIdString(x.orgId, ORG_ID_MAX)) invalid('orgId');
  if (!isFixedBytes(x.requestId, REQUEST_ID_BYTES)) invalid('requestId');
  if (!isFixedBytes(x.requestHash, 32)) invalid('requestHash');
  if (!isUint(x.trusteeIndex, MAX_PARTICIPANTS) || x.trusteeIndex < 1) invalid('trusteeIndex');
  if (!REASONS.includes(x.reason)) invalid('reason');
  if (x.label !== undefined && !isFixedBytes(x.label, LABEL_BYTES)) invalid('label');
  if (!isMillis(x.refusedAt)) invalid('refusedAt');
}

export function encodeRefusal(x: Refusal): Uint8Array {
  validateRefusal(x);
  const w = new Writer(160);
  w.u8(x.version);
  writeAscii(w, x.orgId);
  w.bytes(x.requestId)
    .bytes(x.requestHash)
    .u8(x.trusteeIndex)
    .u8(REASONS.indexOf(x.reason) + 1);
  if (x.label === undefined) w.u8(0);
  else w.u8(1).bytes(x.label);
  w.u64(x.refusedAt);
  return w.finish();
}

export function decodeRefusal(bytes: Uint8Array): Refusal {
  return decodeAs('REFUSAL_INVALID', 'WF-F1', 'refusal', () => {
    const r = new Reader(bytes);
    const version = r.u8('version');
    if (version !== REFUSAL_VERSION) invalid('version');
    const orgId = readIdString(r, 'orgId', ORG_ID_MAX, () => invalid('orgId'));
    const requestId = r.bytes(REQUEST_ID_BYTES, 'requestId');
    const requestHash = r.bytes(32, 'requestHash');
    const trusteeIndex = r.u8('trusteeIndex');
    const reason = REASONS[r.u8('reason') - 1] ?? invalid('reason');
    const hasLabel = r.u8('label flag');
    if (hasLabel > 1) invalid('label flag');
    const label = hasLabel === 1 ? r.bytes(LABEL_BYTES, 'label') : undefined;
    const refusedAt = r.u64('refusedAt');
    r.finish('refusal');
    const x: Refusal = {
      version,
      orgId,
      requestId,
      requestHash,
      trusteeIndex,
      reason,
      ...(label === undefined ? {} : { label }),
      refusedAt,
    };
    validateRefusal(x);
    return x;
  });
}

export function signRefusal(x: Refusal, trusteeKey: SigningKeyPair): Uint8Array {
  return signBody(TAG_REFUSAL_SIGNATURE, trusteeKey, encodeRefusal(x));
}

/**
 * Verifies a signed refusal. Throws REFUSAL_INVALID when malformed (WF-F1), from a trustee the policy does not
 * list (WF-F2), or, when `request` is given (its id and the hash of its body), about another request (WF-F4);
 * SIGNATURE_INVALID when the trustee's signature fails (WF-F3).
 */
export function verifyRefusal(
  signed: Uint8Array,
  policy: VerifiedPolicy,
  request?: { readonly requestId: Uint8Array; readonly hash: Uint8Array },
): VerifiedRefusal {
  const x = openTrusteeSigned(signed, policy, {
    tag: TAG_REFUSAL_SIGNATURE,
    code: 'REFUSAL_INVALID',
    checks: ['WF-F1', 'WF-F2', 'WF-F3'],
    what: 'refusal',
    decode: decodeRefusal,
  });
  if (
    request !== undefined &&
    (!equalBytes(x.requestId, request.requestId) || !equalBytes(x.requestHash, request.hash))
  )
    invalid('request binding', 'WF-F4');
  return { refusal: x, signed: signed.slice() } as VerifiedRefusal;
}
