/**
 * Device and admin authentication by signed requests (docs/spec/relay.md §3). No passwords, no session tokens:
 * every request carries an Ed25519 signature, by the device identity key on the transparency log (or the
 * org-admin key), over its method, target, body hash, signer, timestamp and a fresh nonce.
 *
 * Why signed requests rather than a challenge–response session token: a relay node needs no session state (the
 * relay is stateless behind a load balancer, ARCHITECTURE "Processes"), there is no bearer token to steal from a
 * log or a proxy, and every request is bound to its exact body, so a TLS-terminating proxy cannot alter one.
 * Replay is refused by the freshness window (AUTH-5) plus the nonce store (AUTH-6), which together cover every
 * instant at which a signature would still be accepted.
 *
 * Signing input (same framing as every Overt signature, workflow/signed.ts: u16 len(tag) ‖ tag ‖ body):
 *
 *     tag  = "overt/relay/v1/request"
 *     body = vec8(method) ‖ vec16(target) ‖ vec8(signer) ‖ u64(timestamp_ms) ‖ nonce[16] ‖ SHA-256(body)[32]
 *
 * The first byte of the input is 0x00 (the high byte of len(tag)), so it can never parse as an MLS SignContent
 * with a non-empty "MLS 1.0 " label (RFC 9420 §5.1.2): the device identity key doubles as the MLS signature key
 * (client credential.ts) and this keeps the two uses apart.
 */
import {
  concatBytes,
  equalBytes,
  findRequester,
  findTrustee,
  fromBase64Url,
  isDeviceId,
  isOvertError,
  SIGNATURE_BYTES,
  type SigningKeyPair,
  sha256,
  sign,
  toBase64Url,
  utf8Encode,
  type VerifiedPolicy,
  verifySignature,
  Writer,
} from '@overt/core';
import { RelayError } from './errors.js';
import { verifyPolicyStatement } from './statements.js';
import type { DeviceRecord, PolicyRecord, RelayStorage } from './storage/storage.js';

export const REQUEST_TAG = 'overt/relay/v1/request';
export const NONCE_BYTES = 16;
export const DEFAULT_FRESHNESS_MS = 30_000;

/** Header names (lowercase, as Node presents them). */
export const HEADER_SIGNER = 'overt-signer';
export const HEADER_TIMESTAMP = 'overt-timestamp';
export const HEADER_NONCE = 'overt-nonce';
export const HEADER_SIGNATURE = 'overt-signature';

/**
 * Device ids and user ids the relay accepts: a URL-safe subset of the envelope header's identifier alphabet, so
 * they travel in paths unescaped. Defined once in core (ids.ts, foundations.md §8) with the limits every part uses.
 */
export { isDeviceId, isUserId } from '@overt/core';

/**
 * Who signed: a device (by id), the org-admin, or — for the access workflow (access.md §1) — a trustee or a
 * requester of the policy in force. Written `device:<id>`, `admin`, `trustee:<index>` or `requester:<id>`.
 */
export type Signer =
  | { readonly kind: 'device'; readonly deviceId: string }
  | { readonly kind: 'admin' }
  | { readonly kind: 'trustee'; readonly index: number }
  | { readonly kind: 'requester'; readonly requesterId: string };

export function signerString(s: Signer): string {
  switch (s.kind) {
    case 'admin':
      return 'admin';
    case 'device':
      return `device:${s.deviceId}`;
    case 'trustee':
      return `trustee:${s.index}`;
    case 'requester':
      return `requester:${s.requesterId}`;
  }
}

/** A requester id of a policy (workflow.md §2: id ≤ 128, bytes 0x21–0x7e). */
const REQUESTER_ID = /^[\x21-\x7e]{1,128}$/;
/** A trustee index 1..255, decimal without leading zeros. */
const TRUSTEE_INDEX = /^[1-9][0-9]{0,2}$/;

function malformed(what: string): never {
  throw new RelayError('AUTH_MALFORMED', `authentication ${what} is malformed`, { check: 'AUTH-2' });
}

export function parseSigner(s: string): Signer {
  if (s === 'admin') return { kind: 'admin' };
  if (s.startsWith('device:') && isDeviceId(s.slice(7))) return { kind: 'device', deviceId: s.slice(7) };
  if (s.startsWith('trustee:') && TRUSTEE_INDEX.test(s.slice(8)) && Number(s.slice(8)) <= 255)
    return { kind: 'trustee', index: Number(s.slice(8)) };
  if (s.startsWith('requester:') && REQUESTER_ID.test(s.slice(10)))
    return { kind: 'requester', requesterId: s.slice(10) };
  return malformed('signer');
}

