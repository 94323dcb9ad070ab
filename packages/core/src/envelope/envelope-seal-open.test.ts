// Sealing and opening envelopes (docs/spec/envelope.md §6.1–§6.2): round trips from 0 bytes to several MiB,
// the recipient's checks against the MLS context, bit flips in every header field, the capsule and the
// ciphertext, senders that skip or forge escrow (A5), relays that re-label (A4), invisible salamanders, and
// the streaming API's truncation / reordering / duplication / splicing defences.
import { gcm } from '@noble/ciphers/aes.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  epochKey,
  epochSecret,
  fields,
  flip,
  headerFieldOffsets,
  ingestContext,
  otherEpochKey,
  outcome,
  recipientContext,
  seededRng,
  transportOf,
} from '../../test/envelope-fixtures.js';
import { collidingCiphertext } from '../../test/gcm-key-collision.js';
import { nobleBackend, webCryptoBackend } from '../aead/backend.js';
import { deriveMessageKeys } from '../aead/keys.js';
import { StreamSealer, streamNonce } from '../aead/stream.js';
import { concatBytes, toHex, utf8Encode } from '../bytes.js';
import {
  combineShares,
  createShare,
  decodeCapsule,
  sealCapsule,
  verifyCapsule,
  verifyShare,
} from '../capsule/index.js';
import { frankingCommitment } from '../franking/commitment.js';
import { group, type Scalar } from '../group.js';
import { evaluatePolynomial } from '../threshold.js';
import { ChunkGeometry, ciphertextDigest } from './chunks.js';
import { decodeEnvelope, decodeEnvelopeHead, encodeEnvelope, envelopeHeadLength } from './envelope.js';
import {
  encodeHeader,
  encodeHeaderContext,
  envelopeLabel,
  type Header,
  type HeaderContext,
  headerContextHash,
} from './header.js';
import { ingestEnvelope } from './ingest.js';
import { EnvelopeOpener, openEnvelope, openRecoveredEnvelope } from './open.js';
import { EnvelopeSealer, type SealedEnvelope, SYNC_PAYLOAD_MAX, sealEnvelope } from './seal.js';

function payloadOf(n: number, seed = 1): Uint8Array {
  const p = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    p[i] = x >>> 24;
  }
  return p;
}

async function seal(payload: Uint8Array, chunkSize = 256, rngLabel = 'env'): Promise<SealedEnvelope> {
  return sealEnvelope(fields(), payload, epochKey, { chunkSize, rng: seededRng(rngLabel) });
}

/** Splits an envelope into head and ciphertext chunks, per its header. */
function chunksOf(envelope: Uint8Array): { head: Uint8Array; chunks: Uint8Array[] } {
  const env = decodeEnvelope(envelope);
  const g = new ChunkGeometry(env.header.payloadLength, env.header.chunkSize);
  const chunks: Uint8Array[] = [];
  for (let i = 0, at = 0; i < g.count; at += g.cipherLength(i), i++)
    chunks.push(env.ciphertext.slice(at, at + g.cipherLength(i)));
  return { head: envelope.slice(0, envelopeHeadLength(envelope)), chunks };
}

async function streamOpen(head: Uint8Array, pieces: Uint8Array[], s: SealedEnvelope): Promise<Uint8Array> {
  const o = await EnvelopeOpener.create(head, transportOf(s), recipientContext());
  const out: Uint8Array[] = [];
  for (const p of pieces) out.push(await o.update(p));
  await o.finish();
  return concatBytes(...out);
}

