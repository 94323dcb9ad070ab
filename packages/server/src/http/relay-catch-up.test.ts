// docs/spec/relay.md §6.9, catch-up reads, against a real relay with its DEFAULT rate limits: a device that was
// offline while 200+ messages arrived catches up in a handful of requests (items, envelopes and stamps in pages
// bounded by count and bytes), never hitting RLY-5; blob-backed envelopes come head-only; a device whose user is
// not a recipient gets no envelope (RLY-9) even when storage links one; a message links only its sender's own
// envelope of the same conversation (CU-1).
import {
  Conversation,
  createMlsIdentity,
  generateKeyPackage,
  isClientError,
  type MlsIdentity,
  RelayTransport,
  sealAndPut,
} from '@overt/client';
import {
  concatBytes,
  decodeEnvelope,
  type Element,
  encodeEnvelopeHead,
  equalBytes,
  fromBase64,
  fromBase64Url,
  randomBytes,
  sealEnvelope,
  toBase64,
  toBase64Url,
  utf8Encode,
  verifyStamp,
} from '@overt/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Device,
  type Harness,
  MailboxSocket,
  publishEpochKey,
  type Response,
  startHarness,
  textFields,
} from '../../test/harness.js';
import { calendarMonthEpoch } from '../epochs.js';
import { encodeSendFrame } from '../ingest/frames.js';

let h: Harness;
let alice: Device;
let bob: Device;
let carol: Device;
let epochKey: Element;
let aliceConv: Conversation;
let bobBundle: Awaited<ReturnType<typeof generateKeyPackage>>;
let groupId: Uint8Array;
/** How far the relay's clock runs ahead of the wall clock: advanced only to refill the SENDER's bucket. */
let skew = 0;
const EPOCH = calendarMonthEpoch(Date.now());
const options = { authenticate: () => true };
/** What alice sent, in order: message id → the envelope bytes (head ‖ ciphertext, or the head for a blob). */
const sent: { messageId: Uint8Array; envelope: Uint8Array; blob: boolean }[] = [];
let blobCiphertext: Uint8Array;

function identity(d: Device): MlsIdentity {
  return createMlsIdentity(d.userId, utf8Encode(d.deviceId), d.key);
}

/**
 * Runs one of alice's requests; when her bucket is empty (429 RLY-5), the relay's clock is moved on by the
 * Retry-After so the bucket refills, and the request is sent again. Only the sender is helped this way: the
 * reader's catch-up below runs at a fixed clock with the default limits.
 */
async function paced<T>(send: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      const r = await send();
      const status = (r as Partial<Response> | undefined)?.status;
      if (status !== 429) return r;
    } catch (e) {
      if (!isClientError(e, 'RELAY_REFUSED') || e.status !== 429) throw e;
    }
    skew += 6_000;
  }
}

function transport(d: Device, fetchFn?: (url: string, init: RequestInit) => Promise<globalThis.Response>) {
  return new RelayTransport({
    url: h.url,
    key: d.key,
    signer: { kind: 'device', deviceId: d.deviceId },
    now: () => Date.now() + skew,
    ...(fetchFn ? { fetch: fetchFn } : {}),
  });
}

/** One text message from alice over HTTP: PUT the envelope, POST the MLS message linked to it (CU-1). */
async function sendHttp(t: RelayTransport, payload = randomBytes(120)): Promise<void> {
  const sealed = await sealEnvelope(
    textFields(EPOCH, { conversationId: groupId, sendTime: Date.now() + skew }),
    payload,
    epochKey,
    alice.key,
  );
  await paced(() => t.putEnvelope(sealed.header.messageId, sealed.envelope));
  const mls = await aliceConv.encrypt({
    messageId: sealed.header.messageId,
    contentKey: sealed.contentKey,
    seed: sealed.seed,
  });
  await paced(() => t.postMessage(groupId, mls, sealed.header.messageId));
  sent.push({ messageId: sealed.header.messageId, envelope: sealed.envelope, blob: false });
}

