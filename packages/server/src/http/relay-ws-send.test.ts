// docs/spec/relay.md §6.8 over a real WebSocket: the binary send frame with real MLS application messages and
// envelopes sealed by core, checked by core's ingest check in worker threads, stored by group commit, answered
// per frame, and pushed to the recipient with the envelope inline.
import {
  MailboxSocket as ClientSocket,
  Conversation,
  createMlsIdentity,
  generateKeyPackage,
  isClientError,
  type MlsIdentity,
  RelayTransport,
  type WebSocketConstructor,
} from '@overt/client';
import {
  type Element,
  equalBytes,
  fromBase64,
  fromBase64Url,
  group,
  randomBytes,
  randomNonZeroScalar,
  sealEnvelope,
  toBase64,
  toBase64Url,
  utf8Encode,
} from '@overt/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  type Device,
  type Frame,
  type Harness,
  MailboxSocket,
  ORG,
  publishEpochKey,
  startHarness,
  textFields,
} from '../../test/harness.js';
import { calendarMonthEpoch } from '../epochs.js';
import { isRelayError } from '../errors.js';
import { CapsuleCheckPool } from '../ingest/capsule-pool.js';
import { encodeSendFrame, MAX_SEND_FRAME, parseSendFrame } from '../ingest/frames.js';

let h: Harness;
let alice: Device;
let bob: Device;
let epochKey: Element;
let aliceConv: Conversation;
let groupId: Uint8Array;
const EPOCH = calendarMonthEpoch(Date.now());
const options = { authenticate: () => true };
let nextId = 1;

function identity(d: Device): MlsIdentity {
  return createMlsIdentity(d.userId, utf8Encode(d.deviceId), d.key);
}

/** A real message: an envelope sealed by core and the MLS application message carrying its key. */
async function message(extra: { conversationId?: Uint8Array; epochKey?: Element } = {}) {
  const sealed = await sealEnvelope(
    textFields(EPOCH, { conversationId: extra.conversationId ?? groupId }),
    randomBytes(100),
    extra.epochKey ?? epochKey,
    alice.key,
  );
  const mls = await aliceConv.encrypt({
    messageId: sealed.header.messageId,
    contentKey: sealed.contentKey,
    seed: sealed.seed,
  });
  return {
    requestId: nextId++,
    groupId,
    message: mls,
    envelope: sealed.envelope,
    messageId: sealed.header.messageId,
  };
}

function answer(s: MailboxSocket, id: number): Frame | undefined {
  return s.frames.find((f) => (f as { id?: number }).id === id);
}

async function answered(s: MailboxSocket, id: number): Promise<Frame & Record<string, unknown>> {
  await s.waitFor(() => answer(s, id) !== undefined, 20_000);
  return answer(s, id) as Frame & Record<string, unknown>;
}

beforeAll(async () => {
  h = await startHarness({
    rateLimits: {
      principal: { capacity: 10_000, refillPerSecond: 10_000 },
      address: { capacity: 10_000, refillPerSecond: 10_000 },
    },
  });
  alice = await h.enrol('alice', 'alice-phone');
  bob = await h.enrol('bob', 'bob-phone');
  const published = await publishEpochKey(h.admin, h.adminKey, EPOCH);
  expect(published.response.status).toBe(201);
  epochKey = published.epochKey;
  const bundle = await generateKeyPackage(identity(bob));
  await bob.request('POST', '/v1/key-packages', { keyPackages: [toBase64(bundle.keyPackage)] });
  groupId = randomBytes(16);
  aliceConv = await Conversation.create(identity(alice), options, groupId);
  await alice.request('POST', '/v1/groups', { groupId: toBase64Url(groupId) });
  const claim = await alice.request('POST', '/v1/users/bob/key-packages/claim');
  const add = await aliceConv.addMembers([fromBase64(claim.body.keyPackages[0].keyPackage)]);
  const r = await alice.request('POST', `/v1/groups/${toBase64Url(groupId)}/commits`, {
    commit: toBase64(add.commit),
    welcome: toBase64(add.welcome!),
  });
  expect(r.status).toBe(201);
  await aliceConv.mergePendingCommit();
});
afterAll(async () => {
  await h.close();
});

