// DESIGN A16 end to end against real processes — a real relay, a real log with a heartbeat, two real witness
// daemons (quorum 2), all on one clock that the test moves forward: a relay that freezes one client's view of the
// log on an old, validly cosigned checkpoint (a consistent prefix, not a split view) can hide a ghost device or a
// removal from that client only until the view is older than the maximum age (client.md §8.6, KT-FRESH-1); then
// the client refuses every key-transparency decision, and as soon as it sees a fresh view its alert fires.
// Also: heartbeat checkpoints (log-service.md "Heartbeat") and anchors with a witness quorum of 0 (KT-FRESH-2).
import { generateSigningKey, utf8Encode } from '@overt/core';
import { verifyCheckpoint } from '@overt/log';
import { describe, expect, it } from 'vitest';
import { expectClientError } from '../../test/expect-error.js';
import { ORG } from '../../test/relay-world.js';
import { useWorld } from '../../test/use-world.js';
import { logPolicyOf, MemoryStore, OvertClient } from '../index.js';

const w = useWorld({ heartbeatMs: 100 });

async function servedCheckpoint(): Promise<string> {
  return (await fetch(`${w.trust.log.url}checkpoint`)).text();
}

describe('heartbeat checkpoints (log-service.md "Heartbeat")', () => {
  it('with nothing appended, both witnesses cosign the same checkpoint again: their timestamps advance, the size and root stay', async () => {
    const policy = logPolicyOf(w.trust);
    await w.fresh();
    const before = verifyCheckpoint(await servedCheckpoint(), policy);
    w.clock.advance(5_000);
    await w.fresh();
    const after = verifyCheckpoint(await servedCheckpoint(), policy);
    expect(after.size).toBe(before.size);
    expect(after.rootHash).toEqual(before.rootHash);
    expect(after.cosignatures.map((c) => c.key.name).sort()).toEqual(['witness-1.test', 'witness-2.test']);
    for (const c of after.cosignatures) {
      const earlier = before.cosignatures.find((b) => b.key.name === c.key.name)!;
      expect(c.timestamp).toBeGreaterThanOrEqual(earlier.timestamp + 5);
    }
  });
});

describe('trust anchors (KT-FRESH-2)', () => {
  it('a witness quorum of 0 is refused: no witness timestamp would show the view is current', async () => {
    const trust = { ...w.trust, log: { ...w.trust.log, witnessQuorum: 0 } };
    const key = generateSigningKey();
    await expectClientError(
      OvertClient.open({
        url: w.url,
        orgId: ORG,
        userId: 'nobody',
        deviceId: 'nobody-phone',
        signingKey: key,
        store: new MemoryStore(),
        trust,
      }),
      'KT_ANCHORS_INVALID',
      'KT-FRESH-2',
    );
  });
});