/** Everything a signature covers. */
export interface SignedRequestFields {
  readonly method: string;
  /** The request-target exactly as sent in the request line: path and query (origin-form, RFC 9112 §3.2.1). */
  readonly target: string;
  readonly signer: string;
  readonly timestamp: number;
  readonly nonce: Uint8Array;
  readonly bodySha256: Uint8Array;
}

function ascii(s: string, max: number, what: string): Uint8Array {
  if (s.length < 1 || s.length > max) malformed(what);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) malformed(what);
  }
  return utf8Encode(s);
}

/** The exact bytes that are signed (docs/spec/relay.md §3.2). */
export function requestSigningInput(f: SignedRequestFields): Uint8Array {
  if (f.nonce.length !== NONCE_BYTES || f.bodySha256.length !== 32) malformed('nonce or body hash');
  if (!Number.isSafeInteger(f.timestamp) || f.timestamp < 0) malformed('timestamp');
  const tag = utf8Encode(REQUEST_TAG);
  const body = new Writer(128 + f.target.length)
    .vec8(ascii(f.method, 16, 'method'))
    .vec16(ascii(f.target, 4096, 'target'))
    .vec8(ascii(f.signer, 255, 'signer'))
    .u64(f.timestamp)
    .bytes(f.nonce)
    .bytes(f.bodySha256)
    .finish();
  return concatBytes(new Writer(2 + tag.length).vec16(tag).finish(), body);
}

/** The four authentication header values. */
export interface AuthHeaders {
  readonly [HEADER_SIGNER]: string;
  readonly [HEADER_TIMESTAMP]: string;
  readonly [HEADER_NONCE]: string;
  readonly [HEADER_SIGNATURE]: string;
}

/**
 * Signs a request (for clients, the CLI and tests). `nonce` defaults to 16 fresh random bytes; `timestamp` to
 * the current time.
 */
export function signRequest(
  key: SigningKeyPair,
  signer: Signer,
  method: string,
  target: string,
  body: Uint8Array,
  options: { timestamp?: number; nonce?: Uint8Array } = {},
): AuthHeaders {
  const nonce = options.nonce ?? globalThis.crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const timestamp = options.timestamp ?? Date.now();
  const fields: SignedRequestFields = {
    method,
    target,
    signer: signerString(signer),
    timestamp,
    nonce,
    bodySha256: sha256(body),
  };
  const signature = sign(key, requestSigningInput(fields));
  return {
    [HEADER_SIGNER]: fields.signer,
    [HEADER_TIMESTAMP]: String(timestamp),
    [HEADER_NONCE]: toBase64Url(nonce),
    [HEADER_SIGNATURE]: toBase64Url(signature),
  };
}

/** Authentication values as received, still unverified. */
export interface PresentedAuth {
  readonly signer: Signer;
  readonly signerText: string;
  readonly timestamp: number;
  readonly nonce: Uint8Array;
  readonly signature: Uint8Array;
}

function strictBase64Url(s: string, bytes: number, what: string): Uint8Array {
  let out: Uint8Array;
  try {
    out = fromBase64Url(s);
  } catch (e) {
    if (isOvertError(e)) malformed(what);
    throw e;
  }
  if (out.length !== bytes) malformed(what);
  return out;
}

/**
 * Reads the authentication values from header-like input (HTTP headers, or the fields of a WebSocket auth
 * frame). AUTH_MISSING (AUTH-1) when none is present, AUTH_MALFORMED (AUTH-2) when any is absent or
 * ill-formed: a decimal timestamp without leading zeros, a 16-byte nonce and a 64-byte signature in unpadded
 * base64url.
 */
export function readPresentedAuth(get: (name: string) => unknown): PresentedAuth {
  const values = [HEADER_SIGNER, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE].map(get);
  if (values.every((v) => v === undefined))
    throw new RelayError('AUTH_MISSING', 'the request is not signed', { check: 'AUTH-1' });
  const [signerText, ts, nonce, sig] = values;
  if (
    typeof signerText !== 'string' ||
    typeof ts !== 'string' ||
    typeof nonce !== 'string' ||
    typeof sig !== 'string'
  )
    return malformed('headers');
  if (!/^(0|[1-9][0-9]{0,15})$/.test(ts) || !Number.isSafeInteger(Number(ts))) malformed('timestamp');
  return {
    signer: parseSigner(signerText),
    signerText,
    timestamp: Number(ts),
    nonce: strictBase64Url(nonce, NONCE_BYTES, 'nonce'),
    signature: strictBase64Url(sig, SIGNATURE_BYTES, 'signature'),
  };
}

/** The policy in force, verified under the admin key, with its stored record (relay.md §4.3). */
export interface PolicyInForce {
  readonly record: PolicyRecord;
  readonly policy: VerifiedPolicy;
}

/**
 * An authenticated principal. Trustees and requesters carry the policy in force their key was taken from, so an
 * access operation checks against the very policy that authenticated the caller.
 */
