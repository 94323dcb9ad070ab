// docs/spec/access.md §1 and §4 over real HTTP, the trustee side: trustees and requesters authenticate with their
// keys of the policy in force (AUTH-3, AUTH-8 for the new signer kinds), the trustee mailbox (ACC-M1, ACC-0) and
// epoch-key statements posted by the trustees themselves (AUTH-11, idempotent). Driven through the client's
// AccessRelayClient, so the client's signing and strict parsing are exercised against the real relay.
import { AccessRelayClient, ClientError } from '@overt/client';
import {
  generateSigningKey,
  group,
  randomBytes,
  randomNonZeroScalar,
  type SigningKeyPair,
  scalarFromInt,
  signEpochKeyStatement,
  signingKeyFromSeed,
  toBase64,
} from '@overt/core';
import { decodeEntry, ENTRY_TYPES } from '@overt/log';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, type Harness, ORG, publishPolicy, startHarness, TRUSTEE_KEYS } from '../../test/harness.js';
import { calendarMonthEpoch } from '../epochs.js';

let h: Harness;
const REQUESTER_KEY = signingKeyFromSeed(new Uint8Array(32).fill(0x90));

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

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('access signers (access.md §1)', () => {
  it('AUTH-3: before any policy, and for a trustee or requester the policy does not name, the signer is unknown', async () => {
    expect(await refusal(trustee(1).readMail())).toMatchObject({ status: 401, code: 'AUTH_UNKNOWN_DEVICE' });
    const { response } = await publishPolicy(h.admin, h.adminKey);
    expect(response.status).toBe(201);
    expect(await refusal(trustee(4, generateSigningKey()).readMail())).toMatchObject({
      status: 401,
      code: 'AUTH_UNKNOWN_DEVICE',
      check: 'AUTH-3',
    });
    // Trustee 2's index with trustee 1's key: the signature does not verify under the policy's key for 2.
    expect(await refusal(trustee(2, TRUSTEE_KEYS[0]).readMail())).toMatchObject({
      status: 401,
      code: 'AUTH_BAD_SIGNATURE',
    });
    const stranger = new AccessRelayClient({
      url: h.url,
      signer: { kind: 'requester', id: 'nobody', key: generateSigningKey() },
    });
    expect(await refusal(stranger.listRequests())).toMatchObject({
      status: 401,
      code: 'AUTH_UNKNOWN_DEVICE',
    });
  });

  it('AUTH-8: trustees and requesters stay on their endpoints, devices and the admin off theirs', async () => {
    const device = await h.enrol('alice', 'alice-phone');
    const mine = await device.request('GET', '/v1/trustee/mail');
    expect(mine.status).toBe(403);
    expect(mine.body).toMatchObject({ code: 'AUTH_FORBIDDEN', check: 'AUTH-8' });
    expect((await h.admin.request('GET', '/v1/access/requests')).body).toMatchObject({ check: 'AUTH-8' });
    const t1 = new Client(h.url, TRUSTEE_KEYS[0]!, { kind: 'trustee', index: 1 });
    const self = await t1.request('GET', '/v1/devices/self');
    expect(self.status).toBe(403);
    expect(self.body).toMatchObject({ code: 'AUTH_FORBIDDEN', check: 'AUTH-8' });
    const requester = new AccessRelayClient({
      url: h.url,
      signer: { kind: 'requester', id: 'requester', key: REQUESTER_KEY },
    });
    expect(await refusal(requester.readMail())).toMatchObject({ status: 403, code: 'AUTH_FORBIDDEN' });
    expect((await requester.listRequests()).items).toEqual([]);
  });
});

describe('trustee mailbox (access.md §4, §7)', () => {
  it('delivers to the addressee and to everyone for 0, in order, paged; ACC-M1 for a stranger', async () => {
    const [t1, t2, t3] = [trustee(1), trustee(2), trustee(3)];
    const a = await t1.sendMail(2, Uint8Array.of(1, 2, 3));
    const b = await t1.sendMail(0, Uint8Array.of(9));
    const c = await t3.sendMail(2, randomBytes(256 * 1024));
    expect(a < b && b < c).toBe(true);
    const page = await t2.readMail();
    expect(page.items.map((m) => [m.seq, m.from, m.to])).toEqual([
      [a, 1, 2],
      [b, 1, 0],
      [c, 3, 2],
    ]);
    expect(page.items[0]!.body).toEqual(Uint8Array.of(1, 2, 3));
    expect(page.next).toBeNull();
    const first = await t2.readMail(0, 2);
    expect(first.items.map((m) => m.seq)).toEqual([a, b]);
    expect(first.next).toBe(b);
    expect((await t2.readMail(first.next!, 2)).items.map((m) => m.seq)).toEqual([c]);
    expect((await t3.readMail()).items.map((m) => m.seq)).toEqual([b]);
    expect(await refusal(t1.sendMail(9, Uint8Array.of(1)))).toMatchObject({ status: 400, check: 'ACC-M1' });
    expect(await refusal(t1.sendMail(2, randomBytes(256 * 1024 + 1)))).toMatchObject({
      status: 400,
      code: 'ACCESS_BAD_REQUEST',
      check: 'ACC-0',
    });
    expect((await t2.readMail()).items).toHaveLength(3);
  });
});

describe('epoch keys posted by the trustees (AUTH-11)', () => {
  function statement(epoch: number, signers: number) {
    const y = group.baseMul(randomNonZeroScalar());
    const slope = group.baseMul(randomNonZeroScalar());
    return signEpochKeyStatement(
      {
        orgId: ORG,
        epoch,
        policyHash: policyHash!,
        threshold: 2,
        groupKey: y,
        verificationKeys: [1, 2, 3].map((i) => group.add(y, group.mul(scalarFromInt(i), slope))),
        transcriptHash: randomBytes(32),
        sessionId: randomBytes(32),
        time: Date.now(),
      },
      TRUSTEE_KEYS.slice(0, signers).map((key, i) => ({ index: i + 1, key })),
    );
  }
  let policyHash: Uint8Array | undefined;

  it('checks the statement exactly as the admin path, logs it once, answers a repeat with the stored key', async () => {
    policyHash = (await publishPolicy(h.admin, h.adminKey)).policy.hash;
    const epoch = calendarMonthEpoch(Date.now());
    const weak = await refusal(trustee(1).publishEpochKey(statement(epoch, 1)));
    expect(weak).toMatchObject({ status: 400, code: 'EPOCH_KEY_INVALID', check: 'AUTH-11' });
    const s = statement(epoch, 2);
    const first = await trustee(1).publishEpochKey(s);
    expect(first).toMatchObject({ epoch, created: true, statement: s });
    const [entry] = await h.logStorage.readEntries(first.logIndex, 1);
    expect(decodeEntry(entry!)).toEqual({ type: ENTRY_TYPES.epoch_key, body: s });
    const again = await trustee(3).publishEpochKey(s);
    expect(again).toMatchObject({ epoch, created: false, logIndex: first.logIndex });
    const other = await refusal(trustee(2).publishEpochKey(statement(epoch, 3)));
    expect(other).toMatchObject({ status: 409, code: 'EPOCH_KEY_EXISTS' });
    // The admin path sees the same key.
    const served = await h.admin.request('POST', '/v1/admin/epoch-keys', { statement: toBase64(s) });
    expect(served.status).toBe(409);
  });
});