beforeAll(async () => {
  h = await startHarness({ now: () => Date.now() + skew });
  alice = await h.enrol('alice', 'alice-phone');
  bob = await h.enrol('bob', 'bob-phone');
  carol = await h.enrol('carol', 'carol-phone');
  const published = await publishEpochKey(h.admin, h.adminKey, EPOCH);
  expect(published.response.status).toBe(201);
  epochKey = published.epochKey;
  bobBundle = await generateKeyPackage(identity(bob));
  await bob.request('POST', '/v1/key-packages', { keyPackages: [toBase64(bobBundle.keyPackage)] });
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

  // Bob is offline. Alice sends 160 messages over HTTP (two requests each), 50 on her mailbox socket, and one
  // file through a chunked blob: 211 messages, about 400 requests from her.
  const t = transport(alice);
  for (let i = 0; i < 160; i++) await sendHttp(t);
  // 320 requests against alice's bucket (capacity 120, 20 per second): on a fast machine the loop outruns the
  // refill (its own requests are retried after retryAfter by the transport). Wait as a client told retryAfter
  // would, so that the socket and its 50 sends find tokens again.
  await new Promise((r) => setTimeout(r, 3_000));
  let socket = await MailboxSocket.open(h.url, alice);
  for (let attempt = 0; ; attempt++) {
    await socket.waitFor((f) => f.some((x) => x.type === 'ready' || x.code === 'RELAY_RATE_LIMITED'));
    if (socket.frames.some((x) => x.type === 'ready') || attempt === 5) break;
    await socket.close();
    await new Promise((r) => setTimeout(r, 1_000));
    socket = await MailboxSocket.open(h.url, alice);
  }
  await socket.waitFor((f) => f.some((x) => x.type === 'ready'));
  for (let i = 0; i < 50; i++) {
    const sealed = await sealEnvelope(
      textFields(EPOCH, { conversationId: groupId, sendTime: Date.now() + skew }),
      randomBytes(120),
      epochKey,
      alice.key,
    );
    const mls = await aliceConv.encrypt({
      messageId: sealed.header.messageId,
      contentKey: sealed.contentKey,
      seed: sealed.seed,
    });
    for (let attempt = 0; ; attempt++) {
      const requestId = 1000 * attempt + i;
      socket.ws.send(encodeSendFrame({ requestId, groupId, message: mls, envelope: sealed.envelope }));
      await socket.waitFor((f) => f.some((x) => (x as { id?: number }).id === requestId), 20_000);
      const answer = socket.frames.find((x) => (x as { id?: number }).id === requestId) as {
        type: string;
        code?: string;
      };
      if (answer.type === 'sent') break;
      expect(answer.code).toBe('RELAY_RATE_LIMITED');
      skew += 6_000;
    }
    sent.push({ messageId: sealed.header.messageId, envelope: sealed.envelope, blob: false });
  }
  await socket.close();
  // A file above the inline limit: its ciphertext goes into a blob, the envelope is PUT head-only.
  const fileFields = textFields(EPOCH, {
    conversationId: groupId,
    sendTime: Date.now() + skew,
    contentType: 'application/octet-stream',
  });
  const file = randomBytes(200_000);
  skew += 10_000; // a full bucket for the upload's few requests
  const head = await sealAndPut(t, fileFields, file, epochKey, alice.key, {
    inlineMax: 64 * 1024,
    blobChunkSize: 64 * 1024,
  });
  const mls = await aliceConv.encrypt({
    messageId: head.header.messageId,
    contentKey: head.contentKey,
    seed: head.seed,
  });
  await paced(() => t.postMessage(groupId, mls, head.header.messageId));
  const stored = (await h.relay.storage.getEnvelope(head.header.messageId))!;
  expect(stored.blobId).not.toBeNull();
  const blobChunks: Uint8Array[] = [];
  const blob = (await h.relay.storage.getBlob(stored.blobId!))!;
  for (let i = 0; i < Math.ceil(blob.size / blob.chunkSize); i++)
    blobChunks.push((await h.relay.storage.readBlobChunk(stored.blobId!, i))!);
  blobCiphertext = concatBytes(...blobChunks);
  sent.push({
    messageId: head.header.messageId,
    envelope: encodeEnvelopeHead(stored.header, stored.capsule, stored.signature),
    blob: true,
  });
  // Full buckets again for the address (shared by every test client on 127.0.0.1), not for bob: his is untouched.
  skew += 10_000;
}, 240_000);
afterAll(async () => {
  await h?.close();
});

