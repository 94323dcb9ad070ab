// docs/spec/relay.md §2: every bad input gets a typed application/problem+json error and changes nothing
// (RLY-1..RLY-6), and per-principal and per-address token buckets answer 429 with Retry-After (RLY-5).
import { toBase64, toBase64Url } from '@overt/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Device, type Harness, type Response, send, startHarness } from '../../test/harness.js';
import { signRequest } from '../auth.js';

function expectProblem(r: Response, status: number, code: string, check?: string) {
  expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(r.body).toMatchObject({ type: 'about:blank', status, code, title: code });
  if (check !== undefined) expect(r.body.check).toBe(check);
  expect(r.status).toBe(status);
}

describe('bad input (RLY-1..RLY-4, RLY-6)', () => {
  let h: Harness;
  let alice: Device;
  beforeAll(async () => {
    h = await startHarness();
    alice = await h.enrol('alice', 'alice-phone');
  });
  afterAll(async () => {
    await h.close();
  });

  it('RLY-1: malformed JSON and invalid UTF-8 are refused; nothing is created', async () => {
    expectProblem(
      await h.admin.request('POST', '/v1/admin/users', '{"userId":'),
      400,
      'RELAY_MALFORMED_JSON',
      'RLY-1',
    );
    const badUtf8 = new Uint8Array([
      0x7b, 0x22, 0x75, 0x73, 0x65, 0x72, 0x49, 0x64, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d,
    ]);
    expectProblem(
      await h.admin.request('POST', '/v1/admin/users', badUtf8, { contentType: 'application/json' }),
      400,
      'RELAY_MALFORMED_JSON',
    );
    expectProblem(
      await h.admin.request('POST', '/v1/admin/users', '', { contentType: 'application/json' }),
      400,
      'RELAY_MALFORMED_JSON',
    );
    expect(await h.relay.storage.listUserDevices('alice')).toHaveLength(1);
  });

  it('RLY-2: wrong types, unknown fields, missing fields and bad base64 are refused; nothing changes', async () => {
    for (const body of [
      { userId: 42 },
      { userId: 'bob', admin: true },
      {},
      [],
      '"bob"',
      { userId: 'has space' },
    ])
      expectProblem(
        await h.admin.request('POST', '/v1/admin/users', body),
        400,
        'RELAY_INVALID_BODY',
        'RLY-2',
      );
    expect(await h.relay.storage.getUser('bob')).toBeUndefined();
    for (const body of [
      { keyPackages: ['not base64!'] },
      { keyPackages: ['AAE'] },
      { keyPackages: [] },
      { keyPackages: 'AAAA' },
      { keyPackages: ['AAAA'], extra: 1 },
    ])
      expectProblem(await alice.request('POST', '/v1/key-packages', body), 400, 'RELAY_INVALID_BODY');
    expect(await h.relay.storage.countKeyPackages('alice-phone')).toBe(0);
    expectProblem(await alice.request('POST', '/v1/mailbox/ack', { upTo: -1 }), 400, 'RELAY_INVALID_BODY');
    expectProblem(await alice.request('POST', '/v1/mailbox/ack', { upTo: 1.5 }), 400, 'RELAY_INVALID_BODY');
    expectProblem(
      await alice.request('POST', '/v1/groups', { groupId: toBase64Url(new Uint8Array(65)) }),
      400,
      'RELAY_INVALID_BODY',
    );
    // A body where none is expected.
    expectProblem(
      await alice.request('POST', '/v1/users/alice/key-packages/claim', { x: 1 }),
      400,
      'RELAY_INVALID_BODY',
    );
  });

  it('RLY-2: malformed path and query parameters are refused', async () => {
    expectProblem(await alice.request('GET', '/v1/groups/!!!'), 400, 'RELAY_INVALID_PARAMS', 'RLY-2');
    expectProblem(await alice.request('GET', '/v1/mailbox?after=-1'), 400, 'RELAY_INVALID_PARAMS');
    expectProblem(await alice.request('GET', '/v1/mailbox?after=01'), 400, 'RELAY_INVALID_PARAMS');
    expectProblem(await alice.request('GET', '/v1/mailbox?sneaky=1'), 400, 'RELAY_INVALID_PARAMS');
    expectProblem(await alice.request('GET', '/v1/users/a%20b/devices'), 400, 'RELAY_INVALID_PARAMS');
  });

  it('RLY-3: an oversized body is refused before it is read; nothing is stored', async () => {
    const big = { keyPackages: Array.from({ length: 100 }, () => toBase64(new Uint8Array(16 * 1024))) };
    const oversized = { ...big, keyPackages: [...big.keyPackages, ...big.keyPackages] };
    expectProblem(
      await alice.request('POST', '/v1/key-packages', oversized),
      413,
      'RELAY_BODY_TOO_LARGE',
      'RLY-3',
    );
    expect(await h.relay.storage.countKeyPackages('alice-phone')).toBe(0);
  });

  it('RLY-4: an unsupported or mismatched content type is refused', async () => {
    expectProblem(
      await h.admin.request('POST', '/v1/admin/users', '{"userId":"bob"}', { contentType: 'text/plain' }),
      415,
      'RELAY_UNSUPPORTED_MEDIA_TYPE',
      'RLY-4',
    );
    expectProblem(
      await h.admin.request('POST', '/v1/admin/users', new TextEncoder().encode('{"userId":"bob"}')),
      415,
      'RELAY_UNSUPPORTED_MEDIA_TYPE',
    );
    expect(await h.relay.storage.getUser('bob')).toBeUndefined();
  });

  it('RLY-6: an unknown endpoint is a problem too', async () => {
    expectProblem(
      await send(h.url, 'GET', '/v1/nothing', new Uint8Array(0), {}),
      404,
      'RELAY_NOT_FOUND',
      'RLY-6',
    );
    expectProblem(await send(h.url, 'DELETE', '/v1/health', new Uint8Array(0), {}), 404, 'RELAY_NOT_FOUND');
  });
});

