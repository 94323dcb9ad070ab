// docs/spec/client.md §4.3 (durable, idempotent receive): the receiving device is killed at every store write and
// at every relay request of a sync — after the MLS decryption, after each batch, after the ack, between items —
// and restarted from what its store holds; every message is shown exactly once across the restarts, none is
// lost and none is rejected as a replay (MLS-9). Against a real relay (relay-world.ts); a kill is an exception
// thrown in place of the write or request, after which the client object is dropped like a dead process.
import { describe, expect, it } from 'vitest';
import { texts, useWorld } from '../../test/use-world.js';
import { type KeyValueStore, MemoryStore, type StoreOp } from '../store/store.js';
import { NO_RETRY } from '../transport/relay-transport.js';
import type { ClientEvent, OvertClient } from './client.js';

const w = useWorld();

class Killed extends Error {}

/** The device's "disk": a store that dies at its `killAt`-th write (counting from 0), and counts writes. */
class MortalStore implements KeyValueStore {
  writes = 0;
  killAt = Number.POSITIVE_INFINITY;
  constructor(readonly disk: MemoryStore) {}
  private write(): void {
    if (this.writes++ === this.killAt) throw new Killed('killed at a store write');
  }
  get(key: string) {
    return this.disk.get(key);
  }
  list(prefix: string) {
    return this.disk.list(prefix);
  }
  async put(key: string, value: Uint8Array) {
    this.write();
    return this.disk.put(key, value);
  }
  async delete(key: string) {
    this.write();
    return this.disk.delete(key);
  }
  async batch(ops: readonly StoreOp[]) {
    this.write();
    return this.disk.batch(ops);
  }
}

/** What the application shows, CLI-style: receive, show the unread events, mark them read. */
async function showNew(c: OvertClient): Promise<ClientEvent[]> {
  await c.receive();
  const unread = await c.unread();
  await c.markRead(unread.map((u) => u.id));
  return unread.map((u) => u.event);
}

describe('a receiving device killed at any point of a sync shows every message exactly once', () => {
  it('at every store write and every relay request of a catch-up of several messages and a commit', async () => {
    const alice = await w.device('alice', 'alice-phone');
    const disk = new MemoryStore();
    const bob = await w.device('bob', 'bob-phone', disk);
    const carl = await w.device('carl', 'carl-phone');
    await bob.client.publishKeyPackages(20);
    await carl.client.publishKeyPackages(20);
    const { conversationId } = await alice.client.createConversation(['bob']);
    expect((await showNew(bob.client)).map((e) => e.kind)).toEqual(['joined']);

    const mortal = new MortalStore(disk);
    let requests = 0;
    let killRequestAt = Number.POSITIVE_INFINITY;
    const open = () =>
      w.reopen(
        { ...bob, store: mortal },
        {
          retry: NO_RETRY,
          fetch: async (url, init) => {
            if (requests++ === killRequestAt) throw new Killed('killed at a relay request');
            return fetch(url, init);
          },
        },
      );
    const shown: string[] = [];
    const rejected: ClientEvent[] = [];
    let round = 0;
    /** One round: alice sends three messages (the second round also adds carl: a commit among them). */
    const send = async (): Promise<string[]> => {
      const sent = [`r${round}-a`, `r${round}-b`];
      for (const t of sent) await alice.client.sendText(conversationId, t);
      if (round === 1) await alice.client.addMembers(conversationId, ['carl']);
      sent.push(`r${round}-c`);
      await alice.client.sendText(conversationId, sent[2]!);
      round++;
      return sent;
    };
    /** Runs the device until a sync completes without a kill, dropping the client after each kill. */
    const runUntilDone = async () => {
      for (let restarts = 0; ; restarts++) {
        expect(restarts).toBeLessThan(3);
        try {
          const c = await open();
          const events = await showNew(c);
          shown.push(...texts(events));
          rejected.push(...events.filter((e) => e.kind === 'rejected'));
          return;
        } catch (e) {
          // A kill at a request reaches the client as RELAY_UNAVAILABLE caused by it.
          if (!(e instanceof Killed) && !((e as { cause?: unknown }).cause instanceof Killed)) throw e;
        }
        // The "process" died: nothing more is killed in the restarted one.
        mortal.killAt = Number.POSITIVE_INFINITY;
        killRequestAt = Number.POSITIVE_INFINITY;
      }
    };

    // A clean round counts the writes and requests of one round's sync.
    let expected = await send();
    mortal.writes = 0;
    requests = 0;
    await runUntilDone();
    const writesPerRound = mortal.writes;
    const requestsPerRound = requests;
    expect(writesPerRound).toBeGreaterThan(5);
    expect(requestsPerRound).toBeGreaterThan(2);
    const all = [...expected];

    // Kill at each store write of a round's sync, one round per kill point.
    for (let k = 0; k < writesPerRound; k++) {
      expected = await send();
      all.push(...expected);
      mortal.writes = 0;
      mortal.killAt = k;
      await runUntilDone();
    }
    // Kill at each relay request of a round's sync (the catch-up read, log reads, the ack).
    for (let j = 0; j < requestsPerRound; j++) {
      expected = await send();
      all.push(...expected);
      requests = 0;
      killRequestAt = j;
      await runUntilDone();
    }
    expect(rejected).toEqual([]);
    expect(shown).toEqual(all);
  });
});
