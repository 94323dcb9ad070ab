// DESIGN A15, "an envelope attributed to someone who never sent it", attacked against real processes: a real relay
// (HTTP and WebSocket), a real log sequencer and two real witness daemons (relay-world.ts), clients that check
// everything against the witnessed log. (a) a device outside the conversation stores an envelope "to bob" over
// HTTP and over the WebSocket: refused by the ingest rules (RLY-19, DS-5), bob never sees it; (b) the relay forges
// an envelope "alice → bob" — a valid capsule from the public epoch key, signed with a key that is not alice's, or
// not signed — writes it straight into its storage and has it delivered (a colluding member shares it as
// history): bob's device refuses it (ENV-21) and `verifySenderSignature` against alice's device key on the log
// refuses it (ENV-22); (c) the relay swaps the capsule of alice's real envelope for another valid capsule under
// the same label: refused (ENV-21, ENV-22). Then the recipient's time checks (client.md §4.3): an epoch that is not
// the send time's month (CLI-8) and a send time too far from the relay's stamp time (CLI-9).
import {
  calendarMonthEpoch,
  decodeCapsule,
  decodeEnvelopeHead,
  type Element,
  encodeCapsule,
  encodeEnvelopeHead,
  fromBase64,
  generateSigningKey,
  group,
  type HeaderFields,
  randomBytes,
  randomNonZeroScalar,
  type SealedEnvelope,
  type SigningKeyPair,
  sealCapsule,
  sealEnvelope,
  toBase64,
  utf8Encode,
  verifyCapsule,
  verifySenderSignature,
} from '@overt/core';
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { expectClientError } from '../../test/expect-error.js';
import { type Device, ORG } from '../../test/relay-world.js';
import { texts, useWorld } from '../../test/use-world.js';
import {
  type ClientEvent,
  type OvertClient,
  TEXT_CONTENT_TYPE,
  type WebSocketConstructor,
} from '../index.js';
import { Conversation } from '../mls/conversation.js';
import { createMlsIdentity } from '../mls/credential.js';
import { encodeHistoryPart, type HistoryPart } from '../mls/history.js';
import { MailboxSocket } from '../transport/mailbox-socket.js';
import { keptHistoryRecords } from './history.js';

const w = useWorld();

let alice: Device;
let bob: Device;
let mallory: Device;
/** bob's phone's session: replaced by a reopened one in (c). */
let bobNow: OvertClient;
/** alice's, bob's and mallory's conversation, sharing history (client.md §4.6). */
let conversationId: Uint8Array;

beforeAll(async () => {
  alice = await w.device('alice', 'alice-phone');
  bob = await w.device('bob', 'bob-phone');
  mallory = await w.device('mallory', 'mallory-phone');
  await bob.client.publishKeyPackages(2);
  await mallory.client.publishKeyPackages(2);
  const created = await alice.client.createConversation([bob.userId, mallory.userId], { history: 'shared' });
  expect(created.missing).toEqual([]);
  conversationId = created.conversationId;
  for (const d of [bob, mallory]) expect((await d.client.sync()).map((e) => e.kind)).toEqual(['joined']);
  bobNow = bob.client;
});

function fieldsOf(sender: Device, extra: Partial<HeaderFields> = {}): HeaderFields {
  const users = alice.client.members(conversationId).map((m) => m.userId);
  return {
    orgId: ORG,
    epoch: w.epoch,
    conversationId,
    senderUserId: sender.userId,
    senderDeviceId: utf8Encode(sender.deviceId),
    recipients: [...new Set(users)].sort(),
    messageId: randomBytes(16),
    sendTime: Date.now(),
    contentType: TEXT_CONTENT_TYPE,
    ...extra,
  };
}

/** What a relay that bypasses its own checks does: writes an envelope straight into its storage. */
async function writeIntoRelayStorage(
  sealed: SealedEnvelope,
  signature: Uint8Array,
  receivedAt = Date.now(),
): Promise<void> {
  const h = sealed.header;
  const record: Parameters<typeof w.h.relay.storage.putEnvelope>[0] = {
    messageId: h.messageId,
    orgId: h.orgId,
    epoch: h.epoch,
    conversationId: h.conversationId,
    senderUserId: h.senderUserId,
    senderDeviceId: new TextDecoder().decode(h.senderDeviceId),
    sendTime: h.sendTime,
    header: sealed.headerBytes,
    capsule: sealed.capsule,
    signature,
    ciphertext: sealed.envelope.subarray(sealed.head.length),
    blobId: null,
    receivedAt,
  };
  expect(await w.h.relay.storage.putEnvelope(record)).toBe('stored');
}

