// TDH2 (Shoup & Gennaro 1998) over ristretto255, docs/spec/capsule.md: sealing, the public validity check,
// decryption shares with Chaum–Pedersen proofs, combination, and every rejection with its code and check ID.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { equalBytes, randomBytes } from '../bytes.js';
import { isOvertError, OvertError } from '../errors.js';
import { type Element, group, randomScalar, type Scalar } from '../group.js';
import { evaluatePolynomial, type KeyShare, type ThresholdPublicKey } from '../threshold.js';
import {
  CAPSULE_BYTES,
  combineShares,
  createShare,
  type DecryptionShare,
  decodeCapsule,
  decodeShare,
  encodeCapsule,
  encodeShare,
  SECOND_GENERATOR,
  SHARE_BYTES,
  sealCapsule,
  sealCapsuleRandom,
  type VerifiedShare,
  verifyCapsule,
  verifyCapsuleOpening,
  verifyShare,
  verifySharesBatch,
} from './index.js';
import { allHold } from './linear.js';
import { shareEquations } from './share.js';

interface Sharing {
  publicKey: ThresholdPublicKey;
  shares: KeyShare[];
}

/** A dealer-made (k, n) sharing: enough to exercise the capsule; the DKG has its own tests. */
function deal(k: number, n: number): Sharing {
  const coeffs: Scalar[] = Array.from({ length: k }, () => randomScalar());
  const shares = Array.from({ length: n }, (_, i) => ({
    index: i + 1,
    secret: evaluatePolynomial(coeffs, i + 1),
  }));
  return {
    publicKey: {
      threshold: k,
      groupKey: group.baseMul(coeffs[0]!),
      verificationKeys: shares.map((s) => group.baseMul(s.secret)),
    },
    shares,
  };
}

function sealed(epochKey: Element, label = randomBytes(32)) {
  const key = randomBytes(32);
  const seed = randomBytes(32);
  const bytes = sealCapsule(epochKey, key, label, seed);
  return { key, label, seed, bytes, verified: verifyCapsule(epochKey, decodeCapsule(bytes), label) };
}

function subsets<T>(items: readonly T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [first, ...rest] = items;
  return [...subsets(rest, k - 1).map((s) => [first!, ...s]), ...subsets(rest, k)];
}

/** Runs fn and returns the OvertError it throws; fails the test if it throws anything else or nothing. */
function overtError(fn: () => unknown): OvertError {
  try {
    fn();
  } catch (e) {
    if (e instanceof OvertError) return e;
    throw e;
  }
  throw new Error('expected an OvertError');
}

function expectCode(fn: () => unknown, code: string, check?: string): void {
  const e = overtError(fn);
  expect(e.code).toBe(code);
  if (check !== undefined) expect(e.check).toBe(check);
}

const s23 = deal(2, 3);

