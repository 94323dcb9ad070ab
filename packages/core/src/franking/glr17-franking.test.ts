// Message franking after Grubbs–Lu–Ristenpart 2017 (docs/spec/franking.md): the relay's stamp, the
// recipient's report, the organisation's verification, and every forgery A12 names.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  epochKey,
  fields,
  flip,
  headerFieldOffsets,
  ingestContext,
  outcome,
  recipientContext,
  seededRng,
  transportOf,
} from '../../test/envelope-fixtures.js';
import { deriveMessageKeys } from '../aead/keys.js';
import { concatBytes, toHex, utf8Encode } from '../bytes.js';
import { encodeHeader, MAX_HEADER_BYTES } from '../envelope/header.js';
import { ingestEnvelope } from '../envelope/ingest.js';
import { openEnvelope } from '../envelope/open.js';
import { sealEnvelope } from '../envelope/seal.js';
import { signingKeyFromSeed } from '../sign.js';
import { frankingCommitment } from './commitment.js';
import {
  type AbuseReport,
  createReport,
  decodeReport,
  decodeStamp,
  encodeReport,
  isReportableLength,
  MAX_REPORT_BYTES,
  MAX_REPORT_PLAINTEXT,
  STAMP_BYTES,
  stampEnvelope,
  verifyReport,
  verifyStamp,
} from './report.js';

const relayKey = signingKeyFromSeed(new Uint8Array(32).fill(0x52));
const otherRelay = signingKeyFromSeed(new Uint8Array(32).fill(0x53));
const STAMP_TIME = 1_767_225_601_234;

async function delivered(text: string, messageByte = 0x42, sender = 'alice@example.org') {
  const f = fields({ messageId: new Uint8Array(16).fill(messageByte), senderUserId: sender });
  const s = await sealEnvelope(f, utf8Encode(text), epochKey, {
    rng: seededRng(`frk${messageByte}`),
    chunkSize: 64,
  });
  const ingested = await ingestEnvelope(s.envelope, ingestContext({ senderUserId: sender }));
  const stamp = stampEnvelope(ingested, relayKey, STAMP_TIME);
  const opened = await openEnvelope(
    s.envelope,
    { ...transportOf(s) },
    recipientContext({ senderUserId: sender }),
  );
  return { s, stamp, opened, report: createReport(opened, opened.payload, stamp) };
}

const ctx = { relayPublicKey: relayKey.publicKey, reporterUserId: 'bob@example.org' };

describe('stamp and report', () => {
  it('a recipient checks the stamp on receipt and the organisation verifies an honest report', async () => {
    const { opened, stamp, report } = await delivered('you are fired, and so is your cat');
    expect(verifyStamp(opened.header, opened.label, stamp, relayKey.publicKey)).toBe(STAMP_TIME);
    expect(stamp.length).toBe(STAMP_BYTES);
    const v = verifyReport(encodeReport(report), ctx);
    expect(new TextDecoder().decode(v.plaintext)).toBe('you are fired, and so is your cat');
    expect(v.header.senderUserId).toBe('alice@example.org');
    expect(v.stampTime).toBe(STAMP_TIME);
  });

  it('verifies long multi-chunk messages and empty ones', async () => {
    for (const text of ['', 'x'.repeat(64), 'y'.repeat(1000)]) {
      const { report } = await delivered(text, 0x10 + (text.length % 200));
      expect(verifyReport(report, ctx).plaintext.length).toBe(text.length);
    }
  });

  it('the report reveals neither K, the encryption key, nor the capsule seed', async () => {
    const { s, report } = await delivered('evidence');
    const bytes = toHex(encodeReport(report));
    const keys = deriveMessageKeys(s.contentKey);
    for (const secret of [s.contentKey, s.seed, keys.encryptionKey])
      expect(bytes).not.toContain(toHex(secret));
  });

  it('round-trips the report encoding', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 400 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: STAMP_BYTES, maxLength: STAMP_BYTES }),
        (headerBytes, plaintext, frankingKey, stamp) => {
          const r: AbuseReport = { headerBytes, plaintext, frankingKey, stamp };
          const back = decodeReport(encodeReport(r));
          expect(toHex(encodeReport(back))).toBe(toHex(encodeReport(r)));
        },
      ),
    );
  });
});

