/**
 * The directory statements as the relay uses them: it checks them before appending their exact bytes to the
 * transparency log as entries of type policy (1), epoch_key (2), device_added (3) and device_removed (4). The
 * formats, signing and verification live in @overt/core (directory/statements.ts, workflow/policy.ts,
 * docs/spec/directory.md), shared with the client that checks them again; this module keeps the relay's API and
 * reports failures as the relay's own codes: DIR_STATEMENT_INVALID / EPOCH_KEY_INVALID under AUTH-9 for a
 * statement that does not decode or (devices) verify under the admin key, EPOCH_KEY_INVALID under AUTH-11 for an
 * epoch key that does not verify under the policy in force (core DIR-4..DIR-6: policy binding, k trustee
 * signatures, interpolation), POLICY_INVALID under AUTH-12 for a policy (relay.md §4).
 */
import {
  deviceEntry as coreDeviceEntry,
  epochKeyEntry as coreEpochKeyEntry,
  policyEntry as corePolicyEntry,
  signDeviceStatement as coreSignDevice,
  verifyDeviceStatement as coreVerifyDevice,
  verifyEpochKeyStatement as coreVerifyEpochKey,
  type DecodedEpochKeyStatement,
  type DeviceStatement,
  type DeviceStatementKind,
  DIRECTORY_ENTRY_TYPES,
  isOvertError,
  POLICY_ENTRY_TYPE,
  type VerifiedPolicy,
  verifyPolicy,
} from '@overt/core';
import { ENTRY_TYPES } from '@overt/log';
import { RelayError } from './errors.js';

export {
  type DecodedEpochKeyStatement,
  type DeviceStatement,
  type DeviceStatementKind,
  type EpochKeyStatement,
  TAG_DEVICE_ADDED,
  TAG_DEVICE_REMOVED,
  TAG_EPOCH_KEY,
} from '@overt/core';

// Core repeats the log's registry codes (it cannot import the log): they must agree.
if (
  DIRECTORY_ENTRY_TYPES.epoch_key !== ENTRY_TYPES.epoch_key ||
  DIRECTORY_ENTRY_TYPES.device_added !== ENTRY_TYPES.device_added ||
  DIRECTORY_ENTRY_TYPES.device_removed !== ENTRY_TYPES.device_removed ||
  POLICY_ENTRY_TYPE !== ENTRY_TYPES.policy
)
  throw new Error('directory entry types disagree with the log registry');

/**
 * Runs `f`, turning core's errors into the relay's `code`: under AUTH-9 for a statement that does not decode or
 * (devices) verify, under AUTH-11 for an epoch key that fails the policy's checks (core DIR-4, DIR-5, DIR-6).
 */
function asRelay<T>(code: 'DIR_STATEMENT_INVALID' | 'EPOCH_KEY_INVALID' | 'POLICY_INVALID', f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (isOvertError(e)) {
      const message = e.message.replace(/^[A-Z_]+ \[[A-Z]+-\d+\]: /, '');
      const check =
        code === 'POLICY_INVALID'
          ? 'AUTH-12'
          : e.check === 'DIR-4' || e.check === 'DIR-5' || e.check === 'DIR-6'
            ? 'AUTH-11'
            : 'AUTH-9';
      throw new RelayError(code, `${message} (${e.check ?? e.code})`, { check, cause: e });
    }
    throw e;
  }
}

/** Builds and signs a device statement (the admin tool's side). */
export function signDeviceStatement(
  admin: Parameters<typeof coreSignDevice>[0],
  s: DeviceStatement,
): Uint8Array {
  return asRelay('DIR_STATEMENT_INVALID', () => coreSignDevice(admin, s));
}

/**
 * Decodes and verifies a device statement of `kind` under the admin key. DIR_STATEMENT_INVALID (AUTH-9) when it
 * does not decode canonically, has out-of-range ids, or its signature does not verify.
 */
export function verifyDeviceStatement(
  adminKey: Uint8Array,
  kind: DeviceStatementKind,
  bytes: Uint8Array,
): DeviceStatement {
  return asRelay('DIR_STATEMENT_INVALID', () => coreVerifyDevice(adminKey, kind, bytes));
}

/**
 * Decodes and verifies an epoch-key statement under the policy in force (core verifyEpochKeyStatement): canonical
 * encoding (EPOCH_KEY_INVALID, AUTH-9), then the policy binding, at least k valid trustee signatures and the
 * interpolation of the verification keys (EPOCH_KEY_INVALID, AUTH-11). The admin's key plays no part: it cannot
 * make an epoch key on its own (DESIGN A14).
 */
export function verifyEpochKeyStatement(policy: VerifiedPolicy, bytes: Uint8Array): DecodedEpochKeyStatement {
  return asRelay('EPOCH_KEY_INVALID', () => coreVerifyEpochKey(policy, bytes));
}

/**
 * Verifies a signed policy under the org-admin key (the org key of workflow.md §2; in this deployment the admin
 * key signs it). POLICY_INVALID (AUTH-12) when it does not decode or its signature does not verify.
 */
export function verifyPolicyStatement(adminKey: Uint8Array, signed: Uint8Array): VerifiedPolicy {
  return asRelay('POLICY_INVALID', () => verifyPolicy(signed, adminKey));
}

/** The log entry for a statement: u8 type ‖ statement (log entry.ts). */
export function deviceEntry(kind: DeviceStatementKind, statement: Uint8Array): Uint8Array {
  return coreDeviceEntry(kind, statement);
}

export function epochKeyEntry(statement: Uint8Array): Uint8Array {
  return coreEpochKeyEntry(statement);
}

export function policyEntry(signed: Uint8Array): Uint8Array {
  return corePolicyEntry(signed);
}
