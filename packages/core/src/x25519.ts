/**
 * X25519 (RFC 7748) public keys from secret keys, with libsodium's WebAssembly scalar multiplication. The client
 * checks every stored MLS key package bundle this way when a profile opens (mls.md, check MLS-18); libsodium's
 * base-point multiply is about ten times faster there than a pure-JavaScript one, which matters for the start-up
 * of each `overt` command (issue #9).
 */
import sodiumLib from 'libsodium-wrappers-sumo';
import { OvertError } from './errors.js';

await sodiumLib.ready;

/** The X25519 public key of a 32-byte secret key (clamped as RFC 7748 §5 says). */
export function x25519PublicKey(secretKey: Uint8Array): Uint8Array {
  if (secretKey.length !== sodiumLib.crypto_scalarmult_SCALARBYTES)
    throw new OvertError('CODEC_LENGTH', 'X25519 secret key must be 32 bytes');
  return sodiumLib.crypto_scalarmult_base(secretKey);
}