describe('forged reports fail (A12)', () => {
  it('changed plaintext (FRK-3)', async () => {
    const { report } = await delivered('meet at noon');
    const forged = { ...report, plaintext: utf8Encode('meet at moon') };
    expect(await outcome(() => verifyReport(forged, ctx))).toBe('FRANKING_INVALID FRK-3');
    expect(
      await outcome(() =>
        verifyReport({ ...report, plaintext: concatBytes(report.plaintext, Uint8Array.of(0)) }, ctx),
      ),
    ).toBe('FRANKING_INVALID FRK-3');
  });

  it('another sender: the header edited to blame someone else (FRK-3)', async () => {
    const { report, opened } = await delivered('hello');
    const asCarol = encodeHeader({ ...opened.header, senderUserId: 'carol@example.org' });
    expect(await outcome(() => verifyReport({ ...report, headerBytes: asCarol }, ctx))).toBe(
      'FRANKING_INVALID FRK-3',
    );
    const device = headerFieldOffsets(opened.headerBytes).senderDeviceId!;
    const otherDevice = flip(opened.headerBytes, device.at);
    expect(await outcome(() => verifyReport({ ...report, headerBytes: otherDevice }, ctx))).toBe(
      'FRANKING_INVALID FRK-3',
    );
  });

  it('a genuine message of another sender with this plaintext and key (swapped opening, FRK-3)', async () => {
    const mine = await delivered('the same words', 0x01, 'alice@example.org');
    const theirs = await delivered('the same words', 0x02, 'carol@example.org');
    expect(
      await outcome(() => verifyReport({ ...theirs.report, frankingKey: mine.report.frankingKey }, ctx)),
    ).toBe('FRANKING_INVALID FRK-3');
    expect(
      await outcome(() => verifyReport({ ...mine.report, headerBytes: theirs.report.headerBytes }, ctx)),
    ).toBe('FRANKING_INVALID FRK-3');
  });

  it('another stamp: from another message, from another relay, or altered (FRK-4)', async () => {
    const a = await delivered('one', 0x05);
    const b = await delivered('two', 0x06);
    expect(await outcome(() => verifyReport({ ...a.report, stamp: b.stamp }, ctx))).toBe(
      'FRANKING_STAMP FRK-4',
    );
    const ingested = await ingestEnvelope(a.s.envelope, ingestContext());
    const foreign = stampEnvelope(ingested, otherRelay, STAMP_TIME);
    expect(await outcome(() => verifyReport({ ...a.report, stamp: foreign }, ctx))).toBe(
      'FRANKING_STAMP FRK-4',
    );
    for (const pos of [0, 3, 8, 9, 40, STAMP_BYTES - 1])
      expect(await outcome(() => verifyReport({ ...a.report, stamp: flip(a.stamp, pos) }, ctx))).toBe(
        'FRANKING_STAMP FRK-4',
      );
  });

  it('a reporter who was not a recipient (FRK-2), and malformed reports (FRK-1)', async () => {
    const { report } = await delivered('private');
    expect(await outcome(() => verifyReport(report, { ...ctx, reporterUserId: 'eve@example.org' }))).toBe(
      'FRANKING_INVALID FRK-2',
    );
    expect(
      await outcome(() => verifyReport({ ...report, headerBytes: report.headerBytes.subarray(1) }, ctx)),
    ).toBe('FRANKING_INVALID FRK-1');
    expect(await outcome(() => verifyReport(encodeReport(report).subarray(1), ctx))).toBe(
      'FRANKING_INVALID FRK-1',
    );
    expect(await outcome(() => verifyReport({ ...report, frankingKey: new Uint8Array(31) }, ctx))).toBe(
      'FRANKING_INVALID FRK-3',
    );
  });

  it('no (key, plaintext) pair but the real one opens a commitment (random search)', () => {
    const hc = new Uint8Array(32).fill(9);
    const fk = new Uint8Array(32).fill(1);
    const target = toHex(frankingCommitment(fk, hc, utf8Encode('real'), 64));
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 100 }),
        (k, m) => {
          fc.pre(toHex(k) !== toHex(fk));
          expect(toHex(frankingCommitment(k, hc, m, 64))).not.toBe(target);
        },
      ),
    );
  });

  it('stamp decoding rejects bad versions and lengths with FRANKING_STAMP', async () => {
    const { stamp } = await delivered('s');
    expect(decodeStamp(stamp).stampTime).toBe(STAMP_TIME);
    expect(await outcome(() => decodeStamp(flip(stamp, 0, 1)))).toBe('FRANKING_STAMP FRK-4');
    expect(await outcome(() => decodeStamp(stamp.subarray(1)))).toBe('FRANKING_STAMP FRK-4');
    expect(await outcome(() => decodeStamp(concatBytes(stamp, Uint8Array.of(1))))).toBe(
      'FRANKING_STAMP FRK-4',
    );
  });
});

