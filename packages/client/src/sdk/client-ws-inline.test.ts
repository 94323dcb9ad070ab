// relay.md §6.8 / client.md §2.3 through the SDK: a message sent on the relay's WebSocket send path reaches an
// OvertClient's sync() with its envelope inline, and is opened from it without a GET of the envelope.
import {
  fromBase64,
  randomBytes,
  sealEnvelope,
  toBase64,
  toBase64Url,
  utf8Decode,
  utf8Encode,
} from '@overt/core';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ORG } from '../../test/relay-world.js';
import { useWorld } from '../../test/use-world.js';
import { Conversation } from '../mls/conversation.js';
import { createMlsIdentity } from '../mls/credential.js';
import { MailboxSocket, type WebSocketConstructor } from '../transport/mailbox-socket.js';
import { RelayTransport } from '../transport/relay-transport.js';

const w = useWorld();

describe('inline envelopes (relay.md §6.8)', () => {
  it('sync() opens a message sent on the WebSocket from the pushed envelope, without a GET', async () => {
    const envelopeGets: string[] = [];
    const fetchCounting: typeof fetch = (url, init) => {
      if (String(url).includes('/v1/envelopes/')) envelopeGets.push(String(url));
      return fetch(url, init);
    };
    const bob = await w.device('bob', 'bob-phone', undefined, { fetch: fetchCounting });
    await bob.client.publishKeyPackages(1);
    // Alice drives the relay directly: her own MLS group, her own send frames.
    const alice = await w.device('alice', 'alice-phone');
    const http = new RelayTransport({
      url: w.url,
      key: alice.key,
      signer: { kind: 'device', deviceId: 'alice-phone' },
    });
    const groupId = randomBytes(16);
    const conv = await Conversation.create(
      createMlsIdentity('alice', utf8Encode('alice-phone'), alice.key),
      { authenticate: () => true },
      groupId,
    );
    await http.request('POST', '/v1/groups', { groupId: toBase64Url(groupId) });
    const claim = (await http.request('POST', '/v1/users/bob/key-packages/claim')) as {
      keyPackages: { keyPackage: string }[];
    };
    const add = await conv.addMembers([fromBase64(claim.keyPackages[0]!.keyPackage)]);
    await http.request('POST', `/v1/groups/${toBase64Url(groupId)}/commits`, {
      commit: toBase64(add.commit),
      welcome: toBase64(add.welcome!),
    });
    await conv.mergePendingCommit();
    expect((await bob.client.sync()).map((e) => e.kind)).toContain('joined');

    const sealed = await sealEnvelope(
      {
        orgId: ORG,
        epoch: w.epoch,
        conversationId: groupId,
        senderUserId: 'alice',
        senderDeviceId: utf8Encode('alice-phone'),
        recipients: ['alice', 'bob'],
        messageId: randomBytes(16),
        sendTime: Date.now(),
        contentType: 'text/plain; charset=utf-8',
      },
      utf8Encode('hello over the socket'),
      w.epochKey,
      alice.key,
    );
    const mls = await conv.encrypt({
      messageId: sealed.header.messageId,
      contentKey: sealed.contentKey,
      seed: sealed.seed,
    });
    const socket = await MailboxSocket.open({
      url: w.url,
      key: alice.key,
      signer: { kind: 'device', deviceId: 'alice-phone' },
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      onItems: () => {},
    });
    expect(await socket.send(groupId, mls, sealed.envelope)).toEqual({ result: 'stored', recipients: 1 });
    socket.close();

    const events = await bob.client.sync();
    const msg = events.find((e) => e.kind === 'message');
    expect(msg !== undefined && msg.kind === 'message' && utf8Decode(msg.payload)).toBe(
      'hello over the socket',
    );
    expect(envelopeGets).toEqual([]);
  });

  it('a connected OvertClient sends small messages on its socket (one frame, no PUT or POST) and large ones over HTTP', async () => {
    const requests: string[] = [];
    const counting: typeof fetch = (url, init) => {
      requests.push(`${init?.method ?? 'GET'} ${new URL(String(url)).pathname}`);
      return fetch(url, init);
    };
    const gets: string[] = [];
    const getCounting: typeof fetch = (url, init) => {
      if (String(url).includes('/v1/envelopes/')) gets.push(String(url));
      return fetch(url, init);
    };
    const sender = await w.device('olga', 'olga-phone', undefined, {
      fetch: counting,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
    });
    const reader = await w.device('pavel', 'pavel-phone', undefined, { fetch: getCounting });
    await reader.client.publishKeyPackages(1);
    const { conversationId } = await sender.client.createConversation(['pavel']);
    expect((await reader.client.sync())[0]?.kind).toBe('joined');
    const socket = await sender.client.connect(() => {});
    try {
      requests.length = 0;
      await sender.client.sendText(conversationId, 'framed');
      expect(requests.filter((r) => r.startsWith('PUT /v1/envelopes') || r.endsWith('/messages'))).toEqual(
        [],
      );
      const got = await reader.client.sync();
      expect(got.map((e) => (e.kind === 'message' ? utf8Decode(e.payload) : e.kind))).toEqual(['framed']);
      expect(gets).toEqual([]);
      const big = randomBytes(600 * 1024);
      await sender.client.sendFile(conversationId, big, 'application/octet-stream');
      expect(requests.some((r) => r.startsWith('PUT /v1/envelopes'))).toBe(true);
      const file = await reader.client.sync();
      expect(file[0]?.kind === 'message' && file[0].payload).toEqual(big);
    } finally {
      socket.close();
    }
  });
});
