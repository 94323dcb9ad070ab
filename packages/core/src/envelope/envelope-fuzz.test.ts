// Fuzzing every envelope and franking decoder (and the open / ingest paths that run them) with random bytes
// and mutations of valid encodings: only our own errors, with this module's codes, may come out.
import fc from 'fast-check';
import { describe, it } from 'vitest';
import {
  epochKey,
  fields,
  fuzzInputs,
  ingestContext,
  onlyOurErrors,
  recipientContext,
  seededRng,
  senderSigningKey,
  transportOf,
} from '../../test/envelope-fixtures.js';
import {
  createReport,
  decodeReport,
  decodeStamp,
  encodeReport,
  stampEnvelope,
  verifyReport,
} from '../franking/report.js';
import { signingKeyFromSeed } from '../sign.js';
import { decodeEnvelope, decodeEnvelopeHead, envelopeHeadLength } from './envelope.js';
import { decodeHeader } from './header.js';
import { EnvelopeIngester, ingestEnvelope } from './ingest.js';
import { EnvelopeOpener, openEnvelope } from './open.js';
import { sealEnvelope } from './seal.js';
import { verifySenderSignature } from './signature.js';

const ENVELOPE_CODES = [
  'ENVELOPE_MALFORMED',
  'ENVELOPE_VERSION',
  'ENVELOPE_TOO_LARGE',
  'ENVELOPE_CONTEXT',
  'ENVELOPE_CAPSULE',
  'ENVELOPE_COMMITMENT',
  'ENVELOPE_DIGEST',
  'ENVELOPE_DECRYPT',
  'STREAM_ORDER',
  'STREAM_TRUNCATED',
  'ENVELOPE_SIGNATURE',
];
const FRANKING_CODES = ['FRANKING_INVALID', 'FRANKING_STAMP'];

const s = await sealEnvelope(fields(), new Uint8Array(300).fill(3), epochKey, senderSigningKey, {
  chunkSize: 64,
  rng: seededRng('fuzz'),
});
const relay = signingKeyFromSeed(new Uint8Array(32).fill(9));
const stamp = stampEnvelope(await ingestEnvelope(s.envelope, ingestContext()), relay, 1);
const opened = await openEnvelope(s.envelope, transportOf(s), recipientContext());
const report = encodeReport(createReport(opened, opened.payload, stamp));
const RUNS = { numRuns: 300 };

describe('decoder fuzzing', () => {
  it('decodeHeader', async () => {
    await fc.assert(
      fc.asyncProperty(fuzzInputs(s.headerBytes), (b) =>
        onlyOurErrors(() => decodeHeader(b), ENVELOPE_CODES),
      ),
      RUNS,
    );
  });

  it('envelopeHeadLength, decodeEnvelopeHead and decodeEnvelope', async () => {
    await fc.assert(
      fc.asyncProperty(fuzzInputs(s.envelope), async (b) => {
        await onlyOurErrors(() => envelopeHeadLength(b), ENVELOPE_CODES);
        await onlyOurErrors(() => decodeEnvelopeHead(b), ENVELOPE_CODES);
        await onlyOurErrors(() => decodeEnvelope(b), ENVELOPE_CODES);
      }),
      RUNS,
    );
  });

  it('verifySenderSignature on mutated heads and keys', async () => {
    await fc.assert(
      fc.asyncProperty(fuzzInputs(s.head), fuzzInputs(senderSigningKey.publicKey), async (head, key) => {
        await onlyOurErrors(() => verifySenderSignature(head, senderSigningKey.publicKey), ENVELOPE_CODES);
        await onlyOurErrors(() => verifySenderSignature(s.head, key), ENVELOPE_CODES);
      }),
      RUNS,
    );
  });

  it('openEnvelope and ingestEnvelope on mutated envelopes', async () => {
    await fc.assert(
      fc.asyncProperty(fuzzInputs(s.envelope), async (b) => {
        await onlyOurErrors(() => openEnvelope(b, transportOf(s), recipientContext()), ENVELOPE_CODES);
        await onlyOurErrors(() => ingestEnvelope(b, ingestContext()), ENVELOPE_CODES);
      }),
      { numRuns: 150 },
    );
  });

  it('streaming opener and ingester on mutated ciphertext pieces', async () => {
    const ct = s.envelope.subarray(s.head.length);
    await fc.assert(
      fc.asyncProperty(fuzzInputs(ct), fc.integer({ min: 1, max: 200 }), async (b, piece) => {
        await onlyOurErrors(async () => {
          const o = await EnvelopeOpener.create(s.head, transportOf(s), recipientContext());
          for (let at = 0; at < b.length; at += piece) await o.update(b.subarray(at, at + piece));
          await o.finish();
        }, ENVELOPE_CODES);
        await onlyOurErrors(async () => {
          const i = EnvelopeIngester.create(s.head, ingestContext());
          for (let at = 0; at < b.length; at += piece) await i.update(b.subarray(at, at + piece));
          await i.finish();
        }, ENVELOPE_CODES);
      }),
      { numRuns: 100 },
    );
  });

  it('decodeStamp, decodeReport and verifyReport', async () => {
    await fc.assert(
      fc.asyncProperty(fuzzInputs(stamp), (b) => onlyOurErrors(() => decodeStamp(b), FRANKING_CODES)),
      RUNS,
    );
    await fc.assert(
      fc.asyncProperty(fuzzInputs(report), async (b) => {
        await onlyOurErrors(() => decodeReport(b), FRANKING_CODES);
        await onlyOurErrors(
          () => verifyReport(b, { relayPublicKey: relay.publicKey, reporterUserId: 'bob@example.org' }),
          FRANKING_CODES,
        );
      }),
      RUNS,
    );
  });
});
