// docs/spec/relay.md §6 over real HTTP and WebSocket, with real MLS (the client SDK's Conversation over ts-mls):
// key packages claimed once under concurrency (DS-6), commits ordered one per epoch (DS-3/DS-4), Welcomes routed
// to the claimed key packages' devices (DS-8), store-and-forward with acknowledgements (DS-9).
import {
  Conversation,
  createMlsIdentity,
  generateKeyPackage,
  type KeyPackageBundle,
  type MlsIdentity,
} from '@overt/client';
import { fromBase64, fromBase64Url, randomBytes, toBase64, toBase64Url, utf8Encode } from '@overt/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Device, type Harness, MailboxSocket, startHarness } from '../../test/harness.js';

let h: Harness;
let alice: Device;
let bobPhone: Device;
let bobTablet: Device;
const ids = new Map<string, MlsIdentity>();
const options = { authenticate: () => true };

function identity(d: Device): MlsIdentity {
  let id = ids.get(d.deviceId);
  if (id === undefined) {
    id = createMlsIdentity(d.userId, utf8Encode(d.deviceId), d.key);
    ids.set(d.deviceId, id);
  }
  return id;
}

async function publish(d: Device, n: number): Promise<KeyPackageBundle[]> {
  const bundles = await Promise.all(Array.from({ length: n }, () => generateKeyPackage(identity(d))));
  const r = await d.request('POST', '/v1/key-packages', {
    keyPackages: bundles.map((b) => toBase64(b.keyPackage)),
  });
  expect(r.status).toBe(201);
  return bundles;
}

beforeAll(async () => {
  // One claimer claims many times here to exercise DS-6; the per-claimer limit (DS-11) has its own tests.
  h = await startHarness({ claimLimit: { capacity: 1000, refillPerSecond: 1000 } });
  alice = await h.enrol('alice', 'alice-phone');
  bobPhone = await h.enrol('bob', 'bob-phone');
  bobTablet = await h.enrol('bob', 'bob-tablet');
});
afterAll(async () => {
  await h.close();
});

describe('key packages (DS-6)', () => {
  it('refuses key packages of another device and malformed ones, storing nothing', async () => {
    const bobs = await generateKeyPackage(identity(bobPhone));
    const r1 = await alice.request('POST', '/v1/key-packages', { keyPackages: [toBase64(bobs.keyPackage)] });
    expect(r1.status).toBe(400);
    expect(r1.body).toMatchObject({ code: 'DS_KEY_PACKAGE_OWNER', check: 'DS-6' });
    const r2 = await alice.request('POST', '/v1/key-packages', { keyPackages: [toBase64(randomBytes(50))] });
    expect(r2.body.code).toMatch(/^DS_(MLS_MALFORMED|WIRE_FORMAT)$/);
    expect(await h.relay.storage.countKeyPackages('alice-phone')).toBe(0);
  });

  it('hands each key package out once to concurrent claimers', async () => {
    const published = await publish(bobPhone, 3);
    const claims = await Promise.all(
      Array.from({ length: 8 }, () => alice.request('POST', '/v1/users/bob/key-packages/claim')),
    );
    for (const c of claims) expect(c.status).toBe(200);
    const got = claims.flatMap((c) => c.body.keyPackages as { deviceId: string; keyPackage: string }[]);
    expect(got.every((g) => g.deviceId === 'bob-phone')).toBe(true);
    expect(new Set(got.map((g) => g.keyPackage))).toEqual(
      new Set(published.map((b) => toBase64(b.keyPackage))),
    );
    expect(got).toHaveLength(3);
    expect(claims.filter((c) => c.body.exhausted.includes('bob-phone'))).toHaveLength(5);
    expect(await h.relay.storage.countKeyPackages('bob-phone')).toBe(0);
  });
});