describe('the reporting limit (franking.md §2, §4)', () => {
  /** A message of `n` bytes, sealed, ingested, stamped and opened as a recipient sees it. */
  async function deliveredBytes(n: number) {
    const s = await sealEnvelope(fields(), new Uint8Array(n).fill(0x61), epochKey, {
      rng: seededRng(`size${n}`),
    });
    const stamp = stampEnvelope(await ingestEnvelope(s.envelope, ingestContext()), relayKey, STAMP_TIME);
    const opened = await openEnvelope(s.envelope, transportOf(s), recipientContext());
    return { stamp, opened };
  }

  it('a message of exactly MAX_REPORT_PLAINTEXT bytes is reportable; one byte more is not (FRK-1)', async () => {
    expect(MAX_REPORT_PLAINTEXT).toBe(1_048_576);
    const at = await deliveredBytes(MAX_REPORT_PLAINTEXT);
    expect(isReportableLength(at.opened.payload.length)).toBe(true);
    const bytes = encodeReport(createReport(at.opened, at.opened.payload, at.stamp));
    expect(bytes.length).toBeLessThanOrEqual(MAX_REPORT_BYTES);
    expect(verifyReport(bytes, ctx).plaintext.length).toBe(MAX_REPORT_PLAINTEXT);

    const over = await deliveredBytes(MAX_REPORT_PLAINTEXT + 1);
    expect(isReportableLength(over.opened.payload.length)).toBe(false);
    // The message itself is accepted (its commitment opened at openEnvelope), but no report of it exists:
    const report = createReport(over.opened, over.opened.payload, over.stamp);
    expect(await outcome(() => encodeReport(report))).toBe('FRANKING_INVALID FRK-1');
    expect(await outcome(() => verifyReport(report, ctx))).toBe('FRANKING_INVALID FRK-1');
    // ... and a report encoded by hand with the longer plaintext does not decode.
    const w = concatBytes(
      bytes.subarray(0, bytes.length - MAX_REPORT_PLAINTEXT - 8),
      u64(MAX_REPORT_PLAINTEXT + 1),
    );
    expect(await outcome(() => decodeReport(concatBytes(w, over.opened.payload)))).toBe(
      'FRANKING_INVALID FRK-1',
    );
  });

  it('MAX_REPORT_BYTES is the largest report: the largest header with the largest plaintext', () => {
    const largest = encodeReport({
      headerBytes: new Uint8Array(MAX_HEADER_BYTES),
      plaintext: new Uint8Array(MAX_REPORT_PLAINTEXT),
      frankingKey: new Uint8Array(32),
      stamp: new Uint8Array(STAMP_BYTES),
    });
    expect(largest.length).toBe(MAX_REPORT_BYTES);
    expect(MAX_REPORT_BYTES).toBe(1 + 4 + 132_687 + 32 + 73 + 8 + 1_048_576);
    expect(decodeReport(largest).plaintext.length).toBe(MAX_REPORT_PLAINTEXT);
  });
});

function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}
