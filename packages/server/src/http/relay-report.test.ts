// Message franking over real HTTP (relay.md §10, franking.md, DESIGN §4 flow 10, threat A12): the relay stamps
// every envelope it serves, a recipient reports a message with core's report, the relay verifies and stores it,
// the org-admin reads it — and every forgery is refused with its check ID, storing nothing.
import {
  concatBytes,
  createReport,
  decodeHeader,
  type Element,
  encodeReport,
  envelopeLabel,
  fromBase64,
  group,
  type HeaderFields,
  ingestEnvelope,
  openEnvelope,
  randomBytes,
  randomNonZeroScalar,
  type SealedEnvelope,
  STAMP_BYTES,
  sealEnvelope,
  stampEnvelope,
  toBase64,
  toBase64Url,
  utf8Decode,
  utf8Encode,
  verifyReport,
  verifyStamp,
} from '@overt/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createConversation,
  type Device,
  type Harness,
  ORG,
  publishEpochKey as publishEpochKeyFor,
  startHarness,
  textFields,
} from '../../test/harness.js';
import { calendarMonthEpoch } from '../epochs.js';
import { envelopeStamp } from '../franking.js';

let h: Harness;
let alice: Device;
let bob: Device;
let carol: Device;
let epochKey: Element;
/** A conversation of alice's and bob's phones (the relay's ingest rules need a real one, RLY-19). */
let conversationId: Uint8Array;
const EPOCH = calendarMonthEpoch(Date.now());

const fields = (extra: Partial<HeaderFields> = {}) => textFields(EPOCH, { conversationId, ...extra });

async function publishEpochKey(hh: Harness): Promise<void> {
  const { response } = await publishEpochKeyFor(hh.admin, hh.adminKey, EPOCH, { epochKey });
  expect(response.status).toBe(201);
}

/** Alice sends `text` (stored by the relay); bob fetches it with its stamp and opens it. */
async function delivered(text: string, extra: Partial<HeaderFields> = {}) {
  const f = fields(extra);
  const sealed = await sealEnvelope(f, utf8Encode(text), epochKey, alice.key);
  const id = toBase64Url(sealed.header.messageId);
  expect((await alice.request('PUT', `/v1/envelopes/${id}`, sealed.envelope)).status).toBe(201);
  const got = await bob.request('GET', `/v1/envelopes/${id}`);
  expect(got.status).toBe(200);
  const stamp = fromBase64(got.body.stamp);
  const opened = await open(sealed, f);
  return { sealed, id, stamp, opened, receivedAt: got.body.receivedAt as number };
}

async function open(sealed: SealedEnvelope, f: HeaderFields, senderKey = alice.key.publicKey) {
  return openEnvelope(
    sealed.envelope,
    { messageId: sealed.header.messageId, contentKey: sealed.contentKey, seed: sealed.seed },
    {
      orgId: ORG,
      epoch: EPOCH,
      epochKey,
      conversationId: f.conversationId,
      senderUserId: f.senderUserId,
      senderDeviceId: f.senderDeviceId,
      senderKey,
      members: f.recipients,
    },
  );
}

async function reportCount(hh: Harness = h): Promise<number> {
  return (await hh.relay.storage.listAbuseReports(0, 1000)).length;
}

beforeAll(async () => {
  h = await startHarness();
  alice = await h.enrol('alice', 'alice-phone');
  bob = await h.enrol('bob', 'bob-phone');
  carol = await h.enrol('carol', 'carol-phone');
  conversationId = (await createConversation(alice, [bob])).groupId;
  epochKey = group.baseMul(randomNonZeroScalar());
  await publishEpochKey(h);
});
afterAll(async () => {
  await h.close();
});

