// The access worker pool (access-workers.ts) with real components: a k = 2 of n = 3 DKG, real envelopes with
// capsules and sender signatures, two worker threads per pool. Trustees release shares in the workers, the
// requester verifies, combines and opens them there; bad signatures, capsules and shares are named, not hidden.
import {
  type DkgOutput,
  generateSigningKey,
  nobleBackend,
  randomBytes,
  SHARE_BYTES,
  sealEnvelope,
  utf8Encode,
} from '@overt/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localDkg } from '../../../core/test/dkg-fixtures.js';
import { AccessWorkerPool, itemOf, pack } from './access-workers.js';
import { nodeCryptoBackend } from './node-crypto-backend.js';

const N = 12;
let outputs: DkgOutput[];
let envelopes: Uint8Array[];
let senderKeys: Uint8Array;
const payloadOf = (i: number) => utf8Encode(`message ${i} `.repeat(10));
const pools: AccessWorkerPool[] = [];
/** One pool per trustee and one for the requester, started once (a worker's start-up under tsx is slow). */
let trustees: AccessWorkerPool[];
let requester: AccessWorkerPool;

beforeAll(async () => {
  outputs = await localDkg(2, 3);
  const signer = generateSigningKey();
  envelopes = [];
  for (let i = 0; i < N; i++) {
    const fields = {
      orgId: 'example.org',
      epoch: 1,
      conversationId: new Uint8Array(16).fill(1),
      senderUserId: 'alice@example.org',
      senderDeviceId: new Uint8Array(8).fill(2),
      recipients: ['alice@example.org', 'bob@example.org'],
      messageId: randomBytes(16),
      sendTime: Date.now(),
      contentType: 'text/plain; charset=utf-8',
    };
    envelopes.push(
      (await sealEnvelope(fields, payloadOf(i), outputs[0]!.publicKey.groupKey, signer)).envelope,
    );
  }
  senderKeys = new Uint8Array(32 * N);
  for (let i = 0; i < N; i++) senderKeys.set(signer.publicKey, 32 * i);
  // Two workers where a job is split over them, one elsewhere.
  trustees = await Promise.all([1, 2, 3].map((t) => trusteePool(t, t === 1 ? 2 : 1)));
  requester = await AccessWorkerPool.start({ publicKey: outputs[0]!.publicKey, size: 2 });
  pools.push(requester);
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

async function trusteePool(i: number, size: number): Promise<AccessWorkerPool> {
  const o = outputs[i - 1]!;
  const pool = await AccessWorkerPool.start({ publicKey: o.publicKey, keyShare: o.keyShare!, size });
  pools.push(pool);
  return pool;
}

describe('access worker pool', () => {
  it('trustees release shares in the workers; the requester recovers K and opens every envelope', async () => {
    const shares: Uint8Array[] = [];
    for (const t of [1, 3]) {
      const pool = trustees[t - 1]!;
      const out = await pool.release({ heads: pack(envelopes), senderKeys });
      expect(out.failures).toEqual([]);
      expect(out.shares.length).toBe(N * SHARE_BYTES);
      for (let i = 0; i < N; i++) expect(out.shares[i * SHARE_BYTES]).toBe(t);
      expect(out.ms.capsule_verify).toBeGreaterThan(0);
      shares.push(out.shares);
    }
    const got = await requester.recover({ envelopes: pack(envelopes), shares, open: true, returnKeys: true });
    expect(got.failures).toEqual([]);
    expect([...got.ok]).toEqual(new Array(N).fill(1));
    for (let i = 0; i < N; i++) expect(itemOf(got.payloads!, i)).toEqual(payloadOf(i));
    expect(got.keys!.some((b) => b !== 0)).toBe(true);
    // One trustee's shares are not enough (k = 2): SHR-6 for every envelope, nothing opened.
    const one = await requester.recover({ envelopes: pack(envelopes), shares: [shares[0]!], open: true });
    expect([...one.ok]).toEqual(new Array(N).fill(0));
    expect(one.failures.every((f) => f.code === 'SHARE_TOO_FEW' && f.check === 'SHR-6')).toBe(true);
    expect(one.keys).toBeUndefined();
  });

  it('names a bad sender signature (ENV-22), a capsule under another label (CAP-6) and a bad share (SHR-5)', async () => {
    const [t1, t2, t3] = trustees as [AccessWorkerPool, AccessWorkerPool, AccessWorkerPool];
    // Position 3: checked under another device key.
    const keys = senderKeys.slice();
    keys[3 * 32]! ^= 1;
    const out = await t2.release({ heads: pack(envelopes), senderKeys: keys });
    expect(out.failures.map((f) => [f.position, f.code, f.check])).toEqual([
      [3, 'ENVELOPE_SIGNATURE', 'ENV-22'],
    ]);
    expect(out.shares.subarray(3 * SHARE_BYTES, 4 * SHARE_BYTES).every((b) => b === 0)).toBe(true);

    const s1 = (await t1.release({ heads: pack(envelopes) })).shares;
    const s3 = (await t3.release({ heads: pack(envelopes) })).shares;
    // Trustee 3's share for position 7 is corrupted (its z changed): the requester names trustee 3 and still
    // opens the envelope with trustees 1 and 2.
    const bad3 = s3.slice();
    bad3[7 * SHARE_BYTES + SHARE_BYTES - 2]! ^= 1;
    const got = await requester.recover({
      envelopes: pack(envelopes),
      shares: [s1, out.shares, bad3],
      open: true,
    });
    expect(got.failures).toEqual([{ position: 7, code: 'SHARE_INVALID', check: 'SHR-5', trustee: 3 }]);
    expect(got.ok[7]).toBe(1);
    expect(itemOf(got.payloads!, 7)).toEqual(payloadOf(7));

    // A capsule spliced onto another header does not verify for that header's label: no share for it.
    const spliced = envelopes.map((e) => e.slice());
    const capsuleAt = (e: Uint8Array) => new DataView(e.buffer, e.byteOffset).getUint32(0) + 4;
    const a = spliced[5]!;
    const b = envelopes[6]!;
    a.set(b.subarray(capsuleAt(b), capsuleAt(b) + 192), capsuleAt(a));
    const rel = await t1.release({ heads: pack(spliced) });
    expect(rel.failures.map((f) => [f.position, f.code, f.check])).toEqual([[5, 'CAPSULE_INVALID', 'CAP-6']]);
  });
});

describe('access worker pool misuse', () => {
  it('refuses a release without a key share, an oversized job and a closed pool (SDK_USAGE)', async () => {
    const pool = await AccessWorkerPool.start({ publicKey: outputs[0]!.publicKey, size: 1 });
    pools.push(pool);
    await expect(pool.release({ heads: pack(envelopes.slice(0, 2)) })).rejects.toMatchObject({
      code: 'SDK_USAGE',
    });
    const many = pack(Array.from({ length: 1025 }, () => envelopes[0]!));
    await expect(pool.recover({ envelopes: many, shares: [] })).rejects.toMatchObject({ code: 'SDK_USAGE' });
    await pool.close();
    await expect(pool.recover({ envelopes: pack(envelopes), shares: [] })).rejects.toMatchObject({
      code: 'SDK_USAGE',
    });
  });
});

describe('node:crypto AEAD back-end', () => {
  it('seals the same bytes as the @noble back-end and refuses a changed tag, nonce or associated data', async () => {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const ad = randomBytes(20);
    for (const size of [0, 1, 1024, 65_536]) {
      const plain = randomBytes(size);
      const a = await (await nodeCryptoBackend.importKey(key)).seal(nonce, ad, plain);
      const b = await (await nobleBackend.importKey(key)).seal(nonce, ad, plain);
      expect(a).toEqual(b);
      const k = await nodeCryptoBackend.importKey(key);
      expect(await k.open(nonce, ad, b)).toEqual(plain);
      const bad = b.slice();
      bad[bad.length - 1]! ^= 1;
      expect(await k.open(nonce, ad, bad)).toBeNull();
      expect(await k.open(randomBytes(12), ad, b)).toBeNull();
      expect(await k.open(nonce, randomBytes(20), b)).toBeNull();
      expect(await k.open(nonce, ad, b.subarray(0, 15))).toBeNull();
      expect(await nodeCryptoBackend.sha256(plain)).toEqual(await nobleBackend.sha256(plain));
    }
  });
});
