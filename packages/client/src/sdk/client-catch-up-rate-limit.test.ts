// docs/spec/client.md §4.3 and §2.1, against a real relay with its default rate limits (120-request burst per
// device, relay.md §5): 200 messages sent while the recipient was offline are caught up in catch-up pages
// (relay.md §6.9), not one envelope GET each, so the recipient is never rate limited and loses nothing; the
// sender's 400 requests run into the limit and get through by the transport's retries (429 with Retry-After).
// And 130 pending messages with the relay connection cut part-way through the read: every one is shown exactly
// once after it comes back, none is rejected as a replay (MLS-9).
import { describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMITS } from '../../../server/src/http/app.js';
import { texts, useWorld } from '../../test/use-world.js';
import { NO_RETRY } from '../transport/relay-transport.js';
import type { ClientEvent, OvertClient } from './client.js';

const w = useWorld({ rateLimits: DEFAULT_RATE_LIMITS });

async function showNew(c: OvertClient): Promise<ClientEvent[]> {
  await c.receive();
  const unread = await c.unread();
  await c.markRead(unread.map((u) => u.id));
  return unread.map((u) => u.event);
}

describe('catching up through the default rate limit', () => {
  it('200 messages sent while bob was offline: bob reads them all, never refused with 429', async () => {
    const alice = await w.device('alice', 'alice-phone');
    const bob = await w.device('bob', 'bob-phone');
    await bob.client.publishKeyPackages(1);
    const { conversationId } = await alice.client.createConversation(['bob']);
    await bob.client.sync();
    const sent = Array.from({ length: 200 }, (_, i) => `message ${i}`);
    for (const t of sent) await alice.client.sendText(conversationId, t);
    const statuses: number[] = [];
    const reading = await w.reopen(bob, {
      fetch: async (url, init) => {
        const res = await fetch(url, init);
        statuses.push(res.status);
        return res;
      },
    });
    const events = await showNew(reading);
    expect(events.filter((e) => e.kind === 'rejected')).toEqual([]);
    expect(texts(events)).toEqual(sent);
    expect(statuses.filter((s) => s === 429)).toEqual([]);
    expect(await showNew(reading)).toEqual([]);
  }, 180_000);

  it('130 pending messages, the connection cut during the read: each shown exactly once, no MLS_REPLAY', async () => {
    const carol = await w.device('carol', 'carol-phone');
    const dan = await w.device('dan', 'dan-phone');
    await dan.client.publishKeyPackages(1);
    const { conversationId } = await carol.client.createConversation(['dan']);
    await dan.client.sync();
    const sent = Array.from({ length: 130 }, (_, i) => `pending ${i}`);
    for (const t of sent) await carol.client.sendText(conversationId, t);
    // The relay goes away after the catch-up page is read, before it is acknowledged: processing is under way.
    let cut = false;
    const cutting = await w.reopen(dan, {
      retry: NO_RETRY,
      fetch: async (url, init) => {
        if (cut || url.includes('/v1/mailbox/ack')) {
          cut = true;
          throw new TypeError('connection reset');
        }
        return fetch(url, init);
      },
    });
    await expect(cutting.receive()).rejects.toMatchObject({ code: 'RELAY_UNAVAILABLE' });
    // Back: a new run of the device on the same store.
    const back = await w.reopen(dan);
    const events = await showNew(back);
    expect(events.filter((e) => e.kind === 'rejected')).toEqual([]);
    expect(texts(events)).toEqual(sent);
    expect(await showNew(back)).toEqual([]);
  }, 180_000);
});
