// docs/spec/relay.md §2.4, the relay's resource bounds one at a time against a real relay: the request target
// (RLY-25) on the relay's routes and the log's tiles, the per-address bucket on the tiles (RLY-5), the WebSocket's
// hard frame limit (RLY-3, close 1009), the per-device blob quota over HTTP (STORE-R-9), upload admission per
// device and in all (RLY-24) and the bounded capsule-check queue. The flood of all of them at once is
// relay-flood.test.ts.
import { randomBytes, utf8Encode } from '@overt/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  authFrame,
  type Device,
  type Harness,
  MailboxSocket,
  ORG,
  type Response,
  send,
  startHarness,
} from '../../test/harness.js';
import { calendarMonthEpoch } from '../epochs.js';
import { isRelayError } from '../errors.js';
import { CapsuleCheckPool } from '../ingest/capsule-pool.js';
import { IngestPipeline } from '../ingest/pipeline.js';
import { DEFAULT_RESOURCE_LIMITS, resourceLimits } from '../limits.js';

const MiB = 1024 * 1024;

function expectProblem(r: Response, status: number, code: string, check: string) {
  expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(r.body).toMatchObject({ status, code, title: code, check });
  expect(r.status).toBe(status);
}

/** A raw HTTP/1.1 exchange, for requests fetch() would refuse to send. */
async function raw(url: string, request: string): Promise<{ status: number; head: string; body: string }> {
  const { host, port } = new URL(url);
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), host.split(':')[0]);
    let text = '';
    socket.on('data', (d) => {
      text += d.toString('utf8');
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = text.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), head, body });
    });
    socket.end(request);
  });
}

