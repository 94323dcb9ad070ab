/**
 * RFC 9420 groups through Overt's wrapper: membership changes, key transport, state persistence, and the
 * checks MLS-1..MLS-19 (docs/spec/mls.md) exercised by honest and by misbehaving members.
 */
import { equalBytes, generateSigningKey, randomBytes, utf8Encode } from '@overt/core';
import {
  createApplicationMessage,
  createCommit,
  createGroup,
  decodeMlsMessage,
  emptyPskIndex,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  processPrivateMessage,
} from 'ts-mls';
import { protectApplicationData } from 'ts-mls/messageProtection.js';
import { encodeRequiredCapabilities } from 'ts-mls/requiredCapabilities.js';
import { describe, expect, test } from 'vitest';
import { expectClientError, onlyClientErrors } from '../../test/expect-error.js';
import {
  accept,
  addAndJoin,
  deliver,
  device,
  deviceName,
  makeGroup,
  newDevice,
  randomPayload,
  rawState,
} from '../../test/mls-helpers.js';
import {
  type ClientError,
  Conversation,
  createMlsIdentity,
  encodeKeyTransport,
  generateKeyPackage,
  type Incoming,
  inspectMessage,
  type Member,
  type MemberCredential,
  welcomeRecipients,
} from '../index.js';
import { mlsCiphersuite } from './ciphersuite.js';
import { toMlsCredential } from './credential.js';
import { overtCapabilities } from './keyPackage.js';

function app(r: Incoming) {
  if (r.kind !== 'application') throw new Error(`expected an application message, got ${r.kind}`);
  return r;
}

function commitOf(r: Incoming) {
  if (r.kind !== 'commit') throw new Error(`expected a commit, got ${r.kind}`);
  return r;
}

