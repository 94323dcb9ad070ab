// docs/spec/after-release.md §6 over real HTTP: `POST /v1/trustee/shreds`. A shred statement verifies under the
// policy in force (ACC-S1), is posted by its own trustee and logged once per (epoch, trustee) — the same bytes
// again answer the logged index, other bytes are ACCESS_SHRED_EXISTS (ACC-S2) — and is appended to the log as
// `u8 11 ‖ signed shred`. Once n − k + 1 = 2 trustees of the 2-of-3 policy shredded an epoch, the relay deletes
// that epoch's envelopes (and only that epoch's). Driven through the client's AccessRelayClient.
import { AccessRelayClient, ClientError } from '@overt/client';
import {
  generateSigningKey,
  randomBytes,
  type SigningKeyPair,
  shredFor,
  signShred,
  toBase64,
} from '@overt/core';
import { decodeEntry, ENTRY_TYPES } from '@overt/log';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, ORG, publishPolicy, startHarness, TRUSTEE_KEYS } from '../../test/harness.js';
import type { EnvelopeRecord } from '../storage/storage.js';

let h: Harness;

function trustee(index: number, key: SigningKeyPair = TRUSTEE_KEYS[index - 1]!): AccessRelayClient {
  return new AccessRelayClient({ url: h.url, signer: { kind: 'trustee', index, key } });
}

async function refusal(p: Promise<unknown>): Promise<{ status?: number; code?: string; check?: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ClientError && e.code === 'RELAY_REFUSED')
      return { status: e.status, code: e.relayCode, check: e.check };
    throw e;
  }
  throw new Error('expected a refusal');
}

function envelope(epoch: number): EnvelopeRecord {
  return {
    messageId: randomBytes(16),
    orgId: ORG,
    epoch,
    conversationId: randomBytes(16),
    senderUserId: 'alice',
    senderDeviceId: 'a1',
    sendTime: Date.now(),
    header: randomBytes(120),
    capsule: randomBytes(192),
    signature: randomBytes(64),
    ciphertext: randomBytes(10),
    blobId: null,
    receivedAt: Date.now(),
  };
}

const shred = (epoch: number, index: number, at = Date.now(), org = ORG) =>
  signShred(shredFor(org, epoch, index, at), TRUSTEE_KEYS[index - 1]!);

beforeAll(async () => {
  h = await startHarness();
  const { response } = await publishPolicy(h.admin, h.adminKey);
  expect(response.status).toBe(201);
});
afterAll(async () => {
  await h.close();
});

describe('shred statements (after-release.md §6)', () => {
  it('ACC-S1, ACC-S2: verified under the policy in force, by its own trustee, one per (epoch, trustee)', async () => {
    // ACC-S1: another org, a trustee the policy does not list, a bad signature, bytes that are no statement.
    for (const bad of [
      shred(700, 1, Date.now(), 'other.test'),
      signShred(shredFor(ORG, 700, 1, Date.now()), generateSigningKey()),
      randomBytes(100),
    ])
      expect(await refusal(trustee(1).submitShred(bad))).toMatchObject({
        status: 400,
        code: 'ACCESS_SHRED_INVALID',
        check: 'ACC-S1',
      });
    // ACC-S2: trustee 2 posting trustee 1's statement.
    expect(await refusal(trustee(2).submitShred(shred(700, 1)))).toMatchObject({
      status: 403,
      code: 'AUTH_FORBIDDEN',
      check: 'ACC-S2',
    });
    const mine = shred(700, 1);
    const first = await trustee(1).submitShred(mine);
    expect(first).toMatchObject({ created: true, shredded: false });
    expect(await trustee(1).submitShred(mine)).toEqual({ ...first, created: false });
    expect(await refusal(trustee(1).submitShred(shred(700, 1, Date.now() + 1)))).toMatchObject({
      status: 409,
      code: 'ACCESS_SHRED_EXISTS',
      check: 'ACC-S2',
    });
    // Logged as u8 11 ‖ signed shred, once.
    const size = h.sequencer.checkpoint.size;
    const entries = (await h.logStorage.readEntries(0, size)).map((e) => decodeEntry(e));
    const shreds = entries.filter((e) => e.type === ENTRY_TYPES.shred);
    expect(shreds.map((e) => toBase64(e.body))).toEqual([toBase64(mine)]);
    expect(entries[first.index]!.type).toBe(ENTRY_TYPES.shred);
  });

  it('deletes the epoch’s envelopes once n − k + 1 trustees logged a shred of it, and no other epoch’s', async () => {
    const storage = h.relay.storage;
    const kept = [envelope(800), envelope(801)];
    const doomed = [envelope(799), envelope(799), envelope(799)];
    for (const e of [...kept, ...doomed]) expect(await storage.putEnvelope(e)).toBe('stored');
    const one = await trustee(3).submitShred(shred(799, 3));
    expect(one.shredded).toBe(false);
    for (const e of doomed) expect(await storage.getEnvelope(e.messageId)).toBeDefined();
    // A second trustee's shred of another epoch changes nothing for 799.
    expect((await trustee(2).submitShred(shred(801, 2))).shredded).toBe(false);
    for (const e of [...kept, ...doomed]) expect(await storage.getEnvelope(e.messageId)).toBeDefined();
    const two = await trustee(2).submitShred(shred(799, 2));
    expect(two).toMatchObject({ created: true, shredded: true });
    for (const e of doomed) expect(await storage.getEnvelope(e.messageId)).toBeUndefined();
    for (const e of kept) expect(await storage.getEnvelope(e.messageId)).toBeDefined();
    // A repeat after the deletion answers the same index and deletes again (a crash between append and delete).
    const late = envelope(799);
    await storage.putEnvelope(late);
    expect(
      await trustee(3)
        .submitShred(shred(799, 3, Date.now() + 5))
        .catch((e) => e.relayCode),
    ).toBe('ACCESS_SHRED_EXISTS');
    const again = await trustee(2).submitShred((await storage.access.getShred(799, 2))!.signed);
    expect(again).toEqual({ index: two.index, created: false, shredded: true });
    expect(await storage.getEnvelope(late.messageId)).toBeUndefined();
  });
});
