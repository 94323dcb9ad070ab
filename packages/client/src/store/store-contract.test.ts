// docs/spec/client.md §3: one contract suite for every KeyValueStore backend (memory here, the Node file store
// of src/node/file-store.ts), pruning of a shredded epoch's history records on every backend (HIS-5), the file
// store's encryption at rest (§3.1: no plaintext on disk, REST-2 for a moved or altered record, migration of an
// unencrypted store), and damaged stored state refused with SDK_STORE_MALFORMED when a session opens (CLI-7).
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { epochStartMs, generateSigningKey, randomBytes, toBase64Url, toHex, utf8Encode } from '@overt/core';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { expectClientError } from '../../test/expect-error.js';
import { unreachableTrust } from '../../test/unreachable-trust.js';
import { FileStore } from '../node/index.js';
import { OvertClient } from '../sdk/client.js';
import { pruneHistoryEpoch } from '../sdk/shreds.js';
import { type KeyValueStore, MemoryStore, StoreTransaction } from './store.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'overt-store-'));
  dirs.push(d);
  return d;
}

const backends: [string, () => Promise<KeyValueStore>][] = [
  ['memory', async () => new MemoryStore()],
  ['file', async () => FileStore.open(tempDir(), { key: randomBytes(32) })],
];

/** A history record's key (sdk/history.ts) for a message sent at `at`. */
const histKey = (group: string, at: number): string =>
  `hist/${group}/${String(at).padStart(16, '0')}-${toHex(randomBytes(16))}`;

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

  it('lists exactly the keys that start with any prefix, of any length and characters (property)', async () => {
    const s = await make();
    // Keys that share starts of every length with each other and with the prefix, in and out of ASCII.
    const part = fc.constantFrom('c', 'co', 'conv/', 'kp/', 'é', '§x', 'hist/g/0', '/', 'zz');
    const composed = fc.array(part, { minLength: 1, maxLength: 4 }).map((xs) => xs.join(''));
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.oneof(composed, key), { maxLength: 10 }),
        fc.oneof(fc.constant(''), composed, key),
        async (keys, prefix) => {
          for (const k of await s.list('')) await s.delete(k);
          for (const k of keys) await s.put(k, new Uint8Array([1]));
          expect(await s.list(prefix)).toEqual(keys.filter((k) => k.startsWith(prefix)).sort());
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe.each(backends)('KeyValueStore batch: %s (client.md §3.2)', (_, make) => {
  it('applies puts and deletes in order; a transaction stages them and reads its own writes', async () => {
    const s = await make();
    await s.put('a', Uint8Array.of(1));
    await s.put('b', Uint8Array.of(2));
    await s.batch([
      { key: 'a', value: undefined },
      { key: 'c', value: Uint8Array.of(3) },
      { key: 'c', value: Uint8Array.of(4) },
      { key: 'b', value: Uint8Array.of(5) },
    ]);
    expect(await s.list('')).toEqual(['b', 'c']);
    expect(await s.get('b')).toEqual(Uint8Array.of(5));
    expect(await s.get('c')).toEqual(Uint8Array.of(4));
    const tx = new StoreTransaction(s);
    await tx.put('d', Uint8Array.of(6));
    await tx.delete('b');
    expect(await tx.list('')).toEqual(['c', 'd']);
    expect(await tx.get('d')).toEqual(Uint8Array.of(6));
    expect(await tx.get('b')).toBeUndefined();
    // Nothing reaches the store before commit.
    expect(await s.list('')).toEqual(['b', 'c']);
    await tx.commit();
    expect(await s.list('')).toEqual(['c', 'd']);
  });

  it('any batch gives the same store as applying its ops one by one (property)', async () => {
    const s = await make();
    const op = fc.record({ key, value: fc.option(fc.uint8Array({ maxLength: 40 }), { nil: undefined }) });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 10 }), async (ops) => {
        for (const k of await s.list('')) await s.delete(k);
        const expected = new Map<string, Uint8Array>();
        for (const o of ops) {
          if (o.value === undefined) expected.delete(o.key);
          else expected.set(o.key, o.value);
        }
        await s.batch(ops);
        expect(await s.list('')).toEqual([...expected.keys()].sort());
        for (const [k, v] of expected) expect(await s.get(k)).toEqual(new Uint8Array(v));
      }),
      { numRuns: 25 },
    );
  });
});