describe('round trips', () => {
  it.each([0, 1, 15, 16, 17, 255, 256, 257, 1024, 3 * 256, 3 * 256 + 1, 100_000])(
    'opens a %i-byte payload sealed in 256-byte chunks',
    async (n) => {
      const payload = payloadOf(n);
      const s = await seal(payload);
      expect(s.envelope.length).toBe(s.head.length + n + 16 * Math.max(1, Math.ceil(n / 256)));
      const o = await openEnvelope(s.envelope, transportOf(s), recipientContext());
      expect(toHex(o.payload)).toBe(toHex(payload));
      expect(toHex(o.label)).toBe(toHex(envelopeLabel(o.headerBytes)));
      expect(o.header.recipients).toEqual(['alice@example.org', 'bob@example.org', 'carol@example.org']);
    },
  );

  it('opens 3 MiB in the default 64 KiB chunks, one-shot and streamed', async () => {
    const payload = payloadOf(3 * 1024 * 1024 + 5);
    const s = await sealEnvelope(fields(), payload, epochKey);
    const o = await openEnvelope(s.envelope, transportOf(s), recipientContext());
    expect(toHex(o.payload.subarray(-64))).toBe(toHex(payload.subarray(-64)));
    expect(o.payload.length).toBe(payload.length);
    const pieces: Uint8Array[] = [];
    const ct = s.envelope.subarray(s.head.length);
    for (let at = 0; at < ct.length; at += 100_003) pieces.push(ct.subarray(at, at + 100_003));
    const streamed = await streamOpen(s.head, pieces, s);
    expect(toHex(streamed.subarray(0, 64))).toBe(toHex(payload.subarray(0, 64)));
    expect(streamed.length).toBe(payload.length);
  });

  it('round-trips random payloads, chunk sizes and piece sizes, streaming equal to one-shot', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 3000 }),
        fc.integer({ min: 16, max: 700 }),
        fc.integer({ min: 1, max: 900 }),
        async (payload, chunkSize, piece) => {
          const s = await sealEnvelope(fields(), payload, epochKey, { chunkSize, rng: seededRng('prop') });
          const opts = { chunkSize, rng: seededRng('prop') };
          const sealer = await EnvelopeSealer.create(fields(), payload.length, epochKey, opts);
          const parts: Uint8Array[] = [];
          for (let at = 0; at < payload.length; at += piece)
            parts.push(await sealer.update(payload.subarray(at, at + piece)));
          const r = await sealer.finish();
          expect(toHex(concatBytes(r.head, ...parts, r.ciphertextTail))).toBe(toHex(s.envelope));
          const ct = s.envelope.subarray(s.head.length);
          const pieces: Uint8Array[] = [];
          for (let at = 0; at < ct.length; at += piece) pieces.push(ct.subarray(at, at + piece));
          expect(toHex(await streamOpen(s.head, pieces, s))).toBe(toHex(payload));
          expect(toHex((await openEnvelope(s.envelope, transportOf(s), recipientContext())).payload)).toBe(
            toHex(payload),
          );
        },
      ),
      { numRuns: 40 },
    );
  });

  it('produces identical envelopes on the WebCrypto and @noble back-ends, each opening the other', async () => {
    const payload = payloadOf(5000);
    const a = await sealEnvelope(fields(), payload, epochKey, {
      rng: seededRng('b'),
      chunkSize: 1000,
      backend: webCryptoBackend,
    });
    const b = await sealEnvelope(fields(), payload, epochKey, {
      rng: seededRng('b'),
      chunkSize: 1000,
      backend: nobleBackend,
    });
    expect(toHex(a.envelope)).toBe(toHex(b.envelope));
    const o = await openEnvelope(a.envelope, transportOf(a), recipientContext(), { backend: nobleBackend });
    expect(toHex(o.payload)).toBe(toHex(payload));
  });

  it('the synchronous small-payload path seals the same bytes as the back-ends, on both sides of its limit', async () => {
    for (const n of [0, 1, SYNC_PAYLOAD_MAX - 1, SYNC_PAYLOAD_MAX, SYNC_PAYLOAD_MAX + 1]) {
      const payload = payloadOf(n, n + 3);
      for (const chunkSize of [4096, 65536]) {
        const opts = { chunkSize, rng: seededRng(`sync${n}`) };
        const fast = await sealEnvelope(fields(), payload, epochKey, opts);
        const viaBackend = await sealEnvelope(fields(), payload, epochKey, {
          ...opts,
          rng: seededRng(`sync${n}`),
          backend: webCryptoBackend,
        });
        expect(toHex(fast.envelope)).toBe(toHex(viaBackend.envelope));
        for (const backend of [undefined, nobleBackend, webCryptoBackend]) {
          const o = await openEnvelope(fast.envelope, transportOf(fast), recipientContext(), { backend });
          expect(toHex(o.payload)).toBe(toHex(payload));
        }
      }
    }
  });

  it('the synchronous open refuses exactly what the back-end open refuses, with the same code and check', async () => {
    const s = await seal(payloadOf(700), 256, 'sync-open');
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: s.head.length - 200, max: s.envelope.length - 1 }),
        fc.integer({ min: 0, max: 7 }),
        fc.boolean(),
        async (at, bit, truncate) => {
          const bad = truncate ? s.envelope.slice(0, at) : flip(s.envelope, at, bit);
          const sync = await outcome(() => openEnvelope(bad, transportOf(s), recipientContext()));
          const viaBackend = await outcome(() =>
            openEnvelope(bad, transportOf(s), recipientContext(), { backend: webCryptoBackend }),
          );
          expect(sync).toBe(viaBackend);
          expect(sync).not.toBe('ok');
        },
      ),
      { numRuns: 150 },
    );
  });

  it('streams a 10 MiB file in 1 MiB pieces without a one-shot buffer', async () => {
    const total = 10 * 1024 * 1024;
    const piece = payloadOf(1024 * 1024, 7);
    const sealer = await EnvelopeSealer.create(
      fields({ contentType: 'application/octet-stream' }),
      total,
      epochKey,
    );
    const ct: Uint8Array[] = [];
    for (let i = 0; i < 10; i++) ct.push(await sealer.update(piece));
    const r = await sealer.finish();
    ct.push(r.ciphertextTail);
    const o = await EnvelopeOpener.create(r.head, transportOf(r), recipientContext());
    let seen = 0;
    for (const c of ct) {
      const pt = await o.update(c);
      for (let at = 0; at < pt.length; at += 65536) expect(pt[at]).toBe(piece[(seen + at) % piece.length]);
      seen += pt.length;
    }
    const done = await o.finish();
    expect(seen).toBe(total);
    expect(done.header.payloadLength).toBe(total);
  });

  it('refuses payloads that do not match the declared length, and use after finish', async () => {
    const s1 = await EnvelopeSealer.create(fields(), 10, epochKey, { chunkSize: 16 });
    expect(await outcome(() => s1.update(new Uint8Array(11)))).toBe('ENVELOPE_MALFORMED ENV-1');
    expect(await outcome(() => s1.update(new Uint8Array(1)))).toBe('STREAM_ORDER AEAD-5');
    const s2 = await EnvelopeSealer.create(fields(), 10, epochKey, { chunkSize: 16 });
    await s2.update(new Uint8Array(9));
    expect(await outcome(() => s2.finish())).toBe('ENVELOPE_MALFORMED ENV-1');
    const s3 = await EnvelopeSealer.create(fields(), 1, epochKey);
    await s3.update(new Uint8Array(1));
    await s3.finish();
    expect(await outcome(() => s3.finish())).toBe('STREAM_ORDER AEAD-5');
    expect(
      await outcome(() => EnvelopeSealer.create(fields({ recipients: ['bob@example.org'] }), 1, epochKey)),
    ).toBe('ENVELOPE_MALFORMED ENV-1');
    expect(await outcome(() => EnvelopeSealer.create(fields(), 1, group.identity))).toBe(
      'GROUP_IDENTITY undefined',
    );
    // The one-shot seal (synchronous path) refuses the same epoch keys with the same codes.
    const notAPoint = new Uint8Array(32).fill(0xff) as typeof epochKey;
    for (const [key, code] of [
      [group.identity, 'GROUP_IDENTITY undefined'],
      [notAPoint, 'GROUP_BAD_ELEMENT undefined'],
      [epochKey.subarray(1) as typeof epochKey, 'GROUP_BAD_ELEMENT undefined'],
    ] as const) {
      expect(await outcome(() => sealEnvelope(fields(), new Uint8Array(5), key))).toBe(code);
      expect(await outcome(() => EnvelopeSealer.create(fields(), 5, key))).toBe(code);
    }
  });
});

