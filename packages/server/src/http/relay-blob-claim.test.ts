// docs/spec/relay.md §6.7 (blobs, the streaming form: the digest declared at completion) and DS-6 (a claim of
// one named device's key package) over real HTTP, raw and through the client SDK's transport; bad input is
// refused with typed errors and changes nothing stored.
import {
  createMlsIdentity,
  generateKeyPackage,
  isClientError,
  RelayTransport,
  sealAndPut,
} from '@overt/client';
import { type Element, randomBytes, sha256, toBase64, toBase64Url, utf8Encode } from '@overt/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createConversation,
  type Device,
  type Harness,
  ORG,
  publishEpochKey,
  send,
  startHarness,
  textFields,
} from '../../test/harness.js';
import { calendarMonthEpoch } from '../epochs.js';
import { signDeviceStatement } from '../statements.js';

let h: Harness;
let alice: Device;
let bobPhone: Device;
let bobTablet: Device;
let bobOld: Device;
let carol: Device;
let epochKey: Element;
const EPOCH = calendarMonthEpoch(Date.now());

function transport(d: Device, fetch?: typeof globalThis.fetch): RelayTransport {
  return new RelayTransport({
    url: h.url,
    key: d.key,
    signer: { kind: 'device', deviceId: d.deviceId },
    ...(fetch !== undefined ? { fetch } : {}),
  });
}

async function publish(d: Device, n: number): Promise<string[]> {
  const id = createMlsIdentity(d.userId, utf8Encode(d.deviceId), d.key);
  const kps = await Promise.all(Array.from({ length: n }, () => generateKeyPackage(id)));
  const encoded = kps.map((k) => toBase64(k.keyPackage));
  expect((await d.request('POST', '/v1/key-packages', { keyPackages: encoded })).status).toBe(201);
  return encoded;
}

beforeAll(async () => {
  // One claimer claims many times here to exercise DS-6; the per-claimer limit (DS-11) has its own tests.
  h = await startHarness({ claimLimit: { capacity: 1000, refillPerSecond: 1000 } });
  alice = await h.enrol('alice', 'alice-phone');
  bobPhone = await h.enrol('bob', 'bob-phone');
  bobTablet = await h.enrol('bob', 'bob-tablet');
  bobOld = await h.enrol('bob', 'bob-old');
  carol = await h.enrol('carol', 'carol-phone');
  const published = await publishEpochKey(h.admin, h.adminKey, EPOCH);
  expect(published.response.status).toBe(201);
  epochKey = published.epochKey;
});
afterAll(async () => {
  await h.close();
});

