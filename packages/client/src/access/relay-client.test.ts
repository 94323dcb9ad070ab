// The access client (docs/spec/access.md §4, packages/client/src/access/relay-client.ts): its request signatures
// agree with the relay's verifier for the trustee and requester signers (access.md §1), and every answer is parsed
// strictly — a hostile relay's mutated or random answers give only RELAY_RESPONSE_MALFORMED, problem+json gives
// RELAY_REFUSED with the relay's code, check and status, a network failure RELAY_UNAVAILABLE. The end-to-end runs
// against a real relay are in packages/server/src/http/relay-access*.test.ts.
import { generateSigningKey, signingKeyFromSeed, toBase64, toBase64Url, utf8Encode } from '@overt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { signRequest } from '../../../server/src/auth.js';
import { ClientError } from '../errors.js';
import { signRelayRequest } from '../transport/signing.js';
import { type AccessFetch, AccessRelayClient } from './relay-client.js';

const key = signingKeyFromSeed(new Uint8Array(32).fill(5));
const b = (n: number) => toBase64(new Uint8Array(n).fill(7));
const id = toBase64Url(new Uint8Array(16).fill(1));

function answer(status: number, body: unknown, type = 'application/json; charset=utf-8'): Response {
  const bytes =
    typeof body === 'string'
      ? utf8Encode(body)
      : body instanceof Uint8Array
        ? body
        : utf8Encode(JSON.stringify(body));
  return new Response(new Uint8Array(bytes), { status, headers: { 'content-type': type } });
}

function client(fetch: AccessFetch, kind: 'trustee' | 'requester' = 'trustee') {
  return new AccessRelayClient({
    url: 'http://relay.invalid',
    signer: kind === 'trustee' ? { kind, index: 2, key } : { kind, id: 'req@org', key },
    fetch,
  });
}

/** Each method with a well-formed answer the relay gives it. */
const CALLS: {
  name: string;
  call: (c: AccessRelayClient) => Promise<unknown>;
  good: Record<string, unknown>;
  /** Top-level fields the answer may leave out. */
  optional?: readonly string[];
}[] = [
  { name: 'sendMail', call: (c) => c.sendMail(1, new Uint8Array(3)), good: { seq: 4 } },
  {
    name: 'readMail',
    call: (c) => c.readMail(0, 10),
    good: { messages: [{ seq: 1, from: 1, to: 0, body: b(3) }], next: null },
  },
  {
    name: 'publishEpochKey',
    call: (c) => c.publishEpochKey(new Uint8Array(10)),
    good: {
      epoch: 1,
      threshold: 2,
      groupKey: b(32),
      verificationKeys: [b(32), b(32)],
      transcriptHash: b(32),
      statement: b(10),
      logIndex: 3,
      publishedAt: 5,
    },
  },
  {
    name: 'fileRequest',
    call: (c) => c.fileRequest(new Uint8Array(5), []),
    good: { requestId: id, index: 2 },
  },
  {
    name: 'listRequests',
    call: (c) => c.listRequests(),
    good: { requests: [{ requestId: id, index: 2, status: 'pending' }], next: 2 },
  },
  {
    name: 'getRequest',
    call: (c) => c.getRequest(new Uint8Array(16)),
    good: {
      request: b(5),
      index: 2,
      status: 'executed',
      decisions: [{ decision: b(4), index: 3 }],
      execution: { execution: b(9), index: 5 },
      releases: [{ trustee: 1, batch: 0, release: b(8), index: 6 }],
      refusals: [{ refusal: b(7), index: 7 }],
    },
  },
  { name: 'sealedPart', call: (c) => c.sealedPart(new Uint8Array(16)), good: { sealed: b(40) } },
  {
    name: 'submitDecision',
    call: (c) => c.submitDecision(new Uint8Array(5)),
    good: { index: 3, execution: { index: 4 } },
  },
  {
    name: 'envelopes',
    call: (c) => c.envelopes(new Uint8Array(16), 0, 5),
    good: { envelopes: [{ position: 0, label: b(32), messageId: id, head: b(300) }], next: null },
  },
  { name: 'device', call: (c) => c.device('alice-phone'), good: { index: 3, removedIndex: 9 } },
  {
    name: 'submitRelease',
    call: (c) => c.submitRelease(new Uint8Array(5), new Uint8Array(5), 0),
    good: { index: 8 },
  },
  { name: 'submitRefusal', call: (c) => c.submitRefusal(new Uint8Array(5)), good: { index: 9 } },
  // After release (after-release.md §1, §2).
  { name: 'submitUnseal', call: (c) => c.submitUnseal(new Uint8Array(5)), good: { index: 10 } },
  {
    name: 'proposeExtension',
    call: (c) => c.proposeExtension(new Uint8Array(16), 5, 'why'),
    good: { requestId: id, number: 1, statement: b(90) },
  },
  {
    name: 'listExtensions',
    call: (c) => c.listExtensions(),
    good: {
      extensions: [
        { seq: 1, requestId: id, number: 1, statement: b(90), reason: 'r', signers: [1, 3], index: null },
        { seq: 2, requestId: id, number: 2, statement: b(90), reason: '', signers: [], index: 12 },
      ],
      next: null,
    },
  },
  {
    name: 'signExtension',
    call: (c) => c.signExtension(new Uint8Array(16), 1, new Uint8Array(64)),
    good: { signers: 2, index: 11 },
    optional: ['index'],
  },
  {
    name: 'listUnsealed',
    call: (c) => c.public.listUnsealed(0, 5),
    good: { unsealed: [{ requestId: id, index: 4 }], next: 4 },
  },
  {
    name: 'publicRequest',
    call: (c) => c.public.publicRequest(new Uint8Array(16)),
    good: {
      request: { request: b(5), index: 2 },
      unseal: { unseal: b(50), index: 9 },
      decisions: [{ decision: b(4), index: 3 }],
      execution: { execution: b(9), index: 5 },
      releases: [{ release: b(8), index: 6 }],
      refusals: [{ refusal: b(7), index: 7 }],
      extensions: [{ extension: b(99), index: 8 }],
    },
    optional: ['execution'],
  },
  {
    name: 'publicLabels',
    call: (c) => c.public.publicLabels(new Uint8Array(16), 0, 2),
    good: { labels: [{ position: 0, label: b(32) }], next: 1 },
  },
];

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof ClientError) return e.code;
    throw e;
  }
}