describe('request target (RLY-25) and the log tiles (RLY-5)', () => {
  let h: Harness;
  let alice: Device;
  beforeAll(async () => {
    h = await startHarness({
      rateLimits: {
        principal: { capacity: 1000, refillPerSecond: 1000 },
        address: { capacity: 40, refillPerSecond: 0.01 },
      },
      limits: { urlBytes: 1024 },
    });
    alice = await h.enrol('alice', 'alice-phone');
  });
  afterAll(async () => {
    await h.close();
  });

  it('RLY-25: a target over the bound is 414 problem+json, on the relay routes and under /log/', async () => {
    const long = 'a'.repeat(1100);
    expectProblem(
      await send(h.url, 'GET', `/v1/health?x=${long}`, new Uint8Array(0), {}),
      414,
      'RELAY_URL_TOO_LONG',
      'RLY-25',
    );
    // A path parameter longer than the router's own default (100) reaches the bound, not a framework error.
    expectProblem(
      await alice.request('GET', `/v1/users/${long}/devices`),
      414,
      'RELAY_URL_TOO_LONG',
      'RLY-25',
    );
    expectProblem(
      await send(h.url, 'GET', `/log/tile/${long}`, new Uint8Array(0), {}),
      414,
      'RELAY_URL_TOO_LONG',
      'RLY-25',
    );
    // Under the bound, a 101..128-character user id is a valid id and gets the operation's own answer.
    const r = await alice.request('GET', `/v1/users/${'u'.repeat(120)}/devices`);
    expect([r.status, r.body.code]).toEqual([404, 'DIR_USER_UNKNOWN']);
  });

  it('RLY-25: a request line beyond what the HTTP parser takes (16 KiB) is 431 problem+json, then closed', async () => {
    const r = await raw(h.url, `GET /v1/health?x=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(r.status).toBe(431);
    expect(r.head).toMatch(/content-type: application\/problem\+json/i);
    expect(JSON.parse(r.body)).toMatchObject({
      code: 'RELAY_HEADERS_TOO_LARGE',
      check: 'RLY-25',
      status: 431,
    });
  });

  it('RLY-5: the log tiles take from the same per-address bucket as the relay routes', async () => {
    // The bucket holds 40 and refills one per 100 s: the earlier tests used some, these use the rest.
    const statuses: number[] = [];
    let refused: Response | undefined;
    for (let i = 0; i < 45 && refused === undefined; i++) {
      const r = await send(h.url, 'GET', '/log/checkpoint', new Uint8Array(0), {});
      statuses.push(r.status);
      if (r.status === 429) refused = r;
    }
    expect(refused).toBeDefined();
    expectProblem(refused!, 429, 'RELAY_RATE_LIMITED', 'RLY-5');
    expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(statuses.slice(0, -1).every((s) => s === 200)).toBe(true);
    // The relay's own routes share it: the same address is refused there too.
    expectProblem(
      await send(h.url, 'GET', '/v1/health', new Uint8Array(0), {}),
      429,
      'RELAY_RATE_LIMITED',
      'RLY-5',
    );
  });
});

describe('WebSocket frame limit (RLY-3)', () => {
  let h: Harness;
  let alice: Device;
  beforeAll(async () => {
    h = await startHarness();
    alice = await h.enrol('alice', 'alice-phone');
  });
  afterAll(async () => {
    await h.close();
  });

  it('a 4 MiB frame closes the socket with 1009, before and after authentication; the relay keeps serving', async () => {
    const s = await MailboxSocket.open(h.url, alice);
    await s.waitFor((f) => f.some((x) => x.type === 'ready'));
    s.ws.send(new Uint8Array(4 * MiB));
    expect(await s.closed).toEqual({ code: 1009 });

    const anon = new WebSocket(`${h.url.replace('http', 'ws')}/v1/ws`);
    const closed = new Promise<number>((r) => anon.on('close', (code) => r(code)));
    await new Promise((r) => anon.once('open', r));
    anon.send(new Uint8Array(4 * MiB));
    expect(await closed).toBe(1009);

    const again = await MailboxSocket.open(h.url, alice, authFrame(alice.key, alice.signer));
    await again.waitFor((f) => f.some((x) => x.type === 'ready'));
    await again.close();
  });
});

describe('per-device blob quota over HTTP (STORE-R-9)', () => {
  let h: Harness;
  let alice: Device;
  let bob: Device;
  beforeAll(async () => {
    h = await startHarness({ limits: { blobQuotaBytes: 3 * MiB } });
    alice = await h.enrol('alice', 'alice-phone');
    bob = await h.enrol('bob', 'bob-phone');
  });
  afterAll(async () => {
    await h.close();
  });

  it('refuses a blob beyond the quota with 507 BLOB_QUOTA and creates nothing; other devices are unaffected', async () => {
    const create = (d: Device, size: number) => d.request('POST', '/v1/blobs', { size, chunkSize: MiB });
    expect((await create(alice, 2 * MiB)).status).toBe(201);
    expect((await create(alice, MiB)).status).toBe(201);
    const before = await h.relay.storage.blobUsage('alice-phone');
    expect(before).toBe(3 * MiB);
    const r = await create(alice, 1);
    expectProblem(r, 507, 'BLOB_QUOTA', 'STORE-R-9');
    expect(r.headers.get('retry-after')).toBeNull();
    expect(await h.relay.storage.blobUsage('alice-phone')).toBe(before);
    expect((await create(bob, 3 * MiB)).status).toBe(201);
  });
});

describe('upload admission (RLY-24) and the capsule-check queue', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  function pipeline(limits: Parameters<typeof resourceLimits>[0]) {
    return new IngestPipeline({
      storage: h.relay.storage,
      hub: h.relay.hub,
      orgId: ORG,
      now: Date.now,
      envelopeSkewMs: 60_000,
      maxPayloadBytes: MiB,
      limits: resourceLimits(limits),
    });
  }

  function busy(f: () => unknown): boolean {
    try {
      f();
      return false;
    } catch (e) {
      expect(isRelayError(e, 'RELAY_BUSY')).toBe(true);
      expect((e as { check?: string; retryAfter?: number }).check).toBe('RLY-24');
      expect((e as { retryAfter?: number }).retryAfter).toBe(1);
      return true;
    }
  }

  it('bounds each device by count and bytes, and the node in all; released places are reusable', async () => {
    const p = pipeline({
      deviceUploads: 3,
      deviceUploadBytes: 1000,
      totalUploads: 6,
      totalUploadBytes: 10_000,
    });
    const a = [p.admit('a', 100), p.admit('a', 100), p.admit('a', 100)];
    expect(busy(() => p.admit('a', 1))).toBe(true); // the device's count
    a[0]!.release();
    a[0]!.release(); // idempotent
    expect(busy(() => p.admit('a', 900))).toBe(true); // the device's bytes: 200 held + 900 > 1000
    a.push(p.admit('a', 800));
    // Another device has its own share...
    const b = [p.admit('b', 10), p.admit('b', 10)];
    // ... and one upload larger than a device's byte bound is admitted when its device holds nothing ...
    const big = p.admit('d', 5000);
    // ... up to the node's bound: 3 + 2 + 1 = 6 held.
    expect(busy(() => p.admit('c', 1))).toBe(true);
    b[0]!.release();
    expect(busy(() => p.admit('d', 1))).toBe(true); // d holds 5000 > 1000 already
    const c = p.admit('c', 1);
    expect(p.stats()).toMatchObject({ admitted: 6, admittedBytes: 1000 + 10 + 5000 + 1, peakAdmitted: 6 });
    for (const x of [...a, ...b, c, big]) x.release();
    expect(p.stats()).toMatchObject({ admitted: 0, admittedBytes: 0, peakAdmitted: 6, busyRefusals: 4 });
    // The node's byte bound.
    const q = pipeline({ totalUploadBytes: 100 });
    const x = q.admit('x', 60);
    expect(busy(() => q.admit('y', 60))).toBe(true);
    x.release();
    q.admit('y', 60).release();
    await p.close();
    await q.close();
  });

  it('the worker queue refuses checks beyond its bound at once with RELAY_BUSY and takes more once drained', async () => {
    const pool = new CapsuleCheckPool({ size: 1, maxQueued: 3 });
    try {
      await pool.ready();
      const request = () => ({
        envelope: randomBytes(10),
        orgId: ORG,
        epoch: calendarMonthEpoch(Date.now()),
        epochKey: randomBytes(32),
        senderUserId: 'alice',
        senderDeviceId: utf8Encode('alice-phone'),
        senderKey: randomBytes(32),
        now: Date.now(),
        maxClockSkewMs: 60_000,
        maxPayloadBytes: MiB,
        members: ['alice'],
      });
      // Submitted in one turn: none has reached a worker yet, so exactly the bound is queued.
      const results = await Promise.allSettled(Array.from({ length: 5 }, () => pool.check(request())));
      expect(results.map((r) => r.status)).toEqual([
        'fulfilled',
        'fulfilled',
        'fulfilled',
        'rejected',
        'rejected',
      ]);
      for (const r of results.slice(3))
        expect(isRelayError((r as PromiseRejectedResult).reason, 'RELAY_BUSY')).toBe(true);
      expect(pool.getStats()).toMatchObject({ checked: 3, pending: 0, peakPending: 3, refused: 2 });
      expect(await pool.check(request())).toMatchObject({ ok: false });
    } finally {
      await pool.close();
    }
  });

  it('the defaults keep one connection below its device’s share (RLY-23 before RLY-24)', () => {
    const l = DEFAULT_RESOURCE_LIMITS;
    expect(l.socketFrames).toBeLessThan(l.deviceUploads);
    // A socket stops being read at socketBytes, so it holds less than that plus one largest frame.
    expect(l.socketBytes + (1 << 20) + 256 * 1024).toBeLessThanOrEqual(l.deviceUploadBytes);
    expect(l.deviceUploads).toBeLessThanOrEqual(l.totalUploads);
    expect(l.capsuleQueue).toBeGreaterThanOrEqual(l.totalUploads);
  });
});