describe('claiming one named device’s key package (DS-6)', () => {
  it('hands out one package of that device only, each once, and then DS_KEY_PACKAGE_EXHAUSTED', async () => {
    const tablet = await publish(bobTablet, 2);
    await publish(bobPhone, 1);
    const claims = await Promise.all(
      Array.from({ length: 5 }, () =>
        alice.request('POST', '/v1/users/bob/devices/bob-tablet/key-packages/claim'),
      ),
    );
    const ok = claims.filter((c) => c.status === 200);
    expect(ok).toHaveLength(2);
    for (const c of ok) expect(c.body.deviceId).toBe('bob-tablet');
    expect(new Set(ok.map((c) => c.body.keyPackage))).toEqual(new Set(tablet));
    for (const c of claims.filter((x) => x.status !== 200)) {
      expect(c.status).toBe(409);
      expect(c.body).toMatchObject({ code: 'DS_KEY_PACKAGE_EXHAUSTED', check: 'DS-6' });
    }
    // The user's other device kept its package.
    expect(await h.relay.storage.countKeyPackages('bob-phone')).toBe(1);
    expect(await h.relay.storage.countKeyPackages('bob-tablet')).toBe(0);
  });

  it('refuses an unknown user or device, another user’s device, a removed device, or the caller itself', async () => {
    await publish(bobOld, 1);
    await publish(alice, 1);
    const removal = signDeviceStatement(h.adminKey, {
      kind: 'removed',
      orgId: ORG,
      userId: 'bob',
      deviceId: 'bob-old',
      identityKey: bobOld.key.publicKey,
      time: Date.now(),
    });
    expect(
      (await h.admin.request('POST', '/v1/admin/devices/bob-old/removal', { statement: toBase64(removal) }))
        .status,
    ).toBe(200);
    await publish(carol, 1);
    const cases: [string, number, string][] = [
      ['/v1/users/nobody/devices/bob-phone/key-packages/claim', 404, 'DIR_USER_UNKNOWN'],
      ['/v1/users/bob/devices/nothing/key-packages/claim', 404, 'DIR_DEVICE_UNKNOWN'],
      ['/v1/users/bob/devices/carol-phone/key-packages/claim', 404, 'DIR_DEVICE_UNKNOWN'],
      ['/v1/users/bob/devices/bob-old/key-packages/claim', 409, 'DIR_DEVICE_REMOVED'],
      ['/v1/users/alice/devices/alice-phone/key-packages/claim', 400, 'DS_KEY_PACKAGE_OWNER'],
      ['/v1/users/bob/devices/bad%20id/key-packages/claim', 400, 'RELAY_INVALID_PARAMS'],
      [`/v1/users/bob/devices/${'x'.repeat(65)}/key-packages/claim`, 400, 'RELAY_INVALID_PARAMS'],
      ['/v1/users/bob/devices/bob-phone/key-packages/claim?all=1', 400, 'RELAY_INVALID_PARAMS'],
    ];
    for (const [target, status, code] of cases) {
      const r = await alice.request('POST', target);
      expect([target, r.status, r.body.code]).toEqual([target, status, code]);
    }
    const withBody = await alice.request('POST', '/v1/users/bob/devices/bob-phone/key-packages/claim', {});
    expect(withBody.body).toMatchObject({ code: 'RELAY_INVALID_BODY', check: 'RLY-2' });
    const unsigned = await send(
      h.url,
      'POST',
      '/v1/users/bob/devices/bob-phone/key-packages/claim',
      new Uint8Array(0),
      {},
    );
    expect(unsigned.body).toMatchObject({ code: 'AUTH_MISSING', check: 'AUTH-1' });
    const admin = await h.admin.request('POST', '/v1/users/bob/devices/bob-phone/key-packages/claim');
    expect(admin.body).toMatchObject({ code: 'AUTH_FORBIDDEN', check: 'AUTH-8' });
    // Nothing was claimed by any refusal (a removed device's packages are deleted with it).
    expect(await h.relay.storage.countKeyPackages('bob-phone')).toBe(1);
    expect(await h.relay.storage.countKeyPackages('alice-phone')).toBe(1);
    expect(await h.relay.storage.countKeyPackages('carol-phone')).toBe(1);
    expect(await h.relay.storage.countKeyPackages('bob-old')).toBe(0);
  });

  it('the client transport claims by device and types the refusal', async () => {
    const [published] = await publish(bobPhone, 1);
    const t = transport(alice);
    const got = new Set([toBase64(await t.claimDeviceKeyPackage('bob', 'bob-phone'))]);
    got.add(toBase64(await t.claimDeviceKeyPackage('bob', 'bob-phone')));
    expect(got.has(published!)).toBe(true);
    const e = await t.claimDeviceKeyPackage('bob', 'bob-phone').catch((x: unknown) => x);
    expect(isClientError(e)).toBe(true);
    expect(e).toMatchObject({ code: 'RELAY_REFUSED', relayCode: 'DS_KEY_PACKAGE_EXHAUSTED', check: 'DS-6' });
  });
});