export type Principal =
  | { readonly kind: 'device'; readonly device: DeviceRecord }
  | { readonly kind: 'admin' }
  | { readonly kind: 'trustee'; readonly index: number; readonly inForce: PolicyInForce }
  | { readonly kind: 'requester'; readonly requesterId: string; readonly inForce: PolicyInForce };

const verifiedPolicies = new WeakMap<RelayStorage, PolicyInForce>();

/**
 * The policy in force on this relay's log (the stored policy with the highest serial), verified under the bound
 * admin key; undefined before the first. The last verification is remembered per storage and reused while the
 * stored bytes are the same, so a trustee's requests do not re-verify the policy's signature each time.
 */
export async function policyInForce(storage: RelayStorage): Promise<PolicyInForce | undefined> {
  const record = await storage.currentPolicy();
  if (record === undefined) return undefined;
  const cached = verifiedPolicies.get(storage);
  if (
    cached !== undefined &&
    cached.record.serial === record.serial &&
    equalBytes(cached.record.signed, record.signed)
  )
    return cached;
  const admin = await storage.getOrgAdmin();
  if (admin === undefined) return undefined;
  const inForce = { record, policy: verifyPolicyStatement(admin, record.signed) };
  verifiedPolicies.set(storage, inForce);
  return inForce;
}

export interface VerifyOptions {
  readonly storage: RelayStorage;
  readonly now: number;
  readonly freshnessMs: number;
}

/**
 * Verifies a presented signature over (method, target, body), in this order: freshness (AUTH-5, cheap and
 * stateless), the signer is known (AUTH-3), the signature (AUTH-7), the device is not removed (AUTH-4, told
 * only to the device itself, after its signature verified), the nonce is new (AUTH-6, recorded last, so that
 * requests with bad signatures cannot fill the nonce store). Resolves the principal.
 */
export async function verifyPresentedAuth(
  auth: PresentedAuth,
  method: string,
  target: string,
  body: Uint8Array,
  options: VerifyOptions,
): Promise<Principal> {
  const { storage, now, freshnessMs } = options;
  if (Math.abs(now - auth.timestamp) > freshnessMs)
    throw new RelayError('AUTH_STALE', 'the request timestamp is outside the freshness window', {
      check: 'AUTH-5',
    });
  let publicKey: Uint8Array;
  let principal: Principal;
  if (auth.signer.kind === 'admin') {
    const admin = await storage.getOrgAdmin();
    if (admin === undefined)
      throw new RelayError('AUTH_UNKNOWN_DEVICE', 'no org-admin is set', { check: 'AUTH-3' });
    publicKey = admin;
    principal = { kind: 'admin' };
  } else if (auth.signer.kind === 'trustee' || auth.signer.kind === 'requester') {
    // Access signers (access.md §1): keys of the policy in force; no policy, or not named in it, is unknown.
    const inForce = await policyInForce(storage);
    const signer = auth.signer;
    const key =
      inForce === undefined
        ? undefined
        : signer.kind === 'trustee'
          ? findTrustee(inForce.policy.policy, signer.index)?.signingKey
          : findRequester(inForce.policy.policy, signer.requesterId)?.signingKey;
    if (inForce === undefined || key === undefined)
      throw new RelayError('AUTH_UNKNOWN_DEVICE', `unknown ${signer.kind}`, { check: 'AUTH-3' });
    publicKey = key;
    principal =
      signer.kind === 'trustee'
        ? { kind: 'trustee', index: signer.index, inForce }
        : { kind: 'requester', requesterId: signer.requesterId, inForce };
  } else {
    const device = await storage.getDevice(auth.signer.deviceId);
    if (device === undefined || device.status === 'pending')
      throw new RelayError('AUTH_UNKNOWN_DEVICE', 'unknown device', { check: 'AUTH-3' });
    publicKey = device.identityKey;
    principal = { kind: 'device', device };
  }
  const input = requestSigningInput({
    method,
    target,
    signer: auth.signerText,
    timestamp: auth.timestamp,
    nonce: auth.nonce,
    bodySha256: sha256(body),
  });
  if (!verifySignature(publicKey, input, auth.signature))
    throw new RelayError('AUTH_BAD_SIGNATURE', 'the request signature does not verify', { check: 'AUTH-7' });
  if (principal.kind === 'device' && principal.device.status === 'removed')
    throw new RelayError('AUTH_DEVICE_REMOVED', 'the device was removed', { check: 'AUTH-4' });
  // The nonce must be remembered as long as the timestamp is acceptable: until timestamp + window.
  if (!(await storage.useNonce(auth.signerText, auth.nonce, auth.timestamp + freshnessMs, now)))
    throw new RelayError('AUTH_REPLAY', 'the request nonce was already used', { check: 'AUTH-6' });
  return principal;
}