describe('access signers (access.md §1)', () => {
  it('signs trustee and requester requests exactly as the relay verifies them (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: 1, max: 255 }).map((index) => ({ kind: 'trustee' as const, index })),
          fc
            .constantFrom('requester', 'r@x.y', 'a~b')
            .map((requesterId) => ({ kind: 'requester' as const, requesterId })),
        ),
        fc.integer({ min: 0, max: 2 ** 50 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ maxLength: 200 }),
        (signer, ts, nonce, body) => {
          const ours = signRelayRequest(key, signer, 'POST', '/v1/access/decisions', body, ts, nonce);
          const theirs = signRequest(key, signer, 'POST', '/v1/access/decisions', body, {
            timestamp: ts,
            nonce,
          });
          expect(ours).toEqual(theirs);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('sends the signer of its options, the target and the JSON body', async () => {
    let seen: { url: string; init: RequestInit } | undefined;
    const c = client(async (url, init) => {
      seen = { url, init };
      return answer(201, { seq: 1 });
    }, 'requester');
    expect(await c.sendMail(3, Uint8Array.of(1, 2))).toBe(1);
    expect(seen?.url).toBe('http://relay.invalid/v1/trustee/mail');
    const headers = seen?.init.headers as Record<string, string>;
    expect(headers['overt-signer']).toBe('requester:req@org');
    expect(headers['content-type']).toBe('application/json');
    expect(new TextDecoder().decode(seen?.init.body as Uint8Array)).toBe('{"to":3,"body":"AQI="}');
  });
});

describe('strict answers', () => {
  it('parses every well-formed answer; 201 is created, 200 a repeat', async () => {
    for (const { call, good } of CALLS) {
      expect(await code(call(client(async () => answer(201, good))))).toBe('ok');
    }
    const r = await client(async () => answer(200, { index: 8 })).submitRelease(
      new Uint8Array(1),
      new Uint8Array(1),
      0,
    );
    expect(r).toEqual({ index: 8, created: false });
  });

  it('a mutated answer (a field dropped, added, or of another type) is RELAY_RESPONSE_MALFORMED (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(CALLS.length - 1),
        fc.nat(20),
        fc.constantFrom('drop', 'add', 'replace'),
        fc.constantFrom<unknown>(null, -1, 1.5, 'A', '@@', true, [], {}, 'AAAA====', 2 ** 60),
        async (i, k, how, value) => {
          const { call, good, optional } = CALLS[i]!;
          const body: Record<string, unknown> = { ...good };
          const keys = Object.keys(body);
          const key = keys[k % keys.length]!;
          // `removedIndex` and `execution` are optional: dropping one is still well formed.
          if (how === 'drop' && (key === 'removedIndex' || key === 'execution' || optional?.includes(key)))
            return;
          // `next` is null at the end of a list: null there is well formed.
          if (how === 'replace' && key === 'next' && value === null) return;
          // An empty list in place of a list is a well-formed empty answer.
          if (how === 'replace' && Array.isArray(value) && Array.isArray(body[key])) return;
          if (how === 'drop') delete body[key];
          else if (how === 'add') body.unexpected = value;
          else body[key] = value;
          expect(await code(call(client(async () => answer(200, body))))).toBe('RELAY_RESPONSE_MALFORMED');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('random bytes, another content type, and non-JSON are RELAY_RESPONSE_MALFORMED (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(CALLS.length - 1), fc.uint8Array({ maxLength: 64 }), async (i, bytes) => {
        const got = await code(CALLS[i]!.call(client(async () => answer(200, bytes))));
        expect(got).toBe('RELAY_RESPONSE_MALFORMED');
      }),
      { numRuns: 100 },
    );
    const wrongType = client(async () => answer(200, { seq: 1 }, 'text/plain'));
    expect(await code(wrongType.sendMail(1, new Uint8Array(1)))).toBe('RELAY_RESPONSE_MALFORMED');
    const json = client(async () => answer(200, { bundle: 'x' }));
    expect(await code(json.releaseBundle(new Uint8Array(16), 1, 0))).toBe('RELAY_RESPONSE_MALFORMED');
    const bytes = client(async () => answer(200, Uint8Array.of(1, 2), 'application/octet-stream'));
    expect(await bytes.ciphertext(new Uint8Array(16), 0)).toEqual(Uint8Array.of(1, 2));
  });

  it('the public reads after unseal are sent unsigned; a requester cannot sign an extension', async () => {
    let headers: Record<string, string> | undefined;
    const c = client(async (_url, init) => {
      headers = init.headers as Record<string, string>;
      return answer(200, { unsealed: [], next: null });
    });
    expect(await c.public.listUnsealed()).toEqual({ items: [], next: null });
    expect(headers).toEqual({});
    const r = client(async () => answer(201, { signers: 1 }), 'requester');
    expect(await code(r.signExtension(new Uint8Array(16), 1, new Uint8Array(64)))).toBe('SDK_USAGE');
  });

  it('problem+json is RELAY_REFUSED with the relay’s code, check and status; a network failure RELAY_UNAVAILABLE', async () => {
    const refused = client(async () =>
      answer(
        409,
        { type: 'about:blank', title: 'X', status: 409, code: 'ACCESS_RELEASE_CONFLICT', check: 'ACC-L4' },
        'application/problem+json',
      ),
    );
    const e = await refused.submitRelease(new Uint8Array(1), new Uint8Array(1), 0).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ClientError);
    expect(e).toMatchObject({
      code: 'RELAY_REFUSED',
      relayCode: 'ACCESS_RELEASE_CONFLICT',
      check: 'ACC-L4',
      status: 409,
    });
    const down = client(async () => {
      throw new TypeError('fetch failed');
    });
    expect(await code(down.readMail())).toBe('RELAY_UNAVAILABLE');
    const usage = client(async () => answer(200, {}));
    expect(await code(usage.getRequest(new Uint8Array(3)))).toBe('SDK_USAGE');
    expect(await code(usage.readMail(-1))).toBe('SDK_USAGE');
    expect(generateSigningKey().publicKey).toHaveLength(32);
  });
});
