// docs/spec/relay.md §6.7 over real HTTP: epoch keys published from admin statements onto the log, envelopes
// sealed by core and ingested with core's checks (RLY-9..RLY-16), a 10 MB ciphertext through a chunked blob,
// and retention of a shredded epoch.
import {
  type Element,
  fromBase64,
  fromBase64Url,
  group,
  type HeaderFields,
  randomBytes,
  randomNonZeroScalar,
  sealEnvelope,
  sha256,
  toBase64,
  toBase64Url,
  utf8Encode,
} from '@overt/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Device,
  type Harness,
  ORG,
  publishEpochKey,
  startHarness,
  textFields,
} from '../../test/harness.js';
import { calendarMonthEpoch } from '../epochs.js';
import { epochKeyEntry } from '../statements.js';

let h: Harness;
let alice: Device;
let bob: Device;
let carol: Device;
let epochKey: Element;
// The relay's current epoch follows its clock (RLY-11, RLY-17): publish the calendar month of the test's clock.
const EPOCH = calendarMonthEpoch(Date.now());

const fields = (extra: Partial<HeaderFields> = {}) => textFields(EPOCH, extra);

beforeAll(async () => {
  h = await startHarness();
  alice = await h.enrol('alice', 'alice-phone');
  bob = await h.enrol('bob', 'bob-phone');
  carol = await h.enrol('carol', 'carol-phone');
  const published = await publishEpochKey(h.admin, h.adminKey, EPOCH);
  expect(published.response.status).toBe(201);
  epochKey = published.epochKey;
  const { statement, response: r } = published;
  const [entry] = await h.logStorage.readEntries(r.body.logIndex, 1);
  expect(entry).toEqual(epochKeyEntry(statement));
});
afterAll(async () => {
  await h.close();
});

describe('epoch keys (STORE-R-2, AUTH-9)', () => {
  it('serves the current key and refuses a republished or forged one', async () => {
    const current = await alice.request('GET', '/v1/epoch-keys/current');
    expect(current.body).toMatchObject({ epoch: EPOCH, threshold: 2, groupKey: toBase64(epochKey) });
    expect(current.body.verificationKeys).toHaveLength(3);
    const again = await publishEpochKey(h.admin, h.adminKey, EPOCH, { epochKey, time: 1 });
    expect(again.response.body).toMatchObject({ code: 'EPOCH_KEY_EXISTS' });
    // A trustee signature that does not verify (its last byte flipped): refused under the policy (AUTH-11).
    const forged = new Uint8Array(again.statement);
    forged[forged.length - 1]! ^= 1;
    const f = await h.admin.request('POST', '/v1/admin/epoch-keys', { statement: toBase64(forged) });
    expect(f.body).toMatchObject({ code: 'EPOCH_KEY_INVALID', check: 'AUTH-11' });
    // Truncated: it does not decode (AUTH-9).
    const cut = again.statement.subarray(0, 40);
    const c = await h.admin.request('POST', '/v1/admin/epoch-keys', { statement: toBase64(cut) });
    expect(c.body).toMatchObject({ code: 'EPOCH_KEY_INVALID', check: 'AUTH-9' });
    expect((await alice.request('GET', '/v1/epoch-keys/8')).status).toBe(404);
  });
});