/** Announces an envelope's (id, K, seed) in the conversation through `d`'s own MLS state. */
async function announce(d: Device, sealed: SealedEnvelope): Promise<void> {
  const conv = d.client.conversation(conversationId);
  const msg = await conv.encrypt({
    messageId: sealed.header.messageId,
    contentKey: sealed.contentKey,
    seed: sealed.seed,
  });
  await d.client.transport.postMessage(conversationId, msg);
}

/** alice's identity key as the witnessed log gives it (what a trustee or requester checks against, REL-5). */
function aliceKeyOnLog(): Promise<Uint8Array> {
  return bob.client.kt.deviceKey('alice', utf8Encode('alice-phone'));
}

function summary(events: ClientEvent[]): string[] {
  return events.map((e) => (e.kind === 'rejected' ? `${e.item}:${e.code}:${e.check}` : e.kind));
}

describe('(a) a device outside the conversation cannot store an envelope "to bob"', () => {
  it('over HTTP: a made-up conversation (RLY-19) and a real one it is not in (DS-5) are refused; bob sees nothing', async () => {
    const outsider = await w.device('eve', 'eve-phone');
    const madeUp = await sealEnvelope(
      fieldsOf(outsider, { conversationId: randomBytes(16), recipients: ['bob', 'eve'] }),
      utf8Encode('bob, it is alice, trust me'),
      w.epochKey,
      outsider.key,
    );
    const refused = await expectClientError(
      outsider.client.transport.putEnvelope(madeUp.header.messageId, madeUp.envelope),
      'RELAY_REFUSED',
      'RLY-19',
    );
    expect(refused.relayCode).toBe('DS_GROUP_UNKNOWN');
    const intruding = await sealEnvelope(
      fieldsOf(outsider, { recipients: ['alice', 'bob', 'eve', 'mallory'] }),
      utf8Encode('hello from outside'),
      w.epochKey,
      outsider.key,
    );
    const notMember = await expectClientError(
      outsider.client.transport.putEnvelope(intruding.header.messageId, intruding.envelope),
      'RELAY_REFUSED',
      'DS-5',
    );
    expect(notMember.relayCode).toBe('DS_NOT_MEMBER');
    for (const s of [madeUp, intruding]) {
      expect(await w.h.relay.storage.getEnvelope(s.header.messageId)).toBeUndefined();
      const nf = await expectClientError(
        bob.client.transport.getEnvelope(s.header.messageId),
        'RELAY_REFUSED',
      );
      expect(nf.relayCode).toBe('ENV_NOT_FOUND');
    }
    expect(await bob.client.sync()).toEqual([]);
  });

  it('over the WebSocket: the same envelope with a real MLS message of its own made-up group is refused (RLY-19)', async () => {
    const outsider = await w.device('eve2', 'eve2-phone');
    const group = randomBytes(16);
    // A real MLS group of the outsider's own, never registered on the relay: its application message frames it.
    const own = await Conversation.create(
      createMlsIdentity('eve2', utf8Encode('eve2-phone'), outsider.key),
      { authenticate: () => true },
      group,
    );
    const sealed = await sealEnvelope(
      fieldsOf(outsider, { conversationId: group, recipients: ['bob', 'eve2'] }),
      utf8Encode('bob, it is alice, trust me'),
      w.epochKey,
      outsider.key,
    );
    const mls = await own.encrypt({
      messageId: sealed.header.messageId,
      contentKey: sealed.contentKey,
      seed: sealed.seed,
    });
    const socket = await MailboxSocket.open({
      url: w.url,
      key: outsider.key,
      signer: { kind: 'device', deviceId: 'eve2-phone' },
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      onItems: () => {},
    });
    try {
      const refused = await expectClientError(
        socket.send(group, mls, sealed.envelope),
        'RELAY_REFUSED',
        'RLY-19',
      );
      expect(refused.relayCode).toBe('DS_GROUP_UNKNOWN');
    } finally {
      socket.close();
    }
    expect(await w.h.relay.storage.getEnvelope(sealed.header.messageId)).toBeUndefined();
    expect(await bob.client.sync()).toEqual([]);
  });
});