describe('recipient checks against the MLS context', () => {
  it.each<[string, Partial<ReturnType<typeof recipientContext>>, string]>([
    ['another org', { orgId: 'other.org' }, 'ENVELOPE_CONTEXT ENV-5'],
    ['another epoch', { epoch: 8 }, 'ENVELOPE_CONTEXT ENV-6'],
    ['another conversation', { conversationId: utf8Encode('group-43') }, 'ENVELOPE_CONTEXT ENV-7'],
    ['another sender user', { senderUserId: 'bob@example.org' }, 'ENVELOPE_CONTEXT ENV-8'],
    ['another sender device', { senderDeviceId: utf8Encode('alice-phone') }, 'ENVELOPE_CONTEXT ENV-8'],
    [
      'a member missing from the header',
      { members: ['alice@example.org', 'bob@example.org', 'carol@example.org', 'dave@example.org'] },
      'ENVELOPE_CONTEXT ENV-9',
    ],
    [
      'a header recipient who is not a member',
      { members: ['alice@example.org', 'bob@example.org'] },
      'ENVELOPE_CONTEXT ENV-9',
    ],
    ['another epoch key', { epochKey: otherEpochKey }, 'ENVELOPE_CAPSULE ENV-11'],
  ])('rejects %s', async (_, change, expected) => {
    const s = await seal(payloadOf(100));
    expect(await outcome(() => openEnvelope(s.envelope, transportOf(s), recipientContext(change)))).toBe(
      expected,
    );
    expect(await outcome(() => EnvelopeOpener.create(s.head, transportOf(s), recipientContext(change)))).toBe(
      expected,
    );
  });

  it('rejects a key transport for another message id, another key, or a malformed one', async () => {
    const s = await seal(payloadOf(100));
    const t = transportOf(s);
    const ctx = recipientContext();
    expect(await outcome(() => openEnvelope(s.envelope, { ...t, messageId: new Uint8Array(16) }, ctx))).toBe(
      'ENVELOPE_CONTEXT ENV-10',
    );
    expect(
      await outcome(() => openEnvelope(s.envelope, { ...t, contentKey: flip(t.contentKey, 0) }, ctx)),
    ).toBe('ENVELOPE_COMMITMENT AEAD-2');
    expect(await outcome(() => openEnvelope(s.envelope, { ...t, seed: flip(t.seed, 0) }, ctx))).toBe(
      'ENVELOPE_CAPSULE ENV-11',
    );
    expect(await outcome(() => openEnvelope(s.envelope, { ...t, contentKey: new Uint8Array(31) }, ctx))).toBe(
      'ENVELOPE_MALFORMED AEAD-1',
    );
    expect(await outcome(() => openEnvelope(s.envelope, { ...t, seed: new Uint8Array(33) }, ctx))).toBe(
      'ENVELOPE_MALFORMED AEAD-1',
    );
  });
});

