/**
 * Generates packages/core/test/vectors/capsule.json, the TDH2 capsule test vectors (docs/spec/capsule.md
 * §9): `npx tsx packages/core/test/gen-capsule-vectors.ts`. Every input is derived from fixed strings
 * by taggedHash, so the output is byte-identical on every run; src/capsule/tdh2-vectors.test.ts checks both the
 * vectors and that this generator reproduces the committed file.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  CAPSULE_BYTES,
  combineShares,
  createShare,
  decodeCapsule,
  decodeShare,
  type Element,
  encodeShare,
  evaluatePolynomial,
  fromHex,
  GENERATOR_DST,
  GENERATOR_MSG,
  group,
  hashToScalar,
  type KeyShare,
  type Scalar,
  SECOND_GENERATOR,
  sealCapsule,
  type ThresholdPublicKey,
  taggedHash,
  toHex,
  utf8Encode,
  type VerifiedCapsule,
  type VerifiedShare,
  verifyCapsule,
  verifyShare,
} from '../src/index.js';

const TAG = 'overt/v1/test/capsule-vectors';

/** 32 bytes named by `parts`: the only source of every input below. */
function derive(...parts: string[]): Uint8Array {
  return taggedHash(TAG, ...parts.map(utf8Encode));
}

interface SharingVector {
  name: string;
  threshold: number;
  participants: number;
  coefficients: Scalar[];
  groupKey: Element;
  shares: KeyShare[];
  verificationKeys: Element[];
}

function sharing(threshold: number, participants: number): SharingVector {
  const name = `${threshold}-of-${participants}`;
  const coefficients = Array.from({ length: threshold }, (_, j) =>
    hashToScalar(TAG, utf8Encode(name), utf8Encode('coefficient'), Uint8Array.of(j)),
  );
  const shares = Array.from({ length: participants }, (_, i) => ({
    index: i + 1,
    secret: evaluatePolynomial(coefficients, i + 1),
  }));
  return {
    name,
    threshold,
    participants,
    coefficients,
    groupKey: group.baseMul(coefficients[0]!),
    shares,
    verificationKeys: shares.map((s) => group.baseMul(s.secret)),
  };
}

function keySetOf(s: SharingVector): ThresholdPublicKey {
  return { threshold: s.threshold, groupKey: s.groupKey, verificationKeys: s.verificationKeys };
}

function subsets(n: number, k: number): number[][] {
  const out: number[][] = [];
  const walk = (start: number, acc: number[]) => {
    if (acc.length === k) out.push(acc);
    else for (let i = start; i <= n; i++) walk(i + 1, [...acc, i]);
  };
  walk(1, []);
  return out;
}

function flip(b: Uint8Array, byte: number, mask = 1): Uint8Array {
  const out = b.slice();
  out[byte]! ^= mask;
  return out;
}

