// client.md §8.4 offline: the stored known devices and alerts are attacker-reachable bytes (a corrupted or
// tampered store); anything that does not decode is SDK_STORE_MALFORMED (CLI-7), never a TypeError; the approval
// API refuses malformed arguments with SDK_USAGE.
import { generateSigningKey, utf8Encode } from '@overt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectClientError } from '../../test/expect-error.js';
import { unreachableTrust } from '../../test/unreachable-trust.js';
import { MemoryStore } from '../store/store.js';
import { RelayTransport } from '../transport/relay-transport.js';
import { KeyTransparency } from './key-transparency.js';

function kt(store: MemoryStore, maxLogAgeSeconds?: number): KeyTransparency {
  const key = generateSigningKey();
  return new KeyTransparency({
    ...(maxLogAgeSeconds !== undefined ? { maxLogAgeSeconds } : {}),
    anchors: unreachableTrust(),
    orgId: 'org',
    userId: 'u',
    deviceId: 'd',
    identityKey: key.publicKey,
    store,
    transport: new RelayTransport({
      url: 'http://127.0.0.1:1',
      key,
      signer: { kind: 'device', deviceId: 'd' },
    }),
  });
}

describe('KeyTransparency stored state', () => {
  it('this device is known from init; approvals and announced removals are stored', async () => {
    const store = new MemoryStore();
    const k = kt(store);
    await k.init();
    await k.approveDevice('laptop');
    expect((await k.knownDevices()).map((d) => [d.deviceId, d.identityKey === undefined])).toEqual([
      ['d', false],
      ['laptop', true],
    ]);
    await k.forgetDevice('laptop');
    expect((await k.knownDevices()).map((d) => d.deviceId)).toEqual(['d']);
    await expectClientError(k.approveDevice('not an id'), 'SDK_USAGE');
    await expectClientError(k.approveDevice('x', new Uint8Array(31)), 'SDK_USAGE');
    await expectClientError(k.forgetDevice(''), 'SDK_USAGE');
  });

  it('fuzz: stored alerts and known devices that do not decode are SDK_STORE_MALFORMED', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 120 }), fc.jsonValue(), async (bytes, json) => {
        for (const value of [bytes, utf8Encode(JSON.stringify(json))]) {
          const store = new MemoryStore();
          await store.put('kt/alert/0000000000000001', value);
          await expectClientError(kt(store).takeAlerts(), 'SDK_STORE_MALFORMED');
        }
        if (bytes.length !== 0 && bytes.length !== 32) {
          const store = new MemoryStore();
          await store.put('kt/known/x', bytes);
          await expectClientError(kt(store).knownDevices(), 'SDK_STORE_MALFORMED');
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('KeyTransparency freshness gate (client.md §8.6)', () => {
  it('refuses a maximum view age that is not a non-negative integer; defaults to 300 s', async () => {
    expect(kt(new MemoryStore()).maxLogAgeSeconds).toBe(300);
    for (const bad of [-1, 1.5, Number.NaN])
      await expectClientError(() => kt(new MemoryStore(), bad), 'SDK_USAGE');
  });

  it('with no view and an unreachable log nothing is decided: KT_LOG_STALE (KT-FRESH-1), caused by KT_LOG_UNAVAILABLE', async () => {
    const e = await expectClientError(kt(new MemoryStore()).ensureFresh(), 'KT_LOG_STALE', 'KT-FRESH-1');
    expect((e.cause as { code?: string }).code).toBe('KT_LOG_UNAVAILABLE');
  });
});
