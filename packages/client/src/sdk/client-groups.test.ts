// docs/spec/client.md §4-§5 against a real relay: a group of 10, adding and removing members (the removed
// one can read nothing later), the key-transparency hook refusing a revoked device (A6, CLI-5), mailbox pushes over
// the WebSocket, and senders that skip or corrupt escrow — every recipient rejects their message (A5, CLI-1..3).
import {
  encodeEnvelope,
  fromBase64,
  generateSigningKey,
  randomBytes,
  sealCapsule,
  sealEnvelope,
  signSender,
  toBase64,
  utf8Encode,
} from '@overt/core';
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { expectClientError } from '../../test/expect-error.js';
import { type Device, ORG } from '../../test/relay-world.js';
import { texts, useWorld } from '../../test/use-world.js';
import { TEXT_CONTENT_TYPE, type WebSocketConstructor } from '../index.js';
import { createMlsIdentity } from '../mls/credential.js';
import { generateKeyPackage } from '../mls/keyPackage.js';

const w = useWorld();

async function group(prefix: string, n: number): Promise<{ devices: Device[]; conversationId: Uint8Array }> {
  const devices: Device[] = [];
  for (let i = 0; i < n; i++) devices.push(await w.device(`${prefix}${i}`, `${prefix}${i}-d`));
  await Promise.all(devices.slice(1).map((d) => d.client.publishKeyPackages(1)));
  const { conversationId, missing } = await devices[0]!.client.createConversation(
    devices.slice(1).map((d) => d.userId),
  );
  expect(missing).toEqual([]);
  const joins = await Promise.all(devices.slice(1).map((d) => d.client.sync()));
  for (const j of joins) expect(j.map((e) => e.kind)).toEqual(['joined']);
  return { devices, conversationId };
}

async function everyoneGets(devices: Device[], text: string): Promise<void> {
  const got = await Promise.all(devices.map((d) => d.client.sync()));
  for (const g of got) expect(texts(g)).toEqual([text]);
}

describe('groups', () => {
  it('a group of 10: every member receives every other member’s message', async () => {
    const { devices, conversationId } = await group('ten', 10);
    await devices[0]!.client.sendText(conversationId, 'from the creator');
    await everyoneGets(devices.slice(1), 'from the creator');
    await devices[7]!.client.sendText(conversationId, 'from member 7');
    await everyoneGets(
      devices.filter((_, i) => i !== 7),
      'from member 7',
    );
  });

  it('adds and removes members; the removed one cannot read later messages', async () => {
    const { devices, conversationId } = await group('ar', 3);
    const [ann, ben, cat] = devices as [Device, Device, Device];
    const dan = await w.device('ar-dan', 'ar-dan-d');
    await dan.client.publishKeyPackages(1);
    expect(await ann.client.addMembers(conversationId, ['ar-dan'])).toEqual([]);
    expect((await dan.client.sync()).map((e) => e.kind)).toEqual(['joined']);
    for (const d of [ben, cat]) {
      const [e] = await d.client.sync();
      expect(e).toMatchObject({ kind: 'membership', added: [{ userId: 'ar-dan' }], removedSelf: false });
    }

    await cat.client.removeMembers(conversationId, [ben.userId]);
    const [removed] = await ben.client.sync();
    expect(removed).toMatchObject({ kind: 'membership', removedSelf: true });
    for (const d of [ann, dan])
      expect((await d.client.sync())[0]).toMatchObject({ kind: 'membership', removedSelf: false });
    expect(ben.client.conversationIds()).toEqual([]);

    await ann.client.sendText(conversationId, 'after ben left');
    // The relay routes nothing to Ben; given the MLS message anyway, his state cannot open it; the envelope is
    // refused to him (his user is not among its recipients).
    const raw = (await dan.client.transport.mailbox(0)).find((i) => i.kind === 'message')!;
    expect(await ben.client.sync()).toEqual([]);
    await expectClientError(
      ben.client.conversation(conversationId).processIncoming(raw.data),
      'MLS_NOT_MEMBER',
    );
    const sent = await dan.client.sync();
    expect(texts(sent)).toEqual(['after ben left']);
    const messageId = (sent[0] as { messageId: Uint8Array }).messageId;
    const refused = await expectClientError(ben.client.transport.getEnvelope(messageId), 'RELAY_REFUSED');
    expect(refused.relayCode).toBe('ENV_FORBIDDEN');
    expect(texts(await cat.client.sync())).toEqual(['after ben left']);
  });

  it('the key-transparency hook refuses a device the directory does not list as active (A6, CLI-5)', async () => {
    const { devices, conversationId } = await group('kt', 2);
    const ghost = await w.device('kt1', 'kt1-ghost');
    await w.revoke(ghost);
    // A key package of the revoked device, handed to the adder by anyone (e.g. a relay that kept it).
    const kp = await generateKeyPackage(createMlsIdentity('kt1', utf8Encode('kt1-ghost'), ghost.key));
    await expectClientError(
      devices[0]!.client.conversation(conversationId).addMembers([kp.keyPackage]),
      'MLS_CREDENTIAL_REJECTED',
      'MLS-3',
    );
    // A never-enrolled key is refused too.
    const unknown = await generateKeyPackage(
      createMlsIdentity('kt1', utf8Encode('kt1-other'), generateSigningKey()),
    );
    await expectClientError(
      devices[0]!.client.conversation(conversationId).addMembers([unknown.keyPackage]),
      'MLS_CREDENTIAL_REJECTED',
    );
  });

  it('the mailbox socket wakes an online device when a message arrives', async () => {
    const { devices, conversationId } = await group('ws', 2);
    const [a, b] = devices as [Device, Device];
    const online = await w.reopen(b, {
      WebSocket: WebSocket as unknown as WebSocketConstructor,
    });
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => {
      wake = resolve;
    });
    const socket = await online.connect(() => wake());
    await a.client.sendText(conversationId, 'pushed');
    await woken;
    expect(texts(await online.sync())).toEqual(['pushed']);
    socket.close();
  });
});