describe('bit flips', () => {
  // payload 1000 in 256-byte chunks: 4 chunks; flipping the chunk size's low bit (256 → 257) keeps 4 chunks.
  const expected: Record<string, string> = {
    version: 'ENVELOPE_VERSION ENV-2',
    'orgId.length': 'ENVELOPE_MALFORMED ENV-1',
    orgId: 'ENVELOPE_CONTEXT ENV-5',
    epoch: 'ENVELOPE_CONTEXT ENV-6',
    'conversationId.length': 'ENVELOPE_MALFORMED ENV-1',
    conversationId: 'ENVELOPE_CONTEXT ENV-7',
    'senderUserId.length': 'ENVELOPE_MALFORMED ENV-1',
    senderUserId: 'ENVELOPE_MALFORMED ENV-1', // the sender is no longer among the recipients
    'senderDeviceId.length': 'ENVELOPE_MALFORMED ENV-1',
    senderDeviceId: 'ENVELOPE_CONTEXT ENV-8',
    recipientCount: 'ENVELOPE_MALFORMED ENV-1',
    'recipient0.length': 'ENVELOPE_MALFORMED ENV-1',
    recipient0: 'ENVELOPE_MALFORMED ENV-1', // the sender is no longer among the recipients
    'recipient1.length': 'ENVELOPE_MALFORMED ENV-1',
    recipient1: 'ENVELOPE_CONTEXT ENV-9',
    'recipient2.length': 'ENVELOPE_MALFORMED ENV-1',
    recipient2: 'ENVELOPE_CONTEXT ENV-9',
    messageId: 'ENVELOPE_CONTEXT ENV-10',
    sendTime: 'ENVELOPE_CAPSULE ENV-11',
    'contentType.length': 'ENVELOPE_MALFORMED ENV-1',
    contentType: 'ENVELOPE_CAPSULE ENV-11',
    payloadLength: 'ENVELOPE_MALFORMED ENV-4',
    chunkSize: 'ENVELOPE_CAPSULE ENV-11',
    keyCommitment: 'ENVELOPE_COMMITMENT AEAD-2',
    frankingCommitment: 'ENVELOPE_CAPSULE ENV-11',
    ciphertextDigest: 'ENVELOPE_CAPSULE ENV-11',
  };

  it('in every header field fails with the code of the first check it breaks', async () => {
    const s = await seal(payloadOf(1000));
    const offsets = headerFieldOffsets(s.headerBytes);
    expect(Object.keys(offsets).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, { at, length }] of Object.entries(offsets)) {
      // The last byte of the field: for identifiers that keeps the sort order of the recipients.
      const pos = 4 + at + length - 1;
      const got = await outcome(() =>
        openEnvelope(flip(s.envelope, pos), transportOf(s), recipientContext()),
      );
      expect(`${name}: ${got}`).toBe(`${name}: ${expected[name]}`);
    }
  });

  it('in the length prefix, the capsule and the ciphertext fail too', async () => {
    const s = await seal(payloadOf(1000));
    const t = transportOf(s);
    const ctx = recipientContext();
    // The high bytes make the header longer than the maximum; the low ones move its end.
    for (const pos of [0, 1])
      expect(await outcome(() => openEnvelope(flip(s.envelope, pos), t, ctx))).toBe(
        'ENVELOPE_MALFORMED ENV-4',
      );
    for (const pos of [2, 3])
      expect(await outcome(() => openEnvelope(flip(s.envelope, pos), t, ctx))).toBe(
        'ENVELOPE_MALFORMED ENV-1',
      );
    const capsuleAt = 4 + s.headerBytes.length;
    for (let i = 0; i < 192; i += 7)
      expect(await outcome(() => openEnvelope(flip(s.envelope, capsuleAt + i, i % 8), t, ctx))).toBe(
        'ENVELOPE_CAPSULE ENV-11',
      );
    for (let pos = s.head.length; pos < s.envelope.length; pos += 37) {
      expect(await outcome(() => openEnvelope(flip(s.envelope, pos, pos % 8), t, ctx))).toBe(
        'ENVELOPE_DIGEST ENV-12',
      );
      // Streamed, the chunk's own tag fails first; the digest is only known at the end.
      expect(
        await outcome(() => streamOpen(s.head, [flip(s.envelope, pos).subarray(s.head.length)], s)),
      ).toBe('STREAM_ORDER AEAD-3');
    }
    expect(await outcome(() => openEnvelope(s.envelope.subarray(0, s.envelope.length - 1), t, ctx))).toBe(
      'ENVELOPE_MALFORMED ENV-4',
    );
    expect(await outcome(() => openEnvelope(concatBytes(s.envelope, Uint8Array.of(0)), t, ctx))).toBe(
      'ENVELOPE_MALFORMED ENV-4',
    );
  });
});