describe('envelope ingest (RLY-9..RLY-16)', () => {
  it('stores a valid envelope once, serves it to recipients only', async () => {
    const payload = utf8Encode('hello, overtly');
    const sealed = await sealEnvelope(fields(), payload, epochKey);
    const id = toBase64Url(sealed.header.messageId);
    const put = await alice.request('PUT', `/v1/envelopes/${id}`, sealed.envelope);
    expect(put.status).toBe(201);
    expect(put.body).toEqual({ messageId: id, result: 'stored' });
    expect((await alice.request('PUT', `/v1/envelopes/${id}`, sealed.envelope)).body.result).toBe(
      'duplicate',
    );
    const got = await bob.request('GET', `/v1/envelopes/${id}`);
    expect(got.status).toBe(200);
    expect(fromBase64(got.body.head)).toEqual(sealed.head);
    expect(fromBase64(got.body.ciphertext)).toEqual(sealed.envelope.subarray(sealed.head.length));
    expect(got.body).toMatchObject({
      senderUserId: 'alice',
      senderDeviceId: 'alice-phone',
      epoch: EPOCH,
      orgId: ORG,
    });
    const denied = await carol.request('GET', `/v1/envelopes/${id}`);
    expect(denied.status).toBe(403);
    expect(denied.body).toMatchObject({ code: 'ENV_FORBIDDEN', check: 'RLY-9' });
    // Another envelope under the same id is refused.
    const other = await sealEnvelope(fields({ messageId: sealed.header.messageId }), payload, epochKey);
    expect((await alice.request('PUT', `/v1/envelopes/${id}`, other.envelope)).body.code).toBe('ENV_EXISTS');
  });

  it('refuses each ingest violation with its check ID and stores nothing', async () => {
    const payload = utf8Encode('x');
    const cases: [string, Uint8Array, Device, string, string, number][] = [];
    const valid = await sealEnvelope(fields(), payload, epochKey);
    cases.push(['sender', valid.envelope, bob, 'ENV_SENDER', 'RLY-10', 403]);
    const wrongEpoch = await sealEnvelope(fields({ epoch: EPOCH + 1 }), payload, epochKey);
    cases.push(['epoch', wrongEpoch.envelope, alice, 'ENV_EPOCH', 'RLY-11', 409]);
    const stale = await sealEnvelope(fields({ sendTime: Date.now() - 3_600_000 }), payload, epochKey);
    cases.push(['time', stale.envelope, alice, 'ENV_TIME', 'RLY-12', 400]);
    const otherKey = await sealEnvelope(fields(), payload, group.baseMul(randomNonZeroScalar()));
    cases.push(['capsule', otherKey.envelope, alice, 'ENV_CAPSULE', 'RLY-13', 400]);
    const tampered = new Uint8Array(valid.envelope);
    tampered[tampered.length - 1]! ^= 1;
    cases.push(['digest', tampered, alice, 'ENV_MALFORMED', 'RLY-14', 400]);
    cases.push(['truncated', valid.envelope.subarray(0, 10), alice, 'ENV_MALFORMED', 'RLY-14', 400]);
    const otherOrg = await sealEnvelope(fields({ orgId: 'other.org' }), payload, epochKey);
    cases.push(['org', otherOrg.envelope, alice, 'ENV_CONTEXT', 'RLY-15', 400]);
    for (const [what, bytes, device, code, check, status] of cases) {
      const id = toBase64Url(what === 'truncated' ? randomBytes(16) : idOf(bytes));
      const r = await device.request('PUT', `/v1/envelopes/${id}`, bytes);
      expect({ what, status: r.status, code: r.body.code, check: r.body.check }).toEqual({
        what,
        status,
        code,
        check,
      });
      expect(await h.relay.storage.getEnvelope(fromBase64Url(id))).toBeUndefined();
    }
    // RLY-16: the path names another message id than the header.
    const r = await alice.request('PUT', `/v1/envelopes/${toBase64Url(randomBytes(16))}`, valid.envelope);
    expect(r.body).toMatchObject({ code: 'ENV_ID_MISMATCH', check: 'RLY-16' });
  });

  it('RLY-15: checks the recipients against the conversation the delivery service knows', async () => {
    const conv = randomBytes(16);
    await alice.request('POST', '/v1/groups', { groupId: toBase64Url(conv) });
    const wrong = await sealEnvelope(fields({ conversationId: conv }), utf8Encode('x'), epochKey);
    const r = await alice.request(
      'PUT',
      `/v1/envelopes/${toBase64Url(wrong.header.messageId)}`,
      wrong.envelope,
    );
    expect(r.body).toMatchObject({ code: 'ENV_CONTEXT', check: 'RLY-15' });
    const right = await sealEnvelope(
      fields({ conversationId: conv, recipients: ['alice'] }),
      utf8Encode('x'),
      epochKey,
    );
    expect(
      (await alice.request('PUT', `/v1/envelopes/${toBase64Url(right.header.messageId)}`, right.envelope))
        .status,
    ).toBe(201);
  });

  it('carries a 10 MB ciphertext through a chunked blob, ingested chunk by chunk', async () => {
    const payload = randomBytes(10 * 1024 * 1024 + 777);
    const sealed = await sealEnvelope(fields(), payload, epochKey);
    const ciphertext = sealed.envelope.subarray(sealed.head.length);
    const chunkSize = 1024 * 1024;
    const created = await alice.request('POST', '/v1/blobs', {
      size: ciphertext.length,
      chunkSize,
      sha256: toBase64(sha256(ciphertext)),
    });
    expect(created.status).toBe(201);
    const { blobId, chunks } = created.body;
    expect(chunks).toBe(Math.ceil(ciphertext.length / chunkSize));
    const id = toBase64Url(sealed.header.messageId);
    const early = await alice.request('PUT', `/v1/envelopes/${id}?blob=${blobId}`, sealed.head);
    expect(early.body.code).toBe('BLOB_STATE');
    for (let i = 0; i < chunks; i++) {
      const r = await alice.request(
        'PUT',
        `/v1/blobs/${blobId}/chunks/${i}`,
        ciphertext.subarray(i * chunkSize, (i + 1) * chunkSize),
      );
      expect(r.status).toBe(204);
    }
    expect((await bob.request('POST', `/v1/blobs/${blobId}/complete`)).body.code).toBe('BLOB_UNKNOWN');
    expect((await alice.request('POST', `/v1/blobs/${blobId}/complete`)).status).toBe(200);
    const put = await alice.request('PUT', `/v1/envelopes/${id}?blob=${blobId}`, sealed.head);
    expect(put.status).toBe(201);
    const got = await bob.request('GET', `/v1/envelopes/${id}`);
    expect(got.body.blob).toEqual({ size: ciphertext.length, chunkSize, chunks });
    expect(got.body.ciphertext).toBeUndefined();
    const parts: Buffer[] = [];
    for (let i = 0; i < chunks; i++) {
      const r = await fetchChunk(bob, id, i);
      parts.push(r);
    }
    expect(Buffer.concat(parts).equals(Buffer.from(ciphertext))).toBe(true);
  });

  it('a blob whose bytes do not match the declared SHA-256 is never completed (STORE-R-6)', async () => {
    const data = randomBytes(70_000);
    const created = await alice.request('POST', '/v1/blobs', {
      size: data.length,
      chunkSize: 65536,
      sha256: toBase64(sha256(randomBytes(8))),
    });
    const { blobId } = created.body;
    await alice.request('PUT', `/v1/blobs/${blobId}/chunks/0`, data.subarray(0, 65536));
    expect((await alice.request('POST', `/v1/blobs/${blobId}/complete`)).body.code).toBe('BLOB_STATE');
    await alice.request('PUT', `/v1/blobs/${blobId}/chunks/1`, data.subarray(65536));
    const r = await alice.request('POST', `/v1/blobs/${blobId}/complete`);
    expect(r.body).toMatchObject({ code: 'BLOB_DIGEST', check: 'STORE-R-6' });
    expect((await h.relay.storage.getBlob(blobId))?.complete).toBe(false);
  });

  it('retention deletes every envelope of a shredded epoch', async () => {
    const sealed = await sealEnvelope(fields(), utf8Encode('to be shredded'), epochKey);
    const id = toBase64Url(sealed.header.messageId);
    await alice.request('PUT', `/v1/envelopes/${id}`, sealed.envelope);
    const r = await h.admin.request('POST', '/v1/admin/retention', { epoch: EPOCH });
    expect(r.status).toBe(200);
    expect(r.body.deleted).toBeGreaterThanOrEqual(3);
    expect((await bob.request('GET', `/v1/envelopes/${id}`)).body.code).toBe('ENV_NOT_FOUND');
  });
});

/** The message id inside an envelope's header (header starts after the u32 length: version, org, epoch, …). */
function idOf(envelope: Uint8Array): Uint8Array {
  // Walk the header prefix of docs/spec/envelope.md §2 up to the message id.
  let o = 4 + 1;
  o += 1 + envelope[o]!; // org
  o += 4; // epoch
  o += 1 + envelope[o]!; // conversation
  o += 1 + envelope[o]!; // sender user
  o += 1 + envelope[o]!; // sender device
  const n = (envelope[o]! << 8) | envelope[o + 1]!;
  o += 2;
  for (let i = 0; i < n; i++) o += 1 + envelope[o]!;
  return envelope.slice(o, o + 16);
}

async function fetchChunk(d: Device, id: string, i: number): Promise<Buffer> {
  const { signRequest } = await import('../auth.js');
  const target = `/v1/envelopes/${id}/chunks/${i}`;
  const headers = signRequest(d.key, d.signer, 'GET', target, new Uint8Array(0));
  const res = await fetch(`${h.url}${target}`, { headers: { ...headers } });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}
