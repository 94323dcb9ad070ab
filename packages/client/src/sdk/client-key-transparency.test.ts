// docs/spec/client.md §8 end to end against a real relay with a real log and two real witnesses (quorum 2):
// the authentication service checks every member against the verified log (KT-3, KT-4), the sender refuses an
// epoch key that is not on the log (KT-5), and log monitoring alerts a user to a device they did not approve
// (KT-6, KT-7). DESIGN A6: a relay (or an admin) that adds a ghost device to a user's account is caught.
import {
  generateSigningKey,
  group,
  randomNonZeroScalar,
  type SigningKeyPair,
  toBase64,
  utf8Encode,
} from '@overt/core';
import { describe, expect, it } from 'vitest';
import { expectClientError } from '../../test/expect-error.js';
import { ORG } from '../../test/relay-world.js';
import { useWorld } from '../../test/use-world.js';
import { type ClientEvent, isClientError, MemoryStore, OvertClient } from '../index.js';

const w = useWorld();

/**
 * A relay that puts a ghost device straight into its own storage, active, with `logIndex` as its enrolment —
 * no admin statement behind it — and lets the ghost publish key packages (the relay accepts its signatures).
 */
async function injectGhost(userId: string, deviceId: string, logIndex: number): Promise<OvertClient> {
  const key = generateSigningKey();
  const storage = w.h.relay.storage;
  await storage.beginEnrolment({ deviceId, userId, identityKey: key.publicKey, now: Date.now() });
  await storage.completeEnrolment(deviceId, logIndex);
  const ghost = await OvertClient.open({
    url: w.url,
    orgId: ORG,
    userId,
    deviceId,
    signingKey: key,
    store: new MemoryStore(),
    trust: w.trust,
  });
  await ghost.publishKeyPackages(1);
  return ghost;
}

function rejections(events: ClientEvent[]): ClientEvent[] {
  return events.filter((e) => e.kind === 'rejected');
}

/** The KT error a refusal carries, however deep in the MLS error's causes. */
function ktCause(e: unknown): string | undefined {
  for (let c: unknown = e; c !== undefined; c = (c as { cause?: unknown }).cause)
    if (isClientError(c) && (c.code.startsWith('KT_') || c.code === 'SDK_DEVICE_UNVERIFIED')) return c.code;
  return undefined;
}