describe('(b) a relay-forged envelope "alice → bob" is refused by bob and by the trustee check', () => {
  it('signed with another key, or not signed, written into relay storage and shared as history: ENV-21; on the log: ENV-22', async () => {
    // An honest message of alice first: the record mallory holds, and the control for the log check.
    await alice.client.sendText(conversationId, 'honest');
    for (const d of [bob, mallory]) expect(texts(await d.client.sync())).toEqual(['honest']);
    const [honest] = await keptHistoryRecords(mallory.store, conversationId);
    const honestEnvelope = await bob.client.transport.getEnvelope(honest!.messageId);
    const aliceKey = await aliceKeyOnLog();
    expect(aliceKey).toEqual(alice.key.publicKey);
    verifySenderSignature(honestEnvelope.head, aliceKey);

    // The relay builds "alice → bob" envelopes: it needs only the public epoch key Y for a valid capsule.
    const relayKey: SigningKeyPair = generateSigningKey();
    const forged: SealedEnvelope[] = [];
    for (const signature of ['relay key', 'none']) {
      const sealed = await sealEnvelope(
        fieldsOf(alice),
        utf8Encode(`I, alice, confess (${signature})`),
        w.epochKey,
        relayKey,
      );
      expect(() => verifyCapsule(w.epochKey, decodeCapsule(sealed.capsule), sealed.label)).not.toThrow();
      await writeIntoRelayStorage(sealed, signature === 'none' ? new Uint8Array(64) : sealed.signature);
      const stored = await bob.client.transport.getEnvelope(sealed.header.messageId);
      // A trustee or requester checks the signature against alice's device key on the log (release rule 5).
      await expectOvertCheck(
        () => verifySenderSignature(stored.head, aliceKey),
        'ENVELOPE_SIGNATURE',
        'ENV-22',
      );
      forged.push(sealed);
    }

    // Delivery: mallory, colluding with the relay, adds bob's new laptop (sharing the history she holds: the honest
    // message), then shares the forged records as history too.
    const laptop = await w.device('bob', 'bob-laptop');
    await laptop.client.publishKeyPackages(1);
    expect(await mallory.client.addMembers(conversationId, ['bob'])).toEqual([]);
    expect(summary(await laptop.client.sync())).toEqual(['joined', 'message']);
    for (const d of [alice, bob]) expect(summary(await d.client.sync())).toEqual(['membership']);
    const conv = mallory.client.conversation(conversationId);
    const part: HistoryPart = {
      bundleId: randomBytes(16),
      forEpoch: Number(conv.epoch),
      partIndex: 0,
      partCount: 1,
      audience: ['bob'],
      records: forged.map((s) => ({ messageId: s.header.messageId, contentKey: s.contentKey, seed: s.seed })),
    };
    const encryptData = (conv as unknown as { encryptData(e: () => Uint8Array): Promise<Uint8Array> })
      .encryptData;
    const msg = await encryptData.call(conv, () => encodeHistoryPart(part));
    await mallory.client.transport.postMessage(conversationId, msg);
    expect(summary(await laptop.client.sync())).toEqual([
      'history:ENVELOPE_SIGNATURE:ENV-21',
      'history:ENVELOPE_SIGNATURE:ENV-21',
    ]);
  });
});

describe('(c) a relay swaps the capsule of a real envelope for another valid capsule under the same label', () => {
  it('bob refuses it (ENV-21) and so does the trustee check (ENV-22); the unswapped copy still opens', async () => {
    let swapped: Uint8Array | undefined;
    let swapping = true;
    // bob's phone, reopened with a relay that swaps the capsule in what it serves.
    bobNow = await w.reopen(bob, {
      fetch: async (url, init) => {
        const res = await fetch(url, init);
        // What it serves: the envelope alone, or in a catch-up page (relay.md §6.9).
        const single = /\/v1\/envelopes\/[^/]+$/.test(url);
        if (!swapping || !(single || url.includes('/v1/mailbox/catch-up')) || res.status !== 200) return res;
        const body = await res.json();
        const swap = (env: { head: string } | undefined) => {
          if (env === undefined) return;
          const head = decodeEnvelopeHead(fromBase64(env.head));
          // Valid for the label under Y (the trustees' capsule check passes), but escrowing the relay's key.
          const capsule = sealCapsule(w.epochKey, randomBytes(32), head.label, randomBytes(32));
          expect(encodeCapsule(verifyCapsule(w.epochKey, decodeCapsule(capsule), head.label))).toEqual(
            capsule,
          );
          swapped = encodeEnvelopeHead(head.headerBytes, capsule, head.signature);
          env.head = toBase64(swapped);
        };
        if (single) swap(body);
        else for (const i of body.items) swap(i.envelope);
        return new Response(JSON.stringify(body), {
          status: 200,
          headers: { 'content-type': 'application/json' },
        });
      },
    });
    await alice.client.sendText(conversationId, 'the real one');
    const events = await bobNow.sync();
    swapping = false;
    expect(summary(events)).toEqual(['message:ENVELOPE_SIGNATURE:ENV-21']);
    await expectOvertCheck(
      async () => verifySenderSignature(swapped!, await aliceKeyOnLog()),
      'ENVELOPE_SIGNATURE',
      'ENV-22',
    );
    expect(texts(await mallory.client.sync())).toEqual(['the real one']);
  });
});

