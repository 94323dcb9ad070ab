// docs/spec/client.md §2: request signing agrees byte for byte with relay.md §3.2 (the spec's vector, and the
// server's own signer as an independent implementation, property-tested); problem+json answers become typed
// RELAY_REFUSED errors; random and mutated response bodies give only our own errors (CLI-6).
import {
  fromBase64,
  generateSigningKey,
  sha256,
  signingKeyFromSeed,
  toBase64,
  toHex,
  utf8Encode,
} from '@overt/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signRequest } from '../../../server/src/auth.js';
import { expectClientError } from '../../test/expect-error.js';
import { startWorld, type World } from '../../test/relay-world.js';
import { ClientError } from '../errors.js';
import { type FetchLike, NO_RETRY, RelayTransport, retryAfterMs } from './relay-transport.js';
import { requestSigningInput, signRelayRequest } from './signing.js';

describe('signed requests (relay.md §3.2)', () => {
  it('the spec’s vector', () => {
    const nonce = new Uint8Array(16).map((_, i) => i);
    const body = utf8Encode('{"upTo":3}');
    const input = requestSigningInput('POST', '/v1/mailbox/ack', 'device:d1', 0x0102030405, nonce, body);
    const hex = (s: string) => toHex(utf8Encode(s));
    expect(toHex(input)).toBe(
      `0016${hex('overt/relay/v1/request')}04${hex('POST')}000f${hex('/v1/mailbox/ack')}09${hex('device:d1')}` +
        `0000000102030405000102030405060708090a0b0c0d0e0f${toHex(sha256(body))}`,
    );
  });

  it('agrees with the relay’s signer on every field (property)', () => {
    const key = signingKeyFromSeed(new Uint8Array(32).fill(3));
    const printable = fc.string({
      minLength: 1,
      maxLength: 40,
      unit: fc.constantFrom(...'/abcXYZ09?=&-._~'.split('')),
    });
    fc.assert(
      fc.property(
        fc.constantFrom('GET', 'POST', 'PUT'),
        printable,
        fc.oneof(
          fc.constant({ kind: 'admin' as const }),
          fc.constantFrom('d1', 'phone.2', 'x~y').map((d) => ({ kind: 'device' as const, deviceId: d })),
        ),
        fc.integer({ min: 0, max: 2 ** 50 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ maxLength: 300 }),
        (method, target, signer, ts, nonce, body) => {
          const ours = signRelayRequest(key, signer, method, `/${target}`, body, ts, nonce);
          const theirs = signRequest(key, signer, method, `/${target}`, body, { timestamp: ts, nonce });
          expect(ours).toEqual(theirs);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses fields the relay could not parse with SDK_USAGE, never a TypeError', async () => {
    const key = generateSigningKey();
    await expectClientError(
      () => signRelayRequest(key, { kind: 'admin' }, 'GET', '/a b', new Uint8Array(0), 1),
      'SDK_USAGE',
    );
    await expectClientError(
      () => signRelayRequest(key, { kind: 'admin' }, 'GET', '/a', new Uint8Array(0), -1),
      'SDK_USAGE',
    );
    await expectClientError(
      () => signRelayRequest(key, { kind: 'admin' }, 'GET', '/a', new Uint8Array(0), 1, new Uint8Array(3)),
      'SDK_USAGE',
    );
  });
});

describe('against a real relay', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld();
  });
  afterAll(async () => {
    await w.close();
  });

  it('maps problem+json refusals to RELAY_REFUSED with the relay’s code, check and status', async () => {
    const d = await w.device('pat', 'pat-phone');
    const t = d.client.transport;
    const notFound = await expectClientError(t.request('GET', '/v1/nothing-here'), 'RELAY_REFUSED');
    expect(notFound).toMatchObject({ relayCode: 'RELAY_NOT_FOUND', status: 404 });
    const stale = new RelayTransport({ ...t.options, now: () => Date.now() - 120_000 });
    const s = await expectClientError(stale.mailbox(0), 'RELAY_REFUSED', 'AUTH-5');
    expect(s).toMatchObject({ relayCode: 'AUTH_STALE', status: 401 });
    const forbidden = await expectClientError(t.createUser('someone'), 'RELAY_REFUSED', 'AUTH-8');
    expect(forbidden.relayCode).toBe('AUTH_FORBIDDEN');
    // The signed request passes: the directory answers.
    expect((await t.userDevices('pat')).map((x) => x.deviceId)).toEqual(['pat-phone']);
  });

  it('an unreachable relay is RELAY_UNAVAILABLE', async () => {
    const t = new RelayTransport({
      url: 'http://127.0.0.1:1',
      key: generateSigningKey(),
      signer: { kind: 'admin' },
      retry: NO_RETRY,
    });
    await expectClientError(t.mailbox(0), 'RELAY_UNAVAILABLE');
  });
});

