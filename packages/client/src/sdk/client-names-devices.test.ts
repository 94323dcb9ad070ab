// The messaging features a person expects (issue #9; docs/spec/client.md §4.1, §4.8, §8.4) against a real relay
// and log: received files keep their (sanitised) names and types, conversations have end-to-end encrypted names
// visible to every member (also to devices added later), and a user's newly approved device is added to all of
// that user's conversations by their other device, with no alert on either device.
import { randomBytes, utf8Encode } from '@overt/core';
import { describe, expect, it } from 'vitest';
import { expectClientError } from '../../test/expect-error.js';
import { texts, useWorld } from '../../test/use-world.js';
import { type ClientEvent, FILE_CONTENT_TYPE, MemoryStore } from '../index.js';

const w = useWorld();

const of = <K extends ClientEvent['kind']>(events: ClientEvent[], kind: K) =>
  events.filter((e): e is Extract<ClientEvent, { kind: K }> => e.kind === kind);

/** Nothing a user must be warned about: no alert and no rejected item. */
function quiet(events: ClientEvent[]): void {
  expect(events.filter((e) => e.kind === 'alert' || e.kind === 'rejected')).toEqual([]);
}

describe('files keep their names and types (client.md §4.8)', () => {
  it('the name and type travel encrypted; the recipient gets them sanitised; the relay sees one content type', async () => {
    const ann = await w.device('ann-f', 'ann-f-phone');
    const ben = await w.device('ben-f', 'ben-f-phone');
    await ben.client.publishKeyPackages(1);
    const { conversationId } = await ann.client.createConversation(['ben-f']);
    await ben.client.sync();
    const data = randomBytes(3000);
    const sent = await ann.client.sendFile(conversationId, data, 'application/pdf', {
      name: 'Q3 report.pdf',
    });
    // A hostile name: separators, a parent directory, a bidi override, a control character.
    await ann.client.sendFile(conversationId, utf8Encode('x'), 'text/plain', {
      name: '../../.ssh/authorized_keys\u202etxt.exe\u0007',
    });
    await ann.client.sendFile(conversationId, utf8Encode('y'), 'text/plain');
    const got = of(await ben.client.sync(), 'message');
    expect(got.map((m) => [m.fileName, m.contentType])).toEqual([
      ['Q3 report.pdf', 'application/pdf'],
      ['_._.ssh_authorized_keys_txt.exe_', 'text/plain'],
      [expect.stringMatching(/^file-[0-9a-f]{16}$/), 'text/plain'],
    ]);
    expect(got[0]!.payload).toEqual(data);
    // What the relay holds: the header names only the FileContent type, and the name is nowhere in the clear.
    const envelope = await ben.client.transport.getEnvelope(sent.messageId);
    const text = Buffer.concat([envelope.head, envelope.ciphertext ?? new Uint8Array(0)]).toString('latin1');
    expect(text).toContain(FILE_CONTENT_TYPE);
    expect(text).not.toContain('Q3 report');
    expect(text).not.toContain('application/pdf');
  });
});

describe('conversation names (client.md §4.1)', () => {
  it('a name set at creation reaches every member and a device added later; a rename reaches all', async () => {
    const cat = await w.device('cat-n', 'cat-n-phone');
    const dan = await w.device('dan-n', 'dan-n-phone');
    const eve = await w.device('eve-n', 'eve-n-phone');
    await dan.client.publishKeyPackages(1);
    await eve.client.publishKeyPackages(1);
    const { conversationId } = await cat.client.createConversation(['dan-n'], { name: 'Q3 planning' });
    expect(cat.client.conversationName(conversationId)).toBe('Q3 planning');
    const danEvents = await dan.client.sync();
    quiet(danEvents);
    expect(of(danEvents, 'renamed')).toMatchObject([
      { name: 'Q3 planning', by: { userId: 'cat-n', deviceId: 'cat-n-phone' } },
    ]);
    expect(dan.client.conversationName(conversationId)).toBe('Q3 planning');
    // A member added later is sent the name after the commit that adds it.
    await cat.client.addMembers(conversationId, ['eve-n']);
    quiet(await eve.client.sync());
    expect(eve.client.conversationName(conversationId)).toBe('Q3 planning');
    await dan.client.setConversationName(conversationId, 'Q4 planning ✓');
    for (const d of [cat, eve]) {
      expect(of(await d.client.sync(), 'renamed')).toMatchObject([{ name: 'Q4 planning ✓' }]);
      expect(d.client.conversationName(conversationId)).toBe('Q4 planning ✓');
    }
    // It survives a restart (kept in the store).
    const again = await w.reopen(eve);
    expect(again.conversationName(conversationId)).toBe('Q4 planning ✓');
    await dan.client.setConversationName(conversationId, '');
    await cat.client.sync();
    expect(cat.client.conversationName(conversationId)).toBeUndefined();
    await expectClientError(dan.client.setConversationName(conversationId, 'bell\u0007'), 'SDK_USAGE');
    await expectClientError(dan.client.setConversationName(conversationId, 'x'.repeat(257)), 'SDK_USAGE');
  });
});