describe('rate limits (RLY-5)', () => {
  it('refuses a device past its bucket with 429 and Retry-After, without touching other devices', async () => {
    const h = await startHarness({
      rateLimits: {
        principal: { capacity: 5, refillPerSecond: 0.2 },
        address: { capacity: 1000, refillPerSecond: 1000 },
      },
    });
    try {
      const alice = await h.enrol('alice', 'alice-phone');
      const bob = await h.enrol('bob', 'bob-phone');
      for (let i = 0; i < 5; i++) expect((await alice.request('GET', '/v1/devices/self')).status).toBe(200);
      const limited = await alice.request('GET', '/v1/devices/self');
      expectProblem(limited, 429, 'RELAY_RATE_LIMITED', 'RLY-5');
      expect(Number(limited.headers.get('retry-after'))).toBe(5);
      // Refused work has no effect: a limited group creation creates nothing.
      const gid = new Uint8Array([9, 9, 9]);
      expectProblem(
        await alice.request('POST', '/v1/groups', { groupId: toBase64Url(gid) }),
        429,
        'RELAY_RATE_LIMITED',
      );
      expect(await h.relay.storage.getGroup(gid)).toBeUndefined();
      expect((await bob.request('GET', '/v1/devices/self')).status).toBe(200);
    } finally {
      await h.close();
    }
  });

  it('refuses an address past its bucket before any signature is checked', async () => {
    const h = await startHarness({
      rateLimits: {
        principal: { capacity: 1000, refillPerSecond: 1000 },
        address: { capacity: 10, refillPerSecond: 0.5 },
      },
    });
    try {
      // Enrolment used some of the address's tokens; spend the rest unauthenticated.
      let limited: Awaited<ReturnType<typeof send>> | undefined;
      for (let i = 0; i < 12 && limited === undefined; i++) {
        const r = await send(h.url, 'GET', '/v1/health', new Uint8Array(0), {});
        if (r.status === 429) limited = r;
      }
      expect(limited).toBeDefined();
      expectProblem(limited!, 429, 'RELAY_RATE_LIMITED', 'RLY-5');
      expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const headers = signRequest(
        h.adminKey,
        { kind: 'admin' },
        'POST',
        '/v1/admin/users',
        new TextEncoder().encode('{"userId":"x"}'),
      );
      const r = await send(h.url, 'POST', '/v1/admin/users', new TextEncoder().encode('{"userId":"x"}'), {
        ...headers,
        'content-type': 'application/json',
      });
      expect(r.status).toBe(429);
      expect(await h.relay.storage.getUser('x')).toBeUndefined();
    } finally {
      await h.close();
    }
  });
});