describe('stamps (relay.md §10.1)', () => {
  it('every served envelope carries a stamp that verifies under the relay key, identical on every fetch', async () => {
    const { sealed, id, stamp, opened, receivedAt } = await delivered('stamped');
    expect(stamp.length).toBe(STAMP_BYTES);
    expect(verifyStamp(opened.header, opened.label, stamp, h.frankingKey!.publicKey)).toBe(receivedAt);
    const again = await alice.request('GET', `/v1/envelopes/${id}`);
    expect(again.body.stamp).toBe(toBase64(stamp));
    // Byte for byte what core's stampEnvelope gives for the ingested envelope at its receive time.
    const ingested = await ingestEnvelope(sealed.envelope, {
      orgId: ORG,
      epoch: EPOCH,
      epochKey,
      senderUserId: 'alice',
      senderDeviceId: utf8Encode('alice-phone'),
      now: receivedAt,
      maxClockSkewMs: 300_000,
      maxPayloadBytes: 1 << 20,
      senderKey: alice.key.publicKey,
      members: ['alice', 'bob'],
    });
    expect(stampEnvelope(ingested, h.frankingKey!, receivedAt)).toEqual(stamp);
    const record = (await h.relay.storage.getEnvelope(sealed.header.messageId))!;
    expect(envelopeStamp(record, h.frankingKey!)).toEqual(stamp);
    // The cache of the fan-out path serves the same bytes, and never a stamp of another receive time.
    expect(h.relay.reports.stampOf(record)).toEqual(stamp);
    const later = { ...record, receivedAt: record.receivedAt + 1 };
    expect(h.relay.reports.stampOf(later)).toEqual(envelopeStamp(later, h.frankingKey!));
    expect(h.relay.reports.stampOf(later)).not.toEqual(stamp);
  });
});