describe('FileStore batch: all or none across a crash (client.md §3.2)', () => {
  it('a crash while applying a committed batch is finished by the next open; one before the commit leaves nothing', async () => {
    const dir = tempDir();
    const key = randomBytes(32);
    const s = await FileStore.open(dir, { key });
    await s.put('old', Uint8Array.of(0));
    const ops = [
      { key: 'x', value: Uint8Array.of(1) },
      { key: 'old', value: undefined },
      { key: 'y', value: Uint8Array.of(2) },
    ];
    // Crash points inside apply: after 0, 1 and 2 of its writes (the process dies: put throws and stops).
    for (const after of [0, 1, 2]) {
      for (const k of await s.list('')) await s.delete(k);
      await s.put('old', Uint8Array.of(0));
      let writes = 0;
      const crashing = await FileStore.open(dir, { key });
      const put = crashing.put.bind(crashing);
      const del = crashing.delete.bind(crashing);
      crashing.put = async (k, v) => {
        if (writes++ >= after) throw new Error('killed');
        return put(k, v);
      };
      crashing.delete = async (k) => {
        if (writes++ >= after) throw new Error('killed');
        return del(k);
      };
      await expect(crashing.batch(ops)).rejects.toThrow('killed');
      expect(readdirSync(dir)).toContain('j-batch');
      const reopened = await FileStore.open(dir, { key });
      expect(await reopened.list('')).toEqual(['x', 'y']);
      expect(readdirSync(dir)).not.toContain('j-batch');
    }
    // A journal written but not renamed into place (a crash before the commit point) is no batch.
    writeFileSync(join(dir, 't-0123456789abcdef'), randomBytes(64));
    const again = await FileStore.open(dir, { key });
    expect(await again.list('')).toEqual(['x', 'y']);
  });

  it('a journal that does not open under the profile key, or is altered, is refused (REST-2)', async () => {
    const dir = tempDir();
    const key = randomBytes(32);
    const s = await FileStore.open(dir, { key });
    await s.put('z', Uint8Array.of(9));
    // A record of a store key is not a journal: labels differ.
    writeFileSync(join(dir, 'j-batch'), readFileSync(join(dir, `s-${toBase64Url(utf8Encode('z'))}`)));
    await expectClientError(FileStore.open(dir, { key }), 'SDK_STORE_MALFORMED', 'REST-2');
    await expectClientError(s.recover(), 'SDK_STORE_MALFORMED', 'REST-2');
  });
});

describe.each(backends)('pruning a shredded epoch: %s (HIS-5)', (_, make) => {
  it("deletes exactly the history records of the epoch's messages, in every conversation", async () => {
    const s = await make();
    const e = 673;
    const inside = [
      histKey('AAAA', epochStartMs(e)),
      histKey('AAAA', epochStartMs(e + 1) - 1),
      histKey('BBBB', epochStartMs(e) + 86_400_000),
    ];
    const outside = [
      histKey('AAAA', epochStartMs(e) - 1),
      histKey('BBBB', epochStartMs(e + 1)),
      'histjoin/AAAA',
      'histin/7',
      'conv/AAAA',
      'hist/AAAA/not-a-record',
    ];
    for (const k of [...inside, ...outside]) await s.put(k, new Uint8Array([1, 2, 3]));
    expect(await pruneHistoryEpoch(s, e)).toBe(3);
    expect(await s.list('')).toEqual([...outside].sort());
    expect(await pruneHistoryEpoch(s, e)).toBe(0);
    await expectClientError(pruneHistoryEpoch(s, -1), 'SDK_USAGE');
    await expectClientError(pruneHistoryEpoch(s, 2 ** 32), 'SDK_USAGE');
  });
});