async function ready(d: Device): Promise<MailboxSocket> {
  const s = await MailboxSocket.open(h.url, d);
  await s.waitFor((f) => f.some((x) => x.type === 'ready'));
  return s;
}

describe('WebSocket send path (relay.md §6.8)', () => {
  it('stores a valid message once, answers it, and pushes it with its envelope inline; a resend is a duplicate', async () => {
    const a = await ready(alice);
    const b = await ready(bob);
    const m = await message();
    a.ws.send(encodeSendFrame(m));
    expect(await answered(a, m.requestId)).toEqual({
      type: 'sent',
      id: m.requestId,
      messageId: toBase64Url(m.messageId),
      result: 'stored',
      recipients: 1,
    });
    const stored = await h.relay.storage.getEnvelope(m.messageId);
    expect(stored?.senderDeviceId).toBe('alice-phone');
    await b.waitFor(() => b.items().some((i) => i.kind === 'message'));
    const item = b.items().find((i) => i.kind === 'message') as ReturnType<MailboxSocket['items']>[number] & {
      envelope?: string;
      messageId?: string;
    };
    expect(fromBase64(item.data)).toEqual(m.message);
    expect(item.envelope).toBe(toBase64(m.envelope));
    expect(fromBase64Url(item.messageId!)).toEqual(m.messageId);
    // The GET serves the same bytes (head ‖ ciphertext).
    const got = await bob.request('GET', `/v1/envelopes/${toBase64Url(m.messageId)}`);
    expect(toBase64(new Uint8Array([...fromBase64(got.body.head), ...fromBase64(got.body.ciphertext)]))).toBe(
      item.envelope,
    );
    // The franking stamp, when the relay has a key, is the one the GET serves (relay.md §10.1).
    expect((item as { stamp?: string }).stamp).toBe(got.body.stamp);
    // The HTTP mailbox carries the envelope inline too (the SDK's sync reads it there).
    const mailbox = await bob.request('GET', '/v1/mailbox');
    expect(mailbox.body.items.find((i: { seq: number }) => i.seq === item.seq).envelope).toBe(item.envelope);

    // Resent (a lost answer): a duplicate, not fanned out again; the next message is the second item.
    const resend = { ...m, requestId: nextId++ };
    a.ws.send(encodeSendFrame(resend));
    expect(await answered(a, resend.requestId)).toMatchObject({ result: 'duplicate', recipients: 0 });
    const next = await message();
    a.ws.send(encodeSendFrame(next));
    await answered(a, next.requestId);
    await b.waitFor(() => b.items().filter((i) => i.kind === 'message').length >= 2);
    expect(
      b
        .items()
        .filter((i) => i.kind === 'message')
        .map((i) => fromBase64(i.data)),
    ).toEqual([m.message, next.message]);
    await a.close();
    await b.close();
  });

  it('RLY-20/RLY-13: a changed capsule or one invalid for its label is refused with its code, and nothing is stored', async () => {
    const a = await ready(alice);
    const m = await message();
    const forged = m.envelope.slice();
    const headerLength = new DataView(forged.buffer).getUint32(0);
    forged[4 + headerLength + 40]! ^= 1;
    // The capsule is signed by the sender: a changed one fails the signature (checked first, the cheaper check).
    a.ws.send(encodeSendFrame({ ...m, envelope: forged }));
    expect(await answered(a, m.requestId)).toMatchObject({
      type: 'error',
      code: 'ENV_SIGNATURE',
      check: 'RLY-20',
    });
    expect(await h.relay.storage.getEnvelope(m.messageId)).toBeUndefined();
    // Signed, but sealed to a key that is not the epoch's: the capsule's proof fails (RLY-13).
    const wrongKey = await message({ epochKey: group.baseMul(randomNonZeroScalar()) });
    a.ws.send(encodeSendFrame(wrongKey));
    expect(await answered(a, wrongKey.requestId)).toMatchObject({ code: 'ENV_CAPSULE', check: 'RLY-13' });
    expect(await h.relay.storage.getEnvelope(wrongKey.messageId)).toBeUndefined();
    // A ciphertext that does not match the header's digest (ENV-12) is refused too.
    const tampered = m.envelope.slice();
    tampered[tampered.length - 1]! ^= 1;
    const t = { ...m, requestId: nextId++, envelope: tampered };
    a.ws.send(encodeSendFrame(t));
    expect(await answered(a, t.requestId)).toMatchObject({ code: 'ENV_MALFORMED', check: 'RLY-14' });
    // Header checks on the event loop: an envelope of another conversation (RLY-15).
    const other = await message({ conversationId: randomBytes(16) });
    a.ws.send(encodeSendFrame(other));
    expect(await answered(a, other.requestId)).toMatchObject({ code: 'ENV_CONTEXT', check: 'RLY-15' });
    expect(await h.relay.storage.getEnvelope(other.messageId)).toBeUndefined();
    await a.close();
  });

  it('RLY-18/RLY-3: malformed, oversized and unknown frames get typed answers, change nothing, close nothing', async () => {
    const a = await ready(alice);
    const before = await h.relay.storage.lastMailboxSeq('bob-phone');
    a.ws.send(new Uint8Array([0x02, 0x7f, 0, 0, 7, 1, 1]));
    a.ws.send(new Uint8Array([0x01, 0x7f, 0, 0, 8, 0]));
    a.ws.send(new Uint8Array([0x01, 0x7f, 0, 0, 9, 16, ...groupId, 0, 0, 0, 50, 1, 2]));
    const big = new Uint8Array(MAX_SEND_FRAME + 1);
    big.set([0x01, 0x7f, 0, 0, 10]);
    a.ws.send(big);
    const junk = await message();
    a.ws.send(encodeSendFrame({ ...junk, message: randomBytes(30) }));
    const ok = await message();
    a.ws.send(encodeSendFrame(ok));
    expect(await answered(a, ok.requestId)).toMatchObject({ type: 'sent', result: 'stored' });
    const errors = a.frames.filter((f) => f.type === 'error');
    expect(errors.map((e) => [(e as { id?: number }).id, e.code, e.check])).toEqual([
      [undefined, 'RELAY_INVALID_BODY', 'RLY-18'],
      [0x7f000008, 'RELAY_INVALID_BODY', 'RLY-18'],
      [0x7f000009, 'RELAY_INVALID_BODY', 'RLY-18'],
      [0x7f00000a, 'RELAY_BODY_TOO_LARGE', 'RLY-3'],
      [junk.requestId, expect.stringMatching(/^DS_/), expect.stringMatching(/^DS-/)],
    ]);
    expect(await h.relay.storage.lastMailboxSeq('bob-phone')).toBe(before + 1);
    await a.close();
  });

  it('stores, answers and delivers one connection’s messages in the order it sent them', async () => {
    const a = await ready(alice);
    const b = await ready(bob);
    const seen = b.items().length;
    const msgs = [];
    for (let i = 0; i < 25; i++) msgs.push(await message());
    for (const m of msgs) a.ws.send(encodeSendFrame(m));
    await answered(a, msgs[msgs.length - 1]!.requestId);
    const answers = a.frames.filter((f) => f.type === 'sent').map((f) => (f as { id?: number }).id);
    expect(answers).toEqual(msgs.map((m) => m.requestId));
    await b.waitFor(() => b.items().length >= seen + msgs.length);
    const pushed = b
      .items()
      .slice(seen)
      .filter((i) => i.kind === 'message');
    expect(pushed.map((i) => toBase64(fromBase64(i.data)))).toEqual(msgs.map((m) => toBase64(m.message)));
    await a.close();
    await b.close();
  });
});

