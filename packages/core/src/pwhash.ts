/**
 * Argon2id (RFC 9106) for keys derived from a person's passphrase: the client's profile key is wrapped under a key
 * derived this way (docs/spec/client.md §3.1). Backed by libsodium's `crypto_pwhash` (WASM, the reference C code),
 * which fixes one lane (p = 1), the 1.3 version of the algorithm, no secret and no associated data; @noble/hashes'
 * argon2id is the independent reference it is checked against in tests.
 *
 * Parameters are given in RFC 9106's terms: `t` passes over `m` KiB of memory. libsodium's `opslimit` is `t` and its
 * `memlimit` is `m · 1024` bytes.
 */
import sodiumLib from 'libsodium-wrappers-sumo';
import { OvertError } from './errors.js';

await sodiumLib.ready;

export const ARGON2ID_SALT_BYTES = 16;
/** Bounds on what {@link argon2id} accepts, so a parameter read from a file cannot ask for 4 TiB of memory. */
export const ARGON2ID_MAX_PASSES = 16;
export const ARGON2ID_MIN_KIB = 8;
export const ARGON2ID_MAX_KIB = 1 << 20;

export interface Argon2idParams {
  /** Passes over the memory (RFC 9106 `t`), 1..16. */
  readonly t: number;
  /** Memory in KiB (RFC 9106 `m`), 8..1,048,576 (1 GiB). */
  readonly m: number;
}

/**
 * The Argon2id tag (RFC 9106 §3.1, p = 1, version 0x13) of `password` under a 16-byte `salt`: `length` bytes
 * (16..64). Throws CODEC_LENGTH for a salt or length out of range and CODEC_RANGE for parameters out of range.
 */
export function argon2id(
  password: Uint8Array,
  salt: Uint8Array,
  params: Argon2idParams,
  length = 32,
): Uint8Array {
  if (salt.length !== ARGON2ID_SALT_BYTES)
    throw new OvertError('CODEC_LENGTH', `Argon2id salt must be ${ARGON2ID_SALT_BYTES} bytes`);
  if (!Number.isInteger(length) || length < 16 || length > 64)
    throw new OvertError('CODEC_LENGTH', 'Argon2id output must be 16..64 bytes');
  if (!Number.isInteger(params.t) || params.t < 1 || params.t > ARGON2ID_MAX_PASSES)
    throw new OvertError('CODEC_RANGE', `Argon2id passes must be 1..${ARGON2ID_MAX_PASSES}`);
  if (!Number.isInteger(params.m) || params.m < ARGON2ID_MIN_KIB || params.m > ARGON2ID_MAX_KIB)
    throw new OvertError(
      'CODEC_RANGE',
      `Argon2id memory must be ${ARGON2ID_MIN_KIB}..${ARGON2ID_MAX_KIB} KiB`,
    );
  return sodiumLib.crypto_pwhash(
    length,
    password,
    salt,
    params.t,
    params.m * 1024,
    sodiumLib.crypto_pwhash_ALG_ARGON2ID13,
  );
}