describe('hostile responses (CLI-6)', () => {
  const good = {
    devices: [
      {
        deviceId: 'a',
        userId: 'u',
        identityKey: toBase64(new Uint8Array(32)),
        status: 'active',
        enrolLogIndex: 3,
      },
    ],
    items: [
      { seq: 1, kind: 'message', groupId: 'AAAA', epoch: 1, sender: 'a', data: 'AAAA' },
      // A catch-up item (relay.md §6.9) with its served envelope.
      {
        seq: 2,
        kind: 'message',
        groupId: 'AAAA',
        epoch: 1,
        sender: 'a',
        data: 'AAAA',
        envelope: { messageId: 'AAAAAAAAAAAAAAAAAAAAAA', epoch: 1, head: 'AAAA', ciphertext: 'AAAA' },
      },
    ],
    more: false,
    keyPackages: [{ deviceId: 'a', keyPackage: 'AAAA', lastResort: true }],
    exhausted: [],
    epoch: 1,
    groupKey: toBase64(new Uint8Array(32)),
    logIndex: 1,
    messageId: 'AAAAAAAAAAAAAAAAAAAAAA',
    head: 'AAAA',
    ciphertext: 'AAAA',
    blob: { size: 1, chunkSize: 1, chunks: 1 },
    available: 1,
    blobId: 'x',
    chunks: 1,
    // Abuse reports (relay.md §10): the answer to a filed report, a listing, one report.
    stamp: toBase64(new Uint8Array(73)),
    reportId: 1,
    result: 'stored',
    senderUserId: 'u',
    stampTime: 5,
    reporterUserId: 'v',
    reporterDeviceId: 'd',
    senderDeviceId: 'a',
    conversationId: 'AAAA',
    sendTime: 4,
    reason: null,
    receivedAt: 6,
    contentType: 'text/plain',
    plaintext: 'AAAA',
    report: 'AAAA',
    reports: [],
  };
  const calls: ((t: RelayTransport) => Promise<unknown>)[] = [
    (t) => t.userDevices('u'),
    (t) => t.mailbox(0),
    (t) => t.claimKeyPackages('u'),
    (t) => t.epochKey(),
    (t) => t.getEnvelope(new Uint8Array(16)),
    (t) => t.publishKeyPackages([new Uint8Array(1)]),
    (t) => t.createBlob(1, 1, new Uint8Array(32)),
    (t) => t.postCommit(new Uint8Array(1), new Uint8Array(1), undefined),
    (t) => t.fileReport(new Uint8Array(1), 'why'),
    (t) => t.listReports(),
    (t) => t.getReport(1),
    (t) => t.catchUp(0, { limit: 10, maxBytes: 65_536 }),
    (t) => t.self(),
    (t) => t.postMessage(new Uint8Array(1), new Uint8Array(1), new Uint8Array(16)),
  ];

  it('the well-formed catch-up page parses; items out of order or at the cursor are refused (CLI-6)', async () => {
    const answer = (body: unknown) =>
      new RelayTransport({
        url: 'http://x',
        key: generateSigningKey(),
        signer: { kind: 'admin' },
        fetch: async () =>
          new Response(JSON.stringify(body), {
            status: 200,
            headers: { 'content-type': 'application/json' },
          }),
      });
    const page = await answer(good).catchUp(0);
    expect(page.more).toBe(false);
    expect(page.items[0]!.envelope).toBeUndefined();
    expect(page.items[1]!.envelope?.ciphertext).toEqual(fromBase64('AAAA'));
    expect(page.items[1]!.inline?.envelope).toEqual(fromBase64('AAAAAAAA'));
    await expectClientError(answer(good).catchUp(1), 'RELAY_RESPONSE_MALFORMED');
    await expectClientError(
      answer({ ...good, items: [...good.items].reverse() }).catchUp(0),
      'RELAY_RESPONSE_MALFORMED',
    );
    await expectClientError(answer({ ...good, more: 'no' }).catchUp(0), 'RELAY_RESPONSE_MALFORMED');
  });

  it('random and mutated bodies give a value or our own errors only', async () => {
    const text = JSON.stringify(good);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }).map((b) => new Uint8Array(b)),
          fc.tuple(fc.nat(text.length - 1), fc.integer({ min: 0, max: 255 })).map(([i, v]) => {
            const b = utf8Encode(text);
            b[i] = v;
            return b;
          }),
          fc.jsonValue().map((v) => utf8Encode(JSON.stringify(v))),
        ),
        fc.constantFrom(200, 201, 400, 500),
        fc.nat(calls.length - 1),
        async (body, status, which) => {
          const fetch: FetchLike = async () =>
            new Response(body as unknown as BodyInit, {
              status,
              headers: { 'content-type': 'application/json' },
            });
          const t = new RelayTransport({
            url: 'http://x',
            key: generateSigningKey(),
            signer: { kind: 'admin' },
            fetch,
            // Each body judged once: a 500 is not retried here (retries: the describe below).
            retry: NO_RETRY,
          });
          try {
            await calls[which]!(t);
          } catch (e) {
            expect(e).toBeInstanceOf(ClientError);
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('retries (client.md §2.1)', () => {
  const policy = { maxTotalMs: 5_000, baseDelayMs: 1, maxDelayMs: 20 };
  /** A transport whose relay answers with `answers` in turn (a status, or 'net' for a network failure). */
  function scripted(answers: (number | 'net')[], retry = policy) {
    const seen: string[] = [];
    const t = new RelayTransport({
      url: 'http://x',
      key: generateSigningKey(),
      signer: { kind: 'admin' },
      retry,
      fetch: async (url, init) => {
        seen.push(`${init.method} ${url}`);
        const a = answers.shift() ?? 200;
        if (a === 'net') throw new TypeError('connection reset');
        const problem = { type: 'about:blank', code: a === 429 ? 'RELAY_RATE_LIMITED' : 'X', status: a };
        return new Response(JSON.stringify(a === 200 ? { items: [], more: false } : problem), {
          status: a,
          headers: {
            'content-type': a === 200 ? 'application/json' : 'application/problem+json',
            'retry-after': '0',
          },
        });
      },
    });
    return { t, seen };
  }

  it('429, 503, other 5xx and network failures of a GET are retried until it succeeds', async () => {
    const { t, seen } = scripted([429, 503, 'net', 502]);
    expect((await t.catchUp(0)).items).toEqual([]);
    expect(seen).toHaveLength(5);
  });

  it('a POST of unknown outcome (network failure, 500) is not repeated; one refused with 429 or 503 is', async () => {
    const lost = scripted(['net']);
    await expectClientError(lost.t.postMessage(new Uint8Array(1), new Uint8Array(1)), 'RELAY_UNAVAILABLE');
    expect(lost.seen).toHaveLength(1);
    const refused = scripted([429, 503]);
    await refused.t.postMessage(new Uint8Array(1), new Uint8Array(1)).catch(() => undefined);
    expect(refused.seen).toHaveLength(3);
    // The mailbox ack is idempotent: retried after a network failure.
    const ack = scripted(['net', 500]);
    await ack.t.ack(5).catch(() => undefined);
    expect(ack.seen).toHaveLength(3);
  });

  it('gives up with the last error once the total bound is spent; 4xx other than 429 is never retried', async () => {
    const { t, seen } = scripted(Array(1000).fill(429), { maxTotalMs: 50, baseDelayMs: 10, maxDelayMs: 20 });
    await expectClientError(t.catchUp(0), 'RELAY_REFUSED');
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.length).toBeLessThan(1000);
    const bad = scripted([400]);
    await expectClientError(bad.t.catchUp(0), 'RELAY_REFUSED');
    expect(bad.seen).toHaveLength(1);
  });

  it('Retry-After is read as delta-seconds or an HTTP date', () => {
    expect(retryAfterMs('3', 0)).toBe(3000);
    expect(retryAfterMs(null, 0)).toBeUndefined();
    expect(retryAfterMs('soon', 0)).toBeUndefined();
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:02 GMT', now)).toBe(2000);
    expect(retryAfterMs('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
  });
});
