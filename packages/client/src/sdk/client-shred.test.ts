// docs/spec/client.md §3.1 and §4.7 against a real relay and its real, witnessed log: a device on an encrypted
// file store keeps (message id, K, seed) history records of a 'shared' conversation, and no file of its store
// holds a K, a seed or a message's text; once n − k + 1 trustees of the org's logged policy have their shred
// statements for the epoch on the log, each client's log monitor prunes that epoch's records (HIS-5), not before.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, shredFor, signShred, utf8Encode } from '@overt/core';
import { ENTRY_TYPES, type EntryType, encodeEntry } from '@overt/log';
import { afterAll, describe, expect, it } from 'vitest';
import { ORG } from '../../test/relay-world.js';
import { texts, useWorld } from '../../test/use-world.js';
import { FileStore } from '../node/index.js';
import { keptHistoryRecords } from './history.js';
import { isEpochShredded } from './shreds.js';

const w = useWorld();
const dir = mkdtempSync(join(tmpdir(), 'overt-shred-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Appends `entry` to the org's log as any logged party would, and waits until a witnessed checkpoint has it. */
async function logEntry(type: EntryType, body: Uint8Array): Promise<void> {
  await w.h.sequencer.append(encodeEntry({ type, body }));
  await w.witnessed();
}

describe('history records at rest and after a shred', () => {
  it('no K, seed or text on disk; pruned once 2 of 3 trustees have shredded the epoch, not after 1', async () => {
    const ann = await w.device('sh-ann', 'sh-ann-phone');
    const store = await FileStore.open(dir, { key: randomBytes(32) });
    const ben = await w.device('sh-ben', 'sh-ben-phone', store);
    await ben.client.publishKeyPackages(1);
    const { conversationId } = await ann.client.createConversation([ben.userId], { history: 'shared' });
    await ben.client.sync();
    const said = ['the vault code is 4471', 'noted, burn this'];
    await ann.client.sendText(conversationId, said[0]!);
    expect(texts(await ben.client.sync())).toEqual([said[0]]);
    await ben.client.sendText(conversationId, said[1]!);
    expect(texts(await ann.client.sync())).toEqual([said[1]]);

    const kept = await keptHistoryRecords(store, conversationId);
    expect(kept).toHaveLength(2);
    const disk = readdirSync(dir).flatMap((f) => [Buffer.from(f), readFileSync(join(dir, f))]);
    expect(disk.length).toBeGreaterThan(6);
    for (const secret of [
      ...kept.flatMap((r) => [r.contentKey, r.seed]),
      ...said.map((t) => utf8Encode(t)),
      ben.key.secretKey.subarray(0, 32),
    ])
      expect(disk.some((b) => b.indexOf(Buffer.from(secret)) >= 0)).toBe(false);

    // The world's policy (logged first, signed with the admin key every client pins) names three trustees, k = 2:
    // one trustee's shred is not enough (1 < 3 − 2 + 1).
    const shred = (i: number, key = w.trustees[i - 1]!) =>
      signShred(shredFor(ORG, w.epoch, i, Date.now()), key);
    await logEntry(ENTRY_TYPES.shred, shred(1));
    // A statement in trustee 2's name that trustee 2 did not sign counts for nothing.
    await logEntry(ENTRY_TYPES.shred, shred(2, w.trustees[0]!));
    await ben.client.monitorLog();
    expect(await keptHistoryRecords(store, conversationId)).toHaveLength(2);
    expect(await isEpochShredded(store, w.epoch)).toBe(false);

    await logEntry(ENTRY_TYPES.shred, shred(3));
    await ben.client.monitorLog();
    expect(await keptHistoryRecords(store, conversationId)).toEqual([]);
    expect(await isEpochShredded(store, w.epoch)).toBe(true);
    // Ann's client prunes its own records the same way, from the same log.
    expect(await keptHistoryRecords(ann.store, conversationId)).toHaveLength(2);
    await ann.client.monitorLog();
    expect(await keptHistoryRecords(ann.store, conversationId)).toEqual([]);
  });
});
