// docs/spec/client.md §3: one contract suite for every KeyValueStore backend (memory here, the Node file store
// of src/node/file-store.ts), and damaged stored state refused with SDK_STORE_MALFORMED when a session opens (CLI-7).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey, utf8Encode } from '@overt/core';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { expectClientError } from '../../test/expect-error.js';
import { unreachableTrust } from '../../test/unreachable-trust.js';
import { FileStore } from '../node/index.js';
import { OvertClient } from '../sdk/client.js';
import { type KeyValueStore, MemoryStore } from './store.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const backends: [string, () => Promise<KeyValueStore>][] = [
  ['memory', async () => new MemoryStore()],
  [
    'file',
    async () => {
      const d = mkdtempSync(join(tmpdir(), 'overt-store-'));
      dirs.push(d);
      return FileStore.open(d);
    },
  ],
];

const key = fc.string({
  minLength: 1,
  maxLength: 30,
  unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
});

describe.each(backends)('KeyValueStore contract: %s', (_, make) => {
  it('put, get, delete, list by prefix; values are copies', async () => {
    const s = await make();
    expect(await s.get('a')).toBeUndefined();
    const v = new Uint8Array([1, 2, 3]);
    await s.put('conv/b', v);
    v[0] = 9;
    const got = (await s.get('conv/b'))!;
    expect(got).toEqual(new Uint8Array([1, 2, 3]));
    got[1] = 9;
    expect(await s.get('conv/b')).toEqual(new Uint8Array([1, 2, 3]));
    await s.put('conv/a', new Uint8Array(0));
    await s.put('kp/a', new Uint8Array([4]));
    expect(await s.list('conv/')).toEqual(['conv/a', 'conv/b']);
    expect(await s.get('conv/a')).toEqual(new Uint8Array(0));
    await s.put('conv/a', new Uint8Array([5]));
    expect(await s.get('conv/a')).toEqual(new Uint8Array([5]));
    await s.delete('conv/a');
    await s.delete('conv/never');
    expect(await s.list('')).toEqual(['conv/b', 'kp/a']);
  });

  it('round trips any keys and values (property)', async () => {
    const s = await make();
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(key, fc.uint8Array({ maxLength: 64 }), { maxKeys: 8 }),
        async (entries) => {
          for (const k of await s.list('')) await s.delete(k);
          for (const [k, v] of Object.entries(entries)) await s.put(k, v);
          expect(await s.list('')).toEqual(Object.keys(entries).sort());
          for (const [k, v] of Object.entries(entries)) expect(await s.get(k)).toEqual(new Uint8Array(v));
        },
      ),
      { numRuns: 30 },
    );
  });
});

describe('stored state is checked on open (CLI-7)', () => {
  const base = {
    url: 'http://127.0.0.1:1',
    orgId: 'org',
    userId: 'u',
    deviceId: 'd',
    signingKey: generateSigningKey(),
    trust: unreachableTrust(),
  };

  it('random or mutated conversation, key-package or cursor bytes give SDK_STORE_MALFORMED', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('conv/AAAA', 'kp/00', 'mailbox/cursor'),
        fc.uint8Array({ maxLength: 120 }),
        async (k, bytes) => {
          const store = new MemoryStore();
          await store.put(k, k === 'mailbox/cursor' ? utf8Encode(`x${bytes.join('')}`) : bytes);
          await expectClientError(OvertClient.open({ ...base, store }), 'SDK_STORE_MALFORMED');
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a key-package bundle of another identity is refused', async () => {
    const store = new MemoryStore();
    const other = await OvertClient.open({ ...base, store, signingKey: generateSigningKey() });
    expect(other.conversationIds()).toEqual([]);
    // Publishing needs the relay; write the bundle through the MLS layer instead.
    const { generateKeyPackage, encodeKeyPackageBundle, createMlsIdentity } = await import('../mls/index.js');
    const b = await generateKeyPackage(createMlsIdentity('u', utf8Encode('d'), generateSigningKey()));
    await store.put('kp/aa', encodeKeyPackageBundle(b));
    await expectClientError(OvertClient.open({ ...base, store }), 'SDK_STORE_MALFORMED');
  });
});