describe('blobs declared at completion (the streaming form, §6.7)', () => {
  const chunkSize = 65536;

  async function streamingBlob(d: Device, data: Uint8Array): Promise<string> {
    const created = await d.request('POST', '/v1/blobs', { size: data.length, chunkSize });
    expect(created.status).toBe(201);
    const { blobId, chunks } = created.body;
    for (let i = 0; i < chunks; i++)
      expect(
        (
          await d.request(
            'PUT',
            `/v1/blobs/${blobId}/chunks/${i}`,
            data.subarray(i * chunkSize, (i + 1) * chunkSize),
          )
        ).status,
      ).toBe(204);
    return blobId;
  }

  it('completes with the digest given at completion, and records it', async () => {
    const data = randomBytes(150_000);
    const blobId = await streamingBlob(alice, data);
    const r = await alice.request('POST', `/v1/blobs/${blobId}/complete`, { sha256: toBase64(sha256(data)) });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ blobId, complete: true });
    const stored = await h.relay.storage.getBlob(blobId);
    expect(stored?.complete).toBe(true);
    expect(stored?.sha256).toEqual(sha256(data));
  });

  it('refuses a missing, wrong, malformed or unauthenticated digest and leaves the blob incomplete', async () => {
    const data = randomBytes(70_000);
    const blobId = await streamingBlob(alice, data);
    const target = `/v1/blobs/${blobId}/complete`;
    const refusals: [unknown, number, string, string | undefined][] = [
      [undefined, 400, 'BLOB_DIGEST', 'STORE-R-6'],
      [{ sha256: toBase64(sha256(randomBytes(8))) }, 400, 'BLOB_DIGEST', 'STORE-R-6'],
      [{ sha256: toBase64(randomBytes(31)) }, 400, 'RELAY_INVALID_BODY', 'RLY-2'],
      [{ sha256: 'not base64!' }, 400, 'RELAY_INVALID_BODY', 'RLY-2'],
      [{ sha256: toBase64(sha256(data)), extra: 1 }, 400, 'RELAY_INVALID_BODY', 'RLY-2'],
      [{}, 400, 'RELAY_INVALID_BODY', 'RLY-2'],
      ['{"sha256":', 400, 'RELAY_MALFORMED_JSON', 'RLY-1'],
      [sha256(data), 415, 'RELAY_UNSUPPORTED_MEDIA_TYPE', 'RLY-4'],
    ];
    for (const [body, status, code, check] of refusals) {
      const r = await alice.request('POST', target, body);
      expect([r.status, r.body.code, r.body.check]).toEqual([status, code, check]);
    }
    const good = utf8Encode(JSON.stringify({ sha256: toBase64(sha256(data)) }));
    const unsigned = await send(h.url, 'POST', target, good, { 'content-type': 'application/json' });
    expect(unsigned.body).toMatchObject({ code: 'AUTH_MISSING' });
    const other = await bobPhone.request('POST', target, { sha256: toBase64(sha256(data)) });
    expect(other.body.code).toBe('BLOB_UNKNOWN');
    const stored = await h.relay.storage.getBlob(blobId);
    expect(stored?.complete).toBe(false);
    expect(stored?.sha256).toBeNull();
    // An envelope cannot reference it yet; the right digest then completes it.
    expect((await alice.request('POST', target, { sha256: toBase64(sha256(data)) })).status).toBe(200);
  });

  it('keeps the up-front form; a digest given at both ends must agree', async () => {
    const data = randomBytes(70_000);
    const created = await alice.request('POST', '/v1/blobs', {
      size: data.length,
      chunkSize,
      sha256: toBase64(sha256(data)),
    });
    const { blobId } = created.body;
    await alice.request('PUT', `/v1/blobs/${blobId}/chunks/0`, data.subarray(0, chunkSize));
    await alice.request('PUT', `/v1/blobs/${blobId}/chunks/1`, data.subarray(chunkSize));
    const differs = await alice.request('POST', `/v1/blobs/${blobId}/complete`, {
      sha256: toBase64(sha256(randomBytes(8))),
    });
    expect(differs.body).toMatchObject({ code: 'BLOB_DIGEST', check: 'STORE-R-6' });
    expect((await h.relay.storage.getBlob(blobId))?.complete).toBe(false);
    expect(
      (await alice.request('POST', `/v1/blobs/${blobId}/complete`, { sha256: toBase64(sha256(data)) }))
        .status,
    ).toBe(200);
    const again = randomBytes(70_000);
    const c2 = await alice.request('POST', '/v1/blobs', {
      size: again.length,
      chunkSize,
      sha256: toBase64(sha256(again)),
    });
    await alice.request('PUT', `/v1/blobs/${c2.body.blobId}/chunks/0`, again.subarray(0, chunkSize));
    await alice.request('PUT', `/v1/blobs/${c2.body.blobId}/chunks/1`, again.subarray(chunkSize));
    expect((await alice.request('POST', `/v1/blobs/${c2.body.blobId}/complete`)).status).toBe(200);
  });

  it('the client seals and uploads a large envelope chunk by chunk, declaring the digest last', async () => {
    const requests: { method: string; path: string; bytes: number; body: string }[] = [];
    const recording: typeof globalThis.fetch = async (input, init) => {
      const u = new URL(String(input));
      const body = init?.body as Uint8Array | undefined;
      requests.push({
        method: init?.method ?? 'GET',
        path: u.pathname,
        bytes: body?.length ?? 0,
        body: body !== undefined && body.length < 200 ? new TextDecoder().decode(body) : '',
      });
      return fetch(input, init);
    };
    // The relay accepts envelopes only in a conversation of the sender (RLY-19, DS-5) addressed to its members.
    const { groupId } = await createConversation(alice, [bobPhone]);
    const fields = textFields(EPOCH, { conversationId: groupId, contentType: 'application/octet-stream' });
    const payload = randomBytes(3 * 1024 * 1024 + 12_345);
    const blobChunkSize = 1 << 20;
    const sealed = await sealAndPut(transport(alice, recording), fields, payload, epochKey, alice.key, {
      inlineMax: 1 << 20,
      blobChunkSize,
    });
    const kinds = requests.map((r) => `${r.method} ${r.path.replace(/[A-Za-z0-9_-]{22}/g, ':id')}`);
    expect(kinds[0]).toBe('POST /v1/blobs');
    expect(JSON.parse(requests[0]!.body)).not.toHaveProperty('sha256');
    expect(kinds.at(-2)).toBe('POST /v1/blobs/:id/complete');
    expect(JSON.parse(requests.at(-2)!.body)).toHaveProperty('sha256');
    expect(kinds.at(-1)).toBe('PUT /v1/envelopes/:id');
    const chunkPuts = requests.filter((r) => r.path.includes('/chunks/'));
    expect(chunkPuts.length).toBe(4);
    for (const r of chunkPuts) expect(r.bytes).toBeLessThanOrEqual(blobChunkSize);
    // The relay ran core's ingest check over the streamed ciphertext (digest and framing) and stored it.
    const got = await bobPhone.request('GET', `/v1/envelopes/${toBase64Url(sealed.header.messageId)}`);
    expect(got.status).toBe(200);
    expect(got.body.blob.chunks).toBe(4);
  });
});

describe('abandoned blobs expire (STORE-R-7)', () => {
  it('an upload left incomplete is swept; its id is then unknown', async () => {
    const swept = await startHarness({ blobExpiryMs: 0, blobSweepMs: 20 });
    try {
      const carol = await swept.enrol('carol', 'carol-phone');
      const created = await carol.request('POST', '/v1/blobs', { size: 1000, chunkSize: 65536 });
      expect(created.status).toBe(201);
      const { blobId } = created.body;
      while ((await swept.relay.storage.getBlob(blobId)) !== undefined)
        await new Promise((r) => setTimeout(r, 20));
      const late = await carol.request('PUT', `/v1/blobs/${blobId}/chunks/0`, randomBytes(1000));
      expect(late.status).toBe(404);
      expect(late.body.code).toBe('BLOB_UNKNOWN');
    } finally {
      await swept.close();
    }
  });
});