describe('recipient time checks (client.md §4.3)', () => {
  /** mallory seals with `extra`, the relay stores it bypassing its checks at `receivedAt`, mallory announces it. */
  async function smuggle(extra: Partial<HeaderFields>, key: Element, receivedAt = Date.now()) {
    const sealed = await sealEnvelope(fieldsOf(mallory, extra), utf8Encode('when?'), key, mallory.key);
    await writeIntoRelayStorage(sealed, sealed.signature, receivedAt);
    await announce(mallory, sealed);
    return sealed;
  }

  it('CLI-8: an epoch that is not the calendar month of the send time is refused (the relay would say RLY-11)', async () => {
    // Sent now, naming a later month (and sealed to a key the recipient never needs to fetch: refused first).
    await smuggle({ epoch: calendarMonthEpoch(Date.now()) + 2 }, group.baseMul(randomNonZeroScalar()));
    for (const c of [alice.client, bobNow])
      expect(summary(await c.sync())).toEqual(['message:SDK_ENVELOPE_TIME:CLI-8']);
  });

  it('CLI-9: a live send time further than 5 minutes from the relay stamp time is refused; within it, accepted', async () => {
    const later = Date.now() + 10 * 60_000;
    await smuggle({ epoch: calendarMonthEpoch(later), sendTime: later }, await epochKeyOf(later));
    for (const c of [alice.client, bobNow])
      expect(summary(await c.sync())).toEqual(['message:SDK_ENVELOPE_TIME:CLI-9']);
    const close = Date.now() + 4 * 60_000;
    await smuggle({ epoch: calendarMonthEpoch(close), sendTime: close }, await epochKeyOf(close));
    for (const c of [alice.client, bobNow]) expect(texts(await c.sync())).toEqual(['when?']);
  });
});

/** The epoch key of the month of `t`: the world publishes this month's and next month's. */
async function epochKeyOf(t: number): Promise<Element> {
  return calendarMonthEpoch(t) === w.epoch
    ? w.epochKey
    : await alice.client.kt.epochKey(calendarMonthEpoch(t));
}

async function expectOvertCheck(f: () => unknown, code: string, check: string): Promise<void> {
  let error: unknown;
  try {
    await f();
  } catch (e) {
    error = e;
  }
  expect(error).toMatchObject({ name: 'OvertError', code, check });
}

describe('the sender key of a history record comes from the log (client.md §8.3)', () => {
  it('a directory that points alice’s device at another log entry, or lists no such device, gives no key', async () => {
    // alice's phone, listed at the index of bob's enrolment (an admin-signed entry, but not alice's).
    const bobsIndex = (await mallory.client.transport.userDevices('bob'))[0]!.enrolLogIndex;
    const lying = await w.reopen(mallory, {
      fetch: async (url, init) => {
        const res = await fetch(url, init);
        if (!new URL(url).pathname.endsWith('/v1/users/alice/devices')) return res;
        const body = (await res.json()) as { devices: Record<string, unknown>[] };
        const devices = body.devices.map((d) => ({ ...d, enrolLogIndex: bobsIndex }));
        return new Response(JSON.stringify({ devices }), {
          status: 200,
          headers: { 'content-type': 'application/json' },
        });
      },
    });
    await expectClientError(
      lying.kt.deviceKey('alice', utf8Encode('alice-phone')),
      'KT_DEVICE_NOT_ON_LOG',
      'KT-3',
    );
    await expectClientError(
      mallory.client.kt.deviceKey('alice', utf8Encode('alice-tablet')),
      'SDK_DEVICE_UNVERIFIED',
      'CLI-5',
    );
    expect(await mallory.client.kt.deviceKey('alice', utf8Encode('alice-phone'))).toEqual(
      alice.key.publicKey,
    );
  });
});
