// docs/spec/client.md §4.6 against a real relay: history for devices that join later. In a 'shared' conversation
// a user's new device is given the earlier messages (marked as history, with who shared them); in a 'none' one it
// sees nothing from before and a bundle sent anyway is refused (HIS-2); a member forging a bundle gets each bad
// record rejected on its own (ENV-7 another conversation, ENV-11 wrong seed, unknown message id) and the good ones
// are still shown (HIS-4).
import { randomBytes } from '@overt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectClientError } from '../../test/expect-error.js';
import type { Device } from '../../test/relay-world.js';
import { texts, useWorld } from '../../test/use-world.js';
import type { Conversation } from '../mls/conversation.js';
import {
  encodeHistoryPart,
  HISTORY_MAX_RECORDS,
  HISTORY_MAX_RECORDS_PER_PART,
  type HistoryPart,
} from '../mls/history.js';
import { MemoryStore } from '../store/store.js';
import { NO_RETRY } from '../transport/relay-transport.js';
import { historyParts, keptHistoryRecords } from './history.js';

const w = useWorld();

/** Ann (phone) and Ben in a conversation with `history`, each having sent one message the other read. */
async function pair(prefix: string, history: 'none' | 'shared') {
  const ann = await w.device(`${prefix}-ann`, `${prefix}-ann-phone`);
  const ben = await w.device(`${prefix}-ben`, `${prefix}-ben-phone`);
  await ben.client.publishKeyPackages(1);
  const { conversationId } = await ann.client.createConversation([ben.userId], { history });
  expect((await ben.client.sync()).map((e) => e.kind)).toEqual(['joined']);
  await ann.client.sendText(conversationId, 'one');
  await ben.client.sendText(conversationId, 'two');
  expect(texts(await ben.client.sync())).toEqual(['one']);
  expect(texts(await ann.client.sync())).toEqual(['two']);
  return { ann, ben, conversationId };
}

/** Ann's new laptop, added to the conversation by `adder`. */
async function addLaptop(prefix: string, adder: Device, conversationId: Uint8Array): Promise<Device> {
  const laptop = await w.device(`${prefix}-ann`, `${prefix}-ann-laptop`);
  await laptop.client.publishKeyPackages(1);
  expect(await adder.client.addMembers(conversationId, [laptop.userId])).toEqual([]);
  return laptop;
}

/** What a modified client can send: a history part in any conversation, bypassing `encryptHistory`'s HIS-2. */
async function forgePart(d: Device, conversationId: Uint8Array, part: HistoryPart): Promise<void> {
  const conv = d.client.conversation(conversationId) as unknown as {
    encryptData(encode: () => Uint8Array): Promise<Uint8Array>;
  };
  await d.client.transport.postMessage(conversationId, await conv.encryptData(() => encodeHistoryPart(part)));
}

function partFor(conv: Conversation, audience: string[], records: HistoryPart['records']): HistoryPart {
  return {
    bundleId: randomBytes(16),
    forEpoch: Number(conv.epoch),
    partIndex: 0,
    partCount: 1,
    audience,
    records,
  };
}

