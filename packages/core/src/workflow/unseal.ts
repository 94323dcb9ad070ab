/**
 * Unseal entries (DESIGN §4 step 8, A10; docs/spec/workflow.md §9.5): at the seal date the relay or any trustee
 * publishes the opening of a request's confidential commitment, signed by the publisher, so affected users and
 * the public see the justification the trustees approved, and anyone can check it against the commitment.
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
import { isOvertError, OvertError } from '../errors.js';
import type { SigningKeyPair } from '../sign.js';
import { MAX_PARTICIPANTS } from '../threshold.js';
import { authorisedTrustee, MAX_ENTRY_SIGNED_BODY } from './entries.js';
import type { VerifiedPolicy } from './policy.js';
import {
  checkOpening,
  decodeOpening,
  encodeOpening,
  REQUEST_ID_BYTES,
  type RequestOpening,
  type VerifiedRequest,
} from './request.js';
import { decodeSigned, requireSignature, signBody } from './signed.js';

export const UNSEAL_VERSION = 1;
export const TAG_UNSEAL_SIGNATURE = 'overt/workflow/v1/unseal';
/** Publisher 0 is the relay; 1..255 is the trustee with that index. */
export const PUBLISHER_RELAY = 0;
/** Bytes of an unseal body besides the justification at its largest (org id 64, case reference 255). */
const UNSEAL_FIXED_MAX = 1 + 65 + 16 + 32 + 1 + 8 + 4 + (1 + 32 + 2 + 1 + 255);
/**
 * The longest justification an unseal entry can carry (65,048 bytes). Request bodies allow up to 65,535, so a
 * request whose justification is longer than this cannot be unsealed in one entry: encodeUnseal refuses it.
 */
export const UNSEAL_JUSTIFICATION_MAX = MAX_ENTRY_SIGNED_BODY - UNSEAL_FIXED_MAX;

export interface Unseal {
  readonly version: number;
  readonly orgId: string;
  readonly requestId: Uint8Array;
  readonly requestHash: Uint8Array;
  /** PUBLISHER_RELAY or a trustee index. */
  readonly publisher: number;
  readonly unsealedAt: number;
  readonly opening: RequestOpening;
}

declare const verifiedUnseal: unique symbol;

/** An unseal whose publisher signature, request binding and opening have been checked. */
export interface VerifiedUnseal {
  readonly [verifiedUnseal]: true;
  readonly unseal: Unseal;
  readonly signed: Uint8Array;
}

function invalid(what: string, check = 'WF-U1'): never {
  throw new OvertError('UNSEAL_INVALID', `unseal ${what} is invalid`, { check });
}

/** The opening in request.ts's own encoding; its REQUEST_INVALID becomes this module's code. */
function openingBytes(o: RequestOpening): Uint8Array {
  try {
    return encodeOpening(o);
  } catch (cause) {
    if (isOvertError(cause))
      throw new OvertError('UNSEAL_INVALID', 'unseal opening is invalid', { check: 'WF-U1', cause });
    throw cause;
  }
}

export function validateUnseal(u: Unseal): void {
  if (u.version !== UNSEAL_VERSION) invalid('version');
  if (!isIdString(u.orgId, ORG_ID_MAX)) invalid('orgId');
  if (!isFixedBytes(u.requestId, REQUEST_ID_BYTES)) invalid('requestId');
  if (!isFixedBytes(u.requestHash, 32)) invalid('requestHash');
  if (!isUint(u.publisher, MAX_PARTICIPANTS)) invalid('publisher');
  if (!isMillis(u.unsealedAt)) invalid('unsealedAt');
}

/** Throws UNSEAL_INVALID (WF-U1) on a bad field or a body too large for one log entry. */
export function encodeUnseal(u: Unseal): Uint8Array {
  validateUnseal(u);
  const opening = openingBytes(u.opening);
  const w = new Writer(256 + opening.length);
  w.u8(u.version);
  writeAscii(w, u.orgId);
  w.bytes(u.requestId).bytes(u.requestHash).u8(u.publisher).u64(u.unsealedAt).vec32(opening);
  const body = w.finish();
  if (body.length > MAX_ENTRY_SIGNED_BODY) invalid('size (larger than one log entry)');
  return body;
}