describe('reports (A12)', () => {
  it('a recipient reports a message; the org-admin reads it, bound to its sender', async () => {
    const { stamp, opened, id } = await delivered('you are fired, and so is your cat');
    const report = encodeReport(createReport(opened, opened.payload, stamp));
    const before = await reportCount();
    const filed = await bob.request('POST', `/v1/reports?reason=${encodeURIComponent('threat ☹')}`, report);
    expect(filed.status).toBe(201);
    expect(filed.body).toMatchObject({ result: 'stored', messageId: id, senderUserId: 'alice' });
    const reportId = filed.body.reportId as number;
    // Filed again (by bob's user): the first report stands.
    const again = await bob.request('POST', '/v1/reports', report);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ reportId, result: 'duplicate' });
    expect(await reportCount()).toBe(before + 1);

    const list = await h.admin.request('GET', `/v1/admin/reports?after=${reportId - 1}&limit=10`);
    expect(list.status).toBe(200);
    expect(list.body.reports[0]).toMatchObject({
      reportId,
      messageId: id,
      reporterUserId: 'bob',
      reporterDeviceId: 'bob-phone',
      senderUserId: 'alice',
      senderDeviceId: 'alice-phone',
      reason: 'threat ☹',
    });
    expect(list.body.reports[0].plaintext).toBeUndefined();
    const one = await h.admin.request('GET', `/v1/admin/reports/${reportId}`);
    expect(one.status).toBe(200);
    expect(utf8Decode(fromBase64(one.body.plaintext))).toBe('you are fired, and so is your cat');
    expect(one.body.contentType).toBe('text/plain; charset=utf-8');
    // The organisation can re-check the stored report itself with the relay's public franking key.
    const v = verifyReport(fromBase64(one.body.report), {
      relayPublicKey: h.frankingKey!.publicKey,
      reporterUserId: 'bob',
    });
    expect(v.header.senderUserId).toBe('alice');
    expect(utf8Decode(v.header.senderDeviceId)).toBe('alice-phone');

    // Devices cannot read reports; the admin cannot file them (AUTH-8); unknown ids are 404.
    expect((await bob.request('GET', '/v1/admin/reports')).body).toMatchObject({ check: 'AUTH-8' });
    expect((await h.admin.request('POST', '/v1/reports', report)).body).toMatchObject({ check: 'AUTH-8' });
    expect((await h.admin.request('GET', '/v1/admin/reports/999999')).body.code).toBe('REPORT_UNKNOWN');
  });

  it('refuses each forgery with its check ID and stores nothing', async () => {
    const a = await delivered('meet at noon');
    const b = await delivered('another message');
    const honest = createReport(a.opened, a.opened.payload, a.stamp);
    const flipped = (x: Uint8Array, i: number) => {
      const y = new Uint8Array(x);
      y[i]! ^= 1;
      return y;
    };
    // A message the relay never stored, stamped with the relay's own key: only storage can tell (RPT-2).
    const f = fields();
    const unstored = await sealEnvelope(f, utf8Encode('never sent'), epochKey, alice.key);
    const unstoredOpened = await open(unstored, f);
    const hdr = decodeHeader(unstoredOpened.headerBytes);
    // The stored envelope, stamped by the relay's key at another time than it received it: not a stamp it served.
    const ingestedA = await ingestEnvelope(a.sealed.envelope, {
      orgId: ORG,
      epoch: EPOCH,
      epochKey,
      senderUserId: 'alice',
      senderDeviceId: utf8Encode('alice-phone'),
      now: Date.now(),
      maxClockSkewMs: 300_000,
      maxPayloadBytes: 1 << 20,
      senderKey: alice.key.publicKey,
      members: ['alice', 'bob'],
    });
    const otherTime = stampEnvelope(ingestedA, h.frankingKey!, a.receivedAt + 1);
    const fakeStamp = stampEnvelope(
      await ingestEnvelope(unstored.envelope, {
        orgId: ORG,
        epoch: EPOCH,
        epochKey,
        senderUserId: hdr.senderUserId,
        senderDeviceId: hdr.senderDeviceId,
        now: Date.now(),
        maxClockSkewMs: 300_000,
        maxPayloadBytes: 1 << 20,
        senderKey: alice.key.publicKey,
        members: ['alice', 'bob'],
      }),
      h.frankingKey!,
      Date.now(),
    );
    expect(envelopeLabel(unstoredOpened.headerBytes)).toEqual(unstoredOpened.label);
    const cases: [string, Device, Uint8Array, number, string, string][] = [
      [
        'wrong plaintext',
        bob,
        encodeReport({ ...honest, plaintext: utf8Encode('meet at moon') }),
        400,
        'REPORT_OPENING',
        'FRK-3',
      ],
      [
        'wrong franking key',
        bob,
        encodeReport({ ...honest, frankingKey: b.opened.frankingKey }),
        400,
        'REPORT_OPENING',
        'FRK-3',
      ],
      [
        'stamp of another envelope',
        bob,
        encodeReport({ ...honest, stamp: b.stamp }),
        400,
        'REPORT_STAMP',
        'FRK-4',
      ],
      [
        'stamp forged',
        bob,
        encodeReport({ ...honest, stamp: flipped(a.stamp, STAMP_BYTES - 1) }),
        400,
        'REPORT_STAMP',
        'FRK-4',
      ],
      [
        'stamp by another key',
        bob,
        encodeReport({
          ...honest,
          stamp: concatBytes(a.stamp.subarray(0, 9), randomBytes(64)),
        }),
        400,
        'REPORT_STAMP',
        'FRK-4',
      ],
      ['reporter not a recipient', carol, encodeReport(honest), 403, 'REPORT_NOT_RECIPIENT', 'FRK-2'],
      ['malformed bytes', bob, encodeReport(honest).subarray(0, 50), 400, 'REPORT_MALFORMED', 'FRK-1'],
      [
        'trailing bytes',
        bob,
        concatBytes(encodeReport(honest), Uint8Array.of(0)),
        400,
        'REPORT_MALFORMED',
        'FRK-1',
      ],
      [
        'stamp time not the receive time',
        bob,
        encodeReport({ ...honest, stamp: otherTime }),
        404,
        'REPORT_ENVELOPE_UNKNOWN',
        'RPT-2',
      ],
      [
        'never stored',
        bob,
        encodeReport(createReport(unstoredOpened, unstoredOpened.payload, fakeStamp)),
        404,
        'REPORT_ENVELOPE_UNKNOWN',
        'RPT-2',
      ],
    ];
    const before = await reportCount();
    for (const [what, device, bytes, status, code, check] of cases) {
      const r = await device.request('POST', '/v1/reports', bytes);
      expect([what, r.status, r.body.code, r.body.check]).toEqual([what, status, code, check]);
      // Details name the rule, never the plaintext.
      expect(JSON.stringify(r.body)).not.toContain('noon');
    }
    // Boundary refusals: oversized (RLY-3), JSON (RLY-4), a bad reason (RLY-2).
    const big = await bob.request('POST', '/v1/reports', new Uint8Array(2 * 1024 * 1024 + 1));
    expect([big.status, big.body.check]).toEqual([413, 'RLY-3']);
    const asJson = await bob.request('POST', '/v1/reports', { report: 'x' });
    expect([asJson.status, asJson.body.check]).toEqual([415, 'RLY-4']);
    for (const reason of ['', 'x'.repeat(501), 'bell\u0007', 'nul\u0000'])
      expect(
        (await bob.request('POST', `/v1/reports?reason=${encodeURIComponent(reason)}`, encodeReport(honest)))
          .body.check,
      ).toBe('RLY-2');
    const twice = await bob.request('POST', '/v1/reports?reason=a&reason=b', encodeReport(honest));
    expect([twice.status, twice.body.check]).toEqual([400, 'RLY-2']);
    const unknown = await bob.request('POST', '/v1/reports?because=x', encodeReport(honest));
    expect([unknown.status, unknown.body.check]).toEqual([400, 'RLY-2']);
    expect(await reportCount()).toBe(before);
    // The honest report still goes through after all that.
    expect((await bob.request('POST', '/v1/reports', encodeReport(honest))).status).toBe(201);
  });

  it('random and mutated report bodies get our typed refusals and store nothing (fuzz)', async () => {
    const a = await delivered('fuzz me');
    const valid = encodeReport(createReport(a.opened, a.opened.payload, a.stamp));
    const before = await reportCount();
    const codes = new Set(['REPORT_MALFORMED', 'REPORT_OPENING', 'REPORT_STAMP', 'REPORT_NOT_RECIPIENT']);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 600 }),
          fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
            const y = new Uint8Array(valid);
            y[i]! ^= x;
            return y;
          }),
          fc.nat(valid.length - 1).map((n) => valid.subarray(0, n)),
        ),
        async (bytes) => {
          const r = await bob.request('POST', '/v1/reports', bytes);
          expect(r.status).toBeGreaterThanOrEqual(400);
          expect(r.status).toBeLessThan(500);
          expect(codes.has(r.body.code) || r.body.check === 'RLY-2').toBe(true);
        },
      ),
      { numRuns: 60 },
    );
    expect(await reportCount()).toBe(before);
  });
});