describe('TDH2 round trip', () => {
  it.each([
    [1, 1],
    [2, 3],
    [3, 5],
    [5, 7],
  ])('(k, n) = (%i, %i): every k-subset of verified shares recovers K', (k, n) => {
    const { publicKey, shares } = deal(k, n);
    const c = sealed(publicKey.groupKey);
    const verified = shares.map((s) =>
      verifyShare(publicKey, c.verified, decodeShare(encodeShare(createShare(s, c.verified)))),
    );
    const all = subsets(verified, k);
    expect(all.length).toBeGreaterThan(0);
    for (const subset of all) {
      expect(equalBytes(combineShares(c.verified, subset, publicKey), c.key)).toBe(true);
      // Order does not matter: Lagrange coefficients follow the indices, not the positions.
      expect(equalBytes(combineShares(c.verified, [...subset].reverse(), publicKey), c.key)).toBe(true);
    }
  });

  it('combines the first k of more than k shares', () => {
    const { publicKey, shares } = deal(3, 5);
    const c = sealed(publicKey.groupKey);
    const verified = shares.map((s) => verifyShare(publicKey, c.verified, createShare(s, c.verified)));
    expect(equalBytes(combineShares(c.verified, verified, publicKey), c.key)).toBe(true);
  });

  it('fewer than the key set’s k shares are refused (SHR-6); k comes from the key set, not the caller', () => {
    const { publicKey, shares } = deal(3, 5);
    const c = sealed(publicKey.groupKey);
    const verified = shares.map((s) => verifyShare(publicKey, c.verified, createShare(s, c.verified)));
    expectCode(() => combineShares(c.verified, verified.slice(0, 2), publicKey), 'SHARE_TOO_FEW', 'SHR-6');
    expectCode(() => combineShares(c.verified, [], publicKey), 'SHARE_TOO_FEW', 'SHR-6');
    // The old signature took a bare k: interpolating 2 points of a degree-2 polynomial lands elsewhere, so a caller
    // passing 2 got a wrong key. It no longer type-checks, and at run time a number is not a key set.
    // @ts-expect-error combineShares takes the epoch's key set, not a threshold
    expectCode(() => combineShares(c.verified, verified.slice(0, 2), 2), 'SHARE_WRONG_KEY_SET', 'SHR-10');
    // Nor can the caller restate the key set with a smaller k: its keys are not of a degree-1 polynomial.
    const smallerK = { ...publicKey, threshold: 2 };
    expectCode(
      () => combineShares(c.verified, verified.slice(0, 2), smallerK),
      'SHARE_WRONG_KEY_SET',
      'SHR-10',
    );
  });

  it('works with the largest participant index', () => {
    const coeffs = [randomScalar(), randomScalar()];
    const all = Array.from({ length: 255 }, (_, i) => ({
      index: i + 1,
      secret: evaluatePolynomial(coeffs, i + 1),
    }));
    const publicKey: ThresholdPublicKey = {
      threshold: 2,
      groupKey: group.baseMul(coeffs[0]!),
      verificationKeys: all.map((s) => group.baseMul(s.secret)),
    };
    const c = sealed(publicKey.groupKey);
    const verified = all
      .slice(253)
      .map((s) => verifyShare(publicKey, c.verified, createShare(s, c.verified)));
    expect(verified.map((v) => v.index)).toEqual([254, 255]);
    expect(equalBytes(combineShares(c.verified, verified, publicKey), c.key)).toBe(true);
  });

  it('has the documented sizes and a second generator independent of G', () => {
    expect(CAPSULE_BYTES).toBe(192);
    expect(SHARE_BYTES).toBe(161);
    const c = sealed(s23.publicKey.groupKey);
    expect(c.bytes.length).toBe(CAPSULE_BYTES);
    expect(encodeShare(createShare(s23.shares[0]!, c.verified)).length).toBe(SHARE_BYTES);
    expect(equalBytes(SECOND_GENERATOR, group.generator)).toBe(false);
    expect(group.isValidElement(SECOND_GENERATOR)).toBe(true);
  });
});

