// docs/spec/relay.md §3–4 over real HTTP: enrolment through admin statements appended to a real log sequencer,
// and every authentication failure of a signed request (AUTH-1..AUTH-10).
import { generateSigningKey, toBase64, toBase64Url } from '@overt/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Client,
  type Device,
  type Harness,
  MailboxSocket,
  ORG,
  type Response,
  send,
  startHarness,
} from '../../test/harness.js';
import { deviceEntry, signDeviceStatement } from '../statements.js';

let h: Harness;
let alice: Device;

beforeAll(async () => {
  h = await startHarness();
  alice = await h.enrol('alice', 'alice-phone');
});
afterAll(async () => {
  await h.close();
});

function expectProblem(r: Response, status: number, code: string, check?: string) {
  expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(r.body).toMatchObject({ status, code, title: code });
  if (check !== undefined) expect(r.body.check).toBe(check);
  expect(r.status).toBe(status);
}

describe('enrolment (AUTH-9, AUTH-10)', () => {
  it('appends the admin statement to the log verbatim and activates the device with that index', async () => {
    const key = generateSigningKey();
    await h.admin.request('POST', '/v1/admin/users', { userId: 'bob' });
    const statement = signDeviceStatement(h.adminKey, {
      kind: 'added',
      orgId: ORG,
      userId: 'bob',
      deviceId: 'bob-laptop',
      identityKey: key.publicKey,
      time: Date.now(),
    });
    const r = await h.admin.request('POST', '/v1/admin/devices', { statement: toBase64(statement) });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      deviceId: 'bob-laptop',
      userId: 'bob',
      status: 'active',
      identityKey: toBase64(key.publicKey),
    });
    const [entry] = await h.logStorage.readEntries(r.body.enrolLogIndex, 1);
    expect(entry).toEqual(deviceEntry('added', statement));
    const list = await alice.request('GET', '/v1/users/bob/devices');
    expect(list.status).toBe(200);
    expect(list.body.devices.map((d: { deviceId: string }) => d.deviceId)).toEqual(['bob-laptop']);
  });

  it('serves the log it appends to under /log/ (the log service handler, mounted by createRelay)', async () => {
    const res = await fetch(`${h.url}/log/checkpoint`);
    expect(res.status).toBe(200);
    const lines = (await res.text()).split('\n');
    expect(lines[0]).toBe('relay.test/log');
    expect(Number(lines[1])).toBeGreaterThan(alice.logIndex);
  });

  it('refuses a statement not signed by the admin, for another org, or for a taken id; nothing is stored or logged', async () => {
    const before = (await h.logStorage.readTreeState()).size;
    const key = generateSigningKey();
    const fields = {
      kind: 'added' as const,
      orgId: ORG,
      userId: 'alice',
      deviceId: 'evil',
      identityKey: key.publicKey,
      time: 1,
    };
    const forged = signDeviceStatement(generateSigningKey(), fields);
    expectProblem(
      await h.admin.request('POST', '/v1/admin/devices', { statement: toBase64(forged) }),
      400,
      'DIR_STATEMENT_INVALID',
      'AUTH-9',
    );
    const otherOrg = signDeviceStatement(h.adminKey, { ...fields, orgId: 'other.org' });
    expectProblem(
      await h.admin.request('POST', '/v1/admin/devices', { statement: toBase64(otherOrg) }),
      400,
      'DIR_STATEMENT_INVALID',
    );
    const taken = signDeviceStatement(h.adminKey, { ...fields, deviceId: 'alice-phone' });
    expectProblem(
      await h.admin.request('POST', '/v1/admin/devices', { statement: toBase64(taken) }),
      409,
      'DIR_DEVICE_EXISTS',
    );
    const noUser = signDeviceStatement(h.adminKey, { ...fields, userId: 'nobody' });
    expectProblem(
      await h.admin.request('POST', '/v1/admin/devices', { statement: toBase64(noUser) }),
      404,
      'DIR_USER_UNKNOWN',
    );
    expect(await h.relay.storage.getDevice('evil')).toBeUndefined();
    expect((await h.logStorage.readTreeState()).size).toBe(before);
  });

  it('AUTH-8: a device cannot use admin endpoints, the admin cannot use device endpoints', async () => {
    expectProblem(
      await alice.request('POST', '/v1/admin/users', { userId: 'mallory' }),
      403,
      'AUTH_FORBIDDEN',
      'AUTH-8',
    );
    expect(await h.relay.storage.getUser('mallory')).toBeUndefined();
    expectProblem(await h.admin.request('GET', '/v1/devices/self'), 403, 'AUTH_FORBIDDEN', 'AUTH-8');
  });
});

