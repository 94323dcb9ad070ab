// End to end with the TDH2 access capsules (docs/spec/capsule.md, docs/spec/dkg.md): a capsule sealed to the
// group key a DKG produced opens with any k of the DKG's shares, and — after a resharing — with any k of the new
// shares, while k − 1 shares are refused.
import { describe, expect, it } from 'vitest';
import { makeTrustees, reshareSetup, runDkg, seededRandom } from '../../test/gen-dkg-vectors.js';
import { toHex } from '../bytes.js';
import { decodeCapsule, sealCapsuleRandom, verifyCapsule } from '../capsule/capsule.js';
import { combineShares, createShare, verifyShare } from '../capsule/share.js';
import type { KeyShare, ThresholdPublicKey } from '../threshold.js';
import { runDkgLocally } from './local.js';
import type { DkgOutput } from './participant.js';

function open(
  publicKey: ThresholdPublicKey,
  shares: readonly KeyShare[],
  capsuleBytes: Uint8Array,
  label: Uint8Array,
) {
  const capsule = verifyCapsule(publicKey.groupKey, decodeCapsule(capsuleBytes), label);
  const rng = seededRandom('capsule-shares');
  const verified = shares.map((s) => verifyShare(publicKey, capsule, createShare(s, capsule, rng)));
  return combineShares(capsule, verified, publicKey);
}

describe('DKG → TDH2 capsule', () => {
  it('a capsule sealed to Y opens with k shares from the DKG, before and after resharing', async () => {
    const trustees = await makeTrustees(5, 'dkg-capsule');
    const { outputs } = await runDkg(trustees, 3, 'dkg-capsule');
    const { publicKey } = outputs[0]!;
    const shares = outputs.map((o) => o.keyShare!);
    const rng = seededRandom('dkg-capsule/seal');
    const key = rng(32);
    const label = rng(32);
    const capsuleBytes = sealCapsuleRandom(publicKey.groupKey, key, label, rng);

    expect(toHex(open(publicKey, [shares[0]!, shares[2]!, shares[4]!], capsuleBytes, label))).toBe(
      toHex(key),
    );
    expect(toHex(open(publicKey, [shares[1]!, shares[3]!, shares[4]!], capsuleBytes, label))).toBe(
      toHex(key),
    );
    expect(() => open(publicKey, shares.slice(0, 2), capsuleBytes, label)).toThrowError(
      expect.objectContaining({ code: 'SHARE_TOO_FEW' }),
    );

    // Resharing (3,5) → (2,4): the same capsule opens with two new shares; old shares do not verify against
    // the new verification keys.
    const next = await makeTrustees(4, 'dkg-capsule/new');
    const reshare = reshareSetup({ output: outputs[0]!, trustees, shares }, next, 2, 'dkg-capsule/reshare');
    const run = await runDkgLocally(reshare.participants);
    const refreshed = run.outputs.filter((o): o is DkgOutput => !(o instanceof Error) && o.keyShare !== null);
    const newKey = refreshed[0]!.publicKey;
    expect(toHex(newKey.groupKey)).toBe(toHex(publicKey.groupKey));
    const newShares = refreshed.map((o) => o.keyShare!);
    expect(toHex(open(newKey, [newShares[1]!, newShares[3]!], capsuleBytes, label))).toBe(toHex(key));
    expect(() => open(newKey, [shares[0]!, newShares[1]!], capsuleBytes, label)).toThrowError(
      expect.objectContaining({ code: 'SHARE_INVALID' }),
    );
  });
});