describe('history for devices that join later', () => {
  it("'shared': a user's new device sees the earlier messages as history, others see nothing twice", async () => {
    const { ann, ben, conversationId } = await pair('hs', 'shared');
    expect(ann.client.conversation(conversationId).history).toBe('shared');
    const laptop = await addLaptop('hs', ann, conversationId);
    const got = await laptop.client.sync();
    expect(got.map((e) => e.kind)).toEqual(['joined', 'message', 'message']);
    expect(laptop.client.conversation(conversationId).history).toBe('shared');
    expect(texts(got)).toEqual(['one', 'two']);
    const [, one, two] = got;
    expect(one).toMatchObject({
      sender: { userId: 'hs-ann', deviceId: 'hs-ann-phone' },
      history: { sharedBy: { userId: 'hs-ann', deviceId: 'hs-ann-phone' } },
    });
    expect(two).toMatchObject({ sender: { userId: 'hs-ben', deviceId: 'hs-ben-phone' } });
    // Ben already had these messages: the bundle is not for him.
    expect((await ben.client.sync()).map((e) => e.kind)).toEqual(['membership']);
    // Live messages afterwards are not history; the laptop keeps records and can share in turn.
    await ben.client.sendText(conversationId, 'three');
    const live = await laptop.client.sync();
    expect(texts(live)).toEqual(['three']);
    expect(live[0]).not.toHaveProperty('history');
    expect(await keptHistoryRecords(laptop.store, conversationId)).toHaveLength(3);
  });

  it("'none': the new device sees nothing from before; a bundle sent anyway is refused (HIS-2)", async () => {
    const { ann, ben, conversationId } = await pair('hn', 'none');
    expect(await ann.store.list('hist/')).toEqual([]);
    const laptop = await addLaptop('hn', ann, conversationId);
    expect((await laptop.client.sync()).map((e) => e.kind)).toEqual(['joined']);
    await ben.client.sync();
    const conv = ben.client.conversation(conversationId);
    await forgePart(
      ben,
      conversationId,
      partFor(
        conv,
        [ann.userId],
        [{ messageId: randomBytes(16), contentKey: randomBytes(32), seed: randomBytes(32) }],
      ),
    );
    expect(await laptop.client.sync()).toEqual([
      expect.objectContaining({
        kind: 'rejected',
        item: 'history',
        code: 'SDK_HISTORY_REFUSED',
        check: 'HIS-2',
      }),
    ]);
    // Honest traffic goes on.
    await ben.client.sendText(conversationId, 'after');
    expect(texts(await laptop.client.sync())).toEqual(['after']);
  });

  it('a forged bundle: each bad record is rejected alone, the good ones are shown', async () => {
    const { ann, ben, conversationId } = await pair('hf', 'shared');
    // Another shared conversation of the same two users, whose envelope Ann's laptop may read but is not this one.
    await ann.client.publishKeyPackages(1);
    const other = await ben.client.createConversation([ann.userId], { history: 'shared' });
    await ann.client.sync();
    await ben.client.sendText(other.conversationId, 'elsewhere');
    // Ann holds no records (say a fresh device of hers added the laptop): only Ben's bundle reaches it.
    for (const k of await ann.store.list('hist/')) await ann.store.delete(k);
    const laptop = await addLaptop('hf', ann, conversationId);
    expect((await laptop.client.sync()).map((e) => e.kind)).toEqual(['joined']);
    await ben.client.sync();

    const [one, two] = await keptHistoryRecords(ben.store, conversationId);
    const [elsewhere] = await keptHistoryRecords(ben.store, other.conversationId);
    const unknown = { messageId: randomBytes(16), contentKey: randomBytes(32), seed: randomBytes(32) };
    const wrongSeed = { ...one!, seed: randomBytes(32) };
    await forgePart(
      ben,
      conversationId,
      partFor(
        ben.client.conversation(conversationId),
        [ann.userId],
        [elsewhere!, wrongSeed, unknown, one!, two!],
      ),
    );
    const got = await laptop.client.sync();
    expect(got.map((e) => (e.kind === 'rejected' ? `${e.item}:${e.code}:${e.check}` : e.kind))).toEqual([
      'history:ENVELOPE_CONTEXT:ENV-7',
      'history:ENVELOPE_CAPSULE:ENV-11',
      expect.stringMatching(/^history:ENV_NOT_FOUND:/),
      'message',
      'message',
    ]);
    expect(texts(got)).toEqual(['one', 'two']);
    expect(got[3]).toMatchObject({ history: { sharedBy: { userId: 'hf-ben', deviceId: 'hf-ben-phone' } } });
  });

  it('a history larger than one part arrives in several parts, in send order', async () => {
    const { ann, conversationId } = await pair('hp', 'shared');
    const more = Array.from({ length: HISTORY_MAX_RECORDS_PER_PART }, (_, i) => `m${i}`);
    for (const t of more) await ann.client.sendText(conversationId, t);
    const laptop = await addLaptop('hp', ann, conversationId);
    const got = (await laptop.client.sync()).filter((e) => e.kind === 'message');
    // Kept in send-time order (ties, within one millisecond, in message-id order).
    expect(texts(got).sort()).toEqual(['one', 'two', ...more].sort());
    const times = got.map((e) => (e.kind === 'message' ? e.sendTime : 0));
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('a relay failure while opening history loses nothing and shows nothing twice', async () => {
    const { ann, conversationId } = await pair('hc', 'shared');
    const laptop = await addLaptop('hc', ann, conversationId);
    let fetches = 0;
    const flaky = await w.reopen(laptop, {
      // One failure, not retried by the transport: the sync fails part-way.
      retry: NO_RETRY,
      fetch: async (url, init) => {
        if (url.includes('/v1/envelopes/') && ++fetches === 2) throw new TypeError('network down');
        return fetch(url, init);
      },
    });
    await expectClientError(flaky.sync(), 'RELAY_UNAVAILABLE');
    expect(await laptop.store.list('histin/')).toHaveLength(1);
    const got = await flaky.sync();
    expect(got.map((e) => e.kind)).toEqual(['joined', 'message', 'message']);
    expect(texts(got)).toEqual(['one', 'two']);
    expect(await laptop.store.list('histin/')).toEqual([]);
    expect(await flaky.sync()).toEqual([]);
  });

  it('bundles are cut into parts of at most 64 records, the most recent 1024', () => {
    const rec = (i: number) => ({
      messageId: Uint8Array.of(i & 255, i >> 8),
      contentKey: randomBytes(32),
      seed: randomBytes(32),
    });
    const records = Array.from({ length: HISTORY_MAX_RECORDS + 10 }, (_, i) => rec(i));
    const parts = historyParts(records, 7, ['ann']);
    expect(parts).toHaveLength(HISTORY_MAX_RECORDS / HISTORY_MAX_RECORDS_PER_PART);
    expect(parts.every((p, i) => p.partIndex === i && p.partCount === parts.length && p.forEpoch === 7)).toBe(
      true,
    );
    expect(parts.flatMap((p) => p.records)).toEqual(records.slice(10));
    expect(historyParts(records.slice(0, 3), 1, ['ann'])).toHaveLength(1);
  });

  it('kept records read back from the store decode or give SDK_STORE_MALFORMED (CLI-7)', async () => {
    const id = Uint8Array.of(7);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 100 }), async (b) => {
        const store = new MemoryStore();
        await store.put(`hist/${'Bw'}/0000000000000001-00`, b);
        try {
          const got = await keptHistoryRecords(store, id);
          expect(b).toHaveLength(81);
          expect(got[0]!.seed).toEqual(b.subarray(49));
        } catch (e) {
          await expectClientError(Promise.reject(e), 'SDK_STORE_MALFORMED', 'CLI-7');
        }
      }),
    );
  });
});