describe('signed requests (AUTH-1..AUTH-7)', () => {
  it('accepts a correctly signed request', async () => {
    const r = await alice.request('GET', '/v1/devices/self');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ deviceId: 'alice-phone', userId: 'alice', status: 'active' });
  });

  it('AUTH-1: refuses an unsigned request', async () => {
    expectProblem(
      await send(h.url, 'GET', '/v1/devices/self', new Uint8Array(0), {}),
      401,
      'AUTH_MISSING',
      'AUTH-1',
    );
  });

  it('AUTH-2: refuses malformed authentication headers', async () => {
    for (const headers of [
      { 'overt-signer': 'device:' },
      { 'overt-timestamp': '01' },
      { 'overt-nonce': 'short' },
      { 'overt-signature': toBase64Url(new Uint8Array(63)) },
      { 'overt-signer': 'device:bad id' },
      { 'overt-signer': 'root' },
    ])
      expectProblem(
        await alice.request('GET', '/v1/devices/self', undefined, { headers }),
        401,
        'AUTH_MALFORMED',
        'AUTH-2',
      );
  });

  it('AUTH-3: refuses an unknown device', async () => {
    const stranger = new Client(h.url, generateSigningKey(), { kind: 'device', deviceId: 'ghost' });
    expectProblem(await stranger.request('GET', '/v1/devices/self'), 401, 'AUTH_UNKNOWN_DEVICE', 'AUTH-3');
  });

  it('AUTH-7: refuses a bad signature: another key, another path, another body', async () => {
    const impostor = new Client(h.url, generateSigningKey(), alice.signer);
    expectProblem(await impostor.request('GET', '/v1/devices/self'), 401, 'AUTH_BAD_SIGNATURE', 'AUTH-7');
    // A signature over one target presented for another.
    const { signRequest } = await import('../auth.js');
    const headers = signRequest(alice.key, alice.signer, 'GET', '/v1/users/alice/devices', new Uint8Array(0));
    expectProblem(
      await send(h.url, 'GET', '/v1/devices/self', new Uint8Array(0), { ...headers }),
      401,
      'AUTH_BAD_SIGNATURE',
    );
    // A signature over one body presented with another.
    const body = new TextEncoder().encode(
      JSON.stringify({ groupId: toBase64Url(new Uint8Array(8).fill(1)) }),
    );
    const other = new TextEncoder().encode(
      JSON.stringify({ groupId: toBase64Url(new Uint8Array(8).fill(2)) }),
    );
    const signed = signRequest(alice.key, alice.signer, 'POST', '/v1/groups', body);
    expectProblem(
      await send(h.url, 'POST', '/v1/groups', other, { ...signed, 'content-type': 'application/json' }),
      401,
      'AUTH_BAD_SIGNATURE',
    );
    expect(await h.relay.storage.getGroup(new Uint8Array(8).fill(2))).toBeUndefined();
  });

  it('AUTH-5: refuses a timestamp outside the freshness window, either side', async () => {
    expectProblem(
      await alice.request('GET', '/v1/devices/self', undefined, { timestamp: Date.now() - 60_000 }),
      401,
      'AUTH_STALE',
      'AUTH-5',
    );
    expectProblem(
      await alice.request('GET', '/v1/devices/self', undefined, { timestamp: Date.now() + 60_000 }),
      401,
      'AUTH_STALE',
    );
  });

  it('AUTH-6: refuses a replayed request (same nonce), even with a new timestamp', async () => {
    const nonce = globalThis.crypto.getRandomValues(new Uint8Array(16));
    expect((await alice.request('GET', '/v1/devices/self', undefined, { nonce })).status).toBe(200);
    expectProblem(
      await alice.request('GET', '/v1/devices/self', undefined, { nonce }),
      401,
      'AUTH_REPLAY',
      'AUTH-6',
    );
    // The very same bytes on the wire, replayed.
    const { signRequest } = await import('../auth.js');
    const headers = signRequest(
      alice.key,
      alice.signer,
      'POST',
      '/v1/groups',
      new TextEncoder().encode('{"groupId":"AQID"}'),
    );
    const first = await send(h.url, 'POST', '/v1/groups', new TextEncoder().encode('{"groupId":"AQID"}'), {
      ...headers,
      'content-type': 'application/json',
    });
    expect(first.status).toBe(201);
    expectProblem(
      await send(h.url, 'POST', '/v1/groups', new TextEncoder().encode('{"groupId":"AQID"}'), {
        ...headers,
        'content-type': 'application/json',
      }),
      401,
      'AUTH_REPLAY',
    );
  });

  it('AUTH-4: a removed device is refused on HTTP and its socket is closed; removal is logged', async () => {
    const carol = await h.enrol('carol', 'carol-phone');
    const socket = await MailboxSocket.open(h.url, carol);
    await socket.waitFor((f) => f.some((x) => x.type === 'ready'));
    const device = (await h.relay.storage.getDevice('carol-phone'))!;
    const statement = signDeviceStatement(h.adminKey, {
      kind: 'removed',
      orgId: ORG,
      userId: 'carol',
      deviceId: 'carol-phone',
      identityKey: device.identityKey,
      time: Date.now(),
    });
    // A removal statement must name this very device.
    expectProblem(
      await h.admin.request('POST', '/v1/admin/devices/alice-phone/removal', {
        statement: toBase64(statement),
      }),
      400,
      'DIR_STATEMENT_INVALID',
    );
    const r = await h.admin.request('POST', '/v1/admin/devices/carol-phone/removal', {
      statement: toBase64(statement),
    });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('removed');
    const [entry] = await h.logStorage.readEntries(r.body.removalLogIndex, 1);
    expect(entry).toEqual(deviceEntry('removed', statement));
    expect((await socket.closed).code).toBe(4403);
    expectProblem(await carol.request('GET', '/v1/devices/self'), 401, 'AUTH_DEVICE_REMOVED', 'AUTH-4');
    // A removed device that signs with a wrong key learns nothing about its removal.
    const impostor = new Client(h.url, generateSigningKey(), carol.signer);
    expectProblem(await impostor.request('GET', '/v1/devices/self'), 401, 'AUTH_BAD_SIGNATURE');
    expectProblem(
      await h.admin.request('POST', '/v1/admin/devices/carol-phone/removal', {
        statement: toBase64(statement),
      }),
      409,
      'DIR_DEVICE_REMOVED',
    );
  });

  it('AUTH-1/AUTH-7: a WebSocket must authenticate with its first frame', async () => {
    const s1 = await MailboxSocket.open(h.url, alice, { type: 'ack', upTo: 1 });
    expect((await s1.closed).code).toBe(4401);
    const impostor = new Client(h.url, generateSigningKey(), alice.signer);
    const s2 = await MailboxSocket.open(h.url, impostor);
    expect((await s2.closed).code).toBe(4401);
    expect(s2.frames[0]).toMatchObject({ type: 'error', code: 'AUTH_BAD_SIGNATURE' });
  });
});