/**
 * Builds an envelope the way a malicious sender could: every piece computed honestly from `contentKey` unless
 * overridden, so each test changes exactly one thing.
 */
async function forge(
  payload: Uint8Array,
  opts: {
    encryptWith?: Uint8Array;
    capsule?: (label: Uint8Array, key: Uint8Array, seed: Uint8Array) => Uint8Array;
    franking?: Uint8Array;
    /** Ciphertext chunks made by the caller, and the plaintext the committed key opens them to. */
    rawChunks?: (hc: Uint8Array) => { chunks: Uint8Array[]; plaintext: Uint8Array };
  } = {},
) {
  const contentKey = new Uint8Array(32).fill(0x11);
  const seed = new Uint8Array(32).fill(0x22);
  const keys = deriveMessageKeys(contentKey);
  const f = fields();
  const ctx: HeaderContext = {
    ...f,
    recipients: [...f.recipients].sort(),
    version: 1,
    payloadLength: payload.length,
    chunkSize: 256,
    keyCommitment: keys.commitment,
  };
  const hc = headerContextHash(encodeHeaderContext(ctx));
  let chunks: Uint8Array[];
  let plaintext = payload;
  if (opts.rawChunks) ({ chunks, plaintext } = opts.rawChunks(hc));
  else {
    const sealer = await StreamSealer.create(deriveMessageKeys(opts.encryptWith ?? contentKey), hc);
    const g = new ChunkGeometry(payload.length, 256);
    chunks = [];
    for (let i = 0, at = 0; i < g.count; at += g.plainLength(i), i++)
      chunks.push(await sealer.seal(payload.subarray(at, at + g.plainLength(i)), i === g.count - 1));
  }
  const header: Header = {
    ...ctx,
    frankingCommitment: opts.franking ?? frankingCommitment(keys.frankingKey, hc, plaintext, 256),
    ciphertextDigest: ciphertextDigest(chunks),
  };
  const headerBytes = encodeHeader(header);
  const label = envelopeLabel(headerBytes);
  const capsule = (opts.capsule ?? ((l, k, s) => sealCapsule(epochKey, k, l, s)))(label, contentKey, seed);
  return {
    envelope: encodeEnvelope(headerBytes, capsule, concatBytes(...chunks)),
    transport: { messageId: f.messageId, contentKey, seed },
    contentKey,
    label,
  };
}