describe('groups and key transport', () => {
  test('two members (a 1:1 conversation) exchange key-transport payloads both ways', async () => {
    const { ids, convs } = await makeGroup(2);
    const [a, b] = convs as [Conversation, Conversation];
    expect(a.epoch).toBe(1n);
    expect(b.epoch).toBe(1n);
    expect(equalBytes(a.groupId, b.groupId)).toBe(true);
    expect(equalBytes(a.epochAuthenticator, b.epochAuthenticator)).toBe(true);
    expect(b.members().map((m) => [m.userId, deviceName(m), m.leafIndex])).toEqual([
      ['user0', 'phone', 0],
      ['user1', 'phone', 1],
    ]);
    expect(equalBytes(b.members()[0]!.identityKey, ids[0]!.identityKey)).toBe(true);

    const p1 = randomPayload();
    const r1 = app(await b.processIncoming(await a.encrypt(p1)));
    expect(r1.sender.userId).toBe('user0');
    expect(r1.epoch).toBe(1n);
    expect(equalBytes(r1.payload.messageId, p1.messageId)).toBe(true);
    expect(equalBytes(r1.payload.contentKey, p1.contentKey)).toBe(true);
    expect(equalBytes(r1.payload.seed, p1.seed)).toBe(true);

    const p2 = randomPayload();
    const r2 = app(await a.processIncoming(await b.encrypt(p2)));
    expect(r2.sender.userId).toBe('user1');
    expect(equalBytes(r2.payload.contentKey, p2.contentKey)).toBe(true);
  });

  test('ten members: every member reads every other member’s message', async () => {
    const { convs } = await makeGroup(10);
    for (const c of convs) expect(c.epoch).toBe(1n);
    const auth = convs[0]!.epochAuthenticator;
    for (const c of convs) expect(equalBytes(c.epochAuthenticator, auth)).toBe(true);
    for (let s = 0; s < convs.length; s++) {
      const p = randomPayload();
      const msg = await convs[s]!.encrypt(p);
      for (let r = 0; r < convs.length; r++) {
        if (r === s) continue;
        const got = app(await convs[r]!.processIncoming(msg));
        expect(got.sender.leafIndex).toBe(s);
        expect(equalBytes(got.payload.messageId, p.messageId)).toBe(true);
      }
    }
  });

  test('one user with three devices: each device is a member; removing one cuts only that device off', async () => {
    const phone = newDevice('alice', 'phone');
    const laptop = newDevice('alice', 'laptop');
    const tablet = newDevice('alice', 'tablet');
    const bob = newDevice('bob', 'phone');
    const a1 = await Conversation.create(phone, accept);
    const [a2, a3, b] = (await addAndJoin(a1, [], [laptop, tablet, bob])) as [
      Conversation,
      Conversation,
      Conversation,
    ];
    expect(
      b
        .members()
        .filter((m) => m.userId === 'alice')
        .map(deviceName),
    ).toEqual(['phone', 'laptop', 'tablet']);

    // A message from the laptop reaches the other two devices of the same user, and says which device sent it.
    const m = await a2.encrypt(randomPayload());
    for (const r of [a1, a3, b])
      expect(app(await r.processIncoming(m)).sender).toSatisfy((x: Member) => deviceName(x) === 'laptop');

    const rm = await a1.removeMembers([device('alice', 'tablet')]);
    await a1.mergePendingCommit();
    const [toLaptop, toTablet, toBob] = await deliver(rm.commit, [a2, a3, b]);
    expect(commitOf(toLaptop!).change.removed.map(deviceName)).toEqual(['tablet']);
    expect(commitOf(toTablet!).removedSelf).toBe(true);
    expect(commitOf(toBob!).epoch).toBe(2n);

    const after = await b.encrypt(randomPayload());
    expect(app(await a1.processIncoming(after)).sender.userId).toBe('bob');
    expect(app(await a2.processIncoming(after)).sender.userId).toBe('bob');
    await expectClientError(a3.processIncoming(after), 'MLS_NOT_MEMBER', 'MLS-19');
  });

  test('add, update, remove and leave move the roster and the epoch in step for every member', async () => {
    const { convs } = await makeGroup(3);
    const [a, b, c] = convs as [Conversation, Conversation, Conversation];

    // B refreshes its keys (an empty commit with an UpdatePath).
    const up = await b.update();
    await b.mergePendingCommit();
    const [ua, uc] = await deliver(up.commit, [a, c]);
    expect(commitOf(ua!).change.updated.map((m) => m.userId)).toEqual(['user1']);
    expect(commitOf(uc!).committer.userId).toBe('user1');
    for (const x of convs) expect(x.epoch).toBe(2n);

    // A adds D.
    const [d] = (await addAndJoin(a, [b, c], [newDevice('user3')])) as [Conversation];
    for (const x of [a, b, c, d]) expect(x.epoch).toBe(3n);
    expect(d.members().length).toBe(4);

    // A removes C.
    const rm = await a.removeMembers([device('user2')]);
    await a.mergePendingCommit();
    const [rb, rc, rd] = await deliver(rm.commit, [b, c, d]);
    expect(commitOf(rb!).change.removed.map((m) => m.userId)).toEqual(['user2']);
    expect(commitOf(rc!).removedSelf).toBe(true);
    expect(c.isMember).toBe(false);
    expect(commitOf(rd!).epoch).toBe(4n);

    // B leaves: a Remove proposal for itself, committed by D.
    const leave = await b.leave();
    await expectClientError(b.encrypt(randomPayload()), 'MLS_PROPOSALS_PENDING');
    const [pa, pd] = (await deliver(leave, [a, d])) as [Incoming, Incoming];
    expect(pa.kind === 'proposal' && pa.proposal.type === 'remove' && pa.proposal.member.userId).toBe(
      'user1',
    );
    expect(pd.kind).toBe('proposal');
    await expectClientError(d.encrypt(randomPayload()), 'MLS_PROPOSALS_PENDING');
    const out = await d.commitPendingProposals();
    await d.mergePendingCommit();
    const [ca, cb] = await deliver(out.commit, [a, b]);
    expect(commitOf(ca!).change.removed.map((m) => m.userId)).toEqual(['user1']);
    expect(commitOf(cb!).removedSelf).toBe(true);
    expect(a.members().map((m) => m.userId)).toEqual(['user0', 'user3']);
    expect(equalBytes(a.epochAuthenticator, d.epochAuthenticator)).toBe(true);

    // The removed members can no longer take part.
    const m = await a.encrypt(randomPayload());
    expect(app(await d.processIncoming(m)).sender.userId).toBe('user0');
    await expectClientError(b.processIncoming(m), 'MLS_NOT_MEMBER', 'MLS-19');
    await expectClientError(c.processIncoming(m), 'MLS_NOT_MEMBER', 'MLS-19');
    await expectClientError(b.encrypt(randomPayload()), 'MLS_NOT_MEMBER', 'MLS-19');
  });

  test('a removed member cannot decrypt later messages, even bypassing the wrapper', async () => {
    const { convs } = await makeGroup(3);
    const [a, b, c] = convs as [Conversation, Conversation, Conversation];
    const rm = await a.removeMembers([device('user2')]);
    await a.mergePendingCommit();
    await deliver(rm.commit, [b, c]);
    const msg = await a.encrypt(randomPayload());
    const pm = inspectMessage(msg);
    expect(pm.kind === 'private' && pm.epoch).toBe(2n);
    // C's raw state still holds the keys of epoch 1 only; ts-mls refuses the epoch-2 message.
    const cs = await mlsCiphersuite();
    const decoded = decodeMlsMessage(msg, 0)![0];
    if (decoded.wireformat !== 'mls_private_message') throw new Error('unexpected');
    await expect(
      processPrivateMessage(rawState(c), decoded.privateMessage, emptyPskIndex, cs),
    ).rejects.toThrow();
  });

  test('a late joiner cannot read messages sent before it joined', async () => {
    const { convs } = await makeGroup(2);
    const [a, b] = convs as [Conversation, Conversation];
    const before = await a.encrypt(randomPayload());
    await b.processIncoming(before);
    const [c] = (await addAndJoin(a, [b], [newDevice('late')])) as [Conversation];
    await expectClientError(c.processIncoming(before), 'MLS_EPOCH', 'MLS-11');
    // Bypassing the wrapper: the joiner's state has no receive data for any earlier epoch.
    expect(rawState(c).historicalReceiverData.size).toBe(0);
    const afterJoin = await b.encrypt(randomPayload());
    expect(app(await c.processIncoming(afterJoin)).sender.userId).toBe('user1');
  });

  test('the exporter agrees across members and changes with the epoch', async () => {
    const { convs } = await makeGroup(2);
    const [a, b] = convs as [Conversation, Conversation];
    const ctx = randomBytes(8);
    const ea = await a.exportSecret('overt test', ctx, 32);
    expect(equalBytes(ea, await b.exportSecret('overt test', ctx, 32))).toBe(true);
    expect(equalBytes(ea, await a.exportSecret('overt other', ctx, 32))).toBe(false);
    const up = await a.update();
    await a.mergePendingCommit();
    await b.processIncoming(up.commit);
    expect(equalBytes(ea, await a.exportSecret('overt test', ctx, 32))).toBe(false);
    await expectClientError(a.exportSecret('', ctx, 32), 'MLS_USAGE');
    await expectClientError(a.exportSecret('x', ctx, 0), 'MLS_USAGE');
  });

  test('the relay can read routing headers and Welcome recipients, nothing more', async () => {
    const { convs } = await makeGroup(2);
    const [a] = convs as [Conversation];
    const msg = await a.encrypt(randomPayload());
    expect(inspectMessage(msg)).toEqual({
      kind: 'private',
      groupId: a.groupId,
      epoch: 1n,
      contentType: 'application',
    });
    const joiner = newDevice('z');
    const kp = await generateKeyPackage(joiner);
    expect(inspectMessage(kp.keyPackage)).toEqual({ kind: 'key_package' });
    const out = await a.addMembers([kp.keyPackage]);
    const info = inspectMessage(out.commit);
    expect(info.kind === 'private' && info.contentType).toBe('commit');
    const refs = welcomeRecipients(out.welcome!);
    expect(refs.length).toBe(1);
    expect(equalBytes(refs[0]!, kp.ref)).toBe(true);
    await expectClientError(() => welcomeRecipients(msg), 'MLS_WIRE_FORMAT', 'MLS-16');
  });
});