describe('A5: a sender that skips or corrupts escrow is rejected by every recipient', () => {
  let devices: Device[];
  let conversationId: Uint8Array;

  beforeAll(async () => {
    ({ devices, conversationId } = await group('a5', 4));
  });

  /** The malicious sender: seals with core, uploads, and announces through its own MLS state. */
  async function sendForged(
    forge: (s: Awaited<ReturnType<typeof sealEnvelope>>) => {
      envelope: Uint8Array;
      seed?: Uint8Array;
    },
    conversation = conversationId,
  ): Promise<void> {
    const mallory = devices[0]!.client;
    const conv = mallory.conversation(conversationId);
    const sealed = await sealEnvelope(
      {
        orgId: ORG,
        epoch: w.epoch,
        conversationId: conversation,
        senderUserId: mallory.userId,
        senderDeviceId: utf8Encode(mallory.deviceId),
        recipients: [...new Set(conv.members().map((m) => m.userId))].sort(),
        messageId: randomBytes(16),
        sendTime: Date.now(),
        contentType: TEXT_CONTENT_TYPE,
      },
      utf8Encode('escrow-free'),
      w.epochKey,
      devices[0]!.key,
    );
    const f = forge(sealed);
    // The relay's public capsule check (RLY-13) passes: each forgery carries a well-formed capsule for its label.
    await mallory.transport.putEnvelope(sealed.header.messageId, f.envelope);
    const msg = await conv.encrypt({
      messageId: sealed.header.messageId,
      contentKey: sealed.contentKey,
      seed: f.seed ?? sealed.seed,
    });
    await mallory.transport.postMessage(conv.groupId, msg);
  }

  async function everyoneRejects(code: string, check: string): Promise<void> {
    for (const d of devices.slice(1)) {
      const events = await d.client.sync();
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ kind: 'rejected', item: 'message', code, check });
    }
  }

  it('a capsule that escrows another key (escrow skipped) is rejected (ENV-11)', async () => {
    await sendForged((s) => {
      // The sender signs its own forgery: the signature says who sent it, not that the escrow is sound.
      const capsule = sealCapsule(w.epochKey, randomBytes(32), s.label, randomBytes(32));
      return {
        envelope: encodeEnvelope(
          s.headerBytes,
          capsule,
          signSender(devices[0]!.key, s.label, capsule),
          s.envelope.subarray(s.head.length),
        ),
      };
    });
    await everyoneRejects('ENVELOPE_CAPSULE', 'ENV-11');
  });

  it('a seed in the MLS message that does not recompute the capsule is rejected (ENV-11)', async () => {
    await sendForged((s) => ({ envelope: s.envelope, seed: randomBytes(32) }));
    await everyoneRejects('ENVELOPE_CAPSULE', 'ENV-11');
  });

  it('an envelope labelled for another conversation is rejected (ENV-7)', async () => {
    // The relay stores an envelope only in a conversation of its sender (RLY-19, DS-5): take another real one
    // with the same members, and announce its envelope in this one.
    await Promise.all(devices.slice(1).map((d) => d.client.publishKeyPackages(1)));
    const { conversationId: other, missing } = await devices[0]!.client.createConversation(
      devices.slice(1).map((d) => d.userId),
    );
    expect(missing).toEqual([]);
    for (const d of devices.slice(1)) expect((await d.client.sync()).map((e) => e.kind)).toEqual(['joined']);
    await sendForged((s) => ({ envelope: s.envelope }), other);
    await everyoneRejects('ENVELOPE_CONTEXT', 'ENV-7');
    // A made-up conversation is refused by the relay before anyone sees it.
    const refused = await expectClientError(
      sendForged((s) => ({ envelope: s.envelope }), randomBytes(32)),
      'RELAY_REFUSED',
      'RLY-19',
    );
    expect(refused.relayCode).toBe('DS_GROUP_UNKNOWN');
  });

  it('a relay that changes the ciphertext is caught by the recipient (ENV-12, CLI-3)', async () => {
    const victim = devices[1]!;
    const tampering = await w.reopen(victim, {
      fetch: async (url, init) => {
        const res = await fetch(url, init);
        // The envelope as fetched alone, or as the catch-up page carries it (relay.md §6.9).
        const single = /\/v1\/envelopes\/[^/]+$/.test(url);
        if (!single && !url.includes('/v1/mailbox/catch-up')) return res;
        const body = await res.json();
        const flip = (env: { ciphertext?: string } | undefined) => {
          if (env?.ciphertext === undefined) return;
          const ct = fromBase64(env.ciphertext);
          ct[0]! ^= 1;
          env.ciphertext = toBase64(ct);
        };
        if (single) flip(body);
        else for (const i of body.items) flip(i.envelope);
        return new Response(JSON.stringify(body), {
          status: res.status,
          headers: { 'content-type': 'application/json' },
        });
      },
    });
    await devices[0]!.client.sendText(conversationId, 'tampered in transit');
    const events = await tampering.sync();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: 'rejected', code: 'ENVELOPE_DIGEST', check: 'ENV-12' });
    for (const d of devices.slice(2)) expect(texts(await d.client.sync())).toEqual(['tampered in transit']);
  });

  it('honest messages still go through afterwards', async () => {
    await devices[0]!.client.sendText(conversationId, 'honest');
    await everyoneGets(devices.slice(1), 'honest');
  });
});