export function decodeUnseal(bytes: Uint8Array): Unseal {
  return decodeAs('UNSEAL_INVALID', 'WF-U1', 'unseal', () => {
    if (bytes.length > MAX_ENTRY_SIGNED_BODY) invalid('size (larger than one log entry)');
    const r = new Reader(bytes);
    const version = r.u8('version');
    if (version !== UNSEAL_VERSION) invalid('version');
    const orgId = readIdString(r, 'orgId', ORG_ID_MAX, () => invalid('orgId'));
    const requestId = r.bytes(REQUEST_ID_BYTES, 'requestId');
    const requestHash = r.bytes(32, 'requestHash');
    const publisher = r.u8('publisher');
    const unsealedAt = r.u64('unsealedAt');
    const raw = r.vec32('opening', MAX_ENTRY_SIGNED_BODY);
    r.finish('unseal');
    let opening: RequestOpening;
    try {
      opening = decodeOpening(raw);
    } catch (cause) {
      if (isOvertError(cause)) invalid('opening');
      throw cause;
    }
    const u: Unseal = { version, orgId, requestId, requestHash, publisher, unsealedAt, opening };
    validateUnseal(u);
    return u;
  });
}

export function unsealFor(
  request: VerifiedRequest,
  opening: RequestOpening,
  publisher: number,
  unsealedAt: number,
): Unseal {
  return {
    version: UNSEAL_VERSION,
    orgId: request.request.orgId,
    requestId: request.request.requestId,
    requestHash: request.hash,
    publisher,
    unsealedAt,
    opening,
  };
}

/** Signs an unseal with the publisher's key (the relay's, or the trustee's named by `publisher`). */
export function signUnseal(u: Unseal, publisherKey: SigningKeyPair): Uint8Array {
  return signBody(TAG_UNSEAL_SIGNATURE, publisherKey, encodeUnseal(u));
}

/**
 * Verifies a signed unseal. Throws UNSEAL_INVALID when malformed (WF-U1), about another organisation or
 * request (WF-U2), or from a trustee index the policy does not list (WF-U3); SIGNATURE_INVALID when the
 * publisher's signature fails (WF-U4); COMMITMENT_MISMATCH when the opening is not the one the request
 * committed to (WF-U5, by request.ts's checkOpening, WF-R6).
 */
export function verifyUnseal(
  signed: Uint8Array,
  policy: VerifiedPolicy,
  request: VerifiedRequest,
  relayPublicKey: Uint8Array,
): VerifiedUnseal {
  const s = decodeSigned(signed, MAX_ENTRY_SIGNED_BODY, 'UNSEAL_INVALID', 'WF-U1');
  const u = decodeUnseal(s.body);
  if (
    u.orgId !== policy.policy.orgId ||
    u.orgId !== request.request.orgId ||
    !equalBytes(u.requestId, request.request.requestId) ||
    !equalBytes(u.requestHash, request.hash)
  )
    invalid('request binding', 'WF-U2');
  const key =
    u.publisher === PUBLISHER_RELAY
      ? relayPublicKey
      : authorisedTrustee(policy, u.orgId, u.publisher, 'UNSEAL_INVALID', 'WF-U3', 'unseal').signingKey;
  requireSignature(TAG_UNSEAL_SIGNATURE, key, s, 'unseal', 'WF-U4');
  try {
    checkOpening(request.request, u.opening);
  } catch (cause) {
    if (isOvertError(cause) && cause.code === 'COMMITMENT_MISMATCH')
      throw new OvertError('COMMITMENT_MISMATCH', 'unseal opening does not match the request', {
        check: 'WF-U5',
        cause,
      });
    throw cause;
  }
  return { unseal: u, signed: signed.slice() } as VerifiedUnseal;
}