describe('catch-up reads (relay.md §6.9)', () => {
  it('pages are bounded by item count and by bytes, consecutive, and say whether more wait', async () => {
    const t = transport(bob);
    // By count: 212 items (the Welcome and 211 messages) in pages of 50.
    const sizes: number[] = [];
    const seqs: number[] = [];
    let after = 0;
    for (;;) {
      const page = await t.catchUp(after, { limit: 50 });
      sizes.push(page.items.length);
      seqs.push(...page.items.map((i) => i.seq));
      after = page.items[page.items.length - 1]!.seq;
      expect(page.more).toBe(sizes.length < 5);
      if (!page.more) break;
    }
    expect(sizes).toEqual([50, 50, 50, 50, 12]);
    expect(seqs).toEqual(Array.from({ length: 212 }, (_, i) => i + 1));
    // By bytes: the smallest budget (64 KiB); every page stays within it, except a page of one item.
    let pages = 0;
    after = 0;
    const budget = 64 * 1024;
    for (;;) {
      const page = await t.catchUp(after, { maxBytes: budget });
      pages++;
      const bytes = page.items.reduce(
        (n, i) =>
          n +
          i.data.length +
          (i.envelope === undefined ? 0 : i.envelope.head.length - 4 + (i.envelope.ciphertext?.length ?? 0)),
        0,
      );
      if (page.items.length > 1) expect(bytes).toBeLessThanOrEqual(budget);
      after = page.items[page.items.length - 1]!.seq;
      if (!page.more) break;
    }
    expect(after).toBe(212);
    expect(pages).toBeGreaterThan(2);
    expect(pages).toBeLessThan(10);
    // Bounds outside the documented ranges are refused (RLY-2), and nothing was acknowledged by reading.
    for (const q of ['limit=0', 'limit=1001', 'maxBytes=1000', `maxBytes=${8 * 1024 * 1024 + 1}`, 'x=1'])
      await expect(t.request('GET', `/v1/mailbox/catch-up?${q}`)).rejects.toMatchObject({
        relayCode: 'RELAY_INVALID_PARAMS',
        check: 'RLY-2',
      });
    expect((await t.catchUp(0, { limit: 1 })).items[0]!.seq).toBe(1);
  });

  it('211 pending messages come with their envelopes and stamps in one page, within the default rate limits', async () => {
    const requests: string[] = [];
    const statuses: number[] = [];
    const t = transport(bob, async (url, init) => {
      requests.push(`${init.method} ${new URL(url).pathname}`);
      const res = await fetch(url, init);
      statuses.push(res.status);
      return res;
    });
    // The whole catch-up: pages until `more` is false, then one acknowledgement.
    const items = [];
    let after = 0;
    for (;;) {
      const page = await t.catchUp(after);
      items.push(...page.items);
      if (page.items.length > 0) after = page.items[page.items.length - 1]!.seq;
      if (!page.more) break;
    }
    await t.ack(after);
    expect(requests).toEqual(['GET /v1/mailbox/catch-up', 'POST /v1/mailbox/ack']);
    expect(statuses.every((s) => s === 200)).toBe(true);

    // The Welcome, then every message in order, each with its envelope byte for byte.
    expect(items[0]!.kind).toBe('welcome');
    expect(items[0]!.envelope).toBeUndefined();
    const messages = items.slice(1);
    expect(messages).toHaveLength(sent.length);
    expect(messages.map((m) => m.seq)).toEqual(messages.map((_, i) => i + 2));
    const { conversation: bobConv } = await Conversation.join(
      identity(bob),
      items[0]!.data,
      [bobBundle],
      options,
    );
    for (const [i, m] of messages.entries()) {
      const want = sent[i]!;
      const e = m.envelope!;
      expect(equalBytes(e.messageId, want.messageId)).toBe(true);
      // The item's MLS message announces exactly this envelope: bob can open every message from this page.
      const incoming = await bobConv.processIncoming(m.data);
      expect(incoming.kind).toBe('application');
      if (incoming.kind === 'application')
        expect(equalBytes(incoming.payload.messageId, e.messageId)).toBe(true);
      if (want.blob) {
        // Head-only, with the blob's geometry; the chunks are fetched separately (RLY-9 applies to them too).
        expect(e.ciphertext).toBeUndefined();
        expect(m.inline).toBeUndefined();
        const chunks = Math.ceil(blobCiphertext.length / (64 * 1024));
        expect(e.blob).toEqual({ size: blobCiphertext.length, chunkSize: 64 * 1024, chunks });
        expect(equalBytes(e.head, want.envelope)).toBe(true);
        const chunk = await t.getEnvelopeChunk(e.messageId, chunks - 1);
        expect(equalBytes(chunk, blobCiphertext.subarray((chunks - 1) * 64 * 1024))).toBe(true);
      } else {
        expect(equalBytes(concatBytes(e.head, e.ciphertext!), want.envelope)).toBe(true);
        // The receive path's pushed form, too.
        expect(equalBytes(m.inline!.envelope, want.envelope)).toBe(true);
      }
      // The relay's franking stamp verifies under its key for this header (relay.md §10.1).
      const opened = decodeEnvelope(want.blob ? concatBytes(e.head, blobCiphertext) : want.envelope);
      expect(verifyStamp(opened.header, opened.label, e.stamp!, h.frankingKey!.publicKey)).toBe(
        (await h.relay.storage.getEnvelope(want.messageId))!.receivedAt,
      );
    }
    // Acknowledged: nothing more to read.
    expect(await t.catchUp(after)).toEqual({ items: [], more: false });
    expect(await t.catchUp(0)).toEqual({ items: [], more: false });
  });

  it('a device that is not a recipient gets no envelope, not even one storage links to its item (RLY-9)', async () => {
    const c = transport(carol);
    // Carol is in none of alice's conversations: her catch-up is empty.
    expect(await c.catchUp(0)).toEqual({ items: [], more: false });
    // A group of bob's with carol in it, and a message whose item storage links to one of alice's envelopes
    // (recipients alice and bob) — as a bug or a tampered database would. The relay serves the item, not the
    // envelope, and the GET refuses it.
    const g2 = randomBytes(16);
    await h.relay.storage.createGroup(g2, 'bob-phone', Date.now());
    await h.relay.storage.acceptCommit({
      groupId: g2,
      epoch: 0,
      senderDeviceId: 'bob-phone',
      commit: randomBytes(40),
      adds: ['carol-phone'],
      removes: [],
      welcome: randomBytes(40),
      now: Date.now(),
    });
    const foreign = sent[0]!.messageId;
    await h.relay.storage.postGroupMessage({
      groupId: g2,
      epoch: 1,
      senderDeviceId: 'bob-phone',
      message: randomBytes(60),
      now: Date.now(),
      envelopeId: foreign,
    });
    const page = await c.catchUp(0);
    expect(page.items.map((i) => i.kind)).toEqual(['welcome', 'message']);
    expect(page.items.every((i) => i.envelope === undefined && i.inline === undefined)).toBe(true);
    await expect(c.getEnvelope(foreign)).rejects.toMatchObject({
      relayCode: 'ENV_FORBIDDEN',
      check: 'RLY-9',
    });
  });

  it('CU-1: a message links only an envelope its sender stored for that conversation, else nothing is posted', async () => {
    const a = transport(alice);
    const b = transport(bob);
    const before = await h.relay.storage.lastMailboxSeq('bob-phone');
    const mls = async (messageId: Uint8Array) =>
      aliceConv.encrypt({ messageId, contentKey: randomBytes(32), seed: randomBytes(32) });
    // Unknown envelope.
    const unknown = randomBytes(16);
    await expect(a.postMessage(groupId, await mls(unknown), unknown)).rejects.toMatchObject({
      relayCode: 'ENV_NOT_FOUND',
      check: 'CU-1',
    });
    // Bob's envelope in this conversation, linked by alice.
    const bobs = await sealEnvelope(
      textFields(EPOCH, {
        conversationId: groupId,
        senderUserId: 'bob',
        senderDeviceId: utf8Encode('bob-phone'),
        sendTime: Date.now() + skew,
      }),
      randomBytes(50),
      epochKey,
      bob.key,
    );
    await b.putEnvelope(bobs.header.messageId, bobs.envelope);
    await expect(
      a.postMessage(groupId, await mls(bobs.header.messageId), bobs.header.messageId),
    ).rejects.toMatchObject({ relayCode: 'ENV_CONTEXT', check: 'CU-1' });
    // Alice's own envelope of another real conversation (a made-up one is refused at upload, RLY-19).
    const other = toBase64Url(randomBytes(16));
    await alice.request('POST', '/v1/groups', { groupId: other });
    const elsewhere = await sealEnvelope(
      textFields(EPOCH, {
        conversationId: fromBase64Url(other),
        recipients: ['alice'],
        sendTime: Date.now() + skew,
      }),
      randomBytes(50),
      epochKey,
      alice.key,
    );
    await a.putEnvelope(elsewhere.header.messageId, elsewhere.envelope);
    await expect(
      a.postMessage(groupId, await mls(elsewhere.header.messageId), elsewhere.header.messageId),
    ).rejects.toMatchObject({ relayCode: 'ENV_CONTEXT', check: 'CU-1' });
    // Malformed ids are refused by the schema (RLY-2). Nothing reached bob's mailbox.
    await expect(
      a.request('POST', `/v1/groups/${toBase64Url(groupId)}/messages`, {
        message: toBase64(await mls(unknown)),
        messageId: 'not-an-id',
      }),
    ).rejects.toMatchObject({ relayCode: 'RELAY_INVALID_BODY', check: 'RLY-2' });
    expect(await h.relay.storage.lastMailboxSeq('bob-phone')).toBe(before);
  });

  it('a linked message that lost the epoch race is refused as DS-3 (so the sender retries), not as CU-1', async () => {
    const a = transport(alice);
    const sealed = await sealEnvelope(
      textFields(EPOCH, { conversationId: groupId, sendTime: Date.now() + skew }),
      randomBytes(50),
      epochKey,
      alice.key,
    );
    await a.putEnvelope(sealed.header.messageId, sealed.envelope);
    const mls = await aliceConv.encrypt({
      messageId: sealed.header.messageId,
      contentKey: sealed.contentKey,
      seed: sealed.seed,
    });
    // Another member's commit lands first and adds carol: the envelope's recipients are no longer the roster.
    const group = (await h.relay.storage.getGroup(groupId))!;
    await h.relay.storage.acceptCommit({
      groupId,
      epoch: group.epoch,
      senderDeviceId: 'bob-phone',
      commit: randomBytes(40),
      adds: ['carol-phone'],
      removes: [],
      welcome: randomBytes(40),
      now: Date.now(),
    });
    await expect(a.postMessage(groupId, mls, sealed.header.messageId)).rejects.toMatchObject({
      relayCode: 'DS_EPOCH_MISMATCH',
      check: 'DS-3',
    });
  });
});
