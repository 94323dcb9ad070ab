/**
 * Signed workflow objects (docs/spec/workflow.md §1): a canonical body, signed with Ed25519 over a
 * domain-separated message, carried as
 *
 *     signed := u32 len(body) ‖ body ‖ signature (64 bytes)
 *     signature = Ed25519(key, u16 len(tag) ‖ tag ‖ body)
 *
 * The tag names the object type and version, so a signature on one kind of object (a policy) can never be
 * presented as a signature on another (a decision), even if the bodies happened to parse both ways.
 */
import { concatBytes, utf8Encode } from '../bytes.js';
import { Reader, Writer } from '../codec.js';
import { decodeAs } from '../envelope/fields.js';
import { type ErrorCode, OvertError } from '../errors.js';
import { SIGNATURE_BYTES, type SigningKeyPair, sign, verifySignature } from '../sign.js';

export interface SignedObject {
  readonly body: Uint8Array;
  readonly signature: Uint8Array;
}

function signingInput(tag: string, body: Uint8Array): Uint8Array {
  const t = utf8Encode(tag);
  const head = new Uint8Array(2 + t.length);
  new DataView(head.buffer).setUint16(0, t.length);
  head.set(t, 2);
  return concatBytes(head, body);
}

export function signBody(tag: string, key: SigningKeyPair, body: Uint8Array): Uint8Array {
  const signature = sign(key, signingInput(tag, body));
  return new Writer(body.length + 72).vec32(body).bytes(signature).finish();
}

export function verifyBody(tag: string, publicKey: Uint8Array, signed: SignedObject): boolean {
  return verifySignature(publicKey, signingInput(tag, signed.body), signed.signature);
}

/** Throws SIGNATURE_INVALID under `check` unless `publicKey` signed `signed` under `tag`. */
export function requireSignature(
  tag: string,
  publicKey: Uint8Array,
  signed: SignedObject,
  what: string,
  check: string,
): void {
  if (!verifyBody(tag, publicKey, signed))
    throw new OvertError('SIGNATURE_INVALID', `${what} signature does not verify`, { check });
}

/** Splits a signed object; any framing error is reported as `code` under `check`. */
export function decodeSigned(
  bytes: Uint8Array,
  maxBody: number,
  code: ErrorCode,
  check: string,
): SignedObject {
  return decodeAs(code, check, 'signed object', () => {
    const r = new Reader(bytes);
    const body = r.vec32('signed body', maxBody);
    const signature = r.bytes(SIGNATURE_BYTES, 'signature');
    r.finish('signed object');
    return { body, signature };
  });
}