describe('deterministic sealing (A5: recipients recompute the capsule)', () => {
  const Y = s23.publicKey.groupKey;

  it('same (Y, K, L, seed) gives the same bytes; any change gives other bytes', () => {
    const key = randomBytes(32);
    const label = randomBytes(32);
    const seed = randomBytes(32);
    const bytes = sealCapsule(Y, key, label, seed);
    expect(equalBytes(bytes, sealCapsule(Y, key, label, seed))).toBe(true);
    const other = deal(2, 3).publicKey.groupKey;
    for (const variant of [
      sealCapsule(Y, key, randomBytes(32), seed),
      sealCapsule(Y, randomBytes(32), label, seed),
      sealCapsule(Y, key, label, randomBytes(32)),
      sealCapsule(other, key, label, seed),
    ]) {
      expect(equalBytes(variant, bytes)).toBe(false);
    }
  });

  it('the recipient check accepts the exact capsule and rejects any other with CAPSULE_MISMATCH', () => {
    const c = sealed(Y);
    const opened = verifyCapsuleOpening(Y, c.bytes, c.key, c.label, c.seed);
    expect(equalBytes(opened.id, c.verified.id)).toBe(true);
    expectCode(
      () => verifyCapsuleOpening(Y, c.bytes, randomBytes(32), c.label, c.seed),
      'CAPSULE_MISMATCH',
      'CAP-7',
    );
    expectCode(
      () => verifyCapsuleOpening(Y, c.bytes, c.key, randomBytes(32), c.seed),
      'CAPSULE_MISMATCH',
      'CAP-7',
    );
    expectCode(
      () => verifyCapsuleOpening(Y, c.bytes, c.key, c.label, randomBytes(32)),
      'CAPSULE_MISMATCH',
      'CAP-7',
    );
    // A sender who seals a valid capsule for another key (skipping escrow of the real K) is caught too.
    const valid = sealCapsule(Y, randomBytes(32), c.label, c.seed);
    expectCode(() => verifyCapsuleOpening(Y, valid, c.key, c.label, c.seed), 'CAPSULE_MISMATCH', 'CAP-7');
    const flipped = c.bytes.slice();
    flipped[100]! ^= 1;
    expectCode(() => verifyCapsuleOpening(Y, flipped, c.key, c.label, c.seed), 'CAPSULE_MISMATCH', 'CAP-7');
    expectCode(
      () => verifyCapsuleOpening(Y, c.bytes.subarray(1), c.key, c.label, c.seed),
      'CAPSULE_MISMATCH',
    );
  });

  it('a key found valid once and then changed in place is checked again', () => {
    const key = Y.slice() as Element;
    const k32 = randomBytes(32);
    sealCapsule(key, k32, k32, k32);
    key.fill(0xff);
    expectCode(() => sealCapsule(key, k32, k32, k32), 'CAPSULE_INVALID', 'CAP-4');
    const c = sealed(Y);
    const vk = s23.publicKey.verificationKeys[0]!.slice() as Element;
    const keySet = { ...s23.publicKey, verificationKeys: [vk, ...s23.publicKey.verificationKeys.slice(1)] };
    const share = createShare(s23.shares[0]!, c.verified);
    verifyShare(keySet, c.verified, share);
    vk.fill(0);
    // The key set found consistent before is checked again, and no longer is one sharing of Y.
    expectCode(() => verifyShare(keySet, c.verified, share), 'SHARE_WRONG_KEY_SET', 'SHR-10');
  });

  it('the randomized entry point gives fresh, valid capsules', () => {
    const key = randomBytes(32);
    const label = randomBytes(32);
    const a = sealCapsuleRandom(Y, key, label);
    const b = sealCapsuleRandom(Y, key, label);
    expect(equalBytes(a, b)).toBe(false);
    for (const bytes of [a, b]) verifyCapsule(Y, decodeCapsule(bytes), label);
  });

  it('rejects malformed sealing arguments with CAPSULE_INVALID', () => {
    const k32 = randomBytes(32);
    expectCode(() => sealCapsule(group.identity, k32, k32, k32), 'CAPSULE_INVALID', 'CAP-4');
    expectCode(
      () => sealCapsule(new Uint8Array(32).fill(0xff) as Element, k32, k32, k32),
      'CAPSULE_INVALID',
      'CAP-4',
    );
    expectCode(() => sealCapsule(Y, randomBytes(31), k32, k32), 'CAPSULE_INVALID', 'CAP-5');
    expectCode(() => sealCapsule(Y, k32, randomBytes(33), k32), 'CAPSULE_INVALID', 'CAP-5');
    expectCode(() => sealCapsule(Y, k32, k32, randomBytes(0)), 'CAPSULE_INVALID', 'CAP-5');
  });
});