describe('malicious senders (A5) and relays (A4)', () => {
  it('the honest forge helper produces an envelope that opens and ingests', async () => {
    const f = await forge(payloadOf(600));
    expect((await openEnvelope(f.envelope, f.transport, recipientContext())).payload.length).toBe(600);
    await ingestEnvelope(f.envelope, ingestContext());
  });

  it('a sender that skips escrow (zero or random capsule) is rejected by every recipient', async () => {
    for (const capsule of [() => new Uint8Array(192), () => seededRng('junk')(192)]) {
      const f = await forge(payloadOf(600), { capsule });
      expect(await outcome(() => openEnvelope(f.envelope, f.transport, recipientContext()))).toBe(
        'ENVELOPE_CAPSULE ENV-11',
      );
    }
  });

  it('a sender that escrows another key in a valid capsule passes the relay but not the recipients', async () => {
    const decoy = new Uint8Array(32).fill(0x99);
    const f = await forge(payloadOf(600), { capsule: (l, _k, s) => sealCapsule(epochKey, decoy, l, s) });
    // The capsule is well formed for the label, so the relay (which has no K) accepts it…
    await ingestEnvelope(f.envelope, ingestContext());
    // …but every recipient recomputes it from the K it was given and refuses.
    expect(await outcome(() => openEnvelope(f.envelope, f.transport, recipientContext()))).toBe(
      'ENVELOPE_CAPSULE ENV-11',
    );
  });

  it('a capsule for the right key under another label, epoch key or seed is rejected', async () => {
    const cases = [
      (l: Uint8Array, k: Uint8Array, s: Uint8Array) => sealCapsule(epochKey, k, flip(l, 0), s),
      (l: Uint8Array, k: Uint8Array, s: Uint8Array) => sealCapsule(otherEpochKey, k, l, s),
      (l: Uint8Array, k: Uint8Array, s: Uint8Array) => sealCapsule(epochKey, k, l, flip(s, 0)),
    ];
    for (const capsule of cases) {
      const f = await forge(payloadOf(600), { capsule });
      expect(await outcome(() => openEnvelope(f.envelope, f.transport, recipientContext()))).toBe(
        'ENVELOPE_CAPSULE ENV-11',
      );
    }
  });

  it('a sender that encrypts under a key other than the committed one is ENVELOPE_DECRYPT', async () => {
    const f = await forge(payloadOf(600), { encryptWith: new Uint8Array(32).fill(0x33) });
    expect(await outcome(() => openEnvelope(f.envelope, f.transport, recipientContext()))).toBe(
      'ENVELOPE_DECRYPT ENV-13',
    );
  });

  it('a sender whose franking commitment does not open is rejected (receiver binding, ENV-14)', async () => {
    const f = await forge(payloadOf(600), { franking: new Uint8Array(32).fill(5) });
    expect(await outcome(() => openEnvelope(f.envelope, f.transport, recipientContext()))).toBe(
      'ENVELOPE_COMMITMENT ENV-14',
    );
    const s = decodeEnvelope(f.envelope);
    const o = await EnvelopeOpener.create(s, f.transport, recipientContext());
    await o.update(s.ciphertext);
    expect(await outcome(() => o.finish())).toBe('ENVELOPE_COMMITMENT ENV-14');
  });

  it('invisible salamander: a ciphertext that opens under two keys cannot be shown with the second key', async () => {
    const other = new Uint8Array(32).fill(0x44);
    const a = deriveMessageKeys(new Uint8Array(32).fill(0x11));
    const b = deriveMessageKeys(other);
    const na = streamNonce(a.noncePrefix, 0, true);
    const nb = streamNonce(b.noncePrefix, 0, true);
    let secondPlaintext: Uint8Array = new Uint8Array(0);
    const f = await forge(new Uint8Array(32), {
      rawChunks: (hc) => {
        const c = collidingCiphertext(
          a.encryptionKey,
          na,
          b.encryptionKey,
          nb,
          hc,
          new Uint8Array(16).fill(0x61),
        );
        secondPlaintext = gcm(b.encryptionKey, nb, hc).decrypt(c);
        return { chunks: [c], plaintext: gcm(a.encryptionKey, na, hc).decrypt(c) };
      },
    });
    const opened = await openEnvelope(f.envelope, f.transport, recipientContext());
    // Without the key commitment a recipient handed the second key would read a different message…
    expect(toHex(secondPlaintext)).not.toBe(toHex(opened.payload));
    // …with it, the second key is refused before any decryption.
    expect(
      await outcome(() =>
        openEnvelope(f.envelope, { ...f.transport, contentKey: other }, recipientContext()),
      ),
    ).toBe('ENVELOPE_COMMITMENT AEAD-2');
  });

  it('a relay that changes any header field (and keeps the capsule) is caught by relay, trustee and recipient (A4)', async () => {
    const s = await seal(payloadOf(1000));
    const h = s.header;
    const changes: Partial<Header>[] = [
      { orgId: 'other.org' },
      { epoch: 8 },
      { conversationId: utf8Encode('group-43') },
      { senderUserId: 'bob@example.org' },
      { senderDeviceId: utf8Encode('x') },
      { recipients: ['alice@example.org', 'bob@example.org'] },
      { messageId: new Uint8Array(16) },
      { sendTime: h.sendTime - 86_400_000 },
      { contentType: 'text/html' },
      { frankingCommitment: new Uint8Array(32) },
      { ciphertextDigest: new Uint8Array(32) },
      { keyCommitment: new Uint8Array(32) },
    ];
    for (const change of changes) {
      const relabelled = { ...h, ...change };
      const headerBytes = encodeHeader(relabelled);
      const env = encodeEnvelope(headerBytes, s.capsule, s.envelope.subarray(s.head.length));
      const label = envelopeLabel(headerBytes);
      // Trustees and the relay: the capsule's validity proof is bound to the old label.
      expect(() => verifyCapsule(epochKey, decodeCapsule(s.capsule), label)).toThrow(/CAPSULE_INVALID/);
      const relay = ingestContext({
        orgId: relabelled.orgId,
        epoch: relabelled.epoch,
        senderUserId: relabelled.senderUserId,
        senderDeviceId: relabelled.senderDeviceId,
        now: relabelled.sendTime,
      });
      expect(await outcome(() => ingestEnvelope(env, relay))).toBe('ENVELOPE_CAPSULE ENV-18');
      // A recipient whose MLS context happens to match the forged header still recomputes the capsule.
      const ctx = recipientContext({
        orgId: relabelled.orgId,
        epoch: relabelled.epoch,
        conversationId: relabelled.conversationId,
        senderUserId: relabelled.senderUserId,
        senderDeviceId: relabelled.senderDeviceId,
        members: relabelled.recipients,
      });
      const got = await outcome(() =>
        openEnvelope(env, { ...transportOf(s), messageId: relabelled.messageId }, ctx),
      );
      expect(['ENVELOPE_CAPSULE ENV-11', 'ENVELOPE_COMMITMENT AEAD-2']).toContain(got);
    }
  });
});

