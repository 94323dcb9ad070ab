/**
 * Shred statements (DESIGN §4 step 9, A13; docs/spec/workflow.md §9.6): after retention each trustee destroys
 * its share of an epoch's escrow key and signs a statement saying so. Once k' = n − k + 1 trustees have logged
 * one, fewer than k shares can remain, and that epoch's envelopes are unreadable outside their conversations.
 */
import { Reader, Writer } from '../codec.js';
import {
  decodeAs,
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
import { signBody } from './signed.js';

export const SHRED_VERSION = 1;
export const TAG_SHRED_SIGNATURE = 'overt/workflow/v1/shred';
/** The one statement defined: "I have erased my share of this epoch's escrow key, and every copy of it". */
export const SHRED_STATEMENT_ERASED = 1;

export interface Shred {
  readonly version: number;
  readonly orgId: string;
  readonly epoch: number;
  readonly trusteeIndex: number;
  readonly statement: typeof SHRED_STATEMENT_ERASED;
  readonly shreddedAt: number;
}

declare const verifiedShred: unique symbol;

export interface VerifiedShred {
  readonly [verifiedShred]: true;
  readonly shred: Shred;
  readonly signed: Uint8Array;
}

function invalid(what: string, check = 'WF-S1'): never {
  throw new OvertError('SHRED_INVALID', `shred statement ${what} is invalid`, { check });
}

export function validateShred(x: Shred): void {
  if (x.version !== SHRED_VERSION) invalid('version');
  if (!isIdString(x.orgId, ORG_ID_MAX)) invalid('orgId');
  if (!isUint(x.epoch, 0xffffffff)) invalid('epoch');
  if (!isUint(x.trusteeIndex, MAX_PARTICIPANTS) || x.trusteeIndex < 1) invalid('trusteeIndex');
  if (x.statement !== SHRED_STATEMENT_ERASED) invalid('statement');
  if (!isMillis(x.shreddedAt)) invalid('shreddedAt');
}

export function encodeShred(x: Shred): Uint8Array {
  validateShred(x);
  const w = new Writer(96);
  w.u8(x.version);
  writeAscii(w, x.orgId);
  w.u32(x.epoch).u8(x.trusteeIndex).u8(x.statement).u64(x.shreddedAt);
  return w.finish();
}

export function decodeShred(bytes: Uint8Array): Shred {
  return decodeAs('SHRED_INVALID', 'WF-S1', 'shred statement', () => {
    const r = new Reader(bytes);
    const version = r.u8('version');
    if (version !== SHRED_VERSION) invalid('version');
    const orgId = readIdString(r, 'orgId', ORG_ID_MAX, () => invalid('orgId'));
    const epoch = r.u32('epoch');
    const trusteeIndex = r.u8('trusteeIndex');
    const statement = r.u8('statement');
    if (statement !== SHRED_STATEMENT_ERASED) invalid('statement');
    const x: Shred = { version, orgId, epoch, trusteeIndex, statement, shreddedAt: r.u64('shreddedAt') };
    r.finish('shred statement');
    validateShred(x);
    return x;
  });
}

export function shredFor(orgId: string, epoch: number, trusteeIndex: number, shreddedAt: number): Shred {
  return {
    version: SHRED_VERSION,
    orgId,
    epoch,
    trusteeIndex,
    statement: SHRED_STATEMENT_ERASED,
    shreddedAt,
  };
}

export function signShred(x: Shred, trusteeKey: SigningKeyPair): Uint8Array {
  return signBody(TAG_SHRED_SIGNATURE, trusteeKey, encodeShred(x));
}

/**
 * Verifies a signed shred statement. Throws SHRED_INVALID when malformed (WF-S1) or from a trustee the policy
 * does not list (WF-S2); SIGNATURE_INVALID when the trustee's signature fails (WF-S3).
 */
export function verifyShred(signed: Uint8Array, policy: VerifiedPolicy): VerifiedShred {
  const x = openTrusteeSigned(signed, policy, {
    tag: TAG_SHRED_SIGNATURE,
    code: 'SHRED_INVALID',
    checks: ['WF-S1', 'WF-S2', 'WF-S3'],
    what: 'shred statement',
    decode: decodeShred,
  });
  return { shred: x, signed: signed.slice() } as VerifiedShred;
}
