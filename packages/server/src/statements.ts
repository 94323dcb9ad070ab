/**
 * The org-admin's signed directory statements, as the relay uses them: it checks them before appending their
 * exact bytes to the transparency log as entries of type device_added (3), device_removed (4) and epoch_key (2).
 * The formats, signing and verification live in @overt/core (directory/statements.ts, docs/spec/directory.md),
 * shared with the client that checks them again; this module keeps the relay's API and reports failures as the
 * relay's own codes (DIR_STATEMENT_INVALID / EPOCH_KEY_INVALID under AUTH-9, relay.md §4).
 */
import {
  deviceEntry as coreDeviceEntry,
  epochKeyEntry as coreEpochKeyEntry,
  signDeviceStatement as coreSignDevice,
  signEpochKeyStatement as coreSignEpochKey,
  verifyDeviceStatement as coreVerifyDevice,
  verifyEpochKeyStatement as coreVerifyEpochKey,
  type DeviceStatement,
  type DeviceStatementKind,
  DIRECTORY_ENTRY_TYPES,
  type EpochKeyStatement,
  isOvertError,
} from '@overt/core';
import { ENTRY_TYPES } from '@overt/log';
import { RelayError } from './errors.js';

export {
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
  DIRECTORY_ENTRY_TYPES.device_removed !== ENTRY_TYPES.device_removed
)
  throw new Error('directory entry types disagree with the log registry');

/** Runs `f`, turning core's DIRECTORY_* errors into the relay's `code` under AUTH-9. */
function asRelay<T>(code: 'DIR_STATEMENT_INVALID' | 'EPOCH_KEY_INVALID', f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (isOvertError(e)) {
      const message = e.message.replace(/^[A-Z_]+ \[[A-Z]+-\d+\]: /, '');
      throw new RelayError(code, message, { check: 'AUTH-9', cause: e });
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

/** Builds and signs an epoch-key statement (the admin tool's side, after the trustees' DKG). */
export function signEpochKeyStatement(
  admin: Parameters<typeof coreSignEpochKey>[0],
  s: EpochKeyStatement,
): Uint8Array {
  return asRelay('EPOCH_KEY_INVALID', () => coreSignEpochKey(admin, s));
}

/**
 * Decodes and verifies an epoch-key statement: canonical encoding, 1 ≤ k ≤ n, every key a canonical
 * non-identity ristretto255 element, and the admin's signature. EPOCH_KEY_INVALID (AUTH-9) otherwise.
 */
export function verifyEpochKeyStatement(adminKey: Uint8Array, bytes: Uint8Array): EpochKeyStatement {
  return asRelay('EPOCH_KEY_INVALID', () => coreVerifyEpochKey(adminKey, bytes));
}

/** The log entry for a statement: u8 type ‖ statement (log entry.ts). */
export function deviceEntry(kind: DeviceStatementKind, statement: Uint8Array): Uint8Array {
  return coreDeviceEntry(kind, statement);
}

export function epochKeyEntry(statement: Uint8Array): Uint8Array {
  return coreEpochKeyEntry(statement);
}