describe('capsule validity (CAP-1..CAP-6)', () => {
  const Y = s23.publicKey.groupKey;
  const c = sealed(Y);

  it('re-labelling fails (A4): a capsule checked against another label is invalid', () => {
    expectCode(() => verifyCapsule(Y, decodeCapsule(c.bytes), randomBytes(32)), 'CAPSULE_INVALID', 'CAP-6');
    const flipped = c.label.slice();
    flipped[31]! ^= 0x80;
    expectCode(() => verifyCapsule(Y, decodeCapsule(c.bytes), flipped), 'CAPSULE_INVALID', 'CAP-6');
    expectCode(
      () => verifyCapsule(Y, decodeCapsule(c.bytes), c.label.subarray(1)),
      'CAPSULE_INVALID',
      'CAP-5',
    );
  });

  it('a capsule checked against another epoch key is invalid', () => {
    expectCode(
      () => verifyCapsule(deal(2, 3).publicKey.groupKey, decodeCapsule(c.bytes), c.label),
      'CAPSULE_INVALID',
      'CAP-6',
    );
    expectCode(
      () => verifyCapsule(group.identity, decodeCapsule(c.bytes), c.label),
      'CAPSULE_INVALID',
      'CAP-4',
    );
  });

  it('every single-bit flip in every field is rejected with CAPSULE_INVALID and the field’s check', () => {
    const fields = ['maskedKey', 'u', 'uBar', 'w', 'wBar', 'f'];
    const seen = new Map<string, Set<string>>();
    for (let bit = 0; bit < CAPSULE_BYTES * 8; bit++) {
      const bad = c.bytes.slice();
      bad[bit >> 3]! ^= 1 << (bit & 7);
      const e = overtError(() => verifyCapsule(Y, decodeCapsule(bad), c.label));
      expect(e.code).toBe('CAPSULE_INVALID');
      const field = fields[Math.floor(bit / 256)]!;
      if (!seen.has(field)) seen.set(field, new Set());
      seen.get(field)!.add(e.check!);
    }
    // The masked key is only caught by the proof (it is hashed into e); points by decoding or by the proof.
    expect([...seen.get('maskedKey')!]).toEqual(['CAP-6']);
    for (const f of ['u', 'uBar', 'w', 'wBar']) {
      for (const check of seen.get(f)!) expect(['CAP-2', 'CAP-6']).toContain(check);
      expect(seen.get(f)!.has('CAP-2')).toBe(true);
    }
    for (const check of seen.get('f')!) expect(['CAP-3', 'CAP-6']).toContain(check);
    expect(seen.get('f')!.has('CAP-3')).toBe(true);
  });

  it('swapping or replacing proof parts is rejected', () => {
    const cap = decodeCapsule(c.bytes);
    const other = decodeCapsule(sealed(Y, c.label).bytes);
    const variants = [
      { ...cap, u: cap.uBar, uBar: cap.u },
      { ...cap, w: cap.wBar, wBar: cap.w },
      { ...cap, f: other.f },
      { ...cap, w: other.w, wBar: other.wBar, f: other.f },
      { ...cap, maskedKey: other.maskedKey },
      { ...cap, u: other.u, uBar: other.uBar },
    ];
    for (const v of variants)
      expectCode(
        () => verifyCapsule(Y, decodeCapsule(encodeCapsule(v)), c.label),
        'CAPSULE_INVALID',
        'CAP-6',
      );
  });

  it('decoding rejects wrong lengths, non-canonical points, the identity and unreduced scalars', () => {
    expectCode(() => decodeCapsule(c.bytes.subarray(0, 191)), 'CAPSULE_INVALID', 'CAP-1');
    expectCode(() => decodeCapsule(new Uint8Array(193)), 'CAPSULE_INVALID', 'CAP-1');
    expectCode(() => decodeCapsule(new Uint8Array(0)), 'CAPSULE_INVALID', 'CAP-1');
    expectCode(() => decodeCapsule('x' as unknown as Uint8Array), 'CAPSULE_INVALID', 'CAP-1');
    for (const field of [1, 2, 3, 4]) {
      const identity = c.bytes.slice();
      identity.fill(0, 32 * field, 32 * field + 32);
      expectCode(() => decodeCapsule(identity), 'CAPSULE_INVALID', 'CAP-2');
      const high = c.bytes.slice();
      high.fill(0xff, 32 * field, 32 * field + 32);
      expectCode(() => decodeCapsule(high), 'CAPSULE_INVALID', 'CAP-2');
    }
    const unreduced = c.bytes.slice();
    unreduced.fill(0xff, 160, 192);
    expectCode(() => decodeCapsule(unreduced), 'CAPSULE_INVALID', 'CAP-3');
    // ℓ itself is the smallest unreduced value.
    const ell = Uint8Array.from([
      0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0,
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ]);
    const withEll = c.bytes.slice();
    withEll.set(ell, 160);
    expectCode(() => decodeCapsule(withEll), 'CAPSULE_INVALID', 'CAP-3');
  });

  it('decoded capsules do not alias the input', () => {
    const bytes = c.bytes.slice();
    const cap = decodeCapsule(bytes);
    bytes.fill(0);
    expect(equalBytes(encodeCapsule(cap), c.bytes)).toBe(true);
  });
});

