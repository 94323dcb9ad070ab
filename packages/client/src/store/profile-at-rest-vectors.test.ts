// The committed vectors of docs/spec/client.md §3.1 (test/vectors/profile-at-rest.json): the generator reproduces
// the file byte for byte, our code opens what it describes, and so does libsodium used directly (its own Argon2id
// and XChaCha20-Poly1305, not our wrappers), as an independent implementation following the spec would.
import { readFileSync } from 'node:fs';
import { fromBase64, fromHex, toHex, utf8Encode } from '@overt/core';
import sodium from 'libsodium-wrappers-sumo';
import { describe, expect, it } from 'vitest';
import { PROFILE_VECTORS_PATH, renderProfileVectors } from '../../test/gen-profile-vectors.js';
import {
  DEVICE_KEY_LABEL,
  openRecord,
  parseProfileKeyFile,
  storeRecordLabel,
  unlockProfileKey,
} from './sealed.js';

await sodium.ready;

const text = readFileSync(PROFILE_VECTORS_PATH, 'utf8');
const v = JSON.parse(text);

/** A sealed record opened with libsodium: u8 1 ‖ nonce[24] ‖ XChaCha20-Poly1305(ciphertext ‖ tag). */
function sodiumOpen(key: Uint8Array, label: string, record: Uint8Array): Uint8Array {
  expect(record[0]).toBe(1);
  return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
    null,
    record.subarray(25),
    utf8Encode(label),
    record.subarray(1, 25),
    key,
  );
}

describe('profile at rest vectors (client.md §3.1)', () => {
  it('the generator reproduces the committed file byte for byte', () => {
    expect(renderProfileVectors()).toBe(text);
  });

  it('our code unlocks the key files and opens the device key and the store record', () => {
    const key = unlockProfileKey(parseProfileKeyFile(v.profileKeyFile), {
      kind: 'passphrase',
      passphrase: v.passphrase,
    });
    expect(toHex(key)).toBe(v.profileKey);
    expect(
      toHex(
        unlockProfileKey(parseProfileKeyFile(v.raw.profileKeyFile), { kind: 'raw', key: fromHex(v.raw.key) }),
      ),
    ).toBe(v.profileKey);
    expect(toHex(openRecord(key, DEVICE_KEY_LABEL, fromHex(v.deviceKey.record)))).toBe(v.deviceKey.seed);
    expect(toHex(openRecord(key, storeRecordLabel(v.storeRecord.key), fromHex(v.storeRecord.record)))).toBe(
      v.storeRecord.value,
    );
  });

  it('libsodium alone, following the spec, derives the same KEK and opens every record', () => {
    const kdf = v.profileKeyFile.kdf;
    expect(v.passphraseNfcUtf8).toBe(toHex(utf8Encode(v.passphrase.normalize('NFC'))));
    const kek = sodium.crypto_pwhash(
      32,
      fromHex(v.passphraseNfcUtf8),
      fromBase64(kdf.salt),
      kdf.t,
      kdf.m * 1024,
      sodium.crypto_pwhash_ALG_ARGON2ID13,
    );
    expect(toHex(kek)).toBe(v.kek);
    const wrapped = fromBase64(v.profileKeyFile.wrapped);
    expect(toHex(wrapped)).toBe(v.wrap.record);
    const key = sodiumOpen(kek, 'overt/profile/v1/profile-key', wrapped);
    expect(toHex(key)).toBe(v.profileKey);
    expect(toHex(sodiumOpen(fromHex(v.raw.key), 'overt/profile/v1/profile-key', fromHex(v.raw.record)))).toBe(
      v.profileKey,
    );
    expect(toHex(sodiumOpen(key, 'overt/profile/v1/device.key', fromHex(v.deviceKey.record)))).toBe(
      v.deviceKey.seed,
    );
    expect(
      toHex(sodiumOpen(key, `overt/profile/v1/store/${v.storeRecord.key}`, fromHex(v.storeRecord.record))),
    ).toBe(v.storeRecord.value);
    expect(v.storeRecord.fileName).toBe(`s-${Buffer.from(v.storeRecord.key).toString('base64url')}`);
  });
});