describe('a relay without a franking key (RPT-1)', () => {
  it('serves envelopes without a stamp and refuses reports', async () => {
    const other = await startHarness({ frankingKey: false });
    try {
      const sender = await other.enrol('alice', 'alice-phone');
      const reader = await other.enrol('bob', 'bob-phone');
      await publishEpochKey(other);
      const f = fields({ conversationId: (await createConversation(sender, [reader])).groupId });
      const sealed = await sealEnvelope(f, utf8Encode('unstamped'), epochKey, sender.key);
      const id = toBase64Url(sealed.header.messageId);
      expect((await sender.request('PUT', `/v1/envelopes/${id}`, sealed.envelope)).status).toBe(201);
      const got = await reader.request('GET', `/v1/envelopes/${id}`);
      expect(got.status).toBe(200);
      expect(got.body.stamp).toBeUndefined();
      const foreign = encodeReport(
        createReport(
          await open(sealed, f, sender.key.publicKey),
          utf8Encode('unstamped'),
          new Uint8Array(STAMP_BYTES),
        ),
      );
      const r = await reader.request('POST', '/v1/reports', foreign);
      expect([r.status, r.body.code, r.body.check]).toEqual([404, 'REPORT_DISABLED', 'RPT-1']);
      expect(await reportCount(other)).toBe(0);
    } finally {
      await other.close();
    }
  });
});
