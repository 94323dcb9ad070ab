/**
 * A real relay for the SDK's integration tests: the server's harness (SQLite relay on an ephemeral 127.0.0.1
 * port, a real log sequencer), an epoch key published from an admin statement, and helpers that enrol devices
 * the way an org-admin does — sign the device-added statement, POST it through the SDK's admin transport.
 *
 * The statement format lives in packages/server (statements.ts) only, so the admin signing uses the server's
 * `signDeviceStatement` here; see docs/spec/client.md §6.
 */
import {
  type Element,
  generateSigningKey,
  group,
  randomBytes,
  randomNonZeroScalar,
  type SigningKeyPair,
  toBase64,
} from '@overt/core';
import { calendarMonthEpoch } from '../../server/src/epochs.js';
import { signDeviceStatement, signEpochKeyStatement } from '../../server/src/statements.js';
import { type Harness, ORG, startHarness } from '../../server/test/harness.js';
import { type KeyValueStore, MemoryStore, OvertClient, RelayTransport } from '../src/index.js';

export { ORG };

export interface World {
  readonly h: Harness;
  readonly url: string;
  readonly admin: RelayTransport;
  readonly epochKey: Element;
  /** The epoch of `epochKey`: the calendar month of the clock at start, the relay's current one (RLY-17). */
  readonly epoch: number;
  /** Enrols a device (creating its user if needed) and opens a client for it. */
  device(userId: string, deviceId: string, store?: KeyValueStore): Promise<Device>;
  /** Revokes a device in the directory (admin statement on the log). */
  revoke(d: Device): Promise<void>;
  close(): Promise<void>;
}

export interface Device {
  readonly client: OvertClient;
  readonly key: SigningKeyPair;
  readonly store: KeyValueStore;
  readonly userId: string;
  readonly deviceId: string;
}

const generous = {
  principal: { capacity: 10_000, refillPerSecond: 10_000 },
  address: { capacity: 100_000, refillPerSecond: 100_000 },
};

export async function startWorld(): Promise<World> {
  const h = await startHarness({ rateLimits: generous });
  const admin = new RelayTransport({ url: h.url, key: h.adminKey, signer: { kind: 'admin' } });
  const epochKey = group.baseMul(randomNonZeroScalar());
  // The relay's current epoch follows its clock (relay.md §6.7), so the key is published for this month.
  const epoch = calendarMonthEpoch(Date.now());
  await admin.request('POST', '/v1/admin/epoch-keys', {
    statement: toBase64(
      signEpochKeyStatement(h.adminKey, {
        orgId: ORG,
        epoch,
        threshold: 2,
        groupKey: epochKey,
        verificationKeys: [1, 2, 3].map(() => group.baseMul(randomNonZeroScalar())),
        transcriptHash: randomBytes(32),
        time: Date.now(),
      }),
    ),
  });
  const users = new Set<string>();
  return {
    h,
    url: h.url,
    admin,
    epochKey,
    epoch,
    async device(userId, deviceId, store = new MemoryStore()) {
      if (!users.has(userId)) {
        await admin.createUser(userId);
        users.add(userId);
      }
      const key = generateSigningKey();
      await admin.enrolDevice(
        signDeviceStatement(h.adminKey, {
          kind: 'added',
          orgId: ORG,
          userId,
          deviceId,
          identityKey: key.publicKey,
          time: Date.now(),
        }),
      );
      const client = await OvertClient.open({
        url: h.url,
        orgId: ORG,
        userId,
        deviceId,
        signingKey: key,
        store,
      });
      return { client, key, store, userId, deviceId };
    },
    async revoke(d) {
      await admin.removeDevice(
        d.deviceId,
        signDeviceStatement(h.adminKey, {
          kind: 'removed',
          orgId: ORG,
          userId: d.userId,
          deviceId: d.deviceId,
          identityKey: d.key.publicKey,
          time: Date.now(),
        }),
      );
    },
    close: () => h.close(),
  };
}