export function buildCapsuleVectors(): unknown {
  const sharings = [sharing(2, 3), sharing(3, 5)];
  const positive = [];
  const negative = [];
  for (const s of sharings) {
    const other = sharings.find((x) => x !== s)!;
    const name = `capsule ${s.name}`;
    const key = derive(name, 'key');
    const label = derive(name, 'label');
    const seed = derive(name, 'seed');
    const capsule = sealCapsule(s.groupKey, key, label, seed);
    const verified: VerifiedCapsule = verifyCapsule(s.groupKey, decodeCapsule(capsule), label);
    const shares = s.shares.map((ks) => {
      const nonceInput = derive(name, 'nonce', String(ks.index));
      const share = encodeShare(createShare(ks, verified, () => nonceInput));
      return { index: ks.index, nonce_input: toHex(nonceInput), share: toHex(share) };
    });
    const verifiedShares: VerifiedShare[] = shares.map((sh) =>
      verifyShare(keySetOf(s), verified, decodeShare(fromHex(sh.share))),
    );
    const combinations = subsets(s.participants, s.threshold).map((indices) => {
      const k = combineShares(
        verified,
        indices.map((i) => verifiedShares[i - 1]!),
        keySetOf(s),
      );
      if (toHex(k) !== toHex(key)) throw new Error('vector generation: combination does not recover K');
      return { indices, key: toHex(k) };
    });
    positive.push({
      sharing: s.name,
      key: toHex(key),
      label: toHex(label),
      seed: toHex(seed),
      capsule: toHex(capsule),
      capsule_id: toHex(verified.id),
      shares,
      combinations,
    });

    // Negative vectors, each with the code and check ID a verifier must report.
    const otherLabel = derive(name, 'other label');
    const fOfEll = capsule.slice();
    fOfEll.set(
      [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
      ],
      160,
    );
    const identityU = capsule.slice();
    identityU.fill(0, 32, 64);
    const share1 = fromHex(shares[0]!.share);
    const share2 = fromHex(shares[1]!.share);
    const badValue = share1.slice();
    badValue.set(group.add(share1.subarray(33, 65) as Element, group.generator), 33);
    const otherCapsule = sealCapsule(s.groupKey, key, otherLabel, seed);
    const otherVerified = verifyCapsule(s.groupKey, decodeCapsule(otherCapsule), otherLabel);
    const foreignShare = encodeShare(
      createShare(s.shares[0]!, otherVerified, () => derive(name, 'foreign nonce')),
    );
    const reindexed = share2.slice();
    reindexed[0] = 1;
    const nonMember = share1.slice();
    nonMember[0] = s.participants + 1;
    const zeroIndex = share1.slice();
    zeroIndex[0] = 0;
    const unreducedZ = share1.slice();
    unreducedZ.fill(0xff, 129, 161);
    const base = { sharing: s.name, label: toHex(label) };
    negative.push(
      {
        ...base,
        name: 'masked key bit flipped',
        kind: 'capsule',
        capsule: toHex(flip(capsule, 0)),
        code: 'CAPSULE_INVALID',
        check: 'CAP-6',
      },
      {
        ...base,
        name: 'capsule truncated',
        kind: 'capsule',
        capsule: toHex(capsule.subarray(0, CAPSULE_BYTES - 1)),
        code: 'CAPSULE_INVALID',
        check: 'CAP-1',
      },
      {
        ...base,
        name: 'u is the identity',
        kind: 'capsule',
        capsule: toHex(identityU),
        code: 'CAPSULE_INVALID',
        check: 'CAP-2',
      },
      {
        ...base,
        name: 'f is not reduced (f = l)',
        kind: 'capsule',
        capsule: toHex(fOfEll),
        code: 'CAPSULE_INVALID',
        check: 'CAP-3',
      },
      {
        ...base,
        name: 'checked against another label (re-labelling)',
        kind: 'capsule',
        label: toHex(otherLabel),
        capsule: toHex(capsule),
        code: 'CAPSULE_INVALID',
        check: 'CAP-6',
      },
      {
        ...base,
        name: 'recipient recomputation with another seed',
        kind: 'opening',
        capsule: toHex(capsule),
        key: toHex(key),
        seed: toHex(derive(name, 'wrong seed')),
        code: 'CAPSULE_MISMATCH',
        check: 'CAP-7',
      },
      {
        ...base,
        name: 'share value is u_1 + G',
        kind: 'share',
        capsule: toHex(capsule),
        share: toHex(badValue),
        code: 'SHARE_INVALID',
        check: 'SHR-5',
      },
      {
        ...base,
        name: 'trustee 2 share presented as trustee 1',
        kind: 'share',
        capsule: toHex(capsule),
        share: toHex(reindexed),
        code: 'SHARE_INVALID',
        check: 'SHR-5',
      },
      {
        ...base,
        name: 'share made for the same key under another label',
        kind: 'share',
        capsule: toHex(capsule),
        share: toHex(foreignShare),
        code: 'SHARE_WRONG_CAPSULE',
        check: 'SHR-4',
      },
      {
        ...base,
        name: "share checked against another epoch's key set",
        kind: 'share',
        capsule: toHex(capsule),
        key_set: other.name,
        share: toHex(share1),
        code: 'SHARE_WRONG_KEY_SET',
        check: 'SHR-10',
      },
      {
        ...base,
        name: 'share index is not a member',
        kind: 'share',
        capsule: toHex(capsule),
        share: toHex(nonMember),
        code: 'SHARE_INDEX',
        check: 'SHR-2',
      },
      {
        ...base,
        name: 'share index 0',
        kind: 'share',
        capsule: toHex(capsule),
        share: toHex(zeroIndex),
        code: 'SHARE_INDEX',
        check: 'SHR-2',
      },
      {
        ...base,
        name: 'z is not reduced',
        kind: 'share',
        capsule: toHex(capsule),
        share: toHex(unreducedZ),
        code: 'SHARE_INVALID',
        check: 'SHR-3',
      },
      {
        ...base,
        name: 'share truncated',
        kind: 'share',
        capsule: toHex(capsule),
        share: toHex(share1.subarray(0, 160)),
        code: 'SHARE_INVALID',
        check: 'SHR-1',
      },
      {
        ...base,
        name: 'fewer than k shares',
        kind: 'combine',
        capsule: toHex(capsule),
        shares: shares.slice(0, s.threshold - 1).map((x) => x.share),
        code: 'SHARE_TOO_FEW',
        check: 'SHR-6',
      },
      {
        ...base,
        name: 'duplicated index',
        kind: 'combine',
        capsule: toHex(capsule),
        shares: [shares[0]!.share, ...shares.slice(0, s.threshold - 1).map((x) => x.share)],
        code: 'SHARE_DUPLICATE',
        check: 'SHR-7',
      },
    );
  }
  return {
    description:
      'TDH2 over ristretto255 (docs/spec/capsule.md). All byte strings are hex. Sharings list the polynomial ' +
      'coefficients (constant term first, little-endian scalars), each share x_i = f(i) and Y_i = x_i*G. Each ' +
      'capsule is sealCapsule(group_key, key, label, seed); each share is createShare with the 32-byte nonce_input as ' +
      'the rng output. Negative vectors name the code and check ID a verifier must report.',
    generator: 'packages/core/test/gen-capsule-vectors.ts',
    second_generator: { msg: GENERATOR_MSG, dst: GENERATOR_DST, point: toHex(SECOND_GENERATOR) },
    sharings: sharings.map((s) => ({
      name: s.name,
      threshold: s.threshold,
      participants: s.participants,
      coefficients: s.coefficients.map(toHex),
      group_key: toHex(s.groupKey),
      shares: s.shares.map((ks, i) => ({
        index: ks.index,
        secret: toHex(ks.secret),
        verification_key: toHex(s.verificationKeys[i]!),
      })),
    })),
    capsules: positive,
    negative,
  };
}

/** The exact text of vectors/capsule.json. */
export function renderCapsuleVectors(): string {
  return `${JSON.stringify(buildCapsuleVectors(), null, 2)}\n`;
}

export const VECTORS_PATH = fileURLToPath(new URL('./vectors/capsule.json', import.meta.url));

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(VECTORS_PATH, renderCapsuleVectors());
  console.log(`wrote ${VECTORS_PATH}`);
}