describe('decryption shares (SHR-1..SHR-9)', () => {
  const { publicKey, shares } = deal(3, 5);
  const Y = publicKey.groupKey;
  const c = sealed(Y);
  const share1 = createShare(shares[0]!, c.verified);
  const bytes1 = encodeShare(share1);
  const vk = (i: number) => publicKey.verificationKeys[i - 1]!;

  it('verifies against the trustee’s key and round-trips through its encoding', () => {
    const decoded = decodeShare(bytes1);
    expect(equalBytes(encodeShare(decoded), bytes1)).toBe(true);
    const v = verifyShare(publicKey, c.verified, decoded);
    expect(equalBytes(v.verificationKey, vk(1))).toBe(true);
  });

  it('a share from another trustee’s key or a non-member fails (A9)', () => {
    // Trustee 1's share under Y_2 (the equations alone; the API looks Y_i up by the share's own index).
    expect(allHold(shareEquations(vk(2), c.verified, share1))).toBe(false);
    const outsider = deal(3, 5).shares[0]!;
    const forged = createShare(outsider, c.verified);
    expectCode(() => verifyShare(publicKey, c.verified, forged), 'SHARE_INVALID', 'SHR-5');
    // Index 6 of a 5-member sharing: not a member at all.
    const nonMember = createShare({ index: 6, secret: randomScalar() }, c.verified);
    expectCode(() => verifyShare(publicKey, c.verified, nonMember), 'SHARE_INDEX', 'SHR-2');
    // A consistent key set whose Y_1 is the identity (f(1) = 0): SHR-9.
    const a0 = randomScalar();
    const degenerate: ThresholdPublicKey = {
      threshold: 2,
      groupKey: group.baseMul(a0),
      verificationKeys: [1, 2].map((i) => group.baseMul(evaluatePolynomial([a0, group.scalarNeg(a0)], i))),
    };
    expect(degenerate.verificationKeys[0]).toEqual(group.identity);
    const cd = sealed(degenerate.groupKey);
    const onZero = { ...createShare({ index: 2, secret: randomScalar() }, cd.verified), index: 1 };
    expectCode(() => verifyShare(degenerate, cd.verified, onZero), 'SHARE_INVALID', 'SHR-9');
  });

  it('a share re-indexed as another trustee fails even against that trustee’s key', () => {
    const bad = bytes1.slice();
    bad[0] = 2;
    expectCode(() => verifyShare(publicKey, c.verified, decodeShare(bad)), 'SHARE_INVALID', 'SHR-5');
  });

  it('a share for another capsule or another label fails (A4)', () => {
    const other = sealed(Y);
    expectCode(() => verifyShare(publicKey, other.verified, share1), 'SHARE_WRONG_CAPSULE', 'SHR-4');
    // Same key and seed under another label: another capsule id.
    const label2 = randomBytes(32);
    const relabelled = sealCapsule(Y, c.key, label2, c.seed);
    expect(equalBytes(relabelled, c.bytes)).toBe(false);
    const relabelledVerified = verifyCapsule(Y, decodeCapsule(relabelled), label2);
    expectCode(() => verifyShare(publicKey, relabelledVerified, share1), 'SHARE_WRONG_CAPSULE', 'SHR-4');
    // A share whose capsule id is rewritten to the target's still fails: the id is inside the challenge.
    const rewritten = { ...share1, capsuleId: other.verified.id };
    expectCode(() => verifyShare(publicKey, other.verified, rewritten), 'SHARE_INVALID', 'SHR-5');
  });

  it('every single-bit flip in every field is rejected with the field’s code', () => {
    const expected: Record<string, string[]> = {
      index: ['SHARE_INDEX', 'SHARE_INVALID'],
      capsuleId: ['SHARE_WRONG_CAPSULE'],
      value: ['SHARE_INVALID'],
      a: ['SHARE_INVALID'],
      b: ['SHARE_INVALID'],
      z: ['SHARE_INVALID'],
    };
    const fieldOf = (byte: number) =>
      byte === 0 ? 'index' : (['capsuleId', 'value', 'a', 'b', 'z'][Math.floor((byte - 1) / 32)] as string);
    for (let bit = 0; bit < SHARE_BYTES * 8; bit++) {
      const bad = bytes1.slice();
      bad[bit >> 3]! ^= 1 << (bit & 7);
      const e = overtError(() => verifyShare(publicKey, c.verified, decodeShare(bad)));
      expect(expected[fieldOf(bit >> 3)]).toContain(e.code);
    }
  });

  it('decoding rejects wrong lengths, index 0, bad points and unreduced scalars', () => {
    expectCode(() => decodeShare(bytes1.subarray(1)), 'SHARE_INVALID', 'SHR-1');
    expectCode(() => decodeShare(new Uint8Array(SHARE_BYTES + 1)), 'SHARE_INVALID', 'SHR-1');
    const zeroIndex = bytes1.slice();
    zeroIndex[0] = 0;
    expectCode(() => decodeShare(zeroIndex), 'SHARE_INDEX', 'SHR-2');
    for (const field of [1, 2, 3]) {
      const identity = bytes1.slice();
      identity.fill(0, 33 + 32 * (field - 1), 65 + 32 * (field - 1));
      expectCode(() => decodeShare(identity), 'SHARE_INVALID', 'SHR-3');
    }
    const unreduced = bytes1.slice();
    unreduced.fill(0xff, 129, 161);
    expectCode(() => decodeShare(unreduced), 'SHARE_INVALID', 'SHR-3');
  });

  it('createShare refuses an index outside 1..255 and a zero secret', () => {
    expectCode(() => createShare({ index: 0, secret: shares[0]!.secret }, c.verified), 'SHARE_INDEX');
    expectCode(() => createShare({ index: 256, secret: shares[0]!.secret }, c.verified), 'SHARE_INDEX');
    expectCode(
      () => createShare({ index: 1, secret: new Uint8Array(32) as Scalar }, c.verified),
      'SHARE_INVALID',
    );
  });

  it('nonces are hedged: a fixed rng gives identical shares, a different one a different valid proof', () => {
    const fixed = () => new Uint8Array(32).fill(7);
    const a = encodeShare(createShare(shares[1]!, c.verified, fixed));
    const b = encodeShare(createShare(shares[1]!, c.verified, fixed));
    const r = encodeShare(createShare(shares[1]!, c.verified));
    expect(equalBytes(a, b)).toBe(true);
    expect(equalBytes(a, r)).toBe(false);
    expect(equalBytes(a.subarray(0, 65), r.subarray(0, 65))).toBe(true);
    verifyShare(publicKey, c.verified, decodeShare(r));
  });

  it('a KeyShare changed in place is never paired with its old verification key', () => {
    const mutable: KeyShare = { index: 1, secret: shares[0]!.secret.slice() as Scalar };
    verifyShare(publicKey, c.verified, createShare(mutable, c.verified));
    (mutable.secret as Uint8Array).set(shares[1]!.secret);
    const again = createShare(mutable, c.verified);
    expectCode(() => verifyShare(publicKey, c.verified, again), 'SHARE_INVALID', 'SHR-5');
    // The value is x_2·u under index 1: its proof is consistent with Y_2 (index is only a label here).
    expect(allHold(shareEquations(vk(2), c.verified, again))).toBe(true);
  });
});

