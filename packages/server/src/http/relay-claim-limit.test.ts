// docs/spec/relay.md DS-11 and DS-12 over HTTP with the relay's default claim limit: one device claiming the same
// devices' key packages over and over is refused (429 DS_CLAIM_LIMITED, Retry-After) before it can drain them,
// per (claimer, claimed device), all or nothing, on both claim endpoints; when the one-time packages are gone, the claim hands
// out the device's last-resort package without using it up, and says which devices had nothing at all.
import { createMlsIdentity, generateKeyPackage, type MlsIdentity } from '@overt/client';
import { toBase64, utf8Encode } from '@overt/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Device, type Harness, startHarness } from '../../test/harness.js';
import { DEFAULT_CLAIM_LIMIT } from '../service.js';

let h: Harness;
let skew = 0;
let alice: Device;
let carol: Device;
let bob: Device;
let bobTablet: Device;
let dave: Device;

function identity(d: Device): MlsIdentity {
  return createMlsIdentity(d.userId, utf8Encode(d.deviceId), d.key);
}

async function publish(d: Device, n: number, lastResort = false): Promise<void> {
  const one = await Promise.all(Array.from({ length: n }, () => generateKeyPackage(identity(d))));
  const last = lastResort ? await generateKeyPackage(identity(d), { lastResort: true }) : undefined;
  const r = await d.request('POST', '/v1/key-packages', {
    keyPackages: one.map((b) => toBase64(b.keyPackage)),
    ...(last ? { lastResort: toBase64(last.keyPackage) } : {}),
  });
  expect(r.status).toBe(201);
}

beforeAll(async () => {
  // The relay's clock may run ahead of the wall clock, to refill a bucket without waiting (within AUTH-5).
  h = await startHarness({ now: () => Date.now() + skew });
  alice = await h.enrol('alice', 'alice-phone');
  carol = await h.enrol('carol', 'carol-phone');
  bob = await h.enrol('bob', 'bob-phone');
  bobTablet = await h.enrol('bob', 'bob-tablet');
  dave = await h.enrol('dave', 'dave-phone');
});
afterAll(async () => {
  await h?.close();
});

describe('key-package claims (DS-11, DS-12)', () => {
  it('DS-11: a burst of claims of the same devices is refused before their packages run out, all or nothing', async () => {
    expect(DEFAULT_CLAIM_LIMIT.capacity).toBe(4);
    await publish(bob, 10, true);
    await publish(bobTablet, 10);
    await publish(dave, 3);
    const claim = (d: Device, path = '/v1/users/bob/key-packages/claim') => d.request('POST', path);
    // Each user claim takes a token of each of bob's devices (from alice's buckets).
    for (let i = 0; i < 4; i++) expect((await claim(alice)).status).toBe(200);
    for (const path of [
      '/v1/users/bob/key-packages/claim',
      '/v1/users/bob/devices/bob-phone/key-packages/claim',
    ]) {
      const refused = await claim(alice, path);
      expect(refused.status).toBe(429);
      expect(refused.body).toMatchObject({ code: 'DS_CLAIM_LIMITED', check: 'DS-11' });
      expect(refused.headers.get('retry-after')).toBe('15');
    }
    // Nothing was claimed by the refusals.
    expect(await h.relay.storage.countKeyPackages('bob-phone')).toBe(6);
    expect(await h.relay.storage.countKeyPackages('bob-tablet')).toBe(6);
    // All or nothing: carol empties her bucket of bob's tablet; her claim of all of bob's devices is then refused
    // and takes nothing from the phone either.
    for (let i = 0; i < 4; i++)
      expect((await claim(carol, '/v1/users/bob/devices/bob-tablet/key-packages/claim')).status).toBe(200);
    expect((await claim(carol)).status).toBe(429);
    expect(await h.relay.storage.countKeyPackages('bob-phone')).toBe(6);
    expect(await h.relay.storage.countKeyPackages('bob-tablet')).toBe(2);
    // Alice claiming another user's devices has buckets of her own.
    expect((await claim(alice, '/v1/users/dave/key-packages/claim')).status).toBe(200);
    // One token comes back every 15 s.
    skew += 15_000;
    expect((await claim(alice)).status).toBe(200);
    expect((await claim(alice)).status).toBe(429);
  });

  it('DS-12: with the one-time packages gone, a claim hands out the last-resort package and keeps it; `exhausted` names devices with nothing', async () => {
    // Claimers whose buckets still hold tokens (a skew beyond AUTH-5's window would stale the signatures).
    const erin = await h.enrol('erin', 'erin-phone');
    // Dave has 2 one-time packages left and no last-resort one.
    const first = await carol.request('POST', '/v1/users/dave/key-packages/claim');
    const second = await carol.request('POST', '/v1/users/dave/key-packages/claim');
    expect([first.body.keyPackages[0].lastResort, second.body.keyPackages[0].lastResort]).toEqual([
      false,
      false,
    ]);
    const none = await carol.request('POST', '/v1/users/dave/key-packages/claim');
    expect(none.body).toEqual({ keyPackages: [], exhausted: ['dave-phone'] });
    const byDevice = await carol.request('POST', '/v1/users/dave/devices/dave-phone/key-packages/claim');
    expect(byDevice.status).toBe(409);
    expect(byDevice.body).toMatchObject({ code: 'DS_KEY_PACKAGE_EXHAUSTED', check: 'DS-6' });
    // Bob's phone: drain its 5 one-time packages (several claimers), then the last-resort one every time.
    const claimers = [erin, carol, dave];
    const kinds: boolean[] = [];
    for (let i = 0; i < 9; i++) {
      const c = await claimers[i % 3]!.request('POST', '/v1/users/bob/devices/bob-phone/key-packages/claim');
      expect(c.status).toBe(200);
      kinds.push(c.body.lastResort);
    }
    expect(kinds).toEqual([false, false, false, false, false, true, true, true, true]);
    const self = await bob.request('GET', '/v1/devices/self');
    expect(self.body).toMatchObject({ keyPackages: 0, lastResortKeyPackage: true });
  });
});