describe('ingest checks on mutated frames (fuzz)', () => {
  it('refuse every mutation with a typed RelayError, never an internal error', async () => {
    const device = (await h.relay.storage.getDevice('alice-phone'))!;
    const m = await message();
    const valid = encodeSendFrame(m);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.option(fc.nat(), { nil: undefined }),
        async (flips, cut) => {
          const bytes = valid.slice(0, cut === undefined ? valid.length : cut % valid.length);
          for (const [at, x] of flips) if (bytes.length > 0) bytes[at % bytes.length]! ^= x;
          try {
            await h.relay.ingest.check(device, parseSendFrame(bytes));
          } catch (e) {
            expect(isRelayError(e)).toBe(true);
            expect((e as { code: string }).code).not.toBe('RELAY_INTERNAL');
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('client MailboxSocket.send (relay.md §6.8)', () => {
  it('resolves when stored, duplicate on resend, and rejects a refusal with the relay code', async () => {
    const s = await ClientSocket.open({
      url: h.url,
      key: alice.key,
      signer: { kind: 'device', deviceId: 'alice-phone' },
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      onItems: () => {},
    });
    const m = await message();
    expect(await s.send(groupId, m.message, m.envelope)).toEqual({ result: 'stored', recipients: 1 });
    expect(await s.send(groupId, m.message, m.envelope)).toEqual({ result: 'duplicate', recipients: 0 });
    const bad = await message();
    const forged = bad.envelope.slice();
    forged[forged.length - 1]! ^= 1;
    const refused = await s.send(groupId, bad.message, forged).catch((e: unknown) => e);
    expect(isClientError(refused, 'RELAY_REFUSED') && refused.relayCode).toBe('ENV_MALFORMED');
    s.close();
    // The SDK's transport reads the mailbox item with its envelope inline (what sync() opens without a GET).
    const bobTransport = new RelayTransport({
      url: h.url,
      key: bob.key,
      signer: { kind: 'device', deviceId: 'bob-phone' },
    });
    const items = await bobTransport.mailbox(0, 100);
    const mine = items.find((i) => i.inline !== undefined && equalBytes(i.inline.messageId, m.messageId));
    expect(mine?.data).toEqual(m.message);
    expect(mine?.inline?.envelope).toEqual(m.envelope);
  });
});

describe('send frame codec', () => {
  it('round-trips and refuses every malformed frame with a RelayError (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.uint8Array({ minLength: 4, maxLength: 200 }),
        (requestId, gid, msg, env) => {
          const f = { requestId, groupId: gid, message: msg, envelope: env };
          expect(parseSendFrame(encodeSendFrame(f))).toEqual(f);
        },
      ),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          parseSendFrame(bytes);
        } catch (e) {
          expect((e as { code?: string }).code).toMatch(/^RELAY_(INVALID_BODY|BODY_TOO_LARGE)$/);
        }
      }),
    );
  });
});

describe('capsule check pool', () => {
  it('terminates its workers on close and refuses work afterwards', async () => {
    const pool = new CapsuleCheckPool({ size: 2 });
    await pool.ready();
    const garbage = () => ({
      envelope: randomBytes(10),
      orgId: ORG,
      epoch: EPOCH,
      epochKey,
      senderUserId: 'alice',
      senderDeviceId: utf8Encode('alice-phone'),
      senderKey: alice.key.publicKey,
      now: Date.now(),
      maxClockSkewMs: 60_000,
      maxPayloadBytes: 1 << 20,
      members: ['alice'],
    });
    const r = await pool.check(garbage());
    expect(r).toMatchObject({ ok: false, code: expect.stringMatching(/^ENVELOPE_/) });
    expect(pool.getStats()).toMatchObject({ checked: 1, batches: 1 });
    await pool.close();
    await expect(pool.check(garbage())).rejects.toThrow(/closed/);
  });
});
