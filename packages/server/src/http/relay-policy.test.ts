// docs/spec/relay.md §4.3 over real HTTP: the org's policy is logged through POST /v1/admin/policies only when it
// verifies under the admin key, names this org and has a greater serial (AUTH-12, STORE-R-8); an epoch key is
// accepted only under the policy in force (AUTH-11), never with no policy, never under a superseded one; an epoch
// that has a key takes a resharing of it (same group key, the policy in force newer than its key's), nothing else
// (STORE-R-2).
import {
  decodeElement,
  type Element,
  fromBase64,
  generateSigningKey,
  group,
  randomBytes,
  randomNonZeroScalar,
  scalarFromInt,
  signEpochKeyStatement,
  signPolicy,
  toBase64,
  toBase64Url,
  verifyPolicy,
} from '@overt/core';
import { decodeEntry, ENTRY_TYPES } from '@overt/log';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Harness,
  ORG,
  publishEpochKey,
  startHarness,
  TRUSTEE_KEYS,
  testPolicy,
} from '../../test/harness.js';
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

  it('STORE-R-2: takes a resharing of a logged epoch key under a newer policy (same Y); serves and keeps it; refuses another Y or a second one under the same policy', async () => {
    const signedPolicy = signPolicy(testPolicy(ORG, { serial: 3, threshold: 3 }), h.adminKey);
    expect((await post(signedPolicy)).status).toBe(201);
    const policy = verifyPolicy(signedPolicy, h.adminKey.publicKey);
    const reader = await h.enrol('alice', 'alice-phone');
    const before = (await reader.request('GET', `/v1/epoch-keys/${EPOCH}`)).body as {
      groupKey: string;
      logIndex: number;
    };
    const y = decodeElement(fromBase64(before.groupKey), 'group key');
    // A (3, 3) sharing of the same Y under policy 3, signed by its three trustees.
    const statement = (groupKey: Element, threshold = 3) => {
      const c = [1, 2].map(() => group.baseMul(randomNonZeroScalar()));
      return signEpochKeyStatement(
        {
          orgId: ORG,
          epoch: EPOCH,
          policyHash: policy.hash,
          threshold,
          groupKey,
          verificationKeys: [1, 2, 3].map((i) => {
            const x = scalarFromInt(i);
            return group.add(
              group.add(groupKey, group.mul(x, c[0]!)),
              group.mul(scalarFromInt(i * i), c[1]!),
            );
          }),
          transcriptHash: randomBytes(32),
          sessionId: randomBytes(32),
          time: Date.now(),
        },
        TRUSTEE_KEYS.map((key, i) => ({ index: i + 1, key })),
      );
    };
    const publish = (b: Uint8Array) =>
      h.admin.request('POST', '/v1/admin/epoch-keys', { statement: toBase64(b) });
    const other = await publish(statement(group.baseMul(randomNonZeroScalar())));
    expect(other.status).toBe(409);
    expect(other.body).toMatchObject({ code: 'EPOCH_KEY_EXISTS', check: 'STORE-R-2' });
    const reshare = statement(y);
    const ok = await publish(reshare);
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ epoch: EPOCH, threshold: 3, statement: toBase64(reshare) });
    expect((ok.body as { logIndex: number }).logIndex).toBeGreaterThan(before.logIndex);
    const [entry] = await h.logStorage.readEntries((ok.body as { logIndex: number }).logIndex, 1);
    expect(decodeEntry(entry!)).toEqual({ type: ENTRY_TYPES.epoch_key, body: reshare });
    // Reads serve the key in force: the resharing.
    const served = await reader.request('GET', `/v1/epoch-keys/${EPOCH}`);
    expect(served.body).toMatchObject({ groupKey: before.groupKey, statement: toBase64(reshare) });
    // The same statement again, or another resharing under the same policy: refused.
    for (const b of [reshare, statement(y)]) {
      const r = await publish(b);
      expect(r.status).toBe(409);
      expect(r.body).toMatchObject({ code: 'EPOCH_KEY_EXISTS', check: 'STORE-R-2' });
    }
    const history = await h.relay.storage.epochKeyHistory(EPOCH);
    expect(history.map((k) => k.logIndex)).toEqual([
      before.logIndex,
      (ok.body as { logIndex: number }).logIndex,
    ]);
    expect(toBase64Url(history[1]!.statement)).toBe(toBase64Url(reshare));
  });
});