describe('combination (SHR-6..SHR-8)', () => {
  const { publicKey, shares } = deal(3, 5);
  const c = sealed(publicKey.groupKey);
  const verified = shares.map((s) => verifyShare(publicKey, c.verified, createShare(s, c.verified)));

  it('rejects duplicated indices', () => {
    expectCode(
      () => combineShares(c.verified, [verified[0]!, verified[0]!, verified[1]!], publicKey),
      'SHARE_DUPLICATE',
      'SHR-7',
    );
    // Two different shares claiming one index (e.g. the same trustee answering twice) are duplicates too.
    const again = verifyShare(publicKey, c.verified, createShare(shares[0]!, c.verified));
    expectCode(
      () => combineShares(c.verified, [verified[0]!, again, verified[1]!], publicKey),
      'SHARE_DUPLICATE',
      'SHR-7',
    );
  });

  it('rejects a share verified for another capsule', () => {
    const other = sealed(publicKey.groupKey);
    const foreign = verifyShare(publicKey, other.verified, createShare(shares[2]!, other.verified));
    expectCode(
      () => combineShares(c.verified, [verified[0]!, verified[1]!, foreign], publicKey),
      'SHARE_WRONG_CAPSULE',
      'SHR-8',
    );
  });

  it('rejects a key set that is not a threshold public key', () => {
    for (const k of [0, -1, 1.5, 256, Number.NaN]) {
      // @ts-expect-error a bare threshold is not a key set
      expectCode(() => combineShares(c.verified, verified, k), 'SHARE_WRONG_KEY_SET', 'SHR-10');
      expectCode(
        () => combineShares(c.verified, verified, { ...publicKey, threshold: k }),
        'SHARE_WRONG_KEY_SET',
        'SHR-10',
      );
    }
  });
});

