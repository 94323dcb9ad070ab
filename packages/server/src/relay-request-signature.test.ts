// docs/spec/relay.md §3: the signed-request scheme byte by byte, its round trip, and its parsers under fuzz.
import {
  fromBase64Url,
  generateSigningKey,
  sha256,
  signingKeyFromSeed,
  toBase64Url,
  toHex,
  verifySignature,
} from '@overt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  HEADER_NONCE,
  HEADER_SIGNATURE,
  HEADER_SIGNER,
  HEADER_TIMESTAMP,
  parseSigner,
  readPresentedAuth,
  requestSigningInput,
  signRequest,
} from './auth.js';
import { isRelayError } from './errors.js';

const enc = new TextEncoder();

describe('signing input (§3.2)', () => {
  it('is u16 len(tag) ‖ tag ‖ vec8 method ‖ vec16 target ‖ vec8 signer ‖ u64 ts ‖ nonce ‖ SHA-256(body)', () => {
    const nonce = new Uint8Array(16).map((_, i) => i);
    const body = enc.encode('{"upTo":3}');
    const input = requestSigningInput({
      method: 'POST',
      target: '/v1/mailbox/ack',
      signer: 'device:d1',
      timestamp: 0x0102030405,
      nonce,
      bodySha256: sha256(body),
    });
    const tag = 'overt/relay/v1/request';
    const expected =
      '0016' +
      toHex(enc.encode(tag)) +
      '04' +
      toHex(enc.encode('POST')) +
      '000f' +
      toHex(enc.encode('/v1/mailbox/ack')) +
      '09' +
      toHex(enc.encode('device:d1')) +
      '0000000102030405' +
      '000102030405060708090a0b0c0d0e0f' +
      toHex(sha256(body));
    expect(toHex(input)).toBe(expected);
    // The first byte is 0x00: the input cannot parse as an MLS SignContent with a "MLS 1.0 " label.
    expect(input[0]).toBe(0);
  });

  it('a fixed key signs a fixed request to a fixed signature (Ed25519 is deterministic)', () => {
    const key = signingKeyFromSeed(new Uint8Array(32).fill(7));
    const h = signRequest(key, { kind: 'admin' }, 'GET', '/v1/health', new Uint8Array(0), {
      timestamp: 1_700_000_000_000,
      nonce: new Uint8Array(16).fill(1),
    });
    expect(h).toMatchObject({
      [HEADER_SIGNER]: 'admin',
      [HEADER_TIMESTAMP]: '1700000000000',
      [HEADER_NONCE]: 'AQEBAQEBAQEBAQEBAQEBAQ',
    });
    const again = signRequest(key, { kind: 'admin' }, 'GET', '/v1/health', new Uint8Array(0), {
      timestamp: 1_700_000_000_000,
      nonce: new Uint8Array(16).fill(1),
    });
    expect(again[HEADER_SIGNATURE]).toBe(h[HEADER_SIGNATURE]);
  });
});

describe('round trip (property)', () => {
  const key = generateSigningKey();
  const method = fc.constantFrom('GET', 'POST', 'PUT');
  const target = fc.stringMatching(/^\/[!-~]{0,60}$/);
  it('what signRequest produces verifies, and any change to a signed field breaks it', () => {
    fc.assert(
      fc.property(
        method,
        target,
        fc.uint8Array({ maxLength: 200 }),
        fc.nat({ max: 2 ** 48 }),
        (m, t, body, ts) => {
          const h = signRequest(key, { kind: 'device', deviceId: 'd1' }, m, t, body, { timestamp: ts });
          const auth = readPresentedAuth((n) => (h as unknown as Record<string, string>)[n]);
          const fields = {
            method: m,
            target: t,
            signer: auth.signerText,
            timestamp: ts,
            nonce: auth.nonce,
            bodySha256: sha256(body),
          };
          expect(verifySignature(key.publicKey, requestSigningInput(fields), auth.signature)).toBe(true);
          const variants = [
            { ...fields, method: m === 'GET' ? 'POST' : 'GET' },
            { ...fields, target: `${t}x` },
            { ...fields, timestamp: ts + 1 },
            { ...fields, signer: 'device:d2' },
            { ...fields, bodySha256: sha256(new Uint8Array([...body, 0])) },
            { ...fields, nonce: auth.nonce.map((b, i) => (i === 0 ? b ^ 1 : b)) },
          ];
          for (const v of variants)
            expect(verifySignature(key.publicKey, requestSigningInput(v), auth.signature)).toBe(false);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('header parsing (AUTH-1, AUTH-2) under fuzz', () => {
  it('raises only AUTH_MISSING or AUTH_MALFORMED on arbitrary header values', () => {
    const value = fc.option(
      fc.oneof(fc.string({ maxLength: 100 }), fc.stringMatching(/^[A-Za-z0-9_-]{20,90}$/)),
      { nil: undefined },
    );
    fc.assert(
      fc.property(value, value, value, value, (s, t, n, g) => {
        const h: Record<string, string | undefined> = {
          [HEADER_SIGNER]: s,
          [HEADER_TIMESTAMP]: t,
          [HEADER_NONCE]: n,
          [HEADER_SIGNATURE]: g,
        };
        try {
          readPresentedAuth((name) => h[name]);
        } catch (e) {
          if (!isRelayError(e, 'AUTH_MISSING') && !isRelayError(e, 'AUTH_MALFORMED')) throw e;
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts only canonical values', () => {
    expect(parseSigner('device:a.b-c_~1')).toEqual({ kind: 'device', deviceId: 'a.b-c_~1' });
    for (const s of ['device:', 'device:a/b', 'Device:x', 'admin ', `device:${'x'.repeat(65)}`])
      expect(() => parseSigner(s)).toThrowError(/AUTH_MALFORMED/);
    // The access signers (access.md §1): a trustee index 1..255 in canonical decimal, a requester id ≤ 128.
    expect(parseSigner('trustee:255')).toEqual({ kind: 'trustee', index: 255 });
    expect(parseSigner('requester:r@x.y')).toEqual({ kind: 'requester', requesterId: 'r@x.y' });
    for (const s of [
      'trustee:0',
      'trustee:01',
      'trustee:256',
      'trustee:',
      'trustee:1a',
      'requester:',
      'requester:a b',
    ])
      expect(() => parseSigner(s)).toThrowError(/AUTH_MALFORMED/);
    expect(() => parseSigner(`requester:${'r'.repeat(129)}`)).toThrowError(/AUTH_MALFORMED/);
    const good = signRequest(generateSigningKey(), { kind: 'admin' }, 'GET', '/', new Uint8Array(0));
    const read = (over: Record<string, string>) => () =>
      readPresentedAuth((n) => ({ ...(good as unknown as Record<string, string>), ...over })[n]);
    expect(read({})).not.toThrow();
    for (const over of [
      { [HEADER_TIMESTAMP]: '-1' } as Record<string, string>,
      { [HEADER_TIMESTAMP]: '1e3' },
      { [HEADER_TIMESTAMP]: '99999999999999999' },
      { [HEADER_NONCE]: `${good[HEADER_NONCE]}=` },
      { [HEADER_NONCE]: toBase64Url(new Uint8Array(15)) },
      { [HEADER_SIGNATURE]: good[HEADER_SIGNATURE].replace(/.$/, '!') },
    ])
      expect(read(over)).toThrowError(/AUTH_MALFORMED/);
    expect(fromBase64Url(good[HEADER_SIGNATURE])).toHaveLength(64);
  });
});