describe('persistence', () => {
  test('state survives serialise and restore mid-conversation, without the identity key inside', async () => {
    const { ids, convs } = await makeGroup(2);
    const [a, b] = convs as [Conversation, Conversation];
    await b.processIncoming(await a.encrypt(randomPayload()));
    const saved = b.serialize();
    // The device identity key is never written (state.ts): neither the seed nor the 64-byte secret key.
    const sk = ids[1]!.signingKey.secretKey;
    for (let i = 0; i + 32 <= saved.length; i++)
      expect(equalBytes(saved.subarray(i, i + 32), sk.subarray(0, 32))).toBe(false);

    const m2 = await a.encrypt(randomPayload());
    const b2 = await Conversation.restore(ids[1]!, saved, accept);
    expect(b2.epoch).toBe(1n);
    expect(app(await b2.processIncoming(m2)).sender.userId).toBe('user0');
    await expectClientError(b2.processIncoming(m2), 'MLS_REPLAY', 'MLS-9');
    // The restored member can sign: it commits, and the other member follows.
    const up = await b2.update();
    await b2.mergePendingCommit();
    expect(commitOf(await a.processIncoming(up.commit)).epoch).toBe(2n);
    expect(equalBytes(a.epochAuthenticator, b2.epochAuthenticator)).toBe(true);
    // The state of one identity is refused for another.
    await expectClientError(Conversation.restore(ids[0]!, saved, accept), 'MLS_STATE_MALFORMED', 'MLS-18');
  });

  test('a pending commit survives serialise and restore, and merges when the relay echoes it', async () => {
    const { ids, convs } = await makeGroup(2);
    const [a, b] = convs as [Conversation, Conversation];
    const out = await a.update();
    const a2 = await Conversation.restore(ids[0]!, a.serialize(), accept);
    expect(a2.hasPendingCommit).toBe(true);
    const echo = commitOf(await a2.processIncoming(out.commit));
    expect(echo.own).toBe(true);
    expect(a2.epoch).toBe(2n);
    await b.processIncoming(out.commit);
    expect(equalBytes(a2.epochAuthenticator, b.epochAuthenticator)).toBe(true);
    await expectClientError(a2.processIncoming(out.commit), 'MLS_OWN_MESSAGE');
  });

  test('bad state bytes give MLS_STATE_MALFORMED, whatever the damage', async () => {
    const { ids, convs } = await makeGroup(2);
    const good = convs[1]!.serialize();
    const id = ids[1]!;
    await expectClientError(
      Conversation.restore(id, new Uint8Array(0), accept),
      'MLS_STATE_MALFORMED',
      'MLS-18',
    );
    await expectClientError(
      Conversation.restore(id, good.subarray(0, good.length - 1), accept),
      'MLS_STATE_MALFORMED',
    );
    const wrongVersion = good.slice();
    wrongVersion[0] = 2;
    await expectClientError(Conversation.restore(id, wrongVersion, accept), 'MLS_STATE_MALFORMED');
    const longer = new Uint8Array(good.length + 1);
    longer.set(good);
    await expectClientError(Conversation.restore(id, longer, accept), 'MLS_STATE_MALFORMED');
    for (let i = 0; i < 40; i++) {
      await expectClientError(
        Conversation.restore(id, randomBytes(1 + ((i * 37) % 400)), accept),
        'MLS_STATE_MALFORMED',
      );
    }
    // Flipped bytes either break the encoding (MLS_STATE_MALFORMED) or land in a secret (restore succeeds with a
    // state that cannot talk to the group); nothing else comes out.
    for (let i = 0; i < 150; i++) {
      const bad = good.slice();
      const at = (i * 7919) % bad.length;
      bad[at] = bad[at]! ^ (1 << (i % 8));
      const r = await onlyClientErrors(() => Conversation.restore(id, bad, accept));
      if (r !== 'ok') expect(r.code).toBe('MLS_STATE_MALFORMED');
    }
  });
});