describe('log unavailable (AUTH-10)', () => {
  it('refuses enrolment with 503 and Retry-After and stores nothing; a removal still cuts the device off', async () => {
    const h2 = await startHarness();
    try {
      const dave = await h2.enrol('dave', 'dave-phone');
      await h2.sequencer.close();
      const key = generateSigningKey();
      const statement = signDeviceStatement(h2.adminKey, {
        kind: 'added',
        orgId: ORG,
        userId: 'dave',
        deviceId: 'dave-laptop',
        identityKey: key.publicKey,
        time: Date.now(),
      });
      const r = await h2.admin.request('POST', '/v1/admin/devices', { statement: toBase64(statement) });
      expectProblem(r, 503, 'RELAY_LOG_UNAVAILABLE', 'AUTH-10');
      expect(r.headers.get('retry-after')).toBe('1');
      expect(await h2.relay.storage.getDevice('dave-laptop')).toBeUndefined();

      const device = (await h2.relay.storage.getDevice('dave-phone'))!;
      const removal = signDeviceStatement(h2.adminKey, {
        kind: 'removed',
        orgId: ORG,
        userId: 'dave',
        deviceId: 'dave-phone',
        identityKey: device.identityKey,
        time: Date.now(),
      });
      const rr = await h2.admin.request('POST', '/v1/admin/devices/dave-phone/removal', {
        statement: toBase64(removal),
      });
      expectProblem(rr, 503, 'RELAY_LOG_UNAVAILABLE');
      expect(await h2.relay.storage.getDevice('dave-phone')).toMatchObject({
        status: 'removed',
        removalLogIndex: null,
      });
      expectProblem(await dave.request('GET', '/v1/devices/self'), 401, 'AUTH_DEVICE_REMOVED');
    } finally {
      await h2.close();
    }
  });
});