describe('streaming attacks on an envelope', () => {
  async function streamed(s: SealedEnvelope, pieces: Uint8Array[]): Promise<string> {
    return outcome(() => streamOpen(s.head, pieces, s));
  }

  it('truncation: missing bytes or a missing final chunk is STREAM_TRUNCATED (ENV-16)', async () => {
    const s = await seal(payloadOf(1000));
    const { chunks } = chunksOf(s.envelope);
    expect(await streamed(s, chunks.slice(0, 3))).toBe('STREAM_TRUNCATED ENV-16');
    expect(await streamed(s, [...chunks.slice(0, 3), chunks[3]!.subarray(0, 10)])).toBe(
      'STREAM_TRUNCATED ENV-16',
    );
    expect(await streamed(s, [])).toBe('STREAM_TRUNCATED ENV-16');
  });

  it('extension: bytes after the final chunk are STREAM_ORDER (ENV-15)', async () => {
    const s = await seal(payloadOf(1000));
    const { chunks } = chunksOf(s.envelope);
    expect(await streamed(s, [...chunks, Uint8Array.of(0)])).toBe('STREAM_ORDER ENV-15');
  });

  it('reordered, duplicated and swapped-in chunks are STREAM_ORDER (AEAD-3)', async () => {
    const s = await seal(payloadOf(1024));
    const other = await seal(payloadOf(1024, 9), 256, 'other-envelope');
    const { chunks } = chunksOf(s.envelope);
    const { chunks: foreign } = chunksOf(other.envelope);
    const [c0, c1, c2, c3] = chunks as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
    expect(await streamed(s, [c1, c0, c2, c3])).toBe('STREAM_ORDER AEAD-3');
    expect(await streamed(s, [c0, c0, c2, c3])).toBe('STREAM_ORDER AEAD-3');
    expect(await streamed(s, [c0, c1, c2, c2])).toBe('STREAM_ORDER AEAD-3');
    expect(await streamed(s, [c0, foreign[1]!, c2, c3])).toBe('STREAM_ORDER AEAD-3');
    // One-shot, the same manipulations change the ciphertext the digest names.
    const t = transportOf(s);
    const swapped = concatBytes(s.head, c0, c2, c1, c3);
    expect(await outcome(() => openEnvelope(swapped, t, recipientContext()))).toBe('ENVELOPE_DIGEST ENV-12');
  });

  it('the streaming opener refuses calls after finish or failure (AEAD-5)', async () => {
    const s = await seal(payloadOf(100));
    const o = await EnvelopeOpener.create(s.head, transportOf(s), recipientContext());
    await o.update(s.envelope.subarray(s.head.length));
    await o.finish();
    expect(await outcome(() => o.update(new Uint8Array(1)))).toBe('STREAM_ORDER AEAD-5');
  });
});

