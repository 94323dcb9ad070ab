/**
 * Seal extensions (DESIGN §4 step 8, A10; docs/spec/workflow.md §9.4): a request's seal can be pushed back only
 * by k distinct trustees of the policy, each signing the same statement (request, extension number, old and new
 * seal-until), within the policy's limits on the number of extensions and on the seal length. Extensions form a
 * chain from the request's own seal-until; anything else leaves the seal due, which overdueSeals reports.
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
import { SIGNATURE_BYTES, type SigningKeyPair } from '../sign.js';
import { MAX_PARTICIPANTS } from '../threshold.js';
import { authorisedTrustee } from './entries.js';
import type { VerifiedPolicy } from './policy.js';
import { REQUEST_ID_BYTES, type VerifiedRequest } from './request.js';
import { requireSignature, signBody } from './signed.js';

export const EXTENSION_VERSION = 1;
export const TAG_EXTENSION_SIGNATURE = 'overt/workflow/v1/extension';

/** What every trustee signs. */
export interface ExtensionStatement {
  readonly version: number;
  readonly orgId: string;
  readonly requestId: Uint8Array;
  readonly requestHash: Uint8Array;
  /** 1 for the first extension of this request, then 2, 3, … */
  readonly number: number;
  /** The seal-until being extended: the request's for number 1, the previous extension's new one after. */
  readonly oldSealUntil: number;
  readonly newSealUntil: number;
  /** When the extension was agreed; must not be after oldSealUntil (extensions come before the deadline). */
  readonly issuedAt: number;
}

export interface ExtensionSignature {
  readonly trusteeIndex: number;
  readonly signature: Uint8Array;
}

export interface Extension {
  readonly statement: ExtensionStatement;
  /** Sorted by trustee index, strictly increasing (one signature per trustee), 1..255. */
  readonly signatures: readonly ExtensionSignature[];
}

declare const verifiedExtension: unique symbol;

export interface VerifiedExtension {
  readonly [verifiedExtension]: true;
  readonly extension: Extension;
  readonly encoded: Uint8Array;
}

function invalid(what: string, check = 'WF-X1'): never {
  throw new OvertError('EXTENSION_INVALID', `extension ${what} is invalid`, { check });
}

export function validateExtensionStatement(s: ExtensionStatement): void {
  if (s.version !== EXTENSION_VERSION) invalid('version');
  if (!isIdString(s.orgId, ORG_ID_MAX)) invalid('orgId');
  if (!isFixedBytes(s.requestId, REQUEST_ID_BYTES)) invalid('requestId');
  if (!isFixedBytes(s.requestHash, 32)) invalid('requestHash');
  if (!isUint(s.number, 0xff) || s.number < 1) invalid('number');
  if (!isMillis(s.oldSealUntil) || !isMillis(s.newSealUntil) || s.newSealUntil <= s.oldSealUntil)
    invalid('seal dates');
  if (!isMillis(s.issuedAt)) invalid('issuedAt');
}

function writeStatement(w: Writer, s: ExtensionStatement): void {
  validateExtensionStatement(s);
  w.u8(s.version);
  writeAscii(w, s.orgId);
  w.bytes(s.requestId).bytes(s.requestHash).u8(s.number);
  w.u64(s.oldSealUntil).u64(s.newSealUntil).u64(s.issuedAt);
}

export function encodeExtensionStatement(s: ExtensionStatement): Uint8Array {
  const w = new Writer(128);
  writeStatement(w, s);
  return w.finish();
}

export function validateExtension(x: Extension): void {
  validateExtensionStatement(x.statement);
  const n = x.signatures.length;
  if (n < 1 || n > MAX_PARTICIPANTS) invalid('signature count');
  for (let i = 0; i < n; i++) {
    const g = x.signatures[i]!;
    if (!isUint(g.trusteeIndex, MAX_PARTICIPANTS) || g.trusteeIndex < 1) invalid('signer index');
    if (i > 0 && g.trusteeIndex <= x.signatures[i - 1]!.trusteeIndex) invalid('signers (order or duplicate)');
    if (!isFixedBytes(g.signature, SIGNATURE_BYTES)) invalid('signature');
  }
}

/** extension := statement ‖ u8 n ‖ (u8 trustee index ‖ signature (64))^n. The whole log-entry body. */
export function encodeExtension(x: Extension): Uint8Array {
  validateExtension(x);
  const w = new Writer(128 + 65 * x.signatures.length);
  writeStatement(w, x.statement);
  w.u8(x.signatures.length);
  for (const g of x.signatures) w.u8(g.trusteeIndex).bytes(g.signature);
  return w.finish();
}

