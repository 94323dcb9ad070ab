/** x25519PublicKey against RFC 7748 §6.1's test vectors (the key check of stored MLS key package bundles). */
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from './bytes.js';
import { isOvertError } from './errors.js';
import { x25519PublicKey } from './x25519.js';

describe('RFC 7748 §6.1 X25519 public keys', () => {
  it("derives Alice's and Bob's public keys", () => {
    expect(
      toHex(x25519PublicKey(fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'))),
    ).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(
      toHex(x25519PublicKey(fromHex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'))),
    ).toBe('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
  });

  it('rejects a secret key that is not 32 bytes with CODEC_LENGTH', () => {
    for (const n of [0, 31, 33]) {
      let err: unknown;
      try {
        x25519PublicKey(new Uint8Array(n));
      } catch (e) {
        err = e;
      }
      expect(isOvertError(err) && err.code === 'CODEC_LENGTH').toBe(true);
    }
  });
});
