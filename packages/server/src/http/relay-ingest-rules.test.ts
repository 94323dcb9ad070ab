// docs/spec/relay.md §6.7: one set of ingest rules for both upload paths (DESIGN A15). The same bad envelopes —
// a made-up conversation, a real conversation the sender is not in, a wrong recipient list, a signature by
// another key — are sent over HTTP (PUT /v1/envelopes) and over the WebSocket (a send frame with an MLS
// application message), each refused on both paths with the same code and check ID; nothing is stored, nothing
// reaches bob's mailbox, and bob cannot fetch any of them.
import {
  type Element,
  type HeaderFields,
  randomBytes,
  type SealedEnvelope,
  type SigningKeyPair,
  sealEnvelope,
  toBase64Url,
  utf8Encode,
  Writer,
} from '@overt/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createConversation,
  type Device,
  type Frame,
  type Harness,
  MailboxSocket,
  publishEpochKey,
  startHarness,
  textFields,
} from '../../test/harness.js';
import { calendarMonthEpoch } from '../epochs.js';
import { encodeSendFrame } from '../ingest/frames.js';

const EPOCH = calendarMonthEpoch(Date.now());
let h: Harness;
let alice: Device;
let bob: Device;
let mallory: Device;
let epochKey: Element;
/** alice's and bob's conversation. */
let groupId: Uint8Array;
let nextId = 1;

beforeAll(async () => {
  h = await startHarness();
  alice = await h.enrol('alice', 'alice-phone');
  bob = await h.enrol('bob', 'bob-phone');
  // Enrolled in the org, in no conversation.
  mallory = await h.enrol('mallory', 'mallory-phone');
  const published = await publishEpochKey(h.admin, h.adminKey, EPOCH);
  expect(published.response.status).toBe(201);
  epochKey = published.epochKey;
  groupId = (await createConversation(alice, [bob])).groupId;
});
afterAll(async () => {
  await h.close();
});

/**
 * The public framing of an MLS PrivateMessage (RFC 9420 §6: version 1, wire format 2, group_id<V>, epoch,
 * content type application) followed by opaque bytes: all the relay reads of a message it cannot decrypt. An
 * outsider can write it for any group and epoch.
 */
function privateMessageFraming(group: Uint8Array, epoch: number): Uint8Array {
  return new Writer(64 + group.length)
    .u16(1)
    .u16(2)
    .u8(group.length)
    .bytes(group)
    .u64(epoch)
    .u8(1)
    .bytes(randomBytes(48))
    .finish();
}

async function groupEpoch(id: Uint8Array): Promise<number> {
  return (await h.relay.storage.getGroup(id))?.epoch ?? 0;
}

interface BadEnvelope {
  readonly what: string;
  readonly sender: Device;
  readonly sealed: SealedEnvelope;
  readonly code: string;
  readonly check: string;
}

async function sealAs(sender: Device, extra: Partial<HeaderFields>, signer: SigningKeyPair = sender.key) {
  const fields = textFields(EPOCH, {
    senderUserId: sender.userId,
    senderDeviceId: utf8Encode(sender.deviceId),
    conversationId: groupId,
    ...extra,
  });
  return sealEnvelope(fields, utf8Encode('to bob'), epochKey, signer);
}

async function badEnvelopes(): Promise<BadEnvelope[]> {
  return [
    {
      what: 'made-up conversation',
      sender: mallory,
      sealed: await sealAs(mallory, { conversationId: randomBytes(16), recipients: ['bob', 'mallory'] }),
      code: 'DS_GROUP_UNKNOWN',
      check: 'RLY-19',
    },
    {
      what: 'a real conversation the sender is not in',
      sender: mallory,
      sealed: await sealAs(mallory, { recipients: ['alice', 'bob', 'mallory'] }),
      code: 'DS_NOT_MEMBER',
      check: 'DS-5',
    },
    {
      what: 'a member leaving bob out of the recipients',
      sender: alice,
      sealed: await sealAs(alice, { recipients: ['alice'] }),
      code: 'ENV_CONTEXT',
      check: 'RLY-15',
    },
    {
      what: 'a member adding someone to the recipients',
      sender: alice,
      sealed: await sealAs(alice, { recipients: ['alice', 'bob', 'mallory'] }),
      code: 'ENV_CONTEXT',
      check: 'RLY-15',
    },
    {
      what: 'an envelope of alice signed with another key',
      sender: alice,
      sealed: await sealAs(alice, {}, mallory.key),
      code: 'ENV_SIGNATURE',
      check: 'RLY-20',
    },
  ];
}