function readStatement(r: Reader): ExtensionStatement {
  const version = r.u8('version');
  if (version !== EXTENSION_VERSION) invalid('version');
  return {
    version,
    orgId: readIdString(r, 'orgId', ORG_ID_MAX, () => invalid('orgId')),
    requestId: r.bytes(REQUEST_ID_BYTES, 'requestId'),
    requestHash: r.bytes(32, 'requestHash'),
    number: r.u8('number'),
    oldSealUntil: r.u64('oldSealUntil'),
    newSealUntil: r.u64('newSealUntil'),
    issuedAt: r.u64('issuedAt'),
  };
}

/** The statement alone (what each trustee signs), as encodeExtensionStatement writes it. EXTENSION_INVALID. */
export function decodeExtensionStatement(bytes: Uint8Array): ExtensionStatement {
  return decodeAs('EXTENSION_INVALID', 'WF-X1', 'extension statement', () => {
    const r = new Reader(bytes);
    const statement = readStatement(r);
    r.finish('extension statement');
    validateExtensionStatement(statement);
    return statement;
  });
}

export function decodeExtension(bytes: Uint8Array): Extension {
  return decodeAs('EXTENSION_INVALID', 'WF-X1', 'extension', () => {
    const r = new Reader(bytes);
    const statement = readStatement(r);
    const n = r.u8('signature count');
    const signatures: ExtensionSignature[] = [];
    for (let i = 0; i < n; i++)
      signatures.push({
        trusteeIndex: r.u8('signer index'),
        signature: r.bytes(SIGNATURE_BYTES, 'signature'),
      });
    r.finish('extension');
    const x = { statement, signatures };
    validateExtension(x);
    return x;
  });
}

/**
 * The statement for the next extension of `request`: `previous` is the last verified extension of the same
 * request, or undefined for the first.
 */
export function extensionStatementFor(
  request: VerifiedRequest,
  previous: VerifiedExtension | undefined,
  newSealUntil: number,
  issuedAt: number,
): ExtensionStatement {
  const p = previous?.extension.statement;
  return {
    version: EXTENSION_VERSION,
    orgId: request.request.orgId,
    requestId: request.request.requestId,
    requestHash: request.hash,
    number: p === undefined ? 1 : p.number + 1,
    oldSealUntil: p === undefined ? request.request.sealUntil : p.newSealUntil,
    newSealUntil,
    issuedAt,
  };
}

/** One trustee's signature on an extension statement: Ed25519(key, u16 len(tag) ‖ tag ‖ statement). */
export function signExtensionStatement(
  s: ExtensionStatement,
  trusteeIndex: number,
  trusteeKey: SigningKeyPair,
): ExtensionSignature {
  const signed = signBody(TAG_EXTENSION_SIGNATURE, trusteeKey, encodeExtensionStatement(s));
  return { trusteeIndex, signature: signed.slice(signed.length - SIGNATURE_BYTES) };
}

/**
 * Verifies an extension entry body (A10). Throws EXTENSION_INVALID when malformed, including a signer listed
 * twice (WF-X1); about another request, out of chain (number must follow `previous`, old seal-until must be the
 * request's or `previous`'s new one) (WF-X2); signed by a trustee the policy does not list or by fewer than k
 * trustees (WF-X3); agreed after the deadline it extends (WF-X6); SIGNATURE_INVALID when any signature fails
 * (WF-X4); REQUEST_LIMIT beyond the policy's max_extensions or max seal length (WF-X5).
 */
export function verifyExtension(
  encoded: Uint8Array,
  policy: VerifiedPolicy,
  request: VerifiedRequest,
  previous?: VerifiedExtension,
): VerifiedExtension {
  const x = decodeExtension(encoded);
  const s = x.statement;
  const expected = extensionStatementFor(request, previous, s.newSealUntil, s.issuedAt);
  if (
    s.orgId !== policy.policy.orgId ||
    s.orgId !== expected.orgId ||
    !equalBytes(s.requestId, expected.requestId) ||
    !equalBytes(s.requestHash, expected.requestHash) ||
    s.number !== expected.number ||
    s.oldSealUntil !== expected.oldSealUntil
  )
    invalid('request binding or chain', 'WF-X2');
  const l = policy.policy.limits;
  if (s.number > l.maxExtensions || s.newSealUntil - s.oldSealUntil > l.maxSealMs)
    throw new OvertError('REQUEST_LIMIT', 'extension beyond the policy limits', { check: 'WF-X5' });
  if (s.issuedAt > s.oldSealUntil) invalid('issuedAt (after the deadline)', 'WF-X6');
  if (x.signatures.length < policy.policy.threshold) invalid('signers (fewer than k)', 'WF-X3');
  const body = encodeExtensionStatement(s);
  for (const g of x.signatures) {
    const t = authorisedTrustee(policy, s.orgId, g.trusteeIndex, 'EXTENSION_INVALID', 'WF-X3', 'extension');
    requireSignature(
      TAG_EXTENSION_SIGNATURE,
      t.signingKey,
      { body, signature: g.signature },
      'extension',
      'WF-X4',
    );
  }
  return { extension: x, encoded: encoded.slice() } as VerifiedExtension;
}