describe('the key set is the capsule’s epoch key (SHR-10)', () => {
  const epoch1 = deal(2, 3);
  const epoch2 = deal(2, 3);
  const c = sealed(epoch1.publicKey.groupKey);
  const shares = epoch1.shares.map((s) => createShare(s, c.verified));

  it('shares verified against another epoch’s key set are refused', () => {
    for (const share of shares)
      expectCode(() => verifyShare(epoch2.publicKey, c.verified, share), 'SHARE_WRONG_KEY_SET', 'SHR-10');
    const batch = verifySharesBatch(
      shares.map((share) => ({ capsule: c.verified, publicKey: epoch2.publicKey, share })),
    );
    expect(batch.failures.map((f) => [f.position, f.error.code, f.error.check])).toEqual([
      [0, 'SHARE_WRONG_KEY_SET', 'SHR-10'],
      [1, 'SHARE_WRONG_KEY_SET', 'SHR-10'],
      [2, 'SHARE_WRONG_KEY_SET', 'SHR-10'],
    ]);
    // ... and combining under another epoch's key set is refused too.
    const verified = shares.map((share) => verifyShare(epoch1.publicKey, c.verified, share));
    expectCode(() => combineShares(c.verified, verified, epoch2.publicKey), 'SHARE_WRONG_KEY_SET', 'SHR-10');
    expect(equalBytes(combineShares(c.verified, verified, epoch1.publicKey), c.key)).toBe(true);
  });

  it('the right group key with made-up verification keys is refused', () => {
    const fake = deal(2, 3);
    const forged: ThresholdPublicKey = { ...fake.publicKey, groupKey: epoch1.publicKey.groupKey };
    // The forger knows x'_i for its Y'_i, so its shares would verify — and combine to a wrong key.
    const share = createShare(fake.shares[0]!, c.verified);
    expectCode(() => verifyShare(forged, c.verified, share), 'SHARE_WRONG_KEY_SET', 'SHR-10');
  });

  it('shares verified under the key set before a resharing do not combine with the key set after it', () => {
    // A resharing keeps x and Y and changes every Y_i: both key sets are the epoch key's.
    const x = randomScalar();
    const sharing = (a1: Scalar) => {
      const ks = [1, 2, 3].map((i) => ({ index: i, secret: evaluatePolynomial([x, a1], i) }));
      const pk: ThresholdPublicKey = {
        threshold: 2,
        groupKey: group.baseMul(x),
        verificationKeys: ks.map((k) => group.baseMul(k.secret)),
      };
      return { ks, pk };
    };
    const before = sharing(randomScalar());
    const after = sharing(randomScalar());
    const cx = sealed(before.pk.groupKey);
    const old1 = verifyShare(before.pk, cx.verified, createShare(before.ks[0]!, cx.verified));
    const new2 = verifyShare(after.pk, cx.verified, createShare(after.ks[1]!, cx.verified));
    // An old share does not verify under the new keys (SHR-5) ...
    expectCode(
      () => verifyShare(after.pk, cx.verified, createShare(before.ks[0]!, cx.verified)),
      'SHARE_INVALID',
      'SHR-5',
    );
    // ... and a mix of shares verified under either key set is refused instead of giving a wrong key.
    expectCode(() => combineShares(cx.verified, [old1, new2], after.pk), 'SHARE_WRONG_KEY_SET', 'SHR-10');
    expectCode(() => combineShares(cx.verified, [old1, new2], before.pk), 'SHARE_WRONG_KEY_SET', 'SHR-10');
    const new1 = verifyShare(after.pk, cx.verified, createShare(after.ks[0]!, cx.verified));
    expect(equalBytes(combineShares(cx.verified, [new1, new2], after.pk), cx.key)).toBe(true);
  });
});