async function nothingStoredOrServed(b: BadEnvelope, bobSeqBefore: number): Promise<void> {
  const id = b.sealed.header.messageId;
  expect(await h.relay.storage.getEnvelope(id)).toBeUndefined();
  const got = await bob.request('GET', `/v1/envelopes/${toBase64Url(id)}`);
  expect([got.status, got.body.code]).toEqual([404, 'ENV_NOT_FOUND']);
  expect(await h.relay.storage.lastMailboxSeq('bob-phone')).toBe(bobSeqBefore);
}

describe('one set of ingest rules on both paths (relay.md §6.7, A15)', () => {
  it('HTTP: each bad envelope is refused with its check ID; nothing is stored or served', async () => {
    for (const b of await badEnvelopes()) {
      const before = await h.relay.storage.lastMailboxSeq('bob-phone');
      const id = toBase64Url(b.sealed.header.messageId);
      const r = await b.sender.request('PUT', `/v1/envelopes/${id}`, b.sealed.envelope);
      expect({ what: b.what, code: r.body.code, check: r.body.check }).toEqual({
        what: b.what,
        code: b.code,
        check: b.check,
      });
      await nothingStoredOrServed(b, before);
    }
  });

  it('WebSocket: the same envelopes in send frames get the same code and check ID; nothing is stored or pushed', async () => {
    const sockets = new Map<Device, MailboxSocket>();
    try {
      for (const d of [alice, mallory]) {
        const s = await MailboxSocket.open(h.url, d);
        await s.waitFor((f) => f.some((x) => x.type === 'ready'));
        sockets.set(d, s);
      }
      for (const b of await badEnvelopes()) {
        const before = await h.relay.storage.lastMailboxSeq('bob-phone');
        const s = sockets.get(b.sender)!;
        const conversation = b.sealed.header.conversationId;
        const requestId = nextId++;
        // The MLS framing names the envelope's conversation at its current epoch (or 0 for a made-up one), so
        // nothing but the ingest rules can refuse the frame.
        const frame = encodeSendFrame({
          requestId,
          groupId: conversation,
          message: privateMessageFraming(conversation, await groupEpoch(conversation)),
          envelope: b.sealed.envelope,
        });
        s.ws.send(frame);
        const answered = (f: Frame[]) => f.some((x) => (x as { id?: number }).id === requestId);
        await s.waitFor(answered, 20_000);
        const answer = s.frames.find((x) => (x as { id?: number }).id === requestId)!;
        expect({ what: b.what, type: answer.type, code: answer.code, check: answer.check }).toEqual({
          what: b.what,
          type: 'error',
          code: b.code,
          check: b.check,
        });
        await nothingStoredOrServed(b, before);
      }
    } finally {
      for (const s of sockets.values()) await s.close();
    }
  });

  it('the honest envelope passes the same rules on both paths', async () => {
    const viaHttp = await sealAs(alice, {});
    const r = await alice.request(
      'PUT',
      `/v1/envelopes/${toBase64Url(viaHttp.header.messageId)}`,
      viaHttp.envelope,
    );
    expect(r.status).toBe(201);
    expect((await bob.request('GET', `/v1/envelopes/${toBase64Url(viaHttp.header.messageId)}`)).status).toBe(
      200,
    );
  });
});
