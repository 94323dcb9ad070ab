// docs/spec/client.md §4 at scale against a real relay: a conversation of 50 users, created in one commit; every
// joiner authenticates all 50 leaves against the directory (CLI-5) and every member opens the message (CLI-1..3).
import { describe, expect, it } from 'vitest';
import type { Device } from '../../test/relay-world.js';
import { texts, useWorld } from '../../test/use-world.js';

const w = useWorld();

describe('a group of 50', () => {
  it('every member joins and receives the last member’s message', async () => {
    const devices: Device[] = [];
    for (let i = 0; i < 50; i++) devices.push(await w.device(`u${i}`, `u${i}-d`));
    await Promise.all(devices.slice(1).map((d) => d.client.publishKeyPackages(1)));
    const { conversationId, missing } = await devices[0]!.client.createConversation(
      devices.slice(1).map((d) => d.userId),
    );
    expect(missing).toEqual([]);
    for (const j of await Promise.all(devices.slice(1).map((d) => d.client.sync())))
      expect(j.map((e) => e.kind)).toEqual(['joined']);
    await devices[49]!.client.sendText(conversationId, 'hello fifty');
    for (const g of await Promise.all(devices.slice(0, 49).map((d) => d.client.sync())))
      expect(texts(g)).toEqual(['hello fifty']);
    expect(devices[0]!.client.members(conversationId)).toHaveLength(50);
  });
});
