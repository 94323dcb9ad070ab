// docs/spec/client.md §4 end to end against a real relay (server harness: SQLite, real log sequencer, ephemeral
// port): two users chat both ways, a user's two devices both receive, an offline device receives once on
// reconnect (a new session over the same store), and a 10 MB file round trips through a chunked blob.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { equalBytes, randomBytes } from '@overt/core';
import { describe, expect, it } from 'vitest';
import { expectClientError } from '../../test/expect-error.js';
import { texts, useWorld } from '../../test/use-world.js';
import { FileStore } from '../node/index.js';
import { NO_RETRY } from '../transport/relay-transport.js';

const w = useWorld();

describe('OvertClient messaging', () => {
  it('two users chat both ways; the sender is the MLS-authenticated device', async () => {
    const alice = await w.device('alice', 'alice-phone');
    const bob = await w.device('bob', 'bob-phone');
    await bob.client.publishKeyPackages(2);
    const { conversationId, missing } = await alice.client.createConversation(['bob']);
    expect(missing).toEqual([]);
    const joined = await bob.client.sync();
    expect(joined).toHaveLength(1);
    expect(joined[0]).toMatchObject({ kind: 'joined' });
    expect(
      bob.client
        .members(conversationId)
        .map((m) => m.deviceId)
        .sort(),
    ).toEqual(['alice-phone', 'bob-phone']);

    await alice.client.sendText(conversationId, 'hello bob');
    const got = await bob.client.sync();
    expect(texts(got)).toEqual(['hello bob']);
    expect(got[0]).toMatchObject({ kind: 'message', sender: { userId: 'alice', deviceId: 'alice-phone' } });
    await bob.client.sendText(conversationId, 'hi alice');
    await bob.client.sendText(conversationId, 'second');
    expect(texts(await alice.client.sync())).toEqual(['hi alice', 'second']);
    // Acknowledged items are gone: a second sync sees nothing new.
    expect(await bob.client.sync()).toEqual([]);
  });

  it('a user with two devices receives on both; the sender’s other device receives its own user’s message', async () => {
    const carol = await w.device('carol', 'carol-phone');
    const dave1 = await w.device('dave', 'dave-phone');
    const dave2 = await w.device('dave', 'dave-laptop');
    const carol2 = await w.device('carol', 'carol-laptop');
    for (const d of [dave1, dave2, carol2]) await d.client.publishKeyPackages(1);
    const { conversationId } = await carol.client.createConversation(['dave']);
    for (const d of [dave1, dave2, carol2]) expect((await d.client.sync())[0]?.kind).toBe('joined');
    await carol.client.sendText(conversationId, 'to all of dave');
    for (const d of [dave1, dave2, carol2]) expect(texts(await d.client.sync())).toEqual(['to all of dave']);
  });

  it('a member’s new device is added with its own key package only: the present devices keep theirs (DS-6)', async () => {
    const nora = await w.device('nora', 'nora-phone');
    const fay1 = await w.device('fay', 'fay-phone');
    await fay1.client.publishKeyPackages(2);
    const { conversationId } = await nora.client.createConversation(['fay']);
    expect((await fay1.client.sync())[0]?.kind).toBe('joined');
    const fay2 = await w.device('fay', 'fay-laptop');
    await fay2.client.publishKeyPackages(1);
    const storage = w.h.relay.storage;
    expect(await storage.countKeyPackages('fay-phone')).toBe(1);
    expect(await nora.client.addMembers(conversationId, ['fay'])).toEqual([]);
    expect(await storage.countKeyPackages('fay-phone')).toBe(1);
    expect(await storage.countKeyPackages('fay-laptop')).toBe(0);
    expect((await fay2.client.sync())[0]?.kind).toBe('joined');
    await nora.client.sendText(conversationId, 'welcome, laptop');
    expect(texts(await fay2.client.sync())).toEqual(['welcome, laptop']);
  });

  it('an offline device receives once on reconnect, from its stored state', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'overt-client-'));
    const store = await FileStore.open(dir, { key: randomBytes(32) });
    const erin = await w.device('erin', 'erin-phone');
    const frank = await w.device('frank', 'frank-phone', store);
    await frank.client.publishKeyPackages(1);
    const { conversationId } = await erin.client.createConversation(['frank']);
    await erin.client.sendText(conversationId, 'while you were away 1');
    await erin.client.sendText(conversationId, 'while you were away 2');
    // Frank's device comes online as a new session over the same store.
    const again = await w.reopen(frank);
    const events = await again.sync();
    expect(events.map((e) => e.kind)).toEqual(['joined', 'message', 'message']);
    expect(texts(events)).toEqual(['while you were away 1', 'while you were away 2']);
    await erin.client.sendText(conversationId, 'now online');
    // And a third session restores the joined conversation from the file store.
    const third = await w.reopen(frank);
    expect(texts(await third.sync())).toEqual(['now online']);
    expect(await third.sync()).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a 10 MB file round trips through a chunked blob', async () => {
    const gina = await w.device('gina', 'gina-phone');
    const hal = await w.device('hal', 'hal-phone');
    await hal.client.publishKeyPackages(1);
    const { conversationId } = await gina.client.createConversation(['hal']);
    await hal.client.sync();
    const file = randomBytes(10 * 1000 * 1000);
    // The upload reports its progress chunk by chunk, in order, up to the whole file (cli's `send --file` bar).
    const progress: number[] = [];
    let whole = 0;
    await gina.client.sendFile(conversationId, file, 'application/octet-stream', {
      onProgress: (done, total) => {
        progress.push(done);
        whole = total;
      },
    });
    // The total is the encoded file content (the file with its type and name), done ends there.
    expect(whole).toBeGreaterThanOrEqual(file.length);
    expect(progress.length).toBeGreaterThan(1);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress.at(-1)).toBe(whole);
    const [e] = await hal.client.sync();
    expect(e).toMatchObject({ kind: 'message', contentType: 'application/octet-stream' });
    expect(e?.kind === 'message' && equalBytes(e.payload, file)).toBe(true);
  });
  it('a relay failure while fetching the envelope loses nothing: the next sync opens the message once', async () => {
    const ivy = await w.device('ivy', 'ivy-phone');
    const jon = await w.device('jon', 'jon-phone');
    await jon.client.publishKeyPackages(1);
    const { conversationId } = await ivy.client.createConversation(['jon']);
    await jon.client.sync();
    await ivy.client.sendText(conversationId, 'survives a broken fetch');
    // The catch-up page is served without its envelopes, so the envelope is fetched — and that fails while `down`
    // (past the transport's retries).
    let down = true;
    const flaky = await w.reopen(jon, {
      retry: NO_RETRY,
      fetch: async (url, init) => {
        if (down && url.includes('/v1/envelopes/')) throw new TypeError('network down');
        const res = await fetch(url, init);
        if (!url.includes('/v1/mailbox/catch-up')) return res;
        const page = await res.json();
        for (const i of page.items) delete i.envelope;
        return new Response(JSON.stringify(page), { status: res.status, headers: res.headers });
      },
    });
    await expectClientError(flaky.sync(), 'RELAY_UNAVAILABLE');
    expect(await jon.store.list('inbox/')).toHaveLength(1);
    down = false;
    expect(texts(await flaky.sync())).toEqual(['survives a broken fetch']);
    expect(await jon.store.list('inbox/')).toEqual([]);
    expect(await flaky.sync()).toEqual([]);
  });
  it('a commit whose answer is lost is settled from the relay’s record, at once or on the next sync', async () => {
    const kim = await w.device('kim', 'kim-phone');
    const lee = await w.device('lee', 'lee-phone');
    const max = await w.device('max', 'max-phone');
    await lee.client.publishKeyPackages(1);
    await max.client.publishKeyPackages(1);
    let mode: 'ok' | 'lose-answer' | 'lose-all' = 'ok';
    const flaky = await w.reopen(kim, {
      // The lost answers are not retried away by the transport.
      retry: NO_RETRY,
      fetch: async (url, init) => {
        if (mode !== 'ok' && url.includes('/commits') && (init.method === 'POST' || mode === 'lose-all')) {
          if (init.method === 'POST') await fetch(url, init);
          throw new TypeError('connection reset');
        }
        return fetch(url, init);
      },
    });
    const { conversationId } = await flaky.createConversation([]);
    // The relay accepted the commit; only its answer was lost: the client asks and merges at once.
    mode = 'lose-answer';
    expect(await flaky.addMembers(conversationId, ['lee'])).toEqual([]);
    mode = 'ok';
    expect(flaky.conversation(conversationId).hasPendingCommit).toBe(false);
    expect(flaky.members(conversationId).map((m) => m.userId)).toEqual(['kim', 'lee']);
    expect((await lee.client.sync())[0]?.kind).toBe('joined');
    // Neither the answer nor the question gets through: the outcome is unknown until the next sync settles it.
    mode = 'lose-all';
    const add = flaky.addMembers(conversationId, ['max']);
    await expect(add).rejects.toMatchObject({ code: 'RELAY_UNAVAILABLE' });
    expect(flaky.conversation(conversationId).hasPendingCommit).toBe(true);
    mode = 'ok';
    await flaky.sync();
    expect(flaky.members(conversationId)).toHaveLength(3);
    expect((await max.client.sync())[0]?.kind).toBe('joined');
    expect((await lee.client.sync())[0]?.kind).toBe('membership');
    await flaky.sendText(conversationId, 'all settled');
    expect(texts(await lee.client.sync())).toEqual(['all settled']);
    expect(texts(await max.client.sync())).toEqual(['all settled']);
  });
});
