// The sealed payloads of the access workflow (docs/spec/access.md §2–§3): the confidential part sealed to each
// trustee (ACC-1) and the share bundles sealed to the requester (ACC-2), with fuzzing of every parser.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleOf, capsules, hpkeKeys, keySet, positions } from '../../test/access-fixtures.js';
import { T_EXEC, verifiedExecution } from '../../test/entries-fixtures.js';
import { seededRng } from '../../test/envelope-fixtures.js';
import { committed, trusteeKeys, verifiedPolicy, verifiedRequest } from '../../test/workflow-fixtures.js';
import { equalBytes } from '../bytes.js';
import { verifyShare } from '../capsule/share.js';
import { OvertError } from '../errors.js';
import { sha256 } from '../hash.js';
import {
  batchCount,
  batchRange,
  decodeShareBundle,
  encodeShareBundle,
  MAX_SHARE_BUNDLE_BYTES,
  openConfidential,
  openShareBundle,
  RELEASE_BATCH,
  type ShareBundle,
  sealConfidential,
  sealConfidentialToAll,
  sealShareBundle,
} from './access-seal.js';
import { releaseFor, signRelease, verifyRelease } from './release.js';
import type { RequestOpening } from './request.js';

type Keys = Awaited<ReturnType<typeof hpkeKeys>>;
let keys: Keys;
beforeAll(async () => {
  keys = await hpkeKeys();
});

const req = verifiedRequest();
const otherReq = verifiedRequest({ requestId: new Uint8Array(16).fill(0x78) });

async function rejects(p: Promise<unknown>, code: string, check: string): Promise<void> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(OvertError);
  expect((e as OvertError).code).toBe(code);
  expect((e as OvertError).check).toBe(check);
}

function flip(b: Uint8Array, bit: number): Uint8Array {
  const out = b.slice();
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}

describe('batches (access.md §3)', () => {
  it('batch b covers [b·1024, min((b+1)·1024, count))', () => {
    expect(RELEASE_BATCH).toBe(1024);
    expect(batchRange(0, 5)).toEqual({ start: 0, end: 5 });
    expect(batchRange(0, 2048)).toEqual({ start: 0, end: 1024 });
    expect(batchRange(1, 2049)).toEqual({ start: 1024, end: 2048 });
    expect(batchRange(2, 2049)).toEqual({ start: 2048, end: 2049 });
    expect(batchRange(3, 2049)).toEqual({ start: 2049, end: 2049 });
    expect(batchCount(0)).toBe(0);
    expect(batchCount(1024)).toBe(1);
    expect(batchCount(1025)).toBe(2);
  });

  it('the batches of a count partition its positions', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), (count) => {
        let next = 0;
        for (let b = 0; b < batchCount(count); b++) {
          const r = batchRange(b, count);
          expect(r.start).toBe(next);
          expect(r.end).toBeGreaterThan(r.start);
          next = r.end;
        }
        expect(next).toBe(count);
      }),
    );
  });
});

