// docs/spec/relay.md §4.3 over real HTTP: the org's policy is logged through POST /v1/admin/policies only when it
// verifies under the admin key, names this org and has a greater serial (AUTH-12, STORE-R-8); an epoch key is
// accepted only under the policy in force (AUTH-11), never with no policy, never under a superseded one.
import { generateSigningKey, signPolicy, toBase64 } from '@overt/core';
import { decodeEntry, ENTRY_TYPES } from '@overt/log';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, ORG, publishEpochKey, startHarness, testPolicy } from '../../test/harness.js';
import { calendarMonthEpoch } from '../epochs.js';

let h: Harness;
const EPOCH = calendarMonthEpoch(Date.now());
const post = (signed: Uint8Array) =>
  h.admin.request('POST', '/v1/admin/policies', { statement: toBase64(signed) });

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('policies and epoch keys on the relay (AUTH-11, AUTH-12, STORE-R-8)', () => {
  it('refuses an epoch key while no policy is in force', async () => {
    const r = await h.admin.request('POST', '/v1/admin/epoch-keys', {
      statement: toBase64(new Uint8Array(300)),
    });
    expect(r.status).toBe(409);
    expect(r.body).toMatchObject({ code: 'EPOCH_KEY_NO_POLICY', check: 'AUTH-11' });
  });

  it('logs a policy signed by the admin key; refuses another key, another org, a serial not greater', async () => {
    const bad = [
      signPolicy(testPolicy(), generateSigningKey()),
      signPolicy(testPolicy('other.test'), h.adminKey),
      new Uint8Array(200),
    ];
    for (const b of bad) {
      const r = await post(b);
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ code: 'POLICY_INVALID', check: 'AUTH-12' });
    }
    const signed = signPolicy(testPolicy(ORG, { serial: 1 }), h.adminKey);
    const ok = await post(signed);
    expect(ok.status).toBe(201);
    const [entry] = await h.logStorage.readEntries(ok.body.logIndex, 1);
    expect(decodeEntry(entry!)).toEqual({ type: ENTRY_TYPES.policy, body: signed });
    const again = await post(signed);
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: 'POLICY_STALE', check: 'STORE-R-8' });
  });

  it('verifies epoch keys under the policy in force: one naming a superseded policy is refused', async () => {
    // Signed under serial 1 (the harness's policy), then serial 2 comes into force.
    const { response: first } = await publishEpochKey(h.admin, h.adminKey, EPOCH);
    expect(first.status).toBe(201);
    expect((await post(signPolicy(testPolicy(ORG, { serial: 2 }), h.adminKey))).status).toBe(201);
    const { response } = await publishEpochKey(h.admin, h.adminKey, EPOCH + 1);
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ code: 'EPOCH_KEY_INVALID', check: 'AUTH-11' });
  });
});