describe("a user's new device joins their conversations (client.md §4.1, §8.4)", () => {
  it('alice approves her laptop; her phone adds it to both conversations; it gets the next messages; no alert', async () => {
    const opts = { monitorLog: true };
    const phone = await w.device('alice-d', 'alice-d-phone', new MemoryStore(), opts);
    const bob = await w.device('bob-d', 'bob-d-phone', new MemoryStore(), opts);
    const carol = await w.device('carol-d', 'carol-d-phone', new MemoryStore(), opts);
    await bob.client.publishKeyPackages(1);
    await carol.client.publishKeyPackages(1);
    const ab = (await phone.client.createConversation(['bob-d'], { name: 'with bob' })).conversationId;
    const ac = (await phone.client.createConversation(['carol-d'])).conversationId;
    quiet(await bob.client.sync());
    quiet(await carol.client.sync());

    // The new device: enrolled by the admin, approved by alice on her phone, one key package of its own (plus
    // the last-resort one that comes with it: two conversations need two).
    const laptop = await w.device('alice-d', 'alice-d-laptop', new MemoryStore(), opts);
    await laptop.client.publishKeyPackages(1);
    await phone.client.approveDevice('alice-d-laptop', laptop.key.publicKey);

    const phoneEvents = await phone.client.sync();
    quiet(phoneEvents);
    expect(of(phoneEvents, 'membership').map((e) => e.added.map((a) => a.deviceId))).toEqual([
      ['alice-d-laptop'],
      ['alice-d-laptop'],
    ]);
    for (const id of [ab, ac])
      expect(phone.client.members(id).map((m) => m.deviceId)).toContain('alice-d-laptop');

    // The laptop joins both, gets the name, and raises no alert about alice's older phone.
    const laptopEvents = await laptop.client.sync();
    quiet(laptopEvents);
    expect(of(laptopEvents, 'joined')).toHaveLength(2);
    expect(laptop.client.conversationName(ab)).toBe('with bob');
    // Bob and carol accept it through the log checks (KT-3): a membership change, nothing rejected.
    for (const [d, id] of [
      [bob, ab],
      [carol, ac],
    ] as const) {
      const events = await d.client.sync();
      quiet(events);
      expect(of(events, 'membership')).toMatchObject([{ added: [{ deviceId: 'alice-d-laptop' }] }]);
      expect(d.client.members(id).map((m) => m.deviceId)).toContain('alice-d-laptop');
    }
    await bob.client.sendText(ab, 'to alice, all devices');
    await carol.client.sendText(ac, 'carol here');
    const next = await laptop.client.sync();
    quiet(next);
    expect(texts(next).sort()).toEqual(['carol here', 'to alice, all devices']);
    // The phone's next sync has nothing more to add, and still no alert.
    const later = await phone.client.sync();
    quiet(later);
    expect(of(later, 'membership')).toEqual([]);
    expect(texts(later).sort()).toEqual(['carol here', 'to alice, all devices']);
  });

  it('a device the user did not approve is not added and still raises the alert (KT-6)', async () => {
    const phone = await w.device('gus-d', 'gus-d-phone', new MemoryStore(), { monitorLog: true });
    const hal = await w.device('hal-d', 'hal-d-phone');
    await hal.client.publishKeyPackages(1);
    const { conversationId } = await phone.client.createConversation(['hal-d']);
    const ghost = await w.device('gus-d', 'gus-d-ghost');
    await ghost.client.publishKeyPackages(1);
    const events = await phone.client.sync();
    expect(events).toMatchObject([{ kind: 'alert', alert: 'unknown-device', deviceId: 'gus-d-ghost' }]);
    expect(phone.client.members(conversationId).map((m) => m.deviceId)).not.toContain('gus-d-ghost');
  });
});
