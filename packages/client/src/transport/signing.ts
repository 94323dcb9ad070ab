/**
 * Signed requests to the relay (docs/spec/relay.md §3; docs/spec/client.md §2). The client signs every HTTP
 * request and the WebSocket's auth frame with the device identity key (or the org-admin key); the relay verifies
 * method, target, signer, timestamp, nonce and the body's SHA-256, so there is no session token to steal.
 *
 * The input uses Overt's signature framing `u16 len(tag) ‖ tag ‖ body`; its first byte is 0x00, so it can never be
 * an MLS SignContent (mls.md §3, key reuse), although the same key signs MLS leaves.
 */
import {
  concatBytes,
  randomBytes,
  type SigningKeyPair,
  sha256,
  sign,
  toBase64Url,
  utf8Encode,
  Writer,
} from '@overt/core';
import { ClientError } from '../errors.js';

export const REQUEST_TAG = 'overt/relay/v1/request';
export const NONCE_BYTES = 16;

/**
 * Who signs: a device (by id), the org-admin, or for the access workflow (access.md §1) a trustee (by index) or a
 * requester (by id) of the policy in force. On the wire `device:<id>`, `admin`, `trustee:<index>`, `requester:<id>`.
 */
export type RequestSigner =
  | { readonly kind: 'device'; readonly deviceId: string }
  | { readonly kind: 'admin' }
  | { readonly kind: 'trustee'; readonly index: number }
  | { readonly kind: 'requester'; readonly requesterId: string };

export function signerString(s: RequestSigner): string {
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

/** The four authentication values, by header name (lowercase). */
export interface AuthHeaders {
  readonly 'overt-signer': string;
  readonly 'overt-timestamp': string;
  readonly 'overt-nonce': string;
  readonly 'overt-signature': string;
}

function ascii(s: string, max: number, what: string): Uint8Array {
  if (s.length < 1 || s.length > max) throw new ClientError('SDK_USAGE', `request ${what} has a bad length`);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) throw new ClientError('SDK_USAGE', `request ${what} is not printable ASCII`);
  }
  return utf8Encode(s);
}

/** The exact bytes signed (relay.md §3.2). Throws SDK_USAGE for a field the relay would refuse to parse. */
export function requestSigningInput(
  method: string,
  target: string,
  signer: string,
  timestamp: number,
  nonce: Uint8Array,
  body: Uint8Array,
): Uint8Array {
  if (nonce.length !== NONCE_BYTES) throw new ClientError('SDK_USAGE', 'nonce must be 16 bytes');
  if (!Number.isSafeInteger(timestamp) || timestamp < 0)
    throw new ClientError('SDK_USAGE', 'timestamp must be a non-negative safe integer');
  const tag = utf8Encode(REQUEST_TAG);
  const fields = new Writer(128 + target.length)
    .vec8(ascii(method, 16, 'method'))
    .vec16(ascii(target, 4096, 'target'))
    .vec8(ascii(signer, 255, 'signer'))
    .u64(timestamp)
    .bytes(nonce)
    .bytes(sha256(body))
    .finish();
  return concatBytes(new Writer(2 + tag.length).vec16(tag).finish(), fields);
}

/**
 * Signs one request. A fresh random nonce per call (the relay refuses a reused one, AUTH-6); the timestamp is
 * `now` (the relay refuses one outside its freshness window, AUTH-5).
 */
export function signRelayRequest(
  key: SigningKeyPair,
  signer: RequestSigner,
  method: string,
  target: string,
  body: Uint8Array,
  now: number,
  nonce: Uint8Array = randomBytes(NONCE_BYTES),
): AuthHeaders {
  const s = signerString(signer);
  const input = requestSigningInput(method, target, s, now, nonce, body);
  return {
    'overt-signer': s,
    'overt-timestamp': String(now),
    'overt-nonce': toBase64Url(nonce),
    'overt-signature': toBase64Url(sign(key, input)),
  };
}
