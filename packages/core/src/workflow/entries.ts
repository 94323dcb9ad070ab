/**
 * Shared rules of the log-entry bodies (docs/spec/workflow.md §9): each body defined here travels as the body
 * of one transparency-log entry (docs/spec/log.md §7: u8 type ‖ body, at most 65,535 bytes in all), so every
 * bound is chosen so that the largest valid object still fits in one entry.
 */
import { type ErrorCode, OvertError } from '../errors.js';
import { SIGNATURE_BYTES } from '../sign.js';
import { findTrustee, type TrusteeEntry, type VerifiedPolicy } from './policy.js';
import { decodeSigned, requireSignature } from './signed.js';

/** The largest encoded log entry (tlog-tiles bundles carry a u16 length). */
export const MAX_ENTRY_BYTES = 0xffff;
/** The largest body of a signed object that still fits: entry type (1) + u32 length (4) + signature (64). */
export const MAX_ENTRY_SIGNED_BODY = MAX_ENTRY_BYTES - 1 - 4 - SIGNATURE_BYTES;

/** The policy's trustee with this index, for this organisation; throws `code` under `check` otherwise. */
export function authorisedTrustee(
  policy: VerifiedPolicy,
  orgId: string,
  index: number,
  code: ErrorCode,
  check: string,
  what: string,
): TrusteeEntry {
  const t = findTrustee(policy.policy, index);
  if (orgId !== policy.policy.orgId || t === undefined)
    throw new OvertError(code, `${what} is not from a trustee of the policy`, { check });
  return t;
}

/**
 * Opens a log entry signed by one trustee of the policy: splits the signed object and decodes its body (`code`
 * under `checks[0]`), finds the trustee it names (`checks[1]`) and checks its signature (SIGNATURE_INVALID under
 * `checks[2]`). Returns the body and the split object.
 */
export function openTrusteeSigned<T extends { readonly orgId: string; readonly trusteeIndex: number }>(
  signed: Uint8Array,
  policy: VerifiedPolicy,
  o: {
    readonly tag: string;
    readonly code: ErrorCode;
    readonly checks: readonly [malformed: string, trustee: string, signature: string];
    readonly what: string;
    readonly decode: (body: Uint8Array) => T;
  },
): T {
  const s = decodeSigned(signed, MAX_ENTRY_SIGNED_BODY, o.code, o.checks[0]);
  const x = o.decode(s.body);
  const t = authorisedTrustee(policy, x.orgId, x.trusteeIndex, o.code, o.checks[1], o.what);
  requireSignature(o.tag, t.signingKey, s, o.what, o.checks[2]);
  return x;
}