describe('authentication service against the log (A6: ghost devices)', () => {
  for (const [label, pointAt] of [
    ['a made-up log index', () => 1_000_000],
    ['the log index of another device’s enrolment', (other: number) => other],
  ] as const) {
    it(`a ghost device the relay injects with ${label} is refused by every honest client (KT-3)`, async () => {
      const tag = label.length;
      const alice = await w.device(`alice${tag}`, `alice${tag}-phone`);
      const bob = await w.device(`bob${tag}`, `bob${tag}-phone`);
      const carol = await w.device(`carol${tag}`, `carol${tag}-phone`);
      const bobIndex = (await bob.client.transport.userDevices(bob.userId))[0]!.enrolLogIndex!;
      const ghost = await injectGhost(bob.userId, `ghost${tag}`, pointAt(bobIndex));
      await bob.client.publishKeyPackages(2);
      await carol.client.publishKeyPackages(2);

      // The adder refuses to add the ghost: the conversation is not created with it.
      const err = await alice.client.createConversation([bob.userId]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isClientError(err, 'MLS_CREDENTIAL_REJECTED')).toBe(true);
      expect(ktCause(err)).toBe('KT_DEVICE_NOT_ON_LOG');

      // A conversation the ghost creates: every honest invitee rejects its Welcome, never joins.
      const { conversationId } = await ghost.createConversation([carol.userId]);
      const got = await carol.client.sync();
      expect(got.filter((e) => e.kind === 'joined')).toEqual([]);
      const rejected = rejections(got);
      expect(rejected.length).toBeGreaterThanOrEqual(1);
      expect(rejected.at(-1)).toMatchObject({
        kind: 'rejected',
        item: 'welcome',
        code: 'MLS_CREDENTIAL_REJECTED',
      });
      expect(carol.client.conversationIds().some((id) => toBase64(id) === toBase64(conversationId))).toBe(
        false,
      );
    });
  }

  it('a device whose removal is on the log is refused even if the relay still lists it as active (KT-4)', async () => {
    const dave = await w.device('dave-kt', 'dave-kt-phone');
    const erin = await w.device('erin-kt', 'erin-kt-laptop');
    const member = {
      userId: erin.userId,
      deviceId: utf8Encode(erin.deviceId),
      identityKey: erin.key.publicKey,
    };
    await dave.client.kt.authenticate(member);
    await w.revoke(erin);
    // The lying relay: its directory answer still says "active".
    const lying = await w.reopen(dave, {
      fetch: async (url, init) => {
        const res = await fetch(url, init);
        if (!/\/v1\/users\/[^/]+\/devices$/.test(url)) return res;
        const body = await res.json();
        for (const d of body.devices) d.status = 'active';
        return new Response(JSON.stringify(body), { status: res.status, headers: res.headers });
      },
    });
    await lying.kt.log.update();
    await expectClientError(lying.kt.authenticate(member), 'KT_DEVICE_REMOVED', 'KT-4');
    // The honest answer is refused by the directory check already.
    await expectClientError(dave.client.kt.authenticate(member), 'SDK_DEVICE_UNVERIFIED', 'CLI-5');
  });

  it('the log must carry the witness quorum: a checkpoint stripped of cosignatures is refused (KT-2)', async () => {
    const frank = await w.device('frank-kt', 'frank-kt-phone', new MemoryStore());
    const stripped = await OvertClient.open({
      url: w.url,
      orgId: ORG,
      userId: frank.userId,
      deviceId: 'frank-kt-phone',
      signingKey: frank.key,
      store: new MemoryStore(),
      trust: w.trust,
      fetch: async (url, init) => {
        const res = await fetch(url, init);
        if (!url.endsWith('/log/checkpoint')) return res;
        const text = await res.text();
        // Keep only the log's own signature line (the first one).
        const [body, sigs] = text.split('\n\n') as [string, string];
        return new Response(`${body}\n\n${sigs.split('\n')[0]}\n`, { status: 200 });
      },
    });
    await expectClientError(stripped.monitorLog(), 'KT_LOG_INVALID');
  });
});

