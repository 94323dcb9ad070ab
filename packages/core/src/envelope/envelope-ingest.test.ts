// The relay's ingest check (docs/spec/envelope.md §6.3): what a relay without the content key can and must
// check before it stores and fans out an envelope.
import { describe, expect, it } from 'vitest';
import {
  epochKey,
  fields,
  flip,
  ingestContext,
  otherEpochKey,
  outcome,
  SEND_TIME,
  seededRng,
  senderSigningKey,
} from '../../test/envelope-fixtures.js';
import { nobleBackend } from '../aead/backend.js';
import { toHex, utf8Encode } from '../bytes.js';
import { decodeEnvelope, encodeEnvelope } from './envelope.js';
import { EnvelopeIngester, type IngestContext, ingestEnvelope } from './ingest.js';
import { sealEnvelope } from './seal.js';
import { signSender } from './signature.js';

const sealed = await sealEnvelope(fields(), new Uint8Array(5000).fill(7), epochKey, senderSigningKey, {
  chunkSize: 1024,
  rng: seededRng('ingest'),
});

describe('relay ingest', () => {
  it('accepts a well-formed envelope and returns its verified capsule, label and sizes', async () => {
    const i = await ingestEnvelope(sealed.envelope, ingestContext());
    expect(toHex(i.label)).toBe(toHex(sealed.label));
    expect(i.ciphertextLength).toBe(5000 + 5 * 16);
    expect(toHex(i.capsule.label)).toBe(toHex(sealed.label));
    const j = await ingestEnvelope(decodeEnvelope(sealed.envelope), ingestContext(), nobleBackend);
    expect(toHex(j.headerBytes)).toBe(toHex(i.headerBytes));
  });

  it.each<[string, Partial<IngestContext>, string]>([
    ['another org', { orgId: 'other.org' }, 'ENVELOPE_CONTEXT ENV-5'],
    ['an epoch that is not current', { epoch: 6 }, 'ENVELOPE_CONTEXT ENV-6'],
    [
      'a sender other than the authenticated user',
      { senderUserId: 'mallory@example.org' },
      'ENVELOPE_CONTEXT ENV-8',
    ],
    [
      'a sender other than the authenticated device',
      { senderDeviceId: utf8Encode('other') },
      'ENVELOPE_CONTEXT ENV-8',
    ],
    [
      'recipients the delivery service does not know',
      { members: ['alice@example.org'] },
      'ENVELOPE_CONTEXT ENV-9',
    ],
    ['a send time too far in the past', { now: SEND_TIME + 5 * 60_000 + 1 }, 'ENVELOPE_CONTEXT ENV-17'],
    ['a send time too far in the future', { now: SEND_TIME - 5 * 60_000 - 1 }, 'ENVELOPE_CONTEXT ENV-17'],
    ['a payload above the relay limit', { maxPayloadBytes: 4999 }, 'ENVELOPE_TOO_LARGE ENV-19'],
    [
      'a signature by a key other than the authenticated device’s',
      { senderKey: new Uint8Array(32).fill(1) },
      'ENVELOPE_SIGNATURE ENV-20',
    ],
    [
      'a capsule that is not valid under the epoch key',
      { epochKey: otherEpochKey },
      'ENVELOPE_CAPSULE ENV-18',
    ],
  ])('rejects %s', async (_, change, expected) => {
    expect(await outcome(() => ingestEnvelope(sealed.envelope, ingestContext(change)))).toBe(expected);
  });

  it('accepts the send-time window edges and known members in any order', async () => {
    for (const now of [SEND_TIME + 5 * 60_000, SEND_TIME - 5 * 60_000])
      await ingestEnvelope(sealed.envelope, ingestContext({ now }));
    await ingestEnvelope(
      sealed.envelope,
      ingestContext({ members: ['carol@example.org', 'bob@example.org', 'alice@example.org'] }),
    );
  });

  it('rejects a flipped capsule or signature (ENV-20), a capsule re-signed but invalid (ENV-18), and a flipped ciphertext (ENV-12)', async () => {
    const capsuleAt = 4 + sealed.headerBytes.length;
    // The capsule is signed: a flipped capsule fails the signature first, and so does a flipped signature.
    for (let i = 0; i < 192 + 64; i += 11)
      expect(await outcome(() => ingestEnvelope(flip(sealed.envelope, capsuleAt + i), ingestContext()))).toBe(
        'ENVELOPE_SIGNATURE ENV-20',
      );
    // Signed by the sender itself, a broken capsule still fails its validity proof.
    for (let i = 0; i < 192; i += 23) {
      const capsule = flip(sealed.capsule, i);
      const env = encodeEnvelope(
        sealed.headerBytes,
        capsule,
        signSender(senderSigningKey, sealed.label, capsule),
        sealed.envelope.subarray(sealed.head.length),
      );
      expect(await outcome(() => ingestEnvelope(env, ingestContext()))).toBe('ENVELOPE_CAPSULE ENV-18');
    }
    for (let pos = sealed.head.length; pos < sealed.envelope.length; pos += 97)
      expect(await outcome(() => ingestEnvelope(flip(sealed.envelope, pos), ingestContext()))).toBe(
        'ENVELOPE_DIGEST ENV-12',
      );
  });

  it('streams: same result in pieces; truncation ENV-16, extension ENV-15, no use after finish', async () => {
    const ct = sealed.envelope.subarray(sealed.head.length);
    const ing = EnvelopeIngester.create(sealed.head, ingestContext());
    for (let at = 0; at < ct.length; at += 333) await ing.update(ct.subarray(at, at + 333));
    expect(toHex((await ing.finish()).label)).toBe(toHex(sealed.label));
    expect(await outcome(() => ing.update(new Uint8Array(1)))).toBe('STREAM_ORDER AEAD-5');
    const short = EnvelopeIngester.create(sealed.head, ingestContext());
    await short.update(ct.subarray(0, ct.length - 1));
    expect(await outcome(() => short.finish())).toBe('STREAM_TRUNCATED ENV-16');
    const long = EnvelopeIngester.create(sealed.head, ingestContext());
    expect(await outcome(() => long.update(new Uint8Array(ct.length + 1)))).toBe('STREAM_ORDER ENV-15');
    expect(() => EnvelopeIngester.create(sealed.head, ingestContext({ epoch: 1 }))).toThrow(/ENV-6/);
  });
});
