// Key packages that cannot be drained (RFC 9420 §16.8; relay.md DS-11, DS-12; client.md KP-1), end to end against
// a real relay (real log and witnesses): a device that claims bob's packages over and over is refused before it
// empties them; when they are emptied anyway (several claimers), bob's last-resort package still lets others add
// him, more than once; and a named user who cannot be added stops the conversation before the relay holds it.
import { describe, expect, it } from 'vitest';
import { expectClientError } from '../../test/expect-error.js';
import { texts, useWorld } from '../../test/use-world.js';
import { isClientError } from '../errors.js';
import { decodeKeyPackageBundle, generateKeyPackage, LAST_RESORT_EXTENSION_TYPE } from '../mls/keyPackage.js';
import { NO_RETRY, type RelayTransport } from '../transport/relay-transport.js';

const w = useWorld();

describe('key packages that cannot be drained', () => {
  it('a device claiming bob’s packages twelve times is refused (DS-11) before they run out; alice still adds bob', async () => {
    const alice = await w.device('alice', 'alice-phone');
    const bob = await w.device('bob', 'bob-phone');
    // The abuser does not wait out the claim limit: each refusal is seen once (the SDK would retry after
    // Retry-After, which here only makes it wait).
    const mallory = await w.device('mallory', 'mallory-phone', undefined, { retry: NO_RETRY });
    expect(await bob.client.publishKeyPackages(10)).toBe(10);
    expect(await bob.client.transport.self()).toMatchObject({ keyPackages: 10, lastResortKeyPackage: true });

    const outcomes: string[] = [];
    for (let i = 0; i < 12; i++) {
      try {
        const claim = await mallory.client.transport.claimKeyPackages('bob');
        outcomes.push(claim.keyPackages[0]?.lastResort ? 'last-resort' : 'one-time');
      } catch (e) {
        if (!isClientError(e, 'RELAY_REFUSED')) throw e;
        expect(e).toMatchObject({ status: 429, relayCode: 'DS_CLAIM_LIMITED', check: 'DS-11' });
        outcomes.push('refused');
      }
    }
    expect(outcomes).toEqual([...Array(4).fill('one-time'), ...Array(8).fill('refused')]);
    expect((await bob.client.transport.self()).keyPackages).toBe(6);

    // Alice is another claimer: her own bucket. She creates the conversation with bob, who receives it.
    const { conversationId, missing } = await alice.client.createConversation(['bob']);
    expect(missing).toEqual([]);
    expect((await bob.client.sync())[0]).toMatchObject({ kind: 'joined' });
    await alice.client.sendText(conversationId, 'still reachable');
    expect(texts(await bob.client.sync())).toEqual(['still reachable']);
  });

  it('with the one-time packages emptied by several claimers, the last-resort package adds bob to two conversations', async () => {
    const carol = await w.device('carol', 'carol-phone');
    const dave = await w.device('dave', 'dave-phone');
    const erin = await w.device('erin', 'erin-phone');
    await erin.client.publishKeyPackages(3);
    // Three claimers of their own take the three one-time packages; the next claims get the last-resort one,
    // which stays on the relay.
    const claimers = [];
    for (const d of ['m1', 'm2', 'm3']) claimers.push(await w.device('mob', d));
    const got = [];
    for (const m of claimers) got.push((await m.client.transport.claimKeyPackages('erin')).keyPackages[0]!);
    expect(got.map((k) => k.lastResort)).toEqual([false, false, false]);
    const last = (await claimers[0]!.client.transport.claimKeyPackages('erin')).keyPackages[0]!;
    expect(last.lastResort).toBe(true);
    expect(await erin.client.transport.self()).toMatchObject({ keyPackages: 0, lastResortKeyPackage: true });

    // Carol and dave each create a conversation with erin: both Welcomes name the last-resort package.
    const c1 = await carol.client.createConversation(['erin']);
    const c2 = await dave.client.createConversation(['erin']);
    const joined = await erin.client.sync();
    expect(joined.map((e) => e.kind)).toEqual(['joined', 'joined']);
    await carol.client.sendText(c1.conversationId, 'from carol');
    await dave.client.sendText(c2.conversationId, 'from dave');
    expect(texts(await erin.client.sync()).sort()).toEqual(['from carol', 'from dave']);
    await erin.client.sendText(c1.conversationId, 'to carol');
    expect(texts(await carol.client.sync())).toEqual(['to carol']);
    // The last-resort package's keys stayed with erin after the first join (they are still in her store).
    const bundles = await erin.store.list('kp/');
    const kept = await Promise.all(
      bundles.map(async (k) => decodeKeyPackageBundle((await erin.store.get(k))!, erin.client.identity)),
    );
    expect(kept.filter((b) => b.lastResort)).toHaveLength(1);
  });

  it('KP-1: a named user with a device that has no key package stops the conversation before the relay holds it', async () => {
    const requests: string[] = [];
    const frank = await w.device('frank', 'frank-phone', undefined, {
      fetch: async (url, init) => {
        requests.push(`${init.method} ${new URL(url).pathname}`);
        return fetch(url, init);
      },
    });
    const gina1 = await w.device('gina', 'gina-phone');
    await w.device('gina', 'gina-laptop'); // enrolled, never published a key package
    await gina1.client.publishKeyPackages(2);
    requests.length = 0;
    await expectClientError(frank.client.createConversation(['gina']), 'SDK_MEMBER_UNREACHABLE', 'KP-1');
    expect(requests.filter((r) => r.startsWith('POST /v1/groups'))).toEqual([]);
    expect(frank.client.conversationIds()).toEqual([]);
    // A named user with no device at all is refused the same way.
    await w.admin.createUser('hank');
    await expectClientError(frank.client.createConversation(['hank']), 'SDK_MEMBER_UNREACHABLE', 'KP-1');
    // Adding to an existing conversation: nothing is committed.
    const ivy = await w.device('ivy', 'ivy-phone');
    await ivy.client.publishKeyPackages(1);
    const { conversationId } = await frank.client.createConversation(['ivy']);
    const epoch = frank.client.conversation(conversationId).epoch;
    requests.length = 0;
    await expectClientError(
      frank.client.addMembers(conversationId, ['gina']),
      'SDK_MEMBER_UNREACHABLE',
      'KP-1',
    );
    expect(frank.client.conversation(conversationId).epoch).toBe(epoch);
    expect(requests.filter((r) => r.includes('/commits'))).toEqual([]);
  });

  it('DS-12: the relay takes a last-resort package only with the last_resort extension, and a one-time one only without', async () => {
    const jo = await w.device('jo', 'jo-phone');
    const t: RelayTransport = jo.client.transport;
    const oneTime = await generateKeyPackage(jo.client.identity);
    const lastResort = await generateKeyPackage(jo.client.identity, { lastResort: true });
    expect(lastResort.lastResort).toBe(true);
    await expect(t.publishKeyPackages([], oneTime.keyPackage)).rejects.toMatchObject({
      relayCode: 'DS_KEY_PACKAGE_KIND',
      check: 'DS-12',
    });
    await expect(t.publishKeyPackages([lastResort.keyPackage])).rejects.toMatchObject({
      relayCode: 'DS_KEY_PACKAGE_KIND',
      check: 'DS-12',
    });
    expect(await t.self()).toMatchObject({ keyPackages: 0, lastResortKeyPackage: false });
    expect(await t.publishKeyPackages([oneTime.keyPackage], lastResort.keyPackage)).toBe(1);
    expect(await t.self()).toMatchObject({ keyPackages: 1, lastResortKeyPackage: true });
    expect(LAST_RESORT_EXTENSION_TYPE).toBe(0x000a);
  });
});