describe('epoch keys against the log (KT-5)', () => {
  let senders = 0;
  async function sender(rewrite: (body: { groupKey: string; logIndex: number }) => void): Promise<{
    client: OvertClient;
    conversationId: Uint8Array;
    puts: () => number;
    epochUrls: string[];
  }> {
    const n = ++senders;
    const a = await w.device(`gina-${n}`, `gina-${n}-phone`);
    const b = await w.device(`hank-${n}`, `hank-${n}-phone`);
    await b.client.publishKeyPackages(1);
    const { conversationId } = await a.client.createConversation([b.userId]);
    let envelopePuts = 0;
    const epochUrls: string[] = [];
    const client = await w.reopen(a, {
      fetch: async (url, init) => {
        if (/\/v1\/envelopes\//.test(url) && init.method === 'PUT') envelopePuts++;
        const res = await fetch(url, init);
        if (url.includes('/v1/epoch-keys/')) epochUrls.push(new URL(url).pathname);
        if (!/\/v1\/epoch-keys\/\d+$/.test(url)) return res;
        const body = await res.json();
        rewrite(body);
        return new Response(JSON.stringify(body), { status: res.status, headers: res.headers });
      },
    });
    return { client, conversationId, puts: () => envelopePuts, epochUrls };
  }

  it('a relay that serves another key than the logged one: the sender refuses to seal', async () => {
    const other = group.baseMul(randomNonZeroScalar());
    const s = await sender((b) => {
      b.groupKey = toBase64(other);
    });
    await expectClientError(s.client.sendText(s.conversationId, 'secret'), 'KT_EPOCH_KEY_NOT_ON_LOG');
    expect(s.puts()).toBe(0);
  });

  it('a relay that points the key at another log entry, or past the log: the sender refuses to seal', async () => {
    for (const logIndex of [0, 1, 10_000_000]) {
      const s = await sender((b) => {
        if (b.logIndex !== logIndex) b.logIndex = logIndex;
        else b.logIndex = logIndex + 1;
      });
      await expectClientError(s.client.sendText(s.conversationId, 'secret'), 'KT_EPOCH_KEY_NOT_ON_LOG');
      expect(s.puts()).toBe(0);
    }
  });

  it('an honest relay: the key of the send time’s epoch, fetched by number, is used', async () => {
    const s = await sender(() => undefined);
    const sent = await s.client.sendText(s.conversationId, 'fine');
    expect(s.puts()).toBe(1);
    // The epoch of the send time (calendar month), never the relay's "current".
    expect([w.epoch, w.epoch + 1]).toContain(sent.epoch);
    expect(s.epochUrls).toEqual([`/v1/epoch-keys/${sent.epoch}`]);
  });
});

describe('log monitoring (KT-6, KT-7)', () => {
  it('a ghost device enrolled with a real admin statement raises an alert on the user’s client', async () => {
    const ivy = await w.device('ivy-kt', 'ivy-kt-phone');
    expect(await ivy.client.monitorLog()).toEqual([]);
    const ghostKey: SigningKeyPair = generateSigningKey();
    const ghostIndex = await w.enrol('ivy-kt', 'ivy-ghost', ghostKey);
    const alerts = await ivy.client.monitorLog();
    expect(alerts).toEqual([
      {
        kind: 'alert',
        alert: 'unknown-device',
        userId: 'ivy-kt',
        deviceId: 'ivy-ghost',
        identityKey: ghostKey.publicKey,
        logIndex: ghostIndex,
        check: 'KT-6',
      },
    ]);
    // Reported again on every check until it is resolved (client.md §8); approving the device resolves it.
    expect(await ivy.client.monitorLog()).toEqual(alerts);
    await ivy.client.approveDevice('ivy-ghost', ghostKey.publicKey);
    expect(await ivy.client.monitorLog()).toEqual([]);
  });

  it('an unknown-device alert repeats until the device is removed from the log', async () => {
    const una = await w.device('una-kt', 'una-kt-phone', new MemoryStore(), { monitorLog: true });
    const ghost = await w.device('una-kt', 'una-ghost');
    expect((await una.client.sync()).map((e) => 'deviceId' in e && e.deviceId)).toEqual(['una-ghost']);
    expect((await una.client.sync()).map((e) => 'deviceId' in e && e.deviceId)).toEqual(['una-ghost']);
    // Approving another key of that device id resolves nothing.
    await una.client.approveDevice('una-ghost', generateSigningKey().publicKey);
    expect(await una.client.monitorLog()).toHaveLength(1);
    await w.revoke(ghost);
    expect(await una.client.sync()).toEqual([]);
  });

  it('an approved device raises no alert; an unannounced removal does; an announced one does not', async () => {
    const jo = await w.device('jo-kt', 'jo-kt-phone', new MemoryStore(), { monitorLog: true });
    await jo.client.approveDevice('jo-kt-laptop');
    const laptop = await w.device('jo-kt', 'jo-kt-laptop');
    const tablet = await w.device('jo-kt', 'jo-kt-tablet');
    // Alerts come with sync() when monitoring is on.
    const events = await jo.client.sync();
    expect(events).toEqual([
      expect.objectContaining({ kind: 'alert', alert: 'unknown-device', deviceId: 'jo-kt-tablet' }),
    ]);
    await w.revoke(laptop);
    // Approving the tablet resolves its alert (it would otherwise repeat with every sync).
    await jo.client.approveDevice('jo-kt-tablet', tablet.key.publicKey);
    await jo.client.forgetDevice('jo-kt-tablet');
    await w.revoke(tablet);
    expect(await jo.client.sync()).toEqual([
      expect.objectContaining({
        kind: 'alert',
        alert: 'device-removed',
        deviceId: 'jo-kt-laptop',
        check: 'KT-7',
      }),
    ]);
  });

  it('alerts survive a restart: a new session over the same store still reports them', async () => {
    const store = new MemoryStore();
    const kim = await w.device('kim-kt', 'kim-kt-phone', store);
    await kim.client.monitorLog();
    const ghostIndex = await w.enrol('kim-kt', 'kim-ghost', generateSigningKey());
    // Another operation reads the log (the authentication service) before monitoring is asked.
    await kim.client.kt.log.update();
    const again = await w.reopen(kim);
    expect(
      (await again.monitorLog()).map((a) => ['deviceId' in a ? a.deviceId : a.kind, a.logIndex]),
    ).toEqual([['kim-ghost', ghostIndex]]);
  });
});