describe('properties', () => {
  it('seal → decode → verify → share → combine recovers K for random (k, n), K, L and seed', () => {
    const sharings = [deal(1, 2), deal(2, 3), deal(3, 4)];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 0, max: 1000 }),
        (which, key, label, seed, pick) => {
          const { publicKey, shares } = sharings[which]!;
          const bytes = sealCapsule(publicKey.groupKey, key, label, seed);
          const capsule = decodeCapsule(bytes);
          expect(equalBytes(encodeCapsule(capsule), bytes)).toBe(true);
          const vc = verifyCapsuleOpening(publicKey.groupKey, bytes, key, label, seed);
          verifyCapsule(publicKey.groupKey, capsule, label);
          const k = publicKey.threshold;
          const chosen = subsets(shares, k);
          const subset = chosen[pick % chosen.length]!;
          const vs: VerifiedShare[] = subset.map((s) => {
            const d: DecryptionShare = decodeShare(encodeShare(createShare(s, vc)));
            return verifyShare(publicKey, vc, d);
          });
          expect(equalBytes(combineShares(vc, vs, publicKey), key)).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('capsule and share encodings are canonical: decode(encode(x)) = x and encode(decode(b)) = b', () => {
    const c = sealed(s23.publicKey.groupKey);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 }), (i) => {
        const share = createShare(s23.shares[i]!, c.verified);
        const bytes = encodeShare(share);
        const back = decodeShare(bytes);
        expect(back).toEqual(share);
        expect(equalBytes(encodeShare(back), bytes)).toBe(true);
      }),
      { numRuns: 10 },
    );
  });
});

describe('fuzz: decoders raise only our own errors', () => {
  const c = sealed(s23.publicKey.groupKey);
  const shareBytes = encodeShare(createShare(s23.shares[0]!, c.verified));

  function onlyOurErrors(fn: () => unknown): void {
    try {
      fn();
    } catch (e) {
      if (!isOvertError(e)) throw e;
    }
  }

  const mutated = (valid: Uint8Array) =>
    fc
      .tuple(
        fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.integer({ min: -2, max: 2 }),
      )
      .map(([edits, lengthDelta]) => {
        const b = valid.slice();
        for (const [at, x] of edits) b[at]! ^= x;
        if (lengthDelta < 0) return b.subarray(0, b.length + lengthDelta);
        return Uint8Array.from([...b, ...new Array(lengthDelta).fill(0)]);
      });

  it('decodeCapsule and verifyCapsule on random and mutated bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 400 }),
          fc.uint8Array({ minLength: 192, maxLength: 192 }),
          mutated(c.bytes),
        ),
        (b) => onlyOurErrors(() => verifyCapsule(s23.publicKey.groupKey, decodeCapsule(b), c.label)),
      ),
      { numRuns: 300 },
    );
  });

  it('decodeShare and verifyShare on random and mutated bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 400 }),
          fc.uint8Array({ minLength: 161, maxLength: 161 }),
          mutated(shareBytes),
        ),
        (b) => onlyOurErrors(() => verifyShare(s23.publicKey, c.verified, decodeShare(b))),
      ),
      { numRuns: 300 },
    );
  });

  it('a mutated capsule never verifies', () => {
    fc.assert(
      fc.property(mutated(c.bytes), (b) => {
        const e = overtError(() => verifyCapsule(s23.publicKey.groupKey, decodeCapsule(b), c.label));
        expect(e.code).toBe('CAPSULE_INVALID');
      }),
      { numRuns: 100 },
    );
  });
});