describe('replay, ordering and concurrent commits', () => {
  test('a replayed application message is rejected and leaves the state usable (MLS-9)', async () => {
    const { convs } = await makeGroup(2);
    const [a, b] = convs as [Conversation, Conversation];
    const m1 = await a.encrypt(randomPayload());
    const m2 = await a.encrypt(randomPayload());
    const m3 = await a.encrypt(randomPayload());
    // Out of order is fine (RFC 9420 §9.1 keeps skipped keys); each key serves once.
    await b.processIncoming(m2);
    await b.processIncoming(m1);
    await expectClientError(b.processIncoming(m1), 'MLS_REPLAY', 'MLS-9');
    await expectClientError(b.processIncoming(m2), 'MLS_REPLAY', 'MLS-9');
    expect(app(await b.processIncoming(m3)).sender.userId).toBe('user0');
    await expectClientError(b.processIncoming(m3), 'MLS_REPLAY', 'MLS-9');
    // A relay echoing the sender's own message is told apart from a replay.
    await expectClientError(a.processIncoming(m3), 'MLS_OWN_MESSAGE');
  });

  test('concurrent processing of the same message lets exactly one through', async () => {
    const { convs } = await makeGroup(2);
    const [a, b] = convs as [Conversation, Conversation];
    const m = await a.encrypt(randomPayload());
    const results = await Promise.allSettled([
      b.processIncoming(m),
      b.processIncoming(m),
      b.processIncoming(m),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled').length).toBe(1);
    for (const r of results)
      if (r.status === 'rejected') expect((r.reason as ClientError).code).toBe('MLS_REPLAY');
  });

  test('of two commits for one epoch the relay’s first wins; the loser learns its commit was discarded', async () => {
    const { convs } = await makeGroup(3);
    const [a, b, c] = convs as [Conversation, Conversation, Conversation];
    const fromA = await a.update();
    const fromB = await b.update();
    // The relay orders A's commit first and fans it out to everyone, A included.
    const [ea, eb, ec] = await deliver(fromA.commit, [a, b, c]);
    expect(commitOf(ea!).own).toBe(true);
    expect(commitOf(eb!).discardedPendingCommit).toBe(true);
    expect(commitOf(ec!).own).toBe(false);
    expect(b.hasPendingCommit).toBe(false);
    // B's commit was for the old epoch.
    await expectClientError(c.processIncoming(fromB.commit), 'MLS_EPOCH', 'MLS-11');
    for (const x of [b, c]) expect(equalBytes(x.epochAuthenticator, a.epochAuthenticator)).toBe(true);
  });

  test('messages decrypted while a commit is pending cannot be replayed after it is merged', async () => {
    const { convs } = await makeGroup(2);
    const [a, b] = convs as [Conversation, Conversation];
    await a.update();
    await expectClientError(a.update(), 'MLS_PENDING_COMMIT');
    const m = await b.encrypt(randomPayload());
    await a.processIncoming(m);
    await a.mergePendingCommit();
    await expectClientError(a.processIncoming(m), 'MLS_REPLAY', 'MLS-9');
    await expectClientError(a.mergePendingCommit(), 'MLS_PENDING_COMMIT');
    // A pending commit can also be dropped.
    await a.update();
    await a.discardPendingCommit();
    expect(a.hasPendingCommit).toBe(false);
    expect(a.epoch).toBe(2n);
  });

  test('a message from an earlier epoch is accepted from a member still present, refused from one removed since (MLS-12)', async () => {
    const { convs } = await makeGroup(3);
    const [a, b, c] = convs as [Conversation, Conversation, Conversation];
    const fromB = await b.encrypt(randomPayload());
    const fromC = await c.encrypt(randomPayload());
    const rm = await a.removeMembers([device('user2')]);
    await a.mergePendingCommit();
    expect(a.epoch).toBe(2n);
    const late = app(await a.processIncoming(fromB));
    expect(late.epoch).toBe(1n);
    // The roster of the message's epoch (for the envelope's recipients check) still lists C; today's does not.
    expect(a.members(late.epoch).map((m) => m.userId)).toEqual(['user0', 'user1', 'user2']);
    expect(a.members().map((m) => m.userId)).toEqual(['user0', 'user1']);
    await expectClientError(() => a.members(7n), 'MLS_EPOCH', 'MLS-11');
    await expectClientError(a.processIncoming(fromC), 'MLS_SENDER', 'MLS-12');
    await b.processIncoming(rm.commit);
  });
});

describe('authentication service (key transparency hook)', () => {
  test('the adder’s hook refuses a ghost device before any commit exists (MLS-3)', async () => {
    const alice = newDevice('alice');
    const ghost = newDevice('alice', 'ghost');
    const seen: MemberCredential[] = [];
    const a = await Conversation.create(alice, {
      authenticate: (m) => {
        seen.push(m);
        return deviceName(m) !== 'ghost';
      },
    });
    const kp = await generateKeyPackage(ghost);
    await expectClientError(a.addMembers([kp.keyPackage]), 'MLS_CREDENTIAL_REJECTED', 'MLS-3');
    expect(a.hasPendingCommit).toBe(false);
    expect(a.epoch).toBe(0n);
    expect(seen.map(deviceName)).toEqual(['ghost']);
    expect(equalBytes(seen[0]!.identityKey, ghost.identityKey)).toBe(true);
  });

  test('a receiver’s hook refuses a commit that adds a ghost device; its state does not move', async () => {
    const alice = newDevice('alice');
    const bob = newDevice('bob');
    const ghost = newDevice('bob', 'ghost');
    const a = await Conversation.create(alice, accept);
    const bobOptions = { authenticate: (m: MemberCredential) => deviceName(m) !== 'ghost' };
    const [b] = (await addAndJoin(a, [], [bob], bobOptions)) as [Conversation];
    // Alice's client accepts the ghost (a relay fed it a forged directory entry); Bob's checks the log.
    const kp = await generateKeyPackage(ghost);
    const out = await a.addMembers([kp.keyPackage]);
    await a.mergePendingCommit();
    const before = b.serialize();
    await expectClientError(b.processIncoming(out.commit), 'MLS_CREDENTIAL_REJECTED', 'MLS-3');
    expect(b.epoch).toBe(1n);
    expect(equalBytes(b.serialize(), before)).toBe(true);
    // A later joiner whose hook refuses the ghost refuses the Welcome, whose roster lists it.
    const carol = newDevice('carol');
    const ckp = await generateKeyPackage(carol);
    const add = await a.addMembers([ckp.keyPackage]);
    await expectClientError(
      Conversation.join(carol, add.welcome!, [ckp], bobOptions),
      'MLS_CREDENTIAL_REJECTED',
      'MLS-3',
    );
    // A hook that fails (e.g. the log is unreachable) rejects: fail closed, with the cause kept.
    const failing = {
      authenticate: () => {
        throw new Error('log unreachable');
      },
    };
    const e = await expectClientError(
      Conversation.join(carol, add.welcome!, [ckp], failing),
      'MLS_CREDENTIAL_REJECTED',
    );
    expect((e.cause as Error).message).toBe('log unreachable');
    // And with an accepting hook the same Welcome works.
    const { conversation } = await Conversation.join(carol, add.welcome!, [ckp], accept);
    expect(conversation.members().map(deviceName)).toContain('ghost');
  });

  test('a key package whose credential names another key is refused (MLS-2)', async () => {
    const a = await Conversation.create(newDevice('alice'), accept);
    const mallory = newDevice('mallory');
    const victim = newDevice('victim');
    const cs = await mlsCiphersuite();
    // Mallory signs a key package with her key but puts the victim's identity key in the credential.
    const now = BigInt(Math.floor(Date.now() / 1000));
    const { publicPackage } = await generateKeyPackageWithKey(
      toMlsCredential({ userId: 'victim', deviceId: victim.deviceId, identityKey: victim.identityKey }),
      overtCapabilities(),
      { notBefore: now - 10n, notAfter: now + 1000n },
      [],
      { signKey: mallory.signingKey.secretKey, publicKey: mallory.identityKey },
      cs,
    );
    const bytes = encodeMlsMessage({
      version: 'mls10',
      wireformat: 'mls_key_package',
      keyPackage: publicPackage,
    });
    await expectClientError(a.addMembers([bytes]), 'MLS_CREDENTIAL_KEY_MISMATCH', 'MLS-2');
  });

  test('an expired or not-yet-valid key package is refused (MLS-13)', async () => {
    const a = await Conversation.create(newDevice('alice'), accept);
    const old = await generateKeyPackage(newDevice('bob'), { now: () => Date.now() - 200 * 86400_000 });
    await expectClientError(a.addMembers([old.keyPackage]), 'MLS_KEY_PACKAGE_INVALID', 'MLS-13');
    const future = await generateKeyPackage(newDevice('bob'), { now: () => Date.now() + 2 * 3600_000 });
    await expectClientError(a.addMembers([future.keyPackage]), 'MLS_KEY_PACKAGE_INVALID', 'MLS-13');
    expect(a.hasPendingCommit).toBe(false);
  });

  test('a device cannot be in the group twice (MLS-5), even when a member’s modified client commits it', async () => {
    const { ids, convs } = await makeGroup(3);
    const [a, b, c] = convs as [Conversation, Conversation, Conversation];
    // Same user and device id as B, new key.
    const twin = createMlsIdentity(ids[1]!.userId, ids[1]!.deviceId, generateSigningKey());
    const kp = await generateKeyPackage(twin);
    await expectClientError(a.addMembers([kp.keyPackage]), 'MLS_DUPLICATE_DEVICE', 'MLS-5');
    const dup = await generateKeyPackage(newDevice('dana'));
    await expectClientError(a.addMembers([dup.keyPackage, dup.keyPackage]), 'MLS_DUPLICATE_DEVICE', 'MLS-5');
    // A modified client skips the check and commits the twin with ts-mls directly; C refuses it.
    const cs = await mlsCiphersuite();
    const twinKp = decodeMlsMessage(kp.keyPackage, 0)![0];
    if (twinKp.wireformat !== 'mls_key_package') throw new Error('unexpected');
    const res = await createCommit(
      { state: rawState(a), cipherSuite: cs },
      {
        extraProposals: [{ proposalType: 'add', add: { keyPackage: twinKp.keyPackage } }],
        ratchetTreeExtension: true,
      },
    );
    await expectClientError(c.processIncoming(encodeMlsMessage(res.commit)), 'MLS_DUPLICATE_DEVICE', 'MLS-5');
    expect(c.epoch).toBe(1n);
    void b;
  });

  test('a member cannot change its credential in a commit path (MLS-4)', async () => {
    const { convs } = await makeGroup(3);
    const [a, , c] = convs as [Conversation, Conversation, Conversation];
    const cs = await mlsCiphersuite();
    // A's modified client rewrites its own leaf to claim another user (same key), then commits with a path:
    // ts-mls copies the credential from the tree into the new leaf and signs it.
    const state = rawState(a);
    const tree = state.ratchetTree.slice();
    const own = tree[0];
    if (own?.nodeType !== 'leaf') throw new Error('unexpected');
    tree[0] = {
      nodeType: 'leaf',
      leaf: {
        ...own.leaf,
        credential: toMlsCredential({
          userId: 'admin',
          deviceId: utf8Encode('phone'),
          identityKey: own.leaf.signaturePublicKey,
        }),
      },
    };
    const res = await createCommit({ state: { ...state, ratchetTree: tree }, cipherSuite: cs }, {});
    await expectClientError(
      c.processIncoming(encodeMlsMessage(res.commit)),
      'MLS_CREDENTIAL_CHANGED',
      'MLS-4',
    );
    expect(c.epoch).toBe(1n);
  });
});

describe('sender and group policy', () => {
  test('a member forging sender data that names a blank leaf is refused (MLS-8)', async () => {
    const { convs } = await makeGroup(4);
    const [a, b, c, d] = convs as [Conversation, Conversation, Conversation, Conversation];
    const rm = await a.removeMembers([device('user1')]);
    await a.mergePendingCommit();
    await deliver(rm.commit, [b, c, d]);
    // A's modified client encrypts an application message claiming to come from the now blank leaf 1.
    const s = rawState(a);
    const cs = await mlsCiphersuite();
    const forged = await protectApplicationData(
      s.signaturePrivateKey,
      s.keySchedule.senderDataSecret,
      encodeKeyTransport(randomPayload()),
      new Uint8Array(),
      s.groupContext,
      s.secretTree,
      1,
      s.clientConfig.paddingConfig,
      cs,
    );
    const bytes = encodeMlsMessage({
      version: 'mls10',
      wireformat: 'mls_private_message',
      privateMessage: forged.privateMessage,
    });
    await expectClientError(c.processIncoming(bytes), 'MLS_SENDER', 'MLS-8');
  });

  test('a Welcome into a group with group-context extensions is refused (MLS-17)', async () => {
    const cs = await mlsCiphersuite();
    const owner = newDevice('owner');
    const now = BigInt(Math.floor(Date.now() / 1000));
    const kp = await generateKeyPackageWithKey(
      toMlsCredential(owner),
      overtCapabilities(),
      { notBefore: now - 10n, notAfter: now + 1000n },
      [],
      { signKey: owner.signingKey.secretKey, publicKey: owner.identityKey },
      cs,
    );
    // A group created outside Overt's wrapper, carrying a required_capabilities extension.
    const ext = {
      extensionType: 'required_capabilities' as const,
      extensionData: encodeRequiredCapabilities({
        extensionTypes: [],
        proposalTypes: [],
        credentialTypes: [],
      }),
    };
    const group = await createGroup(randomBytes(16), kp.publicPackage, kp.privatePackage, [ext], cs);
    const joiner = newDevice('joiner');
    const bundle = await generateKeyPackage(joiner);
    const decoded = decodeMlsMessage(bundle.keyPackage, 0)![0];
    if (decoded.wireformat !== 'mls_key_package') throw new Error('unexpected');
    const res = await createCommit(
      { state: group, cipherSuite: cs },
      {
        extraProposals: [{ proposalType: 'add', add: { keyPackage: decoded.keyPackage } }],
        ratchetTreeExtension: true,
      },
    );
    const welcome = encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: res.welcome! });
    await expectClientError(
      Conversation.join(joiner, welcome, [bundle], accept),
      'MLS_GROUP_POLICY',
      'MLS-17',
    );
  });
});