describe('ACC-1 the confidential part sealed to each trustee', () => {
  const opening = committed.opening;

  it('each trustee opens its own part to the committed opening', async () => {
    for (let i = 1; i <= 3; i++) {
      const sealed = await sealConfidential(
        keys.trustees[i - 1]!.publicKey,
        i,
        req,
        opening,
        seededRng(`c${i}`),
      );
      const o = await openConfidential(keys.trustees[i - 1]!.secretKey, i, req, sealed);
      expect(o.confidential).toEqual(opening.confidential);
      expect(equalBytes(o.salt, opening.salt)).toBe(true);
    }
  });

  it('seals one part per trustee of the policy, in the policy order, to the policy keys', async () => {
    const parts = await sealConfidentialToAll(verifiedPolicy, req, opening, seededRng('all'));
    expect(parts.map((p) => p.trustee)).toEqual([1, 2, 3]);
    for (const p of parts) expect(p.sealed.length).toBeGreaterThan(48);
  });

  it('refuses to seal an opening that is not the request commitment', async () => {
    const wrong: RequestOpening = { salt: new Uint8Array(32).fill(9), confidential: opening.confidential };
    await rejects(
      sealConfidential(keys.trustees[0]!.publicKey, 1, req, wrong, seededRng('x')),
      'COMMITMENT_MISMATCH',
      'WF-R6',
    );
  });

  it('another trustee, another trustee index, another request or a wrong key cannot open it', async () => {
    const sealed = await sealConfidential(keys.trustees[0]!.publicKey, 1, req, opening, seededRng('c'));
    await rejects(
      openConfidential(keys.trustees[1]!.secretKey, 1, req, sealed),
      'CONFIDENTIAL_INVALID',
      'ACC-1',
    );
    await rejects(
      openConfidential(keys.trustees[0]!.secretKey, 2, req, sealed),
      'CONFIDENTIAL_INVALID',
      'ACC-1',
    );
    await rejects(
      openConfidential(keys.trustees[0]!.secretKey, 1, otherReq, sealed),
      'CONFIDENTIAL_INVALID',
      'ACC-1',
    );
    await rejects(openConfidential(new Uint8Array(5), 1, req, sealed), 'CONFIDENTIAL_INVALID', 'ACC-1');
  });

  it('a part whose opening does not match the commitment is CONFIDENTIAL_INVALID', async () => {
    // The same opening under another request's commitment: decrypts under otherReq's hash but does not open it.
    const other = verifiedRequest({
      requestId: new Uint8Array(16).fill(0x79),
      confidentialCommitment: new Uint8Array(32).fill(1),
    });
    const { sealShare } = await import('../dkg/hpke.js');
    const { concatBytes, utf8Encode } = await import('../bytes.js');
    const { encodeOpening } = await import('./request.js');
    const info = concatBytes(utf8Encode('overt/access/v1/confidential'), Uint8Array.of(1));
    const s = await sealShare(
      keys.trustees[0]!.publicKey,
      info,
      other.hash,
      encodeOpening(opening),
      seededRng('m'),
    );
    await rejects(
      openConfidential(keys.trustees[0]!.secretKey, 1, other, concatBytes(s.enc, s.ciphertext)),
      'CONFIDENTIAL_INVALID',
      'ACC-1',
    );
  });

  it('fuzz: any bit flip or truncation of a sealed part is CONFIDENTIAL_INVALID, never a crash', async () => {
    const sealed = await sealConfidential(keys.trustees[0]!.publicKey, 1, req, opening, seededRng('fz'));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.integer({ min: 0, max: sealed.length * 8 - 1 }).map((bit) => flip(sealed, bit)),
          fc.integer({ min: 0, max: sealed.length - 1 }).map((n) => sealed.slice(0, n)),
          fc.uint8Array({ maxLength: 300 }),
        ),
        async (bad) => {
          await rejects(
            openConfidential(keys.trustees[0]!.secretKey, 1, req, bad),
            'CONFIDENTIAL_INVALID',
            'ACC-1',
          );
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('ACC-2 share bundles sealed to the requester', () => {
  async function released(bundle: ShareBundle, trustee = bundle.trusteeIndex) {
    const sealed = await sealShareBundle(keys.requester.publicKey, bundle, seededRng(`b${trustee}`));
    const signed = signRelease(
      releaseFor(verifiedExecution, trustee, bundle.shares.length, sealed, T_EXEC + 1000),
      trusteeKeys[trustee - 1]!,
    );
    return { sealed, release: verifyRelease(signed, verifiedPolicy, verifiedExecution) };
  }

  it('encode and decode round-trip; the shares verify and combine', async () => {
    const b = bundleOf(1);
    const back = decodeShareBundle(encodeShareBundle(b));
    expect(back).toEqual(b);
    const b2 = bundleOf(2);
    for (let p = 0; p < positions.length; p++) {
      const s1 = verifyShare(keySet, capsules[p]!, back.shares[p]!.share);
      const s2 = verifyShare(keySet, capsules[p]!, b2.shares[p]!.share);
      expect(s1.index).toBe(1);
      expect(s2.index).toBe(2);
    }
  });

  it('the requester opens a released bundle; its hash is the release bundle hash', async () => {
    const b = bundleOf(2);
    const { sealed, release } = await released(b);
    expect(equalBytes(sha256(sealed), release.release.bundleHash)).toBe(true);
    const opened = await openShareBundle(
      keys.requester.secretKey,
      verifiedPolicy,
      verifiedExecution,
      release,
      0,
      sealed,
    );
    expect(opened).toEqual(b);
  });

  it('a bundle with a refused position omits it', async () => {
    const b = bundleOf(1, [0, 2, 4]);
    const { sealed, release } = await released(b);
    const opened = await openShareBundle(
      keys.requester.secretKey,
      verifiedPolicy,
      verifiedExecution,
      release,
      0,
      sealed,
    );
    expect(opened.shares.map((s) => s.position)).toEqual([0, 2, 4]);
  });

  it('rejects a bundle under another batch, another release, a wrong key or a different hash', async () => {
    const { sealed, release } = await released(bundleOf(1));
    const open = (key: Uint8Array, batch: number, s: Uint8Array, r = release) =>
      openShareBundle(key, verifiedPolicy, verifiedExecution, r, batch, s);
    await rejects(open(keys.requester.secretKey, 1, sealed), 'SHARE_BUNDLE_INVALID', 'ACC-2');
    await rejects(open(keys.trustees[0]!.secretKey, 0, sealed), 'SHARE_BUNDLE_INVALID', 'ACC-2');
    await rejects(open(keys.requester.secretKey, 0, flip(sealed, 100)), 'SHARE_BUNDLE_INVALID', 'ACC-2');
    // Trustee 2's release does not cover trustee 1's bundle (hash and binding differ).
    const other = await released(bundleOf(2));
    await rejects(open(keys.requester.secretKey, 0, sealed, other.release), 'SHARE_BUNDLE_INVALID', 'ACC-2');
  });

  it('rejects a bundle whose share count differs from its release', async () => {
    const b = bundleOf(1);
    const sealed = await sealShareBundle(keys.requester.publicKey, b, seededRng('count'));
    const signed = signRelease(releaseFor(verifiedExecution, 1, 4, sealed, T_EXEC + 1000), trusteeKeys[0]!);
    const release = verifyRelease(signed, verifiedPolicy, verifiedExecution);
    await rejects(
      openShareBundle(keys.requester.secretKey, verifiedPolicy, verifiedExecution, release, 0, sealed),
      'SHARE_BUNDLE_INVALID',
      'ACC-2',
    );
  });

  it('rejects a position past the execution although inside the batch', async () => {
    const b = bundleOf(1);
    const past: ShareBundle = { ...b, shares: [...b.shares.slice(0, 4), { ...b.shares[4]!, position: 5 }] };
    const { sealed, release } = await released(past);
    await rejects(
      openShareBundle(keys.requester.secretKey, verifiedPolicy, verifiedExecution, release, 0, sealed),
      'SHARE_BUNDLE_INVALID',
      'ACC-2',
    );
  });

  it('the encoder refuses bundles that break the rules', () => {
    const b = bundleOf(1);
    const bad: ShareBundle[] = [
      { ...b, shares: [b.shares[1]!, b.shares[0]!] },
      { ...b, shares: [b.shares[0]!, b.shares[0]!] },
      { ...b, shares: [{ ...b.shares[0]!, position: RELEASE_BATCH }] },
      { ...b, batch: 1 },
      { ...b, trusteeIndex: 2 },
      { ...b, trusteeIndex: 0 },
      { ...b, requestId: new Uint8Array(15) },
      { ...b, shares: [{ ...b.shares[0]!, label: new Uint8Array(31) }] },
    ];
    for (const x of bad) expect(() => encodeShareBundle(x)).toThrowError(/SHARE_BUNDLE_INVALID \[ACC-2\]/);
  });

  it('fuzz: any bit flip or truncation of a bundle plaintext is SHARE_BUNDLE_INVALID or a valid bundle', () => {
    const enc = encodeShareBundle(bundleOf(3));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: 0, max: enc.length * 8 - 1 }).map((bit) => flip(enc, bit)),
          fc.integer({ min: 0, max: enc.length - 1 }).map((n) => enc.slice(0, n)),
          fc.uint8Array({ maxLength: 600 }),
        ),
        (bad) => {
          try {
            const b = decodeShareBundle(bad);
            // A flip inside a label, id, hash or the share's capsule id still decodes: it re-encodes exactly.
            expect(encodeShareBundle(b)).toEqual(bad);
          } catch (e) {
            expect(e).toBeInstanceOf(OvertError);
            expect((e as OvertError).code).toBe('SHARE_BUNDLE_INVALID');
            expect((e as OvertError).check).toBe('ACC-2');
          }
        },
      ),
      { numRuns: 500 },
    );
    expect(() => decodeShareBundle(new Uint8Array(MAX_SHARE_BUNDLE_BYTES + 1))).toThrowError(/ACC-2/);
  });

  it('fuzz: any bit flip or truncation of a sealed bundle is SHARE_BUNDLE_INVALID', async () => {
    const { sealed, release } = await released(bundleOf(1, [1]));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.integer({ min: 0, max: sealed.length * 8 - 1 }).map((bit) => flip(sealed, bit)),
          fc.integer({ min: 0, max: sealed.length - 1 }).map((n) => sealed.slice(0, n)),
        ),
        async (bad) => {
          await rejects(
            openShareBundle(keys.requester.secretKey, verifiedPolicy, verifiedExecution, release, 0, bad),
            'SHARE_BUNDLE_INVALID',
            'ACC-2',
          );
          // The same bytes under a release that names their hash: the HPKE layer rejects them.
          const rehashed = verifyRelease(
            signRelease(releaseFor(verifiedExecution, 1, 1, bad, T_EXEC + 1000), trusteeKeys[0]!),
            verifiedPolicy,
            verifiedExecution,
          );
          await rejects(
            openShareBundle(keys.requester.secretKey, verifiedPolicy, verifiedExecution, rehashed, 0, bad),
            'SHARE_BUNDLE_INVALID',
            'ACC-2',
          );
        },
      ),
      { numRuns: 100 },
    );
  });
});