describe('head framing', () => {
  it('reads the head length from the prefix and decodes the head alone', async () => {
    const s = await seal(payloadOf(10));
    expect(envelopeHeadLength(s.envelope.subarray(0, 4))).toBe(s.head.length);
    const head = decodeEnvelopeHead(s.head);
    expect(toHex(head.label)).toBe(toHex(s.label));
    expect(await outcome(() => envelopeHeadLength(new Uint8Array(3)))).toBe('ENVELOPE_MALFORMED ENV-4');
    expect(await outcome(() => envelopeHeadLength(Uint8Array.of(0xff, 0, 0, 0)))).toBe(
      'ENVELOPE_MALFORMED ENV-4',
    );
    expect(await outcome(() => decodeEnvelopeHead(s.head.subarray(0, s.head.length - 1)))).toBe(
      'ENVELOPE_MALFORMED ENV-4',
    );
  });
});

describe('trustee quorum recovers K (DESIGN §4 steps 6–7)', () => {
  it('k of n decryption shares open the envelope; the recovered open checks capsule and commitment', async () => {
    const payload = payloadOf(2000);
    const s = await seal(payload);
    const ingested = await ingestEnvelope(s.envelope, ingestContext());
    // A (2, 3) sharing of the epoch secret, as the DKG would leave it.
    const a1 = group.scalarReduce64(seededRng('coef')(64));
    const coeffs: Scalar[] = [epochSecret, a1];
    const shares = [1, 3].map((i) => ({ index: i, secret: evaluatePolynomial(coeffs, i) }));
    const keySet = {
      threshold: 2,
      groupKey: group.baseMul(epochSecret),
      verificationKeys: [1, 2, 3].map((i) => group.baseMul(evaluatePolynomial(coeffs, i))),
    };
    const verified = shares.map((sh) => {
      const d = createShare(sh, ingested.capsule, seededRng(`share${sh.index}`));
      return verifyShare(keySet, ingested.capsule, d);
    });
    const k = combineShares(ingested.capsule, verified, keySet);
    expect(toHex(k)).toBe(toHex(s.contentKey));
    const r = await openRecoveredEnvelope(s.envelope, ingested.capsule, k);
    expect(toHex(r.payload)).toBe(toHex(payload));
    expect(await outcome(() => openRecoveredEnvelope(s.envelope, ingested.capsule, flip(k, 0)))).toBe(
      'ENVELOPE_COMMITMENT AEAD-2',
    );
    const other = await seal(payload, 256, 'other');
    expect(await outcome(() => openRecoveredEnvelope(other.envelope, ingested.capsule, k))).toBe(
      'ENVELOPE_CAPSULE ENV-11',
    );
  });
});
