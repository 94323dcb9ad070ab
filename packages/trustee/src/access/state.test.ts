// The trustee's view of the log (docs/spec/access.md §5.1): entries in order without a gap (ACC-T1), checkpoints
// that extend each other (ACC-T2), only verifying statements indexed, and the view rebuilt from access.sqlite.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  deviceEntry,
  epochKeyEntry,
  group,
  policyEntry,
  randomBytes,
  randomNonZeroScalar,
  scalarFromInt,
  signDeviceStatement,
  signEpochKeyStatement,
  signingKeyFromSeed,
  signPolicy,
  verifyPolicy,
} from '@overt/core';
import { describe, expect, it } from 'vitest';
import {
  deviceAdded,
  devices,
  EPOCH,
  epochEntry,
  logKeys,
  makeOrg,
  ORG,
  ORIGIN,
  orgKey,
  trusteeKeys,
  View,
} from '../../test/access-fixtures.js';
import { AccessTracker } from './state.js';
import { AccessStore } from './store.js';

const config = { orgKey: orgKey.publicKey, log: { origin: ORIGIN, logKeys } };

describe('access tracker (access.md §5.1)', () => {
  it('takes entries in order, ignores repeats and refuses a gap (ACC-T1)', async () => {
    const org = await makeOrg();
    const t = new AccessTracker(new AccessStore(':memory:'), config);
    t.onEntry(0, policyEntry(org.policy.signed));
    t.onEntry(0, policyEntry(org.policy.signed));
    expect(t.nextIndex).toBe(1);
    expect(() => t.onEntry(2, epochEntry(org))).toThrow(
      expect.objectContaining({ code: 'ACCESS_STATE', check: 'ACC-T1' }),
    );
    t.onEntry(1, epochEntry(org));
    expect(t.epochKey(EPOCH)?.index).toBe(1);
    expect(t.policyAt(1)?.index).toBe(0);
    expect(t.policyAt(0)).toBeUndefined();
  });

  it('keeps each resharing of an epoch key (same group key, newer policy) and answers the statement in force at a position (access.md §7.5)', async () => {
    const org = await makeOrg();
    const p2 = verifyPolicy(signPolicy({ ...org.policy.policy, serial: 2 }, orgKey), orgKey.publicKey);
    const statement = (groupKey = org.publicKey.groupKey) => {
      const slope = group.baseMul(randomNonZeroScalar());
      return epochKeyEntry(
        signEpochKeyStatement(
          {
            orgId: ORG,
            epoch: EPOCH,
            policyHash: p2.hash,
            threshold: 2,
            groupKey,
            verificationKeys: [1, 2, 3].map((i) => group.add(groupKey, group.mul(scalarFromInt(i), slope))),
            transcriptHash: randomBytes(32),
            sessionId: randomBytes(32),
            time: 0,
          },
          [1, 2].map((index) => ({ index, key: trusteeKeys[index - 1]! })),
        ),
      );
    };
    const reshare = statement();
    const t = new AccessTracker(new AccessStore(':memory:'), config);
    t.onEntry(0, policyEntry(org.policy.signed));
    t.onEntry(1, epochEntry(org));
    t.onEntry(2, policyEntry(p2.signed));
    t.onEntry(3, reshare);
    t.onEntry(4, reshare); // a retried append: the same policy, not another resharing
    t.onEntry(5, statement()); // a second one under the same policy: ignored
    t.onEntry(6, statement(group.baseMul(randomNonZeroScalar()))); // another group key: ignored
    expect(t.epochKey(EPOCH)?.index).toBe(1);
    expect(t.epochKeyInForceAt(EPOCH, 1)).toBeUndefined();
    expect(t.epochKeyInForceAt(EPOCH, 3)?.index).toBe(1);
    expect(t.epochKeyInForceAt(EPOCH, 4)?.index).toBe(3);
    expect(t.epochKeyInForceAt(EPOCH, 100)?.index).toBe(3);
  });

  it('indexes only statements that verify: a device statement not signed by the org key names no device', async () => {
    const org = await makeOrg();
    const forger = signingKeyFromSeed(new Uint8Array(32).fill(7));
    const t = new AccessTracker(new AccessStore(':memory:'), config);
    t.onEntry(0, policyEntry(org.policy.signed));
    t.onEntry(
      1,
      deviceEntry(
        'added',
        signDeviceStatement(forger, {
          kind: 'added',
          orgId: ORG,
          userId: devices.alice.userId,
          deviceId: devices.alice.deviceId,
          identityKey: devices.mallory.key.publicKey,
          time: 0,
        }),
      ),
    );
    t.onEntry(2, deviceAdded(devices.alice));
    expect(t.deviceKeys(devices.alice.userId, devices.alice.deviceId).map((d) => d.addedIndex)).toEqual([2]);
  });

  it('records a checkpoint only when it extends the previous one (ACC-T2), and rebuilds the view after a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'overt-access-state-'));
    try {
      const org = await makeOrg();
      const view = new View();
      view.append(policyEntry(org.policy.signed), epochEntry(org));
      const path = join(dir, 'access.sqlite');
      const store = new AccessStore(path);
      const t = new AccessTracker(store, config);
      for (const [i, e] of view.entries.entries()) t.onEntry(i, e);
      t.onCheckpoint(view.checkpoint);
      const first = view.checkpoint;
      view.append(deviceAdded(devices.alice));
      // A bigger tree without a consistency proof is not accepted.
      expect(() => t.onCheckpoint(view.checkpoint, [])).toThrow(expect.objectContaining({ check: 'CKPT-4' }));
      expect(t.checkpoint()?.text).toBe(first);
      store.close();
      const again = new AccessTracker(new AccessStore(path), config);
      expect(again.nextIndex).toBe(2);
      expect(again.epochKey(EPOCH)?.index).toBe(1);
      expect(again.checkpoint()?.text).toBe(first);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
