/**
 * Shared rules of the log-entry bodies (docs/spec/workflow.md §9): each body defined here travels as the body
 * of one transparency-log entry (docs/spec/log.md §7: u8 type ‖ body, at most 65,535 bytes in all), so every
 * bound is chosen so that the largest valid object still fits in one entry.
 */
import { type ErrorCode, OvertError } from '../errors.js';
import { SIGNATURE_BYTES } from '../sign.js';
import { findTrustee, type TrusteeEntry, type VerifiedPolicy } from './policy.js';

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