describe('a relay freezes one client’s view of the log (A16)', () => {
  it('bob, frozen on the checkpoint from before his ghost was enrolled: unnoticed up to the maximum age, then every key-transparency decision is refused with KT-FRESH-1, and a fresh view raises his alert', async () => {
    const alice = await w.device('alice-fz', 'alice-fz-phone');
    const bob = await w.device('bob-fz', 'bob-fz-phone');
    const carol = await w.device('carol-fz', 'carol-fz-phone');
    const tablet = await w.device('carol-fz', 'carol-fz-tablet');
    for (const d of [alice, carol, tablet]) await d.client.publishKeyPackages(2);

    // The relay in front of the real one, for bob only: once `frozen` is set it serves him that checkpoint, and
    // with `hideRemoval` it keeps listing carol's tablet as active. Everything else is the real relay's answer.
    let frozen: string | undefined;
    let hideRemoval = false;
    const bobs = await w.reopen(bob, {
      fetch: async (url, init) => {
        if (frozen !== undefined && url.endsWith('/log/checkpoint')) return new Response(frozen);
        const res = await fetch(url, init);
        if (!hideRemoval || !/\/v1\/users\/carol-fz\/devices$/.test(url)) return res;
        const body = await res.json();
        for (const d of body.devices) d.status = 'active';
        return new Response(JSON.stringify(body), { status: res.status, headers: res.headers });
      },
    });
    await bobs.publishKeyPackages(2);
    // Before anything happens, bob talks to alice (so an epoch key is cached in his session) and reads the log.
    const { conversationId } = await bobs.createConversation([alice.userId]);
    await bobs.sendText(conversationId, 'before');
    frozen = await servedCheckpoint();
    expect(await bobs.monitorLog()).toEqual([]);

    // A ghost device is enrolled for bob with a real admin statement on the log, and carol's tablet is removed.
    const ghostKey = generateSigningKey();
    const ghostIndex = await w.enrol(bob.userId, 'bob-fz-ghost', ghostKey);
    const ghost = await OvertClient.open({
      url: w.url,
      orgId: ORG,
      userId: bob.userId,
      deviceId: 'bob-fz-ghost',
      signingKey: ghostKey,
      store: new MemoryStore(),
      trust: w.trust,
      now: w.clock.now,
    });
    await ghost.publishKeyPackages(1);
    await w.revoke(tablet);
    hideRemoval = true;

    // Everyone else moves on: alice's fresh view has the ghost's enrolment, so she accepts it as bob's device.
    const { conversationId: withGhost } = await alice.client.createConversation([bob.userId]);
    expect(alice.client.members(withGhost)).toContainEqual({ userId: bob.userId, deviceId: 'bob-fz-ghost' });

    // Within the maximum age the frozen view still counts (the delay a relay can still impose): bob sees no alert
    // and still accepts the removed tablet.
    const tabletCredential = {
      userId: tablet.userId,
      deviceId: utf8Encode(tablet.deviceId),
      identityKey: tablet.key.publicKey,
    };
    expect(await bobs.monitorLog()).toEqual([]);
    await bobs.kt.authenticate(tabletCredential);

    // Then the frozen view grows older than the maximum age, while the honest log keeps heartbeating.
    w.clock.advance((bobs.kt.maxLogAgeSeconds + 1) * 1000);
    await w.fresh();
    // Bob refuses every key-transparency decision, saying why: his own-user check, accepting a member (the removed
    // tablet, or anyone in a new conversation), sealing to the epoch key already in his session, processing his
    // mailbox (the Welcome to the conversation with his ghost).
    await expectClientError(bobs.monitorLog(), 'KT_LOG_STALE', 'KT-FRESH-1');
    await expectClientError(bobs.kt.authenticate(tabletCredential), 'KT_LOG_STALE', 'KT-FRESH-1');
    await expectClientError(bobs.createConversation([carol.userId]), 'KT_LOG_STALE', 'KT-FRESH-1');
    await expectClientError(
      bobs.sendText(conversationId, 'sealed on a stale view'),
      'KT_LOG_STALE',
      'KT-FRESH-1',
    );
    await expectClientError(bobs.sync(), 'KT_LOG_STALE', 'KT-FRESH-1');
    // Clients shown the real log are not held up: alice's view is refreshed and she sends.
    await alice.client.sendText(withGhost, 'hello bob');

    // As soon as bob is shown a fresh checkpoint, his alert fires and the removal is seen.
    frozen = undefined;
    expect(await bobs.monitorLog()).toEqual([
      {
        kind: 'alert',
        alert: 'unknown-device',
        userId: bob.userId,
        deviceId: 'bob-fz-ghost',
        identityKey: ghostKey.publicKey,
        logIndex: ghostIndex,
        check: 'KT-6',
      },
    ]);
    await expectClientError(bobs.kt.authenticate(tabletCredential), 'KT_DEVICE_REMOVED', 'KT-4');
    await bobs.sendText(conversationId, 'after');
  });

  it('a frozen view that never was fresh: a new client shown only an old checkpoint decides nothing', async () => {
    const dora = await w.device('dora-fz', 'dora-fz-phone');
    const old = await servedCheckpoint();
    w.clock.advance(3_600_000);
    await w.fresh();
    const shown = await w.reopen(dora, {
      store: new MemoryStore(),
      fetch: async (url, init) => (url.endsWith('/log/checkpoint') ? new Response(old) : fetch(url, init)),
    });
    const e = await expectClientError(shown.sync(), 'KT_LOG_STALE', 'KT-FRESH-1');
    expect(e.message).toMatch(
      /stale log view: its witness quorum last cosigned it \d+ s ago, more than the 300 s allowed/,
    );
  });
});