describe('malformed input', () => {
  test('malformed, foreign and misdirected messages give typed errors', async () => {
    const { convs } = await makeGroup(2);
    const [a, b] = convs as [Conversation, Conversation];
    const good = await a.encrypt(randomPayload());
    await expectClientError(b.processIncoming(new Uint8Array(0)), 'MLS_MALFORMED', 'MLS-15');
    await expectClientError(b.processIncoming(good.subarray(0, good.length - 1)), 'MLS_MALFORMED', 'MLS-15');
    const trailing = new Uint8Array(good.length + 1);
    trailing.set(good);
    await expectClientError(b.processIncoming(trailing), 'MLS_MALFORMED', 'MLS-15');
    const kp = await generateKeyPackage(newDevice('x'));
    await expectClientError(b.processIncoming(kp.keyPackage), 'MLS_WIRE_FORMAT', 'MLS-16');
    // A message of another group.
    const { convs: other } = await makeGroup(2);
    await expectClientError(
      b.processIncoming(await other[0]!.encrypt(randomPayload())),
      'MLS_WRONG_GROUP',
      'MLS-10',
    );
    // A well-formed message whose application data is not a key-transport payload.
    // Its first byte is neither a history part's nor a key transport's version, so it is junk to both decoders.
    const junkData = randomBytes(40);
    junkData[0] = 0xee;
    const res = await createApplicationMessage(rawState(a), junkData, await mlsCiphersuite());
    const junk = encodeMlsMessage({
      version: 'mls10',
      wireformat: 'mls_private_message',
      privateMessage: res.privateMessage,
    });
    await expectClientError(b.processIncoming(junk), 'MLS_PAYLOAD_MALFORMED', 'MLS-14');
    // Nothing moved: the genuine message still decrypts.
    expect(app(await b.processIncoming(good)).sender.userId).toBe('user0');
  });

  test('random and mutated bytes into every entry point produce only our errors', async () => {
    const { ids, convs } = await makeGroup(2);
    const [a, b] = convs as [Conversation, Conversation];
    const msgs = [await a.encrypt(randomPayload()), (await a.update()).commit];
    await a.discardPendingCommit();
    const joiner = newDevice('j');
    const kp = await generateKeyPackage(joiner);
    const add = await a.addMembers([kp.keyPackage]);
    await a.discardPendingCommit();
    const before = b.serialize();
    let n = 0;
    for (let i = 0; i < 300; i++) {
      const r = await onlyClientErrors(() => b.processIncoming(randomBytes(i % 200)));
      expect(r).not.toBe('ok');
    }
    for (let i = 0; i < 120; i++) {
      const src = msgs[i % msgs.length]!;
      const bad = src.slice();
      const at = (i * 104729) % bad.length;
      bad[at] = bad[at]! ^ (1 + (i % 255));
      const r = await onlyClientErrors(() => b.processIncoming(bad));
      if (r === 'ok') n++;
    }
    // Only a flip in non-authenticated padding could pass; none of these positions does.
    expect(n).toBe(0);
    expect(equalBytes(b.serialize(), before)).toBe(true);
    for (let i = 0; i < 40; i++) {
      const bad = add.welcome!.slice();
      const at = (i * 7877) % bad.length;
      bad[at] = bad[at]! ^ 0x5a;
      const r = await onlyClientErrors(() => Conversation.join(joiner, bad, [kp], accept));
      expect(r).not.toBe('ok');
    }
    for (let i = 0; i < 60; i++) {
      const bad = kp.keyPackage.slice();
      const at = (i * 131) % bad.length;
      bad[at] = bad[at]! ^ 0x01;
      await onlyClientErrors(() => a.addMembers([bad]).then(() => a.discardPendingCommit()));
    }
    expect(app(await b.processIncoming(msgs[0]!)).sender.userId).toBe(ids[0]!.userId);
  });
});