describe('FileStore: encryption at rest (client.md §3.1)', () => {
  /** Every byte the store directory holds, names and contents. */
  const onDisk = (dir: string): Buffer[] =>
    readdirSync(dir).flatMap((f) => [Buffer.from(f), readFileSync(join(dir, f))]);
  const contains = (dir: string, secret: Uint8Array): boolean =>
    onDisk(dir).some((b) => b.indexOf(Buffer.from(secret)) >= 0);

  it('records on disk hold no plaintext: a known content key, seed and message are in no file', async () => {
    const dir = tempDir();
    const s = await FileStore.open(dir, { key: randomBytes(32) });
    const k = randomBytes(32);
    const seed = randomBytes(32);
    const text = utf8Encode('the merger closes on Friday at 9');
    await s.put(histKey('AAAA', Date.now()), Uint8Array.of(1, ...randomBytes(16), ...k, ...seed));
    await s.put('frank/QUJD', text);
    await s.put('inbox/1', Uint8Array.of(1, ...k, ...text));
    for (const secret of [k, seed, text, k.subarray(0, 8), text.subarray(4, 12)])
      expect(contains(dir, secret)).toBe(false);
    // The store itself reads them back.
    expect(await s.get('frank/QUJD')).toEqual(text);
  });

  it('a record moved to another key, altered in any bit, truncated or of another key is refused (REST-2)', async () => {
    const dir = tempDir();
    const key = randomBytes(32);
    const s = await FileStore.open(dir, { key });
    await s.put('conv/a', utf8Encode('state of a'));
    await s.put('conv/b', utf8Encode('state of b'));
    const file = (k: string) => join(dir, `s-${toBase64Url(utf8Encode(k))}`);
    const good = readFileSync(file('conv/b'));
    // Swapped: a's record under b's name.
    writeFileSync(file('conv/b'), readFileSync(file('conv/a')));
    await expectClientError(s.get('conv/b'), 'SDK_STORE_MALFORMED', 'REST-2');
    // Renamed: b's record as a new key.
    writeFileSync(file('conv/b'), good);
    renameSync(file('conv/b'), file('conv/c'));
    expect(await s.list('conv/')).toEqual(['conv/a', 'conv/c']);
    await expectClientError(s.get('conv/c'), 'SDK_STORE_MALFORMED', 'REST-2');
    // Any one bit flipped, anywhere: version, nonce, ciphertext or tag.
    const a = readFileSync(file('conv/a'));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: a.length * 8 - 1 }), async (bit) => {
        const flipped = Buffer.from(a);
        flipped[bit >> 3]! ^= 1 << (bit & 7);
        writeFileSync(file('conv/a'), flipped);
        await expectClientError(s.get('conv/a'), 'SDK_STORE_MALFORMED', 'REST-2');
      }),
      { numRuns: 60 },
    );
    for (const cut of [0, 1, 24, 40, a.length - 1]) {
      writeFileSync(file('conv/a'), a.subarray(0, cut));
      await expectClientError(s.get('conv/a'), 'SDK_STORE_MALFORMED', 'REST-2');
    }
    writeFileSync(file('conv/a'), a);
    expect(await s.get('conv/a')).toEqual(utf8Encode('state of a'));
    // Another profile key opens nothing.
    const other = await FileStore.open(dir, { key: randomBytes(32) });
    await expectClientError(other.get('conv/a'), 'SDK_STORE_MALFORMED', 'REST-2');
    await expectClientError(FileStore.open(dir, { key: randomBytes(31) }), 'SDK_USAGE');
  });

  it('an unencrypted store of the old format is sealed by sealPlaintextFiles, and never read otherwise', async () => {
    const dir = tempDir();
    const k = randomBytes(32);
    const old = (name: string, value: Uint8Array) =>
      writeFileSync(join(dir, `k-${toBase64Url(utf8Encode(name))}`), value);
    old('mailbox/cursor', utf8Encode('42'));
    old('hist/AAAA/x', k);
    writeFileSync(join(dir, 'k-!!'), 'not ours');
    const s = await FileStore.open(dir, { key: randomBytes(32) });
    expect(await s.list('')).toEqual([]);
    expect(await s.get('mailbox/cursor')).toBeUndefined();
    expect(await s.sealPlaintextFiles()).toBe(2);
    expect(await s.list('')).toEqual(['hist/AAAA/x', 'mailbox/cursor']);
    expect(await s.get('hist/AAAA/x')).toEqual(k);
    expect(readdirSync(dir).filter((f) => f.startsWith('k-'))).toEqual(['k-!!']);
    expect(contains(dir, k)).toBe(false);
    expect(await s.sealPlaintextFiles()).toBe(0);
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