describe('delivery with real MLS (DS-1..DS-9)', () => {
  it('adds by Welcome, orders racing commits, and delivers to online and offline devices exactly once', async () => {
    const [phoneBundle] = await publish(bobPhone, 1);
    const [tabletBundle] = await publish(bobTablet, 1);
    const groupId = randomBytes(16);
    const aliceConv = await Conversation.create(identity(alice), options, groupId);
    expect((await alice.request('POST', '/v1/groups', { groupId: toBase64Url(groupId) })).status).toBe(201);
    const gid = toBase64Url(groupId);

    // Bob's phone is online; his tablet is not.
    const phoneSocket = await MailboxSocket.open(h.url, bobPhone);
    await phoneSocket.waitFor((f) => f.some((x) => x.type === 'ready'));

    const claim = await alice.request('POST', '/v1/users/bob/key-packages/claim');
    expect(claim.body.keyPackages).toHaveLength(2);
    const add = await aliceConv.addMembers(
      claim.body.keyPackages.map((k: { keyPackage: string }) => fromBase64(k.keyPackage)),
    );
    // DS-8: the Welcome may only go to devices whose claimed key packages it names; a fake one is refused.
    const forged = await alice.request('POST', `/v1/groups/${gid}/commits`, {
      commit: toBase64(add.commit),
      welcome: toBase64(new Uint8Array([0, 1, 0, 3, 0, 1, 37, 32, ...randomBytes(32), 1, 0, 1, 0, 1, 0])),
    });
    expect(forged.status).toBe(400);
    expect(forged.body).toMatchObject({ code: 'DS_MEMBERSHIP', check: 'DS-8' });
    const accepted = await alice.request('POST', `/v1/groups/${gid}/commits`, {
      commit: toBase64(add.commit),
      welcome: toBase64(add.welcome!),
    });
    expect(accepted.status).toBe(201);
    expect(accepted.body).toEqual({ epoch: 1, notified: [], welcomed: ['bob-phone', 'bob-tablet'] });
    await aliceConv.mergePendingCommit();

    await phoneSocket.waitFor(() => phoneSocket.items().length >= 1);
    const welcome = phoneSocket.items()[0]!;
    expect(welcome).toMatchObject({ kind: 'welcome', epoch: 1, sender: 'alice-phone', groupId: gid });
    const { conversation: phoneConv } = await Conversation.join(
      identity(bobPhone),
      fromBase64(welcome.data),
      [phoneBundle!],
      options,
    );
    phoneSocket.ack(welcome.seq);
    await phoneSocket.waitFor((f) => f.some((x) => x.type === 'acked'));

    // DS-3/DS-4: two members commit in epoch 1 at once; exactly one wins, the other gets a conflict.
    const [aliceUpdate, phoneUpdate] = await Promise.all([aliceConv.update(), phoneConv.update()]);
    const [ra, rp] = await Promise.all([
      alice.request('POST', `/v1/groups/${gid}/commits`, { commit: toBase64(aliceUpdate.commit) }),
      bobPhone.request('POST', `/v1/groups/${gid}/commits`, { commit: toBase64(phoneUpdate.commit) }),
    ]);
    expect([ra.status, rp.status].sort()).toEqual([201, 409]);
    const loser = ra.status === 409 ? ra : rp;
    expect(loser.body).toMatchObject({ code: 'DS_COMMIT_CONFLICT', check: 'DS-4' });
    const aliceWon = ra.status === 201;
    const commits = await alice.request('GET', `/v1/groups/${gid}/commits?from=1`);
    expect(commits.body.commits.map((c: { epoch: number }) => c.epoch)).toEqual([1]);
    const winning = fromBase64(commits.body.commits[0].commit);
    if (aliceWon) {
      await aliceConv.mergePendingCommit();
      await phoneConv.discardPendingCommit();
      await phoneSocket.waitFor(() => phoneSocket.items().some((i) => i.kind === 'commit'));
      const item = phoneSocket.items().find((i) => i.kind === 'commit')!;
      expect(fromBase64(item.data)).toEqual(winning);
      expect((await phoneConv.processIncoming(winning)).kind).toBe('commit');
    } else {
      await phoneConv.mergePendingCommit();
      await aliceConv.discardPendingCommit();
      expect((await aliceConv.processIncoming(winning)).kind).toBe('commit');
    }
    // A commit for an epoch that is not the current one is refused and changes nothing (DS-3).
    const stale = await alice.request('POST', `/v1/groups/${gid}/commits`, { commit: toBase64(add.commit) });
    expect(stale.status).toBe(409);
    expect((await h.relay.storage.getGroup(groupId))!.epoch).toBe(2);

    // Alice sends three application messages at epoch 2.
    const sent: Uint8Array[] = [];
    for (let i = 0; i < 3; i++) {
      const payload = {
        messageId: randomBytes(16),
        contentKey: randomBytes(32),
        seed: randomBytes(32),
      };
      sent.push(payload.messageId);
      const r = await alice.request('POST', `/v1/groups/${gid}/messages`, {
        message: toBase64(await aliceConv.encrypt(payload)),
      });
      expect(r.status).toBe(201);
      expect(r.body.recipients).toEqual(['bob-phone', 'bob-tablet']);
    }
    // A commit on the message endpoint, or a message of another group, is refused (DS-1, DS-2).
    const wrongKind = await alice.request('POST', `/v1/groups/${gid}/messages`, {
      message: toBase64(aliceUpdate.commit),
    });
    expect(wrongKind.body.code).toMatch(/^DS_(WIRE_FORMAT|EPOCH_MISMATCH)$/);
    const otherGroup = toBase64Url(randomBytes(16));
    const wrongGroup = await alice.request('POST', `/v1/groups/${otherGroup}/messages`, {
      message: toBase64(
        await aliceConv.encrypt({
          messageId: randomBytes(16),
          contentKey: randomBytes(32),
          seed: randomBytes(32),
        }),
      ),
    });
    expect(wrongGroup.body).toMatchObject({ code: 'DS_GROUP_MISMATCH', check: 'DS-2' });

    // The online phone gets them pushed and decrypts them.
    await phoneSocket.waitFor(() => phoneSocket.items().filter((i) => i.kind === 'message').length === 3);
    for (const [i, item] of phoneSocket
      .items()
      .filter((x) => x.kind === 'message')
      .entries()) {
      const incoming = await phoneConv.processIncoming(fromBase64(item.data));
      expect(incoming.kind).toBe('application');
      if (incoming.kind === 'application') expect(incoming.payload.messageId).toEqual(sent[i]);
    }
    await phoneSocket.close();

    // The tablet was offline: on connecting it gets the Welcome, the winning commit (if it was not its own
    // device's... it is another device, so always) and the three messages, each exactly once, in order.
    const tablet = await MailboxSocket.open(h.url, bobTablet);
    await tablet.waitFor(() => tablet.items().length >= 5);
    const items = tablet.items();
    expect(items.map((i) => i.kind)).toEqual(['welcome', 'commit', 'message', 'message', 'message']);
    expect(items.map((i) => i.seq)).toEqual([...items.map((i) => i.seq)].sort((a, b) => a - b));
    const { conversation: tabletConv } = await Conversation.join(
      identity(bobTablet),
      fromBase64(items[0]!.data),
      [tabletBundle!],
      options,
    );
    expect((await tabletConv.processIncoming(fromBase64(items[1]!.data))).kind).toBe('commit');
    for (const [i, item] of items.slice(2).entries()) {
      const incoming = await tabletConv.processIncoming(fromBase64(item.data));
      if (incoming.kind !== 'application') throw new Error('expected an application message');
      expect(incoming.payload.messageId).toEqual(sent[i]);
    }
    // Acknowledging beyond what this socket delivered is refused (DS-9); acknowledging all of it empties the box.
    tablet.ack(items[4]!.seq + 1);
    await tablet.waitFor((f) => f.some((x) => x.type === 'error'));
    expect(tablet.frames.find((x) => x.type === 'error')).toMatchObject({
      code: 'DS_ACK_RANGE',
      check: 'DS-9',
    });
    tablet.ack(items[4]!.seq);
    await tablet.waitFor((f) => f.some((x) => x.type === 'acked'));
    expect(tablet.frames.find((x) => x.type === 'acked')).toMatchObject({ upTo: items[4]!.seq, removed: 5 });
    await tablet.close();

    // Reconnecting delivers nothing more: acknowledged items are gone.
    const again = await MailboxSocket.open(h.url, bobTablet);
    await again.waitFor((f) => f.some((x) => x.type === 'ready'));
    const poll = await bobTablet.request('GET', '/v1/mailbox?after=0');
    expect(poll.body.items).toEqual([]);
    expect(again.items()).toEqual([]);
    await again.close();
    expect(fromBase64Url(gid)).toEqual(groupId);
  });

  it('a non-member can neither read nor write a group (DS-5)', async () => {
    const groupId = randomBytes(8);
    await alice.request('POST', '/v1/groups', { groupId: toBase64Url(groupId) });
    const r = await bobTablet.request('GET', `/v1/groups/${toBase64Url(groupId)}`);
    expect(r.status).toBe(403);
    expect(r.body).toMatchObject({ code: 'DS_NOT_MEMBER', check: 'DS-5' });
    const c = await bobTablet.request('GET', `/v1/groups/${toBase64Url(groupId)}/commits`);
    expect(c.status).toBe(403);
  });
});
